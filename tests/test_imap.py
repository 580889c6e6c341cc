"""The IMAP source against a real Dovecot on 127.0.0.1: no mocks."""

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

from bot.app import App
from bot.models import Message
from bot.poller import MailboxWorker, poll_all_once
from tests.apphelpers import counts, make_app
from tests.mailfactory import make_email
from tests.servers import DovecotServer, ImapAccount, free_port

REPO = Path(__file__).resolve().parents[1]
PASSWORD_ENV = "SENDIASS_TEST_IMAP_PASSWORD"


def mailbox_cfg(account: ImapAccount, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "name": "durham-imap",
        "service": "durham",
        "source": "imap",
        "host": account.host,
        "port": account.port,
        "tls": "none",
        "username": account.user,
        "password_env": PASSWORD_ENV,
    }
    cfg.update(extra)
    return cfg


@pytest.fixture
def account(imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch) -> ImapAccount:
    monkeypatch.setenv(PASSWORD_ENV, imap_account.password)
    return imap_account


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'imap.db'}"


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


def message_count(app: App) -> int:
    with app.sessions() as s:
        return s.scalar(select(func.count()).select_from(Message)) or 0


@pytest.fixture
def worker_thread() -> Iterator[Callable[[MailboxWorker], threading.Thread]]:
    workers: list[tuple[MailboxWorker, threading.Thread]] = []

    def start(worker: MailboxWorker) -> threading.Thread:
        t = threading.Thread(target=worker.run, daemon=True)
        t.start()
        workers.append((worker, t))
        return t

    yield start
    for worker, t in workers:
        worker.stop.set()
        t.join(timeout=10)


def test_poll_once_logs_and_flags_without_touching_unread_state_first(
    account: ImapAccount, db_url: str, tmp_path: Path
) -> None:
    uids = [account.append("INBOX", make_email(subject=f"Question {i}")) for i in range(3)]
    app = make_app(db_url, tmp_path, [mailbox_cfg(account)])
    (stats,), errors = poll_all_once(app)
    assert errors == []
    assert stats.fetched == 3
    assert counts(app)["messages"] == 3
    for uid in uids:
        assert set(account.flags("INBOX", uid)) >= {b"\\Seen", b"$SendiassLogged"}
    # Nothing new: nothing fetched, nothing logged twice.
    (stats,), _ = poll_all_once(app)
    assert stats.fetched == 0
    assert counts(app)["messages"] == 3
    with app.sessions() as s:
        rows = s.execute(select(Message.uid, Message.uidvalidity)).all()
    assert sorted(r.uid for r in rows) == uids
    assert {r.uidvalidity for r in rows} == {account.uidvalidity("INBOX")}


@pytest.mark.parametrize("tls", ["ssl", "starttls"])
def test_tls_connections_verify_the_server(
    account: ImapAccount, db_url: str, tmp_path: Path, tls: str
) -> None:
    account.append("INBOX", make_email())
    port = account.ssl_port if tls == "ssl" else account.port
    cfg = mailbox_cfg(account, tls=tls, port=port, cafile=str(account.cafile))
    app = make_app(db_url, tmp_path, [cfg])
    (stats,), errors = poll_all_once(app)
    assert errors == [] and stats.fetched == 1
    # Without the CA the self-signed certificate is refused: TLS really verifies.
    without_ca = {k: v for k, v in cfg.items() if k != "cafile"}
    app2 = make_app(f"sqlite:///{tmp_path / 'other.db'}", tmp_path, [without_ca])
    _, errors = poll_all_once(app2)
    assert len(errors) == 1 and "CERTIFICATE_VERIFY_FAILED" in errors[0]


def test_processed_folder_receives_logged_mail(
    account: ImapAccount, db_url: str, tmp_path: Path
) -> None:
    for i in range(2):
        account.append("INBOX", make_email(subject=f"Move me {i}"))
    app = make_app(db_url, tmp_path, [mailbox_cfg(account, processed_folder="Processed")])
    poll_all_once(app)
    assert account.uids("INBOX") == []
    assert len(account.uids("Processed")) == 2
    assert counts(app)["messages"] == 2


def test_uidvalidity_change_does_not_log_old_mail_again(
    account: ImapAccount, db_url: str, tmp_path: Path
) -> None:
    old = [make_email(subject=f"Old {i}") for i in range(3)]
    account.create_folder("Complaints")
    for raw in old:
        account.append("Complaints", raw)
    app = make_app(db_url, tmp_path, [mailbox_cfg(account, folder="Complaints")])
    poll_all_once(app)
    before = account.uidvalidity("Complaints")
    # The folder is rebuilt (as after a server migration): same mail, new UIDVALIDITY.
    with account.client() as imap:
        imap.delete_folder("Complaints")
        imap.create_folder("Complaints")
    for raw in [*old, make_email(subject="New one")]:
        account.append("Complaints", raw)
    assert account.uidvalidity("Complaints") != before
    (stats,), errors = poll_all_once(app)
    assert errors == []
    assert stats.outcomes == {"duplicate": 3, "continue": 1}
    assert counts(app)["messages"] == 4


