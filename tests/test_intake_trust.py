"""Issue 12, intake half: trust nothing a sender controls.

Each test sends the attack through the real intake (``process``, ``ingest`` or a real
Dovecot) with a fixture from tests/fixtures/mail/, and checks what the service does.
All people, addresses and events are fictional.
"""

from __future__ import annotations

import gzip
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App, build_app
from bot.cli import main as cli
from bot.config import WebConfig, parse_config
from bot.letters import STAFF_PURPOSES
from bot.letters.sender import FolderTransport, Sender
from bot.models import Case, Message, OutboxLetter
from bot.pipeline.context import Outcome, Source
from bot.poller import poll_all_once
from bot.reports.digest import build_digest, render_text
from bot.sources.maildir import deliver
from bot.web import create_app
from tests.apphelpers import make_config_data
from tests.mailfactory import make_email
from tests.servers import ImapAccount
from tests.web.conftest import COORD, SECRET, Browser, Clock, add_users

MAIL = Path(__file__).parent / "fixtures" / "mail"
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)  # Thursday
DURHAM = Source("durham", "durham")
STOKE = Source("stoke", "stoke")
PASSWORD_ENV = "SENDIASS_TEST_IMAP_PASSWORD"


def build(
    tmp_path: Path,
    db_url: str | None = None,
    *,
    clock: Any = None,
    letters: dict[str, int] | None = None,
    intake: dict[str, int] | None = None,
    mailboxes: list[dict[str, Any]] | None = None,
) -> App:
    url = db_url or f"sqlite:///{tmp_path / 'trust.db'}"
    data = make_config_data(url, tmp_path, mailboxes)
    if letters:
        data["letters"] = letters
    if intake:
        data["intake"] = intake
    return build_app(config=parse_config(data, "test-config"), clock=clock or (lambda: NOW))


@pytest.fixture
def app(tmp_path: Path) -> App:
    return build(tmp_path)


