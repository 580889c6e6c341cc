"""The annual complaints report, section by section as the council's 2020/21 report
(docs/procedures/council-send-complaints-annual-report-2020-21.txt): scope and year with the
comparison with the previous year (1.1-1.3), by team (1.3), via an MP with duplicates (1.2),
informal concerns (1.4), who complained (2), timescale definitions (3.1), timeliness (3.2),
reasons for delay (3.5), what people complained about and the themes (4), how we dealt with
complaints (5), compliments (6), learning (7) and recommendations (8).

What is counted (see :mod:`bot.reports.data`): formal complaints made directly (in scope, not
informal, not duplicates), received in the period; complaints through an MP apart. Stage 2
requests are the requests themselves: a request for the next stage recorded on a complaint,
or a request that arrived as its own case; a complaint about the coordinator that starts at a
later stage is a complaint, not a request.

The report is a list of :class:`Section` (paragraphs and tables of strings): the HTML, the PDF
and the CSV are each a rendering of that one list, so they cannot disagree.
"""

from __future__ import annotations

import base64
import csv
import io
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.figures import COMPLAINANTS, NOT_RECORDED
from bot.models import Case, LearningRecord
from bot.reports.categories import UNCATEGORISED, load_categories
from bot.reports.categories import labels as category_labels
from bot.reports.charts import bar_chart
from bot.reports.data import (
    ACK,
    ACK_LABELS,
    TIMELINESS,
    TIMELINESS_LABELS,
    CaseFacts,
    day_bounds,
    load_facts,
    share,
    stage_requests,
)
from bot.reports.digest import _env
from bot.services import Service, Window

OUTCOME_LABELS = {
    "upheld": "Upheld",
    "partly_upheld": "Partly upheld",
    "not_upheld": "Not upheld",
    None: "No decision recorded",
}
CLOSURE_LABELS = {
    "resolved": "Resolved",
    "withdrawn": "Withdrawn",
    "ombudsman": "Referred to the Ombudsman",
    "out_of_time": "Closed: out of time",
    "out_of_scope": "Closed: out of scope",
}


@dataclass(frozen=True)
class Learning:
    reference: str
    you_said: str
    we_did: str
    what_else: str


@dataclass(frozen=True)
class Table:
    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    id: str = ""


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()


@dataclass
class Core:
    """The headline counts of one period (the report's year, and the year before)."""

    received: int = 0
    via_mp: int = 0
    via_mp_duplicates: int = 0
    resolved_first_stage: int = 0
    requested_stage2: int = 0
    withdrawn: int = 0
    ombudsman: int = 0
    informal: int = 0
    out_of_scope: int = 0
    compliments: int = 0
    comments: int = 0


@dataclass
class ServiceRow:
    received: int = 0
    about_coordinator: int = 0
    via_mp: int = 0
    requested_stage2: int = 0
    ombudsman: int = 0
    responses: int = 0
    late: int = 0


