"""The Flask application: sessions, CSRF, security headers; and the waitress server."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from flask import Flask, Response, abort, g, request
from sqlalchemy.orm import Session

from bot import resources
from bot.app import App
from bot.config import WebConfig
from bot.errors import UserError
from bot.models import User
from bot.web import params, security, sessions
from bot.web.security import Principal

log = logging.getLogger(__name__)

TEMPLATES = resources.templates("web")
STATIC = Path(__file__).resolve().parent / "static"

#: No inline script anywhere, nothing fetched from elsewhere; forms post only to us.
CSP = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@dataclass
class WebState:
    app: App
    cfg: WebConfig


def state() -> WebState:
    from flask import current_app

    return cast(WebState, current_app.extensions["sendiass"])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(app: App, cfg: WebConfig | None = None, *, secret_key: bytes | None = None) -> Flask:
    """The WSGI application for ``app``. ``cfg`` defaults to ``app.config.web``."""
    cfg = cfg or app.config.web
    flask = Flask(
        "bot.web",
        template_folder=str(TEMPLATES),
        static_folder=str(STATIC),
        static_url_path="/static",
    )
    flask.config.update(
        SECRET_KEY=secret_key if secret_key is not None else security.secret_key(cfg),
        SESSION_COOKIE_NAME=sessions.COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=cfg.cookie_secure,
        MAX_CONTENT_LENGTH=12 * 1024 * 1024,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    flask.extensions["sendiass"] = WebState(app, cfg)
    flask.session_interface = sessions.DatabaseSessionInterface()
    flask.url_map.converters["id"] = params.IdConverter
    flask.jinja_env.globals["csrf_token"] = csrf_token
    flask.before_request(params.check_query)
    flask.before_request(_load_user)
    flask.before_request(_check_csrf)
    flask.after_request(_headers)

    from bot.web import admin, monitor, views

    flask.register_blueprint(monitor.bp)
    flask.register_blueprint(views.bp)
    flask.register_blueprint(admin.bp)
    flask.wsgi_app = monitor.AccessLog(flask.wsgi_app)  # type: ignore[method-assign]
    return flask


def csrf_token() -> str:
    """The CSRF token for forms on this page (derived from the session token)."""
    sess = sessions.current()
    sess.csrf_issued = True
    return sessions.csrf_for(_secret(), sess.token)


def _secret() -> bytes:
    from flask import current_app

    key = current_app.secret_key
    return key if isinstance(key, bytes) else str(key).encode("utf-8")


def _load_user() -> None:
    g.user = None
    sess = sessions.current()
    if not sess.signed_in:
        return
    with state().app.sessions.begin() as s:
        user = s.get(User, sess.user_id)
        if user is None or not user.active or user.session_version != sess.version:
            sessions.end(s)
            return
        g.user = Principal.of(user)


def _check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
    expected = sessions.csrf_for(_secret(), sessions.current().token)
    if not security.csrf_ok(expected, given):
        abort(400, description="The form has expired or did not come from this site (CSRF).")


def _headers(resp: Response) -> Response:
    h = resp.headers
    h["Content-Security-Policy"] = CSP
    h["X-Content-Type-Options"] = "nosniff"
    h["X-Frame-Options"] = "DENY"
    h["Referrer-Policy"] = "no-referrer"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.endpoint != "static":
        h["Cache-Control"] = "no-store"
    return resp


def login_session(s: Session, user: User) -> None:
    """A fresh server-side session for ``user`` on this browser (a new token, so a new CSRF
    token; nothing carried over), stored in ``s``'s transaction."""
    sessions.begin(s, user, state().app.intake.clock(), state())


def serve(app: App, host: str | None = None, port: int | None = None, threads: int = 8) -> None:
    """Serve the UI with waitress until interrupted."""
    import waitress

    cfg = app.config.web
    host = host or cfg.host
    port = port or cfg.port
    if not cfg.cookie_secure and not is_loopback(host):
        raise UserError(
            f"web.cookie_secure = false is only allowed when serving on localhost, not {host}"
        )
    flask = create_app(app, cfg)
    log.info("web UI on http://%s:%d/", host, port)
    waitress.serve(flask, host=host, port=port, threads=threads, ident="sendiass-bot")