def fixture(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def case_of(app: App, reference: str | None) -> Case:
    with app.sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        assert case is not None, reference
        return case


def letters_of(app: App) -> list[OutboxLetter]:
    with app.sessions() as s:
        return list(s.scalars(select(OutboxLetter).order_by(OutboxLetter.id)))


def family_letters_of(app: App) -> list[OutboxLetter]:
    """The letters to the people who wrote (not the staff notices the procedure asks for)."""
    return [x for x in letters_of(app) if x.purpose not in STAFF_PURPOSES]


def web_client(app: App, email: str = COORD) -> Browser:
    add_users(app)
    flask = create_app(app, WebConfig(cookie_secure=False), secret_key=SECRET)
    flask.config["TESTING"] = True
    browser = Browser(flask.test_client())
    assert browser.login(email).status_code == 303
    return browser


# ------------------------------------------------------------------------------ identity


def test_an_encoded_word_never_becomes_the_sender_address(app: App) -> None:
    result = app.intake.process(fixture("forged_from_encoded_word.eml"), DURHAM)
    case = case_of(app, result.case_reference)
    assert case.sender_addr == "attacker@evil.example"
    assert "new.victim@example.net" in case.sender_name  # shown as untrusted text only
    (letter,) = letters_of(app)
    assert letter.to_addr == "attacker@evil.example"
    assert "new.victim" not in letter.body_text
    assert not letter.body_text.splitlines()[0].startswith("Dear Jo")


def test_a_display_name_with_a_link_is_never_printed_in_a_letter(app: App) -> None:
    result = app.intake.process(fixture("phishing_display_name.eml"), DURHAM)
    case = case_of(app, result.case_reference)
    assert case.kind == "compliment" and case.sender_addr == "third.party@example.org"
    (letter,) = family_letters_of(app)
    # Every letter, the thanks and the staff notice the procedure asks for alike.
    for each in letters_of(app):
        for text in (each.body_text, each.body_html or "", each.subject):
            assert "URGENT" not in text and "evil.example" not in text and "re-verify" not in text
    first = letter.body_text.splitlines()[0]
    assert first.endswith(",") and "Parent" not in first


# ----------------------------------------------------------------------------- threading


def test_a_stranger_copying_thread_headers_and_the_reference_opens_their_own_case(
    app: App,
) -> None:
    first = app.intake.process(fixture("complaint_plain.eml"), DURHAM)
    assert first.case_reference == "DUR-2026-0001"
    hijack = app.intake.process(fixture("thread_hijack_other_sender.eml"), DURHAM)
    assert hijack.outcome is Outcome.CONTINUE
    assert hijack.case_reference not in (None, "DUR-2026-0001")
    own = case_of(app, hijack.case_reference)
    assert own.sender_addr == "mallory.stranger@example.net"
    assert own.flags["mentions"] == ["DUR-2026-0001"]
    with app.sessions() as s:
        original = s.scalar(select(Case).where(Case.reference == "DUR-2026-0001"))
        assert original is not None and len(original.messages) == 1
    # The link is on the case page for a coordinator to merge.
    page = web_client(app).get(f"/cases/{own.id}").get_data(as_text=True)
    assert "Mentions" in page and "DUR-2026-0001" in page


def test_mail_to_another_service_never_attaches_to_a_case_it_names(app: App) -> None:
    app.intake.process(fixture("complaint_plain.eml"), DURHAM)
    result = app.intake.process(fixture("thread_cross_service.eml"), STOKE)
    assert result.case_reference is not None and result.case_reference.startswith("STO-")
    stoke = case_of(app, result.case_reference)
    assert stoke.service == "stoke" and "mentions" not in stoke.flags
    with app.sessions() as s:
        durham = s.scalar(select(Case).where(Case.reference == "DUR-2026-0001"))
        assert durham is not None and len(durham.messages) == 1
    assert [(x.to_addr, x.service) for x in letters_of(app)][-1] == (
        "priya.carer@example.org",
        "stoke",
    )


def test_parties_and_answers_to_our_letters_attach_others_do_not(app: App) -> None:
    thanks = make_email(subject="Thank you", body="Thank you so much, you were brilliant.")
    ref = app.intake.process(thanks, DURHAM).case_reference
    (letter,) = family_letters_of(app)
    # The original sender, by reference in the subject: attached.
    same = app.intake.process(make_email(subject=f"Re: [{ref}]", body="One more thing."), DURHAM)
    assert same.case_reference == ref
    # Someone else answering our letter's Message-ID: their own case.
    other = app.intake.process(
        make_email(from_addr="nosy@example.net", in_reply_to=letter.message_id), DURHAM
    )
    assert other.case_reference != ref
    # An address a coordinator added to the case: attached.
    with app.sessions.begin() as s:
        case = s.scalars(select(Case).where(Case.reference == ref)).one()
        case.flags = {**case.flags, "parties": ["grandparent@example.net"]}
    added = app.intake.process(
        make_email(from_addr="Grandparent@example.net", subject=f"About {ref}"), DURHAM
    )
    assert added.case_reference == ref


def test_a_reply_brings_the_case_back_and_safeguarding_flags_it(app: App) -> None:
    thanks = make_email(
        subject="Thank you", body="Thank you so much, you were brilliant and we are grateful."
    )
    ref = app.intake.process(thanks, DURHAM).case_reference
    assert ref == "DUR-2026-0001"
    assert case_of(app, ref).needs_person is False  # an acknowledged compliment
    reply = app.intake.process(fixture("reply_safeguarding.eml"), DURHAM)
    assert reply.case_reference == ref
    case = case_of(app, ref)
    assert case.needs_person is True and case.flags["new_message"]
    assert case.safeguarding is True and case.flags["safeguarding"] is True
    alerts = [x for x in letters_of(app) if x.purpose == "safeguarding_alert"]
    assert len(alerts) == 1 and alerts[0].status == "pending"
    browser = web_client(app)
    queue = browser.get("/").get_data(as_text=True)
    assert ref in queue and "New message from the family" in queue


# --------------------------------------------------------------------------------- dates


def test_the_clock_starts_at_arrival_and_an_absurd_date_is_flagged(app: App) -> None:
    arrival = datetime(2026, 11, 4, 9, 30, tzinfo=UTC)
    result = app.intake.process(fixture("date_1990.eml"), DURHAM, arrival)
    assert result.case_reference == "DUR-2026-0001"
    case = case_of(app, result.case_reference)
    assert case.received_at == arrival
    assert case.clock_starts == date(2026, 11, 4)
    assert "1990" in case.flags["date_warning"]
    with app.sessions() as s:
        msg = s.scalars(select(Message)).one()
        assert msg.date == arrival and msg.date_source == "arrival"


def test_without_an_arrival_time_the_newest_received_header_is_used(app: App) -> None:
    result = app.intake.process(fixture("received_header_archive.eml"), DURHAM)
    case = case_of(app, result.case_reference)
    assert case.received_at == datetime(2026, 11, 3, 9, 15, 2, tzinfo=UTC)
    assert "date_warning" in case.flags  # Date: 9999-12-31 is never trusted


def test_ingest_uses_received_then_file_time(tmp_path: Path) -> None:
    app = build(tmp_path)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[database]\nurl = "{app.config.database.url}"\n'
                   f'[outbound]\ntransport = "maildir"\npath = "{tmp_path / "o"}"\n')  # fmt: skip
    old = tmp_path / "date_1990.eml"
    old.write_bytes(fixture("date_1990.eml"))
    filetime = datetime.now(UTC) - timedelta(hours=2)
    os.utime(old, (filetime.timestamp(), filetime.timestamp()))
    archived = tmp_path / "received.eml"
    archived.write_bytes(fixture("received_header_archive.eml"))
    assert cli(["--config", str(cfg), "ingest", str(old), str(archived)]) == 0
    with app.sessions() as s:
        by_sender = {c.sender_addr: c for c in s.scalars(select(Case))}
    assert abs(by_sender["chris.parent@example.org"].received_at - filetime) < timedelta(seconds=2)
    assert by_sender["dana.parent@example.org"].received_at == datetime(
        2026, 11, 3, 9, 15, 2, tzinfo=UTC
    )
    assert "1990" not in by_sender["chris.parent@example.org"].reference


