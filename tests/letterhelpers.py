"""Helpers for the letters tests: a keyword classifier, apps with a chosen transport, and a
daemon entry point for the crash tests (``python -m tests.letterhelpers CONFIG``).

The classifier is not what these tests test: a fixed Classification per subject keyword.
All people, addresses and events are fictional.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.app import App, build_app
from bot.config import parse_config
from bot.models import OutboxLetter
from classifiers.types import Classification, ClassifierInput
from tests.apphelpers import make_config_data

#: Monday 2 November 2026, 11:00 UTC: the tests' "now" (mail is dated 10:30 that day).
NOW = datetime(2026, 11, 2, 11, 0, tzinfo=UTC)


def keyword_classifier(inp: ClassifierInput) -> Classification:
    s = inp.subject.lower()
    if inp.automated_reason:
        return Classification("automated", 0.99)
    if "safeguarding" in s:
        return Classification("complaint", 0.9, safeguarding=True)
    if "about the coordinator" in s:
        return Classification("complaint", 0.9, about_coordinator=True)
    if "the council" in s:
        return Classification("complaint", 0.9, out_of_scope=True)
    if "not sure" in s:
        return Classification("complaint", 0.3)
    if "stage 2" in s:
        return Classification("stage2_request", 0.9)
    if "complaint" in s:
        return Classification("complaint", 0.9)
    if "thank" in s:
        return Classification("compliment", 0.9)
    if "suggestion" in s:
        return Classification("comment", 0.9)
    return Classification("enquiry", 0.9)


def use_keyword_classifier(app: App) -> App:
    app.intake.env = dataclasses.replace(app.intake.env, classifier=keyword_classifier)
    return app


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)


def config_data(
    db_url: str,
    tmp_path: Path,
    *,
    smtp_port: int | None = None,
    mailboxes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    data = make_config_data(db_url, tmp_path, mailboxes)
    if smtp_port is not None:
        data["outbound"] = {
            "transport": "smtp",
            "host": "127.0.0.1",
            "port": smtp_port,
            "tls": "none",
        }
    return data


def letters_app(
    db_url: str,
    tmp_path: Path,
    *,
    smtp_port: int | None = None,
    mailboxes: list[dict[str, Any]] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> App:
    config = parse_config(
        config_data(db_url, tmp_path, smtp_port=smtp_port, mailboxes=mailboxes), "test-config"
    )
    return use_keyword_classifier(build_app(config=config, clock=clock or Clock()))


def letters(app: App) -> list[OutboxLetter]:
    with app.sessions() as s:
        return list(s.scalars(select(OutboxLetter).order_by(OutboxLetter.id)))


def main(argv: list[str]) -> int:
    """The daemon (``run``) with the keyword classifier, for subprocess crash tests."""
    from bot.poller import run_daemon

    app = use_keyword_classifier(build_app(argv[0]))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run_daemon(app, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
