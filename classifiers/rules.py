"""Rules as data: load and validate ``classifiers/patterns/*.jsonl``.

One JSON object per line::

    {"id": "complaint.not_called_back",      # unique, "family.name"
     "decision": "complaint.grievance",      # what a hit counts towards (see DECISIONS)
     "weight": 0.7,                          # > 0
     "phrases": ["no call back", ...],       # PhraseMatcher terms (lower-cased match), and/or
     "pattern": [[{"LOWER": "..."}, ...]],   # spaCy Matcher token patterns (keep these few);
                                             # {"LEMMA": "reply"} matches every inflection
                                             # (classifiers/lemmas.py), or
     "regex": "^noreply@",                   # for source "sender"/"subject" only
     "source": "body",                       # body (default) | subject | sender
     "negatable": false,                     # a preceding "not/never/don't" cancels the hit
     "note": "...",                          # optional free text
     "in_sample": true,                      # optional: written from records of the labelled
                                             # corpora, so cross-validation on them cannot
                                             # judge it: it raises its flag but does not
                                             # count when the model's thresholds are chosen
     "examples": {"pos": [...], "neg": [...]}}  # sentences it must / must not fire on

Blank lines and lines starting with ``//`` are ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DECISIONS",
    "PATTERN_DIR",
    "PatternError",
    "Rule",
    "load_rules",
    "parse_rule",
]

PATTERN_DIR = Path(__file__).parent / "patterns"

#: Every decision a rule may feed. ``kind=*`` add to that kind's score directly.
DECISIONS = frozenset(
    {
        "kind=automated",
        "kind=compliment",
        "kind=comment",
        "kind=enquiry",
        "complaint.grievance",
        "complaint.grievance_iass",
        "complaint.intent",
        "complaint.response_wanted",
        "complaint.soften",
        "enquiry.process",
        "stage2.prior",
        "stage2.escalate",
        "flag=safeguarding",
        "coordinator.role",
        "coordinator.self_review",
        "target.iass",
        "target.other_org",
    }
)
_FIELDS = frozenset(
    {
        "id",
        "decision",
        "weight",
        "phrases",
        "pattern",
        "regex",
        "source",
        "negatable",
        "note",
        "in_sample",
        "examples",
    }
)
_SOURCES = frozenset({"body", "subject", "sender"})
_ID_RE = re.compile(r"^[a-z0-9_]+(?:\.[a-z0-9_]+)+$")


class PatternError(ValueError):
    """A pattern file is invalid; the message names the file, line and rule."""


@dataclass(frozen=True)
class Rule:
    id: str
    decision: str
    weight: float
    phrases: tuple[str, ...] = ()
    pattern: tuple[tuple[Mapping[str, Any], ...], ...] = ()
    regex: re.Pattern[str] | None = None
    source: str = "body"
    negatable: bool = False
    note: str = ""
    in_sample: bool = False
    pos_examples: tuple[str, ...] = field(default=(), compare=False)
    neg_examples: tuple[str, ...] = field(default=(), compare=False)
    origin: str = field(default="", compare=False)  # "file:line"


def _fail(where: str, problem: str) -> PatternError:
    return PatternError(f"{where}: {problem}")


def _str_list(value: object, where: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        raise _fail(where, f"{name} must be a list of non-empty strings")
    return tuple(value)


def parse_rule(obj: object, where: str) -> Rule:
    """Validate one decoded JSON object and build a :class:`Rule`."""
    if not isinstance(obj, dict):
        raise _fail(where, "each line must be a JSON object")
    unknown = sorted(set(obj) - _FIELDS)
    if unknown:
        raise _fail(where, f"unknown field(s) {', '.join(unknown)}")
    for required in ("id", "decision", "weight", "examples"):
        if required not in obj:
            raise _fail(where, f"missing field {required!r}")
    rid = obj["id"]
    if not isinstance(rid, str) or not _ID_RE.match(rid):
        raise _fail(where, f"id {rid!r} must look like 'family.name' (lower case)")
    where = f"{where} ({rid})"
    decision = obj["decision"]
    if decision not in DECISIONS:
        raise _fail(where, f"unknown decision {decision!r}")
    weight = obj["weight"]
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
        raise _fail(where, "weight must be a positive number")
    source = obj.get("source", "body")
    if source not in _SOURCES:
        raise _fail(where, f"source must be one of {sorted(_SOURCES)}")
    phrases = _str_list(obj["phrases"], where, "phrases") if "phrases" in obj else ()
    pattern: tuple[tuple[Mapping[str, Any], ...], ...] = ()
    if "pattern" in obj:
        raw = obj["pattern"]
        if (
            not isinstance(raw, list)
            or not raw
            or not all(
                isinstance(p, list) and p and all(isinstance(t, dict) for t in p) for p in raw
            )
        ):
            raise _fail(where, "pattern must be a non-empty list of token-pattern lists")
        pattern = tuple(tuple(t) for t in raw)
    regex: re.Pattern[str] | None = None
    if "regex" in obj:
        if not isinstance(obj["regex"], str):
            raise _fail(where, "regex must be a string")
        try:
            regex = re.compile(obj["regex"], re.IGNORECASE)
        except re.error as exc:
            raise _fail(where, f"bad regex: {exc}") from None
        if phrases or pattern:
            raise _fail(where, "a regex rule cannot also have phrases or pattern")
    if not (phrases or pattern or regex):
        raise _fail(where, "needs phrases, pattern or regex")
    if source != "body" and regex is None:
        raise _fail(where, f"source {source!r} rules must use regex")
    if source == "body" and regex is not None:
        raise _fail(where, "body rules use phrases/pattern, not regex")
    negatable = obj.get("negatable", False)
    if not isinstance(negatable, bool):
        raise _fail(where, "negatable must be true or false")
    note = obj.get("note", "")
    if not isinstance(note, str):
        raise _fail(where, "note must be a string")
    in_sample = obj.get("in_sample", False)
    if not isinstance(in_sample, bool):
        raise _fail(where, "in_sample must be true or false")
    ex = obj["examples"]
    if not isinstance(ex, dict) or set(ex) - {"pos", "neg"}:
        raise _fail(where, "examples must be an object with 'pos' and 'neg' lists")
    pos = _str_list(ex.get("pos"), where, "examples.pos")
    neg = _str_list(ex.get("neg"), where, "examples.neg")
    if not pos or not neg:
        raise _fail(where, "examples need at least one 'pos' and one 'neg' sentence")
    return Rule(
        id=rid,
        decision=decision,
        weight=float(weight),
        phrases=phrases,
        pattern=pattern,
        regex=regex,
        source=source,
        negatable=negatable,
        note=note,
        in_sample=in_sample,
        pos_examples=pos,
        neg_examples=neg,
        origin=where,
    )


def _iter_lines(path: Path) -> Iterable[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PatternError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("//"):
            yield number, line


def load_rules(paths: Sequence[Path] | None = None) -> list[Rule]:
    """Load every rule from ``paths`` (default: all ``patterns/*.jsonl``), validated."""
    files = sorted(PATTERN_DIR.glob("*.jsonl")) if paths is None else list(paths)
    if not files:
        raise PatternError(f"{PATTERN_DIR}: no pattern files")
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for path in files:
        for number, line in _iter_lines(path):
            where = f"{path.name}:{number}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _fail(where, f"invalid JSON: {exc.msg}") from None
            rule = parse_rule(obj, where)
            if rule.id in seen:
                raise _fail(where, f"duplicate id {rule.id!r} (first at {seen[rule.id]})")
            seen[rule.id] = where
            rules.append(rule)
    return rules
