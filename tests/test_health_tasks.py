"""Heartbeats of the daemon's scheduled threads (issue 17: a dead thread must not be
invisible): the weekly digest and the daily retention pass, as ``sendiass-bot status``,
``/healthz`` and ``/metrics`` show them. A real daemon (``python -m bot run``) and a real
cron-only ``poll-once``; a failing run and a stale heartbeat in-process, on the same
database the real ``status`` reads. Every check waits for a state, never for a time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App, build_app
from bot.config import WebConfig
from bot.health import (
    DIGEST,
    MAILBOX,
    OUTBOX,
    RETENTION,
    SENDER,
    TASK,
    Heartbeat,
    evaluate,
    metrics_text,
)
from bot.models import Heartbeat as Row
from bot.web import create_app
from tests.opshelpers import cli as run_cli
from tests.test_health import ADDR, NAME, SECRET, SECRET_WORDS, complaint, metric, wait_for

REPO = Path(__file__).resolve().parents[1]


def write_config(
    tmp_path: Path, *, digest: bool = True, retention: bool = True, stale: int = 3
) -> Path:
    """A Maildir mailbox and outbox, the digest due (Monday 00:00 has always passed this
    week) and a retention rule; short health thresholds instead of long waits."""
    mail = tmp_path / "mail"
    for sub in ("new", "cur", "tmp"):
        (mail / sub).mkdir(parents=True, exist_ok=True)
    (tmp_path / "web.key").write_text(SECRET, encoding="utf-8")
    text = (
        f'[database]\nurl = "sqlite:///{tmp_path}/t.db"\n'
        f'[[mailbox]]\nname = "durham"\nservice = "durham"\nsource = "maildir"\n'
        f'path = "{mail}"\n'
        f'[outbound]\ntransport = "maildir"\npath = "{tmp_path}/out"\n'
        "[daemon]\npoll_interval = 0.5\nbackoff_initial = 0.2\nbackoff_max = 1.0\n"
        f"[health]\nheartbeat_interval = 0.2\nstale_after = {stale}\n"
        f"poll_stale_after = {stale}\n"
        f'[web]\ncookie_secure = false\nsecret_key_file = "{tmp_path}/web.key"\n'
    )
    if digest:
        text += (
            '[digest]\nfrom_addr = "sendiass-bot@example.org"\n'
            '[[digest.recipients]]\nemail = "manager@example.org"\nday = "monday"\n'
            'time = "00:00"\n'
        )
    if retention:
        text += "[retention]\nquarantine_days = 30\n"
    path = tmp_path / "tasks.toml"
    path.write_text(text, encoding="utf-8")
    return path


def cli(cfg: Path, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_cli("--config", str(cfg), *argv, cwd=REPO, timeout=timeout)


def status_json(cfg: Path) -> tuple[int, dict[str, Any]]:
    proc = cli(cfg, "status", "--json", timeout=120)
    return proc.returncode, json.loads(proc.stdout)


def tasks_of(cfg: Path) -> dict[str, str]:
    return {t["name"]: t["state"] for t in status_json(cfg)[1]["tasks"]}


def web(app: App) -> Any:
    return create_app(app, WebConfig(cookie_secure=False), secret_key=SECRET.encode()).test_client()


def healthz(app: App) -> tuple[int, dict[str, Any]]:
    resp = web(app).get("/healthz")
    return resp.status_code, resp.get_json()


def metrics(app: App) -> str:
    with app.sessions() as s:
        return metrics_text(s, app.config, sorted(app.services))


def fresh_mailbox_and_sender(app: App) -> None:
    """What a healthy cron ``poll-once`` leaves: so that only the tasks decide the exit."""
    Heartbeat(app.sessions, MAILBOX, "durham", 0.0).success(backlog=0)
    Heartbeat(app.sessions, SENDER, OUTBOX, 0.0).start()


def test_a_running_daemon_shows_its_tasks_ok_and_stopped_after_a_clean_stop(
    tmp_path: Path,
) -> None:
    cfg = write_config(tmp_path, stale=10)
    (tmp_path / "mail" / "new" / "1.eml").write_bytes(complaint(1))
    log = tmp_path / "daemon.log"
    with open(log, "wb") as fh:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(cfg), "--log-format", "json", "run"],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            cwd=REPO,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    app = build_app(cfg)
    try:
        wait_for(lambda: cli(cfg, "status", timeout=120).returncode == 0, "status exits 0")
        proc = cli(cfg, "status", timeout=120)
        assert proc.returncode == 0, proc.stdout
        assert "task digest (weekly): ok; heartbeat " in proc.stdout, proc.stdout
        assert "task retention (daily): ok; heartbeat " in proc.stdout
        code, data = status_json(cfg)
        assert code == 0
        assert [(t["name"], t["period"], t["state"]) for t in data["tasks"]] == [
            ("digest", "weekly", "ok"),
            ("retention", "daily", "ok"),
        ]
        assert all(t["last_success"] and t["last_error_at"] is None for t in data["tasks"])

        # The threads sleep until their next run (30 s, a day) and still beat: their
        # heartbeats move on while they sleep.
        def beat_at(name: str) -> datetime:
            with app.sessions() as s:
                row = s.scalars(select(Row).where(Row.kind == TASK, Row.name == name)).one()
                return row.beat_at

        first = {n: beat_at(n) for n in (DIGEST, RETENTION)}
        wait_for(lambda: all(beat_at(n) > first[n] for n in first), "the tasks beat while asleep")
        code, body = healthz(app)
        assert code == 200, body
        assert body["tasks"] == {"digest": "ok", "retention": "ok"}
        text = metrics(app)
        for name in (DIGEST, RETENTION):
            assert metric(text, "sendiass_task_last_run_failed", task=name) == 0
            assert metric(text, "sendiass_task_errors_total", task=name) == 0
            age = metric(text, "sendiass_task_last_success_age_seconds", task=name)
            assert age is not None and age >= 0
            assert metric(text, "sendiass_daemon_heartbeat_age_seconds", component=f"task:{name}")
        assert metric(text, "sendiass_daemon_stale") == 0
        assert list((tmp_path / "out").iterdir()), "the digest (and acknowledgement) went"

        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
        stopped = cli(cfg, "status", timeout=120)
        assert stopped.returncode == 1
        assert "task digest (weekly): STOPPED" in stopped.stdout
        assert "task retention (daily): STOPPED" in stopped.stdout
        assert healthz(app)[1]["tasks"] == {"digest": "stopped", "retention": "stopped"}
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
        app.engine.dispose()
    assert "Traceback" not in log.read_text(encoding="utf-8")


def test_a_failing_retention_run_shows_failed_with_its_kind_never_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's retention thread (bot.ops.retention.daily) whose run raises an error
    whose text names a parent: FAILED, exit 1, the metric set, the kind only anywhere."""
    import bot.ops.retention as retention

    cfg = write_config(tmp_path, digest=False, stale=60)
    app = build_app(cfg)
    fresh_mailbox_and_sender(app)
    calls: list[int] = []

    def boom(*args: object, progress: Callable[[], None] | None = None, **kw: object) -> None:
        calls.append(1)
        if progress is not None:
            progress()
        raise RuntimeError(f"could not anonymise the case of {NAME} <{ADDR}>")

    monkeypatch.setattr(retention, "run_retention", boom)
    stop = threading.Event()
    thread = threading.Thread(target=retention.daily, args=(app, stop, 0.3), daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(calls) >= 2, "retention ran (and failed) twice")
        proc = cli(cfg, "status", timeout=120)
        assert proc.returncode == 1, proc.stdout
        assert "task retention (daily): FAILED; heartbeat " in proc.stdout, proc.stdout
        assert "last error " in proc.stdout and "(RuntimeError)" in proc.stdout
        assert "problem: last run failed (RuntimeError)" in proc.stdout
        assert "mailbox durham (durham): ok" in proc.stdout  # only the task is wrong
        code, data = status_json(cfg)
        assert code == 1
        (task,) = data["tasks"]
        assert (task["name"], task["state"], task["last_error_kind"]) == (
            "retention",
            "failed",
            "RuntimeError",
        )
        assert task["errors"] >= 2 and task["last_error_at"]
        hz_code, body = healthz(app)
        assert hz_code == 503 and body["tasks"] == {"retention": "failed"}
        assert "task:retention" in body["daemon"]["stale"]
        text = metrics(app)
        assert metric(text, "sendiass_task_last_run_failed", task="retention") == 1
        assert (metric(text, "sendiass_task_errors_total", task="retention") or 0) >= 2
        assert metric(text, "sendiass_task_last_success_age_seconds", task="retention") is None
        assert metric(text, "sendiass_daemon_stale") == 1
        everything = proc.stdout + proc.stderr + json.dumps(data) + json.dumps(body) + text
        assert not any(word in everything for word in SECRET_WORDS), everything
        with app.sessions() as s:
            row = s.scalars(select(Row).where(Row.kind == TASK)).one()
            assert row.last_error == "RuntimeError"
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    # A run that succeeds again clears FAILED.
    monkeypatch.undo()
    stop = threading.Event()
    thread = threading.Thread(target=retention.daily, args=(app, stop, 3600.0), daemon=True)
    thread.start()
    try:
        wait_for(lambda: tasks_of(cfg) == {"retention": "ok"}, "ok after a good run")
        fresh_mailbox_and_sender(app)  # the rows of the start went stale meanwhile
        assert cli(cfg, "status", timeout=120).returncode == 0
    finally:
        stop.set()
        thread.join(timeout=30)
        app.engine.dispose()


