"""``sendiass-bot deadlines`` and ``sendiass-bot workdays`` through :func:`bot.cli.main`."""

from __future__ import annotations

import json
from typing import Any

import pytest

import bot.cli


@pytest.fixture(autouse=True)
def _only_these_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register only the deadline commands, so other command groups (worked on elsewhere,
    with heavier imports) cannot break these tests."""
    monkeypatch.setattr(bot.cli, "COMMAND_MODULES", ("bot.commands.deadlines",))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = bot.cli.main(list(argv))
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = _run(capsys, *argv)
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def test_deadlines_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "deadlines", "--service", "durham", "--received", "2026-12-24T10:00")
    assert data["service"] == "durham"
    assert data["received"] == "2026-12-24T10:00:00+00:00"
    assert data["clock_starts"] == "2026-12-24"
    assert data["acknowledge_by"] == "2026-12-31"
    assert data["respond_by"] == "2027-01-26"
    assert data["stage"] == 1
    for key in ("clock_starts", "acknowledge_by", "respond_by"):
        assert data["explain"][key]["date"] == data[key]
        assert data["explain"][key]["text"]
    assert "2026-12-28 Boxing Day (observed)" in data["explain"]["acknowledge_by"]["skipped"]
    assert "next_stage_request_by" not in data


def test_deadlines_utc_offset_converted_to_london(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "deadlines", "--service", "coventry", "--received", "2026-07-10T23:30:00Z")
    assert data["received"] == "2026-07-11T00:30:00+01:00"
    assert data["clock_starts"] == "2026-07-13"
    assert data["acknowledge_by"] == "2026-07-16"
    assert data["respond_by"] == "2026-07-27"


def test_deadlines_naive_time_is_london(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "deadlines", "--service", "stoke", "--received", "2026-07-10T23:30")
    assert data["received"] == "2026-07-10T23:30:00+01:00"
    assert data["clock_starts"] == "2026-07-10"


def test_deadlines_with_previous_response(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(
        capsys,
        "deadlines",
        "--service",
        "staffordshire",
        "--received",
        "2027-01-12T15:00",
        "--previous-response",
        "2026-12-10",
    )
    assert data["stage"] == 2
    assert data["next_stage_request_by"] == "2027-01-12"
    assert data["request_on_time"] is True
    assert data["explain"]["next_stage_request_by"]["date"] == "2027-01-12"
    assert data["acknowledge_by"] == "2027-01-19"
    assert data["respond_by"] == "2027-02-09"


def test_deadlines_late_request(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(
        capsys,
        "deadlines",
        "--service",
        "durham",
        "--received",
        "2027-01-13T09:00",
        "--stage",
        "2",
        "--previous-response",
        "2026-12-10",
    )
    assert data["next_stage_request_by"] == "2027-01-12"
    assert data["request_on_time"] is False
    assert data["checks"]["next_stage_request"]["flag"] == "late_next_stage_request"


def test_deadlines_stoke_has_no_request_limit(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(
        capsys,
        "deadlines",
        "--service",
        "stoke",
        "--received",
        "2026-03-23T10:00",
        "--stage",
        "2",
        "--previous-response",
        "2025-01-06",
    )
    assert data["next_stage_request_by"] is None
    assert data["request_on_time"] is True
    assert data["respond_by"] == "2026-04-07"  # two weeks = Easter Monday -> Tuesday
    assert "no time limit" in data["explain"]["next_stage_request_by"]["rule"]


def test_deadlines_stage_and_coordinator(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(
        capsys,
        "deadlines",
        "--service",
        "durham",
        "--received",
        "2026-12-24T10:00",
        "--about-coordinator",
    )
    assert data["stage"] == 2 and data["route"] == "about_coordinator"
    data = _json(
        capsys, "deadlines", "--service", "stoke", "--received", "2026-11-30T10:00", "--stage", "3"
    )
    assert data["stage"] == 3
    assert data["respond_by"] == "2026-12-29"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["deadlines", "--service", "york", "--received", "2026-12-24T10:00"],
            "unknown service 'york' (expected one of coventry, durham, staffordshire, stoke)",
        ),
        (["deadlines", "--service", "durham", "--received", "yesterday"], "ISO 8601"),
        (["deadlines", "--service", "durham", "--received", "2026-02-30T10:00"], "ISO 8601"),
        (["deadlines", "--service", "durham"], "--received"),
        (
            ["deadlines", "--service", "durham", "--received", "2026-12-24T10:00", "--stage", "3"],
            "durham has no stage 3",
        ),
        (
            ["deadlines", "--service", "durham", "--received", "2026-12-24", "--stage", "0"],
            "stage number",
        ),
        (
            [
                "deadlines",
                "--service",
                "durham",
                "--received",
                "2026-12-24T10:00",
                "--previous-response",
                "10/12/2026",
            ],
            "YYYY-MM-DD",
        ),
        (
            [
                "deadlines",
                "--service",
                "durham",
                "--received",
                "2026-12-24T10:00",
                "--stage",
                "1",
                "--previous-response",
                "2026-12-10",
            ],
            "first stage",
        ),
        (["workdays", "add", "2026-12-24", "-1"], "0 to 1000"),
        (["workdays", "add", "2026-12-24", "three"], "0 to 1000"),
        (["workdays", "add", "24/12/2026", "3"], "YYYY-MM-DD"),
        (["workdays", "add", "2026-12-24", "3", "--region", "mars"], "invalid choice"),
        (["workdays", "between", "2026-12-24"], "DATE2"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert expected in err
    last = err.strip().splitlines()[-1]
    assert "error" in last and expected in last


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["workdays", "add", "2026-12-24", "3"], "2026-12-31"),
        (["workdays", "add", "2026-12-24", "0"], "2026-12-24"),
        (["workdays", "add", "2026-04-02", "1"], "2026-04-07"),
        (["workdays", "add", "2028-02-28", "1"], "2028-02-29"),
        (["workdays", "add", "2026-07-31", "1", "--region", "scotland"], "2026-08-04"),
        (["workdays", "add", "2026-07-31", "1", "--region", "england"], "2026-08-03"),
        (["workdays", "add", "2026-03-16", "1", "--region", "northern-ireland"], "2026-03-18"),
        (["workdays", "add", "2026-08-28", "1", "--region", "wales"], "2026-09-01"),
        (["workdays", "between", "2026-12-24", "2027-01-26"], "20"),
        (["workdays", "between", "2026-12-24", "2026-12-28"], "0"),
        (["workdays", "between", "2026-12-29", "2026-12-24"], "-1"),
    ],
)
def test_workdays(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 0, err
    assert out.strip() == expected


def test_workdays_add_explain(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "workdays", "add", "2026-12-24", "1", "--explain")
    assert code == 0
    first, text = out.strip().splitlines()
    assert first == "2026-12-29"
    assert "2026-12-25 Christmas Day" in text and "2026-12-28 Boxing Day (observed)" in text
