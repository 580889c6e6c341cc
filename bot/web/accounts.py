"""Account rules and changes, shared by ``sendiass-bot users`` and the admin page.

Every check raises :class:`bot.errors.UserError` with a message for the person (the CLI
prints it and exits 2; the web page shows it). Nothing here commits: the caller's
transaction does. Nothing here logs or returns a password.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.errors import UserError
from bot.models import User
from bot.web import security, sessions

MIN_PASSWORD_LENGTH = 10
MAX_EMAIL_LENGTH = 320


def check_email(email: str) -> str:
    """``email`` normalised (trimmed, lower case), or UserError when it is not an address."""
    email = security.normalise_email(email)
    if "@" not in email or len(email) > MAX_EMAIL_LENGTH or any(c.isspace() for c in email):
        raise UserError(f"{email!r} is not an email address")
    return email


def check_password(password: str, again: str | None = None) -> None:
    """A new password: at least :data:`MIN_PASSWORD_LENGTH` characters, and the same twice
    when it was asked for twice."""
    if again is not None and password != again:
        raise UserError("the passwords differ")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def check_access(
    roles: Iterable[str], services: Iterable[str], known: Iterable[str], *, option: str = "service"
) -> tuple[list[str], list[str]]:
    """(roles, services), sorted and without repeats. ``option`` names the services field
    in the messages (``--service`` on the command line)."""
    role_list = sorted(set(roles))
    service_list = sorted(set(services))
    known_services = sorted(known)
    if not role_list:
        raise UserError("choose at least one role")
    for r in role_list:
        if r not in security.ROLES:
            raise UserError(f"unknown role {r!r} ({', '.join(security.ROLES)})")
    for s in service_list:
        if s not in known_services:
            raise UserError(f"{option}: unknown service {s!r} ({', '.join(known_services)})")
    if "coordinator" in role_list and not service_list:
        raise UserError(f"a coordinator needs at least one {option}")
    return role_list, service_list


def new_user(
    email: str, password: str, roles: list[str], services: list[str], now: datetime
) -> User:
    """A new, active account (not yet added to a session). ``email``, ``roles`` and
    ``services`` must have been through :func:`check_email` and :func:`check_access`."""
    check_password(password)
    return User(
        email=email,
        password_hash=security.hash_password(password),
        roles=roles,
        services=services,
        active=True,
        session_version=1,
        created_at=now,
    )


def set_password(user: User, password: str) -> None:
    """A new password; the user's sessions end."""
    check_password(password)
    user.password_hash = security.hash_password(password)
    sessions.end_user_sessions(user)


def set_access(user: User, roles: list[str], services: list[str], *, by: int | None) -> None:
    """New roles and services (checked with :func:`check_access`). ``by`` is the id of the
    admin making the change (None from the command line): nobody removes their own admin
    role, so there is always an admin left to put things right."""
    if by == user.id and "admin" in (user.roles or []) and "admin" not in roles:
        raise UserError("you cannot remove your own admin role; ask another admin")
    user.roles = roles
    user.services = services


def set_active(user: User, active: bool, *, by: int | None) -> None:
    """Enable or disable an account; disabling ends its sessions. ``by`` as for
    :func:`set_access`: nobody disables their own account."""
    if not active and by == user.id:
        raise UserError("you cannot disable your own account; ask another admin")
    if user.active == active:
        return
    user.active = active
    if not active:
        sessions.end_user_sessions(user)
