"""Which letter a message gets, and whether it leaves at once, waits for a person, or is
never written.

The policy is code with defaults (:data:`DEFAULT_POLICY`); a service can be given its own
:class:`LetterPolicy` in :data:`SERVICE_POLICIES`.

==========================  ===============================  ===================================
message                     letter                           sent
==========================  ===============================  ===================================
complaint                   ``complaint_ack``                at once if confident and unflagged
complaint, out of scope     ``out_of_scope``                 held (out of scope is a flag)
complaint about the         ``complaint_ack`` naming the     held (a flag): the letter names
coordinator                 next stage's handler             the next stage's handler
stage2_request              ``next_stage_ack``               at once if confident and unflagged
compliment                  ``compliment_thanks``            at once if confident and unflagged
comment                     ``comment_thanks``               at once if confident and unflagged
enquiry, automated          none                             -
safeguarding flag           no letter to the sender; a       at once, to ``coordinator_email``,
                            ``safeguarding_alert``           without the message text
reply on an existing case   none (an alert if safeguarding)  -
==========================  ===============================  ===================================

"Confident and unflagged" means the route and deadline stages left no hold reason
(``ctx.hold_reasons``: the model not confident or contradicted by a rule (or, without a
model, low confidence), safeguarding, about the coordinator, out of scope, an eligibility check
that failed). A letter is also held when the Reply-To differs from the
From address (we write to From), when more than ``daily_cap_per_sender`` letters have gone to
the address in 24 hours, or when the service's policy turns automatic sending off.

Never written: to mail with an automated verdict (auto-replies, bounces, lists), to
no-reply/mailer-daemon style addresses, to any address of any configured service (mailboxes,
coordinators, handlers), or to an address that is not well formed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.automated import sender_is_machine
from bot.letters import STAFF_PURPOSES
from bot.letters.mime import BadAddress, parse_address
from bot.models import OutboxLetter
from bot.recipients import normalise_address
from bot.services import Service


@dataclass(frozen=True)
class LetterPolicy:
    #: Send letters without a person's approval when nothing is flagged.
    auto_send: bool = True
    #: At most this many letters (other than staff alerts) to one address in 24 hours;
    #: further ones are held.
    daily_cap_per_sender: int = 3


DEFAULT_POLICY = LetterPolicy()
#: Per-service exceptions to :data:`DEFAULT_POLICY`, by service key.
SERVICE_POLICIES: dict[str, LetterPolicy] = {}


def policy_for(service_key: str) -> LetterPolicy:
    return SERVICE_POLICIES.get(service_key, DEFAULT_POLICY)


KIND_LETTERS: Mapping[str, str] = {
    "complaint": "complaint_ack",
    "stage2_request": "next_stage_ack",
    "compliment": "compliment_thanks",
    "comment": "comment_thanks",
}


def letter_for(kind: str, out_of_scope: bool) -> str | None:
    if kind == "complaint" and out_of_scope:
        return "out_of_scope"
    return KIND_LETTERS.get(kind)


def own_addresses(services: Iterable[Service]) -> frozenset[str]:
    """Every address a configured service uses: we never write a letter to one."""
    out: set[str] = set()
    for s in services:
        out.update(a.lower() for a in s.addresses)
        out.add(s.coordinator_email.lower())
        if s.contact.email:
            out.add(s.contact.email.lower())
        out.update(st.handler.email.lower() for st in s.stages if st.handler.email)
    return frozenset(out)


def refusal(from_addr: str, automated_reason: str | None, own: frozenset[str]) -> str | None:
    """Why no letter may be written to ``from_addr`` at all, or None."""
    if automated_reason:
        return f"automated mail ({automated_reason})"
    if not from_addr:
        return "no sender address"
    if sender_is_machine(from_addr):
        return f"machine address {from_addr}"
    if from_addr.lower() in own:
        return f"{from_addr} is one of our own addresses"
    try:
        parse_address(from_addr)
    except BadAddress as exc:
        return str(exc)
    return None


def letters_in_last_day(session: Session, to_addr: str, now: datetime) -> int:
    """Letters (not staff alerts, not discarded) to ``to_addr`` in the 24 hours before ``now``,
    counting those written earlier in this transaction and not yet flushed. Addresses are
    compared without case and without a ``+tag`` (``victim+1@`` is ``victim@``)."""
    since = now - timedelta(hours=24)
    key = normalise_address(to_addr)
    with session.no_autoflush:
        stored = session.scalar(
            select(func.count())
            .select_from(OutboxLetter)
            .where(
                OutboxLetter.to_key == key,  # kept in step with to_addr (bot/models.py)
                OutboxLetter.created_at >= since,
                OutboxLetter.purpose.not_in(STAFF_PURPOSES),
                OutboxLetter.status != "discarded",
            )
        )
    pending = sum(
        1
        for obj in session.new
        if isinstance(obj, OutboxLetter) and obj.purpose not in STAFF_PURPOSES and obj.to_key == key
    )
    return (stored or 0) + pending


def hold_reasons(
    session: Session,
    policy: LetterPolicy,
    route_holds: list[str],
    from_addr: str,
    reply_to: str | None,
    now: datetime,
) -> list[str]:
    """Why a person must approve this letter first (empty: send it at once)."""
    holds = list(route_holds)
    if reply_to and reply_to.strip().lower() != from_addr.lower():
        holds.append(f"Reply-To ({reply_to}) differs from From ({from_addr}); we write to From")
    if not policy.auto_send:
        holds.append("automatic letters are turned off for this service")
    sent = letters_in_last_day(session, from_addr, now)
    if sent >= policy.daily_cap_per_sender:
        holds.append(
            f"per-sender limit: {sent} letter(s) to this address in the last 24 hours "
            f"(limit {policy.daily_cap_per_sender})"
        )
    return holds
