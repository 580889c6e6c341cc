"""Flood control: automatic letters wait (never dropped) when a service sends too many.

Anyone can send a service a thousand short compliments from a thousand addresses; without
a limit the service would answer each at once, and its mail server would be the spam
cannon. Per service, at most ``letters.max_per_hour`` automatic letters in any hour and
``letters.max_per_domain_per_day`` to one recipient domain in any 24 hours (the common
webmail domains are exempt from the domain limit: families use them). A letter beyond a
limit is written as usual but scheduled (``next_attempt_at``) for when the window allows;
the sender sends it then, and the queue shows a banner saying why letters are waiting.

A letter's place in a window is its scheduled time: ``next_attempt_at`` when it was
scheduled, else ``created_at``. New letters are scheduled in order, so each window holds
at most the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.letters import STAFF_PURPOSES
from bot.models import OutboxLetter
from bot.recipients import domain_of

#: Reasons written on a waiting letter start with this (the queue's banner looks for it).
WAITING = "waiting: "

WEBMAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "hotmail.com", "hotmail.co.uk", "outlook.com",
        "outlook.co.uk", "live.com", "live.co.uk", "msn.com", "yahoo.com", "yahoo.co.uk",
        "ymail.com", "icloud.com", "me.com", "mac.com", "aol.com", "aol.co.uk",
        "btinternet.com", "sky.com", "virginmedia.com", "talktalk.net", "protonmail.com",
        "proton.me", "gmx.com", "gmx.co.uk", "mail.com", "zoho.com",
    }
)  # fmt: skip

_COUNTED = ("pending", "sending", "sent")


@dataclass(frozen=True)
class FloodLimits:
    max_per_hour: int = 60
    max_per_domain_per_day: int = 20


def _scheduled_times(
    session: Session, service: str, since: datetime, domain: str | None, cap: int
) -> list[datetime]:
    """Scheduled times after ``since`` of the service's automatic letters (to ``domain``),
    including those written earlier in this transaction, in order; of those stored, only
    the latest ``cap`` (all :func:`_slot` looks at), and none when fewer than ``cap`` are
    there altogether (then the count is all that matters)."""
    L = OutboxLetter
    when = func.coalesce(L.next_attempt_at, L.created_at)
    conditions = [
        L.service == service,
        L.status.in_(_COUNTED),
        L.purpose.not_in(STAFF_PURPOSES),
        when > since,
    ]
    if domain is not None:
        conditions.append(L.to_domain == domain)  # kept in step with to_addr (bot/models.py)
    with session.no_autoflush:
        pending: list[datetime] = []
        for obj in session.new:
            if (
                isinstance(obj, OutboxLetter)
                and obj.service == service
                and obj.status in _COUNTED
                and obj.purpose not in STAFF_PURPOSES
                and (domain is None or obj.to_domain == domain)
            ):
                t = obj.next_attempt_at or obj.created_at
                if t > since:
                    pending.append(t)
        # Count first: letters to read only when the window may be full.
        stored = session.scalar(select(func.count()).select_from(L).where(*conditions)) or 0
        if stored + len(pending) < cap:
            return sorted(pending)  # fewer than cap: _slot looks no further than the count
        rows = session.execute(
            select(L.next_attempt_at, L.created_at)
            .where(*conditions)
            .order_by(when.desc())
            .limit(cap)
        ).all()
        times = [r.next_attempt_at or r.created_at for r in rows]
    return sorted([*times, *pending])


def _slot(times: list[datetime], cap: int, window: timedelta, earliest: datetime) -> datetime:
    """The earliest time at or after ``earliest`` when a window ending then holds fewer
    than ``cap`` of ``times``."""
    if len(times) < cap:
        return earliest
    return max(earliest, times[-cap] + window)


def schedule(
    session: Session, service: str, to_addr: str, now: datetime, limits: FloodLimits
) -> tuple[datetime, str | None]:
    """When an automatic letter to ``to_addr`` may go, and why it waits (None: at once)."""
    domain = domain_of(to_addr)
    hour, day = timedelta(hours=1), timedelta(days=1)
    at, reason = now, None
    for _ in range(4):  # each limit can only move the time later; settle in a few rounds
        start = at
        hourly = _scheduled_times(session, service, at - hour, None, limits.max_per_hour)
        t = _slot(hourly, limits.max_per_hour, hour, at)
        if t > at:
            at, reason = (
                t,
                (
                    f"{WAITING}{service} has sent {limits.max_per_hour} automatic letters in "
                    f"an hour (letters.max_per_hour); this one goes at {t:%Y-%m-%d %H:%M} UTC"
                ),
            )
        if domain and domain not in WEBMAIL_DOMAINS:
            daily = _scheduled_times(
                session, service, at - day, domain, limits.max_per_domain_per_day
            )
            t = _slot(daily, limits.max_per_domain_per_day, day, at)
            if t > at:
                at, reason = (
                    t,
                    (
                        f"{WAITING}{service} has sent {limits.max_per_domain_per_day} automatic "
                        f"letters to {domain} in a day (letters.max_per_domain_per_day); this one "
                        f"goes at {t:%Y-%m-%d %H:%M} UTC"
                    ),
                )
        if at == start:
            break
    return at, reason
