"""The case log: SQLAlchemy 2 typed models. Migrations live in ``bot/migrations``.

Exactly-once rests on the unique constraints here, not on process state:
- ``messages``: unique on (mailbox, uidvalidity, uid) and on (service, dedupe_key), where the
  dedupe key is the Message-ID, or the Message-ID plus the content hash when a Message-ID is
  reused by a different message (a synthesised Message-ID is derived from the content hash);
- ``quarantine``: unique on (mailbox, uidvalidity, uid) and on (source, content_hash);
- ``outbox``: unique on ``idempotency_key`` (case and purpose), so a letter is written once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates
from sqlalchemy.types import TypeDecorator

from bot.recipients import domain_of, normalise_address

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored as UTC; SQLite hands back naive values, so restore UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class MailboxCursor(Base):
    """How far a mailbox has been read: UIDVALIDITY and the last UID committed."""

    __tablename__ = "mailbox_cursors"

    mailbox: Mapped[str] = mapped_column(String(200), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReferenceCounter(Base):
    """The last sequence number used for a service's case references in a year."""

    __tablename__ = "reference_counters"

    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    service: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), index=True)
    stage: Mapped[int] = mapped_column(Integer, default=1)
    needs_person: Mapped[bool] = mapped_column(Boolean, default=True)
    confidence: Mapped[float | None] = mapped_column(Float)
    flags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sender_addr: Mapped[str] = mapped_column(String(320), index=True)
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    event_date: Mapped[str | None] = mapped_column(String(10))
    clock_starts: Mapped[date | None] = mapped_column(Date)
    acknowledge_by: Mapped[date | None] = mapped_column(Date, index=True)
    respond_by: Mapped[date | None] = mapped_column(Date, index=True)
    next_stage_request_by: Mapped[date | None] = mapped_column(Date)
    deadlines: Mapped[dict[str, Any]] = mapped_column(default=dict)
    classification: Mapped[dict[str, Any]] = mapped_column(default=dict)
    closure_reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # 0003_web: triage UI. ``lifecycle`` is bot.lifecycle.CaseState.to_json(); ``due_on`` and
    # ``safeguarding`` are kept in step by the mapper events at the end of this module.
    lifecycle: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    due_on: Mapped[date | None] = mapped_column(Date)
    safeguarding: Mapped[bool] = mapped_column(Boolean, default=False)
    handler: Mapped[str | None] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(16), default="email")
    via_mp: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str | None] = mapped_column(String(32))
    justification: Mapped[str | None] = mapped_column(String(32))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    # 0012_retention: set when retention removed the personal data (bot/retention.py).
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # 0008_routing: a complaint about the person who would handle it is routed away from them:
    # only its handler works it; managers see it without what people wrote (bot/routing.py).
    restricted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # 0016_workbench: a safeguarding case whose action taken is recorded (kept in step with
    # ``flags["safeguarding_action"]``) leaves "look today" but keeps its flag; the time of
    # the family's last message on the case (not an auto-reply), for "new since you looked".
    safeguarding_actioned: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false()
    )
    family_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # 0014_procsteps: the track the complaint is on: "formal", or "informal" while the
    # procedure's informal step runs and after it resolved the complaint; the informal step's
    # outcome: "resolved" or "escalated" (to the formal procedure). See bot/procedure.py.
    route: Mapped[str] = mapped_column(String(16), default="formal", server_default="formal")
    informal_outcome: Mapped[str | None] = mapped_column(String(32))

    messages: Mapped[list[Message]] = relationship(back_populates="case", order_by="Message.id")
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id")


