"""What a letter may say about a case: facts from the case log, never the message text.

Data minimisation: a letter greets the sender by their own name and quotes neither the
complaint nor its subject line (which often names the child). Dates are written the way a
letter would: "Friday 27 November 2026".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from bot.letters.mime import greeting_name
from bot.models import Case
from bot.services import Contact, Service, Window
from bot.workdays import clock_start, to_london

DECISIONS = {
    "upheld": "We have upheld your complaint.",
    "partly_upheld": "We have upheld part of your complaint.",
    "not_upheld": "We have not upheld your complaint.",
}


#: The sample meeting date of a step (the start-up check and the golden files).
SAMPLE_MEETING = date(2026, 11, 19)


def long_date(d: date | None) -> str | None:
    """``Friday 27 November 2026``."""
    if d is None:
        return None
    return f"{d:%A} {d.day} {d:%B %Y}"


@dataclass(frozen=True)
class CaseFacts:
    """The parts of a case a letter may use."""

    reference: str
    sender_name: str
    sender_addr: str
    received_at: datetime
    kind: str
    stage: int
    respond_by: date | None
    about_coordinator: bool = False
    #: Roles of the people a notification about this case was actually queued for (a thanks
    #: letter says "passed on" only to them).
    passed_to: tuple[str, ...] = ()
    #: The track the case is on: "formal", "informal" or "awaiting_writing" (bot/procedure.py).
    track: str = "formal"
    #: How the complaint was made: email, letter, phone, in_person.
    channel: str = "email"
    #: The informal route's code when the case is (or was) on the informal step.
    informal_route: str = ""
    #: The day the current stage was asked for, when after the case began (CaseState).
    requested_on: date | None = None
    #: The complaint went straight to a later stage at the complainant's request (stoke L65).
    direct: bool = False

    @classmethod
    def of(cls, case: Case) -> CaseFacts:
        return cls(
            reference=case.reference,
            sender_name=case.sender_name,
            sender_addr=case.sender_addr,
            received_at=case.received_at,
            kind=case.kind,
            stage=case.stage,
            respond_by=case.respond_by,
            about_coordinator=bool((case.flags or {}).get("about_coordinator")),
            track=case.status if case.status in ("informal", "awaiting_writing") else "formal",
            channel=case.channel or "email",
            informal_route=str(((case.flags or {}).get("informal") or {}).get("route") or ""),
            requested_on=_requested_on(case),
            direct=bool((case.flags or {}).get("direct_to_stage")),
        )


_THANKS_FOR = {"phone": "telling us by phone", "in_person": "talking to us in person"}

_NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _in_words(w: Window) -> str:
    """``one week``, ``four weeks``, ``3 working days``: a window as a letter says it."""
    if w.unit == "calendar_weeks" and w.amount <= len(_NUMBERS):
        return f"{_NUMBERS[w.amount - 1]} week{'s' if w.amount > 1 else ''}"
    return w.describe()


def _requested_on(case: Case) -> date | None:
    raw = (case.lifecycle or {}).get("requested_on")
    return date.fromisoformat(raw) if raw else None


def _contact(c: Contact) -> dict[str, str]:
    return c.to_json()


def _ombudsman(service: Service) -> dict[str, Any]:
    o = service.ombudsman
    return {
        "name": o.name,
        "phone": o.phone,
        "web": o.web,
        "address": o.address,
        "time_limit_months": o.time_limit_months,
    }


def next_step(service: Service, stage_no: int) -> dict[str, Any]:
    """How to take the complaint further after ``stage_no``: the next stage, or the Ombudsman."""
    stage = service.stage(stage_no)
    nsr = stage.next_stage_request
    if stage.final or nsr is None:
        return {"kind": "ombudsman", "ombudsman": _ombudsman(service)}
    return {
        "kind": "next_stage",
        "number": nsr.to_stage,
        "name": service.stage(nsr.to_stage).name,
        "method": nsr.method,
        "within": nsr.within.describe() if nsr.within is not None else None,
        "write_to": _contact_or_none(nsr.write_to),
    }


def handler_for(service: Service, facts: CaseFacts) -> Contact:
    """Who handles the case: the stage's handler, or for a complaint about the coordinator at a
    stage the subject handles, the next stage's handler (never the person complained about)."""
    return service.subject_free_handler(facts.stage, facts.about_coordinator)[1]


def _contact_or_none(c: Contact | None) -> dict[str, str] | None:
    """A contact a letter may print: only when the document gives a way to reach it."""
    return c.to_json() if c is not None and c.reachable else None


