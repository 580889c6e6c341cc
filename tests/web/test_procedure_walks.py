"""Each procedure walked end to end through the real intake and the web actions (issue 14):
complaint -> acknowledgement -> response (with its decision) -> escalation -> final stage,
asserting who is told at each step and the exact letters.

Durham (durham-sendiass-complaints-procedure.txt), Coventry (coventry-send-iass-complaints-
policy.txt: informal first, then formal through Speak Up), Staffordshire (staffordshire-
sendiass-complaints-procedure.txt: a phone complaint waits for writing, an exemption flagged,
mediation at Stage 2) and Stoke (stoke-sendiass-complaints-procedure-2026.txt: four stages,
the copies it asks for, the Special Meeting with its own clock). The letters of the Coventry,
Staffordshire and Stoke walks are compared with golden files under
``tests/golden/letters/walks/`` (each reviewed against its document line:
tests/golden/letters/REVIEW.md); regenerate with ``SENDIASS_UPDATE_GOLDEN=1`` and review the
diff. Fictional people and events.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import figures
from bot.config import WebConfig
from bot.models import Case, CaseEvent, OutboxLetter, User
from bot.pipeline.context import Source
from bot.web import create_app
from tests.apphelpers import make_app
from tests.mailfactory import make_email
from tests.web.conftest import _HASH, COORD, COORD_STOKE, NOW, SECRET, Clock, Web, add_users

GOLDEN = Path(__file__).parent.parent / "golden" / "letters" / "walks"
UPDATE = os.environ.get("SENDIASS_UPDATE_GOLDEN") == "1"
COORD_COV = "cam.coventry@coventry.example"
COORD_STA = "sky.stafford@staffordshire.example"

COMPLAINT = (
    "I want to make a complaint about your service. Your adviser promised to call me back "
    "and never did, and nobody answered my emails. I am very unhappy with SENDIASS.\n\nAlex"
)
PARENT = "alex.walk@example.org"
CYPS = "cascomplaints@durham.gov.uk"


def _letters(web: Web, case_id: int) -> list[tuple[str, str, str]]:
    with web.app.sessions() as s:
        return [
            (x.purpose, x.to_addr, x.body_text)
            for x in s.scalars(
                select(OutboxLetter)
                .where(OutboxLetter.case_id == case_id)
                .order_by(OutboxLetter.id)
            )
        ]


def _told(web: Web, case_id: int) -> list[str]:
    with web.app.sessions() as s:
        return [
            str(e.detail["to"])
            for e in s.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == "notified")
            )
        ]


def _not_told(web: Web, case_id: int) -> list[str]:
    with web.app.sessions() as s:
        return [
            str(e.detail["role"])
            for e in s.scalars(
                select(CaseEvent).where(
                    CaseEvent.case_id == case_id, CaseEvent.kind == "not_notified"
                )
            )
        ]


def test_durham_complaint_to_final_stage(web: Web) -> None:
    case_id = web.ingest(body=COMPLAINT, subject="Complaint", from_addr=PARENT)
    b = web.client()
    b.login(COORD)
    b.act(case_id, "classify", kind="complaint")  # a person confirms: about this service
    # Stage 1: the SENDIASS Coordinator (L94) is the service's own mailbox: nobody else told
    assert _told(web, case_id) == []
    (ack,) = [x for x in _letters(web, case_id) if x[0] == "complaint_ack"]
    assert ack[1] == PARENT
    assert "It is being handled by our SENDIASS Coordinator" in ack[2]
    assert "Email: cascomplaints@durham.gov.uk" in ack[2]  # L180, for asking for Stage 2
    b.act(case_id, "acknowledge")
    # the Stage 1 response with its decision (L102-L104; outcomes L43-L49)
    b.act(
        case_id,
        "respond",
        response_date="2026-11-05",
        summary="We looked at the call log.",
        outcome="partly_upheld",
        reasons="The call-back was booked but not made.",
        actions="Call-backs are now checked daily.",
        remedy="We apologise.",
        send_letter="on",
    )
    case = web.case(case_id)
    assert case.outcome == "partly_upheld" and case.status == "responded"
    (resp,) = [x for x in _letters(web, case_id) if x[0] == "stage_response"]
    for line in (
        "We have upheld part of your complaint.",
        "The call-back was booked but not made.",
        "Call-backs are now checked daily.",
        "We apologise.",
        "write to the Durham County Council Children & Young People's Complaints Officer",
        "Email: cascomplaints@durham.gov.uk",
        "The last date to ask is Thursday 3 December 2026.",  # 20 working days (L112)
    ):
        assert line in resp[2], line
    # escalation: the CYPS Complaints Officer (L110, L171-L180) is told, with the case
    b.act(case_id, "next-stage", requested_on="2026-11-10")
    assert web.case(case_id).stage == 2
    assert _told(web, case_id) == [CYPS]
    notice = [x for x in _letters(web, case_id) if x[0] == "staff_notice"]
    assert [x[1] for x in notice] == [CYPS]
    assert "You handle Stage 2 of this complaint." in notice[0][2]
    assert PARENT not in notice[0][2] and "adviser" not in notice[0][2]
    (ack2,) = [x for x in _letters(web, case_id) if x[0] == "next_stage_ack"]
    assert "handled by the Children & Young People's Complaints Officer" in ack2[2]
    # the final stage (L149) ends with the Ombudsman
    b.act(case_id, "acknowledge")
    b.act(
        case_id,
        "respond",
        response_date="2026-11-20",
        summary="The Complaints Officer reviewed the Stage 1 investigation.",
        outcome="not_upheld",
        reasons="The Stage 1 response put things right.",
        send_letter="on",
    )
    (final,) = [x for x in _letters(web, case_id) if x[0] == "final_stage"]
    assert "We have not upheld your complaint." in final[2]
    assert "The Stage 1 response put things right." in final[2]
    assert "What we will do" not in final[2]  # no actions recorded: the section is left out
    assert "Local Government and Social Care Ombudsman" in final[2]


# ------------------------------------------------------------------ the other three walks


@pytest.fixture
def walk(tmp_path: Path) -> Iterator[Web]:
    """The web fixture with every service's mailbox and a coordinator for each."""
    clock = Clock()
    boxes = [
        {"name": k, "service": k, "source": "maildir", "path": str(tmp_path / "mail" / k)}
        for k in ("durham", "coventry", "staffordshire", "stoke")
    ]
    app = make_app(f"sqlite:///{tmp_path / 'walk.db'}", tmp_path, mailboxes=boxes, clock=clock)
    add_users(app)
    with app.sessions.begin() as s:
        for email, service in ((COORD_COV, "coventry"), (COORD_STA, "staffordshire")):
            s.add(
                User(
                    email=email,
                    password_hash=_HASH,
                    roles=["coordinator"],
                    services=[service],
                    active=True,
                    session_version=1,
                    created_at=NOW,
                )
            )
    flask = create_app(app, WebConfig(cookie_secure=False), secret_key=SECRET)
    flask.config["TESTING"] = True
    yield Web(app, flask, clock)
    app.engine.dispose()


