"""Retention: keep personal data only as long as each service's policy allows.

Three rules per service (``[retention]`` in the configuration, overridable per service):

- ``raw_months``: N months after a case closes, the raw messages (the ``.eml`` bytes) and
  the attachments' contents are deleted; the parsed text stays for the case file. Messages
  that never became a case (automated mail, discarded) lose them N months after arrival.
- ``anonymise_years``: M years after a case closes, its personal data is removed: the
  sender's name and address, subjects, bodies, headers, attachment names, letters' bodies and
  addresses, notes, uploaded files, and names or addresses in the trail's details. The
  reference, dates, kind, stage, status, flags, outcome and finding stay, so the annual
  figures still add up.
- ``quarantine_days``: quarantined messages are deleted that many days after they arrived.

Every action on a case is recorded on its trail (counts and the rule, no personal data).
The current time is passed in (``now``); the rules only ever look at closed cases.
"""

from __future__ import annotations

import calendar
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists, func, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot import search
from bot.casestate import add_event
from bot.config import RetentionConfig, RetentionRule
from bot.models import (
    Attachment,
    Case,
    CaseEvent,
    CaseFile,
    CaseNote,
    Message,
    OutboxLetter,
    QuarantineItem,
)

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

DAY = 24 * 3600.0
REMOVED = "[removed]"
#: Keys of a trail event's detail whose values are personal data.
PERSONAL_KEYS = frozenset(
    {
        "note",
        "text",
        "body",
        "subject",
        "summary",
        "name",
        "from_name",
        "sender_name",
        "email",
        "address",
        "from_addr",
        "to_addr",
        "reply_to",
        "filename",
        "path",
    }
)


@dataclass
class Action:
    """One thing retention did (or would do), described without personal data."""

    service: str
    what: str  # "raw_deleted" | "anonymised" | "uncased_raw_deleted" | "uncased_anonymised" ...
    reference: str | None
    detail: dict[str, Any]

    def line(self, dry_run: bool) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.detail.items() if isinstance(v, int))
        rule = self.detail.get("rule", "")
        verb = {
            "raw_deleted": "raw messages and attachments deleted",
            "anonymised": "anonymised",
            "uncased_raw_deleted": "raw bytes deleted from messages not on a case",
            "uncased_anonymised": "messages not on a case anonymised",
            "quarantine_deleted": "quarantined messages deleted",
        }[self.what]
        who = self.reference or self.service
        when = f"closed {self.detail['closed_on']}; " if "closed_on" in self.detail else ""
        prefix = "would be " if dry_run else ""
        return f"{who} ({self.service}): {prefix}{verb}: {counts} ({when}{rule})"


@dataclass
class Report:
    now: datetime
    dry_run: bool
    actions: list[Action] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [a.line(self.dry_run) for a in self.actions]

    def summary(self) -> str:
        if not self.actions:
            return "retention: nothing to do"
        by: dict[str, int] = {}
        for a in self.actions:
            by[a.what] = by.get(a.what, 0) + 1
        parts = ", ".join(f"{k} {v}" for k, v in sorted(by.items()))
        return f"retention{' (dry run, nothing changed)' if self.dry_run else ''}: {parts}"


def months_before(now: datetime, months: int) -> datetime:
    """``now`` minus whole calendar months (the day clamped to the month's length)."""
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    day = min(now.day, calendar.monthrange(year, month + 1)[1])
    return now.replace(year=year, month=month + 1, day=day)


def scrub(value: Any, key: str = "") -> Any:
    """A trail detail without personal data: named fields and anything with an address."""
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, key) for v in value]
    if isinstance(value, str) and (key in PERSONAL_KEYS or "@" in value) and value:
        return REMOVED
    return value


#: Codes (not free text) in a classification that the reports count by.
FIGURE_CODES = frozenset(
    {
        "kind",
        "category",
        "category_suggested",
        "category_source",
        "complainant",
        "complainant_source",
        "ombudsman_decision",
        "source",
    }
)


def _classification_figures(s: Session, case: Case) -> dict[str, Any]:
    """What the figures need from a classification: the kind, the report's codes, the
    confidence and flags. A complaint's category is a coordinator's choice and is kept as it
    is; the keywords' suggestion, read from its words, is worked out now and kept (for the
    case page: the report never counts it), since the words are about to go."""
    from bot.reports.categories import categorise

    data = dict(case.classification or {})
    kept = {
        k: v
        for k, v in data.items()
        if (k in FIGURE_CODES and (v is None or isinstance(v, str)))
        or isinstance(v, bool | int | float)
    }
    if case.kind == "complaint" and not kept.get("category_suggested"):
        first = s.scalars(
            select(Message)
            .where(Message.case_id == case.id, Message.direction == "in")
            .order_by(Message.id)
        ).first()
        words = (first.new_text or first.text or "") if first is not None else ""
        suggested = categorise(f"{case.subject}\n{words}")
        if suggested:
            kept["category_suggested"] = suggested
    return kept


