"""A coordinator's workbench (issue 15): case operations shared by the web UI, the CLI and
the pipeline, each in the caller's transaction, each on the case's trail.

- Safeguarding: the flag is cleared only with a reason and an explicit confirmation
  (:func:`clear_safeguarding`); an untick elsewhere never clears it. Recording the action
  taken (:func:`record_safeguarding_action`) takes the case out of "look today" and keeps the
  flag; a safeguarding case is not closed without one (:func:`check_closable`). A new
  safeguarding message on the case asks for a new look (:func:`renew_safeguarding`).
- Conversation: internal notes (:func:`add_note`, never sent); a free-text reply to the
  family (:func:`draft_reply`, then :func:`queue_reply` after the person has seen the
  preview) threaded to the family's last message and signed by the service; canned replies
  kept as text files per service (:func:`canned_replies`).
- Activity: when each person last opened a case (:func:`mark_opened`); a family reply to a
  closed case reopens it (:func:`reopen_on_reply`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import resources
from bot.casestate import add_event, apply_state, state_of
from bot.letters.context import CaseFacts, base_context
from bot.letters.mime import clean_text, message_ids, new_message_id
from bot.letters.outbox import idempotency_key
from bot.letters.policy import own_addresses, refusal
from bot.letters.render import renderer_for
from bot.lifecycle import InvalidTransition, Status, reopen
from bot.models import Case, CaseNote, CaseRead, Message, OutboxLetter
from bot.services import Service


class CaseError(Exception):
    """An operation that cannot be done as asked; the message is for the person."""


# ---------------------------------------------------------------------------- safeguarding

#: What was done about a safeguarding concern (code: how the trail and the page say it).
SAFEGUARDING_ACTIONS: dict[str, str] = {
    "referred_childrens_social_care": "referred to children's social care",
    "referred_police": "referred to the police",
    "called_parent": "called the parent or carer",
    "designated_lead": "passed to the designated safeguarding lead",
    "already_known": "checked: already known to children's social care",
    "advice_given": "gave the family safeguarding advice and contacts",
    "no_further_action": "no further action",
    "other": "other",
}
#: Actions that need the details written down (why no further action; what else).
NEEDS_DETAILS = frozenset({"no_further_action", "other"})
MAX_TEXT = 20_000


def _flagged(case: Case) -> bool:
    return bool((case.flags or {}).get("safeguarding"))


def record_safeguarding_action(
    session: Session,
    case: Case,
    actor: str,
    now: datetime,
    what: str,
    who: str,
    details: str,
) -> str:
    """Who did what about the concern: the case leaves "look today", the flag stays."""
    if not _flagged(case):
        raise CaseError("this case has no safeguarding flag: there is no action to record")
    if what not in SAFEGUARDING_ACTIONS:
        raise CaseError(
            f"action taken: choose one of {', '.join(SAFEGUARDING_ACTIONS)} (got {what!r})"
        )
    who = " ".join(who.split())[:200]
    details = details.strip()[:MAX_TEXT]
    if not who:
        raise CaseError("action taken: say who took it")
    if what in NEEDS_DETAILS and not details:
        why = "why no further action is needed" if what == "no_further_action" else "what was done"
        raise CaseError(f"action taken: {SAFEGUARDING_ACTIONS[what]} needs details ({why})")
    flags = dict(case.flags or {})
    flags["safeguarding_action"] = {"what": what, "by": actor, "at": now.isoformat()}
    case.flags = flags
    case.updated_at = now
    add_event(
        session,
        case,
        now,
        "safeguarding_action",
        {
            "description": f"safeguarding action recorded: {SAFEGUARDING_ACTIONS[what]}",
            "action": what,
            "who": who,
            **({"note": details} if details else {}),
        },
        actor=actor,
    )
    return (
        f"safeguarding action recorded ({SAFEGUARDING_ACTIONS[what]}); the flag stays on the case"
    )


def clear_safeguarding(
    session: Session, case: Case, actor: str, now: datetime, reason: str, confirmed: bool
) -> str:
    """Clear the safeguarding flag: only with a reason and an explicit confirmation."""
    if not _flagged(case):
        raise CaseError("this case has no safeguarding flag to clear")
    reason = reason.strip()[:MAX_TEXT]
    if len(reason) < 10:
        raise CaseError("clearing the safeguarding flag needs a reason (a sentence at least)")
    if not confirmed:
        raise CaseError(
            "clearing the safeguarding flag needs the confirmation box ticked: nothing changed"
        )
    flags = dict(case.flags or {})
    flags["safeguarding"] = False
    previous_action = flags.pop("safeguarding_action", None)
    case.flags = flags
    case.updated_at = now
    add_event(
        session,
        case,
        now,
        "safeguarding_cleared",
        {
            "description": "safeguarding flag cleared (confirmed)",
            # under "note": free text, scrubbed by retention like every note (bot/ops)
            "note": reason,
            "had_action": bool(previous_action),
        },
        actor=actor,
    )
    return "safeguarding flag cleared; the reason is on the trail"


def renew_safeguarding(case: Case) -> None:
    """A new message with safeguarding content: flagged, and a recorded action no longer
    covers it (the case is "look today" again)."""
    flags = dict(case.flags or {})
    flags["safeguarding"] = True
    flags.pop("safeguarding_action", None)
    case.flags = flags


def check_closable(case: Case) -> None:
    """A safeguarding case is closed only once the action taken is recorded."""
    if _flagged(case) and not (case.flags or {}).get("safeguarding_action"):
        raise CaseError(
            f"{case.reference} has a safeguarding flag and no recorded action: record the "
            "action taken (Safeguarding, on the case page) before closing it"
        )


# ---------------------------------------------------------------------------------- notes


def add_note(session: Session, case: Case, author_email: str, now: datetime, text: str) -> str:
    """An internal note: never sent, on the conversation and the trail."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise CaseError("the note is empty")
    if len(text) > MAX_TEXT:
        raise CaseError(f"the note is over {MAX_TEXT} characters")
    note = CaseNote(case_id=case.id, kind="note", text=text, author=author_email, at=now)
    session.add(note)
    session.flush()
    case.updated_at = now
    add_event(
        session,
        case,
        now,
        "note_added",
        # the text under "note": shown to those who read bodies, scrubbed by retention
        {"description": "internal note added (not sent)", "note_id": note.id, "note": text},
        actor=f"user:{author_email}",
    )
    return "internal note added (it is not sent to anyone)"


