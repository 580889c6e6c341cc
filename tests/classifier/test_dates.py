"""Date extraction with a fixed received date (the clock is never read)."""

from __future__ import annotations

from datetime import date

import pytest

from classifiers import Classifier
from classifiers.dates import easter_sunday, find_dates, within_12_months

from .conftest import make_input

BASE = date(2025, 11, 12)  # a Wednesday


def iso(text: str, base: date = BASE) -> list[str]:
    return [m.iso for m in find_dates(text, base)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on 03/04/25 the adviser", ["2025-04-03"]),
        ("meeting on 4/8/2025", ["2025-08-04"]),
        ("on Tuesday 4 November 2025", ["2025-11-04"]),
        ("on 21st October last year", ["2024-10-21"]),
        ("the 17th of September", ["2025-09-17"]),
        ("the 17th of December", []),
        ("last Tuesday", ["2025-11-11"]),
        ("on Friday", ["2025-11-07"]),
        ("yesterday", ["2025-11-11"]),
        ("18 months ago", ["2024-05"]),
        ("two weeks ago", ["2025-10-29"]),
        ("back in January", ["2025-01"]),
        ("in November last year", ["2024-11"]),
        ("in May 2025", ["2025-05"]),
        ("last month", ["2025-10"]),
        ("before October half term", ["2025-10"]),
        ("last Easter", ["2025-04"]),
        ("in the summer holidays of 2024", ["2024-08"]),
        ("before Christmas", ["2024-12"]),
    ],
)
def test_expressions(text: str, expected: list[str]) -> None:
    assert iso(text) == expected


def test_future_dates_are_dropped() -> None:
    assert iso("the deadline is 30th November") == []
    assert iso("we move in December") == []


def test_may_the_verb_is_not_a_month() -> None:
    assert iso("you may be able to help") == []


def test_school_year_needs_current_year_group() -> None:
    assert iso("he is now in Year 10 and at the start of Year 9 it went wrong") == ["2024-09"]
    assert iso("at the start of Year 9 it went wrong") == []


def test_easter() -> None:
    assert easter_sunday(2025) == date(2025, 4, 20)
    assert easter_sunday(2024) == date(2024, 3, 31)


@pytest.mark.parametrize(
    ("event", "received", "expected"),
    [
        ("2025-07-02", date(2026, 6, 23), True),
        ("2024-10-21", date(2025, 11, 5), False),
        ("2025-02-10", date(2026, 2, 19), False),
        ("2025-02", date(2026, 2, 19), True),
        (None, date(2026, 2, 19), None),
    ],
)
def test_within_12_months(event: str | None, received: date, expected: bool | None) -> None:
    assert within_12_months(event, received) is expected


def test_event_date_in_complaint(classifier: Classifier) -> None:
    c = classifier.classify(
        make_input(
            "I want to make a complaint. Your adviser didn't turn up to the review on "
            "Monday 3rd November and nobody rang me back. The next meeting is on 30th November.",
            received="2025-11-12T10:00:00+00:00",
        )
    )
    assert c.kind == "complaint"
    assert c.event_date == "2025-11-03"
    assert c.within_12_months is True
    assert any(r.decision == "event_date" and "3rd November" in r.text for r in c.reasons)


def test_no_event_date_for_enquiry(classifier: Classifier) -> None:
    c = classifier.classify(make_input("Can someone explain the annual review on 3 March please?"))
    assert c.kind == "enquiry"
    assert c.event_date is None and c.within_12_months is None


def test_stage2_extractions(classifier: Classifier) -> None:
    c = classifier.classify(
        make_input(
            "Thank you for your letter dated 2 February 2026. I am not satisfied with the "
            "response and want my complaint escalated to Stage 2. The adviser gave me wrong "
            "advice in September 2025.",
            subject="Complaint DUR-2026-0007",
        )
    )
    assert c.kind == "stage2_request"
    assert c.stage1_reference == "DUR-2026-0007"
    assert c.stage1_response_date == "2026-02-02"
    assert c.event_date == "2025-09"
