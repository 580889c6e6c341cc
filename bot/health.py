"""Health and metrics: the daemon's heartbeats, and what ``status``, ``/healthz`` and
``/metrics`` make of them.

Each mailbox worker, the outbox sender and the daemon's scheduled tasks (the weekly digest,
the daily retention pass: :data:`TASKS`) keep a :class:`Heartbeat`: a row in
``heartbeats`` (one per mailbox, one for the sender, one per task) that says the thread is alive
(``beat_at``, written at most every ``health.heartbeat_interval`` seconds), when it last
did its work (``ok_at``: a successful poll or IDLE check; a pass over the outbox), the last
error, the mailbox's backlog, and counters that only grow. It lives in the database so that
other processes (``sendiass-bot status``, the web server) can read it.

:func:`evaluate` turns the rows, the outbox and the configuration into a :class:`Health`.
A mailbox or the sender is *stale* when its heartbeat is older than ``health.stale_after``
(the daemon or the thread is dead or stuck), when the daemon stopped, or when it has never
run; a mailbox also when it has not been polled successfully for
``health.poll_stale_after``; the outbox when its oldest pending letter is older than
``health.outbox_stale_after``. A task (listed only when the configuration runs it) is stale
when its heartbeat is older than ``health.stale_after`` or the daemon stopped, *failed* when
its last run failed; one that has never written a row has "not run yet", which is no problem
(a cron-only setup never starts the daemon's threads). A task's row keeps only the error's
*kind* (the exception's class name), never its text. Nothing here returns personal data:
counts, ages, mailbox and service names, and (for ``status`` only, never on the web) the
last error's text of a mailbox or the sender.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config
from bot.models import Case, CaseEvent, OutboxLetter
from bot.models import Heartbeat as HeartbeatRow

log = logging.getLogger(__name__)

MAILBOX = "mailbox"
SENDER = "sender"
#: The sender's row: one for every daemon sharing the outbox (any live sender drains it).
OUTBOX = "outbox"
#: The daemon's scheduled threads (one row each, kind ``task``) and how often each does its
#: work. Their rows hold an error's kind only (:func:`error_kind`), never its text.
TASK = "task"
DIGEST = "digest"
RETENTION = "retention"
TASKS = {DIGEST: "weekly", RETENTION: "daily"}
ERROR_CHARS = 500
#: Case events that are not an action on the case (looking at it is not acting on it).
PASSIVE_EVENTS = ("viewed", "access_denied", "file_downloaded")
COUNTERS = ("processed", "quarantined", "errors")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def error_kind(exc: BaseException) -> str:
    """What a task's heartbeat keeps of an error: the exception's class name, which carries
    no message body, name or address (the text might)."""
    return type(exc).__name__[:ERROR_CHARS]


def holder_id() -> str:
    return f"{socket.gethostname()}|{os.getpid()}"[:200]


# ------------------------------------------------------------------------------ writing


class Heartbeat:
    """One thread's heartbeat row. Thread-safe; a failed write is logged, never raised
    (a database that is away must not stop a mailbox thread: the row goes stale)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        kind: str,
        name: str,
        interval: float,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.sessions = sessions
        self.kind = kind
        self.name = name
        self.interval = interval
        self.clock = clock
        self.holder = holder_id()
        self._lock = threading.Lock()
        self._last_write = float("-inf")

    def _write(self, values: dict[str, Any], add: Mapping[str, int]) -> None:
        H = HeartbeatRow
        now = self.clock()
        values = {"beat_at": now, "holder": self.holder, "stopped_at": None, **values}
        changes = {**values, **{k: getattr(H, k) + n for k, n in add.items()}}
        where = and_(H.kind == self.kind, H.name == self.name)
        opts = {"synchronize_session": False}
        try:
            with self.sessions.begin() as s:
                done = s.execute(update(H).where(where).values(**changes).execution_options(**opts))
                if not getattr(done, "rowcount", 0):
                    counts = {k: add.get(k, 0) for k in COUNTERS}
                    start = {"started_at": now, **values}
                    s.add(HeartbeatRow(kind=self.kind, name=self.name, **start, **counts))
        except IntegrityError:  # another process inserted it first: update that row
            with self.sessions.begin() as s:
                s.execute(update(H).where(where).values(**changes).execution_options(**opts))
        self._last_write = time.monotonic()

    def _safe(self, values: dict[str, Any], add: Mapping[str, int] | None = None) -> None:
        with self._lock:
            try:
                self._write(values, add or {})
            except Exception as exc:  # the database is away: the row goes stale, as it should
                log.warning("heartbeat %s %s: %s", self.kind, self.name, type(exc).__name__)

    def start(self) -> None:
        """The thread (re)starts: ``started_at``, alive now."""
        self._safe({"started_at": self.clock()})

    def beat(self, ok: bool = False) -> None:
        """Alive (with ``ok``: and working), written at most every ``interval`` seconds."""
        if time.monotonic() - self._last_write < self.interval:
            return
        self._safe({"ok_at": self.clock()} if ok else {})

    def success(self, processed: int = 0, quarantined: int = 0, backlog: int | None = None) -> None:
        """A successful poll, batch or pass: always written (counters must not be lost)."""
        values: dict[str, Any] = {"ok_at": self.clock()}
        if backlog is not None:
            values["backlog"] = backlog
        add = {"processed": processed, "quarantined": quarantined}
        self._safe(values, {k: n for k, n in add.items() if n})

    def failure(self, error: str) -> None:
        """A failed poll or pass (counted: ``sendiass_poll_errors_total``)."""
        self._safe({"error_at": self.clock(), "last_error": error[:ERROR_CHARS]}, {"errors": 1})

    def pause(
        self, stop: threading.Event, seconds: float, wake: threading.Event | None = None
    ) -> bool:
        """Wait ``seconds``, or until ``stop`` (or ``wake``) is set, in steps of half the
        interval, beating on the way: a thread asleep until its next run is alive. True when
        stopped."""
        deadline = time.monotonic() + seconds
        step = max(self.interval / 2, 0.05)
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if (wake or stop).wait(min(left, step)):
                return stop.is_set()
            self.beat()
        return True

    def stopped(self) -> None:
        """A clean stop; ``status`` says so (and counts it as stale: nothing reads mail)."""
        H = HeartbeatRow
        with self._lock:
            try:
                with self.sessions.begin() as s:
                    s.execute(
                        update(H)
                        .where(H.kind == self.kind, H.name == self.name, H.holder == self.holder)
                        .values(stopped_at=self.clock())
                        .execution_options(synchronize_session=False)
                    )
            except Exception as exc:
                log.warning("heartbeat %s %s: %s", self.kind, self.name, type(exc).__name__)