@dataclass
class AnnualReport:
    first: date
    last: date
    services: tuple[str, ...]
    core: Core = field(default_factory=Core)
    previous: Core = field(default_factory=Core)
    about_coordinator: int = 0
    still_open: int = 0
    requests_by_stage: dict[int, int] = field(default_factory=dict)
    by_service: dict[str, ServiceRow] = field(default_factory=dict)
    by_stage: dict[int, int] = field(default_factory=dict)  # highest stage reached
    complainants: dict[str, int] = field(default_factory=dict)  # label -> n
    complainants_guessed: int = 0
    timescales: dict[int, dict[str, int]] = field(default_factory=dict)  # stage -> bucket
    acknowledgements: dict[int, dict[str, int]] = field(default_factory=dict)
    definitions: list[tuple[str, ...]] = field(default_factory=list)
    late_by_stage: dict[int, int] = field(default_factory=dict)
    extension_reasons: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)  # label -> n
    outcomes: dict[str, int] = field(default_factory=dict)
    justification: dict[str, int] = field(default_factory=dict)
    closure: dict[str, int] = field(default_factory=dict)
    ombudsman_decisions: dict[str, int] = field(default_factory=dict)
    learning: list[Learning] = field(default_factory=list)

    # -- the figures by name, as the CLI's callers and older tests know them
    @property
    def received(self) -> int:
        return self.core.received

    @property
    def via_mp(self) -> int:
        return self.core.via_mp

    @property
    def requested_stage2(self) -> int:
        return self.core.requested_stage2

    @property
    def resolved_stage1(self) -> int:
        return self.core.resolved_first_stage

    @property
    def withdrawn(self) -> int:
        return self.core.withdrawn

    @property
    def ombudsman(self) -> int:
        return self.core.ombudsman

    @property
    def compliments(self) -> int:
        return self.core.compliments

    def timescale_total(self, stage: int) -> int:
        return sum(self.timescales.get(stage, {}).values())

    def timescale_share(self, stage: int, key: str) -> str:
        return share(self.timescales.get(stage, {}).get(key, 0), self.timescale_total(stage))

    @property
    def period(self) -> str:
        return f"{self.first:%-d %B %Y} to {self.last:%-d %B %Y}"

    @property
    def previous_period(self) -> str:
        a, b = _year_before(self.first), _year_before(self.last)
        return f"{a:%-d %B %Y} to {b:%-d %B %Y}"

    # ------------------------------------------------------------------ the sections
    def sections(self) -> list[Section]:
        c, p = self.core, self.previous
        out: list[Section] = []
        out.append(
            Section(
                "scope",
                "1. Complaints received",
                (
                    f"This report covers the period {self.period} for "
                    f"{', '.join(self.services)}. It counts formal complaints about the "
                    "service made directly, received in the period. Complaints about another "
                    "organisation (out of scope), informal concerns and duplicates are not "
                    "counted as complaints; complaints made through an MP are counted apart.",
                    f"Complaints received: {c.received} (previous year, {self.previous_period}: "
                    f"{p.received}). Withdrawn: {c.withdrawn}.",
                    "Complaints about the coordinator, which start at a later stage as the "
                    "procedures say (complaints, not Stage 2 requests): "
                    f"{self.about_coordinator}.",
                ),
                (
                    Table(
                        "Complaints received, this year and last",
                        ("Measure", "This year", "Previous year"),
                        (
                            ("Complaints received", str(c.received), str(p.received)),
                            (
                                "Resolved at the first stage",
                                str(c.resolved_first_stage),
                                str(p.resolved_first_stage),
                            ),
                            ("Stage 2 requests", str(c.requested_stage2), str(p.requested_stage2)),
                            ("Withdrawn", str(c.withdrawn), str(p.withdrawn)),
                            ("Referred to the Ombudsman", str(c.ombudsman), str(p.ombudsman)),
                            ("Complaints via an MP", str(c.via_mp), str(p.via_mp)),
                            ("Informal concerns", str(c.informal), str(p.informal)),
                            (
                                "Out of scope (not counted)",
                                str(c.out_of_scope),
                                str(p.out_of_scope),
                            ),
                            ("Compliments", str(c.compliments), str(p.compliments)),
                            ("Comments", str(c.comments), str(p.comments)),
                        ),
                        "figures",
                    ),
                    Table(
                        "Requests for a later stage",
                        ("Stage requested", "Requests"),
                        tuple((f"Stage {k}", str(n)) for k, n in self.requests_by_stage.items())
                        or (("none", "0"),),
                        "requests",
                    ),
                    Table(
                        "Complaints by highest stage reached",
                        ("Stage", "Complaints"),
                        tuple((f"Stage {k}", str(n)) for k, n in self.by_stage.items())
                        or (("none", "0"),),
                        "by-stage",
                    ),
                ),
            )
        )
        out.append(
            Section(
                "by-team",
                "2. By team",
                ("Complaints, Stage 2 requests and responses out of timescale, per service.",),
                (
                    Table(
                        "By service",
                        (
                            "Service",
                            "Complaints",
                            "About the coordinator",
                            "Via an MP",
                            "Stage 2 requests",
                            "Ombudsman",
                            "Responses",
                            "Out of timescale",
                        ),
                        tuple(
                            (
                                svc,
                                str(r.received),
                                str(r.about_coordinator),
                                str(r.via_mp),
                                str(r.requested_stage2),
                                str(r.ombudsman),
                                str(r.responses),
                                str(r.late),
                            )
                            for svc, r in self.by_service.items()
                        ),
                        "by-service",
                    ),
                ),
            )
        )
        out.append(
            Section(
                "via-mp",
                "3. Complaints via an MP",
                (
                    f"Complaints made through an MP's office: {c.via_mp}, of which "
                    f"{c.via_mp_duplicates} duplicate a complaint also made directly (merged "
                    "into it or linked with it).",
                ),
                (
                    Table(
                        "Via an MP",
                        ("Measure", "Number"),
                        (
                            ("Complaints via an MP", str(c.via_mp)),
                            ("of which duplicates of a direct complaint", str(c.via_mp_duplicates)),
                        ),
                        "mp",
                    ),
                ),
            )
        )
        out.append(
            Section(
                "informal",
                "4. Informal concerns",
                (
                    "Concerns handled informally, as the procedures allow, that did not become "
                    f"formal complaints: {c.informal} (previous year: {p.informal}). Concerns "
                    "raised with staff and never logged are not included.",
                ),
            )
        )
        who_rows = tuple((k, str(n)) for k, n in self.complainants.items())
        out.append(
            Section(
                "who",
                "5. Who complained?",
                (
                    "Recorded for each complaint at intake (a guess from the words) and "
                    "corrected by a coordinator on the case page. Still the intake's guess: "
                    f"{self.complainants_guessed}.",
                ),
                (Table("Who complained", ("Complainant", "Complaints"), who_rows, "who"),),
            )
        )
        out.append(
            Section(
                "definitions",
                "6. Timescales",
                (
                    "Each service's own limits, from its procedure (working days from the day "
                    "the stage's clock started; extensions only where the procedure allows "
                    "them, and only when agreed on the case):",
                ),
                (
                    Table(
                        "Timescale definitions",
                        (
                            "Service",
                            "Stage",
                            "Acknowledge within",
                            "Respond within",
                            "Extension",
                            "Ask for the next stage within",
                        ),
                        tuple(self.definitions),
                        "definitions",
                    ),
                ),
            )
        )
        ts_rows = tuple(
            (
                f"Stage {stage}",
                *(
                    f"{self.timescales[stage][k]} ({self.timescale_share(stage, k)})"
                    for k in TIMELINESS
                ),
            )
            for stage in self.timescales
        ) or (("No responses in this period", "", "", ""),)
        ack_rows = tuple(
            (
                f"Stage {stage}",
                *(
                    f"{v[k]} ({share(v[k], sum(v.values()))})"
                    for k in ACK
                    for v in [self.acknowledgements[stage]]
                ),
            )
            for stage in self.acknowledgements
        ) or (("No acknowledgements due in this period", "", "", ""),)
        out.append(
            Section(
                "timescales",
                "7. Timeliness",
                (
                    "Responses and acknowledgements of the complaints received in the period "
                    "(and of Stage 2 requests), against the limits above.",
                ),
                (
                    Table(
                        "Responses",
                        ("Stage", *(TIMELINESS_LABELS[k] for k in TIMELINESS)),
                        ts_rows,
                        "timeliness",
                    ),
                    Table(
                        "Acknowledgements",
                        ("Stage", *(ACK_LABELS[k] for k in ACK)),
                        ack_rows,
                        "acknowledgements",
                    ),
                ),
            )
        )
        late_total = sum(self.late_by_stage.values())
        delay_rows = tuple((reason, str(n)) for reason, n in self.extension_reasons.items())
        out.append(
            Section(
                "delay",
                "8. Reasons for delay",
                (
                    f"Responses out of timescale: {late_total}"
                    + (
                        " ("
                        + ", ".join(f"Stage {k}: {n}" for k, n in self.late_by_stage.items())
                        + ")"
                        if late_total
                        else ""
                    )
                    + ". The reasons given for the extensions agreed are below.",
                ),
                (
                    Table(
                        "Reasons given for extensions",
                        ("Reason", "Extensions"),
                        delay_rows or (("No extensions were agreed", "0"),),
                        "delay",
                    ),
                ),
            )
        )
        cat_rows = tuple((k, str(n)) for k, n in self.categories.items())
        chosen = {k: n for k, n in self.categories.items() if k != category_labels()[UNCATEGORISED]}
        top = max(chosen, key=lambda k: chosen[k]) if chosen else None
        out.append(
            Section(
                "themes",
                "9. What people complained about",
                (
                    "Each complaint's category is chosen by a coordinator; keywords only "
                    "suggest one." + (f" The largest theme: {top} ({chosen[top]})." if top else ""),
                ),
                (Table("Categories", ("Category", "Complaints"), cat_rows, "categories"),),
            )
        )
        out.append(
            Section(
                "dealt",
                "10. How we dealt with complaints",
                (
                    "Closed complaints by outcome and by how they ended. Still open when the "
                    f"report was made: {self.still_open}.",
                ),
                (
                    Table(
                        "Outcome of closed complaints",
                        ("Outcome", "Complaints"),
                        tuple((k, str(n)) for k, n in self.outcomes.items())
                        or (("No complaints closed", "0"),),
                        "outcomes",
                    ),
                    Table(
                        "How closed complaints ended",
                        ("Ended", "Complaints"),
                        tuple((k, str(n)) for k, n in self.closure.items())
                        or (("No complaints closed", "0"),),
                        "closure",
                    ),
                    Table(
                        "Finding recorded",
                        ("Finding", "Complaints"),
                        tuple(
                            (k.replace("_", " ").capitalize(), str(n))
                            for k, n in self.justification.items()
                        )
                        or (("No findings recorded", "0"),),
                        "justification",
                    ),
                    Table(
                        "Ombudsman decisions",
                        ("Decision", "Complaints"),
                        tuple(
                            (k.replace("_", " ").capitalize(), str(n))
                            for k, n in self.ombudsman_decisions.items()
                        )
                        or (("No Ombudsman decisions recorded", "0"),),
                        "ombudsman-decisions",
                    ),
                ),
            )
        )
        out.append(
            Section(
                "compliments",
                "11. Compliments received",
                (
                    f"Compliments: {c.compliments} (previous year: {p.compliments}). "
                    f"Comments: {c.comments} (previous year: {p.comments}).",
                ),
            )
        )
        out.append(
            Section(
                "learning",
                "12. Learning from complaints",
                tuple(
                    f"{lr.reference}: You said: {lr.you_said} We did: {lr.we_did}"
                    for lr in self.learning
                )
                or ("No learning was recorded for complaints in this period.",),
            )
        )
        out.append(Section("recommendations", "13. Recommendations", tuple(self.recommendations())))
        return out

    def recommendations(self) -> list[str]:
        out = [f"{lr.reference}: {lr.what_else}" for lr in self.learning if lr.what_else]
        late = sum(self.late_by_stage.values())
        if late:
            out.append(
                f"Responses out of timescale: {late}. Work is required to meet each "
                "procedure's timescales consistently."
            )
        missing = sum(v["late"] + v["missing"] for v in self.acknowledgements.values())
        if missing:
            out.append(f"Acknowledgements late or not sent: {missing}. Review how they are sent.")
        uncategorised = self.categories.get(category_labels()[UNCATEGORISED], 0)
        if uncategorised:
            out.append(
                f"Complaints without a category: {uncategorised}. A coordinator should "
                "choose one on the case page."
            )
        if self.complainants_guessed:
            out.append(
                f"Complaints where who complained is still the intake's guess: "
                f"{self.complainants_guessed}. Confirm it on the case page."
            )
        if self.received and not self.learning:
            out.append("Record learning from complaints so that it can be reported.")
        return out or ["None arising from the figures."]


