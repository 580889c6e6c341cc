from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import App
from tests.apphelpers import make_app


@pytest.fixture
def app(tmp_path: Path) -> App:
    return make_app(f"sqlite:///{tmp_path / 'reports.db'}", tmp_path)
