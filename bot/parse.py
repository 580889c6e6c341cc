"""Raw bytes to one normalised message (mail-parser, with the stdlib where it is stricter).

Raises :class:`UnparseableMessage` only when the bytes are not an email at all; odd
encodings, broken boundaries and bad headers are tolerated and recorded as best read.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.errors
import email.header
import email.parser
import email.policy
import email.utils
import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message as EmailMessage

import mailparser

from bot.automated import automated_reason
from bot.htmltext import html_to_text
from classifiers.quoting import split_reply

logging.getLogger("mailparser").setLevel(logging.ERROR)

#: A Date header more than this before arrival, or more than MAX_FUTURE_SKEW after it, is
#: flagged and never trusted (it is shown as written, in the headers, and nowhere else).
MAX_PAST_SKEW = timedelta(days=2 * 365 + 1)
MAX_FUTURE_SKEW = timedelta(days=1)


class UnparseableMessage(ValueError):
    """The bytes are not an email we can read; the reason says why."""


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    size: int
    content: bytes | None  # None when larger than the configured cap


@dataclass(frozen=True)
class ParsedMessage:
    content_hash: str  # sha256 of the raw bytes
    fingerprint: str  # sha256 of what a re-delivery keeps: From, Date, Subject, text, parts
    message_id: str
    message_id_synthesised: bool
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_addr: str
    from_name: str
    reply_to: str | None
    to_addrs: tuple[str, ...]
    subject: str
    date: datetime  # the Date header when sane (for display only), else the arrival time
    date_source: str  # "header" | "arrival"
    date_warning: str | None  # why the Date header was not used, when it was absurd
    headers: dict[str, str]
    content_type: str
    text: str
    html: str | None
    html_only: bool
    new_text: str
    quoted_text: str
    signature: str
    automated_reason: str | None
    attachments: tuple[ParsedAttachment, ...] = field(default=())

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this message says it follows, nearest first."""
        ids = list(self.in_reply_to) + list(reversed(self.references))
        return tuple(dict.fromkeys(ids))


_MSGID = re.compile(r"<([^<>\s]+)>")


def _ids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    found = _MSGID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip()]
    return tuple(f"<{i}>" for i in dict.fromkeys(found))


def _decode_header(value: object) -> str:
    """A header value as text, decoding RFC 2047 words and dropping control characters."""
    if value is None:
        return ""
    text = str(value)
    if "=?" in text:
        with contextlib.suppress(
            email.errors.HeaderParseError, LookupError, UnicodeError, ValueError
        ):
            text = str(email.header.make_header(email.header.decode_header(text)))
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text).replace("\r", "").replace("\n", " ")


def _headers(msg: EmailMessage) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in msg.items():
        key = name.lower()
        decoded = _decode_header(value).strip()
        out[key] = f"{out[key]}\n{decoded}" if key in out else decoded
    return out


def _raw_header(msg: EmailMessage, name: str) -> str:
    """The first ``name`` header as sent, RFC 2047 words still encoded."""
    value = msg.get(name)
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text).replace("\r", "").replace("\n", " ")


def _address(value: str) -> tuple[str, str]:
    """(display name, address) from a raw header value.

    The address is parsed from the header as sent; only the display name is decoded
    afterwards, so an encoded word (``=?utf-8?q?Jo_=3Cvictim=40example.net=3E?=``) can never
    become the address.
    """
    name, addr = email.utils.parseaddr(value)
    addr = addr.strip().strip("<>").lower()
    if "@" not in addr or "=?" in addr or any(c.isspace() for c in addr):
        addr = ""
    return _display_name(name), addr


def _display_name(value: str) -> str:
    """A display name as untrusted text: RFC 2047 decoded, each control character or line
    break it hid shown as U+FFFD (so it is visible, and never used in a greeting)."""
    text = value
    if "=?" in text:
        with contextlib.suppress(
            email.errors.HeaderParseError, LookupError, UnicodeError, ValueError
        ):
            text = str(email.header.make_header(email.header.decode_header(text)))
    text = re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]", "\ufffd", text)
    return text.strip()


