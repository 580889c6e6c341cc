"""A year of cases, and every figure of the annual report checked against a hand count.

The year is 1 April 2025 to 31 March 2026, for Durham and Staffordshire. Each case below says
what it is and how it should count; the expected report at the end is written from those
comments by hand, not from the code. Durham: Stage 1 acknowledge 3 working days, respond 20;
Stage 2 acknowledge 5, respond 20. Staffordshire: 5 and 20 at both stages. Dates are counted
in working days from the day the stage's clock started, so "responds after 20" is on time and
"after 24" is late.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import update

from bot.app import App
from bot.models import Case, LearningRecord
from bot.reports.annual import Section, Table, build_annual, render_csv, render_html
from bot.reports.pdf import render_pdf
from bot.services import Service
from tests.reports.seed import LONDON, SEEDED_AT, Seeder

FIRST, LAST = date(2025, 4, 1), date(2026, 3, 31)
REASON = "Waiting for information from the school"


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), LONDON).astimezone(UTC)


@dataclass
class Walk:
    """One case walked through its stages, dates in working days from each clock start."""

    sd: Seeder
    case: Case
    start: date  # the day the current stage's clock started
    stage: int

    def ack(self, after: int) -> Walk:
        self.sd.event(
            self.case,
            "acknowledge",
            self.sd.working_days(self.start, after),
            **{"from": {"status": "received", "stage": self.stage}},
        )
        return self

    def extend(self, to: int, reason: str = REASON) -> Walk:
        new = self.sd.working_days(self.start, to)
        self.sd.event(
            self.case,
            "extend",
            self.sd.working_days(self.start, 18),
            respond_by=new.isoformat(),
            reason=reason,
            **{"from": {"status": "investigating", "stage": self.stage}},
        )
        return self

    def respond(self, after: int) -> Walk:
        self.responded = self.sd.working_days(self.start, after)
        self.sd.event(
            self.case,
            "respond",
            self.responded,
            **{"from": {"status": "investigating", "stage": self.stage}},
        )
        return self

    def request_next(self, after: int = 5) -> Walk:
        on = self.sd.working_days(self.responded, after)
        self.sd.event(
            self.case,
            "request_next_stage",
            on,
            **{
                "from": {"status": "responded", "stage": self.stage},
                "to": {"status": "next_stage_requested", "stage": self.stage + 1},
            },
        )
        self.start, self.stage = on, self.stage + 1
        return self

    def close(self, reason: str) -> Walk:
        self.sd.event(
            self.case,
            "close",
            self.sd.working_days(self.start, 30),
            reason=reason,
            **{"from": {"status": "responded", "stage": self.stage}},
        )
        return self


def _case(sd: Seeder, day: date, stage: int = 1, starts: int | None = None, **kw: Any) -> Walk:
    """A case now at ``stage`` that started at ``starts`` (default: ``stage``)."""
    kw.setdefault("status", "closed")
    c = sd.case(_at(day), stage=stage, **kw)
    return Walk(sd, c, day, starts or stage)


def _cls(
    who: str | None = None, guess: bool = False, category: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if who:
        out |= {"complainant": who, "complainant_source": "guess" if guess else "person"}
    if category:
        out["category"] = category
    return out


def seed_year(app: App, tag: str = "Y") -> dict[str, Case]:
    """The year, and a little of the year before. Every received date is a Tuesday."""
    cases: dict[str, Case] = {}
    with app.sessions() as s:
        dur = Seeder(s, app.services["durham"], tag=tag)
        sta = Seeder(s, app.services["staffordshire"], tag=tag)

        # -- Durham, complaints made directly (8) -----------------------------------------
        # D1: Stage 1 acknowledged after 2 (in time), responded after 15 (within the limit);
        #     resolved; upheld, justified; EHCP; a parent (confirmed by a person).
        w = _case(
            dur,
            date(2025, 4, 8),
            classification=_cls("parent_carer", category="ehcp"),
            closure_reason="resolved",
            outcome="upheld",
            justification="justified",
        )
        w.ack(2).respond(15).close("resolved")
        cases["D1"] = w.case
        # D2: acknowledged after 1; extension agreed to 30, responded after 25 (within the
        #     extension); resolved; partly upheld; communication; a parent (intake's guess).
        w = _case(
            dur,
            date(2025, 5, 6),
            classification=_cls("parent_carer", guess=True, category="communication"),
            closure_reason="resolved",
            outcome="partly_upheld",
        )
        w.ack(1).extend(30).respond(25).close("resolved")
        cases["D2"] = w.case
        # D3: acknowledged after 4 (late), responded after 24 with no extension (late);
        #     resolved; not upheld, unjustified; EHCP; a young person. Learning recorded.
        w = _case(
            dur,
            date(2025, 6, 3),
            classification=_cls("young_person", category="ehcp"),
            closure_reason="resolved",
            outcome="not_upheld",
            justification="unjustified",
        )
        w.ack(4).respond(24).close("resolved")
        cases["D3"] = w.case
        # D4: Stage 1 ack 1, respond 10 (in time); asks for Stage 2 (a request in the year);
        #     Stage 2 ack 3 (in time, limit 5), respond 18 (in time); to the Ombudsman, whose
        #     decision was "not upheld"; not upheld; transport; a professional.
        w = _case(
            dur,
            date(2025, 7, 1),
            stage=2,
            starts=1,
            closure_reason="ombudsman",
            outcome="not_upheld",
            classification={
                **_cls("professional", category="transport"),
                "ombudsman_decision": "not_upheld",
            },
        )
        w.ack(1).respond(10).request_next().ack(3).respond(18).close("ombudsman")
        cases["D4"] = w.case
        # D5: Stage 1 ack 1, respond 12 (in time); asks for Stage 2; Stage 2 ack 7 (late),
        #     extension to 28, respond 26 (within the extension); resolved; partly upheld;
        #     EHCP; a parent.
        w = _case(
            dur,
            date(2025, 8, 5),
            stage=2,
            starts=1,
            closure_reason="resolved",
            outcome="partly_upheld",
            classification=_cls("parent_carer", category="ehcp"),
        )
        w.ack(1).respond(12).request_next().ack(7).extend(28).respond(26).close("resolved")
        cases["D5"] = w.case
        # D6: about the coordinator: starts at Stage 2 (a complaint, not a Stage 2 request);
        #     ack 2, respond 19 (in time); resolved; upheld; communication; a parent.
        w = _case(
            dur,
            date(2025, 9, 2),
            stage=2,
            flags={"about_coordinator": True},
            closure_reason="resolved",
            outcome="upheld",
            classification=_cls("parent_carer", category="communication"),
        )
        w.ack(2).respond(19).close("resolved")
        cases["D6"] = w.case
        # D7: never acknowledged (its date passed: "not acknowledged"); withdrawn; no
        #     outcome; no category; "other" (intake's guess).
        w = _case(
            dur,
            date(2025, 10, 7),
            closure_reason="withdrawn",
            classification=_cls("other", guess=True),
        )
        w.close("withdrawn")
        cases["D7"] = w.case
        # D8: still open, acknowledged after 1; keywords suggest EHCP but no coordinator has
        #     chosen (not categorised); a parent (intake's guess).
        w = _case(
            dur,
            date(2026, 3, 17),
            status="acknowledged",
            classification={**_cls("parent_carer", guess=True), "category_suggested": "ehcp"},
        )
        w.ack(1)
        cases["D8"] = w.case

        # -- Durham, not counted as complaints --------------------------------------------
        # Out of scope (about the council's SEN team): counted only as out of scope.
        w = _case(
            dur,
            date(2025, 4, 15),
            flags={"out_of_scope": True},
            closure_reason="out_of_scope",
            classification=_cls("parent_carer"),
        )
        w.close("out_of_scope")
        # An informal concern, resolved informally: an informal concern only.
        w = _case(
            dur,
            date(2025, 4, 22),
            flags={"informal": True, "route": "informal_alternative"},
            closure_reason="resolved",
            classification=_cls("parent_carer"),
        )
        w.close("resolved")
        # Via an MP (3): M1 linked with D1 and M2 merged into D3 are duplicates; M3 is not.
        cases["M1"] = dur.case(
            _at(date(2025, 4, 29)),
            via_mp=True,
            status="closed",
            closure_reason="resolved",
            flags={"linked": [cases["D1"].reference]},
            classification=_cls("mp_office"),
        )
        cases["M2"] = dur.case(
            _at(date(2025, 6, 10)),
            via_mp=True,
            status="closed",
            closure_reason="resolved",
            merged_into_id=cases["D3"].id,
            classification=_cls("mp_office"),
        )
        cases["M3"] = dur.case(
            _at(date(2025, 11, 4)), via_mp=True, status="received", classification=_cls("mp_office")
        )
        # S1: a Stage 2 request that came as its own case (a request): ack 3, respond 15
        #     (Stage 2, in time); resolved.
        w = _case(
            dur,
            date(2025, 11, 11),
            stage=2,
            kind="stage2_request",
            closure_reason="resolved",
            classification=_cls("parent_carer"),
        )
        w.ack(3).respond(15).close("resolved")
        # S2: D4's request, which also came by email and was merged into D4 (where the
        #     request is recorded): not a second request.
        dur.case(
            _at(date(2025, 7, 22)),
            stage=2,
            kind="stage2_request",
            status="closed",
            closure_reason="resolved",
            merged_into_id=cases["D4"].id,
        )
        # Compliments (2), a comment, an enquiry.
        dur.case(_at(date(2025, 5, 13)), kind="compliment", status="closed")
        dur.case(_at(date(2025, 12, 2)), kind="compliment", status="closed")
        dur.case(_at(date(2025, 6, 17)), kind="comment", status="closed")
        dur.case(_at(date(2025, 6, 24)), kind="enquiry", status="closed")

        # -- The year before (1 April 2024 to 31 March 2025) -------------------------------
        # P1: a complaint received in March 2025 whose Stage 2 request came in April 2025:
        #     a complaint of the year before, a Stage 2 request of this year.
        w = _case(
            dur,
            date(2025, 3, 4),
            stage=2,
            starts=1,
            closure_reason="resolved",
            classification=_cls("parent_carer", category="ehcp"),
        )
        w.ack(1).respond(10).request_next(15)
        assert FIRST <= w.start <= LAST
        w.ack(1).respond(10).close("resolved")
        # P2: withdrawn; P3: a compliment.
        _case(dur, date(2024, 6, 4), closure_reason="withdrawn").close("withdrawn")
        dur.case(_at(date(2024, 5, 7)), kind="compliment", status="closed")
        # After the year: not counted anywhere.
        dur.case(_at(date(2026, 4, 7)), classification=_cls("parent_carer", category="ehcp"))

        # -- Staffordshire (2) -------------------------------------------------------------
        # F1: ack 4 (in time, limit 5), respond 20 (on the last day: in time); resolved;
        #     not upheld; refusal to assess; "other".
        w = _case(
            sta,
            date(2025, 9, 16),
            closure_reason="resolved",
            outcome="not_upheld",
            classification=_cls("other", category="refusal_to_assess"),
        )
        w.ack(4).respond(20).close("resolved")
        # F2: about the coordinator, Stage 2, received 24 March 2026, not yet acknowledged:
        #     its date (31 March) has not passed by the year's end, so not counted either way.
        #     Nobody recorded who complained.
        _case(sta, date(2026, 3, 24), stage=2, status="received", flags={"about_coordinator": True})

        s.add(
            LearningRecord(
                case_id=cases["D3"].id,
                service="durham",
                you_said="Replies were slow",
                we_did="A weekly check of open complaints",
                what_else="Report response times monthly",
                created_by="manager@example.org",
                created_at=SEEDED_AT,
                updated_by="manager@example.org",
                updated_at=SEEDED_AT,
            )
        )
        s.commit()
        for c in cases.values():
            s.refresh(c)
        s.expunge_all()
    return cases


def expected(cases: dict[str, Case]) -> list[Section]:
    """The report, counted by hand from the comments in :func:`seed_year`."""
    ref = {k: c.reference for k, c in cases.items()}
    return [
        Section(
            "scope",
            "1. Complaints received",
            (
                "This report covers the period 1 April 2025 to 31 March 2026 for durham, "
                "staffordshire. It counts formal complaints about the service made directly, "
                "received in the period. Complaints about another organisation (out of scope), "
                "informal concerns and duplicates are not counted as complaints; complaints "
                "made through an MP are counted apart.",
                # D1-D8 and F1-F2; the year before: P1, P2. D7 withdrawn.
                "Complaints received: 10 (previous year, 1 April 2024 to 31 March 2025: 2). "
                "Withdrawn: 1.",
                # D6 and F2.
                "Complaints about the coordinator, which start at a later stage as the "
                "procedures say (complaints, not Stage 2 requests): 2.",
            ),
            (
                Table(
                    "Complaints received, this year and last",
                    ("Measure", "This year", "Previous year"),
                    (
                        ("Complaints received", "10", "2"),
                        # D1, D2, D3, D6, F1 (D4, D5 asked for Stage 2); before: none.
                        ("Resolved at the first stage", "5", "0"),
                        # D4, D5, P1's (April 2025) and S1; S2 is D4's, merged. Before: none.
                        ("Stage 2 requests", "4", "0"),
                        ("Withdrawn", "1", "1"),  # D7; P2
                        ("Referred to the Ombudsman", "1", "0"),  # D4
                        ("Complaints via an MP", "3", "0"),  # M1, M2, M3
                        ("Informal concerns", "1", "0"),
                        ("Out of scope (not counted)", "1", "0"),
                        ("Compliments", "2", "1"),
                        ("Comments", "1", "0"),
                    ),
                    "figures",
                ),
                Table(
                    "Requests for a later stage",
                    ("Stage requested", "Requests"),
                    (("Stage 2", "4"),),
                    "requests",
                ),
                # Stage now: D1 D2 D3 D7 D8 F1 at 1; D4 D5 D6 F2 at 2.
                Table(
                    "Complaints by highest stage reached",
                    ("Stage", "Complaints"),
                    (("Stage 1", "6"), ("Stage 2", "4")),
                    "by-stage",
                ),
            ),
        ),
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
                    (
                        # responses: Stage 1 D1-D5 (5), Stage 2 D4 D5 D6 S1 (4); late: D3.
                        ("durham", "8", "1", "3", "4", "1", "9", "1"),
                        ("staffordshire", "2", "1", "0", "0", "0", "1", "0"),
                    ),
                    "by-service",
                ),
            ),
        ),
        Section(
            "via-mp",
            "3. Complaints via an MP",
            (
                "Complaints made through an MP's office: 3, of which 2 duplicate a complaint "
                "also made directly (merged into it or linked with it).",
            ),
            (
                Table(
                    "Via an MP",
                    ("Measure", "Number"),
                    (
                        ("Complaints via an MP", "3"),
                        ("of which duplicates of a direct complaint", "2"),
                    ),
                    "mp",
                ),
            ),
        ),
        Section(
            "informal",
            "4. Informal concerns",
            (
                "Concerns handled informally, as the procedures allow, that did not become "
                "formal complaints: 1 (previous year: 0). Concerns raised with staff and never "
                "logged are not included.",
            ),
        ),
        Section(
            "who",
            "5. Who complained?",
            (
                "Recorded for each complaint at intake (a guess from the words) and corrected "
                "by a coordinator on the case page. Still the intake's guess: 3.",  # D2 D7 D8
            ),
            (
                Table(
                    "Who complained",
                    ("Complainant", "Complaints"),
                    (
                        ("Parents/carers", "5"),  # D1 D2 D5 D6 D8
                        ("Young people", "1"),  # D3
                        ("Professionals", "1"),  # D4
                        ("Others", "2"),  # D7 F1
                        ("Not recorded", "1"),  # F2
                    ),
                    "who",
                ),
            ),
        ),
        Section(
            "definitions",
            "6. Timescales",
            (
                "Each service's own limits, from its procedure (working days from the day the "
                "stage's clock started; extensions only where the procedure allows them, and "
                "only when agreed on the case):",
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
                    (
                        (
                            "durham",
                            "Stage 1",
                            "3 working days",
                            "20 working days",
                            "allowed",
                            "20 working days",
                        ),
                        (
                            "durham",
                            "Stage 2",
                            "5 working days",
                            "20 working days",
                            "allowed",
                            "final stage",
                        ),
                        (
                            "staffordshire",
                            "Stage 1",
                            "5 working days",
                            "20 working days",
                            "allowed",
                            "20 working days",
                        ),
                        (
                            "staffordshire",
                            "Stage 2",
                            "5 working days",
                            "20 working days",
                            "allowed",
                            "final stage",
                        ),
                    ),
                    "definitions",
                ),
            ),
        ),
        Section(
            "timescales",
            "7. Timeliness",
            (
                "Responses and acknowledgements of the complaints received in the period (and "
                "of Stage 2 requests), against the limits above.",
            ),
            (
                Table(
                    "Responses",
                    (
                        "Stage",
                        "Within the procedure's limit",
                        "Within an agreed extension",
                        "Out of timescale",
                    ),
                    (
                        # Stage 1: D1 D4 D5 F1 within; D2 extended; D3 late (of 6).
                        ("Stage 1", "4 (66.6%)", "1 (16.6%)", "1 (16.6%)"),
                        # Stage 2: D4 D6 S1 within; D5 extended (of 4).
                        ("Stage 2", "3 (75.0%)", "1 (25.0%)", "0 (0.0%)"),
                    ),
                    "timeliness",
                ),
                Table(
                    "Acknowledgements",
                    (
                        "Stage",
                        "Acknowledged in time",
                        "Acknowledged late",
                        "Not acknowledged by its date",
                    ),
                    (
                        # Stage 1: D1 D2 D4 D5 D8 F1 in time; D3 late; D7 none (of 8).
                        ("Stage 1", "6 (75.0%)", "1 (12.5%)", "1 (12.5%)"),
                        # Stage 2: D4 D6 S1 in time; D5 late; F2 not yet due (of 4).
                        ("Stage 2", "3 (75.0%)", "1 (25.0%)", "0 (0.0%)"),
                    ),
                    "acknowledgements",
                ),
            ),
        ),
        Section(
            "delay",
            "8. Reasons for delay",
            (
                "Responses out of timescale: 1 (Stage 1: 1). The reasons given for the "
                "extensions agreed are below.",
            ),
            (
                Table(
                    "Reasons given for extensions",
                    ("Reason", "Extensions"),
                    ((REASON, "2"),),  # D2 and D5
                    "delay",
                ),
            ),
        ),
        Section(
            "themes",
            "9. What people complained about",
            (
                "Each complaint's category is chosen by a coordinator; keywords only suggest "
                "one. The largest theme: EHCP issues or delays (3).",
            ),
            (
                Table(
                    "Categories",
                    ("Category", "Complaints"),
                    (
                        ("EHCP issues or delays", "3"),  # D1 D3 D5
                        ("Communication", "2"),  # D2 D6
                        ("Refusal to assess", "1"),  # F1
                        ("Transport", "1"),  # D4
                        ("Not categorised", "3"),  # D7 D8 (only suggested) F2
                    ),
                    "categories",
                ),
            ),
        ),
        Section(
            "dealt",
            "10. How we dealt with complaints",
            (
                "Closed complaints by outcome and by how they ended. Still open when the "
                "report was made: 2.",  # D8 F2
            ),
            (
                Table(
                    "Outcome of closed complaints",
                    ("Outcome", "Complaints"),
                    (
                        ("Upheld", "2"),  # D1 D6
                        ("Partly upheld", "2"),  # D2 D5
                        ("Not upheld", "3"),  # D3 D4 F1
                        ("No decision recorded", "1"),  # D7
                    ),
                    "outcomes",
                ),
                Table(
                    "How closed complaints ended",
                    ("Ended", "Complaints"),
                    (
                        ("Referred to the Ombudsman", "1"),  # D4
                        ("Resolved", "6"),  # D1 D2 D3 D5 D6 F1
                        ("Withdrawn", "1"),  # D7
                    ),
                    "closure",
                ),
                Table(
                    "Finding recorded",
                    ("Finding", "Complaints"),
                    (("Justified", "1"), ("Unjustified", "1")),
                    "justification",
                ),
                Table(
                    "Ombudsman decisions",
                    ("Decision", "Complaints"),
                    (("Not upheld", "1"),),
                    "ombudsman-decisions",
                ),
            ),
        ),
        Section(
            "compliments",
            "11. Compliments received",
            ("Compliments: 2 (previous year: 1). Comments: 1 (previous year: 0).",),
        ),
        Section(
            "learning",
            "12. Learning from complaints",
            (
                f"{ref['D3']}: You said: Replies were slow "
                "We did: A weekly check of open complaints",
            ),
        ),
        Section(
            "recommendations",
            "13. Recommendations",
            (
                f"{ref['D3']}: Report response times monthly",
                "Responses out of timescale: 1. Work is required to meet each procedure's "
                "timescales consistently.",
                # D3 and D7 at Stage 1, D5 at Stage 2.
                "Acknowledgements late or not sent: 3. Review how they are sent.",
                "Complaints without a category: 3. A coordinator should choose one on the "
                "case page.",
                "Complaints where who complained is still the intake's guess: 3. Confirm it on "
                "the case page.",
            ),
        ),
    ]


@pytest.fixture
def year(app: App) -> tuple[App, dict[str, Case]]:
    return app, seed_year(app)


def _report(app: App) -> Any:
    with app.sessions() as s:
        return build_annual(s, app.services, ["durham", "staffordshire"], FIRST, LAST)


def test_every_figure_against_the_hand_count(year: tuple[App, dict[str, Case]]) -> None:
    app, cases = year
    got = _report(app).sections()
    want = expected(cases)
    assert [s.title for s in got] == [s.title for s in want]
    for g, w in zip(got, want, strict=True):
        assert g.paragraphs == w.paragraphs, g.title
        assert [t.caption for t in g.tables] == [t.caption for t in w.tables], g.title
        for gt, wt in zip(g.tables, w.tables, strict=True):
            assert gt.header == wt.header, (g.title, gt.caption)
            assert gt.rows == wt.rows, (g.title, gt.caption)
    assert got == want


class _Tables(HTMLParser):
    """Each table of a page as (caption, rows of cell texts), and the paragraphs."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[list[str]]]] = []
        self.paragraphs: list[str] = []
        self._text: list[str] | None = None
        self._where = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append(("", []))
        elif tag == "tr":
            self.tables[-1][1].append([])
        if tag in ("caption", "th", "td", "p"):
            self._text, self._where = [], tag

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._text is None or tag != self._where:
            return
        text = " ".join("".join(self._text).split())
        self._text = None
        if tag == "caption":
            self.tables[-1] = (text, self.tables[-1][1])
        elif tag == "p":
            self.paragraphs.append(text)
        else:
            self.tables[-1][1][-1].append(text)


