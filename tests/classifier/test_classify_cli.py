"""The ``classify`` command through ``bot.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main

from .conftest import DEV_JSONL, MIME_DIR

KEYS = {
    "id",
    "kind",
    "confidence",
    "safeguarding",
    "about_coordinator",
    "out_of_scope",
    "event_date",
    "within_12_months",
    "stage1_reference",
    "stage1_response_date",
    "reasons",
    # With the trained model: its version and probabilities, the rules' own kind, the rule ids
    # and the classifier's reasons to hold a letter.
    "model",
    "rule_kind",
    "rule_ids",
    "holds",
}


def _record(**kw: object) -> str:
    rec = {
        "id": "t-1",
        "service": "durham",
        "received": "2026-03-04T09:12:00+00:00",
        "from_name": "A Parent",
        "from_addr": "parent@example.org.uk",
        "subject": "call back",
        "body": "still no call back. not happy",
        "html": False,
    }
    rec.update(kw)
    return json.dumps(rec)


def test_jsonl_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(_record() + "\n\n" + _record(id="t-2", body="Thank you so much!") + "\n")
    assert main(["classify", "--jsonl", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    objs = [json.loads(line) for line in lines]
    assert [o["id"] for o in objs] == ["t-1", "t-2"]
    assert set(objs[0]) == KEYS
    assert objs[0]["kind"] == "complaint"
    assert objs[1]["kind"] == "compliment"


def test_score_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", "--jsonl", str(DEV_JSONL), "--score"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 150
    for line in lines:
        json.loads(line)
    assert "macro-F1" in captured.err
    assert "safeguarding" in captured.err
    assert "automated messages put into a letter-getting kind: 0" in captured.err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", "--jsonl", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl: no such file" in capsys.readouterr().err


def test_malformed_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(_record() + "\n{not json\n")
    assert main(["classify", "--jsonl", str(path)]) == 2
    assert "bad.jsonl:2: invalid JSON" in capsys.readouterr().err


def test_missing_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "x"}) + "\n")
    assert main(["classify", "--jsonl", str(path)]) == 2
    assert "bad.jsonl:1: missing key(s)" in capsys.readouterr().err


def test_eml_explanation(capsys: pytest.CaptureFixture[str]) -> None:
    emls = sorted(MIME_DIR.rglob("*.eml"))[:3]
    assert main(["classify", *map(str, emls)]) == 0
    out = capsys.readouterr().out
    assert out.count("kind:") == 3
    assert "why:" in out


def test_missing_eml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", str(tmp_path / "x.eml")]) == 2
    assert "x.eml: no such file" in capsys.readouterr().err


def test_no_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify"]) == 2
