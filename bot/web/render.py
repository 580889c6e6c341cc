"""Showing what people wrote, safely: sanitised HTML, highlighted rules, safe downloads."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import nh3
from markupsafe import Markup, escape

BLOCKED_IMAGE = "/static/blocked-image.svg"
INLINE_IMAGE = "/static/inline-image.svg"

_TAGS = (set(nh3.ALLOWED_TAGS) | {"img", "font", "center"}) - {"map", "area"}
_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
}


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if tag == "img" and attr == "src":
        # Nothing is fetched from elsewhere: remote images (tracking pixels) and inline
        # ``cid:`` parts both become a local placeholder.
        return INLINE_IMAGE if value.strip().lower().startswith("cid:") else BLOCKED_IMAGE
    if tag == "a" and attr == "href" and value.strip().lower().startswith("cid:"):
        return None
    return value


def sanitise_html(html: str) -> Markup:
    """Email HTML made safe to put in a page: no scripts, styles, event handlers, forms,
    frames or ``javascript:`` links, and no image loaded from anywhere but us."""
    cleaned = nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags={"script", "style", "title", "noscript", "template"},
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https", "mailto", "cid"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return Markup(cleaned)  # nh3's output is the sanitised fragment


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
