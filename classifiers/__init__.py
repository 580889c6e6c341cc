"""Rule-based classification of SENDIASS mail (spaCy, rules as data)."""

from __future__ import annotations

from functools import lru_cache

from classifiers.engine import LETTER_KINDS, LOW_CONFIDENCE, Classifier, needs_triage
from classifiers.rules import PatternError
from classifiers.types import KINDS, Classification, ClassifierInput, Kind, Reason

__all__ = [
    "KINDS",
    "LETTER_KINDS",
    "LOW_CONFIDENCE",
    "Classification",
    "Classifier",
    "ClassifierInput",
    "Kind",
    "PatternError",
    "Reason",
    "classify",
    "get_classifier",
    "needs_triage",
]


@lru_cache(maxsize=1)
def get_classifier() -> Classifier:
    """The shared classifier (rules loaded and validated once per process)."""
    return Classifier()


def classify(inp: ClassifierInput) -> Classification:
    """Classify one message with the shared classifier."""
    return get_classifier().classify(inp)