class Message(Base):
    """One email, received or sent, logged exactly once."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_messages_mailbox_uid"),
        UniqueConstraint("service", "dedupe_key", name="uq_messages_service_dedupe"),
        Index("ix_messages_message_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    direction: Mapped[str] = mapped_column(String(8), default="in")  # "in" | "out"
    service: Mapped[str] = mapped_column(String(64))
    mailbox: Mapped[str | None] = mapped_column(String(200))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(998))
    message_id_synthesised: Mapped[bool] = mapped_column(Boolean, default=False)
    dedupe_key: Mapped[str] = mapped_column(String(1100))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[list[Any]] = mapped_column(default=list)
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    reply_to: Mapped[str | None] = mapped_column(String(320))
    to_addrs: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    date: Mapped[datetime] = mapped_column(UTCDateTime())
    date_source: Mapped[str] = mapped_column(String(16), default="header")
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime())
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    #: ``html`` sanitised once at intake (bot/safehtml.py); None when there is none or it is
    #: over the limits. The web shows only this.
    html_safe: Mapped[str | None] = mapped_column(Text)
    new_text: Mapped[str] = mapped_column(Text, default="")
    quoted_text: Mapped[str] = mapped_column(Text, default="")
    signature: Mapped[str] = mapped_column(Text, default="")
    automated_reason: Mapped[str | None] = mapped_column(String(200))
    disposition: Mapped[str] = mapped_column(String(16))  # "case" | "thread" | "discarded"
    trail: Mapped[list[Any]] = mapped_column(default=list)  # stages and rules that fired
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    case: Mapped[Case | None] = relationship(back_populates="messages")
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message", order_by="Attachment.id"
    )


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(500), default="")
    content_type: Mapped[str] = mapped_column(String(200), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer, default=0)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)  # None when over the cap

    message: Mapped[Message] = relationship(back_populates="attachments")


class CaseEvent(Base):
    """The append-only trail of a case: who did what, when."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(320))  # "bot" or "user:<email>"
    kind: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    case: Mapped[Case] = relationship(back_populates="events")


