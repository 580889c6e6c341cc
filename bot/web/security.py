"""Accounts, passwords, sign-in throttling, CSRF tokens and the session signing key.

Permission model (see README "Web UI"):

* a **coordinator** works the cases of their services: queue, full case page (message bodies,
  attachments, notes) and every action;
* a **manager** sees the reports and, for their services, the queue and case pages without
  sender, subject, bodies, notes or attachments; a manager may write the learning record.
  A manager who is also a coordinator of a service has the coordinator's view there;
* an **admin** manages accounts (``sendiass-bot users``) and sees the reports.

``services`` empty means every service (managers and admins; a coordinator always has a list).
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, String, func, insert, literal, select, text, update
from sqlalchemy.orm import Session

from bot import files
from bot.config import WebConfig
from bot.errors import UserError
from bot.models import LoginAttempt, User, UTCDateTime

log = logging.getLogger(__name__)

ROLES = ("coordinator", "manager", "admin")

#: Sign-in throttling: this many failures for one account (from anywhere), or from one IP
#: address (for any accounts), within the window, and further attempts get 429 until the
#: window has passed. Stored in the database, so a restart does not reset it.
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_IP = 20
THROTTLE_WINDOW = timedelta(minutes=15)
#: First key of the PostgreSQL advisory locks that serialise sign-in attempts.
_LOCK_SPACE = 0x5E4D

DEFAULT_SECRET_KEY_FILE = Path("var") / "web_secret_key"

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a real password: equalises timing for unknown accounts")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class Principal:
    """The signed-in user, as the views see them."""

    id: int
    email: str
    roles: frozenset[str]
    services: tuple[str, ...]  # () = every service

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(
            id=user.id,
            email=user.email,
            roles=frozenset(str(r) for r in user.roles or ()),
            services=tuple(str(s) for s in user.services or ()),
        )

    @property
    def actor(self) -> str:
        return f"user:{self.email}"

    @property
    def is_coordinator(self) -> bool:
        return "coordinator" in self.roles

    @property
    def is_manager(self) -> bool:
        return "manager" in self.roles

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def sees_cases(self) -> bool:
        return self.is_coordinator or self.is_manager

    @property
    def sees_reports(self) -> bool:
        return self.is_manager or self.is_admin

    def covers(self, service: str) -> bool:
        return not self.services or service in self.services

    def can_open(self, service: str) -> bool:
        """May see this service's cases at all (a coordinator's or a manager's view)."""
        return self.sees_cases and self.covers(service)

    def reads_bodies(self, service: str) -> bool:
        """May read what people wrote (bodies, sender, subject, notes, attachments)."""
        return self.is_coordinator and self.covers(service)

    def can_act(self, service: str) -> bool:
        return self.is_coordinator and self.covers(service)

    def can_write_learning(self, service: str) -> bool:
        return (self.is_coordinator or self.is_manager) and self.covers(service)

    def visible_services(self, all_services: list[str]) -> list[str]:
        if not self.sees_cases:
            return []
        return [s for s in all_services if self.covers(s)]


# ------------------------------------------------------------------------- throttling


def reserve_attempt(session: Session, email: str, ip: str, now: datetime) -> int | None:
    """Count this sign-in attempt against its account and address, atomically, before the
    password is checked: the id of a new ``login_attempts`` row (a failure until
    :func:`attempt_succeeded` says otherwise), or None when the account or the address has
    used up its tries in the window. Commit straight after, so that other attempts see it.

    The check and the insert are one statement, so parallel attempts cannot all pass a
    count taken before any of them was written: on SQLite the statement takes the write
    lock before it reads; on PostgreSQL a transaction-level advisory lock per account and
    per address (taken in a fixed order) serialises them.
    """
    since = now - THROTTLE_WINDOW
    if session.get_bind().dialect.name == "postgresql":
        for key in sorted({f"account:{email}", f"ip:{ip}"}):
            session.execute(
                text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))"),
                {"space": _LOCK_SPACE, "key": key},
            )
    t = LoginAttempt.__table__
    ok = t.alias("ok")
    by_account = t.alias("by_account")
    by_ip = t.alias("by_ip")
    last_ok = (
        select(func.coalesce(func.max(ok.c.id), 0))
        .where(ok.c.email == email, ok.c.success.is_(True), ok.c.at >= since)
        .scalar_subquery()
    )
    account_failures = (
        select(func.count())
        .select_from(by_account)
        .where(
            by_account.c.email == email,
            by_account.c.success.is_(False),
            by_account.c.at >= since,
            by_account.c.id > last_ok,
        )
        .scalar_subquery()
    )
    address_failures = (
        select(func.count())
        .select_from(by_ip)
        .where(by_ip.c.ip == ip, by_ip.c.success.is_(False), by_ip.c.at >= since)
        .scalar_subquery()
    )
    row = select(
        literal(email, String()),
        literal(ip, String()),
        literal(now, UTCDateTime()),
        literal(False, Boolean()),
    ).where(account_failures < MAX_FAILURES_PER_ACCOUNT, address_failures < MAX_FAILURES_PER_IP)
    stmt = (
        insert(LoginAttempt)
        .from_select(["email", "ip", "at", "success"], row)
        .returning(LoginAttempt.id)
    )
    return session.execute(stmt).scalar_one_or_none()


def attempt_succeeded(session: Session, attempt_id: int) -> None:
    """The attempt reserved by :func:`reserve_attempt` had the right password."""
    session.execute(update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(success=True))


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this email and password, or None (same work either way)."""
    user = session.scalar(select(User).where(User.email == email))
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


# ------------------------------------------------------------------------------- CSRF


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


# ------------------------------------------------------------------------- secret key


def secret_key(cfg: WebConfig, default_file: Path = DEFAULT_SECRET_KEY_FILE) -> bytes:
    """The session signing key: from ``web.secret_key_env``, ``web.secret_key_file``, or
    generated once and kept (mode 0600) in ``var/web_secret_key``."""
    if cfg.secret_key_env:
        value = os.environ.get(cfg.secret_key_env)
        if not value:
            raise UserError(
                f"web.secret_key_env: environment variable {cfg.secret_key_env} is not set"
            )
        return value.encode("utf-8")
    if cfg.secret_key_file:
        try:
            value = cfg.secret_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UserError(
                f"web.secret_key_file: cannot read {cfg.secret_key_file}: {exc.strerror}"
            ) from None
        if len(value) < 32:
            raise UserError(f"web.secret_key_file: {cfg.secret_key_file} holds under 32 characters")
        return value.encode("utf-8")
    path = default_file
    if path.exists():
        return path.read_text(encoding="utf-8").strip().encode("utf-8")
    files.private_dir(path.parent)
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text(encoding="utf-8").strip().encode("utf-8")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    log.info("generated a session signing key in %s", path)
    return value.encode("utf-8")
