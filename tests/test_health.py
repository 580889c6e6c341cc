"""Health and metrics through the real CLI and the real servers: ``sendiass-bot status``,
``/healthz`` and ``/metrics`` against a daemon (``python -m bot run``) that is running,
stalled (the real Dovecot stopped, so its polls fail) and killed (SIGKILL: its heartbeat
goes stale), with the web server (``python -m bot web``) in another process. Short
thresholds in the test configuration stand in for waiting; every check waits for a
state, never for a time. Also: ``--log-format json`` carries no body, subject or name, and
the access log no query string.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import WebConfig, parse_config
from bot.health import METRICS
from bot.web import create_app
from tests.apphelpers import make_config_data
from tests.mailfactory import make_email
from tests.servers import DovecotServer, ImapAccount, free_port, imap_smtp_config
from tests.smtpsink import SmtpSink

REPO = Path(__file__).resolve().parents[1]
PASSWORD_ENV = "SENDIASS_TEST_IMAP_PASSWORD"
SECRET = "test-only web key, fictional, at least thirty-two characters"
#: A fictional parent and her message: none of this may reach a log or /metrics.
NAME = "Philippa Quenby-Marsh"
ADDR = "philippa.quenby@example.net"
SUBJECT = "Thank you from Ottoline's family"
BODY = (
    "I just wanted to say a huge thank you to your adviser for all her help with my daughter "
    "Ottoline's annual review at the Zanzibar Road office. She was brilliant and we felt "
    "listened to."
)
SECRET_WORDS = (NAME, "Philippa", "Quenby", ADDR, SUBJECT, "Ottoline", "Zanzibar")


def wait_for(check: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: not reached within {timeout}s")


def write_config(tmp_path: Path, account: ImapAccount, smtp: SmtpSink) -> Path:
    (tmp_path / "web.key").write_text(SECRET, encoding="utf-8")
    path = tmp_path / "health.toml"
    path.write_text(
        imap_smtp_config(
            f"sqlite:///{tmp_path}/var/health.db",
            account,
            smtp.port,
            PASSWORD_ENV,
            f"""
[daemon]
poll_interval = 0.5
backoff_initial = 0.2
backoff_max = 1.0
[health]
# Short thresholds instead of long waits (production defaults: 15 s, 120 s, 900 s).
heartbeat_interval = 0.2
stale_after = 3
poll_stale_after = 3
[web]
cookie_secure = false
secret_key_file = "{tmp_path}/web.key"
""",
        ),
        encoding="utf-8",
    )
    return path


def env(account: ImapAccount) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k != "SENDIASS_CRASH_AT"}
    e.update({PASSWORD_ENV: account.password, "PYTHONPATH": str(REPO)})
    return e


def start(cfg: Path, account: ImapAccount, log: Path, *argv: str) -> subprocess.Popen[bytes]:
    with open(log, "wb") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(cfg), "--log-format", "json", *argv],
            env=env(account),
            cwd=REPO,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


def status(cfg: Path, account: ImapAccount) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(cfg), "status"],
        env=env(account),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of ``name`` with exactly ``labels``."""
    for line in text.splitlines():
        m = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if got == labels:
            return float(m.group(3))
    return None


def complaint(i: int) -> bytes:
    return make_email(
        from_name=NAME,
        from_addr=ADDR,
        subject=f"{SUBJECT} ({i})",
        body=BODY + f"\n\nThis is my message number {i}.\n\n{NAME}",
        date=datetime.now(UTC),  # recent: it gets its acknowledgement
    )


def json_lines(path: Path) -> list[dict[str, object]]:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return [json.loads(ln) for ln in lines]  # every line is one JSON object


