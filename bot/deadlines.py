"""The deadline engine: each service's procedure applied to the working-day calendar.

Pure functions: the time a message was received, or "today", is always passed in.

Decisions (kept here so the UI and letters can quote them):

* A **complaint** starts at the service's first stage, or at a later one when it is about the
  coordinator and the procedure says so (Durham, Staffordshire: Stage 2). Acknowledgement and
  response are due a window after the day the clock starts (:func:`bot.workdays.clock_start`).
* A **Stage 2 request** (``stage2_request``) starts the stage after the first one, with that
  stage's acknowledgement and response windows counted from the day its clock starts.
* A **comment** or **compliment** gets an acknowledgement date only, a courtesy using the
  first stage's acknowledgement window: no procedure sets a time for them (they are passed on
  to the coordinator or the person praised) and none requires a response.
* An **enquiry** or **automated** message has no complaints clock: ``acknowledge_by`` and
  ``respond_by`` are None (the clock start is still computed, for the record).
* The window for asking for the next stage runs from the date of the previous stage's
  response letter ("within 20 working days of the Stage 1 response letter").
* Eligibility checks inform; they never refuse. A late Stage 2 request is flagged, not
  rejected; an event older than 12 months is flagged with the evidence.
* **Timeliness** in the council's 2020/21 bands (:func:`timeliness`): counted in working days
  from the day the clock started to the date responded: ``within_10`` (10 or fewer),
  ``within_20`` (11 to 20), otherwise ``out_of_timescale``. The reports do not use these
  bands: they measure each response against the service's own limit for the stage and any
  agreed extension (bot/reports/data.py).
"""

from __future__ import annotations

import calendar as _stdcal
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Literal

from bot.services import Service, Stage, Window
from bot.workdays import (
    Explained,
    WorkCalendar,
    add_calendar_days,
    add_calendar_weeks,
    add_working_days,
    clock_start,
    to_london,
    working_days_between,
)

KINDS: tuple[str, ...] = (
    "complaint",
    "stage2_request",
    "comment",
    "compliment",
    "enquiry",
    "automated",
)
#: Kinds that start a complaints clock (acknowledgement and response).
CLOCK_KINDS = frozenset({"complaint", "stage2_request"})
#: Kinds that get a courtesy acknowledgement date only.
ACKNOWLEDGE_ONLY_KINDS = frozenset({"comment", "compliment"})

Timeliness = Literal["within_10", "within_20", "out_of_timescale"]
DeadlineStatus = Literal["none", "overdue", "due_today", "due_soon", "on_track"]


# ---------------------------------------------------------------------------- windows


def _cite(window: Window) -> str:
    return f" [{window.source}]" if window.source else ""


def apply_window(
    window: Window, start: date, calendar: WorkCalendar, what: str, start_name: str
) -> Explained:
    """The deadline ``window`` after ``start``, with a rule naming ``what`` it is for."""
    rule = f"{what}: {window.describe()} after {start_name}{_cite(window)}"
    if window.unit == "working_days":
        result = add_working_days(start, window.amount, calendar, rule)
    elif window.unit == "calendar_weeks":
        result = add_calendar_weeks(start, window.amount, calendar, rule)
    else:
        result = add_calendar_days(start, window.amount, calendar, rule)
    if not window.stated:
        result = Explained(
            result.value,
            result.rule,
            result.start,
            result.skipped,
            (*result.notes, f"not stated in the procedure: {window.note}"),
        )
    return result


def _working_start(start: date, calendar: WorkCalendar) -> Explained:
    """``start`` if it is a working day, else the next working day, explained."""
    reason = calendar.non_working_reason(start)
    if reason is None:
        return Explained(start, "the stage's clock starts on the day given", start)
    d = calendar.next_working_day(start)
    return Explained(
        d,
        "the day given is not a working day: the clock starts on the next working day",
        start,
        notes=(f"{start.isoformat()} {reason}",),
    )


@dataclass(frozen=True)
class StageDeadlines:
    """A stage's acknowledgement and response dates, counted from the day its clock starts."""

    service: str
    stage: int
    clock_starts: date
    acknowledge_by: date
    respond_by: date
    explain: Mapping[str, Explained]

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "stage": self.stage,
            "clock_starts": self.clock_starts.isoformat(),
            "acknowledge_by": self.acknowledge_by.isoformat(),
            "respond_by": self.respond_by.isoformat(),
            "explain": {k: v.to_json() for k, v in self.explain.items()},
        }


