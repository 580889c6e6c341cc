"""Baseline for the trained classifier: TF-IDF word + char n-grams, logistic regression.

Same records, same text (subject + new text, from the engine's quoting split), same folds as
``bench/cv.py`` (train on all corpus files but one, test on the one left out). Prints per fold
kind macro-F1, safeguarding P/R (at the threshold that keeps out-of-fold recall >= 0.98 over
all folds, and at 0.5), about_coordinator F1 and out_of_scope F1 (model alone, no rules).

Usage: ``python bench/baseline.py`` (needs scikit-learn, in the ``test`` extra).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_union  # noqa: E402

from bench.cv import fold_report, recall_threshold  # noqa: E402
from classifiers.model import FLAGS  # noqa: E402
from classifiers.trainer import default_paths, load_dataset  # noqa: E402
from classifiers.types import KINDS  # noqa: E402


def main() -> int:
    data = load_dataset(default_paths())
    texts = np.array([t.lower() for t in data.texts], dtype=object)
    groups = np.array(data.groups)
    kinds = np.zeros((len(texts), len(KINDS)))
    flags = np.zeros((len(texts), len(FLAGS)))
    for name in dict.fromkeys(data.groups):
        test = groups == name
        vec = make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        )
        xtr = vec.fit_transform(texts[~test])
        xte = vec.transform(texts[test])
        lr = LogisticRegression(C=10.0, max_iter=2000)
        lr.fit(xtr, data.kinds[~test])
        kinds[test] = lr.predict_proba(xte)
        for j in range(len(FLAGS)):
            clf = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced")
            clf.fit(xtr, data.flags[~test, j])
            flags[test, j] = clf.predict_proba(xte)[:, 1]
    sg_t = recall_threshold(flags[:, 0], data.flags[:, 0].astype(bool), 0.98)
    print("TF-IDF word(1-2)+char_wb(2-5) logistic regression, grouped by corpus file")
    fold_report(data, kinds, flags, sg_t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