class Golden:
    """The letters of one walk, in order, each compared with its golden file."""

    def __init__(self, web: Web, service: str, case_id: int) -> None:
        self.web, self.case_id, self.seen = web, case_id, 0
        self.folder = GOLDEN / service

    def new(self) -> list[tuple[str, str, str]]:
        """The letters written since the last call, each checked against its golden file:
        (purpose, to, text)."""
        with self.web.app.sessions() as s:
            rows = list(
                s.scalars(
                    select(OutboxLetter)
                    .where(OutboxLetter.case_id == self.case_id)
                    .order_by(OutboxLetter.id)
                )
            )
        out = []
        for x in rows[self.seen :]:
            self.seen += 1
            text = f"To: {x.to_addr}\nSubject: {x.subject}\n\n{x.body_text}"
            path = self.folder / f"{self.seen:02d}-{x.purpose}.txt"
            if UPDATE:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            assert path.exists(), f"{path} missing: run with SENDIASS_UPDATE_GOLDEN=1"
            assert text == path.read_text(encoding="utf-8"), f"{path} differs"
            out.append((x.purpose, x.to_addr, x.body_text))
        return out


def _later(walk: Web, b: object, who: str, days: int) -> None:
    """Some days pass; the coordinator signs in again (a web session ends after an hour idle)."""
    walk.clock.advance(days=days)
    b.login(who)  # type: ignore[attr-defined]


