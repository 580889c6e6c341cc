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
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot import resources
from bot.errors import ConfigError

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
    #: Apply pending migrations at every start (the embedded quick start). False in
    #: production: ``sendiass-bot db upgrade`` is an explicit step, and every other command
    #: refuses a database whose schema is behind.
    auto_migrate: bool = True


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
    #: Mail that arrived before this day is skipped (a first run over an old mailbox).
    since: date | None = None


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
    #: After a crash while the server may have accepted a letter: wait this long, then
    #: send it again with the same Message-ID (the first copy has arrived by then).
    resend_after: float = 900.0
    #: The longest wait between two tries while the server is down or defers.
    retry_max: float = 300.0


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
    #: Mail that had waited longer than this (days) when it was read gets no automatic letter.
    max_age_days: int = 30


@dataclass(frozen=True)
class LettersConfig:
    """Flood control for automatic letters, per service (bot/letters/flood.py)."""

    max_per_hour: int = 60
    max_per_domain_per_day: int = 20


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key_env: str | None = None
    secret_key_file: Path | None = None
    cookie_secure: bool = True
    #: A session ends this long after sign-in, whatever happens (absolute lifetime) ...
    session_lifetime_minutes: int = 480
    #: ... or after this long without a request (idle timeout), whichever comes first.
    session_idle_minutes: int = 60
    #: Where people open the web UI ("https://cases.example.org"): notifications and alerts
    #: link to a case under it; "" leaves the link out (they name the reference instead).
    base_url: str = ""


@dataclass(frozen=True)
class HealthConfig:
    """``[health]``: how often the daemon writes its heartbeats, when ``status`` and
    ``/healthz`` call something stale, and who may read ``/metrics`` (bot/health.py)."""

    heartbeat_interval: float = 15.0
    #: No heartbeat for this long: the daemon, or one of its threads, is dead or stuck.
    stale_after: float = 120.0
    #: No successful poll (or IDLE check) of a mailbox for this long: its polls are failing.
    poll_stale_after: float = 900.0
    #: The oldest letter waiting to be sent (pending, not held) is older than this.
    outbox_stale_after: float = 3600.0
    #: Addresses or networks that may read /metrics without a token (never through a proxy).
    metrics_allow: tuple[str, ...] = ("127.0.0.1", "::1")
    metrics_token_env: str | None = None
    metrics_token_file: Path | None = None


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
class RetentionRule:
    """How long a service keeps personal data (None: keep; see bot/retention.py)."""

    raw_months: int | None = None  # raw messages and attachments, after the case closes
    anonymise_years: int | None = None  # the whole case is anonymised, after it closes
    quarantine_days: int | None = None  # quarantined messages, after they arrived

    @property
    def enabled(self) -> bool:
        return any(v is not None for v in (self.raw_months, self.anonymise_years,
                                            self.quarantine_days))  # fmt: skip


