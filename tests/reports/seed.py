"""Seed cases and their trail straight into the database for the report tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.deadlines import timeliness
from bot.models import Case, CaseEvent, LearningRecord, Message
from bot.services import Service
from bot.workdays import add_working_days

LONDON = ZoneInfo("Europe/London")
SEEDED_AT = datetime(2026, 11, 1, tzinfo=UTC)

# 2020/21: the council's annual report. Each category is a coordinator's choice (keywords
# only suggest one); two of the EHCP complaints have no phrase for the keywords to find.
CATEGORY_SUBJECTS = (
    [("EHCP delayed beyond 20 weeks", "ehcp")] * 19
    + [("Complaint", "ehcp")] * 2
    + [("No response to my emails", "communication")] * 5
    + [("You refused to assess my daughter", "refusal_to_assess")]
    + [("Still no school place named", "school_allocation")] * 2
    + [("Taxi transport to school", "transport")] * 3
)
TIMESCALE_DAYS = {"within_10": 6, "within_20": 15, "out_of_timescale": 26}


class Seeder:
    def __init__(self, s: Session, service: Service, tag: str = "T") -> None:
        self.s = s
        self.tag = tag
        self.service = service
        self.n = 0

    def case(self, received: datetime, **kw: Any) -> Case:
        self.n += 1
        values: dict[str, Any] = {
            "reference": f"{self.service.reference_prefix}-{self.tag}{self.n:04d}",
            "service": self.service.key,
            "kind": "complaint",
            "status": "closed",
            "stage": 1,
            "needs_person": True,
            "flags": {},
            "sender_addr": f"parent{self.n}@example.org",
            "sender_name": "",
            "subject": "Complaint",
            "received_at": received,
            "deadlines": {},
            "classification": {},
            "created_at": received,
            "updated_at": received,
        }
        values.update(kw)
        c = Case(**values)
        self.s.add(c)
        self.s.flush()
        return c

    def event(self, case: Case, kind: str, on: date, **detail: Any) -> None:
        at = datetime.combine(on, time(12), LONDON).astimezone(UTC)
        self.s.add(
            CaseEvent(
                case_id=case.id, at=at, actor="user:coordinator@example.org", kind=kind,
                detail={"action": kind, "on": on.isoformat(), **detail},
            )
        )  # fmt: skip

    def message(self, case: Case, text: str) -> None:
        h = hashlib.sha256(f"{case.id}{text}".encode()).hexdigest()
        self.s.add(
            Message(
                case_id=case.id, direction="in", service=case.service,
                message_id=f"<{h[:16]}@example.org>", dedupe_key=h, content_hash=h,
                fingerprint=h, from_addr=case.sender_addr, from_name=case.sender_name,
                subject=case.subject, date=case.received_at, arrived_at=case.received_at,
                text=text, new_text=text, disposition="case", raw=text.encode(),
                created_at=case.received_at,
            )
        )  # fmt: skip

    def working_days(self, start: date, n: int) -> date:
        value = add_working_days(start, n, self.service.calendar).value
        assert value is not None
        return value


def _received(i: int) -> datetime:
    # Tuesdays from 7 April 2020, a week apart, 10:00 London: all inside 2020/21.
    day = date(2020, 4, 7) + timedelta(weeks=i)
    return datetime.combine(day, time(10), LONDON).astimezone(UTC)


def seed_2020_21(s: Session, service: Service) -> None:
    """32 complaints (19 resolved at Stage 1, 10 to Stage 2 of which 7 to the Ombudsman, 3
    withdrawn), Stage 1 timescales 10 / 12 / 7, categories 21 / 5 / 1 / 2 / 3; 24 more via
    an MP; 4 compliments; and cases outside the year that must not count."""
    sd = Seeder(s, service)
    buckets = ["within_10"] * 10 + ["within_20"] * 12 + ["out_of_timescale"] * 7
    for i, (subject, category) in enumerate(CATEGORY_SUBJECTS):
        received = _received(i)
        cls = {"complainant": "parent_carer"} if i >= 3 else {}
        if category:
            cls["category"] = category
        # 0-2 withdrawn; 3-21 resolved at Stage 1; 22-31 to Stage 2 (22-28 then Ombudsman).
        if i < 3:
            c = sd.case(received, subject=subject, classification=cls, closure_reason="withdrawn")
            sd.event(c, "close", received.date() + timedelta(days=3), reason="withdrawn",
                     **{"from": {"status": "received", "stage": 1}})  # fmt: skip
            continue
        stage2 = i >= 22
        reason = ("ombudsman" if i < 29 else "resolved") if stage2 else "resolved"
        c = sd.case(
            received, subject=subject, classification=cls, closure_reason=reason,
            stage=2 if stage2 else 1, outcome="upheld" if i % 2 else "not_upheld",
            via_mp=False,
        )  # fmt: skip
        bucket = buckets[i - 3]
        responded = sd.working_days(received.date(), TIMESCALE_DAYS[bucket])
        assert timeliness(received, responded, service) == bucket
        sd.event(c, "acknowledge", received.date() + timedelta(days=1), on_time=True,
                 **{"from": {"status": "received", "stage": 1}})  # fmt: skip
        sd.event(c, "respond", responded, on_time=bucket == "within_10",
                 **{"from": {"status": "investigating", "stage": 1}})  # fmt: skip
        last = responded
        if stage2:
            req = responded + timedelta(days=7)
            sd.event(c, "request_next_stage", req,
                     **{"from": {"status": "responded", "stage": 1},
                        "to": {"status": "next_stage_requested", "stage": 2}})  # fmt: skip
            last = sd.working_days(req, 15)
            sd.event(c, "respond", last, **{"from": {"status": "investigating", "stage": 2}})
        sd.event(c, "close", last + timedelta(days=2), reason=reason,
                 **{"from": {"status": "responded", "stage": c.stage}})  # fmt: skip
        if i == 5:
            s.add(
                LearningRecord(
                    case_id=c.id, service=c.service, you_said="Plans were late",
                    we_did="Added a weekly check of every plan nearing 20 weeks",
                    what_else="", created_by="manager@example.org", created_at=SEEDED_AT,
                    updated_by="manager@example.org", updated_at=SEEDED_AT,
                )
            )  # fmt: skip
    for i in range(24):  # via an MP
        sd.case(_received(i) + timedelta(days=1), via_mp=True, status="received",
                subject="EHCP delayed", classification={"complainant": "parent_carer"})  # fmt: skip
    for i in range(4):
        sd.case(_received(i) + timedelta(days=2), kind="compliment", status="closed")
    # Outside the year: neither counted.
    sd.case(datetime(2020, 3, 31, 12, tzinfo=UTC), subject="EHCP delayed")
    sd.case(datetime(2021, 4, 1, 12, tzinfo=UTC), subject="EHCP delayed")
    s.commit()
