"""Retention through the real CLI (`retention run --now ...`, frozen dates) and the daemon's
daily pass, on SQLite and PostgreSQL. All people and places are fictional."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import search
from bot.config import ConfigError, parse_config
from bot.models import Attachment, Case, CaseEvent, CaseNote, Message, OutboxLetter, QuarantineItem
from bot.ops.retention import months_before, scrub
from bot.reports.annual import build_annual, render_csv
from tests.mailfactory import make_email
from tests.opshelpers import REPO, app_for, case_of, cli, close_case, ingest, ok, with_attachment
from tests.opshelpers import write_config as _write_config

RULES = """
[retention]
raw_months = 12
anonymise_years = 6
quarantine_days = 30
[retention.services.staffordshire]
raw_months = 24
"""

CLOSED_AT = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)

FAMILY_A = with_attachment(
    make_email(
        from_name="Jordan Okafor",
        from_addr="okafor@example.org",
        subject="Formal complaint: Jordan's review at Larkspur Close",
        body="I want to make a formal complaint. My daughter's annual review was cancelled "
        "twice. We live at 14 Larkspur Close and nobody has visited.\n\nJordan Okafor",
        message_id="<jordan-1@example.org>",
    ),
    "review-minutes.pdf",
    b"%PDF-1.4 Larkspur minutes (fictional)",
)
FAMILY_B = make_email(
    from_name="Sam Okafor",
    from_addr="j.okafor@example.org",
    subject="Transport question",
    body="Hello, who can tell me about school transport from Quillfeather Lane?\n\nSam",
    message_id="<sam-1@example.net>",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'ret.db'}"
    return str(request.getfixturevalue("pg_url"))


def run(config: Path, *args: str) -> str:
    return ok(cli("--config", str(config), "retention", "run", *args, cwd=config.parent))


def _annual_csv(config: Path) -> str:
    app = app_for(config)
    try:
        with app.sessions() as s:
            r = build_annual(s, app.services, ["durham"], date(2026, 1, 1), date(2027, 12, 31))
        return render_csv(r)
    finally:
        app.engine.dispose()


def test_raw_then_anonymised_on_the_configured_dates(tmp_path: Path, db_url: str) -> None:
    config = _write_config(tmp_path, db_url, RULES)
    ingest(config, tmp_path, {"a": FAMILY_A, "b": FAMILY_B})
    app = app_for(config)
    a = case_of(app, "okafor@example.org")
    b = case_of(app, "j.okafor@example.org")
    close_case(app, a.id, CLOSED_AT, note="Phoned Jordan at 14 Larkspur Close; resolved.")
    app.engine.dispose()
    figures = _annual_csv(config)

    # A day before twelve months are up: nothing happens.
    out = run(config, "--now", "2028-01-14T12:00:00+00:00")
    assert out.strip() == "retention: nothing to do"

    # The day after, a dry run says what would go and changes nothing.
    out = run(config, "--dry-run", "--now", "2028-01-16T09:00:00+00:00")
    assert (
        f"{a.reference} (durham): would be raw messages and attachments deleted: messages 1, "
        "attachments 1 (closed 2027-01-15; raw_months = 12)"
    ) in out
    assert "dry run, nothing changed" in out
    assert b.reference not in out
    app = app_for(config)
    with app.sessions() as s:
        assert s.scalar(select(func.length(Message.raw)).where(Message.case_id == a.id))

    # Then for real: the raw bytes and the attachment go, the parsed text stays.
    out = run(config, "--now", "2028-01-16T09:00:00+00:00")
    assert f"{a.reference} (durham): raw messages and attachments deleted" in out
    with app.sessions() as s:
        ma = s.scalars(select(Message).where(Message.case_id == a.id)).one()
        assert ma.raw == b""
        assert "Larkspur" in ma.text
        att = s.scalars(select(Attachment).where(Attachment.message_id == ma.id)).one()
        assert att.content is None
        assert att.filename == "review-minutes.pdf"
        mb = s.scalars(select(Message).where(Message.case_id == b.id)).one()
        assert b"Quillfeather" in mb.raw  # an open case is never touched
        ev = s.scalars(
            select(CaseEvent).where(
                CaseEvent.case_id == a.id, CaseEvent.kind == "retention_raw_deleted"
            )
        ).one()
        assert ev.detail["messages"] == 1
        assert ev.detail["attachments"] == 1
        assert "okafor" not in json.dumps(ev.detail).lower()
        assert ev.at == datetime(2028, 1, 16, 9, 0, tzinfo=UTC)
    # Running again finds nothing more to do.
    assert run(config, "--now", "2028-02-01T00:00:00+00:00").strip() == "retention: nothing to do"

    # Six years after closing, the case is anonymised; the figures do not change.
    assert run(config, "--now", "2033-01-14T00:00:00+00:00").strip() == "retention: nothing to do"
    out = run(config, "--now", "2033-01-16T00:00:00+00:00")
    assert f"{a.reference} (durham): anonymised" in out
    assert "anonymise_years = 6" in out
    with app.sessions() as s:
        case = s.get(Case, a.id)
        assert case is not None
        assert (case.sender_addr, case.sender_name, case.subject) == ("", "", "")
        assert (case.reference, case.kind, case.stage, case.status) == (
            a.reference, "complaint", 1, "closed",
        )  # fmt: skip
        assert (case.outcome, case.justification) == ("upheld", "justified")
        assert case.received_at == a.received_at
        assert case.closed_at == CLOSED_AT
        assert case.anonymised_at == datetime(2033, 1, 16, tzinfo=UTC)
        ma = s.scalars(select(Message).where(Message.case_id == a.id)).one()
        assert (ma.from_addr, ma.from_name, ma.subject, ma.text, ma.raw) == ("", "", "", "", b"")
        assert ma.headers == {}
        att = s.scalars(select(Attachment).where(Attachment.message_id == ma.id)).one()
        assert att.filename == ""
        for letter in s.scalars(select(OutboxLetter).where(OutboxLetter.case_id == a.id)):
            assert (letter.to_addr, letter.subject, letter.body_text) == ("", "", "")
            assert (letter.to_key, letter.to_domain) == ("", "")  # the address's keys too
        notes = list(s.scalars(select(CaseNote).where(CaseNote.case_id == a.id)))
        assert all(n.text == "" for n in notes)
        trail = list(s.scalars(select(CaseEvent).where(CaseEvent.case_id == a.id)))
        text = json.dumps([e.detail for e in trail])
        assert "Larkspur" not in text
        assert "okafor@example.org" not in text
        closing = [e for e in trail if e.kind == "close"]
        assert closing
        assert closing[0].detail["note"] == "[removed]"
        assert closing[0].detail["outcome"] == "upheld"
        assert trail[-1].kind == "retention_anonymised"
        # The other family's open case is as it was.
        other = s.get(Case, b.id)
        assert other is not None
        assert other.sender_addr == "j.okafor@example.org"
        assert other.anonymised_at is None
    app.engine.dispose()
    assert _annual_csv(config) == figures
    if db_url.startswith("sqlite"):
        # Deleted content is overwritten, not left in free pages or the write-ahead log.
        stored = b"".join(p.read_bytes() for p in (tmp_path / "var").glob("ret.db*"))
        assert b"Larkspur" not in stored
        assert b"Jordan" not in stored
        assert b"Quillfeather" in stored


def _found(app: Any, words: str) -> set[int]:
    """The cases the full-text index finds for ``words`` (bot/search.py)."""
    with app.sessions() as s:
        cond = search.condition(s.get_bind().dialect.name, words, Case.id)
        return set(s.scalars(select(Case.id).where(cond)))


def test_anonymised_words_leave_the_search_index(tmp_path: Path, db_url: str) -> None:
    config = _write_config(tmp_path, db_url, RULES)
    ingest(config, tmp_path, {"a": FAMILY_A, "b": FAMILY_B})
    app = app_for(config)
    a = case_of(app, "okafor@example.org")
    b = case_of(app, "j.okafor@example.org")
    close_case(app, a.id, CLOSED_AT, note="Phoned Jordan; resolved.")
    assert _found(app, "Okafor") == {a.id, b.id}
    assert _found(app, "larkspur review") == {a.id}  # subject and message text
    assert _found(app, "Jordan Okafor") == {a.id}
    app.engine.dispose()
    run(config, "--now", "2033-01-16T00:00:00+00:00")
    app = app_for(config)
    try:
        assert _found(app, "Okafor") == {b.id}  # the other family's open case still found
        assert _found(app, "Larkspur") == set()
        assert _found(app, "Jordan") == set()
        assert _found(app, "Quillfeather") == {b.id}
        with app.sessions() as s:  # the reference is kept, so it is still found
            assert a.id in set(
                s.scalars(select(Case.id).where(search.condition(
                    s.get_bind().dialect.name, a.reference, Case.id
                )))
            )  # fmt: skip
    finally:
        app.engine.dispose()
    if db_url.startswith("sqlite"):
        # the index's own pages keep no erased word either (FTS5 stores lower-case tokens)
        stored = b"".join(p.read_bytes() for p in (tmp_path / "var").glob("ret.db*"))
        assert b"larkspur" not in stored.lower()  # (the Message-ID <jordan-1@...> is kept)
        assert b"quillfeather" in stored.lower()


def _quarantined(config: Path, tmp_path: Path) -> None:
    big = {
        f"big{i}": make_email(
            from_name="Alex Fairweather",
            from_addr=f"alex{i}@example.org",
            body=("A very long fictional message. " * 200),
        )
        for i in (1, 2)
    }
    ingest(config, tmp_path, big)


def test_quarantine_deleted_after_30_days_by_the_cli_and_by_the_daemon(tmp_path: Path) -> None:
    db_path = tmp_path / "var" / "q.db"
    config = _write_config(
        tmp_path,
        f"sqlite:///{db_path}",
        "[intake]\nmessage_max_bytes = 2000\n[daemon]\npoll_interval = 0.5\nidle = false\n"
        "[retention]\nquarantine_days = 30\n",
    )
    _quarantined(config, tmp_path)
    app = app_for(config)
    with app.sessions.begin() as s:
        items = list(s.scalars(select(QuarantineItem).order_by(QuarantineItem.id)))
        assert len(items) == 2
        old, fresh = items
        old_id, fresh_id = old.id, fresh.id
        old.created_at = old.created_at - timedelta(days=40)  # quarantined 40 days ago
        fresh_created = fresh.created_at

    out = run(config, "--dry-run")
    assert "durham (durham): would be quarantined messages deleted: messages 1" in out
    assert "(quarantine_days = 30)" in out

    # The daemon runs retention as it starts (then once a day).
    (tmp_path / "mail" / "new").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        remaining = [old_id, fresh_id]
        while time.monotonic() < deadline and daemon.poll() is None:
            with app.sessions() as s:
                remaining = list(s.scalars(select(QuarantineItem.id).order_by(QuarantineItem.id)))
            if remaining == [fresh_id]:
                break
            time.sleep(0.5)
        assert remaining == [fresh_id]
    finally:
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=90)
    assert daemon.returncode == 0, err
    assert "retention: quarantine_deleted 1" in err

    # 29 days after the fresh one arrived it stays; at 31 days it goes.
    at29 = (fresh_created + timedelta(days=29)).isoformat()
    assert run(config, "--now", at29).strip() == "retention: nothing to do"
    out = run(config, "--now", (fresh_created + timedelta(days=31)).isoformat())
    assert "quarantined messages deleted: messages 1" in out
    with app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(QuarantineItem)) == 0
    app.engine.dispose()


def test_retention_without_rules_or_with_bad_arguments_is_a_clear_error(tmp_path: Path) -> None:
    config = _write_config(tmp_path, f"sqlite:///{tmp_path / 'n.db'}")
    proc = cli("--config", str(config), "retention", "run", cwd=tmp_path)
    assert proc.returncode == 2
    assert "retention: no retention rule is configured" in proc.stderr
    proc = cli("--config", str(config), "retention", "run", "--now", "next tuesday", cwd=tmp_path)
    assert proc.returncode == 2
    assert "expected a date or time" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"raw_months": 0}, "retention.raw_months: expected a whole number of months, 1 or more"),
        ({"anonymise_years": "six"}, "retention.anonymise_years: expected a whole number"),
        ({"keep_forever": True}, "retention.keep_forever: unknown key"),
        ({"services": {"atlantis": {"raw_months": 3}}}, "retention.services.atlantis: unknown"),
        ({"services": {"durham": {"raw_days": 3}}}, "retention.services.durham.raw_days"),
    ],
)
def test_retention_config_errors_name_the_key(table: dict[str, object], expected: str) -> None:
    data = {
        "database": {"url": "sqlite:///x.db"},
        "outbound": {"transport": "maildir", "path": "out"},
        "retention": table,
    }
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        parse_config(data, "t.toml", known_services={"durham", "stoke"})


def test_per_service_rules_inherit_the_defaults() -> None:
    data = {
        "database": {"url": "sqlite:///x.db"},
        "outbound": {"transport": "maildir", "path": "out"},
        "retention": {
            "raw_months": 12,
            "anonymise_years": 6,
            "services": {"stoke": {"raw_months": 3}},
        },
    }
    cfg = parse_config(data, "t.toml", known_services={"durham", "stoke"}).retention
    assert (cfg.rule("durham").raw_months, cfg.rule("durham").anonymise_years) == (12, 6)
    assert (cfg.rule("stoke").raw_months, cfg.rule("stoke").anonymise_years) == (3, 6)
    assert cfg.rule("stoke").quarantine_days is None


def test_months_before_clamps_to_the_end_of_the_month() -> None:
    assert months_before(datetime(2028, 3, 31, 8, tzinfo=UTC), 1) == datetime(
        2028, 2, 29, 8, tzinfo=UTC
    )
    assert months_before(datetime(2028, 1, 16, tzinfo=UTC), 12) == datetime(2027, 1, 16, tzinfo=UTC)
    assert months_before(datetime(2033, 1, 16, tzinfo=UTC), 72) == datetime(2027, 1, 16, tzinfo=UTC)


def test_scrub_removes_names_notes_and_addresses_but_keeps_the_facts() -> None:
    detail = {
        "action": "close",
        "note": "Spoke to the family",
        "to": {"status": "closed", "stage": 1},
        "hold": {"to": "someone@example.org"},
        "outcome": "upheld",
        "stage": 2,
    }
    assert scrub(detail) == {
        "action": "close",
        "note": "[removed]",
        "to": {"status": "closed", "stage": 1},
        "hold": {"to": "[removed]"},
        "outcome": "upheld",
        "stage": 2,
    }
