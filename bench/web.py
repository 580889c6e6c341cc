"""Benchmark: the triage UI with 1,000,000 cases, through the real server (waitress).

    .venv/bin/python bench/web.py [--cases 1000000] [--requests 200] [--db sqlite|postgresql]
                                  [--path FILE_OR_FOLDER]

Builds the database fast (SQLite: ``executemany`` on the raw connection in large
transactions; PostgreSQL: ``COPY``), with the schema at head, so the full-text index is
filled by its own triggers (SQLite) or generated columns (PostgreSQL) as in production: per
case one message (a fictional parent's words about one of a few topics) and one event; about
a third of the cases open and needing a person, 0.5% flagged for safeguarding, 1% of the open
ones with a held letter, 2% assigned. Sender names are drawn from a few thousand fictional
surnames, so a surname finds a few hundred cases.

Then starts waitress on 127.0.0.1 at a free port, signs in as a coordinator of every service
and times ``--requests`` GETs each of: the queue (first page), a filtered queue (service and
kind; assigned to me), a deep page (the keyset position 10,000 cases in, reached by walking
"next"), full-text searches (a surname; a topic word found in a tenth of all messages) and
case pages. Prints median and p95 in milliseconds. A benchmark, not a test: nothing here
asserts a timing (the target is p95 < 100 ms for each).

``--path``: the SQLite file, or the PostgreSQL cluster's folder (its database ``bench``), to
build; one that was built before is reused (the migrations are applied to it), so that a
change can be measured again without building 1,000,000 cases again.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import insert  # noqa: E402

from bot.app import App  # noqa: E402
from bot.config import WebConfig  # noqa: E402
from bot.models import User, current_due  # noqa: E402
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
FIRST = ("Alex", "Sam", "Priya", "Joanna", "Lee", "Amara", "Tomasz", "Niamh", "Yusuf", "Grace")
TOPICS = (
    "My son was given a fixed-term exclusion again and nobody told me why.",
    "The transport to school has not turned up for two weeks.",
    "The EHC plan review is late and the annual review meeting was cancelled.",
    "I asked for advice about a tribunal appeal and was not called back.",
    "The caseworker promised to ring me three times and never did.",
    "Could someone explain what a personal budget covers?",
    "The school says it cannot meet her needs and wants to reduce her hours.",
    "Thank you for the help with the tribunal papers, it made a real difference.",
    "We are still waiting for the speech and language assessment.",
    "The letter about the panel decision did not explain the reasons.",
)
CASE_COLS = (
    "id", "reference", "service", "kind", "status", "stage", "needs_person", "confidence",
    "flags", "sender_addr", "sender_name", "subject", "received_at", "clock_starts",
    "acknowledge_by", "respond_by", "deadlines", "classification", "closure_reason",
    "created_at", "updated_at", "due_on", "safeguarding", "handler", "channel", "via_mp",
    "restricted",
)  # fmt: skip
MESSAGE_COLS = (
    "id", "case_id", "direction", "service", "message_id", "message_id_synthesised",
    "dedupe_key", "content_hash", "fingerprint", "references", "from_addr", "from_name",
    "to_addrs", "subject", "date", "date_source", "arrived_at", "headers", "text", "new_text",
    "quoted_text", "signature", "disposition", "trail", "raw", "created_at",
)  # fmt: skip
EVENT_COLS = ("case_id", "at", "actor", "kind", "detail")
LETTER_COLS = (
    "case_id", "service", "purpose", "idempotency_key", "status", "to_addr", "from_addr",
    "subject", "body_text", "message_id", "references", "attempts", "created_at", "hold_reason",
)  # fmt: skip


def surnames(rng: random.Random, n: int = 4000) -> list[str]:
    """``n`` fictional surnames (syllables), plus a few the README's examples use."""
    a = ("Ba", "Cho", "Da", "Fe", "Ga", "Ha", "Ka", "Lo", "Ma", "Na", "Pe", "Ra", "Sa", "Ta")
    b = ("ra", "no", "li", "ve", "ku", "mo", "de", "si", "ta", "wa", "ne", "fo", "gu", "ri")
    c = ("n", "r", "s", "ley", "ton", "wick", "field", "man", "son", "by", "ford", "dale")
    names = sorted({x + y + z for x in a for y in b for z in c})
    rng.shuffle(names)
    return [*names[: n - 2], "Chauhan", "Okafor"]


