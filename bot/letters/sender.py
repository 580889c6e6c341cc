"""Draining the outbox: one thread sends what intake committed, over SMTP or into a folder.

States of an outbox row::

    held --approve--> pending --claim--> sending --accepted--> sent
      |                  ^                  |
      +--discard-->      +----deferred------+ (next_attempt_at, backoff capped at
      discarded                             |  retry_max; failed after MAX_ATTEMPTS 4xx
                                            |  replies or when refused for good, never
                                            |  for a server outage)
                                            +--refused--> failed --approve--> pending

Claiming is a compare-and-set UPDATE (status and previous token must still match), which
sets an attempt token naming this host, process and attempt, and commits before anything is
sent: two senders never send the same row at once. A row left in ``sending`` by a process
that died (same host and the process is gone, or the claim is older than the lease) is
claimed again and re-sent **with the same Message-ID**, which was fixed when the row was
written.

The double-send window is as narrow as SMTP allows. Before ``DATA`` the claim is marked
*handed over* (``handed_over_at``, committed); the row's ``sent`` state (and the case's
events) is written, uncommitted, before the final ``.`` goes out, and committed the moment
the server's 250 arrives. So only a crash between the server's 250 and that COMMIT (well
under a millisecond apart) leaves a delivered letter unrecorded. A claim abandoned before
``DATA`` is re-sent at once (the server has nothing); one abandoned while handed over is
re-sent only after ``resend_after`` (15 minutes by default: the first copy, if there was
one, has arrived first), **with the same Message-ID**, so the receiving side (and mail
clients) can recognise a duplicate. That is the remaining guarantee: at least once, at
most twice, the second copy only after a crash in that sub-millisecond window. The other
choice, at most once, could lose an acknowledgement the procedure requires. The folder
transport is exactly once: its file name derives from the Message-ID and is created
atomically, so a repeat finds it already there.
"""

from __future__ import annotations

import contextlib
import copy
import email.generator
import hashlib
import io
import logging
import os
import re
import smtplib
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import files
from bot.casestate import add_event, apply_state, state_of
from bot.config import OutboundConfig
from bot.errors import UserError
from bot.faults import crash_point
from bot.letters import ACKNOWLEDGEMENTS
from bot.letters.mime import build_message
from bot.lifecycle import Action, Status, transition
from bot.logjson import redact
from bot.models import Case, OutboxLetter
from bot.models import Heartbeat as HeartbeatRow
from bot.services import Service
from bot.workdays import to_london

if TYPE_CHECKING:
    from bot.health import Heartbeat

log = logging.getLogger(__name__)

#: A claim older than this is taken to be abandoned, whoever holds it.
LEASE_SECONDS = 600.0
BACKOFF_INITIAL = 15.0
#: The longest wait between two tries (``outbound.retry_max``): a server outage is
#: probed at least this often, and every waiting letter goes as soon as a probe succeeds.
BACKOFF_MAX = 300.0
#: ``last_error`` prefix of letters waiting for the server (not for anything of their own).
SERVER_DOWN = "server down: "
#: After this many attempts a letter is marked failed, for a person to look at (about a day).
MAX_ATTEMPTS = 48
#: How long the sender sleeps when nothing wakes it (approvals made from the command line).
IDLE_WAIT = 5.0
#: How old a sender's last heartbeat (bot/health.py) may be for the web UI to say "the sender
#: sends it within a minute" (:func:`sender_running`).
HEARTBEAT_FRESH = timedelta(minutes=2)
SMTP_TIMEOUT = 30.0
#: A letter whose sender died while handing it over is sent again after this long.
RESEND_AFTER = 900.0
_OUTBOX = cast(Table, OutboxLetter.__table__)
#: Letters read per look at the outbox (each still claimed one by one).
CANDIDATES = 50


class TransportDown(Exception):
    """The server cannot be reached or refuses us (connection, TLS, login): try later."""


class Deferred(Exception):
    """This letter was not accepted this time (a 4xx reply): try it later."""


class Refused(Exception):
    """This letter was refused for good (a 5xx reply to its sender, recipient or content)."""


class Handover(Protocol):
    """The sender's side of one SMTP hand-over (see the module docstring)."""

    def before_data(self) -> None:
        """Commit "handed over" before ``DATA``: from here the server may get the letter."""

    def before_end(self) -> bool:
        """Write ``sent`` (uncommitted) before the final dot; False: the claim is lost,
        do not finish the letter."""
        return True

    def accepted(self) -> None:
        """The server's 250 arrived: commit at once."""

    def abandon(self) -> None:
        """The letter was not accepted: roll the uncommitted ``sent`` back."""