def _stage_dates(service: Service, stage: Stage, start: date) -> tuple[Explained, Explained]:
    cal = service.calendar
    name = f"the day the clock starts ({start.isoformat()})"
    ack = apply_window(stage.acknowledge, start, cal, f"Stage {stage.number} acknowledgement", name)
    resp = apply_window(stage.respond, start, cal, f"Stage {stage.number} response", name)
    return ack, resp


def stage_deadlines(service: Service, stage_no: int, start: date) -> StageDeadlines:
    """Acknowledgement and response dates for ``stage_no`` whose clock starts on ``start``.

    ``start`` is normally the day the request for the stage was received (use
    :func:`bot.workdays.clock_start` on the time it arrived). If it is not a working day
    the clock starts on the next one. Raises KeyError for a stage the service lacks.
    """
    stage = service.stage(stage_no)
    cs = _working_start(start, service.calendar)
    assert cs.value is not None
    ack, resp = _stage_dates(service, stage, cs.value)
    assert ack.value is not None and resp.value is not None
    return StageDeadlines(
        service=service.key,
        stage=stage_no,
        clock_starts=cs.value,
        acknowledge_by=ack.value,
        respond_by=resp.value,
        explain=MappingProxyType({"clock_starts": cs, "acknowledge_by": ack, "respond_by": resp}),
    )


def extend(
    service: Service, stage_no: int, current: date, new_date: date, reason: str
) -> Explained:
    """An extension of a stage's response date: checked, and explained.

    Raises ValueError if the stage cannot be extended, the new date is not later, or no
    reason is given. The complainant must be told, as the procedure says (``how_told``).
    """
    stage = service.stage(stage_no)
    if not stage.extension.allowed:
        raise ValueError(
            f"{service.key} Stage {stage_no}: the procedure describes no extension of the "
            "response time"
        )
    if new_date <= current:
        raise ValueError(f"the new date {new_date} must be after the current date {current}")
    if not reason.strip():
        raise ValueError("an extension needs a reason")
    cite = f" [{stage.extension.source}]" if stage.extension.source else ""
    return Explained(
        new_date,
        f"Stage {stage_no} response extended from {current.isoformat()}: {reason.strip()}",
        current,
        notes=(f"the complainant must be told: {stage.extension.how_told}{cite}",),
    )


# ---------------------------------------------------------------------- new messages


@dataclass(frozen=True)
class CaseDeadlines:
    """The dates a new message's case starts with, each explained under ``explain``."""

    service: str
    kind: str
    stage: int
    received: datetime
    clock_starts: date
    acknowledge_by: date | None
    respond_by: date | None
    route: str | None = None
    explain: Mapping[str, Explained] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "kind": self.kind,
            "stage": self.stage,
            "route": self.route,
            "received": self.received.isoformat(),
            "clock_starts": self.clock_starts.isoformat(),
            "acknowledge_by": self.acknowledge_by.isoformat() if self.acknowledge_by else None,
            "respond_by": self.respond_by.isoformat() if self.respond_by else None,
            "explain": {k: v.to_json() for k, v in self.explain.items()},
        }


def _stage_after_first(service: Service) -> int:
    first = service.first_stage
    if first.next_stage_request is None:
        return first.number
    return first.next_stage_request.to_stage


