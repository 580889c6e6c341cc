"""The working-day calendar: a pure function of dates.

Nothing here reads the clock. Callers pass the time a message arrived (or "today") in.

Conventions (they are the product's, and every computed date explains itself by them):

* Times are Europe/London. A naive datetime is taken as London local time; an aware one is
  converted to London before its date is taken.
* A working day is a day that is not a Saturday or Sunday, not a bank holiday of the
  service's region (the ``holidays`` package: England by default; Wales, Scotland and
  Northern Ireland selectable) and not one of the service's configured closure days.
* The clock starts on the day a message is received if that is a working day and the
  message arrived before the service's optional cut-off hour; otherwise on the next working
  day (:func:`clock_start`). "At or after 17:00" counts as after a cut-off hour of 17.
* "Within N working days" of a day means by the end of the Nth working day after that day;
  the day itself is never counted (:func:`add_working_days`). Zero days means the day itself.
* A window in calendar weeks (or days) counts calendar days from the day the clock starts;
  if the day reached is not a working day, the deadline moves forward to the next working
  day, because nobody can be expected to send a letter on a day the service is closed
  (:func:`add_calendar_days`).
* :func:`working_days_between` counts the working days *after* the first date up to and
  including the second; it is negative when the second date is earlier. So
  ``working_days_between(d, add_working_days(d, n).value) == n`` for every ``n >= 0``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import holidays

LONDON = ZoneInfo("Europe/London")

#: Bank-holiday regions and their ``holidays`` subdivision codes for the United Kingdom.
REGIONS: Mapping[str, str] = MappingProxyType(
    {"england": "ENG", "wales": "WLS", "scotland": "SCT", "northern-ireland": "NIR"}
)

_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

#: A guard against runaway loops: no window in any procedure is anywhere near this long.
_MAX_SPAN_DAYS = 366 * 20
#: Years for which bank holidays are looked up when counting across very long spans (the
#: ``holidays`` package has none outside roughly this range).
HOLIDAY_YEARS = (1900, 2200)
#: Noted when a date runs into the end of the calendar (a date no real mail has).
_END_NOTE = "the calendar ends on 9999-12-31: the date is kept there"


@dataclass(frozen=True)
class Closure:
    """Days a service is closed (inclusive), e.g. a Christmas shutdown."""

    start: date
    end: date
    reason: str

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"closure ends ({self.end}) before it starts ({self.start})")

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end

    def to_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "reason": self.reason}


@dataclass(frozen=True)
class Skipped:
    """A day that was not counted, and why."""

    day: date
    reason: str

    def __str__(self) -> str:
        return f"{self.day.isoformat()} {self.reason}"


@dataclass(frozen=True)
class Explained:
    """A computed date with its explanation: the rule, the start day, what was skipped.

    ``value`` is None when there is no deadline (for example a procedure that sets no time
    limit); ``rule`` then says why.
    """

    value: date | None
    rule: str
    start: date | None = None
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        if self.value is None:
            head = f"no date: {self.rule}"
        else:
            head = f"{self.value.isoformat()}: {self.rule}"
            if self.start is not None and self.start.isoformat() not in self.rule:
                head += f" (counted from {self.start.isoformat()})"
        parts = [head]
        if self.skipped:
            parts.append("skipped " + ", ".join(str(s) for s in self.skipped))
        parts.extend(self.notes)
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.value.isoformat() if self.value else None,
            "rule": self.rule,
            "start": self.start.isoformat() if self.start else None,
            "skipped": [str(s) for s in self.skipped],
            "notes": list(self.notes),
            "text": self.text,
        }


@lru_cache(maxsize=2048)
def _bank_holidays(region: str, year: int) -> Mapping[date, str]:
    table = holidays.country_holidays("GB", subdiv=REGIONS[region], years=year)
    return MappingProxyType(dict(table))


@dataclass(frozen=True)
class WorkCalendar:
    """Weekends, the region's bank holidays and the service's closure days are not worked."""

    region: str = "england"
    closures: tuple[Closure, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.region not in REGIONS:
            raise ValueError(
                f"unknown bank-holiday region {self.region!r} "
                f"(expected one of {', '.join(REGIONS)})"
            )

    def non_working_reason(self, day: date) -> str | None:
        """Why ``day`` is not a working day, or None if it is one.

        A weekend is named as such even when a bank holiday falls on it (Boxing Day 2026 is
        a Saturday; the holiday is observed on Monday 28 December).
        """
        if day.weekday() >= 5:
            return _WEEKDAY_NAMES[day.weekday()]
        name = _bank_holidays(self.region, day.year).get(day)
        if name:
            return name
        for closure in self.closures:
            if closure.covers(day):
                return f"service closed: {closure.reason}"
        return None

    def is_working_day(self, day: date) -> bool:
        return self.non_working_reason(day) is None

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day`` (``date.max`` at the calendar's end)."""
        d = day
        for _ in range(_MAX_SPAN_DAYS):
            if d == date.max:
                return d
            d += timedelta(days=1)
            if self.is_working_day(d):
                return d
        raise ValueError(f"no working day within {_MAX_SPAN_DAYS} days after {day}")