def test_old_mail_gets_no_automatic_letter(tmp_path: Path) -> None:
    app = build(tmp_path, intake={"max_age_days": 30})
    thanks = make_email(subject="Thank you", body="Thank you so much, you were brilliant.")
    app.intake.process(thanks, DURHAM, NOW - timedelta(days=45))
    (letter,) = family_letters_of(app)
    assert letter.status == "held" and "old mail" in (letter.hold_reason or "")


def test_imap_internaldate_starts_the_clock_and_since_skips_older_mail(
    tmp_path: Path, imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, imap_account.password)
    mailbox = {
        "name": "durham-imap", "service": "durham", "source": "imap",
        "host": imap_account.host, "port": imap_account.port, "tls": "none",
        "username": imap_account.user, "password_env": PASSWORD_ENV, "since": "2026-10-01",
    }  # fmt: skip
    app = build(tmp_path, mailboxes=[mailbox])
    inside = datetime(2026, 11, 4, 8, 0, tzinfo=UTC)
    imap_account.append("INBOX", fixture("date_1990.eml"), msg_time=inside)
    imap_account.append(
        "INBOX", fixture("complaint_plain.eml"), msg_time=datetime(2026, 9, 1, tzinfo=UTC)
    )
    _, errors = poll_all_once(app)
    assert errors == []
    with app.sessions() as s:
        (case,) = s.scalars(select(Case)).all()
    assert case.sender_addr == "chris.parent@example.org"
    assert case.received_at == inside


def test_maildir_since_skips_older_files(tmp_path: Path) -> None:
    box = tmp_path / "mail" / "durham"
    mailbox = {"name": "durham", "service": "durham", "source": "maildir", "path": str(box),
               "since": "2026-10-01"}  # fmt: skip
    app = build(tmp_path, mailboxes=[mailbox])
    deliver(box, fixture("complaint_plain.eml"))
    deliver(box, fixture("date_1990.eml"))
    for f in (box / "new").iterdir():
        if b"Joanna" in f.read_bytes():
            stamp = datetime(2026, 9, 1, tzinfo=UTC).timestamp()
            os.utime(f, (stamp, stamp))
    poll_all_once(app)
    with app.sessions() as s:
        assert [c.sender_addr for c in s.scalars(select(Case))] == ["chris.parent@example.org"]


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_pages_and_digest_survive_any_date_the_database_holds(
    tmp_path: Path, request: pytest.FixtureRequest, db: str
) -> None:
    url = request.getfixturevalue("pg_url") if db == "postgresql" else None
    app = build(tmp_path, url)
    odd = [
        datetime(1990, 1, 1, 9, 0, tzinfo=UTC),
        datetime(2002, 3, 4, 9, 0, tzinfo=UTC),
        datetime(9999, 12, 31, 12, 0, tzinfo=UTC),
        datetime(1, 1, 1, 12, 0, tzinfo=UTC),
    ]
    ids, refs = [], []
    for when in odd:
        ref = app.intake.process(
            make_email(
                subject="Complaint",
                body="I want to make a formal complaint about my "
                "caseworker, who never called me back.",
            ),
            DURHAM,
        ).case_reference
        with app.sessions.begin() as s:
            case = s.scalars(select(Case).where(Case.reference == ref)).one()
            case.received_at = when
            case.acknowledge_by = case.respond_by = case.clock_starts = when.date()
            case.needs_person = True
            ids.append(case.id)
            refs.append(case.reference)
    browser = web_client(app)
    queue = browser.get("/")
    assert queue.status_code == 200
    for case_id in ids:
        assert browser.get(f"/cases/{case_id}").status_code == 200
    with app.sessions() as s:
        text = render_text(
            build_digest(s, app.services, ["durham"], "2026-W49", date(2026, 11, 30))
        )
    assert "Weekly complaints digest" in text
    for ref in refs[:2]:  # overdue since 1990 and 2002: counted, not a crash
        assert ref in text


