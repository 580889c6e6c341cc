"""Jinja2 letter templates: ``templates/letters/<purpose>.{subject.txt,txt,html}``.

A service may override any of them (and the shared ``_*.txt``/``_*.html`` pieces) with a file
of the same name in ``templates/letters/<service>/``. HTML is autoescaped; an undefined
variable is an error (``StrictUndefined``). :meth:`LetterRenderer.check` renders every letter
for every service with sample data at start-up, so a broken template stops the program with
a one-line error naming the file and line instead of failing on a parent's letter later.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import (
    BytecodeCache,
    Environment,
    FileSystemBytecodeCache,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    select_autoescape,
)
from jinja2.bccache import Bucket

from bot import resources
from bot.deadlines import apply_window, stage_deadlines
from bot.errors import ConfigError
from bot.letters import PURPOSES
from bot.letters.context import (
    SAMPLE_MEETING,
    CaseFacts,
    letter_context,
    sample_extra,
    sample_facts,
)
from bot.letters.mime import clean_text
from bot.services import Service
from bot.workdays import to_london

TEMPLATE_DIR = resources.templates("letters")
PARTS: tuple[str, ...] = ("subject.txt", "txt", "html")


@dataclass(frozen=True)
class Rendered:
    subject: str  # one line, without the case reference
    text: str
    html: str


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


class _QuietBytecodeCache(FileSystemBytecodeCache):
    """A cache that can only speed things up: a full or read-only disk means compiling again,
    never a letter that fails."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError):
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _bytecode_cache() -> BytecodeCache | None:
    """Compiled templates kept between runs (Jinja2's own cache: a private folder per user in
    the system's temporary directory, keyed by each template's source checksum, so an edited
    template is compiled again). Compiling every letter on each start was most of the second a
    cron ``poll-once`` paid before its first fetch. None when no such folder can be made."""
    try:
        return _QuietBytecodeCache()
    except (OSError, RuntimeError):
        return None


class LetterRenderer:
    def __init__(self, directory: Path = TEMPLATE_DIR) -> None:
        self.directory = Path(directory)
        self._bytecode = _bytecode_cache()
        self._envs: dict[str, Environment] = {}
        self._checked: set[str] = set()
        self._lock = threading.Lock()

    def env(self, service_key: str) -> Environment:
        with self._lock:
            env = self._envs.get(service_key)
            if env is None:
                paths = [self.directory]
                override = self.directory / service_key
                if override.is_dir():
                    paths.insert(0, override)
                env = Environment(
                    loader=FileSystemLoader([str(p) for p in paths]),
                    undefined=StrictUndefined,
                    autoescape=select_autoescape(enabled_extensions=("html",), default=False),
                    trim_blocks=True,
                    lstrip_blocks=True,
                    keep_trailing_newline=True,
                    bytecode_cache=self._bytecode,
                )
                self._envs[service_key] = env
            return env

    def template_file(self, service_key: str, name: str) -> Path:
        """The file that ``name`` resolves to for ``service_key``."""
        override = self.directory / service_key / name
        return override if override.is_file() else self.directory / name

    def render(self, service_key: str, purpose: str, context: Mapping[str, Any]) -> Rendered:
        """Subject, text and HTML of ``purpose``; :class:`ConfigError` naming the file if a
        template is missing or broken."""
        env = self.env(service_key)
        out: dict[str, str] = {}
        for part in PARTS:
            name = f"{purpose}.{part}"
            try:
                out[part] = env.get_template(name).render(context)
            except TemplateError as exc:
                raise self._error(service_key, name, exc) from None
        return Rendered(
            subject=clean_text(out["subject.txt"], 250),
            text=_tidy_text(out["txt"]),
            html=out["html"].strip() + "\n",
        )

    def _error(self, service_key: str, name: str, exc: TemplateError) -> ConfigError:
        path, line = str(self.template_file(service_key, name)), None
        if isinstance(exc, TemplateSyntaxError):
            path, line = exc.filename or path, exc.lineno
        else:
            where = _innermost_template_frame(exc.__traceback__, self.directory)
            if where is not None:
                path, line = where
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        if type(exc).__name__ == "TemplateNotFound":
            message = f"template not found: {message}"
        return ConfigError(path, f"line {line}" if line else "template", message)

    def check(self, services: Iterable[Service]) -> int:
        """Render every letter for every service with sample data (the letters of a route a
        procedure does not have only where it has it); the number rendered."""
        count = 0
        for service in services:
            if service.key in self._checked:
                continue
            for purpose in PURPOSES:
                if purpose in PROCEDURE_PURPOSES and not applicable(service, purpose):
                    continue  # a letter of a route this procedure does not have
                facts = _sample_for(service, purpose)
                self.render(
                    service.key,
                    purpose,
                    letter_context(service, purpose, facts, sample_extra(purpose)),
                )
                count += 1
            self._checked.add(service.key)
        return count