def test_a_stale_task_heartbeat_shows_stale(tmp_path: Path) -> None:
    """A digest thread whose last beat is older than stale_after (dead, or stuck)."""
    cfg = write_config(tmp_path, retention=False, stale=60)
    app = build_app(cfg)
    try:
        fresh_mailbox_and_sender(app)
        past = datetime.now(UTC) - timedelta(minutes=10)
        hb = Heartbeat(app.sessions, TASK, DIGEST, 0.2, clock=lambda: past)
        hb.start()
        hb.success()
        proc = cli(cfg, "status", timeout=120)
        assert proc.returncode == 1
        assert "task digest (weekly): STALE; heartbeat 10 min ago" in proc.stdout, proc.stdout
        assert "problem: no heartbeat for" in proc.stdout
        code, body = healthz(app)
        assert code == 503 and body["tasks"] == {"digest": "stale"}
        # Frozen time: the same row read a second after it was written is fresh.
        with app.sessions() as s:
            health = evaluate(s, app.config, now=past + timedelta(seconds=1))
        (task,) = health.tasks
        assert task.state == "ok" and not task.problems
        text = metrics(app)
        age = metric(text, "sendiass_task_last_success_age_seconds", task="digest")
        assert age is not None and age >= 600
        assert metric(text, "sendiass_task_last_run_failed", task="digest") == 0
    finally:
        app.engine.dispose()


