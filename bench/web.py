"""Benchmark: the triage UI with 100,000 cases, through the real server (waitress).

    .venv/bin/python bench/web.py [--cases 100000] [--requests 200] [--db PATH]

Builds a SQLite database (bulk inserts with SQLAlchemy Core: cases, a first message and two
events each for a share of them, held letters), starts waitress on 127.0.0.1 at a free
port, signs in as a coordinator of every service, and times ``--requests`` GETs each of:
the queue (first page), the queue with a filter, a later queue page, and case pages
(random cases that have a message). Prints median and p95 in milliseconds. A benchmark,
not a test: nothing here asserts a timing (the target is p95 < 150 ms).
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import insert  # noqa: E402

from bot.app import App  # noqa: E402
from bot.config import WebConfig  # noqa: E402
from bot.models import (  # noqa: E402
    Case,
    CaseEvent,
    CaseRead,
    Message,
    OutboxLetter,
    User,
    current_due,
)
from bot.web import create_app, security  # noqa: E402
from tests.apphelpers import make_app  # noqa: E402
from tests.web.livesrv import LiveServer  # noqa: E402

NOW = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
SERVICES = ("durham", "staffordshire", "coventry", "stoke")
PREFIX = {"durham": "DUR", "staffordshire": "STA", "coventry": "COV", "stoke": "STO"}
KINDS = ("complaint", "complaint", "enquiry", "enquiry", "stage2_request", "comment", "compliment")
OPEN = ("received", "acknowledged", "investigating", "responded", "next_stage_requested")
EMAIL = "bench.coordinator@example.org"
PASSWORD = "bench password 123"
BODY = (
    "I want to make a formal complaint. My caseworker promised to call me back three times "
    "and never did, and the advice about my son's EHC plan was wrong.\n\nA fictional parent"
)


def populate(app: App, n: int, seed: int = 11) -> list[int]:
    """``n`` cases (about a third open and needing a person); returns ids with a message."""
    rng = random.Random(seed)
    activity = random.Random(seed + 1)  # family replies and openings (issue 15), apart
    today = NOW.date()
    with_message: list[int] = []
    batch = 5000
    with app.engine.begin() as conn:
        conn.execute(
            insert(User),
            [
                {
                    "email": EMAIL,
                    "password_hash": security.hash_password(PASSWORD),
                    "roles": ["coordinator", "manager"],
                    "services": list(SERVICES),
                    "active": True,
                    "session_version": 1,
                    "created_at": NOW,
                }
            ],
        )
    case_id = 0
    for start in range(0, n, batch):
        cases: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        letters: list[dict[str, Any]] = []
        reads: list[dict[str, Any]] = []
        for _ in range(min(batch, n - start)):
            case_id += 1
            svc = SERVICES[case_id % len(SERVICES)]
            received = NOW - timedelta(days=rng.randint(0, 700), minutes=rng.randint(0, 1440))
            is_open = rng.random() < 0.33
            status = rng.choice(OPEN) if is_open else "closed"
            ack = received.date() + timedelta(days=rng.randint(3, 7))
            if is_open:  # open cases: deadlines around today, some overdue
                ack = today + timedelta(days=rng.randint(-10, 10))
            resp = ack + timedelta(days=rng.randint(10, 25))
            safeguarding = rng.random() < 0.005
            flags = {
                "safeguarding": safeguarding,
                "about_coordinator": False,
                "out_of_scope": False,
            }
            cases.append(
                {
                    "id": case_id,
                    "reference": f"{PREFIX[svc]}-{received.year}-{case_id:06d}",
                    "service": svc,
                    "kind": rng.choice(KINDS),
                    "status": status,
                    "stage": 1 if rng.random() < 0.85 else 2,
                    "needs_person": is_open,
                    "confidence": round(rng.uniform(0.4, 0.99), 3),
                    "flags": flags,
                    "sender_addr": f"parent{case_id}@example.org",
                    "sender_name": f"Parent {case_id}",
                    "subject": "A fictional complaint",
                    "received_at": received,
                    "clock_starts": received.date(),
                    "acknowledge_by": ack,
                    "respond_by": resp,
                    "deadlines": {"explain": {}},
                    "classification": {"kind": "complaint", "reasons": []},
                    "created_at": received,
                    "updated_at": received,
                    "closure_reason": None if is_open else "resolved",
                    "due_on": current_due(status, ack, resp),
                    "safeguarding": safeguarding,
                    "channel": "email",
                    "via_mp": rng.random() < 0.05,
                    # one case in ten has a family reply; the coordinator opened half since
                    "family_message_at": (
                        received + timedelta(days=2) if activity.random() < 0.1 else None
                    ),
                }
            )
            if cases[-1]["family_message_at"] is not None and activity.random() < 0.5:
                reads.append(
                    {
                        "case_id": case_id,
                        "user_email": EMAIL,
                        "opened_at": received + timedelta(days=3),
                    }
                )
            events.append(
                {
                    "case_id": case_id,
                    "at": received,
                    "actor": "bot",
                    "kind": "received",
                    "detail": {},
                }
            )
            events.append(
                {
                    "case_id": case_id,
                    "at": received,
                    "actor": "bot",
                    "kind": "classified",
                    "detail": {"kind": "complaint", "confidence": 0.9},
                }
            )
            if is_open and rng.random() < 0.1:
                with_message.append(case_id)
                mid = f"<bench-{case_id}@example.org>"
                messages.append(
                    {
                        "case_id": case_id,
                        "direction": "in",
                        "service": svc,
                        "message_id": mid,
                        "dedupe_key": mid,
                        "content_hash": f"{case_id:064d}",
                        "fingerprint": f"{case_id:064d}",
                        "references": [],
                        "to_addrs": [],
                        "headers": {},
                        "from_addr": f"parent{case_id}@example.org",
                        "subject": "A fictional complaint",
                        "date": received,
                        "arrived_at": received,
                        "text": BODY,
                        "new_text": BODY,
                        "html": f"<p>{BODY}</p><img src='https://tracker.example/p.gif'>",
                        "disposition": "case",
                        "trail": [],
                        "raw": BODY.encode(),
                        "created_at": received,
                    }
                )
            if is_open and rng.random() < 0.01:
                letters.append(
                    {
                        "case_id": case_id,
                        "service": svc,
                        "purpose": "complaint_ack",
                        "idempotency_key": f"bench/{case_id}",
                        "status": "held",
                        "to_addr": f"parent{case_id}@example.org",
                        "from_addr": "sendiass@example.org",
                        "subject": "Your complaint",
                        "body_text": "Dear parent, thank you.",
                        "message_id": f"<letter-{case_id}@example.org>",
                        "references": [],
                        "attempts": 0,
                        "created_at": received,
                    }
                )
        with app.engine.begin() as conn:
            conn.execute(insert(Case), cases)
            conn.execute(insert(CaseEvent), events)
            if messages:
                conn.execute(insert(Message), messages)
            if letters:
                conn.execute(insert(OutboxLetter), letters)
            if reads:
                conn.execute(insert(CaseRead), reads)
    with app.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return with_message


class Client:
    """A keep-alive HTTP client with the session cookie."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = ""

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read().decode("utf-8", "replace")
        set_cookie = resp.getheader("Set-Cookie")
        if set_cookie:
            self.cookie = set_cookie.split(";", 1)[0]
        return resp.status, data

    def login(self) -> None:
        from urllib.parse import urlencode

        _, page = self.request("GET", "/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        status, _ = self.request(
            "POST",
            "/login",
            urlencode({"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)}),
        )
        assert status == 303, status


def timed(client: Client, paths: list[str]) -> tuple[float, float]:
    times = []
    for path in paths:
        t0 = time.perf_counter()
        status, _ = client.request("GET", path)
        times.append((time.perf_counter() - t0) * 1000)
        assert status == 200, (path, status)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--db", help="SQLite file to build (default: a temporary folder)")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sendiass-bench-web-"))
    db = Path(args.db) if args.db else folder / "bench.db"
    mailboxes = [
        {"name": s, "service": s, "source": "maildir", "path": str(folder / "mail" / s)}
        for s in SERVICES
    ]
    app = make_app(f"sqlite:///{db}", folder, mailboxes=mailboxes, clock=lambda: NOW)
    t0 = time.perf_counter()
    with_message = populate(app, args.cases)
    print(f"populated {args.cases} cases in {time.perf_counter() - t0:.1f} s ({db})")
    flask = create_app(app, WebConfig(cookie_secure=False), secret_key=b"bench " * 8)
    rng = random.Random(3)
    with LiveServer(flask) as server:
        client = Client(server.port)
        client.login()
        client.request("GET", "/")  # warm up
        n = args.requests
        cases = [f"/cases/{rng.choice(with_message)}" for _ in range(n)]
        rows = [
            ("queue, first page", ["/"] * n),
            ("queue, kind and service filter", ["/?service=durham&kind=complaint"] * n),
            ("queue, page 50", ["/?page=50"] * n),
            (
                "queue, search by sender",
                [f"/?q=parent{rng.randint(1, args.cases)}@" for _ in range(n)],
            ),
            ("case page", cases),
        ]
        print(f"{'page':<34} {'median ms':>10} {'p95 ms':>8}")
        for name, paths in rows:
            median, p95 = timed(client, paths)
            print(f"{name:<34} {median:>10.1f} {p95:>8.1f}")
    _ = date.today()
    return 0


if __name__ == "__main__":
    sys.exit(main())
