"""``sendiass-bot letters list|show|approve|discard|send``: the outbox, for coordinators.

A held letter waits for a person: ``approve ID`` moves it to pending (the daemon's sender
sends it within seconds; ``letters send`` sends at once without the daemon), ``discard ID``
drops it. Approving a failed letter queues it again.
"""

from __future__ import annotations

import argparse
import getpass
from datetime import UTC
from typing import TYPE_CHECKING

from bot.errors import UserError

if TYPE_CHECKING:  # imported where used: the command line starts without them
    from bot.app import App
    from bot.models import OutboxLetter

OPEN_STATUSES = ("held", "pending", "sending", "failed")
STATUSES = (*OPEN_STATUSES, "sent", "discarded")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("letters", help="letters in the outbox: list, approve, discard, send")
    a = p.add_subparsers(dest="letters_command", metavar="ACTION", required=True)
    lst = a.add_parser("list", help="letters waiting, held or failed (--all for every letter)")
    lst.add_argument("--all", action="store_true", help="include sent and discarded letters")
    lst.add_argument("--status", choices=STATUSES, help="only letters with this status")
    lst.set_defaults(func=cmd_list)
    show = a.add_parser("show", help="one letter: headers and text")
    show.add_argument("id", type=_letter_id, metavar="ID")
    show.set_defaults(func=cmd_show)
    approve = a.add_parser("approve", help="send a held (or failed) letter")
    approve.add_argument("id", type=_letter_id, metavar="ID")
    approve.set_defaults(func=cmd_approve)
    discard = a.add_parser("discard", help="never send this letter")
    discard.add_argument("id", type=_letter_id, metavar="ID")
    discard.set_defaults(func=cmd_discard)
    send = a.add_parser("send", help="send every letter that is due now, then exit")
    send.set_defaults(func=cmd_send)


def _letter_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a letter id (a number), got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of 1 or more, got {value}")
    return value


def _actor() -> str:
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):
        return "user:unknown"


def _build(args: argparse.Namespace) -> App:
    from bot.app import build_app

    return build_app(args.config)


def cmd_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from bot.models import Case, OutboxLetter

    app = _build(args)
    with app.sessions() as s:
        query = select(OutboxLetter, Case.reference).outerjoin(Case).order_by(OutboxLetter.id)
        if args.status:
            query = query.where(OutboxLetter.status == args.status)
        elif not args.all:
            query = query.where(OutboxLetter.status.in_(OPEN_STATUSES))
        rows = s.execute(query).all()
    if not rows:
        print("no letters" if args.all or args.status else "no letters waiting")
        return 0
    for letter, reference in rows:
        why = letter.hold_reason if letter.status == "held" else letter.last_error
        nxt = ""
        if letter.status == "pending" and letter.next_attempt_at is not None:
            nxt = f"  next try {letter.next_attempt_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}"
        print(
            f"{letter.id:>5}  {letter.status:<9} {letter.purpose:<20} {reference or '-':<15} "
            f"to {letter.to_addr}  {letter.created_at.astimezone(UTC):%Y-%m-%d %H:%M}"
            + nxt
            + (f"  [{why}]" if why else "")
        )
    return 0


def _get(app: App, letter_id: int) -> OutboxLetter:
    from bot.models import OutboxLetter

    with app.sessions() as s:
        letter = s.get(OutboxLetter, letter_id)
    if letter is None:
        raise UserError(f"letter {letter_id}: no such letter (see `letters list --all`)")
    return letter


def cmd_show(args: argparse.Namespace) -> int:
    letter = _get(_build(args), args.id)
    print(f"Letter {letter.id}: {letter.purpose}, {letter.status}")
    if letter.hold_reason:
        print(f"Held because: {letter.hold_reason}")
    if letter.last_error:
        print(f"Last error: {letter.last_error} (attempts: {letter.attempts})")
    print(f"From: {letter.from_addr}\nTo: {letter.to_addr}\nSubject: {letter.subject}")
    print(f"Message-ID: {letter.message_id}\n")
    print(letter.body_text)
    return 0


def _move(args: argparse.Namespace, allowed: tuple[str, ...], to: str, event: str) -> int:
    from bot.casestate import add_event
    from bot.models import Case, OutboxLetter

    app = _build(args)
    now = app.clock()
    with app.sessions.begin() as s:
        letter = s.get(OutboxLetter, args.id, with_for_update=True)
        if letter is None:
            raise UserError(f"letter {args.id}: no such letter (see `letters list --all`)")
        if letter.status not in allowed:
            raise UserError(
                f"letter {args.id} is {letter.status}; only a letter that is "
                f"{' or '.join(allowed)} can be {event.removeprefix('letter_')}"
            )
        before = letter.status
        letter.status = to
        letter.next_attempt_at = None
        if to == "pending":
            letter.attempts = 0
        case = s.get(Case, letter.case_id) if letter.case_id is not None else None
        if case is not None:
            add_event(
                s,
                case,
                now,
                event,
                {"outbox_id": letter.id, "purpose": letter.purpose, "from": before},
                actor=_actor(),
            )
    print(f"letter {args.id}: {before} -> {to}")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    return _move(args, ("held", "failed"), "pending", "letter_approved")


def cmd_discard(args: argparse.Namespace) -> int:
    return _move(args, ("held", "pending", "failed"), "discarded", "letter_discarded")


def cmd_send(args: argparse.Namespace) -> int:
    app = _build(args)
    stats = app.make_sender().drain_once()
    print(stats)
    return 0
