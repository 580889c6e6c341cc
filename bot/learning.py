"""Learning from coordinators: every "Confirm or correct" in the web UI is a labelled example.

A label (table ``classifier_labels``) points at the message the case was opened from; the
message's text is already stored, so it is never copied. :func:`export_labels` turns the
labels into records in the corpus format of ``tests/data/corpus/README.md``, which
``classifier train`` reads like any other corpus. :func:`correction_counts` counts how often
the classifier was corrected, per kind it had said, for the digest and the reports page:
counts only, never references, names or text.

Personal data: the exported records carry the message's subject and body (that is what a
model learns from), so treat an export file like the database itself. The sender's name and
address are replaced by fictional placeholders, except for automated mail, whose sender
(``mailer-daemon@...``, ``no-reply@...``) is a machine and is itself the signal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.models import Case, CaseEvent, ClassifierLabel, Message
from classifiers.dates import within_12_months

__all__ = [
    "CORPUS_KEYS",
    "LABEL_KEYS",
    "Correction",
    "correction_counts",
    "correction_table",
    "export_labels",
    "record_label",
    "update_event_date",
]

FLAG_NAMES = ("safeguarding", "about_coordinator", "out_of_scope")
#: The keys of a corpus record and of its label, in the corpus README's order.
CORPUS_KEYS = ("id", "service", "received", "from_name", "from_addr", "subject", "body", "html",
               "label")  # fmt: skip
LABEL_KEYS = ("kind", "event_date", "within_12_months", "about_coordinator", "safeguarding",
              "out_of_scope", "stage1_reference", "stage1_response_date", "notes")  # fmt: skip
#: Kinds whose event date the corpus labels (and the 12-month check applies to).
DATED_KINDS = frozenset({"complaint", "stage2_request"})
PLACEHOLDER_NAME = "Correspondent"
LONDON = ZoneInfo("Europe/London")
PLACEHOLDER_DOMAIN = "example.invalid"


def _first_inbound(session: Session, case_id: int) -> int | None:
    return session.scalar(
        select(Message.id)
        .where(Message.case_id == case_id, Message.direction == "in")
        .order_by(Message.id)
        .limit(1)
    )


def _person_set_event_date(session: Session, case: Case) -> str | None:
    """The case's event date when a person set it (else ``None``: the classifier's guess is
    not a label)."""
    if not case.event_date or case.id is None:
        return None
    set_by_person = session.scalar(
        select(CaseEvent.id)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == "event_date_set")
        .limit(1)
    )
    return case.event_date if set_by_person is not None else None


def record_label(
    session: Session,
    case: Case,
    chosen: Mapping[str, Any],
    classifier_said: Mapping[str, Any],
    changed: Sequence[str],
    actor: str,
    at: datetime,
) -> ClassifierLabel:
    """Store one confirmation or correction of ``case`` as a labelled example."""
    session.flush()
    label = ClassifierLabel(
        message_id=_first_inbound(session, case.id),
        case_id=case.id,
        service=case.service,
        kind=str(chosen["kind"]),
        **{k: bool(chosen.get(k)) for k in FLAG_NAMES},
        event_date=_person_set_event_date(session, case),
        classifier_kind=str(classifier_said.get("kind") or case.kind),
        kind_changed="kind" in changed,
        changed=list(changed),
        labelled_by=actor,
        labelled_at=at,
    )
    session.add(label)
    return label


def update_event_date(session: Session, case: Case, value: str) -> None:
    """A person set the event date after confirming the kind: the latest label gets it."""
    label = session.scalar(
        select(ClassifierLabel)
        .where(ClassifierLabel.case_id == case.id)
        .order_by(ClassifierLabel.labelled_at.desc(), ClassifierLabel.id.desc())
        .limit(1)
    )
    if label is not None:
        label.event_date = value


def _latest_per_message(
    session: Session, since: date | None, services: Sequence[str] | None
) -> list[ClassifierLabel]:
    q = select(ClassifierLabel).where(ClassifierLabel.message_id.is_not(None))
    if services is not None:
        q = q.where(ClassifierLabel.service.in_(list(services)))
    rows = list(session.scalars(q.order_by(ClassifierLabel.labelled_at, ClassifierLabel.id)))
    latest: dict[int, ClassifierLabel] = {}
    for row in rows:
        assert row.message_id is not None
        latest[row.message_id] = row  # the last word on a message wins
    out = list(latest.values())
    if since is not None:
        out = [r for r in out if r.labelled_at.date() >= since]
    return out


def _html_only(msg: Message) -> bool:
    ctype = str((msg.headers or {}).get("content-type", "")).lower()
    return msg.html is not None and ctype.startswith("text/html")


def export_labels(
    session: Session, *, since: date | None = None, services: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The labels as corpus records (``tests/data/corpus/README.md``), one per message: the
    latest confirmation or correction of each, labelled on or after ``since``; ordered by the
    message's arrival. A label whose case has no message (a complaint taken by phone) has
    nothing to learn from and is left out."""
    labels = _latest_per_message(session, since, services)
    if not labels:
        return []
    ids = [lb.message_id for lb in labels if lb.message_id is not None]
    messages = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_(ids)))}
    cases = {
        c.id: c
        for c in session.scalars(select(Case).where(Case.id.in_([lb.case_id for lb in labels])))
    }
    records: list[tuple[datetime, int, dict[str, Any]]] = []
    for lb in labels:
        assert lb.message_id is not None
        msg = messages[lb.message_id]
        case = cases[lb.case_id]
        records.append((msg.date, msg.id, _record(lb, msg, case)))
    records.sort(key=lambda r: (r[0], r[1]))
    return [r for _, _, r in records]


