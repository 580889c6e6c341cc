"""`backup` and `restore` through the real CLI: a round trip, a backup taken while the daemon
writes, the refusals, the schema check, and PostgreSQL's pg_dump/pg_restore as the README
shows them. All mail is fictional."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from bot import db
from bot.models import Attachment, Case, CaseEvent, Message, OutboxLetter
from tests.mailfactory import make_email
from tests.opshelpers import REPO, cli, ingest, ok, with_attachment, write_config
from tests.servers import PostgresServer

FAMILY = {
    "complaint": make_email(
        from_name="Robin Achterberg",
        from_addr="robin.achterberg@example.org",
        subject="Formal complaint about the annual review",
        message_id="<robin-complaint-1@example.org>",
        body="I wish to make a formal complaint. The review meeting for my son was cancelled "
        "twice without notice and nobody has called me back.\n\nRobin Achterberg",
    ),
    "question": make_email(
        from_name="Kit Marlowe-Hayes",
        from_addr="kit.mh@example.net",
        subject="Question about transport",
        body="Hello, who do I ask about school transport for my daughter?\n\nKit",
    ),
    "compliment": make_email(
        from_name="Dana Iqbal",
        from_addr="dana.iqbal@example.com",
        subject="Thank you",
        body="I just wanted to say thank you to the adviser who came to the meeting. "
        "She was brilliant.\n\nDana",
    ),
}


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every case, message, attachment, letter and event, column by column."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            for model in (Case, Message, Attachment, OutboxLetter, CaseEvent):
                table: Any = model.__table__
                cols = list(table.columns)
                rows = conn.execute(select(*cols).order_by(cols[0])).all()
                out[table.name] = [tuple(r) for r in rows]
    finally:
        engine.dispose()
    return out


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_round_trip_restores_every_case_message_and_letter(tmp_path: Path) -> None:
    live = write_config(tmp_path / "live", f"sqlite:///{tmp_path / 'live' / 'var' / 'a.db'}")
    attached = with_attachment(
        make_email(
            from_name="Robin Achterberg",
            from_addr="robin.achterberg@example.org",
            subject="Re: Formal complaint about the annual review",
            body="The letter from the school is attached.\n\nRobin",
            in_reply_to="<robin-complaint-1@example.org>",
        ),
        "school-letter.pdf",
        b"%PDF-1.4 fictional school letter",
    )
    ingest(live, tmp_path / "live", {**FAMILY, "later": attached})
    backup_file = tmp_path / "backups" / "sendiass-2026-12-06.db"
    backup_file.parent.mkdir()
    out = ok(cli("--config", str(live), "backup", str(backup_file), cwd=tmp_path))
    assert f"backed up to {backup_file}" in out
    assert "3 cases, 4 messages" in out
    assert _mode(backup_file) == 0o600
    assert not list(backup_file.parent.glob(".*partial*"))  # nothing left half-written

    # Restore into a new location, as after losing the server.
    new_db = tmp_path / "new" / "var" / "restored.db"
    restored = write_config(tmp_path / "new", f"sqlite:///{new_db}")
    out = ok(cli("--config", str(restored), "restore", str(backup_file), cwd=tmp_path))
    assert f"restored {backup_file}" in out
    assert _mode(new_db) == 0o600

    before = _rows(f"sqlite:///{tmp_path / 'live' / 'var' / 'a.db'}")
    after = _rows(f"sqlite:///{new_db}")
    assert len(before["cases"]) == 3
    assert len(before["messages"]) == 4
    assert [a[-1] for a in before["attachments"]] == [b"%PDF-1.4 fictional school letter"]
    assert before["outbox"], "the complaint's acknowledgement letter is in the outbox"
    assert after == before

    # The restored database is a working case log: the CLI reads it.
    listed = ok(cli("--config", str(restored), "cases", "export", cwd=tmp_path))
    assert len(listed.strip().splitlines()) == 3


def test_backup_while_the_daemon_writes_is_consistent(tmp_path: Path) -> None:
    folder = tmp_path / "live"
    db_path = folder / "var" / "a.db"
    config = write_config(
        folder, f"sqlite:///{db_path}", "[daemon]\npoll_interval = 0.2\nidle = false\n"
    )
    maildir = folder / "mail"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "run"],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    stop = threading.Event()

    def drop_mail() -> None:
        n = 0
        while not stop.is_set() and n < 400:
            n += 1
            raw = make_email(
                from_name=f"Parent {n}",
                from_addr=f"parent{n}@example.org",
                subject=f"Complaint {n}",
                body=f"I want to make a formal complaint about my child's plan ({n}).",
            )
            tmp = maildir / "tmp" / f"{n}.eml"
            tmp.write_bytes(raw)
            tmp.rename(maildir / "new" / f"{n}.eml")
            time.sleep(0.01)

    writer = threading.Thread(target=drop_mail)
    try:
        deadline = time.monotonic() + 120
        while not db_path.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        writer.start()

        def logged() -> int:
            with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as conn:
                try:
                    return int(conn.execute("SELECT count(*) FROM cases").fetchone()[0])
                except sqlite3.OperationalError:  # the schema is not there yet
                    return 0

        # The backups must overlap the daemon's writing: wait for its first case.
        while logged() == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        seen: list[int] = []
        for i in range(4):
            dest = tmp_path / f"b{i}.db"
            ok(cli("--config", str(config), "backup", str(dest), cwd=tmp_path))
            conn = sqlite3.connect(dest)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
                cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
                # Every case came with its message and its trail, never half of it.
                orphans = conn.execute(
                    "SELECT count(*) FROM cases c WHERE NOT EXISTS (SELECT 1 FROM messages m "
                    "WHERE m.case_id = c.id) OR NOT EXISTS (SELECT 1 FROM case_events e "
                    "WHERE e.case_id = c.id AND e.kind = 'received')"
                ).fetchone()[0]
                assert orphans == 0
                seen.append(cases)
            finally:
                conn.close()
        assert daemon.poll() is None, "the daemon kept running during the backups"
        assert seen[-1] > 0
    finally:
        stop.set()
        if writer.is_alive():
            writer.join()
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=90)
    assert daemon.returncode == 0, err


def test_restore_refuses_a_database_that_holds_data_without_force(tmp_path: Path) -> None:
    a = write_config(tmp_path / "a", f"sqlite:///{tmp_path / 'a' / 'a.db'}")
    ingest(a, tmp_path / "a", {"complaint": FAMILY["complaint"]})
    b = write_config(tmp_path / "b", f"sqlite:///{tmp_path / 'b' / 'b.db'}")
    ingest(b, tmp_path / "b", {"question": FAMILY["question"], "thanks": FAMILY["compliment"]})
    backup_file = tmp_path / "a.backup"
    ok(cli("--config", str(a), "backup", str(backup_file), cwd=tmp_path))

    proc = cli("--config", str(b), "restore", str(backup_file), cwd=tmp_path)
    assert proc.returncode == 2
    assert "is not empty (2 cases" in proc.stderr
    assert "--force" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    engine = create_engine(f"sqlite:///{tmp_path / 'b' / 'b.db'}")
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM cases")) == 2  # untouched

    out = ok(cli("--config", str(b), "restore", str(backup_file), "--force", cwd=tmp_path))
    assert "replaced what was there" in out
    with engine.connect() as conn:
        senders = conn.scalars(text("SELECT sender_addr FROM cases")).all()
    assert senders == ["robin.achterberg@example.org"]


def test_backup_refuses_to_overwrite_a_file_without_force(tmp_path: Path) -> None:
    a = write_config(tmp_path, f"sqlite:///{tmp_path / 'a.db'}")
    ok(cli("--config", str(a), "db", "upgrade", cwd=tmp_path))
    dest = tmp_path / "existing.db"
    dest.write_bytes(b"something precious")
    proc = cli("--config", str(a), "backup", str(dest), cwd=tmp_path)
    assert proc.returncode == 2
    assert "exists: give --force" in proc.stderr
    assert dest.read_bytes() == b"something precious"
    ok(cli("--config", str(a), "backup", str(dest), "--force", cwd=tmp_path))
    assert dest.read_bytes().startswith(b"SQLite format 3\x00")


def test_restore_checks_the_backups_schema_version(tmp_path: Path) -> None:
    a = write_config(tmp_path / "a", f"sqlite:///{tmp_path / 'a' / 'a.db'}")
    ingest(a, tmp_path / "a", {"complaint": FAMILY["complaint"]})
    backup_file = tmp_path / "a.backup"
    ok(cli("--config", str(a), "backup", str(backup_file), cwd=tmp_path))
    target = write_config(tmp_path / "t", f"sqlite:///{tmp_path / 't' / 't.db'}")

    future = tmp_path / "future.backup"
    shutil.copy(backup_file, future)
    with sqlite3.connect(future) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    proc = cli("--config", str(target), "restore", str(future), cwd=tmp_path)
    assert proc.returncode == 2
    assert "schema 9999_from_the_future is not known" in proc.stderr
    assert not (tmp_path / "t" / "t.db").exists()

    unversioned = tmp_path / "plain.sqlite"
    with sqlite3.connect(unversioned) as conn:
        conn.execute("CREATE TABLE cases (id INTEGER)")
    proc = cli("--config", str(target), "restore", str(unversioned), cwd=tmp_path)
    assert proc.returncode == 2
    assert "not a sendiass-bot backup (no schema version)" in proc.stderr

    notes = tmp_path / "notes.txt"
    notes.write_text("not a database at all\n" * 10)
    proc = cli("--config", str(target), "restore", str(notes), cwd=tmp_path)
    assert proc.returncode == 2
    assert "not a SQLite backup" in proc.stderr
    assert "Traceback" not in proc.stderr

    # A damaged database is replaced only when asked.
    damaged = tmp_path / "t" / "t.db"
    damaged.write_bytes(b"not a database, just damaged bytes\n" * 200)
    proc = cli("--config", str(target), "restore", str(backup_file), cwd=tmp_path)
    assert proc.returncode == 2
    assert "not a readable database" in proc.stderr
    ok(cli("--config", str(target), "restore", str(backup_file), "--force", cwd=tmp_path))
    with sqlite3.connect(damaged) as conn:
        assert conn.execute("SELECT count(*) FROM cases").fetchone()[0] == 1


def test_an_older_backup_is_upgraded_to_this_versions_schema(tmp_path: Path) -> None:
    old_db = tmp_path / "old.db"
    engine = db.make_engine(f"sqlite:///{old_db}")
    db.upgrade(engine, "0004_reports")  # the schema before this release
    engine.dispose()
    old = write_config(tmp_path / "old", f"sqlite:///{old_db}")
    backup_file = tmp_path / "old.backup"
    out = ok(cli("--config", str(old), "backup", str(backup_file), cwd=tmp_path))
    assert "schema 0004_reports" in out
    new_db = tmp_path / "new.db"
    new = write_config(tmp_path / "new", f"sqlite:///{new_db}")
    ok(cli("--config", str(new), "restore", str(backup_file), cwd=tmp_path))
    with sqlite3.connect(new_db) as conn:
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        columns = {r[1] for r in conn.execute("PRAGMA table_info(cases)")}
    assert version != "0004_reports"
    assert "anonymised_at" in columns


def test_postgresql_backup_and_restore_point_to_pg_dump(tmp_path: Path, pg_url: str) -> None:
    config = write_config(tmp_path, pg_url)
    for command in ("backup", "restore"):
        proc = cli("--config", str(config), command, str(tmp_path / "x.db"), cwd=tmp_path)
        assert proc.returncode == 2
        assert "the database is PostgreSQL" in proc.stderr
        assert ("pg_dump" if command == "backup" else "pg_restore") in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_the_readmes_pg_dump_and_pg_restore_commands_round_trip(
    tmp_path: Path, pg_url: str, postgres_server: PostgresServer
) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    dump_cmd = "pg_dump --format=custom --file=sendiass.dump sendiass"
    restore_cmd = "pg_restore --clean --if-exists --no-owner --dbname=sendiass sendiass.dump"
    assert dump_cmd in readme
    assert restore_cmd in readme
    config = write_config(tmp_path, pg_url)
    ingest(config, tmp_path, FAMILY)
    source = pg_url.rsplit("/", 1)[1]
    target_url = postgres_server.create_database()
    target = target_url.rsplit("/", 1)[1]
    conn_args = ["--host", postgres_server.host, "--port", str(postgres_server.port),
                 "--username", postgres_server.user]  # fmt: skip
    bin_dir = postgres_server.bin_dir

    def run(cmd: str, db_name: str) -> None:
        tool, *args = cmd.replace("sendiass.dump", str(tmp_path / "sendiass.dump")).split()
        args = [a.replace("=sendiass", f"={db_name}") for a in args]
        if args[-1] == "sendiass":
            args[-1] = db_name
        proc = subprocess.run(
            [str(bin_dir / tool), *conn_args, *args], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr

    try:
        run(dump_cmd, source)
        run(restore_cmd, target)
        before = _rows(pg_url)
        after = _rows(target_url)
        assert len(before["cases"]) == 3
        assert after == before
        restored = write_config(tmp_path / "r", target_url)
        ok(cli("--config", str(restored), "db", "upgrade", cwd=tmp_path))
        assert (
            len(ok(cli("--config", str(restored), "cases", "export", cwd=tmp_path)).splitlines())
            == 3
        )
    finally:
        postgres_server.drop_database(target)


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_the_commands_have_help(tmp_path: Path, command: str) -> None:
    proc = cli(command, "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "--force" in proc.stdout
