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

    received | acknowledged | investigating (first stage) --informal--> informal
    informal | awaiting_writing --formalise--> received (the formal clock starts that day)
    informal --close (resolved)--> closed
    acknowledged | investigating | next_stage_requested --schedule_step--> (same status)
    received | acknowledged | investigating (first stage) --direct_to_stage--> next_stage_requested

``informal``: the complaint is on the procedure's informal track (Durham L76-80, Staffordshire
L63-65, Coventry L11, Stoke L33): no formal clock runs. ``awaiting_writing``: a complaint made
by phone or in person where the procedure wants it in writing (Durham L67, Staffordshire
L59-60): no formal clock until it arrives in writing. ``schedule_step`` sets the date of a step
with its own clock (mediation; Stoke's Special Meeting, whose response is due a week after it,
L89).

``close`` is allowed from every state except ``closed``; a closed case stays closed for a
person (a new complaint opens a new case), but the family's reply to it reopens it
(:func:`reopen`: back to the state it was closed from, as far as the state tells).
:func:`transition` returns the new :class:`CaseState` and an event (a JSON-serialisable
dict) for the case's trail; a transition that is not allowed raises :class:`InvalidTransition`
naming the state, the action and what is allowed.

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
    apply_window,
    check_stage2_timeliness,
    extend,
    initial_deadlines,
    next_stage_request_by,
    stage_deadlines,
)
from bot.services import INFORMAL_ROUTES, Service
from bot.workdays import clock_start, to_london


class Status(StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    RESPONDED = "responded"
    NEXT_STAGE_REQUESTED = "next_stage_requested"
    CLOSED = "closed"
    INFORMAL = "informal"
    AWAITING_WRITING = "awaiting_writing"


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
    GO_INFORMAL = "informal"
    FORMALISE = "formalise"
    SCHEDULE_STEP = "schedule_step"
    DIRECT_TO_STAGE = "direct_to_stage"


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
    Action.GO_INFORMAL: frozenset({Status.RECEIVED, Status.ACKNOWLEDGED, Status.INVESTIGATING}),
    Action.FORMALISE: frozenset({Status.INFORMAL, Status.AWAITING_WRITING}),
    Action.SCHEDULE_STEP: frozenset(
        {Status.ACKNOWLEDGED, Status.INVESTIGATING, Status.NEXT_STAGE_REQUESTED}
    ),
    Action.DIRECT_TO_STAGE: frozenset({Status.RECEIVED, Status.ACKNOWLEDGED, Status.INVESTIGATING}),
}

_RESULT: Mapping[Action, Status] = {
    Action.ACKNOWLEDGE: Status.ACKNOWLEDGED,
    Action.INVESTIGATE: Status.INVESTIGATING,
    Action.RESPOND: Status.RESPONDED,
    Action.REQUEST_NEXT_STAGE: Status.NEXT_STAGE_REQUESTED,
    Action.CLOSE: Status.CLOSED,
    Action.GO_INFORMAL: Status.INFORMAL,
    Action.FORMALISE: Status.RECEIVED,
    Action.DIRECT_TO_STAGE: Status.NEXT_STAGE_REQUESTED,
}