def generate(n: int, seed: int = 11) -> Iterator[tuple[list[Any], list[Any], list[Any], Any]]:
    """Per case: its row, its message's row, its event's row and a held letter (or None)."""
    rng = random.Random(seed)
    today = NOW.date()
    names = surnames(rng)
    for case_id in range(1, n + 1):
        svc = SERVICES[case_id % len(SERVICES)]
        received = NOW - timedelta(days=rng.randint(0, 700), minutes=rng.randint(0, 1440))
        is_open = rng.random() < 0.33
        status = rng.choice(OPEN) if is_open else "closed"
        ack = received.date() + timedelta(days=rng.randint(3, 7))
        if is_open:  # open cases: deadlines around today, some overdue
            ack = today + timedelta(days=rng.randint(-10, 10))
        resp = ack + timedelta(days=rng.randint(10, 25))
        safeguarding = rng.random() < 0.005
        name = f"{rng.choice(FIRST)} {rng.choice(names)}"
        addr = f"parent{case_id}@example.org"
        topic = rng.choice(TOPICS)
        subject = topic.split(" ", 6)[-1][:40]
        kind = rng.choice(KINDS)
        handler = EMAIL if is_open and rng.random() < 0.02 else None
        flags = {"safeguarding": safeguarding, "about_coordinator": False, "out_of_scope": False}
        case = [
            case_id, f"{PREFIX[svc]}-{received.year}-{case_id:07d}", svc, kind, status,
            1 if rng.random() < 0.85 else 2, is_open, round(rng.uniform(0.4, 0.99), 3), flags,
            addr, name, subject, received, received.date(), ack, resp, {"explain": {}},
            {"kind": kind, "reasons": []}, None if is_open else "resolved", received, received,
            current_due(status, ack, resp), safeguarding, handler, "email",
            rng.random() < 0.05, False,
        ]  # fmt: skip
        body = f"Dear SENDIASS,\n\n{topic}\n\n{name}"
        mid = f"<bench-{case_id}@example.org>"
        message = [
            case_id, case_id, "in", svc, mid, False, mid, f"{case_id:064d}", f"{case_id:064d}",
            [], addr, name, [], subject, received, "header", received, {}, body, body, "", "",
            "case", [], body.encode(), received,
        ]  # fmt: skip
        event = [case_id, received, "bot", "received", {}]
        letter = None
        if is_open and rng.random() < 0.01:
            letter = [
                case_id, svc, "complaint_ack", f"bench/{case_id}", "held", addr,
                "sendiass@example.org", "Your complaint", "Dear parent, thank you.",
                f"<letter-{case_id}@example.org>", [], 0, received,
                "Reply-To differs from From: check the address",
            ]  # fmt: skip
        yield case, message, event, letter


def _sqlite_value(v: Any) -> Any:
    t = type(v)
    if t is datetime:  # stored as SQLAlchemy stores a UTC datetime on SQLite
        return f"{v:%Y-%m-%d %H:%M:%S}.{v.microsecond:06d}"
    if t is date:
        return v.isoformat()
    if t is dict or t is list:
        return "{}" if not v and t is dict else ("[]" if not v else json.dumps(v))
    if t is bool:
        return int(v)
    return v


def _pg_value(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, dict | list) else v


def populate(app: App, n: int, batch: int = 20_000) -> list[int]:
    """``n`` cases in bulk; returns the ids of open cases (for case pages)."""
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
    tables = (
        ("cases", CASE_COLS),
        ("messages", MESSAGE_COLS),
        ("case_events", EVENT_COLS),
        ("outbox", LETTER_COLS),
    )
    opened: list[int] = []
    rows: list[list[list[Any]]] = [[], [], [], []]
    raw = app.engine.raw_connection()
    try:
        sqlite = app.engine.dialect.name == "sqlite"
        if sqlite:
            raw.execute("PRAGMA synchronous=OFF")  # type: ignore[attr-defined]

        def flush() -> None:
            cur = raw.cursor()
            for (table, cols), data in zip(tables, rows, strict=True):
                if not data:
                    continue
                names = ", ".join(f'"{c}"' for c in cols)
                if sqlite:
                    marks = ", ".join("?" * len(cols))
                    cur.executemany(
                        f"INSERT INTO {table} ({names}) VALUES ({marks})",
                        [[_sqlite_value(v) for v in row] for row in data],
                    )
                else:
                    with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                        for row in data:
                            copy.write_row([_pg_value(v) for v in row])
                data.clear()
            raw.commit()

        for case, message, event, letter in generate(n):
            rows[0].append(case)
            rows[1].append(message)
            rows[2].append(event)
            if letter is not None:
                rows[3].append(letter)
            if case[6]:
                opened.append(case[0])
            if len(rows[0]) >= batch:
                flush()
        flush()
        cur = raw.cursor()
        if sqlite:
            cur.execute("ANALYZE")
        else:
            raw.commit()
            raw.driver_connection.autocommit = True  # type: ignore[union-attr]
            cur = raw.cursor()
            cur.execute("SELECT setval('cases_id_seq', (SELECT max(id) FROM cases))")
            cur.execute("SELECT setval('messages_id_seq', (SELECT max(id) FROM messages))")
            cur.execute("VACUUM ANALYZE")
            # the connection goes back to the pool: the app's sessions need transactions
            raw.driver_connection.autocommit = False  # type: ignore[union-attr]
        raw.commit()
    finally:
        raw.close()
    return opened


