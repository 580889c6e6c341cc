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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "DateFacts",
    "DateMention",
    "Found",
    "easter_sunday",
    "find_dates",
    "format_mention",
    "local_date",
    "read_dates",
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
_WEEKDAY_RE = (
    r"(?:(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|urday|rsday)?"
    r"|wensday|wenesday|wednsday|wedensday|tusday|teusday|thurday|thursay|thrusday|firday)"
)
#: Misspelt weekdays as people type them, to the day's first three letters.
_WEEKDAY_TYPOS = {"wen": "wed", "tus": "tue", "teu": "tue", "thr": "thu", "fir": "fri"}
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
# "on Tuesday", "last Tuesday", "last week Thursday", "I rang Monday"
_WEEKDAY = re.compile(
    rf"\b(?:(last\s+week|last|on|this\s+past|this|rang|phoned|called|emailed|texted)\s+)?"
    rf"({_WEEKDAY_RE})\b",
    _I,
)
_NOW_WORDS = re.compile(
    r"\b(yesterday|today|this\s+morning|this\s+afternoon|last\s+night|earlier\s+today)\b", _I
)
_HEDGE_RE = (
    r"(?:(about|around|roughly|approximately|nearly|almost|over|just\s+over|more\s+than"
    r"|well\s+over)\s+)?"
)
_AGO = re.compile(
    rf"\b{_HEDGE_RE}({_NUM_RE}|couple\s+of|few)\s+(day|week|month|year)s?\s+ago\b",
    _I,
)
_LAST_MONTH = re.compile(r"\blast\s+month\b", _I)
_FORTNIGHT = re.compile(rf"\b{_HEDGE_RE}(a|one|two|2)\s+fortnights?\s+ago\b", _I)
_HALF_TERM = re.compile(
    r"\b(?:(last|this|next)\s+)?(?:(october|february|may|autumn|spring|summer)\s+)?"
    r"half[\s\-]?term\b(?:\s+(\d{4}))?",
    _I,
)
# "the 4th of this month", "on the 28th of last month"
_ORDINAL_REL_MONTH = re.compile(
    r"\b(?:on\s+)?the\s+(\d{1,2})(?:st|nd|rd|th)\s+of\s+(this|last)\s+month\b", _I
)
# "your letter of the 3rd", "the one dated the 12th", "your email from the 1st"
_ORDINAL_AFTER = re.compile(
    rf"\b(?:dated|of|from)\s+(the\s+(\d{{1,2}})(?:st|nd|rd|th))\b(?!\s+(?:of\s+)?{_MONTH_RE}\b)"
    r"(?!\s+(?:of\s+)?(?:this|last|next)\s+month)",
    _I,
)
# "the week before the holidays", "just before the Christmas holidays", "the end of term"
_BEFORE_HOLIDAYS = re.compile(
    r"\b(?:(?:the\s+)?(?:last\s+)?(?:week|day|days|weeks|fortnight)\s+)?(?:just\s+)?before\s+"
    r"the\s+(christmas\s+|easter\s+|summer\s+)?(?:school\s+)?hol(?:iday|iday)s?\b"
    r"|\b(?:the\s+)?(?:last\s+(?:week|day)\s+of|end\s+of)\s+(?:the\s+)?(?:school\s+)?term\b",
    _I,
)
# "at the start of term", "the beginning of the spring term", "when term started"
_TERM_START = re.compile(
    r"\b(?:the\s+)?(?:start|beginning)\s+of\s+(?:the\s+)?(?:(autumn|spring|summer)\s+)?term\b"
    r"|\bwhen\s+(?:the\s+)?(?:new\s+)?term\s+(?:started|began)\b",
    _I,
)
# "last spring", "in the autumn", "over the summer", "the spring term", "winter 2024"
_SEASON = re.compile(
    r"\b(?:(last|this|in\s+the|over\s+the|during\s+the|the|in)\s+)?"
    r"(spring|summer|autumn|winter)\b(?!\s+(?:half|hol|school|fair|fete|camp|club|lane|road))"
    r"(\s+term)?(?:\s+(?:of\s+)?(\d{4}))?(\s+last\s+year)?",
    _I,
)
# "last Easter", "Easter 2025", "the Easter holidays last year"
_EASTER = re.compile(
    r"\b(?:(last|this)\s+)?easter\b(?:\s+hol(?:iday)?s?\b)?(?:\s+(\d{4}))?(\s+last\s+year)?", _I
)
_CHRISTMAS = re.compile(
    r"\b(?:(last|this)\s+)?(?:christmas|xmas)\b(?:\s+hol(?:iday)?s?\b)?(?:\s+(\d{4}))?"
    r"(\s+last\s+year)?",
    _I,
)
_SUMMER_HOLS = re.compile(
    r"\b(?:(start|beginning|end|middle)\s+of\s+|(just\s+before|before|right\s+before)\s+)?"
    r"(?:the\s+)?(?:(last|this)\s+(?:year'?s\s+)?)?summer\s+holidays?\b"
    r"(?:\s+(?:of|in)\s+(\d{4}))?(\s+last\s+year)?",
    _I,
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
        # "last January": the most recent January before the current month, but a year
        # earlier when that is last month ("last July" said in August is July a year ago:
        # the July just gone is "in July" or "last month").
        if month >= base.month - 1:
            return date(base.year - 1, month, 1)
        return this_year
    if month <= base.month:
        return this_year
    if (this_year - base).days > 183:
        return date(base.year - 1, month, 1)
    return None  # near future ("in October" said in August)


def _hedge(word: str | None) -> str:
    """ "about" (approximate), "over" (more than), "nearly" (less than) or ""."""
    w = re.sub(r"\s+", " ", (word or "").lower())
    if w in ("about", "around", "roughly", "approximately"):
        return "about"
    if w in ("over", "just over", "more than", "well over"):
        return "over"
    if w in ("nearly", "almost"):
        return "nearly"
    return ""


def _add_days_ago(
    add: Callable[[re.Match[str], date | None, Precision, str, int], None],
    m: re.Match[str],
    base: date,
    days: int,
    hedge: str,
) -> None:
    """ "three weeks ago" is a day; "about a fortnight ago" only a month."""
    if hedge == "about":
        approx = base - timedelta(days=days)
        add(m, date(approx.year, approx.month, 1), "month", "date.ago", 2)
        return
    days += 1 if hedge == "over" else -1 if hedge == "nearly" else 0
    add(m, base - timedelta(days=days), "day", "date.ago", 1)


def _last_of(base: date, month_days: Sequence[tuple[int, int]]) -> date:
    """The latest of these (month, day) dates on or before ``base``."""
    options = [date(y, mo, d) for y in (base.year, base.year - 1) for mo, d in month_days]
    return max(o for o in options if o <= base)


def _holiday_starts(year: int) -> dict[str, date]:
    """Approximate first days of an English school's longer holidays."""
    return {
        "christmas": date(year, 12, 20),
        "easter": easter_sunday(year) - timedelta(days=9),
        "summer": date(year, 7, 22),
    }


def _last_holiday_start(base: date, which: str | None) -> date:
    options = [
        d
        for y in (base.year, base.year - 1)
        for name, d in _holiday_starts(y).items()
        if which is None or name == which
    ]
    return max(o for o in options if o <= base)


def _last_day_numbered(base: date, day: int) -> date | None:
    """The most recent date on or before ``base`` whose day of the month is ``day``."""
    cand = _safe_date(base.year, base.month, day)
    if cand is not None and cand <= base:
        return cand
    prev = _add_months(base, -1)
    return _safe_date(prev.year, prev.month, day)


#: season -> (first month, middle month, length in months); school terms likewise.
_SEASONS = {"spring": (3, 4, 3), "summer": (6, 7, 3), "autumn": (9, 10, 3), "winter": (12, 1, 3)}
_TERMS = {"spring": (1, 2, 3), "summer": (4, 5, 4), "autumn": (9, 10, 4)}


def _season(m: re.Match[str], base: date) -> date | None:
    lead = re.sub(r"\s+", " ", (m.group(1) or "").lower())
    word = m.group(2).lower()
    term = bool(m.group(3))
    if not (lead or term or m.group(4) or m.group(5)):
        return None  # a bare "summer" ("summer born", "Spring Lane") is not a date
    table = _TERMS if term else _SEASONS
    if word not in table:
        return None  # there is no winter term
    first, mid, length = table[word]
    if m.group(4):
        return date(int(m.group(4)), mid, 1)
    if m.group(5):
        return date(base.year - 1, mid, 1)
    for y in (base.year + 1, base.year, base.year - 1, base.year - 2):
        middle = date(y, mid, 1)
        start = date(y - 1 if first > mid else y, first, 1)
        end = _add_months(start, length)  # first day after the season
        if (end <= base) if lead == "last" else (start <= base):
            # "in the spring" said on 10 March: this spring so far.
            return min(middle, date(base.year, base.month, 1))
    return None


_DIGIT = re.compile(r"\d")


def _folded(text: str) -> str:
    """``text`` folded so that a word any of the expressions below can match (they ignore
    case) is a plain substring of it: used only to skip expressions that cannot match."""
    return text.casefold().replace("\u0307", "").replace("\u0131", "i")


def find_dates(text: str, base: date) -> list[DateMention]:
    """All resolvable past-or-present date mentions in ``text``, in order of appearance.

    Future dates (deadlines, upcoming meetings) are dropped. Never raises on odd input.
    Each expression runs only when the words it needs are in the text (a substring test
    costs far less than the expression): the result is the same, faster.
    """
    # Where lower-casing keeps every character in place (almost always), the expressions run
    # case-sensitively over the lower-cased text, which is faster; offsets and the mention's
    # text still come from ``text``. Dotless i and long s are the two characters that match
    # a letter of these expressions when case is ignored but are not lower-cased to it.
    lowered = text.lower()
    aligned = len(lowered) == len(text) and "\u0131" not in text and "\u017f" not in text
    src = lowered if aligned else text
    low = lowered if aligned else _folded(text)
    digit = _DIGIT.search(text) is not None

    def fast(pattern: re.Pattern[str]) -> re.Pattern[str]:
        return _CASED[pattern] if aligned else pattern

    def has(*words: str) -> bool:
        return any(w in low for w in words)

    out: list[DateMention] = []
    taken: list[tuple[int, int]] = []

    def overlaps(s: int, e: int) -> bool:
        return any(s < te and ts < e for ts, te in taken)

    def add(
        m: re.Match[str],
        value: date | None,
        precision: Precision,
        rule: str,
        rank: int,
        group: int = 0,
    ) -> None:
        s, e = m.start(group), m.end(group)
        if overlaps(s, e):
            return
        taken.append((s, e))  # also block shorter matches inside future dates
        if value is None or value > base:
            return
        out.append(DateMention(s, e, text[s:e], value, precision, rule, rank))

    for m in fast(_NUMERIC).finditer(src) if digit else ():
        d, mo, y = int(m.group(1)), int(m.group(2)), _year2(m.group(3))
        add(m, _safe_date(y, mo, d), "day", "date.numeric_dmy", 0)

    for m in fast(_DAY_MONTH).finditer(src) if digit else ():
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

    for m in fast(_MONTH_DAY).finditer(src) if digit else ():
        mo, d = _month_num(m.group(1)), int(m.group(2))
        if m.group(3):
            value = _safe_date(int(m.group(3)), mo, d)
        else:
            cand = _safe_date(base.year, mo, d)
            value = _past_or_drop(cand, base) if cand else None
        add(m, value, "day", "date.month_day", 0)

    now_words = has("yesterday", "today", "morning", "afternoon", "night")
    for m in fast(_NOW_WORDS).finditer(src) if now_words else ():
        w = m.group(1).lower()
        delta = 1 if w in ("yesterday", "last night") else 0
        add(m, base - timedelta(days=delta), "day", "date.relative_day", 0)

    for m in fast(_AGO).finditer(src) if has("ago") else ():
        hedge = _hedge(m.group(1))
        raw = re.sub(r"\s+", " ", m.group(2).lower())
        n = int(raw) if raw.isdigit() else _NUMBER_WORDS.get(raw, 0)
        unit = m.group(3).lower()
        if n <= 0:
            continue
        if unit == "day":
            add(m, base - timedelta(days=n), "day", "date.ago", 0)
        elif unit == "week":
            _add_days_ago(add, m, base, 7 * n, hedge)
        else:
            months = n if unit == "month" else 12 * n
            # "over a year ago" is more than 12 months; "nearly a year ago" is less.
            months += 1 if hedge == "over" else -1 if hedge == "nearly" and months > 1 else 0
            add(m, _add_months(base, -months), "month", "date.ago", 2 if unit == "month" else 3)

    for m in fast(_FORTNIGHT).finditer(src) if has("fortnight") else ():
        n = 2 if m.group(2).lower() in ("two", "2") else 1
        _add_days_ago(add, m, base, 14 * n, _hedge(m.group(1)))

    for m in fast(_ORDINAL_REL_MONTH).finditer(src) if digit and has("month") else ():
        month_start = _add_months(base, -1 if m.group(2).lower() == "last" else 0)
        add(m, _safe_date(month_start.year, month_start.month, int(m.group(1))), "day",
            "date.ordinal_of_month", 0)  # fmt: skip

    for m in fast(_WEEKDAY).finditer(src):
        lead = (m.group(1) or "").lower()
        word = m.group(2).lower()
        stem = _WEEKDAY_TYPOS.get(word[:3], word[:3])
        idx = next((i for i, w in enumerate(_WEEKDAYS) if w.startswith(stem)), -1)
        if idx < 0 or not lead:
            # A bare weekday ("Thursdays are best") is too weak; need "on/last Tuesday".
            continue
        if lead.split() == ["last", "week"]:
            # "last week Thursday": that day of the week before this one (weeks from Monday).
            add(m, base - timedelta(days=base.weekday() + 7 - idx), "day", "date.weekday", 0)
            continue
        back = (base.weekday() - idx) % 7
        if back == 0:
            back = 7 if lead == "last" else 0
        add(m, base - timedelta(days=back), "day", "date.weekday", 0)

    for m in fast(_LAST_MONTH).finditer(src) if has("month") else ():
        add(m, _add_months(base, -1), "month", "date.last_month", 2)

    for m in fast(_BEFORE_HOLIDAYS).finditer(src) if has("hol", "term") else ():
        which = (m.group(1) or "").strip().lower()
        start = _last_holiday_start(base, which or None)
        before = start - timedelta(days=7 if re.search(r"week|fortnight", m.group(0), _I) else 1)
        add(m, date(before.year, before.month, 1), "month", "date.before_holidays", 3)

    for m in fast(_HALF_TERM).finditer(src) if has("half") else ():
        if (m.group(1) or "").lower() == "next":
            taken.append((m.start(), m.end()))
            continue
        word = (m.group(2) or "").lower()
        if not word:
            # "before half term": the most recent half term (mid February, late May, late
            # October).
            ht = _last_of(base, ((2, 14), (5, 25), (10, 24)))
            add(m, date(ht.year, ht.month, 1), "month", "date.half_term", 2)
            continue
        mo = {"october": 10, "autumn": 10, "february": 2, "spring": 2, "may": 5, "summer": 5}[word]
        if m.group(3):
            year = int(m.group(3))
        else:
            year = base.year if (base.month, base.day) > (mo, 28) else base.year - 1
        add(m, date(year, mo, 1), "month", "date.half_term", 2)

    for m in fast(_EASTER).finditer(src) if has("easter") else ():
        if m.group(2):
            e = easter_sunday(int(m.group(2)))
        elif m.group(3):
            e = easter_sunday(base.year - 1)
        else:
            e = easter_sunday(base.year)
            if e > base:
                e = easter_sunday(base.year - 1)
        add(m, date(e.year, e.month, 1), "month", "date.easter", 2)

    for m in fast(_CHRISTMAS).finditer(src) if has("christmas", "xmas") else ():
        xmas: date | None
        if m.group(2):
            xmas = date(int(m.group(2)), 12, 1)
        elif m.group(3) or (m.group(1) or "").lower() == "last" or base.month < 12:
            xmas = date(base.year - 1, 12, 1)
        elif base.day < 25:
            xmas = None  # "before Christmas" said on 10 December: the coming one
        else:
            xmas = date(base.year, 12, 1)
        add(m, xmas, "month", "date.christmas", 2)

    for m in fast(_SUMMER_HOLS).finditer(src) if has("summer") else ():
        # The summer holidays run from about 22 July to the end of August: "the start of" or
        # "before" them is July, "the end of" or "in" them August.
        early = (m.group(1) or "").lower() in ("start", "beginning") or bool(m.group(2))
        mo, first_day = (7, 22) if early else (8, 1)
        if m.group(4):
            year = int(m.group(4))
        elif m.group(5):
            year = base.year - 1
        elif (m.group(3) or "").lower() == "last":
            year = base.year if base >= date(base.year, 9, 1) else base.year - 1
        else:
            year = base.year if base >= date(base.year, mo, first_day) else base.year - 1
        add(m, date(year, mo, 1), "month", "date.summer_holidays", 2)

    for m in fast(_TERM_START).finditer(src) if has("term") else ():
        season = (m.group(1) or "").lower()
        starts = {"autumn": ((9, 3),), "spring": ((1, 5),), "summer": ((4, 15),)}.get(
            season, ((1, 5), (4, 15), (9, 3))
        )
        st = _last_of(base, starts)
        add(m, date(st.year, st.month, 1), "month", "date.term_start", 3)

    year_group = digit and has("year")
    cur = fast(_CURRENT_YEAR_GROUP).search(src) if year_group else None
    for m in fast(_START_OF_YEAR_GROUP).finditer(src) if year_group else ():
        if not cur:
            continue
        current_group = int(cur.group(1) or cur.group(2))
        target = int(m.group(2))
        academic_start = base.year if base.month >= 9 else base.year - 1
        year = academic_start - (current_group - target)
        which = m.group(1).lower()
        value = date(year, 9, 1) if which in ("start", "beginning") else date(year + 1, 7, 1)
        add(m, value, "month", "date.school_year", 2)

    for m in fast(_SEASON).finditer(src) if has("spring", "summer", "autumn", "winter") else ():
        value = _season(m, base)
        if value is not None:
            add(m, value, "month", "date.season", 3)

    for m in fast(_MONTH_ONLY).finditer(src):
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

    for m in fast(_ORDINAL_AFTER).finditer(src) if digit else ():
        day = _last_day_numbered(base, int(m.group(2)))
        add(m, day, "day", "date.ordinal_after", 1, group=1)

    for m in fast(_BARE_ORDINAL2).finditer(src) if digit else ():
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


#: Each expression above, case-sensitive, for lower-cased text (see :func:`find_dates`).
_CASED: dict[re.Pattern[str], re.Pattern[str]] = {
    p: re.compile(p.pattern, p.flags & ~re.IGNORECASE)
    for p in (
        _NUMERIC,
        _DAY_MONTH,
        _MONTH_DAY,
        _NOW_WORDS,
        _AGO,
        _FORTNIGHT,
        _ORDINAL_REL_MONTH,
        _WEEKDAY,
        _LAST_MONTH,
        _BEFORE_HOLIDAYS,
        _HALF_TERM,
        _EASTER,
        _CHRISTMAS,
        _SUMMER_HOLS,
        _TERM_START,
        _CURRENT_YEAR_GROUP,
        _START_OF_YEAR_GROUP,
        _SEASON,
        _MONTH_ONLY,
        _ORDINAL_AFTER,
        _BARE_ORDINAL2,
    )
}
# Lower-cased text can only match lower-case letters: no expression may spell one in capitals.
assert not any(re.search(r"(?<!\\)[A-Z]", p.pattern) for p in _CASED), "upper case in a date rule"


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


# ------------------------------------------------------------------- choosing the dates

LONDON = ZoneInfo("Europe/London")

#: A date right after these words is the date of a letter or an email ("your letter dated
#: 28 August", "the reply I had before half term", "the letter you sent me last Friday").
_LETTER_WORDS = re.compile(
    r"\b(?:letter|leter|email|e-mail|response|reply|answer|outcome|findings)\b"
    r"(?:\s+(?:to|about)\s+my\s+complaint)?"
    r"(?:(?:[^.\n]{0,30}?\b(?:of|dated|sent|from|sent\s+(?:me|us|to\s+me)))?\s+(?:on\s+)?"
    # "the letter I got on 10/03/2025", "the answer from manager on 14/04/2026"
    r"|[^.\n]{0,30}?\s(?:on|dated)\s+(?:the\s+)?"
    r"|[^.\n]{0,30}?\b(?:got|received|had)(?:\s+it)?\s+(?:(?:just\s+)?(?:before|after|at|in|over)\s+)?)$"
    # "I received the reply below before Easter", "I got your email on Monday"
    r"|\b(?:got|received|had|read)\s+(?:your|the|a|my)\s+(?:letter|email|e-mail|response|reply"
    r"|answer|outcome)\b[^.\n]{0,20}?\s(?:(?:just\s+)?(?:before|after|on|in|at|over)\s+)?$",
    re.IGNORECASE,
)
#: "by letter on 9 January": something done by letter, which is the event.
_BY_LETTER = re.compile(r"\bby\s+(?:letter|e-?mail)\s+(?:on\s+)?(?:the\s+)?$", re.IGNORECASE)
#: A letter's own date ("dated", "of", "from") wins over when it arrived ("got it on").
_OWN_DATE = re.compile(r"\b(?:dated|of|from)\s+(?:the\s+)?$", re.IGNORECASE)
_SINCE = re.compile(r"\b(?:since|ever\s+since|from)\s+(?:\w+\s+){0,4}$", re.IGNORECASE)
_COMPLAINT_MADE = re.compile(
    r"\b(?:made|raised|sent|submitted|lodged)\s+(?:my|the|a)\s+(?:original\s+)?complaint\s+"
    r"(?:in|on)\s+$|\bcomplaint\s+(?:received|dated)\s+(?:on\s+)?$|\bfound\s+out\s+(?:about\s+"
    r"this\s+|in\s+|on\s+)?$|\bonly\s+(?:realised|realized|found\s+out)\s+(?:\w+\s+){0,3}$",
    re.IGNORECASE,
)
#: Something still to come or a standing fact, not what happened: "the review is on Friday",
#: "the deadline is 9 January", "by Christmas", "it's 15 February", "until Easter".
_NOT_AN_EVENT = re.compile(
    r"(?:\b(?:is|are|it's|that's|'s)(?:\s+now)?(?:\s+due)?|\bwill\s+be|\bdeadline(?:\s+is)?|\buntil"
    r"|\btill|\bnext)\s+(?:(?:on|in|by)\s+)?(?:the\s+)?['\"\u2018\u201c]?$",
    re.IGNORECASE,
)
#: "On 3 Feb 2026, X wrote:", "Sent: 22 September 2025 16:02", "Date: Mon, 1 Dec 2025"
QUOTED_HEADER_DATE = re.compile(
    r"^\s*>?\s*(?:On\s+(?P<on>[^\n]{4,80}?)(?:,\s*at\b|\s+at\b|,\s*\d{1,2}:\d{2}"
    r"|,\s+[^\n]{0,120}?\bwrote:)|"
    r"\*?(?:Sent|Date):\*?\s+(?P<sent>[^\n]{4,60}))",
    re.IGNORECASE | re.MULTILINE,
)


def local_date(received: datetime) -> date:
    """The UK calendar date of ``received`` (a naive value is taken as UK time already), so
    that "yesterday" in mail sent at 00:30 BST means the day before in the UK."""
    if received.tzinfo is None:
        return received.date()
    return received.astimezone(LONDON).date()


@dataclass(frozen=True)
class Found:
    """A chosen date and where it was read: "body" (the new text), "subject", "quoted" or
    "forwarded"; the mention's offsets are in that text."""

    mention: DateMention
    source: str


@dataclass(frozen=True)
class DateFacts:
    event: Found | None = None
    stage1_response: Found | None = None

    @property
    def event_date(self) -> str | None:
        return self.event.mention.iso if self.event else None

    @property
    def stage1_response_date(self) -> str | None:
        m = self.stage1_response.mention if self.stage1_response else None
        return m.value.isoformat() if m is not None and m.precision == "day" else None


def header_dates(text: str, base: date) -> list[tuple[DateMention, int, int]]:
    """Day-precision dates of the quoted or forwarded headers in ``text``, first first, each
    with the span of its header line."""
    out = []
    for hm in QUOTED_HEADER_DATE.finditer(text):
        raw = hm.group("on") or hm.group("sent") or ""
        found = [d for d in find_dates(raw, base) if d.precision == "day"]
        if found:
            line_end = text.find("\n", hm.start())
            end = line_end if line_end >= 0 else len(text)
            out.append((found[0], hm.start(), end))
    return out


def split_candidates(
    text: str, base: date, skip_headers: bool = False
) -> tuple[list[DateMention], list[DateMention]]:
    """Date mentions in ``text`` split into (letter dates, candidate event dates)."""
    headers = [(s, e) for _, s, e in header_dates(text, base)] if skip_headers else []
    letters: list[DateMention] = []
    events: list[DateMention] = []
    for m in find_dates(text, base):
        if any(hs <= m.start < he for hs, he in headers):
            continue  # when mail was sent, not what happened
        before = text[max(0, m.start - 60) : m.start]
        if _BY_LETTER.search(before):
            events.append(m)
        elif _LETTER_WORDS.search(before[-45:]):
            letters.append(m)
        elif _COMPLAINT_MADE.search(before) or _NOT_AN_EVENT.search(before[-30:]):
            continue
        elif _SINCE.search(before[-30:]):
            # "waiting since March": the start of an ongoing problem; keep as a fallback.
            events.append(
                DateMention(m.start, m.end, m.text, m.value, m.precision, m.rule, m.rank + 2)
            )
        else:
            events.append(m)
    return letters, events


def _letter_date(text: str, letters: list[DateMention]) -> DateMention:
    """The Stage 1 letter's own date ("dated the 12th") before when it came ("got it on
    Saturday")."""
    for m in letters:
        if _OWN_DATE.search(text[max(0, m.start - 12) : m.start]) or m.rule == "date.ordinal_after":
            return m
    return letters[0]


def read_dates(
    kind: str,
    received: datetime,
    new: str,
    subject: str = "",
    quoted: str = "",
    forwarded: str = "",
) -> DateFacts:
    """The event date and the Stage 1 response date of a complaint or Stage 2 request.

    ``new`` is the writer's own text, ``quoted`` and ``forwarded`` the earlier mail below
    it. Relative expressions resolve against ``received`` in UK time (a pure function).
    """
    base = local_date(received)
    letters, events = split_candidates(new, base)
    event: Found | None = None
    stage1: Found | None = None
    earlier = [
        (name, text) for name, text in (("forwarded", forwarded), ("quoted", quoted)) if text
    ]
    if kind == "complaint" and letters:
        # A first complaint about a letter ("your letter dated 28 August went to my old
        # address"): the letter is what happened, not a Stage 1 response.
        events = list(letters) + events
    if kind == "stage2_request" and letters:
        ld = _letter_date(new, letters)
        if ld.precision != "day":
            # "the reply I had before Christmas": the quoted reply's header gives the day.
            for _name, text in earlier:
                for hd, _, _ in header_dates(text, base):
                    if hd.value <= base and _same_period(ld, hd.value):
                        ld = DateMention(
                            ld.start, ld.end, ld.text, hd.value, "day", ld.rule, ld.rank
                        )
                        break
                if ld.precision == "day":
                    break
        stage1 = Found(ld, "body")
    if events:
        best = min(events, key=lambda m: (m.rank, m.value))
        event = Found(best, "body")
    else:
        _, subject_events = split_candidates(subject, base)
        if subject_events:
            event = Found(min(subject_events, key=lambda m: (m.rank, m.value)), "subject")
    if event is None:
        # Nothing dated in the new text: the event is often only in the forwarded or quoted
        # Stage 1 letter ("your complaint about the home visit on 15 July 2025").
        for name, text in earlier:
            _, found = split_candidates(text, base, skip_headers=True)
            if found:
                event = Found(min(found, key=lambda m: (m.rank, m.value)), name)
                break
    if event is None and kind == "complaint":
        # "I found that reply rude": the reply quoted below, sent on its header's date.
        for name, text in earlier:
            hds = header_dates(text, base)
            if hds:
                hd, s, e = hds[0]
                event = Found(
                    DateMention(s, e, text[s:e], hd.value, "day", "date.quoted_header"), name
                )
                break
    if event is not None and event.mention.precision == "month":
        event = _refine_month(event, earlier, base)
    if kind == "stage2_request" and stage1 is None:
        for name, text in earlier:
            hds = header_dates(text, base)
            if hds:
                hd, s, e = hds[0]
                m = DateMention(s, e, text[s:e].strip()[:120], hd.value, "day",
                                "extract.quoted_header_date")  # fmt: skip
                stage1 = Found(m, name)
                break
    return DateFacts(event, stage1)


def _same_period(vague: DateMention, day: date) -> bool:
    """Whether ``day`` fits a month-precision mention ("before Christmas" = December; a
    "before" period also takes the weeks just before it)."""
    start = vague.value
    end = _add_months(start, 1)
    return _add_months(start, -1) <= day < end


def _refine_month(event: Found, earlier: list[tuple[str, str]], base: date) -> Found:
    """ "last November" with the November email quoted below: take the quoted day."""
    month = event.mention.value
    for _, text in earlier:
        days = [d.value for d, _, _ in header_dates(text, base)] + [
            d.value for d in split_candidates(text, base)[1] if d.precision == "day"
        ]
        for d in days:
            if (d.year, d.month) == (month.year, month.month):
                m = event.mention
                return Found(
                    DateMention(m.start, m.end, m.text, d, "day", m.rule, m.rank), event.source
                )
    return event
