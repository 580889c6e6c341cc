"""Behaviour that must generalise beyond the dev corpus: safeguarding cue families and their
hard negatives, and case references however the writer types them."""

from __future__ import annotations

import pytest

from classifiers import Classifier

from .conftest import make_input

SAFEGUARDING = [
    "im 15 and i have started cutting again, ive thought about ending it. please dont tell my mum.",
    "He says he doesn't want to live any more and he has been hurting himself.",
    "B has told staff there was no tea most evenings and she comes in wearing the same clothes.",
    "The taxi dropped my son at the wrong house and drove off. A neighbour found him crying.",
    "Her stepdad slapped her across the face and she is frightened to go home.",
    "He ran away from home on Saturday and the police found him at 2am.",
    "An older boyfriend has been asking her for nudes and she is meeting men she met online.",
]

NOT_SAFEGUARDING = [
    "I am worried sick about the annual review and this whole process is killing me.",
    "My son has anxiety about school and finds transitions hard. What are my options?",
    "At his old school in 2022 he was restrained once; he is settled and happy at his new school.",
    "If you have a safeguarding concern about a child please contact the council's front door.",
    "No one came to the annual review from the council. Can they do that?",
]


@pytest.mark.parametrize("body", SAFEGUARDING)
def test_safeguarding_cue_families(classifier: Classifier, body: str) -> None:
    assert classifier.classify(make_input(body, subject="help")).safeguarding, body


@pytest.mark.parametrize("body", NOT_SAFEGUARDING)
def test_safeguarding_hard_negatives(classifier: Classifier, body: str) -> None:
    assert not classifier.classify(make_input(body, subject="question")).safeguarding, body


@pytest.mark.parametrize(
    "typed",
    ["IASS/2025/0027", "iass 2025 0027", "IASS - 2025 - 0027", "IASS_2025.0027", "IASS20250027"],
)
def test_reference_shapes_normalised(classifier: Classifier, typed: str) -> None:
    body = (
        f"Re: {typed}\n\nThank you for your Stage 1 response of 2 May. I remain dissatisfied "
        "and would like my complaint escalated to Stage 2."
    )
    c = classifier.classify(make_input(body, subject="Complaint review"))
    assert c.kind == "stage2_request"
    assert c.stage1_reference == "IASS-2025-0027"