def _blank_message(m: Message) -> None:
    m.from_addr = ""
    m.from_name = ""
    m.reply_to = None
    m.to_addrs = []
    m.subject = ""
    m.headers = {}
    m.text = ""
    m.html = None
    m.new_text = ""
    m.quoted_text = ""
    m.signature = ""
    m.trail = []
    m.raw = b""
    for a in m.attachments:
        a.filename = ""
        a.content = None


def anonymise_case(s: Session, case: Case, now: datetime) -> dict[str, int]:
    """Remove a closed case's personal data in place; counts of what was touched."""
    case.classification = _classification_figures(s, case)
    case.sender_addr = ""
    case.sender_name = ""
    case.subject = ""
    messages = list(s.scalars(select(Message).where(Message.case_id == case.id)))
    for m in messages:
        _blank_message(m)
    letters = list(s.scalars(select(OutboxLetter).where(OutboxLetter.case_id == case.id)))
    for letter in letters:
        letter.to_addr = ""
        letter.subject = ""
        letter.body_text = ""
        letter.body_html = None
        letter.last_error = None
        if letter.status in ("pending", "held", "failed"):
            letter.status = "discarded"  # never send a letter with no addressee
    notes = list(s.scalars(select(CaseNote).where(CaseNote.case_id == case.id)))
    for note in notes:
        note.text = ""
    files = list(s.scalars(select(CaseFile).where(CaseFile.case_id == case.id)))
    for f in files:
        f.filename = ""
        f.content = b""
    for ev in s.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)):
        cleaned = scrub(ev.detail)
        if cleaned != ev.detail:
            ev.detail = cleaned
    case.anonymised_at = now
    return {
        "messages": len(messages),
        "letters": len(letters),
        "notes": len(notes),
        "files": len(files),
    }


def _closed_before(service: str, cutoff: datetime) -> Any:
    return (
        (Case.service == service)
        & (Case.status == "closed")
        & Case.closed_at.is_not(None)
        & (Case.closed_at <= cutoff)
    )


def _raw_rule(s: Session, service: str, rule: RetentionRule, now: datetime) -> list[Action]:
    assert rule.raw_months is not None
    cutoff = months_before(now, rule.raw_months)
    label = f"raw_months = {rule.raw_months}"
    has_raw = exists().where(
        Message.case_id == Case.id,
        or_(
            func.length(Message.raw) > 0,
            exists().where(Attachment.message_id == Message.id, Attachment.content.is_not(None)),
        ),
    )
    actions = []
    cases = s.scalars(
        select(Case).where(_closed_before(service, cutoff), has_raw).order_by(Case.id)
    )
    for case in list(cases):
        msgs = list(
            s.scalars(
                select(Message).where(Message.case_id == case.id, func.length(Message.raw) > 0)
            )
        )
        for m in msgs:
            m.raw = b""
        atts = list(
            s.scalars(
                select(Attachment)
                .join(Message, Attachment.message_id == Message.id)
                .where(Message.case_id == case.id, Attachment.content.is_not(None))
            )
        )
        for a in atts:
            a.content = None
        assert case.closed_at is not None
        detail = {
            "messages": len(msgs),
            "attachments": len(atts),
            "rule": label,
            "closed_on": case.closed_at.date().isoformat(),
        }
        add_event(s, case, now, "retention_raw_deleted", detail)
        actions.append(Action(service, "raw_deleted", case.reference, detail))
    # Mail that never became a case (automated replies, discarded): by arrival.
    uncased = (Message.service == service) & Message.case_id.is_(None)
    ids = list(
        s.scalars(
            select(Message.id).where(
                uncased, Message.arrived_at <= cutoff, func.length(Message.raw) > 0
            )
        )
    )
    if ids:
        s.execute(update(Message).where(Message.id.in_(ids)).values(raw=b""))
        s.execute(update(Attachment).where(Attachment.message_id.in_(ids)).values(content=None))
        detail = {"messages": len(ids), "rule": label}
        actions.append(Action(service, "uncased_raw_deleted", None, detail))
    return actions


