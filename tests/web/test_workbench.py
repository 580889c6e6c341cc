"""The coordinator's workbench (issue 15), through the real web server (waitress) with the
small HTTP client: safeguarding rules, replies and notes, new activity, closing with unsent
letters, and who may do what. The browser walk is in test_workbench_e2e.py. All people,
addresses and events are fictional."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.health import OUTBOX, SENDER, Heartbeat
from bot.letters.sender import sender_running
from bot.models import CaseEvent, CaseNote, CaseRead, OutboxLetter
from bot.models import Heartbeat as HeartbeatRow
from tests.web.conftest import BOTH, COORD, COORD_STOKE, MANAGER, Web, build_web
from tests.web.httpclient import HttpClient, Reply
from tests.web.livesrv import LiveServer

FAMILY = "dana.mills@example.org"
CUTTING = (
    "Thank you Lee for the call today, it really helped.\n\n"
    "I also need to tell you that Millie has started cutting herself and says she wants to die. "
    "The school will not listen.\n\nDana"
)
COMPLAINT = (
    "I want to make a formal complaint. My caseworker promised to call me back three times "
    "and never did.\n\nDana"
)


@pytest.fixture
def live(web: Web) -> Iterator[tuple[Web, LiveServer]]:
    with LiveServer(web.flask, threads=4) as server:
        yield web, server


@pytest.fixture(params=["sqlite", "postgresql"])
def live_both(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Web, LiveServer]]:
    """The same, on the embedded default and on PostgreSQL."""
    url = (
        f"sqlite:///{tmp_path / 'both.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    w = build_web(url, tmp_path)
    try:
        with LiveServer(w.flask, threads=4) as server:
            yield w, server
    finally:
        w.app.engine.dispose()


def signed_in(server: LiveServer, email: str = COORD) -> HttpClient:
    c = HttpClient(server.url)
    assert c.login(email).status == 303
    return c


def act(c: HttpClient, case_id: int, action: str, **form: str) -> str:
    """Post a case action; the flash message shown on the page it redirects to."""
    r = c.post(f"/cases/{case_id}/{action}", form, csrf_from=f"/cases/{case_id}")
    assert r.status == 303, r.text[:300]
    return flash_of(c.get(r.location.replace(c.base, "") or f"/cases/{case_id}"))


def flash_of(page: Reply) -> str:
    found = re.findall(r'<p class="flash flash-(\w+)"[^>]*>(.*?)</p>', page.text, re.S)
    return " | ".join(f"{cat}: {html.unescape(text)}" for cat, text in found)


def events(web: Web, case_id: int, kind: str) -> list[CaseEvent]:
    with web.app.sessions() as s:
        return list(
            s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind))
        )


def safeguarding_case(web: Web) -> int:
    case_id = web.ingest(
        from_name="Dana Mills", from_addr=FAMILY, subject="Thank you", body=CUTTING
    )
    assert web.case(case_id).safeguarding is True
    return case_id


# -------------------------------------------------------------------------- safeguarding


def test_an_untick_never_clears_safeguarding_and_clearing_needs_reason_and_confirmation(
    live: tuple[Web, LiveServer],
) -> None:
    web, server = live
    case_id = safeguarding_case(web)
    c = signed_in(server)
    page = c.get(f"/cases/{case_id}").text
    assert 'id="safeguarding-kept"' in page  # no checkbox to untick
    # a form posted without the box (an old page, a hand-made post): the flag stays
    said = act(c, case_id, "classify", kind="compliment")
    assert "safeguarding flag was kept" in said
    case = web.case(case_id)
    assert case.safeguarding is True and case.kind == "compliment" and case.needs_person

    said = act(c, case_id, "safeguarding-clear", reason="", confirm="yes")
    assert "needs a reason" in said and web.case(case_id).safeguarding is True
    said = act(c, case_id, "safeguarding-clear", reason="Read every message: a thank-you only.")
    assert "confirmation" in said and web.case(case_id).safeguarding is True
    assert not events(web, case_id, "safeguarding_cleared")

    why = "Spoke to Dana: Millie is safe, already supported by CAMHS; no concern for us."
    said = act(c, case_id, "safeguarding-clear", reason=why, confirm="yes")
    assert "safeguarding flag cleared" in said
    assert web.case(case_id).safeguarding is False
    [cleared] = events(web, case_id, "safeguarding_cleared")
    assert cleared.actor == f"user:{COORD}" and cleared.detail["note"] == why
    assert why in html.unescape(c.get(f"/cases/{case_id}").text)  # on the trail


def test_action_taken_leaves_look_today_keeps_the_flag_and_is_needed_to_close(
    live: tuple[Web, LiveServer],
) -> None:
    web, server = live
    case_id = safeguarding_case(web)
    reference = web.case(case_id).reference
    c = signed_in(server)
    row = _queue_row(c, reference)
    assert "Safeguarding: look today" in row

    said = act(c, case_id, "close", reason="resolved", letters="keep")
    assert "no recorded action" in said and web.case(case_id).status != "closed"
    said = act(c, case_id, "withdraw", note="rang", letters="keep")
    assert "no recorded action" in said and web.case(case_id).status != "closed"

    said = act(c, case_id, "safeguarding-action", what="no_further_action", who=COORD)
    assert "needs details" in said and not web.case(case_id).safeguarding_actioned
    said = act(c, case_id, "safeguarding-action", what="made_up", who=COORD)
    assert "choose one of" in said
    said = act(
        c,
        case_id,
        "safeguarding-action",
        what="referred_childrens_social_care",
        who="Lee Carter (coordinator)",
        details="Referred to the front door team by phone.",
    )
    assert "action recorded" in said and "flag stays" in said
    case = web.case(case_id)
    assert case.safeguarding is True and case.safeguarding_actioned is True
    [ev] = events(web, case_id, "safeguarding_action")
    assert ev.detail["action"] == "referred_childrens_social_care"
    assert ev.detail["who"] == "Lee Carter (coordinator)"
    row = _queue_row(c, reference)
    assert "look today" not in row and "Safeguarding: action recorded" in row

    said = act(c, case_id, "close", reason="resolved")
    assert "unsent letter" in said  # the alert and the reply are still in the outbox
    said = act(c, case_id, "close", reason="resolved", letters="cancel")
    assert "closed at Stage" in said and "cancelled" in said
    assert web.case(case_id).status == "closed"
    with web.app.sessions() as s:
        left = s.scalars(select(OutboxLetter.status).where(OutboxLetter.case_id == case_id)).all()
    assert left and set(left) == {"discarded"}


def test_a_new_safeguarding_message_asks_for_a_new_look(live: tuple[Web, LiveServer]) -> None:
    web, server = live
    case_id = safeguarding_case(web)
    c = signed_in(server)
    act(c, case_id, "safeguarding-action", what="called_parent", who=COORD)
    assert web.case(case_id).safeguarding_actioned is True
    web.clock.advance(minutes=30)
    ref = web.case(case_id).reference
    web.ingest(
        from_addr=FAMILY,
        subject=f"Re: [{ref}] Thank you",
        body="She has done it again tonight and I am scared she will kill herself.",
        date=web.clock.now,
    )
    case = web.case(case_id)
    assert case.safeguarding is True and case.safeguarding_actioned is False
    assert "Safeguarding: look today" in _queue_row(c, ref)


# ------------------------------------------------------------------ conversation, replies


def test_reply_is_previewed_then_queued_once_threaded_and_signed(
    live: tuple[Web, LiveServer],
) -> None:
    web, server = live
    case_id = web.ingest(
        from_name="Dana Mills",
        from_addr=FAMILY,
        subject="Complaint about my caseworker",
        body=COMPLAINT,
        message_id="<first-dana@example.org>",
    )
    ref = web.case(case_id).reference
    web.clock.advance(minutes=10)
    web.ingest(
        from_addr=FAMILY,
        subject=f"Re: [{ref}] Complaint about my caseworker",
        body="Can someone ring me before next week?\n\nDana",
        message_id="<second-dana@example.org>",
        references="<first-dana@example.org>",
        date=web.clock.now,
    )
    c = signed_in(server)
    page = c.get(f"/cases/{case_id}").text
    assert 'id="conversation"' in page and "Can someone ring me" in page
    assert "Re: Complaint about my caseworker" in html.unescape(page)  # default subject

    text = "Thank you, Dana. I will ring you on Monday morning."
    form = {"op": "preview", "subject": "Re: Complaint about my caseworker", "text": text}
    preview = c.post(f"/cases/{case_id}/reply", form, csrf_from=f"/cases/{case_id}")
    assert preview.status == 200
    shown = html.unescape(preview.text)
    assert "Dear Dana Mills," in shown and text in shown and "Durham" in shown
    assert f"[{ref}] Re: Complaint about my caseworker" in shown
    assert "<second-dana@example.org>" in shown
    with web.app.sessions() as s:  # a preview writes nothing
        assert not s.scalars(select(OutboxLetter).where(OutboxLetter.purpose == "reply")).all()
    token = re.search(r'name="token" value="([^"]+)"', preview.text)
    assert token

    # the text changed after the preview: refused, nothing queued
    sent = {**form, "op": "send", "token": token.group(1)}
    changed = c.post(
        f"/cases/{case_id}/reply", {**sent, "text": text + " Or Tuesday."}, f"/cases/{case_id}"
    )
    assert changed.status == 400 and "preview it again" in changed.text
    for _ in range(2):  # a double click queues one letter
        r = c.post(f"/cases/{case_id}/reply", sent, csrf_from=f"/cases/{case_id}")
        assert r.status == 303
    with web.app.sessions() as s:
        [letter] = s.scalars(select(OutboxLetter).where(OutboxLetter.purpose == "reply")).all()
        assert letter.status == "pending" and letter.to_addr == FAMILY
        assert letter.subject == f"[{ref}] Re: Complaint about my caseworker"
        assert letter.in_reply_to == "<second-dana@example.org>"
        assert letter.references == ["<first-dana@example.org>", "<second-dana@example.org>"]
        assert letter.body_text.startswith("Dear Dana Mills,\n\n" + text)
        assert f"Case reference: {ref}" in letter.body_text
        assert COORD not in letter.body_text  # the service signs, not the person's address
    page = c.get(f"/cases/{case_id}")
    said = flash_of(page)
    assert "already queued" in said and "not queued again" in said
    assert "I will ring you on Monday" in page.text  # the letter in full in the conversation
    assert events(web, case_id, "reply_queued")


def test_queued_says_whether_a_sender_runs(live: tuple[Web, LiveServer]) -> None:
    web, server = live
    case_id = web.ingest(from_addr=FAMILY, subject="Complaint", body=COMPLAINT)
    c = signed_in(server)
    text = "We have your message and will write again by Friday."

    def reply_flash() -> str:
        form = {"op": "preview", "subject": "", "text": text}
        p = c.post(f"/cases/{case_id}/reply", form, csrf_from=f"/cases/{case_id}")
        token = re.search(r'name="token" value="([^"]+)"', p.text)
        assert token
        r = c.post(
            f"/cases/{case_id}/reply",
            {**form, "op": "send", "token": token.group(1)},
            csrf_from=f"/cases/{case_id}",
        )
        return flash_of(c.get(r.location.replace(c.base, "")))

    said = reply_flash()
    assert "no outbox sender is running now" in said and "within a minute" not in said
    with web.app.sessions() as s:
        assert sender_running(s, web.clock.now) is False
    Heartbeat(web.app.sessions, SENDER, OUTBOX, 0.0, clock=web.clock).start()  # a sender runs
    text = "A second, different reply."
    said = reply_flash()
    assert "the sender sends it within a minute" in said
    web.clock.advance(minutes=10)  # a sender that stopped saying so is not running
    with web.app.sessions() as s:
        assert s.scalars(select(HeartbeatRow).where(HeartbeatRow.kind == SENDER)).all()
        assert sender_running(s, web.clock.now) is False


def test_internal_notes_are_never_sent(live: tuple[Web, LiveServer]) -> None:
    web, server = live
    case_id = web.ingest(from_addr=FAMILY, subject="Complaint", body=COMPLAINT)
    with web.app.sessions() as s:
        before = len(s.scalars(select(OutboxLetter)).all())
    c = signed_in(server)
    said = act(c, case_id, "note", text="Rang Dana: no answer, left a voicemail.")
    assert "not sent" in said
    assert "error" in act(c, case_id, "note", text="   ")
    with web.app.sessions() as s:
        [note] = s.scalars(select(CaseNote).where(CaseNote.kind == "note")).all()
        assert note.author == COORD and note.case_id == case_id
        assert len(s.scalars(select(OutboxLetter)).all()) == before
    [ev] = events(web, case_id, "note_added")
    assert ev.detail["note_id"] == note.id
    page = c.get(f"/cases/{case_id}").text
    assert "Internal note (not sent)" in page and "left a voicemail" in page


def test_canned_replies_prefill_the_reply_box(live: tuple[Web, LiveServer]) -> None:
    web, server = live
    case_id = web.ingest(from_addr=FAMILY, subject="Complaint", body=COMPLAINT)
    c = signed_in(server)
    page = c.get(f"/cases/{case_id}?canned=call-back").text
    assert 'value="call-back" selected' in page
    box = re.search(r'<textarea name="text" rows="8" required>(.*?)</textarea>', page, re.S)
    assert box and "A member of our team will call you back" in html.unescape(box.group(1))


# ----------------------------------------------------------------------------- who may


def test_other_services_and_managers_cannot_see_reply_or_note(
    live: tuple[Web, LiveServer],
) -> None:
    web, server = live
    case_id = web.ingest(from_addr=FAMILY, subject="Complaint", body=COMPLAINT)
    form = {"op": "preview", "subject": "", "text": "Hello from the wrong service."}
    stoke = signed_in(server, COORD_STOKE)
    assert stoke.get(f"/cases/{case_id}").status == 404
    assert stoke.post(f"/cases/{case_id}/reply", form).status == 404
    assert stoke.post(f"/cases/{case_id}/reply", {**form, "op": "send", "token": "x"}).status == 404
    assert stoke.post(f"/cases/{case_id}/note", {"text": "x"}).status == 404
    assert stoke.post(f"/cases/{case_id}/safeguarding-action", {"what": "other"}).status == 404
    manager = signed_in(server, MANAGER)
    assert manager.get(f"/cases/{case_id}").status == 200
    assert 'id="reply"' not in manager.get(f"/cases/{case_id}").text
    assert manager.post(f"/cases/{case_id}/reply", form).status == 403
    assert manager.post(f"/cases/{case_id}/note", {"text": "x"}).status == 403
    with web.app.sessions() as s:
        assert not s.scalars(select(OutboxLetter).where(OutboxLetter.purpose == "reply")).all()
        assert not s.scalars(select(CaseNote)).all()
    denied = events(web, case_id, "access_denied")
    assert {e.actor for e in denied} == {f"user:{COORD_STOKE}", f"user:{MANAGER}"}


# ------------------------------------------------------------------------ new activity


def _queue_row(c: HttpClient, reference: str) -> str:
    page = c.get("/").text
    for row in re.findall(r"<tr[^>]*>.*?</tr>", page, re.S):
        if reference in row:
            return html.unescape(re.sub(r"<[^>]+>", " ", row))
    raise AssertionError(f"{reference} is not in the queue")


def _queue_order(c: HttpClient) -> list[str]:
    return re.findall(r"\b[A-Z]{3}-\d{4}-\d{4}\b", c.get("/").text)


def test_a_family_reply_raises_the_case_with_a_badge_per_person(
    live_both: tuple[Web, LiveServer],
) -> None:
    web, server = live_both
    others = [
        web.ingest(from_addr=f"parent{i}@example.org", subject="Complaint", body=COMPLAINT)
        for i in range(3)
    ]
    quiet = web.ingest(from_addr=FAMILY, subject="Complaint", body=COMPLAINT)  # last in line
    ref = web.case(quiet).reference
    c = signed_in(server)
    c.get(f"/cases/{quiet}")  # Cora has looked at it
    order = list(dict.fromkeys(_queue_order(c)))
    assert order.index(ref) > 0 and "New message" not in _queue_row(c, ref)
    web.clock.advance(minutes=5)
    web.ingest(
        from_addr=FAMILY,
        subject=f"Re: [{ref}] Complaint",
        body="Can someone ring me before next week?",
        date=web.clock.now,
    )
    assert _queue_order(c)[0] == ref
    assert "New message from the family" in _queue_row(c, ref)
    other = signed_in(server, BOTH)  # never opened it: new to them as well
    assert "New message from the family" in _queue_row(other, ref)
    web.clock.advance(minutes=1)
    c.get(f"/cases/{quiet}")
    assert "New message from the family" not in _queue_row(c, ref)
    assert "New message from the family" in _queue_row(other, ref)
    with web.app.sessions() as s:
        reads = s.scalars(select(CaseRead).where(CaseRead.case_id == quiet)).all()
        assert [r.user_email for r in reads] == [COORD]
    assert all(web.case(i).family_message_at is None for i in others)


def test_a_family_reply_to_a_closed_case_reopens_it(
    live_both: tuple[Web, LiveServer],
) -> None:
    web, server = live_both
    case_id = web.ingest(from_addr=FAMILY, subject="Complaint", body=COMPLAINT)
    ref = web.case(case_id).reference
    c = signed_in(server)
    act(c, case_id, "acknowledge")
    act(c, case_id, "close", reason="resolved", letters="keep")
    assert web.case(case_id).status == "closed"
    assert ref not in _queue_order(c)
    web.clock.advance(hours=2)
    # an out-of-office is not a reply from the family: the case stays closed
    web.ingest(
        from_addr=FAMILY,
        subject=f"Automatic reply: [{ref}] Complaint",
        body="I am out of the office until Monday.",
        headers={"Auto-Submitted": "auto-replied"},
        date=web.clock.now,
    )
    assert web.case(case_id).status == "closed"
    web.ingest(
        from_addr=FAMILY,
        subject=f"Re: [{ref}] Complaint",
        body="Nobody has rung me back again. This is not resolved.",
        date=web.clock.now,
    )
    case = web.case(case_id)
    assert case.status == "acknowledged" and case.closed_at is None and case.needs_person
    assert case.closure_reason is None
    [ev] = events(web, case_id, "reopen")
    assert ev.actor == "bot" and "reopened" in ev.detail["description"]
    assert ev.detail["previous_closure_reason"] == "resolved"
    c = signed_in(server)  # two hours on: the idle web session has ended
    assert ref in _queue_order(c) and "New message from the family" in _queue_row(c, ref)
    assert ev.at == web.clock.now


def test_the_reply_signature_renders_for_every_service(web: Web) -> None:
    from bot import casework
    from bot.models import Case

    for key, service in web.app.services.items():
        case = Case(
            reference="ABC-2026-0001",
            service=key,
            kind="complaint",
            stage=1,
            sender_addr=FAMILY,
            sender_name="",
            received_at=web.clock.now,
            flags={},
        )
        signature = casework._signature(service, case)
        assert service.name in signature and "Case reference: ABC-2026-0001" in signature
        assert "{" not in signature
