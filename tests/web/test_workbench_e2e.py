"""The coordinator's workbench (issue 15) in a real browser: Debian's Chromium driven by
Playwright against the real server (waitress), the outbox sender thread and a real SMTP
server (aiosmtpd); at desktop width and at 390 px (a phone). No JavaScript is needed by the
pages. Screenshots go to tests/artifacts/web/ (gitignored). All people are fictional."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App, build_app
from bot.config import WebConfig, parse_config
from bot.models import Case, CaseEvent, OutboxLetter
from bot.pipeline.context import Source
from bot.web import create_app
from tests.apphelpers import make_config_data
from tests.mailfactory import make_email
from tests.smtpsink import SmtpSink
from tests.web.conftest import COORD, PASSWORD, SECRET, Clock, add_users, mailboxes
from tests.web.livesrv import LiveServer, SenderThread
from tests.web.test_e2e import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _playwright

JOANNA = "joanna.pike@example.org"
DANA = "dana.mills@example.org"
WIDTHS = {"desktop": (1400, 1000), "phone": (390, 844)}


@pytest.fixture(params=list(WIDTHS))
def page(request: pytest.FixtureRequest) -> Iterator[Any]:
    import shutil

    sync_playwright = _playwright()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    width, height = WIDTHS[request.param]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            context = browser.new_context(
                viewport={"width": width, "height": height}, java_script_enabled=False
            )
            pg = context.new_page()
            pg.set_default_timeout(15_000)
            pg.width_name = request.param
            yield pg
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"workbench-{page.width_name}-{name}.png"), full_page=True)


def flash(page: Any) -> str:
    return str(page.locator(".flash").first.inner_text())


def wait_for(sink: SmtpSink, test: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in sink.messages() if test(m)]
        if found:
            return found[0]
        assert time.monotonic() < deadline, [m.rcpt_tos for m in sink.messages()]
        time.sleep(0.1)


def _app(tmp_path: Path, smtp: SmtpSink, clock: Clock) -> App:
    data = make_config_data(f"sqlite:///{tmp_path / 'wb.db'}", tmp_path, mailboxes(tmp_path))
    data["outbound"] = {"transport": "smtp", "host": "127.0.0.1", "port": smtp.port, "tls": "none"}
    app = build_app(config=parse_config(data, "workbench-e2e"), clock=clock)
    add_users(app)
    return app


def test_workbench_walk_in_a_real_browser(page: Any, tmp_path: Path, smtp_server: SmtpSink) -> None:
    clock = Clock()
    app = _app(tmp_path, smtp_server, clock)

    def ingest(**kwargs: Any) -> str:
        kwargs.setdefault("date", clock.now - timedelta(hours=2))
        result = app.intake.process(make_email(**kwargs), Source("durham", "durham"))
        assert result.case_reference
        return result.case_reference

    for n in range(2):  # earlier, and with a letter to check too: ahead of Joanna's
        ingest(
            from_name=f"Parent {n}",
            from_addr=f"parent{n}@example.org",
            subject="Complaint",
            body="I want to make a formal complaint: the annual review was never held.",
            headers={"Reply-To": f"parent{n}.home@example.org"},
        )
    complaint = ingest(
        from_name="Joanna Pike",
        from_addr=JOANNA,
        subject="Complaint about my caseworker",
        body="I want to make a formal complaint. My caseworker promised to call me back three "
        "times and never did.\n\nJoanna",
        message_id="<joanna-1@example.org>",
        headers={"Reply-To": "j.pike.home@example.org"},  # its acknowledgement is held
    )
    thanks = ingest(
        from_name="Dana Mills",
        from_addr=DANA,
        subject="Thank you",
        body="Thank you Lee for the call today, it really helped.\n\nI also need to tell you "
        "that Millie has started cutting herself. The school will not listen.\n\nDana",
        date=clock.now - timedelta(minutes=5),
    )
    flask = create_app(app, WebConfig(cookie_secure=False), secret_key=SECRET)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    with LiveServer(flask) as server, SenderThread(app):
        page.goto(server.url + "/")
        page.fill("input[name=email]", COORD)
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Sign in')")
        page.wait_for_selector("table.queue")
        rows = page.locator("table.queue tbody tr")
        assert thanks in rows.first.inner_text()
        assert "Safeguarding: look today" in rows.first.inner_text()

        # 1. safeguarding: no untick; no close without an action; action; confirmed clearing
        page.click(f"text={thanks}")
        assert page.locator("#act-classify input[name=safeguarding]").count() == 0
        assert "stays flagged" in page.inner_text("#safeguarding-kept")
        page.select_option("#act-classify select[name=kind]", "compliment")
        page.click("#act-classify button")
        assert "safeguarding flag was kept" in flash(page)
        assert "look today" in page.inner_text(".case-head")
        page.click("#close summary")
        page.select_option("#close select[name=reason]", "resolved")
        if page.locator("#close input[name=letters][value=keep]").count():
            page.check("#close input[name=letters][value=keep]")
        page.click("#close button")
        assert "no recorded action" in flash(page)
        page.select_option("#sg-action select[name=what]", "referred_childrens_social_care")
        page.fill("#sg-action input[name=who]", "Lee Carter")
        page.fill("#sg-action textarea[name=details]", "Rang the front door team at 12:10.")
        page.click("#sg-action button")
        assert "safeguarding action recorded" in flash(page)
        assert "action recorded" in page.inner_text(".case-head")
        shot(page, "01-safeguarding-action")
        page.goto(server.url + "/")
        row = page.locator("table.queue tbody tr", has_text=thanks)
        assert "Safeguarding: action recorded" in row.inner_text()
        assert "look today" not in row.inner_text()
        page.click(f"text={thanks}")
        page.click("#sg-clear summary")
        page.fill("#sg-clear textarea[name=reason]", "Dana says Millie is safe and supported.")
        page.click("#sg-clear button")  # the confirmation is not ticked: the form stays
        assert page.locator("#sg-clear input[name=confirm]").is_visible()
        assert "safeguarding" in page.inner_text(".case-head")
        page.check("#sg-clear input[name=confirm]")
        page.click("#sg-clear button")
        assert "safeguarding flag cleared" in flash(page)
        assert "safeguarding cleared" in page.inner_text("#timeline")
        assert "Millie is safe" in page.inner_text("#timeline")

        # 2. the parent's reply raises their case in the queue, with a badge
        page.goto(server.url + "/")
        page.click(f"text={complaint}")  # opened: nothing new since
        page.goto(server.url + "/")
        assert complaint not in page.locator("table.queue tbody tr").first.inner_text()
        clock.advance(minutes=1)  # (the sender's last heartbeat stays fresh: 2 minutes)
        ingest(
            from_name="Joanna Pike",
            from_addr=JOANNA,
            subject=f"Re: [{complaint}] Complaint about my caseworker",
            body="Can someone ring me before next week?\n\nJoanna",
            message_id="<joanna-2@example.org>",
            references="<joanna-1@example.org>",
            date=clock.now,
        )
        page.reload()
        first = page.locator("table.queue tbody tr").first.inner_text()
        assert complaint in first and "New message from the family" in first
        shot(page, "02-queue-new-message")

        # 3. the conversation, a canned reply, the preview, the letter over SMTP
        page.click(f"text={complaint}")
        conversation = page.inner_text("#conversation")
        assert conversation.index("three times") < conversation.index("ring me before")
        page.select_option("#reply select[name=canned]", "call-back")
        page.click("#reply button:has-text('Use it')")
        assert "call you back" in page.input_value("#reply textarea[name=text]")
        page.fill("#reply textarea[name=text]", "Thank you. I will ring you on Monday at 10.")
        page.click("[data-test=preview-reply]")
        body = page.inner_text("[data-test=preview-body]")
        assert body.startswith("Dear Joanna Pike,") and "Monday at 10" in body
        assert complaint in page.inner_text("[data-test=preview-subject]")
        shot(page, "03-reply-preview")
        page.click("[data-test=queue-reply]")
        assert "queued; the sender sends it within a minute" in flash(page)
        sent = wait_for(
            smtp_server,
            lambda m: (
                m.rcpt_tos == (JOANNA,)
                and "Monday at 10" in m.message.get_body(("plain",)).get_content()
            ),
        )
        assert sent.message["In-Reply-To"] == "<joanna-2@example.org>"
        assert sent.message["References"].split() == [
            "<joanna-1@example.org>",
            "<joanna-2@example.org>",
        ]
        assert f"[{complaint}]" in str(sent.message["Subject"])
        assert sent.message["Auto-Submitted"] is None  # a person wrote it
        text = sent.message.get_body(("plain",)).get_content()
        assert "Durham" in text and f"Case reference: {complaint}" in text
        page.reload()
        assert "Monday at 10" in page.inner_text("#conversation")

        # 4. an internal note: on the conversation, never sent
        page.fill("#note textarea[name=text]", "Rang Joanna: no answer, voicemail left.")
        page.click("#note button")
        assert "not sent" in flash(page)
        assert "voicemail left" in page.inner_text("#conversation")
        assert not [m for m in smtp_server.messages() if b"voicemail" in m.data]

        # 5. closing warns about the letters not sent yet, and asks
        page.click("#close summary")
        warning = page.inner_text("#close [data-test=unsent-warning]")
        assert "1 letter(s) not sent yet" in warning and "(held)" in warning
        page.select_option("#close select[name=reason]", "resolved")
        page.click("#close button")  # neither cancel nor keep chosen: the browser asks
        assert page.locator(".case-head .status-closed").count() == 0
        page.check("#close input[name=letters][value=cancel]")
        shot(page, "04-close-warning")
        page.click("#close button")
        assert "cancelled" in flash(page) and "closed at Stage 1" in flash(page)
        shot(page, "05-closed")

    with app.sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == complaint))
        assert case is not None and case.status == "closed"
        statuses = dict(
            s.execute(
                select(OutboxLetter.purpose, OutboxLetter.status).where(
                    OutboxLetter.case_id == case.id
                )
            ).all()
        )
        assert statuses.pop("reply") == "sent" and set(statuses.values()) == {"discarded"}
        kinds = set(
            s.scalars(select(CaseEvent.kind).where(CaseEvent.actor == f"user:{COORD}")).all()
        )
    for kind in ("safeguarding_action", "safeguarding_cleared", "reply_queued", "note_added"):
        assert kind in kinds, kinds
    assert not problems, problems
