"""Learning from coordinators, through the real web server (waitress on 127.0.0.1): a
correction in the case page is stored as a labelled example, `classifier export-labels`
writes it as a corpus record, and the digest and the reports page count it. All people and
events are fictional."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.learning import CORPUS_KEYS, LABEL_KEYS
from bot.models import Case, ClassifierLabel, Message
from bot.reports.digest import build_digest, render_html, render_text
from classifiers.scoring import read_jsonl
from tests.web.conftest import COORD, MANAGER, PASSWORD, Web, build_web
from tests.web.livesrv import LiveServer

ENQUIRY = {
    "from_name": "Sam Iqbal",
    "from_addr": "sam.iqbal@example.org",
    "subject": "Transport",
    "body": "Could someone ring me about transport to school next term? Thanks, Sam",
}
COMPLAINT = {
    "from_name": "Joanna Pike",
    "from_addr": "joanna.pike@example.org",
    "subject": "Complaint about my caseworker",
    "body": "I want to make a formal complaint. My caseworker promised to call me back three "
    "times and never did.\n\nJoanna",
}


class Http:
    """A person in a browser: cookies kept, every POST with the page's CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.token = ""

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=20) as resp:
                text = resp.read().decode("utf-8")
                status = int(resp.status)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")
        found = re.search(r'name="csrf_token" value="([^"]+)"', text)
        if found:
            self.token = found.group(1)
        return status, text

    def post(self, path: str, data: dict[str, str]) -> int:
        body = urllib.parse.urlencode({**data, "csrf_token": self.token}).encode()
        req = urllib.request.Request(self.base + path, data=body, method="POST")
        try:
            with self.opener.open(req, timeout=20) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    def login(self, email: str) -> None:
        self.get("/login")
        self.post("/login", {"email": email, "password": PASSWORD})
        status, _ = self.get("/")
        assert status == 200


@pytest.fixture
def web_db(tmp_path: Path) -> Web:
    return build_web(f"sqlite:///{tmp_path / 'labels.db'}", tmp_path)


def _labels(web: Web) -> list[ClassifierLabel]:
    with web.app.sessions() as s:
        return list(s.scalars(select(ClassifierLabel).order_by(ClassifierLabel.id)))


