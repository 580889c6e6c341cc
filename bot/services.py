"""Complaints procedures as data: one TOML file per service in ``config/services/``.

A new service is one more file. :func:`load_services` reads them all at start-up and checks
them (unknown keys, missing keys, wrong types, impossible windows, references to stages that
do not exist, duplicate stage numbers, unknown bank-holiday regions); any problem is a
:class:`~bot.errors.ConfigError` naming the file and the dotted key.

The file format is documented by the shipped files themselves (see ``durham.toml``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import resources
from bot.errors import ConfigError
from bot.workdays import REGIONS, Closure, WorkCalendar

WindowUnit = Literal["working_days", "calendar_days", "calendar_weeks"]
WINDOW_UNITS: tuple[str, ...] = ("working_days", "calendar_days", "calendar_weeks")

#: The longest window accepted for each unit. Every window in the shipped procedures is far
#: shorter; a longer one is almost certainly a typing error (200 for 20, weeks for days).
WINDOW_MAX: Mapping[str, int] = {"working_days": 120, "calendar_days": 180, "calendar_weeks": 26}

#: Special routes the engine knows. ``start_stage`` is required for those marked True.
ROUTE_CODES: Mapping[str, bool] = {
    # a complaint about the person who would handle Stage 1 starts at a later stage
    "about_coordinator": True,
    # the service tries informal resolution before a formal Stage 1 complaint
    "informal_first": False,
    # informal resolution is offered as an alternative the complainant may choose
    "informal_alternative": False,
    # verbal complaints about waiting or opening times are informal, outside the procedure
    "verbal_waiting_or_opening_times": False,
    # the complainant may ask, when first complaining in writing, to start at a later stage
    "direct_to_stage": True,
}

EXEMPTION_CODES: tuple[str, ...] = (
    "other_procedure",  # court, criminal, safeguarding or appeal procedures in progress
    "older_than_window",  # the events are older than the eligibility window
    "already_investigated",  # the same complaint has already been investigated
    "outside_service",  # about another organisation, not the service itself
    "staff_or_volunteer",  # complaints by staff or volunteers (grievance procedures)
    "job_applicant",  # complaints by job applicants (recruitment procedure)
)

EVENT_WINDOW_BASES: tuple[str, ...] = ("procedure", "ombudsman", "default")

#: Steps a stage may contain, each with its own clock (``[[stages.steps]]``).
STEP_CODES: tuple[str, ...] = (
    "mediation",  # the parties meet to agree a way forward (durham L121-125, staffordshire L107)
    "special_meeting",  # a meeting decides; the response follows it (stoke L85-89)
)

#: Routes that put a complaint on the informal track (no formal clock until it is formalised).
INFORMAL_ROUTES: tuple[str, ...] = (
    "informal_first",
    "informal_alternative",
    "verbal_waiting_or_opening_times",
)

_PREFIX_RE = re.compile(r"^[A-Z]{3}$")
_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# ------------------------------------------------------------------------------ dataclasses


@dataclass(frozen=True)
class Window:
    """A time limit: ``amount`` of ``unit``.

    ``stated`` is False when the procedure document leaves the window unstated and the
    configuration chose a default; ``note`` then says which and why.
    """

    amount: int
    unit: WindowUnit
    source: str = ""
    stated: bool = True
    note: str = ""

    def describe(self) -> str:
        unit = self.unit.replace("_", " ")
        if self.amount == 1:
            unit = unit[:-1]
        return f"{self.amount} {unit}"

    def to_json(self) -> dict[str, Any]:
        return {
            "amount": self.amount,
            "unit": self.unit,
            "source": self.source,
            "stated": self.stated,
            "note": self.note,
        }


@dataclass(frozen=True)
class Contact:
    """A person or team: the formal ``role`` from the document, ``who`` (how a letter names
    them to the reader, a noun phrase; default "the <role>") and only the contact details the
    document gives. A detail the document does not give is empty and never reaches a letter."""

    role: str
    email: str = ""
    address: str = ""
    phone: str = ""
    web: str = ""
    who: str = ""
    source: str = ""

    @property
    def phrase(self) -> str:
        return self.who or f"the {self.role}"

    @property
    def reachable(self) -> bool:
        return bool(self.email or self.address or self.phone or self.web)

    def to_json(self) -> dict[str, str]:
        return {
            "role": self.role,
            "who": self.phrase,
            "email": self.email,
            "address": self.address,
            "phone": self.phone,
            "web": self.web,
        }


@dataclass(frozen=True)
class Extension:
    """Whether a stage's response window can be extended, and how the complainant is told."""

    allowed: bool
    how_told: str = ""
    source: str = ""


