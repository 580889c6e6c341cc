"""The annual complaints report, in the structure of the council's 2020/21 report and with the
headings the LGSCO Complaint Handling Code asks of an annual report: numbers by stage,
timeliness, outcomes, learning and service improvements, Ombudsman referrals and decisions.

"Complaints received" are the complaints made directly (``kind == "complaint"``, not via an
MP); complaints made through an MP are counted separately, as in the council's report.
"""

from __future__ import annotations

import base64
import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Case, LearningRecord
from bot.reports.categories import labels as category_labels
from bot.reports.categories import load_categories
from bot.reports.charts import bar_chart
from bot.reports.data import TIMELINESS, TIMELINESS_LABELS, day_bounds, load_facts, share
from bot.reports.digest import _env
from bot.services import Service

COMPLAINANTS = {
    "parent_carer": "Parents/carers",
    "young_person": "Young people",
    "professional": "Professionals",
    "other": "Others",
    "not_recorded": "Not recorded",
}


@dataclass(frozen=True)
class Learning:
    reference: str
    you_said: str
    we_did: str
    what_else: str


@dataclass
class AnnualReport:
    first: date
    last: date
    services: tuple[str, ...]
    received: int = 0
    received_by_service: dict[str, int] = field(default_factory=dict)
    via_mp: int = 0
    resolved_stage1: int = 0
    requested_stage2: int = 0
    withdrawn: int = 0
    ombudsman: int = 0
    ombudsman_decisions: dict[str, int] = field(default_factory=dict)
    by_stage: dict[int, int] = field(default_factory=dict)  # highest stage reached
    complainants: dict[str, int] = field(default_factory=dict)
    timescales: dict[int, dict[str, int]] = field(default_factory=dict)  # stage -> bucket
    categories: dict[str, int] = field(default_factory=dict)  # label -> n
    outcomes: dict[str, int] = field(default_factory=dict)
    justification: dict[str, int] = field(default_factory=dict)
    closure: dict[str, int] = field(default_factory=dict)
    compliments: int = 0
    comments: int = 0
    learning: list[Learning] = field(default_factory=list)

    def timescale_total(self, stage: int) -> int:
        return sum(self.timescales.get(stage, {}).values())

    def timescale_share(self, stage: int, key: str) -> str:
        return share(self.timescales.get(stage, {}).get(key, 0), self.timescale_total(stage))

    @property
    def period(self) -> str:
        return f"{self.first:%-d %B %Y} to {self.last:%-d %B %Y}"

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(section, measure, value, share) rows: the CSV form and the test's oracle."""
        out: list[tuple[str, str, str, str]] = [
            ("period", "from", self.first.isoformat(), ""),
            ("period", "to", self.last.isoformat(), ""),
            ("period", "services", " ".join(self.services), ""),
            ("received", "complaints received", str(self.received), ""),
        ]
        out += [
            ("received", f"service {k}", str(n), "") for k, n in self.received_by_service.items()
        ]
        out += [
            ("received", "complaints via MP", str(self.via_mp), ""),
            ("progress", "resolved at Stage 1", str(self.resolved_stage1), ""),
            ("progress", "requested Stage 2", str(self.requested_stage2), ""),
            ("progress", "withdrawn", str(self.withdrawn), ""),
            ("progress", "Ombudsman referrals", str(self.ombudsman), ""),
        ]
        out += [("by stage", f"Stage {k}", str(n), "") for k, n in self.by_stage.items()]
        out += [("who complained", k, str(n), "") for k, n in self.complainants.items()]
        for stage in sorted(self.timescales):
            for key in TIMELINESS:
                n = self.timescales[stage].get(key, 0)
                out.append(
                    (
                        f"timescales Stage {stage}",
                        TIMELINESS_LABELS[key],
                        str(n),
                        self.timescale_share(stage, key),
                    )
                )
        out += [("categories", k, str(n), "") for k, n in self.categories.items()]
        out += [("outcomes", k, str(n), "") for k, n in self.outcomes.items()]
        out += [("justification", k, str(n), "") for k, n in self.justification.items()]
        out += [("closure", k, str(n), "") for k, n in self.closure.items()]
        out += [("ombudsman decisions", k, str(n), "") for k, n in self.ombudsman_decisions.items()]
        out += [
            ("compliments", "compliments received", str(self.compliments), ""),
            ("comments", "comments received", str(self.comments), ""),
            ("learning", "learning records", str(len(self.learning)), ""),
        ]
        return out


