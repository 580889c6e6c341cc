"""Plain text from an HTML email body (for rules and search; never shown as HTML)."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

_BLOCK = {
    "address", "article", "blockquote", "br", "dd", "div", "dl", "dt", "footer", "h1", "h2",
    "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section", "table", "td",
    "th", "tr", "ul",
}  # fmt: skip
_SKIP = {"script", "style", "head", "title", "template", "noscript"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.quote_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
        elif tag == "blockquote":
            self.quote_depth += 1
            self.parts.append("\n")
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)
            self.parts.append("\n")
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.quote_depth:
            # Mark quoted HTML the way plain-text mail does, so reply splitting sees it.
            lines = data.split("\n")
            data = "\n".join(f"> {line}" if line.strip() else line for line in lines)
        self.parts.append(data)


_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


#: Above this size HTML is read with regular expressions (linear, in C) rather than with
#: ``html.parser``, which takes seconds on megabytes of deeply nested tags.
FAST_ABOVE = 256 * 1024
_SKIPPED_BLOCK = re.compile(
    r"<(script|style|head|title|template|noscript)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_BLOCK_TAG = re.compile(r"</?(?:" + "|".join(sorted(_BLOCK)) + r")\b[^>]*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<!--.*?-->|</?[a-zA-Z][^>]*>", re.DOTALL)
_AROUND_NEWLINE = re.compile(r" *\n *")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def _fast_parts(html: str) -> str:
    text = _SKIPPED_BLOCK.sub("", html)
    return unescape(_ANY_TAG.sub("", _BLOCK_TAG.sub("\n", text)))


def html_to_text(html: str) -> str:
    """Readable text from HTML: scripts and styles dropped, blocks on their own lines."""
    if len(html) > FAST_ABOVE:
        text = _fast_parts(html)
    else:
        parser = _TextExtractor()
        try:
            parser.feed(html)
            parser.close()
        except Exception:
            pass
        text = "".join(parser.parts)
    # Linear passes only: deeply nested blocks make hundreds of thousands of blank lines,
    # and a backtracking pattern over them is quadratic.
    text = _AROUND_NEWLINE.sub("\n", _SPACES.sub(" ", text))
    return _MANY_NEWLINES.sub("\n\n", text).strip()
