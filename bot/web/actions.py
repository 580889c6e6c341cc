"""What a person does to a case from the web UI. Every change writes a case event with the
user as actor, and every change of state goes through :func:`bot.lifecycle.transition`.

Each function works in the caller's transaction and raises :class:`ActionError` (a message
for the person) when the action cannot be done; the caller rolls back.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import routing
from bot.casestate import apply_state, state_of
from bot.deadlines import check_event_window, initial_deadlines, parse_event_date
from bot.learning import record_label, update_event_date
from bot.letters.outbox import queue_letter
from bot.letters.policy import letter_for, own_addresses, refusal
from bot.lifecycle import (
    Action,
    ClosureReason,
    InvalidTransition,
    Status,
    open_case,
    transition,
)
from bot.models import (
    Case,
    CaseEvent,
    CaseFile,
    CaseNote,
    LearningRecord,
    Message,
    OutboxLetter,
)
from bot.pipeline.stages import next_reference
from bot.services import Service
from bot.web.security import Principal
from bot.workdays import to_london

KINDS = ("complaint", "stage2_request", "comment", "compliment", "enquiry", "automated")
FLAG_NAMES = ("safeguarding", "about_coordinator", "out_of_scope")
#: Kinds that keep a case in the queue once a person has confirmed them.
PERSON_KINDS = frozenset({"complaint", "stage2_request", "enquiry"})
OUTCOMES = ("upheld", "partly_upheld", "not_upheld")
JUSTIFICATIONS = ("justified", "part_justified", "unjustified")
CHANNELS = ("phone", "in_person", "letter", "email")
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
_EMAIL_RE = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


class ActionError(Exception):
    """An action that cannot be done as asked; the message is shown to the person."""


@dataclass(frozen=True)
class Ctx:
    """Who acts, when, and with which services."""

    session: Session
    user: Principal
    now: datetime
    services: Mapping[str, Service]
    base_url: str = ""  # web.base_url: notifications link to the case under it

    def today(self, service: Service) -> date:
        return to_london(self.now, service.tz).date()


def record(ctx: Ctx, case: Case, kind: str, detail: dict[str, Any]) -> None:
    ctx.session.add(
        CaseEvent(case=case, at=ctx.now, actor=ctx.user.actor, kind=kind, detail=detail)
    )


def _touch(ctx: Ctx, case: Case) -> None:
    case.updated_at = ctx.now


def valid_email(addr: str) -> bool:
    return bool(_EMAIL_RE.match(addr)) and len(addr) <= 320


# ---------------------------------------------------------------------------- lifecycle


def apply_transition(
    ctx: Ctx,
    case: Case,
    action: Action,
    on: date | datetime,
    *,
    reason: str | None = None,
    new_date: date | None = None,
    note: str = "",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``action`` through the lifecycle and store the result and its event."""
    service = ctx.services[case.service]
    before = state_of(case, service)
    try:
        after, event = transition(
            before, action, service, on, reason=reason, new_date=new_date, note=note
        )
    except InvalidTransition as exc:
        raise ActionError(str(exc)) from None
    apply_state(case, after)
    deadlines = dict(case.deadlines or {})
    explain = dict(deadlines.get("explain") or {})
    if action is Action.EXTEND:
        explain["respond_by"] = event["explain"]
    elif action is Action.RESPOND:
        explain.update(event.get("explain") or {})
    elif action is Action.REQUEST_NEXT_STAGE:
        explain = dict(event["deadlines"]["explain"])
        deadlines["stage"] = after.stage
    deadlines.update(
        {
            "clock_starts": after.stage_started.isoformat(),
            "acknowledge_by": after.acknowledge_by.isoformat() if after.acknowledge_by else None,
            "respond_by": after.respond_by.isoformat() if after.respond_by else None,
            "explain": explain,
        }
    )
    case.deadlines = deadlines
    if action is Action.CLOSE:
        case.closed_at = ctx.now
        case.needs_person = False
    _touch(ctx, case)
    detail = {**event, **(extra or {})}
    record(ctx, case, event["action"], detail)
    return event