def initial_deadlines(
    service: Service,
    received: datetime,
    kind: str,
    about_coordinator: bool = False,
    stage: int | None = None,
) -> CaseDeadlines:
    """The deadlines of a new case for a message of ``kind`` received at ``received``.

    ``received`` is converted to London time (naive means London). ``stage`` overrides the
    stage the case starts at (for example a request for Stage 3 in a four-stage procedure).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    cal = service.calendar
    local = to_london(received, service.tz)
    cs = clock_start(local, cal, service.cutoff_hour, service.tz)
    assert cs.value is not None
    start = cs.value
    route: str | None = None
    explain: dict[str, Explained] = {"clock_starts": cs}

    if stage is not None:
        service.stage(stage)  # KeyError if there is no such stage
        stage_no = stage
        stage_rule = f"Stage {stage} as requested"
    elif kind == "stage2_request":
        stage_no = _stage_after_first(service)
        stage_rule = f"a request for the next stage after Stage {service.first_stage.number}"
    else:
        stage_no = service.start_stage(about_coordinator)
        r = service.route("about_coordinator")
        if about_coordinator and r is not None and stage_no != service.first_stage.number:
            route = r.code
            stage_rule = f"{r.description} [{r.source}]" if r.source else r.description
        elif about_coordinator:
            stage_rule = (
                f"about the coordinator, but the {service.key} procedure does not move such "
                f"complaints to a later stage: Stage {stage_no}"
            )
        else:
            stage_rule = f"a new complaint starts at Stage {stage_no}"
    explain["stage"] = Explained(None, stage_rule)

    ack: Explained
    resp: Explained
    if kind in CLOCK_KINDS:
        ack, resp = _stage_dates(service, service.stage(stage_no), start)
    elif kind in ACKNOWLEDGE_ONLY_KINDS:
        first = service.first_stage
        ack = apply_window(
            first.acknowledge,
            start,
            cal,
            f"courtesy acknowledgement of a {kind} (no procedure sets a time for comments or "
            f"compliments; the Stage {first.number} acknowledgement window is used)",
            f"the day the clock starts ({start.isoformat()})",
        )
        resp = Explained(None, f"a {kind} is passed on; the procedure requires no response")
    else:
        ack = Explained(None, f"no complaints clock for {kind} mail")
        resp = Explained(None, f"no complaints clock for {kind} mail")
    explain["acknowledge_by"] = ack
    explain["respond_by"] = resp
    return CaseDeadlines(
        service=service.key,
        kind=kind,
        stage=stage_no,
        received=local,
        clock_starts=start,
        acknowledge_by=ack.value,
        respond_by=resp.value,
        route=route,
        explain=MappingProxyType(explain),
    )


def next_stage_request_by(service: Service, stage_no: int, response_letter_date: date) -> Explained:
    """The last day to ask for the stage after ``stage_no``, given the date of its response
    letter. ``value`` is None when the stage is final or the procedure sets no time limit."""
    stage = service.stage(stage_no)
    if stage.final or stage.next_stage_request is None:
        o = service.ombudsman
        return Explained(
            None,
            f"Stage {stage_no} is the final stage; after it the complainant may go to the "
            f"{o.name} ({o.rule})",
            response_letter_date,
        )
    nsr = stage.next_stage_request
    if nsr.within is None:
        cite = f" [{nsr.source}]" if nsr.source else ""
        return Explained(
            None,
            f"the {service.key} procedure sets no time limit for asking for Stage "
            f"{nsr.to_stage}{cite}",
            response_letter_date,
        )
    return apply_window(
        nsr.within,
        response_letter_date,
        service.calendar,
        f"request for Stage {nsr.to_stage}",
        f"the Stage {stage_no} response letter ({response_letter_date.isoformat()})",
    )


# ---------------------------------------------------------------------- eligibility


@dataclass(frozen=True)
class EligibilityCheck:
    """The result of an eligibility check: it informs a person; it never refuses.

    ``ok`` is True (no concern), False (flagged: ``flag`` names the concern) or None (the
    check could not be made; ``flag`` says why). ``evidence`` is a sentence for the case trail.
    """

    check: str
    ok: bool | None
    flag: str | None
    evidence: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "ok": self.ok,
            "flag": self.flag,
            "evidence": self.evidence,
            "details": dict(self.details),
        }


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier; clamped to the month's end (29 Feb -> 28 Feb)."""
    total = day.year * 12 + (day.month - 1) - months
    y, m = divmod(total, 12)
    m += 1
    return date(y, m, min(day.day, _stdcal.monthrange(y, m)[1]))


def parse_event_date(event_date: str) -> tuple[date, str]:
    """``YYYY-MM-DD`` -> (that day, "day"); ``YYYY-MM`` -> (the month's last day, "month").

    Raises ValueError for anything else.
    """
    s = event_date.strip()
    try:
        if len(s) == 10:
            return date.fromisoformat(s), "day"
        if len(s) == 7 and s[4] == "-":
            y, m = int(s[:4]), int(s[5:])
            return date(y, m, _stdcal.monthrange(y, m)[1]), "month"
    except ValueError:
        pass
    raise ValueError(f"event date must be YYYY-MM-DD or YYYY-MM, got {event_date!r}")


