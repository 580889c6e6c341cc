"""Every real-world MIME fixture classifies without an exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands.classify import eml_to_input, explain
from classifiers import Classifier

from .conftest import MIME_DIR


def _emls() -> list[Path]:
    return sorted(MIME_DIR.rglob("*.eml")) if MIME_DIR.is_dir() else []


def test_mime_folder_present() -> None:
    assert MIME_DIR.is_dir(), f"missing {MIME_DIR}"
    assert len(_emls()) > 50


@pytest.mark.parametrize("path", _emls(), ids=lambda p: str(p.relative_to(MIME_DIR)))
def test_eml_classifies(classifier: Classifier, path: Path) -> None:
    inp = eml_to_input(path)
    c = classifier.classify(inp)
    assert c.kind
    assert 0.0 <= c.confidence <= 1.0
    assert explain(c)
