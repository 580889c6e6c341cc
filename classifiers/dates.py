"""Date expressions in UK email text, resolved against the message's received date.

Regular expressions only (fast, predictable). Every mention keeps its character span so the
classifier can show a coordinator where a date came from. The clock is never read: all relative
expressions ("last Tuesday", "18 months ago", "before October half term") use ``base``.

UK conventions: numeric dates are day-first (03/04/25 = 3 April 2025). School-term expressions
use an approximate English school calendar (autumn half term: last week of October; spring half
term: mid February; summer half term: late May; summer holidays: late July to August; school
years start in September).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

__all__ = [
    "DateMention",
    "easter_sunday",
    "find_dates",
    "format_mention",
    "within_12_months",
]

Precision = Literal["day", "month"]

MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH_RE = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_WEEKDAY_RE = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|urday|rsday)?"
_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "eighteen": 18,
    "couple of": 2,
    "few": 3,
}
_NUM_RE = (
    r"(?:\d{1,2}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|eighteen)"
)

_I = re.IGNORECASE

# 03/04/2025, 3/4/25, 03.04.2025, 03-04-2025
_NUMERIC = re.compile(r"\b(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})\b")
# (Tuesday) 4(th) (of) November (2025) (last year)
_DAY_MONTH = re.compile(
    rf"\b(?:(?:{_WEEKDAY_RE}),?\s+)?(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?"
    rf"({_MONTH_RE})\b\.?(?:,?\s+(\d{{4}}))?(\s+last\s+year|\s+this\s+year)?",
    _I,
)
# November 4(th)(,) (2025)
_MONTH_DAY = re.compile(
    rf"\b({_MONTH_RE})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?",
    _I,
)
# (in/back in/since) January (2025) (last year); "last January"
_MONTH_ONLY = re.compile(
    rf"\b(?:(last|this)\s+)?({_MONTH_RE})\b(?:\s+(\d{{4}}))?(\s+last\s+year|\s+this\s+year)?",
    _I,
)
_WEEKDAY = re.compile(rf"\b(?:(last|on|this\s+past|this)\s+)?({_WEEKDAY_RE})\b", _I)
_NOW_WORDS = re.compile(
    r"\b(yesterday|today|this\s+morning|this\s+afternoon|last\s+night|earlier\s+today)\b", _I
)
_AGO = re.compile(
    rf"\b(?:about\s+|around\s+|nearly\s+|almost\s+|over\s+|just\s+over\s+)?"
    rf"({_NUM_RE}|couple\s+of|few)\s+(day|week|month|year)s?\s+ago\b",
    _I,
)
_LAST_MONTH = re.compile(r"\blast\s+month\b", _I)
_FORTNIGHT = re.compile(r"\b(a|one|two|2)\s+fortnights?\s+ago\b", _I)
_HALF_TERM = re.compile(
    r"\b(?:(last|this)\s+)?(october|february|may|autumn|spring|summer)\s+half[\s\-]?term\b"
    r"(?:\s+(\d{4}))?",
    _I,
)
_EASTER = re.compile(r"\b(?:(last|this)\s+)?easter\b(?:\s+(\d{4}))?(\s+last\s+year)?", _I)
_CHRISTMAS = re.compile(
    r"\b(?:(last|this)\s+)?(?:christmas|xmas)\b(?:\s+(\d{4}))?(\s+last\s+year)?", _I
)
_SUMMER_HOLS = re.compile(
    r"\b(?:(last|this)\s+)?summer\s+holidays?\b(?:\s+(?:of|in)\s+(\d{4}))?(\s+last\s+year)?", _I
)
_START_OF_YEAR_GROUP = re.compile(
    r"\b(?:the\s+)?(start|beginning|end)\s+of\s+year\s+(\d{1,2})\b",
    _I,
)
_CURRENT_YEAR_GROUP = re.compile(
    r"\b(?:is|now|is\s+now|currently)\s+(?:in\s+)?year\s+(\d{1,2})\b|\bin\s+year\s+(\d{1,2})\s+now\b",
    _I,
)
_BARE_ORDINAL = re.compile(r"\b(?:on\s+)?the\s+(\d{1,2})(?:st|nd|rd|th)\b(?!\s+(?:of\s+)?\w)", _I)
_BARE_ORDINAL2 = re.compile(
    rf"\bon\s+the\s+(\d{{1,2}})(?:st|nd|rd|th)\b(?!\s+(?:of\s+)?{_MONTH_RE})", _I
)


_ABBREVIATIONS = frozenset({"jan", "mar", "jun", "jul", "aug", "sep", "oct", "nov", "dec"})


@dataclass(frozen=True)
class DateMention:
    """One date expression found in text."""

    start: int
    end: int
    text: str
    value: date  # first day of the month when precision == "month"
    precision: Precision
    rule: str  # which expression family matched, e.g. "date.day_month"
    #: 0 = explicit day, 1 = weak day (bare "the 3rd"), 2 = month, 3 = vague period.
    rank: int = 0

    @property
    def iso(self) -> str:
        return format_mention(self.value, self.precision)


def format_mention(value: date, precision: Precision) -> str:
    return value.isoformat() if precision == "day" else f"{value.year:04d}-{value.month:02d}"


def _month_num(word: str) -> int:
    w = word.lower().rstrip(".")
    return MONTHS.get(w[:4] if w.startswith("sept") else w[:3], 0)


def _year2(y: str) -> int:
    n = int(y)
    return n + 2000 if n < 100 else n


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _add_months(d: date, months: int) -> date:
    total = d.year * 12 + (d.month - 1) + months
    y, m = divmod(total, 12)
    return date(y, m + 1, 1)


def _past_or_drop(candidate: date, base: date) -> date | None:
    """A yearless date: this year's if past; last year's if this year's is far in the future;
    ``None`` if it is in the near future (a deadline or upcoming meeting)."""
    if candidate <= base:
        return candidate
    if (candidate - base).days > 183:
        return _safe_date(candidate.year - 1, candidate.month, candidate.day)
    return None


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (anonymous algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return date(year, month, day + 1)


def _month_of_recent(month: int, base: date, last: bool, explicit_year: int | None) -> date | None:
    if explicit_year:
        return date(explicit_year, month, 1)
    this_year = date(base.year, month, 1)
    if last:
        # "last January": the most recent January strictly before the current month.
        if month >= base.month:
            return date(base.year - 1, month, 1)
        return this_year
    if month <= base.month:
        return this_year
    if (this_year - base).days > 183:
        return date(base.year - 1, month, 1)
    return None  # near future ("in October" said in August)


def find_dates(text: str, base: date) -> list[DateMention]:
    """All resolvable past-or-present date mentions in ``text``, in order of appearance.

    Future dates (deadlines, upcoming meetings) are dropped. Never raises on odd input.
    """
    out: list[DateMention] = []
    taken: list[tuple[int, int]] = []

    def overlaps(s: int, e: int) -> bool:
        return any(s < te and ts < e for ts, te in taken)

    def add(
        m: re.Match[str], value: date | None, precision: Precision, rule: str, rank: int
    ) -> None:
        s, e = m.start(), m.end()
        if overlaps(s, e):
            return
        taken.append((s, e))  # also block shorter matches inside future dates
        if value is None or value > base:
            return
        out.append(DateMention(s, e, m.group(0), value, precision, rule, rank))

    for m in _NUMERIC.finditer(text):
        d, mo, y = int(m.group(1)), int(m.group(2)), _year2(m.group(3))
        add(m, _safe_date(y, mo, d), "day", "date.numeric_dmy", 0)

    for m in _DAY_MONTH.finditer(text):
        d, mo = int(m.group(1)), _month_num(m.group(2))
        rel = (m.group(4) or "").strip().lower()
        value: date | None
        if m.group(3):
            value = _safe_date(int(m.group(3)), mo, d)
        elif rel == "last year":
            value = _safe_date(base.year - 1, mo, d)
        elif rel == "this year":
            value = _safe_date(base.year, mo, d)
        else:
            cand = _safe_date(base.year, mo, d)
            value = _past_or_drop(cand, base) if cand else None
        add(m, value, "day", "date.day_month", 0)

    for m in _MONTH_DAY.finditer(text):
        mo, d = _month_num(m.group(1)), int(m.group(2))
        if m.group(3):
            value = _safe_date(int(m.group(3)), mo, d)
        else:
            cand = _safe_date(base.year, mo, d)
            value = _past_or_drop(cand, base) if cand else None
        add(m, value, "day", "date.month_day", 0)

    for m in _NOW_WORDS.finditer(text):
        w = m.group(1).lower()
        delta = 1 if w in ("yesterday", "last night") else 0
        add(m, base - timedelta(days=delta), "day", "date.relative_day", 0)

    for m in _AGO.finditer(text):
        raw = re.sub(r"\s+", " ", m.group(1).lower())
        n = int(raw) if raw.isdigit() else _NUMBER_WORDS.get(raw, 0)
        unit = m.group(2).lower()
        if n <= 0:
            continue
        if unit == "day":
            add(m, base - timedelta(days=n), "day", "date.ago", 0)
        elif unit == "week":
            add(m, base - timedelta(weeks=n), "day", "date.ago", 1)
        elif unit == "month":
            add(m, _add_months(base, -n), "month", "date.ago", 2)
        else:
            add(m, _add_months(base, -12 * n), "month", "date.ago", 3)

    for m in _FORTNIGHT.finditer(text):
        n = 2 if m.group(1).lower() in ("two", "2") else 1
        add(m, base - timedelta(days=14 * n), "day", "date.ago", 1)

    for m in _WEEKDAY.finditer(text):
        lead = (m.group(1) or "").lower()
        word = m.group(2).lower()
        idx = next((i for i, w in enumerate(_WEEKDAYS) if w.startswith(word[:3])), -1)
        if idx < 0 or not lead:
            # A bare weekday ("Thursdays are best") is too weak; need "on/last Tuesday".
            continue
        back = (base.weekday() - idx) % 7
        if back == 0:
            back = 7 if lead == "last" else 0
        add(m, base - timedelta(days=back), "day", "date.weekday", 0)

    for m in _LAST_MONTH.finditer(text):
        add(m, _add_months(base, -1), "month", "date.last_month", 2)

    for m in _HALF_TERM.finditer(text):
        word = m.group(2).lower()
        mo = {"october": 10, "autumn": 10, "february": 2, "spring": 2, "may": 5, "summer": 5}[word]
        if m.group(3):
            year = int(m.group(3))
        else:
            year = base.year if (base.month, base.day) > (mo, 28) else base.year - 1
        add(m, date(year, mo, 1), "month", "date.half_term", 2)

    for m in _EASTER.finditer(text):
        if m.group(2):
            e = easter_sunday(int(m.group(2)))
        elif m.group(3):
            e = easter_sunday(base.year - 1)
        else:
            e = easter_sunday(base.year)
            if e > base:
                e = easter_sunday(base.year - 1)
        add(m, date(e.year, e.month, 1), "month", "date.easter", 2)

    for m in _CHRISTMAS.finditer(text):
        if m.group(2):
            year = int(m.group(2))
        elif m.group(3) or (m.group(1) or "").lower() == "last" or base.month < 12:
            year = base.year - 1
        else:
            year = base.year
        add(m, date(year, 12, 1), "month", "date.christmas", 2)

    for m in _SUMMER_HOLS.finditer(text):
        if m.group(2):
            year = int(m.group(2))
        elif m.group(3):
            year = base.year - 1
        else:
            year = base.year if base.month >= 8 else base.year - 1
        add(m, date(year, 8, 1), "month", "date.summer_holidays", 2)

    cur = _CURRENT_YEAR_GROUP.search(text)
    for m in _START_OF_YEAR_GROUP.finditer(text):
        if not cur:
            continue
        current_group = int(cur.group(1) or cur.group(2))
        target = int(m.group(2))
        academic_start = base.year if base.month >= 9 else base.year - 1
        year = academic_start - (current_group - target)
        which = m.group(1).lower()
        value = date(year, 9, 1) if which in ("start", "beginning") else date(year + 1, 7, 1)
        add(m, value, "month", "date.school_year", 2)

    for m in _MONTH_ONLY.finditer(text):
        mo = _month_num(m.group(2))
        if mo == 5 and not m.group(1) and not m.group(3) and not m.group(4):
            # "may" is usually the verb; need "in May"/"last May"/"May 2025".
            pre = text[max(0, m.start() - 8) : m.start()].lower()
            if not re.search(r"\b(?:in|since|of|until|during|back in)\s+$", pre):
                continue
        # Abbreviations alone are too ambiguous ("mar" etc.) unless followed by a year.
        if m.group(2).lower() in _ABBREVIATIONS and not m.group(3):
            continue
        rel = (m.group(4) or "").strip().lower()
        explicit = int(m.group(3)) if m.group(3) else None
        if rel == "last year":
            explicit = base.year - 1
        elif rel == "this year":
            explicit = base.year
        value = _month_of_recent(mo, base, (m.group(1) or "").lower() == "last", explicit)
        add(m, value, "month", "date.month", 2)

    for m in _BARE_ORDINAL2.finditer(text):
        d = int(m.group(1))
        cand = _safe_date(base.year, base.month, d)
        if cand is None or cand > base:
            prev = _add_months(base, -1)
            cand = _safe_date(prev.year, prev.month, d)
            # "is on the 17th" said on the 3rd is the coming 17th: drop it.
            if cand is not None and re.search(
                r"\b(?:is|will|are|'s)\s+(?:\w+\s+){0,2}$", text[max(0, m.start() - 25) : m.start()]
            ):
                cand = None
        add(m, cand, "day", "date.bare_ordinal", 0)

    out.sort(key=lambda x: x.start)
    return out


def within_12_months(event_iso: str | None, received: date) -> bool | None:
    """Whether the event (``YYYY-MM-DD`` or ``YYYY-MM``) is within 12 months before ``received``.

    A month-precision event counts from its last day (the most favourable reading).
    """
    if not event_iso:
        return None
    try:
        parts = [int(p) for p in event_iso.split("-")]
        if len(parts) == 3:
            ev = date(parts[0], parts[1], parts[2])
        else:
            ev = _add_months(date(parts[0], parts[1], 1), 1) - timedelta(days=1)
    except (ValueError, IndexError):
        return None
    limit = _safe_date(received.year - 1, received.month, received.day) or date(
        received.year - 1, received.month, 28
    )
    return ev >= limit
