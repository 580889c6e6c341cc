"""What a URL may carry: every id in a path and every query parameter is checked before it
reaches the database, and anything out of bounds answers 400 with a one-line reason
(never a 500, never a silent overflow).

* :class:`IdConverter` (``<id:name>`` in a route): ASCII digits, 1 to 2,147,483,647 (the
  range of an SQL ``INTEGER`` on every database we support);
* :func:`check_query` (before every request): at most :data:`MAX_QUERY_BYTES` of query
  string, :data:`MAX_VALUE_CHARS` per value, no control characters (``next`` excepted: it
  is only ever used through :func:`bot.web.views.safe_next`);
* :func:`int_arg`, :func:`choice_arg`, :func:`text_arg`: the typed parameters of a page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from flask import abort, request
from werkzeug.routing import BaseConverter

MAX_ID = 2_147_483_647
MAX_QUERY_BYTES = 4096
MAX_VALUE_CHARS = 1000
_DIGITS = re.compile(r"[0-9]{1,10}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Parameters that are checked by the page that uses them rather than here.
_FREE = frozenset({"next"})


def _shown(value: str) -> str:
    """A bad value, short and printable, for the error message."""
    clean = _CONTROL.sub("?", value)
    return repr(clean if len(clean) <= 40 else clean[:40] + "...")


class IdConverter(BaseConverter):
    """A record id in a path. Anything else in that place is a 400 that says why."""

    regex = r"[^/]+"

    def to_python(self, value: str) -> int:
        if not _DIGITS.fullmatch(value) or not 1 <= int(value) <= MAX_ID:
            abort(400, description=f"{_shown(value)} is not a record number (1 to {MAX_ID:,}).")
        return int(value)

    def to_url(self, value: object) -> str:
        return str(int(str(value)))


def check_query() -> None:
    """Before every request: the query string as a whole."""
    if len(request.query_string) > MAX_QUERY_BYTES:
        abort(400, description=f"The address is too long (over {MAX_QUERY_BYTES} bytes).")
    for name, value in request.args.items(multi=True):
        if _CONTROL.search(name) or len(name) > 100:
            abort(400, description=f"Parameter {_shown(name)} is not a valid name.")
        if len(value) > MAX_VALUE_CHARS:
            abort(400, description=f"{name}: too long (over {MAX_VALUE_CHARS} characters).")
        if name not in _FREE and _CONTROL.search(value):
            abort(400, description=f"{name}: control characters are not allowed.")


def int_arg(name: str, low: int, high: int) -> int | None:
    """``?name=`` as a whole number from ``low`` to ``high``; None when absent or empty."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"[0-9]{1,12}", raw) or not low <= int(raw) <= high:
        expected = f"a whole number from {low} to {high:,}"
        abort(400, description=f"{name}: expected {expected}, not {_shown(raw)}.")
    return int(raw)


def choice_arg(name: str, allowed: Iterable[str]) -> str:
    """``?name=`` as one of ``allowed``; "" when absent or empty."""
    raw = request.args.get(name, "")
    options = list(allowed)
    if raw and raw not in options:
        abort(400, description=f"{name}: {_shown(raw)} is not one of {', '.join(options)}.")
    return raw


def date_arg(name: str) -> date | None:
    """``?name=`` as a date (YYYY-MM-DD); None when absent or empty."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        abort(400, description=f"{name}: expected a date (YYYY-MM-DD), not {_shown(raw)}.")


def text_arg(name: str, max_chars: int) -> str:
    """``?name=`` as text of at most ``max_chars`` characters."""
    raw = request.args.get(name, "")
    if len(raw) > max_chars:
        abort(400, description=f"{name}: at most {max_chars} characters.")
    return raw
