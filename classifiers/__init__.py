"""Rule-based classification of SENDIASS mail (spaCy, rules as data)."""

from classifiers.types import KINDS, Classification, ClassifierInput, Kind, Reason

__all__ = ["KINDS", "Classification", "ClassifierInput", "Kind", "Reason"]