def acknowledge(ctx: Ctx, case: Case) -> str:
    service = ctx.services[case.service]
    ev = apply_transition(ctx, case, Action.ACKNOWLEDGE, ctx.today(service))
    return str(ev["description"])


def investigate(ctx: Ctx, case: Case) -> str:
    service = ctx.services[case.service]
    ev = apply_transition(ctx, case, Action.INVESTIGATE, ctx.today(service))
    return str(ev["description"])


# ------------------------------------------------------------------------ classification


def _classifier_said(case: Case) -> dict[str, Any]:
    c = case.classification or {}
    corrected = c.get("corrected")
    if isinstance(corrected, dict) and isinstance(corrected.get("original"), dict):
        return dict(corrected["original"])
    return {
        "kind": c.get("kind", case.kind),
        "confidence": c.get("confidence", case.confidence),
        **{k: bool(c.get(k, (case.flags or {}).get(k, False))) for k in FLAG_NAMES},
    }


def confirm_classification(ctx: Ctx, case: Case, kind: str, flags: Mapping[str, bool]) -> str:
    """Confirm or correct the kind and flags. The classifier's verdict and the person's are
    both kept (``case.classification["corrected"]`` and the event), so errors can be
    counted."""
    if kind not in KINDS:
        raise ActionError(f"unknown kind {kind!r}")
    service = ctx.services[case.service]
    original = _classifier_said(case)
    chosen: dict[str, Any] = {"kind": kind, **{k: bool(flags.get(k)) for k in FLAG_NAMES}}
    changed = [k for k in ("kind", *FLAG_NAMES) if chosen[k] != original.get(k)]
    previous_kind = case.kind
    previous_scope = bool((case.flags or {}).get("out_of_scope"))
    verdict = {
        **chosen,
        "original": original,
        "changed": changed,
        "by": ctx.user.actor,
        "at": ctx.now.isoformat(),
    }
    case.classification = {**(case.classification or {}), "corrected": verdict}
    case.kind = kind
    case.flags = {**(case.flags or {}), **{k: chosen[k] for k in FLAG_NAMES}}
    case.needs_person = kind in PERSON_KINDS or any(chosen[k] for k in FLAG_NAMES)
    _touch(ctx, case)
    record(
        ctx,
        case,
        "classification_corrected" if changed else "classification_confirmed",
        {"original": original, "corrected": chosen, "changed": changed},
    )
    record_label(ctx.session, case, chosen, original, changed, ctx.user.actor, ctx.now)
    notes = []
    about_changed = "about_coordinator" in changed and not case.restricted
    # a person says it is (or is not) about this service: the letter must say so
    scope_changed = chosen["out_of_scope"] != previous_scope
    if (
        (kind != previous_kind or about_changed or scope_changed)
        and case.status == Status.RECEIVED.value
        and not case.lifecycle
    ):
        d = initial_deadlines(service, case.received_at, kind, chosen["about_coordinator"])
        deadlines = {**d.to_json(), "checks": (case.deadlines or {}).get("checks", {})}
        case.deadlines = deadlines
        case.stage = d.stage
        case.clock_starts = d.clock_starts
        case.acknowledge_by = d.acknowledge_by
        case.respond_by = d.respond_by
        record(
            ctx,
            case,
            "deadlines_recomputed",
            {
                "kind": kind,
                "stage": d.stage,
                "acknowledge_by": deadlines["acknowledge_by"],
                "respond_by": deadlines["respond_by"],
            },
        )
        notes.append("deadlines recomputed")
        if about_changed:
            _withdraw_unsent_letter(ctx, case, "complaint_ack")
        old_purpose = letter_for(previous_kind, previous_scope)
        if (
            scope_changed
            and old_purpose
            and old_purpose != letter_for(kind, chosen["out_of_scope"])
        ):
            _withdraw_unsent_letter(ctx, case, old_purpose, "a person corrected the scope")
        letter = _letter_for_kind(ctx, case, kind, chosen["out_of_scope"])
        if letter is not None:
            notes.append(f"{letter.purpose} letter prepared for approval")
    if (
        chosen["about_coordinator"]
        and not case.restricted
        and kind in ("complaint", "stage2_request")
        and not chosen["out_of_scope"]
    ):
        # a person says the complaint is about the coordinator: it leaves their queue
        notes.extend(
            routing.enter_stage(ctx.session, service, case, ctx.now, ctx.base_url, ctx.user.actor)
        )
    word = "corrected" if changed else "confirmed"
    return f"classification {word}" + (f" ({', '.join(notes)})" if notes else "")


