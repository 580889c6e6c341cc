"""Real throwaway servers for the test suite: Dovecot IMAP and PostgreSQL.

Everything runs on 127.0.0.1 from this machine's Debian packages, in a fresh
temporary folder, on free high ports. No pytest import here, so the classes can
also be used from a plain Python shell when debugging::

    from tests.servers import DovecotServer
    with DovecotServer() as imap:
        imap.append("INBOX", b"Subject: hi\\r\\n\\r\\nbody\\r\\n")

When the tests run as root (as in CI), the mailbox owner and the PostgreSQL
cluster owner is an ordinary system user (``sendiass-test``, created on demand):
Dovecot refuses uid 0 as a mailbox owner and PostgreSQL refuses to run as root.
When the tests run as an ordinary user, that user is used instead.

Set ``SENDIASS_KEEP_TEST_SERVERS=1`` to keep the temporary folders (configs,
logs, mail, data) after the servers stop, for debugging.
"""

from __future__ import annotations

import atexit
import contextlib
import grp
import math
import os
import pwd
import random
import re
import shutil
import signal
import socket
import ssl as ssl_module
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from imapclient import IMAPClient

__all__ = [
    "TEST_SYSTEM_USER",
    "DovecotServer",
    "ImapAccount",
    "PostgresServer",
    "ServerError",
    "cleanup_stale",
    "ensure_system_user",
    "free_port",
    "imap_smtp_config",
]

HOST = "127.0.0.1"
TEST_SYSTEM_USER = "sendiass-test"
DOVECOT_BIN = os.environ.get("SENDIASS_DOVECOT_BIN", "/usr/sbin/dovecot")
POSTGRES_LIB = Path("/usr/lib/postgresql")
TMP_PREFIX = "sendiass-test-"
OWNER_FILE = "owner.pid"
KEEP_ENV = "SENDIASS_KEEP_TEST_SERVERS"

# Ports below Linux's default ephemeral range (32768-60999), so that outgoing
# connections made by the tests can never be handed a port a server will bind.
_PORT_RANGE = (20000, 32767)
_ports_given: set[int] = set()
_ports_lock = threading.Lock()


class ServerError(RuntimeError):
    """A test server could not be started or stopped."""


