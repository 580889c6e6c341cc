"""The intake pipeline's stages: each does one job on the :class:`Context`.

parse -> dedupe -> thread -> classify -> route -> deadline -> store -> reply

A stage may stop the pipeline (duplicate, quarantine) or discard the message (automated
mail that threads onto no case: it is logged, but opens no case and gets no letter). Every
stage records what it did in ``ctx.trail``; the trail is stored with the message.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import casework
from bot.casestate import add_event
from bot.figures import from_mp_office, intake_figures
from bot.letters.flood import FloodLimits
from bot.letters.outbox import write_reply_letters
from bot.models import Attachment, Case, Message, OutboxLetter, ReferenceCounter
from bot.parse import UnparseableMessage, parse_message
from bot.pipeline.context import BatchMemory, Context, Outcome
from bot.procedure import auto_exemptions
from bot.safehtml import sanitise_for_storage
from bot.services import Service
from classifiers.types import LOW_CONFIDENCE, Classification, ClassifierInput, Reason

LONDON = ZoneInfo("Europe/London")
REFERENCE_RE = re.compile(r"\b([A-Z]{3})-(\d{4})-(\d{4,})\b")


class Classifier(Protocol):
    def __call__(self, inp: ClassifierInput) -> Classification: ...


DeadlineFn = Callable[[Any, datetime, Classification, int], dict[str, Any]]


@dataclass(frozen=True)
class StageEnv:
    """What stages share besides the context: configuration and collaborators."""

    services: Mapping[str, Service]
    classifier: Classifier
    deadline_fn: DeadlineFn
    attachment_max_bytes: int = 10 * 1024 * 1024
    message_max_bytes: int = 50 * 1024 * 1024
    #: Mail that had waited longer than this when we read it gets no automatic letter.
    max_age_days: int = 30
    #: Automatic letters per service per hour, and per recipient domain per day.
    letters_max_per_hour: int = 60
    letters_max_per_domain_per_day: int = 20
    #: The web UI's address (``web.base_url``): notifications link to the case under it.
    case_url_base: str = ""


Stage = Callable[[Context, StageEnv], None]


# ---------------------------------------------------------------------------------- parse


def parse(ctx: Context, env: StageEnv) -> None:
    if len(ctx.raw) > env.message_max_bytes:
        reason = f"message of {len(ctx.raw)} bytes is over intake.message_max_bytes"
        ctx.stop(Outcome.QUARANTINE, reason)
        ctx.failed_stage = "parse"
        ctx.record("parse", "quarantine", reason)
        return
    try:
        ctx.parsed = parse_message(
            ctx.raw, ctx.arrival, attachment_max_bytes=env.attachment_max_bytes
        )
    except UnparseableMessage as exc:
        ctx.stop(Outcome.QUARANTINE, str(exc))
        ctx.failed_stage = "parse"
        ctx.record("parse", "quarantine", str(exc))
        return
    p = ctx.parsed
    note = f"message-id {'synthesised' if p.message_id_synthesised else 'from header'}"
    if p.date_source != "header":
        note += "; date from arrival"
    if p.date_warning:
        note += f"; {p.date_warning}"
    ctx.record("parse", "ok", note)


# --------------------------------------------------------------------------------- dedupe


def dedupe(ctx: Context, env: StageEnv) -> None:
    """Exactly once: the same UID, or the same Message-ID with the same content, is a dup.

    Content is compared by fingerprint (sender, Date, Subject, text, parts), so a message
    delivered twice with different trace headers is still recognised.
    """
    p = ctx.parsed
    assert p is not None
    s, src = ctx.session, ctx.source
    # The same mailbox UID twice is refused by the unique constraint (see Intake.process).
    same_id = ctx.batch.stored.get((src.service, p.message_id))
    if same_id is None:
        same_id = [
            (row.id, row.fingerprint)
            for row in s.execute(
                select(Message.id, Message.fingerprint).where(
                    Message.service == src.service, Message.message_id == p.message_id
                )
            )
        ]
    earlier = ctx.batch.fingerprints.get((src.service, p.message_id), [])
    for row_id, digest in [*same_id, *((m.id, f) for f, m in earlier)]:
        if digest == p.fingerprint:
            ctx.duplicate_of = row_id
            ctx.stop(Outcome.DUPLICATE, f"Message-ID {p.message_id} already logged")
            ctx.record("dedupe", "duplicate", "same Message-ID and content")
            return
    if same_id or earlier:
        # The Message-ID is reused by a different message: key it by content as well.
        ctx.dedupe_key = f"{p.message_id}#{p.content_hash}"
        ctx.record("dedupe", "new", "Message-ID reused by different content")
    else:
        ctx.dedupe_key = p.message_id
        ctx.record("dedupe", "new")


def prefetch_stored(session: Session, batch: BatchMemory, keys: list[tuple[str, str]]) -> None:
    """Read, in one query per service, what :func:`dedupe` would ask for each of ``keys``
    ((service, Message-ID) of a batch's parsed messages), into ``batch.stored``."""
    by_service: dict[str, set[str]] = {}
    for service, mid in keys:
        if (service, mid) not in batch.stored:
            by_service.setdefault(service, set()).add(mid)
    for service, mids in by_service.items():
        for mid in mids:
            batch.stored[(service, mid)] = []
        wanted = sorted(mids)
        for i in range(0, len(wanted), 500):
            rows = session.execute(
                select(Message.id, Message.fingerprint, Message.message_id).where(
                    Message.service == service, Message.message_id.in_(wanted[i : i + 500])
                )
            )
            for row in rows:
                batch.stored[(service, row.message_id)].append((row.id, row.fingerprint))
        for mid in mids:
            batch.stored[(service, mid)].sort()


# --------------------------------------------------------------------------------- thread


def is_party(case: Case, addr: str) -> bool:
    """``addr`` wrote the case's first message, or a coordinator added it to the case."""
    a = addr.strip().lower()
    if not a:
        return False
    parties = {str(x).lower() for x in (case.flags or {}).get("parties") or []}
    return a == (case.sender_addr or "").lower() or a in parties


def _case_of_message(ctx: Context, mid: str) -> Case | None:
    case = ctx.batch.case_by_message_id.get(mid)
    if case is not None:
        return case
    case_id = ctx.session.scalar(
        select(Message.case_id)
        .where(Message.message_id == mid, Message.case_id.is_not(None))
        .limit(1)
    )
    return ctx.session.get(Case, case_id) if case_id is not None else None


def thread(ctx: Context, env: StageEnv) -> None:
    """Attach a reply to its case, but only when it may: same service, and the sender is a
    party to the case or answers a letter we sent to that very address.

    Thread headers, subjects and references are written by the sender, and references are
    easy to guess: anything else opens its own case, linked as "mentions" the other case
    for a coordinator to merge. A case of another service is never attached nor named.
    """
    p = ctx.parsed
    assert p is not None
    s, service, sender = ctx.session, ctx.source.service, p.from_addr.lower()
    mentioned: dict[str, Case] = {}

    def consider(case: Case, answers_letter: bool, via: str) -> bool:
        if case.service != service:
            ctx.record("thread", "ignored", f"{via} names a case of another service")
            return False
        if answers_letter or is_party(case, sender):
            ctx.case, ctx.thread_via = case, via
            ctx.record("thread", "attached", f"{via} to case {case.reference}")
            return True
        mentioned.setdefault(case.reference, case)
        return False

    for mid in p.thread_ids:
        letter = s.execute(
            select(OutboxLetter.case_id, OutboxLetter.to_addr)
            .where(OutboxLetter.message_id == mid, OutboxLetter.case_id.is_not(None))
            .limit(1)
        ).first()
        if letter is not None:
            case = s.get(Case, letter.case_id)
            answers = bool(sender) and letter.to_addr.lower() == sender
            if case is not None and consider(case, answers, f"answers our letter {mid}"):
                return
        case = _case_of_message(ctx, mid)
        if case is not None and consider(case, False, f"thread header {mid}"):
            return
    for match in REFERENCE_RE.finditer(p.subject):
        reference = match.group(0)
        case = ctx.batch.case_by_reference.get(reference) or s.scalar(
            select(Case).where(Case.reference == reference)
        )
        if case is not None and consider(case, False, f"subject reference {reference}"):
            return
    ctx.mentions = list(mentioned)
    if mentioned:
        ctx.record("thread", "new", f"not a party to {', '.join(mentioned)}: own case, linked")
    else:
        ctx.record("thread", "new")


# ------------------------------------------------------------------------------- classify


def classify(ctx: Context, env: StageEnv) -> None:
    p = ctx.parsed
    assert p is not None
    inp = ClassifierInput(
        service=ctx.source.service,
        received=ctx.arrival,
        from_name=p.from_name,
        from_addr=p.from_addr,
        subject=p.subject,
        body=p.text,
        html=p.html_only,
        headers=p.headers,
        automated_reason=p.automated_reason,
    )
    ctx.classification = result = env.classifier(inp)
    if result.kind == "automated":
        result = ctx.classification = _automated_guard(ctx, env, inp, result)
    rules = ", ".join(r.rule for r in result.reasons[:8])
    model = f"model {result.model_version}" if result.model_version else "rules alone"
    ctx.record(
        "classify", result.kind, f"confidence {result.confidence:.2f}; {model}; rules: {rules}"
    )
    if result.kind == "automated" and ctx.case is None:
        ctx.stop(Outcome.DISCARD, p.automated_reason or "automated mail")


def _automated_guard(
    ctx: Context, env: StageEnv, inp: ClassifierInput, verdict: Classification
) -> Classification:
    """Headers and sender say "machine"; the words may still be a person's.

    Headers are the sender's to write, so automated detection may only suppress the letter
    (the reply stage writes none to automated mail or machine addresses), never the case:
    the content is read again without them. A disclosure that trips safeguarding always
    opens (or flags) a case and alerts the coordinator; a real message from a no-reply
    address (a school's contact-form gateway) opens a case too.
    """
    p = ctx.parsed
    assert p is not None
    content = env.classifier(
        dataclasses.replace(inp, automated_reason=None, from_addr="", headers={})
    )
    machine_sender_only = bool(p.automated_reason) and str(p.automated_reason).startswith(
        "machine sender"
    )
    if content.safeguarding:
        why = f"safeguarding content despite automated signs ({p.automated_reason or 'rules'})"
    elif machine_sender_only and content.kind != "automated":
        why = f"a person's message from a machine address ({p.from_addr}): no letter"
    else:
        return verdict
    content.reasons.append(Reason("intake.automated_guard", "kept", why, -1, -1, "headers"))
    ctx.record("classify", "guard", why)
    return content


# ---------------------------------------------------------------------------------- route


def route(ctx: Context, env: StageEnv) -> None:
    """Decide whether a person must look first, and at which stage a complaint starts."""
    c = ctx.classification
    assert c is not None
    holds = []
    if c.safeguarding:
        holds.append("safeguarding: a child may be at risk; a person must look today")
    if c.about_coordinator:
        holds.append("about the coordinator: route to the next stage's handler")
    if c.out_of_scope:
        holds.append("out of scope: about another organisation")
    # With the trained model, the classifier's own holds (model not confident, a rule that
    # contradicts the model) replace the rules' fixed confidence threshold.
    holds.extend(c.holds)
    if c.model_version is None and c.confidence < LOW_CONFIDENCE:
        holds.append(f"low confidence ({c.confidence:.2f})")
    age = ctx.now - ctx.arrival
    if age > timedelta(days=env.max_age_days):
        holds.append(
            f"old mail: it arrived {age.days} days before it was read "
            f"(intake.max_age_days = {env.max_age_days}); no automatic letter"
        )
    ctx.hold_reasons = holds
    ctx.needs_person = bool(holds) or c.kind in ("complaint", "stage2_request", "enquiry")
    ctx.record("route", "person" if ctx.needs_person else "auto", "; ".join(holds))


# ------------------------------------------------------------------------------- deadline


def deadline(ctx: Context, env: StageEnv) -> None:
    """The procedure's clocks for a new case; eligibility checks inform, never refuse."""
    c = ctx.classification
    assert c is not None and ctx.parsed is not None
    if ctx.case is not None:
        ctx.record("deadline", "skipped", "reply on an existing case")
        return
    service = env.services[ctx.source.service]
    # The clock starts when the service received the mail, never at the sender's Date.
    ctx.deadlines = env.deadline_fn(service, ctx.arrival, c, ctx.start_stage)
    ctx.start_stage = int(ctx.deadlines.get("stage") or ctx.start_stage)
    for check in ctx.deadlines.get("checks", {}).values():
        if check.get("ok") is False:
            ctx.hold_reasons.append(str(check.get("evidence") or check.get("flag")))
            ctx.needs_person = True
    dates = ", ".join(f"{k} {v}" for k, v in ctx.deadlines.items() if k.endswith("_by") and v)
    ctx.record("deadline", "ok", f"stage {ctx.start_stage}; {dates}")


# ---------------------------------------------------------------------------------- store


def next_reference(
    session: Session, prefix: str, service: str, year: int, batch: BatchMemory | None = None
) -> str:
    """The next human reference for a service and year, e.g. ``DUR-2026-0007``."""
    key = (service, year)
    counter = batch.counters.get(key) if batch is not None else None
    if counter is None:
        counter = session.scalar(
            select(ReferenceCounter)
            .where(ReferenceCounter.service == service, ReferenceCounter.year == year)
            .with_for_update()
        )
        if counter is None:
            counter = ReferenceCounter(service=service, year=year, last_seq=0)
            session.add(counter)
        if batch is not None:
            batch.counters[key] = counter
    counter.last_seq += 1
    return f"{prefix}-{year}-{counter.last_seq:04d}"


def _date(value: Any) -> Any:
    if isinstance(value, str):
        return datetime.strptime(value, "%Y-%m-%d").date()
    return value


def _exemptions(
    service: Service, c: Classification, d: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The procedure's exemptions that intake's findings point to, as flags with their line
    (never a refusal: bot/procedure.py); nothing when there are none."""
    found = auto_exemptions(
        service, {"out_of_scope": c.out_of_scope}, d.get("checks") or {}, now.isoformat()
    )
    return {"exemptions": found} if found else {}


def store(ctx: Context, env: StageEnv) -> None:
    """Write the message (and a new case with its first events); one flush at commit."""
    p, c, src, s = ctx.parsed, ctx.classification, ctx.source, ctx.session
    assert p is not None
    now = ctx.now
    disposition = "thread" if ctx.case is not None else "case"
    if ctx.outcome is Outcome.DISCARD:
        disposition = "discarded"
    elif ctx.case is None:
        assert c is not None
        service = env.services[src.service]
        d = ctx.deadlines
        ctx.case = Case(
            reference=next_reference(
                s,
                service.reference_prefix,
                src.service,
                ctx.arrival.astimezone(LONDON).year,
                ctx.batch,
            ),
            service=src.service,
            kind=c.kind,
            status="received",
            stage=ctx.start_stage,
            needs_person=ctx.needs_person,
            confidence=c.confidence,
            flags={
                "safeguarding": c.safeguarding,
                "about_coordinator": c.about_coordinator,
                "out_of_scope": c.out_of_scope,
                "within_12_months": c.within_12_months,
                "hold_reasons": ctx.hold_reasons,
                **({"date_warning": p.date_warning} if p.date_warning else {}),
                **({"mentions": ctx.mentions} if ctx.mentions else {}),
                **_exemptions(service, c, d, now),
            },
            sender_addr=p.from_addr,
            sender_name=p.from_name,
            subject=p.subject,
            via_mp=from_mp_office(p.from_addr),
            received_at=ctx.arrival,
            event_date=c.event_date,
            clock_starts=_date(d.get("clock_starts")),
            acknowledge_by=_date(d.get("acknowledge_by")),
            respond_by=_date(d.get("respond_by")),
            deadlines=d,
            classification={
                **c.to_json(),
                **intake_figures(c.kind, p.subject, p.new_text or p.text, p.from_addr),
            },
            created_at=now,
            updated_at=now,
        )
        s.add(ctx.case)
        add_event(
            s, ctx.case, now, "received", {"message_id": p.message_id, "mailbox": src.mailbox}
        )
        add_event(
            s,
            ctx.case,
            now,
            "classified",
            {
                "kind": c.kind,
                "confidence": c.confidence,
                "rules": ctx.rules,
                "model_version": c.model_version,
            },
        )
    elif c is not None:
        _reply_on_case(ctx, ctx.case, c, now, env.services[ctx.case.service])
    safe = sanitise_for_storage(p.html)
    ctx.record("store", disposition, safe.note or "")
    msg = Message(
        case=ctx.case if disposition != "discarded" else None,
        direction="in",
        service=src.service,
        mailbox=src.mailbox,
        uidvalidity=src.uidvalidity,
        uid=src.uid,
        message_id=p.message_id,
        message_id_synthesised=p.message_id_synthesised,
        dedupe_key=ctx.dedupe_key,
        content_hash=p.content_hash,
        fingerprint=p.fingerprint,
        in_reply_to=p.in_reply_to[0] if p.in_reply_to else None,
        references=list(p.references),
        from_addr=p.from_addr,
        from_name=p.from_name,
        reply_to=p.reply_to,
        to_addrs=list(p.to_addrs),
        subject=p.subject,
        date=p.date,
        date_source=p.date_source,
        arrived_at=ctx.arrival,
        headers=p.headers,
        text=p.text,
        html=p.html,
        html_safe=safe.html,
        new_text=p.new_text,
        quoted_text=p.quoted_text,
        signature=p.signature,
        automated_reason=p.automated_reason,
        disposition=disposition,
        trail=[r.to_json() for r in ctx.trail],
        raw=ctx.raw,
        created_at=now,
        attachments=[
            Attachment(
                filename=a.filename, content_type=a.content_type, size=a.size, content=a.content
            )
            for a in p.attachments
        ],
    )
    s.add(msg)
    ctx.message = msg
    ctx.batch.remember(msg, msg.case)


def _reply_on_case(
    ctx: Context, case: Case, c: Classification, now: datetime, service: Service
) -> None:
    """A message from the family on an existing case: the case comes back to the queue with
    a "new message from the family" marker (not for an auto-reply), and a closed case is
    reopened; safeguarding content flags the case (and asks for a new look even where an
    action was recorded)."""
    p = ctx.parsed
    assert p is not None
    flags = dict(case.flags or {})
    news = c.kind != "automated" or c.safeguarding  # an out-of-office is not news
    if news:
        flags["new_message"] = {"at": now.isoformat(), "message_id": p.message_id}
        case.needs_person = True
        case.family_message_at = now
    if c.safeguarding and not flags.get("safeguarding"):
        holds = list(flags.get("hold_reasons") or [])
        holds.append("safeguarding: a reply may mean a child is at risk; a person must look today")
        flags["hold_reasons"] = holds
    case.flags = flags
    if c.safeguarding:
        casework.renew_safeguarding(case)
    case.updated_at = now
    add_event(
        ctx.session,
        case,
        now,
        "message_received",
        {
            "message_id": p.message_id,
            "via": ctx.thread_via,
            "kind": c.kind,
            "automated": p.automated_reason,
            "safeguarding": c.safeguarding,
        },
    )
    if news:
        casework.reopen_on_reply(ctx.session, case, service, now)


# ---------------------------------------------------------------------------------- reply


def reply(ctx: Context, env: StageEnv) -> None:
    """Letters go to the outbox in this transaction; a sender thread sends them.

    Which letter, and whether it is sent at once or held: :mod:`bot.letters.policy`."""
    write_reply_letters(
        ctx,
        env.services,
        FloodLimits(env.letters_max_per_hour, env.letters_max_per_domain_per_day),
        env.case_url_base,
    )


PIPELINE: tuple[tuple[str, Stage, bool], ...] = (
    # (name, stage, runs after a discard)
    ("parse", parse, False),
    ("dedupe", dedupe, False),
    ("thread", thread, False),
    ("classify", classify, False),
    ("route", route, False),
    ("deadline", deadline, False),
    ("store", store, True),
    ("reply", reply, False),
)


def utcnow() -> datetime:
    return datetime.now(UTC)