class Transport(Protocol):
    def send(
        self,
        msg: EmailMessage,
        sender: str,
        recipients: list[str],
        handover: Handover | None = None,
    ) -> None: ...

    def close(self) -> None: ...


class Unknown(Exception):
    """The connection broke after the final dot: the server may have accepted the letter."""


_LEADING_DOT = re.compile(rb"(?m)^\.")


def _flatten(msg: EmailMessage) -> bytes:
    """The message as smtplib's ``send_message`` puts it on the wire (CRLF, no Bcc)."""
    if msg["Bcc"] is not None or msg["Resent-Bcc"] is not None:
        msg = copy.copy(msg)
        del msg["Bcc"]
        del msg["Resent-Bcc"]
    with io.BytesIO() as out:
        gen = email.generator.BytesGenerator(out, policy=msg.policy.clone(linesep="\r\n"))
        gen.flatten(msg, linesep="\r\n")
        return out.getvalue()


def _reply_error(what: str, code: int, reply: bytes) -> Exception:
    text = f"{what}: {code} {reply!r}"
    return Refused(text) if code >= 500 else Deferred(text)


class SmtpTransport:
    """SMTP submission with implicit TLS, STARTTLS or (on the same host only) plain; the
    connection is kept for one pass over the outbox."""

    def __init__(self, cfg: OutboundConfig, timeout: float = SMTP_TIMEOUT) -> None:
        self.cfg = cfg
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        cafile = str(self.cfg.cafile) if self.cfg.cafile else None
        return ssl.create_default_context(cafile=cafile)

    def _connect(self) -> smtplib.SMTP:
        cfg = self.cfg
        smtp: smtplib.SMTP | None = None
        try:
            if cfg.tls == "ssl":
                smtp = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=self.timeout, context=self._context()
                )
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=self.timeout)
            if smtp.sock is not None and smtp.sock.family in (socket.AF_INET, socket.AF_INET6):
                # The end of DATA (".") goes as its own small write after the body, once the
                # claim is checked (see _LetterHandover): without this, Nagle's algorithm holds
                # it until the server's delayed ACK, about 40 ms per letter.
                smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            smtp.ehlo()
            if cfg.tls == "starttls":
                smtp.starttls(context=self._context())
                smtp.ehlo()
            password = cfg.password.resolve()
            if cfg.username and password is not None:
                smtp.login(cfg.username, password)
            return smtp
        except (OSError, smtplib.SMTPException) as exc:
            if smtp is not None:
                with contextlib.suppress(OSError):
                    smtp.close()
            raise TransportDown(f"{cfg.host}:{cfg.port}: {type(exc).__name__}: {exc}") from exc

    def send(
        self,
        msg: EmailMessage,
        sender: str,
        recipients: list[str],
        handover: Handover | None = None,
    ) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        smtp = self._smtp
        ended = False
        try:
            code, reply = smtp.mail(sender)
            if code != 250:
                smtp.rset()
                raise _reply_error("sender refused", code, reply)
            for rcpt in recipients:
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    smtp.rset()
                    raise _reply_error(f"recipient {rcpt}", code, reply)
            if handover is not None:
                handover.before_data()
            code, reply = smtp.docmd("DATA")
            if code != 354:
                smtp.rset()
                raise _reply_error("DATA", code, reply)
            body = _LEADING_DOT.sub(b"..", _flatten(msg))
            if not body.endswith(b"\r\n"):
                body += b"\r\n"
            smtp.send(body)
            if handover is not None and not handover.before_end():
                # Someone else holds the claim now: never finish this copy.
                self.close_now()
                raise Deferred("claim lost before the end of DATA; letter not finished")
            ended = True
            smtp.send(b".\r\n")
            code, reply = smtp.getreply()
            if code == 250:
                if handover is not None:
                    handover.accepted()
                return
            if handover is not None:
                handover.abandon()
            raise _reply_error("message", code, reply)
        except (OSError, smtplib.SMTPException) as exc:
            if handover is not None:
                handover.abandon()
            self.close_now()
            if ended:
                raise Unknown(f"{type(exc).__name__}: {exc}") from exc
            raise TransportDown(f"{type(exc).__name__}: {exc}") from exc

    def close_now(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


class FolderTransport:
    """One ``.eml`` file per letter in a folder (the embedded default's "maildir" outbound).

    The name is derived from the Message-ID and the file is linked into place atomically,
    so sending the same letter again leaves the one file there is."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def file_for(self, message_id: str) -> Path:
        digest = hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:32]
        return self.path / f"{digest}.eml"

    def send(
        self,
        msg: EmailMessage,
        sender: str,
        recipients: list[str],
        handover: Handover | None = None,
    ) -> None:
        try:
            files.private_dir(self.path)
            final = self.file_for(str(msg["Message-ID"]))
            if final.exists():
                return
            tmp = self.path / f".{final.stem}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
            with os.fdopen(files.open_private(tmp), "wb") as fh:  # 0600 from the start
                fh.write(msg.as_bytes())
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, final)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        except OSError as exc:
            raise TransportDown(f"{self.path}: {exc}") from exc

    def close(self) -> None:
        return None


def make_transport(cfg: OutboundConfig) -> Transport:
    if cfg.transport == "smtp":
        return SmtpTransport(cfg)
    assert cfg.path is not None
    return FolderTransport(cfg.path)


@dataclass
class SendStats:
    sent: int = 0
    deferred: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return f"letters: sent {self.sent}, deferred {self.deferred}, failed {self.failed}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Sender:
    """Drains the outbox; :meth:`run` in its own thread, woken by :attr:`wake`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        services: Mapping[str, Service],
        transport: Transport,
        clock: Callable[[], datetime],
        *,
        lease_seconds: float = LEASE_SECONDS,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
        max_attempts: int = MAX_ATTEMPTS,
        idle_wait: float = IDLE_WAIT,
        resend_after: float = RESEND_AFTER,
    ) -> None:
        self.sessions = sessions
        self.services = services
        self.transport = transport
        self.clock = clock
        self.lease = timedelta(seconds=lease_seconds)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_attempts = max_attempts
        self.idle_wait = idle_wait
        self.resend_after = timedelta(seconds=resend_after)
        self.wake = threading.Event()
        self.host = socket.gethostname()
        self.instance = f"{self.host}|{os.getpid()}|{uuid.uuid4().hex[:12]}"
        self._attempt = 0
        self._paused_until: datetime | None = None
        self._down_count = 0
        #: The daemon's (and poll-once's) heartbeat for the sender (bot/health.py).
        self.heartbeat: Heartbeat | None = None
        self._down_error: str | None = None  # this pass found the server down

    # ---------------------------------------------------------------------- claims

    def _backoff(self, n: int) -> timedelta:
        seconds = min(self.backoff_initial * 2 ** max(n - 1, 0), self.backoff_max)
        return timedelta(seconds=seconds)

    def _abandoned(self, token: str | None, claimed_at: datetime | None, now: datetime) -> bool:
        """A ``sending`` row whose claim no live sender holds."""
        if token is None or claimed_at is None or claimed_at < now - self.lease:
            return True
        if token.startswith(self.instance + "|"):
            return True  # ours, but we are not sending it now: an earlier attempt broke off
        host, _, rest = token.partition("|")
        pid = rest.partition("|")[0]
        return host == self.host and pid.isdigit() and not _pid_alive(int(pid))

    def _candidates(self, now: datetime, skip: set[int]) -> list[Any]:
        """Up to :data:`CANDIDATES` letters that may be due now, oldest first (a snapshot:
        each is claimed by compare-and-set against the state read here)."""
        L = OutboxLetter
        query = (
            select(L.id, L.status, L.attempt_token, L.claimed_at, L.handed_over_at)
            .where(
                or_(
                    and_(
                        L.status == "pending",
                        or_(L.next_attempt_at.is_(None), L.next_attempt_at <= now),
                    ),
                    L.status == "sending",
                ),
                L.id.not_in(skip) if skip else L.id.is_not(None),
            )
            .order_by(L.id)
            .limit(CANDIDATES)
        )
        with self.sessions() as s:
            return list(s.execute(query).all())

    def _claim_next(
        self, now: datetime, skip: set[int], cached: list[Any] | None = None
    ) -> tuple[int, str] | None:
        """Claim the next letter due.

        Candidates are read once per :data:`CANDIDATES` letters (``cached``, consumed from
        the front, holds the rest of the last read) rather than for every letter; each is
        claimed by a compare-and-set UPDATE (status, previous token and, for a pending
        letter, its due time must still be what was read), so two senders never send one
        letter at once and a stale candidate is simply passed over. On PostgreSQL the row
        is also taken ``FOR UPDATE SKIP LOCKED``, so daemons sharing the outbox pass each
        other by instead of queueing on the same rows."""
        if cached is None:
            cached = []
        while True:
            fresh = not cached
            if fresh:
                cached.extend(self._candidates(now, skip))
            while cached:
                row = cached.pop(0)
                if row.id in skip:
                    continue
                with self.sessions.begin() as s:
                    token = self._try_claim(s, row, now)
                if token is not None:
                    return row.id, token
            if fresh:
                return None  # nothing just read can be claimed
            # every candidate left from an earlier read was passed over: read again

    def _try_claim(self, s: Session, row: Any, now: datetime) -> str | None:
        L = _OUTBOX.c  # a Core UPDATE: the ORM's bulk-update path costs more than the SQL
        if row.status == "sending" and not self._abandoned(row.attempt_token, row.claimed_at, now):
            return None
        if (
            row.status == "sending"
            and row.handed_over_at is not None
            and now < row.handed_over_at + self.resend_after
        ):
            return None  # the server may have it: give the first copy time to arrive
        self._attempt += 1
        token = f"{self.instance}|{self._attempt}"

        def still(c: Any) -> list[Any]:
            """The row is as read: same status and token and, if pending, still due (the
            candidate list may be a little old)."""
            same = [
                c.id == row.id,
                c.status == row.status,
                c.attempt_token.is_(None)
                if row.attempt_token is None
                else c.attempt_token == row.attempt_token,
            ]
            if row.status == "pending":
                same.append(or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now))
            return same

        where = still(L)
        if s.get_bind().dialect.name == "postgresql":
            # and not a row another daemon is claiming right now: pass it by
            row_ = _OUTBOX.alias("candidate")
            where = [
                L.id
                == select(row_.c.id)
                .where(*still(row_.c))
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            ]
        claimed = s.execute(
            update(_OUTBOX)
            .where(*where)
            .values(
                status="sending",
                attempt_token=token,
                claimed_at=now,
                handed_over_at=None,
                attempts=L.attempts + 1,
            )
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return None
        if row.status == "sending":
            log.warning(
                "letter %d: taking over an abandoned send%s; same Message-ID",
                row.id,
                " (handed over before the crash)" if row.handed_over_at else "",
            )
        return token

    def _finish(self, letter_id: int, token: str, **values: Any) -> OutboxLetter | None:
        """Record the attempt's result, if the claim is still ours."""
        with self.sessions.begin() as s:
            return self._record(s, letter_id, token, **values)

    def _record(self, s: Session, letter_id: int, token: str, **values: Any) -> OutboxLetter | None:
        """The attempt's result in ``s`` (not committed), if the claim is still ours."""
        L = OutboxLetter
        done = s.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.id == letter_id, _OUTBOX.c.attempt_token == token)
            .values(**values)
        )
        if getattr(done, "rowcount", 0) != 1:
            log.warning("letter %d: claim lost before the result was recorded", letter_id)
            return None
        if values.get("status") != "sent":
            return s.get(L, letter_id)
        # The letter and its case in one round trip (the case gets the events).
        letter, case = s.execute(
            select(L, Case).outerjoin(Case, Case.id == L.case_id).where(L.id == letter_id)
        ).one()
        if case is not None:
            add_event(
                s,
                case,
                values["sent_at"],
                "letter_sent",
                {
                    "purpose": letter.purpose,
                    "outbox_id": letter.id,
                    "message_id": letter.message_id,
                    "acknowledgement": letter.purpose in ACKNOWLEDGEMENTS,
                    "attempts": letter.attempts,
                },
            )
            if letter.purpose in ACKNOWLEDGEMENTS:
                self._acknowledged(s, case, values["sent_at"])
        return letter

    def _acknowledged(self, session: Session, case: Case, sent_at: datetime) -> None:
        """The acknowledgement left: the case moves on, and its acknowledgement clock stops."""
        service = self.services[case.service]
        state = state_of(case, service)
        if state.status is not Status.RECEIVED:
            return  # a coordinator acknowledged it already (or it moved on)
        after, event = transition(
            state, Action.ACKNOWLEDGE, service, to_london(sent_at, service.tz)
        )
        apply_state(case, after)
        add_event(session, case, sent_at, "acknowledge", event)

    # ----------------------------------------------------------------------- sends

    def _send_one(self, letter_id: int, token: str, stats: SendStats) -> bool:
        """Send one claimed letter; False when the transport is down (stop this pass)."""
        now = self.clock()
        with self.sessions() as s:
            letter = s.get(OutboxLetter, letter_id)
            assert letter is not None
            service = self.services.get(letter.service or "")
            attempts, sender, to = letter.attempts, letter.from_addr, letter.to_addr
            try:
                msg: EmailMessage | None = build_message(
                    letter, service.name if service else "", now
                )
                problem = ""
            except ValueError as exc:
                msg, problem = None, f"cannot build the message: {exc}"
        if msg is None:
            self._fail(letter_id, token, problem, stats)
            return True
        crash_point("before-send")
        handover = _LetterHandover(self, letter_id, token)
        try:
            self.transport.send(msg, sender, [to], handover)
        except Unknown as exc:
            # The connection broke after the final dot: the server may have the letter.
            error = f"no reply after the letter was handed over ({exc}); sending again later"
            self._finish(
                letter_id,
                token,
                status="pending",
                last_error=error[:2000],
                next_attempt_at=self.clock() + self.resend_after,
            )
            stats.deferred += 1
            return False
        except (TransportDown, UserError) as exc:  # UserError: e.g. password_env not set
            # The server's fault, not the letter's: never counts towards failing it. Every
            # waiting letter shows the error and the next try (the next probe).
            self._down_count += 1
            self._paused_until = now + self._backoff(self._down_count)
            error = f"{SERVER_DOWN}{exc}"[:2000]
            self._finish(
                letter_id,
                token,
                status="pending",
                last_error=error,
                next_attempt_at=self._paused_until,
            )
            self._mark_waiting(error, self._paused_until)
            self._down_error = f"{type(exc).__name__}: {exc}"
            stats.deferred += 1
            log.warning("outbound transport down: %s; next try %s", exc, self._paused_until)
            return False
        except Deferred as exc:
            self._defer(letter_id, token, attempts, str(exc), stats)
            return True
        except Refused as exc:
            self._fail(letter_id, token, str(exc), stats)
            return True
        if self._down_count:
            self._release_waiting()
        self._down_count = 0
        self._paused_until = None
        if handover.committed:
            sent = handover.letter
        else:  # a transport without a hand-over (the folder): record it now
            crash_point("after-send")
            sent = self._finish(letter_id, token, **_sent_values(self.clock()))
        if sent is not None:
            stats.sent += 1
            log.info("letter %d (%s) sent", letter_id, sent.purpose)
        return True

    def _mark_waiting(self, error: str, until: datetime) -> None:
        L = OutboxLetter
        with self.sessions.begin() as s:
            s.execute(
                update(L)
                .where(
                    L.status == "pending",
                    or_(L.next_attempt_at.is_(None), L.next_attempt_at < until),
                )
                .values(last_error=error, next_attempt_at=until)
                .execution_options(synchronize_session=False)
            )

    def _release_waiting(self) -> None:
        """The server is back (a probe succeeded): every letter that waited for it is due."""
        L = OutboxLetter
        with self.sessions.begin() as s:
            done = s.execute(
                update(L)
                .where(L.status == "pending", L.last_error.startswith(SERVER_DOWN))
                .values(next_attempt_at=None)
                .execution_options(synchronize_session=False)
            )
        log.info("outbound server back: %d letter(s) released", getattr(done, "rowcount", 0))

    def _stage_sent(self, s: Session, letter_id: int, token: str) -> OutboxLetter | None:
        return self._record(s, letter_id, token, **_sent_values(self.clock()))

    def _defer(
        self, letter_id: int, token: str, attempts: int, error: str, stats: SendStats
    ) -> None:
        if attempts >= self.max_attempts:
            self._fail(letter_id, token, f"gave up after {attempts} attempts: {error}", stats)
            return
        self._finish(
            letter_id,
            token,
            status="pending",
            last_error=error[:2000],
            next_attempt_at=self.clock() + self._backoff(attempts),
        )
        stats.deferred += 1
        log.info("letter %d deferred (attempt %d): %s", letter_id, attempts, redact(error))

    def _fail(self, letter_id: int, token: str, error: str, stats: SendStats) -> None:
        self._finish(letter_id, token, status="failed", last_error=error[:2000])
        stats.failed += 1
        log.warning("letter %d failed: %s", letter_id, redact(error))  # the letter keeps it all

    def drain_once(self) -> SendStats:
        """Send every letter that is due now (unless the transport is paused)."""
        stats = SendStats()
        now = self.clock()
        if self._paused_until is not None and now < self._paused_until:
            return stats
        tried: set[int] = set()
        cached: list[Any] = []
        try:
            while True:
                claim = self._claim_next(now, tried, cached)
                if claim is None:
                    break
                tried.add(claim[0])
                if not self._send_one(*claim, stats):
                    break
                if self.heartbeat is not None:  # a long pass over many letters is alive
                    self.heartbeat.beat()
        finally:
            self.transport.close()
        return stats

    def drain_and_report(self) -> SendStats:
        """:meth:`drain_once`, then tell the heartbeat how the pass went (if there is one):
        a pass that reached the server (or had nothing to send) is a success; one that found
        the server down is a failure; a pass skipped while waiting for the server is only
        a sign of life."""
        paused = self._paused_until is not None and self.clock() < self._paused_until
        self._down_error = None
        try:
            stats = self.drain_once()
        except Exception as exc:
            if self.heartbeat is not None:
                self.heartbeat.failure(f"{type(exc).__name__}: {exc}")
            raise
        if self.heartbeat is not None:
            if self._down_error is not None:
                self.heartbeat.failure(self._down_error)
            elif paused:
                self.heartbeat.beat()
            elif stats.sent:
                self.heartbeat.success(processed=stats.sent)
            else:
                self.heartbeat.beat(ok=True)
        return stats

    def run(self, stop: threading.Event) -> None:
        """Drain, then sleep until woken (a commit, shutdown) or :attr:`idle_wait` passes.
        A running sender always says so (its heartbeat: ``status``, ``/healthz`` and the web
        UI's "the sender sends it within a minute" read it)."""
        if self.heartbeat is None:
            from bot.health import OUTBOX, SENDER, Heartbeat

            self.heartbeat = Heartbeat(self.sessions, SENDER, OUTBOX, 15.0, clock=self.clock)
        self.heartbeat.start()
        while not stop.is_set():
            self.wake.clear()
            try:
                stats = self.drain_and_report()
                if stats.sent or stats.deferred or stats.failed:
                    log.info("%s", stats)
            except Exception as exc:  # the database may be away; try again later
                log.warning("letters: %s: %s", type(exc).__name__, exc)
            if stop.is_set():
                break
            self._idle(stop)
        if self.heartbeat is not None:
            self.heartbeat.stopped()

    def _idle(self, stop: threading.Event) -> None:
        """Sleep until woken or :attr:`idle_wait` passes, beating on the way (an idle sender
        is alive, whatever ``idle_wait`` is)."""
        if self.heartbeat is None:
            self.wake.wait(self.idle_wait)
        else:
            self.heartbeat.pause(stop, self.idle_wait, wake=self.wake)


