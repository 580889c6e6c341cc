"""Benchmark: drain 5,000 varied messages from a real Dovecot into SQLite with poll-once.

    .venv/bin/python bench/ingest.py [--count 5000] [--classifier header|rules]

Starts a throwaway Dovecot (tests/servers.py), appends the messages (the dev corpus as
emails, the real-world MIME files, and synthetic variations), then times one
``poll_all_once`` pass in this process and prints messages per second and peak memory
(the process's peak resident set size). A benchmark,
not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.poller import poll_all_once  # noqa: E402
from classifiers.types import Classification, ClassifierInput, Reason  # noqa: E402
from tests.apphelpers import counts, make_app  # noqa: E402
from tests.mailfactory import load_corpus, make_email, record_to_eml  # noqa: E402
from tests.paths import DEV_JSONL, MIME_DIR  # noqa: E402
from tests.servers import DovecotServer  # noqa: E402


def header_classifier(inp: ClassifierInput) -> Classification:
    """The spine without rules: automated mail from headers, else a person."""
    if inp.automated_reason:
        return Classification(
            "automated",
            0.99,
            reasons=[
                Reason(
                    "headers.automated", "kind=automated", inp.automated_reason, source="headers"
                )
            ],
        )
    return Classification("enquiry", 0.0)


def corpus_messages(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    records = load_corpus(DEV_JSONL)
    mime = [p.read_bytes() for p in sorted(MIME_DIR.rglob("*.eml"))]
    out: list[bytes] = []
    for i in range(count):
        choice = i % 10
        if choice < 7:
            rec = dict(rng.choice(records))
            rec["id"] = f"bench-{i}"
            out.append(record_to_eml(rec))
        elif choice < 9:
            out.append(
                make_email(
                    subject=f"Question {i}",
                    body="Hello,\n\n" + " ".join(rng.choice(records)["body"].split()[:120]),
                    message_id=f"<bench-{i}@example.org>",
                )
            )
        else:
            raw = rng.choice(mime)
            out.append(raw.replace(b"Message-ID:", f"X-Bench: {i}\r\nMessage-ID:".encode(), 1))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--classifier", choices=("header", "rules"), default="rules")
    args = parser.parse_args()

    messages = corpus_messages(args.count)
    with DovecotServer() as dovecot, tempfile.TemporaryDirectory() as tmp:
        account = dovecot.add_user()
        os.environ["BENCH_IMAP_PASSWORD"] = account.password
        t0 = time.perf_counter()
        with account.client() as imap:
            for raw in messages:
                imap.append("INBOX", raw)
        print(f"appended {len(messages)} messages in {time.perf_counter() - t0:.1f}s")

        mailbox = {
            "name": "bench",
            "service": "durham",
            "source": "imap",
            "host": account.host,
            "port": account.port,
            "tls": "none",
            "username": account.user,
            "password_env": "BENCH_IMAP_PASSWORD",
        }
        app = make_app(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp), [mailbox])
        if args.classifier == "header":
            app.intake.env = dataclasses.replace(app.intake.env, classifier=header_classifier)
        t0 = time.perf_counter()
        results, errors = poll_all_once(app)
        elapsed = time.perf_counter() - t0
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(results[0] if results else errors)
        print(f"stored: {counts(app)}")
        print(
            f"poll-once drained {results[0].fetched} messages in {elapsed:.1f}s: "
            f"{results[0].fetched / elapsed:.0f} messages/s "
            f"(classifier: {args.classifier}); peak RSS of the process {rss_mb:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