@dataclass(frozen=True)
class NextStageRequest:
    """How a complainant asks for the next stage after this stage's response.

    ``within`` is None when the procedure sets no time limit. The window runs from the date
    of this stage's response letter.
    """

    to_stage: int
    method: str
    within: Window | None = None
    source: str = ""
    #: Where the request goes, with the details the document gives (None: not stated).
    write_to: Contact | None = None


@dataclass(frozen=True)
class Step:
    """A step inside a stage with its own clock: a meeting that must be held within
    ``meeting_within`` of the stage starting, and a response due ``respond_after`` the meeting
    (None: the procedure sets no time, the stage's response date stands). ``required``: the
    stage always takes this step (Stoke's Special Meeting); else it may be offered (mediation).
    ``what_happens`` is one sentence to the reader."""

    code: str
    name: str
    what_happens: str
    required: bool = False
    meeting_within: Window | None = None
    respond_after: Window | None = None
    source: str = ""


@dataclass(frozen=True)
class Writing:
    """The procedure's rule on writing. ``required``: a complaint made by phone or in person
    does not start the formal clock until it is in writing (the case waits, and the letter
    says so); ``how`` says to the reader how to put it in writing. ``verbal_statement``: a
    spoken complaint is accepted as it is (stoke L31)."""

    required: bool = False
    how: str = ""
    verbal_statement: bool = False
    source: str = ""


@dataclass(frozen=True)
class Stage:
    number: int
    name: str
    handler: Contact
    acknowledge: Window
    respond: Window
    extension: Extension
    final: bool = False
    next_stage_request: NextStageRequest | None = None
    informal: bool = False
    #: One sentence to the reader (second person) on what happens at this stage; "" = none.
    what_happens: str = ""
    #: People the procedure says must be sent a copy when the stage starts.
    copies: tuple[Contact, ...] = ()
    #: The stage's handler is the person a complaint "about the coordinator" is about: such a
    #: complaint is never handled here but by the next stage's handler.
    handled_by_subject: bool = False
    #: Steps with their own clocks (mediation, a Special Meeting).
    steps: tuple[Step, ...] = ()

    def step(self, code: str) -> Step | None:
        for st in self.steps:
            if st.code == code:
                return st
        return None


@dataclass(frozen=True)
class Route:
    code: str
    description: str
    start_stage: int | None = None
    informal: bool = False
    source: str = ""
    #: An informal route: one sentence to the reader on what happens on it ("" = none).
    what_happens: str = ""
    #: An informal route: where a formal complaint is made instead, when not with the service
    #: itself (Coventry's Speak Up, L17-21); None = by writing to the service.
    formal_via: Contact | None = None


@dataclass(frozen=True)
class Exemption:
    code: str
    description: str
    source: str = ""


@dataclass(frozen=True)
class Eligibility:
    """Eligibility rules. They inform the person handling the case; they never refuse."""

    event_window_months: int
    event_window_basis: str
    event_window_source: str = ""
    exemptions: tuple[Exemption, ...] = ()


@dataclass(frozen=True)
class Ombudsman:
    """Where a complaint goes after the last stage."""

    name: str
    time_limit_months: int
    rule: str
    named_in_document: bool
    phone: str = ""
    address: str = ""
    web: str = ""
    source: str = ""


@dataclass(frozen=True)
class Safeguarding:
    """The short reply to someone who discloses a risk: sent at once unless ``hold_reply``
    (then a coordinator approves it); ``contacts`` only where the document gives them."""

    hold_reply: bool = False
    contacts: tuple[Contact, ...] = ()


