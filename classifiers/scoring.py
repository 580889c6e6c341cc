"""Score classifications against corpus labels (used by ``classify --score`` and the tests)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from classifiers.engine import LETTER_KINDS, normalise_reference
from classifiers.types import KINDS, Classification, ClassifierInput

__all__ = [
    "CorpusError",
    "Scores",
    "confusion_table",
    "input_from_record",
    "read_jsonl",
    "score",
]

FLAGS = ("safeguarding", "about_coordinator", "out_of_scope")
_REQUIRED = ("id", "service", "received", "from_name", "from_addr", "subject", "body")


class CorpusError(ValueError):
    """A corpus file or record is unusable; the message names the file and line."""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: cannot read: {exc}") from None
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise CorpusError(f"{path}:{number}: expected a JSON object")
        missing = [k for k in _REQUIRED if k not in obj]
        if missing:
            raise CorpusError(f"{path}:{number}: missing key(s) {', '.join(missing)}")
        try:
            obj["_input"] = input_from_record(obj)
        except (TypeError, ValueError) as exc:
            raise CorpusError(f"{path}:{number}: {exc}") from None
        records.append(obj)
    return records


def input_from_record(rec: Mapping[str, Any]) -> ClassifierInput:
    received = datetime.fromisoformat(str(rec["received"]))
    if received.tzinfo is None:
        raise ValueError(f"received {rec['received']!r} has no UTC offset")
    for key in ("from_name", "from_addr", "subject", "body"):
        if not isinstance(rec.get(key), str):
            raise ValueError(f"{key} must be a string")
    return ClassifierInput(
        service=str(rec["service"]),
        received=received,
        from_name=rec["from_name"],
        from_addr=rec["from_addr"],
        subject=rec["subject"],
        body=rec["body"],
        html=bool(rec.get("html", False)),
    )


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else (1.0 if not fn else 0.0)
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


@dataclass
class Scores:
    n: int = 0
    per_kind: dict[str, tuple[float, float, float, int]] = field(default_factory=dict)
    macro_f1: float = 0.0
    accuracy: float = 0.0
    flags: dict[str, tuple[float, float, float, int]] = field(default_factory=dict)
    within_12_months_acc: float = 0.0
    within_12_months_n: int = 0
    event_date_acc: float = 0.0
    event_date_n: int = 0
    stage1_reference_acc: float = 0.0
    stage1_reference_n: int = 0
    stage1_response_date_acc: float = 0.0
    automated_in_letter_kind: int = 0
    errors: list[str] = field(default_factory=list)

    def table(self) -> str:
        lines = [
            f"records: {self.n}   kind accuracy: {self.accuracy:.3f}   "
            f"macro-F1: {self.macro_f1:.3f}",
            "kind              P      R      F1   support",
        ]
        for k, (p, r, f, n) in self.per_kind.items():
            lines.append(f"{k:<16} {p:6.3f} {r:6.3f} {f:6.3f} {n:6d}")
        lines.append("flag              P      R      F1   support")
        for k, (p, r, f, n) in self.flags.items():
            lines.append(f"{k:<16} {p:6.3f} {r:6.3f} {f:6.3f} {n:6d}")
        lines += [
            f"within_12_months accuracy: {self.within_12_months_acc:.3f} "
            f"(over {self.within_12_months_n} complaint/stage2 records)",
            f"event_date exact: {self.event_date_acc:.3f} (over {self.event_date_n})",
            f"stage1_reference exact: {self.stage1_reference_acc:.3f} "
            f"(over {self.stage1_reference_n} stage2 records)",
            f"stage1_response_date exact: {self.stage1_response_date_acc:.3f}",
            f"automated messages put into a letter-getting kind: {self.automated_in_letter_kind}",
        ]
        return "\n".join(lines)


def score(records: Sequence[Mapping[str, Any]], results: Sequence[Classification]) -> Scores:
    """Compare ``results`` with each record's ``label``; records without labels are skipped."""
    pairs = [
        (r, c) for r, c in zip(records, results, strict=True) if isinstance(r.get("label"), dict)
    ]
    out = Scores(n=len(pairs))
    if not pairs:
        return out
    f1s = []
    correct = 0
    for k in KINDS:
        tp = sum(1 for r, c in pairs if r["label"]["kind"] == k and c.kind == k)
        fp = sum(1 for r, c in pairs if r["label"]["kind"] != k and c.kind == k)
        fn = sum(1 for r, c in pairs if r["label"]["kind"] == k and c.kind != k)
        p, rc, f = _prf(tp, fp, fn)
        out.per_kind[k] = (p, rc, f, tp + fn)
        if tp + fn:
            f1s.append(f)
        correct += tp
    out.macro_f1 = sum(f1s) / len(f1s)
    out.accuracy = correct / len(pairs)
    for flag in FLAGS:
        tp = sum(1 for r, c in pairs if r["label"].get(flag) and getattr(c, flag))
        fp = sum(1 for r, c in pairs if not r["label"].get(flag) and getattr(c, flag))
        fn = sum(1 for r, c in pairs if r["label"].get(flag) and not getattr(c, flag))
        p, rc, f = _prf(tp, fp, fn)
        out.flags[flag] = (p, rc, f, tp + fn)
    dated = [(r, c) for r, c in pairs if r["label"]["kind"] in ("complaint", "stage2_request")]
    out.within_12_months_n = out.event_date_n = len(dated)
    if dated:
        out.within_12_months_acc = sum(
            1 for r, c in dated if r["label"].get("within_12_months") == c.within_12_months
        ) / len(dated)
        out.event_date_acc = sum(
            1 for r, c in dated if r["label"].get("event_date") == c.event_date
        ) / len(dated)
    s2 = [(r, c) for r, c in pairs if r["label"]["kind"] == "stage2_request"]
    out.stage1_reference_n = len(s2)
    if s2:
        out.stage1_reference_acc = sum(
            1 for r, c in s2 if _same_ref(r["label"].get("stage1_reference"), c.stage1_reference)
        ) / len(s2)
        out.stage1_response_date_acc = sum(
            1 for r, c in s2 if r["label"].get("stage1_response_date") == c.stage1_response_date
        ) / len(s2)
    out.automated_in_letter_kind = sum(
        1 for r, c in pairs if r["label"]["kind"] == "automated" and c.kind in LETTER_KINDS
    )
    for r, c in pairs:
        lab = r["label"]
        diffs = []
        if lab["kind"] != c.kind:
            diffs.append(f"kind {lab['kind']}->{c.kind}")
        for flag in FLAGS:
            if bool(lab.get(flag)) != getattr(c, flag):
                diffs.append(f"{flag} {lab.get(flag)}->{getattr(c, flag)}")
        if lab["kind"] in ("complaint", "stage2_request"):
            if lab.get("event_date") != c.event_date:
                diffs.append(f"event_date {lab.get('event_date')}->{c.event_date}")
            if lab.get("within_12_months") != c.within_12_months:
                diffs.append(f"w12 {lab.get('within_12_months')}->{c.within_12_months}")
        if lab["kind"] == "stage2_request":
            if not _same_ref(lab.get("stage1_reference"), c.stage1_reference):
                diffs.append(f"ref {lab.get('stage1_reference')}->{c.stage1_reference}")
            if lab.get("stage1_response_date") != c.stage1_response_date:
                diffs.append(f"s1date {lab.get('stage1_response_date')}->{c.stage1_response_date}")
        if diffs:
            out.errors.append(f"{r['id']}: " + "; ".join(diffs))
    return out


def _same_ref(label: str | None, got: str | None) -> bool:
    """References compare after normalising the usual shape (a label may keep the writer's
    "IASS/2025/0027" where the classifier gives IASS-2025-0027)."""
    if label is None or got is None:
        return label is got
    return normalise_reference(label) == normalise_reference(got)


def confusion_table(records: Sequence[Mapping[str, Any]], results: Sequence[Classification]) -> str:
    """Kind confusion matrix: one row per labelled kind, one column per predicted kind."""
    counts = {(a, b): 0 for a in KINDS for b in KINDS}
    for r, c in zip(records, results, strict=True):
        if isinstance(r.get("label"), dict) and r["label"].get("kind") in KINDS:
            counts[(r["label"]["kind"], c.kind)] += 1
    short = {k: k[:9] for k in KINDS}
    lines = [
        "confusion (rows: label, columns: classifier)",
        " " * 16 + "".join(f"{short[k]:>10}" for k in KINDS),
    ]
    for a in KINDS:
        lines.append(f"{a:<16}" + "".join(f"{counts[(a, b)]:>10d}" for b in KINDS))
    return "\n".join(lines)