ENGLAND = WorkCalendar()


def calendar_for(region: str = "england", closures: Iterable[Closure] = ()) -> WorkCalendar:
    return WorkCalendar(region, tuple(closures))


def is_working_day(day: date, calendar: WorkCalendar = ENGLAND) -> bool:
    return calendar.is_working_day(day)


def non_working_reason(day: date, calendar: WorkCalendar = ENGLAND) -> str | None:
    return calendar.non_working_reason(day)


def next_working_day(day: date, calendar: WorkCalendar = ENGLAND) -> date:
    return calendar.next_working_day(day)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def add_working_days(
    start: date, n: int, calendar: WorkCalendar = ENGLAND, rule: str | None = None
) -> Explained:
    """The ``n``-th working day after ``start`` (``start`` itself is not counted).

    ``n == 0`` gives ``start`` itself. Negative ``n`` is an error.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"number of working days must be an int, not {type(n).__name__}")
    if n < 0:
        raise ValueError(f"number of working days must be 0 or more, not {n}")
    skipped: list[Skipped] = []
    notes: list[str] = []
    d = start
    counted = 0
    while counted < n:
        if d == date.max:
            notes.append(_END_NOTE)
            break
        d += timedelta(days=1)
        if (d - start).days > _MAX_SPAN_DAYS:
            raise ValueError(f"{n} working days after {start} is out of range")
        reason = calendar.non_working_reason(d)
        if reason is None:
            counted += 1
        else:
            skipped.append(Skipped(d, reason))
    return Explained(
        value=d,
        rule=rule or f"{_plural(n, 'working day')} after {start.isoformat()}",
        start=start,
        skipped=tuple(skipped),
        notes=tuple(notes),
    )


def add_calendar_days(
    start: date, days: int, calendar: WorkCalendar = ENGLAND, rule: str | None = None
) -> Explained:
    """``days`` calendar days after ``start``; moved on to the next working day if need be."""
    if isinstance(days, bool) or not isinstance(days, int):
        raise TypeError(f"number of days must be an int, not {type(days).__name__}")
    if days < 0:
        raise ValueError(f"number of days must be 0 or more, not {days}")
    skipped: list[Skipped] = []
    notes: list[str] = []
    if (date.max - start).days < days:
        target = date.max
        notes.append(_END_NOTE)
    else:
        target = start + timedelta(days=days)
    d = target
    while (reason := calendar.non_working_reason(d)) is not None:
        skipped.append(Skipped(d, reason))
        if d == date.max:
            notes.append(_END_NOTE)
            break
        d += timedelta(days=1)
        if (d - target).days > _MAX_SPAN_DAYS:
            raise ValueError(f"no working day after {target}")
    if d != target:
        notes.append(
            f"{target.isoformat()} is not a working day, so the deadline moves to the next "
            f"working day, {d.isoformat()}"
        )
    return Explained(
        value=d,
        rule=rule or f"{_plural(days, 'calendar day')} after {start.isoformat()}",
        start=start,
        skipped=tuple(skipped),
        notes=tuple(notes),
    )


def add_calendar_weeks(
    start: date, weeks: int, calendar: WorkCalendar = ENGLAND, rule: str | None = None
) -> Explained:
    """``weeks`` calendar weeks after ``start`` (see :func:`add_calendar_days`)."""
    if isinstance(weeks, bool) or not isinstance(weeks, int):
        raise TypeError(f"number of weeks must be an int, not {type(weeks).__name__}")
    if weeks < 0:
        raise ValueError(f"number of weeks must be 0 or more, not {weeks}")
    return add_calendar_days(
        start,
        7 * weeks,
        calendar,
        rule or f"{_plural(weeks, 'calendar week')} after {start.isoformat()}",
    )


def working_days_between(d1: date, d2: date, calendar: WorkCalendar = ENGLAND) -> int:
    """Working days after ``d1`` up to and including ``d2``; negative if ``d2 < d1``.

    ``working_days_between(d, d) == 0``. A response sent on the day the clock started took
    0 working days; one sent on the next working day took 1.
    """
    if d2 < d1:
        return -working_days_between(d2, d1, calendar)
    if (d2 - d1).days > _MAX_SPAN_DAYS:
        return _working_days_far(d1, d2, calendar)
    count = 0
    d = d1
    while d < d2:
        d += timedelta(days=1)
        if calendar.is_working_day(d):
            count += 1
    return count


def _weekdays_after(d1: date, d2: date) -> int:
    """Monday-to-Friday days after ``d1`` up to and including ``d2`` (``d1 <= d2``)."""
    days = (d2 - d1).days
    weeks, rest = divmod(days, 7)
    count = weeks * 5
    wd = d1.weekday()
    for i in range(1, rest + 1):
        if (wd + i) % 7 < 5:
            count += 1
    return count


def _working_days_far(d1: date, d2: date, calendar: WorkCalendar) -> int:
    """:func:`working_days_between` for spans of decades or centuries (a date a sender or
    an old archive made up), by arithmetic: weekdays, less the weekday bank holidays of the
    years where the calendar has any, less weekday closure days."""
    count = _weekdays_after(d1, d2)
    first, last = max(d1.year, HOLIDAY_YEARS[0]), min(d2.year, HOLIDAY_YEARS[1])
    for year in range(first, last + 1):
        for day in _bank_holidays(calendar.region, year):
            if d1 < day <= d2 and day.weekday() < 5:
                count -= 1
    seen: set[date] = set()
    for closure in calendar.closures:
        d = max(closure.start, d1 + timedelta(days=1))
        end = min(closure.end, d2)
        while d <= end:
            if (
                d not in seen
                and d.weekday() < 5
                and not _bank_holidays(calendar.region, d.year).get(d)
            ):
                seen.add(d)
                count -= 1
            if d == date.max:
                break
            d += timedelta(days=1)
    return count


def to_london(moment: datetime, tz: ZoneInfo = LONDON) -> datetime:
    """An aware datetime in London time. A naive datetime is taken as London local time.

    Within a day of the ends of the calendar (year 1, year 9999) the conversion would
    overflow; the moment is then given the zone unchanged (a few hours off, never a crash)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=tz)
    try:
        return moment.astimezone(tz)
    except (OverflowError, ValueError):
        return moment.replace(tzinfo=tz)


