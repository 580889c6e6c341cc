"""Scores of the shipped classifier (trained model + rules) on the labelled corpora.

Every corpus here (tests/data/corpus: dev, train_a, train_b, heldout, heldout3, heldout4) is
now TRAINING DATA for the model (``sendiass-bot classifier train``), so these figures say the
shipped model and rules still fit what they were built from; they are not an estimate of
unseen mail. That estimate is the cross-validation grouped by corpus file (``bench/cv.py``:
kind macro-F1 0.967, safeguarding P/R 0.40/0.99, about_coordinator F1 0.77, out_of_scope
F1 0.92 over 1,000 records), and the sealed corpus the integrator scores once.

Floors are the figures measured with model textcat-6101aff0d786, rounded down a little, and
never below the floors the rules alone had, with ONE exception: safeguarding precision. The
model raises the flag from a calibrated probability of 0.036, the threshold at which model OR
rules still finds 98% of disclosures by new writers in cross-validation (recall first, as
issue 13 asks); on these corpora that costs precision (0.44-0.85, was 0.85-0.95 for the rules
alone). Raising that threshold to win precision back would miss children at risk on new mail
(at 0.2: precision 0.68, recall 0.88 in cross-validation).

``sealed5.jsonl`` (200 records by two writers who saw neither the rules nor any other corpus)
was kept sealed until the model above was final and scored ONCE, first contact: kind
macro-F1 0.983, safeguarding P/R 0.54/1.00, about_coordinator F1 0.846, out_of_scope F1
0.909, within_12_months 0.926, event date 0.853, Stage 1 reference 0.875, no automated
message in a letter kind, 0 of 68 enquiries given a letter. Its floors are those figures,
rounded down; from now on it is ordinary data (add it to training only with a new sealed set).

After the sealed score, one guard was added (classifiers/engine.py ``combine``): the model
alone may not call a complaint "about another organisation" unless a rule finds another
organisation named (it flagged short complaints about this service, "my adviser never called
me back", so their acknowledgement was held). Out-of-scope precision stays 1.00 on every
corpus; recall on train_a, train_b and heldout3 fell (F1 0.909, 0.857, 0.933), and their
floors were set to those figures, still above the rules-only floors (heldout3 0.65).

``sealed6.jsonl`` (200 records by two more independent writers, issue 13's second round) was
scored ONCE against model textcat-2d3540e917b6, first contact: kind macro-F1 0.946,
safeguarding P/R 0.526/0.833 (10 of 12: missed a mother's disclosure of her husband's violence
in a non-native English enquiry, and a disclosure quoted inside a social worker's
out-of-office), about_coordinator F1 0.667, out_of_scope F1 0.800, within_12_months 0.926,
event date 0.853, Stage 1 reference 1.000, one automated message in a letter kind. Then it
joined the training data (model textcat-0b10e98d4f0d; cross-validated over eight files: kind
macro-F1 0.967, safeguarding P/R 0.47/0.99); its floors below are the fitted figures.

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
        "macro_f1": 0.99,
        "safeguarding_recall": 1.0,
        "safeguarding_precision": 0.45,
        "about_coordinator_f1": 0.95,
        "out_of_scope_f1": 0.95,
        "within_12_months": 0.98,
        "stage1_reference": 0.98,
        "event_date": 0.98,
    },
    "train_a": {
        "macro_f1": 0.99,
        "safeguarding_recall": 1.0,
        "safeguarding_precision": 0.6,
        "about_coordinator_f1": 0.95,
        "out_of_scope_f1": 0.9,
        "within_12_months": 0.95,
        "stage1_reference": 0.65,
        "event_date": 0.85,
    },
    "train_b": {
        "macro_f1": 0.99,
        "safeguarding_recall": 1.0,
        "safeguarding_precision": 0.8,
        "about_coordinator_f1": 0.95,
        "out_of_scope_f1": 0.85,
        "within_12_months": 0.87,
        "stage1_reference": 0.95,
        "event_date": 0.76,
    },
    "heldout": {
        "macro_f1": 0.99,
        "safeguarding_recall": 1.0,
        "safeguarding_precision": 0.6,
        "about_coordinator_f1": 0.95,
        "out_of_scope_f1": 0.95,
        "within_12_months": 0.93,
        "stage1_reference": 0.98,
        "event_date": 0.9,
    },
    "heldout3": {
        "macro_f1": 0.99,
        "safeguarding_recall": 1.0,
        "safeguarding_precision": 0.6,
        "about_coordinator_f1": 0.8,
        "out_of_scope_f1": 0.93,
        "within_12_months": 0.96,
        "stage1_reference": 0.94,
        "event_date": 0.9,
    },
    "heldout4": {
        "macro_f1": 0.99,
        "safeguarding_recall": 1.0,
        "safeguarding_precision": 0.44,
        "about_coordinator_f1": 0.75,
        "out_of_scope_f1": 0.95,
        "within_12_months": 0.96,
        "stage1_reference": 0.94,
        "event_date": 0.8,
    },
    "sealed5": {
        "macro_f1": 0.98,
        "safeguarding_recall": 1.0,
        "safeguarding_precision": 0.54,
        "about_coordinator_f1": 0.84,
        "out_of_scope_f1": 0.9,
        "within_12_months": 0.92,
        "stage1_reference": 0.87,
        "event_date": 0.85,
    },
    # Trained on since its first contact (see above); the shipped model textcat-0b10e98d4f0d
    # measured 0.995 / 1.00 / 0.706 / 1.00 / 0.909 / 0.956 / 1.00 / 0.882 on it.
    "sealed6": {
        "macro_f1": 0.99,
        "safeguarding_recall": 1.0,
        "safeguarding_precision": 0.7,
        "about_coordinator_f1": 0.95,
        "out_of_scope_f1": 0.9,
        "within_12_months": 0.95,
        "stage1_reference": 0.99,
        "event_date": 0.88,
    },
}
CORPORA = {
    "dev": DEV_JSONL,
    "train_a": CORPUS_DIR / "train_a.jsonl",
    "train_b": CORPUS_DIR / "train_b.jsonl",
    "heldout": HELDOUT_JSONL,
    "heldout3": HELDOUT3_JSONL,
    "heldout4": HELDOUT4_JSONL,
    "sealed5": CORPUS_DIR / "sealed5.jsonl",
    "sealed6": CORPUS_DIR / "sealed6.jsonl",
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
