"""Reading cases for the reports: the columns and trail they need, never names or text.

The only text read is the first inbound message's, to put a complaint in a category when no
coordinator has chosen one (the text itself never leaves this module)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.deadlines import timeliness
from bot.models import Case, CaseEvent, Message
from bot.reports.categories import UNCATEGORISED, categorise
from bot.services import Service

LONDON = ZoneInfo("Europe/London")
TIMELINESS = ("within_10", "within_20", "out_of_timescale")
TIMELINESS_LABELS = {
    "within_10": "Within 10 working days",
    "within_20": "Within 20 working days",
    "out_of_timescale": "Out of timescale",
}


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
    events: list[Ev] = field(default_factory=list)

    def has(self, kind: str) -> bool:
        return any(e.kind == kind for e in self.events)

    def requested_next_stage(self) -> bool:
        return self.stage >= 2 or self.has("request_next_stage")

    def stage_start(self, stage: int) -> date | datetime:
        """When ``stage``'s clock started: the case's arrival for Stage 1, else the request."""
        if stage <= 1:
            return self.received_at
        for e in self.events:
            if e.kind == "request_next_stage" and (e.detail.get("to") or {}).get("stage") == stage:
                return e.on
        return self.received_at

    def responses(self, service: Service) -> list[tuple[int, Ev, str]]:
        """(stage, respond event, timeliness bucket) for each stage's first response."""
        seen: set[int] = set()
        out: list[tuple[int, Ev, str]] = []
        for e in self.events:
            if e.kind != "respond":
                continue
            stage = e.from_stage or 1
            if stage in seen:
                continue
            seen.add(stage)
            out.append((stage, e, timeliness(self.stage_start(stage), e.on, service)))
        return out


def day_bounds(first: date, last: date, tz: ZoneInfo = LONDON) -> tuple[datetime, datetime]:
    """UTC instants of local midnight before ``first`` and after ``last`` (inclusive days)."""
    start = datetime.combine(first, time(0), tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
    return start, end


def _first_texts(s: Session, ids: Sequence[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for i in range(0, len(ids), 500):
        chunk = list(ids[i : i + 500])
        rows = s.execute(
            select(Message.case_id, Message.new_text, Message.text)
            .where(Message.case_id.in_(chunk), Message.direction == "in")
            .order_by(Message.id)
        ).all()
        for case_id, new_text, text in rows:
            if case_id is not None and case_id not in out:
                out[case_id] = new_text or text or ""
    return out


def load_facts(
    s: Session,
    services: Sequence[str],
    *,
    received_from: datetime | None = None,
    received_to: datetime | None = None,
    ids: Sequence[int] | None = None,
    open_only: bool = False,
) -> list[CaseFacts]:
    """Cases of ``services`` received in [from, to) (or by id, or still open), with their
    trail and category."""
    q = select(Case).where(Case.service.in_(list(services)), Case.merged_into_id.is_(None))
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
    need_text = [
        c.id
        for c in cases
        if c.kind == "complaint" and not (c.classification or {}).get("category")
    ]
    texts = _first_texts(s, need_text) if need_text else {}
    out: list[CaseFacts] = []
    for c in cases:
        cls = c.classification or {}
        category = cls.get("category")
        if not category and c.kind == "complaint":
            category = categorise(f"{c.subject}\n{texts.get(c.id, '')}")
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
                category=str(category or UNCATEGORISED),
                complainant=str(cls.get("complainant") or "not_recorded"),
                ombudsman_decision=cls.get("ombudsman_decision"),
                events=events.get(c.id, []),
            )
        )
    return out


def share(n: int, total: int) -> str:
    """A percentage to one decimal place, truncated as in the council's report (10 of 29 is
    34.4%), or an em dash when there is nothing to divide."""
    if total <= 0:
        return "–"
    tenths = n * 1000 // total
    return f"{tenths // 10}.{tenths % 10}%"