# ------------------------------------------------------------------------ automated mail


@pytest.mark.parametrize(
    "name",
    [
        "safeguarding_auto_submitted.eml",
        "safeguarding_list_unsubscribe.eml",
        "safeguarding_noreply_gateway.eml",
    ],
)
def test_safeguarding_is_never_discarded_as_automated(app: App, name: str) -> None:
    result = app.intake.process(fixture(name), DURHAM)
    assert result.outcome is Outcome.CONTINUE and result.case_reference
    case = case_of(app, result.case_reference)
    assert case.safeguarding is True and case.needs_person is True
    sent = letters_of(app)
    assert [x.purpose for x in sent] == ["safeguarding_alert"]
    assert sent[0].to_addr == app.services["durham"].coordinator_email


def test_a_person_writing_through_a_no_reply_gateway_gets_a_case_and_no_letter(
    app: App,
) -> None:
    result = app.intake.process(fixture("contact_form_noreply.eml"), DURHAM)
    assert result.outcome is Outcome.CONTINUE and result.case_reference
    assert case_of(app, result.case_reference).needs_person is True
    assert letters_of(app) == []


def test_real_automated_mail_is_still_discarded(app: App) -> None:
    for name in ("auto_reply.eml", "bounce.eml"):
        assert app.intake.process(fixture(name), DURHAM).outcome is Outcome.DISCARD


# ---------------------------------------------------------------------------------- HTML


def test_deeply_nested_html_is_bounded_at_intake_and_the_page_renders(app: App) -> None:
    raw = gzip.decompress((MAIL / "html_nested_200000.eml.gz").read_bytes())
    assert raw.count(b"<div>") == 200_000
    result = app.intake.process(raw, DURHAM)
    assert result.outcome is Outcome.CONTINUE and result.case_reference
    with app.sessions() as s:
        msg = s.scalars(select(Message)).one()
        assert msg.html_safe is None  # over the limits: no HTML kept for display
        assert "formal complaint" in msg.text  # the plain-text rendering instead
        case_id = msg.case_id
    page = web_client(app).get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert "formal complaint" in page.get_data(as_text=True)
    assert "<div><div><div>" not in page.get_data(as_text=True)


def test_html_is_sanitised_once_at_intake_and_shown_as_stored(app: App) -> None:
    nested = "<div>" * 150 + "deep" + "</div>" * 150
    hostile = '<p>Hello <b>there</b></p><script>alert(1)</script><img src="https://t.example/x">'
    app.intake.process(make_email(body="Hello there", html_body=hostile), DURHAM)
    app.intake.process(make_email(body="Deep text", html_body=nested), DURHAM)
    with app.sessions.begin() as s:
        first, deep = s.scalars(select(Message).order_by(Message.id)).all()
        assert first.html_safe is not None and "<script" not in first.html_safe
        assert "<b>there</b>" in first.html_safe and "t.example" not in first.html_safe
        assert deep.html_safe is None  # deeper than the limit: the text part is shown
        # The page shows what intake stored, and does not sanitise again.
        first.html_safe = "<p>stored at intake</p>"
        case_id = first.case_id
    page = web_client(app).get(f"/cases/{case_id}").get_data(as_text=True)
    assert "<p>stored at intake</p>" in page


# --------------------------------------------------------------------------- letter flood


def _thanks(addr: str) -> bytes:
    return make_email(
        from_addr=addr,
        subject="Thank you",
        body="Thank you so much to the team, you were brilliant and we are very grateful.",
    )


