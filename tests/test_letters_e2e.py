"""End to end: Dovecot (IMAP IDLE) -> the daemon -> a real SMTP server, all on 127.0.0.1.

The daemon runs in a thread (with the keyword classifier and a fixed clock) or, for the
crash tests, as a subprocess killed with SIGKILL at a fail point and started again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import App, build_app
from bot.cli import main as cli
from bot.models import Message, OutboxLetter
from bot.poller import run_daemon
from tests.letterhelpers import NOW, letters, letters_app
from tests.mailfactory import make_email
from tests.servers import ImapAccount
from tests.smtpsink import SmtpSink

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "mail"
PASSWORD_ENV = "SENDIASS_TEST_IMAP_PASSWORD"


def mailbox_cfg(account: ImapAccount) -> dict[str, Any]:
    return {
        "name": "durham-imap", "service": "durham", "source": "imap", "host": account.host,
        "port": account.port, "tls": "none", "username": account.user, "password_env": PASSWORD_ENV,
    }  # fmt: skip


@pytest.fixture
def account(imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch) -> ImapAccount:
    monkeypatch.setenv(PASSWORD_ENV, imap_account.password)
    return imap_account


def wait_for(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout}s")


def message_count(app: App) -> int:
    with app.sessions() as s:
        return s.scalar(select(func.count()).select_from(Message)) or 0


def outbox_statuses(app: App) -> list[str]:
    return [r.status for r in letters(app)]


@pytest.fixture
def daemon() -> Iterator[Callable[[App], None]]:
    stops: list[tuple[threading.Event, threading.Thread]] = []

    def start(app: App) -> None:
        stop = threading.Event()
        t = threading.Thread(target=run_daemon, args=(app, stop), daemon=True)
        t.start()
        stops.append((stop, t))

    yield start
    for stop, t in stops:
        stop.set()
        t.join(timeout=30)


def test_daemon_acknowledges_people_and_never_machines(
    account: ImapAccount,
    smtp_server: SmtpSink,
    tmp_path: Path,
    daemon: Callable[[App], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = letters_app(
        f"sqlite:///{tmp_path / 'e2e.db'}",
        tmp_path,
        smtp_port=smtp_server.port,
        mailboxes=[mailbox_cfg(account)],
    )
    daemon(app)
    # The clock starts at the server's INTERNALDATE (the app's fixed clock: NOW).
    account.append("INBOX", make_email(subject="Complaint about a missed call"), msg_time=NOW)
    account.append(
        "INBOX", make_email(subject="Thank you", from_addr="sam.carer@example.net"), msg_time=NOW
    )
    for name in ("auto_reply.eml", "bounce.eml", "newsletter.eml"):
        account.append("INBOX", (FIXTURES / name).read_bytes(), msg_time=NOW)
    wait_for(lambda: message_count(app) == 5, what="5 messages logged")
    # the compliment is passed to the coordinator by a notice, so its thanks says so (issue 14)
    got = smtp_server.wait_for(3)
    wait_for(lambda: outbox_statuses(app) == ["sent"] * 3, what="three letters sent")
    ack, notice, thanks = sorted(got, key=lambda r: r.message["Subject"])
    assert notice.message["Subject"].startswith("[DUR-2026-0002] For your action")
    assert notice.rcpt_tos == ("sendiass@durham.gov.uk",)
    assert ack.message["Subject"] == "[DUR-2026-0001] We have received your complaint"
    assert ack.rcpt_tos == ("alex.parent@example.org",)
    assert "Monday 30 November 2026" in ack.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert thanks.message["Subject"] == "[DUR-2026-0002] Thank you for your kind words"
    assert thanks.rcpt_tos == ("sam.carer@example.net",)

    # A reply to our acknowledgement threads onto the case and gets no second letter.
    ack_row = letters(app)[0]
    account.append(
        "INBOX",
        make_email(
            subject="Re: [DUR-2026-0001] We have received your complaint",
            body="Thanks. I forgot to say: it happened twice.",
            in_reply_to=ack_row.message_id,
            references=ack_row.message_id,
        ),
    )
    wait_for(lambda: message_count(app) == 6, what="reply logged")
    with app.sessions() as s:
        reply = s.scalars(select(Message).order_by(Message.id.desc())).first()
    assert reply is not None and reply.disposition == "thread" and reply.case_id == ack_row.case_id
    assert len(letters(app)) == 3

    # The per-sender cap: the same parent writes four more complaints in a day.
    for i in range(3):
        account.append("INBOX", make_email(subject=f"Complaint {i}", from_addr="pat@example.org"))
    account.append("INBOX", make_email(subject="Complaint 3", from_addr="pat@example.org"))
    # And a held letter (low confidence) that waits for a coordinator.
    account.append("INBOX", make_email(subject="Not sure who to ask", from_addr="jo@example.org"))
    wait_for(lambda: len(letters(app)) == 8, what="five more letters written")
    wait_for(lambda: len(smtp_server.messages()) == 6, what="three more sent")
    # The SMTP server has the letter a moment before the sender records it as sent.
    wait_for(
        lambda: [r.status for r in letters(app)[3:]] == ["sent", "sent", "sent", "held", "held"],
        what="three more recorded as sent, two held",
    )
    rows = letters(app)
    assert "per-sender limit" in (rows[6].hold_reason or "")
    assert "low confidence" in (rows[7].hold_reason or "")
    time.sleep(1.0)  # the sender has had its chance: held letters stay put
    assert len(smtp_server.messages()) == 6

    # A coordinator approves the held letter; the running daemon sends it.
    config = tmp_path / "cli.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "e2e.db"}"\n'
        f'[outbound]\ntransport = "maildir"\npath = "{tmp_path / "unused"}"\n',
        encoding="utf-8",
    )
    assert cli(["--config", str(config), "letters", "approve", str(rows[7].id)]) == 0
    capsys.readouterr()
    wait_for(lambda: len(smtp_server.messages()) == 7, what="approved letter sent", timeout=20)
    assert smtp_server.messages()[-1].rcpt_tos == ("jo@example.org",)
    assert smtp_server.data_transactions == 7
    assert len({m.message_id for m in smtp_server.messages()}) == 7


def _config_file(tmp_path: Path, account: ImapAccount, smtp: SmtpSink) -> Path:
    path = tmp_path / "daemon.toml"
    path.write_text(
        f"""
