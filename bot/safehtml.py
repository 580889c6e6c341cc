"""Email HTML made safe once, at intake, within limits; the web shows the stored result.

nh3 (ammonia) is fast on ordinary mail but its cost grows with nesting depth, and a view
must never pay it. So the intake checks the size and the nesting depth first (one linear
scan), sanitises what is within the limits, and stores the result; beyond the limits no
HTML is kept for display and the case page shows the text part (or a plain-text
rendering of the HTML). The raw message is always kept unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nh3

BLOCKED_IMAGE = "/static/blocked-image.svg"
INLINE_IMAGE = "/static/inline-image.svg"

#: HTML larger than this (characters) is not kept for display.
HTML_MAX_CHARS = 512 * 1024
#: HTML nested deeper than this is not kept for display.
HTML_MAX_DEPTH = 100

_TAGS = (set(nh3.ALLOWED_TAGS) | {"img", "font", "center"}) - {"map", "area"}
_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
}
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
}  # fmt: skip
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)[^>]*?(/?)>")


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if tag == "img" and attr == "src":
        # Nothing is fetched from elsewhere: remote images (tracking pixels) and inline
        # ``cid:`` parts both become a local placeholder.
        return INLINE_IMAGE if value.strip().lower().startswith("cid:") else BLOCKED_IMAGE
    if tag == "a" and attr == "href" and value.strip().lower().startswith("cid:"):
        return None
    return value


def clean(html: str) -> str:
    """nh3 with our rules: no scripts, styles, event handlers, forms, frames or
    ``javascript:`` links, and no image loaded from anywhere but us. Call only on HTML
    within the limits (see :func:`sanitise_for_storage`)."""
    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags={"script", "style", "title", "noscript", "template"},
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https", "mailto", "cid"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def nesting_depth(html: str, stop_at: int = HTML_MAX_DEPTH) -> int:
    """The deepest element nesting (void and self-closed tags do not nest); stops counting
    once ``stop_at`` is passed. Linear in the length of ``html``."""
    depth = deepest = 0
    for m in _TAG.finditer(html):
        closing, name, selfclose = m.group(1), m.group(2).lower(), m.group(3)
        if name in _VOID or selfclose:
            continue
        if closing:
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_at:
                    return deepest
    return deepest


@dataclass(frozen=True)
class SafeHtml:
    html: str | None  # sanitised HTML to show, or None (show the text)
    note: str | None  # why no HTML is kept, when it is over a limit


def sanitise_for_storage(html: str | None) -> SafeHtml:
    """Sanitise ``html`` once, within the size and depth limits."""
    if not html:
        return SafeHtml(None, None)
    if len(html) > HTML_MAX_CHARS:
        return SafeHtml(None, f"HTML of {len(html)} characters is over {HTML_MAX_CHARS}")
    depth = nesting_depth(html)
    if depth > HTML_MAX_DEPTH:
        return SafeHtml(None, f"HTML nested more than {HTML_MAX_DEPTH} deep")
    return SafeHtml(clean(html), None)