def _flash_ok(b: object) -> str:
    flashes = b.flashes()  # type: ignore[attr-defined]
    kind, text = flashes[-1]
    assert kind == "ok", text
    return str(text)


def test_coventry_informal_first_then_speak_up_to_the_final_stage(walk: Web) -> None:
    parent = "jo.walk@example.org"
    case_id = walk.ingest(
        "coventry", body=COMPLAINT, subject="Complaint", from_addr=parent, from_name="Jo Walk"
    )
    g = Golden(walk, "coventry", case_id)
    b = walk.client()
    b.login(COORD_COV)
    b.act(case_id, "classify", kind="complaint")
    # L11 informal first through the SEND IASS manager: no formal clock yet
    case = walk.case(case_id)
    assert (case.status, case.route, case.respond_by) == ("informal", "informal", None)
    assert case.deadlines["respond_by"] is None
    assert figures.informal(case.flags)  # the managers' figures: an informal concern
    page = b.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "informal step first: no formal clock" in page and "Informal: no formal clock" in page
    assert _told(walk, case_id) == []
    ((purpose, to, text),) = g.new()
    assert (purpose, to) == ("complaint_ack", parent)
    assert "We always try to resolve concerns informally first" in text  # L11
    assert "Email: speakup@coventry.gov.uk" in text  # L17-L21
    # not resolved informally: raised as a Stage 1 complaint (L40); the clock starts that day
    _later(walk, b, COORD_COV, 4)
    b.act(case_id, "formalise", on="2026-11-09")
    assert "escalated from the informal step" in _flash_ok(b)
    case = walk.case(case_id)
    assert (case.status, case.route, case.informal_outcome) == ("received", "formal", "escalated")
    assert not figures.informal(case.flags)  # now counted as a formal complaint
    assert str(case.respond_by) == "2026-11-23"  # 10 working days (L42)
    assert _told(walk, case_id) == []  # Stage 1 is the service's own manager
    ((purpose, to, text),) = g.new()
    assert (purpose, to) == ("complaint_ack", parent)
    assert "Monday 23 November 2026" in text and "informally first" not in text
    b.act(case_id, "acknowledge")
    b.act(
        case_id,
        "respond",
        response_date="2026-11-20",
        summary="We listened to the recording of your call.",
        outcome="not_upheld",
        reasons="The adviser did call back on the day agreed.",
        send_letter="on",
    )
    ((purpose, _, text),) = g.new()
    assert purpose == "stage_response"
    assert "We have not upheld your complaint." in text  # L44
    assert "The last date to ask is Friday 18 December 2026." in text  # L60
    # Stage 2 through Speak Up (L19, L21): the reviewer is told, with the case
    _later(walk, b, COORD_COV, 20)
    b.act(case_id, "next-stage", requested_on="2026-11-25")
    assert walk.case(case_id).stage == 2
    assert _told(walk, case_id) == ["speakup@coventry.gov.uk"]
    (notice, ack2) = g.new()
    assert notice[:2] == ("staff_notice", "speakup@coventry.gov.uk")
    assert parent not in notice[2] and "adviser" not in notice[2]
    assert ack2[:2] == ("next_stage_ack", parent)
    b.act(case_id, "acknowledge")
    b.act(
        case_id,
        "respond",
        response_date="2026-12-10",
        summary="A senior manager reviewed the Stage 1 investigation.",
        outcome="not_upheld",
        reasons="Relevant information was taken into account.",
        send_letter="on",
    )
    ((purpose, _, text),) = g.new()
    assert purpose == "final_stage"
    assert "Local Government and Social Care Ombudsman" in text  # L58, L64-L67
    assert "Phone: 0300 061 0614" in text
    assert _told(walk, case_id) == ["speakup@coventry.gov.uk"]  # nobody else along the way