_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")


def plain(text: str) -> str:
    """Free text staff wrote (an extension's reason, a learning record) as the report shows
    it: one line, and never an email address (managers never see addresses)."""
    return _ADDRESS.sub("[address removed]", " ".join(text.split()))


def _year_before(d: date) -> date:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28)


def _window(w: Window | None) -> str:
    return w.describe() if w is not None else "no limit"


def definitions(services: Mapping[str, Service], wanted: Sequence[str]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for key in wanted:
        svc = services[key]
        for st in svc.stages:
            nsr = st.next_stage_request
            rows.append(
                (
                    key,
                    f"Stage {st.number}",
                    _window(st.acknowledge),
                    _window(st.respond),
                    "allowed" if st.extension.allowed else "not allowed",
                    "final stage" if st.final or nsr is None else _window(nsr.within),
                )
            )
    return rows


def _core(
    s: Session, services: Mapping[str, Service], wanted: Sequence[str], first: date, last: date
) -> tuple[Core, list[CaseFacts], list[CaseFacts], list[tuple[str, int]]]:
    start, end = day_bounds(first, last)
    facts = load_facts(s, wanted, received_from=start, received_to=end, merged=True)
    r = Core()
    complaints = [c for c in facts if c.is_complaint and not c.via_mp]
    mp = [
        c
        for c in facts
        if c.kind == "complaint" and c.via_mp and not c.out_of_scope and not c.informal
    ]
    live = [c for c in facts if c.merged_into_id is None]
    r.received = len(complaints)
    r.via_mp = len(mp)
    r.via_mp_duplicates = sum(1 for c in mp if c.merged_into_id is not None or c.linked)
    r.withdrawn = sum(1 for c in complaints if c.closure_reason == "withdrawn")
    r.ombudsman = sum(
        1
        for c in live
        if c.closure_reason == "ombudsman"
        and c.kind in ("complaint", "stage2_request")
        and not c.out_of_scope
        and not c.via_mp
    )
    r.resolved_first_stage = sum(
        1 for c in complaints if c.closure_reason == "resolved" and not c.next_stage_requests()
    )
    r.informal = sum(1 for c in live if c.kind == "complaint" and c.informal)
    r.out_of_scope = sum(1 for c in live if c.kind == "complaint" and c.out_of_scope)
    r.compliments = sum(1 for c in live if c.kind == "compliment")
    r.comments = sum(1 for c in live if c.kind == "comment")
    requests = stage_requests(s, wanted, start, end)
    r.requested_stage2 = sum(1 for _svc, st in requests if st == 2)
    stage2 = [c for c in live if c.kind == "stage2_request" and not c.out_of_scope]
    return r, complaints, stage2 + mp, requests


def build_annual(
    s: Session, services: Mapping[str, Service], wanted: Sequence[str], first: date, last: date
) -> AnnualReport:
    wanted = tuple(sorted(wanted))
    r = AnnualReport(first, last, wanted)
    r.core, complaints, others, requests = _core(s, services, wanted, first, last)
    r.previous = _core(s, services, wanted, _year_before(first), _year_before(last))[0]
    r.about_coordinator = sum(1 for c in complaints if c.about_coordinator)
    r.still_open = sum(1 for c in complaints if c.status != "closed")
    r.requests_by_stage = dict(sorted(Counter(st for _svc, st in requests).items()))
    r.by_stage = dict(sorted(Counter(c.stage for c in complaints).items()))

    # who complained
    counts = Counter(c.complainant for c in complaints)
    r.complainants = {label: counts[k] for k, label in COMPLAINANTS.items() if counts.get(k)}
    if counts.get(NOT_RECORDED):
        r.complainants["Not recorded"] = counts[NOT_RECORDED]
    r.complainants_guessed = sum(
        1 for c in complaints if c.complainant_guessed and c.complainant != NOT_RECORDED
    )

    # timeliness against each service's limits: complaints, and Stage 2 requests on their own
    timed = [*complaints, *(c for c in others if c.kind == "stage2_request")]
    ts: dict[int, Counter[str]] = {}
    acks: dict[int, Counter[str]] = {}
    late: Counter[int] = Counter()
    reasons: Counter[str] = Counter()
    per_service = {svc: ServiceRow() for svc in wanted}
    for c in timed:
        row = per_service[c.service]
        for clock in c.clocks(services[c.service]):
            bucket = clock.response_bucket()
            if bucket is not None:
                ts.setdefault(clock.stage, Counter())[bucket] += 1
                row.responses += 1
                if bucket == "late":
                    late[clock.stage] += 1
                    row.late += 1
            ack = clock.ack_bucket(last)
            if ack is not None:
                acks.setdefault(clock.stage, Counter())[ack] += 1
        for _stage, reason in c.extension_reasons():
            reasons[plain(reason) or "no reason recorded"] += 1
    r.timescales = {k: {b: v.get(b, 0) for b in TIMELINESS} for k, v in sorted(ts.items())}
    r.acknowledgements = {k: {b: v.get(b, 0) for b in ACK} for k, v in sorted(acks.items())}
    r.late_by_stage = dict(sorted(late.items()))
    r.extension_reasons = dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    r.definitions = definitions(services, wanted)

    # by team (service)
    for c in complaints:
        per_service[c.service].received += 1
        per_service[c.service].about_coordinator += int(c.about_coordinator)
        per_service[c.service].ombudsman += int(c.closure_reason == "ombudsman")
    for c in others:
        if c.kind == "complaint":
            per_service[c.service].via_mp += 1
    for svc, stage in requests:
        if stage == 2:
            per_service[svc].requested_stage2 += 1
    r.by_service = per_service

    # themes: the categories coordinators chose
    names = category_labels()
    cats = Counter(c.category for c in complaints)
    order = [k.key for k in load_categories()] + sorted(set(cats) - set(names))
    r.categories = {names.get(k, k): cats[k] for k in [*order, UNCATEGORISED] if cats.get(k)}

    closed = [c for c in complaints if c.status == "closed"]
    outcomes = Counter(c.outcome for c in closed)
    r.outcomes = {label: outcomes[k] for k, label in OUTCOME_LABELS.items() if outcomes.get(k)}
    endings = Counter(c.closure_reason for c in closed)
    r.closure = {CLOSURE_LABELS.get(str(k), str(k)): n for k, n in sorted(endings.items(), key=str)}
    r.justification = dict(
        sorted(Counter(c.justification for c in closed if c.justification).items())
    )
    r.ombudsman_decisions = dict(
        sorted(Counter(c.ombudsman_decision for c in complaints if c.ombudsman_decision).items())
    )
    ids = [c.id for c in complaints]
    if ids:
        rows = s.execute(
            select(Case.reference, LearningRecord)
            .join(Case, Case.id == LearningRecord.case_id)
            .where(LearningRecord.case_id.in_(ids))
            .order_by(Case.received_at, Case.id)  # id: same order on every database
        ).all()
        r.learning = [
            Learning(ref, plain(lr.you_said), plain(lr.we_did), plain(lr.what_else))
            for ref, lr in rows
        ]
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
        .render(r=r, sections=r.sections(), chart_src=f"data:image/png;base64,{chart}")
    )


def cells(r: AnnualReport) -> list[tuple[str, str, str, str, str]]:
    """Every figure of the report as (section, table, row, column, value): the CSV form."""
    out: list[tuple[str, str, str, str, str]] = []
    for sec in r.sections():
        for t in sec.tables:
            for row in t.rows:
                for col, value in zip(t.header[1:], row[1:], strict=True):
                    out.append((sec.title, t.caption, row[0], col, value))
    return out


def render_csv(r: AnnualReport) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "table", "row", "column", "value"])
    w.writerows(cells(r))
    return buf.getvalue()
