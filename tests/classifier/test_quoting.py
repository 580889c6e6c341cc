"""split_reply on realistic (fictional) replies."""

from __future__ import annotations

from classifiers.quoting import split_reply

GMAIL = """Thanks, that's really helpful. I'll ring on Monday.

Jo

On Tue, 3 Jun 2025 at 14:51, Durham SENDIASS <sendiass@durham.gov.uk> wrote:
> Dear Jo,
>
> Here is the leaflet you asked for.
"""

OUTLOOK = """I am not happy with this response and want it looked at again.

Regards,
Karen Mellor

-----Original Message-----
From: Staffordshire SENDIASS <sendiass@staffordshire-fp.org.uk>
Sent: 23 June 2025 15:32
To: karen@example.com
Subject: Your complaint

Dear Ms Mellor,
"""

OUTLOOK_NO_SEPARATOR = """Thank you, I'm happy with that.

From: Coventry IASS <iass@coventry.gov.uk>
Sent: 17 March 2026 14:02
To: tom@example.com
Subject: Your complaint - response

Dear Mr Heathcote,
"""

FORWARD = """Can someone explain what this means please?

Carla

---------- Forwarded message ---------
From: SEND Assessment Team <send@example.gov.uk>
Date: Wed, 11 Mar 2026 at 16:42
Subject: Decision

Dear Ms Hughes, the panel decided not to assess.
"""


def test_gmail_quote() -> None:
    s = split_reply(GMAIL)
    assert s.new == "Thanks, that's really helpful. I'll ring on Monday."
    assert s.quoted.startswith("On Tue, 3 Jun 2025")
    assert "leaflet" in s.quoted
    assert s.signature == "Jo"


def test_wrapped_on_wrote_line() -> None:
    text = (
        "ok thanks\n\nOn Tue, 3 Jun 2025 at 14:51, Durham SENDIASS <\n"
        "sendiass@durham.gov.uk> wrote:\n> hi"
    )
    s = split_reply(text)
    assert s.new == "ok thanks"
    assert "> hi" in s.quoted


def test_outlook_original_message() -> None:
    s = split_reply(OUTLOOK)
    assert s.new == "I am not happy with this response and want it looked at again."
    assert s.quoted.startswith("-----Original Message-----")
    assert s.signature.startswith("Regards,")


def test_outlook_header_block_without_separator() -> None:
    s = split_reply(OUTLOOK_NO_SEPARATOR)
    assert s.new == "Thank you, I'm happy with that."
    assert s.quoted.startswith("From: Coventry IASS")


def test_sent_from_iphone() -> None:
    s = split_reply("still no call back. not happy\n\nSent from my iPhone")
    assert s.new == "still no call back. not happy"
    assert s.signature == "Sent from my iPhone"


def test_apple_quote_after_footer() -> None:
    text = (
        "Cheers Tom, top man\n\nDave\n\nSent from my iPhone\n\n> On 27 Jul 2026, at 15:20, "
        "Coventry IASS <iass@coventry.gov.uk> wrote:\n>\n> Hi Dave"
    )
    s = split_reply(text)
    assert s.new == "Cheers Tom, top man"
    assert "Sent from my iPhone" in s.signature
    assert "Hi Dave" in s.quoted


def test_disclaimer_and_sign_off() -> None:
    text = (
        "Please can someone call Mum after 3.30pm.\n\nKind regards,\n\nLouise Garner\nSENCO\n\n"
        "This email and any attachments are confidential and intended solely for the addressee."
    )
    s = split_reply(text)
    assert s.new == "Please can someone call Mum after 3.30pm."
    assert s.signature.startswith("Kind regards,")
    assert "confidential" in s.signature


def test_dash_dash_signature() -> None:
    s = split_reply("Can I book a place?\n-- \nSam Smith\n07700 900000")
    assert s.new == "Can I book a place?"
    assert s.signature.startswith("-- ")


def test_forwarded_kept_separately() -> None:
    s = split_reply(FORWARD)
    assert s.new == "Can someone explain what this means please?"
    assert s.forwarded.startswith("---------- Forwarded message")
    assert "panel decided" in s.forwarded
    assert s.quoted == ""


def test_inline_gt_quotes() -> None:
    s = split_reply("> Did the adviser attend?\nNo, nobody came.\n> When?\nOn Tuesday.")
    assert "nobody came" in s.new and "On Tuesday" in s.new
    assert "Did the adviser attend?" in s.quoted


def test_thanks_only_message_is_not_emptied() -> None:
    assert split_reply("Thank you!").new == "Thank you!"


def test_never_raises_and_empty() -> None:
    assert split_reply("").new == ""
    assert split_reply(None).new == ""  # type: ignore[arg-type]
    assert split_reply("\r\n\r\n>\r\n").new == ""