def test_coventry_concern_resolved_informally(walk: Web) -> None:
    case_id = walk.ingest("coventry", body=COMPLAINT, subject="Complaint", from_addr=PARENT)
    b = walk.client()
    b.login(COORD_COV)
    b.act(case_id, "classify", kind="complaint")
    b.act(case_id, "resolve-informal", summary="Your adviser will now call you every Friday.")
    case = walk.case(case_id)
    assert (case.status, case.closure_reason) == ("closed", "resolved")
    assert (case.route, case.informal_outcome) == ("informal", "resolved")
    letters = [x for x in _letters(walk, case_id) if x[0] == "informal_outcome"]
    ((_, to, text),) = letters
    assert to == PARENT
    assert "Your adviser will now call you every Friday." in text
    assert "Email: speakup@coventry.gov.uk" in text  # still open to them (L17-L21)


def test_staffordshire_phone_complaint_waits_for_writing_then_walks_to_mediation(
    walk: Web,
) -> None:
    parent = "robin.walk@example.org"
    b = walk.client()
    b.login(COORD_STA)
    resp = b.post(
        "/cases/new",
        {
            "service": "staffordshire",
            "channel": "phone",
            "kind": "complaint",
            "sender_name": "Robin Walk",
            "sender_addr": parent,
            "received_at": "2026-11-05T09:30",
            "summary": "Rang to say the adviser missed two appointments.",
        },
    )
    assert resp.status_code == 303
    case_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    g = Golden(walk, "staffordshire", case_id)
    # L59-L60: a verbal complaint is to be put in writing; no formal clock until it is
    case = walk.case(case_id)
    assert (case.status, case.acknowledge_by, case.respond_by) == ("awaiting_writing", None, None)
    ((purpose, to, text),) = g.new()
    assert (purpose, to) == ("writing_request", parent)
    assert "start on the day we receive your complaint in writing" in text
    page = b.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "staffordshire-sendiass-complaints-procedure.txt:L59" in page
    # the complaint in writing: a reply to our letter, through the real intake
    with walk.app.sessions() as s:
        ours = s.scalar(select(OutboxLetter.message_id).where(OutboxLetter.case_id == case_id))
    _later(walk, b, COORD_STA, 4)
    result = walk.app.intake.process(
        make_email(
            service="staffordshire",
            from_name="Robin Walk",
            from_addr=parent,
            subject="Re: Please put your complaint in writing",
            body=COMPLAINT,
            date=walk.clock.now - timedelta(hours=1),
            in_reply_to=ours,
            references=ours,
        ),
        Source("staffordshire", "staffordshire"),
    )
    assert result.case_reference == walk.case(case_id).reference  # threaded onto the case
    b.act(case_id, "formalise", on="2026-11-09")
    assert "the complaint arrived in writing" in _flash_ok(b)
    case = walk.case(case_id)
    assert (str(case.acknowledge_by), str(case.respond_by)) == ("2026-11-16", "2026-12-07")
    assert _told(walk, case_id) == []  # Stage 1 is the service's own manager (L76)
    ((purpose, to, text),) = g.new()
    assert (purpose, to) == ("complaint_ack", parent)
    # an exemption (L57) is a flag with its line, never a refusal
    b.act(case_id, "exemption", code="already_investigated", note="A similar complaint in 2025.")
    case = walk.case(case_id)
    ((flag,),) = [case.flags["exemptions"]]
    assert flag["source"] == "staffordshire-sendiass-complaints-procedure.txt:L57"
    assert case.status == "received" and case.needs_person
    page = b.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "The same complaint has already been investigated." in page
    assert "not a refusal" in page
    b.act(case_id, "acknowledge")
    b.act(
        case_id,
        "respond",
        response_date="2026-11-27",
        summary="We checked the diary and spoke to the adviser.",
        outcome="upheld",
        reasons="Two appointments were missed without notice.",
        actions="Appointments are now confirmed by text the day before.",
        remedy="We apologise.",
        send_letter="on",
    )
    ((purpose, _, text),) = g.new()
    assert purpose == "stage_response"
    assert "write to the SENDIASS Commissioner of Service" in text  # L99
    assert "Our procedure does not give contact details for this" in text
    # Stage 2: the Commissioner has no address in the document: recorded as not told
    _later(walk, b, COORD_STA, 25)
    b.act(case_id, "next-stage", requested_on="2026-12-03")
    assert _told(walk, case_id) == []
    assert _not_told(walk, case_id) == ["SENDIASS Commissioner of Service"]
    ((purpose, _, text),) = g.new()
    assert purpose == "next_stage_ack"
    assert "by an investigation or by mediation" in text  # L105
    b.act(case_id, "acknowledge")
    # mediation offered (L107-L110): a step with its date; the Stage 2 date stands
    before = walk.case(case_id).respond_by
    b.act(case_id, "schedule-step", step="mediation", meeting_on="2026-12-15")
    assert walk.case(case_id).respond_by == before
    ((purpose, _, text),) = g.new()
    assert purpose == "step_notice"
    assert "We would like to offer you mediation, with a meeting on Tuesday 15 December" in text
    b.act(
        case_id,
        "respond",
        response_date="2026-12-18",
        summary="At the mediation meeting we agreed a way forward.",
        outcome="upheld",
        reasons="The Stage 1 findings stand.",
        actions="A named adviser for the rest of the year.",
        send_letter="on",
    )
    ((purpose, _, text),) = g.new()
    assert purpose == "final_stage"
    assert "Local Government and Social Care Ombudsman" in text  # L130-L132
    assert _told(walk, case_id) == []