@dataclass(frozen=True)
class Service:
    key: str
    name: str
    reference_prefix: str
    addresses: tuple[str, ...]
    coordinator_email: str
    privacy_notice_url: str  # "" until the service confirms it: then letters leave it out
    timezone: str
    holiday_region: str
    contact: Contact
    stages: tuple[Stage, ...]
    eligibility: Eligibility
    ombudsman: Ombudsman
    procedure_document: str = ""
    cutoff_hour: int | None = None
    closure_days: tuple[Closure, ...] = ()
    routes: tuple[Route, ...] = ()
    safeguarding: Safeguarding = field(default_factory=Safeguarding)
    writing: Writing = field(default_factory=Writing)
    path: Path | None = field(default=None, compare=False)

    def informal_route(self, verbal: bool = False) -> Route | None:
        """The route that puts a complaint on the informal track: the service's informal-first
        or informal-alternative route, or (for a complaint made by phone or in person) one
        that applies only to spoken complaints. None: the procedure has no informal step."""
        for r in self.routes:
            if r.code in ("informal_first", "informal_alternative"):
                return r
        if verbal:
            return self.route("verbal_waiting_or_opening_times")
        return None

    @property
    def calendar(self) -> WorkCalendar:
        return WorkCalendar(self.holiday_region, self.closure_days)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def first_stage(self) -> Stage:
        return self.stages[0]

    @property
    def final_stage(self) -> Stage:
        return self.stages[-1]

    def stage(self, number: int) -> Stage:
        for s in self.stages:
            if s.number == number:
                return s
        raise KeyError(
            f"{self.key} has no stage {number} "
            f"(stages: {', '.join(str(s.number) for s in self.stages)})"
        )

    def has_stage(self, number: int) -> bool:
        return any(s.number == number for s in self.stages)

    def subject_free_handler(self, stage_no: int, about_coordinator: bool) -> tuple[int, Contact]:
        """The stage whose handler handles a case now at ``stage_no``, and that handler: the
        stage's own, or for a complaint about the coordinator at a stage the subject handles,
        the first later stage's handler who is not the subject."""
        stage = self.stage(stage_no)
        if not about_coordinator or not stage.handled_by_subject:
            return stage.number, stage.handler
        for later in self.stages:
            if later.number > stage_no and not later.handled_by_subject:
                return later.number, later.handler
        return stage.number, stage.handler

    def missing(self) -> list[str]:
        """What the service file leaves out that a letter or a notification would use: each
        is omitted from letters until the service confirms it (``check-config`` lists them)."""
        out: list[str] = []
        if not self.privacy_notice_url:
            out.append("privacy_notice_url: not confirmed (letters leave the link out)")
        for st in self.stages:
            if not st.handler.email:
                out.append(
                    f"stages[{st.number}].handler ({st.handler.role}): no email address "
                    "(cannot be notified)"
                )
            for c in st.copies:
                if not c.email:
                    out.append(
                        f"stages[{st.number}].copies ({c.role}): no email address "
                        "(the copy is recorded as not sent)"
                    )
            nsr = st.next_stage_request
            if nsr is not None and (nsr.write_to is None or not nsr.write_to.reachable):
                out.append(
                    f"stages[{st.number}].next_stage_request.write_to: no contact details "
                    "(letters name no address for the request)"
                )
        return out

    def route(self, code: str) -> Route | None:
        for r in self.routes:
            if r.code == code:
                return r
        return None

    def start_stage(self, about_coordinator: bool = False) -> int:
        """The stage a new complaint starts at (a later one if about the coordinator and the
        procedure says so)."""
        if about_coordinator:
            r = self.route("about_coordinator")
            if r is not None and r.start_stage is not None:
                return r.start_stage
        return self.first_stage.number

    def to_json(self) -> dict[str, Any]:
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """A JSON-serialisable outline, for ``--help``-style listings and the UI."""
        return {
            "key": self.key,
            "name": self.name,
            "reference_prefix": self.reference_prefix,
            "addresses": list(self.addresses),
            "holiday_region": self.holiday_region,
            "stages": [
                {
                    "number": s.number,
                    "name": s.name,
                    "handler": s.handler.role,
                    "acknowledge": s.acknowledge.to_json(),
                    "respond": s.respond.to_json(),
                    "final": s.final,
                }
                for s in self.stages
            ],
            "routes": [r.code for r in self.routes],
        }


# -------------------------------------------------------------------------------- reading

T = TypeVar("T")


