"""The triage queue and the reports, as SQL: urgency is computed by the database.

Urgency, most urgent first (``rank``):

0. safeguarding flag with no recorded action ("look today"; bot/casework.py);
1. a letter waiting for a person (held, or failed to send);
2. overdue: the current deadline (``cases.due_on``: the acknowledgement while a stage is new,
   then the response) has passed;
3. due today;
4. due within 3 working days (the horizon is worked out per service in Python, from its
   calendar, and handed to the query as a parameter);
5. everything else (on track, or no deadline).

A case with a message from the family that the viewer has not seen (it came after they last
opened the case: ``case_reads``) comes right after rank 0, whatever its rank.
Within a rank: earliest deadline first, then oldest. ``cases.due_on`` and
``cases.safeguarding`` are real, indexed columns kept in step with the case (see
``bot/models.py``), so the ordering needs no JSON and no per-row working-day arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from bot.deadlines import deadline_status, due_horizon, working_days_left
from bot.learning import correction_counts, correction_table
from bot.letters.flood import WAITING
from bot.models import Case, CaseEvent, CaseRead, LearningRecord, OutboxLetter
from bot.reports.data import day_bounds
from bot.services import Service

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_PAGE = 100_000
MAX_STAGE = 9
#: Lists show at most this much of a subject or a name (the case page shows all of it).
LIST_TEXT_CHARS = 160
SOON_WORKING_DAYS = 3
WAITING_LETTER_STATUSES = ("held", "failed")
STATUSES = (
    "received",
    "acknowledged",
    "investigating",
    "responded",
    "next_stage_requested",
    "informal",
    "awaiting_writing",
    "closed",
)

RANKS: Mapping[int, tuple[str, str]] = {
    0: ("safeguarding", "Safeguarding"),
    1: ("letter", "Letter to check"),
    2: ("overdue", "Overdue"),
    3: ("due_today", "Due today"),
    4: ("due_soon", "Due soon"),
    5: ("on_track", "On track"),
}


@dataclass(frozen=True)
class QueueFilters:
    service: str = ""
    kind: str = ""
    stage: int | None = None
    status: str = ""
    q: str = ""
    page: int = 1
    per_page: int = PAGE_SIZE


@dataclass(frozen=True)
class Badge:
    css: str  # overdue | due_today | due_soon | on_track | none | safeguarding | letter
    text: str


@dataclass
class QueueRow:
    id: int
    reference: str
    service: str
    kind: str
    status: str
    stage: int
    confidence: float | None
    flags: list[str]
    sender: str
    subject: str
    received: str
    handler: str
    rank: int
    badges: list[Badge] = field(default_factory=list)


@dataclass
class QueuePage:
    rows: list[QueueRow]
    total: int
    page: int
    pages: int


def waiting_letter_case_ids(s: Session, services: Sequence[str]) -> list[int]:
    """Cases with a held or failed letter (few: the outbox's status index finds them)."""
    return list(
        s.scalars(
            select(OutboxLetter.case_id)
            .join(Case, Case.id == OutboxLetter.case_id)
            .where(
                OutboxLetter.status.in_(WAITING_LETTER_STATUSES),
                OutboxLetter.case_id.is_not(None),
                Case.service.in_(services),
            )
            .distinct()
        )
    )


def flood_banners(s: Session, services: Sequence[str], now: datetime) -> list[str]:
    """Why automatic letters are waiting (bot/letters/flood.py), one line per service."""
    L = OutboxLetter
    rows = s.execute(
        select(L.service, func.count(), func.max(L.next_attempt_at))
        .where(
            L.status == "pending",
            L.next_attempt_at > now,
            L.hold_reason.startswith(WAITING, autoescape=True),
            L.service.in_(services),
        )
        .group_by(L.service)
        .order_by(L.service)
    ).all()
    return [
        f"{n} automatic letter(s) of {service} are waiting: the service reached its limit of "
        f"letters an hour (letters.max_per_hour) or to one domain a day "
        f"(letters.max_per_domain_per_day). None is dropped; the last goes at "
        f"{last:%d %b %Y %H:%M} UTC."
        for service, n, last in rows
    ]


def rank_expression(
    today: date,
    horizons: Mapping[str, date],
    waiting: Sequence[int],
    fresh: ColumnElement[bool] | None = None,
) -> ColumnElement[int]:
    """The rank (0-5, above). With ``fresh`` (:func:`new_activity`), the queue's sort key
    instead: rank 0 stays 0, a fresh case is 1, every other rank goes one down (one CASE,
    computed once per row)."""
    shift = 0 if fresh is None else 1
    horizon: ColumnElement[Any] = (
        case(*((Case.service == k, literal(v)) for k, v in horizons.items()), else_=literal(today))
        if horizons
        else literal(today)
    )
    whens: list[tuple[ColumnElement[bool], int]] = [
        (and_(Case.safeguarding.is_(True), Case.safeguarding_actioned.is_(False)), 0)
    ]
    if fresh is not None:
        whens.append((fresh, 1))
    if waiting:
        whens.append((Case.id.in_(waiting), 1 + shift))
    whens += [
        (Case.due_on < today, 2 + shift),
        (Case.due_on == today, 3 + shift),
        (Case.due_on <= horizon, 4 + shift),
    ]
    return case(*whens, else_=5 + shift)


def new_activity(viewer: str) -> ColumnElement[bool]:
    """The family wrote after ``viewer`` last opened the case (or they never opened it)."""
    seen = (
        select(CaseRead.id)
        .where(
            CaseRead.case_id == Case.id,
            CaseRead.user_email == viewer.lower(),
            CaseRead.opened_at >= Case.family_message_at,
        )
        .correlate(Case)
    )
    return and_(Case.family_message_at.is_not(None), ~exists(seen))


def _prefix(column: Any, prefix: str, binary_collation: bool) -> ColumnElement[bool]:
    """``column`` starts with ``prefix``. SQLite compares bytes, so a range uses the index;
    elsewhere (locale collations) LIKE with escaping is the exact test."""
    if binary_collation:
        return and_(column >= prefix, column < prefix + "\uffff")
    return column.startswith(prefix, autoescape=True)


def _search(q: str, bodies: bool, binary_collation: bool) -> ColumnElement[bool] | None:
    q = q.strip()
    if not q:
        return None
    by_reference = _prefix(Case.reference, q.upper(), binary_collation)
    if not bodies:
        return by_reference
    return or_(by_reference, _prefix(Case.sender_addr, q.lower(), binary_collation))


def queue(
    s: Session,
    services: Mapping[str, Service],
    visible: Sequence[str],
    bodies_for: set[str],
    today: date,
    f: QueueFilters,
    *,
    viewer: str = "",
    managed: Sequence[str] = (),
) -> QueuePage:
    """One page of the queue for the services in ``visible``; sender and subject only for the
    services in ``bodies_for``. A case routed away from the person it is about
    (``Case.restricted``, bot.routing) is listed only for its handler (``viewer``) and the
    managers of its service (``managed``), and shows sender and subject only to its handler."""
    wanted = [x for x in visible if not f.service or x == f.service]
    if not wanted:
        return QueuePage([], 0, 1, 1)
    waiting = waiting_letter_case_ids(s, wanted)
    horizons = {k: due_horizon(today, SOON_WORKING_DAYS, services[k]) for k in wanted}
    fresh = new_activity(viewer)
    key = rank_expression(today, horizons, waiting, fresh).label("key")
    conds: list[ColumnElement[bool]] = [Case.service.in_(wanted)]
    may_see: list[ColumnElement[bool]] = [
        Case.restricted.is_(False),
        Case.service.in_(list(managed)),
    ]
    if viewer:
        may_see.append(func.lower(Case.handler) == viewer.lower())
    conds.append(or_(*may_see))
    search = _search(f.q, bool(bodies_for), s.get_bind().dialect.name == "sqlite")
    if search is not None:
        conds.append(search)
    elif f.status != "closed":
        conds.append(Case.status != "closed")
        needs = Case.needs_person.is_(True)
        conds.append(or_(needs, Case.id.in_(waiting)) if waiting else needs)
    if f.status:
        conds.append(Case.status == f.status)
    if f.kind:
        conds.append(Case.kind == f.kind)
    if f.stage is not None:
        conds.append(Case.stage == f.stage)
    total = s.scalar(select(func.count()).select_from(Case).where(*conds)) or 0
    size = f.per_page
    pages = max(1, -(-total // size))
    page = min(max(1, f.page), pages)
    # Two steps: order the (narrow, index-covered) keys and keep one page of ids, then
    # fetch those rows; the sort never carries names, subjects or JSON.
    ordered = s.execute(
        select(Case.id, key)
        .where(*conds)
        .order_by(
            key,
            Case.due_on.is_(None),
            Case.due_on,
            Case.received_at,
            Case.id,
        )
        .limit(size)
        .offset((page - 1) * size)
    ).all()
    page_ids = [r.id for r in ordered]
    cols = (
        Case.id,
        Case.reference,
        Case.service,
        Case.kind,
        Case.status,
        Case.stage,
        Case.confidence,
        Case.flags,
        Case.sender_addr,
        # Lists never carry a whole subject or name: a sender can make them any length.
        func.substr(Case.sender_name, 1, LIST_TEXT_CHARS + 1).label("sender_name"),
        func.substr(Case.subject, 1, LIST_TEXT_CHARS + 1).label("subject"),
        Case.received_at,
        Case.handler,
        Case.acknowledge_by,
        Case.respond_by,
        Case.restricted,
        Case.safeguarding,
        # the rank and "new to you" of this page's rows only
        rank_expression(today, horizons, waiting).label("rank"),
        fresh.label("fresh"),
    )
    fetched = {r.id: r for r in s.execute(select(*cols).where(Case.id.in_(page_ids))).all()}
    rows = [(fetched[i], fetched[i].rank) for i in page_ids if i in fetched]
    out: list[QueueRow] = []
    for r, row_rank in rows:
        svc = services[r.service]
        bodies = r.service in bodies_for
        if r.restricted:
            bodies = bool(viewer) and (r.handler or "").lower() == viewer.lower()
        flags = [k for k in ("safeguarding", "about_coordinator", "out_of_scope") if r.flags.get(k)]
        if r.flags.get("within_12_months") is False:
            flags.append("over_12_months")
        row = QueueRow(
            id=r.id,
            reference=r.reference,
            service=r.service,
            kind=r.kind,
            status=r.status,
            stage=r.stage,
            confidence=r.confidence,
            flags=flags,
            sender=clip(r.sender_name or r.sender_addr) if bodies else "",
            subject=clip(r.subject or "") if bodies else "",
            received=r.received_at.astimezone(svc.tz).strftime("%d %b %Y %H:%M"),
            handler=r.handler or "",
            rank=row_rank,
        )
        if row_rank == 0:
            row.badges.append(Badge("safeguarding", "Safeguarding: look today"))
        elif r.safeguarding:
            row.badges.append(Badge("safeguarding_actioned", "Safeguarding: action recorded"))
        if r.id in waiting:
            row.badges.append(Badge("letter", "Letter waiting for approval"))
        if r.fresh:
            row.badges.append(Badge("new_message", "New message from the family"))
        row.badges.extend(deadline_badges(r.status, r.acknowledge_by, r.respond_by, today, svc))
        out.append(row)
    return QueuePage(out, total, page, pages)


def clip(text: str, limit: int = LIST_TEXT_CHARS) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis) for a list."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def badge_for(label: str, deadline: date | None, today: date, service: Service) -> Badge:
    status = deadline_status(deadline, today, service, SOON_WORKING_DAYS)
    if deadline is None or status == "none":
        return Badge("none", f"{label}: no deadline")
    day = f"{deadline:%a %d %b}"
    if status == "overdue":
        late = -working_days_left(deadline, today, service)
        return Badge("overdue", f"{label} overdue since {day} ({late} working day(s))")
    if status == "due_today":
        return Badge("due_today", f"{label} due today")
    left = working_days_left(deadline, today, service)
    return Badge(status, f"{label} by {day} ({left} working day(s) left)")


def deadline_badges(
    status: str,
    acknowledge_by: date | None,
    respond_by: date | None,
    today: date,
    service: Service,
) -> list[Badge]:
    """The badges of the deadlines still running for a case in ``status``."""
    out: list[Badge] = []
    if status in ("received", "next_stage_requested") and acknowledge_by is not None:
        out.append(badge_for("Acknowledge", acknowledge_by, today, service))
    running = ("received", "next_stage_requested", "acknowledged", "investigating")
    if status in running and respond_by is not None:
        out.append(badge_for("Respond", respond_by, today, service))
    if not out:
        label = {
            "closed": "Closed",
            "informal": "Informal: no formal clock running",
            "awaiting_writing": "Waiting for the complaint in writing: no formal clock yet",
        }.get(status, "No deadline running")
        out.append(Badge("none", label))
    return out


# ------------------------------------------------------------------------------ reports


def _grouped(s: Session, column: Any, services: Sequence[str]) -> dict[tuple[str, str], int]:
    rows = s.execute(
        select(Case.service, column, func.count())
        .where(Case.service.in_(services))
        .group_by(Case.service, column)
    ).all()
    return {(svc, str(value)): n for svc, value, n in rows}


def _counts(rows: Sequence[Any]) -> dict[str, int]:
    return {str(k): int(n) for k, n in rows}


def reports(s: Session, services: Sequence[str], today: date) -> dict[str, Any]:
    """Counts per service for managers: no names, no text."""
    by_status = _grouped(s, Case.status, services)
    by_kind = _grouped(s, Case.kind, services)
    by_channel = _grouped(s, Case.channel, services)
    by_outcome = _grouped(s, Case.outcome, services)
    by_justification = _grouped(s, Case.justification, services)
    by_closure = _grouped(s, Case.closure_reason, services)
    overdue = _counts(
        s.execute(
            select(Case.service, func.count())
            .where(
                Case.service.in_(services),
                Case.due_on < today,
                Case.status != "closed",
                # the procedures' clocks only: a compliment's courtesy reply is not overdue
                Case.kind.in_(("complaint", "stage2_request")),
                Case.merged_into_id.is_(None),
            )
            .group_by(Case.service)
        ).all()
    )
    via_mp = _counts(
        s.execute(
            select(Case.service, func.count())
            .where(Case.service.in_(services), Case.via_mp.is_(True))
            .group_by(Case.service)
        ).all()
    )
    corrections = _counts(
        s.execute(
            select(Case.service, func.count())
            .join(CaseEvent, CaseEvent.case_id == Case.id)
            .where(Case.service.in_(services), CaseEvent.kind == "classification_corrected")
            .group_by(Case.service)
        ).all()
    )
    learning = _counts(
        s.execute(
            select(LearningRecord.service, func.count())
            .where(LearningRecord.service.in_(services))
            .group_by(LearningRecord.service)
        ).all()
    )
    week = day_bounds(today - timedelta(days=today.weekday()), today)
    year = day_bounds(date(today.year, 1, 1), today)
    out: dict[str, Any] = {}
    for svc in services:

        def pick(d: dict[tuple[str, str], int], svc: str = svc) -> dict[str, int]:
            return {k: n for (sv, k), n in sorted(d.items()) if sv == svc}

        out[svc] = {
            "status": pick(by_status),
            "kind": pick(by_kind),
            "channel": pick(by_channel),
            "outcome": pick(by_outcome),
            "justification": pick(by_justification),
            "closure_reason": pick(by_closure),
            "overdue": overdue.get(svc, 0),
            "via_mp": via_mp.get(svc, 0),
            "classifier_corrections": corrections.get(svc, 0),
            "learning_records": learning.get(svc, 0),
            "total": sum(pick(by_status).values()),
            # corrected / classified per kind the classifier gave: this week, this year
            "corrections": correction_table(
                correction_counts(s, [svc], *week), correction_counts(s, [svc], *year)
            ),
        }
    return out
