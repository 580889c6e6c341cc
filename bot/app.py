"""Everything a command needs, built once from the configuration.

The intake pipeline (and with it spaCy, through the classifier) is built on first use of
:attr:`App.intake`, so commands that only read the database start quickly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot import db, resources
from bot.config import Config, load_config
from bot.models import Message, QuarantineItem, UidDecision
from bot.services import Service, load_services

if TYPE_CHECKING:
    from bot.intake import Intake
    from bot.letters.sender import Sender


_INTAKE_LOCK = threading.Lock()


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    config: Config
    services: Mapping[str, Service]
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Callable[[], datetime] = utcnow
    _intake: Intake | None = field(default=None, repr=False)

    @property
    def intake(self) -> Intake:
        """The message pipeline, built on first use (it imports the classifier)."""
        if self._intake is None:
            with _INTAKE_LOCK:  # web threads may ask at once
                if self._intake is None:
                    self._intake = self._build_intake()
        return self._intake

    def _build_intake(self) -> Intake:
        from bot.deadlines import intake_deadlines
        from bot.intake import Intake
        from bot.pipeline.stages import StageEnv
        from classifiers import classify

        env = StageEnv(
            services=self.services,
            classifier=classify,
            deadline_fn=intake_deadlines,
            attachment_max_bytes=self.config.intake.attachment_max_bytes,
            message_max_bytes=self.config.intake.message_max_bytes,
            max_age_days=self.config.intake.max_age_days,
            letters_max_per_hour=self.config.letters.max_per_hour,
            letters_max_per_domain_per_day=self.config.letters.max_per_domain_per_day,
            case_url_base=self.config.web.base_url,
        )
        return Intake(self.sessions, env, self.clock)

    def logged_uids(self, mailbox: str, uidvalidity: int, uids: list[int]) -> list[int]:
        """Those of ``uids`` that have a committed decision (message, quarantine, or a
        re-delivery's :class:`UidDecision`)."""
        if not uids:
            return []
        wanted = set(uids)
        with self.sessions() as s:
            found = set(
                s.scalars(
                    select(Message.uid).where(
                        Message.mailbox == mailbox, Message.uidvalidity == uidvalidity
                    )
                )
            ) | set(
                s.scalars(
                    select(QuarantineItem.uid).where(
                        QuarantineItem.mailbox == mailbox,
                        QuarantineItem.uidvalidity == uidvalidity,
                    )
                )
            )
            found |= set(
                s.scalars(
                    select(UidDecision.uid).where(
                        UidDecision.mailbox == mailbox, UidDecision.uidvalidity == uidvalidity
                    )
                )
            )
        return sorted(wanted & found)

    def make_sender(self) -> Sender:
        """The outbox sender for the configured transport, on the app's clock."""
        from bot.letters.sender import Sender, make_transport

        out = self.config.outbound
        return Sender(
            self.sessions,
            self.services,
            make_transport(out),
            self.clock,
            resend_after=out.resend_after,
            backoff_max=out.retry_max,
        )


def build_app(
    config_path: str | Path | None = None,
    *,
    config: Config | None = None,
    clock: Callable[[], datetime] = utcnow,
    upgrade: bool = True,
    force_upgrade: bool = False,
) -> App:
    """Everything a command needs. ``upgrade``: the schema must be current, so apply the
    migrations (``database.auto_migrate``, the default) or, with auto_migrate = false, refuse
    an old schema naming ``sendiass-bot db upgrade``; ``force_upgrade``: migrate regardless
    (that command)."""
    from bot.letters.render import renderer_for

    services = load_services(resources.services_dir(config_path))
    if config is None:
        config = load_config(config_path, known_services=set(services))
    renderer_for().check(services.values())  # a broken letter template stops us here
    engine = db.make_engine(config.database.url)
    if force_upgrade or (upgrade and config.database.auto_migrate):
        db.upgrade(engine)
    elif upgrade:
        db.require_current(engine)
    sessions = db.session_factory(engine)
    return App(config, services, engine, sessions, clock)
