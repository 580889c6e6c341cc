"""The daemon's loop: each mailbox in its own thread, IDLE where offered, polling otherwise,
reconnecting with exponential backoff. One failing mailbox never stops the others.

Transport stays thin: a worker fetches bytes, hands them to :meth:`Intake.process`, and
marks them done on the server only after the commit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.app import App
from bot.config import MailboxConfig
from bot.faults import crash_point
from bot.health import DIGEST, MAILBOX, OUTBOX, SENDER, TASK, Heartbeat
from bot.intake import Item, reset_cursor_if_changed
from bot.lease import STANDBY_INTERVAL, MailboxLease
from bot.letters.sender import make_transport
from bot.pipeline.context import Source
from bot.reports.schedule import DigestScheduler
from bot.sources.imap import Fetched, ImapMailbox
from bot.sources.maildir import MaildirItem, MaildirSource

log = logging.getLogger(__name__)

#: Messages committed in one transaction (then marked on the server together).
COMMIT_BATCH = 50


@dataclass
class PollStats:
    mailbox: str
    fetched: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    swept: int = 0
    #: Messages seen on the server (or in the folder) and not processed yet.
    backlog: int = 0

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def __str__(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        return f"{self.mailbox}: fetched {self.fetched}" + (f" ({parts})" if parts else "")


class MailboxWorker:
    """Reads one configured mailbox."""

    def __init__(
        self,
        app: App,
        cfg: MailboxConfig,
        stop: threading.Event | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.cfg = cfg
        self.stop = stop or threading.Event()
        self.on_commit = on_commit
        self.imap: ImapMailbox | None = None
        self.lease = MailboxLease(app.engine, cfg.name)
        self.heartbeat = Heartbeat(
            app.sessions, MAILBOX, cfg.name, app.config.health.heartbeat_interval
        )

    # -------------------------------------------------------------------- one pass

    def poll_once(self) -> PollStats:
        if self.cfg.source == "maildir":
            return self._poll_maildir()
        return self._poll_imap()

    def _poll_maildir(self) -> PollStats:
        assert self.cfg.path is not None
        source = MaildirSource(self.cfg.path, self.cfg.since)
        stats = PollStats(self.cfg.name)
        batch: list[MaildirItem] = []
        for item in source.pending():
            if self.stop.is_set():
                break
            batch.append(item)
            if len(batch) >= COMMIT_BATCH:
                self._commit_maildir(source, batch, stats)
                batch = []
        self._commit_maildir(source, batch, stats)
        return stats

    def _commit_maildir(
        self, source: MaildirSource, batch: list[MaildirItem], stats: PollStats
    ) -> None:
        items = [
            Item(i.raw, Source(self.cfg.name, self.cfg.service, path=str(i.path)), i.arrival)
            for i in batch
        ]
        self._count(self.app.intake.process_many(items), stats)
        for item in batch:
            source.mark_done(item)
        if batch and self.on_commit is not None:
            self.on_commit()

    def _count(self, results: Any, stats: PollStats) -> None:
        """Count a committed batch, here and on the heartbeat (the metrics' counters)."""
        done = quarantined = 0
        for result in results:
            stats.fetched += 1
            stats.count(result.outcome.value)
            done += 1
            quarantined += result.outcome.value == "quarantine"
        if done:
            self.heartbeat.success(done, quarantined, stats.backlog)

    def _connect(self) -> ImapMailbox:
        if self.imap is None or self.imap.client is None:
            imap = ImapMailbox(self.cfg)
            imap.connect()
            self.imap = imap
        return self.imap

    def _poll_imap(self) -> PollStats:
        imap = self._connect()
        stats = PollStats(self.cfg.name)
        last_uid = reset_cursor_if_changed(self.app.sessions, self.cfg.name, imap.uidvalidity)
        # Mark what was committed but not marked before a crash.
        leftovers = imap.unmarked_at_or_below(last_uid)
        done = self.app.logged_uids(self.cfg.name, imap.uidvalidity, leftovers)
        imap.mark_done(done)
        stats.swept = len(done)
        uids = imap.new_uids(last_uid)
        stats.backlog = len(uids)
        batch: list[Fetched] = []
        for fetched in imap.fetch(uids):
            if self.stop.is_set():
                break
            crash_point("after-fetch")
            batch.append(fetched)
            if len(batch) >= COMMIT_BATCH:
                self._commit_imap(imap, batch, stats)
                batch = []
        self._commit_imap(imap, batch, stats)
        return stats

    def _commit_imap(self, imap: ImapMailbox, batch: list[Fetched], stats: PollStats) -> None:
        """Log a batch in one transaction, then (and only then) mark it on the server."""
        if not batch:
            return
        items = [
            Item(f.raw, Source(self.cfg.name, self.cfg.service, f.uidvalidity, f.uid), f.arrival)
            for f in batch
        ]
        stats.backlog = max(stats.backlog - len(batch), 0)
        self._count(self.app.intake.process_many(items), stats)
        crash_point("after-commit")
        if self.on_commit is not None:
            self.on_commit()
        imap.mark_done([f.uid for f in batch])

    def close(self) -> None:
        if self.imap is not None:
            self.imap.close()
            self.imap = None

    # --------------------------------------------------------------------- forever

    def run(self) -> None:
        """Poll, then IDLE or sleep, until ``stop`` is set; reconnect with backoff."""
        daemon = self.app.config.daemon
        backoff = daemon.backoff_initial
        standing_by = False
        beating = False  # the heartbeat (re)starts whenever this daemon takes the mailbox
        while not self.stop.is_set():
            try:
                if not self.lease.hold():
                    # Another daemon works this mailbox: stand by, take over when it dies.
                    if not standing_by:
                        log.info("mailbox %s: worked by another daemon; standing by", self.cfg.name)
                    standing_by = True
                    beating = False
                    self.close()
                    self.stop.wait(STANDBY_INTERVAL)
                    continue
                if not beating:
                    self.heartbeat.start()
                    beating = True
                standing_by = False
                stats = self.poll_once()
                if stats.fetched or stats.swept:
                    log.info("%s", stats)
                self.heartbeat.success(backlog=0 if not self.stop.is_set() else stats.backlog)
                backoff = daemon.backoff_initial
                self._wait_for_mail()
            except Exception as exc:
                log.warning(
                    "mailbox %s: %s: %s; retrying in %.1fs",
                    self.cfg.name,
                    type(exc).__name__,
                    exc,
                    backoff,
                )
                self.heartbeat.failure(f"{type(exc).__name__}: {exc}")
                self.close()
                self._sleep(backoff)
                backoff = min(backoff * 2, daemon.backoff_max)
        self.close()
        if beating:
            self.heartbeat.stopped()
        self.lease.release()

    def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (or until stopped), beating the heartbeat on the way: alive."""
        deadline = time.monotonic() + seconds
        step = max(self.heartbeat.interval / 2, 0.05)
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.stop.wait(min(left, step))
            self.heartbeat.beat()

    def _wait_for_mail(self) -> None:
        daemon = self.app.config.daemon
        imap = self.imap
        if imap is not None and daemon.idle and imap.can_idle:
            if imap.idle_start():  # mail was announced while we were busy: poll again
                imap.idle_done()
                return
            try:
                deadline = time.monotonic() + daemon.idle_timeout
                while not self.stop.is_set() and time.monotonic() < deadline:
                    if imap.idle_check(timeout=1.0) or not self.lease.hold():
                        break
                    self.heartbeat.beat(ok=True)  # the server answers: the mailbox works
            finally:
                imap.idle_done()
            return
        if imap is not None:
            # Keep the connection alive between polls; a broken one is reconnected.
            self._sleep(daemon.poll_interval)
            if not self.stop.is_set():
                imap.noop()
            return
        self._sleep(daemon.poll_interval)


def poll_all_once(app: App) -> tuple[list[PollStats], list[str]]:
    """One pass over every mailbox; errors are collected, not raised."""
    results: list[PollStats] = []
    errors: list[str] = []
    for cfg in app.config.mailboxes:
        worker = MailboxWorker(app, cfg)
        try:
            if not worker.lease.hold():
                log.warning("mailbox %s: worked by a running daemon; skipped", cfg.name)
                continue
            worker.heartbeat.start()
            stats = worker.poll_once()
            worker.heartbeat.success(backlog=stats.backlog)
            results.append(stats)
        except Exception as exc:
            errors.append(f"{cfg.name}: {type(exc).__name__}: {exc}")
            worker.heartbeat.failure(f"{type(exc).__name__}: {exc}")
        finally:
            worker.close()
            worker.lease.release()
    return results, errors


def _warm_classifier(app: App) -> None:
    """The daemon loads the shipped classifier (spaCy, the model) before it reads mail, so
    the first message waits for nothing; a cron ``poll-once`` loads it only when mail came."""
    import classifiers

    if app.intake.env.classifier is classifiers.classify:
        classifiers.get_classifier()


def run_daemon(app: App, stop: threading.Event) -> None:
    # Letters leave from their own thread (a slow or absent SMTP server never holds up
    # intake); each commit wakes it, so a letter goes within the poll cycle that logged it.
    sender = app.make_sender()
    sender.heartbeat = Heartbeat(app.sessions, SENDER, OUTBOX, app.config.health.heartbeat_interval)
    threads = [threading.Thread(target=sender.run, args=(stop,), name="sender", daemon=True)]
    threads[0].start()
    if app.config.digest.recipients:  # managers' weekly digest
        digest = DigestScheduler(
            app.sessions,
            app.services,
            app.config.digest,
            make_transport(app.config.outbound),
            app.intake.clock,
        )
        digest.heartbeat = Heartbeat(
            app.sessions, TASK, DIGEST, app.config.health.heartbeat_interval
        )
        t = threading.Thread(target=digest.run, args=(stop,), name="digest", daemon=True)
        t.start()
        threads.append(t)
    from bot.ops.retention import start_daily  # retention once a day, if configured

    threads += start_daily(app, stop)
    _warm_classifier(app)
    for cfg in app.config.mailboxes:
        worker = MailboxWorker(app, cfg, stop, on_commit=sender.wake.set)
        t = threading.Thread(target=worker.run, name=f"mailbox-{cfg.name}", daemon=True)
        t.start()
        threads.append(t)
    log.info("watching %d mailbox(es)", len(app.config.mailboxes))
    while not stop.is_set():
        stop.wait(1.0)
    sender.wake.set()
    for t in threads:
        t.join(timeout=60)
