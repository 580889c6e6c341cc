"""The triage queue and the reports, as SQL: urgency is computed by the database.

Urgency, most urgent first (``rank``):

0. safeguarding flag with no recorded action ("look today"; bot/casework.py);
   then a case with a message from the family that the viewer has not seen (it came after
   they last opened the case: ``case_reads``), whatever its rank;
1. a letter waiting for a person (held, or failed to send);
2. overdue: the current deadline (``cases.due_on``: the acknowledgement while a stage is new,
   then the response) has passed;
3. due today;
4. due within 3 working days (the horizon is worked out per service in Python, from its
   calendar, and handed to the query as a parameter);
5. everything else (on track, or no deadline).

Within a rank: earliest deadline first, then oldest. ``cases.due_on`` and
``cases.safeguarding`` are real, indexed columns kept in step with the case (see
``bot/models.py``), so the ordering needs no JSON and no per-row working-day arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    Integer,
    and_,
    any_,
    bindparam,
    case,
    exists,
    false,
    func,
    intersect,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    union,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from bot import search
from bot.deadlines import deadline_status, due_horizon, working_days_left
from bot.learning import correction_counts, correction_table
from bot.letters.flood import WAITING
from bot.models import Case, CaseEvent, CaseRead, LearningRecord, OutboxLetter, UTCDateTime
from bot.reports.data import day_bounds
from bot.services import Service

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
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
    per_page: int = PAGE_SIZE
    #: "complaints" (everything but advice enquiries; a safeguarding enquiry too) or
    #: "enquiries". A search, or a kind chosen, looks at every kind.
    view: str = "complaints"
    due_from: date | None = None
    due_to: date | None = None
    #: "" anyone, "none" nobody, else an assignee's address.
    assignee: str = ""
    mine: bool = False
    #: "" (urgency) or a key of :data:`SORTS`.
    sort: str = ""
    desc: bool = False
    #: Where the page starts: :func:`parse_cursor`'s text, "" for the first page.
    after: str = ""


VIEWS = ("complaints", "enquiries")
#: A count of the cases on a list stops here ("over 1,000"): counting every open case of a
#: large install on each page view would cost more than the page.
COUNT_CAP = 1_000


@dataclass(frozen=True)
class Sort:
    label: str
    column: Any
    nullable: bool
    bodies: bool = False  # sorts by what only those who read bodies may see


#: The columns the queue can be sorted by (besides urgency, the default).
SORTS: Mapping[str, Sort] = {
    "reference": Sort("Reference", Case.reference, False),
    "service": Sort("Service", Case.service, False),
    "kind": Sort("Kind", Case.kind, False),
    "stage": Sort("Stage", Case.stage, False),
    "status": Sort("Status", Case.status, False),
    "confidence": Sort("Confidence", Case.confidence, True),
    "deadline": Sort("Deadline", Case.due_on, True),
    "handler": Sort("Assigned to", Case.handler, True),
    "sender": Sort("From", Case.sender_name, False, bodies=True),
    "subject": Sort("Subject", Case.subject, False, bodies=True),
    "received": Sort("Received", Case.received_at, False),
}

_CURSOR = re.compile(r"([0-9]{1,2})\.([0-9]{1,10})\.([0-9]{1,9})")


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after the row ``case_id`` of segment ``segment`` (urgency order;
    0 for a column sort), which was row number ``position`` of the list. Only numbers: the
    row's sort key is read back from the database, so no name or subject is put in a URL."""

    segment: int
    case_id: int
    position: int

    def text(self) -> str:
        return f"{self.segment}.{self.case_id}.{self.position}"


def parse_cursor(raw: str) -> Cursor | None:
    """``raw`` as a :class:`Cursor`; None when it is not one."""
    m = _CURSOR.fullmatch(raw)
    if m is None:
        return None
    seg, case_id, pos = (int(x) for x in m.groups())
    if seg >= len(SEGMENT_RANKS) or not 1 <= case_id <= 2_147_483_647:
        return None
    return Cursor(seg, case_id, pos)


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
    #: Why each of its letters waits for a person (held or failed), for those who read bodies
    #: (a hold reason can quote an address).
    held: list[str] = field(default_factory=list)


@dataclass
class QueuePage:
    rows: list[QueueRow]
    #: How many cases the list holds, counted up to :data:`COUNT_CAP` (see ``capped``).
    total: int
    first: int  # the position of the first row (1-based)
    next_cursor: str  # "" on the last page
    capped: bool = False

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1


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
        f"{last:%a %d %b %Y %H:%M} UTC."
        for service, n, last in rows
    ]


