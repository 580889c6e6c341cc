"""Everything a command needs, built once from the configuration."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.config import Config, load_config
from bot.deadlines import intake_deadlines
from bot.intake import Intake
from bot.letters.render import renderer_for
from bot.letters.sender import Sender, make_transport
from bot.models import Message, QuarantineItem
from bot.pipeline.stages import StageEnv, utcnow
from bot.services import Service, load_services
from classifiers import classify


@dataclass
class App:
    config: Config
    services: Mapping[str, Service]
    engine: Engine
    sessions: sessionmaker[Session]
    intake: Intake

    def logged_uids(self, mailbox: str, uidvalidity: int, uids: list[int]) -> list[int]:
        """Those of ``uids`` that have a committed record (message or quarantine)."""
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
        return sorted(wanted & found)

    def make_sender(self) -> Sender:
        """The outbox sender for the configured transport, on the intake's clock."""
        return Sender(
            self.sessions, self.services, make_transport(self.config.outbound), self.intake.clock
        )


def build_app(
    config_path: str | Path | None = None,
    *,
    config: Config | None = None,
    clock: Callable[[], datetime] = utcnow,
    upgrade: bool = True,
) -> App:
    services = load_services()
    if config is None:
        config = load_config(config_path, known_services=set(services))
    renderer_for().check(services.values())  # a broken letter template stops us here
    engine = db.make_engine(config.database.url)
    if upgrade:
        db.upgrade(engine)
    sessions = db.session_factory(engine)
    env = StageEnv(
        services=services,
        classifier=classify,
        deadline_fn=intake_deadlines,
        attachment_max_bytes=config.intake.attachment_max_bytes,
        message_max_bytes=config.intake.message_max_bytes,
        case_url_base=config.web.base_url,
    )
    return App(config, services, engine, sessions, Intake(sessions, env, clock))
