"""process(raw_bytes, source) against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from bot.intake import Item
from bot.models import Case, CaseEvent, Message, QuarantineItem
from bot.pipeline.context import Outcome, Source
from tests.apphelpers import counts, make_app
from tests.mailfactory import load_corpus, make_email, record_to_eml

MAIL = Path(__file__).parent / "fixtures" / "mail"
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
DURHAM = Source("durham", "durham")


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> App:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    return make_app(url, tmp_path, clock=lambda: NOW)


def test_a_message_opens_a_case_with_a_reference_and_a_trail(app: App) -> None:
    result = app.intake.process((MAIL / "complaint_plain.eml").read_bytes(), DURHAM)
    assert result.outcome is Outcome.CONTINUE
    assert result.case_reference == "DUR-2026-0001"
    with app.sessions() as s:
        case = s.scalar(select(Case))
        assert case is not None
        assert case.service == "durham"
        assert case.sender_addr == "joanna.pike@example.org"
        # The clock starts when the service received it; the Date header is for display.
        assert case.received_at == NOW
        assert [e.kind for e in case.events][:2] == ["received", "classified"]
        msg = s.scalar(select(Message))
        assert msg is not None and msg.case_id == case.id
        assert msg.date == datetime(2026, 11, 3, 9, 14, tzinfo=UTC)
        stages = [t["stage"] for t in msg.trail]
        assert stages == ["parse", "dedupe", "thread", "classify", "route", "deadline", "store"]
        assert msg.raw == (MAIL / "complaint_plain.eml").read_bytes()


def test_references_count_per_service_and_year(app: App) -> None:
    refs = [
        app.intake.process(make_email(service=s), Source(s, s)).case_reference
        for s in ("durham", "durham", "stoke")
    ]
    late_2025 = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)  # the year the service received it
    refs.append(app.intake.process(make_email(), DURHAM, late_2025).case_reference)
    assert refs == ["DUR-2026-0001", "DUR-2026-0002", "STO-2026-0001", "DUR-2025-0001"]


def test_the_same_message_twice_is_logged_once(app: App) -> None:
    raw = (MAIL / "complaint_plain.eml").read_bytes()
    first = app.intake.process(raw, DURHAM)
    second = app.intake.process(raw, DURHAM)
    assert second.outcome is Outcome.DUPLICATE
    assert second.message_pk == first.message_pk
    # Re-delivered with different trace headers: still the same message.
    redelivered = b"Received: from mx2.example.org by mx.durham.gov.uk\r\n" + raw
    assert app.intake.process(redelivered, DURHAM).outcome is Outcome.DUPLICATE
    assert counts(app) == {"messages": 1, "cases": 1, "quarantine": 0}


def test_same_uid_is_a_duplicate_even_with_other_bytes(app: App) -> None:
    src = Source("durham-imap", "durham", uidvalidity=7, uid=42)
    app.intake.process(make_email(), src)
    assert app.intake.process(make_email(), src).outcome is Outcome.DUPLICATE
    assert counts(app)["messages"] == 1


def test_a_reused_message_id_with_other_content_is_a_new_message(app: App) -> None:
    a = make_email(message_id="<same@example.org>", body="First message about a tribunal.")
    b = make_email(message_id="<same@example.org>", body="A different message about transport.")
    app.intake.process(a, DURHAM)
    assert app.intake.process(b, DURHAM).outcome is Outcome.CONTINUE
    assert app.intake.process(b, DURHAM).outcome is Outcome.DUPLICATE
    assert counts(app)["messages"] == 2


def test_missing_message_id_dedupes_on_content(app: App) -> None:
    raw = (MAIL / "no_message_id_bad_date.eml").read_bytes()
    app.intake.process(raw, Source("stoke", "stoke"))
    assert app.intake.process(raw, Source("stoke", "stoke")).outcome is Outcome.DUPLICATE
    assert counts(app)["messages"] == 1


def test_reply_threads_by_header_and_by_subject_reference(app: App) -> None:
    first = make_email(message_id="<start@example.org>", subject="Complaint")
    ref = app.intake.process(first, DURHAM).case_reference
    reply = make_email(
        message_id="<reply1@example.org>",
        subject="Re: Complaint",
        in_reply_to="<start@example.org>",
        references="<start@example.org>",
    )
    by_header = app.intake.process(reply, DURHAM)
    by_subject = app.intake.process(make_email(subject=f"More about [{ref}]"), DURHAM)
    assert by_header.case_reference == ref
    assert by_subject.case_reference == ref
    with app.sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == ref))
        assert case is not None
        assert len(case.messages) == 3
        assert [e.kind for e in case.events].count("message_received") == 2
    assert counts(app)["cases"] == 1


@pytest.mark.parametrize("name", ["auto_reply.eml", "bounce.eml", "newsletter.eml"])
def test_automated_mail_is_logged_but_opens_no_case(app: App, name: str) -> None:
    service = "staffordshire" if name == "newsletter.eml" else "durham"
    result = app.intake.process((MAIL / name).read_bytes(), Source(service, service))
    assert result.outcome is Outcome.DISCARD
    assert result.case_reference is None
    with app.sessions() as s:
        msg = s.scalar(select(Message))
        assert msg is not None and msg.disposition == "discarded" and msg.case_id is None
        assert msg.automated_reason
    assert counts(app) == {"messages": 1, "cases": 0, "quarantine": 0}


def test_unparseable_bytes_are_quarantined_with_reason_and_cursor_advances(app: App) -> None:
    src = Source("durham-imap", "durham", uidvalidity=3, uid=9)
    result = app.intake.process((MAIL / "not_an_email.eml").read_bytes(), src)
    assert result.outcome is Outcome.QUARANTINE
    with app.sessions() as s:
        item = s.scalar(select(QuarantineItem))
        assert item is not None
        assert item.stage == "parse" and "not an email" in item.reason
        assert item.raw == (MAIL / "not_an_email.eml").read_bytes()
        from bot.models import MailboxCursor

        cursor = s.get(MailboxCursor, "durham-imap")
        assert cursor is not None and cursor.last_uid == 9
    # Quarantined twice is still one item.
    app.intake.process((MAIL / "not_an_email.eml").read_bytes(), src)
    assert counts(app)["quarantine"] == 1


def test_a_failing_stage_quarantines_and_rolls_back(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in any stage must not lose the message or leave half a case."""

    def broken(_inp: object) -> object:
        raise RuntimeError("classifier exploded")

    monkeypatch.setattr(app.intake, "env", dataclasses.replace(app.intake.env, classifier=broken))
    result = app.intake.process(make_email(), DURHAM)
    assert result.outcome is Outcome.QUARANTINE
    assert "classify: RuntimeError: classifier exploded" in result.reason
    assert counts(app) == {"messages": 0, "cases": 0, "quarantine": 1}
    with app.sessions() as s:
        assert s.scalar(select(CaseEvent)) is None