def _waiting_ids() -> Any:
    """Subquery: the cases with a letter waiting for a person."""
    return select(OutboxLetter.case_id).where(
        OutboxLetter.status.in_(WAITING_LETTER_STATUSES), OutboxLetter.case_id.is_not(None)
    )


def rank_expression(today: date, horizons: Mapping[str, date]) -> ColumnElement[int]:
    """The urgency rank of a case, as SQL (for the rows of one page)."""
    horizon: ColumnElement[Any] = (
        case(*((Case.service == k, literal(v)) for k, v in horizons.items()), else_=literal(today))
        if horizons
        else literal(today)
    )
    return case(
        (and_(Case.safeguarding.is_(True), Case.safeguarding_actioned.is_(False)), 0),
        (Case.id.in_(_waiting_ids()), 1),
        (Case.due_on < today, 2),
        (Case.due_on == today, 3),
        (Case.due_on <= horizon, 4),
        else_=5,
    )


def new_activity(viewer: str) -> ColumnElement[bool]:
    """The family wrote after ``viewer`` last opened the case (or they never opened it)."""
    if not viewer:
        return false()
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


#: Urgency order is walked as segments, each an index range in deadline order, so a page
#: never sorts the whole queue and a later page seeks rather than skips (keyset pagination):
#: safeguarding to look at today (with a deadline, then without), new from the family for
#: the viewer (the same), a letter waiting for a person (the same), overdue, due today, due
#: within 3 working days, due later, no deadline running. Each segment's rank (RANKS; the
#: "new" segments take the rank their deadline gives, shown by its badge).
SEGMENT_RANKS = (0, 0, 1, 1, 1, 1, 2, 3, 4, 5, 5)
UNDATED_SEGMENTS = (1, 3, 5, 10)


def _segments(
    today: date,
    horizons: Mapping[str, date],
    worklist: bool,
    plain: bool = False,
    viewer: str = "",
) -> list[tuple[list[ColumnElement[bool]], bool]]:
    """Per segment: its conditions, and whether it is the part without a deadline (ordered
    by arrival) rather than with one (ordered by deadline, then arrival). ``plain`` (a
    search on SQLite): the tests are written so that they cannot pick an index, so that the
    planner starts from the few cases the search finds rather than walking the deadline or
    safeguarding indexes through every open case."""
    due: Any = func.ifnull(Case.due_on, None, type_=Date) if plain else Case.due_on
    service: Any = Case.service.concat("") if plain else Case.service
    guard: Any = func.ifnull(Case.safeguarding, False, type_=Boolean) if plain else None
    # spelled as ix_cases_safeguarding_open's WHERE (bot/search.py) in the open queue
    flagged = guard == true() if plain else Case.safeguarding == true()
    unflagged = guard == false() if plain else Case.safeguarding.is_(False)
    # a recorded safeguarding action takes a case out of "look today" (bot/casework.py)
    look = [flagged, Case.safeguarding_actioned.is_(False)]
    not_look = or_(unflagged, Case.safeguarding_actioned.is_(True))
    fresh = new_activity(viewer)
    still_open: list[ColumnElement[bool]] = []
    if worklist:
        still_open = [Case.status != literal_column("'closed'")]
    not_special: list[ColumnElement[bool]] = [not_look, ~fresh, Case.id.not_in(_waiting_ids())]
    if worklist:
        # spelled as ix_cases_worklist's WHERE (bot/search.py), so SQLite uses that index
        not_special += [Case.needs_person == true(), *still_open]
    waiting = [not_look, ~fresh, Case.id.in_(_waiting_ids())]
    new = [not_look, fresh, *still_open]
    soon = [and_(service == k, due <= h) for k, h in horizons.items()]
    later = [and_(service == k, due > h) for k, h in horizons.items()]
    return [
        ([*look, *still_open, due.is_not(None)], False),
        ([*look, *still_open, due.is_(None)], True),
        ([*new, due.is_not(None)], False),
        ([*new, due.is_(None)], True),
        ([*waiting, due.is_not(None)], False),
        ([*waiting, due.is_(None)], True),
        ([*not_special, due < today], False),
        ([*not_special, due == today], False),
        ([*not_special, due > today, or_(*soon) if soon else false()], False),
        ([*not_special, due > today, or_(*later) if later else true()], False),
        ([*not_special, due.is_(None)], True),
    ]


