"""Command line entry point: ``sendiass-bot COMMAND ...``.

Each command group lives in its own module under :mod:`bot.commands` and exposes
``register(subparsers)``; the handler is stored as ``func`` on the parsed namespace and
returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from bot.errors import UserError

#: Command modules, in the order their commands are listed by ``--help``.
COMMAND_MODULES = (
    "bot.commands.intake",
    "bot.commands.classify",
    "bot.commands.classifier",
    "bot.commands.deadlines",
    "bot.commands.letters",
    "bot.commands.web",
    "bot.commands.reports",
)


class _Parser(argparse.ArgumentParser):
    """argparse already exits 2 on bad arguments; keep its one-line message."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sendiass-bot",
        description="Complaints intake for SEND Information, Advice and Support Services.",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="configuration file (default: config/sendiass.toml if present, else the embedded "
        "default)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The long-running commands report what they do; one-shot commands stay quiet unless -v.
    quiet = logging.INFO if args.command in ("run", "web") else logging.WARNING
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else quiet,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        # Schema upgrades run at every start; say so only when asked.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        code = args.func(args)
    except UserError as exc:
        print(f"sendiass-bot: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
