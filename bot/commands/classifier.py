"""``sendiass-bot classifier ...``: the classifier's training data.

* ``classifier export-labels [--output FILE] [--since DATE] [--service S]``: coordinators'
  confirmations and corrections from the web UI as corpus records (JSON Lines in the format
  of ``tests/data/corpus/README.md``), the latest verdict per message. Without ``--output``
  the records go to standard output. The records carry message text: keep the file as
  carefully as the database.

Other ``classifier`` subcommands (``train``, ``evaluate``) register on the same group through
:func:`add_export_labels`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import date
from pathlib import Path

from bot.errors import UserError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("classifier", help="the classifier's training data (export-labels)")
    group = p.add_subparsers(dest="classifier_command", metavar="SUBCOMMAND")
    group.required = True
    add_export_labels(group)


def add_export_labels(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ex = group.add_parser(
        "export-labels",
        help="coordinators' confirmations and corrections as corpus JSONL",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ex.add_argument("--output", metavar="FILE", help="write here (default: standard output)")
    ex.add_argument("--since", type=_date, metavar="DATE", help="only labels made on or after")
    ex.add_argument("--service", action="append", help="only this service (repeatable)")
    ex.set_defaults(func=cmd_export_labels)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def cmd_export_labels(args: argparse.Namespace) -> int:
    from bot.app import build_app
    from bot.learning import export_labels

    app = build_app(args.config)
    services = None
    if args.service:
        unknown = [s for s in args.service if s not in app.services]
        if unknown:
            raise UserError(
                f"unknown service {unknown[0]!r} (known: {', '.join(sorted(app.services))})"
            )
        services = sorted(set(args.service))
    with app.sessions() as s:
        records = export_labels(s, since=args.since, services=services)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if args.output is None:
        sys.stdout.write(text)
    else:
        _write_atomic(Path(args.output), text)
        print(f"{len(records)} labelled record(s) written to {args.output}", file=sys.stderr)
    return 0


def _write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder (mode 0600: it holds message text)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"--output: no such folder {str(folder)!r}")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"--output: cannot write {path}: {exc.strerror}") from None