[database]
url = "sqlite:///{tmp_path / "daemon.db"}"
[[mailbox]]
name = "durham-imap"
service = "durham"
source = "imap"
host = "{account.host}"
port = {account.port}
tls = "none"
username = "{account.user}"
password_env = "{PASSWORD_ENV}"
[outbound]
transport = "smtp"
host = "127.0.0.1"
port = {smtp.port}
tls = "none"
resend_after = 2
[daemon]
poll_interval = 0.5
backoff_initial = 0.2
""",
        encoding="utf-8",
    )
    return path


def _daemon(config: Path, account: ImapAccount, **env: str) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if k != "SENDIASS_CRASH_AT"}
    full.update({PASSWORD_ENV: account.password, "PYTHONPATH": str(REPO), **env})
    return subprocess.Popen(
        [sys.executable, "-m", "tests.letterhelpers", str(config)],
        env=full,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("point", ["before-send", "after-send"])
def test_crash_around_the_send_still_delivers_exactly_one_letter(
    account: ImapAccount, smtp_server: SmtpSink, tmp_path: Path, point: str
) -> None:
    config = _config_file(tmp_path, account, smtp_server)
    account.append("INBOX", make_email(subject="Complaint about a cancelled visit"))
    crashed = _daemon(config, account, SENDIASS_CRASH_AT=f"{point}:1")
    _, err = crashed.communicate(timeout=120)
    assert crashed.returncode == -signal.SIGKILL, err[-2000:]
    app = build_app(config)
    (row,) = letters(app)
    assert row.status == "sending" and row.attempts == 1  # committed, claimed, then killed
    # Killed after the server's 250 but before our COMMIT: the row says "handed over", so
    # it is sent again only after resend_after (2 s here), with the same Message-ID.
    assert (row.handed_over_at is not None) == (point == "after-send")
    before = smtp_server.data_transactions
    assert before == (0 if point == "before-send" else 1)

    again = _daemon(config, account)
    try:
        wait_for(lambda: outbox_statuses(app) == ["sent"], timeout=60, what="letter sent")
    finally:
        again.send_signal(signal.SIGTERM)
        _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err[-2000:]
    (row,) = letters(app)
    assert row.attempts == 2
    got = smtp_server.messages()
    # Exactly one letter: one Message-ID. A crash after the server accepted it (after-send)
    # means a second DATA with the same Message-ID (at least once, deduplicable).
    assert {m.message_id for m in got} == {row.message_id}
    assert smtp_server.data_transactions == (1 if point == "before-send" else 2)
    assert message_count(app) == 1
    with app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(OutboxLetter)) == 1