def header_date(value: str) -> datetime | None:
    """A Date-style header value as an aware UTC datetime, or None."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def sane_window(arrival: datetime) -> tuple[datetime, datetime]:
    """The dates a header may give for mail that arrived at ``arrival``."""
    try:
        earliest = arrival - MAX_PAST_SKEW
    except OverflowError:
        earliest = datetime.min.replace(tzinfo=UTC)
    try:
        latest = arrival + MAX_FUTURE_SKEW
    except OverflowError:
        latest = datetime.max.replace(tzinfo=UTC)
    return earliest, latest


def _date(headers: dict[str, str], arrival: datetime) -> tuple[datetime, str, str | None]:
    """(display date, its source, a warning when the Date header is absurd or unreadable)."""
    raw = headers.get("date", "").split("\n")[0]
    if not raw:
        return arrival, "arrival", None
    parsed = header_date(raw)
    if parsed is None:
        return arrival, "arrival", f"unreadable Date header {raw[:80]!r}"
    earliest, latest = sane_window(arrival)
    if parsed < earliest:
        return (
            arrival,
            "arrival",
            (
                f"Date header {raw[:80]!r} is more than two years before the mail "
                "arrived; not trusted"
            ),
        )
    if parsed > latest:
        return (
            arrival,
            "arrival",
            (f"Date header {raw[:80]!r} is more than a day after the mail arrived; not trusted"),
        )
    return parsed, "header", None


def received_time(raw: bytes, now: datetime) -> datetime | None:
    """When the receiving server took the message: the date of the topmost (newest)
    ``Received:`` header, if it is readable and not later than ``now`` plus a day."""
    head = raw[: 256 * 1024].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    except Exception:
        return None
    for value in headers.get_all("received") or []:
        text = str(value)
        if ";" not in text:
            continue
        when = header_date(text.rpartition(";")[2].strip())
        if when is None:
            continue
        if when > now + MAX_FUTURE_SKEW or when.year < 1970:
            return None  # not a time any server received mail at: use the next best
        return when
    return None


def _attachment(item: dict[str, object], cap: int) -> ParsedAttachment:
    payload = item.get("payload") or ""
    data: bytes
    if item.get("binary"):
        try:
            data = base64.b64decode(str(payload), validate=False)
        except (binascii.Error, ValueError):
            data = str(payload).encode("utf-8", "replace")
    else:
        data = str(payload).encode("utf-8", "replace")
    filename = _decode_header(item.get("filename") or "").strip() or "attachment"
    ctype = str(item.get("mail_content_type") or "application/octet-stream")
    return ParsedAttachment(
        filename=filename[:500],
        content_type=ctype[:200],
        size=len(data),
        content=data if len(data) <= cap else None,
    )


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def parse_message(
    raw: bytes, arrival: datetime, *, attachment_max_bytes: int = 10 * 1024 * 1024
) -> ParsedMessage:
    """Parse ``raw``; ``arrival`` (aware) stands in for a missing or absurd Date header."""
    if not raw.strip():
        raise UnparseableMessage("empty message")
    digest = content_hash(raw)
    try:
        mail = mailparser.parse_from_bytes(raw)
    except Exception as exc:
        raise UnparseableMessage(f"mail-parser failed: {type(exc).__name__}: {exc}") from exc
    msg = mail.message
    headers = _headers(msg)
    if not headers:
        raise UnparseableMessage("no header fields: not an email message")
    if not any(k in headers for k in ("from", "sender", "return-path", "to", "subject")):
        raise UnparseableMessage("no From, To or Subject header: not an email message")

    from_name, from_addr = _address(_raw_header(msg, "from"))
    if not from_addr:
        _, from_addr = _address(_raw_header(msg, "sender"))
    reply_to_addr = _address(_raw_header(msg, "reply-to"))[1]
    to_addrs = tuple(
        a.lower()
        for _, a in email.utils.getaddresses([_raw_header(msg, "to"), _raw_header(msg, "cc")])
        if "@" in a and "=?" not in a
    )
    ids = _ids(headers.get("message-id"))
    if ids:
        message_id, synthesised = ids[0], False
    else:
        message_id, synthesised = f"<{digest[:32]}@sendiass-bot.invalid>", True

    arrival = arrival.astimezone(UTC)
    when, date_source, date_warning = _date(headers, arrival)

    plain = "\n".join(p for p in (mail.text_plain or []) if isinstance(p, str))
    html_parts = [p for p in (mail.text_html or []) if isinstance(p, str)]
    html = "\n".join(html_parts) if html_parts else None
    text = plain.replace("\r\n", "\n").strip() if plain.strip() else ""
    if not text and html:
        text = html_to_text(html)
    split = split_reply(text)
    content_type = msg.get_content_type()
    reason = automated_reason(headers, content_type, from_addr)
    fingerprint = hashlib.sha256(
        "\x1f".join(
            [
                from_addr,
                headers.get("date", ""),
                headers.get("subject", ""),
                text,
                html or "",
                ",".join(
                    f"{a.get('filename')}:{len(str(a.get('payload') or ''))}"
                    for a in mail.attachments
                ),
            ]
        ).encode("utf-8", "replace")
    ).hexdigest()
    return ParsedMessage(
        content_hash=digest,
        fingerprint=fingerprint,
        message_id=message_id,
        message_id_synthesised=synthesised,
        in_reply_to=_ids(headers.get("in-reply-to")),
        references=_ids(headers.get("references")),
        from_addr=from_addr,
        from_name=from_name[:200],
        reply_to=reply_to_addr or None,
        to_addrs=to_addrs,
        subject=_decode_header(headers.get("subject", "").split("\n")[0]).strip(),
        date=when,
        date_source=date_source,
        date_warning=date_warning,
        headers=headers,
        content_type=content_type,
        text=text,
        html=html,
        html_only=html is not None and not plain.strip(),
        new_text=split.new,
        quoted_text=split.quoted,
        signature=split.signature,
        automated_reason=reason,
        attachments=tuple(_attachment(a, attachment_max_bytes) for a in mail.attachments),
    )