def sender_running(session: Session, now: datetime) -> bool:
    """Whether an outbox sender (the daemon's, or a cron ``poll-once``'s pass) has said it
    runs within :data:`HEARTBEAT_FRESH` of ``now`` and has not stopped (its heartbeat row,
    :mod:`bot.health`)."""
    H = HeartbeatRow
    last = session.scalar(
        select(func.max(H.beat_at)).where(H.kind == "sender", H.stopped_at.is_(None))
    )
    return last is not None and last >= now - HEARTBEAT_FRESH


def _sent_values(now: datetime) -> dict[str, Any]:
    return {
        "status": "sent",
        "sent_at": now,
        "last_error": None,
        "next_attempt_at": None,
    }


class _LetterHandover:
    """One letter's hand-over to the SMTP server (see the module docstring)."""

    def __init__(self, sender: Sender, letter_id: int, token: str) -> None:
        self.sender = sender
        self.letter_id = letter_id
        self.token = token
        self.session: Session | None = None
        self.letter: OutboxLetter | None = None
        self.committed = False

    def before_data(self) -> None:
        L = _OUTBOX.c
        with self.sender.sessions.begin() as s:
            s.execute(
                update(_OUTBOX)
                .where(L.id == self.letter_id, L.attempt_token == self.token)
                .values(handed_over_at=self.sender.clock())
            )

    def before_end(self) -> bool:
        session = self.sender.sessions()
        letter = self.sender._stage_sent(session, self.letter_id, self.token)
        if letter is None:
            session.rollback()
            session.close()
            return False
        self.session, self.letter = session, letter
        return True

    def accepted(self) -> None:
        assert self.session is not None
        crash_point("after-send")  # the server has it; our record is not committed yet
        self.session.commit()
        self.committed = True
        self.session.close()
        self.session = None

    def abandon(self) -> None:
        if self.session is not None:
            self.session.rollback()
            self.session.close()
            self.session = None
        self.letter = None
