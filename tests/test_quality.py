"""The code stays clean: ruff (lint and format) on everything, mypy on bot/ and classifiers/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_is_clean(command: list[str]) -> None:
    proc = subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_nothing_reads_outside_the_repository() -> None:
    """A clone with nothing beside it runs every test and benchmark: no path to the team's
    shared folder beside the repository."""
    offenders = []
    for folder in ("bot", "classifiers", "tests", "bench", "config"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix not in {".py", ".toml", ".sh", ".cfg"} or "data" in path.parts:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            shared = "shared"  # spelled apart so this test does not match itself
            for needle in (f"../{shared}", f'parent / "{shared}"', "parents[1].parent"):
                if needle in text and path.name != "test_quality.py":
                    offenders.append(f"{path.relative_to(REPO)}: {needle}")
    assert offenders == []
