"""A fast command line: short commands do not import the heavy libraries.

Each command runs in a fresh interpreter; at exit it reports which heavy packages ended up
in ``sys.modules``. (Timings are in bench/cli_startup.py, not here.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.commands.web import ROLES
from bot.web.security import ROLES as SECURITY_ROLES

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("spacy", "thinc", "matplotlib", "flask", "werkzeug", "fpdf", "waitress", "argon2")
MARK = "LOADED-MODULES:"

PROBE = f"""
import atexit, json, sys
def _report():
    top = {{m.split(".")[0] for m in sys.modules}}
    print({MARK!r} + json.dumps(sorted(top)), file=sys.stderr)
atexit.register(_report)
from bot.cli import main
sys.exit(main(sys.argv[1:]))
"""


def loaded(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    line = next(x for x in proc.stderr.splitlines() if x.startswith(MARK))
    return proc, set(json.loads(line.removeprefix(MARK)))


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("workdays", "add", "2026-12-24", "3"),
        ("workdays", "between", "2026-12-24", "2027-01-04"),
        ("deadlines", "--service", "durham", "--received", "2026-12-24T10:00"),
    ],
    ids=["help", "workdays-add", "workdays-between", "deadlines"],
)
def test_calendar_commands_import_nothing_heavy(tmp_path: Path, args: tuple[str, ...]) -> None:
    proc, modules = loaded(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr
    assert "spacy" not in modules
    assert "matplotlib" not in modules
    assert modules.isdisjoint({*HEAVY, "sqlalchemy", "alembic", "jinja2"})


@pytest.mark.parametrize(
    "args",
    [("check-config",), ("letters", "list"), ("cases", "export")],
    ids=["check-config", "letters-list", "cases-export"],
)
def test_database_commands_do_not_load_the_classifier_charts_or_web(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    proc, modules = loaded(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr
    assert modules.isdisjoint(HEAVY), modules & set(HEAVY)


def test_poll_once_with_no_new_mail_loads_neither_classifier_nor_migrations(
    tmp_path: Path,
) -> None:
    """What cron pays every minute when nothing came: the first run creates the database
    (Alembic); later runs see it at head without Alembic and never load spaCy, which is
    loaded only when there is a message to classify."""
    first, _ = loaded(tmp_path, "poll-once")
    assert first.returncode == 0, first.stderr
    proc, modules = loaded(tmp_path, "poll-once")
    assert proc.returncode == 0, proc.stderr
    assert "fetched 0" in proc.stdout
    assert modules.isdisjoint({"spacy", "thinc", "alembic", "matplotlib", "flask"}), modules & {
        "spacy",
        "thinc",
        "alembic",
        "matplotlib",
        "flask",
    }


def test_the_command_line_knows_the_web_roles() -> None:
    assert ROLES == SECURITY_ROLES


def test_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    """``sendiass-bot deadlines ... | head -0``: no traceback when the reader has gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the command writes anything
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bot", "deadlines", "--service", "durham",
             "--received", "2026-12-24T10:00"],
            cwd=tmp_path, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=180,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert proc.returncode == 141
    assert proc.stderr == ""
