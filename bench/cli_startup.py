"""Benchmark the command line's start-up: wall time and peak memory of short commands.

Usage: ``python bench/cli_startup.py [--runs 7] [--python PY] [--cwd DIR]``. Runs
``python -m bot --help`` and ``python -m bot workdays add 2026-12-24 3`` ``--runs`` times
each in fresh processes and prints the median wall time and the median peak resident set
size (``ru_maxrss`` of each child, from ``os.wait4``). The code measured is whatever
``python -m bot`` imports: set ``PYTHONPATH`` to choose a checkout, e.g. compare two trees
with ``PYTHONPATH=/path/to/other python bench/cli_startup.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--help",),
    ("workdays", "add", "2026-12-24", "3"),
)


def run_once(python: str, args: tuple[str, ...], cwd: str | None) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one run of ``python -m bot ARGS``."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [python, "-m", "bot", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
        # with bytecode, as an installed product has it (see bench/__init__.py)
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)}: exit {proc.returncode}")
    return wall, usage.ru_maxrss / 1024  # ru_maxrss is in kB on Linux


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--python", default=sys.executable, help="interpreter to run")
    ap.add_argument("--cwd", default=None, help="folder to run in (default: this one)")
    ns = ap.parse_args(argv)
    print(f"PYTHONPATH={os.environ.get('PYTHONPATH', '')!r}  runs={ns.runs}")
    for args in COMMANDS:
        run_once(ns.python, args, ns.cwd)  # warm the file cache once
        walls, rss = [], []
        for _ in range(ns.runs):
            w, r = run_once(ns.python, args, ns.cwd)
            walls.append(w)
            rss.append(r)
        print(
            f"{' '.join(args):<32} median {statistics.median(walls):6.3f} s "
            f"(min {min(walls):.3f}, max {max(walls):.3f})   "
            f"peak RSS median {statistics.median(rss):6.1f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
