"""``sendiass-bot status``: the daemon's heartbeats (mailboxes, the sender, the scheduled
tasks the configuration runs) and the outbox, read from the database (so it works from any
process or host that reaches the database). Exit 1 when anything is stale, stopped or a
task's last run failed (thresholds: ``[health]``, see bot/health.py and the README)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.health import Component, Health


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "status",
        help="health of the daemon (per mailbox, the sender, scheduled tasks) and the outbox; "
        "exit 1 if stale",
        description="Per mailbox: last successful poll, backlog, last error; the sender's "
        "heartbeat; the digest and retention threads (when configured): heartbeat, last "
        "success, last error's time and kind; the outbox's pending, held and failed letters "
        "and the oldest pending age. Exit 1 when anything is stale or a task's last run "
        "failed (thresholds in [health]), 0 otherwise.",
    )
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    p.set_defaults(func=cmd_status)


def _when(at: datetime | None, age: float | None) -> str:
    if at is None or age is None:
        return "never"
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({_ago(age)})"


def _ago(age: float | None) -> str:
    if age is None:
        return "never"
    if age < 120:
        return f"{age:.0f} s ago"
    if age < 7200:
        return f"{age / 60:.0f} min ago"
    return f"{age / 3600:.1f} h ago"


def _state(c: Component) -> str:
    if not c.seen:
        return "NEVER RUN"
    if c.stopped:
        return "STOPPED"
    if c.stale:
        return "STALE"
    return "FAILING" if c.failing else "ok"


def _text(health: Health, services: dict[str, str]) -> list[str]:
    lines = []
    for c in health.mailboxes:
        lines.append(f"mailbox {c.name} ({services.get(c.name, '?')}): {_state(c)}")
        lines.append(f"  last successful poll: {_when(c.ok_at, c.ok_age)}")
        lines.append(f"  heartbeat: {_ago(c.beat_age)}")
        lines.append(f"  backlog: {'unknown' if c.backlog is None else c.backlog}")
        if c.last_error and c.error_at is not None:
            age = (health.now - c.error_at).total_seconds()
            lines.append(f"  last error: {_when(c.error_at, age)}: {c.last_error}")
        else:
            lines.append("  last error: none")
        lines.extend(f"  problem: {p}" for p in c.problems)
    s = health.sender
    lines.append(f"sender: {_state(s)}; heartbeat {_ago(s.beat_age)}; "
                 f"last pass {_ago(s.ok_age)}")  # fmt: skip
    if s.failing and s.last_error:
        lines.append(f"  last error: {s.last_error}")
    lines.extend(f"  problem: {p}" for p in s.problems)
    for t in health.tasks:
        lines.extend(_task_lines(t, health))
    o = health.outbox
    oldest = (
        "none" if o.oldest_pending_age is None else _ago(o.oldest_pending_age).replace(" ago", "")
    )
    lines.append(
        f"outbox: pending {o.pending}, held {o.held}, failed {o.failed}; oldest pending: {oldest}"
    )
    lines.extend(f"  problem: {p}" for p in o.problems)
    problems = health.problems
    lines.append("status: OK" if not problems else f"status: STALE ({len(problems)} problem(s))")
    return lines


def _task_lines(t: Component, health: Health) -> list[str]:
    head = f"task {t.name} ({t.period}): {t.state}"
    if not t.seen:
        return [head]
    line = f"{head}; heartbeat {_ago(t.beat_age)}; last success {_ago(t.ok_age)}"
    if t.error_at is not None:
        age = (health.now - t.error_at).total_seconds()
        line += f"; last error {_ago(age)} ({t.last_error or 'error'})"
    return [line, *(f"  problem: {p}" for p in t.problems)]


def _json(health: Health, services: dict[str, str]) -> dict[str, Any]:
    def comp(c: Component) -> dict[str, Any]:
        return {
            "name": c.name,
            "state": _state(c).lower(),
            "heartbeat_age_seconds": c.beat_age,
            "last_success": c.ok_at.isoformat() if c.ok_at else None,
            "last_success_age_seconds": c.ok_age,
            "last_error": c.last_error,
            "last_error_at": c.error_at.isoformat() if c.error_at else None,
            "backlog": c.backlog,
            "problems": c.problems,
        }

    o = health.outbox
    return {
        "status": "stale" if health.stale else "ok",
        "mailboxes": [{**comp(c), "service": services.get(c.name)} for c in health.mailboxes],
        "sender": comp(health.sender),
        "outbox": {
            "pending": o.pending,
            "held": o.held,
            "failed": o.failed,
            "oldest_pending_age_seconds": o.oldest_pending_age,
            "problems": o.problems,
        },
        "tasks": [
            {
                "name": t.name,
                "period": t.period,
                "state": t.state.lower(),
                "heartbeat_age_seconds": t.beat_age,
                "last_success": t.ok_at.isoformat() if t.ok_at else None,
                "last_success_age_seconds": t.ok_age,
                "last_error_at": t.error_at.isoformat() if t.error_at else None,
                "last_error_kind": t.last_error if t.error_at else None,
                "errors": t.errors,
                "problems": t.problems,
            }
            for t in health.tasks
        ],
        "problems": health.problems,
    }


def cmd_status(args: argparse.Namespace) -> int:
    from bot.app import build_app
    from bot.health import evaluate

    app = build_app(args.config)
    with app.sessions() as s:
        health = evaluate(s, app.config)
    services = {m.name: m.service for m in app.config.mailboxes}
    if args.json:
        print(json.dumps(_json(health, services), indent=2))
    else:
        print("\n".join(_text(health, services)))
    return 1 if health.stale else 0
