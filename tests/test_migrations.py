"""Migrations that cannot wedge: killed at any statement, raced by a second process, or
left half-done by an older version, the next start reaches head (or says why in one line).

Every migrator is a real subprocess; kills are real SIGKILLs (``SENDIASS_CRASH_AT``).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from bot import db, search

REPO = Path(__file__).resolve().parents[1]
MIGRATE = "import sys; from bot import db; db.upgrade(db.make_engine(sys.argv[1]))"
HEAD_TABLES = db.tables_at("head")
#: PostgreSQL has no full-text tables: its search index is a column (bot/search.py).
PG_HEAD_TABLES = frozenset(t for t in HEAD_TABLES if not search.is_index_table(t))


def migrator(url: str, crash_at: str | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("SENDIASS_CRASH_AT", None)
    if crash_at:
        env["SENDIASS_CRASH_AT"] = crash_at
    return subprocess.Popen(
        [sys.executable, "-c", MIGRATE, url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from bot.db import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def schema(url: str) -> tuple[list[str], set[str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            versions: list[str] = []
            if "alembic_version" in tables:
                versions = list(
                    conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
                )
            return versions, tables - {"alembic_version"}
    finally:
        engine.dispose()


def kill_at_every_statement(url: str, step: int = 1) -> int:
    """Run the migrator killed at statement 1, 1 + step, 1 + 2 step, ... of an upgrade from
    empty, each run starting on what the previous kill left, until one run completes.
    Returns the number of kills."""
    n = 1 - step
    while True:
        n += step
        proc = migrator(url, f"migration-statement:{n}")
        _out, err = proc.communicate(timeout=120)
        if proc.returncode == 0:
            return n - 1
        assert proc.returncode == -signal.SIGKILL, f"run {n} failed instead of dying:\n{err}"
        # The killed upgrade rolled back as a whole: nothing of it is left.
        versions, tables = schema(url)
        assert versions == [] and tables == set(), (n, versions, tables)
        assert n < 1000


# SQLite: every statement (its DDL was not transactional before). PostgreSQL, whose DDL
# always was, every fifth statement: the advisory lock and rollback are what is new there.
@pytest.mark.parametrize(("backend", "step"), [("sqlite", 1), ("postgresql", 5)])
def test_killed_at_every_statement_then_started_again_reaches_head(
    backend: str, step: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'k.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    kills = kill_at_every_statement(url, step)
    # every statement of every migration (and Alembic's own) was a kill point
    assert kills * step > 80
    versions, tables = schema(url)
    assert versions == [head_revision()]
    assert tables == (HEAD_TABLES if backend == "sqlite" else PG_HEAD_TABLES)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_migrating_an_empty_database_at_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'race.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    for _round in range(3):
        procs = [migrator(url) for _ in range(3)]
        results = [p.communicate(timeout=120) for p in procs]
        for proc, (_out, err) in zip(procs, results, strict=True):
            assert proc.returncode == 0, err
        versions, tables = schema(url)
        assert versions == [head_revision()]
        assert tables == (HEAD_TABLES if backend == "sqlite" else PG_HEAD_TABLES)
        if backend == "sqlite":
            Path(url.removeprefix("sqlite:///")).unlink()
            for extra in ("-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + extra).unlink(missing_ok=True)
        else:
            break


def old_version_half_migration(path: Path) -> None:
    """What older versions left when killed during the first start: an empty
    ``alembic_version`` plus the first tables of the initial migration."""
    url = f"sqlite:///{path}"
    db.upgrade(db.make_engine(url), "0001")
    con = sqlite3.connect(path)
    keep = {"cases", "alembic_version"}
    names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    con.execute("PRAGMA foreign_keys=OFF")
    for name in names:
        if name not in keep and not name.startswith("sqlite_"):
            con.execute(f'DROP TABLE "{name}"')
    con.execute("DELETE FROM alembic_version")
    con.commit()
    con.close()


def test_half_migrated_by_an_older_version_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old_version_half_migration(path)
    # Also a batch operation's scratch table from an interrupted ALTER.
    con = sqlite3.connect(path)
    con.execute('CREATE TABLE "_alembic_tmp_outbox" (id INTEGER)')
    con.commit()
    con.close()
    proc = migrator(f"sqlite:///{path}")
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "interrupted migration" in err and "cases" in err
    versions, tables = schema(f"sqlite:///{path}")
    assert versions == [head_revision()]
    assert tables == HEAD_TABLES


def test_half_migrated_with_data_is_explained_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old_version_half_migration(path)
    con = sqlite3.connect(path)
    cols = [r[1] for r in con.execute("PRAGMA table_info(cases)")]
    notnull = {r[1]: r[3] for r in con.execute("PRAGMA table_info(cases)")}
    values = ["1" if notnull[c] else "NULL" for c in cols]
    con.execute(f"INSERT INTO cases ({', '.join(cols)}) VALUES ({', '.join(values)})")
    con.commit()
    con.close()
    cfg = tmp_path / "c.toml"
    out = tmp_path / "out"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{path}"\n[outbound]\ntransport = "maildir"\npath = "{out}"\n'
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(cfg), "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "half-migrated" in lines[0] and "cases" in lines[0]
    # Nothing was changed: the row is still there, the version still empty.
    versions, tables = schema(f"sqlite:///{path}")
    assert versions == [] and tables == {"cases"}


def test_head_read_from_the_files_is_alembics_head() -> None:
    """``bot.db.shipped_head`` (a quick read used at every start) agrees with Alembic."""
    assert db.shipped_head() == head_revision() == db.head_revision()