# --------------------------------------------------------------------------------- replies

REPLY_PURPOSE = "reply"
_RE = re.compile(r"^\s*((re|fwd?|aw)\s*:\s*|\[[A-Z]{2,5}-\d{4}-\d{3,6}\]\s*)+", re.I)


@dataclass(frozen=True)
class ReplyDraft:
    """A free-text letter to the family, exactly as it will be sent."""

    to_addr: str
    subject: str
    body: str
    in_reply_to: str | None
    references: tuple[str, ...]
    token: str  # fixed at preview: sending the same preview twice queues one letter


def family_addresses(case: Case) -> set[str]:
    parties = {str(x).lower() for x in (case.flags or {}).get("parties") or []}
    return {a for a in {(case.sender_addr or "").lower(), *parties} if a}


def last_family_message(session: Session, case: Case) -> Message | None:
    """The family's latest email on the case (what a reply threads to)."""
    family = family_addresses(case)
    if not family:
        return None
    rows = session.scalars(
        select(Message)
        .where(
            Message.case_id == case.id,
            Message.direction == "in",
            Message.disposition != "discarded",
        )
        .order_by(Message.arrived_at.desc(), Message.id.desc())
    )
    for m in rows:
        if (m.from_addr or "").lower() in family and not m.automated_reason:
            return m
    return None


def default_subject(session: Session, case: Case) -> str:
    last = last_family_message(session, case)
    base = _RE.sub("", clean_text(last.subject if last else "", 200)).strip()
    return f"Re: {base}" if base else "Your message to us"


def _signature(service: Service, case: Case) -> str:
    env = renderer_for().env(service.key)
    text = env.get_template("_reply_signature.txt").render(
        base_context(service, CaseFacts.of(case))
    )
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in text.splitlines()))


def draft_reply(
    session: Session, services: dict[str, Service] | Any, case: Case, subject: str, text: str
) -> ReplyDraft:
    """The letter a person's text becomes: greeting, their text, the service's signature;
    the case reference in the subject; threaded to the family's last message."""
    service = services[case.service]
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise CaseError("the reply is empty")
    if len(text) > MAX_TEXT:
        raise CaseError(f"the reply is over {MAX_TEXT} characters")
    to_addr = (case.sender_addr or "").strip()
    if not to_addr:
        raise CaseError(f"{case.reference} has no email address to reply to")
    why_not = refusal(to_addr, None, own_addresses(services.values()))
    if why_not is not None:
        raise CaseError(f"no reply is sent to {to_addr}: {why_not}")
    subject = clean_text(subject, 250) or default_subject(session, case)
    if case.reference not in subject:
        subject = f"[{case.reference}] {subject}"
    facts = CaseFacts.of(case)
    greeting = base_context(service, facts)["recipient_name"]
    opening = f"Dear {greeting}," if greeting else "Hello,"
    body = f"{opening}\n\n{text}\n\n{_signature(service, case).strip()}\n"
    last = last_family_message(session, case)
    in_reply_to = None
    refs: list[str] = []
    if last is not None and not last.message_id_synthesised:
        in_reply_to = last.message_id
        refs = message_ids([*(last.references or []), last.message_id])[-10:]
    token = hashlib.sha256(
        "\x00".join([case.reference, subject, body, in_reply_to or ""]).encode("utf-8")
    ).hexdigest()[:24]
    return ReplyDraft(to_addr, subject, body, in_reply_to, tuple(refs), token)