#: The tracks a new case can start on: the formal procedure, its informal step, or waiting
#: for a spoken complaint in writing.
TRACKS: Mapping[str, Status] = {
    "formal": Status.RECEIVED,
    "informal": Status.INFORMAL,
    "awaiting_writing": Status.AWAITING_WRITING,
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
    #: A step of the current stage with its own clock (``Stage.steps``): its code, the last
    #: day to hold it (None: no time set) and its date once scheduled.
    step: str | None = None
    meeting_by: date | None = None
    meeting_on: date | None = None
    #: The day the current stage was asked for (a request for the next stage, a formal
    #: complaint after the informal step, a spoken one arriving in writing): letters thank the
    #: complainant for writing on this day, not on the day the case began.
    requested_on: date | None = None

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
            "step": self.step,
            "meeting_by": _iso(self.meeting_by),
            "meeting_on": _iso(self.meeting_on),
            "requested_on": _iso(self.requested_on),
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
            step=data.get("step"),
            meeting_by=_day(data.get("meeting_by")),
            meeting_on=_day(data.get("meeting_on")),
            requested_on=_day(data.get("requested_on")),
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
    track: str = "formal",
) -> tuple[CaseState, dict[str, Any]]:
    """A new case in state ``received``, with its first deadlines; on the ``informal`` track or
    ``awaiting_writing``, without a formal clock (:data:`TRACKS`)."""
    if track not in TRACKS:
        raise InvalidTransition(f"unknown track {track!r} (expected one of {', '.join(TRACKS)})")
    d = initial_deadlines(service, received, kind, about_coordinator, stage)
    formal = track == "formal"
    state = CaseState(
        status=TRACKS[track],
        stage=d.stage,
        stage_started=d.clock_starts,
        acknowledge_by=d.acknowledge_by if formal else None,
        respond_by=d.respond_by if formal else None,
    )
    description = f"{kind} received; Stage {d.stage}"
    if d.route:
        description += f" (route: {d.route})"
    if not formal:
        description += f" ({track.replace('_', ' ')}: no formal clock yet)"
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

    * ``informal``: ``reason`` is the informal route's code; only at the first stage and
      before a response; the formal clock stops.
    * ``formalise``: ``on`` is the day the formal complaint was asked for or arrived in
      writing; the stage's clock starts then.
    * ``direct_to_stage``: ``reason`` is the route's code (stoke L65: a complainant who asks,
      when first complaining in writing, to go straight to Stage 3); the route's stage
      starts with its clock counted from the day the complaint was received (``on``).
    * ``schedule_step``: ``reason`` is the step's code, ``new_date`` the meeting's date; a
      step with ``respond_after`` moves the response date to that long after the meeting.

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

    if act is Action.GO_INFORMAL:
        route = service.route(str(reason or ""))
        if route is None or route.code not in INFORMAL_ROUTES:
            raise InvalidTransition(f"the {service.key} procedure has no informal step")
        if state.stage != service.first_stage.number:
            raise InvalidTransition(
                f"the informal step comes before Stage {service.first_stage.number}; this case "
                f"is at Stage {state.stage}"
            )
        new = replace(state, status=Status.INFORMAL, acknowledge_by=None, respond_by=None)
        cite = f" [{route.source}]" if route.source else ""
        return new, _event(
            act.value,
            state,
            new,
            day,
            f"informal resolution: {route.description}{cite}",
            route=route.code,
            source=route.source,
            **extra,
        )

    if act is Action.FORMALISE:
        if isinstance(on, datetime):
            cs = clock_start(on, service.calendar, service.cutoff_hour, service.tz).value
            assert cs is not None
            start = cs
        else:
            start = day
        dl = stage_deadlines(service, state.stage, start)
        new = replace(
            state,
            status=Status.RECEIVED,
            stage_started=dl.clock_starts,
            acknowledge_by=dl.acknowledge_by,
            respond_by=dl.respond_by,
            requested_on=day,
        )
        was = "informal" if state.status is Status.INFORMAL else "waiting for writing"
        return new, _event(
            act.value,
            state,
            new,
            day,
            f"formal complaint at Stage {state.stage} (was {was}); the clock starts "
            f"{dl.clock_starts.isoformat()}",
            deadlines=dl.to_json(),
            **extra,
        )

    if act is Action.DIRECT_TO_STAGE:
        route = service.route(str(reason or ""))
        if route is None or route.start_stage is None or route.code != "direct_to_stage":
            raise InvalidTransition(
                f"the {service.key} procedure does not let a complaint start at a later stage "
                "on request"
            )
        if state.stage != service.first_stage.number or route.start_stage <= state.stage:
            raise InvalidTransition(
                f"only a new complaint at Stage {service.first_stage.number} can go straight "
                f"to Stage {route.start_stage}"
            )
        dl = stage_deadlines(service, route.start_stage, state.stage_started)
        new = CaseState(
            status=Status.NEXT_STAGE_REQUESTED,
            stage=route.start_stage,
            stage_started=dl.clock_starts,
            acknowledge_by=dl.acknowledge_by,
            respond_by=dl.respond_by,
            flags=state.flags,
        )
        cite = f" [{route.source}]" if route.source else ""
        return new, _event(
            act.value,
            state,
            new,
            day,
            f"straight to Stage {route.start_stage} as the complainant asked{cite}",
            route=route.code,
            source=route.source,
            deadlines=dl.to_json(),
            **extra,
        )

    if act is Action.SCHEDULE_STEP:
        stage = service.stage(state.stage)
        step = stage.step(str(reason or ""))
        if step is None:
            known = ", ".join(x.code for x in stage.steps) or "none"
            raise InvalidTransition(
                f"Stage {state.stage} of the {service.key} procedure has no step "
                f"{reason!r} (steps: {known})"
            )
        if new_date is None:
            raise InvalidTransition(f"give the date of the {step.name.lower()}")
        if new_date < state.stage_started:
            raise InvalidTransition(
                f"the {step.name.lower()} cannot be before Stage {state.stage} started "
                f"({state.stage_started.isoformat()})"
            )
        meeting_by = state.meeting_by if state.step == step.code else None
        if meeting_by is None and step.meeting_within is not None:
            meeting_by = apply_window(
                step.meeting_within, state.stage_started, service.calendar, step.name, "start"
            ).value
        respond_by = state.respond_by
        explain: dict[str, Any] = {}
        if step.respond_after is not None:
            after = apply_window(
                step.respond_after,
                new_date,
                service.calendar,
                f"Stage {state.stage} response",
                f"the {step.name} ({new_date.isoformat()})",
            )
            respond_by = after.value
            explain["respond_by"] = after.to_json()
        new = replace(
            state, step=step.code, meeting_by=meeting_by, meeting_on=new_date, respond_by=respond_by
        )
        desc = f"{step.name} on {new_date.isoformat()}"
        if meeting_by is not None and new_date > meeting_by:
            desc += f" (after the last day for it, {meeting_by.isoformat()}: flagged)"
            extra["late"] = True
        return new, _event(
            act.value,
            state,
            new,
            day,
            desc,
            step=step.code,
            meeting_on=new_date.isoformat(),
            meeting_by=_iso(meeting_by),
            respond_by=_iso(respond_by),
            source=step.source,
            explain=explain,
            **extra,
        )

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
        # a step the stage always takes, with its own clock (stoke L89: the Special Meeting
        # within four weeks of the Stage starting)
        required = next((x for x in service.stage(to_stage).steps if x.required), None)
        meeting_by = None
        if required is not None and required.meeting_within is not None:
            meeting_by = apply_window(
                required.meeting_within,
                dl.clock_starts,
                service.calendar,
                required.name,
                f"the start of Stage {to_stage} ({dl.clock_starts.isoformat()})",
            ).value
        new = CaseState(
            status=Status.NEXT_STAGE_REQUESTED,
            stage=to_stage,
            stage_started=dl.clock_starts,
            acknowledge_by=dl.acknowledge_by,
            respond_by=dl.respond_by,
            flags=flags,
            step=required.code if required is not None else None,
            meeting_by=meeting_by,
            requested_on=day,
        )
        if meeting_by is not None:
            extra["meeting_by"] = meeting_by.isoformat()
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