def base_context(service: Service, facts: CaseFacts) -> dict[str, Any]:
    received = to_london(facts.received_at, service.tz).date()
    return {
        "service": {
            "key": service.key,
            "name": service.name,
            "contact": _contact(service.contact),
            # "" until the service confirms it: the letter leaves the sentence out
            "privacy_notice_url": service.privacy_notice_url,
        },
        "reference": facts.reference,
        "recipient_name": greeting_name(facts.sender_name, facts.sender_addr),
        "received_on": long_date(received),
        # a complaint taken by phone or in person was not written (durham L67, stoke L31)
        "thanks_for": _THANKS_FOR.get(facts.channel, "writing to us"),
    }


def _stage(service: Service, facts: CaseFacts) -> dict[str, Any]:
    stage = service.stage(facts.stage)
    handler_stage, handler = service.subject_free_handler(facts.stage, facts.about_coordinator)
    return {
        "number": stage.number,
        "name": stage.name,
        "final": stage.final,
        "handler": _contact(handler),
        # the case went past the person it is about to a later stage's handler
        "rerouted": handler_stage != stage.number,
        # what happens now: the handling stage's sentence for the reader
        "what_happens": service.stage(handler_stage).what_happens,
        # a letter promises a later date only where the procedure allows one
        "extension_allowed": stage.extension.allowed,
    }


def _informal(service: Service, facts: CaseFacts) -> dict[str, Any]:
    """The informal step (bot/procedure.py) and the formal procedure's first stage, for the
    letters that say how to go from one to the other."""
    route = service.route(facts.informal_route) if facts.informal_route else None
    if route is None:
        route = service.informal_route(facts.channel in ("phone", "in_person"))
    first = service.first_stage
    return {
        "route": route.code if route else "",
        "what_happens": route.what_happens if route else "",
        "formal_via": _contact_or_none(route.formal_via if route else None),
        "first_stage": {
            "number": first.number,
            "name": first.name,
            "acknowledge": first.acknowledge.describe(),
            "respond": first.respond.describe(),
        },
    }


