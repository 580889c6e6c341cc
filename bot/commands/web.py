"""``sendiass-bot web`` (the triage UI) and ``sendiass-bot users`` (its accounts)."""

from __future__ import annotations

import argparse
import errno
import getpass
import os
import socket
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.errors import UserError

if TYPE_CHECKING:  # Flask, argon2 and the database: imported where used, not at start-up
    from sqlalchemy.orm import Session

    from bot.app import App
    from bot.models import User

#: The web UI's roles (``bot.web.security.ROLES``; a test keeps the two equal).
ROLES = ("coordinator", "manager", "admin")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("web", help="serve the coordinators' triage web UI (waitress)")
    p.add_argument("--host", help="address to listen on (default: web.host, 127.0.0.1)")
    p.add_argument("--port", type=_port, help="port to listen on (default: web.port, 8080)")
    p.add_argument("--threads", type=_port, default=8, help="worker threads (default 8)")
    p.set_defaults(func=cmd_web)

    p = sub.add_parser("users", help="accounts for the web UI: add, list, passwd, disable")
    u = p.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = u.add_parser("add", help="create an account (or update its roles and services)")
    add.add_argument("email")
    add.add_argument(
        "--role",
        action="append",
        choices=ROLES,
        required=True,
        help="coordinator, manager or admin (repeat for several)",
    )
    add.add_argument(
        "--service",
        action="append",
        default=[],
        help="a service the user works for (repeat; required for coordinators; managers and "
        "admins without one see every service)",
    )
    add.add_argument(
        "--password-env", metavar="NAME", help="read the password from this environment variable"
    )
    add.set_defaults(func=cmd_users_add)
    u.add_parser("list", help="list accounts").set_defaults(func=cmd_users_list)
    pw = u.add_parser("passwd", help="set a new password (ends the user's sessions)")
    pw.add_argument("email")
    pw.add_argument("--password-env", metavar="NAME")
    pw.set_defaults(func=cmd_users_passwd)
    dis = u.add_parser("disable", help="disable an account (ends its sessions)")
    dis.add_argument("email")
    dis.set_defaults(func=cmd_users_disable)


def _build(args: argparse.Namespace) -> App:
    from bot.app import build_app

    return build_app(args.config)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"expected 1-65535, got {value}")
    return value


def cmd_web(args: argparse.Namespace) -> int:
    from bot.web import serve

    app = _build(args)
    host, port = args.host or app.config.web.host, args.port or app.config.web.port
    try:
        _try_listen(host, port)  # say so before the server logs that it is starting
        serve(app, args.host, args.port, args.threads)
    except OSError as exc:
        problem = _LISTEN_PROBLEMS.get(exc.errno or 0)
        if problem is None:
            raise
        raise UserError(
            f"web: cannot listen on {host}:{port}: {problem} (choose another with --host/--port "
            "or web.host/web.port)"
        ) from None
    return 0


def _try_listen(host: str, port: int) -> None:
    """Bind and release the address the way the server will (OSError if it cannot)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise UserError(f"web: cannot listen on {host}:{port}: unknown host name") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)


#: Why a server cannot listen, in words.
_LISTEN_PROBLEMS = {
    errno.EADDRINUSE: "the port is already in use by another program",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
    errno.EADDRNOTAVAIL: "that address does not belong to this machine",
}


def _password(env: str | None) -> tuple[str, bool]:
    """(password, generated). From ``env``, else asked for on a terminal, else generated."""
    from bot.web import accounts, security

    if env:
        value = os.environ.get(env)
        if not value:
            raise UserError(f"--password-env: environment variable {env} is not set")
        return value, False
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        accounts.check_password(first, getpass.getpass("Again: "))
        return first, False
    return security.generate_password(), True


def cmd_users_add(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from bot.models import User
    from bot.web import accounts
    from bot.web import sessions as web_sessions

    app = _build(args)
    email = accounts.check_email(args.email)
    roles, services = accounts.check_access(
        args.role, args.service, app.services, option="--service"
    )
    with app.sessions.begin() as s:
        user = s.scalar(select(User).where(User.email == email))
        created = user is None
        password, generated = (None, False)
        if created or args.password_env:
            password, generated = _password(args.password_env)
        if user is None:
            assert password is not None
            user = accounts.new_user(email, password, roles, services, datetime.now(UTC))
            s.add(user)
        else:
            accounts.set_access(user, roles, services, by=None)
            user.active = True
            web_sessions.end_user_sessions(user)
            if password is not None:
                accounts.set_password(user, password)
    what = "added" if created else "updated"
    print(f"{email}: {what} ({', '.join(roles)}; services: {', '.join(services) or 'all'})")
    if generated:
        print(f"password (shown once): {password}")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from bot.models import User

    app = _build(args)
    with app.sessions() as s:
        users = list(s.scalars(select(User).order_by(User.email)))
    if not users:
        print("no users (add one with `sendiass-bot users add EMAIL --role ...`)")
    for u in users:
        last = f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "never"
        print(
            f"{u.email:<40} {','.join(u.roles):<24} {','.join(u.services) or 'all':<30} "
            f"{'active' if u.active else 'disabled':<9} last sign-in {last}"
        )
    return 0


def _get(s: Session, email: str) -> User:
    from sqlalchemy import select

    from bot.models import User
    from bot.web import security

    user = s.scalar(select(User).where(User.email == security.normalise_email(email)))
    if user is None:
        raise UserError(f"{email}: no such user (see `users list`)")
    return user


def cmd_users_passwd(args: argparse.Namespace) -> int:
    from bot.web import accounts

    app = _build(args)
    with app.sessions.begin() as s:
        user = _get(s, args.email)
        password, generated = _password(args.password_env)
        accounts.set_password(user, password)
    print(f"{user.email}: password changed; signed out everywhere")
    if generated:
        print(f"password (shown once): {password}")
    return 0


def cmd_users_disable(args: argparse.Namespace) -> int:
    from bot.web import accounts

    app = _build(args)
    with app.sessions.begin() as s:
        user = _get(s, args.email)
        accounts.set_active(user, False, by=None)
    print(f"{user.email}: disabled")
    return 0
