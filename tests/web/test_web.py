"""The web UI with the Flask test client against a real database built with build_app:
permissions, CSRF, XSS, throttling, the trail, the queue and every action."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from bot.config import WebConfig
from bot.models import (
    Case,
    CaseEvent,
    CaseFile,
    CaseNote,
    LearningRecord,
    LoginAttempt,
    Message,
    OutboxLetter,
)
from bot.pipeline.context import Source
from bot.web import create_app
from bot.web.render import highlight, sanitise_html
from tests.web.conftest import (
    ADMIN,
    BOTH,
    COORD,
    COORD_STOKE,
    MANAGER,
    NOW,
    SECRET,
    Web,
    build_web,
)

COMPLAINT = (
    "I want to make a formal complaint. My caseworker promised to call me back three times "
    "and never did, and the advice about my son's EHC plan was wrong.\n\nJoanna"
)
SAFEGUARDING = (
    "Please help. My daughter has started cutting herself again and says she wants to die. "
    "The school will not listen.\n\nPriya"
)


def events(web: Web, case_id: int, kind: str | None = None) -> list[CaseEvent]:
    with web.app.sessions() as s:
        q = select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        if kind:
            q = q.where(CaseEvent.kind == kind)
        return list(s.scalars(q))


def letters(web: Web, case_id: int) -> list[OutboxLetter]:
    with web.app.sessions() as s:
        q = select(OutboxLetter).where(OutboxLetter.case_id == case_id).order_by(OutboxLetter.id)
        return list(s.scalars(q))


def with_attachment(body: str, filename: str, content_type: str, data: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Joanna Pike <joanna.pike@example.org>"
    msg["To"] = "sendiass@durham.gov.uk"
    msg["Subject"] = "Complaint with evidence"
    msg["Date"] = "Thu, 05 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = "<attach-1@example.org>"
    msg.set_content(body)
    maintype, subtype = content_type.split("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


# ------------------------------------------------------------------------ sign-in, access


def test_pages_need_a_signed_in_user(web: Web) -> None:
    b = web.client()
    case_id = web.ingest(body=COMPLAINT, subject="Complaint")
    for url in ("/", f"/cases/{case_id}", "/reports", "/cases/new"):
        resp = b.get(url)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], url
    assert b.login(COORD, "wrong password").status_code == 401
    resp = b.login(COORD)
    assert resp.status_code == 303
    assert b.get("/").status_code == 200


def test_session_cookie_is_httponly_lax_and_secure_unless_configured_off(web: Web) -> None:
    b = web.client()
    cookie = b.login(COORD).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secure = create_app(web.app, WebConfig(), secret_key=SECRET).test_client()
    from tests.web.conftest import Browser

    cookie = Browser(secure).login(COORD).headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_coordinator_of_one_service_cannot_open_another_services_case(web: Web) -> None:
    durham = web.ingest(body=COMPLAINT, subject="Complaint")
    stoke = web.ingest("stoke", body=COMPLAINT, subject="Complaint", from_addr="x@example.org")
    b = web.client()
    b.login(COORD)
    queue = b.get("/").get_data(as_text=True)
    assert f"/cases/{durham}" in queue and f"/cases/{stoke}" not in queue
    assert b.get(f"/cases/{stoke}").status_code == 404
    assert b.post(f"/cases/{stoke}/assign", {"handler": "me@example.org"}).status_code == 404
    assert web.case(stoke).handler is None
    denied = events(web, stoke, "access_denied")
    assert [e.actor for e in denied] == [f"user:{COORD}", f"user:{COORD}"]
    assert not events(web, stoke, "viewed")
    # the other service's coordinator can
    other = web.client()
    other.login(COORD_STOKE)
    assert other.get(f"/cases/{stoke}").status_code == 200
    assert other.get(f"/cases/{durham}").status_code == 404


def test_manager_sees_reports_and_deadlines_but_not_bodies(web: Web) -> None:
    raw = with_attachment(COMPLAINT, "evidence.pdf", "application/pdf", b"%PDF-1.4 fictional")
    web.app.intake.process(raw, Source("durham", "durham"))
    with web.app.sessions() as s:
        case = s.scalar(select(Case))
        assert case is not None
        att_id = s.scalar(select(CaseEvent.id))  # any id; real one below
        msg = s.scalar(select(Message).where(Message.case_id == case.id))
        assert msg is not None and msg.attachments
        att_id = msg.attachments[0].id
    m = web.client()
    m.login(MANAGER)
    page = m.get(f"/cases/{case.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "call me back three times" not in text
    assert "joanna.pike@example.org" not in text and "Complaint with evidence" not in text
    assert "Respond by" in text and case.reference in text
    assert m.get(f"/cases/{case.id}/attachments/{att_id}").status_code == 404
    queue = m.get("/").get_data(as_text=True)
    assert case.reference in queue and "Joanna" not in queue
    assert m.get("/reports").status_code == 200
    assert m.post(f"/cases/{case.id}/assign", {"handler": "x@example.org"}).status_code == 403
    viewed = events(web, case.id, "viewed")
    assert viewed[-1].actor == f"user:{MANAGER}" and viewed[-1].detail == {"bodies": False}
    # a manager who is also the service's coordinator reads everything
    both = web.client()
    both.login(BOTH)
    assert "call me back three times" in both.get(f"/cases/{case.id}").get_data(as_text=True)
    # a coordinator gets no reports; an admin gets reports and no cases
    c = web.client()
    c.login(COORD)
    assert c.get("/reports").status_code == 403
    a = web.client()
    a.login(ADMIN)
    assert a.get("/").status_code == 302 and a.get("/reports").status_code == 200
    assert a.get(f"/cases/{case.id}").status_code == 404


# ---------------------------------------------------------------------------------- CSRF


def test_posts_without_the_csrf_token_are_rejected(web: Web) -> None:
    case_id = web.ingest(body=COMPLAINT, subject="Complaint")
    b = web.client()
    b.login(COORD)
    for data in ({}, {"csrf_token": "forged"}):
        resp = b.post(f"/cases/{case_id}/assign", {"handler": "x@example.org", **data}, csrf=False)
        assert resp.status_code == 400
    assert web.case(case_id).handler is None
    # (a case is assigned only to an account or a configured stage handler: bot.routing)
    handler = "cascomplaints@durham.gov.uk"
    assert b.post(f"/cases/{case_id}/assign", {"handler": handler}).status_code == 303
    assert web.case(case_id).handler == handler
    # the login form is protected too, and a fresh session gets a fresh token
    fresh = web.client()
    resp = fresh.c.post("/login", data={"email": COORD, "password": "whatever"})
    assert resp.status_code == 400
    # signing out is a POST with the token
    assert b.post("/logout", csrf=False).status_code == 400
    assert b.post("/logout").status_code == 303
    assert b.get("/").status_code == 302


# ----------------------------------------------------------------------------------- XSS

EVIL_HTML = """<html><head><style>body{display:none}</style>
<script>alert('head')</script></head><body>
<p onclick="steal()">Dear team, <b>I am unhappy</b> with the advice.</p>
<img src="https://tracker.example/pixel.gif?u=1" width="1" height="1">
<img src=x onerror="alert(document.cookie)">
<img src="cid:logo@example.org" alt="logo">
<a href="javascript:alert(1)">click me</a>
<a href="https://example.org/info">more</a>
<iframe src="https://evil.example/"></iframe>
<form action="https://evil.example/"><input name="pw"></form>
<svg><script>alert(2)</script></svg>
<script>document.write('x')</script>
</body></html>"""


def test_html_email_is_neutralised(web: Web) -> None:
    case_id = web.ingest(
        body="Dear team, I am unhappy with the advice and want to complain.",
        html_body=EVIL_HTML,
        subject="<script>alert('subject')</script>",
        from_name="<img src=x onerror=alert(1)>",
    )
    b = web.client()
    b.login(COORD)
    resp = b.get(f"/cases/{case_id}")
    html = resp.get_data(as_text=True)
    assert "I am unhappy" in html
    lowered = html.lower()
    for bad in (
        "<script",
        "onerror",
        "onclick",
        "javascript:",
        "tracker.example",
        "evil.example",
        "<iframe",
        "<style>",
        "display:none",
    ):
        assert bad not in lowered, bad
    assert "/static/blocked-image.svg" in html and "/static/inline-image.svg" in html
    assert "&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;" in html
    assert 'rel="noopener noreferrer nofollow"' in html
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "img-src 'self' data:" in csp
    assert "unsafe-inline" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"


def test_sanitiser_and_highlighter_units() -> None:
    out = str(sanitise_html('<a href="JaVaScRiPt:alert(1)">x</a><img src="//evil/x.png">'))
    assert "javascript" not in out.lower() and "evil" not in out
    text = "He <b>never</b> called & I complained."
    marked = str(
        highlight(
            text,
            [
                {
                    "rule": "r1",
                    "decision": "kind=complaint",
                    "text": "never",
                    "start": 7,
                    "end": 12,
                },
                {"rule": "r2", "decision": "kind=complaint", "text": "COMPLAINED", "start": -1},
                {"rule": "r3", "decision": "x", "text": "", "start": 0, "end": 1},
                {"rule": "r4", "decision": "x", "text": "subject", "source": "subject"},
            ],
        )
    )
    assert marked == (
        'He &lt;b&gt;<mark title="r1: kind=complaint">never</mark>&lt;/b&gt; called &amp; I '
        '<mark title="r2: kind=complaint">complained</mark>.'
    )


def test_attachments_download_with_safe_headers(web: Web) -> None:
    raw = with_attachment(COMPLAINT, '../../evil".html', "text/html", b"<script>alert(1)</script>")
    web.app.intake.process(raw, Source("durham", "durham"))
    with web.app.sessions() as s:
        msg = s.scalar(select(Message))
        assert msg is not None and msg.case_id is not None
        att_id, case_id = msg.attachments[0].id, msg.case_id
    b = web.client()
    b.login(COORD)
    resp = b.get(f"/cases/{case_id}/attachments/{att_id}")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/octet-stream"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="evil_.html"')
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert events(web, case_id, "attachment_downloaded")[-1].actor == f"user:{COORD}"
    # an attachment of another case is not reachable through this one
    other = web.ingest(body=COMPLAINT, subject="Another")
    assert b.get(f"/cases/{other}/attachments/{att_id}").status_code == 404


# ----------------------------------------------------------------------------- throttling


def test_login_throttling_survives_a_restart_and_expires(web: Web, tmp_path: Path) -> None:
    b = web.client()
    for _ in range(5):
        assert b.login(COORD, "not the password").status_code == 401
    resp = b.login(COORD)  # right password, but throttled
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "900"
    # a new process on the same database still refuses
    again = create_app(web.app, WebConfig(cookie_secure=False), secret_key=SECRET)
    from tests.web.conftest import Browser

    assert Browser(again.test_client()).login(COORD).status_code == 429
    # other accounts are not locked by this one's failures
    assert web.client().login(MANAGER).status_code == 303
    web.clock.advance(minutes=16)
    assert b.login(COORD).status_code == 303
    with web.app.sessions() as s:
        rows = s.scalars(select(LoginAttempt).where(LoginAttempt.email == COORD)).all()
    assert [r.success for r in rows] == [False] * 5 + [True]


def test_login_throttling_per_address(web: Web) -> None:
    b = web.client()
    for i in range(20):
        assert b.login(f"nobody{i}@example.org", "guess").status_code == 401
    assert b.login(COORD).status_code == 429


# ------------------------------------------------------------------------------- queue


def test_queue_is_most_urgent_first_and_filters(web: Web) -> None:
    today = date(2026, 11, 5)
    ids = {
        "on_track": web.ingest(body=COMPLAINT, subject="on track", from_addr="a1@example.org"),
        "soon": web.ingest(body=COMPLAINT, subject="soon", from_addr="a2@example.org"),
        "today": web.ingest(body=COMPLAINT, subject="today", from_addr="a3@example.org"),
        "overdue": web.ingest(body=COMPLAINT, subject="overdue", from_addr="a4@example.org"),
        "safe": web.ingest(body=SAFEGUARDING, subject="help", from_addr="a5@example.org"),
        "held": web.ingest(
            body=COMPLAINT,
            subject="held",
            from_addr="a6@example.org",
            headers={"Reply-To": "someone.else@example.org"},
        ),
    }
    due = {
        "on_track": today + timedelta(days=20),
        "soon": date(2026, 11, 9),
        "today": today,
        "overdue": today - timedelta(days=2),
        "safe": today + timedelta(days=20),
        "held": today + timedelta(days=21),
    }
    with web.app.sessions.begin() as s:
        for name, case_id in ids.items():
            case = s.get(Case, case_id)
            assert case is not None
            case.acknowledge_by = due[name]
            case.respond_by = due[name] + timedelta(days=30)
        # the other letters must not count as held for this test
        for letter in s.scalars(select(OutboxLetter)):
            if letter.case_id != ids["held"] and letter.status == "held":
                letter.status = "discarded"
    assert web.case(ids["safe"]).safeguarding is True
    assert [x.status for x in letters(web, ids["held"])] == ["held"]
    b = web.client()
    b.login(COORD)
    html = b.get("/").get_data(as_text=True)
    order = [int(x) for x in re.findall(r'<td><a href="/cases/(\d+)">', html)]
    expected = ["safe", "held", "overdue", "today", "soon", "on_track"]
    assert order == [ids[n] for n in expected]
    assert "badge-overdue" in html and "badge-due_today" in html and "badge-due_soon" in html
    assert "Safeguarding" in html and "Letter waiting for approval" in html
    # filters and search
    ref = web.case(ids["today"]).reference
    html = b.get(f"/?q={ref}").get_data(as_text=True)
    assert re.findall(r'<td><a href="/cases/(\d+)">', html) == [str(ids["today"])]
    html = b.get("/?q=a4@EXAMPLE").get_data(as_text=True)
    assert re.findall(r'<td><a href="/cases/(\d+)">', html) == [str(ids["overdue"])]
    html = b.get("/?kind=compliment").get_data(as_text=True)
    assert "Nothing here" in html
    # pages are keyset positions (issue 17: no OFFSET); a bad value says which parameter (400)
    assert b.get("/?after=0.99999.50").status_code == 200  # a case that is gone: first page
    for bad in ("service=stoke", "stage=x", "status=bogus", "after=0", "due_from=2026-13-01"):
        resp = b.get(f"/?{bad}")
        assert resp.status_code == 400, bad
        assert bad.split("=")[0] + ":" in resp.get_data(as_text=True), bad


def test_queue_paginates(web: Web) -> None:
    for i in range(53):
        web.ingest(body=COMPLAINT, subject=f"c{i}", from_addr=f"p{i}@example.org")
    b = web.client()
    b.login(COORD)
    first = b.get("/").get_data(as_text=True)
    assert "cases 1 to 50 of 53" in first and len(re.findall(r'<td><a href="/cases/', first)) == 50
    after = re.search(r'href="/\?after=([0-9.]+)" rel="next"', first)
    assert after is not None
    second = b.get(f"/?after={after.group(1)}").get_data(as_text=True)
    assert "cases 51 to 53 of 53" in second and 'rel="next"' not in second
    ids = re.findall(r'<td><a href="/cases/(\d+)', first) + re.findall(
        r'<td><a href="/cases/(\d+)', second
    )
    assert len(set(ids)) == 53


# ------------------------------------------------------------------------ trail, actions


def test_every_view_and_change_is_on_the_trail_with_the_user(web: Web) -> None:
    case_id = web.ingest(body=COMPLAINT, subject="Complaint")
    b = web.client()
    b.login(COORD)
    for _ in range(3):
        assert b.get(f"/cases/{case_id}").status_code == 200
    viewed = events(web, case_id, "viewed")
    assert len(viewed) == 3 and {e.actor for e in viewed} == {f"user:{COORD}"}
    b.act(case_id, "assign", handler="cascomplaints@durham.gov.uk")
    b.act(case_id, "event-date", event_date="2026-10-01")
    b.act(case_id, "acknowledge")
    mine = [e for e in events(web, case_id) if e.actor == f"user:{COORD}"]
    assert [e.kind for e in mine if e.kind != "viewed"] == [
        "assigned",
        "notified",
        "event_date_set",
        "acknowledge",
    ]
    case = web.case(case_id)
    assert case.status == "acknowledged" and case.event_date == "2026-10-01"
    assert case.lifecycle is not None and case.lifecycle["acknowledged_on"] == "2026-11-05"


def test_correcting_the_kind_keeps_both_verdicts(web: Web) -> None:
    case_id = web.ingest(
        body="Could someone ring me about transport to school next term? Thanks, Sam",
        subject="Transport question",
    )
    before = web.case(case_id)
    assert before.kind == "enquiry" and before.acknowledge_by is None
    b = web.client()
    b.login(COORD)
    b.act(case_id, "classify", kind="complaint", about_coordinator="on")
    case = web.case(case_id)
    assert case.kind == "complaint" and case.flags["about_coordinator"] is True
    corrected = case.classification["corrected"]
    assert corrected["original"]["kind"] == "enquiry" and corrected["kind"] == "complaint"
    assert set(corrected["changed"]) == {"kind", "about_coordinator"}
    assert corrected["by"] == f"user:{COORD}"
    assert case.acknowledge_by is not None and case.respond_by is not None
    ev = events(web, case_id, "classification_corrected")[-1]
    assert (
        ev.detail["original"]["kind"] == "enquiry" and ev.detail["corrected"]["kind"] == "complaint"
    )
    # about the coordinator: the Stage 2 handler is told and the case leaves the
    # coordinators' queue (bot.routing), so this coordinator may no longer act on it
    assert [x.purpose for x in letters(web, case_id)] == ["complaint_ack", "staff_notice"]
    assert letters(web, case_id)[0].status == "held"
    assert letters(web, case_id)[1].to_addr == "cascomplaints@durham.gov.uk"
    resp = b.post(f"/cases/{case_id}/classify", {"kind": "complaint"})
    assert resp.status_code == 404
    again = web.case(case_id).classification["corrected"]
    assert again["original"]["kind"] == "enquiry" and again["kind"] == "complaint"
    # a confirmation without change is recorded as such
    other = web.ingest(body=COMPLAINT, subject="Complaint", from_addr="q@example.org")
    kind = web.case(other).kind
    flags = {
        k: "on"
        for k in ("safeguarding", "about_coordinator", "out_of_scope")
        if web.case(other).flags.get(k)
    }
    b.act(other, "classify", kind=kind, **flags)
    assert events(web, other, "classification_confirmed")


def test_held_letters_are_approved_edited_or_discarded(web: Web) -> None:
    case_id = web.ingest(
        body=COMPLAINT, subject="Complaint", headers={"Reply-To": "other@example.org"}
    )
    [letter] = letters(web, case_id)
    assert letter.status == "held"
    b = web.client()
    b.login(COORD)
    b.act(
        case_id,
        "letter",
        letter_id=letter.id,
        op="edit",
        subject="Your complaint",
        body="Dear Joanna,\r\nWe have your complaint.\r\n",
    )
    [edited] = letters(web, case_id)
    assert edited.body_text == "Dear Joanna,\nWe have your complaint.\n"
    assert edited.body_html is None and edited.subject.startswith(
        f"[{web.case(case_id).reference}]"
    )
    b.act(case_id, "letter", letter_id=letter.id, op="approve")
    assert letters(web, case_id)[0].status == "pending"
    b.act(case_id, "letter", letter_id=letter.id, op="approve")  # not held any more: refused
    assert b.flashes()[-1][0] == "error"
    b.act(case_id, "letter", letter_id=letter.id, op="discard")
    assert letters(web, case_id)[0].status == "discarded"
    kinds = [e.kind for e in events(web, case_id) if e.actor == f"user:{COORD}"]
    assert [k for k in kinds if k.startswith("letter_")] == [
        "letter_edited",
        "letter_approved",
        "letter_discarded",
    ]
    # a letter id of another case is refused
    other = web.ingest(body=COMPLAINT, subject="Other", from_addr="o@example.org")
    b.act(other, "letter", letter_id=letter.id, op="discard")
    assert "is not a letter of" in b.flashes()[-1][1]


def test_stage_one_to_closure(web: Web) -> None:
    case_id = web.ingest(body=COMPLAINT, subject="Complaint")
    b = web.client()
    b.login(COORD)
    b.act(case_id, "extend", new_date="2026-12-31", reason="waiting for the school")
    assert b.flashes()[-1][0] == "error"  # received: acknowledge first (lifecycle says so)
    b.act(case_id, "acknowledge")
    respond_by = web.case(case_id).respond_by
    assert respond_by is not None
    new_date = respond_by + timedelta(days=14)
    b.act(case_id, "extend", new_date=new_date.isoformat(), reason="waiting for the school")
    case = web.case(case_id)
    assert case.respond_by == new_date and case.lifecycle["extended"] is True
    assert case.deadlines["explain"]["respond_by"]["date"] == new_date.isoformat()
    ext = [x for x in letters(web, case_id) if x.purpose == "extension_notice"]
    assert len(ext) == 1 and ext[0].status == "pending"
    resp = b.c.post(
        f"/cases/{case_id}/respond",
        data={
            "csrf_token": b.csrf(),
            "response_date": "2026-11-20",
            "summary": "We apologise; the caseworker will call weekly.",
            "send_letter": "on",
            "file": (__import__("io").BytesIO(b"%PDF fictional response"), "response.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 303
    case = web.case(case_id)
    assert case.status == "responded" and case.next_stage_request_by is not None
    assert case.lifecycle["responded_on"] == "2026-11-20"
    assert "next_stage_request_by" in case.deadlines["explain"]
    with web.app.sessions() as s:
        assert s.scalar(select(CaseNote.text).where(CaseNote.kind == "stage_response"))
        f = s.scalar(select(CaseFile))
        assert f is not None and f.filename == "response.pdf"
    assert [x.status for x in letters(web, case_id) if x.purpose == "stage_response"] == ["held"]
    page = b.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "response.pdf" in page and "Next stage may be requested until" in page
    close = {
        "reason": "resolved",
        "outcome": "partly_upheld",
        "justification": "part_justified",
        "note": "resolved at Stage 1",
    }
    # the held response letter: closing asks whether to cancel or keep it (issue 15)
    b.act(case_id, "close", **close)
    assert b.flashes()[-1][0] == "error" and "stage response (held)" in b.flashes()[-1][1]
    assert "unsent letter" in b.flashes()[-1][1] and web.case(case_id).status == "responded"
    b.act(case_id, "close", letters="keep", **close)
    case = web.case(case_id)
    assert case.status == "closed" and case.closure_reason == "resolved"
    assert case.outcome == "partly_upheld" and case.justification == "part_justified"
    assert case.closed_at == NOW and case.due_on is None
    b.act(
        case_id,
        "learning",
        you_said="Calls were not returned.",
        we_did="Weekly calls.",
        what_else="Audit call-backs monthly.",
        justification="part_justified",
    )
    with web.app.sessions() as s:
        rec = s.scalar(select(LearningRecord))
        assert rec is not None and rec.service == "durham" and rec.we_did == "Weekly calls."
    closing = events(web, case_id, "close")[-1]
    assert closing.actor == f"user:{COORD}" and closing.detail["outcome"] == "partly_upheld"


def test_next_stage_and_withdrawal(web: Web) -> None:
    case_id = web.ingest(body=COMPLAINT, subject="Complaint")
    b = web.client()
    b.login(COORD)
    b.act(case_id, "investigate")
    b.act(case_id, "respond", response_date="2026-11-06", summary="Outcome given.")
    b.act(case_id, "next-stage", requested_on="2026-11-10")
    case = web.case(case_id)
    assert case.stage == 2 and case.status == "next_stage_requested"
    assert case.acknowledge_by is not None and case.acknowledge_by > date(2026, 11, 10)
    assert [x.purpose for x in letters(web, case_id)][-1] == "next_stage_ack"
    b.act(case_id, "withdraw", note="they rang to withdraw", letters="cancel")
    assert {x.status for x in letters(web, case_id) if x.purpose == "next_stage_ack"} == {
        "discarded"
    }
    case = web.case(case_id)
    assert case.status == "closed" and case.closure_reason == "withdrawn"
    b.act(case_id, "acknowledge")
    assert "cannot acknowledge" in b.flashes()[-1][1]


def test_link_and_merge_duplicates(web: Web) -> None:
    a = web.ingest(body=COMPLAINT, subject="Complaint", from_addr="dup@example.org")
    dup = web.ingest(
        body=COMPLAINT + " (sent again)", subject="Complaint", from_addr="dup@example.org"
    )
    c = web.ingest(body=COMPLAINT, subject="Complaint", from_addr="rel@example.org")
    b = web.client()
    b.login(COORD)
    b.act(a, "link", reference=web.case(c).reference, mode="link")
    assert web.case(a).flags["linked"] == [web.case(c).reference]
    assert web.case(c).flags["linked"] == [web.case(a).reference]
    b.act(a, "link", reference=web.case(dup).reference, mode="merge")
    merged = web.case(dup)
    assert merged.status == "closed" and merged.merged_into_id == a
    with web.app.sessions() as s:
        assert s.scalar(select(Message.case_id).where(Message.case_id == dup)) is None
        assert len(s.scalars(select(Message).where(Message.case_id == a)).all()) == 2
    assert events(web, a, "merged_from") and events(web, dup, "merged_into")
    stoke = web.ingest("stoke", body=COMPLAINT, subject="Complaint", from_addr="s@example.org")
    b.act(a, "link", reference=web.case(stoke).reference, mode="merge")
    assert "no case" in b.flashes()[-1][1]


def test_log_a_complaint_made_by_letter_via_an_mp(web: Web) -> None:
    # A letter (in writing, durham L67-70) starts the formal clock at once; a phone complaint
    # waits for the writing (tests/web/test_procedure_walks.py).
    b = web.client()
    b.login(COORD)
    resp = b.post(
        "/cases/new",
        {
            "service": "durham",
            "channel": "letter",
            "via_mp": "on",
            "kind": "complaint",
            "sender_name": "Morgan Caller",
            "sender_addr": "morgan.caller@example.org",
            "received_at": "2026-11-05T09:30",
            "summary": "Wrote to complain that nobody replied to three emails.",
        },
    )
    assert resp.status_code == 303
    case_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    case = web.case(case_id)
    assert re.fullmatch(r"DUR-2026-\d{4}", case.reference)
    assert case.channel == "letter" and case.via_mp is True and case.status == "received"
    assert case.acknowledge_by is not None and case.respond_by is not None
    assert case.deadlines["explain"]["respond_by"]["text"]
    assert [e.kind for e in events(web, case_id)] == ["logged", "open", "letter_held"]
    assert events(web, case_id)[0].actor == f"user:{COORD}"
    assert [x.purpose for x in letters(web, case_id)] == ["complaint_ack"]
    page = b.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "nobody replied to three emails" in page and "via an MP" in page
    # a bad form is shown again with the error, nothing created
    bad = b.post("/cases/new", {"service": "stoke", "channel": "phone", "sender_name": "X"})
    assert bad.status_code == 400
    m = web.client()
    m.login(MANAGER)
    assert m.get("/cases/new").status_code == 403
    report = m.get("/reports").get_data(as_text=True)
    assert "Via MP" in report


# ------------------------------------------------------------------------------ health


def test_healthz(web: Web, tmp_path: Path) -> None:
    resp = web.client().get("/healthz")
    body = resp.get_json()
    assert resp.status_code == 200 and (body["status"], body["database"]) == ("ok", "ok")
    # No daemon has written a heartbeat here: the web server is healthy on its own.
    assert body["daemon"] == {"state": "not seen", "heartbeat_age_seconds": None, "stale": []}
    broken = dataclasses.replace(
        web.app, engine=create_engine(f"sqlite:///{tmp_path}/missing/dir/none.db")
    )
    app = create_app(broken, WebConfig(cookie_secure=False), secret_key=SECRET)
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503 and resp.get_json()["database"] == "unreachable"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_queue_and_case_page_on_both_databases(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'b.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    w = build_web(url, tmp_path)
    try:
        safe = w.ingest(body=SAFEGUARDING, subject="help")
        plain = w.ingest(body=COMPLAINT, subject="Complaint", from_addr="z@example.org")
        b = w.client()
        b.login(COORD)
        html = b.get("/").get_data(as_text=True)
        assert re.findall(r'<td><a href="/cases/(\d+)">', html)[0] == str(safe)
        assert b.get(f"/cases/{plain}").status_code == 200
        b.act(plain, "acknowledge")
        assert w.case(plain).status == "acknowledged"
        found = b.get("/?q=Z@Example").get_data(as_text=True)
        assert re.findall(r'<td><a href="/cases/(\d+)">', found) == [str(plain)]
        ref = w.case(safe).reference
        found = b.get(f"/?q={ref.lower()}").get_data(as_text=True)
        assert re.findall(r'<td><a href="/cases/(\d+)">', found) == [str(safe)]
        m = w.client()
        m.login(MANAGER)
        assert m.get("/reports").status_code == 200
    finally:
        w.app.engine.dispose()


# ------------------------------------------------------------------------ CLI, config


def test_users_command_adds_accounts_and_refuses_bad_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEW_PW", "a long fictional password")
    assert main(["users", "add", "New.Coord@Example.org", "--role", "coordinator",
                 "--service", "durham", "--password-env", "NEW_PW"]) == 0  # fmt: skip
    assert "new.coord@example.org: added" in capsys.readouterr().out
    with open(__file__) as not_a_terminal:  # no terminal: a password is generated, shown once
        monkeypatch.setattr("sys.stdin", not_a_terminal)
        assert main(["users", "add", "boss@example.org", "--role", "manager"]) == 0
    out = capsys.readouterr().out
    assert "password (shown once): " in out
    assert main(["users", "add", "x@example.org", "--role", "coordinator"]) == 2
    assert "needs at least one --service" in capsys.readouterr().err
    assert (
        main(["users", "add", "x@example.org", "--role", "coordinator", "--service", "nowhere"])
        == 2
    )
    with pytest.raises(SystemExit) as exc:
        main(["users", "add", "x@example.org", "--role", "king"])
    assert exc.value.code == 2
    assert main(["users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "new.coord@example.org" in listing and "boss@example.org" in listing
    assert main(["users", "disable", "boss@example.org"]) == 0


def test_web_configuration_keys() -> None:
    from bot.config import parse_config
    from bot.errors import ConfigError

    base = {"database": {"url": "sqlite://"}, "outbound": {"transport": "maildir", "path": "x"}}
    cfg = parse_config(base, "t")
    assert cfg.web == WebConfig()
    assert cfg.web.host == "127.0.0.1" and cfg.web.port == 8080 and cfg.web.cookie_secure
    cfg = parse_config(
        {**base, "web": {"port": 9000, "cookie_secure": False, "secret_key_file": "k"}}, "t"
    )
    assert cfg.web.port == 9000 and cfg.web.secret_key_file == Path("k")
    for bad in ({"prot": 1}, {"port": "80"}, {"secret_key_env": "A", "secret_key_file": "b"}):
        with pytest.raises(ConfigError):
            parse_config({**base, "web": bad}, "t")


def test_cookie_secure_off_is_refused_away_from_localhost(web: Web) -> None:
    from bot.errors import UserError
    from bot.web import serve

    off = dataclasses.replace(
        web.app, config=dataclasses.replace(web.app.config, web=WebConfig(cookie_secure=False))
    )
    with pytest.raises(UserError, match="cookie_secure"):
        serve(off, host="0.0.0.0", port=1)


def test_secret_key_is_generated_once_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.web.security import secret_key

    path = tmp_path / "var" / "web_secret_key"
    first = secret_key(WebConfig(), path)
    assert secret_key(WebConfig(), path) == first and len(first) >= 48
    assert path.stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("WEB_KEY", "k" * 40)
    assert secret_key(WebConfig(secret_key_env="WEB_KEY"), path) == b"k" * 40


def test_case_page_shows_the_models_opinion_beside_the_rules_to_coordinators_only(
    web: Web,
) -> None:
    from classifiers.model import MODEL_DIR

    version = (MODEL_DIR / "VERSION").read_text().strip()
    raw = with_attachment(COMPLAINT, "note.txt", "text/plain", b"fictional")
    web.app.intake.process(raw, Source("durham", "durham"))
    with web.app.sessions() as s:
        case = s.scalar(select(Case))
        assert case is not None
    both = web.client()
    both.login(BOTH)
    text = both.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "Why: the model and the rules" in text
    assert f"Model ({version}): <strong>complaint</strong>, probability" in text
    assert "Rules alone: complaint." in text and "Rules that fired" in text
    m = web.client()
    m.login(MANAGER)
    assert "Why: the model and the rules" not in m.get(f"/cases/{case.id}").get_data(as_text=True)
