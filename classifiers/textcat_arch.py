"""The kind's model: spaCy's bag-of-n-grams text classifier (``spacy.TextCatBOW.v3``) reading
each token's lower-case form (``LOWER``) instead of its exact text (``ORTH``).

So the model reads the very tokens the rules read: the engine tokenises each message once and
gives the same ``Doc`` to the rules (which match on ``LOWER``) and to this model, instead of
lower-casing the text and tokenising it a second time. Registered as
``sendiass.TextCatBOWLower.v1`` for ``classifiers/training/textcat.cfg``; importing this module
registers it (``classifiers.model`` does so before loading a pipeline).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spacy.attrs import LOWER
from spacy.ml.models.textcat import build_bow_text_classifier_v3
from spacy.util import registry

if TYPE_CHECKING:
    from thinc.api import Model
    from thinc.types import Floats2d

__all__ = ["ARCHITECTURE", "build_lower_bow"]

ARCHITECTURE = "sendiass.TextCatBOWLower.v1"


@registry.architectures(ARCHITECTURE)
def build_lower_bow(
    exclusive_classes: bool,
    ngram_size: int,
    no_output_layer: bool,
    length: int = 262144,
    nO: int | None = None,
) -> Model[list, Floats2d]:
    """``spacy.TextCatBOW.v3`` with its n-grams made of lower-case forms."""
    model = build_bow_text_classifier_v3(exclusive_classes, ngram_size, no_output_layer, length, nO)
    for node in model.walk():
        if node.name == "extract_ngrams":
            node.attrs["attr"] = LOWER
    return model