def test_status_healthz_and_metrics_follow_a_running_stalled_and_killed_daemon(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    account = imap_account
    cfg = write_config(tmp_path, account, smtp_server)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web_log, daemon_log = tmp_path / "web.log", tmp_path / "daemon.log"
    web = start(cfg, account, web_log, "web", "--port", str(port))
    daemon: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: _answers(base + "/healthz"), "the web server answers")

        # Before any daemon: status says so (exit 1); the web server is healthy on its own.
        before = status(cfg, account)
        assert before.returncode == 1, before.stdout + before.stderr
        assert "mailbox durham-imap (durham): NEVER RUN" in before.stdout
        code, body = get(base + "/healthz")
        assert code == 200 and json.loads(body)["daemon"]["state"] == "not seen"

        # Running: mail is read, letters go, everything is fresh.
        daemon = start(cfg, account, daemon_log, "run")
        for i in range(3):
            account.append("INBOX", complaint(i))

        def metrics() -> str:
            code, text = get(base + "/metrics")
            assert code == 200, text
            return text

        wait_for(
            lambda: metric(metrics(), "sendiass_messages_processed_total",
                           mailbox="durham-imap", service="durham") == 3,
            "three messages counted",
        )  # fmt: skip
        wait_for(lambda: status(cfg, account).returncode == 0, "status exits 0")
        healthy = status(cfg, account).stdout
        assert "mailbox durham-imap (durham): ok" in healthy
        assert re.search(r"last successful poll: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", healthy)
        assert "backlog: 0" in healthy and "last error: none" in healthy
        assert re.search(r"outbox: pending \d+, held \d+, failed 0; oldest pending: ", healthy)

        def healthz(code_wanted: int) -> dict[str, object] | None:
            code, body = get(base + "/healthz")
            return json.loads(body) if code == code_wanted else None

        wait_for(lambda: healthz(200) is not None, "/healthz 200 while running")
        ok = healthz(200) or {}
        daemon_state = ok["daemon"]
        assert isinstance(daemon_state, dict) and daemon_state["state"] == "ok"
        assert isinstance(daemon_state["heartbeat_age_seconds"], float | int)

        def letters_gone() -> bool:
            text = metrics()
            sent = metric(text, "sendiass_letters", status="sent") or 0
            return sent >= 3 and metric(text, "sendiass_letters", status="pending") == 0

        wait_for(letters_gone, "the acknowledgements sent")
        text = metrics()
        assert text.startswith("# HELP sendiass_up ")
        assert set(re.findall(r"^# TYPE (\w+) ", text, re.M)) == set(METRICS)
        assert metric(text, "sendiass_messages_quarantined_total",
                      mailbox="durham-imap", service="durham") == 0  # fmt: skip
        assert metric(text, "sendiass_cases_overdue", service="durham") == 0
        assert metric(text, "sendiass_oldest_pending_letter_age_seconds") == 0
        assert not any(word in text for word in SECRET_WORDS)

        # Stalled: the IMAP server goes away; the daemon lives on but cannot poll.
        dovecot.stop()
        try:
            # A failed poll first shows as FAILING (exit 1); STALE once polls have failed for
            # longer than poll_stale_after. Wait for the second: the first comes and goes.
            wait_for(
                lambda: "mailbox durham-imap (durham): STALE" in status(cfg, account).stdout,
                "status says STALE when stalled",
            )
            proc = status(cfg, account)
            assert proc.returncode == 1
            stalled = proc.stdout
            assert "mailbox durham-imap (durham): STALE" in stalled, stalled
            assert re.search(r"last error: \d{4}-.*UTC .*: \w+(Error|Exception|abort)", stalled)
            assert "problem: last successful poll" in stalled
            assert "problem: no heartbeat" not in stalled  # the daemon itself is alive
            wait_for(lambda: healthz(503) is not None, "/healthz 503 when stalled")
            assert (healthz(503) or {}).get("daemon", {}) != {}
            wait_for(
                lambda: (metric(metrics(), "sendiass_poll_errors_total",
                                mailbox="durham-imap", service="durham") or 0) >= 1,
                "poll errors counted",
            )  # fmt: skip
            assert metric(metrics(), "sendiass_daemon_stale") == 1
        finally:
            dovecot.start()
        wait_for(lambda: status(cfg, account).returncode == 0, "status exits 0 again")

        # Killed: nothing beats any more.
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)

        # Each row goes stale when its own last beat is stale_after old: the sender's and the
        # mailbox's may be a beat apart, so wait until both are.
        def both_stale() -> bool:
            out = status(cfg, account).stdout
            return "sender: STALE" in out and "mailbox durham-imap (durham): STALE" in out

        wait_for(both_stale, "status says both stale when killed")
        proc = status(cfg, account)
        assert proc.returncode == 1
        killed = proc.stdout
        assert "problem: no heartbeat" in killed, killed
        wait_for(
            lambda: (
                "mailbox:durham-imap"
                in (((healthz(503) or {}).get("daemon") or {}).get("stale") or [])
            ),
            "/healthz 503 naming the mailbox when killed",
        )
        stale = (healthz(503) or {}).get("daemon")
        assert isinstance(stale, dict) and "sender:outbox" in stale["stale"]

        # Started again, then stopped cleanly: status says it stopped.
        daemon = start(cfg, account, tmp_path / "daemon2.log", "run")
        wait_for(lambda: status(cfg, account).returncode == 0, "healthy after a restart")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
        stopped = status(cfg, account)
        assert stopped.returncode == 1 and "STOPPED" in stopped.stdout
    finally:
        for proc in (daemon, web):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)

    # The daemon's JSON log: one object per line, no body, subject, name or address.
    logs = json_lines(daemon_log) + json_lines(tmp_path / "daemon2.log")
    assert any("letter" in str(line["msg"]) and "sent" in str(line["msg"]) for line in logs)
    raw = daemon_log.read_text(encoding="utf-8")
    assert not any(word in raw for word in SECRET_WORDS), raw[-2000:]
    # The web server's access log: method, path (no query string), status, duration.
    access = [x for x in json_lines(web_log) if x["logger"] == "bot.web.access"]
    assert {"method": "GET", "path": "/healthz", "status": 200} in [
        {k: x[k] for k in ("method", "path", "status")} for x in access
    ]
    assert all(isinstance(x["duration_ms"], float) for x in access)


