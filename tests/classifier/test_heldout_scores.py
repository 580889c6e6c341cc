"""Scores on a SECOND, independently written corpus must not fall below the floors reached.

``heldout.jsonl`` (150 records, same format and labels as ``dev.jsonl``, see
``/work/shared/corpus/README.md``) was written independently of the dev corpus the rules were
developed on. It measures how well the rules generalise; its floors are lower than dev's.
Records ho-001..ho-100 were used for development, ho-101..ho-150 only for checking. Do not tune
rules to individual held-out records: add general cue families instead.
"""

from __future__ import annotations

from pathlib import Path

from classifiers import Classifier
from classifiers.scoring import read_jsonl, score

HELDOUT_JSONL = Path(__file__).with_name("heldout.jsonl")

# Floors: the figures reached on heldout.jsonl, rounded down a little.
FLOORS = {
    "macro_f1": 0.92,
    "safeguarding_recall": 1.0,
    "safeguarding_precision": 0.85,
    "about_coordinator_f1": 0.95,
    "out_of_scope_f1": 0.75,
    "within_12_months": 0.83,
    "stage1_reference": 0.95,
    "event_date": 0.8,
}


def test_heldout_scores(classifier: Classifier) -> None:
    assert HELDOUT_JSONL.is_file(), f"missing {HELDOUT_JSONL}"
    records = read_jsonl(HELDOUT_JSONL)
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
