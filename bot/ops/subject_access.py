"""Subject access: everything held about one person, as readable files plus a JSON index.

A person is matched by their email address, exactly (case-insensitive), never by name or
by part of an address: ``okafor@example.org`` does not find ``j.okafor@example.org``. They
are a party to a case when the case was opened from their address, when a message on it
came from (or asked replies to go to) their address, or when a letter on it went to them.

The output folder (mode 0700, files 0600)::

    index.json                      what is in the folder, case by case
    cases/<REF>/case.html           the case: details, trail, notes, messages, letters
    cases/<REF>/messages/<n>.eml    each message as received (while it is still held)
    cases/<REF>/attachments/...     each attachment's bytes
    cases/<REF>/letters/<n>.txt     each letter as written
    cases/<REF>/files/...           documents uploaded to the case
    other/...                       messages from them that are not on a case, quarantined mail

Each case's trail records the export (who, when, how many files; not where). The service
should still read the export before releasing it: a case file can name third parties.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from bot.casestate import add_event
from bot.errors import UserError
from bot.models import (
    Case,
    CaseEvent,
    CaseFile,
    CaseNote,
    Message,
    OutboxLetter,
    QuarantineItem,
)

_ADDR = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Export:
    folder: Path
    cases: list[str] = field(default_factory=list)
    files: int = 0


def normalise(email: str) -> str:
    addr = email.strip().lower()
    if not _ADDR.match(addr) or len(addr) > 320:
        raise UserError(f"{email!r} is not an email address")
    return addr


def _safe(name: str, fallback: str) -> str:
    cleaned = _SAFE.sub("_", name).strip("._")[:80]
    return cleaned or fallback


def _iso(value: datetime | Any) -> str | None:
    return value.isoformat() if value is not None else None


class _Writer:
    """Writes files under the output folder, mode 0600, and counts them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def write(self, rel: str, data: bytes | str) -> str:
        path = self.root / rel
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        payload = data.encode("utf-8") if isinstance(data, str) else data
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        self.count += 1
        return rel


def _prepare(folder: Path) -> None:
    if folder.exists():
        if not folder.is_dir():
            raise UserError(f"{folder} exists and is not a folder")
        if any(folder.iterdir()):
            raise UserError(f"{folder} is not empty: give a new or empty folder")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)


def _party_cases(s: Session, addr: str) -> list[Case]:
    from_them = select(Message.case_id).where(
        Message.case_id.is_not(None),
        or_(func.lower(Message.from_addr) == addr, func.lower(Message.reply_to) == addr),
    )
    to_them = select(OutboxLetter.case_id).where(
        OutboxLetter.case_id.is_not(None), func.lower(OutboxLetter.to_addr) == addr
    )
    return list(
        s.scalars(
            select(Case)
            .where(
                or_(
                    func.lower(Case.sender_addr) == addr,
                    Case.id.in_(from_them),
                    Case.id.in_(to_them),
                )
            )
            .order_by(Case.id)
        )
    )


def _message_json(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "direction": m.direction,
        "date": _iso(m.date),
        "arrived_at": _iso(m.arrived_at),
        "from": f"{m.from_name} <{m.from_addr}>" if m.from_name else m.from_addr,
        "to": list(m.to_addrs or []),
        "subject": m.subject,
        "message_id": m.message_id,
        "text": m.text,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in m.attachments
        ],
    }


def _write_message(w: _Writer, base: str, n: int, m: Message) -> dict[str, Any]:
    item = _message_json(m)
    if m.raw:
        item["eml"] = w.write(f"{base}/messages/{n:03d}.eml", m.raw)
    else:
        item["eml"] = None  # deleted under the retention policy
    for i, (a, meta) in enumerate(zip(m.attachments, item["attachments"], strict=True), 1):
        if a.content is not None:
            name = _safe(a.filename, "attachment")
            meta["file"] = w.write(f"{base}/attachments/{n:03d}-{i}-{name}", a.content)
    return item


def _section(title: str, body: str) -> str:
    return f"<h2>{html.escape(title)}</h2>\n{body}\n"


def _dl(pairs: list[tuple[str, Any]]) -> str:
    rows = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape('' if v is None else str(v))}</dd>"
        for k, v in pairs
    )
    return f"<dl>{rows}</dl>"


def _pre(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"


def _case_html(case: Case, data: dict[str, Any]) -> str:
    parts = [
        _section(
            "Case",
            _dl(
                [
                    ("Reference", case.reference),
                    ("Service", case.service),
                    ("Kind", case.kind),
                    ("Status", case.status),
                    ("Stage", case.stage),
                    ("From", f"{case.sender_name} <{case.sender_addr}>"),
                    ("Subject", case.subject),
                    ("Received", _iso(case.received_at)),
                    ("Closed", _iso(case.closed_at)),
                    ("Closure reason", case.closure_reason),
                    ("Outcome", case.outcome),
                ]
            ),
        )
    ]
    for m in data["messages"]:
        parts.append(
            _section(
                f"Message {m['id']} ({m['direction']}), {m['date']}",
                _dl(
                    [
                        ("From", m["from"]),
                        ("To", ", ".join(m["to"])),
                        ("Subject", m["subject"]),
                        ("Attachments", ", ".join(a["filename"] for a in m["attachments"])),
                    ]
                )
                + _pre(m["text"]),
            )
        )
    for letter in data["letters"]:
        parts.append(
            _section(
                f"Letter {letter['id']} ({letter['status']}), {letter['sent_at'] or ''}",
                _dl([("To", letter["to"]), ("Subject", letter["subject"])]) + _pre(letter["text"]),
            )
        )
    for note in data["notes"]:
        parts.append(_section(f"Note ({note['kind']}), {note['at']}", _pre(note["text"])))
    trail = "".join(
        f"<tr><td>{html.escape(e['at'] or '')}</td><td>{html.escape(e['kind'])}</td>"
        f"<td>{html.escape(e['actor'])}</td>"
        f"<td>{html.escape(json.dumps(e['detail'], ensure_ascii=False))}</td></tr>"
        for e in data["events"]
    )
    parts.append(_section("Case history", f"<table>{trail}</table>"))
    title = html.escape(f"Case {case.reference}")
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><h1>{title}</h1>\n{''.join(parts)}</body></html>\n"
    )


