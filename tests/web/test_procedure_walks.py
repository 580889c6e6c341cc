"""A procedure walked end to end through the real intake and the web actions (issue 14):
complaint -> acknowledgement -> response (with its decision) -> escalation -> final stage,
asserting who is told at each step and what the letters say.

Durham (durham-sendiass-complaints-procedure.txt). Fictional people and events.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.models import CaseEvent, OutboxLetter
from tests.web.conftest import COORD, Web

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
