"""Parsing real .eml fixtures into one normalised message."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.automated import sender_is_machine
from bot.htmltext import html_to_text
from bot.parse import UnparseableMessage, parse_message

MAIL = Path(__file__).parent / "fixtures" / "mail"
ARRIVAL = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)


def parse(name: str):  # type: ignore[no-untyped-def]
    return parse_message((MAIL / name).read_bytes(), ARRIVAL)


def test_plain_complaint_is_split_from_its_quoted_reply() -> None:
    p = parse("complaint_plain.eml")
    assert p.from_addr == "joanna.pike@example.org"
    assert p.from_name == "Joanna Pike"
    assert p.message_id == "<cmp-0001@mail.example.org>"
    assert not p.message_id_synthesised
    assert p.date == datetime(2026, 11, 3, 9, 14, tzinfo=UTC)
    assert p.date_source == "header"
    assert "formal complaint" in p.new_text
    assert "caseworker will call you" not in p.new_text
    assert "caseworker will call you" in p.quoted_text
    assert p.automated_reason is None
    assert p.to_addrs == ("sendiass@durham.gov.uk",)


def test_html_only_reply_gives_text_without_scripts_and_thread_ids() -> None:
    p = parse("html_only_reply.eml")
    assert p.from_name == "Siân Evans"
    assert p.subject == "Re: Your enquiry – transport"
    assert p.html_only
    assert "answers my question about transport" in p.text
    assert "alert" not in p.text and "color: red" not in p.text
    assert "You asked whether" not in p.new_text
    assert p.in_reply_to == ("<letter-77@sendiass-bot.invalid>",)
    assert p.thread_ids[0] == "<letter-77@sendiass-bot.invalid>"
    assert "<first-1@mail.example.net>" in p.thread_ids


def test_missing_message_id_is_synthesised_from_content_and_bad_date_uses_arrival() -> None:
    p = parse("no_message_id_bad_date.eml")
    assert p.message_id_synthesised
    assert p.message_id.endswith("@sendiass-bot.invalid>")
    assert p.message_id == parse("no_message_id_bad_date.eml").message_id
    assert p.date == ARRIVAL
    assert p.date_source == "arrival"


def test_future_date_is_absurd() -> None:
    raw = (MAIL / "complaint_plain.eml").read_bytes().replace(b"2026", b"2031", 1)
    p = parse_message(raw, ARRIVAL)
    assert p.date_source == "arrival"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("auto_reply.eml", "Auto-Submitted"),
        ("bounce.eml", "Return-Path"),
        ("newsletter.eml", "Precedence"),
    ],
)
def test_automated_mail_is_recognised_from_headers(name: str, expected: str) -> None:
    reason = parse(name).automated_reason
    assert reason is not None and expected in reason


def test_attachment_is_kept_with_name_type_and_size() -> None:
    p = parse("with_attachment.eml")
    assert len(p.attachments) == 1
    a = p.attachments[0]
    assert (a.filename, a.content_type) == ("letter.pdf", "application/pdf")
    assert a.content is not None and a.content.startswith(b"%PDF")
    assert a.size == len(a.content)


def test_attachment_over_the_cap_keeps_metadata_only() -> None:
    p = parse_message((MAIL / "with_attachment.eml").read_bytes(), ARRIVAL, attachment_max_bytes=10)
    assert p.attachments[0].content is None
    assert p.attachments[0].size > 10


@pytest.mark.parametrize("raw", [b"", b"   \r\n", (MAIL / "not_an_email.eml").read_bytes()])
def test_bytes_that_are_not_an_email_are_unparseable(raw: bytes) -> None:
    with pytest.raises(UnparseableMessage):
        parse_message(raw, ARRIVAL)


@pytest.mark.parametrize(
    ("addr", "machine"),
    [
        ("noreply@example.org", True),
        ("no-reply@council.gov.uk", True),
        ("MAILER-DAEMON@mx.example.com", True),
        ("postmaster@example.net", True),
        ("do_not_reply@example.org", True),
        ("norah.reilly@example.org", False),
        ("jo.bounce@example.org", False),
    ],
)
def test_machine_senders(addr: str, machine: bool) -> None:
    assert sender_is_machine(addr) is machine


def test_html_to_text_keeps_blocks_and_marks_quotes() -> None:
    text = html_to_text("<p>One</p><div>Two<br>Three</div><blockquote>Old</blockquote>")
    assert [line for line in text.splitlines() if line][:3] == ["One", "Two", "Three"]
    assert "> Old" in text
