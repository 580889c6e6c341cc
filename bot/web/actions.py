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

from bot import casework, procedure, routing
from bot.casestate import apply_state, state_of
from bot.deadlines import check_event_window, initial_deadlines, parse_event_date
from bot.figures import intake_figures
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
    #: whether an outbox sender has said it runs (None: not known), for truthful messages
    sender_running: bool | None = None

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


def queued(ctx: Ctx) -> str:
    """What happens to a letter queued now, truthfully."""
    if ctx.sender_running:
        return "queued; the sender sends it within a minute"
    if ctx.sender_running is False:
        return "queued: no outbox sender is running now, so it is sent when one runs"
    return "queued in the outbox"


def _letter_state(ctx: Ctx, letter: OutboxLetter) -> str:
    """What became of a letter a person's action wrote, as it is."""
    name = letter.purpose.replace("_", " ")
    if letter.status == "held":
        return f"{name} letter held for approval"
    if letter.status == "pending":
        return f"{name} letter {queued(ctx)}"
    return f"{name} letter {letter.status}"


def _casework(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except casework.CaseError as exc:
        raise ActionError(str(exc)) from None


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
    if action is Action.CLOSE:
        _casework(casework.check_closable, case)
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
    elif action in (Action.REQUEST_NEXT_STAGE, Action.FORMALISE, Action.DIRECT_TO_STAGE):
        explain = dict(event["deadlines"]["explain"])
        deadlines["stage"] = after.stage
    elif action is Action.SCHEDULE_STEP:
        explain.update(event.get("explain") or {})
    elif action is Action.GO_INFORMAL:
        why = f"informal step: no formal clock [{event.get('source', '')}]"
        explain = procedure.without_clock({"explain": explain}, why)["explain"]
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
    kept_safeguarding = bool((case.flags or {}).get("safeguarding")) and not chosen["safeguarding"]
    if kept_safeguarding:
        # An untick here never clears the flag: that needs a reason and a confirmation
        # (bot.casework.clear_safeguarding).
        chosen["safeguarding"] = True
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
    _refresh_exemptions(ctx, case, service)
    _touch(ctx, case)
    record(
        ctx,
        case,
        "classification_corrected" if changed else "classification_confirmed",
        {"original": original, "corrected": chosen, "changed": changed},
    )
    record_label(ctx.session, case, chosen, original, changed, ctx.user.actor, ctx.now)
    notes = []
    if (
        kind != previous_kind
        and case.status == Status.INFORMAL.value
        and (case.flags or {}).get("route") == "informal_first"
    ):
        # the informal step was applied because it looked like a complaint (coventry L11):
        # a person says it is not one, so it is undone and the case is read afresh
        case.lifecycle = None
        case.status = Status.RECEIVED.value
        case.route = "formal"
        case.flags = {k: v for k, v in case.flags.items() if k not in ("route", "informal")}
        record(ctx, case, "informal_undone", {"kind": kind, "was": previous_kind})
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
        if (
            kind != previous_kind
            and kind in ("complaint", "stage2_request")
            and not chosen["out_of_scope"]
            and not chosen["about_coordinator"]
        ):
            # now a complaint: its handler and copies are told, its route applied (coventry L11)
            notes.extend(
                routing.enter_stage(
                    ctx.session, service, case, ctx.now, ctx.base_url, ctx.user.actor
                )
            )
        letter = _letter_for_kind(ctx, case, kind, chosen["out_of_scope"])
        if letter is not None:
            notes.append(_letter_state(ctx, letter))
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
    if kept_safeguarding:
        notes.append(
            "the safeguarding flag was kept: clearing it needs a reason and a confirmation "
            "(Safeguarding, on the case page)"
        )
    word = "corrected" if changed else "confirmed"
    return f"classification {word}" + (f" ({'; '.join(notes)})" if notes else "")


def _refresh_exemptions(ctx: Ctx, case: Case, service: Service) -> None:
    """The exemption flags intake's findings point to, after a person changed a finding
    (scope, event date); a person's own flags are kept."""
    flags = dict(case.flags or {})
    auto = procedure.auto_exemptions(
        service, flags, (case.deadlines or {}).get("checks") or {}, ctx.now.isoformat()
    )
    merged = procedure.merged_exemptions(flags.get("exemptions"), auto)
    if merged or flags.get("exemptions"):
        flags["exemptions"] = merged
        case.flags = flags


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
    _refresh_exemptions(ctx, case, service)
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
    name = letter.purpose.replace("_", " ")
    return (
        f"{name} letter approved and {queued(ctx)}"
        if to == "pending"
        else f"{name} letter discarded"
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
    message = str(ev["description"]).replace("response sent", "response recorded", 1)
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
        message += f"; {_letter_state(ctx, letter)}"
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
        message += f"; extension letter {queued(ctx)}"
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
        letter = queue_letter(
            ctx.session,
            ctx.services[case.service],
            case,
            "next_stage_ack",
            ctx.now,
            discriminator=f"stage{case.stage}",
        )
        message += f"; {_letter_state(ctx, letter)}"
    return message


LETTER_CHOICES = ("cancel", "keep")


def _letters_on_close(ctx: Ctx, case: Case, letters: str) -> str:
    """Closing a case with unsent letters: the person chose to cancel or keep them."""
    unsent = casework.unsent_letters(ctx.session, case)
    if not unsent:
        return ""
    if letters not in LETTER_CHOICES:
        raise ActionError(
            f"{case.reference} has {len(unsent)} unsent letter(s): {casework.describe(unsent)}. "
            "Choose to cancel them or keep them, then close again (nothing changed)"
        )
    if letters == "keep":
        record(
            ctx,
            case,
            "letters_kept_on_close",
            {"outbox_ids": [x.id for x in unsent], "purposes": [x.purpose for x in unsent]},
        )
        return f"; {len(unsent)} unsent letter(s) kept: {casework.describe(unsent)}"
    for letter in unsent:
        before = letter.status
        letter.status = "discarded"
        letter.next_attempt_at = None
        record(
            ctx,
            case,
            "letter_discarded",
            {"outbox_id": letter.id, "purpose": letter.purpose, "from": before, "why": "closed"},
        )
    return f"; {len(unsent)} unsent letter(s) cancelled: {casework.describe(unsent)}"


def withdraw(ctx: Ctx, case: Case, note: str, letters: str = "") -> str:
    service = ctx.services[case.service]
    _casework(casework.check_closable, case)
    told = _letters_on_close(ctx, case, letters)
    ev = apply_transition(
        ctx, case, Action.CLOSE, ctx.today(service), reason="withdrawn", note=note.strip()
    )
    return str(ev["description"]) + told


def close(
    ctx: Ctx,
    case: Case,
    reason: str,
    outcome: str,
    justification: str,
    note: str,
    letters: str = "",
) -> str:
    if outcome and outcome not in OUTCOMES:
        raise ActionError(f"unknown outcome {outcome!r}")
    if justification and justification not in JUSTIFICATIONS:
        raise ActionError(f"unknown finding {justification!r}")
    service = ctx.services[case.service]
    _casework(casework.check_closable, case)
    if case.status == Status.CLOSED.value:
        raise ActionError(f"{case.reference} is already closed")
    told = _letters_on_close(ctx, case, letters)
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
    return str(ev["description"]) + told


# ------------------------------------------------------------ safeguarding, notes, replies


def safeguarding_action(ctx: Ctx, case: Case, what: str, who: str, details: str) -> str:
    return str(
        _casework(
            casework.record_safeguarding_action,
            ctx.session,
            case,
            ctx.user.actor,
            ctx.now,
            what,
            who or ctx.user.email,
            details,
        )
    )


def clear_safeguarding(ctx: Ctx, case: Case, reason: str, confirmed: bool) -> str:
    return str(
        _casework(
            casework.clear_safeguarding,
            ctx.session,
            case,
            ctx.user.actor,
            ctx.now,
            reason,
            confirmed,
        )
    )


def add_note(ctx: Ctx, case: Case, text: str) -> str:
    return str(_casework(casework.add_note, ctx.session, case, ctx.user.email, ctx.now, text))


def preview_reply(ctx: Ctx, case: Case, subject: str, text: str) -> casework.ReplyDraft:
    """The letter as it would be sent; nothing is written."""
    draft: casework.ReplyDraft = _casework(
        casework.draft_reply, ctx.session, ctx.services, case, subject, text
    )
    return draft


def send_reply(ctx: Ctx, case: Case, subject: str, text: str, token: str) -> str:
    """Queue the reply the person previewed (``token`` names that preview: if the text
    changed since, they must look again)."""
    draft = preview_reply(ctx, case, subject, text)
    if token != draft.token:
        raise ActionError(
            "the reply changed since its preview (or the case did): preview it again before "
            "sending (nothing was sent)"
        )
    letter, new = casework.queue_reply(
        ctx.session, ctx.services[case.service], case, draft, ctx.user.actor, ctx.now
    )
    if not new:
        return f"this reply was already queued (letter {letter.id}); it was not queued again"
    return f"reply to {draft.to_addr} {queued(ctx)}"


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
    #: the complainant asked for the procedure's informal step (or, at Stoke, a spoken
    #: complaint about waiting or opening times: L33)
    informal: bool = False


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
    try:
        track = procedure.track_for(service, new.kind, new.channel, new.informal)
    except ValueError as exc:
        raise ActionError(str(exc)) from None
    d = initial_deadlines(service, new.received_at, new.kind, new.about_coordinator)
    state, opened = open_case(
        service, new.received_at, new.kind, new.about_coordinator, track=track
    )
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
        acknowledge_by=state.acknowledge_by,
        respond_by=state.respond_by,
        deadlines={
            **d.to_json(),
            "acknowledge_by": _iso(state.acknowledge_by),
            "respond_by": _iso(state.respond_by),
            "checks": {},
        },
        classification={
            "kind": new.kind,
            "confidence": None,
            "source": "person",
            "reasons": [],
            **intake_figures(new.kind, "", new.summary, addr),
        },
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
    if track != "formal":
        _record_track(ctx, case, service, track)
    if addr and not new.safeguarding:
        purpose = _track_letter(service, case, track)
        if purpose is None:
            pass
        elif purpose == letter_for(new.kind, False):
            _letter_for_kind(ctx, case, new.kind, False)
        elif refusal(addr, None, own_addresses(ctx.services.values())) is None:
            ctx.session.flush()
            queue_letter(ctx.session, service, case, purpose, ctx.now)
    return case


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


# ------------------------------------------------------------ the procedure's own route


def _record_track(ctx: Ctx, case: Case, service: Service, track: str) -> None:
    """Write on the case (and its trail) the informal step or the wait for writing."""
    flags = dict(case.flags or {})
    if track == "informal":
        route = service.informal_route(case.channel in procedure.VERBAL_CHANNELS)
        assert route is not None
        case.deadlines = procedure.without_clock(
            case.deadlines or {}, f"informal step: no formal clock [{route.source}]"
        )
        case.route = "informal"
        flags["informal"] = {"route": route.code, "source": route.source}
        record(
            ctx,
            case,
            "informal",
            {"route": route.code, "description": route.description, "source": route.source},
        )
    elif track == "awaiting_writing":
        w = service.writing
        case.deadlines = procedure.without_clock(
            case.deadlines or {},
            f"the complaint is not yet in writing: the clock starts when it is [{w.source}]",
        )
        flags["awaiting_writing"] = {"source": w.source}
        record(
            ctx,
            case,
            "awaiting_writing",
            {
                "channel": case.channel,
                "source": w.source,
                "why": "the procedure wants complaints in writing: the formal clock starts "
                "when it arrives",
            },
        )
    case.flags = flags


def _track_letter(service: Service, case: Case, track: str) -> str | None:
    """The letter to the complainant for a case on ``track``: what is true for that route."""
    if track == "awaiting_writing":
        return "writing_request"
    if track == "informal":
        code = ((case.flags or {}).get("informal") or {}).get("route")
        if code == "informal_first":
            return "complaint_ack"  # Coventry's acknowledgement says: informal first (L11)
        if code == "informal_alternative":
            return "informal_ack"
        return None  # stoke L33: outside the procedure, a record for monitoring only
    return letter_for(case.kind, False)


def _may_write(ctx: Ctx, case: Case) -> bool:
    return bool(case.sender_addr) and (
        refusal(case.sender_addr, None, own_addresses(ctx.services.values())) is None
    )


def go_informal(ctx: Ctx, case: Case, note: str = "") -> str:
    """The complainant chose the procedure's informal step (durham L78, staffordshire L63-65):
    the formal clock stops; the letter says what happens now and how to go formal."""
    service = ctx.services[case.service]
    route = service.informal_route(case.channel in procedure.VERBAL_CHANNELS)
    if route is None:
        raise ActionError(f"the {service.key} procedure has no informal step")
    if case.kind != "complaint":
        raise ActionError("only a complaint can be resolved informally")
    ev = apply_transition(
        ctx, case, Action.GO_INFORMAL, ctx.today(service), reason=route.code, note=note.strip()
    )
    _record_track(ctx, case, service, "informal")
    _withdraw_unsent_letter(ctx, case, "complaint_ack", "the complaint went to the informal step")
    message = str(ev["description"])
    purpose = _track_letter(service, case, "informal")
    if purpose is not None and _may_write(ctx, case):
        ctx.session.flush()
        queue_letter(ctx.session, service, case, purpose, ctx.now, discriminator="informal")
        message += f"; {purpose} letter prepared for approval"
    return message


def resolve_informal(ctx: Ctx, case: Case, summary: str) -> str:
    """The informal step resolved the complaint: the case closes (reason resolved) with the
    outcome recorded; the letter says what was agreed and that the formal procedure is still
    open to them (durham L80, staffordshire L65, coventry L17)."""
    if case.status != Status.INFORMAL.value:
        raise ActionError("only a complaint on the informal step can be resolved informally")
    summary = summary.strip()
    if not summary:
        raise ActionError("say how the complaint was resolved")
    service = ctx.services[case.service]
    ev = apply_transition(
        ctx,
        case,
        Action.CLOSE,
        ctx.today(service),
        reason=ClosureReason.RESOLVED.value,
        note="resolved informally",
        extra={"informal_outcome": "resolved"},
    )
    case.informal_outcome = "resolved"
    ctx.session.add(
        CaseNote(
            case_id=case.id,
            kind="informal_outcome",
            text=summary,
            author=ctx.user.email,
            at=ctx.now,
        )
    )
    message = str(ev["description"]) + " (informal step)"
    route = ((case.flags or {}).get("informal") or {}).get("route")
    if route != "verbal_waiting_or_opening_times" and _may_write(ctx, case):
        queue_letter(
            ctx.session,
            service,
            case,
            "informal_outcome",
            ctx.now,
            extra={"outcome_summary": summary},
        )
        message += "; informal_outcome letter prepared for approval"
    return message


def formalise(ctx: Ctx, case: Case, on: date | None) -> str:
    """The formal procedure starts: the complainant asked for it after the informal step
    (durham L80, staffordshire L65, coventry L17 and L40), or a spoken complaint arrived in
    writing (durham L67, staffordshire L59). The stage's clock starts on ``on`` (default
    today), its handler and copies are told (:mod:`bot.routing`) and the acknowledgement
    says what is true now."""
    was = case.status
    service = ctx.services[case.service]
    when: date | datetime = on if on is not None else ctx.now
    ev = apply_transition(ctx, case, Action.FORMALISE, when)
    flags = dict(case.flags or {})
    if was == Status.INFORMAL.value:
        case.route = "formal"
        case.informal_outcome = "escalated"
        # the managers' figures count it as a formal complaint now, not an informal concern
        flags["formal"] = True
        why = "escalated from the informal step"
    else:
        flags.pop("awaiting_writing", None)
        flags["in_writing_on"] = _iso(case.clock_starts)
        why = "the complaint arrived in writing"
    case.flags = flags
    case.needs_person = True
    record(ctx, case, "formalised", {"why": why, "clock_starts": _iso(case.clock_starts)})
    message = f"{ev['description']} ({why})"
    told = routing.enter_stage(ctx.session, service, case, ctx.now, ctx.base_url, ctx.user.actor)
    if told:
        message += "; " + "; ".join(told)
    if _may_write(ctx, case):
        ctx.session.flush()
        queue_letter(ctx.session, service, case, "complaint_ack", ctx.now, discriminator="formal")
        message += "; acknowledgement prepared for approval"
    return message


def flag_exemption(ctx: Ctx, case: Case, code: str, note: str, clear: bool = False) -> str:
    """Raise (or clear) one of the procedure's exemptions as a flag with its line. It never
    refuses the complaint: a person weighs it (staffordshire L50 "may occur in exceptional
    circumstances")."""
    service = ctx.services[case.service]
    listed = {e.code: e for e in service.eligibility.exemptions}
    if code not in listed:
        known = ", ".join(listed) or "none"
        raise ActionError(
            f"the {service.key} procedure has no exemption {code!r} (its list: {known})"
        )
    flags = dict(case.flags or {})
    current = [x for x in flags.get("exemptions") or [] if x.get("code") != code]
    if not clear:
        current.append(
            procedure.exemption_flag(
                listed[code], note.strip(), ctx.user.actor, ctx.now.isoformat()
            )
        )
    flags["exemptions"] = current
    case.flags = flags
    case.needs_person = True
    _touch(ctx, case)
    record(
        ctx,
        case,
        "exemption_cleared" if clear else "exemption_flagged",
        {"code": code, "source": listed[code].source, "note": note.strip()},
    )
    e = listed[code]
    return f"exemption {'cleared' if clear else 'flagged'}: {e.description} ({e.source})"


def direct_to_stage(ctx: Ctx, case: Case) -> str:
    """The complainant asked, when first complaining in writing, for the complaint to be
    considered more formally: it goes straight to the route's stage (stoke L65, L67), whose
    clock runs from the day the complaint was received; its handler and copies are told."""
    service = ctx.services[case.service]
    route = service.route("direct_to_stage")
    if route is None:
        raise ActionError(f"the {service.key} procedure has no route straight to a later stage")
    ev = apply_transition(ctx, case, Action.DIRECT_TO_STAGE, ctx.today(service), reason=route.code)
    case.needs_person = True
    _withdraw_unsent_letter(
        ctx, case, "complaint_ack", "the complaint went straight to a later stage"
    )
    flags = dict(case.flags or {})
    flags["direct_to_stage"] = {"stage": case.stage, "source": route.source}
    case.flags = flags
    message = str(ev["description"])
    told = routing.enter_stage(ctx.session, service, case, ctx.now, ctx.base_url, ctx.user.actor)
    if told:
        message += "; " + "; ".join(told)
    if _may_write(ctx, case):
        ctx.session.flush()
        queue_letter(
            ctx.session,
            service,
            case,
            "next_stage_ack",
            ctx.now,
            discriminator=f"stage{case.stage}",
        )
        message += "; acknowledgement prepared for approval"
    return message


def schedule_step(ctx: Ctx, case: Case, code: str, on: date) -> str:
    """Set the date of a step with its own clock (mediation: durham L121-125, staffordshire
    L105-110; Stoke's Special Meeting, with the response a week after it: L89) and write to
    the complainant."""
    service = ctx.services[case.service]
    ev = apply_transition(
        ctx, case, Action.SCHEDULE_STEP, ctx.today(service), reason=code, new_date=on
    )
    message = str(ev["description"])
    if _may_write(ctx, case):
        queue_letter(
            ctx.session,
            service,
            case,
            "step_notice",
            ctx.now,
            extra={"step": code, "meeting_on": on},
            discriminator=f"stage{case.stage}/{code}/{on.isoformat()}",
        )
        message += "; step_notice letter prepared for approval"
    return message
