"""Reading cases for the reports: the columns and trail they need, never names or text.

What is counted is decided here once, for the annual report, the digest and the exports:

* a **complaint** is a case of kind ``complaint`` that is not out of scope and not an informal
  concern (:mod:`bot.figures`); a case merged into another is a duplicate;
* its **category** is the one a coordinator chose (keywords only suggest);
* **timeliness** is measured against the service's own limits for the stage (from its file
  under ``config/services/``) and any extension agreed on the case: within the limit, within
  an agreed extension, or out of timescale; acknowledgements likewise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import figures
from bot.deadlines import stage_deadlines
from bot.models import Case, CaseEvent
from bot.reports.categories import UNCATEGORISED
from bot.services import Service
from bot.workdays import clock_start

LONDON = ZoneInfo("Europe/London")
#: Responses against the service's own limits.
TIMELINESS = ("on_time", "extended", "late")
TIMELINESS_LABELS = {
    "on_time": "Within the procedure's limit",
    "extended": "Within an agreed extension",
    "late": "Out of timescale",
}
#: Acknowledgements against the service's own limits.
ACK = ("on_time", "late", "missing")
ACK_LABELS = {
    "on_time": "Acknowledged in time",
    "late": "Acknowledged late",
    "missing": "Not acknowledged by its date",
}
#: Kinds whose stages have the procedure's clocks.
CLOCK_KINDS = ("complaint", "stage2_request")


@dataclass(frozen=True)
class Ev:
    kind: str
    at: datetime
    detail: Mapping[str, Any]

    @property
    def on(self) -> date:
        raw = self.detail.get("on")
        return date.fromisoformat(raw) if isinstance(raw, str) else self.at.date()

    @property
    def from_stage(self) -> int | None:
        frm = self.detail.get("from") or {}
        stage = frm.get("stage") if isinstance(frm, Mapping) else None
        return int(stage) if stage is not None else None

    @property
    def to_stage(self) -> int | None:
        to = self.detail.get("to") or {}
        stage = to.get("stage") if isinstance(to, Mapping) else None
        return int(stage) if stage is not None else None


@dataclass(frozen=True)
class StageClock:
    """One stage of a case, measured against the service's limits."""

    stage: int
    started: date  # the day the stage's clock started
    acknowledge_by: date
    respond_by: date  # the procedure's limit
    extended_to: date | None  # the date of an agreed extension, if any
    acknowledged: date | None
    responded: date | None
    closed: date | None = None  # the day the case closed, if it did

    def response_bucket(self) -> str | None:
        if self.responded is None:
            return None
        if self.responded <= self.respond_by:
            return "on_time"
        if self.extended_to is not None and self.responded <= self.extended_to:
            return "extended"
        return "late"

    def ack_bucket(self, as_of: date) -> str | None:
        """In time, late, or "missing" once its date has passed (by ``as_of``) with no
        acknowledgement; a response sent by the acknowledgement's date acknowledges it, and a
        case closed (withdrawn, say) by that date needed none."""
        if self.acknowledged is not None:
            return "on_time" if self.acknowledged <= self.acknowledge_by else "late"
        if self.responded is not None and self.responded <= self.acknowledge_by:
            return "on_time"
        if self.closed is not None and self.closed <= self.acknowledge_by:
            return None
        if self.acknowledge_by < as_of:
            return "missing"
        return None