def check_twelve_months(
    event_date: str, received: date | datetime, months: int = 12
) -> EligibilityCheck:
    """Did the event complained about happen within ``months`` of the day received?

    The window's first day is the same date ``months`` earlier (clamped: 29 Feb 2028 -> 28 Feb
    2027); an event on that day is within. An event given only as a month (``YYYY-MM``) is
    compared as the last day of that month: it is flagged only when the whole month lies
    outside the window, so the complainant gets the benefit of the doubt. An event after the
    day received cannot be judged (probably a mis-read date). Raises ValueError for a
    malformed event date.
    """
    day = to_london(received).date() if isinstance(received, datetime) else received
    compared, precision = parse_event_date(event_date)
    limit = months_before(day, months)
    details: dict[str, Any] = {
        "event_date": event_date,
        "precision": precision,
        "compared_date": compared.isoformat(),
        "received": day.isoformat(),
        "window_starts": limit.isoformat(),
        "months": months,
    }
    how = (
        f"the event date {event_date} (a month: compared as its last day, {compared.isoformat()})"
        if precision == "month"
        else f"the event date {event_date}"
    )
    if compared > day:
        return EligibilityCheck(
            "twelve_months",
            None,
            "event_date_after_received",
            f"{how} is after the day received, {day.isoformat()}: check the date",
            MappingProxyType(details),
        )
    if compared >= limit:
        return EligibilityCheck(
            "twelve_months",
            True,
            None,
            f"{how} is within {months} months of receipt on {day.isoformat()} "
            f"(window from {limit.isoformat()})",
            MappingProxyType(details),
        )
    return EligibilityCheck(
        "twelve_months",
        False,
        f"older_than_{months}_months",
        f"{how} is more than {months} months before receipt on {day.isoformat()} "
        f"(window from {limit.isoformat()}); the procedure expects events within the last "
        f"{months} months. Flagged for a person to decide; not refused.",
        MappingProxyType(details),
    )


def check_event_window(
    service: Service, event_date: str, received: date | datetime
) -> EligibilityCheck:
    """:func:`check_twelve_months` with the service's window and where it comes from."""
    elig = service.eligibility
    result = check_twelve_months(event_date, received, elig.event_window_months)
    basis = {
        "procedure": "the procedure's rule",
        "ombudsman": "the Ombudsman's rule (the procedure states none of its own)",
        "default": "a default (the procedure states no time limit)",
    }[elig.event_window_basis]
    cite = f" [{elig.event_window_source}]" if elig.event_window_source else ""
    return EligibilityCheck(
        result.check,
        result.ok,
        result.flag,
        f"{result.evidence} Basis: {basis}{cite}.",
        MappingProxyType({**result.details, "basis": elig.event_window_basis}),
    )


def check_stage2_timeliness(
    service: Service,
    response_letter_date: date,
    request_received: date | datetime,
    stage_no: int = 1,
) -> EligibilityCheck:
    """Was the request for the stage after ``stage_no`` made in time?

    The window runs from the date of Stage ``stage_no``'s response letter. The request
    counts on the London date it arrived, at any time of that day (no cut-off: the benefit
    of the doubt goes to the complainant), even if that day is not a working day. A late
    request is flagged, never rejected.
    """
    if isinstance(request_received, datetime):
        day = to_london(request_received, service.tz).date()
    else:
        day = request_received
    by = next_stage_request_by(service, stage_no, response_letter_date)
    elapsed = working_days_between(response_letter_date, day, service.calendar)
    details: dict[str, Any] = {
        "response_letter_date": response_letter_date.isoformat(),
        "request_received": day.isoformat(),
        "request_by": by.value.isoformat() if by.value else None,
        "working_days_after_letter": elapsed,
        "explain": by.to_json(),
    }
    if by.value is None:
        return EligibilityCheck(
            "next_stage_request",
            True,
            None,
            f"request received {day.isoformat()}: {by.rule}",
            MappingProxyType(details),
        )
    if day <= by.value:
        return EligibilityCheck(
            "next_stage_request",
            True,
            None,
            f"request received {day.isoformat()}, on or before the last permitted day "
            f"{by.value.isoformat()} ({by.rule})",
            MappingProxyType(details),
        )
    late_by = working_days_between(by.value, day, service.calendar)
    return EligibilityCheck(
        "next_stage_request",
        False,
        "late_next_stage_request",
        f"request received {day.isoformat()}, {late_by} working day(s) after the last "
        f"permitted day {by.value.isoformat()} ({by.rule}). Flagged for a person to decide; "
        "not rejected.",
        MappingProxyType({**details, "working_days_late": late_by}),
    )


