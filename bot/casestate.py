"""A case's lifecycle state as stored on its row, and the trail it appends to.

Intake writes the columns of a new case; the first change of state (a letter sent, a
coordinator's action) goes through :func:`bot.lifecycle.transition` and stores the whole
state in ``Case.lifecycle`` as well. Every caller (pipeline, sender, web) uses these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.lifecycle import CaseState, ClosureReason, Status
from bot.models import Case, CaseEvent
from bot.services import Service
from bot.workdays import to_london


def add_event(
    session: Session,
    case: Case,
    at: datetime,
    kind: str,
    detail: dict[str, Any],
    actor: str = "bot",
) -> None:
    """Append to the case's trail (never updated, never deleted)."""
    session.add(CaseEvent(case=case, at=at, actor=actor, kind=kind, detail=detail))


def state_of(case: Case, service: Service) -> CaseState:
    """The case's lifecycle state: stored once anything has acted on it, else read from the
    columns intake wrote."""
    if case.lifecycle:
        return CaseState.from_json(case.lifecycle)
    try:
        status = Status(case.status)
    except ValueError:
        status = Status.RECEIVED
    started = case.clock_starts or to_london(case.received_at, service.tz).date()
    reason = case.closure_reason
    return CaseState(
        status=status,
        stage=case.stage,
        stage_started=started,
        acknowledge_by=case.acknowledge_by,
        respond_by=case.respond_by,
        closure_reason=ClosureReason(reason) if reason in set(ClosureReason) else None,
        next_stage_request_by=case.next_stage_request_by,
    )


def apply_state(case: Case, state: CaseState) -> None:
    """Store ``state`` on the case's row (the JSON and the columns queries use)."""
    case.lifecycle = state.to_json()
    case.status = state.status.value
    case.stage = state.stage
    case.clock_starts = state.stage_started
    case.acknowledge_by = state.acknowledge_by
    case.respond_by = state.respond_by
    case.next_stage_request_by = state.next_stage_request_by
    case.closure_reason = state.closure_reason.value if state.closure_reason else None
