"""The sender: SMTP (real aiosmtpd on 127.0.0.1) and the folder transport, retries, claims,
approvals. Time is a hand-moved clock; nothing waits on the wall clock.
"""

from __future__ import annotations

import os
import socket
import threading
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.app import App
from bot.cli import main as cli
from bot.letters.sender import FolderTransport, Sender, SmtpTransport
from bot.models import CaseEvent, OutboxLetter
from bot.pipeline.context import Source
from tests.letterhelpers import Clock, letters, letters_app
from tests.mailfactory import make_email
from tests.servers import free_port
from tests.smtpsink import SmtpSink, make_cert

SRC = Source("durham", "durham")


def complaint(subject: str = "Complaint about a missed call", **kw: object) -> bytes:
    return make_email(subject=subject, **kw)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(tmp_path: Path, smtp_server: SmtpSink, clock: Clock) -> App:
    return letters_app(
        f"sqlite:///{tmp_path / 'outbox.db'}", tmp_path, smtp_port=smtp_server.port, clock=clock
    )


def test_smtp_delivery_carries_threading_headers_and_is_recorded(
    app: App, smtp_server: SmtpSink
) -> None:
    app.intake.process(complaint(message_id="<parent-1@example.org>"), SRC)
    (row,) = letters(app)
    stats = app.make_sender().drain_once()
    assert (stats.sent, stats.deferred, stats.failed) == (1, 0, 0)
    (got,) = smtp_server.messages()
    assert smtp_server.data_transactions == 1
    assert got.mail_from == "sendiass@durham.gov.uk"
    assert got.rcpt_tos == ("alex.parent@example.org",)
    msg = got.message
    assert msg["Message-ID"] == row.message_id
    assert msg["In-Reply-To"] == "<parent-1@example.org>"
    assert msg["References"] == "<parent-1@example.org>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Subject"] == "[DUR-2026-0001] We have received your complaint"
    assert parseaddr(msg["From"]) == (app.services["durham"].name, "sendiass@durham.gov.uk")
    assert msg.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content() for p in msg.iter_parts()}
    assert "Monday 30 November 2026" in parts["text/plain"]
    assert "<strong>Monday 30 November 2026</strong>" in parts["text/html"]
    (row,) = letters(app)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 1, Clock().now)
    with app.sessions() as s:
        sent = s.scalars(select(CaseEvent).where(CaseEvent.kind == "letter_sent")).one()
    assert sent.detail["message_id"] == row.message_id and sent.detail["acknowledgement"]
    # Nothing more to send: a second pass sends nothing.
    assert app.make_sender().drain_once().sent == 0
    assert smtp_server.data_transactions == 1


def test_smtp_down_then_up_delivers_late_and_once(
    app: App, smtp_server: SmtpSink, clock: Clock
) -> None:
    smtp_server.stop()
    app.intake.process(complaint(), SRC)
    sender = app.make_sender()
    stats = sender.drain_once()
    assert (stats.sent, stats.deferred) == (0, 1)
    (row,) = letters(app)
    assert row.status == "pending" and row.attempts == 1
    assert row.next_attempt_at == clock.now + timedelta(seconds=15)
    assert "Connection refused" in (row.last_error or "")
    smtp_server.start()
    assert sender.drain_once().sent == 0  # backing off: not due yet
    clock.advance(16)
    assert sender.drain_once().sent == 1
    assert smtp_server.data_transactions == 1
    assert len(smtp_server.message_ids()) == 1
    (row,) = letters(app)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert smtp_server.messages()[0].message_id == row.message_id


def test_intake_is_not_blocked_while_smtp_is_down(app: App, smtp_server: SmtpSink) -> None:
    smtp_server.stop()
    for i in range(3):
        assert app.intake.process(complaint(f"Complaint {i}", from_addr=f"p{i}@example.org"), SRC)
    assert [r.status for r in letters(app)] == ["pending"] * 3
    stats = app.make_sender().drain_once()
    assert (stats.sent, stats.deferred) == (0, 1)  # the pass stops at the first failure


def _config_file(tmp_path: Path, smtp_port: int) -> Path:
    path = tmp_path / "letters.toml"
    path.write_text(
        f"""
[database]
url = "sqlite:///{tmp_path / "outbox.db"}"
[[mailbox]]
name = "durham"
service = "durham"
source = "maildir"
path = "{tmp_path / "mail"}"
[outbound]
transport = "smtp"
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
""",
        encoding="utf-8",
    )
    return path


