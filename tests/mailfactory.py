"""Build real RFC 5322 messages for tests (all people and events are fictional)."""

from __future__ import annotations

import html
import itertools
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

SERVICE_ADDR = {
    "durham": "sendiass@durham.gov.uk",
    "staffordshire": "sendiass@staffordshire-fp.org.uk",
    "coventry": "iass@coventry.gov.uk",
    "stoke": "iass@stoke.gov.uk",
}

_seq = itertools.count(1)


def make_email(
    *,
    service: str = "durham",
    from_name: str = "Alex Parent",
    from_addr: str = "alex.parent@example.org",
    subject: str = "A question",
    body: str = "Hello, could someone call me about my son's EHC plan?\n\nAlex",
    date: datetime | None = None,
    message_id: str | None = "auto",
    html_body: str | None = None,
    headers: dict[str, str] | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{from_name} <{from_addr}>"
    msg["To"] = SERVICE_ADDR[service]
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime(2026, 11, 2, 10, 30, tzinfo=UTC))
    if message_id == "auto":
        message_id = f"<test-{next(_seq)}-{datetime.now(UTC).timestamp()}@example.org>"
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for key, value in (headers or {}).items():
        msg[key] = value
    if html_body is not None and body:
        msg.set_content(body)
        msg.add_alternative(html_body, subtype="html")
    elif html_body is not None:
        msg.set_content(html_body, subtype="html")
    else:
        msg.set_content(body)
    return msg.as_bytes()


def record_to_eml(record: dict[str, Any]) -> bytes:
    """A corpus record (tests/data/corpus format) as the email it stands for."""
    received = datetime.fromisoformat(record["received"])
    body = record["body"]
    html_body = None
    if record.get("html"):
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in body.split("\n\n"))
        html_body, body = f"<html><body>{paragraphs}</body></html>", ""
    return make_email(
        service=record["service"],
        from_name=record["from_name"],
        from_addr=record["from_addr"],
        subject=record["subject"],
        body=body,
        html_body=html_body,
        date=received,
        message_id=f"<{record['id']}@corpus.sendiass-bot.invalid>",
    )


def load_corpus(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
