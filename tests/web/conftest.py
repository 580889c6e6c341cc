"""Fixtures for the web UI tests: a real App on SQLite (or PostgreSQL), real users, the Flask
test client. All people, addresses and events are fictional."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from bot.app import App
from bot.config import WebConfig
from bot.models import Case, User
from bot.pipeline.context import Source
from bot.web import create_app, security, sessions
from tests.apphelpers import make_app
from tests.mailfactory import make_email

#: Thursday 5 November 2026, noon (UTC = London in November).
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
SECRET = b"test-only session signing key, 48 characters long."

COORD = "cora.ordinator@durham.example"
COORD_STOKE = "sam.stoke@stoke.example"
MANAGER = "mona.manager@durham.example"
BOTH = "bea.both@durham.example"
ADMIN = "ada.admin@example.org"

USERS: dict[str, tuple[list[str], list[str]]] = {
    COORD: (["coordinator"], ["durham"]),
    COORD_STOKE: (["coordinator"], ["stoke"]),
    MANAGER: (["manager"], ["durham"]),
    BOTH: (["coordinator", "manager"], ["durham"]),
    ADMIN: (["admin"], []),
}

_HASH = security.hash_password(PASSWORD)  # once per session: argon2 is slow on purpose


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def mailboxes(tmp_path: Path) -> list[dict[str, Any]]:
    return [
        {"name": s, "service": s, "source": "maildir", "path": str(tmp_path / "mail" / s)}
        for s in ("durham", "stoke")
    ]


def add_users(app: App) -> None:
    with app.sessions.begin() as s:
        for email, (roles, services) in USERS.items():
            s.add(
                User(
                    email=email,
                    password_hash=_HASH,
                    roles=roles,
                    services=services,
                    active=True,
                    session_version=1,
                    created_at=NOW,
                )
            )


@dataclass
class Web:
    app: App
    flask: Flask
    clock: Clock
    cases: dict[str, int] = field(default_factory=dict)

    def client(self) -> Browser:
        return Browser(self.flask.test_client())

    def ingest(self, service: str = "durham", **kwargs: Any) -> int:
        """One email through the real pipeline; the new case's id."""
        kwargs.setdefault("date", self.clock.now - timedelta(hours=1))
        result = self.app.intake.process(
            make_email(service=service, **kwargs), Source(service, service)
        )
        assert result.case_reference, result
        with self.app.sessions() as s:
            case_id = s.scalar(select(Case.id).where(Case.reference == result.case_reference))
        assert case_id is not None
        return case_id

    def case(self, case_id: int) -> Case:
        with self.app.sessions() as s:
            case = s.get(Case, case_id)
            assert case is not None
            return case


class Browser:
    """The Flask test client, signed in as someone, posting with the session's CSRF token."""

    def __init__(self, client: FlaskClient) -> None:
        self.c = client

    def csrf(self) -> str:
        page = self.c.get("/login")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
        if found:
            return found.group(1)
        return self.token_csrf()

    def token_csrf(self) -> str:
        """The CSRF token of this browser's session cookie (as the pages would carry it)."""
        cookie = self.c.get_cookie(sessions.COOKIE_NAME)
        return sessions.csrf_for(SECRET, cookie.value) if cookie is not None else ""

    def login(self, email: str, password: str = PASSWORD) -> TestResponse:
        token = self.csrf()
        return self.c.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}
        )

    def get(self, url: str) -> TestResponse:
        return self.c.get(url)

    def post(self, url: str, data: dict[str, Any] | None = None, csrf: bool = True) -> TestResponse:
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.token_csrf())
        return self.c.post(url, data=data)

    def act(self, case_id: int, action: str, **data: Any) -> TestResponse:
        resp = self.post(f"/cases/{case_id}/{action}", data)
        assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
        return resp

    def flashes(self) -> list[tuple[str, str]]:
        with self.c.session_transaction() as sess:
            return list(sess.get("_flashes", []))


def build_web(db_url: str, tmp_path: Path, clock: Clock | None = None) -> Web:
    clock = clock or Clock()
    app = make_app(db_url, tmp_path, mailboxes=mailboxes(tmp_path), clock=clock)
    add_users(app)
    flask = create_app(app, WebConfig(cookie_secure=False), secret_key=SECRET)
    flask.config["TESTING"] = True
    return Web(app, flask, clock)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    w = build_web(f"sqlite:///{tmp_path / 'web.db'}", tmp_path)
    yield w
    w.app.engine.dispose()
