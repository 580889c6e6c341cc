"""In a real browser (Debian's Chromium through Playwright, the real waitress server), at a
desktop width and at 390 px (a phone): finding and sorting cases, the enquiries view and its
one-click close, held-letter reasons and dates with the year in the queue, the layout at
390 px (cards, no sideways scrolling, Sign out on screen, no JavaScript), and accessibility
checked with axe-core (axe-playwright-python ships it; nothing is fetched): no serious or
critical violation on the sign-in, queue and case pages.

The test saves the screenshots the README shows (docs/screenshots/), taken at a fixed time
with fictional people.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.models import Case, OutboxLetter
from tests.web.conftest import COORD, PASSWORD, Web, build_web
from tests.web.livesrv import LiveServer
from tests.web.test_e2e import CHROMIUM, CHROMIUM_ARGS, _playwright

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def _axe() -> Any:
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        pytest.fail(
            "axe-playwright-python is not installed: `.venv/bin/pip install "
            "'axe-playwright-python>=0.1.8,<0.2'` (in the test extras of pyproject.toml)"
        )
    return Axe()


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    results = _axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_playwright = _playwright()
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield b
        finally:
            b.close()


def _cases(web: Web) -> dict[str, int]:
    ids = {
        "safe": web.ingest(
            from_name="Lee Marsh",
            from_addr="lee.marsh@example.org",
            subject="Thank you Lee",
            body="Thank you for the call. Millie has started cutting herself and says she "
            "wants to die. The school will not listen.\n\nLee",
        ),
        "chauhan": web.ingest(
            from_name="Priya Chauhan",
            from_addr="priya.chauhan@example.org",
            subject="Formal complaint about the exclusion advice",
            body="I want to make a formal complaint. My son was given a fixed-term exclusion "
            "and the caseworker never called me back as promised.\n\nPriya Chauhan",
            headers={"Reply-To": "p.chauhan.home@example.org"},  # the letter is held
        ),
        "okafor": web.ingest(
            from_name="Jordan Okafor",
            from_addr="jordan.okafor@example.org",
            subject="Complaint: annual review cancelled",
            body="I want to complain: the annual review was cancelled twice and nobody "
            "explained why.\n\nJordan",
        ),
        "enquiry": web.ingest(
            from_name="Sam Iqbal",
            from_addr="sam.iqbal@example.org",
            subject="Transport",
            body="Could someone ring me about transport to school next term? Thanks, Sam",
        ),
    }
    with web.app.sessions.begin() as s:
        okafor = s.get(Case, ids["okafor"])
        assert okafor is not None
        okafor.acknowledge_by = date(2026, 11, 2)  # overdue, so the badge shows a date
        okafor.handler = COORD
    return ids


def _sign_in(page: Any, url: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=email]", COORD)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("table.cases")


def _fits(page: Any, width: int) -> None:
    """Nothing wider than the screen, and Sign out on it."""
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide at {width} px"
    box = page.locator("header.top button:has-text('Sign out')").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


@pytest.mark.parametrize("size", list(WIDTHS))
def test_find_sort_close_enquiries_and_accessibility_in_a_browser(
    browser: Any, tmp_path: Path, size: str
) -> None:
    web = build_web(f"sqlite:///{tmp_path / 'browser.db'}", tmp_path)
    ids = _cases(web)
    with web.app.sessions() as s:
        held = s.scalars(
            select(OutboxLetter).where(
                OutboxLetter.case_id == ids["chauhan"], OutboxLetter.status == "held"
            )
        ).first()
    assert held is not None
    refs = {k: web.case(v).reference for k, v in ids.items()}
    viewport = WIDTHS[size]
    context = browser.new_context(viewport=viewport, java_script_enabled=False)
    checker = browser.new_context(viewport=viewport)  # axe needs script; the pages do not
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        with LiveServer(web.flask) as server:
            # sign-in page: accessible, fits
            checker_page = checker.new_page()
            checker_page.goto(server.url + "/login")
            assert serious_violations(checker_page) == [], "login"
            _sign_in(page, server.url)
            _sign_in(checker_page, server.url)

            # the queue: skip link, caption, urgency in words, held reason, dated badges
            assert page.locator("a.skip-link").get_attribute("href") == "#main"
            assert "most urgent first" in page.inner_text("table.cases caption")
            rows = page.locator("table.cases tbody tr")
            assert refs["safe"] in rows.first.inner_text()
            assert "Safeguarding" in rows.first.inner_text()
            queue_text = page.inner_text("table.cases")
            assert refs["enquiry"] not in queue_text  # enquiries have their own view
            assert re.search(r"held \(", queue_text), queue_text
            assert "Acknowledge overdue since Mon 02 Nov 2026" in queue_text
            assert serious_violations(checker_page) == [], "queue"
            if size == "phone":
                _fits(page, viewport["width"])
                # cards: each row a block with its own labels
                assert rows.first.evaluate("e => getComputedStyle(e).display") == "block"
            page.screenshot(path=str(SCREENSHOTS / f"queue-{size}.png"))

            # find: a surname, a word of the message, a name and address
            for words, key in (
                ("Chauhan", "chauhan"),
                ("exclusion", "chauhan"),
                ("Okafor", "okafor"),
            ):
                page.fill("input[name=q]", words)
                page.click("form.filters button[type=submit]")
                found = page.locator("table.cases tbody tr")
                assert found.count() == 1, words
                assert refs[key] in found.first.inner_text(), words
            page.fill("input[name=q]", "")

            # assigned to me; then sort by received, newest first
            page.goto(server.url + "/")
            page.check("input[name=mine]")
            page.click("form.filters button[type=submit]")
            assert page.locator("table.cases tbody tr").count() == 1
            assert refs["okafor"] in page.inner_text("table.cases tbody")
            page.goto(server.url + "/")
            page.select_option("select[name=sort]", "received")
            page.select_option("select[name=dir]", "desc")
            page.click("form.filters button[type=submit]")
            assert "sort=received" in page.url
            listed = page.locator("table.cases tbody tr td:first-child a").all_inner_texts()
            assert listed[0] == refs["okafor"]  # ingested last of the complaints
            if size == "desktop":  # the column headers sort too
                page.click("table.cases thead a:has-text('Reference')")
                assert "sort=reference" in page.url
                assert "ascending" in page.inner_text("table.cases caption")

            # the enquiries view and its one-click close
            page.click("nav.views a:has-text('Advice enquiries')")
            assert refs["enquiry"] in page.inner_text("table.cases")
            page.click(f"[data-test=advice-{ids['enquiry']}]")
            assert "advice_given" in page.inner_text(".flash")
            assert refs["enquiry"] not in page.inner_text("table.cases")
            assert web.case(ids["enquiry"]).closure_reason == "advice_given"

            # a case page: accessible, fits
            page.goto(server.url + f"/cases/{ids['chauhan']}")
            page.wait_for_selector(".case-head")
            checker_page.goto(server.url + f"/cases/{ids['chauhan']}")
            assert serious_violations(checker_page) == [], "case"
            if size == "phone":
                _fits(page, viewport["width"])
            page.screenshot(path=str(SCREENSHOTS / f"case-{size}.png"))
    finally:
        context.close()
        checker.close()
        web.app.engine.dispose()