def _withdraw_unsent_letter(
    ctx: Ctx, case: Case, purpose: str, why: str = "the complaint was rerouted"
) -> None:
    """An unsent letter that no longer says what is true (it named the wrong handler) is
    discarded, on the trail, so that a corrected one can be prepared."""
    for letter in ctx.session.scalars(
        select(OutboxLetter).where(
            OutboxLetter.case_id == case.id,
            OutboxLetter.purpose == purpose,
            OutboxLetter.status.in_(("held", "pending", "failed")),
        )
    ):
        letter.status = "discarded"
        record(
            ctx,
            case,
            "letter_discarded",
            {"outbox_id": letter.id, "purpose": purpose, "why": why},
        )


def _letter_for_kind(ctx: Ctx, case: Case, kind: str, out_of_scope: bool) -> OutboxLetter | None:
    purpose = letter_for(kind, out_of_scope)
    if purpose is None:
        return None
    if refusal(case.sender_addr, None, own_addresses(ctx.services.values())) is not None:
        return None
    existing = ctx.session.scalars(
        select(OutboxLetter).where(OutboxLetter.case_id == case.id, OutboxLetter.purpose == purpose)
    ).all()
    if any(x.status != "discarded" for x in existing):
        return None
    ctx.session.flush()
    return queue_letter(
        ctx.session,
        ctx.services[case.service],
        case,
        purpose,
        ctx.now,
        discriminator=f"corrected{len(existing)}" if existing else None,
    )


def set_event_date(ctx: Ctx, case: Case, value: str) -> str:
    value = value.strip()
    try:
        parse_event_date(value)
    except ValueError as exc:
        raise ActionError(f"event date: {exc}") from None
    service = ctx.services[case.service]
    check = check_event_window(service, value, case.received_at).to_json()
    previous = case.event_date
    case.event_date = value
    deadlines = dict(case.deadlines or {})
    deadlines["checks"] = {**deadlines.get("checks", {}), "event_window": check}
    case.deadlines = deadlines
    flags = dict(case.flags or {})
    flags["within_12_months"] = check.get("ok")
    case.flags = flags
    _touch(ctx, case)
    record(ctx, case, "event_date_set", {"previous": previous, "event_date": value, "check": check})
    update_event_date(ctx.session, case, value)
    return f"event date set to {value}" + (
        f" ({check.get('evidence')})" if check.get("ok") is False else ""
    )


# ------------------------------------------------------------------------------ letters


def _letter(ctx: Ctx, case: Case, letter_id: int) -> OutboxLetter:
    letter = ctx.session.get(OutboxLetter, letter_id, with_for_update=True)
    if letter is None or letter.case_id != case.id:
        raise ActionError(f"letter {letter_id} is not a letter of {case.reference}")
    return letter


def _move_letter(ctx: Ctx, case: Case, letter_id: int, allowed: tuple[str, ...], to: str) -> str:
    letter = _letter(ctx, case, letter_id)
    if letter.status not in allowed:
        raise ActionError(
            f"letter {letter_id} is {letter.status}; only a letter that is "
            f"{' or '.join(allowed)} can be {'approved' if to == 'pending' else 'discarded'}"
        )
    before = letter.status
    letter.status = to
    letter.next_attempt_at = None
    if to == "pending":
        letter.attempts = 0
    _touch(ctx, case)
    kind = "letter_approved" if to == "pending" else "letter_discarded"
    record(ctx, case, kind, {"outbox_id": letter.id, "purpose": letter.purpose, "from": before})
    return (
        f"{letter.purpose} letter {'approved: it will be sent' if to == 'pending' else 'discarded'}"
    )


