"""Benchmark: what health and metrics cost, with many cases.

    .venv/bin/python bench/health.py [--cases 100000] [--requests 100]

Builds a SQLite database with ``--cases`` cases (bench/web.py's generator: a third open,
held letters, events), writes the heartbeats a daemon would, then times through the real
server (waitress on 127.0.0.1) ``--requests`` GETs of ``/healthz`` and of ``/metrics``, and
one ``sendiass-bot status`` run (a real process, start-up included). Also times the
heartbeat write itself (the daemon's cost per beat). Prints median and p95 in
milliseconds. A benchmark, not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.web import populate  # noqa: E402
from bot.config import WebConfig  # noqa: E402
from bot.health import MAILBOX, OUTBOX, SENDER, Heartbeat  # noqa: E402
from bot.web import create_app  # noqa: E402
from tests.apphelpers import make_app  # noqa: E402
from tests.web.livesrv import LiveServer  # noqa: E402


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def timed_get(port: int, path: str, n: int) -> tuple[float, float, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out = []
    size = 0
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        size = len(resp.read())
        out.append((time.perf_counter() - t0) * 1000)
    conn.close()
    p50, p95 = percentiles(out)
    return p50, p95, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        url = f"sqlite:///{tmp_path / 'health.db'}"
        mailboxes = [
            {"name": s, "service": s, "source": "maildir", "path": str(tmp_path / "mail" / s)}
            for s in ("durham", "staffordshire", "coventry", "stoke")
        ]
        app = make_app(url, tmp_path, mailboxes=mailboxes)
        t0 = time.perf_counter()
        populate(app, args.cases)
        print(f"{args.cases} cases built in {time.perf_counter() - t0:.1f} s")
        beats = [Heartbeat(app.sessions, MAILBOX, m["name"], 0.0) for m in mailboxes]
        beats.append(Heartbeat(app.sessions, SENDER, OUTBOX, 0.0))
        for hb in beats:
            hb.start()
        writes = []
        for i in range(200):
            t0 = time.perf_counter()
            beats[i % len(beats)].success(processed=1)
            writes.append((time.perf_counter() - t0) * 1000)
        p50, p95 = percentiles(writes)
        print(f"heartbeat write (success + counter): median {p50:.2f} ms, p95 {p95:.2f} ms")
        flask = create_app(app, WebConfig(cookie_secure=False), secret_key=b"b" * 48)
        with LiveServer(flask) as server:
            for path in ("/healthz", "/metrics"):
                p50, p95, size = timed_get(server.port, path, args.requests)
                print(f"GET {path}: median {p50:.1f} ms, p95 {p95:.1f} ms ({size} bytes)")
        cfg = tmp_path / "c.toml"
        box = "".join(
            f'[[mailbox]]\nname = "{m["name"]}"\nservice = "{m["service"]}"\n'
            f'source = "maildir"\npath = "{m["path"]}"\n'
            for m in mailboxes
        )
        cfg.write_text(
            f'[database]\nurl = "{url}"\n{box}'
            f'[outbound]\ntransport = "maildir"\npath = "{tmp_path}/out"\n',
            encoding="utf-8",
        )
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(cfg), "status"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        took = time.perf_counter() - t0
        print(f"sendiass-bot status: {took * 1000:.0f} ms wall, exit {proc.returncode}")
        app.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
