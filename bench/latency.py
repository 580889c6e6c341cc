"""Benchmark: arrival-to-acknowledgement time with the daemon in IMAP IDLE.

    .venv/bin/python bench/latency.py [--count 200] [--max-gap 0.5] [--seed 7]

Starts a throwaway Dovecot (tests/servers.py) and an SMTP server (aiosmtpd, tests/smtpsink.py)
on 127.0.0.1, runs the daemon (``run_daemon``: mailbox thread in IDLE, sender thread) in this
process, appends ``--count`` complaints from different (fictional) parents at random intervals
of 0 to ``--max-gap`` seconds, and measures for each the time from just before its APPEND to
the moment the SMTP server accepted its acknowledgement (matched by In-Reply-To). Prints the
median, p95 and maximum. Target (issue 17): p95 under 2 seconds. Uses the rule classifier
(``classifiers.classify``) when it is installed, else a stand-in that says "complaint".
A benchmark, not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.app import build_app  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.poller import run_daemon  # noqa: E402
from classifiers.types import Classification, ClassifierInput  # noqa: E402
from tests.mailfactory import make_email  # noqa: E402
from tests.servers import DovecotServer, free_port  # noqa: E402
from tests.smtpsink import SmtpSink  # noqa: E402

PASSWORD_ENV = "SENDIASS_BENCH_IMAP_PASSWORD"
FIRST = ["Pat", "Sam", "Alex", "Jo", "Chris", "Robin", "Morgan", "Jamie", "Kim", "Lee"]
LAST = ["Jones", "Patel", "Okafor", "Smith", "Nowak", "Evans", "Hughes", "Khan", "Reid", "Shaw"]
BODIES = [
    "I want to make a formal complaint about your service. My caseworker promised to call me "
    "back before the annual review and never did, and nobody answered my emails.",
    "I am writing to complain. I was told an adviser would come to the meeting with me and "
    "nobody came, so I had to face the panel on my own.",
    "Please treat this as a complaint. I have left three voicemails over two weeks and no one "
    "from your service has rung me back.",
]


def stand_in_classifier(inp: ClassifierInput) -> Classification:
    if inp.automated_reason:
        return Classification("automated", 0.99)
    return Classification("complaint", 0.9)


def pick_classifier() -> tuple[object, str]:
    try:
        from classifiers import classify
    except ImportError:
        return stand_in_classifier, "stand-in (complaint)"
    probe = ClassifierInput(
        service="durham",
        received=datetime.now(UTC),
        from_name="Pat Jones",
        from_addr="pat@example.org",
        subject="Complaint about your service",
        body=BODIES[0],
    )
    classify(probe)  # load the rules (and spaCy) before the clock starts
    return classify, "rules (classifiers.classify)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--max-gap", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rng = random.Random(args.seed)
    classifier, classifier_name = pick_classifier()

    with tempfile.TemporaryDirectory(prefix="sendiass-bench-") as tmp, DovecotServer() as dovecot:
        dovecot.start()
        account = dovecot.add_user()
        os.environ[PASSWORD_ENV] = account.password
        smtp = SmtpSink(free_port()).start()
        data = {
            "database": {"url": f"sqlite:///{Path(tmp) / 'bench.db'}"},
            "mailbox": [
                {"name": "durham-imap", "service": "durham", "source": "imap",
                 "host": account.host, "port": account.port, "tls": "none",
                 "username": account.user, "password_env": PASSWORD_ENV}
            ],
            "outbound": {"transport": "smtp", "host": "127.0.0.1", "port": smtp.port,
                         "tls": "none"},
            "daemon": {"idle": True, "idle_timeout": 300, "poll_interval": 60},
            # a benchmark of latency, not of flood control: every parent here is @example.org
            "letters": {"max_per_hour": 1000000, "max_per_domain_per_day": 1000000},
        }  # fmt: skip
        app = build_app(config=parse_config(data, "bench"))
        app.intake.env = dataclasses.replace(app.intake.env, classifier=classifier)  # type: ignore[arg-type]
        stop = threading.Event()
        daemon = threading.Thread(target=run_daemon, args=(app, stop), daemon=True)
        daemon.start()
        time.sleep(2.0)  # connected and in IDLE

        sent_at: dict[str, float] = {}
        for i in range(args.count):
            mid = f"<bench-latency-{i}@example.org>"
            raw = make_email(
                from_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                from_addr=f"parent{i}@example.org",
                subject="Complaint about your service",
                body=f"Dear SENDIASS,\n\n{rng.choice(BODIES)}\n\nThank you",
                date=datetime.now(UTC),
                message_id=mid,
            )
            sent_at[mid] = time.monotonic()
            account.append("INBOX", raw)
            time.sleep(rng.uniform(0, args.max_gap))

        deadline = time.monotonic() + 120
        while len(smtp.messages()) < args.count and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        daemon.join(timeout=60)
        smtp.stop()

    latencies = sorted(
        r.at - sent_at[str(r.message["In-Reply-To"])]
        for r in smtp.messages()
        if str(r.message["In-Reply-To"]) in sent_at
    )
    print(f"classifier: {classifier_name}")
    print(f"complaints appended: {args.count}; acknowledgements received: {len(latencies)}")
    if not latencies:
        print("no acknowledgements: nothing to measure")
        return 1
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    print(
        f"arrival to acknowledgement: median {statistics.median(latencies):.3f}s, "
        f"p95 {p95:.3f}s, max {latencies[-1]:.3f}s (target: p95 < 2s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
