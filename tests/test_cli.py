"""The command line, run as a real subprocess in a scratch folder."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mailfactory import make_email

REPO = Path(__file__).resolve().parents[1]
MAIL = Path(__file__).parent / "fixtures" / "mail"


def cli(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "cli.toml"
    path.write_text(
        f"""
[database]
url = "sqlite:///{tmp_path / "cli.db"}"
[[mailbox]]
name = "durham"
service = "durham"
source = "maildir"
path = "{tmp_path / "mail"}"
[outbound]
transport = "maildir"
path = "{tmp_path / "outbox"}"
""",
        encoding="utf-8",
    )
    return path


def test_help_lists_the_commands(tmp_path: Path) -> None:
    proc = cli("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for command in (
        "run",
        "poll-once",
        "ingest",
        "cases",
        "quarantine",
        "demo",
        "check-config",
        "db",
    ):
        assert command in proc.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["quarantine", "retry", "abc"], "expected a whole number, got 'abc'"),
        (["quarantine", "retry", "0"], "expected a number of 1 or more"),
        (["cases", "export", "--format", "xml"], "invalid choice: 'xml'"),
        (["ingest"], "the following arguments are required: PATH"),
    ],
)
def test_bad_arguments_say_what_was_expected_and_exit_2(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ingest_export_and_quarantine_round_trip(tmp_path: Path, config: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("complaint_plain.eml", "auto_reply.eml", "not_an_email.eml"):
        (folder / name).write_bytes((MAIL / name).read_bytes())
    (folder / "stoke.eml").write_bytes(make_email(service="stoke", subject="Transport"))

    proc = cli(
        "--config",
        str(config),
        "ingest",
        str(folder / "complaint_plain.eml"),
        str(folder / "auto_reply.eml"),
        str(folder / "stoke.eml"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ingested 3 file(s)" in proc.stdout

    # A file addressed to no service needs --service.
    proc = cli("--config", str(config), "ingest", str(folder / "not_an_email.eml"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "not addressed to a known service; give --service" in proc.stderr
    proc = cli(
        "--config",
        str(config),
        "ingest",
        "--service",
        "durham",
        str(folder / "not_an_email.eml"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0 and "quarantine 1" in proc.stdout

    proc = cli("--config", str(config), "cases", "export", cwd=tmp_path)
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["reference"], r["service"]) for r in records] == [
        ("DUR-2026-0001", "durham"),
        ("STO-2026-0001", "stoke"),
    ]
    assert records[0]["message_ids"] == ["<cmp-0001@mail.example.org>"]
    assert set(records[0]) >= {
        "kind",
        "status",
        "stage",
        "received",
        "acknowledge_by",
        "respond_by",
    }

    proc = cli("--config", str(config), "cases", "export", "--format", "csv", cwd=tmp_path)
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["reference"] for r in rows] == ["DUR-2026-0001", "STO-2026-0001"]

    proc = cli("--config", str(config), "quarantine", "list", cwd=tmp_path)
    assert proc.returncode == 0
    assert "[parse] no header fields: not an email message" in proc.stdout
    qid = proc.stdout.split()[0]
    proc = cli("--config", str(config), "quarantine", "retry", qid, cwd=tmp_path)
    assert proc.returncode == 1 and "still quarantined" in proc.stdout
    proc = cli("--config", str(config), "quarantine", "retry", "999", cwd=tmp_path)
    assert proc.returncode == 2 and "no such quarantined message" in proc.stderr

    # The same files again change nothing.
    proc = cli(
        "--config",
        str(config),
        "ingest",
        str(folder / "complaint_plain.eml"),
        str(folder / "stoke.eml"),
        cwd=tmp_path,
    )
    assert "duplicate 2" in proc.stdout


def test_ingest_a_maildir_folder(tmp_path: Path, config: Path) -> None:
    from bot.sources.maildir import deliver

    box = tmp_path / "box"
    for i in range(3):
        deliver(box, make_email(subject=f"Question {i}"))
    proc = cli("--config", str(config), "ingest", str(box), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ingested 3 file(s): continue 3" in proc.stdout


def test_demo_runs_on_the_embedded_default(tmp_path: Path) -> None:
    proc = cli("demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "var" / "sendiass.db").exists()
    assert "Triage queue" in proc.stdout
    assert "DUR-" in proc.stdout and "STO-" in proc.stdout
    # Twelve emails in, three of them automated: nine cases.
    assert "of 9 cases need a person" in proc.stdout
    queue = proc.stdout.split("Triage queue")[1].splitlines()
    assert "safeguarding" in queue[2]  # the first row: a child at risk comes first
    letters = list((tmp_path / "var" / "outbox").glob("*.eml"))
    assert letters
    recipients = " ".join(p.read_text() for p in letters)
    for machine in ("l.harper@example.com", "newsletter@example.org", "mailer-daemon@"):
        assert machine not in recipients
    # Mail already processed was marked done in the Maildir and is not read again.
    again = cli("poll-once", cwd=tmp_path)
    assert again.returncode == 0
    assert "fetched 0" in again.stdout


def test_poll_once_also_sends_the_letters_it_wrote(tmp_path: Path, config: Path) -> None:
    from bot.sources.maildir import deliver

    complaint = make_email(
        subject="Formal complaint",
        body="I want to make a formal complaint: my adviser never called me back before the "
        "annual review last week, as she had promised.\n\nAlex",
    )
    deliver(tmp_path / "mail", complaint)
    proc = cli("--config", str(config), "poll-once", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "durham: fetched 1" in proc.stdout
    assert "letters: sent 1" in proc.stdout
    (letter,) = (tmp_path / "outbox").glob("*.eml")
    assert "alex.parent@example.org" in letter.read_text()
    listed = cli("--config", str(config), "letters", "list", cwd=tmp_path)
    assert listed.stdout.strip() == "no letters waiting"


def test_poll_once_no_send_leaves_letters_in_the_outbox(tmp_path: Path, config: Path) -> None:
    from bot.sources.maildir import deliver

    deliver(
        tmp_path / "mail",
        make_email(subject="Thank you", body="Thank you so much for your help at the "
                   "tribunal, you were wonderful.\n\nAlex"),
    )  # fmt: skip
    proc = cli("--config", str(config), "poll-once", "--no-send", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "letters:" not in proc.stdout
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").glob("*.eml"))
    listed = cli("--config", str(config), "letters", "list", cwd=tmp_path)
    assert "pending" in listed.stdout and "compliment_thanks" in listed.stdout
    assert "staff_notice" in listed.stdout  # the procedure's copy to the service
    sent = cli("--config", str(config), "letters", "send", cwd=tmp_path)
    assert "letters: sent 2" in sent.stdout  # the thanks and the notice to the service
    files = sorted(p.read_text() for p in (tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    assert sum("alex.parent@example.org" in text for text in files) == 1
    assert cli("--config", str(config), "letters", "list", cwd=tmp_path).stdout.strip() == (
        "no letters waiting"
    )