class _Table:
    """Reads one TOML table, remembering which keys were used so the rest can be refused."""

    def __init__(self, path: Path, data: Any, prefix: str) -> None:
        self.path = path
        self.prefix = prefix
        if not isinstance(data, dict):
            raise ConfigError(path, prefix or "(file)", f"expected a table, got {_tname(data)}")
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.path, self.key(name), problem)

    def _get(self, name: str, required: bool) -> Any:
        self.used.add(name)
        if name not in self.data:
            if required:
                raise self.error(name, "missing (required)")
            return None
        return self.data[name]

    def _typed(self, name: str, required: bool, check: Callable[[Any], bool], what: str) -> Any:
        v = self._get(name, required)
        if v is None:
            return None
        if not check(v):
            raise self.error(name, f"expected {what}, got {_tname(v)} {v!r}")
        return v

    def text(self, name: str, required: bool = True, default: str = "") -> str:
        v = self._typed(name, required, lambda x: isinstance(x, str), "a string")
        if v is None:
            return default
        if required and not v.strip():
            raise self.error(name, "must not be empty")
        return cast(str, v)

    def integer(self, name: str, required: bool = True) -> int | None:
        is_int: Callable[[Any], bool] = lambda x: isinstance(x, int) and not isinstance(x, bool)  # noqa: E731
        return cast("int | None", self._typed(name, required, is_int, "an integer"))

    def req_int(self, name: str) -> int:
        v = self.integer(name, True)
        assert v is not None
        return v

    def flag(self, name: str, required: bool = True, default: bool = False) -> bool:
        v = self._typed(name, required, lambda x: isinstance(x, bool), "true or false")
        return default if v is None else cast(bool, v)

    def array(self, name: str, required: bool = True) -> list[Any]:
        v = self._typed(name, required, lambda x: isinstance(x, list), "an array")
        return [] if v is None else cast(list[Any], v)

    def table(self, name: str, required: bool = True) -> _Table | None:
        v = self._get(name, required)
        if v is None:
            return None
        if not isinstance(v, dict):
            raise self.error(name, f"expected a table, got {_tname(v)} {v!r}")
        return _Table(self.path, v, self.key(name))

    def req_table(self, name: str) -> _Table:
        t = self.table(name, True)
        assert t is not None
        return t

    def tables(self, name: str, required: bool = True) -> list[_Table]:
        items = self.array(name, required)
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ConfigError(
                    self.path, f"{self.key(name)}[{i}]", f"expected a table, got {_tname(item)}"
                )
            out.append(_Table(self.path, item, f"{self.key(name)}[{i}]"))
        return out

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            raise self.error(unknown[0], f"unknown key (known keys here: {known})")


def _tname(v: Any) -> str:
    return {
        str: "string",
        int: "integer",
        float: "float",
        bool: "boolean",
        list: "array",
        dict: "table",
    }.get(type(v), type(v).__name__)


def _window(t: _Table) -> Window:
    amount = t.req_int("amount")
    unit = t.text("unit")
    if unit not in WINDOW_UNITS:
        raise t.error("unit", f"unknown unit {unit!r} (expected one of {', '.join(WINDOW_UNITS)})")
    if amount <= 0:
        raise t.error("amount", f"impossible window: {amount} {unit} (must be at least 1)")
    if amount > WINDOW_MAX[unit]:
        raise t.error(
            "amount", f"impossible window: {amount} {unit} (more than {WINDOW_MAX[unit]})"
        )
    w = Window(
        amount=amount,
        unit=cast(WindowUnit, unit),
        source=t.text("source", required=False),
        stated=t.flag("stated", required=False, default=True),
        note=t.text("note", required=False),
    )
    if not w.stated and not w.note:
        raise t.error("note", "a window the document does not state needs a note saying why")
    t.finish()
    return w


def _contact(t: _Table) -> Contact:
    c = Contact(
        role=t.text("role"),
        email=t.text("email", required=False).lower(),
        address=t.text("address", required=False),
        phone=t.text("phone", required=False),
        web=t.text("web", required=False),
        who=t.text("who", required=False),
        source=t.text("source", required=False),
    )
    if c.email and not _EMAIL_RE.match(c.email):
        raise t.error("email", f"not an email address: {c.email!r}")
    t.finish()
    return c


def _extension(t: _Table) -> Extension:
    e = Extension(
        allowed=t.flag("allowed"),
        how_told=t.text("how_told", required=False),
        source=t.text("source", required=False),
    )
    if e.allowed and not e.how_told:
        raise t.error("how_told", "say how the complainant is told of an extension")
    t.finish()
    return e