def _with_due(service: Service, facts: CaseFacts) -> CaseFacts:
    """The sample's response date as the procedure computes it (never a made-up one)."""
    start = to_london(facts.received_at, service.tz).date()
    due = stage_deadlines(service, facts.stage, start).respond_by
    return replace(facts, respond_by=due)


#: Letters of a procedure's own route (bot/procedure.py): checked only where it has that route.
PROCEDURE_PURPOSES = frozenset(
    {"informal_ack", "informal_outcome", "writing_request", "step_notice"}
)


def applicable(service: Service, purpose: str) -> bool:
    """Whether ``purpose`` can ever be written for ``service`` (an extension letter only where
    some stage of its procedure allows an extension)."""
    if purpose == "extension_notice":
        return any(s.extension.allowed for s in service.stages)
    if purpose == "informal_ack":
        # where the complainant may choose the informal step (coventry starts every complaint
        # there, and its acknowledgement says so: complaint_ack)
        return service.route("informal_alternative") is not None
    if purpose == "informal_outcome":
        return service.informal_route() is not None
    if purpose == "writing_request":
        return service.writing.required
    if purpose == "step_notice":
        return any(s.steps for s in service.stages)
    return True


def _sample_for(service: Service, purpose: str) -> CaseFacts:
    facts = _with_due(service, sample_facts(service))
    if purpose == "next_stage_ack":
        nsr = service.first_stage.next_stage_request
        stage = nsr.to_stage if nsr is not None else service.first_stage.number
        return _with_due(service, replace(facts, kind="stage2_request", stage=stage))
    if purpose == "staff_notice":
        nsr = service.first_stage.next_stage_request
        stage = nsr.to_stage if nsr is not None else service.first_stage.number
        return _with_due(service, replace(facts, stage=stage))
    if purpose == "final_stage":
        return _with_due(service, replace(facts, stage=service.final_stage.number))
    if purpose == "complaint_ack" and service.route("informal_first") is not None:
        # every complaint starts on the informal step (coventry L11)
        return replace(facts, track="informal", informal_route="informal_first")
    if purpose == "writing_request":
        return replace(facts, track="awaiting_writing", channel="phone", respond_by=None)
    if purpose == "step_notice":
        # the stage with a step (the sample's extra names mediation; stoke: its meeting)
        with_step = next((s for s in service.stages if s.steps), service.final_stage)
        facts = _with_due(service, replace(facts, stage=with_step.number))
        after = with_step.steps[0].respond_after if with_step.steps else None
        if after is not None:
            # the response is due that long after the meeting (stoke L89), as the engine says
            due = apply_window(after, SAMPLE_MEETING, service.calendar, "response", "meeting")
            facts = replace(facts, respond_by=due.value)
        return facts
    if purpose in ("compliment_thanks", "comment_thanks"):
        # intake notifies the service's contact, so the letter may say it was passed on
        return replace(facts, kind=purpose.split("_")[0], passed_to=(service.contact.phrase,))
    return facts


def _innermost_template_frame(tb: TracebackType | None, directory: Path) -> tuple[str, int] | None:
    found = None
    root = str(directory.resolve())
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(root) or filename.startswith(str(directory)):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


@lru_cache(maxsize=8)
def renderer_for(directory: Path = TEMPLATE_DIR) -> LetterRenderer:
    """One renderer (compiled templates, start-up check done) per template folder."""
    return LetterRenderer(directory)