# ----------------------------------------------------------------------------- reading


@dataclass
class Component:
    """A mailbox or the sender, as its heartbeat row shows it at ``now``."""

    kind: str
    name: str
    seen: bool = False
    beat_age: float | None = None  # seconds since the last heartbeat
    started_age: float | None = None
    ok_age: float | None = None  # seconds since the last successful poll or pass
    ok_at: datetime | None = None
    error_at: datetime | None = None
    last_error: str | None = None
    stopped: bool = False
    backlog: int | None = None
    processed: int = 0
    quarantined: int = 0
    errors: int = 0
    problems: list[str] = field(default_factory=list)
    #: A task's: how often it does its work ("weekly", "daily"); None for the others.
    period: str | None = None
    #: Its heartbeat is older than ``health.stale_after``.
    beat_stale: bool = False

    @property
    def stale(self) -> bool:
        return bool(self.problems)

    @property
    def state(self) -> str:
        """A task's state: ``ok``, ``STALE``, ``FAILED``, ``STOPPED`` or ``not run yet``."""
        if not self.seen:
            return "not run yet"
        if self.stopped:
            return "STOPPED"
        if self.beat_stale:
            return "STALE"
        return "FAILED" if self.failing else "ok"

    @property
    def failing(self) -> bool:
        """The last error is newer than the last success."""
        return self.error_at is not None and (self.ok_at is None or self.error_at > self.ok_at)


