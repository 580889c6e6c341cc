"""Letters that have waited too long to leave (the queue's banner, the digest's line)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import OutboxLetter

#: A letter due to go that is still here after this long is worth a person's attention.
WAITING_TOO_LONG = timedelta(hours=1)


def letters_waiting(session: Session, now: datetime, services: Iterable[str]) -> int:
    """Letters of ``services`` waiting to be sent (pending or being sent) for over an hour."""
    L = OutboxLetter
    return int(
        session.scalar(
            select(func.count())
            .select_from(L)
            .where(
                L.status.in_(("pending", "sending")),
                L.created_at < now - WAITING_TOO_LONG,
                L.service.in_(list(services)),
            )
        )
        or 0
    )
