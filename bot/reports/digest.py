"""The managers' weekly digest: each service's week apart, as counts and the cases that
need attention (reference, kind, stage, what is due and when: never names or addresses).

The digest for ISO week ``W`` is sent on a day of that week (Monday by default) and covers
the week before it, Monday to Sunday; "due" and "overdue" are as of the day it is sent.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import cast

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import resources
from bot.deadlines import due_horizon, working_days_left
from bot.learning import Correction, correction_counts, correction_table
from bot.letters.waiting import letters_waiting
from bot.models import Case, CaseEvent
from bot.reports.categories import UNCATEGORISED
from bot.reports.categories import labels as category_labels
from bot.reports.charts import bar_chart
from bot.reports.data import (
    CLOCK_KINDS,
    TIMELINESS,
    TIMELINESS_LABELS,
    CaseFacts,
    day_bounds,
    load_facts,
    share,
    stage_requests,
)
from bot.services import Service

TEMPLATES = resources.templates("reports")
DUE_WORKING_DAYS = 5
CHART_CID = "trend-chart"


def parse_week(text: str) -> tuple[int, int]:
    """``2026-W47`` -> (2026, 47); ValueError otherwise."""
    year, sep, week = text.strip().upper().partition("-W")
    if not sep or not year.isdigit() or not week.isdigit():
        raise ValueError(f"expected an ISO week such as 2026-W47, got {text!r}")
    date.fromisocalendar(int(year), int(week), 1)  # raises ValueError if no such week
    return int(year), int(week)


def week_label(day: date) -> str:
    y, w, _ = day.isocalendar()
    return f"{y}-W{w:02d}"


def week_monday(label: str) -> date:
    y, w = parse_week(label)
    return date.fromisocalendar(y, w, 1)


@dataclass(frozen=True)
class DueRow:
    """A case with a procedure clock running: what is due, and when. No names, no text."""

    reference: str
    service: str
    kind: str
    stage: int
    what: str  # "acknowledgement" | "response"
    due: date
    days: int  # working days left (due) or late (overdue)
    extended: bool = False
    out_of_scope: bool = False  # flagged: its clock still runs until a person says otherwise

    @property
    def label(self) -> str:
        kind = self.kind.replace("_", " ") + (" (out of scope)" if self.out_of_scope else "")
        return f"{kind}, Stage {self.stage}, {self.what}" + (" (extended)" if self.extended else "")


@dataclass
class ServiceWeek:
    """One service's part of the digest."""

    service: str
    new_by_kind: dict[str, int] = field(default_factory=dict)
    #: Open complaints and Stage 2 requests (the procedures' clocks), by stage.
    open_by_stage: dict[int, int] = field(default_factory=dict)
    #: Other open cases (enquiries, compliments, comments...) by kind: no stage.
    open_other: dict[str, int] = field(default_factory=dict)
    out_of_scope_open: int = 0
    due_soon: list[DueRow] = field(default_factory=list)
    overdue: list[DueRow] = field(default_factory=list)
    ack_on_time: int = 0
    ack_total: int = 0
    responses: dict[str, int] = field(default_factory=dict)
    next_stage_requests: int = 0
    ombudsman: int = 0
    compliments: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    uncategorised: int = 0

    @property
    def ack_share(self) -> str:
        return share(self.ack_on_time, self.ack_total)

    @property
    def responses_total(self) -> int:
        return sum(self.responses.values())

    def response_share(self, key: str) -> str:
        return share(self.responses.get(key, 0), self.responses_total)


@dataclass
class Digest:
    week: str
    services: tuple[str, ...]
    period_start: date
    period_end: date  # inclusive
    today: date
    by_service: dict[str, ServiceWeek] = field(default_factory=dict)
    trend: list[tuple[str, int]] = field(default_factory=list)
    #: Classifier corrections per kind it said: the digest's week and the year to its end.
    corrections_week: list[Correction] = field(default_factory=list)
    corrections_year: list[Correction] = field(default_factory=list)
    letters_waiting: int = 0  # letters waiting more than an hour to be sent

    @property
    def corrections(self) -> list[tuple[str, Correction, Correction]]:
        return correction_table(self.corrections_week, self.corrections_year)

    @property
    def weeks(self) -> list[ServiceWeek]:
        return list(self.by_service.values())


def _month_starts(end: date, n: int = 12) -> list[date]:
    y, m = end.year, end.month
    out = []
    for _ in range(n):
        out.append(date(y, m, 1))
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def _due_row(c: CaseFacts, today: date, svc: Service) -> DueRow | None:
    """What is due on an open case with a procedure clock, or None."""
    if c.due_on is None:
        return None
    acknowledging = c.status in ("received", "next_stage_requested")
    what = "acknowledgement" if acknowledging and c.due_on == c.acknowledge_by else "response"
    days = working_days_left(c.due_on, today, svc)
    extended = any(e.kind == "extend" and e.from_stage == c.stage for e in c.events)
    return DueRow(
        c.reference, c.service, c.kind, c.stage, what, c.due_on, days, extended, c.out_of_scope
    )


