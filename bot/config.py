"""The product's configuration: one TOML file, validated at start-up.

``--config PATH`` names the file; without it ``config/sendiass.toml`` is used when present,
else the embedded default (SQLite under ``./var``, a Maildir per service under
``./var/mail/<service>``, letters written as ``.eml`` files to ``./var/outbox``).

Every unknown or missing key, and every value of the wrong type, is a :class:`ConfigError`
that names the file and the dotted key. Secrets are never in the file: a password is read
from the environment variable named by ``password_env`` or from ``password_file``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import ROOT
from bot.errors import ConfigError

DEFAULT_CONFIG_PATH = ROOT / "config" / "sendiass.toml"
EMBEDDED = "<embedded default>"
DEFAULT_SERVICES = ("durham", "staffordshire", "coventry", "stoke")

TLS_MODES = ("ssl", "starttls", "none")


@dataclass(frozen=True)
class Secret:
    """Where a password comes from; resolved only when a connection is made."""

    env: str | None = None
    file: Path | None = None
    origin: str = EMBEDDED
    key: str = ""

    def resolve(self) -> str | None:
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(
                    self.origin,
                    f"{self.key}.password_env",
                    f"environment variable {self.env} is not set",
                )
            return value
        if self.file:
            try:
                return self.file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    self.origin,
                    f"{self.key}.password_file",
                    f"cannot read {self.file}: {exc.strerror}",
                ) from None
        return None


@dataclass(frozen=True)
class DatabaseConfig:
    url: str


@dataclass(frozen=True)
class MailboxConfig:
    name: str
    service: str
    source: str  # "imap" | "maildir"
    host: str = ""
    port: int = 993
    tls: str = "ssl"
    username: str = ""
    password: Secret = field(default_factory=Secret)
    folder: str = "INBOX"
    processed_folder: str | None = None
    mark_seen: bool = True
    path: Path | None = None
    cafile: Path | None = None


@dataclass(frozen=True)
class OutboundConfig:
    transport: str  # "smtp" | "maildir"
    host: str = ""
    port: int = 587
    tls: str = "starttls"
    username: str = ""
    password: Secret = field(default_factory=Secret)
    path: Path | None = None
    cafile: Path | None = None


@dataclass(frozen=True)
class DaemonConfig:
    poll_interval: float = 60.0
    idle: bool = True
    idle_timeout: float = 300.0
    backoff_initial: float = 1.0
    backoff_max: float = 300.0


@dataclass(frozen=True)
class IntakeConfig:
    attachment_max_bytes: int = 10 * 1024 * 1024
    message_max_bytes: int = 50 * 1024 * 1024


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key_env: str | None = None
    secret_key_file: Path | None = None
    cookie_secure: bool = True
    #: Where people open the web UI ("https://cases.example.org"): notifications and alerts
    #: link to a case under it; "" leaves the link out (they name the reference instead).
    base_url: str = ""


@dataclass(frozen=True)
class DigestRecipient:
    email: str
    services: tuple[str, ...] = ()  # empty: every service
    day: str = "monday"
    time: str = "08:00"


@dataclass(frozen=True)
class DigestConfig:
    """Managers' weekly digest (bot/reports/schedule.py): who gets it, when, from whom."""

    recipients: tuple[DigestRecipient, ...] = ()
    timezone: str = "Europe/London"
    from_addr: str = "sendiass-bot@localhost"


@dataclass(frozen=True)
class Config:
    origin: str  # the file it came from, or EMBEDDED
    database: DatabaseConfig
    mailboxes: tuple[MailboxConfig, ...]
    outbound: OutboundConfig
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    web: WebConfig = field(default_factory=WebConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)

    def mailbox(self, name: str) -> MailboxConfig:
        for mb in self.mailboxes:
            if mb.name == name:
                return mb
        raise KeyError(name)


# --------------------------------------------------------------------------------------
# A small schema checker: each table lists its keys with a converter and a default.

