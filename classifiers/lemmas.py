"""Rules that match inflections: ``LEMMA`` in a token pattern, from spaCy's lookup lemmatizer.

A pattern token ``{"LEMMA": "reply"}`` (or ``{"LEMMA": {"IN": [...]}}``) is rewritten when the
rules load into ``{"LOWER": {"IN": ["reply", "replies", "replied", "replying"]}}``: every form
that spaCy's English lookup table (package ``spacy-lookups-data``, installed from PyPI, read
offline from the package) maps to the lemma. Matching then costs nothing more at run time
(no lemmatizer pass), and the Matcher's word pre-check still works. The table is read only
when some rule uses ``LEMMA``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

__all__ = ["expand_lemmas", "forms_of"]


@lru_cache(maxsize=1)
def _forms() -> dict[str, frozenset[str]]:
    import spacy_lookups_data
    import srsly

    # The package names the file without ".gz" and spaCy adds it; do the same.
    path = str(spacy_lookups_data.en["lemma_lookup"])
    table: dict[str, str] = srsly.read_gzip_json(path if path.endswith(".gz") else path + ".gz")
    inverse: dict[str, set[str]] = defaultdict(set)
    for form, lemma in table.items():
        inverse[lemma.lower()].add(form.lower())
    return {lemma: frozenset(forms) for lemma, forms in inverse.items()}


def forms_of(lemma: str) -> list[str]:
    """The lemma and every inflection the lookup table maps to it, sorted."""
    word = lemma.lower()
    return sorted({word} | _forms().get(word, frozenset()))


def expand_lemmas(pattern: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One Matcher token pattern with ``LEMMA`` constraints rewritten as ``LOWER`` sets."""
    out: list[dict[str, Any]] = []
    for tok in pattern:
        t = dict(tok)
        lemma = t.pop("LEMMA", None)
        if lemma is not None:
            lemmas = [lemma] if isinstance(lemma, str) else list(lemma.get("IN", []))
            t["LOWER"] = {"IN": sorted({f for w in lemmas for f in forms_of(str(w))})}
        out.append(t)
    return out
