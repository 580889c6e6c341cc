"""Benchmark: the annual report and the weekly digest over a busy year.

    .venv/bin/python bench/figures.py [--copies 200] [--db PATH]

Seeds the hand-counted year of tests/reports/test_figures.py ``--copies`` times over (the
same year again, with its own references: every figure is that many times the hand count),
then times building the annual
report for the latest year (two services, with the previous year for comparison), rendering
it as HTML and PDF, and building a weekly digest. Prints seconds (wall and CPU: on a shared
machine the CPU time is the steadier number). A benchmark, not a test:
nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from bot.models import Case, CaseEvent  # noqa: E402
from bot.reports.annual import build_annual, render_html  # noqa: E402
from bot.reports.digest import build_digest  # noqa: E402
from bot.reports.pdf import render_pdf  # noqa: E402
from tests.apphelpers import make_app  # noqa: E402
from tests.reports import test_figures  # noqa: E402


def _timed(label: str, fn: Callable[[], Any]) -> Any:
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(f"{label:<26} {wall:8.3f} s wall {cpu:8.3f} s CPU")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies", type=int, default=200, help="copies of the seeded year")
    ap.add_argument("--db", help="SQLite file (default: a temporary one)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-figures-"))
    db = Path(args.db) if args.db else tmp / "figures.db"
    app = make_app(f"sqlite:///{db}", tmp)
    t = time.perf_counter()
    for i in range(args.copies):
        test_figures.seed_year(app, tag=f"Y{i:03d}-")
    with app.sessions() as s:
        cases = s.scalar(select(func.count()).select_from(Case))
        events = s.scalar(select(func.count()).select_from(CaseEvent))
    print(f"seeded {cases} cases, {events} events in {time.perf_counter() - t:.1f} s")
    services = ["durham", "staffordshire"]
    with app.sessions() as s:
        r = _timed(
            "annual report (build)",
            lambda: build_annual(s, app.services, services, test_figures.FIRST, test_figures.LAST),
        )
        _timed("annual report (HTML)", lambda: render_html(r))
        _timed("annual report (PDF)", lambda: render_pdf(r))
        _timed(
            "weekly digest (build)",
            lambda: build_digest(s, app.services, services, "2026-W12", date(2026, 3, 16)),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