def reopen(
    state: CaseState, service: Service, on: date | datetime
) -> tuple[CaseState, dict[str, Any]]:
    """A closed case reopened because the family wrote to it again: back to where it was as
    far as the state shows (responded, acknowledged, a next stage requested, or received),
    with the deadlines it had; the closure reason goes. Raises :class:`InvalidTransition`
    for a case that is not closed."""
    if state.status is not Status.CLOSED:
        raise InvalidTransition(
            f"cannot reopen a case that is {state.status.value} at Stage {state.stage} "
            "(only a closed case is reopened)"
        )
    if state.responded_on is not None:
        status = Status.RESPONDED
    elif state.acknowledged_on is not None:
        status = Status.ACKNOWLEDGED
    elif state.stage > 1 and state.acknowledge_by is not None:
        status = Status.NEXT_STAGE_REQUESTED
    else:
        status = Status.RECEIVED
    day = _london_day(on, service)
    new = replace(state, status=status, closure_reason=None)
    return new, _event(
        "reopen",
        state,
        new,
        day,
        f"reopened at Stage {state.stage}: the family wrote again after it was closed "
        f"({state.closure_reason.value if state.closure_reason else 'no reason recorded'})",
        previous_closure_reason=state.closure_reason.value if state.closure_reason else None,
    )
