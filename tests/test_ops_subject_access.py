"""`subject-access EMAIL --output DIR` through the real CLI, on SQLite and PostgreSQL: two
families, one sharing the other's surname and the end of their address. All fictional."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.models import Case, CaseEvent
from bot.web import actions
from tests.mailfactory import make_email
from tests.opshelpers import COORDINATOR, app_for, case_of, cli, ingest, ok, with_attachment
from tests.opshelpers import write_config as _write_config

PDF = b"%PDF-1.4 Larkspur review minutes (fictional)"
A_COMPLAINT = with_attachment(
    make_email(
        from_name="Jordan Okafor",
        from_addr="okafor@example.org",
        subject="Formal complaint about the Larkspur review",
        body="I want to make a formal complaint. My daughter's annual review was cancelled "
        "twice and nobody has called me back.\n\nJordan Okafor",
        message_id="<jordan-1@example.org>",
    ),
    "review-minutes.pdf",
    PDF,
)
A_REPLY = make_email(
    from_name="Jordan Okafor",
    from_addr="okafor@example.org",
    subject="Re: Formal complaint about the Larkspur review",
    body="One more thing: the school's email said <script>alert(1)</script> at the bottom.",
    message_id="<jordan-2@example.org>",
    in_reply_to="<jordan-1@example.org>",
)
B_COMPLAINT = make_email(
    from_name="Sam Okafor",
    from_addr="j.okafor@example.org",
    subject="Complaint about Quillfeather Lane transport",
    body="I want to make a formal complaint: the transport from Quillfeather Lane has not "
    "come for a week.\n\nSam Okafor",
    message_id="<sam-1@example.net>",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'sar.db'}"
    return str(request.getfixturevalue("pg_url"))


def _log_phone_case(config: Path) -> str:
    app = app_for(config)
    try:
        with app.sessions.begin() as s:
            ctx = actions.Ctx(
                session=s,
                user=COORDINATOR,
                now=datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
                services=app.services,
            )
            case = actions.log_case(
                ctx,
                actions.NewCase(
                    service="durham",
                    channel="phone",
                    via_mp=False,
                    kind="complaint",
                    sender_name="Jordan Okafor",
                    sender_addr="okafor@example.org",
                    received_at=datetime(2026, 11, 20, 9, 45, tzinfo=UTC),
                    summary="Jordan phoned: the Larkspur taxi was late again on Tuesday.",
                ),
            )
            return case.reference
    finally:
        app.engine.dispose()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_export_holds_everything_about_one_family_and_nothing_of_another(
    tmp_path: Path, db_url: str
) -> None:
    config = _write_config(tmp_path, db_url)
    ingest(config, tmp_path, {"a1": A_COMPLAINT, "b1": B_COMPLAINT})
    ingest(config, tmp_path, {"a2": A_REPLY})
    phone_ref = _log_phone_case(config)
    app = app_for(config)
    a = case_of(app, "okafor@example.org")
    b = case_of(app, "j.okafor@example.org")
    app.engine.dispose()

    out_dir = tmp_path / "sar-okafor"
    proc = cli(
        "--config", str(config), "subject-access", "OKAFOR@Example.org", "--output",
        str(out_dir), cwd=tmp_path,
    )  # fmt: skip
    stdout = ok(proc)
    assert f"2 case(s) ({a.reference}, {phone_ref})" in stdout

    # Nothing of the other family anywhere in the export.
    for path in _files(out_dir):
        data = path.read_bytes()
        assert b"Quillfeather" not in data, path
        assert b"j.okafor" not in data, path
        assert b"Sam Okafor" not in data, path
        assert b.reference.encode() not in data, path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(out_dir.stat().st_mode) == 0o700

    index = json.loads((out_dir / "index.json").read_text(encoding="utf-8"))
    assert index["subject_access"]["email"] == "okafor@example.org"
    assert [c["reference"] for c in index["cases"]] == [a.reference, phone_ref]
    emailed, phoned = index["cases"]
    assert [m["message_id"] for m in emailed["messages"]] == [
        "<jordan-1@example.org>",
        "<jordan-2@example.org>",
    ]
    # The raw message exactly as received, and its attachment's bytes.
    assert (out_dir / emailed["messages"][0]["eml"]).read_bytes() == A_COMPLAINT
    (att,) = emailed["messages"][0]["attachments"]
    assert att["filename"] == "review-minutes.pdf"
    assert (out_dir / att["file"]).read_bytes() == PDF
    # The acknowledgement letter that went to them.
    assert emailed["letters"]
    letter_text = (out_dir / emailed["letters"][0]["file"]).read_text(encoding="utf-8")
    assert "To: okafor@example.org" in letter_text
    assert a.reference in letter_text
    # The trail and the coordinator's note of the phone call.
    assert any(e["kind"] == "received" for e in emailed["events"])
    assert [n["text"] for n in phoned["notes"]] == [
        "Jordan phoned: the Larkspur taxi was late again on Tuesday."
    ]
    page = (out_dir / emailed["html"]).read_text(encoding="utf-8")
    assert "Formal complaint about the Larkspur review" in page
    assert "review-minutes.pdf" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page
    assert "Larkspur taxi" in (out_dir / phoned["html"]).read_text(encoding="utf-8")

    # Recorded on each exported case's trail, and only there.
    app = app_for(config)
    with app.sessions() as s:
        recorded = {
            ref: [d for d in s.scalars(
                select(CaseEvent.detail)
                .join(Case, Case.id == CaseEvent.case_id)
                .where(Case.reference == ref, CaseEvent.kind == "subject_access_export")
            )]
            for ref in (a.reference, phone_ref, b.reference)
        }  # fmt: skip
    app.engine.dispose()
    assert len(recorded[a.reference]) == 1
    assert recorded[a.reference][0]["messages"] == 2
    assert len(recorded[phone_ref]) == 1
    assert recorded[b.reference] == []

    # The other family's own request finds only their case.
    other = tmp_path / "sar-sam"
    ok(cli("--config", str(config), "subject-access", "j.okafor@example.org", "--output",
           str(other), cwd=tmp_path))  # fmt: skip
    index = json.loads((other / "index.json").read_text(encoding="utf-8"))
    assert [c["reference"] for c in index["cases"]] == [b.reference]
    for path in _files(other):
        assert b"Larkspur" not in path.read_bytes(), path


def test_subject_access_refuses_a_used_folder_or_a_bad_address(tmp_path: Path) -> None:
    config = _write_config(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("someone else's export")
    proc = cli("--config", str(config), "subject-access", "a@example.org", "--output", str(used),
               cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2
    assert "is not empty" in proc.stderr
    assert [p.name for p in used.iterdir()] == ["keep.txt"]
    proc = cli("--config", str(config), "subject-access", "okafor", "--output",
               str(tmp_path / "new"), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2
    assert "'okafor' is not an email address" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "new").exists()
