"""Routing as data, used (issue 14): a complaint about the coordinator goes to the next
stage's handler, who is told with a link and is the only one who works it; managers see it
without what people wrote; assignment is to people the service knows, who are told; the copies
a procedure requires are sent, or recorded as not sent when the document gives no address.

Through the real intake and the web actions (Flask test client, SQLite). Fictional people.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.models import CaseEvent, OutboxLetter, User
from tests.web.conftest import _HASH, COORD, COORD_STOKE, MANAGER, PASSWORD, Web

COMPLAINT = (
    "I want to make a complaint about the advice service. My caseworker promised to call me "
    "back about the annual review and never did. I am very unhappy.\n\nAlex"
)
CYPS = "cascomplaints@durham.gov.uk"


def _events(web: Web, case_id: int, kind: str) -> list[CaseEvent]:
    with web.app.sessions() as s:
        return list(
            s.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
                .order_by(CaseEvent.id)
            )
        )


def _letters(web: Web, case_id: int) -> list[OutboxLetter]:
    with web.app.sessions() as s:
        return list(
            s.scalars(
                select(OutboxLetter)
                .where(OutboxLetter.case_id == case_id)
                .order_by(OutboxLetter.id)
            )
        )


def _add_account(web: Web, email: str, roles: list[str], services: list[str]) -> None:
    with web.app.sessions.begin() as s:
        s.add(
            User(
                email=email,
                password_hash=_HASH,
                roles=roles,
                services=services,
                active=True,
                session_version=1,
                created_at=datetime(2026, 11, 1, tzinfo=UTC),
            )
        )


def test_complaint_about_the_coordinator_leaves_their_queue_for_the_stage_2_handler(
    web: Web,
) -> None:
    case_id = web.ingest(body=COMPLAINT, subject="Complaint", from_addr="alex@example.org")
    ref = web.case(case_id).reference
    coord = web.client()
    coord.login(COORD)
    assert ref in coord.get("/").get_data(as_text=True)
    coord.act(case_id, "classify", kind="complaint", about_coordinator="on")
    case = web.case(case_id)
    # durham-sendiass-complaints-procedure.txt:L96: Stage 2, the CYPS Complaints Officer
    assert case.stage == 2 and case.restricted and case.handler == CYPS
    (routed,) = _events(web, case_id, "routed")
    assert routed.detail["to"] == CYPS
    (told,) = _events(web, case_id, "notified")
    assert told.detail["to"] == CYPS and told.actor == f"user:{COORD}"
    notice = next(x for x in _letters(web, case_id) if x.purpose == "staff_notice")
    assert (notice.to_addr, notice.status) == (CYPS, "pending")
    assert "alex@example.org" not in notice.body_text and "caseworker" not in notice.body_text
    ack = next(x for x in _letters(web, case_id) if x.purpose == "complaint_ack")
    assert "It will be handled by the Children & Young People's Complaints Officer" in (
        ack.body_text
    )
    # the coordinators of the service no longer see it, in the queue or by its address
    assert ref not in coord.get("/").get_data(as_text=True)
    assert coord.get(f"/cases/{case_id}").status_code == 404
    # a manager sees it, without what people wrote
    mgr = web.client()
    mgr.login(MANAGER)
    assert ref in mgr.get("/").get_data(as_text=True)
    page = mgr.get(f"/cases/{case_id}")
    assert page.status_code == 200 and "caseworker" not in page.get_data(as_text=True)
    # the handler, with an account, works it in full
    _add_account(web, CYPS, ["coordinator"], ["durham"])
    handler = web.client()
    handler.login(CYPS, PASSWORD)
    assert ref in handler.get("/").get_data(as_text=True)
    full = handler.get(f"/cases/{case_id}")
    assert full.status_code == 200 and "caseworker" in full.get_data(as_text=True)
    handler.act(case_id, "acknowledge")
    assert web.case(case_id).status == "acknowledged"


def test_assignment_is_to_people_the_service_knows_and_tells_them(web: Web) -> None:
    case_id = web.ingest(body=COMPLAINT, subject="Complaint")
    b = web.client()
    b.login(COORD)
    b.act(case_id, "assign", handler="nobody@nowhere.example")
    assert any("neither an account" in m for _, m in b.flashes())
    assert web.case(case_id).handler is None
    assert _events(web, case_id, "assigned") == []
    # another service's coordinator is not someone a Durham case goes to
    b.act(case_id, "assign", handler=COORD_STOKE)
    assert web.case(case_id).handler is None
    b.act(case_id, "assign", handler=MANAGER)
    assert web.case(case_id).handler == MANAGER
    (assigned,) = _events(web, case_id, "assigned")
    (told,) = _events(web, case_id, "notified")
    assert assigned.detail["to"] == MANAGER and told.detail["to"] == MANAGER
    notice = next(x for x in _letters(web, case_id) if x.purpose == "staff_notice")
    assert notice.to_addr == MANAGER and f"assigned to you by {COORD}" in notice.body_text
    # a configured stage-handler address is accepted too
    b.act(case_id, "assign", handler=CYPS)
    assert web.case(case_id).handler == CYPS


def test_stoke_stage_2_copy_to_the_head_of_access_is_recorded_as_not_sent(web: Web) -> None:
    case_id = web.ingest(service="stoke", body=COMPLAINT, subject="Complaint")
    b = web.client()
    b.login(COORD_STOKE)
    b.act(case_id, "classify", kind="complaint")
    b.act(case_id, "acknowledge")
    b.act(case_id, "respond", response_date="2026-11-05", summary="We spoke on the phone.")
    b.act(case_id, "next-stage", requested_on="2026-11-05")
    assert web.case(case_id).stage == 2
    # stoke-sendiass-complaints-procedure-2026.txt:L53: a copy to the Head of Access,
    # Governance and School Services; the document gives no address for them
    (missing,) = _events(web, case_id, "not_notified")
    assert missing.detail["role"] == "Head of Access, Governance and School Services"
    assert "no email address" in missing.detail["reason"]
    assert missing.detail["source"] == "stoke-sendiass-complaints-procedure-2026.txt:L53"
    assert not [x for x in _letters(web, case_id) if x.purpose == "staff_notice"]