def _after_urgency(key: Any) -> ColumnElement[bool]:
    """Rows after ``key`` (due_on, received_at, id) in its segment's order: (due_on,
    received_at, id), or (received_at, id) in a segment without deadlines."""
    due, received, case_id = key
    rest = tuple_(Case.received_at, Case.id) > tuple_(
        literal(received, UTCDateTime()), literal(case_id)
    )
    if due is None:
        return rest
    return or_(Case.due_on > due, and_(Case.due_on == due, rest))


def _after_column(sort: Sort, desc: bool, value: Any, case_id: int) -> ColumnElement[bool]:
    """Rows after (value, case_id) in (column, id) order, ascending or descending."""
    row = tuple_(sort.column, Case.id)
    key = tuple_(literal(value, sort.column.type), literal(case_id))
    return row < key if desc else row > key


#: What a case reference looks like (DUR-2026-0042), whole or its start from the year on.
_REFERENCE = re.compile(r"[A-Za-z]{2,6}-[0-9]{4}-[0-9]*")


def _search(
    s: Session,
    q: str,
    dialect: str,
    bodies_for: Sequence[str],
    viewer: str,
) -> ColumnElement[bool] | None:
    """The cases ``q`` finds: a reference starting with it, for everyone; for the services
    whose text the viewer may read (and a restricted case only for its handler), also a
    sender address starting with it and every word of it in the full-text index
    (bot/search.py). The words are first gathered from the index, rarest first, as a list
    of case ids (:func:`bot.search.matching_ids`); only when every word is common is the
    full-text test left to the database's plan."""
    q = q.strip()
    if not q:
        return None
    if _REFERENCE.fullmatch(q):  # a reference (or the start of one): its unique index alone
        return _prefix(Case.reference, q.upper(), dialect == "sqlite")
    ids = search.matching_ids(s.connection(), q) if bodies_for else None
    if dialect != "sqlite":
        return _search_as_ids(q, dialect, bodies_for, viewer, ids)
    found = [_prefix(Case.reference, q.upper(), dialect == "sqlite")]
    if bodies_for:
        text_conds = [_prefix(Case.sender_addr, q.lower(), dialect == "sqlite")]
        words = Case.id.in_(ids) if ids is not None else search.condition(dialect, q, Case.id)
        if words is not None:
            text_conds.append(words)
        readable: list[ColumnElement[bool]] = [Case.restricted.is_(False)]
        if viewer:
            readable.append(func.lower(Case.handler) == viewer.lower())
        found.append(and_(Case.service.in_(list(bodies_for)), or_(*readable), or_(*text_conds)))
    return or_(*found)


def _search_as_ids(
    q: str,
    dialect: str,
    bodies_for: Sequence[str],
    viewer: str,
    ids: list[int] | None = None,
) -> ColumnElement[bool]:
    """:func:`_search` as one ``id IN (a UNION of index lookups)``: PostgreSQL's planner
    then joins the few ids found instead of testing an OR on every case. ``ids``: the cases
    the words were found in, already gathered (:func:`bot.search.matching_ids`), passed as
    one array (``id = ANY(:ids)``)."""

    def readable(t: Any) -> ColumnElement[bool]:
        if viewer:
            return or_(t.c.restricted.is_(False), func.lower(t.c.handler) == viewer.lower())
        return t.c.restricted.is_(False)

    by_ref = Case.__table__.alias("by_ref")
    parts: list[Any] = [select(by_ref.c.id).where(_prefix(by_ref.c.reference, q.upper(), False))]
    if bodies_for:
        by_addr = Case.__table__.alias("by_addr")
        parts.append(
            select(by_addr.c.id).where(
                _prefix(by_addr.c.sender_addr, q.lower(), False),
                by_addr.c.service.in_(list(bodies_for)),
                readable(by_addr),
            )
        )
        words = search.terms(q)
        if words:
            by_words = Case.__table__.alias("by_words")
            if ids is not None:
                among: ColumnElement[bool] = by_words.c.id == any_(
                    bindparam("word_ids", ids, type_=postgresql.ARRAY(Integer))
                )
            else:
                each = [search.matching_case_ids(dialect, w) for w in words]
                among = by_words.c.id.in_(each[0] if len(each) == 1 else intersect(*each))
            parts.append(
                select(by_words.c.id).where(
                    among,
                    by_words.c.service.in_(list(bodies_for)),
                    readable(by_words),
                )
            )
    return Case.id.in_(union(*parts))


