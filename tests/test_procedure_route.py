"""Each service's own route as data (issue 14): the informal step, the rule on writing,
exemptions as flags with their line, and steps with their own clocks. Pure parts: the service
files, the lifecycle and bot/procedure.py. Fictional dates only."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import bot
from bot.errors import ConfigError
from bot.lifecycle import Action, InvalidTransition, Status, open_case, transition
from bot.procedure import auto_exemptions, merged_exemptions, track_for
from bot.services import Service, load_service_file, load_services

SERVICES_DIR = bot.ROOT / "config" / "services"
DOCS = bot.ROOT / "docs" / "procedures"
#: Thursday 5 November 2026, 10:00 London.
RECEIVED = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def services() -> dict[str, Service]:
    return load_services(SERVICES_DIR)


def _line(source: str) -> str:
    """The text of ``file:Lnn`` in the copies under docs/procedures/, with the next line (a
    sentence that wraps is cited where it starts)."""
    name, _, line = source.partition(":L")
    lines = (DOCS / name).read_text(encoding="utf-8").splitlines()
    return " ".join(x.strip() for x in lines[int(line) - 1 : int(line) + 1])


def test_every_route_rule_cites_a_line_that_says_it(services: dict[str, Service]) -> None:
    s = services
    assert "in writing" in _line(s["durham"].writing.source)  # L67
    assert "put in writing" in _line(s["staffordshire"].writing.source)  # L59
    assert "Verbal Statement of Complaint" in _line(s["stoke"].writing.source)  # L31
    assert "by phone" in _line(s["coventry"].writing.source)  # L11
    assert "Mediation may be offered" in _line(s["durham"].stage(2).steps[0].source)  # L125
    assert "Mediation may be offered" in _line(s["staffordshire"].stage(2).steps[0].source)
    meeting = s["stoke"].stage(4).steps[0]
    assert "within one week after the meeting" in _line(meeting.source)  # L89
    via = s["coventry"].route("informal_first")
    assert via is not None and via.formal_via is not None
    assert "formalise a complaint through Coventry City Council" in _line(via.formal_via.source)
    for svc in s.values():
        for e in svc.eligibility.exemptions:
            assert _line(e.source).strip(), e


def test_tracks_follow_each_procedure(services: dict[str, Service]) -> None:
    s = services
    # coventry L11: every complaint starts informally, by email or by phone
    assert track_for(s["coventry"], "complaint", "email", False) == "informal"
    assert track_for(s["coventry"], "complaint", "phone", False) == "informal"
    # durham L67, staffordshire L59-60: a spoken complaint waits for the writing
    assert track_for(s["durham"], "complaint", "phone", False) == "awaiting_writing"
    assert track_for(s["staffordshire"], "complaint", "in_person", False) == "awaiting_writing"
    assert track_for(s["durham"], "complaint", "letter", False) == "formal"
    # ... unless the complainant chose the informal step (durham L78)
    assert track_for(s["durham"], "complaint", "phone", True) == "informal"
    # stoke L31: a Verbal Statement of Complaint is accepted; L33 spoken complaints about
    # waiting or opening times are informal; a written one has no informal step
    assert track_for(s["stoke"], "complaint", "phone", False) == "formal"
    assert track_for(s["stoke"], "complaint", "phone", True) == "informal"
    with pytest.raises(ValueError, match="no informal step"):
        track_for(s["stoke"], "complaint", "email", True)
    assert track_for(s["durham"], "compliment", "phone", False) == "formal"


def test_informal_has_no_clock_and_formalising_starts_it(services: dict[str, Service]) -> None:
    durham = services["durham"]
    state, event = open_case(durham, RECEIVED, track="informal")
    assert state.status is Status.INFORMAL and state.respond_by is None
    assert "no formal clock" in event["description"]
    formal, _ = transition(state, Action.FORMALISE, durham, date(2026, 11, 16))
    assert formal.status is Status.RECEIVED
    assert (formal.stage_started, formal.acknowledge_by, formal.respond_by) == (
        date(2026, 11, 16),
        date(2026, 11, 19),  # 3 working days (L95)
        date(2026, 12, 14),  # 20 working days (L105)
    )
    assert formal.requested_on == date(2026, 11, 16)
    closed, _ = transition(state, Action.CLOSE, durham, date(2026, 11, 9), reason="resolved")
    assert closed.status is Status.CLOSED


def test_informal_step_only_before_the_first_response(services: dict[str, Service]) -> None:
    durham = services["durham"]
    state, _ = open_case(durham, RECEIVED)
    informal, ev = transition(
        state, Action.GO_INFORMAL, durham, RECEIVED, reason="informal_alternative"
    )
    assert informal.status is Status.INFORMAL and informal.acknowledge_by is None
    assert ev["source"] == "durham-sendiass-complaints-procedure.txt:L78"
    with pytest.raises(InvalidTransition, match="no informal step"):
        transition(state, Action.GO_INFORMAL, services["stoke"], RECEIVED, reason="informal_first")
    later, _ = open_case(durham, RECEIVED, stage=2)
    with pytest.raises(InvalidTransition, match="comes before Stage 1"):
        transition(later, Action.GO_INFORMAL, durham, RECEIVED, reason="informal_alternative")


def test_stoke_special_meeting_has_its_own_clock(services: dict[str, Service]) -> None:
    stoke = services["stoke"]
    state, _ = open_case(stoke, RECEIVED, stage=3)
    state, _ = transition(state, Action.ACKNOWLEDGE, stoke, date(2026, 11, 6))
    state, _ = transition(state, Action.RESPOND, stoke, date(2026, 11, 20))
    stage4, ev = transition(state, Action.REQUEST_NEXT_STAGE, stoke, date(2026, 11, 24))
    # L89: the meeting within four weeks of the Stage starting
    assert (stage4.step, stage4.meeting_by) == ("special_meeting", date(2026, 12, 22))
    assert ev["meeting_by"] == "2026-12-22"
    met, ev = transition(
        stage4,
        Action.SCHEDULE_STEP,
        stoke,
        date(2026, 11, 25),
        reason="special_meeting",
        new_date=date(2026, 12, 10),
    )
    # ... and the response within one week after it
    assert (met.meeting_on, met.respond_by) == (date(2026, 12, 10), date(2026, 12, 17))
    assert "late" not in ev
    _, ev = transition(
        stage4,
        Action.SCHEDULE_STEP,
        stoke,
        date(2026, 11, 25),
        reason="special_meeting",
        new_date=date(2027, 1, 5),
    )
    assert ev["late"] is True and "flagged" in ev["description"]  # flagged, not refused
    with pytest.raises(InvalidTransition, match="no step 'mediation'"):
        transition(
            stage4,
            Action.SCHEDULE_STEP,
            stoke,
            date(2026, 11, 25),
            reason="mediation",
            new_date=date(2026, 12, 1),
        )
    with pytest.raises(InvalidTransition, match="cannot be before"):
        transition(
            stage4,
            Action.SCHEDULE_STEP,
            stoke,
            date(2026, 11, 25),
            reason="special_meeting",
            new_date=date(2026, 11, 1),
        )


def test_mediation_keeps_the_stage_response_date(services: dict[str, Service]) -> None:
    durham = services["durham"]
    state, _ = open_case(durham, RECEIVED, stage=2)
    state, _ = transition(state, Action.ACKNOWLEDGE, durham, date(2026, 11, 6))
    met, _ = transition(
        state,
        Action.SCHEDULE_STEP,
        durham,
        date(2026, 11, 9),
        reason="mediation",
        new_date=date(2026, 11, 20),
    )
    assert met.respond_by == state.respond_by and met.meeting_by is None  # L121-L125: no time


def test_exemptions_from_intake_findings_carry_their_line(services: dict[str, Service]) -> None:
    at = "2026-11-05T10:00:00+00:00"
    old = {"event_window": {"ok": False, "evidence": "more than 12 months"}}
    found = auto_exemptions(services["staffordshire"], {"out_of_scope": True}, old, at)
    assert [(x["code"], x["source"]) for x in found] == [
        ("outside_service", "staffordshire-sendiass-complaints-procedure.txt:L47"),
        ("older_than_window", "staffordshire-sendiass-complaints-procedure.txt:L56"),
    ]
    # coventry's 12 months is the Ombudsman's, not an exemption of its procedure
    assert [x["code"] for x in auto_exemptions(services["coventry"], {}, old, at)] == []
    # a person's flag stays when intake's findings change
    mine = {"code": "already_investigated", "by": "user:x@example.org"}
    assert merged_exemptions([mine, *found], []) == [mine]


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ('code = "mediation"', 'code = "arbitration"', "stages[1].steps[0].code", "unknown step"),
        ('how = "by email or by letter"\n', "", "writing.how", "say how"),
        ("required = true\nhow", "required = maybe\nhow", "(syntax)", "not valid TOML"),
    ],
)
def test_broken_route_names_file_and_key(
    tmp_path: Path, old: str, new: str, key: str, problem: str
) -> None:
    text = (SERVICES_DIR / "durham.toml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "durham.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_service_file(path)
    assert f": {key}" in str(info.value) and problem in str(info.value)
    assert info.value.exit_code == 2
