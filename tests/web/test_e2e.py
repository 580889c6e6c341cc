"""End to end in a real browser: Debian's Chromium driven by Playwright against the real
server (waitress), with letters going to a real SMTP server (aiosmtpd).

Never skipped: without Chromium or Playwright this test fails and says what to install.
Screenshots are kept under tests/artifacts/web/ (gitignored).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import build_app
from bot.config import WebConfig, parse_config
from bot.models import Case, CaseEvent, OutboxLetter
from bot.pipeline.context import Source
from bot.web import create_app
from tests.apphelpers import make_config_data
from tests.mailfactory import make_email
from tests.smtpsink import SmtpSink
from tests.web.conftest import COORD, PASSWORD, SECRET, Clock, add_users, mailboxes
from tests.web.livesrv import LiveServer, SenderThread

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "web"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "Playwright is not installed: `.venv/bin/pip install 'playwright>=1.45,<2'` "
            "(do not run `playwright install`; the test drives Debian's Chromium)"
        )
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.fail(
            f"Chromium is missing ({CHROMIUM}): `apt-get install -y chromium` "
            "(tests/run.sh installs it through APT_PACKAGES)"
        )
    return sync_playwright


@pytest.fixture
def page() -> Iterator[Any]:
    sync_playwright = _playwright()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            pg = context.new_page()
            pg.set_default_timeout(15_000)
            yield pg
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def to_joanna(sink: SmtpSink, count: int, timeout: float = 20.0) -> list[Any]:
    """The first ``count`` messages the SMTP server accepted for the complainant."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in sink.messages() if m.rcpt_tos == ("joanna.pike@example.org",)]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, [m.rcpt_tos for m in sink.messages()]
            return found[:count]
        time.sleep(0.1)


def flash(page: Any) -> str:
    return str(page.locator(".flash").first.inner_text())


def test_coordinator_works_cases_in_a_real_browser(
    page: Any, tmp_path: Path, smtp_server: SmtpSink
) -> None:
    clock = Clock()
    data = make_config_data(f"sqlite:///{tmp_path / 'e2e.db'}", tmp_path, mailboxes(tmp_path))
    data["outbound"] = {
        "transport": "smtp",
        "host": "127.0.0.1",
        "port": smtp_server.port,
        "tls": "none",
    }
    app = build_app(config=parse_config(data, "e2e-config"), clock=clock)
    add_users(app)

    def ingest(**kwargs: Any) -> str:
        kwargs.setdefault("date", clock.now - timedelta(hours=2))
        result = app.intake.process(make_email(**kwargs), Source("durham", "durham"))
        assert result.case_reference
        return result.case_reference

    plain = ingest(
        from_name="Joanna Pike",
        from_addr="joanna.pike@example.org",
        subject="Complaint about my caseworker",
        body="I want to make a formal complaint. My caseworker promised to call me back three "
        "times and never did.\n\nJoanna",
        headers={"Reply-To": "j.pike.home@example.org"},  # a letter held for a person
    )
    enquiry = ingest(
        from_name="Sam Iqbal",
        from_addr="sam.iqbal@example.org",
        subject="Transport",
        body="Could someone ring me about transport to school next term? Thanks, Sam",
    )
    safe = ingest(
        from_name="Priya Shah",
        from_addr="priya.shah@example.org",
        subject="Please help",
        body="My daughter has started cutting herself again and says she wants to die. The "
        "school will not listen.\n\nPriya",
        date=clock.now - timedelta(minutes=5),
    )
    with app.sessions() as s:
        [held] = s.scalars(
            select(OutboxLetter)
            .join(Case, Case.id == OutboxLetter.case_id)
            .where(Case.reference == plain, OutboxLetter.status == "held")
        ).all()
        held_id = held.id
    flask = create_app(app, WebConfig(cookie_secure=False), secret_key=SECRET)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    with LiveServer(flask) as server, SenderThread(app):
        page.goto(server.url + "/")
        assert "/login" in page.url
        page.fill("input[name=email]", COORD)
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Sign in')")
        page.wait_for_selector("table.queue")
        first = page.locator("table.queue tbody tr").first
        assert safe in first.inner_text() and "Safeguarding" in first.inner_text()
        shot(page, "01-queue")

        # correct a kind: the enquiry was a complaint (enquiries have their own list)
        page.click("nav.views a:has-text('Advice enquiries')")
        page.click(f"text={enquiry}")
        page.select_option("#act-classify select[name=kind]", "complaint")
        page.click("#act-classify button")
        assert "classification corrected" in flash(page)
        assert "checked by user:" + COORD in page.inner_text(".facts")
        shot(page, "02-kind-corrected")

        # approve the held letter: it reaches the SMTP server
        page.goto(server.url + "/")
        page.click(f"text={plain}")
        page.wait_for_selector(f"[data-test=approve-{held_id}]")
        shot(page, "03-case-with-held-letter")
        page.click(f"[data-test=approve-{held_id}]")
        assert "approved and queued; the sender sends it within a minute" in flash(page)
        [sent] = to_joanna(smtp_server, 1)
        assert plain in str(sent.message["Subject"])

        # acknowledge, extend (the extension letter is sent), respond, close
        page.click("#act-stage button:has-text('Record acknowledgement')")
        assert "acknowledged" in flash(page)
        page.click("#extend summary")
        page.fill("#extend input[name=new_date]", "2026-12-31")
        page.fill("#extend textarea[name=reason]", "We are waiting to speak to the school.")
        page.click("#extend button")
        assert "extended to 2026-12-31" in flash(page)
        extension = to_joanna(smtp_server, 2)[1]
        assert "31 December 2026" in extension.message.get_body(("plain",)).get_content()
        shot(page, "04-extended")

        response_file = tmp_path / "stage1-response.pdf"
        response_file.write_bytes(b"%PDF-1.4 fictional stage 1 response")
        page.click("#respond summary")
        page.fill("#respond input[name=response_date]", "2026-11-20")
        page.fill("#respond textarea[name=summary]", "We apologise: weekly calls from now on.")
        page.set_input_files("#respond input[name=file]", str(response_file))
        page.click("#respond button")
        # truthful: the response is recorded, its letter only held (issue 15)
        assert "response recorded" in flash(page) and "held for approval" in flash(page)
        assert "stage1-response.pdf" in page.content()
        shot(page, "05-responded")

        page.click("#close summary")
        page.select_option("#close select[name=reason]", "resolved")
        page.select_option("#close select[name=outcome]", "upheld")
        page.select_option("#close select[name=justification]", "justified")
        # the held response letter: closing lists it and asks to cancel or keep it
        assert "stage response (held)" in page.inner_text("#close [data-test=unsent-warning]")
        page.check("#close input[name=letters][value=keep]")
        page.click("#close button")
        assert "closed at Stage 1: resolved" in flash(page)
        assert re.search(r"\bclosed\b", page.inner_text(".case-head"))
        shot(page, "06-closed")

    with app.sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == plain))
        assert case is not None
        assert case.status == "closed" and case.outcome == "upheld"
        kinds = [
            e.kind
            for e in s.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case.id, CaseEvent.actor == f"user:{COORD}")
                .order_by(CaseEvent.id)
            )
        ]
    for kind in ("viewed", "letter_approved", "acknowledge", "extend", "respond", "close"):
        assert kind in kinds, kinds
    assert not problems, problems  # no CSP violations, no script errors