def _prefix(column: Any, prefix: str, binary_collation: bool) -> ColumnElement[bool]:
    """``column`` starts with ``prefix``. SQLite compares bytes, so a range uses the index;
    elsewhere (locale collations) LIKE with escaping is the exact test."""
    if binary_collation:
        return and_(column >= prefix, column < prefix + "\uffff")
    # PostgreSQL: a LIKE pattern with a constant prefix uses the column's text_pattern_ops
    # index (bot/search.py); the pattern is built here so that the plan sees its prefix.
    escaped = prefix.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return column.like(escaped + "%", escape="/")


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
    managers of its service (``managed``), and shows sender and subject only to its handler.

    Pages are keyset-paged (``f.after``): no OFFSET, so a deep page costs what the first does.
    """
    wanted = [x for x in visible if not f.service or x == f.service]
    cursor = parse_cursor(f.after) if f.after else None
    if not wanted:
        return QueuePage([], 0, 1, "")
    dialect = s.get_bind().dialect.name
    sqlite = dialect == "sqlite"
    horizons = {k: due_horizon(today, SOON_WORKING_DAYS, services[k]) for k in wanted}
    # On SQLite the service test is written so that it cannot pick ix_cases_service: walking
    # every case of a service is never the way to a page of the queue (the worklist,
    # safeguarding, handler and full-text indexes are).
    # The same for kind and status (ix_cases_kind, ix_cases_status hold every case ever).
    service_col: Any = Case.service.concat("") if dialect == "sqlite" else Case.service
    kind_col: Any = Case.kind.concat("") if dialect == "sqlite" else Case.kind
    status_col: Any = Case.status.concat("") if dialect == "sqlite" else Case.status
    conds: list[ColumnElement[bool]] = [service_col.in_(wanted)]
    may_see: list[ColumnElement[bool]] = [
        Case.restricted.is_(False),
        Case.service.in_(list(managed)),
    ]
    if viewer:
        may_see.append(func.lower(Case.handler) == viewer.lower())
    conds.append(or_(*may_see))
    found = _search(s, f.q, dialect, sorted(bodies_for & set(wanted)), viewer)
    worklist = False
    if found is not None:
        conds.append(found)
    elif f.status != "closed":
        worklist = True
        conds.append(Case.status != literal_column("'closed'"))
        conds.append(or_(Case.needs_person == true(), Case.id.in_(_waiting_ids())))
    if found is None and not f.kind:
        if f.view == "enquiries":
            conds.append(kind_col == "enquiry")
        else:
            conds.append(or_(Case.kind != "enquiry", Case.safeguarding.is_(True)))
    if f.status:
        conds.append(status_col == f.status)
    if f.kind:
        conds.append(kind_col == f.kind)
    if f.stage is not None:
        conds.append(Case.stage == f.stage)
    if f.due_from is not None:
        conds.append(Case.due_on >= f.due_from)
    if f.due_to is not None:
        conds.append(Case.due_on <= f.due_to)
    if f.mine and viewer:
        conds.append(Case.handler == viewer.lower())
    if f.assignee == "none":
        conds.append(or_(Case.handler.is_(None), Case.handler == ""))
    elif f.assignee:
        conds.append(Case.handler == f.assignee.lower())

    # Read once, up to COUNT_CAP: a short list (a search, "assigned to me", a narrow filter)
    # is ordered from that one read; a long one (the queue) is walked segment by segment.
    hits = _matching(s, conds, worklist)
    total = len(hits)
    size = f.per_page
    position = cursor.position if cursor else 0
    if f.sort:
        if total <= COUNT_CAP:
            conds = [Case.id.in_(hits or [0])]
        keys = _page_by_column(s, conds, SORTS[f.sort], f.desc, cursor, size + 1)
    elif total <= COUNT_CAP:
        keys = _order_few(s, hits, today, horizons, cursor, size + 1, viewer)
    else:
        keys = _page_by_urgency(
            s,
            conds,
            today,
            horizons,
            worklist,
            cursor,
            size + 1,
            found is not None and sqlite,
            viewer,
        )
    more = len(keys) > size
    keys = keys[:size]
    next_cursor = ""
    if more and keys:
        seg, last_id = keys[-1]
        next_cursor = Cursor(seg, last_id, position + len(keys)).text()
    rows = _rows(s, services, bodies_for, today, keys, viewer, horizons)
    return QueuePage(
        rows, min(total, COUNT_CAP), position + 1, next_cursor, capped=total > COUNT_CAP
    )


def _matching(s: Session, conds: list[ColumnElement[bool]], worklist: bool) -> list[int]:
    """The ids of the cases the list holds, up to COUNT_CAP + 1 (unordered). The open queue is
    read as its two parts, each through an index: the worklist (ix_cases_worklist), then the
    few cases that are there only for a letter waiting for a person."""

    def capped(where: list[ColumnElement[bool]]) -> list[int]:
        return list(s.scalars(select(Case.id).where(*where).limit(COUNT_CAP + 1)))

    if not worklist:
        return capped(conds)
    work = [Case.needs_person == true(), Case.status != literal_column("'closed'")]
    ids = capped([*conds, *work])
    if len(ids) <= COUNT_CAP:
        ids += capped([*conds, Case.needs_person == false(), Case.id.in_(_waiting_ids())])
    return ids


def _order_few(
    s: Session,
    ids: list[int],
    today: date,
    horizons: Mapping[str, date],
    cursor: Cursor | None,
    limit: int,
    viewer: str = "",
) -> list[tuple[int, int]]:
    """Urgency order of a short list (at most COUNT_CAP cases, e.g. a search, "assigned to
    me"), worked out from one read of their keys: the same segments and order as
    :func:`_segments`, without a query per segment."""
    rows = s.execute(
        select(
            Case.id,
            Case.service,
            Case.safeguarding,
            Case.safeguarding_actioned,
            Case.due_on,
            Case.received_at,
            new_activity(viewer).label("fresh"),
        ).where(Case.id.in_(ids))
    ).all()
    waiting = set(
        s.scalars(
            select(OutboxLetter.case_id).where(
                OutboxLetter.case_id.in_(ids),
                OutboxLetter.status.in_(WAITING_LETTER_STATUSES),
            )
        )
    )
    keyed = []
    for r in rows:
        due = r.due_on
        if r.safeguarding and not r.safeguarding_actioned:
            seg = 0 if due is not None else 1
        elif r.fresh:
            seg = 2 if due is not None else 3
        elif r.id in waiting:
            seg = 4 if due is not None else 5
        elif due is None:
            seg = 10
        elif due < today:
            seg = 6
        elif due == today:
            seg = 7
        elif due <= horizons.get(r.service, today):
            seg = 8
        else:
            seg = 9
        undated = seg in UNDATED_SEGMENTS
        keyed.append(((seg, date.min if undated else due, r.received_at, r.id), seg, r.id))
    keyed.sort()
    if cursor is not None:
        anchor = next((k for k, _seg, i in keyed if i == cursor.case_id), None)
        if anchor is not None:
            keyed = [x for x in keyed if x[0] > anchor]
    return [(seg, i) for _k, seg, i in keyed[:limit]]


def _page_by_urgency(
    s: Session,
    conds: list[ColumnElement[bool]],
    today: date,
    horizons: Mapping[str, date],
    worklist: bool,
    cursor: Cursor | None,
    limit: int,
    plain: bool = False,
    viewer: str = "",
) -> list[tuple[int, int]]:
    """Up to ``limit`` (segment, case id) after ``cursor``, in urgency order."""
    segments = _segments(today, horizons, worklist, plain, viewer)
    start = cursor.segment if cursor else 0
    anchor = None
    if cursor is not None:
        anchor = s.execute(
            select(Case.due_on, Case.received_at, Case.id).where(Case.id == cursor.case_id)
        ).first()
        if anchor is None:  # the case is gone: start the segment again
            cursor = None
    out: list[tuple[int, int]] = []
    for number in range(start, len(segments)):
        seg_conds, undated = segments[number]
        where = [*conds, *seg_conds]
        if cursor is not None and anchor is not None and number == cursor.segment:
            where.append(_after_urgency(tuple(anchor)))
        order: list[Any] = [Case.received_at, Case.id]
        if not undated:
            order = [Case.due_on, *order]
        stmt = select(Case.id).where(*where).order_by(*order).limit(limit - len(out))
        ids = s.scalars(stmt).all()
        out.extend((number, i) for i in ids)
        if len(out) >= limit:
            break
    return out


def _page_by_column(
    s: Session,
    conds: list[ColumnElement[bool]],
    sort: Sort,
    desc: bool,
    cursor: Cursor | None,
    limit: int,
) -> list[tuple[int, int]]:
    """Up to ``limit`` (part, case id) after ``cursor`` in (column, id) order; a column that
    can be empty is walked in two parts, the cases with a value (part 0, in index order)
    and then those without (part 1), so that an index on the column serves the sort."""
    col = sort.column
    parts: list[list[ColumnElement[bool]]] = (
        [[col.is_not(None)], [col.is_(None)]] if sort.nullable else [[]]
    )
    start = cursor.segment if cursor else 0
    if start >= len(parts):
        return []
    value = None
    if cursor is not None:
        value = s.execute(select(col).where(Case.id == cursor.case_id)).first()
    out: list[tuple[int, int]] = []
    for number in range(start, len(parts)):
        where = [*conds, *parts[number]]
        if cursor is not None and value is not None and number == cursor.segment:
            if number == 1:  # no value: by id alone
                where.append(Case.id < cursor.case_id if desc else Case.id > cursor.case_id)
            else:
                where.append(_after_column(sort, desc, value[0], cursor.case_id))
        order: list[Any] = [col.desc(), Case.id.desc()] if desc else [col.asc(), Case.id.asc()]
        if number == 1:
            order = [Case.id.desc() if desc else Case.id.asc()]
        ids = s.scalars(
            select(Case.id).where(*where).order_by(*order).limit(limit - len(out))
        ).all()
        out.extend((number, i) for i in ids)
        if len(out) >= limit:
            break
    return out


def held_reasons(s: Session, case_ids: Sequence[int]) -> dict[int, list[str]]:
    """Why the letters of these cases wait for a person (held: the hold reason; failed: the
    last error), per case."""
    out: dict[int, list[str]] = {}
    if not case_ids:
        return out
    rows = s.execute(
        select(
            OutboxLetter.case_id,
            OutboxLetter.status,
            OutboxLetter.purpose,
            OutboxLetter.hold_reason,
            OutboxLetter.last_error,
        )
        .where(
            OutboxLetter.case_id.in_(list(case_ids)),
            OutboxLetter.status.in_(WAITING_LETTER_STATUSES),
        )
        .order_by(OutboxLetter.id)
    ).all()
    for case_id, status, purpose, reason, error in rows:
        what = purpose.replace("_", " ")
        if status == "failed":
            line = f"{what}: sending failed" + (f" ({clip(error, 200)})" if error else "")
        else:
            line = f"{what}: held" + (f" ({clip(reason, 200)})" if reason else "")
        out.setdefault(case_id, []).append(line)
    return out


def _rows(
    s: Session,
    services: Mapping[str, Service],
    bodies_for: set[str],
    today: date,
    keys: list[tuple[int, int]],
    viewer: str,
    horizons: Mapping[str, date],
) -> list[QueueRow]:
    ids = [i for _seg, i in keys]
    if not ids:
        return []
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
        rank_expression(today, horizons).label("rank"),
        new_activity(viewer).label("fresh"),
    )
    fetched = {r.id: r for r in s.execute(select(*cols).where(Case.id.in_(ids))).all()}
    held = held_reasons(s, ids)
    out: list[QueueRow] = []
    for i in ids:
        r = fetched.get(i)
        if r is None:
            continue
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
            received=r.received_at.astimezone(svc.tz).strftime("%a %d %b %Y %H:%M"),
            handler=r.handler or "",
            rank=r.rank,
        )
        if r.rank == 0:
            row.badges.append(Badge("safeguarding", "Safeguarding: look today"))
        elif r.safeguarding:
            row.badges.append(Badge("safeguarding_actioned", "Safeguarding: action recorded"))
        if r.id in held:
            row.badges.append(Badge("letter", "Letter waiting for approval"))
            row.held = held[r.id] if bodies else [x.split(" (", 1)[0] for x in held[r.id]]
        if r.fresh:
            row.badges.append(Badge("new_message", "New message from the family"))
        row.badges.extend(deadline_badges(r.status, r.acknowledge_by, r.respond_by, today, svc))
        out.append(row)
    return out


def clip(text: str, limit: int = LIST_TEXT_CHARS) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis) for a list."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def badge_for(label: str, deadline: date | None, today: date, service: Service) -> Badge:
    status = deadline_status(deadline, today, service, SOON_WORKING_DAYS)
    if deadline is None or status == "none":
        return Badge("none", f"{label}: no deadline")
    day = f"{deadline:%a %d %b %Y}"
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