@dataclass
class Outbox:
    pending: int = 0
    held: int = 0
    failed: int = 0
    sent: int = 0
    oldest_pending_age: float | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class Health:
    now: datetime
    mailboxes: list[Component]
    sender: Component
    outbox: Outbox
    #: The scheduled tasks the configuration runs (:func:`enabled_tasks`), in that order.
    tasks: list[Component] = field(default_factory=list)

    @property
    def components(self) -> list[Component]:
        return [*self.mailboxes, self.sender, *self.tasks]

    @property
    def problems(self) -> list[str]:
        out = [f"{c.kind} {c.name}: {p}" for c in self.components for p in c.problems]
        return out + [f"outbox: {p}" for p in self.outbox.problems]

    @property
    def stale(self) -> bool:
        return bool(self.problems)

    @property
    def daemon_seen(self) -> bool:
        return any(c.seen for c in self.components)

    @property
    def heartbeat_age(self) -> float | None:
        """The oldest heartbeat among the daemon's threads that have written one."""
        ages = [c.beat_age for c in self.components if c.beat_age is not None]
        return max(ages) if ages else None


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


def _component(kind: str, name: str, row: HeartbeatRow | None, now: datetime) -> Component:
    if row is None:
        return Component(kind, name, problems=["never run (no heartbeat yet)"])
    c = Component(
        kind,
        name,
        seen=True,
        beat_age=_age(now, row.beat_at),
        started_age=_age(now, row.started_at),
        ok_age=_age(now, row.ok_at),
        ok_at=row.ok_at,
        error_at=row.error_at,
        last_error=row.last_error,
        stopped=row.stopped_at is not None,
        backlog=row.backlog,
        processed=row.processed,
        quarantined=row.quarantined,
        errors=row.errors,
    )
    return c


def _judge(c: Component, cfg: Config) -> None:
    h = cfg.health
    if not c.seen:
        return
    if c.stopped:
        c.problems.append("the daemon stopped")
        return
    assert c.beat_age is not None
    if c.beat_age > h.stale_after:
        c.beat_stale = True
        c.problems.append(f"no heartbeat for {c.beat_age:.0f} s (stale after {h.stale_after:g} s)")
    if c.kind == TASK and c.failing:
        c.problems.append(f"last run failed ({c.last_error or 'error'})")
    if c.kind == MAILBOX:
        limit = f"(stale after {h.poll_stale_after:g} s)"
        if c.ok_age is not None and c.ok_age > h.poll_stale_after:
            c.problems.append(f"last successful poll {c.ok_age:.0f} s ago {limit}")
        elif c.ok_age is None and (c.started_age or 0.0) > h.poll_stale_after:
            c.problems.append(
                f"no successful poll since it started {c.started_age:.0f} s ago {limit}"
            )


def enabled_tasks(cfg: Config) -> list[str]:
    """The scheduled tasks the daemon runs under this configuration: the digest when it has
    recipients, retention when a rule is configured and ``retention.daemon`` is on."""
    out = []
    if cfg.digest.recipients:
        out.append(DIGEST)
    if cfg.retention.enabled and cfg.retention.daemon:
        out.append(RETENTION)
    return out


def _task(name: str, row: HeartbeatRow | None, now: datetime) -> Component:
    if row is None:  # not run yet: a cron-only setup never starts the thread; no problem
        return Component(TASK, name, period=TASKS[name])
    c = _component(TASK, name, row, now)
    c.period = TASKS[name]
    return c


