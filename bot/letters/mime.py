"""Outgoing mail: header sanitising and the MIME message built from an outbox row.

Nothing taken from incoming mail reaches a header unchecked: names and subjects lose CR, LF
and every other control character, Message-IDs must look like ``<left@right>``, and the
message is built with ``email.policy.SMTP``, which refuses a header value with a line break.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Any

from bot.models import OutboxLetter

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\ufeff]")
_MSGID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")


class BadAddress(ValueError):
    """An address we will not write to (malformed, or with characters a header cannot hold)."""


def clean_text(value: str, limit: int = 200) -> str:
    """One line of plain text: control characters (CR, LF, NUL, bidi overrides) become
    spaces, runs of white space one space, and the result is cut to ``limit`` characters."""
    return " ".join(_CONTROL.sub(" ", value or "").split())[:limit].strip()


#: A display name that looks like a link or a domain is never printed in a letter.
_URLISH = re.compile(r"(?i)(?:[a-z][a-z0-9+.-]*:/|www\.|[a-z0-9-]+\.(?:[a-z]{2,24})(?:[/:?#]|\b))")
GREETING_MAX = 60


def greeting_name(name: str, addr: str = "") -> str:
    """The sender's name to greet them by, or "" (a neutral greeting) when there is none
    worth using. A display name is written by the sender: one with an ``@``, a link or a
    domain, a line break or other control character, or longer than a name would be is
    never printed in a letter signed by a council."""
    raw = name or ""
    if _CONTROL.search(raw) or "\ufffd" in raw or len(raw) > GREETING_MAX:
        return ""
    n = clean_text(raw, GREETING_MAX).strip("\"' ")
    if not n or "@" in n or n.lower() == addr.lower() or _URLISH.search(n):
        return ""
    return n


def parse_address(addr: str) -> Address:
    """A checked ``Address`` for ``addr`` (raises :class:`BadAddress`)."""
    return _parse_address(addr)


@functools.lru_cache(maxsize=1024)
def _parse_address(addr: str) -> Address:  # an Address cannot be changed: share it
    cleaned = (addr or "").strip()
    if not cleaned or cleaned != clean_text(cleaned, 320) or " " in cleaned:
        raise BadAddress(f"not a usable address: {addr!r}")
    try:
        address = Address(addr_spec=cleaned)
    except (ValueError, IndexError) as exc:
        raise BadAddress(f"not a usable address: {addr!r} ({exc})") from None
    if not address.username or not address.domain or "." not in address.domain:
        raise BadAddress(f"not a usable address: {addr!r}")
    return address


def message_ids(values: list[str] | tuple[str, ...]) -> list[str]:
    """Only well-formed ``<id@domain>`` values, in order, without repeats."""
    return list(dict.fromkeys(v for v in values if v and _MSGID.match(v)))


def new_message_id(from_addr: str) -> str:
    """A fresh Message-ID in the sending service's domain."""
    domain = from_addr.rpartition("@")[2] or "sendiass-bot.invalid"
    return make_msgid(idstring="sendiass", domain=domain)


class _RememberingRegistry(HeaderRegistry):
    """email's header registry, remembering the headers it made: the headers every letter
    has (Auto-Submitted, Content-Type, MIME-Version, a service's From...) are parsed once,
    not once per letter. A header object cannot be changed, so one can serve many
    messages; the same name and value always parse to the same header."""

    MAX = 512

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[tuple[Any, ...], BaseHeader] = {}

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if type(value) is str:
            key: tuple[Any, ...] = (name, value)
        elif type(value) is Address:  # parsed from its string form (see AddressHeader)
            key = (name, Address, str(value))
        else:
            return super().__call__(name, value)
        made = self._made.get(key)
        if made is None:
            made = super().__call__(name, value)
            if len(self._made) >= self.MAX:
                self._made.clear()
            self._made[key] = made
        return made


#: ``email.policy.SMTP`` with :class:`_RememberingRegistry`: the same bytes, less parsing.
LETTER_POLICY = SMTP.clone(header_factory=_RememberingRegistry())


def build_message(letter: OutboxLetter, from_name: str, now: datetime) -> EmailMessage:
    """The message for ``letter``; the same Message-ID on every attempt."""
    msg = EmailMessage(policy=LETTER_POLICY)
    sender = parse_address(letter.from_addr)
    msg["From"] = Address(clean_text(from_name, 120), sender.username, sender.domain)
    msg["To"] = parse_address(letter.to_addr)
    msg["Subject"] = clean_text(letter.subject, 300)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = letter.message_id
    if letter.in_reply_to and _MSGID.match(letter.in_reply_to):
        msg["In-Reply-To"] = letter.in_reply_to
    refs = message_ids(list(letter.references or []))
    if refs:
        msg["References"] = " ".join(refs[-10:])
    if letter.purpose != "reply":
        # RFC 3834: say that a machine wrote this, so that auto-responders do not answer it.
        # (A reply a person wrote on the case page is not automatic: bot/casework.py.)
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(letter.body_text)
    if letter.body_html:
        msg.add_alternative(letter.body_html, subtype="html")
    return msg
