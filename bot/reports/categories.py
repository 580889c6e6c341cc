"""What people complained about: a small taxonomy in ``config/categories.toml`` and pure
phrase rules that put a complaint's text in one category."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot import resources
from bot.errors import ConfigError

#: The bundled taxonomy; ``config/categories.toml`` beside ``--config`` or in the working
#: directory overrides it (:func:`bot.resources.categories_file`).
CATEGORIES_PATH = resources.bundled("config", "categories.toml")
UNCATEGORISED = "uncategorised"


@dataclass(frozen=True)
class Category:
    key: str
    label: str
    phrases: tuple[str, ...]


def parse_categories(text: str, origin: str = str(CATEGORIES_PATH)) -> tuple[Category, ...]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(origin, "-", f"not valid TOML: {exc}") from None
    out: list[Category] = []
    for i, raw in enumerate(data.get("category", [])):
        where = f"category[{i}]"
        if not isinstance(raw, dict) or set(raw) - {"key", "label", "phrases"}:
            raise ConfigError(origin, where, "expected a table with key, label and phrases")
        key, label, phrases = raw.get("key"), raw.get("label"), raw.get("phrases", [])
        if not isinstance(key, str) or not key or not isinstance(label, str):
            raise ConfigError(origin, where, "key and label must be strings")
        if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
            raise ConfigError(origin, f"{where}.phrases", "expected a list of strings")
        if any(c.key == key for c in out):
            raise ConfigError(origin, f"{where}.key", f"duplicate category {key!r}")
        out.append(Category(key, label, tuple(p.lower() for p in phrases)))
    return tuple(out)


@lru_cache(maxsize=1)
def load_categories() -> tuple[Category, ...]:
    path = resources.categories_file()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot read: {exc.strerror or exc}") from None
    return parse_categories(text, str(path))


def labels(categories: Sequence[Category] | None = None) -> dict[str, str]:
    cats = load_categories() if categories is None else categories
    return {c.key: c.label for c in cats} | {UNCATEGORISED: "Not categorised"}


@lru_cache(maxsize=512)
def _pattern(phrase: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in phrase.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)")


@lru_cache(maxsize=512)
def _words(phrase: str) -> tuple[str, ...]:
    return tuple(phrase.split())


def categorise(text: str, categories: Sequence[Category] | None = None) -> str | None:
    """The key of the category whose phrases occur most often in ``text`` (earlier
    categories win ties), or None when no phrase matches."""
    cats = load_categories() if categories is None else categories
    lowered = text.lower()
    best: tuple[int, str] | None = None
    for cat in cats:
        hits = sum(
            len(_pattern(p).findall(lowered))
            for p in cat.phrases
            # a phrase's words all occur in the text, or it cannot match: skip the regex
            if all(w in lowered for w in _words(p))
        )
        if hits and (best is None or hits > best[0]):
            best = (hits, cat.key)
    return best[1] if best else None
