"""Benchmark: letters sent twice when the sender is killed just after the server's 250.

    .venv/bin/python bench/double_send.py [--kills 20] [--max-ms 20] [--repo PATH]

For each trial: a fresh SQLite database holding one pending acknowledgement (ingested once,
then copied), ``letters send`` started as a real subprocess (``--repo`` chooses whose code:
this checkout by default, or e.g. /work/main for the code before the hand-over), and an SMTP
server (aiosmtpd, tests/smtpsink.py) in this process that SIGKILLs that subprocess a given
number of milliseconds (spread evenly over 0..``--max-ms``) after it answered the letter's
DATA with 250. Then ``letters send`` runs again without a kill (after ``resend_after``
where the code has it) and the benchmark counts the DATA transactions per letter.

Prints the kills that landed, the letters sent again (duplicates) and letters never sent.
A benchmark, not a test: nothing here asserts a number.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.mailfactory import make_email  # noqa: E402
from tests.servers import free_port  # noqa: E402
from tests.smtpsink import SmtpSink, _Handler  # noqa: E402

RESEND_AFTER = 1.0


class KillingHandler(_Handler):
    """Answers 250, then kills ``victim`` ``delay`` seconds later (once)."""

    victim: int | None = None
    delay = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        pid, self.victim = self.victim, None
        if pid is not None:
            asyncio.get_running_loop().call_later(self.delay, _kill, pid)
        return reply


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def bot(repo: Path, config: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "SENDIASS_CRASH_AT"}
    env["PYTHONPATH"] = str(repo)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def write_config(path: Path, db: Path, port: int, outbox: Path, with_resend: bool) -> None:
    extra = f"resend_after = {RESEND_AFTER}\n" if with_resend else ""
    path.write_text(
        f'[database]\nurl = "sqlite:///{db}"\n'
        f'[outbound]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\n'
        f"{extra}",
        encoding="utf-8",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--max-ms", type=float, default=20.0)
    parser.add_argument("--repo", type=Path, default=REPO, help="whose code runs the sender")
    args = parser.parse_args()
    repo = args.repo.resolve()
    with_resend = "resend_after" in (repo / "bot" / "config.py").read_text(encoding="utf-8")

    work = Path(tempfile.mkdtemp(prefix="double-send-"))
    port = free_port()
    sink = SmtpSink(port)
    handler = KillingHandler(sink)
    from aiosmtpd.controller import Controller

    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        template = work / "template.db"
        config = work / "template.toml"
        write_config(config, template, port, work / "out", with_resend)
        eml = work / "complaint.eml"
        eml.write_bytes(
            make_email(
                subject="Complaint about a cancelled visit",
                body="I want to make a formal complaint about how my son's review was handled.",
                from_addr="parent@example.net",
            )
        )
        proc = bot(repo, config, "ingest", "--service", "durham", str(eml))
        _, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            print(err, file=sys.stderr)
            return 1
        landed = duplicates = lost = 0
        for i in range(args.kills):
            db = work / f"t{i}.db"
            shutil.copy(template, db)
            cfg = work / f"t{i}.toml"
            write_config(cfg, db, port, work / "out", with_resend)
            before = len(sink.messages())
            proc = bot(repo, cfg, "letters", "send")
            handler.delay = args.max_ms / 1000 * i / max(args.kills - 1, 1)
            handler.victim = proc.pid
            proc.communicate(timeout=300)
            handler.victim = None
            landed += proc.returncode == -signal.SIGKILL
            time.sleep(RESEND_AFTER + 0.5 if with_resend else 0.2)
            again = bot(repo, cfg, "letters", "send")
            _, err = again.communicate(timeout=300)
            if again.returncode != 0:
                print(err, file=sys.stderr)
            copies = len(sink.messages()) - before
            duplicates += max(copies - 1, 0)
            lost += copies == 0
            print(
                f"trial {i + 1:2d}: kill {handler.delay * 1000:5.1f} ms after 250, "
                f"{'killed' if proc.returncode == -signal.SIGKILL else 'finished first'}, "
                f"{copies} cop{'y' if copies == 1 else 'ies'}",
                flush=True,
            )
        print(f"code: {repo}")
        print(f"kills landed: {landed} of {args.kills}")
        print(f"duplicate sends: {duplicates}")
        print(f"letters never sent: {lost}")
    finally:
        controller.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
