"""Classifier corrections counted per kind, and labels exported, on SQLite and PostgreSQL.
Mail goes through the real intake; corrections through the web UI's action. All people are
fictional."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from bot.app import App
from bot.learning import correction_counts, export_labels
from bot.models import Case
from bot.pipeline.context import Source
from bot.reports.data import day_bounds
from bot.web import actions
from bot.web.security import Principal
from tests.mailfactory import make_email

RECEIVED = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)  # BST: 10:30 in the UK
CORA = Principal(id=1, email="cora.ordinator@durham.example", roles=frozenset({"coordinator"}),
                 services=("durham",))  # fmt: skip

ENQUIRIES = [
    "Could someone ring me about transport to school next term? Thanks",
    "Please can you send me the form for an EHC needs assessment? Thank you",
    "What happens at an annual review? Many thanks",
]


def _ingest(app: App, body: str, n: int) -> int:
    arrived = RECEIVED + timedelta(minutes=n)
    raw = make_email(
        from_name=f"Parent {n}",
        from_addr=f"parent{n}@example.org",
        subject=f"Question {n}",
        body=body,
        date=arrived,
    )
    # the service received it then (the case's clock is arrival, not the sender's Date)
    result = app.intake.process(raw, Source("durham", "durham"), arrival=arrived)
    assert result.case_reference
    with app.sessions() as s:
        case_id = s.scalar(select(Case.id).where(Case.reference == result.case_reference))
    assert case_id is not None
    return case_id


def test_corrections_per_kind_and_export(app: App) -> None:
    ids = [_ingest(app, body, n) for n, body in enumerate(ENQUIRIES)]
    with app.sessions() as s:
        assert [s.get(Case, i).kind for i in ids] == ["enquiry"] * 3  # type: ignore[union-attr]
    now = RECEIVED + timedelta(days=1)
    with app.sessions.begin() as s:
        ctx = actions.Ctx(s, CORA, now, app.services)
        for case_id, kind in zip(ids, ["complaint", "enquiry", "comment"], strict=True):
            case = s.get(Case, case_id, with_for_update=True)
            assert case is not None
            actions.confirm_classification(ctx, case, kind, {})
        # A person sets the complaint's event date after confirming it.
        complaint = s.get(Case, ids[0])
        assert complaint is not None
        actions.set_event_date(ctx, complaint, "2025-06-09")

    week = day_bounds(date(2026, 6, 8), date(2026, 6, 14))
    other_week = day_bounds(date(2026, 6, 15), date(2026, 6, 21))
    year = day_bounds(date(2026, 1, 1), date(2026, 6, 14))
    with app.sessions() as s:
        this_week = correction_counts(s, ["durham"], *week)
        assert [(c.kind, c.corrected, c.classified, c.rate) for c in this_week] == [
            ("enquiry", 2, 3, "66.6%")
        ]
        assert correction_counts(s, ["durham"], *other_week) == []
        this_year = correction_counts(s, ["durham"], *year)
        assert [(c.kind, c.corrected, c.classified) for c in this_year] == [("enquiry", 2, 3)]
        assert correction_counts(s, ["stoke"], *year) == []

        records = export_labels(s)
        assert [r["label"]["kind"] for r in records] == ["complaint", "enquiry", "comment"]
        first = records[0]
        assert first["received"] == "2026-06-10T10:30:00+01:00"  # UK time, as in the corpus
        assert first["label"]["event_date"] == "2025-06-09"
        # 9 June 2025 is more than 12 months before 10 June 2026.
        assert first["label"]["within_12_months"] is False
        assert first["from_name"] == "Correspondent"
        assert "parent0" not in first["from_addr"]
        assert first["label"]["notes"] == "coordinator correction (classifier said enquiry)"
        assert records[1]["label"]["notes"] == "coordinator confirmation"
        # event dates are labelled only for complaints and Stage 2 requests
        assert records[2]["label"]["event_date"] is None
        assert export_labels(s, since=date(2026, 6, 12)) == []
        assert len(export_labels(s, since=date(2026, 6, 11))) == 3
        assert export_labels(s, services=["stoke"]) == []