def test_one_failing_mailbox_does_not_stop_the_others(
    account: ImapAccount, db_url: str, tmp_path: Path
) -> None:
    account.append("INBOX", make_email())
    broken = mailbox_cfg(account, name="broken", port=free_port())
    app = make_app(db_url, tmp_path, [broken, mailbox_cfg(account)])
    results, errors = poll_all_once(app)
    assert len(errors) == 1 and errors[0].startswith("broken: ")
    assert [r.fetched for r in results] == [1]


def test_idle_picks_up_new_mail_within_seconds(
    account: ImapAccount,
    db_url: str,
    tmp_path: Path,
    worker_thread: Callable[[MailboxWorker], threading.Thread],
) -> None:
    app = make_app(db_url, tmp_path, [mailbox_cfg(account)])
    worker = MailboxWorker(app, app.config.mailboxes[0])
    worker_thread(worker)
    wait_for(lambda: worker.imap is not None and worker.imap.can_idle)
    time.sleep(0.5)  # let it enter IDLE
    account.append("INBOX", make_email(subject="Arrived during IDLE"))
    elapsed = wait_for(lambda: message_count(app) == 1, timeout=10)
    assert elapsed < 10


def test_dovecot_restart_mid_run_loses_and_duplicates_nothing(
    dovecot: DovecotServer,
    account: ImapAccount,
    db_url: str,
    tmp_path: Path,
    worker_thread: Callable[[MailboxWorker], threading.Thread],
) -> None:
    app = make_app(db_url, tmp_path, [mailbox_cfg(account)])
    worker_thread(MailboxWorker(app, app.config.mailboxes[0]))
    for i in range(3):
        account.append("INBOX", make_email(subject=f"Before {i}"))
    wait_for(lambda: message_count(app) == 3)
    dovecot.stop()
    time.sleep(1.0)  # the worker sees the connection drop and backs off
    dovecot.start()
    for i in range(3):
        account.append("INBOX", make_email(subject=f"After {i}"))
    wait_for(lambda: message_count(app) == 6, timeout=20)
    time.sleep(1.0)
    assert message_count(app) == 6
    assert all(b"$SendiassLogged" in account.flags("INBOX", u) for u in account.uids("INBOX"))


def _config_file(tmp_path: Path, account: ImapAccount) -> Path:
    path = tmp_path / "imap.toml"
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
transport = "maildir"
path = "{tmp_path / "outbox"}"
[daemon]
poll_interval = 0.5
backoff_initial = 0.2
""",
        encoding="utf-8",
    )
    return path


def _bot(args: list[str], account: ImapAccount, **env: str) -> subprocess.Popen[str]:
    full_env = {**os.environ, PASSWORD_ENV: account.password, "PYTHONPATH": str(REPO), **env}
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("point", "nth", "logged_at_crash"),
    [
        # Killed while the third message's bytes are in memory: the batch never committed.
        ("after-fetch", 3, 0),
        # Killed after the commit, before the messages were flagged on the server.
        ("after-commit", 1, 6),
    ],
)
def test_sigkill_at_any_point_leaves_exactly_one_record_per_message(
    account: ImapAccount, tmp_path: Path, point: str, nth: int, logged_at_crash: int
) -> None:
    raws = [make_email(subject=f"Crash test {i}") for i in range(6)]
    for raw in raws:
        account.append("INBOX", raw)
    config = _config_file(tmp_path, account)
    crashed = _bot(
        ["--config", str(config), "poll-once"], account, SENDIASS_CRASH_AT=f"{point}:{nth}"
    )
    crashed.communicate(timeout=120)
    assert crashed.returncode == -signal.SIGKILL
    app = make_app(f"sqlite:///{tmp_path / 'daemon.db'}", tmp_path, [mailbox_cfg(account)])
    assert counts(app)["messages"] == logged_at_crash
    unflagged = account.uids("INBOX", ["UNKEYWORD", "$SendiassLogged"])
    assert len(unflagged) == 6
    again = _bot(["--config", str(config), "poll-once"], account)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    with app.sessions() as s:
        ids = list(s.scalars(select(Message.message_id)))
    assert len(ids) == len(set(ids)) == 6
    for uid in account.uids("INBOX"):
        assert b"$SendiassLogged" in account.flags("INBOX", uid)


def test_daemon_exits_0_on_sigterm_after_logging(account: ImapAccount, tmp_path: Path) -> None:
    config = _config_file(tmp_path, account)
    proc = _bot(["--config", str(config), "run"], account)
    try:
        account.append("INBOX", make_email(subject="While running"))
        app = make_app(f"sqlite:///{tmp_path / 'daemon.db'}", tmp_path, [mailbox_cfg(account)])
        wait_for(lambda: message_count(app) == 1, timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