def build_annual(
    s: Session, services: Mapping[str, Service], wanted: Sequence[str], first: date, last: date
) -> AnnualReport:
    wanted = tuple(sorted(wanted))
    r = AnnualReport(first, last, wanted)
    start, end = day_bounds(first, last)
    facts = load_facts(s, wanted, received_from=start, received_to=end)
    complaints = [c for c in facts if c.kind == "complaint" and not c.via_mp]
    r.via_mp = sum(1 for c in facts if c.kind == "complaint" and c.via_mp)
    r.compliments = sum(1 for c in facts if c.kind == "compliment")
    r.comments = sum(1 for c in facts if c.kind == "comment")
    r.received = len(complaints)
    r.received_by_service = dict(sorted(Counter(c.service for c in complaints).items()))
    r.withdrawn = sum(1 for c in complaints if c.closure_reason == "withdrawn")
    r.ombudsman = sum(1 for c in complaints if c.closure_reason == "ombudsman")
    r.requested_stage2 = sum(1 for c in complaints if c.requested_next_stage())
    r.resolved_stage1 = sum(
        1 for c in complaints if c.closure_reason == "resolved" and not c.requested_next_stage()
    )
    r.by_stage = dict(sorted(Counter(c.stage for c in complaints).items()))
    r.complainants = {
        COMPLAINANTS.get(k, k): n for k, n in Counter(c.complainant for c in complaints).items()
    }
    r.ombudsman_decisions = dict(
        sorted(Counter(c.ombudsman_decision for c in complaints if c.ombudsman_decision).items())
    )
    timescales: dict[int, Counter[str]] = {}
    for c in complaints:
        for stage, _e, bucket in c.responses(services[c.service]):
            timescales.setdefault(stage, Counter())[bucket] += 1
    r.timescales = {k: {b: v.get(b, 0) for b in TIMELINESS} for k, v in sorted(timescales.items())}
    names = category_labels()
    counts = Counter(c.category for c in complaints)
    order = [c.key for c in load_categories()] + sorted(set(counts) - set(names))
    r.categories = {names.get(k, k): counts[k] for k in [*order, "uncategorised"] if counts.get(k)}
    r.outcomes = dict(sorted(Counter(c.outcome or "not recorded" for c in complaints).items()))
    r.justification = dict(
        sorted(Counter(c.justification for c in complaints if c.justification).items())
    )
    r.closure = dict(sorted(Counter(c.closure_reason or "open" for c in complaints).items()))
    ids = [c.id for c in complaints]
    if ids:
        rows = s.execute(
            select(Case.reference, LearningRecord)
            .join(Case, Case.id == LearningRecord.case_id)
            .where(LearningRecord.case_id.in_(ids))
            .order_by(Case.received_at, Case.id)  # id: same order on every database
        ).all()
        r.learning = [Learning(ref, lr.you_said, lr.we_did, lr.what_else) for ref, lr in rows]
    return r


def categories_png(r: AnnualReport) -> bytes:
    return bar_chart(
        list(r.categories), list(r.categories.values()), "What people complained about", True
    )


def render_html(r: AnnualReport) -> str:
    chart = base64.b64encode(categories_png(r)).decode("ascii") if r.categories else ""
    return (
        _env()
        .get_template("annual.html.j2")
        .render(r=r, labels=TIMELINESS_LABELS, chart_src=f"data:image/png;base64,{chart}")
    )


def render_csv(r: AnnualReport) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "measure", "value", "share"])
    w.writerows(r.rows())
    return buf.getvalue()
