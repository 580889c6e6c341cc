"""Per-letter retry with a short cap: a server outage never fails a letter, every waiting
letter shows its error and next try, and the first successful probe releases them all
(real aiosmtpd on 127.0.0.1; a hand-moved clock; ``letters list`` as a real subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from bot.app import App
from bot.letters.sender import SERVER_DOWN
from bot.pipeline.context import Source
from tests.letterhelpers import Clock, letters, letters_app
from tests.mailfactory import make_email
from tests.smtpsink import SmtpSink

REPO = Path(__file__).resolve().parents[1]
SRC = Source("durham", "durham")
LETTERS = 5


def test_a_long_outage_never_fails_a_letter_and_a_probe_releases_all(
    tmp_path: Path, smtp_server: SmtpSink
) -> None:
    clock = Clock()
    db_url = f"sqlite:///{tmp_path / 'retry.db'}"
    app: App = letters_app(db_url, tmp_path, smtp_port=smtp_server.port, clock=clock)
    smtp_server.stop()
    for i in range(LETTERS):
        raw = make_email(
            subject=f"Complaint about a missed call {i}", from_addr=f"p{i}@example.net"
        )
        app.intake.process(raw, SRC)
    sender = app.make_sender()
    assert sender.drain_once().deferred == 1
    rows = letters(app)
    assert [r.status for r in rows] == ["pending"] * LETTERS
    for row in rows:  # every waiting letter says why and when it is tried next
        assert (row.last_error or "").startswith(SERVER_DOWN)
        assert row.next_attempt_at is not None and row.next_attempt_at > clock.now

    # 30 hours of outage: tries at most 5 minutes apart, nothing ever marked failed.
    start, tries = clock.now, 0
    while clock.now - start < timedelta(hours=30):
        nxt = min(r.next_attempt_at for r in letters(app) if r.next_attempt_at is not None)
        assert nxt - clock.now <= timedelta(seconds=300)
        clock.now = nxt
        sender.drain_once()
        tries += 1
        assert {r.status for r in letters(app)} == {"pending"}
    assert tries > 300

    listed = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(_config(tmp_path, db_url, smtp_server)),
         "letters", "list"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == LETTERS
    assert all("next try" in line and SERVER_DOWN.strip() in line for line in lines)

    # The server comes back: the next probe (within 5 minutes) sends every letter at once.
    smtp_server.start()
    clock.now = min(r.next_attempt_at for r in letters(app) if r.next_attempt_at is not None)
    assert sender.drain_once().sent == LETTERS
    assert {r.status for r in letters(app)} == {"sent"}
    assert smtp_server.data_transactions == LETTERS


def _config(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Path:
    path = tmp_path / "retry.toml"
    path.write_text(
        f'[database]\nurl = "{db_url}"\n[outbound]\ntransport = "smtp"\nhost = "127.0.0.1"\n'
        f'port = {smtp.port}\ntls = "none"\n',
        encoding="utf-8",
    )
    return path


def test_letters_waiting_over_an_hour_raise_a_banner_and_a_digest_line(tmp_path: Path) -> None:
    from bot.reports.digest import build_digest, render_text, week_label
    from tests.web.conftest import COORD, build_web

    web = build_web(f"sqlite:///{tmp_path / 'web.db'}", tmp_path)
    web.ingest(subject="Complaint about a missed call", body="I want to complain formally.")
    assert {r.status for r in letters(web.app)} == {"pending"}  # nothing sends them here
    b = web.client()
    b.login(COORD)
    assert "letters-waiting" not in b.get("/").get_data(as_text=True)
    with web.app.sessions() as s:
        today = web.clock.now.date()
        d = build_digest(s, web.app.services, ["durham"], week_label(today), today, web.clock.now)
    assert "Letters waiting" not in render_text(d)

    web.clock.advance(minutes=61)
    b.login(COORD)  # an hour without a request ends a web session (web.session_idle_minutes)
    page = b.get("/").get_data(as_text=True)
    assert "letters-waiting" in page and "1 letter(s) have waited more than an hour" in page
    with web.app.sessions() as s:
        now = web.clock.now
        d = build_digest(s, web.app.services, ["durham"], week_label(now.date()), now.date(), now)
    assert "Letters waiting more than an hour to be sent: 1" in render_text(d)
    web.app.engine.dispose()


def test_the_smtp_connection_sends_small_writes_at_once(tmp_path: Path) -> None:
    """The end of DATA goes as its own small write after the body (the claim is checked in
    between); with Nagle's algorithm on, it waited for the server's delayed ACK, about 40 ms
    per letter (found by bench/cron.py: 598 letters took 32 s for 6 s of CPU). The transport
    turns it off on its socket to the real SMTP server."""
    import socket

    from bot.letters.sender import SmtpTransport
    from tests.servers import free_port

    sink = SmtpSink(free_port()).start()
    try:
        app = letters_app(f"sqlite:///{tmp_path / 'n.db'}", tmp_path, smtp_port=sink.port)
        transport = SmtpTransport(app.config.outbound)
        smtp = transport._connect()
        try:
            assert smtp.sock is not None
            assert smtp.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            smtp.quit()
    finally:
        sink.stop()