def test_stoke_four_stages_and_the_special_meeting(walk: Web) -> None:
    parent = "kit.walk@example.org"
    case_id = walk.ingest(
        "stoke", body=COMPLAINT, subject="Complaint", from_addr=parent, from_name="Kit Walk"
    )
    g = Golden(walk, "stoke", case_id)
    b = walk.client()
    b.login(COORD_STOKE)
    b.act(case_id, "classify", kind="complaint")
    assert str(walk.case(case_id).respond_by) == "2026-11-12"  # 5 working days (L41)
    assert _told(walk, case_id) == [] and _not_told(walk, case_id) == []
    ((purpose, _, text),) = g.new()
    assert purpose == "complaint_ack"
    assert "in person or by phone" in text  # L37
    b.act(case_id, "acknowledge")
    steps = [
        # (response date, next stage requested on, who cannot be told at the next stage)
        ("2026-11-10", "2026-11-12", ["Head of Access, Governance and School Services"]),
        ("2026-11-20", "2026-11-24", ["Strategic Manager", "Steering Group Chairperson"]),
        ("2026-12-15", "2026-12-17", ["Chair of the Special Meeting (Steering Group)"]),
    ]
    not_told: list[str] = []
    for stage, (responded, requested, missing) in enumerate(steps, start=1):
        b.act(
            case_id,
            "respond",
            response_date=responded,
            summary=f"Our Stage {stage} response.",
            outcome="not_upheld",
            reasons="We found that the adviser acted as agreed.",
            send_letter="on",
        )
        ((purpose, _, text),) = g.new()
        assert purpose == "stage_response"
        assert "sets no time limit" in text and "last date" not in text  # none is set
        b.act(case_id, "next-stage", requested_on=requested)
        case = walk.case(case_id)
        assert case.stage == stage + 1
        # L53 copy to the Head of Access; L67 copy to the Steering Group Chair; L69 the
        # Strategic Manager; L87 the Chair: the document gives none of them an address
        not_told += missing
        assert _told(walk, case_id) == []
        assert sorted(_not_told(walk, case_id)) == sorted(not_told)
        ((purpose, _, text),) = g.new()
        assert purpose == "next_stage_ack"
        b.act(case_id, "acknowledge")
    # Stage 4 (L85-L89): the Special Meeting within four weeks of the Stage starting, the
    # response within one week after it
    case = walk.case(case_id)
    assert case.lifecycle is not None
    assert (case.lifecycle["step"], case.lifecycle["meeting_by"]) == (
        "special_meeting",
        "2027-01-14",
    )
    page = b.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "stoke-sendiass-complaints-procedure-2026.txt:L89" in page
    b.act(case_id, "schedule-step", step="special_meeting", meeting_on="2027-01-07")
    assert str(walk.case(case_id).respond_by) == "2027-01-14"
    ((purpose, _, text),) = g.new()
    assert purpose == "step_notice"
    assert "The meeting will be held on Thursday 7 January 2027." in text
    assert "by Thursday 14 January 2027" in text
    b.act(
        case_id,
        "respond",
        response_date="2027-01-12",
        summary="The Special Meeting considered all the papers.",
        outcome="partly_upheld",
        reasons="The adviser's notes were incomplete.",
        actions="Notes are now checked monthly.",
        send_letter="on",
    )
    ((purpose, _, text),) = g.new()
    assert purpose == "final_stage"
    assert "We have upheld part of your complaint." in text
    assert _told(walk, case_id) == []