def approve_letter(ctx: Ctx, case: Case, letter_id: int) -> str:
    return _move_letter(ctx, case, letter_id, ("held", "failed"), "pending")


def discard_letter(ctx: Ctx, case: Case, letter_id: int) -> str:
    return _move_letter(ctx, case, letter_id, ("held", "pending", "failed"), "discarded")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def edit_letter(ctx: Ctx, case: Case, letter_id: int, subject: str, body: str) -> str:
    """Edit a held letter's subject and text. The HTML alternative is dropped, so what is
    sent is exactly the text the person approved."""
    letter = _letter(ctx, case, letter_id)
    if letter.status != "held":
        raise ActionError(f"letter {letter_id} is {letter.status}; only a held letter is edited")
    subject = " ".join(subject.split())
    body = body.replace("\r\n", "\n").strip() + "\n"
    if not subject or not body.strip():
        raise ActionError("a letter needs a subject and a text")
    if case.reference not in subject:
        subject = f"[{case.reference}] {subject}"
    before = {"subject": _digest(letter.subject), "text": _digest(letter.body_text)}
    letter.subject = subject
    letter.body_text = body
    letter.body_html = None
    _touch(ctx, case)
    record(
        ctx,
        case,
        "letter_edited",
        {
            "outbox_id": letter.id,
            "purpose": letter.purpose,
            "before_sha": before,
            "after_sha": {"subject": _digest(subject), "text": _digest(body)},
        },
    )
    return f"{letter.purpose} letter edited (still held: approve it to send)"


# ------------------------------------------------------------------------ people, links


def assign(ctx: Ctx, case: Case, handler: str) -> str:
    """Assign to an account that may work the case or a stage handler / copy address of the
    service file (anything else is refused), and tell them (bot.routing)."""
    handler = handler.strip().lower()
    if handler and not valid_email(handler):
        raise ActionError(f"handler: {handler!r} is not an email address")
    service = ctx.services[case.service]
    person = routing.assignable(ctx.session, service, handler) if handler else None
    if handler and person is None:
        raise ActionError(
            f"handler: {handler} is neither an account that may work {service.key} cases nor "
            f"a stage handler of its procedure ({', '.join(routing.handler_addresses(service))})"
        )
    previous = case.handler
    case.handler = handler or None
    _touch(ctx, case)
    record(ctx, case, "assigned", {"from": previous, "to": case.handler})
    if person is None:
        return "unassigned"
    letter = routing.notify(
        ctx.session,
        service,
        case,
        to=person,
        why=f"{case.reference} has been assigned to you by {ctx.user.email}.",
        code=f"assigned/{ctx.now.isoformat()}",
        now=ctx.now,
        base_url=ctx.base_url,
        actor=ctx.user.actor,
    )
    return f"assigned to {handler}" + ("; they have been notified" if letter else "")


