"""Classification of SENDIASS mail: a trained text classifier decides, spaCy rules explain and
guard (rules as data in ``classifiers/patterns``, the model in ``classifiers/model``)."""

from __future__ import annotations

from functools import lru_cache

from classifiers.engine import LETTER_KINDS, LOW_CONFIDENCE, Classifier, needs_triage
from classifiers.model import MODEL_DIR, TextModel
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
    """The shared classifier: the rules (loaded and validated once per process) and the model
    shipped in the package."""
    return Classifier(model=TextModel.load(MODEL_DIR))


def classify(inp: ClassifierInput) -> Classification:
    """Classify one message with the shared classifier."""
    return get_classifier().classify(inp)