def _next_request(t: _Table) -> NextStageRequest:
    within_t = t.table("within", required=False)
    write_to = t.table("write_to", required=False)
    n = NextStageRequest(
        to_stage=t.req_int("to_stage"),
        method=t.text("method"),
        within=_window(within_t) if within_t is not None else None,
        source=t.text("source", required=False),
        write_to=_contact(write_to) if write_to is not None else None,
    )
    t.finish()
    return n


def _step(t: _Table) -> Step:
    code = t.text("code")
    if code not in STEP_CODES:
        raise t.error("code", f"unknown step {code!r} (expected one of {', '.join(STEP_CODES)})")
    meeting = t.table("meeting_within", required=False)
    after = t.table("respond_after", required=False)
    st = Step(
        code=code,
        name=t.text("name"),
        what_happens=t.text("what_happens"),
        required=t.flag("required", required=False),
        meeting_within=_window(meeting) if meeting is not None else None,
        respond_after=_window(after) if after is not None else None,
        source=t.text("source"),
    )
    t.finish()
    return st


def _writing(t: _Table | None) -> Writing:
    if t is None:
        return Writing()
    w = Writing(
        required=t.flag("required"),
        how=t.text("how", required=False),
        verbal_statement=t.flag("verbal_statement", required=False),
        source=t.text("source"),
    )
    if w.required and not w.how:
        raise t.error("how", "say how the reader puts the complaint in writing")
    if w.required and w.verbal_statement:
        raise t.error("verbal_statement", "cannot be true when writing is required")
    t.finish()
    return w


def _stage(t: _Table) -> Stage:
    number = t.req_int("number")
    if number < 1:
        raise t.error("number", f"stage numbers start at 1, got {number}")
    nsr = t.table("next_stage_request", required=False)
    s = Stage(
        number=number,
        name=t.text("name"),
        handler=_contact(t.req_table("handler")),
        acknowledge=_window(t.req_table("acknowledge")),
        respond=_window(t.req_table("respond")),
        extension=_extension(t.req_table("extension")),
        final=t.flag("final"),
        next_stage_request=_next_request(nsr) if nsr is not None else None,
        informal=t.flag("informal", required=False),
        what_happens=t.text("what_happens", required=False),
        copies=tuple(_contact(x) for x in t.tables("copies", required=False)),
        handled_by_subject=t.flag("handled_by_subject", required=False),
        steps=tuple(_step(x) for x in t.tables("steps", required=False)),
    )
    seen: set[str] = set()
    for i, st in enumerate(s.steps):
        if st.code in seen:
            raise ConfigError(t.path, f"{t.key('steps')}[{i}].code", f"duplicate step {st.code!r}")
        seen.add(st.code)
    t.finish()
    return s


def _route(t: _Table) -> Route:
    code = t.text("code")
    if code not in ROUTE_CODES:
        raise t.error("code", f"unknown route {code!r} (expected one of {', '.join(ROUTE_CODES)})")
    via = t.table("formal_via", required=False)
    r = Route(
        code=code,
        description=t.text("description"),
        start_stage=t.integer("start_stage", required=ROUTE_CODES[code]),
        informal=t.flag("informal", required=False),
        source=t.text("source", required=False),
        what_happens=t.text("what_happens", required=False),
        formal_via=_contact(via) if via is not None else None,
    )
    if r.code in INFORMAL_ROUTES and not r.informal:
        raise t.error("informal", f"route {code!r} is informal: set informal = true")
    t.finish()
    return r


def _exemption(t: _Table) -> Exemption:
    code = t.text("code")
    if code not in EXEMPTION_CODES:
        raise t.error(
            "code", f"unknown exemption {code!r} (expected one of {', '.join(EXEMPTION_CODES)})"
        )
    e = Exemption(code=code, description=t.text("description"), source=t.text("source", False))
    t.finish()
    return e


def _eligibility(t: _Table) -> Eligibility:
    months = t.req_int("event_window_months")
    if not 1 <= months <= 36:
        raise t.error("event_window_months", f"impossible window: {months} months (1 to 36)")
    basis = t.text("event_window_basis")
    if basis not in EVENT_WINDOW_BASES:
        raise t.error(
            "event_window_basis",
            f"unknown basis {basis!r} (expected one of {', '.join(EVENT_WINDOW_BASES)})",
        )
    e = Eligibility(
        event_window_months=months,
        event_window_basis=basis,
        event_window_source=t.text("event_window_source", required=False),
        exemptions=tuple(_exemption(x) for x in t.tables("exemptions", required=False)),
    )
    t.finish()
    return e


