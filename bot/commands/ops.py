"""Operations: ``backup``, ``restore``, ``retention run``, ``subject-access``.

Heavy imports stay inside the handlers so that ``--help`` and other commands start fast.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("backup", help="copy the SQLite database to PATH while the daemon runs")
    p.add_argument("path", metavar="PATH", help="the backup file to write (mode 0600)")
    p.add_argument("--force", action="store_true", help="replace PATH if it exists")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="replace the SQLite database by a backup")
    p.add_argument("path", metavar="PATH", help="a file written by `backup`")
    p.add_argument("--force", action="store_true", help="replace a database that holds data")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("retention", help="delete or anonymise data past its retention period")
    r = p.add_subparsers(dest="retention_command", metavar="ACTION", required=True)
    run = r.add_parser("run", help="apply each service's retention rules now")
    run.add_argument(
        "--dry-run", action="store_true", help="say what would be done, change nothing"
    )
    run.add_argument("--now", type=_instant, metavar="ISO8601", help="act as if it were this time")
    run.add_argument("--service", action="append", help="only this service (repeatable)")
    run.set_defaults(func=cmd_retention_run)

    p = sub.add_parser("subject-access", help="export everything held about one person")
    p.add_argument("email", metavar="EMAIL", help="the person's email address (exact match)")
    p.add_argument("--output", required=True, metavar="DIR", help="a new or empty folder")
    p.set_defaults(func=cmd_subject_access)


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date or time such as 2027-01-31T09:00:00+00:00, got {text!r}"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _actor() -> str:
    import getpass

    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):
        return "user:unknown"


def cmd_backup(args: argparse.Namespace) -> int:
    from bot.config import load_config
    from bot.ops.backup import backup

    config = load_config(args.config)
    info = backup(config.database.url, Path(args.path), force=args.force)
    print(f"backed up to {info.path}: {info.describe()}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from bot import db
    from bot.config import load_config
    from bot.ops.backup import restore

    config = load_config(args.config)
    info, replaced = restore(config.database.url, Path(args.path), force=args.force)
    engine = db.make_engine(config.database.url)
    try:
        if config.database.auto_migrate:
            db.upgrade(engine)  # an older backup is brought up to this version's schema
            behind = None
        else:
            behind = db.pending_upgrade(engine)
    finally:
        engine.dispose()
    note = " (replaced what was there)" if replaced else ""
    print(f"restored {info.path}{note}: {info.describe()}")
    if behind is not None:
        print(f"the backup's schema is {behind[0]}, this version's {behind[1]}: "
              "run `sendiass-bot db upgrade` (database.auto_migrate is false)")  # fmt: skip
    return 0


def cmd_retention_run(args: argparse.Namespace) -> int:
    from bot.app import build_app
    from bot.errors import UserError
    from bot.ops.retention import run_retention

    app = build_app(args.config)
    wanted = args.service or sorted(app.services)
    unknown = [s for s in wanted if s not in app.services]
    if unknown:
        raise UserError(
            f"unknown service {unknown[0]!r} (known: {', '.join(sorted(app.services))})"
        )
    if not app.config.retention.enabled:
        raise UserError(f"{app.config.origin}: retention: no retention rule is configured")
    now = args.now or app.intake.clock()
    report = run_retention(app.sessions, app.config.retention, wanted, now, dry_run=args.dry_run)
    for line in report.lines():
        print(line)
    print(report.summary())
    return 0


def cmd_subject_access(args: argparse.Namespace) -> int:
    from bot.app import build_app
    from bot.ops.subject_access import export_subject, normalise

    normalise(args.email)  # a bad address is an error before anything is opened
    app = build_app(args.config)
    out = export_subject(app.sessions, args.email, Path(args.output), app.intake.clock(), _actor())
    print(
        f"wrote {out.files} file(s) to {out.folder}: {len(out.cases)} case(s)"
        + (f" ({', '.join(out.cases)})" if out.cases else "")
    )
    return 0
