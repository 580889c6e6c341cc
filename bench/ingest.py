"""Benchmark: drain 5,000 varied messages from a real Dovecot into SQLite with poll-once.

    .venv/bin/python bench/ingest.py [--count 5000] [--classifier header|complaint|rules]
        [--send [--letters 600]] [--profile FILE]

Starts a throwaway Dovecot (tests/servers.py), appends the messages (the dev corpus as
emails, the real-world MIME files, and synthetic variations), then times one
``poll_all_once`` pass in this process and prints messages per second and peak memory
(the process's peak resident set size), with the CPU time (``time.process_time``: the
machine may be loaded by other work). ``--classifier header`` isolates the spine from the
classifier; ``--classifier complaint`` also makes every person's message a complaint, so
the reply stage writes letters. ``--send`` then drains the outbox to a real SMTP server
(aiosmtpd) in one ``drain_once`` and prints letters per second. ``--profile FILE`` writes
a cProfile of the pass (and of the drain, to ``FILE.send``). A benchmark, not a test:
nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import event, select, update

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.app import App  # noqa: E402
from bot.config import OutboundConfig  # noqa: E402
from bot.letters.sender import Sender, SmtpTransport  # noqa: E402
from bot.models import OutboxLetter  # noqa: E402
from bot.poller import poll_all_once  # noqa: E402
from classifiers.types import Classification, ClassifierInput, Reason  # noqa: E402
from tests.apphelpers import counts, make_app  # noqa: E402
from tests.mailfactory import load_corpus, make_email, record_to_eml  # noqa: E402
from tests.paths import DEV_JSONL, MIME_DIR  # noqa: E402
from tests.servers import DovecotServer, free_port  # noqa: E402
from tests.smtpsink import SmtpSink  # noqa: E402


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


def complaint_classifier(inp: ClassifierInput) -> Classification:
    """Like :func:`header_classifier`, but every person's message is a confident complaint,
    so that the reply stage writes letters (an acknowledgement, the handler's notice)."""
    if inp.automated_reason:
        return header_classifier(inp)
    return Classification("complaint", 0.95)


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
    parser.add_argument("--classifier", choices=("header", "complaint", "rules"), default="rules")
    parser.add_argument(
        "--profile", metavar="FILE", help="write a cProfile of the timed pass to FILE"
    )
    parser.add_argument(
        "--send",
        action="store_true",
        help="then drain the outbox to a real SMTP server (aiosmtpd) and time that too",
    )
    parser.add_argument(
        "--letters",
        type=int,
        default=600,
        help="with --send: approve up to this many held letters first (default 600)",
    )
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
        if args.classifier in ("header", "complaint"):
            app.intake.env = dataclasses.replace(
                app.intake.env,
                classifier=header_classifier
                if args.classifier == "header"
                else complaint_classifier,
                # a benchmark of throughput, not of flood control: let every letter go
                letters_max_per_hour=1_000_000,
                letters_max_per_domain_per_day=1_000_000,
            )
        statements = count_statements(app)
        profiler = cProfile.Profile() if args.profile else None
        t0, c0 = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        results, errors = poll_all_once(app)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(results[0] if results else errors)
        print(f"stored: {counts(app)}")
        print(
            f"poll-once drained {results[0].fetched} messages in {elapsed:.1f}s: "
            f"{results[0].fetched / elapsed:.0f} messages/s "
            f"(CPU {cpu:.1f}s: {results[0].fetched / cpu:.0f} messages per CPU second) "
            f"(classifier: {args.classifier}); peak RSS of the process {rss_mb:.0f} MB; "
            f"{statements[0] / results[0].fetched:.1f} SQL statements per message"
        )
        if args.send:
            drain(app, args.letters, args.profile and args.profile + ".send")
    return 0


def count_statements(app: App) -> list[int]:
    """A counter of the SQL statements ``app`` runs from now on (a measure the machine's
    load does not change)."""
    counter = [0]

    def count(*_: object) -> None:
        counter[0] += 1

    event.listen(app.engine, "before_cursor_execute", count)
    return counter


def drain(app: App, letters: int, profile: str | None) -> None:
    """One ``drain_once`` of the outbox to aiosmtpd on 127.0.0.1, after approving up to
    ``letters`` held letters (as a coordinator would: the header classifier's letters are
    all held for low confidence). The sink runs in a thread of this process, so the
    sender's own CPU is the thread time."""
    L = OutboxLetter
    with app.sessions.begin() as s:
        ids = s.scalars(select(L.id).where(L.status == "held").order_by(L.id).limit(letters))
        s.execute(
            update(L)
            .where(L.id.in_(list(ids)))
            .values(status="pending", hold_reason=None, next_attempt_at=None)
        )
    sink = SmtpSink(free_port()).start()
    try:
        out = OutboundConfig("smtp", host=sink.host, port=sink.port, tls="none")
        sender = Sender(app.sessions, app.services, SmtpTransport(out), app.clock)
        statements = count_statements(app)
        profiler = cProfile.Profile() if profile else None
        t0, c0, th0 = time.perf_counter(), time.process_time(), time.thread_time()
        if profiler is not None:
            profiler.enable()
        stats = sender.drain_once()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        elapsed = time.perf_counter() - t0
        cpu, thread = time.process_time() - c0, time.thread_time() - th0
    finally:
        sink.stop()
    print(stats, f"(the server accepted {len(sink.received)})")
    print(
        f"drained {stats.sent} letters in {elapsed:.1f}s: {stats.sent / elapsed:.0f} letters/s "
        f"(sender thread CPU {thread:.1f}s: {stats.sent / thread:.0f} letters per CPU second; "
        f"process CPU with the sink {cpu:.1f}s); "
        f"{statements[0] / max(stats.sent, 1):.1f} SQL statements per letter"
    )


if __name__ == "__main__":
    sys.exit(main())
