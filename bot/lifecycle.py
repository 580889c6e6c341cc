"""The case lifecycle: a pure state machine (no storage, no clock).

States::

    received --acknowledge--> acknowledged --investigate--> investigating --respond--> responded
        |                          |   ^ extend                 | ^ extend               |
        +------investigate---------+---+------------------------+ |                      |
        |                          +------------respond-----------+                      |
        |                                                                                v
        |      next_stage_requested <------------request_next_stage----------------  responded
        |           |  (stage + 1)                                                  (not final)
        |           +--acknowledge--> acknowledged (stage + 1) ...
        |           +--investigate--> investigating (stage + 1) ...
        +--close--> closed (resolved | withdrawn | ombudsman | out_of_time | out_of_scope)

``close`` is allowed from every state except ``closed``; a closed case stays closed (a new
complaint opens a new case). :func:`transition` returns the new :class:`CaseState` and an event
(a JSON-serialisable dict) for the case's trail; a transition that is not allowed raises
:class:`InvalidTransition` naming the state, the action and what is allowed.

Deadlines carried in the state: ``acknowledge_by`` and ``respond_by`` for the current stage
(set when the stage starts; ``respond_by`` moved by an extension, which needs a new date and a
reason), and ``next_stage_request_by`` once a response is sent (the window runs from the date
of the response letter; None when the stage is final or the procedure sets no limit). A late
request for the next stage is accepted and flagged, never refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from bot.deadlines import (
    check_stage2_timeliness,
    extend,
    initial_deadlines,
    next_stage_request_by,
    stage_deadlines,
)
from bot.services import Service
from bot.workdays import clock_start, to_london


class Status(StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    RESPONDED = "responded"
    NEXT_STAGE_REQUESTED = "next_stage_requested"
    CLOSED = "closed"


class ClosureReason(StrEnum):
    RESOLVED = "resolved"
    WITHDRAWN = "withdrawn"
    OMBUDSMAN = "ombudsman"
    OUT_OF_TIME = "out_of_time"
    OUT_OF_SCOPE = "out_of_scope"
    #: an advice enquiry answered (bot.web.actions.advice_given): not a complaint's outcome
    ADVICE_GIVEN = "advice_given"


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    INVESTIGATE = "investigate"
    EXTEND = "extend"
    RESPOND = "respond"
    REQUEST_NEXT_STAGE = "request_next_stage"
    CLOSE = "close"


_OPEN = frozenset(s for s in Status if s is not Status.CLOSED)

#: The states each action may be taken from.
ALLOWED: Mapping[Action, frozenset[Status]] = {
    Action.ACKNOWLEDGE: frozenset({Status.RECEIVED, Status.NEXT_STAGE_REQUESTED}),
    Action.INVESTIGATE: frozenset(
        {Status.RECEIVED, Status.ACKNOWLEDGED, Status.NEXT_STAGE_REQUESTED}
    ),
    Action.EXTEND: frozenset({Status.ACKNOWLEDGED, Status.INVESTIGATING}),
    Action.RESPOND: frozenset({Status.ACKNOWLEDGED, Status.INVESTIGATING}),
    Action.REQUEST_NEXT_STAGE: frozenset({Status.RESPONDED}),
    Action.CLOSE: _OPEN,
}

_RESULT: Mapping[Action, Status] = {
    Action.ACKNOWLEDGE: Status.ACKNOWLEDGED,
    Action.INVESTIGATE: Status.INVESTIGATING,
    Action.RESPOND: Status.RESPONDED,
    Action.REQUEST_NEXT_STAGE: Status.NEXT_STAGE_REQUESTED,
    Action.CLOSE: Status.CLOSED,
}


class InvalidTransition(ValueError):
    """An action that is not allowed in the case's state (or lacks what it needs)."""


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def _day(s: Any) -> date | None:
    return date.fromisoformat(s) if s else None


