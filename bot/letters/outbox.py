"""Writing letters to the outbox, in the caller's database transaction.

A letter row is written in the same transaction as the case event that causes it, so a
crash leaves either both or neither. Its ``idempotency_key`` (case reference and purpose,
unique in the database) makes a second letter for the same case and purpose impossible. The
Message-ID is fixed here, before any attempt to send, so every retry sends the same one and
replies to it thread back to the case.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.casestate import add_event
from bot.letters.context import CaseFacts, letter_context
from bot.letters.flood import FloodLimits, schedule
from bot.letters.mime import message_ids, new_message_id
from bot.letters.policy import hold_reasons, letter_for, own_addresses, policy_for, refusal
from bot.letters.render import LetterRenderer, renderer_for
from bot.models import Case, OutboxLetter
from bot.pipeline.context import Context, Outcome
from bot.services import Service

log = logging.getLogger(__name__)


def idempotency_key(case: Case, purpose: str, discriminator: str | None = None) -> str:
    key = f"{case.reference}/{purpose}"
    return f"{key}/{discriminator}" if discriminator else key


def add_letter(
    session: Session,
    *,
    service: Service,
    case: Case,
    purpose: str,
    key: str,
    to_addr: str,
    status: str,
    hold_reason: str | None,
    context: dict[str, Any],
    now: datetime,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    renderer: LetterRenderer | None = None,
) -> OutboxLetter:
    """Render ``purpose`` and add the outbox row, and its case event, to ``session``."""
    rendered = (renderer or renderer_for()).render(service.key, purpose, context)
    from_addr = service.addresses[0]
    letter = OutboxLetter(
        case=case,
        service=service.key,
        purpose=purpose,
        idempotency_key=key,
        status=status,
        to_addr=to_addr,
        from_addr=from_addr,
        subject=f"[{case.reference}] {rendered.subject}",
        body_text=rendered.text,
        body_html=rendered.html,
        message_id=new_message_id(from_addr),
        in_reply_to=in_reply_to,
        references=references or [],
        hold_reason=hold_reason,
        attempts=0,
        created_at=now,
    )
    session.add(letter)
    add_event(
        session,
        case,
        now,
        "letter_queued" if status == "pending" else "letter_held",
        {"purpose": purpose, "key": key, "to": to_addr, "hold_reason": hold_reason},
    )
    return letter


def queue_letter(
    session: Session,
    service: Service,
    case: Case,
    purpose: str,
    now: datetime,
    *,
    extra: dict[str, Any] | None = None,
    discriminator: str | None = None,
    status: str = "held",
    hold_reason: str | None = "prepared for a person to check and approve",
    renderer: LetterRenderer | None = None,
) -> OutboxLetter:
    """Queue a letter a person's action causes (an extension, a stage response), once.

    Returns the existing row when the same case, purpose and discriminator already has one.
    Held for approval unless ``status="pending"``.
    """
    key = idempotency_key(case, purpose, discriminator)
    existing = session.scalar(select(OutboxLetter).where(OutboxLetter.idempotency_key == key))
    if existing is not None:
        return existing
    context = letter_context(service, purpose, CaseFacts.of(case), extra)
    try:
        with session.begin_nested():
            letter = add_letter(
                session,
                service=service,
                case=case,
                purpose=purpose,
                key=key,
                to_addr=case.sender_addr,
                status=status,
                hold_reason=hold_reason if status == "held" else None,
                context=context,
                now=now,
                renderer=renderer,
            )
    except IntegrityError:
        found = session.scalar(select(OutboxLetter).where(OutboxLetter.idempotency_key == key))
        if found is None:
            raise
        return found
    return letter


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def write_reply_letters(
    ctx: Context,
    env_services: Mapping[str, Any],
    limits: FloodLimits | None = None,
    base_url: str = "",
) -> None:
    """The pipeline's ``reply`` stage: decide and write this message's letters, and tell the
    people the procedure names (:mod:`bot.routing`).

    ``env_services`` is the stage environment's services (:class:`Service` objects);
    ``limits`` the flood control (:mod:`bot.letters.flood`) for letters sent at once;
    ``base_url`` the web UI's address for links to the case."""
    from bot import routing  # routing writes letters through this module

    services = cast(Mapping[str, Service], env_services)
    p, c, case, msg = ctx.parsed, ctx.classification, ctx.case, ctx.message
    if ctx.outcome is not Outcome.CONTINUE or p is None or c is None or case is None:
        ctx.record("reply", "none", "no case")
        return
    service = services[ctx.source.service]
    session, now = ctx.session, ctx.now
    notes: list[str] = []
    in_reply_to = None if p.message_id_synthesised else p.message_id
    refs = message_ids([*p.references, *([in_reply_to] if in_reply_to else [])])

    new_case = msg is None or msg.disposition != "thread"
    if new_case and c.kind in ("complaint", "stage2_request") and not c.out_of_scope:
        # the stage's handler (never the person complained about) and the required copies
        notes.extend(routing.enter_stage(session, service, case, now, base_url))
    if c.safeguarding:
        # No generic letter; the coordinator hears at once, without the message text.
        key = idempotency_key(case, "safeguarding_alert", _digest(ctx.dedupe_key or p.message_id))
        add_letter(
            session,
            service=service,
            case=case,
            purpose="safeguarding_alert",
            key=key,
            to_addr=service.coordinator_email,
            status="pending",
            hold_reason=None,
            context=letter_context(
                service,
                "safeguarding_alert",
                CaseFacts.of(case),
                {"case_url": routing.case_url(base_url, case)},
            ),
            now=now,
            in_reply_to=in_reply_to,
            references=refs,
        )
        notes.append("safeguarding: coordinator alerted")
    if msg is not None and msg.disposition == "thread":
        ctx.record("reply", "none", "; ".join([*notes, "reply on an existing case"]))
        return
    if c.safeguarding:
        # A short reply to the family at once (a person will read it; 999 in danger), held
        # only if the service chooses (``[safeguarding] hold_reply``) or the sender is odd.
        why_not = refusal(p.from_addr, p.automated_reason, own_addresses(services.values()))
        if why_not is not None:
            ctx.record("reply", "alert", "; ".join([*notes, f"no reply: {why_not}"]))
            return
        holds = hold_reasons(session, policy_for(service.key), [], p.from_addr, p.reply_to, now)
        if service.safeguarding.hold_reply:
            holds.append("the service holds safeguarding replies for a coordinator")
        status = "held" if holds else "pending"
        add_letter(
            session,
            service=service,
            case=case,
            purpose="safeguarding_reply",
            key=idempotency_key(case, "safeguarding_reply"),
            to_addr=p.from_addr,
            status=status,
            hold_reason="; ".join(holds) or None,
            context=letter_context(service, "safeguarding_reply", CaseFacts.of(case)),
            now=now,
            in_reply_to=in_reply_to,
            references=refs,
        )
        ctx.record("reply", "alert", "; ".join([*notes, f"safeguarding_reply {status}", *holds]))
        return
    purpose = letter_for(c.kind, c.out_of_scope)
    if purpose is None:
        ctx.record("reply", "none", f"no letter for {c.kind}")
        return
    why_not = refusal(p.from_addr, p.automated_reason, own_addresses(services.values()))
    if why_not is not None:
        ctx.record("reply", "none", f"not written: {why_not}")
        return
    holds = hold_reasons(
        session, policy_for(service.key), ctx.hold_reasons, p.from_addr, p.reply_to, now
    )
    status = "held" if holds else "pending"
    facts = CaseFacts.of(case)
    if purpose in ("compliment_thanks", "comment_thanks"):
        # "passed on" only to people actually told
        facts = replace(facts, passed_to=routing.passed_on(session, service, case, now, base_url))
    send_at, waiting = (now, None)
    if status == "pending":
        send_at, waiting = schedule(session, service.key, p.from_addr, now, limits or FloodLimits())
    letter = add_letter(
        session,
        service=service,
        case=case,
        purpose=purpose,
        key=idempotency_key(case, purpose),
        to_addr=p.from_addr,
        status=status,
        hold_reason="; ".join(holds) or waiting,
        context=letter_context(service, purpose, facts),
        now=now,
        in_reply_to=in_reply_to,
        references=refs,
    )
    if waiting is not None:
        letter.next_attempt_at = send_at  # never dropped: the sender sends it then
        notes.append(waiting)
    ctx.record("reply", status, "; ".join([*notes, purpose, *holds]))
