"""Who complained and the category: guessed or suggested at intake, decided by a coordinator
on the case page, and that decision is what the annual report counts."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from bot.figures import guess_complainant, intake_figures
from bot.models import CaseEvent
from bot.reports.annual import build_annual
from tests.web.conftest import COORD, MANAGER, Web

#: A complaint about a caseworker that mentions an EHC plan: keywords alone said "EHCP issues".
COMPLAINT = (
    "I want to make a formal complaint. My caseworker promised to call me back three times "
    "and never did, and the advice about my son's EHCP was wrong.\n\nJoanna"
)


def test_guess_who_complained() -> None:
    assert guess_complainant("My daughter's EHCP is late") == "parent_carer"
    assert guess_complainant("As her mum I am worried") == "parent_carer"
    assert guess_complainant("I'm 17 and my college has not had my plan") == "young_person"
    assert guess_complainant("I am the SENCO at Fictional Primary; one of our pupils") == (
        "professional"
    )
    assert guess_complainant("Writing on behalf of my constituent about her son") == "mp_office"
    assert guess_complainant("Hello", "caseworker@fictional.parliament.uk") == "mp_office"
    assert guess_complainant("I am unhappy with the service") == "other"
    assert intake_figures("compliment", "Thanks", "Thank you", "a@example.org") == {
        "complainant": "other",
        "complainant_source": "guess",
    }


def test_intake_guesses_and_a_coordinator_decides(web: Web) -> None:
    case_id = web.ingest(body=COMPLAINT, subject="Complaint")
    cls = web.case(case_id).classification
    # Intake: a guess and a suggestion, never a category.
    assert cls["complainant"] == "parent_carer" and cls["complainant_source"] == "guess"
    assert cls["category_suggested"] == "ehcp"
    assert "category" not in cls

    manager = web.client()
    manager.login(MANAGER)
    page = manager.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="act-figures"' in page and "a guess from the words" in page
    assert "keywords suggest EHCP issues or delays" in page
    assert "/figures" not in page  # a manager sees the values, cannot change them

    coord = web.client()
    coord.login(COORD)
    page = coord.get(f"/cases/{case_id}").get_data(as_text=True)
    assert f'action="/cases/{case_id}/figures"' in page
    assert "(suggested)" in page

    # A bad value changes nothing and says what was expected.
    coord.act(case_id, "figures", complainant="aunt", category="ehcp")
    assert any("who complained: expected one of" in m for _c, m in coord.flashes())
    coord.get("/")  # the flash is shown and gone
    assert web.case(case_id).classification.get("category") is None

    coord.act(case_id, "figures", complainant="parent_carer", category="staff_conduct")
    cls = web.case(case_id).classification
    assert cls["complainant"] == "parent_carer" and cls["complainant_source"] == "person"
    assert cls["category"] == "staff_conduct" and cls["category_suggested"] == "ehcp"
    with web.app.sessions() as s:
        ev = s.scalars(select(CaseEvent).where(CaseEvent.kind == "figures_recorded")).one()
    assert ev.actor == f"user:{COORD}"
    assert ev.detail["category"] == "staff_conduct"
    assert ev.detail["previous"] == {"complainant": "parent_carer", "category": None}
    page = manager.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Category: <strong>Staff conduct" in page
    assert "a guess from the words" not in page

    # The report counts the coordinator's choice, not the keywords', once a person has said
    # the complaint is about the service (the classifier thought it out of scope): an
    # out-of-scope complaint is not counted at all.
    received = web.case(case_id).received_at.date()
    with web.app.sessions() as s:
        r = build_annual(s, web.app.services, ["durham"], date(received.year, 1, 1), received)
    assert web.case(case_id).flags["out_of_scope"] is True
    assert r.received == 0 and r.categories == {} and r.core.out_of_scope == 1
    coord.act(case_id, "classify", kind="complaint")
    received = web.case(case_id).received_at.date()
    with web.app.sessions() as s:
        r = build_annual(s, web.app.services, ["durham"], date(received.year, 1, 1), received)
    assert r.categories == {"Staff conduct": 1}
    assert r.complainants == {"Parents/carers": 1} and r.complainants_guessed == 0


def test_annual_report_download(web: Web) -> None:
    case_id = web.ingest(body=COMPLAINT, subject="Complaint")
    coord = web.client()
    coord.login(COORD)
    coord.act(case_id, "classify", kind="complaint")
    coord.act(case_id, "figures", complainant="young_person", category="communication")
    url = "/reports/annual?from=2026-04-01&to=2026-11-30"
    assert coord.get(url + "&format=csv").status_code == 403

    manager = web.client()
    manager.login(MANAGER)
    page = manager.get("/reports").get_data(as_text=True)
    assert 'action="/reports/annual"' in page and 'value="2026-04-01"' in page
    resp = manager.get(url + "&format=csv")
    assert resp.status_code == 200
    assert "attachment" in resp.headers["Content-Disposition"]
    body = resp.get_data(as_text=True)
    assert "Who complained,Young people,Complaints,1" in body
    assert "Categories,Communication,Complaints,1" in body
    assert "example.org" not in body and "Joanna" not in body
    pdf = manager.get(url + "&format=pdf")
    assert pdf.status_code == 200 and pdf.get_data().startswith(b"%PDF")
    assert manager.get("/reports/annual?from=2026-13-01&to=2026-11-30").status_code == 400
    assert manager.get(url + "&format=docx").status_code == 400


def test_through_an_mp(web: Web) -> None:
    """Mail from Parliament's domain is a complaint through an MP; a coordinator can say so
    of any case (and undo it) in the same box."""
    mp = web.ingest(
        body="I write on behalf of my constituent, whose son's EHCP is late.",
        subject="Constituent complaint",
        from_addr="office.of.a.member@fictional.parliament.uk",
    )
    case = web.case(mp)
    assert case.via_mp is True and case.classification["complainant"] == "mp_office"

    direct = web.ingest(body=COMPLAINT, subject="Complaint", from_addr="jo@example.org")
    assert web.case(direct).via_mp is False
    coord = web.client()
    coord.login(COORD)
    coord.act(direct, "figures", complainant="parent_carer", via_mp="on")
    assert web.case(direct).via_mp is True
    with web.app.sessions() as s:
        ev = s.scalars(select(CaseEvent).where(CaseEvent.case_id == direct)
                       .where(CaseEvent.kind == "figures_recorded")).one()  # fmt: skip
    assert ev.detail["via_mp"] is True and "via_mp" in ev.detail["changed"]
    page = coord.get(f"/cases/{direct}").get_data(as_text=True)
    assert "Made through an MP" in page and 'name="via_mp" checked' in page
    coord.act(direct, "figures", complainant="parent_carer")  # box unticked
    assert web.case(direct).via_mp is False
