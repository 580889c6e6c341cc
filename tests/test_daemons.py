"""Several daemons, one PostgreSQL: each mailbox is worked by one daemon at a time, a
standby takes over when the holder is SIGKILLed, nothing is logged or sent twice.

Real processes (``python -m bot run``), real Dovecot, PostgreSQL and SMTP sink. The
takeover time is printed (``-s`` shows it), not asserted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from bot.models import Message, OutboxLetter
from tests.mailfactory import make_email
from tests.servers import ImapAccount, imap_smtp_config
from tests.smtpsink import SmtpSink

REPO = Path(__file__).resolve().parents[1]
PASSWORD_ENV = "SENDIASS_TEST_IMAP_PASSWORD"
LEASE_TAKEN = "lease taken"


def wait_for(check: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout}s")


def config(tmp_path: Path, db_url: str, account: ImapAccount, smtp: SmtpSink) -> Path:
    path = tmp_path / "two.toml"
    # This test is about leases, not flood control: the helper lifts the per-service caps.
    path.write_text(
        imap_smtp_config(
            db_url,
            account,
            smtp.port,
            PASSWORD_ENV,
            """
[daemon]
poll_interval = 0.5
backoff_initial = 0.2
""",
        ),
        encoding="utf-8",
    )
    return path


def start_daemon(cfg: Path, account: ImapAccount, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "SENDIASS_CRASH_AT"}
    env.update({PASSWORD_ENV: account.password, "PYTHONPATH": str(REPO)})
    with open(log, "wb") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(cfg), "run"],
            env=env,
            cwd=REPO,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


def complaint(i: int) -> bytes:
    return make_email(
        subject=f"Complaint about a missed review {i}",
        body="I want to make a formal complaint: the annual review meeting was cancelled again.",
        from_addr=f"parent{i}@example.net",
        from_name=f"Parent {i}",
    )


@pytest.mark.parametrize("daemons", [2, 3])
def test_daemons_share_one_postgresql_and_take_over_after_a_sigkill(
    imap_account: ImapAccount, smtp_server: SmtpSink, pg_url: str, tmp_path: Path, daemons: int
) -> None:
    account = imap_account
    cfg = config(tmp_path, pg_url, account, smtp_server)
    engine = create_engine(pg_url)

    def logged() -> int:
        with engine.connect() as c:
            return c.execute(select(func.count()).select_from(Message)).scalar_one()

    def sent() -> int:
        with engine.connect() as c:
            q = select(func.count()).select_from(OutboxLetter).where(OutboxLetter.status == "sent")
            return c.execute(q).scalar_one()

    logs = [tmp_path / f"daemon{i}.log" for i in range(daemons)]
    procs = [start_daemon(cfg, account, logs[0])]
    try:
        wait_for(lambda: LEASE_TAKEN in logs[0].read_text(), what="first daemon takes the lease")
        for i in range(1, daemons):
            procs.append(start_daemon(cfg, account, logs[i]))
        for i in range(1, daemons):
            wait_for(lambda i=i: "standing by" in logs[i].read_text(), what=f"daemon {i} stands by")

        for i in range(8):
            account.append("INBOX", complaint(i))
        wait_for(lambda: logged() == 8, what="8 messages logged")
        wait_for(lambda: sent() >= 1 and sent() == _letters(engine), what="letters sent")

        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=30)
        t0 = time.monotonic()
        account.append("INBOX", complaint(100))
        wait_for(lambda: logged() == 9, timeout=120, what="the standby takes over")
        takeover = time.monotonic() - t0
        print(f"\ntakeover after SIGKILL ({daemons} daemons): {takeover:.2f} s")
        holders = [i for i in range(1, daemons) if LEASE_TAKEN in logs[i].read_text()]
        assert len(holders) == 1  # exactly one standby took the mailbox

        for i in range(8, 14):
            account.append("INBOX", complaint(i))
        wait_for(lambda: logged() == 15, what="15 messages logged")
        wait_for(lambda: sent() == _letters(engine) and sent() > 0, what="letters sent")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
    for proc in procs[1:]:
        assert proc.returncode == 0
    text = "".join(p.read_text() for p in logs)
    assert "EXPUNGEISSUED" not in text and "Traceback" not in text, text[-3000:]
    with engine.connect() as c:
        ids = list(c.execute(select(Message.message_id)).scalars())
        letter_ids = list(c.execute(select(OutboxLetter.message_id)).scalars())
    assert len(ids) == len(set(ids)) == 15
    # Every letter went once: one DATA per letter, one letter per Message-ID.
    assert smtp_server.data_transactions == len(letter_ids) == len(smtp_server.message_ids())
    for uid in account.uids("INBOX"):
        assert b"$SendiassLogged" in account.flags("INBOX", uid)
    engine.dispose()


def _letters(engine: object) -> int:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    with engine.connect() as c:
        # Every letter that may go (held ones wait for a person, by design) has gone.
        q = select(func.count()).select_from(OutboxLetter).where(OutboxLetter.status != "held")
        return c.execute(q).scalar_one()
