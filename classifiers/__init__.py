"""Classification of SENDIASS mail: a trained text classifier decides, spaCy rules explain and
guard (rules as data in ``classifiers/patterns``, the model in ``classifiers/model``)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from classifiers.types import (
    KINDS,
    LOW_CONFIDENCE,
    Classification,
    ClassifierInput,
    Kind,
    Reason,
)

if TYPE_CHECKING:
    from classifiers.engine import LETTER_KINDS, Classifier, needs_triage
    from classifiers.rules import PatternError

# The engine imports spaCy (about a second and 100 MB): light modules of this package
# (``classifiers.quoting``, ``classifiers.types``, ``classifiers.dates``) are imported by the
# parser and the command line without it, and the heavy names load on first use.
_LAZY = {
    "LETTER_KINDS": "classifiers.engine",
    "Classifier": "classifiers.engine",
    "needs_triage": "classifiers.engine",
    "PatternError": "classifiers.rules",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'classifiers' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
    from classifiers.engine import Classifier
    from classifiers.model import MODEL_DIR, TextModel

    return Classifier(model=TextModel.load(MODEL_DIR))


def classify(inp: ClassifierInput) -> Classification:
    """Classify one message with the shared classifier."""
    return get_classifier().classify(inp)
