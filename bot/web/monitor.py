"""``/healthz`` and ``/metrics``, and the web server's access log.

``/healthz`` is open (a load balancer or container runtime asks it): it says whether the
database answers and how old the daemon's heartbeats are, with no error text and no
personal data. 503 when the database does not answer, when a heartbeat the daemon wrote
has gone stale, when the daemon stopped, when a scheduled task (digest, retention) is stale
or its last run failed, or when the oldest pending letter is older than
``health.outbox_stale_after`` (while a sender has been seen). ``"tasks"`` names each task
the configuration runs with its state (``"not run yet"`` is no problem). Before any daemon (or
``poll-once``) has written a heartbeat it answers 200 with ``"daemon": {"state": "not
seen"}``: the web server's own health does not depend on one having run yet.

``/metrics`` (Prometheus text format) is for the monitoring system only: a request is let
in when it carries ``Authorization: Bearer <token>`` matching ``health.metrics_token_env``
or ``health.metrics_token_file``, or when it comes straight (not through a proxy: no
``X-Forwarded-For``, ``Forwarded`` or ``X-Real-IP`` header) from an address in
``health.metrics_allow`` (default: this host only). Anything else is refused (401 when a
token is configured, 403 otherwise). It serves counts and ages only (bot/health.py).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import text

from bot.config import HealthConfig
from bot.errors import UserError
from bot.health import evaluate, metrics_text
from bot.web.server import state

log = logging.getLogger(__name__)
access_log = logging.getLogger("bot.web.access")
bp = Blueprint("monitor", __name__)
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    app = state().app
    try:
        with app.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        with app.sessions() as s:
            health = evaluate(s, app.config)
    except Exception as exc:  # any database failure is "unavailable"
        log.warning("healthz: database unreachable: %s", type(exc).__name__)
        return jsonify(status="error", database="unreachable"), 503
    seen = [c for c in health.components if c.seen]
    stale = [f"{c.kind}:{c.name}" for c in seen if c.stale]
    if health.sender.seen and health.outbox.problems:
        stale.append("outbox")
    age = health.heartbeat_age
    daemon: dict[str, Any] = {
        "state": "not seen" if not seen else ("stale" if stale else "ok"),
        "heartbeat_age_seconds": None if age is None else round(age, 1),
        "stale": stale,
    }
    oldest = health.outbox.oldest_pending_age
    body = {
        "status": "stale" if stale else "ok",
        "database": "ok",
        "daemon": daemon,
        "outbox": {"oldest_pending_age_seconds": None if oldest is None else round(oldest, 1)},
        "tasks": {t.name: t.state.lower() for t in health.tasks},
    }
    return jsonify(body), 503 if stale else 200


def _token(cfg: HealthConfig) -> str | None:
    import os

    if cfg.metrics_token_env:
        value = os.environ.get(cfg.metrics_token_env)
        if not value:
            raise UserError(f"health.metrics_token_env: {cfg.metrics_token_env} is not set")
        return value
    if cfg.metrics_token_file:
        try:
            value = cfg.metrics_token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UserError(f"health.metrics_token_file: cannot read: {exc.strerror}") from None
        return value or None
    return None


def _address_allowed(cfg: HealthConfig) -> bool:
    if any(h in request.headers for h in PROXY_HEADERS):
        return False  # through a proxy, remote_addr is the proxy's: it proves nothing
    try:
        addr = ipaddress.ip_address((request.remote_addr or "").split("%")[0])
    except ValueError:
        return False
    for net in cfg.metrics_allow:
        network = ipaddress.ip_network(net, strict=False)
        if addr.version == network.version and addr in network:
            return True
    return False


@bp.get("/metrics")
def metrics() -> Response:
    app = state().app
    cfg = app.config.health
    try:
        token = _token(cfg)
    except UserError as exc:
        log.warning("metrics: %s", exc)
        return Response("metrics are not available: the token cannot be read\n", 503,
                        mimetype="text/plain")  # fmt: skip
    given = request.headers.get("Authorization", "")
    if token is not None and given.startswith("Bearer "):
        allowed = hmac.compare_digest(given[7:].strip().encode(), token.encode())
    else:
        allowed = _address_allowed(cfg)
    if not allowed:
        if token is not None:
            return Response("a bearer token is required\n", 401, mimetype="text/plain",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        return Response("forbidden\n", 403, mimetype="text/plain")
    with app.sessions() as s:
        body = metrics_text(s, app.config, sorted(app.services))
    return Response(body, 200, content_type=CONTENT_TYPE)


class AccessLog:
    """WSGI middleware: one line per request (method, path without the query string,
    status, duration). The query string (search terms, names typed in a filter) is never
    logged; neither is the client's address nor any header."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        status: list[str] = []

        def recording(code: str, headers: Any, exc_info: Any = None) -> Any:
            status[:] = [code]
            return start_response(code, headers, exc_info)

        try:
            return self.app(environ, recording)
        finally:
            path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))[:300]
            method = str(environ.get("REQUEST_METHOD", "-"))[:16]
            code = int(status[0].split()[0]) if status else 500
            ms = round((time.perf_counter() - started) * 1000, 1)
            access_log.info(
                "%s %s %d %.1f ms",
                method,
                path,
                code,
                ms,
                extra={"method": method, "path": path, "status": code, "duration_ms": ms},
            )