def _answers(url: str) -> bool:
    try:
        get(url)
        return True
    except OSError:
        return False


def test_access_log_leaves_out_the_query_string(tmp_path: Path) -> None:
    """A real ``web`` process, JSON logs: a search's terms never reach the log."""
    (tmp_path / "web.key").write_text(SECRET, encoding="utf-8")
    cfg = tmp_path / "w.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/w.db"\n'
        f'[outbound]\ntransport = "maildir"\npath = "{tmp_path}/out"\n'
        f'[web]\ncookie_secure = false\nsecret_key_file = "{tmp_path}/web.key"\n',
        encoding="utf-8",
    )
    port = free_port()
    log = tmp_path / "web.log"
    e = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(cfg), "--log-format", "json",
             "web", "--port", str(port)],
            env=e, cwd=tmp_path, stdout=fh, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(base + "/healthz"), "the web server answers")
        code, _ = get(base + "/login?next=/%3Fq%3DQuenby&q=Philippa+Quenby-Marsh")
        assert code == 200
        get(base + "/no-such-page?email=philippa.quenby@example.net")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    text = log.read_text(encoding="utf-8")
    assert not any(word in text for word in SECRET_WORDS), text
    lines = [x for x in json_lines(log) if x["logger"] == "bot.web.access"]
    seen = [(x["method"], x["path"], x["status"]) for x in lines]
    assert ("GET", "/login", 200) in seen and ("GET", "/no-such-page", 404) in seen
    assert all("?" not in str(x["path"]) and "msg" in x for x in lines)