# ------------------------------------------------------------------ queries (pure parts)


def response_working_days(received: date | datetime, responded: date, service: Service) -> int:
    """Working days from the day the clock started to the day responded (0 = same day)."""
    if isinstance(received, datetime):
        cs = clock_start(received, service.calendar, service.cutoff_hour, service.tz)
    else:
        cs = _working_start(received, service.calendar)
    assert cs.value is not None
    return working_days_between(cs.value, responded, service.calendar)


def timeliness(received: date | datetime, responded: date, service: Service) -> Timeliness:
    """The council report's buckets: within 10 working days, within 20, out of timescale."""
    n = response_working_days(received, responded, service)
    if n <= 10:
        return "within_10"
    if n <= 20:
        return "within_20"
    return "out_of_timescale"


def working_days_left(deadline: date, today: date, service: Service) -> int:
    """Working days from ``today`` to ``deadline``; 0 when due today, negative when overdue."""
    return working_days_between(today, deadline, service.calendar)


def is_overdue(deadline: date | None, today: date) -> bool:
    """A deadline is overdue the day after it (the deadline day itself is still in time)."""
    return deadline is not None and today > deadline


def due_horizon(today: date, n: int, service: Service) -> date:
    """The last day of "due in the next ``n`` working days": deadlines from ``today`` up to
    and including this day. A query selects ``today <= deadline <= due_horizon(...)``."""
    result = add_working_days(today, n, service.calendar).value
    assert result is not None
    return result


def deadline_status(
    deadline: date | None, today: date, service: Service, soon: int = 3
) -> DeadlineStatus:
    """``none`` (no deadline), ``overdue``, ``due_today``, ``due_soon`` (within ``soon``
    working days) or ``on_track``."""
    if deadline is None:
        return "none"
    if today > deadline:
        return "overdue"
    if today == deadline:
        return "due_today"
    if deadline <= due_horizon(today, soon, service):
        return "due_soon"
    return "on_track"


# --------------------------------------------------------------- intake pipeline hook


def intake_deadlines(
    service: Service, received: datetime, classification: Any, start_stage: int = 1
) -> dict[str, Any]:
    """The pipeline's ``deadline_fn``: a new case's dates and eligibility flags as JSON.

    ``classification`` is a :class:`classifiers.types.Classification` (its ``kind``,
    ``about_coordinator``, ``event_date`` and ``stage1_response_date`` are read).
    ``start_stage`` is accepted for the pipeline's signature; the stage is decided here from
    the kind and the service's routes. The result has ``stage``, ``clock_starts``,
    ``acknowledge_by``, ``respond_by`` (``YYYY-MM-DD`` or None), ``explain`` and ``checks``.
    """
    kind = str(getattr(classification, "kind", "enquiry"))
    about = bool(getattr(classification, "about_coordinator", False))
    d = initial_deadlines(service, received, kind, about_coordinator=about)
    out = d.to_json()
    checks: dict[str, Any] = {}
    event_date = getattr(classification, "event_date", None)
    if kind in CLOCK_KINDS and event_date:
        try:
            checks["event_window"] = check_event_window(service, event_date, received).to_json()
        except ValueError as exc:
            checks["event_window"] = EligibilityCheck(
                "twelve_months", None, "unreadable_event_date", str(exc)
            ).to_json()
    letter = getattr(classification, "stage1_response_date", None)
    if kind == "stage2_request" and letter:
        try:
            letter_day = date.fromisoformat(letter)
        except ValueError:
            checks["next_stage_request"] = EligibilityCheck(
                "next_stage_request",
                None,
                "unreadable_response_date",
                f"Stage 1 response date must be YYYY-MM-DD, got {letter!r}",
            ).to_json()
        else:
            first = service.first_stage.number
            checks["next_stage_request"] = check_stage2_timeliness(
                service, letter_day, received, first
            ).to_json()
    out["checks"] = checks
    return out
