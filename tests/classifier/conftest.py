"""Shared fixtures for the classifier tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from classifiers import Classifier, ClassifierInput, get_classifier
from tests.paths import CORPUS_DIR, DEV_JSONL, MIME_DIR

__all__ = ["CORPUS_DIR", "DEV_JSONL", "MIME_DIR"]


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return get_classifier()


def make_input(
    body: str,
    subject: str = "",
    received: str = "2026-03-04T09:12:00+00:00",
    from_addr: str = "parent@example.org.uk",
    **kw: Any,
) -> ClassifierInput:
    return ClassifierInput(
        service="durham",
        received=datetime.fromisoformat(received),
        from_name="A Parent",
        from_addr=from_addr,
        subject=subject,
        body=body,
        **kw,
    )