def parse_datetime(text: str, tz: ZoneInfo = LONDON) -> datetime:
    """Parse ISO 8601 (``2026-03-04T09:12``, ``...+01:00``, ``...Z``, or a bare date).

    Without an offset the time is London local time; with one it is converted to London.
    A bare date means midnight London time. Raises ValueError on anything else.
    """
    s = text.strip()
    if not s:
        raise ValueError("empty date-time")
    if s[-1] in "zZ":
        s = s[:-1] + "+00:00"
    moment = datetime.fromisoformat(s)
    return to_london(moment, tz)


def parse_date(text: str) -> date:
    """Parse ``YYYY-MM-DD`` strictly. Raises ValueError otherwise."""
    s = text.strip()
    if len(s) != 10 or s[4] != "-" or s[7] != "-":
        raise ValueError(f"not a YYYY-MM-DD date: {text!r}")
    return date.fromisoformat(s)


def clock_start(
    received: datetime,
    calendar: WorkCalendar = ENGLAND,
    cutoff_hour: int | None = None,
    tz: ZoneInfo = LONDON,
) -> Explained:
    """The day the clock starts for a message received at ``received``.

    The received time is converted to London time. If that day is a working day and the
    message arrived before ``cutoff_hour`` (if any), the clock starts that day; otherwise on
    the next working day.
    """
    local = to_london(received, tz)
    day = local.date()
    stamp = f"received {local.strftime('%Y-%m-%d %H:%M %Z')}"
    if received.tzinfo is not None and received.utcoffset() != local.utcoffset():
        stamp += f" (sent as {received.isoformat()})"
    notes: list[str] = [stamp]
    skipped: list[Skipped] = []
    reason = calendar.non_working_reason(day)
    late = cutoff_hour is not None and local.hour >= cutoff_hour
    if reason is None and not late:
        return Explained(
            value=day,
            rule="received on a working day: the clock starts that day",
            start=day,
            notes=tuple(notes),
        )
    if reason is not None:
        skipped.append(Skipped(day, reason))
        rule = "received on a non-working day: the clock starts on the next working day"
    else:
        notes.append(f"at or after the service's cut-off time of {cutoff_hour:02d}:00")
        rule = "received after the cut-off time: the clock starts on the next working day"
    d = day
    while True:
        if d == date.max:
            notes.append(_END_NOTE)
            break
        d += timedelta(days=1)
        r = calendar.non_working_reason(d)
        if r is None:
            break
        skipped.append(Skipped(d, r))
        if (d - day).days > _MAX_SPAN_DAYS:
            raise ValueError(f"no working day after {day}")
    return Explained(value=d, rule=rule, start=day, skipped=tuple(skipped), notes=tuple(notes))