class OutboxLetter(Base):
    """A letter waiting to be sent; written in the same transaction as its cause."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    #: held -> pending -> sending -> sent; pending|held|failed -> discarded; sending -> pending
    #: (retry) or failed (refused for good). See bot/letters/sender.py.
    status: Mapped[str] = mapped_column(String(16), index=True)
    to_addr: Mapped[str] = mapped_column(String(320), index=True)
    from_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[list[Any]] = mapped_column(default=list)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # 0002_letters: which service's transport and address; the claim of the send in progress
    # (an attempt token naming host, process and attempt, and when it was taken).
    service: Mapped[str | None] = mapped_column(String(64))
    attempt_token: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # 0009_crash_safety: when this claim began handing the letter to the server (before
    # DATA); a crash after it means "the server may have it".
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # 0021_outbox_keys: the recipient as keys (bot/recipients.py), set from ``to_addr`` by
    # :meth:`_keys` on every assignment, so the per-sender cap and the per-domain flood limit
    # are indexed equalities. Retention's erasure of ``to_addr`` erases them too.
    to_key: Mapped[str | None] = mapped_column(String(320))
    to_domain: Mapped[str | None] = mapped_column(String(255))

    case: Mapped[Case | None] = relationship()

    @validates("to_addr")
    def _keys(self, _key: str, value: str) -> str:
        self.to_key = normalise_address(value or "")
        self.to_domain = domain_of(value or "")
        return value


class QuarantineItem(Base):
    """A message that could not be processed: its raw bytes and the reason."""

    __tablename__ = "quarantine"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_quarantine_mailbox_uid"),
        UniqueConstraint("mailbox", "content_hash", name="uq_quarantine_mailbox_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(64))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str | None] = mapped_column(Text)  # file path for ingest
    content_hash: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))


# ------------------------------------------------------------------------ 0003_web: triage UI

#: Case statuses whose current deadline is the acknowledgement (then the response).
_ACK_FIRST = frozenset({"received", "next_stage_requested"})
_RESPOND_NEXT = frozenset({"acknowledged", "investigating"})


def current_due(status: str, acknowledge_by: date | None, respond_by: date | None) -> date | None:
    """The date the service must act by next: the acknowledgement while a stage is new, then
    the response; None once responded or closed."""
    if status in _ACK_FIRST:
        return acknowledge_by or respond_by
    if status in _RESPOND_NEXT:
        return respond_by
    return None


def _derive_case_columns(_mapper: Any, _connection: Any, case: Case) -> None:
    case.due_on = current_due(case.status, case.acknowledge_by, case.respond_by)
    case.safeguarding = bool((case.flags or {}).get("safeguarding"))
    case.safeguarding_actioned = case.safeguarding and bool(
        (case.flags or {}).get("safeguarding_action")
    )


event.listen(Case, "before_insert", _derive_case_columns)
event.listen(Case, "before_update", _derive_case_columns)

#: The triage queue: open cases that need a person, by urgency (see bot/web/queries.py).
Index(
    "ix_cases_queue",
    Case.needs_person,
    Case.status,
    Case.service,
    Case.safeguarding,
    Case.due_on,
    Case.received_at,
)
Index("ix_cases_safeguarding", Case.safeguarding)
Index("ix_cases_kind", Case.kind)
Index("ix_cases_due_on", Case.due_on)
Index("ix_outbox_status_case_id", OutboxLetter.status, OutboxLetter.case_id)
# 0021_outbox_keys: the per-sender daily cap (bot/letters/policy.py), the per-domain and
# hourly flood windows (bot/letters/flood.py: a letter's place is its scheduled time).
Index("ix_outbox_to_key", OutboxLetter.to_key, OutboxLetter.created_at)
Index("ix_outbox_service_domain", OutboxLetter.service, OutboxLetter.to_domain)
Index(
    "ix_outbox_service_slot",
    OutboxLetter.service,
    func.coalesce(OutboxLetter.next_attempt_at, OutboxLetter.created_at),
)
# 0017_search: the queue pages through open cases that need a person by keyset, in deadline
# order (bot/web/queries.py); the assignee filters; the enquiries view. The full-text index
# (SQLite FTS5 tables and triggers, PostgreSQL generated tsvector columns) is not mapped:
# bot/search.py owns it. 0019_searchspeed adds ix_cases_worklist_service_kind on PostgreSQL
# only (bot/search.py: speed_index_statements), so it is not mapped either.
Index(
    "ix_cases_worklist",
    Case.due_on,
    Case.received_at,
    Case.id,
    sqlite_where=text("needs_person = 1 AND status <> 'closed'"),
    postgresql_where=text("needs_person = true AND status <> 'closed'"),
)
Index(
    "ix_cases_safeguarding_open",
    Case.due_on,
    Case.received_at,
    Case.id,
    sqlite_where=text("safeguarding = 1 AND status <> 'closed'"),
    postgresql_where=text("safeguarding = true AND status <> 'closed'"),
)
Index(
    "ix_cases_handler",
    Case.handler,
    Case.due_on,
    Case.received_at,
    Case.id,
    sqlite_where=text("handler IS NOT NULL"),
    postgresql_where=text("handler IS NOT NULL"),
)


class User(Base):
    """A person who signs in to the web UI. ``roles``: coordinator, manager, admin;
    ``services``: the service keys they work for (empty: every service, for managers and
    admins only)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[Any]] = mapped_column(default=list)
    services: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Bumped when the password changes or the account is disabled: old sessions end.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebSession(Base):
    """A signed-in browser. The cookie holds only a random token; the row is keyed by its
    SHA-256, so the table never holds a usable cookie. Deleting the row signs the browser
    out (sign-out, password change, account disabled); ``expires_at`` is the absolute end,
    ``last_seen_at`` drives the idle timeout."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: ``users.session_version`` when the session began: a later bump ends it too.
    session_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: What the pages keep between requests (flashed messages); never a secret.
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LoginAttempt(Base):
    """Sign-in attempts, kept so that throttling survives a restart."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    success: Mapped[bool] = mapped_column(Boolean, default=False)