# --------------------------------------------------------------------------- helpers


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that is free right now and not handed out before."""
    with _ports_lock:
        for _ in range(500):
            port = random.randint(*_PORT_RANGE)
            if port in _ports_given:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    # No SO_REUSEADDR: a port with connections in TIME_WAIT is skipped too.
                    sock.bind((host, port))
                except OSError:
                    continue
            _ports_given.add(port)
            return port
    raise ServerError(f"no free TCP port found on {host} in {_PORT_RANGE}")


def _is_root() -> bool:
    return os.geteuid() == 0


def ensure_system_user(name: str = TEST_SYSTEM_USER) -> tuple[str, int, int]:
    """(user name, uid, gid) that the servers run as / own the data.

    As root: the ordinary system user ``name``, created with ``useradd`` if missing.
    Otherwise: the current user (the servers simply run as ourselves).
    """
    if not _is_root():
        entry = pwd.getpwuid(os.geteuid())
        return entry.pw_name, entry.pw_uid, os.getegid()
    last_error = ""
    for _ in range(20):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            pass
        else:
            if entry.pw_uid == 0:
                raise ServerError(f"test user {name!r} has uid 0; it must be an ordinary user")
            return entry.pw_name, entry.pw_uid, entry.pw_gid
        proc = subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--user-group",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        # Exit 9: exists already; 10: /etc/passwd locked by a concurrent useradd.
        last_error = proc.stderr.strip()
        if proc.returncode not in (0, 9, 10):
            raise ServerError(f"useradd {name} failed ({proc.returncode}): {last_error}")
        if proc.returncode == 10:
            time.sleep(0.2)
    raise ServerError(f"could not create system user {name!r}: {last_error}")


def _traversable_by_all(path: Path) -> bool:
    path = path.resolve()
    for part in [path, *path.parents]:
        try:
            if not part.stat().st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


def _temp_base() -> Path:
    """Where the server folders go: the temp dir, if the test user can reach it."""
    base = Path(os.environ.get("SENDIASS_TEST_TMP") or tempfile.gettempdir())
    if _is_root() and not _traversable_by_all(base):
        base = Path("/tmp")
    return base


def _make_temp_dir(kind: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{kind}-", dir=_temp_base()))
    path.chmod(0o755)
    (path / OWNER_FILE).write_text(f"{os.getpid()}\n")
    return path


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _read_pid(path: Path) -> int | None:
    try:
        first = path.read_text().split()[0]
        return int(first)
    except (OSError, IndexError, ValueError):
        return None


def cleanup_stale() -> list[Path]:
    """Remove server folders (and their processes) left by test runs that died.

    Only folders whose owning Python process is gone are touched, so test runs
    going on at the same time in the same tree are safe. Processes are only
    killed when their command line names the stale folder.
    """
    removed: list[Path] = []
    bases = {_temp_base(), Path(tempfile.gettempdir())}
    for base in bases:
        try:
            candidates = sorted(base.glob(f"{TMP_PREFIX}*"))
        except OSError:
            continue
        for folder in candidates:
            owner = _read_pid(folder / OWNER_FILE)
            if owner is None or _pid_alive(owner) or not folder.is_dir():
                continue
            for pidfile in (folder / "run" / "master.pid", folder / "data" / "postmaster.pid"):
                pid = _read_pid(pidfile)
                if pid and _pid_alive(pid) and str(folder) in _cmdline(pid):
                    with contextlib.suppress(OSError):
                        # Dovecot (ours) and postmaster (pg_ctl) lead their own group.
                        if os.getpgid(pid) == pid:
                            os.killpg(pid, signal.SIGKILL)
                        else:
                            os.kill(pid, signal.SIGKILL)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


_live: set[_Server] = set()
_live_lock = threading.Lock()


def _close_all_at_exit() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        with contextlib.suppress(Exception):
            server.close()


atexit.register(_close_all_at_exit)


class _Server:
    """Shared plumbing: temp folder, registration for the atexit safety net."""

    kind = "server"

    def __init__(self, system_user: str = TEST_SYSTEM_USER) -> None:
        self.os_user, self.os_uid, self.os_gid = ensure_system_user(system_user)
        self.tmpdir = _make_temp_dir(self.kind)
        self._closed = False
        self._register()  # the atexit safety net removes the folder even if never started

    def _register(self) -> None:
        with _live_lock:
            _live.add(self)

    def _unregister(self) -> None:
        with _live_lock:
            _live.discard(self)

    def _chown(self, path: Path) -> None:
        if _is_root():
            os.chown(path, self.os_uid, self.os_gid)

    def start(self) -> Self:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:
        """Stop the server and delete its temp folder (unless SENDIASS_KEEP_TEST_SERVERS)."""
        try:
            self.stop()
        finally:
            self._unregister()
            if not self._closed and not os.environ.get(KEEP_ENV):
                shutil.rmtree(self.tmpdir, ignore_errors=True)
            self._closed = True

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------- Dovecot

_APPENDUID = re.compile(rb"APPENDUID \d+ (\d+)")

_DOVECOT_CONF = """\
# Throwaway Dovecot for the sendiass-bot tests (generated by tests/servers.py).
base_dir = {tmp}/run
state_dir = {tmp}/state
instance_name = sendiass-test-{port}
log_path = {tmp}/log/dovecot.log
info_log_path = {tmp}/log/dovecot.log
{login_users}
listen = {host}
protocols = imap
ssl = {ssl}
ssl_cert = <{tmp}/tls/cert.pem
ssl_key = <{tmp}/tls/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
auth_failure_delay = 0
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
mail_location = maildir:~/Maildir
mail_fsync = never
namespace inbox {{
  inbox = yes
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {tmp}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {tmp}/users
}}
# No auth penalty: after a failed login, anvil would delay every login from
# 127.0.0.1 by 2-15 s (login_trusted_networks does not exempt it in 2.3.19).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
{chroot}
}}
protocol imap {{
  mail_max_userip_connections = 1000
}}
service imap-login {{
{chroot}
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {ssl_port}
    ssl = yes
  }}
}}
"""


class ImapAccount:
    """One mailbox user on a :class:`DovecotServer`, with small IMAP helpers.

    The helpers open a short-lived connection each time; the code under test
    uses its own connections (see :meth:`client` and the host/port properties).
    """

    def __init__(self, server: DovecotServer, user: str, password: str) -> None:
        self.server = server
        self.user = user
        self.password = password

    def __repr__(self) -> str:
        return f"ImapAccount({self.user!r} on {self.host}:{self.port})"

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def ssl_port(self) -> int:
        return self.server.ssl_port

    @property
    def cafile(self) -> Path:
        return self.server.cafile

    def ssl_context(self) -> ssl_module.SSLContext:
        """A client context that verifies the server's self-signed certificate."""
        return self.server.ssl_context()

    def client(self, ssl: bool = False, timeout: float = 10.0) -> IMAPClient:
        """A new IMAPClient, connected and logged in (plain or implicit TLS)."""
        if ssl:
            imap = IMAPClient(
                self.host,
                port=self.ssl_port,
                ssl=True,
                ssl_context=self.ssl_context(),
                timeout=timeout,
            )
        else:
            imap = IMAPClient(self.host, port=self.port, ssl=False, timeout=timeout)
        try:
            imap.login(self.user, self.password)
        except BaseException:
            with contextlib.suppress(Exception):
                imap.shutdown()
            raise
        return imap

    @contextlib.contextmanager
    def _session(self) -> Iterator[IMAPClient]:
        imap = self.client()
        try:
            yield imap
        finally:
            with contextlib.suppress(Exception):
                imap.logout()

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Sequence[str | bytes] = (),
        msg_time: datetime | None = None,
    ) -> int:
        """APPEND ``raw`` to ``folder`` (INTERNALDATE ``msg_time``, else now); its UID."""
        with self._session() as imap:
            response = imap.append(folder, raw, flags=tuple(flags), msg_time=msg_time)
            found = _APPENDUID.search(response or b"")
            if found:
                return int(found.group(1))
            imap.select_folder(folder, readonly=True)
            uids = imap.search("ALL")
            if not uids:
                raise ServerError(f"APPEND to {folder!r} left no message: {response!r}")
            return int(max(uids))

    def create_folder(self, name: str) -> None:
        with self._session() as imap:
            imap.create_folder(name)

    def folders(self) -> list[str]:
        with self._session() as imap:
            return [name for _flags, _sep, name in imap.list_folders()]

    def uids(self, folder: str = "INBOX", criteria: str | list[Any] = "ALL") -> list[int]:
        with self._session() as imap:
            imap.select_folder(folder, readonly=True)
            return sorted(int(uid) for uid in imap.search(criteria))

    def flags(self, folder: str, uid: int) -> tuple[bytes, ...]:
        with self._session() as imap:
            imap.select_folder(folder, readonly=True)
            found = imap.get_flags([uid])
            if uid not in found:
                raise KeyError(f"no UID {uid} in {folder!r}")
            return tuple(found[uid])

    def fetch(self, folder: str, uid: int) -> bytes:
        """The raw message (BODY.PEEK[], so \\Seen is not set)."""
        with self._session() as imap:
            imap.select_folder(folder, readonly=True)
            found = imap.fetch([uid], ["BODY.PEEK[]"])
            if uid not in found:
                raise KeyError(f"no UID {uid} in {folder!r}")
            return bytes(found[uid][b"BODY[]"])

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self._session() as imap:
            return int(imap.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def clear(self) -> None:
        """Delete every folder but INBOX and expunge every message in INBOX."""
        with self._session() as imap:
            names = [name for _flags, _sep, name in imap.list_folders()]
            for name in sorted(names, key=len, reverse=True):
                if name.upper() != "INBOX":
                    with contextlib.suppress(Exception):
                        imap.delete_folder(name)
            imap.select_folder("INBOX")
            uids = imap.search("ALL")
            if uids:
                imap.delete_messages(uids)
                imap.expunge()


class DovecotServer(_Server):
    """A real Dovecot IMAP server on 127.0.0.1 in a temp folder.

    ``port`` speaks plain IMAP (STARTTLS offered when ssl=True), ``ssl_port``
    implicit TLS with a self-signed certificate (``cafile``) for 127.0.0.1.
    One default user (``user``/``password``) exists; :meth:`add_user` makes more.
    The helper methods (client, append, ...) act on the default user.
    """

    kind = "dovecot"

    def __init__(
        self,
        *,
        ssl: bool = True,
        user: str = "intake@sendiass.test",
        password: str = "intake-password",
        system_user: str = TEST_SYSTEM_USER,
        start_timeout: float = 20.0,
    ) -> None:
        super().__init__(system_user)
        self.ssl_enabled = ssl
        self.start_timeout = start_timeout
        self._port: int | None = None
        self._ssl_port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._users: dict[str, str] = {}
        self._pool: list[tuple[str, str]] = []
        self._users_lock = threading.Lock()
        self._user_counter = 0
        for sub in ("run", "state", "log", "tls"):
            (self.tmpdir / sub).mkdir(mode=0o755)
        self.mail_root = self.tmpdir / "home"
        self.mail_root.mkdir(mode=0o755)
        self._chown(self.mail_root)
        self._make_cert()
        self.account = self.add_user(user, password)
        with self._users_lock:
            self._fill_pool()  # before start: no reload wait

    def __repr__(self) -> str:
        return f"DovecotServer({self.host}:{self._port}, running={self.running})"

    # ---- properties
    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise ServerError("DovecotServer has not been started")
        return self._port

    @property
    def ssl_port(self) -> int:
        if self._ssl_port is None:
            raise ServerError("DovecotServer has not been started")
        if not self.ssl_enabled:
            raise ServerError("DovecotServer was created with ssl=False")
        return self._ssl_port

    @property
    def user(self) -> str:
        return self.account.user

    @property
    def password(self) -> str:
        return self.account.password

    @property
    def cafile(self) -> Path:
        return self.tmpdir / "tls" / "cert.pem"

    @property
    def config_path(self) -> Path:
        return self.tmpdir / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.tmpdir / "log" / "dovecot.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc else None

    def ssl_context(self) -> ssl_module.SSLContext:
        """Verifies the self-signed cert, hostname checks on (SAN IP:127.0.0.1)."""
        return ssl_module.create_default_context(cafile=str(self.cafile))

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    # ---- users
    # Dovecot's passwd-file driver re-reads the file at most once a second (it
    # stats it only when the auth process's clock moved to a new second), so a
    # user added right after a login can be unknown for up to a second. Hence
    # anonymous users come from a pre-written pool, and writes while running
    # wait for the next second.
    _POOL_BATCH = 50

    def add_user(self, user: str | None = None, password: str | None = None) -> ImapAccount:
        """A mailbox user with a fresh, empty maildir; works while running.

        Without arguments an unused pre-registered user is handed out (fast).
        """
        with self._users_lock:
            if user is None and password is None:
                if not self._pool:
                    self._fill_pool()
                return ImapAccount(self, *self._pool.pop(0))
            name, pw = self._register_user(user, password)
            self._write_users()
        return ImapAccount(self, name, pw)

    def _fill_pool(self) -> None:
        for _ in range(self._POOL_BATCH):
            self._pool.append(self._register_user(None, None))
        self._write_users()

    def _register_user(self, user: str | None, password: str | None) -> tuple[str, str]:
        if user is None:
            self._user_counter += 1
            user = f"user{self._user_counter}-{uuid.uuid4().hex[:8]}@sendiass.test"
        if password is None:
            password = uuid.uuid4().hex
        if any(ch in user + password for ch in ":\n\r\t ") or "/" in user:
            raise ValueError("user/password must not contain ':', '/' or whitespace")
        if user in self._users:
            raise ValueError(f"user {user!r} exists already")
        home = self.mail_root / user
        home.mkdir(mode=0o700)
        self._chown(home)
        self._users[user] = password
        return user, password

    def _write_users(self) -> None:
        lines = [
            f"{name}:{{PLAIN}}{pw}:{self.os_uid}:{self.os_gid}::{self.mail_root / name}::\n"
            for name, pw in self._users.items()
        ]
        staging = self.tmpdir / "users.new"
        staging.write_text("".join(lines))
        staging.chmod(0o644)
        staging.replace(self.tmpdir / "users")
        if self.running:
            now = time.time()
            time.sleep(math.floor(now) + 1.05 - now)

    # ---- lifecycle
    def _make_cert(self) -> None:
        tls = self.tmpdir / "tls"
        proc = subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout",
                str(tls / "key.pem"),
                "-out",
                str(tls / "cert.pem"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ServerError(f"openssl req failed: {proc.stderr.strip()}")
        (tls / "cert.pem").chmod(0o644)

    def _write_config(self) -> None:
        chroot = ""
        if _is_root():
            login_users = ""
        else:
            chroot = "  chroot =\n"  # only root can chroot
            # Not root: every Dovecot process runs as ourselves.
            login_users = f"default_login_user = {self.os_user}\n"
            login_users += f"default_internal_user = {self.os_user}\n"
            login_users += f"default_internal_group = {grp.getgrgid(self.os_gid).gr_name}\n"
        self.config_path.write_text(
            _DOVECOT_CONF.format(
                tmp=self.tmpdir,
                host=HOST,
                port=self._port,
                ssl_port=self._ssl_port if self.ssl_enabled else 0,
                ssl="yes" if self.ssl_enabled else "no",
                uid=self.os_uid,
                gid=self.os_gid,
                login_users=login_users,
                chroot=chroot,
            )
        )

    def start(self) -> DovecotServer:
        """Start (no-op when running). Keeps the ports once chosen."""
        if self._closed:
            raise ServerError("DovecotServer was closed")
        if self.running:
            return self
        fixed = self._port is not None
        attempts = 1 if fixed else 3
        for attempt in range(1, attempts + 1):
            if not fixed:
                self._port = free_port()
                self._ssl_port = free_port()
            self._write_config()
            try:
                self._launch()
                return self
            except ServerError as exc:
                self._terminate(signal.SIGKILL)
                port_clash = "in use" in self.log_tail(60) or "in use" in str(exc)
                if attempt == attempts or not port_clash:
                    raise
        raise AssertionError("unreachable")

    def _launch(self) -> None:
        stderr_path = self.tmpdir / "log" / "dovecot.stderr"
        with stderr_path.open("ab") as out:
            self._proc = subprocess.Popen(
                [DOVECOT_BIN, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.tmpdir,
                start_new_session=True,  # own process group: kill() takes all children
            )
        deadline = time.monotonic() + self.start_timeout
        ports = [self.port] + ([self.ssl_port] if self.ssl_enabled else [])
        last_error = "not tried"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServerError(
                    f"dovecot exited with {self._proc.returncode} during start-up.\n"
                    f"--- {stderr_path}:\n{_tail(stderr_path)}\n"
                    f"--- {self.log_path}:\n{self.log_tail()}"
                )
            try:
                self._probe(ports)
                return
            except OSError as exc:
                last_error = repr(exc)
                time.sleep(0.05)
        raise ServerError(
            f"dovecot not ready on {HOST}:{ports} after {self.start_timeout}s "
            f"(last error: {last_error}).\n"
            f"--- {stderr_path}:\n{_tail(stderr_path)}\n"
            f"--- {self.log_path}:\n{self.log_tail()}"
        )

    def _probe(self, ports: list[int]) -> None:
        # Plain port: wait for the IMAP greeting. TLS port: a TCP accept is enough.
        with socket.create_connection((HOST, ports[0]), timeout=2) as sock:
            greeting = sock.recv(200)
            if not greeting.startswith(b"* OK"):
                raise ConnectionError(f"unexpected greeting {greeting!r}")
        for port in ports[1:]:
            with socket.create_connection((HOST, port), timeout=2):
                pass

    def _terminate(self, sig: signal.Signals, timeout: float = 10.0) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if sig == signal.SIGKILL:
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # Children that outlive the master (e.g. imap processes with clients) go too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self._proc = None

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM); client connections are dropped. Mail is kept."""
        self._terminate(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the master and all its children: a crash, not a shutdown."""
        self._terminate(signal.SIGKILL)

    def restart(self) -> DovecotServer:
        """Stop and start again on the same ports with the same mail."""
        self.stop()
        return self.start()

    # ---- default-user helpers
    def client(self, ssl: bool = False, timeout: float = 10.0) -> IMAPClient:
        return self.account.client(ssl=ssl, timeout=timeout)

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Iterable[str | bytes] = (),
        msg_time: datetime | None = None,
    ) -> int:
        return self.account.append(folder, raw, tuple(flags), msg_time)

    def create_folder(self, name: str) -> None:
        self.account.create_folder(name)

    def uids(self, folder: str = "INBOX", criteria: str | list[Any] = "ALL") -> list[int]:
        return self.account.uids(folder, criteria)

    def flags(self, folder: str, uid: int) -> tuple[bytes, ...]:
        return self.account.flags(folder, uid)

    def fetch(self, folder: str, uid: int) -> bytes:
        return self.account.fetch(folder, uid)


# --------------------------------------------------------------------------- PostgreSQL


def _postgres_bin_dir() -> Path:
    override = os.environ.get("SENDIASS_PG_BINDIR")
    if override:
        return Path(override)
    found: list[tuple[tuple[int, ...], Path]] = []
    for candidate in POSTGRES_LIB.glob("*/bin"):
        if not (candidate / "pg_ctl").exists():
            continue
        try:
            version = tuple(int(p) for p in candidate.parent.name.split("."))
        except ValueError:
            continue
        found.append((version, candidate))
    if not found:
        raise ServerError(
            f"no PostgreSQL server binaries under {POSTGRES_LIB}/*/bin "
            "(install the Debian package 'postgresql'; tests/run.sh does this)"
        )
    return max(found)[1]


class PostgresServer(_Server):
    """A real PostgreSQL cluster on 127.0.0.1, trust auth, tuned for speed."""

    kind = "pg"

    def __init__(
        self,
        *,
        db_user: str = "postgres",
        dbname: str = "sendiass_test",
        system_user: str = TEST_SYSTEM_USER,
        start_timeout: float = 60.0,
    ) -> None:
        self.bin_dir = _postgres_bin_dir()  # fail before making a temp folder
        super().__init__(system_user)
        self.db_user = db_user
        self.dbname = dbname
        self.start_timeout = start_timeout
        self._port: int | None = None
        self._running = False
        self._initialised = False
        self.socket_dir = self.tmpdir / "sock"
        self.socket_dir.mkdir(mode=0o755)
        self._chown(self.tmpdir)
        self._chown(self.socket_dir)

    def __repr__(self) -> str:
        return f"PostgresServer({self.host}:{self._port}, running={self._running})"

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise ServerError("PostgresServer has not been started")
        return self._port

    @property
    def user(self) -> str:
        return self.db_user

    @property
    def data_dir(self) -> Path:
        return self.tmpdir / "data"

    @property
    def log_path(self) -> Path:
        return self.tmpdir / "postgres.log"

    @property
    def version(self) -> str:
        return self.bin_dir.parent.name

    @property
    def running(self) -> bool:
        return self._running

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the database created at start-up."""
        return self.url_for(self.dbname)

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.db_user}@{HOST}:{self.port}/{dbname}"

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if _is_root():
            command = ["runuser", "-u", self.os_user, "--", *command]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        proc = subprocess.run(
            command, capture_output=True, text=True, cwd=self.tmpdir, env=env, check=False
        )
        if check and proc.returncode != 0:
            raise ServerError(
                f"{' '.join(command)} failed ({proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}\n--- {self.log_path}:\n{self.log_tail()}"
            )
        return proc

    def _initdb(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            self.db_user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        socket_dir = str(self.socket_dir).replace("'", "''")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# tests/servers.py\n"
                f"listen_addresses = '{HOST}'\n"
                f"unix_socket_directories = '{socket_dir}'\n"
                "max_connections = 200\n"
                "log_min_messages = warning\n"
            )
        self._initialised = True

    def start(self) -> PostgresServer:
        """initdb on first start, then pg_ctl start (waits until ready)."""
        if self._closed:
            raise ServerError("PostgresServer was closed")
        if self._running:
            return self
        if not self._initialised:
            self._initdb()
        fixed = self._port is not None
        attempts = 1 if fixed else 3
        for attempt in range(1, attempts + 1):
            if not fixed:
                self._port = free_port()
            proc = self._run(
                "pg_ctl",
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-w",
                "-t",
                str(int(self.start_timeout)),
                "-o",
                f"-F -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                f"-p {self._port}",
                check=False,
            )
            if proc.returncode == 0:
                self._running = True
                break
            clash = "in use" in self.log_tail(20)
            if attempt == attempts or not clash:
                raise ServerError(
                    f"pg_ctl start failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                    f"--- {self.log_path}:\n{self.log_tail()}"
                )
        if self.dbname not in self._databases():
            self.create_database(self.dbname)
        return self

    def stop(self) -> None:
        if not self._running:
            return
        data = str(self.data_dir)
        proc = self._run("pg_ctl", "stop", "-D", data, "-m", "fast", "-w", check=False)
        if proc.returncode != 0:
            self._run("pg_ctl", "stop", "-D", data, "-m", "immediate", "-w", check=False)
        self._running = False

    def restart(self) -> PostgresServer:
        self.stop()
        return self.start()

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(
            host=HOST, port=self.port, user=self.db_user, dbname="postgres", autocommit=True
        )

    def _databases(self) -> set[str]:
        with self._admin() as conn:
            return {row[0] for row in conn.execute("select datname from pg_database")}

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (random name if None) and return its URL."""
        from psycopg import sql

        name = name or f"test_{uuid.uuid4().hex[:16]}"
        with self._admin() as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting anyone still using it."""
        from psycopg import sql

        with self._admin() as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def imap_smtp_config(
    db_url: str, account: ImapAccount, smtp_port: int, password_env: str, extra: str = ""
) -> str:
    """The TOML of a daemon reading ``account`` over IMAP and sending to an SMTP server on
    127.0.0.1 at ``smtp_port``, flood caps lifted (for tests and benchmarks that are not about
    flood control); ``extra`` is appended (more tables)."""
    return f"""
[database]
url = "{db_url}"
[[mailbox]]
name = "durham-imap"
service = "durham"
source = "imap"
host = "{account.host}"
port = {account.port}
tls = "none"
username = "{account.user}"
password_env = "{password_env}"
[outbound]
transport = "smtp"
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
[letters]
max_per_hour = 1000000
max_per_domain_per_day = 1000000
{extra}"""