def letter_context(
    service: Service, purpose: str, facts: CaseFacts, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The template variables for ``purpose``. ``extra`` holds what a person decided
    (``new_date``, ``reason``, ``response_date``, ``outcome_summary``, ``next_stage_request_by``);
    dates in it may be ``date`` objects and are written out here."""
    extra = dict(extra or {})
    ctx = base_context(service, facts)
    if purpose in ("complaint_ack", "next_stage_ack"):
        if facts.requested_on is not None:
            # they asked for this stage on that day (in writing or, where the procedure
            # allows, by phone: coventry L54), not when the case began
            ctx["received_on"] = long_date(facts.requested_on)
            ctx["thanks_for"] = "contacting us"
        ctx["stage"] = _stage(service, facts)
        ctx["respond_by"] = long_date(facts.respond_by)
        ctx["next_step"] = next_step(service, facts.stage)
        ctx["about_coordinator"] = facts.about_coordinator
        # on the informal step there is no formal clock yet (coventry L11, L40)
        ctx["informal"] = facts.track == "informal"
        ctx["direct"] = facts.direct
        ctx["informal_step"] = _informal(service, facts)
    elif purpose in ("informal_ack", "informal_outcome"):
        ctx["informal_step"] = _informal(service, facts)
        ctx["outcome_summary"] = str(extra.get("outcome_summary") or "").strip()
    elif purpose == "writing_request":
        w = service.writing
        ctx["writing"] = {"how": w.how, "source": w.source}
        ctx["channel"] = {"phone": "by phone", "in_person": "in person"}.get(facts.channel, "")
        ctx["informal_step"] = _informal(service, facts)
    elif purpose == "step_notice":
        stage = service.stage(facts.stage)
        step = stage.step(str(extra.get("step") or ""))
        if step is None and extra.get("sample"):
            # the start-up check: the stage's own step, else the procedure's first one
            step = next((x for st in (stage, *service.stages) for x in st.steps), None)
        if step is None:
            raise KeyError(f"{service.key} Stage {facts.stage} has no step {extra.get('step')!r}")
        ctx["stage"] = _stage(service, facts)
        ctx["step"] = {
            "code": step.code,
            "name": step.name,
            "what_happens": step.what_happens,
            "required": step.required,
            "respond_after": _in_words(step.respond_after) if step.respond_after else None,
        }
        ctx["meeting_on"] = long_date(extra.get("meeting_on"))
        ctx["respond_by"] = long_date(facts.respond_by)
    elif purpose in ("compliment_thanks", "comment_thanks"):
        ctx["passed_to"] = list(facts.passed_to)
    elif purpose == "extension_notice":
        ctx["stage"] = _stage(service, facts)
        ctx["previous_date"] = long_date(extra.get("previous_date") or facts.respond_by)
        ctx["new_date"] = long_date(extra["new_date"])
        ctx["reason"] = str(extra["reason"])
    elif purpose in ("stage_response", "final_stage"):
        ctx["stage"] = _stage(service, facts)
        ctx["response_date"] = long_date(extra["response_date"])
        # never a placeholder: an empty summary leaves the section out
        ctx["outcome_summary"] = str(extra.get("outcome_summary") or "").strip()
        # the decision, its reasons, the actions and any remedy (each left out when empty)
        ctx["decision"] = DECISIONS.get(str(extra.get("decision") or ""), "")
        for name in ("reasons", "actions", "remedy"):
            ctx[name] = str(extra.get(name) or "").strip()
        ctx["next_step"] = next_step(service, facts.stage)
        nsr = service.stage(facts.stage).next_stage_request
        # a last date to ask only where the procedure sets a time limit
        limited = nsr is not None and nsr.within is not None
        ctx["next_stage_request_by"] = (
            long_date(extra.get("next_stage_request_by")) if limited else None
        )
        ctx["ombudsman"] = _ombudsman(service)
    elif purpose == "safeguarding_alert":
        ctx["kind"] = facts.kind.replace("_", " ")
        ctx["coordinator_email"] = service.coordinator_email
        ctx["case_url"] = str(extra.get("case_url") or "")
    elif purpose == "safeguarding_reply":
        # "today" only when the message came on a working day; else the day it will be read
        start = clock_start(facts.received_at, service.calendar, service.cutoff_hour, service.tz)
        received = to_london(facts.received_at, service.tz).date()
        ctx["read_on"] = None if start.value == received else long_date(start.value)
        ctx["contacts"] = [c.to_json() for c in service.safeguarding.contacts if c.reachable]
    elif purpose == "staff_notice":
        # to a member of staff: what the case is and why they are told; never the message
        ctx["kind"] = facts.kind.replace("_", " ")
        ctx["stage"] = {"number": facts.stage, "name": service.stage(facts.stage).name}
        ctx["respond_by"] = long_date(facts.respond_by)
        ctx["recipient"] = str(extra.get("recipient") or "")
        ctx["why"] = str(extra.get("why") or "")
        ctx["case_url"] = str(extra.get("case_url") or "")
    return ctx


def sample_facts(service: Service) -> CaseFacts:
    """Fictional facts for the start-up check and the golden files."""
    return CaseFacts(
        reference=f"{service.reference_prefix}-2026-0007",
        sender_name="Alex Parent",
        sender_addr="alex.parent@example.org",
        received_at=datetime(2026, 11, 2, 10, 30, tzinfo=UTC),
        kind="complaint",
        stage=service.first_stage.number,
        respond_by=date(2026, 11, 30),
    )


def sample_extra(purpose: str) -> dict[str, Any]:
    if purpose == "extension_notice":
        return {"new_date": date(2026, 12, 14), "reason": "we are waiting to speak to a colleague"}
    if purpose == "staff_notice":
        return {
            "recipient": "Durham County Council Children & Young People's Complaints Officer",
            "why": "You handle Stage 2 of this complaint.",
            "case_url": "https://cases.example.org/?q=DUR-2026-0007",
        }
    if purpose == "safeguarding_alert":
        return {"case_url": "https://cases.example.org/?q=DUR-2026-0007"}
    if purpose == "step_notice":
        return {"step": "", "sample": True, "meeting_on": SAMPLE_MEETING}
    if purpose == "informal_outcome":
        return {"outcome_summary": "We agreed that your adviser will call you every Friday."}
    if purpose in ("stage_response", "final_stage"):
        return {
            "response_date": date(2026, 11, 27),
            "outcome_summary": "We have looked into each point you raised.",
            "decision": "partly_upheld",
            "reasons": "You were not called back when we said you would be.",
            "actions": "We will check every call-back request each morning.",
            "remedy": "We apologise for the missed call.",
            "next_stage_request_by": date(2026, 12, 29),
        }
    return {}