def test_html_pdf_and_csv_show_every_figure(
    year: tuple[App, dict[str, Case]], tmp_path: Path
) -> None:
    app, cases = year
    r = _report(app)
    want = expected(cases)
    page = _Tables()
    page.feed(render_html(r))
    assert page.tables == [
        (t.caption, [list(t.header), *map(list, t.rows)]) for sec in want for t in sec.tables
    ]
    for sec in want:
        for p in sec.paragraphs:
            assert p in page.paragraphs, p
    html = render_html(r)
    assert "Closed: open" not in html and "example.org" not in html
    assert "data:image/png;base64," in html

    # The PDF is drawn from the same sections; every table is there and filled.
    out = tmp_path / "report.pdf"
    out.write_bytes(render_pdf(r))
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(out).pages).split())
    for sec in want:
        assert sec.title in text
        for t in sec.tables:
            assert t.caption in text, t.caption
            for row in t.rows:
                for cell in row[1:]:
                    assert cell in text, (t.caption, row)
    assert re.search(r"Stage 1\s*4 \(66\.6%\)\s*1 \(16\.6%\)\s*1 \(16\.6%\)", text)

    rows = render_csv(r).splitlines()
    assert rows[0] == "section,table,row,column,value"
    n_cells = sum(len(row) - 1 for sec in want for t in sec.tables for row in t.rows)
    assert len(rows) == 1 + n_cells
    table = '"Complaints received, this year and last"'
    assert f"1. Complaints received,{table},Stage 2 requests,This year,4" in rows


