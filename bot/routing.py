"""Who handles a case, who must be told, and who may see it: the routing in the service files,
applied.

- :func:`enter_stage`: when a case starts a stage (at intake, or when the next stage is
  requested) the stage's handler is chosen (never the person a complaint is about: a complaint
  about the coordinator goes to the next stage's handler, ``Service.subject_free_handler``),
  written on the case, and notified when the handler is not the service's own mailbox; every
  copy the procedure requires at that stage (``copies``) is sent. A person who cannot be told
  (the document gives no address) is recorded on the trail as not notified, with the reason.
- :func:`notify`: one ``staff_notice`` letter through the outbox (exactly once per case,
  reason and address), with a link to the case under ``web.base_url``.
- :func:`may`: a case routed away from the person it is about (``Case.restricted``) is worked
  only by its handler; managers of the service see it without what people wrote; the
  service's coordinators do not see it.
- :func:`assignable`: the addresses a case may be assigned to (an account that may work the
  case, or a handler or copy address in the service file).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Protocol
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.casestate import add_event, apply_state, state_of
from bot.letters.context import CaseFacts, letter_context
from bot.letters.outbox import add_letter, idempotency_key
from bot.lifecycle import Action, Status, transition
from bot.models import Case, OutboxLetter, User
from bot.procedure import without_clock
from bot.services import Contact, Service

STAFF_NOTICE = "staff_notice"


class Viewer(Protocol):
    @property
    def email(self) -> str: ...

    @property
    def is_manager(self) -> bool: ...


def case_url(base_url: str, case: Case) -> str:
    """The web UI's queue searched for the case's reference (it works before the case has an
    id, and asks the person to sign in first), or "" when ``web.base_url`` is not set."""
    return f"{base_url.rstrip('/')}/?q={quote(case.reference)}" if base_url else ""


def _own(service: Service) -> frozenset[str]:
    return frozenset({*service.addresses, service.coordinator_email})


def notify(
    session: Session,
    service: Service,
    case: Case,
    *,
    to: Contact,
    why: str,
    code: str,
    now: datetime,
    base_url: str,
    actor: str = "bot",
) -> OutboxLetter | None:
    """Queue a ``staff_notice`` to ``to`` (sent at once), and record it on the trail; without
    an address, record that they could not be told. Exactly once per (case, code, address)."""
    if not to.email:
        add_event(
            session,
            case,
            now,
            "not_notified",
            {
                "role": to.role,
                "why": why,
                "reason": "the service file gives no email address (TO BE CONFIRMED)",
                "source": to.source,
            },
            actor=actor,
        )
        return None
    digest = hashlib.sha256(f"{code}/{to.email}".encode()).hexdigest()[:12]
    key = idempotency_key(case, STAFF_NOTICE, digest)
    existing = session.scalar(select(OutboxLetter).where(OutboxLetter.idempotency_key == key))
    if existing is not None:
        return existing
    context = letter_context(
        service,
        STAFF_NOTICE,
        CaseFacts.of(case),
        {"recipient": to.role, "why": why, "case_url": case_url(base_url, case)},
    )
    letter = add_letter(
        session,
        service=service,
        case=case,
        purpose=STAFF_NOTICE,
        key=key,
        to_addr=to.email,
        status="pending",
        hold_reason=None,
        context=context,
        now=now,
    )
    add_event(
        session,
        case,
        now,
        "notified",
        {"to": to.email, "role": to.role, "why": why, "code": code, "source": to.source},
        actor=actor,
    )
    return letter


def enter_stage(
    session: Session,
    service: Service,
    case: Case,
    now: datetime,
    base_url: str,
    actor: str = "bot",
) -> list[str]:
    """Choose and tell the handler of the stage ``case`` is now at, and send the copies the
    procedure requires there. Returns one line per person told (or not) for the caller."""
    about = bool((case.flags or {}).get("about_coordinator"))
    stage = service.stage(case.stage)
    handler_stage, handler = service.subject_free_handler(case.stage, about)
    notes: list[str] = []
    informal = service.route("informal_first")
    if (
        informal is not None
        and case.kind == "complaint"
        and case.stage == service.first_stage.number
        and case.status == Status.RECEIVED.value
        and not case.informal_outcome
        and not about
    ):
        # coventry L11: informal first through the manager, no formal clock yet; formal
        # through Speak Up (L17-21), raised as a Stage 1 complaint (L40): bot.web.actions
        after, event = transition(
            state_of(case, service), Action.GO_INFORMAL, service, now, reason=informal.code
        )
        apply_state(case, after)
        case.deadlines = without_clock(
            case.deadlines or {},
            f"informal step first: no formal clock until it is raised as a formal complaint "
            f"[{informal.source}]",
        )
        case.route = "informal"
        case.flags = {
            **(case.flags or {}),
            "route": "informal_first",
            "informal": {"route": informal.code, "source": informal.source},
        }
        add_event(
            session,
            case,
            now,
            "route",
            {"code": informal.code, "description": informal.description, "source": informal.source},
            actor=actor,
        )
        add_event(session, case, now, "informal", event, actor=actor)
        notes.append("informal first")
    rerouted = about and (handler_stage != case.stage or _started_later(service, case))
    if rerouted:
        # the case leaves the subject's queue: only its handler works it
        case.restricted = True
        case.handler = handler.email or None
        add_event(
            session,
            case,
            now,
            "routed",
            {
                "to": handler.email or None,
                "role": handler.role,
                "stage": case.stage,
                "handler_stage": handler_stage,
                "why": "the complaint is about the person who would normally handle it",
            },
            actor=actor,
        )
    # a handler outside the service is told; one the document gives no address for is
    # recorded as not told (staffordshire's Commissioner, stoke's Strategic Manager)
    if rerouted or handler.email not in _own(service):
        why = f"You handle Stage {case.stage} of this {case.kind.replace('_', ' ')}" + (
            " because it is about the person who would normally handle it." if rerouted else "."
        )
        letter = notify(
            session,
            service,
            case,
            to=handler,
            why=why,
            code=f"handler/stage{case.stage}",
            now=now,
            base_url=base_url,
            actor=actor,
        )
        notes.append(f"{handler.role}: {'notified' if letter else 'not notified (no address)'}")
    for copy in stage.copies:
        letter = notify(
            session,
            service,
            case,
            to=copy,
            why=f"The procedure asks for a copy to you at Stage {case.stage} ({copy.source}).",
            code=f"copy/stage{case.stage}/{copy.role}",
            now=now,
            base_url=base_url,
            actor=actor,
        )
        notes.append(f"copy to {copy.role}: {'sent' if letter else 'not sent (no address)'}")
    return notes


def _started_later(service: Service, case: Case) -> bool:
    """A complaint about the coordinator that the procedure starts at a later stage."""
    r = service.route("about_coordinator")
    return r is not None and r.start_stage == case.stage and case.stage > 1


def passed_on(
    session: Session, service: Service, case: Case, now: datetime, base_url: str
) -> tuple[str, ...]:
    """A compliment or comment is passed to the service's contact (durham L28, L30;
    staffordshire L29-33). The reader phrases of those told, for the thanks letter."""
    contact = service.contact
    if not contact.email:
        return ()
    kind = case.kind.replace("_", " ")
    letter = notify(
        session,
        service,
        case,
        to=contact,
        why=(
            f"A {kind} for the service: please pass it to the person concerned and their "
            "manager, or discuss it with the team."
        ),
        code=f"passed_on/{case.kind}",
        now=now,
        base_url=base_url,
    )
    return (contact.phrase,) if letter is not None else ()


# ------------------------------------------------------------------------------- access


def may(user: Viewer, case: Case, need: str, ordinary: bool) -> bool:
    """Whether ``user`` may ``need`` (open | bodies | act | learning) ``case``; ``ordinary`` is
    the answer of the role and service check. A restricted case: its handler may do
    everything; a manager of the service may open it and write the learning record; nobody
    else (the service's coordinators included) may see it."""
    if not case.restricted:
        return ordinary
    if case.handler and user.email.lower() == case.handler.lower():
        return True
    return ordinary and need in ("open", "learning") and user.is_manager


def assignable(session: Session, service: Service, email: str) -> Contact | None:
    """The person ``email`` names if a case of ``service`` may be assigned to them: an active
    account that may work the service's cases, or a handler or copy address in its file."""
    email = email.strip().lower()
    for st in service.stages:
        for c in (st.handler, *st.copies):
            if c.email and c.email == email:
                return c
    user = session.scalar(select(User).where(func.lower(User.email) == email))
    if user is None or not user.active:
        return None
    roles = set(user.roles or ())
    services = set(user.services or ())
    if roles & {"coordinator", "manager"} and (not services or service.key in services):
        return Contact(role="case handler", email=email)
    return None


def handler_addresses(service: Service) -> list[str]:
    """The configured stage-handler and copy addresses, for the assign form."""
    out: list[str] = []
    for st in service.stages:
        for c in (st.handler, *st.copies):
            if c.email and c.email not in out:
                out.append(c.email)
    return out
