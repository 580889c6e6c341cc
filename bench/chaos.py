"""Chaos harness: many messages, SIGKILLs, IMAP restarts, an SMTP outage, re-deliveries.

    .venv/bin/python bench/chaos.py [--messages 1000] [--kills 20] [--db sqlite|postgresql]
                                    [--daemons 1] [--seed 7] [--json]

Starts a throwaway Dovecot, an SMTP sink (aiosmtpd) and, for ``--db postgresql``, a
PostgreSQL cluster (tests/servers.py), all on 127.0.0.1, and ``--daemons`` real daemon
processes (``python -m tests.letterhelpers``: the daemon with the keyword classifier). It
appends ``--messages`` mixed messages (complaints, compliments, enquiries from people,
automated notices from machines, and re-deliveries of earlier messages) while it SIGKILLs a
random daemon ``--kills`` times (restarting it at once), restarts Dovecot twice and takes
the SMTP server away for a while. Then it waits for everything to settle and prints:

    logged once, duplicates, lost, quarantined, letters expected, sent once,
    duplicate sends, to machines, pending at end (and: letters never sent, messages left
    unmarked in the INBOX, seconds)

A benchmark, not a test (tests/test_chaos.py runs a small one and checks the zeros).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, select  # noqa: E402
from sqlalchemy.exc import DBAPIError  # noqa: E402

from bot.models import Message, OutboxLetter, QuarantineItem  # noqa: E402
from tests.mailfactory import make_email  # noqa: E402
from tests.servers import DovecotServer, PostgresServer, free_port  # noqa: E402
from tests.smtpsink import SmtpSink  # noqa: E402

PASSWORD_ENV = "SENDIASS_CHAOS_IMAP_PASSWORD"
MACHINE = "noreply@notices.example.com"
SETTLE_TIMEOUT = 600.0


def make_messages(n: int, rng: random.Random) -> list[bytes]:
    """``n`` messages to append: originals, some of them appended again (re-deliveries)."""
    originals: list[bytes] = []
    out: list[bytes] = []
    while len(out) < n:
        i = len(out)
        roll = rng.random()
        if originals and roll < 0.08:
            out.append(rng.choice(originals))  # the same bytes delivered again
            continue
        if roll < 0.45:
            raw = make_email(
                subject=f"Complaint about the cancelled review {i}",
                body="I want to make a formal complaint: the annual review was cancelled again.",
                from_addr=f"parent{i}@example.net",
                from_name=f"Parent {i}",
            )
        elif roll < 0.60:
            raw = make_email(
                subject=f"Thank you {i}",
                body="Thank you so much for your help at the tribunal, it made a difference.",
                from_addr=f"carer{i}@example.net",
                from_name=f"Carer {i}",
            )
        elif roll < 0.80:
            raw = make_email(
                subject=f"A question {i}",
                from_addr=f"asker{i}@example.net",
                from_name=f"Asker {i}",
            )
        else:
            raw = make_email(
                subject=f"Delivery notification {i}",
                body="This is an automated notice. Do not reply.",
                from_addr=MACHINE,
                from_name="Notices",
                headers={"Auto-Submitted": "auto-generated", "Precedence": "bulk"},
            )
        originals.append(raw)
        out.append(raw)
    return out


def write_config(path: Path, db_url: str, imap: DovecotServer, user: str, smtp: int) -> None:
    path.write_text(
        f"""