def test_correcting_a_case_moves_the_figures(year: tuple[App, dict[str, Case]]) -> None:
    """A coordinator's choice is what counts: D8 categorised and F2's complainant recorded."""
    app, cases = year
    with app.sessions() as s:
        for key, cls in (("D8", {"category": "transport"}), ("M3", {})):
            c = s.get(Case, cases[key].id)
            assert c is not None
            c.classification = {**(c.classification or {}), **cls}
        s.execute(
            update(Case).where(Case.id == cases["D7"].id).values(flags={"out_of_scope": True})
        )
        s.commit()
    r = _report(app)
    assert r.categories["Transport"] == 2 and r.categories["Not categorised"] == 1
    assert r.received == 9 and r.core.out_of_scope == 2 and r.withdrawn == 0
    assert r.core.requested_stage2 == 4


def test_seed_dates_are_what_the_comments_say(year: tuple[App, dict[str, Case]]) -> None:
    """The hand count rests on the working-day arithmetic: F1's response on the 20th working
    day is on the last permitted day; D3's on the 24th is after it."""
    app, _ = year
    from bot.deadlines import stage_deadlines
    from bot.workdays import add_working_days

    sta: Service = app.services["staffordshire"]
    start = date(2025, 9, 16)
    dl = stage_deadlines(sta, 1, start)
    assert add_working_days(start, 20, sta.calendar).value == dl.respond_by
    assert dl.respond_by - start > timedelta(days=20)


