"""Scores on the labelled corpora must not fall below the floors reached.

- ``dev.jsonl`` (../shared/corpus): the corpus the rules were developed on. Floors are the
  figures reached, rounded down a little, never below the issue's targets.
- ``heldout.jsonl`` (here): a SECOND corpus in the same format and labels, written
  independently of the rules, to measure how well they generalise; its floors are lower.
  Records ho-001..ho-100 were used for development, ho-101..ho-150 only for checking. Do not
  tune rules to individual records: add general cue families instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers import Classifier
from classifiers.scoring import read_jsonl, score

from .conftest import DEV_JSONL

HELDOUT_JSONL = Path(__file__).with_name("heldout.jsonl")

FLOORS = {
    "dev": {
        "macro_f1": 0.97,
        "safeguarding_recall": 1.0,
        "safeguarding_precision": 0.9,
        "about_coordinator_f1": 0.9,
        "out_of_scope_f1": 0.9,
        "within_12_months": 0.95,
        "stage1_reference": 0.95,
        "event_date": 0.9,
    },
    "heldout": {
        "macro_f1": 0.92,
        "safeguarding_recall": 1.0,
        "safeguarding_precision": 0.85,
        "about_coordinator_f1": 0.95,
        "out_of_scope_f1": 0.75,
        "within_12_months": 0.83,
        "stage1_reference": 0.95,
        "event_date": 0.8,
    },
}
CORPORA = {"dev": DEV_JSONL, "heldout": HELDOUT_JSONL}


@pytest.mark.parametrize("corpus", sorted(CORPORA))
def test_corpus_scores(classifier: Classifier, corpus: str) -> None:
    path, floors = CORPORA[corpus], FLOORS[corpus]
    assert path.is_file(), f"missing {path}"
    records = read_jsonl(path)
    results = classifier.classify_many([r["_input"] for r in records])
    s = score(records, results)
    report = s.table() + "\n" + "\n".join(s.errors)
    assert s.macro_f1 >= floors["macro_f1"], report
    p, r, _, _ = s.flags["safeguarding"]
    assert r >= floors["safeguarding_recall"], report
    assert p >= floors["safeguarding_precision"], report
    assert s.flags["about_coordinator"][2] >= floors["about_coordinator_f1"], report
    assert s.flags["out_of_scope"][2] >= floors["out_of_scope_f1"], report
    assert s.within_12_months_acc >= floors["within_12_months"], report
    assert s.stage1_reference_acc >= floors["stage1_reference"], report
    assert s.event_date_acc >= floors["event_date"], report
    assert s.automated_in_letter_kind == 0, report
