"""Shared fixtures. Servers are real (Dovecot, PostgreSQL) and start once per session.

- ``dovecot``: session DovecotServer (see tests/servers.py for its API). Its default
  user's mailbox is shared by the whole session: prefer ``imap_account`` in tests.
- ``imap_account`` (alias ``imap_user_mailbox``): a fresh, empty mailbox user per test
  on the session Dovecot, so tests never see each other's mail.
- ``postgres_server``: session PostgresServer; ``pg_url``: a fresh empty database per test.
- ``repo_root``, ``data_dir``: paths (all test data lives in ``tests/data``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # so `tests.servers` imports however pytest is started
    sys.path.insert(0, str(REPO_ROOT))

from tests.paths import DATA_DIR  # noqa: E402
from tests.servers import (  # noqa: E402
    DovecotServer,
    ImapAccount,
    PostgresServer,
    cleanup_stale,
)
from tests.smtpsink import SmtpSink  # noqa: E402


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    cleanup_stale()
    server = DovecotServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def imap_account(dovecot: DovecotServer) -> ImapAccount:
    """A new mailbox user with an empty INBOX; the session server is (re)started if needed."""
    dovecot.start()  # no-op when running; revives it if an earlier test stopped or killed it
    return dovecot.add_user()


@pytest.fixture
def imap_user_mailbox(imap_account: ImapAccount) -> ImapAccount:
    return imap_account


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    cleanup_stale()
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database, dropped after the test."""
    postgres_server.start()
    url = postgres_server.create_database()
    yield url
    if postgres_server.running:
        with contextlib.suppress(Exception):  # not the test's fault; the cluster is throwaway
            postgres_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 at a free port, recording every envelope
    with its raw bytes (``.messages()``, ``.data_transactions``); ``stop()``/``start()`` to
    take it down and bring it back on the same port."""
    from tests.servers import free_port

    sink = SmtpSink(free_port()).start()
    try:
        yield sink
    finally:
        sink.stop()
