"""The test servers themselves work: real Dovecot (plain, TLS, IDLE, restarts) and PostgreSQL."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.servers import DovecotServer, ImapAccount, PostgresServer, free_port

RAW = (
    b"From: Parent <parent@example.test>\r\n"
    b"To: intake@sendiass.test\r\n"
    b"Subject: EHCP complaint\r\n"
    b"Message-ID: <abc123@example.test>\r\n"
    b"Date: Mon, 04 Mar 2024 10:00:00 +0000\r\n"
    b"\r\n"
    b"The annual review was missed.\r\n"
)


def fetch_raw(imap: IMAPClient, uid: int) -> bytes:
    found = imap.fetch([uid], ["BODY.PEEK[]", "FLAGS"])
    assert b"\\Seen" not in found[uid][b"FLAGS"]
    return bytes(found[uid][b"BODY[]"])


def test_append_and_fetch_plain(imap_account: ImapAccount) -> None:
    uid = imap_account.append("INBOX", RAW)
    imap = imap_account.client()
    try:
        imap.select_folder("INBOX")
        assert imap.search("ALL") == [uid]
        assert fetch_raw(imap, uid) == RAW
        # BODY.PEEK[] must not mark the message read.
        assert b"\\Seen" not in imap.get_flags([uid])[uid]
    finally:
        imap.logout()


def test_fetch_over_tls_verifies_self_signed_cert(imap_account: ImapAccount) -> None:
    uid = imap_account.append("INBOX", RAW)
    context = ssl.create_default_context(cafile=str(imap_account.cafile))
    assert context.check_hostname  # the cert carries subjectAltName IP:127.0.0.1
    imap = IMAPClient(imap_account.host, port=imap_account.ssl_port, ssl=True, ssl_context=context)
    try:
        imap.login(imap_account.user, imap_account.password)
        imap.select_folder("INBOX", readonly=True)
        assert fetch_raw(imap, uid) == RAW
    finally:
        imap.logout()


def test_tls_without_the_ca_is_rejected(imap_account: ImapAccount) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(
            imap_account.host,
            port=imap_account.ssl_port,
            ssl=True,
            ssl_context=ssl.create_default_context(),
            timeout=5,
        )


def test_starttls_on_plain_port(imap_account: ImapAccount) -> None:
    imap = IMAPClient(imap_account.host, port=imap_account.port, ssl=False, timeout=5)
    try:
        assert b"STARTTLS" in imap.capabilities()
        imap.starttls(imap_account.ssl_context())
        imap.login(imap_account.user, imap_account.password)
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        imap.logout()


def test_uidvalidity_is_reported(imap_account: ImapAccount) -> None:
    imap = imap_account.client()
    try:
        info = imap.select_folder("INBOX")
        assert int(info[b"UIDVALIDITY"]) > 0
        assert int(info[b"UIDNEXT"]) == 1
    finally:
        imap.logout()
    assert imap_account.uidvalidity("INBOX") == int(info[b"UIDVALIDITY"])


def test_each_test_gets_an_empty_mailbox(dovecot: DovecotServer, imap_account: ImapAccount) -> None:
    assert imap_account.uids("INBOX") == []
    assert imap_account.folders() == ["INBOX"]
    other = dovecot.add_user()
    imap_account.append("INBOX", RAW)
    assert other.uids("INBOX") == []
    assert imap_account.user != dovecot.user


def test_named_user_added_while_running_can_log_in_at_once(dovecot: DovecotServer) -> None:
    dovecot.start()
    dovecot.client().logout()  # a login in this second: Dovecot won't re-read users until the next
    account = dovecot.add_user(f"named-{free_port()}@sendiass.test", "pw-123")
    imap = account.client()
    try:
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        imap.logout()
    imap = IMAPClient(account.host, port=account.port, ssl=False, timeout=5)
    try:
        with pytest.raises(LoginError):
            imap.login(account.user, "wrong")
    finally:
        imap.shutdown()


def test_folders_flags_and_criteria(imap_account: ImapAccount) -> None:
    imap_account.create_folder("Processed")
    assert "Processed" in imap_account.folders()
    seen = imap_account.append("Processed", RAW, flags=[b"\\Seen", "$Intake"])
    unseen = imap_account.append("Processed", RAW)
    assert set(imap_account.flags("Processed", seen)) >= {b"\\Seen", b"$Intake"}
    assert b"\\Seen" not in imap_account.flags("Processed", unseen)
    assert imap_account.uids("Processed") == [seen, unseen]
    assert imap_account.uids("Processed", "UNSEEN") == [unseen]
    assert imap_account.fetch("Processed", seen) == RAW
    imap_account.clear()
    assert imap_account.folders() == ["INBOX"]


def test_idle_sees_mail_appended_by_another_connection(imap_account: ImapAccount) -> None:
    watcher = imap_account.client()
    try:
        assert b"IDLE" in watcher.capabilities()
        watcher.select_folder("INBOX")
        watcher.idle()
        started = time.monotonic()
        uid = imap_account.append("INBOX", RAW)  # a second connection
        responses: list[tuple[int, bytes]] = []
        while time.monotonic() - started < 5 and not any(r[1] == b"EXISTS" for r in responses):
            responses += watcher.idle_check(timeout=1)
        watcher.idle_done()
        assert (1, b"EXISTS") in responses, responses
        assert watcher.search("ALL") == [uid]
    finally:
        watcher.logout()


def test_restart_keeps_mail_port_and_uidvalidity() -> None:
    with DovecotServer() as server:
        port, ssl_port = server.port, server.ssl_port
        uid = server.append("INBOX", RAW)
        validity = server.account.uidvalidity()
        connected = server.client()

        server.restart()
        assert (server.port, server.ssl_port) == (port, ssl_port)
        assert server.uids("INBOX") == [uid]
        assert server.account.uidvalidity() == validity
        # The old connection was dropped by the restart.
        with pytest.raises(Exception):  # noqa: B017 - socket/IMAP errors vary
            connected.noop()
        connected.shutdown()

        connected = server.client(ssl=True)
        server.kill()
        assert not server.running
        with pytest.raises(Exception):  # noqa: B017
            connected.noop()
        connected.shutdown()
        server.restart()
        assert server.port == port
        assert server.fetch("INBOX", uid) == RAW
        assert server.account.uidvalidity() == validity
    assert not server.tmpdir.exists()


def test_dovecot_without_ssl() -> None:
    with DovecotServer(ssl=False) as server:
        imap = server.client()
        try:
            assert b"STARTTLS" not in imap.capabilities()
        finally:
            imap.logout()
        with pytest.raises(RuntimeError):
            _ = server.ssl_port


def test_postgres_select_1(pg_url: str, postgres_server: PostgresServer) -> None:
    assert pg_url.startswith(f"postgresql+psycopg://{postgres_server.user}@127.0.0.1:")
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select 1")).scalar_one() == 1
            assert sa.inspect(conn).get_table_names() == []
            conn.execute(sa.text("create table t (id int primary key)"))
            conn.commit()
    finally:
        engine.dispose()


def test_pg_url_is_a_fresh_database(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == []
    finally:
        engine.dispose()


def test_postgres_default_database(postgres_server: PostgresServer) -> None:
    engine = sa.create_engine(postgres_server.url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select current_database()")).scalar_one() == (
                postgres_server.dbname
            )
    finally:
        engine.dispose()


def test_paths(repo_root: Path, data_dir: Path) -> None:
    assert (repo_root / "pyproject.toml").is_file()
    assert data_dir.is_relative_to(repo_root)
    assert (data_dir / "corpus" / "dev.jsonl").is_file()
    assert (data_dir / "realworld-mime" / "LICENSE-mikel-mail").is_file()


def test_free_port_hands_out_distinct_ports() -> None:
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    assert all(1024 < p < 32768 for p in ports)
