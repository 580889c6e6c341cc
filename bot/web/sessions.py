"""Server-side sessions: the cookie holds only a random token; everything else is a row in
``web_sessions`` (keyed by the token's SHA-256, so the table never holds a usable cookie).

* **Sign-in** creates a row and a new token (nothing from before sign-in is carried over, so
  a token planted in a browser beforehand is useless).
* **Sign-out** deletes the row: a copied cookie stops working at once.
* **Password change and disabling** delete every row of the account
  (:func:`end_user_sessions`, called by :mod:`bot.web.accounts`).
* **Absolute lifetime** (``web.session_lifetime_minutes``, default 8 hours from sign-in) and
  **idle timeout** (``web.session_idle_minutes``, default 60 minutes without a request): a
  row past either is deleted when it is next presented, and at every sign-in.

The CSRF token of a page is an HMAC of the session token under the signing key, so a
visitor who is not signed in needs no row (only the cookie) to post the sign-in form, and
the token changes with every sign-in.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from flask import Flask, Request, session
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, or_
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, object_session
from werkzeug.datastructures import CallbackDict
from werkzeug.wrappers import Response

from bot.models import User, WebSession

if TYPE_CHECKING:
    from bot.web.server import WebState

log = logging.getLogger(__name__)

COOKIE_NAME = "sendiass_session"
#: last_seen_at is written at most this often (not on every request).
TOUCH_EVERY = timedelta(seconds=60)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 43 characters


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def csrf_for(secret_key: bytes, token: str) -> str:
    """The CSRF token of the pages served to the holder of session ``token``."""
    return hmac.new(secret_key, b"csrf:" + token.encode("ascii"), hashlib.sha256).hexdigest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """Flask's ``session``: a dict (flashed messages) plus who is signed in."""

    def __init__(
        self,
        token: str,
        user_id: int | None = None,
        data: dict[str, Any] | None = None,
        *,
        new_token: bool = False,
        expires_at: datetime | None = None,
        version: int | None = None,
    ) -> None:
        def on_update(self_: ServerSession) -> None:
            self_.modified = True

        super().__init__(data or {}, on_update)
        self.token = token
        self.user_id = user_id
        self.expires_at = expires_at
        self.version = version  # users.session_version when the session began
        self.new_token = new_token  # the cookie must be (re)set
        self.ended = False  # signed out: the cookie must go
        self.csrf_issued = False  # a page carries a CSRF token made from this token
        self.modified = False

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None


def current() -> ServerSession:
    return cast(ServerSession, session._get_current_object())  # type: ignore[attr-defined]


def _state(app: Flask) -> WebState:
    from bot.web.server import WebState

    return cast(WebState, app.extensions["sendiass"])


def _expired(row: WebSession, now: datetime, idle: timedelta) -> bool:
    return now >= row.expires_at or now - row.last_seen_at >= idle


class DatabaseSessionInterface(SessionInterface):
    """Flask's session machinery, backed by the ``web_sessions`` table."""

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        st = _state(app)
        token = request.cookies.get(COOKIE_NAME, "")
        if not _TOKEN.fullmatch(token):
            return ServerSession(new_token(), new_token=True)
        now = st.app.intake.clock()
        try:
            with st.app.sessions.begin() as s:
                row = s.get(WebSession, token_hash(token))
                if row is None:
                    return ServerSession(token)  # not signed in (or signed out)
                if _expired(row, now, idle_timeout(st)):
                    s.delete(row)
                    return ServerSession(new_token(), new_token=True)
                if now - row.last_seen_at >= TOUCH_EVERY:
                    row.last_seen_at = now
                return ServerSession(
                    token,
                    row.user_id,
                    dict(row.data or {}),
                    expires_at=row.expires_at,
                    version=row.session_version,
                )
        except SQLAlchemyError as exc:  # the pages will say so; /healthz answers 503
            log.warning("session lookup failed: %s", type(exc).__name__)
            return ServerSession(token)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        sess = cast(ServerSession, session)
        st = _state(app)
        name = self.get_cookie_name(app)
        if sess.ended:
            response.delete_cookie(
                name,
                path="/",
                secure=st.cfg.cookie_secure,
                httponly=True,
                samesite="Lax",
            )
            return
        if sess.signed_in and sess.modified:
            with st.app.sessions.begin() as s:
                row = s.get(WebSession, token_hash(sess.token))
                if row is not None:
                    row.data = dict(sess)
        if sess.new_token and (sess.signed_in or sess.csrf_issued):
            response.set_cookie(
                name,
                sess.token,  # a browser-session cookie: the server enforces the lifetimes
                path="/",
                secure=st.cfg.cookie_secure,
                httponly=True,
                samesite="Lax",
            )
        response.vary.add("Cookie")


def lifetime(st: WebState) -> timedelta:
    return timedelta(minutes=st.cfg.session_lifetime_minutes)


def idle_timeout(st: WebState) -> timedelta:
    return timedelta(minutes=st.cfg.session_idle_minutes)


def begin(s: Session, user: User, now: datetime, st: WebState) -> None:
    """Sign ``user`` in on this browser: a new token and row (the old row, if any, goes),
    and expired rows of every account are swept."""
    sess = current()
    s.execute(
        delete(WebSession).where(
            or_(
                WebSession.token_hash == token_hash(sess.token),
                WebSession.expires_at <= now,
                WebSession.last_seen_at <= now - idle_timeout(st),
            )
        )
    )
    token = new_token()
    expires = now + lifetime(st)
    s.add(
        WebSession(
            token_hash=token_hash(token),
            user_id=user.id,
            session_version=user.session_version,
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
            data={},
        )
    )
    sess.clear()
    sess.token = token
    sess.user_id = user.id
    sess.version = user.session_version
    sess.expires_at = expires
    sess.new_token = True
    sess.ended = False
    sess.modified = False


def end(s: Session) -> None:
    """Sign this browser out: its row goes, and its cookie."""
    sess = current()
    s.execute(delete(WebSession).where(WebSession.token_hash == token_hash(sess.token)))
    sess.clear()
    sess.user_id = None
    sess.ended = True
    sess.modified = False


def end_user_sessions(user: User) -> None:
    """Every session of ``user`` ends (password changed, account disabled): the rows are
    deleted in the caller's transaction, and the session version moves on."""
    user.session_version = (user.session_version or 0) + 1
    s = object_session(user)
    if s is not None and user.id is not None:
        s.execute(delete(WebSession).where(WebSession.user_id == user.id))