def test_held_letter_is_sent_only_after_approval(
    app: App, smtp_server: SmtpSink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app.intake.process(complaint("Not sure how to say this"), SRC)
    app.intake.process(complaint("Not sure again", from_addr="sam@example.net"), SRC)
    held, other = letters(app)
    assert held.status == other.status == "held"
    assert app.make_sender().drain_once().sent == 0
    assert smtp_server.messages() == []
    config = str(_config_file(tmp_path, smtp_server.port))
    assert cli(["--config", config, "letters", "list"]) == 0
    out = capsys.readouterr().out
    assert "held" in out and "low confidence" in out and "DUR-2026-0001" in out
    assert cli(["--config", config, "letters", "show", str(held.id)]) == 0
    assert "Held because: low confidence" in capsys.readouterr().out
    assert cli(["--config", config, "letters", "approve", str(held.id)]) == 0
    assert cli(["--config", config, "letters", "discard", str(other.id)]) == 0
    assert cli(["--config", config, "letters", "approve", str(other.id)]) == 2  # discarded
    assert "only a letter that is held or failed" in capsys.readouterr().err
    assert cli(["--config", config, "letters", "send"]) == 0
    assert "sent 1" in capsys.readouterr().out
    assert [m.rcpt_tos for m in smtp_server.messages()] == [("alex.parent@example.org",)]
    assert [r.status for r in letters(app)] == ["sent", "discarded"]
    with app.sessions() as s:
        actors = {e.kind: e.actor for e in s.scalars(select(CaseEvent))}
    assert actors["letter_approved"].startswith("user:")
    assert cli(["--config", config, "letters", "approve", "999"]) == 2


def test_refused_recipient_fails_for_good_until_approved_again(
    app: App, smtp_server: SmtpSink, clock: Clock
) -> None:
    smtp_server.refuse.add("alex.parent@example.org")
    app.intake.process(complaint(), SRC)
    stats = app.make_sender().drain_once()
    assert stats.failed == 1
    (row,) = letters(app)
    assert row.status == "failed" and "550" in (row.last_error or "")
    clock.advance(3600)
    assert app.make_sender().drain_once().sent == 0  # failed letters are not retried
    smtp_server.refuse.clear()
    with app.sessions.begin() as s:
        s.execute(update(OutboxLetter).values(status="pending"))  # as `letters approve` does
    assert app.make_sender().drain_once().sent == 1
    assert smtp_server.data_transactions == 1


def test_abandoned_claims_are_taken_over_with_the_same_message_id(
    app: App, smtp_server: SmtpSink, clock: Clock
) -> None:
    app.intake.process(complaint(), SRC)
    host = socket.gethostname()
    # A process that died mid-send (its pid is gone): taken over at once.
    dead = _dead_pid()
    with app.sessions.begin() as s:
        s.execute(
            update(OutboxLetter).values(
                status="sending",
                attempt_token=f"{host}|{dead}|x|1",
                claimed_at=clock.now,
                attempts=1,
            )
        )
    assert app.make_sender().drain_once().sent == 1
    (row,) = letters(app)
    assert row.attempts == 2 and smtp_server.messages()[0].message_id == row.message_id
    # A live sender's fresh claim is left alone until the lease runs out.
    app.intake.process(complaint("Complaint two", from_addr="sam@example.net"), SRC)
    with app.sessions.begin() as s:
        s.execute(
            update(OutboxLetter)
            .where(OutboxLetter.status == "pending")
            .values(status="sending", attempt_token=f"{host}|{os.getppid()}|y|1")
            .values(claimed_at=clock.now)
        )
    assert app.make_sender().drain_once().sent == 0
    clock.advance(601)
    assert app.make_sender().drain_once().sent == 1
    assert smtp_server.data_transactions == 2


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_folder_transport_writes_one_file_per_letter_even_when_sent_twice(
    tmp_path: Path, clock: Clock
) -> None:
    app = letters_app(f"sqlite:///{tmp_path / 'f.db'}", tmp_path, clock=clock)
    app.intake.process(complaint(), SRC)
    app.intake.process(make_email(subject="Thank you"), SRC)
    sender = app.make_sender()  # the config's "maildir" outbound: tmp_path/outbox
    assert isinstance(sender.transport, FolderTransport)
    # the acknowledgement, the thanks, and the notice that passed the compliment on
    assert sender.drain_once().sent == 3
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 3
    # A retry after an uncertain send (crash after writing, before recording) is a no-op.
    row = letters(app)[0]
    with app.sessions() as s:
        from bot.letters.mime import build_message

        msg = build_message(s.get(OutboxLetter, row.id), "x", clock.now)  # type: ignore[arg-type]
    sender.transport.send(msg, row.from_addr, [row.to_addr])
    assert sorted((tmp_path / "outbox").glob("*.eml")) == files
    assert not list((tmp_path / "outbox").glob(".*"))  # no temporary files left
    text = sender.transport.file_for(row.message_id).read_text()
    assert f"Message-ID: {row.message_id}" in text


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_smtp_tls_and_login(
    tmp_path: Path, clock: Clock, tls: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert = make_cert(tmp_path / "tls")
    sink = SmtpSink(free_port(), tls=tls, cert=cert, credentials=("bot", "s3cret")).start()
    try:
        monkeypatch.setenv("SENDIASS_TEST_SMTP_PASSWORD", "s3cret")
        from bot.config import parse_config
        from tests.letterhelpers import config_data

        data = config_data(f"sqlite:///{tmp_path / 't.db'}", tmp_path)
        data["outbound"] = {
            "transport": "smtp", "host": "127.0.0.1", "port": sink.port, "tls": tls,
            "username": "bot", "password_env": "SENDIASS_TEST_SMTP_PASSWORD",
            "cafile": str(cert[0]),
        }  # fmt: skip
        config = parse_config(data, "test")
        from bot.app import build_app
        from tests.letterhelpers import use_keyword_classifier

        app = use_keyword_classifier(build_app(config=config, clock=clock))
        app.intake.process(complaint(), SRC)
        assert isinstance(app.make_sender().transport, SmtpTransport)
        assert app.make_sender().drain_once().sent == 1
        assert sink.data_transactions == 1
        # A wrong password is "transport down": deferred, not failed.
        monkeypatch.setenv("SENDIASS_TEST_SMTP_PASSWORD", "wrong")
        app.intake.process(complaint("Complaint two", from_addr="sam@example.net"), SRC)
        stats = app.make_sender().drain_once()
        assert (stats.sent, stats.deferred, stats.failed) == (0, 1, 0)
    finally:
        sink.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_outbox_idempotency_and_racing_senders(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SmtpSink
) -> None:
    url = (
        request.getfixturevalue("pg_url")
        if backend == "postgresql"
        else f"sqlite:///{tmp_path / 'race.db'}"
    )
    clock = Clock()
    app = letters_app(url, tmp_path, smtp_port=smtp_server.port, clock=clock)
    n = 12
    for i in range(n):
        app.intake.process(complaint(f"Complaint {i}", from_addr=f"parent{i}@example.org"), SRC)
    rows = letters(app)
    assert len(rows) == n and {r.status for r in rows} == {"pending"}
    # The database refuses a second letter for the same case and purpose.
    with pytest.raises(IntegrityError), app.sessions.begin() as s:
        first = rows[0]
        s.add(
            OutboxLetter(
                case_id=first.case_id, purpose=first.purpose, idempotency_key=first.idempotency_key,
                status="pending", to_addr=first.to_addr, from_addr=first.from_addr,
                subject="x", body_text="x", message_id="<dup@example.org>", references=[],
                attempts=0, created_at=clock.now,
            )
        )  # fmt: skip
    # Four senders drain the same outbox at once: every letter goes exactly once.
    senders = [app.make_sender() for _ in range(4)]
    barrier = threading.Barrier(len(senders))

    def drain(sender: Sender) -> None:
        barrier.wait()
        sender.drain_once()

    threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    got = smtp_server.messages()
    assert smtp_server.data_transactions == n
    assert len({m.message_id for m in got}) == n
    assert {r.status for r in letters(app)} == {"sent"}
    assert all(r.attempts == 1 for r in letters(app))


def test_missing_smtp_password_defers_instead_of_sticking(
    tmp_path: Path, smtp_server: SmtpSink, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.app import build_app
    from bot.config import parse_config
    from tests.letterhelpers import config_data, use_keyword_classifier

    monkeypatch.delenv("SENDIASS_TEST_UNSET_PASSWORD", raising=False)
    data = config_data(f"sqlite:///{tmp_path / 'p.db'}", tmp_path, smtp_port=smtp_server.port)
    data["outbound"].update(username="bot", password_env="SENDIASS_TEST_UNSET_PASSWORD")
    app = use_keyword_classifier(build_app(config=parse_config(data, "test"), clock=clock))
    app.intake.process(complaint(), SRC)
    stats = app.make_sender().drain_once()
    assert (stats.sent, stats.deferred) == (0, 1)
    (row,) = letters(app)
    assert row.status == "pending" and "SENDIASS_TEST_UNSET_PASSWORD" in (row.last_error or "")
