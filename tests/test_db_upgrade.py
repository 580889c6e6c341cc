"""Explicit upgrades: with ``[database] auto_migrate = false`` no command but ``db upgrade``
migrates; the others refuse a schema that is behind (or ahead) in one line naming
``sendiass-bot db upgrade``, exit 2. ``db current`` and ``db check`` say where it stands.
The default (auto_migrate = true) still migrates at start. Real CLI, real SQLite and
PostgreSQL; the "old" schema is a real earlier revision."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from bot import db
from tests.test_deploy import UNITS, _unit

REPO = Path(__file__).resolve().parents[1]
OLD = "0008_routing"  # a revision before this version's head (the chain may be re-ordered)


def config(tmp_path: Path, url: str, auto: bool | None) -> Path:
    path = tmp_path / "c.toml"
    line = "" if auto is None else f"auto_migrate = {str(auto).lower()}\n"
    path.write_text(
        f'[database]\nurl = "{url}"\n{line}'
        f'[outbound]\ntransport = "maildir"\npath = "{tmp_path}/out"\n',
        encoding="utf-8",
    )
    return path


def bot(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(cfg), *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def revision(url: str) -> str | None:
    engine = db.make_engine(url)
    try:
        return db.current_revision(engine)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'u.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_with_auto_migrate_off_commands_refuse_an_old_schema_until_db_upgrade(
    url: str, tmp_path: Path
) -> None:
    engine = db.make_engine(url)
    db.upgrade(engine, OLD)
    engine.dispose()
    cfg = config(tmp_path, url, auto=False)
    head = db.head_revision()
    for argv in (["cases", "export"], ["status"], ["letters", "list"]):
        proc = bot(cfg, *argv)
        assert proc.returncode == 2, (argv, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert f"schema at revision {OLD}" in lines[0] and head in lines[0]
        assert "run `sendiass-bot db upgrade`" in lines[0]
    assert revision(url) == OLD  # nothing migrated behind the operator's back

    current = bot(cfg, "db", "current")
    assert current.returncode == 0
    assert f"database: {OLD}; this version: {head}" in current.stdout
    check = bot(cfg, "db", "check")
    assert check.returncode == 1 and "run `sendiass-bot db upgrade`" in check.stdout

    up = bot(cfg, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert f"database upgraded from {OLD} to {head}" in up.stdout
    assert revision(url) == head
    again = bot(cfg, "db", "upgrade")
    assert again.returncode == 0 and "already at the latest schema" in again.stdout
    assert bot(cfg, "db", "check").returncode == 0
    export = bot(cfg, "cases", "export")
    assert export.returncode == 0, export.stderr


def test_with_auto_migrate_off_an_empty_database_is_refused_too(tmp_path: Path) -> None:
    cfg = config(tmp_path, f"sqlite:///{tmp_path / 'new.db'}", auto=False)
    proc = bot(cfg, "cases", "export")
    assert proc.returncode == 2
    assert "schema at revision none (empty database)" in proc.stderr
    assert "sendiass-bot db upgrade" in proc.stderr
    assert bot(cfg, "db", "upgrade").returncode == 0
    assert bot(cfg, "cases", "export").returncode == 0


def test_a_schema_from_a_newer_version_is_refused_not_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'future.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    proc = bot(config(tmp_path, url, auto=False), "status")
    assert proc.returncode == 2
    assert "9999_from_the_future, which this version does not know" in proc.stderr


def test_by_default_every_command_still_migrates_at_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'auto.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine, OLD)
    engine.dispose()
    proc = bot(config(tmp_path, url, auto=None), "cases", "export")
    assert proc.returncode == 0, proc.stderr
    assert revision(url) == db.head_revision()


def test_the_deployment_recipes_run_the_explicit_step() -> None:
    for command, path in UNITS.items():
        pre = _unit(path).get("ExecStartPre", [])
        assert any(line.endswith(" db upgrade") for line in pre), command
    compose = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    assert compose["services"]["migrate"]["command"] == ["db", "upgrade"]
    for name in ("bot", "web"):
        needs = compose["services"][name]["depends_on"]["migrate"]
        assert needs["condition"] == "service_completed_successfully"
    example = (REPO / "deploy" / "docker" / "sendiass.toml").read_text(encoding="utf-8")
    assert "auto_migrate = false" in example
    # The daemon's container health check is the real `status` command.
    check = compose["services"]["bot"]["healthcheck"]["test"]
    from bot.cli import build_parser

    assert check[0] == "CMD" and check[1] == "sendiass-bot"
    assert build_parser().parse_args(check[2:]).command == "status"
