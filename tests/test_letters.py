"""Letters written by the pipeline: which letter, to whom, held or not, and what it says.

The outbox rows are checked here (SQLite); sending is in test_outbox.py, end to end through
Dovecot and SMTP in test_letters_e2e.py. All people and events are fictional.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from bot.letters.outbox import queue_letter
from bot.letters.sender import FolderTransport, Sender
from bot.models import Case, CaseEvent, OutboxLetter
from bot.pipeline.context import Source
from classifiers.types import Classification, ClassifierInput
from tests.letterhelpers import Clock, letters, letters_app
from tests.mailfactory import make_email

FIXTURES = Path(__file__).parent / "fixtures" / "mail"
SRC = Source("durham", "durham")
CHILD_DETAIL = "my son Jamie's EHC plan"


@pytest.fixture
def app(tmp_path: Path) -> App:
    return letters_app(f"sqlite:///{tmp_path / 'letters.db'}", tmp_path)


def ingest(app: App, raw: bytes, source: Source = SRC) -> str | None:
    return app.intake.process(raw, source).case_reference


def complaint(subject: str = "Complaint about my caseworker", **kw: object) -> bytes:
    body = f"I want to complain. Nobody called me back about {CHILD_DETAIL}.\n\nAlex"
    return make_email(subject=subject, body=body, **kw)  # type: ignore[arg-type]


def test_complaint_gets_one_acknowledgement_with_reference_and_due_date(app: App) -> None:
    raw = complaint(message_id="<c1@example.org>")
    ref = ingest(app, raw)
    assert ref == "DUR-2026-0001"
    (letter,) = letters(app)
    assert letter.purpose == "complaint_ack"
    assert letter.status == "pending"
    assert letter.to_addr == "alex.parent@example.org"
    assert letter.from_addr == "sendiass@durham.gov.uk"
    assert letter.subject == "[DUR-2026-0001] We have received your complaint"
    assert letter.in_reply_to == "<c1@example.org>"
    assert letter.references == ["<c1@example.org>"]
    assert letter.idempotency_key == "DUR-2026-0001/complaint_ack"
    for body in (letter.body_text, letter.body_html or ""):
        assert "DUR-2026-0001" in body
        assert "Monday 30 November 2026" in body  # 20 working days after Monday 2 November
        assert "SENDIASS Coordinator" in body
        # the privacy notice is TO BE CONFIRMED: the sentence is left out, never a guess
        assert "privacy" not in body
        assert "Stage 2" in body and "20 working days" in body
        # Data minimisation: no quotation of the complaint, its subject, or the child.
        assert "Jamie" not in body and "caseworker" not in body
    assert letter.body_text.startswith("Dear Alex Parent,\n\n")
    # The same message again (a re-delivery) is a duplicate: still one letter.
    ingest(app, raw)
    assert len(letters(app)) == 1
    with app.sessions() as s:
        kinds = list(s.scalars(select(CaseEvent.kind).order_by(CaseEvent.id)))
    assert "letter_queued" in kinds


@pytest.mark.parametrize(
    ("subject", "purpose", "phrase", "told"),
    [
        (
            "Thank you so much",
            "compliment_thanks",
            "We have passed your message to our SENDIASS Coordinator",
            "sendiass@durham.gov.uk",
        ),
        (
            "A suggestion for your website",
            "comment_thanks",
            "We have passed your comments to our SENDIASS Coordinator",
            "sendiass@durham.gov.uk",
        ),
        (
            "Stage 2 please",
            "next_stage_ack",
            "Children & Young People's Complaints Officer",
            "cascomplaints@durham.gov.uk",  # durham L110: the Stage 2 handler is told
        ),
    ],
)
def test_each_kind_gets_its_letter(
    app: App, subject: str, purpose: str, phrase: str, told: str
) -> None:
    ref = ingest(app, make_email(subject=subject))
    notice, letter = letters(app)
    assert (letter.purpose, letter.status) == (purpose, "pending")
    assert phrase in letter.body_text
    # "passed on" / "handled by" is true: the person was sent a notice, without the message
    assert (notice.purpose, notice.status, notice.to_addr) == ("staff_notice", "pending", told)
    assert f"Case: {ref}" in notice.body_text
    with app.sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == ref))
        assert case is not None
        told_events = [e.detail["to"] for e in case.events if e.kind == "notified"]
    assert told_events == [told]


def test_next_stage_acknowledgement_names_the_final_stage_and_the_ombudsman(app: App) -> None:
    ingest(app, make_email(subject="Stage 2 please"))
    (letter,) = [x for x in letters(app) if x.purpose != "staff_notice"]
    assert "We have received your request for Stage 2" in letter.subject
    assert "Local Government and Social Care Ombudsman" in letter.body_text
    assert "0300 061 0614" in letter.body_text


def test_enquiry_gets_no_letter(app: App) -> None:
    ingest(app, make_email(subject="Question about tribunals"))
    assert letters(app) == []


def _always_complaint(inp: ClassifierInput) -> Classification:
    return Classification("complaint", 0.95)


@pytest.mark.parametrize("fixture", ["auto_reply.eml", "bounce.eml", "newsletter.eml"])
def test_machines_never_get_a_letter_even_if_classified_a_complaint(app: App, fixture: str) -> None:
    app.intake.env = dataclasses.replace(app.intake.env, classifier=_always_complaint)
    service = "staffordshire" if fixture == "newsletter.eml" else "durham"
    ref = ingest(app, (FIXTURES / fixture).read_bytes(), Source(service, service))
    assert ref is not None  # logged as a case (the classifier said so) ...
    assert letters(app) == []  # ... but no letter to a machine


@pytest.mark.parametrize(
    "sender",
    ["no-reply@example.org", "mailer-daemon@example.org", "sendiass@durham.gov.uk",
     "iass@stoke.gov.uk", "cascomplaints@durham.gov.uk"],
)  # fmt: skip
def test_no_letter_to_no_reply_or_our_own_addresses(app: App, sender: str) -> None:
    ingest(app, complaint(from_addr=sender))
    assert letters(app) == []


def test_safeguarding_alerts_the_coordinator_without_the_message(app: App) -> None:
    raw = complaint(subject="Safeguarding worry", message_id="<sg@example.org>")
    ref = ingest(app, raw)
    alert, reply = letters(app)
    assert alert.purpose == "safeguarding_alert"
    # the family hears at once: a person reads it today; 999 if a child is in danger
    assert (reply.purpose, reply.status, reply.to_addr) == (
        "safeguarding_reply",
        "pending",
        "alex.parent@example.org",
    )
    assert "A member of our team will read your message today." in reply.body_text
    assert "If a child or young person is in immediate danger, call 999 now." in reply.body_text
    assert "Jamie" not in reply.body_text and "worry" not in reply.body_text
    # no service file gives safeguarding contacts, so none are named
    assert "You can also contact" not in reply.body_text
    assert alert.status == "pending"
    assert alert.to_addr == "sendiass@durham.gov.uk"  # coordinator_email
    assert alert.subject == f"[{ref}] Same-day attention needed"
    assert f"A message on case {ref} needs same-day attention" in alert.body_text
    for body in (alert.body_text, alert.body_html or "", alert.subject):
        assert "Jamie" not in body and "worry" not in body and "Alex" not in body


def test_complaint_about_the_coordinator_is_held_and_names_the_stage_2_handler(app: App) -> None:
    ref = ingest(app, complaint(subject="Complaint about the coordinator"))
    notice, letter = letters(app)
    # the Stage 2 handler is told at once, with the reason; the case leaves the queue of the
    # person it is about (restricted) and is theirs
    assert (notice.purpose, notice.status) == ("staff_notice", "pending")
    assert notice.to_addr == "cascomplaints@durham.gov.uk"
    assert "because it is about the person who would normally handle it" in notice.body_text
    with app.sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == ref))
        assert case is not None
        assert case.restricted and case.handler == "cascomplaints@durham.gov.uk"
        assert [e.detail["to"] for e in case.events if e.kind == "routed"] == [case.handler]
    assert letter.status == "held"
    assert "about the coordinator" in (letter.hold_reason or "")
    assert letter.to_addr == "alex.parent@example.org"
    text = letter.body_text
    # durham-sendiass-complaints-procedure.txt:L96: it starts at Stage 2, with the CYPS officer
    assert "our procedure starts it at Stage 2" in text
    assert (
        "It will be handled by the Children & Young People's Complaints Officer of Durham "
        "County Council (cascomplaints@durham.gov.uk)." in text
    )
    assert "handled by our SENDIASS Coordinator" not in text


def test_out_of_scope_complaint_gets_a_held_out_of_scope_reply(app: App) -> None:
    ingest(app, complaint(subject="Complaint about the council"))
    (letter,) = letters(app)
    assert (letter.purpose, letter.status) == ("out_of_scope", "held")
    assert "covers the service we provide ourselves" in letter.body_text
    assert "how to complain to the council or to the school" in letter.body_text


def test_low_confidence_is_held(app: App) -> None:
    ingest(app, complaint(subject="Not sure how to say this"))
    (letter,) = letters(app)
    assert letter.status == "held" and "low confidence" in (letter.hold_reason or "")


def test_reply_to_that_differs_is_held_and_we_write_to_from(app: App) -> None:
    ingest(app, complaint(headers={"Reply-To": "someone.else@example.net"}))
    (letter,) = letters(app)
    assert letter.status == "held"
    assert "Reply-To" in (letter.hold_reason or "")
    assert letter.to_addr == "alex.parent@example.org"


def test_per_sender_cap_holds_the_fourth_letter_in_a_day(app: App) -> None:
    for i in range(4):
        ingest(app, complaint(subject=f"Complaint number {i}"))
    ingest(app, complaint(subject="Safeguarding again"))  # an alert: not counted, not capped
    rows = letters(app)
    assert [r.status for r in rows if r.purpose == "complaint_ack"] == ["pending"] * 3 + ["held"]
    assert "per-sender limit" in (rows[3].hold_reason or "")
    assert rows[4].purpose == "safeguarding_alert" and rows[4].status == "pending"
    # Another sender is not affected.
    ingest(app, complaint(subject="Complaint too", from_addr="sam.carer@example.net"))
    assert letters(app)[-1].status == "pending"


def test_cap_counts_letters_written_earlier_in_the_same_batch(app: App) -> None:
    from bot.intake import Item

    items = [Item(complaint(subject=f"Complaint {i}"), SRC) for i in range(5)]
    app.intake.process_many(items)
    statuses = [r.status for r in letters(app)]
    assert statuses == ["pending"] * 3 + ["held"] * 2


def test_reply_to_our_acknowledgement_threads_and_gets_no_second_letter(
    app: App, tmp_path: Path
) -> None:
    ref = ingest(app, complaint())
    (ack,) = letters(app)
    reply = make_email(
        subject=f"Re: {ack.subject}",
        body="Thank you. One more thing about the complaint...",
        in_reply_to=ack.message_id,
        references=ack.message_id,
    )
    assert ingest(app, reply) == ref
    assert len(letters(app)) == 1
    # Also when the reply quotes only the reference in its subject.
    assert ingest(app, make_email(subject=f"My complaint {ref}")) == ref
    assert len(letters(app)) == 1


def test_header_injection_in_the_sender_name_goes_nowhere(app: App, tmp_path: Path) -> None:
    # An encoded-word that decodes to a name with CR LF and a header after it.
    raw = complaint().replace(
        b"From: Alex Parent <", b"From: =?utf-8?q?Alex=0D=0AX-Injected=3A_yes?= <"
    )
    ingest(app, raw)
    (letter,) = letters(app)
    first_line = letter.body_text.splitlines()[0]
    # A display name that hid a line break is never used: a neutral greeting instead.
    assert first_line.endswith(",") and "Alex" not in first_line and "X-Injected" not in first_line
    outbox = tmp_path / "sent"
    sender = Sender(app.sessions, app.services, FolderTransport(outbox), Clock())
    assert sender.drain_once().sent == 1
    (eml,) = outbox.glob("*.eml")
    head = eml.read_bytes().split(b"\r\n\r\n", 1)[0]
    assert b"X-Injected" not in head
    assert b"Auto-Submitted: auto-replied" in head


def test_queue_letter_is_idempotent_per_case_purpose_and_discriminator(app: App) -> None:
    ingest(app, complaint())
    durham = app.services["durham"]
    with app.sessions.begin() as s:
        case = s.scalars(select(Case)).one()
        extra = {"new_date": date(2026, 12, 14), "reason": "a colleague is away"}
        first = queue_letter(s, durham, case, "extension_notice", Clock()(), extra=extra,
                             discriminator="2026-12-14")  # fmt: skip
        again = queue_letter(s, durham, case, "extension_notice", Clock()(), extra=extra,
                             discriminator="2026-12-14")  # fmt: skip
        assert again is first
    rows = [r for r in letters(app) if r.purpose == "extension_notice"]
    assert len(rows) == 1 and rows[0].status == "held"
    assert "Monday 14 December 2026" in rows[0].body_text
    assert "This is because a colleague is away." in rows[0].body_text
    assert "Monday 30 November 2026" in rows[0].body_text  # the date it replaces


def test_every_outbox_row_has_a_unique_message_id(app: App) -> None:
    for subject in ("Complaint one", "Thank you", "A suggestion", "Safeguarding"):
        ingest(app, complaint(subject=subject))
    with app.sessions() as s:
        ids = list(s.scalars(select(OutboxLetter.message_id)))
    # four letters, the two notices the compliment and comment caused, the safeguarding reply
    assert len(ids) == 7 == len(set(ids))
    assert all(i.startswith("<") and i.endswith("@durham.gov.uk>") for i in ids)


def test_clean_text_and_greeting_name_strip_line_breaks_and_controls() -> None:
    from bot.letters.mime import clean_text, greeting_name

    assert clean_text("Alex\r\nBcc: x@example.org\x00\u202e") == "Alex Bcc: x@example.org"
    assert greeting_name("  Alex Parent ", "alex@example.org") == "Alex Parent"
    assert greeting_name("  Alex\nParent ", "alex@example.org") == ""  # hid a line break
    assert greeting_name("alex@example.org", "alex@example.org") == ""
    assert greeting_name('"Sam"', "") == "Sam"


def test_sending_the_acknowledgement_stops_the_acknowledgement_clock(
    app: App, tmp_path: Path
) -> None:
    ref = ingest(app, complaint())
    sender = Sender(app.sessions, app.services, FolderTransport(tmp_path / "out"), Clock())
    assert sender.drain_once().sent == 1
    with app.sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == ref))
        assert case is not None
        assert case.status == "acknowledged"
        assert case.lifecycle is not None and case.lifecycle["status"] == "acknowledged"
        assert case.respond_by == date(2026, 11, 30)  # the response clock keeps running
        kinds = [e.kind for e in case.events]
    assert kinds[-2:] == ["letter_sent", "acknowledge"]
    # A compliment's thanks is not an acknowledgement of a complaint: nothing changes.
    ref2 = ingest(app, make_email(subject="Thank you so much", body="Thank you so much!"))
    sender.drain_once()
    with app.sessions() as s:
        case2 = s.scalar(select(Case).where(Case.reference == ref2))
        assert case2 is not None and case2.status == "received"


def test_safeguarding_reply_is_held_where_the_service_chooses_and_alert_links_the_case(
    tmp_path: Path,
) -> None:
    from bot.config import WebConfig

    app = letters_app(f"sqlite:///{tmp_path / 'sg.db'}", tmp_path)
    durham = dataclasses.replace(
        app.services["durham"],
        safeguarding=dataclasses.replace(app.services["durham"].safeguarding, hold_reply=True),
    )
    services = {**app.services, "durham": durham}
    app.intake.env = dataclasses.replace(
        app.intake.env, services=services, case_url_base="https://cases.example.org"
    )
    assert WebConfig().base_url == ""
    ref = ingest(app, complaint(subject="Safeguarding worry"))
    alert, reply = letters(app)
    assert f"https://cases.example.org/?q={ref}" in alert.body_text
    assert reply.status == "held"
    assert reply.hold_reason == "the service holds safeguarding replies for a coordinator"


def test_safeguarding_reply_on_a_weekend_says_when_it_will_be_read(tmp_path: Path) -> None:
    saturday = datetime(2026, 11, 7, 10, 0, tzinfo=UTC)
    app = letters_app(f"sqlite:///{tmp_path / 'we.db'}", tmp_path, clock=Clock(saturday))
    ingest(app, complaint(subject="Safeguarding worry", date=saturday))
    _, reply = letters(app)
    assert "outside our working days" in reply.body_text
    assert "read it on Monday 9 November 2026" in reply.body_text
    assert "today" not in reply.body_text


def test_coventry_complaint_is_informal_first_and_the_letter_says_how_to_go_formal(
    app: App,
) -> None:
    # coventry-send-iass-complaints-policy.txt:L11 informal first through the SEND IASS
    # manager; L17-L21 a formal complaint through the Council's Speak Up
    ref = ingest(app, complaint(service="coventry"), Source("coventry", "coventry"))
    (letter,) = letters(app)
    assert letter.purpose == "complaint_ack"
    assert "We always try to resolve concerns informally first" in letter.body_text
    assert "Email: speakup@coventry.gov.uk" in letter.body_text
    assert "Phone: 0800 269851" in letter.body_text
    with app.sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == ref))
        assert case is not None and case.flags["route"] == "informal_first"
        (ev,) = [e for e in case.events if e.kind == "route"]
        assert ev.detail["source"] == "coventry-send-iass-complaints-policy.txt:L11"
