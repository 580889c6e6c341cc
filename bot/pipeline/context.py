"""The typed context that flows through the intake pipeline's stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from bot.models import Case, Message, QuarantineItem, ReferenceCounter
from bot.parse import ParsedMessage
from classifiers.types import Classification


class Outcome(StrEnum):
    CONTINUE = "continue"
    #: Logged as a message, but no case and no letter (automated mail that threads nowhere).
    DISCARD = "discard"
    #: Already logged: nothing is written.
    DUPLICATE = "duplicate"
    #: Cannot be processed: raw bytes and reason go to the quarantine.
    QUARANTINE = "quarantine"


@dataclass
class BatchMemory:
    """What earlier messages of the same transaction wrote, for the stages' look-ups.

    Within a batch nothing is flushed until the commit, so a stage that asks the database
    "was this logged?" or "which case is this a reply to?" also asks this memory.
    """

    fingerprints: dict[tuple[str, str], list[tuple[str, Message]]] = field(default_factory=dict)
    case_by_message_id: dict[str, Case] = field(default_factory=dict)
    case_by_reference: dict[str, Case] = field(default_factory=dict)
    counters: dict[tuple[str, int], ReferenceCounter] = field(default_factory=dict)
    #: Messages already stored, by (service, Message-ID): ``[(id, fingerprint), ...]``,
    #: read in one query for the whole batch before the dedupe stage runs (see
    #: :meth:`bot.intake.Intake.process_many`); a key not here is asked of the database.
    stored: dict[tuple[str, str], list[tuple[int, str]]] = field(default_factory=dict)

    def remember(self, msg: Message, case: Case | None) -> None:
        key = (msg.service, msg.message_id)
        self.fingerprints.setdefault(key, []).append((msg.fingerprint, msg))
        if case is not None:
            self.case_by_message_id[msg.message_id] = case
            self.case_by_reference[case.reference] = case


@dataclass(frozen=True)
class Source:
    """Where the bytes came from."""

    mailbox: str
    service: str
    uidvalidity: int | None = None
    uid: int | None = None
    path: str | None = None  # for ``ingest``


@dataclass
class StageRecord:
    stage: str
    result: str
    note: str = ""

    def to_json(self) -> dict[str, str]:
        return {"stage": self.stage, "result": self.result, "note": self.note}


@dataclass
class Context:
    raw: bytes
    source: Source
    arrival: datetime  # when the server (or ingest) received it; aware
    now: datetime  # the current time, passed in; aware
    session: Session
    batch: BatchMemory = field(default_factory=BatchMemory)
    parsed: ParsedMessage | None = None
    dedupe_key: str = ""
    duplicate_of: int | None = None
    case: Case | None = None  # the case this message threads onto, or the new one
    thread_via: str | None = None
    mentions: list[str] = field(default_factory=list)  # same-service cases it names, not joined
    classification: Classification | None = None
    start_stage: int = 1
    needs_person: bool = True
    hold_reasons: list[str] = field(default_factory=list)
    deadlines: dict[str, Any] = field(default_factory=dict)
    message: Message | None = None
    outcome: Outcome = Outcome.CONTINUE
    reason: str = ""
    failed_stage: str | None = None
    quarantined: QuarantineItem | None = None
    trail: list[StageRecord] = field(default_factory=list)

    def record(self, stage: str, result: str, note: str = "") -> None:
        self.trail.append(StageRecord(stage, result, note))

    def stop(self, outcome: Outcome, reason: str) -> None:
        self.outcome = outcome
        self.reason = reason

    @property
    def rules(self) -> list[str]:
        """Ids of the classifier rules that fired."""
        if self.classification is None:
            return []
        return [r.rule for r in self.classification.reasons]