@dataclass
class CaseFacts:
    id: int
    reference: str
    service: str
    kind: str
    status: str
    stage: int
    channel: str
    via_mp: bool
    received_at: datetime
    closure_reason: str | None
    outcome: str | None
    justification: str | None
    due_on: date | None
    category: str
    complainant: str
    ombudsman_decision: str | None
    flags: Mapping[str, Any] = field(default_factory=dict)
    merged_into_id: int | None = None
    complainant_guessed: bool = False
    acknowledge_by: date | None = None
    respond_by: date | None = None
    events: list[Ev] = field(default_factory=list)

    def has(self, kind: str) -> bool:
        return any(e.kind == kind for e in self.events)

    @property
    def out_of_scope(self) -> bool:
        return figures.out_of_scope(self.flags, self.closure_reason)

    @property
    def informal(self) -> bool:
        return figures.informal(self.flags)

    @property
    def about_coordinator(self) -> bool:
        return bool(self.flags.get("about_coordinator"))

    @property
    def is_complaint(self) -> bool:
        """Counted as a formal complaint: in scope, not informal, not a duplicate."""
        return (
            self.kind == "complaint"
            and not self.out_of_scope
            and not self.informal
            and self.merged_into_id is None
        )

    @property
    def linked(self) -> bool:
        return bool(self.flags.get("linked"))

    def start_stage(self) -> int:
        """The stage the case started at (a later one for a complaint about the
        coordinator, or a request for the next stage that came as its own case)."""
        stages = [e.from_stage for e in self.events if e.from_stage is not None]
        return min([self.stage, *stages])

    def next_stage_requests(self) -> list[Ev]:
        return [e for e in self.events if e.kind == "request_next_stage"]

    def stage_start(self, stage: int, service: Service) -> date:
        """When ``stage``'s clock started: the case's arrival for the stage it started at,
        else the day the request for it arrived."""
        if stage > self.start_stage():
            for e in self.events:
                if e.kind == "request_next_stage" and e.to_stage == stage:
                    # the engine's own clock start when recorded (cut-off, arrival time)
                    dl = e.detail.get("deadlines")
                    started = dl.get("clock_starts") if isinstance(dl, Mapping) else None
                    return date.fromisoformat(started) if isinstance(started, str) else e.on
        cs = clock_start(self.received_at, service.calendar, service.cutoff_hour, service.tz)
        assert cs.value is not None
        return cs.value

    def clocks(self, service: Service) -> list[StageClock]:
        """Each stage the case entered, against the service's limits."""
        if self.kind not in CLOCK_KINDS:
            return []
        first = self.start_stage()
        stages = sorted({first, *(e.to_stage for e in self.next_stage_requests() if e.to_stage)})
        out: list[StageClock] = []
        for n in stages:
            if not service.has_stage(n):
                continue
            start = self.stage_start(n, service)
            dl = stage_deadlines(service, n, start)
            mine = [e for e in self.events if e.from_stage == n]
            ack = next((e.on for e in mine if e.kind == "acknowledge"), None)
            resp = next((e.on for e in mine if e.kind == "respond"), None)
            ext = [e for e in mine if e.kind == "extend" and e.detail.get("respond_by")]
            extended = date.fromisoformat(str(ext[-1].detail["respond_by"])) if ext else None
            closed = next((e.on for e in mine if e.kind == "close"), None)
            out.append(
                StageClock(
                    n,
                    dl.clock_starts,
                    dl.acknowledge_by,
                    dl.respond_by,
                    extended,
                    ack,
                    resp,
                    closed,
                )
            )
        return out

    def extension_reasons(self) -> list[tuple[int, str]]:
        return [
            (e.from_stage or self.stage, str(e.detail.get("reason") or "").strip())
            for e in self.events
            if e.kind == "extend"
        ]