@dataclass(frozen=True)
class CaseState:
    status: Status
    stage: int
    stage_started: date  # the day the current stage's clock started
    acknowledge_by: date | None = None
    respond_by: date | None = None
    closure_reason: ClosureReason | None = None
    acknowledged_on: date | None = None
    responded_on: date | None = None  # date of the current stage's response letter
    next_stage_request_by: date | None = None
    extended: bool = False
    extension_reason: str | None = None
    flags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "stage": self.stage,
            "stage_started": self.stage_started.isoformat(),
            "acknowledge_by": _iso(self.acknowledge_by),
            "respond_by": _iso(self.respond_by),
            "closure_reason": self.closure_reason.value if self.closure_reason else None,
            "acknowledged_on": _iso(self.acknowledged_on),
            "responded_on": _iso(self.responded_on),
            "next_stage_request_by": _iso(self.next_stage_request_by),
            "extended": self.extended,
            "extension_reason": self.extension_reason,
            "flags": list(self.flags),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CaseState:
        started = _day(data["stage_started"])
        assert started is not None
        reason = data.get("closure_reason")
        return cls(
            status=Status(data["status"]),
            stage=int(data["stage"]),
            stage_started=started,
            acknowledge_by=_day(data.get("acknowledge_by")),
            respond_by=_day(data.get("respond_by")),
            closure_reason=ClosureReason(reason) if reason else None,
            acknowledged_on=_day(data.get("acknowledged_on")),
            responded_on=_day(data.get("responded_on")),
            next_stage_request_by=_day(data.get("next_stage_request_by")),
            extended=bool(data.get("extended", False)),
            extension_reason=data.get("extension_reason"),
            flags=tuple(data.get("flags", ())),
        )


def allowed_actions(state: CaseState) -> list[Action]:
    return [a for a in Action if state.status in ALLOWED[a]]


def _snapshot(state: CaseState) -> dict[str, Any]:
    return {"status": state.status.value, "stage": state.stage}


def _event(
    action: str,
    before: CaseState | None,
    after: CaseState,
    on: date,
    description: str,
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "action": action,
        "on": on.isoformat(),
        "from": _snapshot(before) if before is not None else None,
        "to": _snapshot(after),
        "description": description,
    }
    event.update(extra)
    return event


def open_case(
    service: Service,
    received: datetime,
    kind: str = "complaint",
    about_coordinator: bool = False,
    stage: int | None = None,
) -> tuple[CaseState, dict[str, Any]]:
    """A new case in state ``received``, with its first deadlines."""
    d = initial_deadlines(service, received, kind, about_coordinator, stage)
    state = CaseState(
        status=Status.RECEIVED,
        stage=d.stage,
        stage_started=d.clock_starts,
        acknowledge_by=d.acknowledge_by,
        respond_by=d.respond_by,
    )
    description = f"{kind} received; Stage {d.stage}"
    if d.route:
        description += f" (route: {d.route})"
    return state, _event(
        "open",
        None,
        state,
        d.clock_starts,
        description,
        received=d.received.isoformat(),
        deadlines=d.to_json(),
    )


def _london_day(on: date | datetime, service: Service) -> date:
    return to_london(on, service.tz).date() if isinstance(on, datetime) else on


