"""The case state machine: allowed transitions, events for the trail, deadlines carried."""

from __future__ import annotations

import json
from datetime import date

import pytest

from bot.lifecycle import (
    ALLOWED,
    Action,
    CaseState,
    ClosureReason,
    InvalidTransition,
    Status,
    allowed_actions,
    open_case,
    transition,
)
from bot.services import load_services
from bot.workdays import parse_datetime

SERVICES = load_services()
DURHAM = SERVICES["durham"]
STOKE = SERVICES["stoke"]


def _opened() -> CaseState:
    state, _ = open_case(DURHAM, parse_datetime("2026-12-10T09:00"), "complaint")
    return state


def test_open_case_sets_first_deadlines() -> None:
    state, event = open_case(DURHAM, parse_datetime("2026-12-24T10:00"), "complaint")
    assert state.status is Status.RECEIVED
    assert state.stage == 1
    assert state.stage_started == date(2026, 12, 24)
    assert state.acknowledge_by == date(2026, 12, 31)
    assert state.respond_by == date(2027, 1, 26)
    assert event["action"] == "open"
    assert event["from"] is None
    assert event["to"] == {"status": "received", "stage": 1}
    assert json.loads(json.dumps(event)) == event


def test_open_case_about_coordinator_starts_at_stage_2() -> None:
    state, event = open_case(
        DURHAM, parse_datetime("2026-12-24T10:00"), "complaint", about_coordinator=True
    )
    assert state.stage == 2
    assert "about_coordinator" in event["description"]


def test_full_two_stage_journey() -> None:
    s = _opened()
    s, e = transition(s, "acknowledge", DURHAM, date(2026, 12, 11))
    assert s.status is Status.ACKNOWLEDGED and e["on_time"] is True
    s, e = transition(s, Action.INVESTIGATE, DURHAM, date(2026, 12, 11))
    assert s.status is Status.INVESTIGATING
    # Stage 1 response letter on 10 December -> Stage 2 must be asked for by 12 January 2027
    s, e = transition(s, "respond", DURHAM, date(2026, 12, 10))
    assert s.status is Status.RESPONDED
    assert s.responded_on == date(2026, 12, 10)
    assert s.next_stage_request_by == date(2027, 1, 12)
    assert e["next_stage_request_by"] == "2027-01-12"
    # Requested on the last permitted day: on time, Stage 2 clock starts
    s, e = transition(s, "request_next_stage", DURHAM, parse_datetime("2027-01-12T16:00"))
    assert s.status is Status.NEXT_STAGE_REQUESTED
    assert s.stage == 2
    assert s.stage_started == date(2027, 1, 12)
    assert s.acknowledge_by == date(2027, 1, 19)  # 5 working days
    assert s.respond_by == date(2027, 2, 9)  # 20 working days
    assert s.flags == ()
    assert e["check"]["ok"] is True
    s, _ = transition(s, "acknowledge", DURHAM, date(2027, 1, 13))
    s, _ = transition(s, "investigate", DURHAM, date(2027, 1, 13))
    s, e = transition(s, "respond", DURHAM, date(2027, 2, 5))
    assert s.next_stage_request_by is None
    assert "Ombudsman" in e["explain"]["next_stage_request_by"]["rule"]
    # Stage 2 is final: no next stage
    with pytest.raises(InvalidTransition, match="final stage"):
        transition(s, "request_next_stage", DURHAM, date(2027, 2, 10))
    s, e = transition(s, "close", DURHAM, date(2027, 3, 1), reason="ombudsman")
    assert s.status is Status.CLOSED and s.closure_reason is ClosureReason.OMBUDSMAN
    assert e["ombudsman"]["time_limit_months"] == 12
    assert allowed_actions(s) == []


def test_late_next_stage_request_is_flagged_not_refused() -> None:
    s = _opened()
    s, _ = transition(s, "investigate", DURHAM, date(2026, 12, 10))
    s, _ = transition(s, "respond", DURHAM, date(2026, 12, 10))
    s, e = transition(s, "request_next_stage", DURHAM, date(2027, 1, 13))
    assert s.status is Status.NEXT_STAGE_REQUESTED and s.stage == 2
    assert "late_next_stage_request" in s.flags
    assert "late" in e["description"]
    assert e["check"]["details"]["working_days_late"] == 1


