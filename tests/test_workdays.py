"""The working-day calendar. Expected dates are written out by hand from a real calendar
(gov.uk bank holidays for England and Wales 2026-2028)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.workdays import (
    ENGLAND,
    Closure,
    WorkCalendar,
    add_calendar_days,
    add_calendar_weeks,
    add_working_days,
    clock_start,
    is_working_day,
    non_working_reason,
    parse_date,
    parse_datetime,
    working_days_between,
)

LONDON = ZoneInfo("Europe/London")


# ------------------------------------------------------------------- bank holidays


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (date(2026, 1, 1), "New Year's Day"),
        (date(2026, 4, 3), "Good Friday"),
        (date(2026, 4, 6), "Easter Monday"),
        (date(2026, 5, 4), "May Day"),
        (date(2026, 5, 25), "Spring Bank Holiday"),
        (date(2026, 8, 31), "Late Summer Bank Holiday"),
        (date(2026, 12, 25), "Christmas Day"),
        # Boxing Day 2026 is a Saturday: named as the weekend day; observed on Monday 28th.
        (date(2026, 12, 26), "Saturday"),
        (date(2026, 12, 27), "Sunday"),
        (date(2026, 12, 28), "Boxing Day (observed)"),
        (date(2027, 1, 1), "New Year's Day"),
        (date(2028, 1, 3), "New Year's Day (observed)"),
    ],
)
def test_england_2026_bank_holidays_and_weekends(day: date, reason: str) -> None:
    assert non_working_reason(day) == reason
    assert not is_working_day(day)


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 4, 2),  # Maundy Thursday
        date(2026, 4, 7),  # Tuesday after Easter
        date(2026, 12, 24),  # Christmas Eve is not a bank holiday
        date(2026, 12, 29),
        date(2026, 12, 31),
        date(2028, 2, 29),  # leap day, a Tuesday
        date(2026, 8, 3),  # Scotland's summer holiday, not England's
        date(2026, 3, 17),  # St Patrick's Day: Northern Ireland only
    ],
)
def test_working_days_in_england(day: date) -> None:
    assert is_working_day(day)
    assert non_working_reason(day) is None


def test_regions_differ() -> None:
    scotland = WorkCalendar("scotland")
    ni = WorkCalendar("northern-ireland")
    wales = WorkCalendar("wales")
    assert not scotland.is_working_day(date(2026, 1, 2))  # 2 January, Scotland only
    assert ENGLAND.is_working_day(date(2026, 1, 2))
    assert not scotland.is_working_day(date(2026, 8, 3))  # Scotland's summer bank holiday
    assert scotland.is_working_day(date(2026, 8, 31))
    assert scotland.is_working_day(date(2026, 4, 6))  # no Easter Monday in Scotland
    assert not ni.is_working_day(date(2026, 3, 17))  # St Patrick's Day
    assert not ni.is_working_day(date(2026, 7, 13))  # Battle of the Boyne (observed)
    assert not wales.is_working_day(date(2026, 12, 28))
    assert wales.is_working_day(date(2026, 3, 17))


def test_unknown_region_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown bank-holiday region 'mars'"):
        WorkCalendar("mars")


# -------------------------------------------------------------- add_working_days


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # Christmas and New Year 2026: 25, 26 (Sat), 27 (Sun), 28 (Boxing Day observed)
        (date(2026, 12, 24), 1, date(2026, 12, 29)),
        (date(2026, 12, 24), 3, date(2026, 12, 31)),
        (date(2026, 12, 24), 4, date(2027, 1, 4)),
        (date(2026, 12, 24), 5, date(2027, 1, 5)),
        (date(2026, 12, 24), 10, date(2027, 1, 12)),
        (date(2026, 12, 24), 20, date(2027, 1, 26)),
        # Easter 2026: Good Friday 3 April, Easter Monday 6 April, then May Day 4 May
        (date(2026, 4, 2), 1, date(2026, 4, 7)),
        (date(2026, 4, 2), 20, date(2026, 5, 5)),
        # Early May (4 May) and Spring (25 May) bank holidays
        (date(2026, 4, 30), 2, date(2026, 5, 5)),
        (date(2026, 5, 22), 1, date(2026, 5, 26)),
        (date(2026, 5, 22), 20, date(2026, 6, 22)),
        # August bank holiday, 31 August 2026
        (date(2026, 8, 28), 1, date(2026, 9, 1)),
        (date(2026, 8, 28), 10, date(2026, 9, 14)),
        # Leap day 2028 (a Tuesday)
        (date(2028, 2, 28), 1, date(2028, 2, 29)),
        (date(2028, 2, 29), 3, date(2028, 3, 3)),
        (date(2028, 2, 29), 20, date(2028, 3, 28)),
        # Weekends
        (date(2026, 6, 12), 1, date(2026, 6, 15)),  # Friday -> Monday
        (date(2026, 6, 13), 1, date(2026, 6, 15)),  # from a Saturday: Monday is the first
        (date(2026, 6, 15), 0, date(2026, 6, 15)),
    ],
)
def test_add_working_days(start: date, n: int, expected: date) -> None:
    assert add_working_days(start, n).value == expected


def test_explanation_lists_the_days_skipped_and_why() -> None:
    result = add_working_days(date(2026, 12, 24), 3)
    assert result.value == date(2026, 12, 31)
    assert result.start == date(2026, 12, 24)
    assert [str(s) for s in result.skipped] == [
        "2026-12-25 Christmas Day",
        "2026-12-26 Saturday",
        "2026-12-27 Sunday",
        "2026-12-28 Boxing Day (observed)",
    ]
    assert "3 working days after 2026-12-24" in result.rule
    data = result.to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["date"] == "2026-12-31"
    assert "2026-12-28 Boxing Day (observed)" in data["text"]


def test_negative_working_days_refused() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        add_working_days(date(2026, 1, 5), -1)
    with pytest.raises(TypeError):
        add_working_days(date(2026, 1, 5), 1.5)  # type: ignore[arg-type]


def test_closure_days_are_skipped_with_their_reason() -> None:
    cal = WorkCalendar(
        "england", (Closure(date(2026, 12, 29), date(2026, 12, 31), "Christmas shutdown"),)
    )
    result = add_working_days(date(2026, 12, 24), 3, cal)
    assert result.value == date(2027, 1, 6)
    assert "2026-12-30 service closed: Christmas shutdown" in [str(s) for s in result.skipped]
    assert "2027-01-01 New Year's Day" in [str(s) for s in result.skipped]
    assert not cal.is_working_day(date(2026, 12, 29))
    assert cal.is_working_day(date(2027, 1, 4))


def test_closure_must_not_end_before_it_starts() -> None:
    with pytest.raises(ValueError):
        Closure(date(2026, 12, 31), date(2026, 12, 29), "backwards")


# -------------------------------------------------------------- calendar weeks


def test_calendar_weeks_landing_on_a_working_day() -> None:
    result = add_calendar_weeks(date(2026, 12, 24), 2)
    assert result.value == date(2027, 1, 7)
    assert result.skipped == ()


def test_calendar_weeks_landing_on_a_bank_holiday_move_to_next_working_day() -> None:
    # Monday 23 March 2026 + 2 weeks = Easter Monday 6 April -> Tuesday 7 April
    result = add_calendar_weeks(date(2026, 3, 23), 2)
    assert result.value == date(2026, 4, 7)
    assert [str(s) for s in result.skipped] == ["2026-04-06 Easter Monday"]
    assert any("next working day" in n for n in result.notes)
    # Monday 30 November 2026 + 4 weeks = 28 December (Boxing Day observed) -> 29 December
    assert add_calendar_weeks(date(2026, 11, 30), 4).value == date(2026, 12, 29)


def test_calendar_days_landing_on_a_weekend() -> None:
    # Wednesday 10 June 2026 + 3 days = Saturday 13 June -> Monday 15 June
    result = add_calendar_days(date(2026, 6, 10), 3)
    assert result.value == date(2026, 6, 15)
    assert [str(s) for s in result.skipped] == ["2026-06-13 Saturday", "2026-06-14 Sunday"]


# ------------------------------------------------------------ working_days_between


@pytest.mark.parametrize(
    ("d1", "d2", "expected"),
    [
        (date(2026, 12, 24), date(2026, 12, 24), 0),
        (date(2026, 12, 24), date(2026, 12, 28), 0),  # nothing worked from 25 to 28
        (date(2026, 12, 24), date(2026, 12, 29), 1),
        (date(2026, 12, 24), date(2027, 1, 26), 20),
        (date(2026, 12, 10), date(2027, 1, 12), 20),
        (date(2026, 12, 10), date(2027, 1, 13), 21),
        (date(2026, 6, 12), date(2026, 6, 15), 1),  # Friday to Monday
        (date(2026, 6, 13), date(2026, 6, 14), 0),  # Saturday to Sunday
        (date(2028, 2, 28), date(2028, 3, 1), 2),  # across the leap day
        (date(2026, 12, 29), date(2026, 12, 24), -1),  # reversed: negative
        (date(2027, 1, 26), date(2026, 12, 24), -20),
    ],
)
def test_working_days_between(d1: date, d2: date, expected: int) -> None:
    assert working_days_between(d1, d2) == expected


def test_between_is_the_inverse_of_add() -> None:
    start = date(2026, 3, 20)
    for n in range(0, 45):
        end = add_working_days(start, n).value
        assert end is not None
        assert working_days_between(start, end) == n


# --------------------------------------------------------------------- clock start


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        # Summer Friday 23:30 UTC is 00:30 on Saturday in London -> Monday
        (datetime(2026, 7, 10, 23, 30, tzinfo=UTC), date(2026, 7, 13)),
        # Same wall-clock time in winter is still Friday in London
        (datetime(2026, 1, 9, 23, 30, tzinfo=UTC), date(2026, 1, 9)),
        # BST starts 01:00 UTC Sunday 29 March 2026
        (datetime(2026, 3, 27, 23, 30, tzinfo=UTC), date(2026, 3, 27)),  # Fri 23:30 GMT
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), date(2026, 3, 30)),  # Sun 00:59 GMT
        (datetime(2026, 3, 29, 23, 30, tzinfo=UTC), date(2026, 3, 30)),  # Mon 00:30 BST
        (datetime(2026, 3, 30, 23, 30, tzinfo=UTC), date(2026, 3, 31)),  # Tue 00:30 BST
        # BST ends 01:00 UTC Sunday 25 October 2026
        (datetime(2026, 10, 23, 23, 30, tzinfo=UTC), date(2026, 10, 26)),  # Sat 00:30 BST
        (datetime(2026, 10, 25, 23, 30, tzinfo=UTC), date(2026, 10, 26)),  # Sun 23:30 GMT
        (datetime(2026, 10, 26, 23, 30, tzinfo=UTC), date(2026, 10, 26)),  # Mon 23:30 GMT
        (datetime(2026, 10, 19, 23, 30, tzinfo=UTC), date(2026, 10, 20)),  # Tue 00:30 BST
        # Weekend and bank holidays
        (datetime(2026, 6, 13, 10, 0, tzinfo=LONDON), date(2026, 6, 15)),
        (datetime(2026, 12, 25, 9, 0, tzinfo=LONDON), date(2026, 12, 29)),
        (datetime(2026, 4, 3, 11, 0, tzinfo=LONDON), date(2026, 4, 7)),
        (datetime(2027, 1, 1, 9, 0, tzinfo=LONDON), date(2027, 1, 4)),
        (datetime(2028, 2, 29, 10, 0, tzinfo=LONDON), date(2028, 2, 29)),
        # Naive means London local time (not UTC): Friday 23:30 is still Friday
        (datetime(2026, 7, 10, 23, 30), date(2026, 7, 10)),
        (datetime(2026, 7, 11, 0, 30), date(2026, 7, 13)),
        (datetime(2026, 7, 10, 9, 0), date(2026, 7, 10)),
    ],
)
def test_clock_start(received: datetime, expected: date) -> None:
    assert clock_start(received).value == expected


def test_clock_start_explains_a_weekend_arrival() -> None:
    result = clock_start(datetime(2026, 7, 10, 23, 30, tzinfo=UTC))
    assert result.value == date(2026, 7, 13)
    assert result.start == date(2026, 7, 11)
    assert [str(s) for s in result.skipped] == ["2026-07-11 Saturday", "2026-07-12 Sunday"]
    assert "received 2026-07-11 00:30 BST" in result.notes[0]
    assert "non-working day" in result.rule


def test_clock_start_with_cutoff_hour() -> None:
    friday_early = datetime(2026, 7, 10, 16, 59, tzinfo=LONDON)
    friday_late = datetime(2026, 7, 10, 17, 0, tzinfo=LONDON)
    assert clock_start(friday_early, cutoff_hour=17).value == date(2026, 7, 10)
    late = clock_start(friday_late, cutoff_hour=17)
    assert late.value == date(2026, 7, 13)
    assert "cut-off" in late.rule
    # After the cut-off on Christmas Eve: the next working day is 29 December
    assert clock_start(datetime(2026, 12, 24, 18, 0, tzinfo=LONDON), cutoff_hour=17).value == date(
        2026, 12, 29
    )
    # Without a cut-off the late message counts that day
    assert clock_start(friday_late).value == date(2026, 7, 10)


def test_clock_start_with_closure() -> None:
    cal = WorkCalendar("england", (Closure(date(2026, 7, 13), date(2026, 7, 14), "training"),))
    assert clock_start(datetime(2026, 7, 11, 10, 0), cal).value == date(2026, 7, 15)


# -------------------------------------------------------------------------- parsing


def test_parse_datetime() -> None:
    assert parse_datetime("2026-07-10T23:30:00Z") == datetime(2026, 7, 11, 0, 30, tzinfo=LONDON)
    assert parse_datetime("2026-07-10T23:30") == datetime(2026, 7, 10, 23, 30, tzinfo=LONDON)
    moment = parse_datetime("2026-01-09T23:30:00+00:00")
    assert moment.utcoffset() == timedelta(0)
    assert moment.date() == date(2026, 1, 9)
    for bad in ("", "yesterday", "2026-13-01T00:00", "10/07/2026"):
        with pytest.raises(ValueError):
            parse_datetime(bad)


def test_parse_date() -> None:
    assert parse_date("2028-02-29") == date(2028, 2, 29)
    for bad in ("2027-02-29", "2026-7-1", "20260701", "01/07/2026"):
        with pytest.raises(ValueError):
            parse_date(bad)