def test_durham_informal_step_on_request_then_formal(walk: Web) -> None:
    # durham L76-L80: the complainant may ask for the informal step; if the issue is not
    # resolved the formal procedure starts (its clock from that day)
    case_id = walk.ingest(body=COMPLAINT, subject="Complaint", from_addr=PARENT)
    b = walk.client()
    b.login(COORD)
    b.act(case_id, "classify", kind="complaint")
    b.act(case_id, "informal", note="Alex would rather talk it through first.")
    case = walk.case(case_id)
    assert (case.status, case.respond_by, case.route) == ("informal", None, "informal")
    informal = [x for x in _letters(walk, case_id) if x[0] == "informal_ack"]
    ((_, _, text),) = informal
    assert "Our SENDIASS Coordinator will aim to resolve the issue with you informally." in text
    assert "These timescales start on the day you ask." in text
    b.act(case_id, "formalise", on="2026-11-16")
    case = walk.case(case_id)
    assert (case.status, str(case.respond_by), case.informal_outcome) == (
        "received",
        "2026-12-14",
        "escalated",
    )
    acks = [x for x in _letters(walk, case_id) if x[0] == "complaint_ack"]
    assert "We will send you a full written response by Monday 14 December 2026." in acks[-1][2]


def test_an_exemption_outside_the_procedure_list_is_refused_as_a_flag(walk: Web) -> None:
    case_id = walk.ingest("coventry", body=COMPLAINT, subject="Complaint", from_addr=PARENT)
    b = walk.client()
    b.login(COORD_COV)
    b.act(case_id, "exemption", code="already_investigated", note="")
    kind, text = b.flashes()[-1]
    assert kind == "error" and "its list: outside_service" in text
    assert "exemptions" not in walk.case(case_id).flags


def test_a_case_is_never_closed_by_an_exemption(walk: Web) -> None:
    with walk.app.sessions() as s:
        assert s.scalar(select(Case.id)) is None
    case_id = walk.ingest("staffordshire", body=COMPLAINT, subject="Complaint", from_addr=PARENT)
    b = walk.client()
    b.login(COORD_STA)
    b.act(case_id, "exemption", code="other_procedure", note="Tribunal appeal lodged.")
    case = walk.case(case_id)
    assert case.status != "closed" and case.needs_person


def _log(b: object, **form: str) -> int:
    resp = b.post("/cases/new", form)  # type: ignore[attr-defined]
    assert resp.status_code == 303, resp.get_data(as_text=True)[:300]
    return int(resp.headers["Location"].rsplit("/", 1)[1])


def test_durham_phone_complaint_starts_no_clock_until_it_is_in_writing(walk: Web) -> None:
    b = walk.client()
    b.login(COORD)
    case_id = _log(
        b,
        service="durham",
        channel="phone",
        kind="complaint",
        sender_name="Morgan Caller",
        sender_addr="morgan.caller@example.org",
        received_at="2026-11-05T09:30",
        summary="Rang to complain that nobody replied to three emails.",
    )
    case = walk.case(case_id)
    # durham L67 "You will need to put any complaint ... in writing"
    assert (case.status, case.acknowledge_by, case.respond_by) == ("awaiting_writing", None, None)
    assert (
        case.flags["awaiting_writing"]["source"] == "durham-sendiass-complaints-procedure.txt:L67"
    )
    ((purpose, to, text),) = _letters(walk, case_id)
    assert (purpose, to) == ("writing_request", "morgan.caller@example.org")
    assert "asks for complaints to be made in writing, by email or by letter" in text
    assert "acknowledge it within 3 working days" in text and "within 20 working days" in text
    with walk.app.sessions() as s:
        due_on = s.scalar(select(Case.due_on).where(Case.id == case_id))
    assert due_on is None  # nothing is overdue while we wait
    page = b.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Waiting for the complaint in writing" in page


