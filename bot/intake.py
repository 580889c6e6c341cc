"""``process(raw_bytes, source)``: one message through the pipeline, in one transaction.

The poller, ``ingest``, ``quarantine retry`` and the tests all come through here. The
message, its case, its events, its letters and the mailbox cursor are committed together,
so a process killed at any point leaves either all of it or none of it. A stage that fails
rolls the transaction back and the raw bytes are quarantined with the reason instead (the
cursor advancing in the same transaction), so one bad message never stops a run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.models import MailboxCursor, QuarantineItem
from bot.parse import content_hash
from bot.pipeline.context import Context, Outcome, Source
from bot.pipeline.stages import PIPELINE, StageEnv, utcnow

log = logging.getLogger(__name__)


class _Quarantined(Exception):
    """A stage decided to quarantine: roll back, then keep the bytes."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(reason)
        self.stage, self.reason = stage, reason


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reason: str = ""
    message_pk: int | None = None
    case_reference: str | None = None
    quarantine_id: int | None = None
    stages: tuple[str, ...] = ()


class Intake:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        env: StageEnv,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.env = env
        self.clock = clock

    def process(self, raw: bytes, source: Source, arrival: datetime | None = None) -> Result:
        """Log ``raw`` exactly once; never raises for a bad message."""
        now = self.clock()
        arrival = arrival or now
        try:
            return self._run(raw, source, arrival, now)
        except _Quarantined as q:
            return self.quarantine(raw, source, q.stage, q.reason, now)
        except (OperationalError, InterfaceError):
            raise  # the database is unreachable: not the message's fault; retry later
        except IntegrityError:
            # Another writer logged the same message first: that is a duplicate, not an error.
            log.info("message from %s logged concurrently; treated as duplicate", source.mailbox)
            return Result(Outcome.DUPLICATE, "logged concurrently")
        except Exception as exc:
            stage = getattr(exc, "_sendiass_stage", "pipeline")
            reason = f"{stage}: {type(exc).__name__}: {exc}"
            log.warning("quarantining message from %s: %s", source.mailbox, reason)
            return self.quarantine(raw, source, stage, reason, now)

    def _run(self, raw: bytes, source: Source, arrival: datetime, now: datetime) -> Result:
        with self.sessions.begin() as session:
            ctx = Context(raw=raw, source=source, arrival=arrival, now=now, session=session)
            for name, stage, after_discard in PIPELINE:
                if ctx.outcome in (Outcome.DUPLICATE, Outcome.QUARANTINE):
                    break
                if ctx.outcome is Outcome.DISCARD and not after_discard:
                    continue
                try:
                    stage(ctx, self.env)
                except Exception as exc:
                    exc._sendiass_stage = name  # type: ignore[attr-defined]
                    raise
            if ctx.outcome is Outcome.QUARANTINE:
                raise _Quarantined(ctx.failed_stage or "pipeline", ctx.reason)
            advance_cursor(session, source, now)
            return Result(
                outcome=ctx.outcome,
                reason=ctx.reason,
                message_pk=ctx.message.id if ctx.message is not None else ctx.duplicate_of,
                case_reference=ctx.case.reference if ctx.case is not None else None,
                stages=tuple(f"{r.stage}:{r.result}" for r in ctx.trail),
            )

    def quarantine(
        self, raw: bytes, source: Source, stage: str, reason: str, now: datetime
    ) -> Result:
        """Keep the raw bytes and the reason; advance the cursor past them."""
        digest = content_hash(raw)
        with self.sessions.begin() as session:
            existing = session.scalar(
                select(QuarantineItem).where(
                    QuarantineItem.mailbox == source.mailbox,
                    QuarantineItem.content_hash == digest,
                )
            )
            if existing is None:
                existing = QuarantineItem(
                    mailbox=source.mailbox,
                    service=source.service,
                    uidvalidity=source.uidvalidity,
                    uid=source.uid,
                    source=source.path,
                    content_hash=digest,
                    stage=stage,
                    reason=reason[:2000],
                    raw=raw,
                    created_at=now,
                )
                session.add(existing)
            else:
                existing.stage, existing.reason = stage, reason[:2000]
            advance_cursor(session, source, now)
            session.flush()
            return Result(Outcome.QUARANTINE, reason, quarantine_id=existing.id)


def advance_cursor(session: Session, source: Source, now: datetime) -> None:
    """Record that ``source.uid`` is done, in the caller's transaction."""
    if source.uid is None or source.uidvalidity is None:
        return
    cursor = session.get(MailboxCursor, source.mailbox)
    if cursor is None:
        session.add(
            MailboxCursor(
                mailbox=source.mailbox,
                uidvalidity=source.uidvalidity,
                last_uid=source.uid,
                updated_at=now,
            )
        )
    elif cursor.uidvalidity == source.uidvalidity and source.uid > cursor.last_uid:
        cursor.last_uid = source.uid
        cursor.updated_at = now


def reset_cursor_if_changed(sessions: sessionmaker[Session], mailbox: str, uidvalidity: int) -> int:
    """The last UID done for ``mailbox``; 0 after a UIDVALIDITY change.

    After a change the old UIDs mean nothing: every message is fetched again, and the
    dedupe stage recognises those already logged by Message-ID and fingerprint, so
    nothing is logged twice.
    """
    with sessions.begin() as session:
        cursor = session.get(MailboxCursor, mailbox, with_for_update=True)
        if cursor is None:
            return 0
        if cursor.uidvalidity != uidvalidity:
            log.warning(
                "mailbox %s: UIDVALIDITY changed from %s to %s; rescanning (duplicates are "
                "recognised and not logged again)",
                mailbox,
                cursor.uidvalidity,
                uidvalidity,
            )
            cursor.uidvalidity = uidvalidity
            cursor.last_uid = 0
            return 0
        return cursor.last_uid