class LearningRecord(Base):
    """The complaints learning proforma: you said / we did / what else can we do."""

    __tablename__ = "learning_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    service: Mapped[str] = mapped_column(String(64), index=True)
    you_said: Mapped[str] = mapped_column(Text, default="")
    we_did: Mapped[str] = mapped_column(Text, default="")
    what_else: Mapped[str] = mapped_column(Text, default="")
    justification: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseNote(Base):
    """What a person wrote down: a complaint taken by phone or in person, a stage response's
    summary. Personal data like a message body: shown only to coordinators."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "intake" | "stage_response" | "note"
    text: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseFile(Base):
    """A document a person uploaded to a case (a stage response letter, say)."""

    __tablename__ = "case_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    filename: Mapped[str] = mapped_column(String(500), default="")
    content_type: Mapped[str] = mapped_column(String(200), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer, default=0)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class DigestSend(Base):
    """A managers' weekly digest, written once per recipient and ISO week (the unique key is
    the exactly-once guarantee), then sent from this row like a letter from the outbox."""

    __tablename__ = "digest_sends"
    __table_args__ = (
        UniqueConstraint("recipient", "iso_week", name="uq_digest_sends_recipient_week"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    iso_week: Mapped[str] = mapped_column(String(8))  # "2026-W47"
    services: Mapped[list[Any]] = mapped_column(default=list)
    #: pending -> sending -> sent; sending -> pending (retry, or an abandoned claim)
    status: Mapped[str] = mapped_column(String(16), index=True)
    message_id: Mapped[str] = mapped_column(String(998))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    attempt_token: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ClassifierLabel(Base):
    """A coordinator's "Confirm or correct": a labelled example for training the classifier.

    It points at the message (whose text is already stored) instead of copying it, and keeps
    only the verdict: kind, flags, event date, who, when and what the classifier had said."""

    __tablename__ = "classifier_labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    service: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    safeguarding: Mapped[bool] = mapped_column(Boolean, default=False)
    about_coordinator: Mapped[bool] = mapped_column(Boolean, default=False)
    out_of_scope: Mapped[bool] = mapped_column(Boolean, default=False)
    event_date: Mapped[str | None] = mapped_column(String(10))
    classifier_kind: Mapped[str] = mapped_column(String(32))
    kind_changed: Mapped[bool] = mapped_column(Boolean, default=False)
    changed: Mapped[list[Any]] = mapped_column(default=list)  # fields the person changed
    labelled_by: Mapped[str] = mapped_column(String(320))
    labelled_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


# --------------------------------------------------------- 0009_crash_safety: sweep and leases


class UidDecision(Base):
    """A mailbox UID decided on without a message or quarantine row of its own (a
    re-delivery of a message already logged), so the sweep can still mark it done."""

    __tablename__ = "uid_decisions"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_uid_decisions_mailbox_uid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    decision: Mapped[str] = mapped_column(String(16))  # "duplicate"
    message_pk: Mapped[int | None] = mapped_column(Integer)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ------------------------------------------------------------------ 0016_workbench: workbench


class CaseRead(Base):
    """When a person last opened a case: a family message after it is "new" to them."""

    __tablename__ = "case_reads"
    __table_args__ = (UniqueConstraint("case_id", "user_email", name="uq_case_reads_case_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    user_email: Mapped[str] = mapped_column(String(320))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Heartbeat(Base):
    """0018_health: what the daemon's threads last said (bot/health.py): one row per mailbox
    and one for the outbox sender, written by whichever process works it, read by
    ``sendiass-bot status``, ``/healthz`` and ``/metrics`` from other processes.

    Counters (``processed``, ``quarantined``, ``errors``) only ever grow, across restarts:
    they are the Prometheus counters. Nothing here names a person."""

    __tablename__ = "heartbeats"
    __table_args__ = (UniqueConstraint("kind", "name", name="uq_heartbeats_kind_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "mailbox" | "sender"
    name: Mapped[str] = mapped_column(String(200))  # the mailbox's name; "outbox"
    holder: Mapped[str] = mapped_column(String(200), default="")  # host|pid
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the thread was alive
    ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # last successful poll/pass
    error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # a clean stop
    backlog: Mapped[int | None] = mapped_column(Integer)  # messages seen, not yet processed
    processed: Mapped[int] = mapped_column(BigInteger, default=0)
    quarantined: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
