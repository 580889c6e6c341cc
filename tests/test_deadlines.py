"""The deadline engine for each shipped service. Every expected date was counted by hand on
a 2026-2028 calendar with the gov.uk England and Wales bank holidays."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

import bot
from bot.deadlines import (
    CaseDeadlines,
    check_event_window,
    check_stage2_timeliness,
    check_twelve_months,
    deadline_status,
    due_horizon,
    extend,
    initial_deadlines,
    intake_deadlines,
    is_overdue,
    months_before,
    next_stage_request_by,
    response_working_days,
    stage_deadlines,
    timeliness,
    working_days_left,
)
from bot.services import Service, load_service_file, load_services
from bot.workdays import parse_datetime
from classifiers.types import Classification

SERVICES = load_services()
KEYS = ("durham", "staffordshire", "coventry", "stoke")


def _svc(key: str) -> Service:
    return SERVICES[key]


def _d(s: str) -> date:
    return date.fromisoformat(s)


# Stage 1 windows: durham ack 3 / respond 20, staffordshire 5 / 20, coventry 3 / 10,
# stoke 3 (default) / 5 (working days).
# scenario -> (received, clock starts, {service: (acknowledge_by, respond_by)})
SCENARIOS: dict[str, tuple[str, str, dict[str, tuple[str, str]]]] = {
    "christmas": (
        "2026-12-24T10:00:00+00:00",  # Thu; then 25 Fri, 26 Sat, 27 Sun, 28 Mon observed
        "2026-12-24",
        {
            "durham": ("2026-12-31", "2027-01-26"),
            "staffordshire": ("2027-01-05", "2027-01-26"),
            "coventry": ("2026-12-31", "2027-01-12"),
            "stoke": ("2026-12-31", "2027-01-05"),
        },
    ),
    "new_year_eve": (
        "2026-12-31T16:00:00+00:00",  # Thu; 1 Jan Fri holiday, 2-3 weekend
        "2026-12-31",
        {
            "durham": ("2027-01-06", "2027-01-29"),
            "staffordshire": ("2027-01-08", "2027-01-29"),
            "coventry": ("2027-01-06", "2027-01-15"),
            "stoke": ("2027-01-06", "2027-01-08"),
        },
    ),
    "new_years_day": (
        "2027-01-01T09:00:00+00:00",  # bank holiday -> clock starts Monday 4 January
        "2027-01-04",
        {
            "durham": ("2027-01-07", "2027-02-01"),
            "staffordshire": ("2027-01-11", "2027-02-01"),
            "coventry": ("2027-01-07", "2027-01-18"),
            "stoke": ("2027-01-07", "2027-01-11"),
        },
    ),
    "easter": (
        "2026-04-02T09:00:00+01:00",  # Maundy Thursday; Good Friday 3, Easter Monday 6 April
        "2026-04-02",
        {
            "durham": ("2026-04-09", "2026-05-05"),  # 20 days also skip May Day (4 May)
            "staffordshire": ("2026-04-13", "2026-05-05"),
            "coventry": ("2026-04-09", "2026-04-20"),
            "stoke": ("2026-04-09", "2026-04-13"),
        },
    ),
    "good_friday": (
        "2026-04-03T11:00:00+01:00",  # received on Good Friday -> clock starts Tue 7 April
        "2026-04-07",
        {
            "durham": ("2026-04-10", "2026-05-06"),
            "staffordshire": ("2026-04-14", "2026-05-06"),
            "coventry": ("2026-04-10", "2026-04-21"),
            "stoke": ("2026-04-10", "2026-04-14"),
        },
    ),
    "early_may": (
        "2026-04-30T10:00:00+01:00",  # Thu; May Day Monday 4 May
        "2026-04-30",
        {
            "durham": ("2026-05-06", "2026-06-01"),  # 20 days also skip 25 May
            "staffordshire": ("2026-05-08", "2026-06-01"),
            "coventry": ("2026-05-06", "2026-05-15"),
            "stoke": ("2026-05-06", "2026-05-08"),
        },
    ),
    "spring_bank_holiday": (
        "2026-05-22T14:00:00+01:00",  # Fri; Spring Bank Holiday Monday 25 May
        "2026-05-22",
        {
            "durham": ("2026-05-28", "2026-06-22"),
            "staffordshire": ("2026-06-01", "2026-06-22"),
            "coventry": ("2026-05-28", "2026-06-08"),
            "stoke": ("2026-05-28", "2026-06-01"),
        },
    ),
    "august_bank_holiday": (
        "2026-08-28T10:00:00+01:00",  # Fri; Late Summer Bank Holiday Monday 31 August
        "2026-08-28",
        {
            "durham": ("2026-09-03", "2026-09-28"),
            "staffordshire": ("2026-09-07", "2026-09-28"),
            "coventry": ("2026-09-03", "2026-09-14"),
            "stoke": ("2026-09-03", "2026-09-07"),
        },
    ),
    "weekend": (
        "2026-06-13T10:00:00+01:00",  # Saturday -> Monday 15 June
        "2026-06-15",
        {
            "durham": ("2026-06-18", "2026-07-13"),
            "staffordshire": ("2026-06-22", "2026-07-13"),
            "coventry": ("2026-06-18", "2026-06-29"),
            "stoke": ("2026-06-18", "2026-06-22"),
        },
    ),
    "bst_friday_night": (
        "2026-07-10T23:30:00Z",  # Friday in UTC, 00:30 Saturday in London -> Monday 13 July
        "2026-07-13",
        {
            "durham": ("2026-07-16", "2026-08-10"),
            "staffordshire": ("2026-07-20", "2026-08-10"),
            "coventry": ("2026-07-16", "2026-07-27"),
            "stoke": ("2026-07-16", "2026-07-20"),
        },
    ),
    "bst_starts": (
        "2026-03-29T23:30:00Z",  # Sunday in UTC, 00:30 BST Monday 30 March in London
        "2026-03-30",
        {
            "durham": ("2026-04-02", "2026-04-29"),
            "staffordshire": ("2026-04-08", "2026-04-29"),
            "coventry": ("2026-04-02", "2026-04-15"),
            "stoke": ("2026-04-02", "2026-04-08"),
        },
    ),
    "bst_ends": (
        "2026-10-24T23:30:00Z",  # Saturday in UTC, 00:30 BST Sunday 25 October -> Monday
        "2026-10-26",
        {
            "durham": ("2026-10-29", "2026-11-23"),
            "staffordshire": ("2026-11-02", "2026-11-23"),
            "coventry": ("2026-10-29", "2026-11-09"),
            "stoke": ("2026-10-29", "2026-11-02"),
        },
    ),
    "leap_day": (
        "2028-02-29T10:00:00+00:00",  # Tuesday 29 February 2028
        "2028-02-29",
        {
            "durham": ("2028-03-03", "2028-03-28"),
            "staffordshire": ("2028-03-07", "2028-03-28"),
            "coventry": ("2028-03-03", "2028-03-14"),
            "stoke": ("2028-03-03", "2028-03-07"),
        },
    ),
}

CASES = [(name, key) for name in SCENARIOS for key in KEYS]


@pytest.mark.parametrize(("scenario", "key"), CASES)
def test_complaint_deadlines(scenario: str, key: str) -> None:
    received, starts, expected = SCENARIOS[scenario]
    d = initial_deadlines(_svc(key), parse_datetime(received), "complaint")
    assert d.stage == 1
    assert d.clock_starts == _d(starts)
    assert (d.acknowledge_by, d.respond_by) == tuple(_d(x) for x in expected[key])


def test_christmas_explanation_names_the_days_skipped() -> None:
    d = initial_deadlines(_svc("durham"), parse_datetime("2026-12-24T10:00"), "complaint")
    ack = d.explain["acknowledge_by"]
    assert [str(s) for s in ack.skipped] == [
        "2026-12-25 Christmas Day",
        "2026-12-26 Saturday",
        "2026-12-27 Sunday",
        "2026-12-28 Boxing Day (observed)",
    ]
    assert "3 working days" in ack.rule
    assert "durham-sendiass-complaints-procedure.txt:L95" in ack.rule
    assert "2027-01-01 New Year's Day" in [str(s) for s in d.explain["respond_by"].skipped]


def test_bst_explanation_shows_london_time() -> None:
    d = initial_deadlines(_svc("coventry"), parse_datetime("2026-07-10T23:30:00Z"), "complaint")
    cs = d.explain["clock_starts"]
    assert "received 2026-07-11 00:30 BST" in cs.notes[0]
    assert [str(s) for s in cs.skipped] == ["2026-07-11 Saturday", "2026-07-12 Sunday"]


def test_unstated_window_says_so() -> None:
    d = initial_deadlines(_svc("stoke"), parse_datetime("2026-06-15T10:00"), "complaint")
    assert any("not stated in the procedure" in n for n in d.explain["acknowledge_by"].notes)
    d = initial_deadlines(_svc("durham"), parse_datetime("2026-06-15T10:00"), "complaint")
    assert not any("not stated" in n for n in d.explain["acknowledge_by"].notes)


# ------------------------------------------------------------------- configured closure


def _with_closure(tmp_path: Path, key: str, cutoff: bool = False) -> Service:
    text = (bot.ROOT / "config" / "services" / f"{key}.toml").read_text(encoding="utf-8")
    closure = (
        'closure_days = [{ start = 2026-12-29, end = 2026-12-31, reason = "Christmas shutdown" }]'
    )
    text = text.replace("closure_days = []", closure + ("\ncutoff_hour = 16" if cutoff else ""))
    path = tmp_path / f"{key}.toml"
    path.write_text(text, encoding="utf-8")
    return load_service_file(path)


# Closed 29-31 December 2026, on top of the bank holidays: from Thursday 24 December the first
# working day is Monday 4 January 2027. 3 -> 6 Jan, 5 -> 8 Jan, 10 -> 15 Jan, 20 -> 29 Jan.
CLOSURE_EXPECTED = {
    "durham": ("2027-01-06", "2027-01-29"),
    "staffordshire": ("2027-01-08", "2027-01-29"),
    "coventry": ("2027-01-06", "2027-01-15"),
    "stoke": ("2027-01-06", "2027-01-08"),
}


@pytest.mark.parametrize("key", KEYS)
def test_configured_closure(tmp_path: Path, key: str) -> None:
    service = _with_closure(tmp_path, key)
    d = initial_deadlines(service, parse_datetime("2026-12-24T10:00"), "complaint")
    assert (d.acknowledge_by, d.respond_by) == tuple(_d(x) for x in CLOSURE_EXPECTED[key])
    skipped = [str(s) for s in d.explain["acknowledge_by"].skipped]
    assert "2026-12-29 service closed: Christmas shutdown" in skipped


@pytest.mark.parametrize("key", KEYS)
def test_received_in_a_closure_starts_after_it(tmp_path: Path, key: str) -> None:
    service = _with_closure(tmp_path, key)
    d = initial_deadlines(service, parse_datetime("2026-12-30T10:00"), "complaint")
    assert d.clock_starts == date(2027, 1, 4)


def test_cutoff_hour_from_the_service_file(tmp_path: Path) -> None:
    service = _with_closure(tmp_path, "durham", cutoff=True)
    early = initial_deadlines(service, parse_datetime("2026-12-24T15:59"), "complaint")
    late = initial_deadlines(service, parse_datetime("2026-12-24T16:00"), "complaint")
    assert early.clock_starts == date(2026, 12, 24)
    assert late.clock_starts == date(2027, 1, 4)  # after 25-28 Dec, shutdown, 1-3 Jan
    assert late.acknowledge_by == date(2027, 1, 7)


# --------------------------------------------------------------- complaints about coordinator


# Durham and Staffordshire start such complaints at Stage 2 (ack 5, respond 20 working days);
# Coventry and Stoke have no such rule and start at Stage 1.
COORDINATOR_EXPECTED = {
    "durham": (2, "2027-01-05", "2027-01-26", "about_coordinator"),
    "staffordshire": (2, "2027-01-05", "2027-01-26", "about_coordinator"),
    "coventry": (1, "2026-12-31", "2027-01-12", None),
    "stoke": (1, "2026-12-31", "2027-01-05", None),
}


@pytest.mark.parametrize("key", KEYS)
def test_complaint_about_coordinator(key: str) -> None:
    stage, ack, resp, route = COORDINATOR_EXPECTED[key]
    d = initial_deadlines(
        _svc(key), parse_datetime("2026-12-24T10:00"), "complaint", about_coordinator=True
    )
    assert d.stage == stage
    assert d.route == route
    assert (d.acknowledge_by, d.respond_by) == (_d(ack), _d(resp))
    if stage == 2:
        assert "Stage 2" in d.explain["stage"].rule
    else:
        assert "does not move" in d.explain["stage"].rule


# ------------------------------------------------------------------------- other kinds


@pytest.mark.parametrize("key", KEYS)
def test_stage2_request_starts_stage_2(key: str) -> None:
    d = initial_deadlines(_svc(key), parse_datetime("2026-12-24T10:00"), "stage2_request")
    assert d.stage == 2
    ack, resp = {
        "durham": ("2027-01-05", "2027-01-26"),
        "staffordshire": ("2027-01-05", "2027-01-26"),
        "coventry": ("2026-12-31", "2027-01-26"),
        "stoke": ("2026-12-31", "2027-01-07"),  # 2 calendar weeks: Thursday 7 January
    }[key]
    assert (d.acknowledge_by, d.respond_by) == (_d(ack), _d(resp))


@pytest.mark.parametrize("kind", ["comment", "compliment"])
def test_comments_and_compliments_get_an_acknowledgement_only(kind: str) -> None:
    d = initial_deadlines(_svc("durham"), parse_datetime("2026-12-24T10:00"), kind)
    assert d.acknowledge_by == date(2026, 12, 31)
    assert d.respond_by is None
    assert "no response" in d.explain["respond_by"].rule


@pytest.mark.parametrize("kind", ["enquiry", "automated"])
def test_no_clock_for_enquiries_and_automated_mail(kind: str) -> None:
    d = initial_deadlines(_svc("stoke"), parse_datetime("2026-12-24T10:00"), kind)
    assert d.clock_starts == date(2026, 12, 24)
    assert d.acknowledge_by is None and d.respond_by is None
    data = d.to_json()
    assert data["acknowledge_by"] is None and data["respond_by"] is None


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        initial_deadlines(_svc("durham"), parse_datetime("2026-12-24T10:00"), "grumble")


def test_to_json_round_trips_through_json() -> None:
    d = initial_deadlines(_svc("durham"), parse_datetime("2026-07-10T23:30:00Z"), "complaint")
    assert isinstance(d, CaseDeadlines)
    data = d.to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["clock_starts"] == "2026-07-13"
    assert data["acknowledge_by"] == "2026-07-16"
    assert data["respond_by"] == "2026-08-10"
    assert data["received"] == "2026-07-11T00:30:00+01:00"
    assert set(data["explain"]) == {"clock_starts", "stage", "acknowledge_by", "respond_by"}


# --------------------------------------------------------------------- stage deadlines


def test_stoke_calendar_week_windows_move_off_holidays() -> None:
    stoke = _svc("stoke")
    # Stage 2: two calendar weeks from Monday 23 March 2026 = Easter Monday -> Tuesday 7 April
    s2 = stage_deadlines(stoke, 2, date(2026, 3, 23))
    assert (s2.acknowledge_by, s2.respond_by) == (date(2026, 3, 26), date(2026, 4, 7))
    assert [str(s) for s in s2.explain["respond_by"].skipped] == ["2026-04-06 Easter Monday"]
    # Stage 3: four weeks from Monday 30 November 2026 = 28 December (observed) -> 29th
    assert stage_deadlines(stoke, 3, date(2026, 11, 30)).respond_by == date(2026, 12, 29)
    # Stage 4: five weeks (four to the meeting, one after) from 23 November -> 29 December
    assert stage_deadlines(stoke, 4, date(2026, 11, 23)).respond_by == date(2026, 12, 29)


def test_stage_deadlines_from_a_non_working_day() -> None:
    s = stage_deadlines(_svc("durham"), 2, date(2026, 12, 26))
    assert s.clock_starts == date(2026, 12, 29)
    assert s.acknowledge_by == date(2027, 1, 6)  # 5 working days: 30, 31, 4, 5, 6
    assert s.to_json()["stage"] == 2


def test_stage_deadlines_unknown_stage() -> None:
    with pytest.raises(KeyError, match="no stage 3"):
        stage_deadlines(_svc("durham"), 3, date(2026, 12, 1))


# ----------------------------------------------------------- requesting the next stage

# Stage 1 response letter Thursday 10 December 2026; 20 working days later is Tuesday
# 12 January 2027 (skipping 25, 28 December and 1 January and the weekends).


@pytest.mark.parametrize("key", ["durham", "staffordshire", "coventry"])
def test_next_stage_request_by(key: str) -> None:
    by = next_stage_request_by(_svc(key), 1, date(2026, 12, 10))
    assert by.value == date(2027, 1, 12)
    assert by.start == date(2026, 12, 10)
    assert "Stage 1 response letter" in by.rule


def test_stoke_sets_no_time_limit() -> None:
    by = next_stage_request_by(_svc("stoke"), 1, date(2026, 12, 10))
    assert by.value is None
    assert "no time limit" in by.rule


def test_final_stage_points_to_the_ombudsman() -> None:
    by = next_stage_request_by(_svc("durham"), 2, date(2026, 12, 10))
    assert by.value is None
    assert "Ombudsman" in by.rule


@pytest.mark.parametrize("key", ["durham", "staffordshire", "coventry"])
def test_stage2_request_on_the_last_permitted_day(key: str) -> None:
    late_evening = parse_datetime("2027-01-12T23:59")
    check = check_stage2_timeliness(_svc(key), date(2026, 12, 10), late_evening)
    assert check.ok is True
    assert check.flag is None
    assert check.details["working_days_after_letter"] == 20


@pytest.mark.parametrize("key", ["durham", "staffordshire", "coventry"])
def test_stage2_request_the_day_after_is_flagged_not_rejected(key: str) -> None:
    check = check_stage2_timeliness(_svc(key), date(2026, 12, 10), date(2027, 1, 13))
    assert check.ok is False
    assert check.flag == "late_next_stage_request"
    assert "2027-01-12" in check.evidence and "not rejected" in check.evidence
    assert check.details["working_days_late"] == 1


def test_stage2_request_just_after_midnight_utc_in_summer() -> None:
    # 23:30 UTC on the last day (Tuesday 7 July 2026 after a letter of 8 June) is
    # 00:30 BST on the 8th in London: one day late
    by = next_stage_request_by(_svc("durham"), 1, date(2026, 6, 8))
    assert by.value == date(2026, 7, 6)
    check = check_stage2_timeliness(
        _svc("durham"), date(2026, 6, 8), datetime.fromisoformat("2026-07-06T23:30:00+00:00")
    )
    assert check.ok is False


def test_stoke_stage2_request_is_never_late() -> None:
    check = check_stage2_timeliness(_svc("stoke"), date(2026, 1, 5), date(2026, 12, 1))
    assert check.ok is True and check.flag is None


# -------------------------------------------------------------------- twelve months


@pytest.mark.parametrize(
    ("event", "received", "ok", "flag"),
    [
        ("2025-03-04", date(2026, 3, 4), True, None),  # exactly 12 months: within
        ("2025-03-03", date(2026, 3, 4), False, "older_than_12_months"),
        ("2025-12-01", date(2026, 3, 4), True, None),
        # month precision: compared as the month's last day
        ("2025-03", date(2026, 3, 31), True, None),  # 31 March 2025 is the first day in
        ("2025-03", date(2026, 4, 1), False, "older_than_12_months"),
        ("2025-02", date(2026, 2, 28), True, None),
        ("2025-02", date(2026, 3, 1), False, "older_than_12_months"),
        # leap days
        ("2027-02-28", date(2028, 2, 29), True, None),
        ("2027-02-27", date(2028, 2, 29), False, "older_than_12_months"),
        ("2028-02-29", date(2029, 2, 28), True, None),
        ("2028-02-29", date(2029, 3, 1), False, "older_than_12_months"),
        # an event after the day received cannot be judged
        ("2026-05-01", date(2026, 3, 4), None, "event_date_after_received"),
    ],
)
def test_check_twelve_months(event: str, received: date, ok: bool | None, flag: str | None) -> None:
    check = check_twelve_months(event, received)
    assert check.ok is ok
    assert check.flag == flag
    assert event in check.evidence
    assert json.loads(json.dumps(check.to_json())) == check.to_json()


def test_twelve_months_evidence_for_month_precision() -> None:
    check = check_twelve_months("2025-03", date(2026, 4, 1))
    assert "2025-03-31" in check.evidence
    assert check.details["precision"] == "month"
    assert check.details["window_starts"] == "2025-04-01"


@pytest.mark.parametrize("bad", ["", "2025", "2025-13", "2025-02-30", "March 2025", "25-03-01"])
def test_twelve_months_bad_event_date(bad: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD or YYYY-MM"):
        check_twelve_months(bad, date(2026, 3, 4))


def test_event_window_says_where_the_rule_comes_from() -> None:
    durham = check_event_window(_svc("durham"), "2024-01-10", date(2026, 3, 4))
    assert durham.ok is False and "the procedure's rule" in durham.evidence
    coventry = check_event_window(_svc("coventry"), "2024-01-10", date(2026, 3, 4))
    assert "Ombudsman" in coventry.evidence
    stoke = check_event_window(_svc("stoke"), "2024-01-10", date(2026, 3, 4))
    assert "default" in stoke.evidence


def test_months_before() -> None:
    assert months_before(date(2028, 2, 29), 12) == date(2027, 2, 28)
    assert months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert months_before(date(2026, 1, 15), 13) == date(2024, 12, 15)


# ------------------------------------------------------------------ queries, timeliness


@pytest.mark.parametrize(
    ("responded", "expected"),
    [
        ("2026-12-24", "within_10"),  # same day
        ("2027-01-12", "within_10"),  # 10th working day after 24 December
        ("2027-01-13", "within_20"),  # 11th
        ("2027-01-26", "within_20"),  # 20th
        ("2027-01-27", "out_of_timescale"),  # 21st
    ],
)
def test_timeliness(responded: str, expected: str) -> None:
    received = parse_datetime("2026-12-24T10:00")
    assert timeliness(received, _d(responded), _svc("durham")) == expected


def test_timeliness_counts_from_the_clock_start() -> None:
    # Received Saturday 13 June 2026: the clock starts Monday 15th
    received = parse_datetime("2026-06-13T10:00")
    assert response_working_days(received, date(2026, 6, 29), _svc("coventry")) == 10
    assert timeliness(received, date(2026, 6, 29), _svc("coventry")) == "within_10"
    assert timeliness(date(2026, 6, 13), date(2026, 6, 30), _svc("coventry")) == "within_20"


def test_deadline_status_and_horizon() -> None:
    s = _svc("durham")
    deadline = date(2026, 12, 31)
    assert deadline_status(None, date(2026, 12, 24), s) == "none"
    assert deadline_status(deadline, date(2027, 1, 4), s) == "overdue"
    assert deadline_status(deadline, deadline, s) == "due_today"
    # three working days from 24 December reach 31 December
    assert due_horizon(date(2026, 12, 24), 3, s) == date(2026, 12, 31)
    assert deadline_status(deadline, date(2026, 12, 24), s, soon=3) == "due_soon"
    assert deadline_status(deadline, date(2026, 12, 24), s, soon=2) == "on_track"
    assert working_days_left(deadline, date(2026, 12, 24), s) == 3
    assert working_days_left(date(2026, 12, 24), date(2026, 12, 31), s) == -3
    assert is_overdue(deadline, date(2027, 1, 1))
    assert not is_overdue(deadline, deadline)
    assert not is_overdue(None, deadline)


# ------------------------------------------------------------------------ extensions


def test_extension() -> None:
    e = extend(_svc("durham"), 1, date(2027, 1, 26), date(2027, 2, 9), "complex case")
    assert e.value == date(2027, 2, 9)
    assert "complex case" in e.rule
    assert "told" in e.notes[0]
    with pytest.raises(ValueError, match="no extension"):
        extend(_svc("stoke"), 1, date(2027, 1, 5), date(2027, 1, 12), "busy")
    with pytest.raises(ValueError, match="must be after"):
        extend(_svc("durham"), 1, date(2027, 1, 26), date(2027, 1, 20), "x")
    with pytest.raises(ValueError, match="reason"):
        extend(_svc("durham"), 1, date(2027, 1, 26), date(2027, 2, 9), " ")


# ------------------------------------------------------------------ intake adapter


def test_intake_deadlines_for_a_stage2_request() -> None:
    c = Classification(
        kind="stage2_request",
        confidence=0.9,
        event_date="2024-11",
        stage1_response_date="2026-12-10",
    )
    out = intake_deadlines(_svc("durham"), parse_datetime("2027-01-13T09:00"), c, 1)
    assert out["stage"] == 2
    assert out["clock_starts"] == "2027-01-13"
    assert out["acknowledge_by"] == "2027-01-20"
    assert out["respond_by"] == "2027-02-10"
    assert out["checks"]["next_stage_request"]["flag"] == "late_next_stage_request"
    assert out["checks"]["event_window"]["ok"] is False
    assert json.loads(json.dumps(out)) == out


def test_intake_deadlines_about_coordinator_and_bad_dates() -> None:
    c = Classification(
        kind="complaint", confidence=0.9, about_coordinator=True, event_date="last week"
    )
    out = intake_deadlines(_svc("staffordshire"), parse_datetime("2026-12-24T10:00"), c)
    assert out["stage"] == 2 and out["route"] == "about_coordinator"
    assert out["checks"]["event_window"]["flag"] == "unreadable_event_date"


def test_intake_deadlines_for_an_enquiry() -> None:
    c = Classification(kind="enquiry", confidence=0.9)
    out = intake_deadlines(_svc("coventry"), parse_datetime("2026-12-24T10:00"), c)
    assert out["acknowledge_by"] is None and out["respond_by"] is None
    assert out["checks"] == {}
