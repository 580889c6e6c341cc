"""``check-config``'s deeper checks: what would fail at 3 a.m. rather than at start-up.

- :func:`secret_problems`: a ``password_env`` variable that is unset or empty, a
  ``password_file`` that cannot be read or is empty (for the mailboxes and the SMTP server
  that use one), and the same for the web UI's ``secret_key_env`` / ``secret_key_file``.
- :func:`unconfirmed_values`: service-file values still marked ``TO BE CONFIRMED``.
- :func:`check_imap` / :func:`check_smtp`: log in to a server and say, in words, what failed.

Every finding is one line that names the file and the key.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import re
import smtplib
import socket
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config, MailboxConfig, OutboundConfig, Secret

MARKER = "TO BE CONFIRMED"
CONNECT_TIMEOUT = 15.0


@dataclass(frozen=True)
class Finding:
    origin: str  # the file
    key: str
    problem: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.key}: {self.problem}"


# ----------------------------------------------------------------------------- secrets


def _env_problem(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None:
        return f"environment variable {name} is not set"
    if not value.strip():
        return f"environment variable {name} is empty"
    return None


def _file_problem(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"cannot read {path}: no such file"
    except PermissionError:
        return f"cannot read {path}: permission denied (for user {_user()})"
    except IsADirectoryError:
        return f"cannot read {path}: it is a folder"
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
    if not text.strip():
        return f"{path} is empty"
    return None


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())


def _secret_findings(secret: Secret, origin: str, prefix: str) -> Iterator[Finding]:
    if secret.env:
        problem = _env_problem(secret.env)
        if problem:
            yield Finding(origin, f"{prefix}.password_env", problem)
    elif secret.file:
        problem = _file_problem(secret.file)
        if problem:
            yield Finding(origin, f"{prefix}.password_file", problem)


def secret_problems(config: Config) -> list[Finding]:
    """Passwords and keys the configuration names but that cannot be read right now."""
    out: list[Finding] = []
    for i, mb in enumerate(config.mailboxes):
        if mb.source == "imap":
            out.extend(_secret_findings(mb.password, config.origin, f"mailbox[{i}]"))
    if config.outbound.transport == "smtp":
        out.extend(_secret_findings(config.outbound.password, config.origin, "outbound"))
    web = config.web
    if web.secret_key_env:
        problem = _env_problem(web.secret_key_env)
        if problem:
            out.append(Finding(config.origin, "web.secret_key_env", problem))
    elif web.secret_key_file:
        problem = _file_problem(web.secret_key_file)
        if problem:
            out.append(Finding(config.origin, "web.secret_key_file", problem))
    return out


# ------------------------------------------------------------------- TO BE CONFIRMED

_TABLE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")


def unconfirmed_values(path: Path) -> list[Finding]:
    """Each key whose value is marked ``TO BE CONFIRMED``: in a comment just above it (the
    comment block the key follows), on its own line, or in the value itself."""
    out: list[Finding] = []
    table = ""
    arrays: dict[str, int] = {}
    pending: int | None = None  # line number of a marker waiting for its key
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            pending = None  # a blank line ends the comment block
            continue
        if stripped.startswith("#"):
            if MARKER in stripped and pending is None:
                pending = n
            continue
        header = _TABLE.match(line)
        if header:
            name = header.group(2)
            if header.group(1) == "[[":
                arrays[name] = arrays.get(name, -1) + 1
                table = f"{name}[{arrays[name]}]"
            else:  # a sub-table of the current element of an array of tables
                head, _, rest = name.partition(".")
                table = f"{head}[{arrays[head]}].{rest}" if head in arrays and rest else name
            pending = None
            continue
        key = _KEY.match(line)
        if key is None:
            continue  # the rest of a multi-line value
        if pending is not None or MARKER in line:
            dotted = f"{table}.{key.group(1)}" if table else key.group(1)
            out.append(
                Finding(
                    str(path),
                    dotted,
                    f"value still marked {MARKER} (line {pending or n}): confirm it with the "
                    "service",
                )
            )
        pending = None
    return out


# ------------------------------------------------------------------------ connections


def _tls_context(cafile: Path | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cafile) if cafile else None)


def _server_text(raw: object) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    text = str(raw).strip()
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text


def describe(exc: BaseException, host: str, port: int, timeout: float) -> str:
    """What went wrong, in words a person can act on (no exception class names)."""
    where = f"{host}:{port}"
    if isinstance(exc, socket.gaierror):
        return f"cannot find the host {host} (name lookup failed)"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {where}: nothing is listening on that port"
    if isinstance(exc, TimeoutError):
        return f"no answer from {where} within {timeout:g} seconds"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the TLS certificate of {where} cannot be trusted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or "").lower().replace("_", " ")
        hint = (
            " (is this a plain or STARTTLS port rather than implicit TLS?)"
            if ("wrong version" in reason or "record layer" in reason)
            else ""
        )
        return f"the TLS handshake with {where} failed: {reason or 'unknown reason'}{hint}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"the SMTP server refused the login: {exc.smtp_code} {_server_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"the SMTP server does not offer what is needed: {_server_text(exc)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"{where} closed the connection"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the SMTP server answered {exc.smtp_code} {_server_text(exc.smtp_error)}"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | EOFError):
        return f"{where} closed the connection"
    if isinstance(exc, OSError):
        return f"network problem with {where}: {exc.strerror or exc}"
    return _server_text(exc) or "unknown problem"


@dataclass(frozen=True)
class ConnectResult:
    what: str  # e.g. "mailbox durham-imap-0 (imap.example.org:993)"
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{self.what}: {'OK' if self.ok else 'FAILED'}: {self.detail}"


def check_imap(mb: MailboxConfig, timeout: float = CONNECT_TIMEOUT) -> ConnectResult:
    """Connect, log in and open the folder read-only; nothing is changed on the server."""
    from imapclient import IMAPClient
    from imapclient.exceptions import LoginError

    what = f"mailbox {mb.name} (imap {mb.host}:{mb.port}, {mb.tls})"
    password = mb.password.resolve() or ""
    client: IMAPClient | None = None
    try:
        context = _tls_context(mb.cafile)
        client = IMAPClient(
            mb.host,
            port=mb.port,
            ssl=mb.tls == "ssl",
            ssl_context=context if mb.tls == "ssl" else None,
            timeout=timeout,
        )
        if mb.tls == "starttls":
            client.starttls(context)
        try:
            client.login(mb.username, password)
        except LoginError as exc:
            return ConnectResult(
                what,
                False,
                f"the IMAP server refused the login for {mb.username}: {_server_text(exc)}",
            )
        try:
            info = client.select_folder(mb.folder, readonly=True)
        except imaplib.IMAP4.error as exc:
            return ConnectResult(
                what,
                False,
                f"logged in, but the folder {mb.folder!r} cannot be opened: {_server_text(exc)}",
            )
        count = int(info.get(b"EXISTS", 0))
        return ConnectResult(
            what, True, f"logged in as {mb.username}; {mb.folder} has {count} message(s)"
        )
    except imaplib.IMAP4.error as exc:
        return ConnectResult(what, False, f"the IMAP server said: {_server_text(exc)}")
    except (OSError, EOFError) as exc:
        return ConnectResult(what, False, describe(exc, mb.host, mb.port, timeout))
    finally:
        if client is not None:
            with contextlib.suppress(Exception):  # the result is known; closing is best effort
                client.logout()


def check_smtp(out: OutboundConfig, timeout: float = CONNECT_TIMEOUT) -> ConnectResult:
    """Connect, say EHLO, STARTTLS where configured and log in; no mail is sent."""
    what = f"outbound (smtp {out.host}:{out.port}, {out.tls})"
    password = out.password.resolve()
    smtp: smtplib.SMTP | None = None
    try:
        context = _tls_context(out.cafile)
        if out.tls == "ssl":
            smtp = smtplib.SMTP_SSL(out.host, out.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(out.host, out.port, timeout=timeout)
        smtp.ehlo()
        if out.tls == "starttls":
            if not smtp.has_extn("starttls"):
                return ConnectResult(what, False, "the SMTP server does not offer STARTTLS")
            smtp.starttls(context=context)
            smtp.ehlo()
        if out.username and password is not None:
            if not smtp.has_extn("auth"):
                return ConnectResult(
                    what, False, "the SMTP server does not offer a login (AUTH) here"
                )
            smtp.login(out.username, password)
            return ConnectResult(what, True, f"logged in as {out.username}")
        return ConnectResult(what, True, "connected (no login configured)")
    except (OSError, smtplib.SMTPException) as exc:
        return ConnectResult(what, False, describe(exc, out.host, out.port, timeout))
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


def check_connections(config: Config) -> Iterable[ConnectResult]:
    for mb in config.mailboxes:
        if mb.source == "imap":
            yield check_imap(mb)
    if config.outbound.transport == "smtp":
        yield check_smtp(config.outbound)