def link_or_merge(ctx: Ctx, case: Case, other: Case, mode: str) -> str:
    """``link``: the two cases name each other. ``merge``: ``other`` is a duplicate; its
    messages, notes and files move here and it is closed (reason resolved, noted as merged)."""
    if other.id == case.id:
        raise ActionError("a case cannot be linked to itself")
    if mode == "link":
        for a, b in ((case, other), (other, case)):
            flags = dict(a.flags or {})
            flags["linked"] = sorted({*flags.get("linked", []), b.reference})
            a.flags = flags
            _touch(ctx, a)
            record(ctx, a, "linked", {"with": b.reference})
        return f"linked with {other.reference}"
    if mode != "merge":
        raise ActionError(f"unknown mode {mode!r}")
    if other.service != case.service:
        raise ActionError("only cases of the same service can be merged")
    if other.merged_into_id is not None:
        raise ActionError(f"{other.reference} is already merged into another case")
    s = ctx.session
    moved: dict[str, int] = {}
    for name, model in (("messages", Message), ("notes", CaseNote), ("files", CaseFile)):
        result = s.execute(
            update(model)
            .where(model.case_id == other.id)
            .values(case_id=case.id)
            .execution_options(synchronize_session=False)
        )
        moved[name] = int(getattr(result, "rowcount", 0) or 0)
    s.expire(case, ["messages"])
    if other.status != Status.CLOSED.value:
        service = ctx.services[other.service]
        apply_transition(
            ctx,
            other,
            Action.CLOSE,
            ctx.today(service),
            reason=ClosureReason.RESOLVED.value,
            note=f"duplicate: merged into {case.reference}",
            extra={"merged_into": case.reference},
        )
    other.merged_into_id = case.id
    other.needs_person = False
    party = (other.sender_addr or "").strip().lower()
    if party and party != (case.sender_addr or "").lower():
        # The coordinator says this sender belongs to the case: their mail now threads onto it.
        flags = dict(case.flags or {})
        flags["parties"] = sorted({*flags.get("parties", []), party})
        case.flags = flags
    _touch(ctx, other)
    _touch(ctx, case)
    record(ctx, other, "merged_into", {"case": case.reference, "moved": moved})
    record(ctx, case, "merged_from", {"case": other.reference, "moved": moved})
    return f"{other.reference} merged into {case.reference}"


# --------------------------------------------------------------------- stage decisions


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class StageOutcome:
    """What a stage decided, as the procedures ask a response to say (durham L102-104,
    L140-142; coventry L44, L58; staffordshire L89-91, L115): upheld, partly upheld or not
    upheld, why, what will be done, and any remedy (durham L43-49)."""

    decision: str = ""
    reasons: str = ""
    actions: str = ""
    remedy: str = ""

    def to_json(self) -> dict[str, str | None]:
        return {
            "decision": self.decision or None,
            "reasons": self.reasons.strip(),
            "actions": self.actions.strip(),
            "remedy": self.remedy.strip(),
        }


def record_response(
    ctx: Ctx,
    case: Case,
    on: date,
    summary: str,
    upload: Upload | None,
    send_letter: bool,
    outcome: StageOutcome | None = None,
) -> str:
    """The stage's response was sent on ``on``: starts the window for asking for the next
    stage (``next_stage_request_by``). ``outcome`` is recorded on the case and the trail and
    goes into the response letter."""
    summary = summary.strip()
    if not summary:
        raise ActionError("give a summary of the response")
    outcome = outcome or StageOutcome()
    if outcome.decision and outcome.decision not in OUTCOMES:
        raise ActionError(f"unknown decision {outcome.decision!r}")
    stage_no = case.stage
    extra: dict[str, Any] = {"outcome": outcome.to_json()}
    if upload is not None:
        if len(upload.content) > MAX_UPLOAD_BYTES:
            raise ActionError(f"the file is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        f = CaseFile(
            case_id=case.id,
            filename=upload.filename[:500],
            content_type=upload.content_type[:200] or "application/octet-stream",
            size=len(upload.content),
            content=upload.content,
            uploaded_by=ctx.user.email,
            at=ctx.now,
        )
        ctx.session.add(f)
        ctx.session.flush()
        extra["file"] = {"id": f.id, "filename": f.filename, "size": f.size}
    ev = apply_transition(ctx, case, Action.RESPOND, on, extra=extra)
    if outcome.decision:
        case.outcome = outcome.decision
    ctx.session.add(
        CaseNote(
            case_id=case.id, kind="stage_response", text=summary, author=ctx.user.email, at=ctx.now
        )
    )
    message = str(ev["description"])
    if send_letter and case.sender_addr:
        service = ctx.services[case.service]
        purpose = "final_stage" if service.stage(stage_no).final else "stage_response"
        letter = queue_letter(
            ctx.session,
            service,
            case,
            purpose,
            ctx.now,
            extra={
                "response_date": on,
                "outcome_summary": summary,
                "next_stage_request_by": case.next_stage_request_by,
                **outcome.to_json(),
            },
            discriminator=f"stage{stage_no}",
        )
        message += f"; {letter.purpose} letter prepared for approval"
    return message


