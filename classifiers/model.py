"""The trained text classifier: a small spaCy pipeline shipped in ``classifiers/model/``.

``model/pipeline/`` is a spaCy pipeline (tokenizer, ``textcat`` for the kind);
``model/flags.npz`` the flags' linear model (:mod:`classifiers.flagmodel`); ``model/meta.json``
holds its version, the calibration fitted on cross-validated predictions and the thresholds
chosen on them:

* ``temperature``: the kind's probabilities are ``softmax(log p / T)``;
* ``platt``: per flag ``(a, b)``, the flag's probability is ``sigmoid(a * logit p + b)``;
* ``flag_thresholds``: per flag, the calibrated probability from which the model raises it;
* ``send_threshold``: a letter leaves on its own only when the kind's calibrated probability
  reaches it (see :mod:`classifiers.engine`).

The model reads what the rules read: the subject and the new text of the email (quoted mail
and the signature removed by :func:`classifiers.quoting.split_reply`), as the same tokens: the
kind's model (:mod:`classifiers.textcat_arch`) takes the rules' ``Doc`` and reads its tokens'
lower-case forms, so each message is tokenised once. (A model trained before that, with
``spacy.TextCatBOW.v3``, read the lower-cased text tokenised again; it still loads and works.)
spaCy is imported only when a model is loaded or trained.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from classifiers.flagmodel import LinearFlags
from classifiers.types import KINDS, Kind

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.pipeline import TextCategorizer
    from spacy.tokens import Doc

__all__ = [
    "FLAGS",
    "MODEL_DIR",
    "ModelError",
    "Prediction",
    "TextModel",
    "apply_platt",
    "apply_temperature",
]

MODEL_DIR = Path(__file__).parent / "model"
FLAGS: tuple[str, ...] = ("safeguarding", "about_coordinator", "out_of_scope")
_EPS = 1e-6


class ModelError(ValueError):
    """A model directory is missing or unusable; the message says which and why."""


@dataclass(frozen=True)
class Prediction:
    """The model's opinion of one message (calibrated probabilities)."""

    kinds: dict[str, float]
    flags: dict[str, float]

    @property
    def kind(self) -> Kind:
        best = max(KINDS, key=lambda k: self.kinds.get(k, 0.0))
        return best

    @property
    def probability(self) -> float:
        return self.kinds.get(self.kind, 0.0)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Rows of probabilities -> softmax(log p / T) (order-preserving; T > 1 softens)."""
    logits = np.log(np.clip(probs, _EPS, 1.0)) / max(temperature, 1e-3)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def apply_platt(p: np.ndarray, a: float, b: float) -> np.ndarray:
    """sigmoid(a * logit(p) + b), monotonic increasing in p for a > 0."""
    q = np.clip(p, _EPS, 1 - _EPS)
    z = a * np.log(q / (1 - q)) + b
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
    return out


class TextModel:
    """Load once, then :meth:`predict` many texts (as made by the engine's ``_prepare``)."""

    def __init__(self, nlp: Language, flags: LinearFlags, meta: Mapping[str, Any]):
        self.nlp = nlp
        self.flags = flags
        self.meta = dict(meta)
        self.version = str(meta.get("version", "unknown"))
        self.temperature = float(meta.get("temperature", 1.0))
        self.platt: dict[str, tuple[float, float]] = {
            f: (float(v[0]), float(v[1])) for f, v in dict(meta.get("platt", {})).items()
        }
        self.flag_thresholds: dict[str, float] = {
            f: float(v) for f, v in dict(meta.get("flag_thresholds", {})).items()
        }
        self.send_threshold = float(meta.get("send_threshold", 0.9))

    @classmethod
    def load(cls, path: Path = MODEL_DIR) -> TextModel:
        meta_path = path / "meta.json"
        pipe_path = path / "pipeline"
        flags_path = path / "flags.npz"
        if not meta_path.is_file() or not pipe_path.is_dir() or not flags_path.is_file():
            raise ModelError(
                f"{path}: not a classifier model (needs meta.json, pipeline/ and flags.npz)"
            )
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"{meta_path}: cannot read: {exc}") from None
        import spacy

        import classifiers.textcat_arch  # noqa: F401  (registers the kind's architecture)

        try:
            nlp = spacy.load(pipe_path)
        except (OSError, ValueError) as exc:
            raise ModelError(f"{pipe_path}: cannot load spaCy pipeline: {exc}") from None
        try:
            flags = LinearFlags.load(flags_path)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"{flags_path}: cannot load: {exc}") from None
        return cls(nlp, flags, meta)

    def raw(
        self, texts: Sequence[str], batch_size: int = 256, docs: Sequence[Doc] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Uncalibrated (kind probabilities, flag probabilities), one row per text. ``docs``:
        the texts already tokenised (by the rules' tokenizer), when the model reads them."""
        return raw_predict(self.nlp, self.flags, texts, batch_size, docs)

    def calibrate(self, kinds: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ck = apply_temperature(kinds, self.temperature) if len(kinds) else kinds
        cf = flags.copy()
        for j, f in enumerate(FLAGS):
            a, b = self.platt.get(f, (1.0, 0.0))
            cf[:, j] = apply_platt(flags[:, j], a, b)
        return ck, cf

    def predict(
        self, texts: Sequence[str], batch_size: int = 256, docs: Sequence[Doc] | None = None
    ) -> list[Prediction]:
        ck, cf = self.calibrate(*self.raw(texts, batch_size, docs))
        return [
            Prediction(
                kinds={k: float(ck[i, j]) for j, k in enumerate(KINDS)},
                flags={f: float(cf[i, j]) for j, f in enumerate(FLAGS)},
            )
            for i in range(len(texts))
        ]

    def flag_threshold(self, flag: str) -> float:
        return self.flag_thresholds.get(flag, 0.5)


def reads_tokens(nlp: Language) -> bool:
    """Whether the kind's model reads the rules' tokens (:mod:`classifiers.textcat_arch`)
    rather than its own tokenisation of the lower-cased text (older models)."""
    from classifiers.textcat_arch import ARCHITECTURE

    arch = nlp.config["components"]["textcat"]["model"].get("@architectures")
    return bool(arch == ARCHITECTURE)


def raw_predict(
    nlp: Language,
    flags: LinearFlags,
    texts: Sequence[str],
    batch_size: int = 256,
    docs: Sequence[Doc] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Uncalibrated kind probabilities (spaCy textcat) and flag probabilities (linear).

    Each text's row depends on that text alone (the same in any batch). ``docs`` are the
    texts tokenised by the same English tokenizer (the rules'), used when the model reads
    tokens; otherwise the texts are tokenised here.
    """
    kinds = np.zeros((len(texts), len(KINDS)))
    textcat = cast("TextCategorizer", nlp.get_pipe("textcat"))
    if reads_tokens(nlp):
        if docs is None:
            docs = [nlp.make_doc(t) for t in texts]
    else:
        docs = [nlp.make_doc(t.lower()) for t in texts]
    cols = [list(textcat.labels).index(k) for k in KINDS]
    for b in range(0, len(docs), batch_size):
        chunk = list(docs[b : b + batch_size])
        # The model itself, not TextCategorizer.predict (which answers zeros for a batch of
        # empty texts): the same answer for a text whatever else is in its batch.
        scores = textcat.model.ops.to_numpy(textcat.model.predict(chunk))
        kinds[b : b + len(chunk)] = np.asarray(scores, dtype="float64")[:, cols]
    if flags.labels != FLAGS:
        raise ModelError(f"flag model labels {flags.labels} differ from {FLAGS}")
    return kinds, flags.predict(texts) if texts else np.zeros((0, len(FLAGS)))