class Client:
    """A keep-alive HTTP client with the session cookie."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
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
        _, page = self.request("GET", "/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        status, _ = self.request(
            "POST",
            "/login",
            urlencode({"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)}),
        )
        assert status == 303, status


def timed(client: Client, paths: list[str]) -> tuple[float, float, int]:
    """Median and p95 (ms), and the rows the last page listed."""
    times = []
    rows = 0
    for path in paths:
        t0 = time.perf_counter()
        status, body = client.request("GET", path)
        times.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise SystemExit(f"{path}: HTTP {status}")
        rows = len(re.findall(r'<td><a href="/cases/', body))
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], rows


def deep_path(client: Client, start: str, pages: int) -> str:
    """The URL of the page ``pages`` pages after ``start``, by following "next"."""
    path = start
    for _ in range(pages):
        _, body = client.request("GET", path)
        found = re.search(r'href="([^"]+)" rel="next"', body)
        if found is None:
            break
        path = found.group(1).replace("&amp;", "&")
    return path


def kept_postgres(data: Path) -> Any:
    """A test PostgreSQL server whose cluster lives in ``data`` (kept after the run, reused by
    the next one) rather than in its temporary folder."""
    from tests.servers import PostgresServer

    class Kept(PostgresServer):
        @property
        def data_dir(self) -> Path:
            return data

        def start(self) -> Kept:
            if (data / "PG_VERSION").exists() and not self._initialised:
                # the cluster is kept; its socket folder was the last run's temporary one
                socket_dir = str(self.socket_dir).replace("'", "''")
                with (data / "postgresql.conf").open("a") as conf:
                    conf.write(f"unix_socket_directories = '{socket_dir}'\n")
                self._initialised = True
            return super().start()

    data.parent.mkdir(parents=True, exist_ok=True)
    server = Kept()
    if not (data / "PG_VERSION").exists():
        data.mkdir(mode=0o700, exist_ok=True)
        server._chown(data)
    return server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument(
        "--path",
        help="SQLite file or PostgreSQL cluster folder to build (default: a temporary folder); "
        "one that was built before is reused as it is (measure again without building again; "
        "the migrations are applied to it)",
    )
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sendiass-bench-web-"))
    postgres = None
    reuse = False
    if args.db == "postgresql":
        if args.path:
            postgres = kept_postgres(Path(args.path)).start()
            reuse = "bench" in postgres._databases()
            url = postgres.url_for("bench") if reuse else postgres.create_database("bench")
        else:
            from tests.servers import PostgresServer

            postgres = PostgresServer().start()
            url = postgres.create_database()
    else:
        url = f"sqlite:///{Path(args.path) if args.path else folder / 'bench.db'}"
        reuse = bool(args.path) and Path(args.path).exists()
    try:
        mailboxes = [
            {"name": s, "service": s, "source": "maildir", "path": str(folder / "mail" / s)}
            for s in SERVICES
        ]
        app = make_app(url, folder, mailboxes=mailboxes, clock=lambda: NOW)
        t0 = time.perf_counter()
        if reuse:
            with app.engine.connect() as conn:
                opened = list(
                    conn.exec_driver_sql(
                        "SELECT id FROM cases WHERE needs_person = "
                        + ("true" if args.db == "postgresql" else "1")
                    ).scalars()
                )
            print(f"reusing {args.path} ({len(opened):,} open cases)", flush=True)
        else:
            opened = populate(app, args.cases)
            took = time.perf_counter() - t0
            print(f"populated {args.cases:,} cases ({args.db}) in {took:.1f} s", flush=True)
        flask = create_app(app, WebConfig(cookie_secure=False), secret_key=b"bench " * 8)
        rng = random.Random(3)
        names = surnames(random.Random(11))
        with LiveServer(flask) as server:
            client = Client(server.port)
            client.login()
            client.request("GET", "/")  # warm up
            n = args.requests
            deep = deep_path(client, "/", 200)
            position = re.search(r"after=[0-9]+\.[0-9]+\.([0-9]+)", deep)
            rows = [
                ("queue, first page", ["/"] * n),
                ("queue, service and kind filter", ["/?service=durham&kind=complaint"] * n),
                ("queue, assigned to me", ["/?mine=1"] * n),
                (
                    "queue, due-date range",
                    ["/?due_from=2026-11-20&due_to=2026-11-27&sort=deadline"] * n,
                ),
                (f"queue, deep page ({position.group(1) if position else '?'} in)", [deep] * n),
                ("queue, sorted by received", ["/?sort=received&dir=desc"] * n),
                ("search, a surname", [f"/?q={rng.choice(names)}" for _ in range(n)]),
                ("search, Chauhan", ["/?q=Chauhan"] * n),
                ("search, first name and surname", [f"/?q=Sam+{rng.choice(names)}"] * n),
                ("search, a common word (exclusion)", ["/?q=exclusion"] * n),
                ("search, a reference", [f"/?q=DUR-2026-{rng.choice(opened):07d}"] * n),
                ("case page", [f"/cases/{rng.choice(opened)}" for _ in range(n)]),
            ]
            print(f"{'page':<40} {'median ms':>10} {'p95 ms':>8} {'rows':>5}")
            for name, paths in rows:
                median, p95, listed = timed(client, paths)
                print(f"{name:<40} {median:>10.1f} {p95:>8.1f} {listed:>5}", flush=True)
        app.engine.dispose()
    finally:
        if postgres is not None:
            postgres.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