def test_json_logs_of_real_intake_carry_no_body_subject_or_name(tmp_path: Path) -> None:
    """poll-once over a Maildir (verbose, so debug lines count too) and a quarantined
    message: every line is JSON; the fictional parent appears nowhere."""
    cfg = tmp_path / "c.toml"
    mail = tmp_path / "mail"
    for sub in ("new", "cur", "tmp"):
        (mail / sub).mkdir(parents=True)
    (mail / "new" / "1.eml").write_bytes(complaint(1))
    (mail / "new" / "2.eml").write_bytes(b"\x00\x01 not an email at all " + SUBJECT.encode())
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/c.db"\n'
        f'[[mailbox]]\nname = "durham"\nservice = "durham"\nsource = "maildir"\n'
        f'path = "{mail}"\n'
        f'[outbound]\ntransport = "maildir"\npath = "{tmp_path}/out"\n',
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(cfg), "--log-format", "json", "-v",
         "poll-once"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=tmp_path, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "durham: fetched 2" in proc.stdout
    lines = [json.loads(ln) for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines and all({"ts", "level", "logger", "msg"} <= set(x) for x in lines)
    assert not any(word in proc.stderr for word in SECRET_WORDS), proc.stderr[-3000:]
    assert list((tmp_path / "out").iterdir()), "the acknowledgement was written"


def _metrics_app(tmp_path: Path, **health: object) -> object:
    from bot.app import build_app

    data = make_config_data(f"sqlite:///{tmp_path / 'm.db'}", tmp_path)
    data["health"] = health
    app = build_app(config=parse_config(data, "metrics-test"))
    flask = create_app(app, WebConfig(cookie_secure=False), secret_key=SECRET.encode())
    return flask.test_client()


def test_metrics_only_for_the_allowed_addresses_never_through_a_proxy(tmp_path: Path) -> None:
    client = _metrics_app(tmp_path)
    here = {"REMOTE_ADDR": "127.0.0.1"}
    assert client.get("/metrics", environ_base=here).status_code == 200  # type: ignore[attr-defined]
    far = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.9.8.7"})  # type: ignore[attr-defined]
    assert far.status_code == 403
    # nginx in front: remote_addr is the proxy's own; the request is refused.
    proxied = client.get(  # type: ignore[attr-defined]
        "/metrics", environ_base=here, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert proxied.status_code == 403


def test_metrics_with_a_bearer_token(tmp_path: Path) -> None:
    token = tmp_path / "metrics.token"
    token.write_text("fictional-scrape-token-0123456789\n", encoding="utf-8")
    client = _metrics_app(tmp_path, metrics_allow=[], metrics_token_file=str(token))
    far = {"REMOTE_ADDR": "10.9.8.7"}
    get = client.get  # type: ignore[attr-defined]
    assert get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 401
    wrong = get("/metrics", environ_base=far, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    good = get(
        "/metrics",
        environ_base=far,
        headers={"Authorization": "Bearer fictional-scrape-token-0123456789",
                 "X-Forwarded-For": "203.0.113.9"},
    )  # fmt: skip
    assert good.status_code == 200
    assert good.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "sendiass_cases_overdue" in good.get_data(as_text=True)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("heartbeat_interval = 5\nstale_after = 5", "health.stale_after: must be longer"),
        ('metrics_allow = ["not-an-address"]', "health.metrics_allow: expected"),
        ("poll_stale_after = 30", "health.poll_stale_after: must be longer than daemon"),
        ("stale = 3", "health.stale: unknown key"),
    ],
)
def test_health_config_errors_are_one_line_naming_the_key(
    tmp_path: Path, table: str, problem: str
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/b.db"\n'
        f'[outbound]\ntransport = "maildir"\npath = "{tmp_path}/out"\n'
        f"[daemon]\npoll_interval = 60\n[health]\n{table}\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(cfg), "status"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert problem in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_the_readme_lists_every_metric_and_every_health_key() -> None:
    from bot.config import _HEALTH

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Health and monitoring\n") :]
    section = section[: section.index("\n## ")]
    listed = set(re.findall(r"^\| `(sendiass_\w+)` \|", section, re.M))
    assert listed == set(METRICS)
    for key in _HEALTH:
        assert f"`health.{key}`" in readme or f"`health.{key}`," in readme, key
    assert "`database.auto_migrate`" in readme


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_heartbeat_rows_count_across_writers_and_read_back_as_health(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two writers of one row (two daemons' senders, or a restart) on either database: one
    row, counters that add up, and :func:`evaluate` reading ages and the stop back."""
    import threading

    from sqlalchemy import select

    from bot.health import MAILBOX, OUTBOX, SENDER, Heartbeat, evaluate
    from bot.models import Heartbeat as Row
    from tests.apphelpers import make_app

    url = (
        f"sqlite:///{tmp_path / 'hb.db'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    app = make_app(url, tmp_path)
    try:
        writers = [Heartbeat(app.sessions, MAILBOX, "durham", 0.0) for _ in range(2)]
        barrier = threading.Barrier(2)

        def work(hb: Heartbeat) -> None:
            barrier.wait()
            for _ in range(10):
                hb.success(processed=2, quarantined=1)
            hb.failure("OSError: fictional outage (during)")

        threads = [threading.Thread(target=work, args=(w,)) for w in writers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # one writer's failure may land before the other's last success: fail once more,
        # after both, so that the newest word is an error
        writers[1].failure("OSError: fictional outage")
        with app.sessions() as s:
            rows = list(s.scalars(select(Row)))
            assert [(r.kind, r.name, r.processed, r.quarantined, r.errors) for r in rows] == [
                (MAILBOX, "durham", 40, 20, 3)
            ]
            health = evaluate(s, app.config)
        box = health.mailboxes[0]
        assert box.seen and not box.stale and box.failing  # the error came after the success
        assert box.last_error == "OSError: fictional outage"
        assert "sender outbox: never run (no heartbeat yet)" in health.problems

        sender = Heartbeat(app.sessions, SENDER, OUTBOX, 0.0)
        sender.start()
        writers[0].stopped()
        with app.sessions() as s:
            health = evaluate(s, app.config)
        assert health.sender.seen and not health.sender.stale
        assert health.mailboxes[0].stopped and health.problems == [
            "mailbox durham: the daemon stopped"
        ]
    finally:
        app.engine.dispose()


def test_json_formatter_fields_redaction_and_the_admin_audit_exception() -> None:
    import logging

    from bot.logjson import JsonFormatter

    fmt = JsonFormatter()

    def line(name: str, msg: str, *args: object, **extra: object) -> dict[str, object]:
        record = logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, None)
        for key, value in extra.items():
            setattr(record, key, value)
        out = json.loads(fmt.format(record))
        assert isinstance(out, dict)
        return out

    sent = line("bot.letters.sender", "letter %d failed: recipient %s: 550", 7, ADDR)
    assert sent["msg"] == "letter 7 failed: recipient [email]: 550" and sent["level"] == "WARNING"
    assert {"ts", "logger", "thread"} <= set(sent)
    audit = line("bot.web.admin", "user:%s added %s", "ada.admin@example.org", "new@example.org")
    assert audit["msg"] == "user:ada.admin@example.org added new@example.org"
    access = line("bot.web.access", "GET /x 200 1.0 ms", method="GET", path="/x", status=200)
    assert (access["method"], access["path"], access["status"]) == ("GET", "/x", 200)