def extend_deadline(ctx: Ctx, case: Case, new_date: date, reason: str) -> str:
    """Move the response date (the procedure must allow it) and send the extension letter."""
    previous = case.respond_by
    service = ctx.services[case.service]
    ev = apply_transition(
        ctx, case, Action.EXTEND, ctx.today(service), reason=reason, new_date=new_date
    )
    message = str(ev["description"])
    if (
        case.sender_addr
        and refusal(case.sender_addr, None, own_addresses(ctx.services.values())) is None
    ):
        queue_letter(
            ctx.session,
            service,
            case,
            "extension_notice",
            ctx.now,
            extra={"new_date": new_date, "reason": reason.strip(), "previous_date": previous},
            discriminator=new_date.isoformat(),
            status="pending",
        )
        message += "; extension letter sent to the outbox"
    return message


def next_stage(ctx: Ctx, case: Case, requested_on: date | None) -> str:
    on: date | datetime = requested_on if requested_on is not None else ctx.now
    ev = apply_transition(ctx, case, Action.REQUEST_NEXT_STAGE, on)
    message = str(ev["description"])
    told = routing.enter_stage(
        ctx.session, ctx.services[case.service], case, ctx.now, ctx.base_url, ctx.user.actor
    )
    if told:
        message += "; " + "; ".join(told)
    if (
        case.sender_addr
        and refusal(case.sender_addr, None, own_addresses(ctx.services.values())) is None
    ):
        queue_letter(
            ctx.session,
            ctx.services[case.service],
            case,
            "next_stage_ack",
            ctx.now,
            discriminator=f"stage{case.stage}",
        )
        message += "; acknowledgement prepared for approval"
    return message


def withdraw(ctx: Ctx, case: Case, note: str) -> str:
    service = ctx.services[case.service]
    ev = apply_transition(
        ctx, case, Action.CLOSE, ctx.today(service), reason="withdrawn", note=note.strip()
    )
    return str(ev["description"])


def close(ctx: Ctx, case: Case, reason: str, outcome: str, justification: str, note: str) -> str:
    if outcome and outcome not in OUTCOMES:
        raise ActionError(f"unknown outcome {outcome!r}")
    if justification and justification not in JUSTIFICATIONS:
        raise ActionError(f"unknown finding {justification!r}")
    service = ctx.services[case.service]
    ev = apply_transition(
        ctx,
        case,
        Action.CLOSE,
        ctx.today(service),
        reason=reason,
        note=note.strip(),
        extra={"outcome": outcome or None, "justification": justification or None},
    )
    case.outcome = outcome or None
    case.justification = justification or None
    return str(ev["description"])


def advice_given(ctx: Ctx, case: Case, note: str = "") -> str:
    """Close an advice enquiry in one step: the advice was given (by phone, by email...).
    Only an enquiry, and not one flagged for safeguarding (that needs a person's decision on
    the case page). Recorded on the trail like any closure, reason ``advice_given``."""
    if case.kind != "enquiry":
        raise ActionError(
            f"{case.reference} is a {case.kind.replace('_', ' ')}, not an enquiry: "
            "close it from its page with a reason"
        )
    if case.safeguarding:
        raise ActionError(
            f"{case.reference} is flagged for safeguarding: open the case and decide there"
        )
    service = ctx.services[case.service]
    ev = apply_transition(
        ctx,
        case,
        Action.CLOSE,
        ctx.today(service),
        reason=ClosureReason.ADVICE_GIVEN.value,
        note=note.strip(),
    )
    return f"{case.reference}: {ev['description']}"


