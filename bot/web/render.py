"""Showing what people wrote, safely: sanitised HTML, highlighted rules, safe downloads."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import Markup, escape

from bot import safehtml


def sanitise_html(html: str) -> Markup:
    """Email HTML made safe to put in a page (see :mod:`bot.safehtml`); the intake stores
    the result in ``messages.html_safe`` and the case page shows that, never this."""
    return Markup(safehtml.clean(html))  # nh3's output is the sanitised fragment


# --------------------------------------------------------------------------- highlights


def _spans(
    text: str, reasons: Iterable[Mapping[str, Any]], sources: set[str]
) -> list[tuple[int, int, str, str]]:
    spans: list[tuple[int, int, str, str]] = []
    lowered = text.lower()
    for r in reasons:
        if r.get("source", "body") not in sources:
            continue
        matched = str(r.get("text") or "")
        if not matched:
            continue
        start, end = int(r.get("start", -1)), int(r.get("end", -1))
        if not (0 <= start < end <= len(text) and text[start:end] == matched):
            # The offsets refer to the text the classifier read; find the words instead.
            start = lowered.find(matched.lower())
            if start < 0:
                continue
            end = start + len(matched)
        spans.append((start, end, str(r.get("rule", "")), str(r.get("decision", ""))))
    spans.sort(key=lambda s: (s[0], -s[1]))
    kept: list[tuple[int, int, str, str]] = []
    for span in spans:
        if kept and span[0] < kept[-1][1]:
            continue  # overlaps one already marked
        kept.append(span)
    return kept


def highlight(
    text: str, reasons: Iterable[Mapping[str, Any]], sources: tuple[str, ...] = ("body",)
) -> Markup:
    """``text`` escaped, with each rule's matched words wrapped in ``<mark>`` (the rule and its
    decision in the title)."""
    out: list[str] = []
    pos = 0
    for start, end, rule, decision in _spans(text, reasons, set(sources)):
        out.append(str(escape(text[pos:start])))
        title = escape(f"{rule}: {decision}")
        out.append(f'<mark title="{title}">{escape(text[start:end])}</mark>')
        pos = end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))  # every piece above is escaped


# ---------------------------------------------------------------------------- downloads

#: Types a browser shows without running anything; everything else is octet-stream.
SAFE_TYPES = frozenset(
    {"application/pdf", "image/png", "image/jpeg", "image/gif", "text/plain", "text/csv"}
)
_FILENAME_BAD = re.compile(r"[^A-Za-z0-9._ ()-]+")


def download_type(content_type: str) -> str:
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return base if base in SAFE_TYPES else "application/octet-stream"


def safe_filename(name: str, fallback: str = "attachment") -> str:
    """A plain ASCII file name for Content-Disposition (no paths, quotes or controls)."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _FILENAME_BAD.sub("_", name).strip(" .")
    return cleaned[:150] or fallback