def queue_reply(
    session: Session,
    service: Service,
    case: Case,
    draft: ReplyDraft,
    actor: str,
    now: datetime,
) -> tuple[OutboxLetter, bool]:
    """Queue the previewed reply (pending: a person wrote and checked it). Returns the
    letter and whether it is new (False: this preview was already sent)."""
    key = idempotency_key(case, REPLY_PURPOSE, draft.token)
    existing = session.scalar(select(OutboxLetter).where(OutboxLetter.idempotency_key == key))
    if existing is not None:
        return existing, False
    from_addr = service.addresses[0]
    letter = OutboxLetter(
        case=case,
        service=service.key,
        purpose=REPLY_PURPOSE,
        idempotency_key=key,
        status="pending",
        to_addr=draft.to_addr,
        from_addr=from_addr,
        subject=draft.subject,
        body_text=draft.body,
        body_html=None,
        message_id=new_message_id(from_addr),
        in_reply_to=draft.in_reply_to,
        references=list(draft.references),
        hold_reason=None,
        attempts=0,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(letter)
            session.flush()
    except IntegrityError:
        found = session.scalar(select(OutboxLetter).where(OutboxLetter.idempotency_key == key))
        if found is None:
            raise
        return found, False
    case.updated_at = now
    add_event(
        session,
        case,
        now,
        "reply_queued",
        {
            "description": "a reply written by a person was queued to the family",
            "outbox_id": letter.id,
            "to": draft.to_addr,
            "in_reply_to": draft.in_reply_to,
        },
        actor=actor,
    )
    return letter, True


def canned_dir() -> Path:
    return resources.templates("letters") / "canned"


def canned_replies(service_key: str) -> dict[str, str]:
    """Canned replies: ``templates/letters/canned/<service>/*.txt`` over ``default/``; the
    file name (without ``.txt``) names it. Name to text, in name order."""
    found: dict[str, str] = {}
    for folder in (canned_dir() / "default", canned_dir() / service_key):
        if folder.is_dir():
            for f in sorted(folder.glob("*.txt")):
                found[f.stem] = f.read_text(encoding="utf-8").strip()
    return dict(sorted(found.items()))


# -------------------------------------------------------------------------------- letters

UNSENT = ("held", "pending", "failed")


def unsent_letters(session: Session, case: Case) -> list[OutboxLetter]:
    return list(
        session.scalars(
            select(OutboxLetter)
            .where(OutboxLetter.case_id == case.id, OutboxLetter.status.in_(UNSENT))
            .order_by(OutboxLetter.id)
        )
    )


def describe(letters: Sequence[OutboxLetter]) -> str:
    return ", ".join(f"{x.purpose.replace('_', ' ')} ({x.status})" for x in letters)


# ------------------------------------------------------------------------------- activity


def mark_opened(session: Session, case_id: int, email: str, now: datetime) -> None:
    """Remember that ``email`` opened the case now (for "new message since you looked")."""
    email = email.lower()
    row = session.scalar(
        select(CaseRead).where(CaseRead.case_id == case_id, CaseRead.user_email == email)
    )
    if row is not None:
        row.opened_at = max(row.opened_at, now)
        return
    try:
        with session.begin_nested():
            session.add(CaseRead(case_id=case_id, user_email=email, opened_at=now))
    except IntegrityError:  # opened in another tab at the same moment: theirs will do
        pass


def reopen_on_reply(session: Session, case: Case, service: Service, now: datetime) -> bool:
    """The family wrote to a closed case: it is reopened (on the trail). A case merged into
    another, or anonymised by retention, stays closed."""
    if case.status != Status.CLOSED.value or case.merged_into_id or case.anonymised_at:
        return False
    try:
        new, event = reopen(state_of(case, service), service, now)
    except InvalidTransition:
        return False
    apply_state(case, new)
    case.closed_at = None
    case.needs_person = True
    case.updated_at = now
    add_event(session, case, now, "reopen", event)
    return True