def test_cron_only_lists_the_tasks_as_not_run_yet_and_exits_0(tmp_path: Path) -> None:
    """``poll-once`` from cron never starts the daemon's threads: no problem. (Thresholds
    above the test's length, as a cron setup sets them above the cron interval.)"""
    cfg = write_config(tmp_path, stale=600)
    (tmp_path / "mail" / "new" / "1.eml").write_bytes(complaint(1))
    once = cli(cfg, "poll-once")
    assert once.returncode == 0, once.stderr[-2000:]
    proc = cli(cfg, "status", timeout=120)
    assert proc.returncode == 0, proc.stdout
    assert "task digest (weekly): not run yet" in proc.stdout
    assert "task retention (daily): not run yet" in proc.stdout
    assert "status: OK" in proc.stdout
    code, data = status_json(cfg)
    assert code == 0 and {t["name"]: t["state"] for t in data["tasks"]} == {
        "digest": "not run yet",
        "retention": "not run yet",
    }
    app = build_app(cfg)
    try:
        hz_code, body = healthz(app)
        assert hz_code == 200 and body["tasks"] == {
            "digest": "not run yet",
            "retention": "not run yet",
        }
        text = metrics(app)
        assert metric(text, "sendiass_task_last_run_failed", task="digest") == 0
        assert metric(text, "sendiass_task_errors_total", task="retention") == 0
        assert metric(text, "sendiass_task_last_success_age_seconds", task="digest") is None
    finally:
        app.engine.dispose()
    # Not configured: not listed.
    bare = write_config(tmp_path / "bare", digest=False, retention=False, stale=600)
    assert cli(bare, "poll-once").returncode == 0
    plain = cli(bare, "status", timeout=120)
    assert plain.returncode == 0 and "task " not in plain.stdout
    assert status_json(bare)[1]["tasks"] == []