@dataclass(frozen=True)
class RetentionConfig:
    """``[retention]`` for every service, ``[retention.services.<key>]`` per service."""

    default: RetentionRule = field(default_factory=RetentionRule)
    services: Mapping[str, RetentionRule] = field(default_factory=dict)
    daemon: bool = True  # the daemon runs it once a day

    def rule(self, service: str) -> RetentionRule:
        return self.services.get(service, self.default)

    @property
    def enabled(self) -> bool:
        return self.default.enabled or any(r.enabled for r in self.services.values())


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
    letters: LettersConfig = field(default_factory=LettersConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    health: HealthConfig = field(default_factory=HealthConfig)

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


def _minutes(value: Any) -> int:
    minutes = _int(value)
    if not 1 <= minutes <= 60 * 24 * 30:
        raise ValueError
    return minutes


def _positive(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise TypeError
    return float(value)


def _count(value: Any) -> int:
    number = _int(value)
    if number < 1:
        raise ValueError
    return number


def _day(value: Any) -> date:
    """A TOML date (``2026-01-01``) or the same as a string."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value.strip())
    raise TypeError


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

_DATABASE = {
    "url": _Key(_str, _REQUIRED, "a SQLAlchemy URL"),
    "auto_migrate": _Key(_bool, True, "true or false"),
}

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
    "since": _Key(_day, None, "a date such as 2026-01-01"),
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
    "resend_after": _Key(_positive, 900.0, "a number of seconds > 0"),
    "retry_max": _Key(_positive, 300.0, "a number of seconds > 0"),
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
    "max_age_days": _Key(_count, 30, "a whole number of days, 1 or more"),
}

_LETTERS = {
    "max_per_hour": _Key(_count, 60, "a whole number, 1 or more"),
    "max_per_domain_per_day": _Key(_count, 20, "a whole number, 1 or more"),
}

_WEB = {
    "host": _Key(_str, "127.0.0.1", "a host name or address"),
    "port": _Key(_port, 8080, "a port number 1-65535"),
    "secret_key_env": _Key(_str, None, _STR),
    "secret_key_file": _Key(_str, None, "a file path"),
    "cookie_secure": _Key(_bool, True, "true or false"),
    "session_lifetime_minutes": _Key(_minutes, 480, "a whole number of minutes, 1 to 43200"),
    "session_idle_minutes": _Key(_minutes, 60, "a whole number of minutes, 1 to 43200"),
    "base_url": _Key(_str, "", "the web UI's address, https://..."),
}

_TOP = (
    "database",
    "mailbox",
    "outbound",
    "daemon",
    "intake",
    "web",
    "digest",
    "letters",
    "retention",
    "health",
)

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


def _table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError
    return value


_RETENTION_RULE = {
    "raw_months": _Key(_count, None, "a whole number of months, 1 or more"),
    "anonymise_years": _Key(_count, None, "a whole number of years, 1 or more"),
    "quarantine_days": _Key(_count, None, "a whole number of days, 1 or more"),
}
_RETENTION = {
    **_RETENTION_RULE,
    "daemon": _Key(_bool, True, "true or false"),
    "services": _Key(_table, {}, "a table per service ([retention.services.<key>])"),
}


def _networks(value: Any) -> tuple[str, ...]:
    import ipaddress

    items = _str_list(value)
    for item in items:
        ipaddress.ip_network(item, strict=False)  # ValueError: not an address or network
    return items


_HEALTH = {
    "heartbeat_interval": _Key(_positive, 15.0, "a number of seconds > 0"),
    "stale_after": _Key(_positive, 120.0, "a number of seconds > 0"),
    "poll_stale_after": _Key(_positive, 900.0, "a number of seconds > 0"),
    "outbox_stale_after": _Key(_positive, 3600.0, "a number of seconds > 0"),
    "metrics_allow": _Key(
        _networks, ("127.0.0.1", "::1"), 'a list of addresses or networks ("10.0.0.0/8")'
    ),
    "metrics_token_env": _Key(_str, None, _STR),
    "metrics_token_file": _Key(_str, None, "a file path"),
}


def _health(table: Any, origin: str) -> HealthConfig:
    v = _check_table(table, _HEALTH, origin, "health")
    if v["stale_after"] <= v["heartbeat_interval"]:
        raise ConfigError(
            origin, "health.stale_after", "must be longer than health.heartbeat_interval"
        )
    if v["metrics_token_env"] and v["metrics_token_file"]:
        raise ConfigError(
            origin,
            "health.metrics_token_env",
            "give metrics_token_env or metrics_token_file, not both",
        )
    if v["metrics_token_file"]:
        v["metrics_token_file"] = Path(v["metrics_token_file"])
    v["metrics_allow"] = tuple(v["metrics_allow"])
    return HealthConfig(**v)


def _retention(table: Any, origin: str, known_services: set[str] | None) -> RetentionConfig:
    v = _check_table(table, _RETENTION, origin, "retention")
    default = RetentionRule(v["raw_months"], v["anonymise_years"], v["quarantine_days"])
    services: dict[str, RetentionRule] = {}
    for key, raw in v["services"].items():
        prefix = f"retention.services.{key}"
        if known_services is not None and key not in known_services:
            raise ConfigError(origin, prefix, f"unknown service {key!r}")
        r = _check_table(raw, _RETENTION_RULE, origin, prefix)
        given = raw if isinstance(raw, dict) else {}
        services[key] = RetentionRule(
            **{k: (r[k] if k in given else getattr(default, k)) for k in _RETENTION_RULE}
        )
    return RetentionConfig(default, services, v["daemon"])


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
        since=v["since"],
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
        resend_after=v["resend_after"],
        retry_max=v["retry_max"],
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
    if w["session_idle_minutes"] > w["session_lifetime_minutes"]:
        raise ConfigError(
            origin,
            "web.session_idle_minutes",
            "must not be longer than web.session_lifetime_minutes",
        )
    if w["base_url"] and not str(w["base_url"]).startswith(("https://", "http://")):
        raise ConfigError(
            origin, "web.base_url", f"expected an http(s):// URL, got {w['base_url']!r}"
        )
    w["base_url"] = str(w["base_url"]).rstrip("/")
    web = WebConfig(**w)
    digest = _digest(data.get("digest", {}), origin, known_services)
    letters = LettersConfig(**_check_table(data.get("letters", {}), _LETTERS, origin, "letters"))
    retention = _retention(data.get("retention", {}), origin, known_services)
    health = _health(data.get("health", {}), origin)
    if health.poll_stale_after <= daemon.poll_interval:
        raise ConfigError(
            origin, "health.poll_stale_after", "must be longer than daemon.poll_interval"
        )
    return Config(
        origin,
        database,
        mailboxes,
        outbound,
        daemon,
        intake,
        web,
        digest,
        letters,
        retention,
        health,
    )


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
        found = resources.default_config_file()
        if found is None:
            return embedded_default()
        path = found
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
