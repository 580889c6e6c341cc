"""Sending the weekly digest: exactly one per recipient and ISO week, across restarts.

``run_once(now)``: for each recipient whose send time this week has passed (the day and time
in the configuration, in its time zone), write the rendered digest to ``digest_sends``; the
unique key (recipient, iso_week) means a second scheduler, or the same one after a restart,
finds the row and writes nothing. A daemon that was down at the send time sends the week's
digest when it comes back. Rows are then sent like outbox letters: claimed by a conditional
update (one claimant wins), sent, marked sent; a failed or abandoned send is retried.

The daemon's digest thread keeps a heartbeat (bot/health.py, task ``digest``): alive while it
sleeps between ticks; a tick is a failed run when it raised, when a send failed, or while a
digest of the past week that failed to send is still waiting (only the error's kind is kept).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import TYPE_CHECKING, cast
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import DigestConfig, DigestRecipient
from bot.letters.sender import Transport
from bot.models import DigestSend
from bot.reports.digest import build_digest, build_message, week_label
from bot.services import Service

if TYPE_CHECKING:
    from bot.health import Heartbeat

log = logging.getLogger(__name__)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CLAIM_TIMEOUT = timedelta(minutes=15)
RETRY_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 20
TICK_SECONDS = 30.0


def send_time(recipient: DigestRecipient, now: datetime, tz: ZoneInfo) -> tuple[str, datetime]:
    """The ISO week ``now`` falls in (local time) and this week's send time (aware)."""
    local = now.astimezone(tz).date()
    monday = local - timedelta(days=local.weekday())
    day = monday + timedelta(days=WEEKDAYS.index(recipient.day))
    hh, mm = (int(x) for x in recipient.time.split(":"))
    return week_label(monday), datetime.combine(day, time(hh, mm), tz)


@dataclass
class DigestStats:
    written: int = 0
    sent: int = 0
    failed: int = 0
    #: The kind (exception class name) of the last failed send, never its text.
    error_kind: str | None = None