def evaluate(s: Session, cfg: Config, now: datetime | None = None) -> Health:
    """The health of the daemon and the outbox, for ``status`` and ``/healthz``."""
    now = now or _utcnow()
    rows = {(r.kind, r.name): r for r in s.scalars(select(HeartbeatRow))}
    mailboxes = [_component(MAILBOX, m.name, rows.get((MAILBOX, m.name)), now)
                 for m in cfg.mailboxes]  # fmt: skip
    sender = _component(SENDER, OUTBOX, rows.get((SENDER, OUTBOX)), now)
    tasks = [_task(t, rows.get((TASK, t)), now) for t in enabled_tasks(cfg)]
    for c in [*mailboxes, sender, *tasks]:
        _judge(c, cfg)
    outbox = outbox_counts(s, now)
    if outbox.oldest_pending_age is not None and (
        outbox.oldest_pending_age > cfg.health.outbox_stale_after
    ):
        outbox.problems.append(
            f"oldest pending letter waited {outbox.oldest_pending_age:.0f} s "
            f"(stale after {cfg.health.outbox_stale_after:g} s)"
        )
    return Health(now, mailboxes, sender, outbox, tasks)


def outbox_counts(s: Session, now: datetime) -> Outbox:
    L = OutboxLetter
    by_status = dict(s.execute(select(L.status, func.count()).group_by(L.status)).tuples().all())
    oldest = s.execute(
        select(func.min(L.created_at)).where(L.status.in_(("pending", "sending")))
    ).scalar()
    if oldest is not None and oldest.tzinfo is None:  # func.min skips the column's type
        oldest = oldest.replace(tzinfo=UTC)
    if isinstance(oldest, str):  # SQLite hands an aggregate back as text
        oldest = datetime.fromisoformat(oldest).replace(tzinfo=UTC)
    return Outbox(
        pending=int(by_status.get("pending", 0)) + int(by_status.get("sending", 0)),
        held=int(by_status.get("held", 0)),
        failed=int(by_status.get("failed", 0)),
        sent=int(by_status.get("sent", 0)),
        oldest_pending_age=_age(now, oldest),
    )


# ----------------------------------------------------------------------------- metrics