def day_bounds(first: date, last: date, tz: ZoneInfo = LONDON) -> tuple[datetime, datetime]:
    """UTC instants of local midnight before ``first`` and after ``last`` (inclusive days)."""
    start = datetime.combine(first, time(0), tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
    return start, end


def load_facts(
    s: Session,
    services: Sequence[str],
    *,
    received_from: datetime | None = None,
    received_to: datetime | None = None,
    ids: Sequence[int] | None = None,
    open_only: bool = False,
    merged: bool = False,
) -> list[CaseFacts]:
    """Cases of ``services`` received in [from, to) (or by id, or still open), with their
    trail. Cases merged into another are left out unless ``merged``."""
    q = select(Case).where(Case.service.in_(list(services)))
    if not merged:
        q = q.where(Case.merged_into_id.is_(None))
    if received_from is not None:
        q = q.where(Case.received_at >= received_from)
    if received_to is not None:
        q = q.where(Case.received_at < received_to)
    if ids is not None:
        q = q.where(Case.id.in_(list(ids)))
    if open_only:
        q = q.where(Case.status != "closed")
    cases = list(s.scalars(q.order_by(Case.received_at, Case.id)))
    if not cases:
        return []
    case_ids = [c.id for c in cases]
    events: dict[int, list[Ev]] = {}
    for i in range(0, len(case_ids), 500):
        chunk = case_ids[i : i + 500]
        for case_id, kind, at, detail in s.execute(
            select(CaseEvent.case_id, CaseEvent.kind, CaseEvent.at, CaseEvent.detail)
            .where(CaseEvent.case_id.in_(chunk))
            .order_by(CaseEvent.at, CaseEvent.id)
        ).all():
            events.setdefault(case_id, []).append(Ev(kind, at, detail or {}))
    out: list[CaseFacts] = []
    for c in cases:
        cls = c.classification or {}
        out.append(
            CaseFacts(
                id=c.id,
                reference=c.reference,
                service=c.service,
                kind=c.kind,
                status=c.status,
                stage=c.stage,
                channel=c.channel,
                via_mp=bool(c.via_mp),
                received_at=c.received_at,
                closure_reason=c.closure_reason,
                outcome=c.outcome,
                justification=c.justification,
                due_on=c.due_on,
                category=figures.category_of(cls) or UNCATEGORISED,
                complainant=figures.complainant_of(cls),
                ombudsman_decision=cls.get("ombudsman_decision"),
                flags=dict(c.flags or {}),
                merged_into_id=c.merged_into_id,
                complainant_guessed=cls.get("complainant_source") == "guess",
                acknowledge_by=c.acknowledge_by,
                respond_by=c.respond_by,
                events=events.get(c.id, []),
            )
        )
    return out


def stage_requests(
    s: Session, wanted: Sequence[str], start: datetime, end: datetime
) -> list[tuple[str, int]]:
    """(service, stage requested) for each request for a later stage that arrived in
    [start, end): one recorded on a case ("request for the next stage", on the day it
    arrived), or one that came as its own ``stage2_request`` case, unless that case was merged
    into a case where the request is recorded (it would count twice). Out of scope: none."""
    out: list[tuple[str, int]] = []
    ids = list(
        s.scalars(
            select(CaseEvent.case_id)
            .join(Case, Case.id == CaseEvent.case_id)
            .where(
                Case.service.in_(list(wanted)),
                CaseEvent.kind == "request_next_stage",
                CaseEvent.at >= start,
                CaseEvent.at < end,
            )
            .distinct()
        )
    )
    for f in load_facts(s, wanted, ids=ids, merged=True) if ids else []:
        if f.out_of_scope or f.kind not in CLOCK_KINDS:
            continue
        for e in f.next_stage_requests():
            if start <= e.at < end and e.to_stage is not None:
                out.append((f.service, e.to_stage))
    own = [
        f
        for f in load_facts(s, wanted, received_from=start, received_to=end, merged=True)
        if f.kind == "stage2_request" and not f.out_of_scope and not f.has("request_next_stage")
    ]
    targets = {f.merged_into_id for f in own if f.merged_into_id is not None}
    recorded = (
        set(
            s.scalars(
                select(CaseEvent.case_id).where(
                    CaseEvent.case_id.in_(list(targets)), CaseEvent.kind == "request_next_stage"
                )
            )
        )
        if targets
        else set()
    )
    out += [(f.service, f.start_stage()) for f in own if f.merged_into_id not in recorded]
    return out


def share(n: int, total: int) -> str:
    """A percentage to one decimal place, truncated as in the council's report (10 of 29 is
    34.4%), or an em dash when there is nothing to divide."""
    if total <= 0:
        return "–"
    tenths = n * 1000 // total
    return f"{tenths // 10}.{tenths % 10}%"
