"""The classifier's contract with the rest of the product.

The pipeline's ``classify`` stage builds a :class:`ClassifierInput` from a parsed message;
``sendiass-bot classify --jsonl`` builds one from a corpus record. Both get a
:class:`Classification` back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

#: Below this confidence the pipeline should send the message to the triage queue.
LOW_CONFIDENCE = 0.6

Kind = Literal["complaint", "comment", "compliment", "stage2_request", "enquiry", "automated"]
KINDS: tuple[Kind, ...] = (
    "complaint",
    "comment",
    "compliment",
    "stage2_request",
    "enquiry",
    "automated",
)


@dataclass(frozen=True)
class ClassifierInput:
    service: str
    received: datetime  # timezone-aware
    from_name: str
    from_addr: str
    subject: str
    body: str  # the whole text as sent (plain text, or text extracted from HTML)
    html: bool = False
    #: Raw header names (lower-case) to values, when the message came from MIME; None for corpus.
    headers: Mapping[str, str] | None = None
    #: Header-based automated verdict from intake (RFC 3834 etc.), with its reason, if any.
    automated_reason: str | None = None


@dataclass(frozen=True)
class Reason:
    """One rule that fired: its id, what it decided, and the text it matched."""

    rule: str  # pattern id, e.g. "complaint.not_called_back"
    decision: str  # e.g. "kind=complaint", "flag=safeguarding", "event_date"
    text: str  # the matched span's text ("" for header rules)
    start: int = -1  # character offsets into the text the rule read (-1 if not applicable)
    end: int = -1
    source: str = "body"  # "body" (new text), "subject", "headers", "sender", "model"

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "decision": self.decision,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "source": self.source,
        }


@dataclass
class Classification:
    kind: Kind
    confidence: float  # 0..1
    safeguarding: bool = False
    about_coordinator: bool = False
    out_of_scope: bool = False
    event_date: str | None = None  # "YYYY-MM-DD" or "YYYY-MM"
    within_12_months: bool | None = None
    stage1_reference: str | None = None
    stage1_response_date: str | None = None  # "YYYY-MM-DD"
    reasons: list[Reason] = field(default_factory=list)
    #: Version of the trained model that decided the kind (None: the rules alone decided).
    model_version: str | None = None
    #: The model's calibrated probabilities: {"kinds": {kind: p}, "flags": {flag: p}}.
    model_probs: dict[str, dict[str, float]] | None = None
    #: The kind the rules alone would give (shown beside the model's when they differ).
    rule_kind: str | None = None
    #: Why the classifier says a person must approve any letter (empty: it does not object).
    holds: list[str] = field(default_factory=list)

    @property
    def rule_ids(self) -> list[str]:
        """Ids of the rules that produced this classification (no duplicates, in order)."""
        return list(dict.fromkeys(r.rule for r in self.reasons if r.source != "model"))

    @property
    def needs_person(self) -> bool:
        """True when a coordinator must look before any automatic letter."""
        return self.safeguarding or self.about_coordinator or self.out_of_scope

    def to_json(self, record_id: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if record_id is not None:
            out["id"] = record_id
        out.update(
            {
                "kind": self.kind,
                "confidence": round(self.confidence, 3),
                "safeguarding": self.safeguarding,
                "about_coordinator": self.about_coordinator,
                "out_of_scope": self.out_of_scope,
                "event_date": self.event_date,
                "within_12_months": self.within_12_months,
                "stage1_reference": self.stage1_reference,
                "stage1_response_date": self.stage1_response_date,
                "reasons": [r.to_json() for r in self.reasons],
            }
        )
        if self.model_version is not None:
            out["model"] = {"version": self.model_version, **(self.model_probs or {})}
            out["rule_kind"] = self.rule_kind
            out["rule_ids"] = self.rule_ids
            out["holds"] = list(self.holds)
        return out
