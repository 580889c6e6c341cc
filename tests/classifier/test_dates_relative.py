"""Relative and partial date expressions, and the choice of the event date and the Stage 1
letter's date, each with a fixed received date (the clock is never read). Received dates sit
around Christmas, Easter and the clock changes (BST began on 29 March 2026 and ended on
25 October 2026). All text is fictional."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from classifiers import Classifier
from classifiers.dates import find_dates, local_date, read_dates, within_12_months

from .conftest import make_input

SPRING = date(2026, 3, 10)  # a Tuesday, after the February half term
XMAS_EVE_WEEK = date(2025, 12, 10)  # before Christmas
AFTER_XMAS = date(2025, 12, 29)  # a Monday, after Christmas
NEW_YEAR = date(2026, 1, 6)  # a Tuesday, first day back after the Christmas holidays
EASTER_TUESDAY = date(2026, 4, 7)  # Easter Sunday 2026 was 5 April
AUTUMN = date(2026, 10, 20)  # a Tuesday, before the October half term


def iso(text: str, base: date) -> list[str]:
    return [m.iso for m in find_dates(text, base)]


@pytest.mark.parametrize(
    ("text", "base", "expected"),
    [
        # half term, with or without its season
        ("before half term", SPRING, ["2026-02"]),
        ("before half term", NEW_YEAR, ["2025-10"]),
        ("after the October half term", SPRING, ["2025-10"]),
        ("before half term", AUTUMN, ["2026-05"]),  # October's has not come yet
        # the summer holidays: in them August, at their start or before them July
        ("in the summer holidays", SPRING, ["2025-08"]),
        ("in the summer holidays", AUTUMN, ["2026-08"]),
        ("at the start of the summer holidays", AUTUMN, ["2026-07"]),
        ("just before the summer holidays", AUTUMN, ["2026-07"]),
        ("at the end of the summer holidays last year", AUTUMN, ["2025-08"]),
        ("in the summer holidays of 2024", AUTUMN, ["2024-08"]),
        # seasons
        ("last spring", SPRING, ["2025-04"]),
        ("last spring", AUTUMN, ["2026-04"]),
        ("in the spring", SPRING, ["2026-03"]),  # this spring so far
        ("over the summer", AUTUMN, ["2026-07"]),
        ("during the autumn term", SPRING, ["2025-10"]),
        ("last winter", SPRING, ["2026-01"]),
        # a fortnight, weeks, a year
        ("a fortnight ago", SPRING, ["2026-02-24"]),
        ("two fortnights ago", SPRING, ["2026-02-10"]),
        ("about a fortnight ago", SPRING, ["2026-02"]),
        ("almost two weeks ago", SPRING, ["2026-02-25"]),
        ("over a year ago", SPRING, ["2025-02"]),
        ("more than a year ago", AUTUMN, ["2025-09"]),
        ("a year ago", SPRING, ["2025-03"]),
        ("nearly a year ago", SPRING, ["2025-04"]),
        # Easter
        ("last Easter", AUTUMN, ["2026-04"]),
        ("last Easter", SPRING, ["2025-04"]),  # this year's is still to come
        ("over Easter last year", AUTUMN, ["2025-04"]),
        # Christmas
        ("before Christmas", NEW_YEAR, ["2025-12"]),
        ("before Christmas", AFTER_XMAS, ["2025-12"]),
        ("last Christmas", XMAS_EVE_WEEK, ["2024-12"]),
        # the start of term
        ("at the start of term", AUTUMN, ["2026-09"]),
        ("at the start of term", NEW_YEAR, ["2026-01"]),
        ("at the start of term", SPRING, ["2026-01"]),
        ("at the beginning of the summer term", AUTUMN, ["2026-04"]),
        ("when term started", AUTUMN, ["2026-09"]),
        # months
        ("back in January", SPRING, ["2026-01"]),
        ("back in January", AUTUMN, ["2026-01"]),
        ("back in November", SPRING, ["2025-11"]),
        # the holidays
        ("the week before the holidays", SPRING, ["2025-12"]),
        ("the week before the holidays", AUTUMN, ["2026-07"]),
        ("the week before the Easter holidays", EASTER_TUESDAY, ["2026-03"]),
        ("on the last day of term", NEW_YEAR, ["2025-12"]),
        # days of the month
        ("on the 4th of this month", SPRING, ["2026-03-04"]),
        ("on the 28th of last month", SPRING, ["2026-02-28"]),
        ("your letter of the 3rd", SPRING, ["2026-03-03"]),
        ("your letter dated the 12th", SPRING, ["2026-02-12"]),
        ("your email from the 1st", SPRING, ["2026-03-01"]),
        # UK numeric dates are day first
        ("on 03/04/2025", SPRING, ["2025-04-03"]),
        ("on 3.4.25", SPRING, ["2025-04-03"]),
        ("on 12/01/2026", SPRING, ["2026-01-12"]),
        # misspelt weekdays
        ("on wenesday", SPRING, ["2026-03-04"]),
        ("last thursay", SPRING, ["2026-03-05"]),
    ],
)
def test_expression_resolves_against_the_received_date(
    text: str, base: date, expected: list[str]
) -> None:
    assert iso(text, base) == expected


@pytest.mark.parametrize(
    ("text", "base"),
    [
        ("next half term", SPRING),
        ("before Christmas", XMAS_EVE_WEEK),  # the coming Christmas
        ("we hope for a place by Christmas", XMAS_EVE_WEEK),
        ("the summer fair", AUTUMN),
        ("she was summer born", AUTUMN),
        ("we live on Spring Lane", SPRING),
        ("a winter coat", SPRING),
        ("the 3rd of April", SPRING),  # in the future: dropped
        ("on 31/04/2025", SPRING),  # no such day
        ("in 3 weeks", SPRING),
        ("for a fortnight", SPRING),
        ("the 4th of next month", SPRING),
        ("you may be able to help", SPRING),
        ("Year 3 and Year 4", SPRING),
    ],
)
def test_no_date_is_read(text: str, base: date) -> None:
    assert iso(text, base) == []


def test_numeric_dates_are_day_first_even_when_both_could_be_months() -> None:
    (m,) = find_dates("on 03/04/2025", SPRING)
    assert (m.value, m.precision) == (date(2025, 4, 3), "day")


# --------------------------------------------------------------------- UK time (BST)


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        # 23:30 UTC on Saturday 24 October 2026 is 00:30 BST on Sunday 25 October.
        ("2026-10-24T23:30:00+00:00", date(2026, 10, 25)),
        # after the clocks went back, UTC and UK time agree
        ("2026-10-25T23:30:00+00:00", date(2026, 10, 25)),
        # 23:30 UTC on Saturday 28 March 2026 is still GMT: Saturday.
        ("2026-03-28T23:30:00+00:00", date(2026, 3, 28)),
        # 23:30 UTC on Sunday 29 March 2026 is 00:30 BST on Monday 30 March.
        ("2026-03-29T23:30:00+00:00", date(2026, 3, 30)),
        ("2026-03-30T00:30:00+01:00", date(2026, 3, 30)),
    ],
)
def test_local_date_is_the_uk_calendar_day(received: str, expected: date) -> None:
    assert local_date(datetime.fromisoformat(received)) == expected


def test_yesterday_across_the_end_of_bst() -> None:
    # Sent at 00:30 BST on Sunday 25 October 2026 (23:30 UTC on the Saturday).
    facts = read_dates(
        "complaint",
        datetime.fromisoformat("2026-10-24T23:30:00+00:00"),
        "Your adviser put the phone down on me yesterday.",
    )
    assert facts.event_date == "2026-10-24"


def test_within_12_months_across_the_start_of_bst() -> None:
    # 23:30 UTC on 29 March 2026 is 30 March in the UK: an event on 29 March 2025 is out of
    # time, though the UTC day would have let it in.
    received = datetime.fromisoformat("2026-03-29T23:30:00+00:00")
    facts = read_dates(
        "complaint", received, "The adviser shouted at me at the meeting on 29 March 2025."
    )
    assert facts.event_date == "2025-03-29"
    assert within_12_months(facts.event_date, local_date(received)) is False
    assert within_12_months(facts.event_date, received.date()) is True


# ------------------------------------------------------------------ choosing the event


def test_an_upcoming_meeting_is_not_the_event() -> None:
    facts = read_dates(
        "complaint",
        datetime.fromisoformat("2025-12-17T08:05:00+00:00"),
        "Nobody rang me back like you promised on 1 December. The review is on Friday.",
    )
    assert facts.event_date == "2025-12-01"


def test_a_deadline_still_to_come_is_not_the_event() -> None:
    facts = read_dates(
        "complaint",
        datetime.fromisoformat("2025-02-17T13:02:00+00:00"),
        "On the 4th of this month your manager promised to ring me. I need it before the "
        "deadline on the 24th.",
    )
    assert facts.event_date == "2025-02-04"


def test_a_missed_deadline_in_the_past_is_the_event() -> None:
    facts = read_dates(
        "complaint",
        datetime.fromisoformat("2026-02-03T12:40:00+00:00"),
        "By law that deadline was 14th January 2026 and I still have nothing.",
    )
    assert facts.event_date == "2026-01-14"


def test_an_empty_body_takes_the_date_from_the_subject() -> None:
    facts = read_dates(
        "complaint",
        datetime.fromisoformat("2026-10-30T16:01:00+00:00"),
        "",
        subject="Nobody came to the annual review on Tuesday like you promised",
    )
    assert facts.event_date == "2026-10-27"
    assert facts.event is not None and facts.event.source == "subject"


def test_a_complaint_about_the_quoted_reply_takes_its_date() -> None:
    facts = read_dates(
        "complaint",
        datetime.fromisoformat("2026-11-25T16:44:00+00:00"),
        "I found that reply rude and dismissive.",
        quoted="On Tue, 24 Nov 2026 at 17:58, A Service <service@example.org> wrote:\n"
        "> Please stop emailing this address.",
    )
    assert facts.event_date == "2026-11-24"
    assert facts.event is not None and facts.event.source == "quoted"


def test_a_month_is_made_a_day_by_the_quoted_mail_of_that_month() -> None:
    facts = read_dates(
        "complaint",
        datetime.fromisoformat("2026-11-16T13:06:00+00:00"),
        "I've gone back to your email from last November. The advice was wrong.",
        forwarded="From: A Service <service@example.org>\nSent: 03 November 2025 11:22\n"
        "Subject: Your question\n\nThe council can't name that school.",
    )
    assert facts.event_date == "2025-11-03"
    assert within_12_months(facts.event_date, date(2026, 11, 16)) is False


def test_over_a_year_ago_is_out_of_time_and_nearly_a_year_ago_in_time() -> None:
    received = datetime.fromisoformat("2026-04-22T10:20:00+01:00")
    over = read_dates("complaint", received, "It happened over a year ago.")
    nearly = read_dates("complaint", received, "It happened nearly a year ago.")
    assert within_12_months(over.event_date, date(2026, 4, 22)) is False
    assert within_12_months(nearly.event_date, date(2026, 4, 22)) is True


# ------------------------------------------------------------- the Stage 1 letter's date


@pytest.mark.parametrize(
    ("body", "received", "expected"),
    [
        ("I have read your letter of the 3rd and I do not accept it.", "2025-06-12T14:40:00+01:00",
         "2025-06-03"),
        ("I got your letter on Saturday, the one dated the 12th. I'm not accepting it.",
         "2025-11-17T10:24:00+00:00", "2025-11-12"),
        ("I got your email from the 1st. I want someone else to look at it.",
         "2026-09-09T16:48:00+01:00", "2026-09-01"),
        ("I got the letter you sent me last Friday. Can it go to someone else?",
         "2026-06-17T14:30:00+01:00", "2026-06-12"),
        ("I had your reply a fortnight ago and I'd like someone else to go through it.",
         "2026-04-22T10:20:00+01:00", "2026-04-08"),
    ],
)  # fmt: skip
def test_stage1_letter_date_from_the_writers_words(body: str, received: str, expected: str) -> None:
    facts = read_dates("stage2_request", datetime.fromisoformat(received), body)
    assert facts.stage1_response_date == expected
    assert facts.event_date is None  # the letter is not what the complaint is about


def test_the_reply_i_had_before_christmas_takes_the_quoted_reply_date() -> None:
    facts = read_dates(
        "stage2_request",
        datetime.fromisoformat("2026-01-12T09:00:00+00:00"),
        "The reply I had before Christmas doesn't answer anything. I want it looked at again.",
        quoted="On Thu, 18 Dec 2025 at 16:05, A Service <service@example.org> wrote:\n"
        "> Dear Ms Example, thank you for your complaint about the visit on 2 October 2025.",
    )
    assert facts.stage1_response_date == "2025-12-18"
    assert facts.event_date == "2025-10-02"


def test_the_reply_i_had_before_christmas_alone_gives_no_day() -> None:
    facts = read_dates(
        "stage2_request",
        datetime.fromisoformat("2026-01-12T09:00:00+00:00"),
        "The reply I had before Christmas doesn't answer anything. The adviser was rude to "
        "me in October.",
    )
    assert facts.stage1_response_date is None  # a month is not a day
    assert facts.event_date == "2025-10"  # and Christmas is not taken for the event


def test_a_quoted_reply_before_the_holidays_does_not_fit_another_month() -> None:
    facts = read_dates(
        "stage2_request",
        datetime.fromisoformat("2026-01-12T09:00:00+00:00"),
        "The reply I had before Christmas was not good enough.",
        quoted="On Tue, 7 Oct 2025 at 16:05, A Service <service@example.org> wrote:\n> Hello",
    )
    # The quoted mail is from October, not before Christmas: no day is guessed.
    assert facts.stage1_response_date is None


def test_stage1_date_from_a_quoted_header() -> None:
    facts = read_dates(
        "stage2_request",
        datetime.fromisoformat("2026-02-20T09:00:00+00:00"),
        "I don't accept this. Please pass it to whoever is above you.",
        quoted="On 3 Feb 2026, Durham SENDIASS <sendiass@example.org> wrote:\n"
        "> Thank you for your complaint about the appointment on 14 October 2025.",
    )
    assert facts.stage1_response_date == "2026-02-03"
    assert facts.event_date == "2025-10-14"


def test_a_letter_of_the_case_closing_is_the_event_of_a_stage2_request() -> None:
    facts = read_dates(
        "stage2_request",
        datetime.fromisoformat("2026-03-16T15:52:00+00:00"),
        "My complaint was about her decision to close my case by letter on 9 January 2026. "
        "The Stage 1 response I received, in a letter of 2 March 2026, does not address it.",
    )
    assert facts.event_date == "2026-01-09"
    assert facts.stage1_response_date == "2026-03-02"


def test_the_classifier_reports_where_each_date_was_read() -> None:
    c = Classifier().classify(
        make_input(
            "I want to make a formal complaint. Your adviser shouted at me on 3 February.",
            received="2026-03-04T09:12:00+00:00",
        )
    )
    assert c.kind == "complaint"
    assert c.event_date == "2026-02-03" and c.within_12_months is True
    (reason,) = [r for r in c.reasons if r.decision == "event_date"]
    assert reason.source == "body" and reason.text.startswith("3 February")


def test_a_quoted_header_without_a_time_gives_the_stage1_date() -> None:
    """tests/fixtures/mail: "On 20 Oct 2026, X wrote:" (no time) was not read as a header,
    and mail sent at 00:30 BST was dated by its UTC day."""
    from bot.commands.classify import eml_to_input

    mail = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
    inp = eml_to_input(mail / "stage2_quoted_header_no_time.eml")
    c = Classifier().classify(inp)
    assert c.kind == "stage2_request"
    assert c.stage1_response_date == "2026-10-20"
    assert c.event_date == "2026-09-29"
    (s1,) = [r for r in c.reasons if r.decision == "stage1_response_date"]
    assert s1.source == "quoted" and s1.text.startswith("On 20 Oct 2026")
    # "yesterday" from Sunday 25 October 00:30 BST is Saturday 24 October, not Friday.
    facts = read_dates("complaint", inp.received, "He hung up on me yesterday.")
    assert facts.event_date == "2026-10-24"


@pytest.mark.parametrize(
    ("text", "base", "expected"),
    [
        # "last <month>": the one before this month, a year earlier when that is last month
        ("the annual review last July", date(2025, 8, 19), ["2024-07"]),
        ("the annual review last June", date(2025, 8, 19), ["2025-06"]),
        ("the annual review last March", date(2025, 12, 1), ["2025-03"]),
        ("the annual review last August", date(2025, 8, 19), ["2024-08"]),
        ("the call last December", date(2026, 1, 10), ["2025-12"]),
        # the Easter and Christmas holidays, of a year
        ("the workshop over the Easter holidays last year", date(2026, 5, 20), ["2025-04"]),
        ("the workshop in the Easter hols", date(2026, 5, 20), ["2026-04"]),
        ("over the Christmas holidays 2024", date(2025, 6, 1), ["2024-12"]),
        # "last week Thursday": that day of the week before this one
        ("the meeting last week Thursday", date(2026, 5, 6), ["2026-04-30"]),
        ("the meeting last week Monday", date(2026, 5, 4), ["2026-04-27"]),
        # a weekday after a call or an email, without "on"
        ("i rang monday and she shouted", date(2026, 3, 4), ["2026-03-02"]),
        ("I phoned Friday and nobody answered", date(2026, 3, 4), ["2026-02-27"]),
    ],
)
def test_more_partial_dates(text: str, base: date, expected: list[str]) -> None:
    assert iso(text, base) == expected


@pytest.mark.parametrize(
    "text",
    [
        "please call me Monday",  # a request, not something that happened
        "Mondays are best for me",
        "last week was hard",  # no day named
    ],
)
def test_not_dates(text: str) -> None:
    assert iso(text, date(2026, 3, 4)) == []


def test_text_that_lower_casing_would_shift_reads_the_same() -> None:
    """find_dates matches case-sensitively over the lower-cased text when that keeps every
    character in place; otherwise ("İ" lower-cases to two characters) it reads the text as
    it is, with the same results and offsets."""
    base = date(2026, 3, 4)
    plain = find_dates("I rang on Monday and again on 3 March 2026.", base)
    shifted = find_dates("\u0130 rang on Monday and again on 3 March 2026.", base)
    assert [(m.start, m.end, m.iso) for m in shifted] == [(m.start, m.end, m.iso) for m in plain]
    assert [m.iso for m in plain] == ["2026-03-02", "2026-03-03"]
