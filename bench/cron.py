"""Benchmark: the command a cron user runs, start-up included.

    .venv/bin/python bench/cron.py [--count 1000] [--db sqlite|postgresql] [--repeat-empty 5]

Starts a throwaway Dovecot and an SMTP server (aiosmtpd) on 127.0.0.1 (and a PostgreSQL
cluster with ``--db postgresql``), writes a config file, and runs the real command line in a
fresh interpreter, exactly as cron would: ``python -m bot --config FILE poll-once`` (which
reads every new message, commits, flags them on the server and sends the letters in the
same pass).

It measures, each from outside the process:

* **start-up**: ``poll-once`` on an EMPTY mailbox, median of ``--repeat-empty`` runs: the
  interpreter start, imports, config, database check, IMAP login, SEARCH and exit. This is
  an upper bound on the time to the first fetch, and what a cron user pays every minute
  when no mail has come;
* **end to end**: ``--count`` messages appended to the mailbox (dev corpus as emails, the
  real-world MIME files and synthetic variations), then one ``poll-once``: wall time from
  start to exit, messages per second, letters the SMTP server accepted, and the command's
  peak resident set size (from ``wait4``).

A benchmark, not a test: nothing here asserts a timing. Targets (issue 17): start-up < 1 s,
>= 300 messages/s end to end, peak RSS < 400 MB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import production_env  # noqa: E402
from bench.ingest import corpus_messages  # noqa: E402
from tests.servers import (  # noqa: E402
    DovecotServer,
    ImapAccount,
    PostgresServer,
    free_port,
    imap_smtp_config,
)
from tests.smtpsink import SmtpSink  # noqa: E402

PASSWORD_ENV = "SENDIASS_BENCH_IMAP_PASSWORD"


def write_config(folder: Path, db_url: str, account: ImapAccount, smtp_port: int) -> Path:
    path = folder / "bench.toml"
    path.write_text(imap_smtp_config(db_url, account, smtp_port, PASSWORD_ENV), encoding="utf-8")
    return path


#: CPU seconds (user + system) of the last run_cli's command.
LAST_CPU = [0.0]


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(config: Path, *args: str) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stdout) of one run of the real command line; its CPU
    time in :data:`LAST_CPU` (the machine may be loaded: CPU time is the steadier figure)."""
    env = production_env({"PYTHONPATH": str(REPO)})  # with bytecode, as cron's Python has
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        cwd=config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate()
    elapsed = time.perf_counter() - t0
    LAST_CPU[0] = _children_cpu() - cpu0
    # communicate() has reaped the child; its rusage is folded into RUSAGE_CHILDREN's max.
    rss = _child_peak_mb()
    if proc.returncode != 0:
        raise SystemExit(f"poll-once failed ({proc.returncode}): {err.strip()[-2000:]}")
    return elapsed, rss, out


def _child_peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--repeat-empty", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sendiass-cron-") as tmp, DovecotServer() as dovecot:
        folder = Path(tmp)
        dovecot.start()
        account = dovecot.add_user()
        os.environ[PASSWORD_ENV] = account.password
        smtp = SmtpSink(free_port()).start()
        pg: PostgresServer | None = None
        try:
            if args.db == "postgresql":
                pg = PostgresServer()
                pg.start()
                db_url = pg.create_database()
            else:
                db_url = f"sqlite:///{folder / 'bench.db'}"
            config = write_config(folder, db_url, account, smtp.port)
            # The first run creates the schema (migrations): not part of what cron pays.
            first, _, _ = run_cli(config, "poll-once")
            print(f"first run (creates the database): {first:.2f}s")
            empty = [run_cli(config, "poll-once")[0] for _ in range(args.repeat_empty)]
            empty_rss = _child_peak_mb()
            print(
                f"start-up: poll-once on an empty mailbox, median of {len(empty)}: "
                f"{statistics.median(empty):.2f}s (min {min(empty):.2f}s, max {max(empty):.2f}s)"
                f"; peak RSS so far {empty_rss:.0f} MB"
            )

            messages = corpus_messages(args.count)
            t0 = time.perf_counter()
            with account.client() as imap:
                for raw in messages:
                    imap.append("INBOX", raw)
            print(f"appended {len(messages)} messages in {time.perf_counter() - t0:.1f}s")

            before = len(smtp.messages())
            elapsed, rss, out = run_cli(config, "poll-once")
            letters = len(smtp.messages()) - before
            print(out.strip())
            print(
                f"end to end ({args.db}): {len(messages)} messages in {elapsed:.2f}s = "
                f"{len(messages) / elapsed:.0f} messages/s, {letters} letters accepted by the "
                f"SMTP server, peak RSS {rss:.0f} MB; CPU {LAST_CPU[0]:.2f}s = "
                f"{len(messages) / LAST_CPU[0]:.0f} messages per CPU second"
            )
        finally:
            smtp.stop()
            if pg is not None:
                pg.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