def _anonymise_rule(s: Session, service: str, rule: RetentionRule, now: datetime) -> list[Action]:
    assert rule.anonymise_years is not None
    cutoff = months_before(now, 12 * rule.anonymise_years)
    label = f"anonymise_years = {rule.anonymise_years}"
    # Not yet anonymised, or something arrived on it since (a late reply).
    later = or_(
        exists().where(Message.case_id == Case.id, Message.created_at > Case.anonymised_at),
        exists().where(
            OutboxLetter.case_id == Case.id, OutboxLetter.created_at > Case.anonymised_at
        ),
    )
    due = or_(Case.anonymised_at.is_(None), later)
    actions = []
    for case in list(
        s.scalars(select(Case).where(_closed_before(service, cutoff), due).order_by(Case.id))
    ):
        counts = anonymise_case(s, case, now)
        assert case.closed_at is not None
        detail: dict[str, Any] = {
            **counts,
            "rule": label,
            "closed_on": case.closed_at.date().isoformat(),
        }
        add_event(s, case, now, "retention_anonymised", detail)
        actions.append(Action(service, "anonymised", case.reference, detail))
    uncased = list(
        s.scalars(
            select(Message).where(
                Message.service == service,
                Message.case_id.is_(None),
                Message.arrived_at <= cutoff,
                or_(Message.from_addr != "", func.length(Message.raw) > 0, Message.text != ""),
            )
        )
    )
    for m in uncased:
        _blank_message(m)
    if uncased:
        actions.append(
            Action(service, "uncased_anonymised", None, {"messages": len(uncased), "rule": label})
        )
    return actions


def _quarantine_rule(s: Session, service: str, rule: RetentionRule, now: datetime) -> list[Action]:
    assert rule.quarantine_days is not None
    cutoff = now - timedelta(days=rule.quarantine_days)
    where = (QuarantineItem.service == service) & (QuarantineItem.created_at <= cutoff)
    n = s.scalar(select(func.count()).select_from(QuarantineItem).where(where)) or 0
    if not n:
        return []
    s.execute(delete(QuarantineItem).where(where))
    detail = {"messages": n, "rule": f"quarantine_days = {rule.quarantine_days}"}
    return [Action(service, "quarantine_deleted", None, detail)]


def run_retention(
    sessions: sessionmaker[Session],
    config: RetentionConfig,
    services: Iterable[str],
    now: datetime,
    *,
    dry_run: bool = False,
    progress: Callable[[], None] | None = None,
) -> Report:
    """Apply each service's rules at ``now``; with ``dry_run`` report what would be done
    (the same work, rolled back). One transaction per service and rule; ``progress`` (the
    daemon's heartbeat) is called after each, outside any transaction, so that a long run
    still says it is alive."""
    tick = progress or (lambda: None)
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    report = Report(now, dry_run)
    for service in sorted(services):
        rule = config.rule(service)
        steps = [
            (rule.raw_months, _raw_rule),
            (rule.anonymise_years, _anonymise_rule),
            (rule.quarantine_days, _quarantine_rule),
        ]
        for setting, step in steps:
            if setting is None:
                continue
            with sessions() as s:
                _secure_delete(s)
                actions = step(s, service, rule, now)
                if dry_run:
                    s.rollback()
                else:
                    s.commit()
            report.actions.extend(actions)
            tick()
    if report.actions and not dry_run:
        with sessions() as s:
            # the search index (bot/search.py) drops erased words at once; merging it also
            # removes them from the index's older segments, whose pages are then zeroed
            _secure_delete(s)
            search.purge_deleted(s.connection())
            s.commit()
        tick()
        with sessions() as s:
            _checkpoint(s)
    return report


def _secure_delete(s: Session) -> None:
    """On SQLite, overwrite deleted content with zeros rather than leave it in free pages."""
    if s.get_bind().dialect.name == "sqlite":
        s.execute(text("PRAGMA secure_delete=ON"))


def _checkpoint(s: Session) -> None:
    """On SQLite, copy the write-ahead log into the database and empty it, so that the old
    pages do not linger there either."""
    if s.get_bind().dialect.name == "sqlite":
        s.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


# ---------------------------------------------------------------------------- the daemon


def start_daily(app: App, stop: threading.Event) -> list[threading.Thread]:
    """The daemon's retention thread: a pass at start, then once a day. Nothing when no
    rule is configured or ``retention.daemon = false``."""
    cfg = app.config.retention
    if not (cfg.enabled and cfg.daemon):
        return []
    t = threading.Thread(target=daily, args=(app, stop), name="retention", daemon=True)
    t.start()
    return [t]


def daily(app: App, stop: threading.Event, period: float = DAY) -> None:
    """Run retention every ``period`` seconds until ``stop``, with a heartbeat (task
    ``retention``, bot/health.py): it beats while the thread sleeps and during a run, and
    records each run's success or failure (the error's kind only, never its text)."""
    from bot.health import RETENTION, TASK, Heartbeat, error_kind

    heartbeat = Heartbeat(app.sessions, TASK, RETENTION, app.config.health.heartbeat_interval)
    heartbeat.start()
    while not stop.is_set():
        try:
            report = run_retention(
                app.sessions,
                app.config.retention,
                app.services,
                app.intake.clock(),
                progress=heartbeat.beat,
            )
            log.info("%s", report.summary())
            heartbeat.success(processed=len(report.actions))
        except Exception as exc:  # a failed pass is retried next period; intake goes on
            log.warning("retention: %s", error_kind(exc))
            heartbeat.failure(error_kind(exc))
        heartbeat.pause(stop, period)
    heartbeat.stopped()
