"""``sendiass-bot demo``: a dozen fictional emails through the embedded default.

Everything here is invented: names, addresses and events.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import select

from bot.app import build_app
from bot.config import EMBEDDED
from bot.errors import UserError
from bot.models import Case, OutboxLetter
from bot.poller import poll_all_once
from bot.sources.maildir import deliver

SERVICE_ADDR = {
    "durham": "sendiass@durham.gov.uk",
    "staffordshire": "sendiass@staffordshire-fp.org.uk",
    "coventry": "iass@coventry.gov.uk",
    "stoke": "iass@stoke.gov.uk",
}

# (service, sender name, sender address, subject, body, extra headers)
DEMO_MAIL: tuple[tuple[str, str, str, str, str, dict[str, str]], ...] = (
    (
        "durham",
        "Joanna Pike",
        "joanna.pike@example.org",
        "Complaint about my caseworker",
        "Dear SENDIASS,\n\nI want to make a formal complaint. My caseworker promised to call me "
        "back before my son's annual review on 3 November and never did. I went into the meeting "
        "on my own and felt completely unsupported.\n\nJoanna Pike",
        {},
    ),
    (
        "durham",
        "Martin Oduya",
        "m.oduya@example.net",
        "Thank you",
        "Hello,\n\nI just wanted to say a huge thank you to Priya for helping us prepare for the "
        "tribunal. We could not have done it without her.\n\nMartin",
        {},
    ),
    (
        "durham",
        "Out of Office",
        "l.harper@example.com",
        "Automatic reply: EHCP query",
        "I am out of the office until Monday with no access to email.",
        {"Auto-Submitted": "auto-replied"},
    ),
    (
        "staffordshire",
        "Claire Bennett",
        "claire.b@example.org",
        "EHC needs assessment",
        "Hi, the school has said they won't apply for an EHC needs assessment for my daughter. "
        "Can I apply myself? What do I need to send?\n\nThanks, Claire",
        {},
    ),
    (
        "staffordshire",
        "Ade Okafor",
        "ade.okafor@example.com",
        "Not happy with the Stage 1 reply",
        "Dear Complaints Officer,\n\nI received your Stage 1 response letter dated 2 November "
        "about reference STA-2026-0003. I am still not satisfied and I would like my complaint "
        "to be reviewed at Stage 2.\n\nAde Okafor",
        {},
    ),
    (
        "staffordshire",
        "SEND Newsletter",
        "newsletter@example.org",
        "November news",
        "This month: transport changes, coffee mornings and tribunal dates. Unsubscribe here.",
        {"List-Id": "<news.example.org>", "Precedence": "bulk"},
    ),
    (
        "coventry",
        "Rebecca Lowe",
        "rebecca.lowe@example.org",
        "Website suggestion",
        "It would help if the website had the drop-in times on the front page. Just a thought!",
        {},
    ),
    (
        "coventry",
        "Tom Greaves",
        "tgreaves@example.net",
        "Very worried",
        "I need someone to call me today. My son told me he doesn't feel safe at home when his "
        "stepdad is there and he has said he wants to hurt himself. I didn't know who else "
        "to tell.",
        {},
    ),
    (
        "coventry",
        "Mail Delivery System",
        "mailer-daemon@example.com",
        "Undelivered Mail Returned to Sender",
        "This is the mail system. Your message could not be delivered to one or more recipients.",
        {},
    ),
    (
        "stoke",
        "Helen Marsh",
        "helen.marsh@example.org",
        "Complaint about the council",
        "I am furious with the council SEN team. They have missed the 20 week deadline for my "
        "son's EHC plan and nobody answers the phone. I want to complain.",
        {},
    ),
    (
        "stoke",
        "Sam Iqbal",
        "sam.iqbal@example.com",
        "Transport question",
        "Hello, is my daughter entitled to school transport if her special school is 4 miles "
        "away? Thanks, Sam",
        {},
    ),
    (
        "stoke",
        "Kerry Dunn",
        "kerry.dunn@example.org",
        "Team lead",
        "I'm making a complaint about the team lead. She told me at our meeting that my son's "
        "needs weren't 'severe enough' and was dismissive and rude.",
        {},
    ),
)


def build_demo_messages(now: datetime) -> list[tuple[str, bytes]]:
    out = []
    for i, (service, name, addr, subject, body, extra) in enumerate(DEMO_MAIL):
        msg = EmailMessage()
        msg["From"] = f"{name} <{addr}>"
        msg["To"] = SERVICE_ADDR[service]
        msg["Subject"] = subject
        msg["Date"] = format_datetime(now - timedelta(minutes=5 * (len(DEMO_MAIL) - i)))
        msg["Message-ID"] = make_msgid(f"demo{i}", domain="demo.sendiass-bot.invalid")
        for key, value in extra.items():
            msg[key] = value
        msg.set_content(body)
        out.append((service, msg.as_bytes()))
    return out


def run_demo(args: argparse.Namespace) -> int:
    app = build_app(args.config)
    if app.config.origin != EMBEDDED:
        raise UserError(
            f"demo runs on the embedded default only; {app.config.origin} is in use "
            "(move it aside or run from another folder)"
        )
    boxes = {mb.service: mb for mb in app.config.mailboxes}
    for service, raw in build_demo_messages(datetime.now(UTC)):
        path = boxes[service].path
        assert path is not None
        deliver(path, raw)
    results, errors = poll_all_once(app)
    for stats in results:
        print(stats)
    for err in errors:
        print(f"mailbox failed: {err}")
    print(app.make_sender().drain_once())
    print()
    print_queue(app)
    return 1 if errors else 0


def print_queue(app: object) -> None:
    from bot.app import App

    assert isinstance(app, App)
    with app.sessions() as s:
        cases = list(s.scalars(select(Case).order_by(Case.id)))
        letters = list(s.scalars(select(OutboxLetter).order_by(OutboxLetter.id)))
    urgent = sorted(
        (c for c in cases if c.needs_person),
        key=lambda c: (
            not c.flags.get("safeguarding"),
            c.due_on or datetime.max.date(),
            c.id,
        ),
    )
    print(f"Triage queue ({len(urgent)} of {len(cases)} cases need a person):")
    header = f"{'reference':<15} {'kind':<15} {'conf':>4}  {'status':<13} {'next due':<10}"
    print(f"  {header}  flags / why")
    for c in urgent:
        flags = [
            k for k, v in c.flags.items() if isinstance(v, bool) and v and k != "within_12_months"
        ]
        why = "; ".join(c.flags.get("hold_reasons", [])) or "-"
        due = c.due_on.isoformat() if c.due_on else "-"
        print(
            f"  {c.reference:<15} {c.kind:<15} {c.confidence or 0:>4.2f}  "
            f"{c.status:<13} {due:<10}  {' '.join(flags) or ''} {why}"
        )
    print()
    if letters:
        print("Letters (held ones wait for a coordinator: sendiass-bot letters list):")
        for letter in letters:
            reason = f"  ({letter.hold_reason})" if letter.status == "held" else ""
            print(f"  {letter.purpose:<20} {letter.status:<8} to {letter.to_addr}{reason}")
    else:
        print("Letters: none")
    print(f"\nDatabase: {app.engine.url}; letters written to: {app.config.outbound.path}/")
