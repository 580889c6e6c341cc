"""The report tests run on both supported databases: SQLite (a file per test) and
PostgreSQL (a fresh database per test on the session server, see tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import App
from tests.apphelpers import make_app


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'reports.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> App:
    return make_app(db_url, tmp_path)