def test_every_realworld_mime_file_is_logged_or_quarantined(app: App, data_dir: Path) -> None:
    files = sorted((data_dir / "realworld-mime").rglob("*.eml"))
    assert len(files) > 100
    outcomes: dict[str, int] = {}
    for path in files:
        result = app.intake.process(path.read_bytes(), Source("durham", "durham", path=str(path)))
        outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1
        if result.outcome is Outcome.QUARANTINE:
            assert result.reason
    with app.sessions() as s:
        logged = {m.source for m in s.scalars(select(QuarantineItem))}
        paths_in_messages = s.scalar(select(Message.id).limit(1))
    assert paths_in_messages is not None
    # Every file ends somewhere: a message (new or recognised duplicate) or the quarantine.
    assert sum(outcomes.values()) == len(files)
    assert outcomes.get("quarantine", 0) == len(logged)


def test_every_dev_corpus_record_is_logged_exactly_once(app: App, data_dir: Path) -> None:
    records = load_corpus(data_dir / "corpus" / "dev.jsonl")
    for rec in records:
        app.intake.process(record_to_eml(rec), Source(rec["service"], rec["service"]))
    for rec in records[:20]:
        app.intake.process(record_to_eml(rec), Source(rec["service"], rec["service"]))
    with app.sessions() as s:
        ids = list(s.scalars(select(Message.message_id)))
    assert sorted(ids) == sorted(f"<{r['id']}@corpus.sendiass-bot.invalid>" for r in records)
    assert counts(app)["quarantine"] == 0


def test_a_batch_gives_the_same_outcome_as_one_by_one(app: App) -> None:
    """Within one transaction, later messages see what earlier ones wrote."""
    first = make_email(message_id="<b1@example.org>", subject="Complaint about a caseworker")
    reply = make_email(
        message_id="<b2@example.org>", subject="Re: Complaint", in_reply_to="<b1@example.org>"
    )
    items = [
        Item(first, Source("durham-imap", "durham", 5, 1)),
        Item(reply, Source("durham-imap", "durham", 5, 2)),
        Item(first, Source("durham-imap", "durham", 5, 3)),  # delivered twice
        Item((MAIL / "not_an_email.eml").read_bytes(), Source("durham-imap", "durham", 5, 4)),
        Item(make_email(subject="Another"), Source("durham-imap", "durham", 5, 5)),
    ]
    results = app.intake.process_many(items)
    assert [r.outcome for r in results] == [
        Outcome.CONTINUE,
        Outcome.CONTINUE,
        Outcome.DUPLICATE,
        Outcome.QUARANTINE,
        Outcome.CONTINUE,
    ]
    assert results[0].case_reference == results[1].case_reference == "DUR-2026-0001"
    assert results[4].case_reference == "DUR-2026-0002"
    assert results[3].quarantine_id is not None
    assert counts(app) == {"messages": 3, "cases": 2, "quarantine": 1}
    with app.sessions() as s:
        from bot.models import MailboxCursor

        cursor = s.get(MailboxCursor, "durham-imap")
        assert cursor is not None and cursor.last_uid == 5


def test_a_batch_that_fails_falls_back_to_one_at_a_time(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = app.intake.env.classifier

    def flaky(inp):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if "boom" in inp.subject:
            raise RuntimeError("bug in a rule")
        return real(inp)

    monkeypatch.setattr(app.intake, "env", dataclasses.replace(app.intake.env, classifier=flaky))
    items = [Item(make_email(subject=s), DURHAM) for s in ("one", "boom", "three")]
    results = app.intake.process_many(items)
    assert [r.outcome for r in results] == [Outcome.CONTINUE, Outcome.QUARANTINE, Outcome.CONTINUE]
    assert counts(app) == {"messages": 2, "cases": 2, "quarantine": 1}


def test_a_broken_constraint_that_is_not_a_duplicate_is_quarantined_not_lost(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug that breaks a constraint (here: a reference handed out twice) must not be
    mistaken for a duplicate delivery: the message is kept in the quarantine."""
    import bot.pipeline.stages as stages

    monkeypatch.setattr(stages, "next_reference", lambda *a, **k: "DUR-2026-0001")
    first = app.intake.process(make_email(), Source("durham-imap", "durham", 8, 1))
    assert first.outcome is Outcome.CONTINUE
    result = app.intake.process(make_email(), Source("durham-imap", "durham", 8, 2))
    assert result.outcome is Outcome.QUARANTINE
    assert result.reason.startswith("store: IntegrityError")
    assert counts(app) == {"messages": 1, "cases": 1, "quarantine": 1}
