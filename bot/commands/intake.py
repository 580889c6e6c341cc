"""Intake commands: run, poll-once, ingest, cases, quarantine, demo, check-config, db."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import UserError

if TYPE_CHECKING:  # imported where used: the command line starts without them
    from bot.app import App
    from bot.models import Case

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the daemon: watch every mailbox until stopped")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "poll-once",
        help="one pass: read every mailbox, send the letters that are due, then exit",
        description="One pass, as from cron: read every mailbox once, then send every letter "
        "that is due (the outbox is drained once), then exit. Exit 1 if a mailbox failed.",
    )
    p.add_argument(
        "--no-send",
        action="store_true",
        help="only read the mailboxes; leave letters in the outbox (`letters send` sends them)",
    )
    p.set_defaults(func=cmd_poll_once)

    p = sub.add_parser("ingest", help="process .eml files or Maildir folders")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".eml file or Maildir folder")
    p.add_argument(
        "--service", help="service the mail was sent to (default: from the To addresses)"
    )
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("cases", help="work with the case log")
    cases = p.add_subparsers(dest="cases_command", metavar="ACTION", required=True)
    e = cases.add_parser("export", help="one record per case to standard output")
    e.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    e.add_argument("--service", help="only this service's cases")
    e.set_defaults(func=cmd_cases_export)

    p = sub.add_parser("quarantine", help="messages that could not be processed")
    q = p.add_subparsers(dest="quarantine_command", metavar="ACTION", required=True)
    q.add_parser("list", help="list quarantined messages").set_defaults(func=cmd_quarantine_list)
    r = q.add_parser("retry", help="run a quarantined message through the pipeline again")
    r.add_argument("id", type=_positive_int, metavar="ID", help="quarantine id (from list)")
    r.set_defaults(func=cmd_quarantine_retry)

    p = sub.add_parser("demo", help="drop fictional emails into local Maildirs and process them")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "check-config",
        help="validate the configuration and service files (--connect: log in to the servers)",
        description="Validate the configuration file, the service files and the letter "
        "templates; check that every password and key it names can be read now; warn about "
        "service-file values still marked TO BE CONFIRMED. Exit 2, one line per problem, "
        "naming the file and the key, if anything is wrong.",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="treat values marked TO BE CONFIRMED as errors",
    )
    p.add_argument(
        "--connect",
        action="store_true",
        help="also log in to each IMAP server and the SMTP server (nothing is changed or sent)",
    )
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("db", help="database maintenance")
    d = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    d.add_parser(
        "upgrade",
        help="apply pending migrations (the explicit step when database.auto_migrate = false)",
    ).set_defaults(func=cmd_db_upgrade)
    d.add_parser(
        "current", help="print the schema revision the database is at, and this version's"
    ).set_defaults(func=cmd_db_current)
    d.add_parser(
        "check",
        help="exit 0 when the schema is at this version's revision, 1 when `db upgrade` is due",
    ).set_defaults(func=cmd_db_check)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of 1 or more, got {value}")
    return value


def _app(args: argparse.Namespace) -> App:
    from bot.app import build_app

    return build_app(args.config)


# ------------------------------------------------------------------------------- daemon


def cmd_run(args: argparse.Namespace) -> int:
    from bot.poller import run_daemon

    app = _app(args)
    if not app.config.mailboxes:
        raise UserError(f"{app.config.origin}: mailbox: no mailboxes configured")
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info(
            "received %s: finishing the current message, then exiting", signal.Signals(signum).name
        )
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run_daemon(app, stop)
    return 0


def cmd_poll_once(args: argparse.Namespace) -> int:
    from bot.poller import poll_all_once

    app = _app(args)
    results, errors = poll_all_once(app)
    for stats in results:
        print(stats)
    for err in errors:
        print(f"sendiass-bot: mailbox failed: {err}", file=sys.stderr)
    if not args.no_send:
        from bot.health import OUTBOX, SENDER, Heartbeat

        # Letters of the mail just read (and any due for a retry) leave in the same pass.
        sender = app.make_sender()
        sender.heartbeat = Heartbeat(app.sessions, SENDER, OUTBOX, 0.0)
        sender.heartbeat.start()
        print(sender.drain_and_report())
    return 1 if errors else 0


# ------------------------------------------------------------------------------- ingest


def _eml_paths(paths: list[str]) -> Iterator[Path]:
    for text in paths:
        path = Path(text)
        if not path.exists():
            raise UserError(f"{text}: no such file or folder")
        if path.is_dir():
            subs = [path / s for s in ("new", "cur")] if (path / "cur").is_dir() else [path]
            for sub in subs:
                yield from sorted(
                    p for p in sub.iterdir() if p.is_file() and not p.name.startswith(".")
                )
        else:
            yield path


def _service_for(app: App, raw: bytes) -> str | None:
    """The service whose address the message was sent to."""
    import email.parser
    import email.policy
    import email.utils

    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    recipients = {
        a.lower()
        for _, a in email.utils.getaddresses(
            [str(headers.get(h, "")) for h in ("to", "cc", "delivered-to", "x-original-to")]
        )
    }
    for key, service in app.services.items():
        if recipients & {a.lower() for a in service.addresses}:
            return str(key)
    return None


def cmd_ingest(args: argparse.Namespace) -> int:
    from bot.parse import received_time
    from bot.pipeline.context import Source

    app = _app(args)
    if args.service and args.service not in app.services:
        raise UserError(
            f"--service: unknown service {args.service!r} "
            f"(expected one of {', '.join(sorted(app.services))})"
        )
    files = list(_eml_paths(args.paths))
    counts: dict[str, int] = {}
    for path in _progress(files, "ingest"):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise UserError(f"{path}: cannot read: {exc.strerror}") from None
        service = args.service or _service_for(app, raw)
        if service is None:
            raise UserError(
                f"{path}: not addressed to a known service; give --service "
                f"({', '.join(sorted(app.services))})"
            )
        # When the service received it: the newest Received header, else the file's time.
        arrival = received_time(raw, datetime.now(UTC)) or datetime.fromtimestamp(
            path.stat().st_mtime, UTC
        )
        result = app.intake.process(
            raw, Source(f"ingest:{service}", service, path=str(path)), arrival
        )
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing"
    print(f"ingested {len(files)} file(s): {summary}")
    return 0


def _progress(items: list[Path], label: str) -> Iterator[Path]:
    """A progress bar on a terminal for long runs; silent otherwise."""
    if len(items) < 50 or not sys.stderr.isatty():
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, desc=label, unit="msg", file=sys.stderr)


# -------------------------------------------------------------------------------- cases


def _case_record(case: Case, message_ids: list[str]) -> dict[str, Any]:
    return {
        "reference": case.reference,
        "service": case.service,
        "kind": case.kind,
        "status": case.status,
        "stage": case.stage,
        "received": case.received_at.astimezone(UTC).isoformat(),
        "message_ids": message_ids,
        "acknowledge_by": case.acknowledge_by.isoformat() if case.acknowledge_by else None,
        "respond_by": case.respond_by.isoformat() if case.respond_by else None,
        "needs_person": case.needs_person,
        "flags": {k: v for k, v in case.flags.items() if isinstance(v, bool) and v},
    }


def cmd_cases_export(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from bot.models import Case, Message

    app = _app(args)
    with app.sessions() as s:
        query = select(Case).order_by(Case.id)
        if args.service:
            query = query.where(Case.service == args.service)
        ids: dict[int, list[str]] = {}
        for case_id, mid in s.execute(
            select(Message.case_id, Message.message_id)
            .where(Message.case_id.is_not(None))
            .order_by(Message.id)
        ):
            ids.setdefault(case_id, []).append(mid)
        records = [_case_record(c, ids.get(c.id, [])) for c in s.scalars(query)]
    if args.format == "jsonl":
        for rec in records:
            print(json.dumps(rec, ensure_ascii=False))
    else:
        fields = ["reference", "service", "kind", "status", "stage", "received", "message_ids",
                  "acknowledge_by", "respond_by", "needs_person", "flags"]  # fmt: skip
        writer = csv.DictWriter(sys.stdout, fieldnames=fields)
        writer.writeheader()
        for rec in records:
            rec["message_ids"] = " ".join(rec["message_ids"])
            rec["flags"] = " ".join(sorted(rec["flags"]))
            writer.writerow(rec)
    return 0


# --------------------------------------------------------------------------- quarantine


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from bot.models import QuarantineItem

    app = _app(args)
    with app.sessions() as s:
        items = list(
            s.scalars(
                select(QuarantineItem)
                .where(QuarantineItem.released_at.is_(None))
                .order_by(QuarantineItem.id)
            )
        )
    if not items:
        print("quarantine is empty")
        return 0
    for q in items:
        where = q.source or (f"UID {q.uid}" if q.uid is not None else "")
        print(
            f"{q.id:>5}  {q.created_at.astimezone(UTC):%Y-%m-%d %H:%M}  {q.mailbox}  {where}  "
            f"{len(q.raw)} bytes  [{q.stage}] {q.reason}"
        )
    return 0


def cmd_quarantine_retry(args: argparse.Namespace) -> int:
    from bot.models import QuarantineItem
    from bot.pipeline.context import Source

    app = _app(args)
    with app.sessions() as s:
        item = s.get(QuarantineItem, args.id)
        if item is None or item.released_at is not None:
            raise UserError(f"quarantine id {args.id}: no such quarantined message")
        raw, source = item.raw, Source(item.mailbox, item.service, path=item.source)
        created = item.created_at
    result = app.intake.process(raw, source, created)
    if result.outcome.value == "quarantine":
        print(f"still quarantined: {result.reason}")
        return 1
    with app.sessions.begin() as s:
        item = s.get(QuarantineItem, args.id)
        assert item is not None
        item.released_at = datetime.now(UTC)
        item.released_message_id = result.message_pk
    where = f" on case {result.case_reference}" if result.case_reference else ""
    print(f"released: {result.outcome.value}{where}")
    return 0


# --------------------------------------------------------------------------------- misc


def cmd_check_config(args: argparse.Namespace) -> int:
    from bot import resources
    from bot.checks import check_connections, secret_problems, unconfirmed_values
    from bot.config import load_config
    from bot.letters.render import renderer_for
    from bot.reports.categories import load_categories
    from bot.services import load_services

    services_dir = resources.services_dir(args.config)
    services = load_services(services_dir)
    config = load_config(args.config, known_services=set(services))
    templates = renderer_for().check(services.values())
    categories = load_categories()  # a bad file: exit 2 naming the file and the key
    errors = [str(f) for f in secret_problems(config)]
    unconfirmed = [
        str(f)
        for key in sorted(services)
        for f in unconfirmed_values(services[key].path or services_dir / f"{key}.toml")
    ]
    for line in unconfirmed:
        print(f"sendiass-bot: {'error' if args.strict else 'warning'}: {line}", file=sys.stderr)
    if args.strict:
        errors.extend(unconfirmed)
    for line in errors:
        if line not in unconfirmed:
            print(f"sendiass-bot: error: {line}", file=sys.stderr)
    if errors:
        print(
            f"sendiass-bot: configuration has {len(errors)} problem(s): {config.origin}",
            file=sys.stderr,
        )
        return 2
    print(f"configuration OK: {config.origin}")
    print(f"  service files: {services_dir}")
    print(f"  letter templates: {templates} rendered with sample data")
    print(f"  categories: {len(categories)} in {resources.categories_file(args.config)}")
    print(f"  services: {', '.join(sorted(services))}")
    for key in sorted(services):
        for gap in services[key].missing():
            print(f"  {key}: missing {gap}")
    for mb in config.mailboxes:
        where = f"{mb.host}:{mb.port}/{mb.folder}" if mb.source == "imap" else str(mb.path)
        print(f"  mailbox {mb.name}: {mb.source} {where} -> {mb.service}")
    out = config.outbound
    print(
        f"  outbound: {out.transport} "
        f"{f'{out.host}:{out.port}' if out.transport == 'smtp' else out.path}"
    )
    if unconfirmed:
        print(f"  {len(unconfirmed)} service-file value(s) still TO BE CONFIRMED (see above)")
    if not args.connect:
        return 0
    failed = tried = 0
    for result in check_connections(config):
        print(f"  {result}")
        failed += not result.ok
        tried += 1
    if not tried:
        print("  --connect: nothing to log in to (no IMAP mailbox, no SMTP server)")
    if failed:
        print(f"sendiass-bot: error: {failed} server(s) could not be reached or refused the "
              "login (see above)", file=sys.stderr)  # fmt: skip
        return 2
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot import db
    from bot.app import build_app

    app = build_app(args.config, upgrade=False)
    before = db.current_revision(app.engine)
    db.upgrade(app.engine)
    after = db.current_revision(app.engine)
    where = app.engine.url.render_as_string(hide_password=True)
    if before == after:
        print(f"database already at the latest schema ({after}): {where}")
    else:
        print(f"database upgraded from {before or 'empty'} to {after}: {where}")
    return 0


def _schema(args: argparse.Namespace) -> tuple[str | None, str]:
    from bot import db
    from bot.config import load_config

    engine = db.make_engine(load_config(args.config).database.url)
    try:
        return db.current_revision(engine), db.head_revision()
    finally:
        engine.dispose()


def cmd_db_current(args: argparse.Namespace) -> int:
    current, head = _schema(args)
    state = "up to date" if current == head else "`sendiass-bot db upgrade` is due"
    print(f"database: {current or 'empty'}; this version: {head} ({state})")
    return 0


def cmd_db_check(args: argparse.Namespace) -> int:
    current, head = _schema(args)
    if current == head:
        print(f"database schema is current ({head})")
        return 0
    print(
        f"database schema at {current or 'empty'}, this version needs {head}: "
        "run `sendiass-bot db upgrade`"
    )
    return 1


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return run_demo(args)