def test_a_correction_becomes_a_label_an_export_record_and_a_count(
    web_db: Web, tmp_path: Path
) -> None:
    web = web_db
    enquiry = web.ingest(**ENQUIRY)
    complaint = web.ingest(**COMPLAINT)
    assert web.case(enquiry).kind == "enquiry" and web.case(complaint).kind == "complaint"
    with LiveServer(web.flask) as srv:
        cora = Http(srv.url)
        cora.login(COORD)
        # The coordinator reads the enquiry as a complaint about her colleague, dated.
        cora.get(f"/cases/{enquiry}")
        assert cora.post(f"/cases/{enquiry}/event-date", {"event_date": "2026-10-14"}) == 200
        assert cora.post(
            f"/cases/{enquiry}/classify", {"kind": "complaint", "about_coordinator": "on"}
        ) == 200  # fmt: skip
        # ... and confirms the complaint as it stands.
        said = {k: "on" for k, v in (web.case(complaint).flags or {}).items() if v is True}
        said.pop("within_12_months", None)
        cora.get(f"/cases/{complaint}")
        assert cora.post(f"/cases/{complaint}/classify", {"kind": "complaint", **said}) == 200

        # A manager sees the cases but may not correct them.
        mona = Http(srv.url)
        mona.login(MANAGER)
        status, _ = mona.get(f"/cases/{complaint}")
        assert status == 200
        assert mona.post(f"/cases/{complaint}/classify", {"kind": "enquiry"}) == 403
        status, reports = mona.get("/reports")
        assert status == 200

    labels = _labels(web)
    assert len(labels) == 2  # the manager's attempt left none
    corrected, confirmed = labels
    with web.app.sessions() as s:
        first_message = s.scalar(
            select(Message.id).where(Message.case_id == enquiry).order_by(Message.id)
        )
    assert corrected.message_id == first_message and corrected.case_id == enquiry
    assert (corrected.kind, corrected.classifier_kind, corrected.kind_changed) == (
        "complaint",
        "enquiry",
        True,
    )
    assert corrected.about_coordinator and not corrected.safeguarding
    assert corrected.event_date == "2026-10-14"
    assert corrected.labelled_by == f"user:{COORD}" and corrected.labelled_at == web.clock.now
    assert sorted(corrected.changed) == ["about_coordinator", "kind"]
    assert (confirmed.kind, confirmed.kind_changed, confirmed.changed) == ("complaint", False, [])
    assert web.case(complaint).kind == "complaint"  # the manager changed nothing

    # export-labels writes valid corpus records, the corrected kind among them.
    cfg = tmp_path / "labels.toml"
    cfg.write_text(
        f'[database]\nurl = "{web.app.config.database.url}"\n'
        f'[outbound]\ntransport = "maildir"\npath = "{tmp_path / "out"}"\n'
    )
    out = tmp_path / "labels.jsonl"
    assert main(["--config", str(cfg), "classifier", "export-labels", "--output", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [tuple(r) for r in records] == [CORPUS_KEYS, CORPUS_KEYS]
    assert all(tuple(r["label"]) == LABEL_KEYS for r in records)
    parsed = read_jsonl(out)  # the corpus reader accepts them
    assert len(parsed) == 2
    rec = next(r for r in records if "transport" in r["body"])
    assert rec["label"]["kind"] == "complaint"
    assert rec["label"]["about_coordinator"] is True
    assert rec["label"]["event_date"] == "2026-10-14"
    assert rec["label"]["within_12_months"] is True
    assert rec["received"] == "2026-11-05T11:00:00+00:00"
    assert rec["service"] == "durham" and rec["subject"] == "Transport"
    # The sender is replaced by a placeholder; who labelled it is not exported.
    dumped = out.read_text(encoding="utf-8")
    assert "sam.iqbal" not in dumped and "Sam Iqbal" not in dumped
    assert COORD not in dumped
    assert rec["from_addr"].endswith("@example.invalid")
    # --since after the labels: nothing.
    later = tmp_path / "later.jsonl"
    args = ["classifier", "export-labels", "--since", "2026-11-06", "--output", str(later)]
    assert main(["--config", str(cfg), *args]) == 0
    assert later.read_text(encoding="utf-8") == ""

    # The reports page: corrected / classified per kind the classifier gave.
    assert re.search(r"enquiry</th><td>1 / 1 \(100\.0%\)</td><td>1 / 1 \(100\.0%\)", reports)
    assert re.search(r"complaint</th><td>0 / 1 \(0\.0%\)</td><td>0 / 1 \(0\.0%\)", reports)
    assert "Iqbal" not in reports and "ring me" not in reports

    # The managers' digest for the week after: the same counts, nothing personal.
    with web.app.sessions() as s:
        d = build_digest(s, web.app.services, ["durham"], "2026-W46", web.clock.now.date())
    text = render_text(d)
    assert "enquiry: this week 1 / 1 (100.0%); this year 1 / 1 (100.0%)" in text
    assert "complaint: this week 0 / 1 (0.0%); this year 0 / 1 (0.0%)" in text
    html = render_html(d, "cid:x")
    assert "<td>enquiry</td><td>1 / 1 (100.0%)</td>" in html
    assert "Iqbal" not in text and "ring me" not in text and COORD not in text


def test_a_later_correction_replaces_the_earlier_one_in_the_export(web_db: Web) -> None:
    from bot.learning import export_labels

    web = web_db
    case_id = web.ingest(**ENQUIRY)
    with LiveServer(web.flask) as srv:
        cora = Http(srv.url)
        cora.login(COORD)
        cora.get(f"/cases/{case_id}")
        assert cora.post(f"/cases/{case_id}/classify", {"kind": "comment"}) == 200
        web.clock.advance(minutes=5)
        cora.get(f"/cases/{case_id}")
        assert cora.post(f"/cases/{case_id}/classify", {"kind": "enquiry"}) == 200
    assert [lb.kind for lb in _labels(web)] == ["comment", "enquiry"]
    with web.app.sessions() as s:
        records = export_labels(s)
        assert [r["label"]["kind"] for r in records] == ["enquiry"]
        assert records[0]["label"]["notes"] == "coordinator confirmation"
        # The kind the classifier gave was confirmed in the end: no correction counted.
        d = build_digest(s, web.app.services, ["durham"], "2026-W46", web.clock.now.date())
        assert [(c.kind, c.corrected, c.classified) for c in d.corrections_week] == [
            ("enquiry", 0, 1)
        ]
        case = s.get(Case, case_id)
        assert case is not None and case.kind == "enquiry"


def test_export_labels_bad_arguments_exit_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["classifier", "export-labels", "--since", "last week"])
    assert exc.value.code == 2
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "c.db"}"\n'
        f'[outbound]\ntransport = "maildir"\npath = "{tmp_path / "out"}"\n'
    )
    missing = tmp_path / "nowhere" / "x.jsonl"
    args = ["--config", str(cfg), "classifier", "export-labels", "--output", str(missing)]
    assert main(args) == 2
    assert main(["--config", str(cfg), "classifier", "export-labels", "--service", "nope"]) == 2


def test_a_complaint_logged_by_phone_is_neither_exported_nor_counted(web_db: Web) -> None:
    from bot.learning import correction_counts, export_labels
    from bot.reports.data import day_bounds

    web = web_db
    b = web.client()
    b.login(COORD)
    resp = b.post(
        "/cases/new",
        {
            "service": "durham",
            "channel": "phone",
            "kind": "complaint",
            "sender_name": "Morgan Caller",
            "sender_addr": "morgan.caller@example.org",
            "received_at": "2026-11-05T09:30",
            "summary": "Rang to complain that nobody replied to three emails.",
        },
    )
    assert resp.status_code == 303
    case_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    b.act(case_id, "classify", kind="enquiry")
    (label,) = _labels(web)
    assert label.message_id is None and label.kind == "enquiry" and label.kind_changed
    with web.app.sessions() as s:
        assert export_labels(s) == []  # no message to learn from
        week = day_bounds(web.clock.now.date(), web.clock.now.date())
        assert correction_counts(s, ["durham"], *week) == []  # the classifier never saw it