def _export_case(s: Session, w: _Writer, case: Case) -> dict[str, Any]:
    base = f"cases/{_safe(case.reference, f'case-{case.id}')}"
    messages = [
        _write_message(w, base, n, m)
        for n, m in enumerate(
            s.scalars(select(Message).where(Message.case_id == case.id).order_by(Message.id)), 1
        )
    ]
    letters = []
    for letter in s.scalars(
        select(OutboxLetter).where(OutboxLetter.case_id == case.id).order_by(OutboxLetter.id)
    ):
        item = {
            "id": letter.id,
            "purpose": letter.purpose,
            "status": letter.status,
            "to": letter.to_addr,
            "subject": letter.subject,
            "created_at": _iso(letter.created_at),
            "sent_at": _iso(letter.sent_at),
            "text": letter.body_text,
        }
        item["file"] = w.write(
            f"{base}/letters/{letter.id:04d}.txt",
            f"To: {letter.to_addr}\nSubject: {letter.subject}\n\n{letter.body_text}",
        )
        letters.append(item)
    notes = [
        {"kind": n.kind, "author": n.author, "at": _iso(n.at), "text": n.text}
        for n in s.scalars(
            select(CaseNote).where(CaseNote.case_id == case.id).order_by(CaseNote.id)
        )
    ]
    files = []
    for f in s.scalars(select(CaseFile).where(CaseFile.case_id == case.id).order_by(CaseFile.id)):
        rel = w.write(f"{base}/files/{f.id}-{_safe(f.filename, 'file')}", f.content)
        files.append({"filename": f.filename, "content_type": f.content_type, "file": rel})
    events = [
        {"at": _iso(e.at), "actor": e.actor, "kind": e.kind, "detail": e.detail}
        for e in s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
        )
    ]
    data: dict[str, Any] = {
        "reference": case.reference,
        "service": case.service,
        "kind": case.kind,
        "status": case.status,
        "stage": case.stage,
        "sender": {"name": case.sender_name, "email": case.sender_addr},
        "subject": case.subject,
        "received_at": _iso(case.received_at),
        "closed_at": _iso(case.closed_at),
        "closure_reason": case.closure_reason,
        "outcome": case.outcome,
        "messages": messages,
        "letters": letters,
        "notes": notes,
        "files": files,
        "events": events,
    }
    data["html"] = w.write(f"{base}/case.html", _case_html(case, data))
    return data


def _quarantined_from(s: Session, addr: str) -> list[QuarantineItem]:
    parser = BytesHeaderParser()
    found = []
    for q in s.scalars(select(QuarantineItem).order_by(QuarantineItem.id)):
        try:
            headers = parser.parsebytes(q.raw[:262144])
            values = [
                str(v) for h in ("from", "reply-to", "sender") for v in headers.get_all(h, [])
            ]
        except Exception:  # unparseable: quarantined for a reason
            continue
        if any(a.strip().lower() == addr for _n, a in getaddresses(values)):
            found.append(q)
    return found


def export_subject(
    sessions: sessionmaker[Session], email: str, folder: Path, now: datetime, actor: str
) -> Export:
    """Write everything held about ``email`` to ``folder`` and record it on each case."""
    addr = normalise(email)
    _prepare(folder)
    w = _Writer(folder)
    out = Export(folder)
    with sessions() as s:
        cases = _party_cases(s, addr)
        case_data = []
        for case in cases:
            before = w.count
            data = _export_case(s, w, case)
            case_data.append(data)
            out.cases.append(case.reference)
            add_event(
                s,
                case,
                now,
                "subject_access_export",
                {
                    "files": w.count - before,
                    "messages": len(data["messages"]),
                    "letters": len(data["letters"]),
                },
                actor=actor,
            )
        uncased = [
            _write_message(w, "other", n, m)
            for n, m in enumerate(
                s.scalars(
                    select(Message)
                    .where(
                        Message.case_id.is_(None),
                        or_(
                            func.lower(Message.from_addr) == addr,
                            func.lower(Message.reply_to) == addr,
                        ),
                    )
                    .order_by(Message.id)
                ),
                1,
            )
        ]
        letters = [
            {
                "id": x.id,
                "purpose": x.purpose,
                "status": x.status,
                "subject": x.subject,
                "sent_at": _iso(x.sent_at),
                "text": x.body_text,
            }
            for x in s.scalars(
                select(OutboxLetter).where(
                    OutboxLetter.case_id.is_(None), func.lower(OutboxLetter.to_addr) == addr
                )
            )
        ]
        quarantined = [
            {
                "id": q.id,
                "received": _iso(q.created_at),
                "reason": q.reason,
                "eml": w.write(f"other/quarantine/{q.id}.eml", q.raw),
            }
            for q in _quarantined_from(s, addr)
        ]
        index = {
            "subject_access": {"email": addr, "generated_at": now.isoformat(), "by": actor},
            "cases": case_data,
            "messages_not_on_a_case": uncased,
            "letters_not_on_a_case": letters,
            "quarantined": quarantined,
        }
        w.write("index.json", json.dumps(index, indent=2, ensure_ascii=False, default=str))
        s.commit()
    out.files = w.count
    return out