class DigestScheduler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        services: Mapping[str, Service],
        config: DigestConfig,
        transport: Transport,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.services = services
        self.config = config
        self.transport = transport
        self.clock = clock
        self.tz = ZoneInfo(config.timezone)
        self.token_prefix = f"{socket.gethostname()}:{os.getpid()}"
        #: The daemon's heartbeat for this thread (task ``digest``), set by run_daemon.
        self.heartbeat: Heartbeat | None = None

    def _services_for(self, r: DigestRecipient) -> tuple[str, ...]:
        return tuple(sorted(r.services or self.services))

    def write_due(self, now: datetime, stats: DigestStats) -> None:
        for r in self.config.recipients:
            week, at = send_time(r, now, self.tz)
            if now < at:
                continue
            key = r.email.lower()
            with self.sessions() as s:
                exists = s.scalar(
                    select(DigestSend.id).where(
                        DigestSend.recipient == key, DigestSend.iso_week == week
                    )
                )
                if exists is not None:
                    continue
                today = at.astimezone(self.tz).date()
                d = build_digest(s, self.services, self._services_for(r), week, today, now)
                msg = build_message(d, self.config.from_addr, r.email, now)
                s.add(
                    DigestSend(
                        recipient=key,
                        iso_week=week,
                        services=list(d.services),
                        status="pending",
                        message_id=str(msg["Message-ID"]),
                        raw=msg.as_bytes(),
                        attempts=0,
                        created_at=now,
                    )
                )
                try:
                    s.commit()
                except IntegrityError:  # another scheduler wrote it first
                    s.rollback()
                    continue
                stats.written += 1
                log.info("digest %s for %s written", week, key)

    def _claim(self, now: datetime) -> tuple[int, str] | None:
        stale = now - CLAIM_TIMEOUT
        with self.sessions() as s:
            candidates = s.scalars(
                select(DigestSend.id)
                .where(
                    ((DigestSend.status == "pending") & (DigestSend.attempts < MAX_ATTEMPTS))
                    | ((DigestSend.status == "sending") & (DigestSend.claimed_at < stale))
                )
                .order_by(DigestSend.id)
            ).all()
            for row_id in candidates:
                row = s.get(DigestSend, row_id)
                if row is None:
                    continue
                if (
                    row.status == "pending"
                    and row.claimed_at
                    and row.claimed_at > now - RETRY_AFTER
                ):
                    continue  # failed recently: wait before retrying
                token = f"{self.token_prefix}:{uuid.uuid4().hex}"
                result = s.execute(
                    update(DigestSend)
                    .where(
                        DigestSend.id == row_id,
                        DigestSend.status == row.status,
                        DigestSend.attempt_token.is_(None)
                        if row.attempt_token is None
                        else DigestSend.attempt_token == row.attempt_token,
                    )
                    .values(
                        status="sending",
                        attempt_token=token,
                        claimed_at=now,
                        attempts=DigestSend.attempts + 1,
                    )
                    .execution_options(synchronize_session=False)
                )
                s.commit()
                if getattr(result, "rowcount", 0) == 1:
                    return row_id, token
        return None

    def send_pending(self, now: datetime, stats: DigestStats) -> None:
        tried: set[int] = set()
        while True:
            claim = self._claim(now)
            if claim is None or claim[0] in tried:
                return
            row_id, token = claim
            tried.add(row_id)
            with self.sessions() as s:
                row = s.get(DigestSend, row_id)
                assert row is not None
                raw, to_addr = row.raw, row.recipient
            msg = cast(EmailMessage, message_from_bytes(raw, policy=policy.default))
            try:
                self.transport.send(msg, self.config.from_addr, [to_addr])
                values: dict[str, object] = {"status": "sent", "sent_at": self.clock()}
                stats.sent += 1
            except Exception as exc:
                log.warning("digest to %s not sent: %s", to_addr, exc)
                values = {"status": "pending", "last_error": f"{type(exc).__name__}: {exc}"}
                stats.failed += 1
                stats.error_kind = type(exc).__name__
            finally:
                self.transport.close()
            with self.sessions() as s:
                s.execute(
                    update(DigestSend)
                    .where(DigestSend.id == row_id, DigestSend.attempt_token == token)
                    .values(
                        **values, attempt_token=None if values["status"] == "pending" else token
                    )
                    .execution_options(synchronize_session=False)
                )
                s.commit()

    def run_once(self, now: datetime | None = None) -> DigestStats:
        now = now or self.clock()
        stats = DigestStats()
        self.write_due(now, stats)
        self.send_pending(now, stats)
        return stats

    def waiting_after_failure(self, now: datetime) -> int:
        """Digests of the past week that failed to send and have not gone yet."""
        with self.sessions() as s:
            return (
                s.scalar(
                    select(func.count())
                    .select_from(DigestSend)
                    .where(
                        DigestSend.status.in_(("pending", "sending")),
                        DigestSend.last_error.is_not(None),
                        DigestSend.created_at >= now - timedelta(days=7),
                    )
                )
                or 0
            )

    def tick(self) -> None:
        """One run, told to the heartbeat (if there is one): a success, or a failure with the
        error's kind (a raised exception, a failed send, a failed digest still waiting)."""
        from bot.health import error_kind

        hb = self.heartbeat
        try:
            now = self.clock()
            stats = self.run_once(now)
            waiting = self.waiting_after_failure(now) if not stats.failed else 0
        except Exception as exc:
            log.warning("digest scheduler: %s", type(exc).__name__, exc_info=True)
            if hb is not None:
                hb.failure(error_kind(exc))
            return
        if hb is None:
            return
        if stats.failed:
            hb.failure(stats.error_kind or "SendFailed")
        elif waiting:
            hb.beat()  # the failed digest waits for its retry: not a success yet
        else:
            hb.success(processed=stats.sent)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: catch up at start (a missed send goes now), then check each tick;
        the heartbeat beats while it sleeps."""
        if self.heartbeat is not None:
            self.heartbeat.start()
        while not stop.is_set():
            self.tick()
            if self.heartbeat is not None:
                self.heartbeat.pause(stop, TICK_SECONDS)
            else:
                stop.wait(TICK_SECONDS)
        if self.heartbeat is not None:
            self.heartbeat.stopped()
