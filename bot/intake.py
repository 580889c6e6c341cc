"""``process(raw_bytes, source)``: one message through the pipeline, in one transaction.

The poller, ``ingest``, ``quarantine retry`` and the tests all come through here. The
message, its case, its events, its letters and the mailbox cursor are committed together,
so a process killed at any point leaves either all of it or none of it. A stage that fails
rolls the transaction back and the raw bytes are quarantined with the reason instead (the
cursor advancing in the same transaction), so one bad message never stops a run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.models import MailboxCursor, Message, QuarantineItem, UidDecision
from bot.parse import content_hash, received_time
from bot.pipeline.context import BatchMemory, Context, Outcome, Source
from bot.pipeline.stages import PIPELINE, Stage, StageEnv, prefetch_stored, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One message to process: its bytes, where it came from, when it arrived."""

    raw: bytes
    source: Source
    arrival: datetime | None = None


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
        """Log ``raw`` exactly once; never raises for a bad message.

        ``arrival`` is when the service received it (IMAP INTERNALDATE, the Maildir file's
        delivery time); without it, the newest ``Received:`` header, else now. The
        procedure's clock starts there, never at the sender's ``Date:``."""
        now = self.clock()
        arrival = arrival or received_time(raw, now) or now
        try:
            return self._run(raw, source, arrival, now)
        except (OperationalError, InterfaceError):
            raise  # the database is unreachable: not the message's fault; retry later
        except IntegrityError as exc:
            # Usually another writer logged the same message first. Look, rather than assume:
            # a constraint broken for any other reason must not lose the message.
            if self._uid_logged(source):
                return Result(Outcome.DUPLICATE, f"UID {source.uid} already logged")
            try:
                return self._run(raw, source, arrival, now)
            except IntegrityError:
                reason = f"store: IntegrityError: {exc.orig}"
                return self.quarantine(raw, source, "store", reason, now)
        except Exception as exc:
            stage = getattr(exc, "_sendiass_stage", "pipeline")
            reason = f"{stage}: {type(exc).__name__}: {exc}"
            log.warning("quarantining message from %s: %s", source.mailbox, reason)
            return self.quarantine(raw, source, stage, reason, now)

    def process_many(self, items: Sequence[Item]) -> list[Result]:
        """Several messages in one transaction (faster); the same outcome as one by one.

        If anything in the batch fails (a quarantine, a conflict, a bug), the transaction
        is rolled back and each message goes through :meth:`process` on its own.
        """
        if len(items) < 2:
            return [self.process(i.raw, i.source, i.arrival) for i in items]
        now = self.clock()
        batch = BatchMemory()
        try:
            with self.sessions.begin() as session, session.no_autoflush:
                # Parsing reads nothing from the database: parse the whole batch first,
                # then read what dedupe needs for all of it in one query.
                contexts = [
                    self._start(
                        session, i.raw, i.source, i.arrival or received_time(i.raw, now) or now,
                        now, batch,
                    )
                    for i in items
                ]  # fmt: skip
                prefetch_stored(
                    session,
                    batch,
                    [(c.source.service, c.parsed.message_id) for c in contexts if c.parsed],
                )
                for ctx in contexts:
                    self._finish(session, ctx, batch)
                for source in _last_uid_per_mailbox(items):
                    advance_cursor(session, source, now)
        except (OperationalError, InterfaceError):
            raise
        except Exception:  # isolate the failure: go one message at a time
            log.debug("batch of %d fell back to one message at a time", len(items))
            return [self.process(i.raw, i.source, i.arrival) for i in items]
        return [_result(ctx) for ctx in contexts]

    def _uid_logged(self, source: Source) -> bool:
        if source.uid is None:
            return False
        with self.sessions() as s:
            for model in (Message, QuarantineItem, UidDecision):
                hit = s.scalar(
                    select(model.id).where(
                        model.mailbox == source.mailbox,
                        model.uidvalidity == source.uidvalidity,
                        model.uid == source.uid,
                    )
                )
                if hit is not None:
                    return True
        return False

    def _run(self, raw: bytes, source: Source, arrival: datetime, now: datetime) -> Result:
        with self.sessions.begin() as session:
            ctx = self._pipeline(session, raw, source, arrival, now)
        return _result(ctx)

    def _pipeline(
        self,
        session: Session,
        raw: bytes,
        source: Source,
        arrival: datetime,
        now: datetime,
        batch: BatchMemory | None = None,
    ) -> Context:
        """Run the stages; in a batch (``batch`` given) the caller advances the cursor."""
        ctx = self._start(session, raw, source, arrival, now, batch)
        self._finish(session, ctx, batch)
        return ctx

    def _start(
        self,
        session: Session,
        raw: bytes,
        source: Source,
        arrival: datetime,
        now: datetime,
        batch: BatchMemory | None,
    ) -> Context:
        """The context, through the first stage (parse: it reads nothing from the database)."""
        ctx = Context(raw=raw, source=source, arrival=arrival, now=now, session=session)
        if batch is not None:
            ctx.batch = batch
        self._stages(ctx, PIPELINE[:1])
        return ctx

    def _stages(self, ctx: Context, stages: tuple[tuple[str, Stage, bool], ...]) -> None:
        for name, stage, after_discard in stages:
            if ctx.outcome in (Outcome.DUPLICATE, Outcome.QUARANTINE):
                break
            if ctx.outcome is Outcome.DISCARD and not after_discard:
                continue
            try:
                stage(ctx, self.env)
            except Exception as exc:
                exc._sendiass_stage = name  # type: ignore[attr-defined]
                raise

    def _finish(self, session: Session, ctx: Context, batch: BatchMemory | None) -> None:
        """The other stages, then the quarantine or duplicate record (and the cursor)."""
        self._stages(ctx, PIPELINE[1:])
        raw, source, now = ctx.raw, ctx.source, ctx.now
        if ctx.outcome is Outcome.QUARANTINE:
            # Stages quarantine before they write anything, so the bytes can be kept here.
            ctx.quarantined = _add_quarantine(
                session, raw, source, ctx.failed_stage or "pipeline", ctx.reason, now
            )
        if (
            ctx.outcome is Outcome.DUPLICATE
            and source.uid is not None
            and source.uidvalidity is not None
        ):
            # A re-delivery writes nothing else: record the decision for this UID, so the
            # sweep marks it done after a crash between the commit and the MOVE.
            session.add(
                UidDecision(
                    mailbox=source.mailbox,
                    uidvalidity=source.uidvalidity,
                    uid=source.uid,
                    decision="duplicate",
                    message_pk=ctx.duplicate_of,
                    decided_at=now,
                )
            )
        if batch is None:
            advance_cursor(session, source, now)

    def quarantine(
        self, raw: bytes, source: Source, stage: str, reason: str, now: datetime
    ) -> Result:
        """Keep the raw bytes and the reason; advance the cursor past them."""
        with self.sessions.begin() as session:
            item = _add_quarantine(session, raw, source, stage, reason, now)
            advance_cursor(session, source, now)
            session.flush()
            return Result(Outcome.QUARANTINE, reason, quarantine_id=item.id)


