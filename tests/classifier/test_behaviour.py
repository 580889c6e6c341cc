"""Behaviour the issue asks for, on fictional sentences (not corpus records)."""

from __future__ import annotations

import pytest

from classifiers import Classifier, needs_triage

from .conftest import make_input


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (
            "Thank you for the workshop, it was great. But your adviser was rude to me on the "
            "phone and nobody rang me back. I want an explanation.",
            "complaint",
        ),
        (
            "I don't want to make a formal complaint but I do feel I need to say something: the "
            "adviser shared my information without my permission.",
            "complaint",
        ),
        ("How do I complain about my son's school? Who do I complain to?", "enquiry"),
        (
            "Thank you for your letter. I am not satisfied with the response and would like "
            "someone independent to look at this again.",
            "stage2_request",
        ),
        (
            "Just an idea, would it be possible to have evening sessions? Not a complaint.",
            "comment",
        ),
        ("Just wanted to say a massive thank you, you made a real difference.", "compliment"),
    ],
)
def test_kinds(classifier: Classifier, body: str, kind: str) -> None:
    assert classifier.classify(make_input(body)).kind == kind


def test_out_of_scope_complaint(classifier: Classifier) -> None:
    c = classifier.classify(
        make_input(
            "I want to make a formal complaint about the council SEN "
            "team. They missed the 20 week deadline."
        )
    )
    assert c.kind == "complaint" and c.out_of_scope
    assert needs_triage(c)


def test_stated_complaint_with_a_process_question_is_a_complaint(classifier: Classifier) -> None:
    # The question about where to complain does not cancel a complaint stated on its own.
    c = classifier.classify(
        make_input(
            "I want to complain about the hospital. They cancelled his appointment again. "
            "Who do I complain to, and can you help?"
        )
    )
    assert c.kind == "complaint" and c.out_of_scope
    # ... while the same words inside the question are only a question.
    q = classifier.classify(
        make_input("Who do I complain to about the hospital cancelling his appointment again?")
    )
    assert q.kind == "enquiry"


def test_about_coordinator(classifier: Classifier) -> None:
    c = classifier.classify(
        make_input(
            "I wish to make a complaint about Jane Doe, the coordinator "
            "of your service, who was rude to me on the phone."
        )
    )
    assert c.kind == "complaint" and c.about_coordinator and not c.out_of_scope


def test_safeguarding(classifier: Classifier) -> None:
    c = classifier.classify(
        make_input("Can you advise on exclusion? Last night he said he wants to kill himself.")
    )
    assert c.safeguarding


def test_quoted_text_is_ignored(classifier: Classifier) -> None:
    body = (
        "Thanks so much for your help!\n\nOn 2 Mar 2026, at 16:10, Durham SENDIASS "
        "<sendiass@durham.gov.uk> wrote:\n> Your complaint has been escalated to Stage 2."
    )
    assert classifier.classify(make_input(body)).kind == "compliment"


def test_automated(classifier: Classifier) -> None:
    c = classifier.classify(make_input("I want to make a complaint", subject="Automatic reply: hi"))
    assert c.kind == "automated"
    c = classifier.classify(make_input("hello", automated_reason="Auto-Submitted: auto-replied"))
    assert c.kind == "automated" and c.reasons[0].source == "headers"


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("My complaint reference is IASS/2025/0027.", "IASS-2025-0027"),
        ("Your ref: SOT-IASS-26-003", "SOT-IASS-26-003"),
        ("my case ref 2025-0077", "2025-0077"),
        ("Reference: STA/25/031", "STA/25/031"),
    ],
)
def test_stage1_reference_shapes(classifier: Classifier, text: str, ref: str) -> None:
    c = classifier.classify(
        make_input(
            "I got your reply to my complaint and I am not happy with it. I want it escalated "
            f"to the next stage.\n\n{text}"
        )
    )
    assert c.kind == "stage2_request"
    assert c.stage1_reference == ref


def test_stage1_response_date_from_the_letter_i_got(classifier: Classifier) -> None:
    c = classifier.classify(
        make_input(
            "I'm still not happy with the reply from your manager and want someone else to look "
            "at it. The letter I got on 10/03/2026 says the adviser can't recall telling me the "
            "wrong deadline back in January 2025.",
            received="2026-03-20T10:00:00+00:00",
        )
    )
    assert c.kind == "stage2_request"
    assert c.stage1_response_date == "2026-03-10"
    assert c.event_date == "2025-01"