def _record(lb: ClassifierLabel, msg: Message, case: Case) -> dict[str, Any]:
    cls = case.classification or {}
    received = msg.date.astimezone(LONDON)  # the corpus gives UK local time with its offset
    event_date = lb.event_date if lb.kind in DATED_KINDS else None
    stage2 = lb.kind == "stage2_request"
    if lb.kind == "automated":
        from_name, from_addr = msg.from_name, msg.from_addr
    else:
        from_name, from_addr = PLACEHOLDER_NAME, f"sender-{msg.id}@{PLACEHOLDER_DOMAIN}"
    said = lb.classifier_kind
    notes = (
        f"coordinator correction (classifier said {said})"
        if lb.changed
        else "coordinator confirmation"
    )
    label: dict[str, Any] = {
        "kind": lb.kind,
        "event_date": event_date,
        "within_12_months": within_12_months(event_date, received.date()) if event_date else None,
        "about_coordinator": lb.about_coordinator,
        "safeguarding": lb.safeguarding,
        "out_of_scope": lb.out_of_scope,
        "stage1_reference": cls.get("stage1_reference") if stage2 else None,
        "stage1_response_date": cls.get("stage1_response_date") if stage2 else None,
        "notes": notes,
    }
    return {
        "id": f"label-{msg.id}",
        "service": lb.service,
        "received": received.isoformat(),
        "from_name": from_name,
        "from_addr": from_addr,
        "subject": msg.subject,
        "body": msg.text,
        "html": _html_only(msg),
        "label": {k: label[k] for k in LABEL_KEYS},
    }


# ------------------------------------------------------------------------------- counts


@dataclass(frozen=True)
class Correction:
    """How often the classifier's verdict of one kind was corrected by a person."""

    kind: str
    corrected: int  # cases a person corrected (kind or a flag)
    classified: int  # cases the classifier gave this kind

    @property
    def rate(self) -> str:
        from bot.reports.data import share

        return share(self.corrected, self.classified)


def correction_counts(
    session: Session, services: Sequence[str], start: datetime, end: datetime
) -> list[Correction]:
    """Per kind the classifier said, for cases received in [start, end): how many it
    classified and how many of those a person corrected (changed the kind or a flag)."""
    said = Case.classification["kind"].as_string()
    source = Case.classification["source"].as_string()
    base = (
        Case.service.in_(list(services)),
        or_(source.is_(None), source != "person"),  # a complaint logged by phone: no classifier
        Case.received_at >= start,
        Case.received_at < end,
        Case.merged_into_id.is_(None),
        said.is_not(None),
    )
    classified = dict(
        session.execute(select(said, func.count()).where(*base).group_by(said)).tuples().all()
    )
    rows = session.execute(
        select(Case.id, said, ClassifierLabel.changed)
        .join(ClassifierLabel, ClassifierLabel.case_id == Case.id)
        .where(*base)
        .order_by(ClassifierLabel.labelled_at, ClassifierLabel.id)
    ).all()
    final: dict[int, tuple[str, bool]] = {}
    for case_id, kind, changed in rows:
        final[case_id] = (str(kind), bool(changed))  # the latest verdict on a case counts
    corrected_cases: dict[str, set[int]] = {}
    for case_id, (kind, changed) in final.items():
        if changed:
            corrected_cases.setdefault(kind, set()).add(case_id)
    kinds = sorted(set(classified) | set(corrected_cases))
    return [
        Correction(str(k), len(corrected_cases.get(str(k), set())), int(classified.get(k, 0) or 0))
        for k in kinds
    ]


def correction_table(
    week: Sequence[Correction], year: Sequence[Correction]
) -> list[tuple[str, Correction, Correction]]:
    """(kind, this week's counts, this year's counts) for every kind in either."""
    w = {c.kind: c for c in week}
    y = {c.kind: c for c in year}
    return [
        (k, w.get(k, Correction(k, 0, 0)), y.get(k, Correction(k, 0, 0)))
        for k in sorted(set(w) | set(y))
    ]