def test_extension_needs_date_and_reason() -> None:
    s, _ = transition(_opened(), "investigate", DURHAM, date(2026, 12, 11))
    assert s.respond_by == date(2027, 1, 12)  # 20 working days after 10 December
    with pytest.raises(InvalidTransition, match="new date and a reason"):
        transition(s, "extend", DURHAM, date(2027, 1, 5), new_date=date(2027, 1, 26))
    with pytest.raises(InvalidTransition, match="must be after"):
        transition(s, "extend", DURHAM, date(2027, 1, 5), new_date=date(2027, 1, 5), reason="busy")
    s2, e = transition(
        s, "extend", DURHAM, date(2027, 1, 5), new_date=date(2027, 1, 26), reason="complex"
    )
    assert s2.status is Status.INVESTIGATING
    assert s2.respond_by == date(2027, 1, 26) and s2.extended
    assert s2.extension_reason == "complex"
    assert e["previous_respond_by"] == "2027-01-12"
    assert "told" in e["explain"]["notes"][0]


def test_stoke_cannot_extend() -> None:
    state, _ = open_case(STOKE, parse_datetime("2026-12-10T09:00"), "complaint")
    state, _ = transition(state, "investigate", STOKE, date(2026, 12, 10))
    with pytest.raises(InvalidTransition, match="no extension"):
        transition(
            state, "extend", STOKE, date(2026, 12, 11), new_date=date(2027, 1, 5), reason="x"
        )


def test_stoke_four_stages_without_request_limits() -> None:
    s, _ = open_case(STOKE, parse_datetime("2026-11-02T09:00"), "complaint")
    for expected_stage in (2, 3, 4):
        s, _ = transition(s, "investigate", STOKE, date(2026, 11, 2))
        s, _ = transition(s, "respond", STOKE, date(2026, 11, 4))
        assert s.next_stage_request_by is None
        s, _ = transition(s, "request_next_stage", STOKE, date(2027, 6, 1))
        assert s.stage == expected_stage and s.flags == ()
    # Stage 4 from Tuesday 1 June 2027: five calendar weeks -> Tuesday 6 July 2027
    assert s.respond_by == date(2027, 7, 6)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (Status.RECEIVED, "respond"),
        (Status.RECEIVED, "request_next_stage"),
        (Status.RECEIVED, "extend"),
        (Status.ACKNOWLEDGED, "acknowledge"),
        (Status.INVESTIGATING, "acknowledge"),
        (Status.RESPONDED, "respond"),
        (Status.RESPONDED, "investigate"),
        (Status.CLOSED, "close"),
        (Status.CLOSED, "acknowledge"),
    ],
)
def test_invalid_transitions(status: Status, action: str) -> None:
    state = CaseState(status=status, stage=1, stage_started=date(2026, 12, 10))
    with pytest.raises(InvalidTransition, match=f"cannot {action}"):
        transition(state, action, DURHAM, date(2026, 12, 11), reason="resolved")


def test_unknown_action_and_closure_reason() -> None:
    with pytest.raises(InvalidTransition, match="unknown action"):
        transition(_opened(), "escalate", DURHAM, date(2026, 12, 11))
    with pytest.raises(InvalidTransition, match="needs a reason"):
        transition(_opened(), "close", DURHAM, date(2026, 12, 11))
    with pytest.raises(InvalidTransition, match="unknown closure reason"):
        transition(_opened(), "close", DURHAM, date(2026, 12, 11), reason="bored")


@pytest.mark.parametrize("reason", [r.value for r in ClosureReason])
def test_close_from_any_open_state(reason: str) -> None:
    for status in Status:
        if status is Status.CLOSED:
            continue
        state = CaseState(status=status, stage=1, stage_started=date(2026, 12, 10))
        new, event = transition(state, "close", DURHAM, date(2026, 12, 11), reason=reason)
        assert new.closure_reason == ClosureReason(reason)
        assert event["reason"] == reason


def test_late_acknowledgement_is_recorded() -> None:
    _, e = transition(_opened(), "acknowledge", DURHAM, date(2026, 12, 17))
    assert e["on_time"] is False and "late" in e["description"]


def test_state_json_round_trip() -> None:
    s = _opened()
    s, _ = transition(s, "investigate", DURHAM, date(2026, 12, 10))
    s, _ = transition(s, "respond", DURHAM, date(2026, 12, 10))
    data = s.to_json()
    assert json.loads(json.dumps(data)) == data
    assert CaseState.from_json(data) == s


def test_every_action_has_allowed_states() -> None:
    assert set(ALLOWED) == set(Action)
    assert Status.CLOSED not in ALLOWED[Action.CLOSE]