def _ombudsman(t: _Table) -> Ombudsman:
    months = t.req_int("time_limit_months")
    if not 1 <= months <= 36:
        raise t.error("time_limit_months", f"impossible window: {months} months (1 to 36)")
    o = Ombudsman(
        name=t.text("name"),
        time_limit_months=months,
        rule=t.text("rule"),
        named_in_document=t.flag("named_in_document"),
        phone=t.text("phone", required=False),
        address=t.text("address", required=False),
        web=t.text("web", required=False),
        source=t.text("source", required=False),
    )
    t.finish()
    return o


def _safeguarding(t: _Table | None) -> Safeguarding:
    if t is None:
        return Safeguarding()
    s = Safeguarding(
        hold_reply=t.flag("hold_reply", required=False),
        contacts=tuple(_contact(x) for x in t.tables("contacts", required=False)),
    )
    t.finish()
    return s


def _day(t: _Table, name: str) -> date:
    v = t._get(name, True)
    if isinstance(v, date) and not hasattr(v, "hour"):
        return v
    if isinstance(v, str):
        try:
            return date.fromisoformat(v)
        except ValueError:
            pass
    raise t.error(name, f"expected a date (2026-12-24), got {_tname(v)} {v!r}")


def _closure(t: _Table) -> Closure:
    start = _day(t, "start")
    end = _day(t, "end") if "end" in t.data else start
    if end < start:
        raise t.error("end", f"closure ends ({end}) before it starts ({start})")
    if (end - start).days > 60:
        raise t.error("end", f"impossible closure: {(end - start).days + 1} days (at most 61)")
    c = Closure(start=start, end=end, reason=t.text("reason"))
    t.finish()
    return c


def _check_stages(path: Path, stages: list[Stage], routes: list[Route]) -> None:
    if not stages:
        raise ConfigError(path, "stages", "at least one stage is required")
    seen: dict[int, int] = {}
    for i, s in enumerate(stages):
        if s.number in seen:
            raise ConfigError(
                path,
                f"stages[{i}].number",
                f"duplicate stage number {s.number} (also stages[{seen[s.number]}])",
            )
        seen[s.number] = i
    for i in range(1, len(stages)):
        if stages[i].number <= stages[i - 1].number:
            raise ConfigError(path, f"stages[{i}].number", "stages must be listed in order")
    for i, s in enumerate(stages):
        last = i == len(stages) - 1
        if s.final and not last:
            raise ConfigError(path, f"stages[{i}].final", "only the last stage can be final")
        if last and not s.final:
            raise ConfigError(path, f"stages[{i}].final", "the last stage must be final = true")
        nsr = s.next_stage_request
        if s.final and nsr is not None:
            raise ConfigError(
                path, f"stages[{i}].next_stage_request", "a final stage has no next stage"
            )
        if not s.final and nsr is None:
            raise ConfigError(
                path,
                f"stages[{i}].next_stage_request",
                "missing: say how the complainant asks for the next stage",
            )
        if nsr is not None:
            if nsr.to_stage not in seen:
                raise ConfigError(
                    path,
                    f"stages[{i}].next_stage_request.to_stage",
                    f"no stage {nsr.to_stage} (stages: {', '.join(map(str, seen))})",
                )
            if nsr.to_stage <= s.number:
                raise ConfigError(
                    path,
                    f"stages[{i}].next_stage_request.to_stage",
                    f"the next stage must come after stage {s.number}",
                )
    codes: set[str] = set()
    for i, r in enumerate(routes):
        if r.code in codes:
            raise ConfigError(path, f"routes[{i}].code", f"duplicate route {r.code!r}")
        codes.add(r.code)
        if r.start_stage is not None and r.start_stage not in seen:
            raise ConfigError(
                path,
                f"routes[{i}].start_stage",
                f"no stage {r.start_stage} (stages: {', '.join(map(str, seen))})",
            )