def _today_london() -> date:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Europe/London")).date()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Sequence[tuple[Mapping[str, str], float]],
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            number = repr(float(value)) if isinstance(value, float) else str(value)
            self.lines.append(f"{name}{{{label}}} {number}" if label else f"{name} {number}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


#: The metric names /metrics serves (the README lists them; a test keeps the two equal).
METRICS = (
    "sendiass_up",
    "sendiass_daemon_heartbeat_age_seconds",
    "sendiass_daemon_stale",
    "sendiass_messages_processed_total",
    "sendiass_messages_quarantined_total",
    "sendiass_poll_errors_total",
    "sendiass_mailbox_backlog",
    "sendiass_mailbox_last_success_age_seconds",
    "sendiass_letters",
    "sendiass_send_errors_total",
    "sendiass_oldest_pending_letter_age_seconds",
    "sendiass_cases_overdue",
    "sendiass_safeguarding_not_actioned",
    "sendiass_task_last_success_age_seconds",
    "sendiass_task_last_run_failed",
    "sendiass_task_errors_total",
)


Samples = list[tuple[dict[str, str], float]]


def metrics_text(
    s: Session,
    cfg: Config,
    services: Sequence[str],
    now: datetime | None = None,
    today: date | None = None,
) -> str:
    """The Prometheus text exposition (version 0.0.4): counts and ages, no personal data."""
    health = evaluate(s, cfg, now)
    today = today or _today_london()
    service_of = {m.name: m.service for m in cfg.mailboxes}

    def by_mailbox(value: Callable[[Component], float | None]) -> Samples:
        return [
            ({"mailbox": c.name, "service": service_of.get(c.name, "")}, v)
            for c in health.mailboxes
            if (v := value(c)) is not None
        ]

    def by_service(counts: Mapping[str, int]) -> Samples:
        return [({"service": k}, int(counts.get(k, 0))) for k in services]

    ob = health.outbox
    letters = {"pending": ob.pending, "held": ob.held, "failed": ob.failed, "sent": ob.sent}
    beats: Samples = [
        ({"component": f"{c.kind}:{c.name}"}, round(c.beat_age, 3))
        for c in health.components
        if c.beat_age is not None
    ]
    acted = exists().where(
        CaseEvent.case_id == Case.id,
        CaseEvent.actor.like("user:%"),
        CaseEvent.kind.not_in(PASSIVE_EVENTS),
    )
    open_cases = and_(Case.status != "closed", Case.service.in_(services))
    # Grouped by an expression, not the column: otherwise SQLite walks the whole service
    # index to group, instead of the few rows the due-date (or safeguarding) index finds.
    service = Case.service.concat("")
    per_service = select(service, func.count()).group_by(service)
    overdue = dict(s.execute(per_service.where(open_cases, Case.due_on < today)).tuples().all())
    unactioned = dict(
        s.execute(per_service.where(open_cases, Case.safeguarding.is_(True), ~acted)).tuples().all()
    )
    out = _Exposition()
    for name, kind, help_text, samples in (
        ("sendiass_up", "gauge", "1: the web server answers and reads the database.",
         [({}, 1)]),
        ("sendiass_daemon_heartbeat_age_seconds", "gauge",
         "Seconds since each daemon thread's last heartbeat.", beats),
        ("sendiass_daemon_stale", "gauge",
         "1 when `sendiass-bot status` would exit 1 (something is stale).",
         [({}, int(health.stale))]),
        ("sendiass_messages_processed_total", "counter",
         "Messages the daemon (or poll-once) read and decided on, by mailbox.",
         by_mailbox(lambda c: c.processed)),
        ("sendiass_messages_quarantined_total", "counter",
         "Messages put in quarantine, by mailbox.", by_mailbox(lambda c: c.quarantined)),
        ("sendiass_poll_errors_total", "counter",
         "Failed polls (connection, login, server errors), by mailbox.",
         by_mailbox(lambda c: c.errors)),
        ("sendiass_mailbox_backlog", "gauge",
         "Messages found on the server but not yet processed, at the last poll.",
         by_mailbox(lambda c: c.backlog)),
        ("sendiass_mailbox_last_success_age_seconds", "gauge",
         "Seconds since the last successful poll or IDLE check, by mailbox.",
         by_mailbox(lambda c: None if c.ok_age is None else round(c.ok_age, 3))),
        ("sendiass_letters", "gauge", "Letters in the outbox, by status.",
         [({"status": k}, v) for k, v in letters.items()]),
        ("sendiass_send_errors_total", "counter",
         "Passes over the outbox that found the server down or refusing us.",
         [({}, health.sender.errors)]),
        ("sendiass_oldest_pending_letter_age_seconds", "gauge",
         "Age of the oldest letter waiting to be sent (0 when none is).",
         [({}, round(ob.oldest_pending_age or 0.0, 3))]),
        ("sendiass_cases_overdue", "gauge",
         "Open cases whose current deadline has passed, by service.", by_service(overdue)),
        ("sendiass_safeguarding_not_actioned", "gauge",
         "Open safeguarding cases no person has acted on yet (viewing is not acting).",
         by_service(unactioned)),
        ("sendiass_task_last_success_age_seconds", "gauge",
         "Seconds since each scheduled task's last successful run (digest, retention).",
         [({"task": c.name}, round(c.ok_age, 3)) for c in health.tasks
          if c.ok_age is not None]),
        ("sendiass_task_last_run_failed", "gauge",
         "1 when a scheduled task's last run failed, else 0.",
         [({"task": c.name}, int(c.seen and c.failing)) for c in health.tasks]),
        ("sendiass_task_errors_total", "counter",
         "Failed runs of each scheduled task.",
         [({"task": c.name}, c.errors) for c in health.tasks]),
    ):  # fmt: skip
        out.metric(name, kind, help_text, samples)
    return out.text()