def test_stoke_spoken_complaint_about_opening_times_is_informal_and_outside_the_procedure(
    walk: Web,
) -> None:
    b = walk.client()
    b.login(COORD_STOKE)
    case_id = _log(
        b,
        service="stoke",
        channel="phone",
        kind="complaint",
        informal="on",
        sender_name="Pat Caller",
        sender_addr="pat.caller@example.org",
        received_at="2026-11-05T09:30",
        summary="Unhappy that the office closes at four.",
    )
    case = walk.case(case_id)
    # stoke L33: informal, outside the procedure, a record kept for monitoring
    assert (case.status, case.route, case.respond_by) == ("informal", "informal", None)
    assert case.flags["informal"] == {
        "route": "verbal_waiting_or_opening_times",
        "source": "stoke-sendiass-complaints-procedure-2026.txt:L33",
    }
    assert _letters(walk, case_id) == []  # no letter promises a procedure that does not apply
    b.act(case_id, "resolve-informal", summary="Opening hours explained.")
    assert walk.case(case_id).informal_outcome == "resolved"
    assert _letters(walk, case_id) == []


def test_a_complaint_about_someone_else_is_flagged_with_the_line(walk: Web) -> None:
    case_id = walk.ingest("staffordshire", body=COMPLAINT, subject="Complaint", from_addr=PARENT)
    b = walk.client()
    b.login(COORD_STA)
    b.act(case_id, "classify", kind="complaint", out_of_scope="on")
    (flag,) = walk.case(case_id).flags["exemptions"]
    assert (flag["code"], flag["by"]) == ("outside_service", "bot")
    assert flag["source"] == "staffordshire-sendiass-complaints-procedure.txt:L47"
    page = b.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "staffordshire-sendiass-complaints-procedure.txt:L47" in page
    b.act(case_id, "classify", kind="complaint")  # a person says: about us after all
    assert walk.case(case_id).flags["exemptions"] == []


def test_stoke_written_complaint_asking_to_go_straight_to_stage_3(walk: Web) -> None:
    # stoke L65 "wishes from the start when making the written complaint to have it more
    # formally considered"; L67 the Team Lead acknowledges and copies the Steering Group Chair
    case_id = walk.ingest("stoke", body=COMPLAINT, subject="Complaint", from_addr=PARENT)
    b = walk.client()
    b.login(COORD_STOKE)
    b.act(case_id, "classify", kind="complaint")
    b.act(case_id, "direct-to-stage")
    case = walk.case(case_id)
    assert (case.stage, case.status) == (3, "next_stage_requested")
    assert str(case.respond_by) == "2026-12-03"  # four weeks from receipt (L77)
    assert sorted(_not_told(walk, case_id)) == ["Steering Group Chairperson", "Strategic Manager"]
    acks = [x for x in _letters(walk, case_id) if x[0] == "next_stage_ack"]
    ((_, _, text),) = acks
    assert "goes straight to Stage 3 of our complaints procedure" in text
    assert "Thank you for writing to us on Thursday 5 November 2026." in text


def test_coventry_informal_step_is_undone_when_it_was_not_a_complaint(walk: Web) -> None:
    case_id = walk.ingest("coventry", body=COMPLAINT, subject="Complaint", from_addr=PARENT)
    assert walk.case(case_id).status == "informal"
    b = walk.client()
    b.login(COORD_COV)
    b.act(case_id, "classify", kind="comment")
    case = walk.case(case_id)
    assert (case.status, case.route, case.kind) == ("received", "formal", "comment")
    assert "informal" not in case.flags