def parse_service(data: Mapping[str, Any], path: Path) -> Service:
    """Build a :class:`Service` from parsed TOML; ``path`` names the file in errors."""
    t = _Table(path, dict(data), "")
    key = t.text("key")
    if key != path.stem:
        raise t.error("key", f"must equal the file name {path.stem!r}, got {key!r}")
    if not _KEY_RE.match(key):
        raise t.error("key", f"use lower-case letters, digits, '-' and '_', got {key!r}")
    prefix = t.text("reference_prefix")
    if not _PREFIX_RE.match(prefix):
        raise t.error("reference_prefix", f"expected three capital letters, got {prefix!r}")
    raw_addresses = t.array("addresses")
    if not raw_addresses:
        raise t.error("addresses", "at least one mailbox address is required")
    addresses: list[str] = []
    for i, a in enumerate(raw_addresses):
        if not isinstance(a, str) or not _EMAIL_RE.match(a):
            raise ConfigError(path, f"addresses[{i}]", f"not an email address: {a!r}")
        addresses.append(a.lower())
    coordinator_email = t.text("coordinator_email")
    if not _EMAIL_RE.match(coordinator_email):
        raise t.error("coordinator_email", f"not an email address: {coordinator_email!r}")
    privacy = t.text("privacy_notice_url", required=False)
    if privacy and not privacy.startswith("https://"):
        raise t.error("privacy_notice_url", f"expected an https:// URL, got {privacy!r}")
    tzname = t.text("timezone")
    try:
        ZoneInfo(tzname)
    except (ZoneInfoNotFoundError, ValueError):
        raise t.error("timezone", f"unknown time zone {tzname!r}") from None
    region = t.text("holiday_region", required=False, default="england")
    if region not in REGIONS:
        raise t.error(
            "holiday_region",
            f"unknown bank-holiday region {region!r} (expected one of {', '.join(REGIONS)})",
        )
    cutoff = t.integer("cutoff_hour", required=False)
    if cutoff is not None and not 1 <= cutoff <= 23:
        raise t.error("cutoff_hour", f"expected an hour from 1 to 23, got {cutoff}")
    closures = tuple(_closure(x) for x in t.tables("closure_days"))
    stages = [_stage(x) for x in t.tables("stages")]
    routes = [_route(x) for x in t.tables("routes", required=False)]
    _check_stages(path, stages, routes)
    service = Service(
        key=key,
        name=t.text("name"),
        reference_prefix=prefix,
        addresses=tuple(addresses),
        coordinator_email=coordinator_email.lower(),
        privacy_notice_url=privacy,
        timezone=tzname,
        holiday_region=region,
        contact=_contact(t.req_table("contact")),
        stages=tuple(stages),
        eligibility=_eligibility(t.req_table("eligibility")),
        ombudsman=_ombudsman(t.req_table("ombudsman")),
        procedure_document=t.text("procedure_document", required=False),
        cutoff_hour=cutoff,
        closure_days=closures,
        routes=tuple(routes),
        safeguarding=_safeguarding(t.table("safeguarding", required=False)),
        writing=_writing(t.table("writing", required=False)),
        path=path,
    )
    t.finish()
    return service


def load_service_file(path: str | Path) -> Service:
    """Read and check one service file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(p, "(file)", f"cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(p, "(syntax)", f"not valid TOML: {exc}") from None
    return parse_service(data, p)


def default_directory() -> Path:
    """``services/`` beside the ``--config`` file, else ``./config/services``, else the
    bundled service files (see :mod:`bot.resources`)."""
    return resources.services_dir()


def load_services(directory: Path | None = None) -> dict[str, Service]:
    """Every ``*.toml`` in ``directory`` (default ``config/services/``), keyed by ``key``."""
    d = Path(directory) if directory is not None else default_directory()
    if not d.is_dir():
        raise ConfigError(d, "(directory)", "no such directory of service files")
    files = sorted(d.glob("*.toml"))
    if not files:
        raise ConfigError(d, "(directory)", "no service files (*.toml)")
    services: dict[str, Service] = {}
    owner_of_address: dict[str, str] = {}
    owner_of_prefix: dict[str, str] = {}
    for f in files:
        s = load_service_file(f)
        for i, a in enumerate(s.addresses):
            if a in owner_of_address:
                raise ConfigError(
                    f, f"addresses[{i}]", f"{a} is already {owner_of_address[a]}'s address"
                )
            owner_of_address[a] = s.key
        if s.reference_prefix in owner_of_prefix:
            raise ConfigError(
                f,
                "reference_prefix",
                f"{s.reference_prefix} is already used by {owner_of_prefix[s.reference_prefix]}",
            )
        owner_of_prefix[s.reference_prefix] = s.key
        services[s.key] = s
    return services