def save_learning(
    ctx: Ctx, case: Case, you_said: str, we_did: str, what_else: str, justification: str
) -> str:
    if justification and justification not in JUSTIFICATIONS:
        raise ActionError(f"unknown finding {justification!r}")
    if not (you_said.strip() or we_did.strip() or what_else.strip()):
        raise ActionError("the learning record is empty")
    rec = ctx.session.scalar(select(LearningRecord).where(LearningRecord.case_id == case.id))
    created = rec is None
    if rec is None:
        rec = LearningRecord(
            case_id=case.id, service=case.service, created_by=ctx.user.email, created_at=ctx.now
        )
        ctx.session.add(rec)
    rec.you_said = you_said.strip()
    rec.we_did = we_did.strip()
    rec.what_else = what_else.strip()
    rec.justification = justification or None
    rec.updated_by = ctx.user.email
    rec.updated_at = ctx.now
    _touch(ctx, case)
    record(
        ctx,
        case,
        "learning_recorded",
        {"created": created, "justification": rec.justification},
    )
    return "learning record saved"


# --------------------------------------------------------------- complaints by phone


@dataclass(frozen=True)
class NewCase:
    service: str
    channel: str
    via_mp: bool
    kind: str
    sender_name: str
    sender_addr: str
    received_at: datetime
    summary: str
    about_coordinator: bool = False
    safeguarding: bool = False


def log_case(ctx: Ctx, new: NewCase) -> Case:
    """A complaint (or comment, compliment...) made by phone, in person or by letter."""
    if new.service not in ctx.services:
        raise ActionError(f"unknown service {new.service!r}")
    if new.channel not in CHANNELS:
        raise ActionError(f"unknown channel {new.channel!r}")
    if new.kind not in KINDS or new.kind == "automated":
        raise ActionError(f"unknown kind {new.kind!r}")
    addr = new.sender_addr.strip().lower()
    if addr and not valid_email(addr):
        raise ActionError(f"{addr!r} is not an email address")
    if not new.sender_name.strip():
        raise ActionError("give the name of the person who complained")
    if not new.summary.strip():
        raise ActionError("give a summary of what they said")
    service = ctx.services[new.service]
    s = ctx.session
    d = initial_deadlines(service, new.received_at, new.kind, new.about_coordinator)
    state, opened = open_case(service, new.received_at, new.kind, new.about_coordinator)
    year = to_london(new.received_at, service.tz).year
    case = Case(
        reference=next_reference(s, service.reference_prefix, service.key, year),
        service=service.key,
        kind=new.kind,
        status=state.status.value,
        stage=state.stage,
        needs_person=True,
        confidence=None,
        flags={
            "safeguarding": new.safeguarding,
            "about_coordinator": new.about_coordinator,
            "out_of_scope": False,
            "within_12_months": None,
            "hold_reasons": [],
        },
        sender_addr=addr,
        sender_name=" ".join(new.sender_name.split())[:200],
        subject=f"{new.kind.replace('_', ' ')} by {new.channel.replace('_', ' ')}",
        received_at=new.received_at,
        clock_starts=d.clock_starts,
        acknowledge_by=d.acknowledge_by,
        respond_by=d.respond_by,
        deadlines={**d.to_json(), "checks": {}},
        classification={"kind": new.kind, "confidence": None, "source": "person", "reasons": []},
        lifecycle=state.to_json(),
        channel=new.channel,
        via_mp=new.via_mp,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    s.add(case)
    s.flush()
    record(
        ctx,
        case,
        "logged",
        {"channel": new.channel, "via_mp": new.via_mp, "kind": new.kind},
    )
    record(ctx, case, "open", opened)
    s.add(
        CaseNote(
            case_id=case.id,
            kind="intake",
            text=new.summary.strip(),
            author=ctx.user.email,
            at=ctx.now,
        )
    )
    if addr and not new.safeguarding:
        _letter_for_kind(ctx, case, new.kind, False)
    return case
