"""Where the test data lives: inside the repository, never next to it."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "tests" / "data"
CORPUS_DIR = DATA_DIR / "corpus"
DEV_JSONL = CORPUS_DIR / "dev.jsonl"
MIME_DIR = DATA_DIR / "realworld-mime"
PROCEDURES_DIR = REPO_ROOT / "docs" / "procedures"
