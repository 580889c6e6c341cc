"""Build a real App (real database, real services) for a test."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.app import App, build_app
from bot.config import parse_config
from bot.models import Case, Message, QuarantineItem


def make_config_data(
    db_url: str, tmp_path: Path, mailboxes: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "database": {"url": db_url},
        "mailbox": mailboxes
        if mailboxes is not None
        else [
            {
                "name": "durham",
                "service": "durham",
                "source": "maildir",
                "path": str(tmp_path / "mail" / "durham"),
            }
        ],
        "outbound": {"transport": "maildir", "path": str(tmp_path / "outbox")},
        "daemon": {
            "poll_interval": 0.5,
            "backoff_initial": 0.2,
            "backoff_max": 2.0,
            "idle_timeout": 30,
        },
    }


def make_app(
    db_url: str,
    tmp_path: Path,
    mailboxes: list[dict[str, Any]] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> App:
    config = parse_config(make_config_data(db_url, tmp_path, mailboxes), "test-config")
    if clock is None:
        return build_app(config=config)
    return build_app(config=config, clock=clock)


def counts(app: App) -> dict[str, int]:
    with app.sessions() as s:
        return {
            "messages": s.scalar(select(func.count()).select_from(Message)) or 0,
            "cases": s.scalar(select(func.count()).select_from(Case)) or 0,
            "quarantine": s.scalar(select(func.count()).select_from(QuarantineItem)) or 0,
        }