def _add_quarantine(
    session: Session, raw: bytes, source: Source, stage: str, reason: str, now: datetime
) -> QuarantineItem:
    """The quarantine row for ``raw`` (one per mailbox and content), in the caller's transaction."""
    digest = content_hash(raw)
    item = session.scalar(
        select(QuarantineItem).where(
            QuarantineItem.mailbox == source.mailbox, QuarantineItem.content_hash == digest
        )
    )
    if item is None:
        item = QuarantineItem(
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
        session.add(item)
    else:
        item.stage, item.reason = stage, reason[:2000]
    return item


def _result(ctx: Context) -> Result:
    """What happened to a committed message (ids are known once flushed)."""
    return Result(
        outcome=ctx.outcome,
        reason=ctx.reason,
        quarantine_id=ctx.quarantined.id if ctx.quarantined is not None else None,
        message_pk=ctx.message.id if ctx.message is not None else ctx.duplicate_of,
        case_reference=ctx.case.reference if ctx.case is not None else None,
        stages=tuple(f"{r.stage}:{r.result}" for r in ctx.trail),
    )


def _last_uid_per_mailbox(items: Sequence[Item]) -> list[Source]:
    """For each mailbox in ``items``, the source with the highest UID."""
    best: dict[str, Source] = {}
    for item in items:
        src = item.source
        if src.uid is None:
            continue
        if src.mailbox not in best or src.uid > (best[src.mailbox].uid or 0):
            best[src.mailbox] = src
    return list(best.values())


def advance_cursor(session: Session, source: Source, now: datetime) -> None:
    """Record that ``source.uid`` is done, in the caller's transaction (one UPDATE)."""
    if source.uid is None or source.uidvalidity is None:
        return
    moved: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(MailboxCursor)
        .where(
            MailboxCursor.mailbox == source.mailbox,
            MailboxCursor.uidvalidity == source.uidvalidity,
            MailboxCursor.last_uid < source.uid,
        )
        .values(last_uid=source.uid, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount == 0 and session.get(MailboxCursor, source.mailbox) is None:
        session.add(
            MailboxCursor(
                mailbox=source.mailbox,
                uidvalidity=source.uidvalidity,
                last_uid=source.uid,
                updated_at=now,
            )
        )


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