def test_a_failed_digest_send_is_failed_until_it_goes(tmp_path: Path) -> None:
    """The digest thread's tick: a send refused by the server is a failed run (its kind
    only), and stays one while the digest waits for its retry; sent, it is ok."""
    from bot.reports.schedule import DigestScheduler

    cfg = write_config(tmp_path, retention=False, stale=60)
    app = build_app(cfg)

    class Flaky:
        def __init__(self) -> None:
            self.down = True
            self.sent: list[str] = []

        def send(self, msg: Any, from_addr: str, to: list[str]) -> None:
            if self.down:
                raise ConnectionRefusedError(f"refused for {to[0]}")
            self.sent.extend(to)

        def close(self) -> None:
            pass

    now = [datetime.now(UTC)]
    flaky = Flaky()
    sched = DigestScheduler(app.sessions, app.services, app.config.digest, flaky, lambda: now[0])
    sched.heartbeat = Heartbeat(app.sessions, TASK, DIGEST, 0.0, clock=lambda: now[0])

    def task() -> Any:
        with app.sessions() as s:
            return evaluate(s, app.config, now=now[0]).tasks[0]

    try:
        sched.tick()
        t = task()
        assert (t.state, t.last_error, t.errors) == ("FAILED", "ConnectionRefusedError", 1)
        now[0] += timedelta(seconds=30)  # within the retry wait: nothing sent, still failed
        sched.tick()
        assert task().state == "FAILED"
        flaky.down = False
        now[0] += timedelta(minutes=10)
        sched.tick()
        t = task()
        assert flaky.sent == ["manager@example.org"]
        assert t.state == "ok" and t.errors == 1 and not t.problems
    finally:
        app.engine.dispose()


def test_the_sender_beats_while_idle(tmp_path: Path) -> None:
    """An idle sender (nothing to send, nothing wakes it, a long idle_wait) keeps its
    heartbeat fresh."""
    cfg = write_config(tmp_path, digest=False, retention=False, stale=60)
    app = build_app(cfg)
    sender = app.make_sender()
    sender.idle_wait = 3600.0
    sender.heartbeat = Heartbeat(app.sessions, SENDER, OUTBOX, 0.1)
    stop = threading.Event()
    thread = threading.Thread(target=sender.run, args=(stop,), daemon=True)

    def beat_at() -> datetime | None:
        with app.sessions() as s:
            row = s.scalars(select(Row).where(Row.kind == SENDER)).one_or_none()
            return None if row is None else row.beat_at

    thread.start()
    try:
        wait_for(lambda: beat_at() is not None, "the sender's row")
        first = beat_at()
        assert first is not None
        wait_for(lambda: (beat_at() or first) > first, "a beat while idle", timeout=30)
    finally:
        stop.set()
        sender.wake.set()
        thread.join(timeout=30)
        app.engine.dispose()
    assert not thread.is_alive()