[database]
url = "{db_url}"
[[mailbox]]
name = "durham-imap"
service = "durham"
source = "imap"
host = "127.0.0.1"
port = {imap.port}
tls = "none"
username = "{user}"
password_env = "{PASSWORD_ENV}"
[outbound]
transport = "smtp"
host = "127.0.0.1"
port = {smtp}
tls = "none"
resend_after = 2
retry_max = 2
[letters]
# The harness tests crash safety, not flood control: lift the per-service caps.
max_per_hour = 1000000
max_per_domain_per_day = 1000000
[daemon]
poll_interval = 0.5
backoff_initial = 0.2
backoff_max = 2
""",
        encoding="utf-8",
    )


class Daemons:
    def __init__(self, config: Path, password: str, count: int, logdir: Path) -> None:
        self.config = config
        self.env = {k: v for k, v in os.environ.items() if k != "SENDIASS_CRASH_AT"}
        self.env.update({PASSWORD_ENV: password, "PYTHONPATH": str(REPO)})
        self.logdir = logdir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started = 0
        for _ in range(count):
            self.procs.append(self._start())

    def _start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        with open(self.logdir / f"daemon{self.started}.log", "wb") as fh:
            return subprocess.Popen(
                [sys.executable, "-m", "tests.letterhelpers", str(self.config)],
                env=self.env,
                cwd=REPO,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )

    def kill_one(self, rng: random.Random) -> None:
        i = rng.randrange(len(self.procs))
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()
        self.procs[i] = self._start()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--daemons", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    messages = make_messages(args.messages, rng)
    dovecot = DovecotServer().start()
    postgres: PostgresServer | None = None
    smtp = SmtpSink(free_port()).start()
    daemons: Daemons | None = None
    try:
        account = dovecot.add_user()
        if args.db == "postgresql":
            postgres = PostgresServer().start()
            db_url = postgres.create_database()
        else:
            db_url = f"sqlite:///{work / 'chaos.db'}"
        config = work / "chaos.toml"
        write_config(config, db_url, dovecot, account.user, smtp.port)
        daemons = Daemons(config, account.password, args.daemons, work)
        started = time.monotonic()

        # Events spread over the feeding: kills, two IMAP restarts, one SMTP outage.
        n = len(messages)
        kill_at = sorted(rng.sample(range(1, n), min(args.kills, n - 1)))
        restart_at = {n // 3, 2 * n // 3}
        outage = (n // 2, n // 2 + max(n // 10, 1))
        for i, raw in enumerate(messages):
            while True:
                try:
                    account.append("INBOX", raw)
                    break
                except Exception:
                    time.sleep(0.2)  # Dovecot is restarting
            if i in restart_at:
                dovecot.restart()
            if i == outage[0]:
                smtp.stop()
            if i == outage[1]:
                smtp.start()
            while kill_at and kill_at[0] <= i:
                kill_at.pop(0)
                daemons.kill_one(rng)
            time.sleep(0.01)
        if not smtp.running:
            smtp.start()

        engine = create_engine(db_url)
        originals = {_message_id(raw) for raw in messages}
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                with engine.connect() as c:
                    logged = set(c.execute(select(Message.message_id)).scalars())
                    quarantined = c.execute(select(QuarantineItem.id)).all()
                    open_letters = c.execute(
                        select(OutboxLetter.id).where(
                            OutboxLetter.status.in_(("pending", "sending"))
                        )
                    ).all()
            except DBAPIError:
                continue  # the schema is not there yet
            if len(logged) + len(quarantined) >= len(originals) and not open_letters:
                break
        elapsed = time.monotonic() - started
        daemons.stop()
        daemons = None
        table = summarise(engine, originals, smtp)
        table["left unmarked"] = len(account.uids("INBOX", ["UNKEYWORD", "$SendiassLogged"]))
        table["seconds"] = round(elapsed, 1)
        engine.dispose()
    finally:
        if daemons is not None:
            daemons.stop()
        smtp.stop()
        dovecot.close()
        if postgres is not None:
            postgres.close()
    if args.json:
        print(json.dumps(table))
    else:
        print(f"chaos: {args.messages} messages, {args.kills} kills, {args.db}, "
              f"{args.daemons} daemon(s)")  # fmt: skip
        for key, value in table.items():
            print(f"  {key:<18} {value}")
    return 0


def _message_id(raw: bytes) -> str:
    import email
    import email.policy

    return str(email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"])


def summarise(engine: object, originals: set[str], smtp: SmtpSink) -> dict[str, object]:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    with engine.connect() as c:
        logged = Counter(c.execute(select(Message.message_id)).scalars())
        quarantined = len(c.execute(select(QuarantineItem.id)).all())
        rows = c.execute(select(OutboxLetter.message_id, OutboxLetter.status)).all()
    expected = {mid for mid, status in rows if status not in ("held", "discarded")}
    copies = Counter(r.message_id for r in smtp.messages())
    return {
        "logged once": sum(1 for m in originals if logged.get(m) == 1),
        "duplicates": sum(n - 1 for n in logged.values() if n > 1),
        "lost": sum(1 for m in originals if m not in logged) - quarantined,
        "quarantined": quarantined,
        "letters expected": len(expected),
        "sent once": sum(1 for m in expected if copies.get(m) == 1),
        "duplicate sends": sum(n - 1 for n in copies.values() if n > 1),
        "to machines": sum(1 for r in smtp.messages() if MACHINE in r.rcpt_tos),
        "pending at end": sum(1 for _m, s in rows if s in ("pending", "sending")),
        "never sent": sum(1 for m in expected if m not in copies),
    }


if __name__ == "__main__":
    sys.exit(main())
