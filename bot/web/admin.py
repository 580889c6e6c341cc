"""``/admin``: accounts, for users with the admin role only.

Every URL under ``/admin`` (including ones that do not exist, and every method) answers 403
to anyone signed in without the admin role, and sends anyone not signed in to the sign-in
page. POSTs carry the session's CSRF token like every other form (checked in
:mod:`bot.web.server` before this guard runs). The rules (email, password, roles and
services, nobody disables or de-admins themself) live in :mod:`bot.web.accounts`, shared
with ``sendiass-bot users``.

Every change is logged at INFO on this module's logger: who, what, which account, and what
changed; never a password or a hash.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, cast

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from bot.errors import UserError
from bot.models import User
from bot.web import accounts, security
from bot.web.security import Principal
from bot.web.server import login_session, state

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/admin")


def _is_admin_path(path: str) -> bool:
    return path == "/admin" or path.startswith("/admin/")


@bp.before_app_request
def _admins_only() -> BaseResponse | None:
    """Runs for every request (not only ones that match a route here), so that an unknown
    ``/admin`` URL answers 403 to a non-admin too, rather than telling them what exists."""
    if not _is_admin_path(request.path):
        return None
    user = g.get("user")
    if user is None:
        return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
    if not cast(Principal, user).is_admin:
        log.info("refused %s %s to %s (not an admin)", request.method, request.path, user.actor)
        abort(403)
    return None


def _admin() -> Principal:
    return cast(Principal, g.user)


def _now() -> datetime:
    return state().app.intake.clock()


def _known_services() -> list[str]:
    return sorted(state().app.services)


def _audit(action: str, target: str, **detail: Any) -> None:
    extra = "".join(f"; {k}: {v}" for k, v in detail.items())
    log.info("account %s: %s by %s%s", target, action, _admin().actor, extra)


def _row(user: User) -> dict[str, Any]:
    """What the pages show of an account: never the password hash."""
    return {
        "id": user.id,
        "email": user.email,
        "roles": sorted(str(r) for r in user.roles or ()),
        "services": sorted(str(s) for s in user.services or ()),
        "active": user.active,
        "created_at": user.created_at,
        "last_login_at": user.last_login_at,
    }


def _get(s: Session, user_id: int, *, lock: bool = False) -> User:
    user = s.get(User, user_id, with_for_update=lock)
    if user is None:
        abort(404)
    return user


# ----------------------------------------------------------------------------- pages


@bp.get("/")
def home() -> BaseResponse:
    return redirect(url_for("admin.users"))


def _list_page(form: MultiDict[str, str] | None, error: str | None) -> tuple[str, int]:
    """The accounts and the form to add one (``form``: what was posted, passwords aside)."""
    with state().app.sessions() as s:
        rows = [_row(u) for u in s.scalars(select(User).order_by(User.email))]
    html = render_template(
        "admin_users.html",
        users=rows,
        roles=security.ROLES,
        services=_known_services(),
        form={
            "email": form.get("email", "") if form else "",
            "roles": form.getlist("role") if form else [],
            "services": form.getlist("service") if form else [],
        },
        error=error,
        min_password=accounts.MIN_PASSWORD_LENGTH,
    )
    return html, 400 if error else 200


@bp.get("/users")
def users() -> tuple[str, int]:
    return _list_page(None, None)


@bp.post("/users")
def add_user() -> Any:
    form = request.form
    try:
        email = accounts.check_email(form.get("email", ""))
        roles, services = accounts.check_access(
            form.getlist("role"), form.getlist("service"), _known_services()
        )
        accounts.check_password(form.get("password", ""), form.get("password_again", ""))
        with state().app.sessions.begin() as s:
            if s.scalar(select(User.id).where(User.email == email)) is not None:
                raise UserError(f"{email} already has an account; change it from its page")
            user = accounts.new_user(email, form.get("password", ""), roles, services, _now())
            s.add(user)
            s.flush()
            user_id = user.id
    except IntegrityError:  # added by someone else at the same moment
        return _list_page(form, "that email address already has an account")
    except UserError as exc:
        return _list_page(form, str(exc))
    _audit("added", email, roles=",".join(roles), services=",".join(services) or "all")
    flash(f"{email}: account added", "ok")
    return redirect(url_for("admin.user", user_id=user_id), code=303)


@bp.get("/users/<id:user_id>")
def user(user_id: int) -> str:
    with state().app.sessions() as s:
        row = _row(_get(s, user_id))
    return render_template(
        "admin_user.html",
        u=row,
        me=row["id"] == _admin().id,
        roles=security.ROLES,
        services=_known_services(),
        min_password=accounts.MIN_PASSWORD_LENGTH,
    )


def _back(user_id: int) -> BaseResponse:
    return redirect(url_for("admin.user", user_id=user_id), code=303)


@bp.post("/users/<id:user_id>/access")
def access(user_id: int) -> BaseResponse:
    try:
        with state().app.sessions.begin() as s:
            user = _get(s, user_id, lock=True)
            email = user.email
            before = (list(user.roles or ()), list(user.services or ()))
            roles, services = accounts.check_access(
                request.form.getlist("role"), request.form.getlist("service"), _known_services()
            )
            accounts.set_access(user, roles, services, by=_admin().id)
    except UserError as exc:
        flash(str(exc), "error")
        return _back(user_id)
    _audit(
        "roles and services changed",
        email,
        roles=f"{','.join(before[0])} -> {','.join(roles)}",
        services=f"{','.join(before[1]) or 'all'} -> {','.join(services) or 'all'}",
    )
    flash(f"{email}: roles and services saved", "ok")
    return _back(user_id)


@bp.post("/users/<id:user_id>/password")
def password(user_id: int) -> BaseResponse:
    new = request.form.get("password", "")
    try:
        accounts.check_password(new, request.form.get("password_again", ""))
        with state().app.sessions.begin() as s:
            user = _get(s, user_id, lock=True)
            email = user.email
            accounts.set_password(user, new)
            if user.id == _admin().id:
                login_session(s, user)  # their own: stay signed in here, signed out elsewhere
    except UserError as exc:
        flash(str(exc), "error")
        return _back(user_id)
    _audit("password reset (sessions ended)", email)
    flash(f"{email}: password changed; signed out everywhere", "ok")
    return _back(user_id)


def _set_active(user_id: int, active: bool) -> BaseResponse:
    try:
        with state().app.sessions.begin() as s:
            user = _get(s, user_id, lock=True)
            email = user.email
            was = user.active
            accounts.set_active(user, active, by=_admin().id)
    except UserError as exc:
        flash(str(exc), "error")
        return _back(user_id)
    what = "enabled" if active else "disabled"
    if was != active:
        _audit(what + ("" if active else " (sessions ended)"), email)
    flash(f"{email}: {what}", "ok")
    return _back(user_id)


@bp.post("/users/<id:user_id>/disable")
def disable(user_id: int) -> BaseResponse:
    return _set_active(user_id, False)


@bp.post("/users/<id:user_id>/enable")
def enable(user_id: int) -> BaseResponse:
    return _set_active(user_id, True)