def build_digest(
    s: Session,
    services: Mapping[str, Service],
    wanted: Sequence[str],
    week: str,
    today: date,
    now: datetime | None = None,
) -> Digest:
    """The digest for ``week``, a part per service ``wanted``, as of ``today`` (and ``now``,
    for letters still waiting to be sent)."""
    monday = week_monday(week)
    first, last = monday - timedelta(days=7), monday - timedelta(days=1)
    wanted = tuple(sorted(wanted))
    d = Digest(week, wanted, first, last, today)
    d.by_service = {svc: ServiceWeek(svc) for svc in wanted}
    if now is not None:
        d.letters_waiting = letters_waiting(s, now, wanted)
    start, end = day_bounds(first, last)
    cat_labels = category_labels()
    for c in load_facts(s, wanted, received_from=start, received_to=end):
        w = d.by_service[c.service]
        w.new_by_kind[c.kind] = w.new_by_kind.get(c.kind, 0) + 1
        w.compliments += c.kind == "compliment"
        if c.is_complaint:
            if c.category == UNCATEGORISED:
                w.uncategorised += 1
            else:
                label = cat_labels.get(c.category, c.category)
                w.categories[label] = w.categories.get(label, 0) + 1

    for c in load_facts(s, wanted, open_only=True):
        w = d.by_service[c.service]
        if c.kind not in CLOCK_KINDS:
            w.open_other[c.kind] = w.open_other.get(c.kind, 0) + 1
            continue
        if c.out_of_scope:
            w.out_of_scope_open += 1
        else:
            w.open_by_stage[c.stage] = w.open_by_stage.get(c.stage, 0) + 1
        row = _due_row(c, today, services[c.service])
        if row is None:
            continue
        if row.due < today:
            w.overdue.append(replace(row, days=-row.days))
        elif row.due <= due_horizon(today, DUE_WORKING_DAYS, services[c.service]):
            w.due_soon.append(row)

    # What happened this week, from the trail.
    touched = list(
        s.scalars(
            select(CaseEvent.case_id)
            .join(Case, Case.id == CaseEvent.case_id)
            .where(Case.service.in_(wanted), CaseEvent.at >= start, CaseEvent.at < end)
            .distinct()
        )
    )
    responses: dict[str, Counter[str]] = {svc: Counter() for svc in wanted}
    for c in load_facts(s, wanted, ids=touched) if touched else []:
        w = d.by_service[c.service]
        for e in c.events:
            if not start <= e.at < end:
                continue
            if e.kind == "close" and e.detail.get("reason") == "ombudsman":
                w.ombudsman += 1
        if c.out_of_scope:
            continue
        for clock in c.clocks(services[c.service]):
            acked = clock.acknowledged
            if acked is not None and first <= acked <= last:
                w.ack_total += 1
                w.ack_on_time += acked <= clock.acknowledge_by
            bucket = clock.response_bucket()
            if bucket is not None and clock.responded and first <= clock.responded <= last:
                responses[c.service][bucket] += 1
    for svc, _stage in stage_requests(s, wanted, start, end):
        d.by_service[svc].next_stage_requests += 1
    for svc, w in d.by_service.items():
        w.responses = {k: responses[svc].get(k, 0) for k in TIMELINESS}
        w.new_by_kind = dict(sorted(w.new_by_kind.items()))
        w.open_by_stage = dict(sorted(w.open_by_stage.items()))
        w.open_other = dict(sorted(w.open_other.items()))
        w.categories = dict(sorted(w.categories.items(), key=lambda kv: (-kv[1], kv[0])))
        w.overdue.sort(key=lambda r: (r.due, r.reference))
        w.due_soon.sort(key=lambda r: (r.due, r.reference))

    # Twelve months of complaints received, ending with the month the period ends in.
    months = _month_starts(last)
    t_start, t_end = day_bounds(months[0], last)
    per_month: Counter[str] = Counter()
    for c in load_facts(s, wanted, received_from=t_start, received_to=t_end):
        if c.is_complaint:
            per_month[c.received_at.astimezone(services[c.service].tz).strftime("%Y-%m")] += 1
    d.trend = [(m.strftime("%b %Y"), per_month.get(m.strftime("%Y-%m"), 0)) for m in months]

    # How often a person corrected the classifier, per kind it said (counts only).
    d.corrections_week = correction_counts(s, wanted, start, end)
    d.corrections_year = correction_counts(s, wanted, *day_bounds(date(last.year, 1, 1), last))
    return d


def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "html.j2"]),  # the .txt.j2 digest is plain text
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_text(d: Digest) -> str:
    return _env().get_template("digest.txt.j2").render(d=d, labels=TIMELINESS_LABELS)


def render_html(d: Digest, chart_src: str) -> str:
    return (
        _env()
        .get_template("digest.html.j2")
        .render(d=d, labels=TIMELINESS_LABELS, chart_src=chart_src)
    )


def trend_png(d: Digest) -> bytes:
    return bar_chart([m for m, _ in d.trend], [n for _, n in d.trend], "Complaints received")


def subject_for(d: Digest) -> str:
    return f"Weekly complaints digest {d.week} ({', '.join(d.services)})"


def build_message(
    d: Digest, from_addr: str, to_addr: str, now: datetime, domain: str = "sendiass-bot"
) -> EmailMessage:
    """The digest as an email: plain text, and HTML with the trend chart inline by
    Content-ID. The Message-ID is derived from the recipient and the week."""
    png = trend_png(d)
    msg = EmailMessage()
    msg["From"] = from_addr
    msg["To"] = to_addr
    msg["Subject"] = subject_for(d)
    msg["Date"] = format_datetime(now)
    token = hashlib.sha256(
        f"{to_addr.lower()}|{d.week}|{','.join(d.services)}".encode()
    ).hexdigest()
    msg["Message-ID"] = f"<digest.{d.week}.{token[:24]}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(render_text(d))
    msg.add_alternative(render_html(d, f"cid:{CHART_CID}"), subtype="html")
    for part in msg.iter_parts():
        if part.get_content_type() == "text/html":
            cast(EmailMessage, part).add_related(
                png, "image", "png", cid=f"<{CHART_CID}>", filename="trend.png"
            )
    return msg
