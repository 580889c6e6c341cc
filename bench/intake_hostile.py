"""Benchmark hostile mail through the real intake: how long intake and the case page take.

Usage: ``python bench/intake_hostile.py [--views 8]``. On a fresh SQLite database under a
temporary folder: the 2.2 MB message with ``<div>`` nested 200,000 deep
(tests/fixtures/mail/html_nested_200000.eml.gz) through ``Intake.process``, then the case
page rendered ``--views`` times through the Flask test client, then ``--flood`` compliments
from as many addresses (how many letters go at once, how many wait). Prints the timings.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import select  # noqa: E402

from bot.app import build_app  # noqa: E402
from bot.config import WebConfig, parse_config  # noqa: E402
from bot.models import Case, OutboxLetter  # noqa: E402
from bot.pipeline.context import Source  # noqa: E402
from bot.web import create_app  # noqa: E402
from tests.apphelpers import make_config_data  # noqa: E402
from tests.mailfactory import make_email  # noqa: E402
from tests.web.conftest import COORD, SECRET, Browser, add_users  # noqa: E402

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--flood", type=int, default=300, help="compliments from as many addresses")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data = make_config_data(f"sqlite:///{tmp}/bench.db", Path(tmp))
        app = build_app(config=parse_config(data, "bench"), clock=lambda: NOW)
        raw = gzip.decompress(
            (REPO / "tests" / "fixtures" / "mail" / "html_nested_200000.eml.gz").read_bytes()
        )
        t = time.perf_counter()
        result = app.intake.process(raw, Source("durham", "durham"))
        print(f"intake, 200,000-deep HTML ({len(raw):,} bytes): {time.perf_counter() - t:.2f} s")
        add_users(app)
        flask = create_app(app, WebConfig(cookie_secure=False), secret_key=SECRET)
        browser = Browser(flask.test_client())
        browser.login(COORD)
        with app.sessions() as s:
            case_id = s.scalar(select(Case.id).where(Case.reference == result.case_reference))
        t = time.perf_counter()
        for _ in range(args.views):
            assert browser.get(f"/cases/{case_id}").status_code == 200
        per_view = (time.perf_counter() - t) / args.views
        print(f"case page: {per_view * 1000:.0f} ms per view ({args.views} views)")
        t = time.perf_counter()
        for i in range(args.flood):
            app.intake.process(
                make_email(
                    from_addr=f"fan{i}@school{i}.example.org",
                    subject="Thank you",
                    body="Thank you so much, you were brilliant and we are very grateful.",
                ),
                Source("durham", "durham"),
            )
        elapsed = time.perf_counter() - t
        with app.sessions() as s:
            rows = s.scalars(select(OutboxLetter)).all()
            now_ = sum(1 for r in rows if r.next_attempt_at is None and r.status == "pending")
            later = sum(1 for r in rows if r.next_attempt_at is not None)
        print(
            f"{args.flood:,} compliments in {elapsed:.1f} s: "
            f"{now_} letters at once, {later} waiting"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