def transition(
    state: CaseState,
    action: Action | str,
    service: Service,
    on: date | datetime,
    *,
    reason: ClosureReason | str | None = None,
    new_date: date | None = None,
    note: str = "",
) -> tuple[CaseState, dict[str, Any]]:
    """Apply ``action`` on ``on`` (a date, or the datetime a request arrived).

    * ``acknowledge``, ``investigate``: ``on`` is the day it was done.
    * ``extend``: needs ``new_date`` (after the current response date) and ``reason``.
    * ``respond``: ``on`` is the date of the response letter; sets ``next_stage_request_by``.
    * ``request_next_stage``: ``on`` is when the request arrived; starts the next stage's
      clock and deadlines; flags (does not refuse) a late request.
    * ``close``: needs ``reason`` (resolved, withdrawn, ombudsman, out_of_time, out_of_scope).

    Raises :class:`InvalidTransition` if the action is not allowed or lacks what it needs.
    """
    try:
        act = Action(action)
    except ValueError:
        raise InvalidTransition(
            f"unknown action {action!r} (expected one of {', '.join(a.value for a in Action)})"
        ) from None
    if state.status not in ALLOWED[act]:
        allowed = ", ".join(a.value for a in allowed_actions(state)) or "none (case is closed)"
        raise InvalidTransition(
            f"cannot {act.value} a case that is {state.status.value} at Stage {state.stage} "
            f"(allowed: {allowed})"
        )
    day = _london_day(on, service)
    extra: dict[str, Any] = {}
    if note:
        extra["note"] = note

    if act is Action.ACKNOWLEDGE:
        new = replace(state, status=Status.ACKNOWLEDGED, acknowledged_on=day)
        desc = f"Stage {state.stage} acknowledged"
        if state.acknowledge_by is not None:
            extra["due"] = state.acknowledge_by.isoformat()
            extra["on_time"] = day <= state.acknowledge_by
            if day > state.acknowledge_by:
                desc += f" late (due {state.acknowledge_by.isoformat()})"
        return new, _event(act.value, state, new, day, desc, **extra)

    if act is Action.INVESTIGATE:
        new = replace(state, status=Status.INVESTIGATING)
        return new, _event(
            act.value, state, new, day, f"Stage {state.stage} investigation", **extra
        )

    if act is Action.EXTEND:
        if new_date is None or reason is None or not str(reason).strip():
            raise InvalidTransition("an extension needs a new date and a reason")
        if state.respond_by is None:
            raise InvalidTransition("this case has no response date to extend")
        try:
            explained = extend(service, state.stage, state.respond_by, new_date, str(reason))
        except ValueError as exc:
            raise InvalidTransition(str(exc)) from None
        new = replace(
            state, respond_by=new_date, extended=True, extension_reason=str(reason).strip()
        )
        return new, _event(
            act.value,
            state,
            new,
            day,
            f"Stage {state.stage} response extended to {new_date.isoformat()}",
            previous_respond_by=state.respond_by.isoformat(),
            respond_by=new_date.isoformat(),
            reason=str(reason).strip(),
            explain=explained.to_json(),
            **extra,
        )

    if act is Action.RESPOND:
        nxt = next_stage_request_by(service, state.stage, day)
        new = replace(
            state, status=Status.RESPONDED, responded_on=day, next_stage_request_by=nxt.value
        )
        desc = f"Stage {state.stage} response sent"
        if state.respond_by is not None:
            extra["due"] = state.respond_by.isoformat()
            extra["on_time"] = day <= state.respond_by
            if day > state.respond_by:
                desc += f" late (due {state.respond_by.isoformat()})"
        return new, _event(
            act.value,
            state,
            new,
            day,
            desc,
            next_stage_request_by=_iso(nxt.value),
            explain={"next_stage_request_by": nxt.to_json()},
            **extra,
        )

    if act is Action.REQUEST_NEXT_STAGE:
        stage = service.stage(state.stage)
        if stage.final or stage.next_stage_request is None:
            raise InvalidTransition(
                f"Stage {state.stage} is the final stage of the {service.key} procedure: "
                f"close the case (reason 'ombudsman') if the complainant goes to the "
                f"{service.ombudsman.name}"
            )
        assert state.responded_on is not None
        to_stage = stage.next_stage_request.to_stage
        check = check_stage2_timeliness(service, state.responded_on, on, state.stage)
        if isinstance(on, datetime):
            cs = clock_start(on, service.calendar, service.cutoff_hour, service.tz).value
            assert cs is not None
            start = cs
        else:
            start = day
        dl = stage_deadlines(service, to_stage, start)
        flags = state.flags
        if check.flag and check.flag not in flags:
            flags = (*flags, check.flag)
        new = CaseState(
            status=Status.NEXT_STAGE_REQUESTED,
            stage=to_stage,
            stage_started=dl.clock_starts,
            acknowledge_by=dl.acknowledge_by,
            respond_by=dl.respond_by,
            flags=flags,
        )
        desc = f"Stage {to_stage} requested"
        if check.ok is False:
            desc += " late (flagged, not refused)"
        return new, _event(
            act.value,
            state,
            new,
            day,
            desc,
            check=check.to_json(),
            deadlines=dl.to_json(),
            **extra,
        )

    # Action.CLOSE
    if reason is None:
        raise InvalidTransition(
            "closing a case needs a reason: " + ", ".join(r.value for r in ClosureReason)
        )
    try:
        why = ClosureReason(reason)
    except ValueError:
        raise InvalidTransition(
            f"unknown closure reason {reason!r} "
            f"(expected one of {', '.join(r.value for r in ClosureReason)})"
        ) from None
    new = replace(state, status=Status.CLOSED, closure_reason=why)
    desc = f"closed at Stage {state.stage}: {why.value}"
    if why is ClosureReason.OMBUDSMAN:
        extra["ombudsman"] = {
            "name": service.ombudsman.name,
            "rule": service.ombudsman.rule,
            "time_limit_months": service.ombudsman.time_limit_months,
        }
    return new, _event(act.value, state, new, day, desc, reason=why.value, **extra)
