"""Scores on the labelled dev corpus must not fall below the floors reached."""

from __future__ import annotations

from classifiers import Classifier
from classifiers.scoring import read_jsonl, score

from .conftest import DEV_JSONL

# Floors: the figures reached on dev.jsonl, rounded down a little, never below the targets.
FLOORS = {
    "macro_f1": 0.97,
    "safeguarding_recall": 1.0,
    "safeguarding_precision": 0.9,
    "about_coordinator_f1": 0.9,
    "out_of_scope_f1": 0.9,
    "within_12_months": 0.95,
    "stage1_reference": 0.95,
    "event_date": 0.9,
}


def test_dev_scores(classifier: Classifier) -> None:
    assert DEV_JSONL.is_file(), f"missing {DEV_JSONL}"
    records = read_jsonl(DEV_JSONL)
    results = classifier.classify_many([r["_input"] for r in records])
    s = score(records, results)
    report = s.table() + "\n" + "\n".join(s.errors)
    assert s.macro_f1 >= FLOORS["macro_f1"], report
    p, r, _, _ = s.flags["safeguarding"]
    assert r >= FLOORS["safeguarding_recall"], report
    assert p >= FLOORS["safeguarding_precision"], report
    assert s.flags["about_coordinator"][2] >= FLOORS["about_coordinator_f1"], report
    assert s.flags["out_of_scope"][2] >= FLOORS["out_of_scope_f1"], report
    assert s.within_12_months_acc >= FLOORS["within_12_months"], report
    assert s.stage1_reference_acc >= FLOORS["stage1_reference"], report
    assert s.event_date_acc >= FLOORS["event_date"], report
    assert s.automated_in_letter_kind == 0, report