def test_free_text_in_the_report_carries_no_address() -> None:
    from bot.reports.annual import plain

    assert plain("Waiting for\n the school (head@school.example)") == (
        "Waiting for the school ([address removed])"
    )


def test_acknowledgement_buckets() -> None:
    from bot.reports.data import StageClock

    def clock(**kw: Any) -> StageClock:
        base: dict[str, Any] = {
            "stage": 1, "started": date(2026, 3, 2), "acknowledge_by": date(2026, 3, 5),
            "respond_by": date(2026, 3, 30), "extended_to": None, "acknowledged": None,
            "responded": None,
        }  # fmt: skip
        return StageClock(**(base | kw))

    end = date(2026, 3, 31)
    assert clock(acknowledged=date(2026, 3, 5)).ack_bucket(end) == "on_time"
    assert clock(acknowledged=date(2026, 3, 6)).ack_bucket(end) == "late"
    assert clock().ack_bucket(end) == "missing"
    assert clock().ack_bucket(date(2026, 3, 5)) is None  # its day has not passed
    assert clock(responded=date(2026, 3, 4)).ack_bucket(end) == "on_time"  # the response did
    assert clock(closed=date(2026, 3, 3)).ack_bucket(end) is None  # withdrawn before it was due
    assert clock(closed=date(2026, 3, 9)).ack_bucket(end) == "missing"
    assert clock(responded=date(2026, 3, 30)).response_bucket() == "on_time"
    assert clock(responded=date(2026, 3, 31)).response_bucket() == "late"
    assert clock(responded=date(2026, 3, 31), extended_to=date(2026, 4, 2)).response_bucket() == (
        "extended"
    )


def test_what_counts_as_informal_or_out_of_scope() -> None:
    from bot.figures import informal, out_of_scope

    assert informal({"route": "informal_first"})  # Coventry: the IASS manager, informally
    assert informal({"informal": {"outcome": "resolved"}})
    assert not informal({"route": "informal_first", "formal": True})  # escalated: a complaint
    assert not informal({"about_coordinator": True}) and not informal(None)
    assert out_of_scope({"out_of_scope": True}, None)
    assert out_of_scope({}, "out_of_scope") and not out_of_scope({}, "resolved")
