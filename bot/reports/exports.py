"""CSV exports of cases and their trail for a manager's own analysis: columns and dates,
never names, addresses, subjects, message bodies or coordinators' notes."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Case
from bot.reports.data import day_bounds, load_facts

CASE_COLUMNS = (
    "reference", "service", "kind", "status", "stage", "channel", "via_mp", "received_at",
    "acknowledge_by", "respond_by", "due_on", "closed_at", "closure_reason", "outcome",
    "justification", "category", "safeguarding",
)  # fmt: skip
EVENT_COLUMNS = (
    "reference", "service", "at", "kind", "from_stage", "to_stage", "on", "reason", "on_time",
)  # fmt: skip


def _iso(value: object) -> str:
    return (
        value.isoformat() if hasattr(value, "isoformat") else ("" if value is None else str(value))
    )


def export_cases(s: Session, services: Sequence[str], first: date, last: date) -> str:
    start, end = day_bounds(first, last)
    facts = {f.id: f for f in load_facts(s, services, received_from=start, received_to=end)}
    rows = (
        s.execute(
            select(
                Case.id, Case.acknowledge_by, Case.respond_by, Case.closed_at, Case.safeguarding
            ).where(Case.id.in_(list(facts)))
        ).all()
        if facts
        else []
    )
    extra = {r.id: r for r in rows}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CASE_COLUMNS)
    for f in facts.values():
        x = extra[f.id]
        w.writerow(
            [
                f.reference, f.service, f.kind, f.status, f.stage, f.channel, int(f.via_mp),
                _iso(f.received_at), _iso(x.acknowledge_by), _iso(x.respond_by), _iso(f.due_on),
                _iso(x.closed_at), f.closure_reason or "", f.outcome or "", f.justification or "",
                f.category if f.kind == "complaint" else "", int(bool(x.safeguarding)),
            ]
        )  # fmt: skip
    return buf.getvalue()


def export_events(s: Session, services: Sequence[str], first: date, last: date) -> str:
    start, end = day_bounds(first, last)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EVENT_COLUMNS)
    for f in load_facts(s, services, received_from=start, received_to=end):
        for e in f.events:
            to = e.detail.get("to") or {}
            on_time = e.detail.get("on_time")
            w.writerow(
                [
                    f.reference, f.service, _iso(e.at), e.kind, e.from_stage or "",
                    to.get("stage", "") if isinstance(to, dict) else "",
                    e.detail.get("on", ""), e.detail.get("reason", ""),
                    "" if on_time is None else int(bool(on_time)),
                ]
            )  # fmt: skip
    return buf.getvalue()