def test_letters_over_the_hourly_limit_wait_and_are_sent_later(tmp_path: Path) -> None:
    clock = Clock(NOW)
    app = build(tmp_path, clock=clock, letters={"max_per_hour": 3})
    for i in range(5):
        app.intake.process(_thanks(f"parent{i}@school{i}.example.org"), DURHAM)
    rows = family_letters_of(app)
    assert [x.status for x in rows] == ["pending"] * 5
    waiting = [x for x in rows if x.next_attempt_at is not None]
    assert len(waiting) == 2
    staff = [x for x in letters_of(app) if x.purpose in STAFF_PURPOSES]
    assert len(staff) == 5 and all(x.next_attempt_at is None for x in staff)  # never held back
    assert all(x.next_attempt_at == NOW + timedelta(hours=1) for x in waiting)
    assert all((x.hold_reason or "").startswith("waiting: ") for x in waiting)
    banner = web_client(app).get("/").get_data(as_text=True)
    assert "2 automatic letter(s) of durham are waiting" in banner
    sender = Sender(app.sessions, app.services, FolderTransport(tmp_path / "sent"), clock)
    assert sender.drain_once().sent == 3 + 5  # three letters to families, every staff notice
    clock.advance(hours=1, minutes=1)
    assert sender.drain_once().sent == 2  # never dropped
    assert [x.status for x in letters_of(app)] == ["sent"] * 10


def test_letters_to_one_domain_wait_but_webmail_is_exempt(tmp_path: Path) -> None:
    app = build(tmp_path, letters={"max_per_domain_per_day": 2})
    for i in range(3):
        app.intake.process(_thanks(f"staff{i}@bigcorp.example.org"), DURHAM)
    for i in range(3):
        app.intake.process(_thanks(f"family{i}@gmail.com"), DURHAM)
    rows = {x.to_addr: x for x in letters_of(app)}
    assert rows["staff2@bigcorp.example.org"].next_attempt_at == NOW + timedelta(days=1)
    assert "max_per_domain_per_day" in (rows["staff2@bigcorp.example.org"].hold_reason or "")
    assert all(rows[f"family{i}@gmail.com"].next_attempt_at is None for i in range(3))


def test_plus_addressing_and_case_do_not_pass_the_per_address_cap(app: App) -> None:
    for addr in ("victim+1@example.org", "Victim+2@example.org", "VICTIM@example.org",
                 "victim+4@example.org"):  # fmt: skip
        app.intake.process(_thanks(addr), DURHAM)
    statuses = [x.status for x in family_letters_of(app)]
    assert statuses == ["pending", "pending", "pending", "held"]
    assert "per-sender limit" in (family_letters_of(app)[-1].hold_reason or "")


def test_letters_configuration_keys() -> None:
    base = {"database": {"url": "sqlite://"}, "outbound": {"transport": "maildir", "path": "o"}}
    cfg = parse_config(base, "t")
    assert (cfg.letters.max_per_hour, cfg.letters.max_per_domain_per_day) == (60, 20)
    assert cfg.intake.max_age_days == 30
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match=r"letters\.max_per_hour"):
        parse_config({**base, "letters": {"max_per_hour": 0}}, "t")
    with pytest.raises(ConfigError, match=r"mailbox\[0\].since"):
        parse_config(
            {**base, "mailbox": [{"service": "durham", "source": "maildir", "path": "m",
                                  "since": "last week"}]}, "t")  # fmt: skip
    ok = parse_config(
        {**base, "mailbox": [{"service": "durham", "source": "maildir", "path": "m",
                              "since": date(2026, 1, 1)}]}, "t")  # fmt: skip
    assert ok.mailboxes[0].since == date(2026, 1, 1)


def test_merging_a_mentioning_case_makes_its_sender_a_party(app: App) -> None:
    app.intake.process(fixture("complaint_plain.eml"), DURHAM)
    stranger = app.intake.process(fixture("thread_hijack_other_sender.eml"), DURHAM)
    original = case_of(app, "DUR-2026-0001")
    browser = web_client(app)
    browser.act(original.id, "link", reference=stranger.case_reference, mode="merge")
    assert case_of(app, "DUR-2026-0001").flags["parties"] == ["mallory.stranger@example.net"]
    later = make_email(
        from_addr="mallory.stranger@example.net", subject="Re: DUR-2026-0001", body="Thanks."
    )
    assert app.intake.process(later, DURHAM).case_reference == "DUR-2026-0001"