_REQUIRED = object()


@dataclass(frozen=True)
class _Key:
    convert: Callable[[Any], Any]
    default: Any = _REQUIRED
    expected: str = ""


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    return value


def _port(value: Any) -> int:
    port = _int(value)
    if not 0 < port < 65536:
        raise ValueError
    return port


def _positive(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise TypeError
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _choice(*choices: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in choices:
            raise ValueError
        return str(value)

    return convert


def _check_table(table: Any, spec: Mapping[str, _Key], origin: str, prefix: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(origin, prefix, "expected a table")
    for key in table:
        if key not in spec:
            allowed = ", ".join(sorted(spec))
            raise ConfigError(origin, f"{prefix}.{key}", f"unknown key (allowed: {allowed})")
    out: dict[str, Any] = {}
    for key, rule in spec.items():
        if key not in table:
            if rule.default is _REQUIRED:
                raise ConfigError(origin, f"{prefix}.{key}", "missing required key")
            out[key] = rule.default
            continue
        try:
            out[key] = rule.convert(table[key])
        except (TypeError, ValueError):
            raise ConfigError(
                origin, f"{prefix}.{key}", f"expected {rule.expected}, got {table[key]!r}"
            ) from None
    return out


_STR = "a string"
_SECRET_KEYS = {
    "password_env": _Key(_str, None, _STR),
    "password_file": _Key(_str, None, "a file path"),
}

_DATABASE = {"url": _Key(_str, _REQUIRED, "a SQLAlchemy URL")}

_MAILBOX = {
    "name": _Key(_str, None, _STR),
    "service": _Key(_str, _REQUIRED, "a service name from config/services/"),
    "source": _Key(_choice("imap", "maildir"), _REQUIRED, '"imap" or "maildir"'),
    "host": _Key(_str, "", "a host name"),
    "port": _Key(_port, None, "a port number 1-65535"),
    "tls": _Key(_choice(*TLS_MODES), "ssl", '"ssl", "starttls" or "none"'),
    "username": _Key(_str, "", _STR),
    "folder": _Key(_str, "INBOX", "a folder name"),
    "processed_folder": _Key(_str, None, "a folder name"),
    "mark_seen": _Key(_bool, True, "true or false"),
    "path": _Key(_str, None, "a folder path"),
    "cafile": _Key(_str, None, "a file path"),
    **_SECRET_KEYS,
}

_OUTBOUND = {
    "transport": _Key(_choice("smtp", "maildir"), _REQUIRED, '"smtp" or "maildir"'),
    "host": _Key(_str, "", "a host name"),
    "port": _Key(_port, None, "a port number 1-65535"),
    "tls": _Key(_choice(*TLS_MODES), "starttls", '"ssl", "starttls" or "none"'),
    "username": _Key(_str, "", _STR),
    "path": _Key(_str, None, "a folder path"),
    "cafile": _Key(_str, None, "a file path"),
    **_SECRET_KEYS,
}

_DAEMON = {
    "poll_interval": _Key(_positive, 60.0, "a number of seconds > 0"),
    "idle": _Key(_bool, True, "true or false"),
    "idle_timeout": _Key(_positive, 300.0, "a number of seconds > 0"),
    "backoff_initial": _Key(_positive, 1.0, "a number of seconds > 0"),
    "backoff_max": _Key(_positive, 300.0, "a number of seconds > 0"),
}

_INTAKE = {
    "attachment_max_bytes": _Key(_int, 10 * 1024 * 1024, "a whole number of bytes"),
    "message_max_bytes": _Key(_int, 50 * 1024 * 1024, "a whole number of bytes"),
}

_WEB = {
    "host": _Key(_str, "127.0.0.1", "a host name or address"),
    "port": _Key(_port, 8080, "a port number 1-65535"),
    "secret_key_env": _Key(_str, None, _STR),
    "secret_key_file": _Key(_str, None, "a file path"),
    "cookie_secure": _Key(_bool, True, "true or false"),
    "base_url": _Key(_str, "", "the web UI's address, https://..."),
}

_TOP = ("database", "mailbox", "outbound", "daemon", "intake", "web", "digest")

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _hhmm(value: Any) -> str:
    text = _str(value)
    hh, _, mm = text.partition(":")
    if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60 and len(mm) == 2):
        raise ValueError
    return f"{int(hh):02d}:{mm}"


def _str_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise TypeError
    return tuple(value)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError
    return value


def _zone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = _str(value)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError from None
    return text


_DIGEST = {
    "recipients": _Key(_list, [], "an array of tables ([[digest.recipients]])"),
    "timezone": _Key(_zone, "Europe/London", "a time zone name such as Europe/London"),
    "from_addr": _Key(_str, "sendiass-bot@localhost", "an email address"),
}
_DIGEST_RECIPIENT = {
    "email": _Key(_str, _REQUIRED, "an email address"),
    "services": _Key(_str_list, (), "a list of service names"),
    "day": _Key(_choice(*_WEEKDAYS), "monday", "a weekday name in lower case"),
    "time": _Key(_hhmm, "08:00", 'a time "HH:MM"'),
}


def _digest(table: Any, origin: str, known_services: set[str] | None) -> DigestConfig:
    v = _check_table(table, _DIGEST, origin, "digest")
    recipients = []
    for i, raw in enumerate(v["recipients"]):
        prefix = f"digest.recipients[{i}]"
        r = _check_table(raw, _DIGEST_RECIPIENT, origin, prefix)
        if known_services is not None:
            for svc in r["services"]:
                if svc not in known_services:
                    raise ConfigError(origin, f"{prefix}.services", f"unknown service {svc!r}")
        recipients.append(DigestRecipient(**r))
    return DigestConfig(tuple(recipients), v["timezone"], v["from_addr"])


def _secret(values: dict[str, Any], origin: str, prefix: str) -> Secret:
    if values["password_env"] and values["password_file"]:
        raise ConfigError(
            origin, f"{prefix}.password_env", "give password_env or password_file, not both"
        )
    path = Path(values["password_file"]) if values["password_file"] else None
    return Secret(env=values["password_env"], file=path, origin=origin, key=prefix)


def _mailbox(table: Any, origin: str, index: int, known_services: set[str] | None) -> MailboxConfig:
    prefix = f"mailbox[{index}]"
    v = _check_table(table, _MAILBOX, origin, prefix)
    if known_services is not None and v["service"] not in known_services:
        raise ConfigError(
            origin,
            f"{prefix}.service",
            f"unknown service {v['service']!r} (known: {', '.join(sorted(known_services))})",
        )
    if v["source"] == "imap":
        if not v["host"]:
            raise ConfigError(origin, f"{prefix}.host", 'missing required key for source = "imap"')
        if not v["username"]:
            raise ConfigError(
                origin, f"{prefix}.username", 'missing required key for source = "imap"'
            )
        port = v["port"] or (993 if v["tls"] == "ssl" else 143)
    else:
        if not v["path"]:
            raise ConfigError(
                origin, f"{prefix}.path", 'missing required key for source = "maildir"'
            )
        port = 0
    name = v["name"] or f"{v['service']}-{v['source']}-{index}"
    return MailboxConfig(
        name=name,
        service=v["service"],
        source=v["source"],
        host=v["host"],
        port=port,
        tls=v["tls"],
        username=v["username"],
        password=_secret(v, origin, prefix),
        folder=v["folder"],
        processed_folder=v["processed_folder"],
        mark_seen=v["mark_seen"],
        path=Path(v["path"]) if v["path"] else None,
        cafile=Path(v["cafile"]) if v["cafile"] else None,
    )


def _outbound(table: Any, origin: str) -> OutboundConfig:
    v = _check_table(table, _OUTBOUND, origin, "outbound")
    if v["transport"] == "smtp":
        if not v["host"]:
            raise ConfigError(
                origin, "outbound.host", 'missing required key for transport = "smtp"'
            )
        port = v["port"] or {"ssl": 465, "starttls": 587, "none": 25}[v["tls"]]
    else:
        if not v["path"]:
            raise ConfigError(
                origin, "outbound.path", 'missing required key for transport = "maildir"'
            )
        port = 0
    return OutboundConfig(
        transport=v["transport"],
        host=v["host"],
        port=port,
        tls=v["tls"],
        username=v["username"],
        password=_secret(v, origin, "outbound"),
        path=Path(v["path"]) if v["path"] else None,
        cafile=Path(v["cafile"]) if v["cafile"] else None,
    )


def parse_config(
    data: Mapping[str, Any], origin: str, known_services: set[str] | None = None
) -> Config:
    """Validate a parsed TOML document; ``origin`` names the file in errors."""
    for key in data:
        if key not in _TOP:
            raise ConfigError(origin, key, f"unknown key (allowed: {', '.join(_TOP)})")
    if "database" not in data:
        raise ConfigError(origin, "database", "missing required table")
    database = DatabaseConfig(**_check_table(data["database"], _DATABASE, origin, "database"))
    raw_mailboxes = data.get("mailbox", [])
    if not isinstance(raw_mailboxes, list):
        raise ConfigError(origin, "mailbox", "expected an array of tables ([[mailbox]])")
    mailboxes = tuple(_mailbox(t, origin, i, known_services) for i, t in enumerate(raw_mailboxes))
    names = [m.name for m in mailboxes]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(origin, f"mailbox[{i}].name", f"duplicate mailbox name {name!r}")
    if "outbound" not in data:
        raise ConfigError(origin, "outbound", "missing required table")
    outbound = _outbound(data["outbound"], origin)
    daemon = DaemonConfig(**_check_table(data.get("daemon", {}), _DAEMON, origin, "daemon"))
    intake = IntakeConfig(**_check_table(data.get("intake", {}), _INTAKE, origin, "intake"))
    w = _check_table(data.get("web", {}), _WEB, origin, "web")
    if w["secret_key_env"] and w["secret_key_file"]:
        raise ConfigError(
            origin, "web.secret_key_env", "give secret_key_env or secret_key_file, not both"
        )
    if w["secret_key_file"]:
        w["secret_key_file"] = Path(w["secret_key_file"])
    if w["base_url"] and not str(w["base_url"]).startswith(("https://", "http://")):
        raise ConfigError(
            origin, "web.base_url", f"expected an http(s):// URL, got {w['base_url']!r}"
        )
    w["base_url"] = str(w["base_url"]).rstrip("/")
    web = WebConfig(**w)
    digest = _digest(data.get("digest", {}), origin, known_services)
    return Config(origin, database, mailboxes, outbound, daemon, intake, web, digest)


def embedded_default(services: tuple[str, ...] = DEFAULT_SERVICES) -> Config:
    """SQLite under ./var, a Maildir per service, letters as .eml files in ./var/outbox."""
    data: dict[str, Any] = {
        "database": {"url": "sqlite:///var/sendiass.db"},
        "mailbox": [
            {"name": s, "service": s, "source": "maildir", "path": f"var/mail/{s}"}
            for s in services
        ],
        "outbound": {"transport": "maildir", "path": "var/outbox"},
    }
    return parse_config(data, EMBEDDED)


def load_config(path: str | Path | None = None, known_services: set[str] | None = None) -> Config:
    """Load ``path``, else ``config/sendiass.toml`` if it exists, else the embedded default."""
    if path is None:
        if not DEFAULT_CONFIG_PATH.exists():
            return embedded_default()
        path = DEFAULT_CONFIG_PATH
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "-", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "-", f"cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "-", f"not valid TOML: {exc}") from None
    return parse_config(data, str(path), known_services)
