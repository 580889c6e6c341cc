"""The flags' model: logistic regression over TF-IDF word unigrams and bigrams.

Chosen over spaCy's ``textcat_multilabel`` by cross-validation grouped by corpus file
(``bench/cv.py``, ``bench/baseline.py``): with about 75 safeguarding disclosures in 1,000
emails, spaCy's bag-of-n-grams ranked them far worse (average precision 0.68 against 0.88).

Trained with scikit-learn (``TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True,
min_df=2)``, ``LogisticRegression(class_weight="balanced")``), but stored as plain arrays
(vocabulary, idf, weights; ``flags.npz``, no pickle) and applied here with numpy, so running
the product needs no scikit-learn.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["LinearFlags", "features"]

#: scikit-learn's default token pattern: words of two or more word characters.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def features(text: str) -> list[str]:
    """Lower-cased unigrams and bigrams, as scikit-learn's TfidfVectorizer(1, 2) makes them."""
    toks = _TOKEN.findall(text.lower())
    return toks + [f"{a} {b}" for a, b in itertools.pairwise(toks)]


class LinearFlags:
    def __init__(
        self,
        vocab: Sequence[str],
        idf: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
        labels: Sequence[str],
    ):
        self.index = {t: i for i, t in enumerate(vocab)}
        self.vocab = list(vocab)
        self.idf = np.asarray(idf, dtype="float64")
        self.coef = np.asarray(coef, dtype="float64")  # (labels, vocab)
        self.intercept = np.asarray(intercept, dtype="float64")
        self.labels = tuple(labels)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities, one row per text, one column per label (each row depends on its
        text alone). The texts' features are counted one by one, then weighted and scored
        for all texts at once."""
        n = len(texts)
        if not n:
            return np.zeros((0, len(self.labels)))
        get = self.index.get
        rows: list[int] = []
        cols: list[int] = []
        counts: list[int] = []
        for i, text in enumerate(texts):
            found = Counter([j for f in features(text) if (j := get(f)) is not None])
            rows += [i] * len(found)
            cols += found.keys()
            counts += found.values()
        row = np.array(rows, dtype="int64")
        col = np.array(cols, dtype="int64")
        w = (1.0 + np.log(np.array(counts, dtype="float64"))) * self.idf[col]
        norm = np.sqrt(np.bincount(row, weights=w * w, minlength=n))
        w /= norm[row]
        z = np.tile(self.intercept.astype("float64"), (n, 1))
        for j in range(len(self.labels)):
            z[:, j] += np.bincount(row, weights=w * self.coef[j, col], minlength=n)
        out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return out

    @classmethod
    def fit(
        cls, texts: Sequence[str], y: np.ndarray, labels: Sequence[str], c: float = 10.0
    ) -> LinearFlags:
        """Train with scikit-learn (needed only here)."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
        x = vec.fit_transform([t.lower() for t in texts])
        vocab = [""] * len(vec.vocabulary_)
        for term, j in vec.vocabulary_.items():
            vocab[j] = term
        coefs, inters = [], []
        for j in range(len(labels)):
            if y[:, j].min() == y[:, j].max():  # one class only (tiny training sets)
                coefs.append(np.zeros(len(vocab)))
                inters.append(-5.0 if y[0, j] == 0 else 5.0)
                continue
            lr = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
            lr.fit(x, y[:, j])
            coefs.append(lr.coef_[0])
            inters.append(float(lr.intercept_[0]))
        return cls(vocab, vec.idf_, np.array(coefs), np.array(inters), labels)

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            vocab=np.array(self.vocab),
            idf=self.idf.astype("float32"),
            coef=self.coef.astype("float32"),
            intercept=self.intercept,
            labels=np.array(self.labels),
        )

    @classmethod
    def load(cls, path: Path) -> LinearFlags:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                [str(t) for t in z["vocab"]],
                z["idf"],
                z["coef"],
                z["intercept"],
                [str(t) for t in z["labels"]],
            )
