"""Command line entry point: ``sendiass-bot COMMAND ...``.

Each command group lives in its own module under :mod:`bot.commands` and exposes
``register(subparsers)``; the handler is stored as ``func`` on the parsed namespace and
returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from bot import resources
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
    "bot.commands.ops",
    "bot.commands.health",
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
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text (default) or json: one JSON object per line, for a log collector",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def _configure_logging(level: int, fmt: str) -> None:
    if fmt == "text":
        logging.basicConfig(
            level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
        )
        return
    from bot.logjson import JsonFormatter

    root = logging.getLogger()
    # Only our JSON lines on standard error (main() may run again in one process: tests).
    for old in [h for h in root.handlers if getattr(h, "_sendiass_json", False)
                or type(h) is logging.StreamHandler]:  # fmt: skip
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._sendiass_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # imapclient's debug lines are the IMAP protocol (message text included): never in
    # structured logs, even with -v.
    logging.getLogger("imapclient").setLevel(max(level, logging.INFO))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    resources.use_config(args.config)  # its folder may hold the site's service files
    # The long-running commands report what they do; one-shot commands stay quiet unless -v.
    quiet = logging.INFO if args.command in ("run", "web") else logging.WARNING
    _configure_logging(logging.DEBUG if args.verbose else quiet, args.log_format)
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
    except BrokenPipeError:  # e.g. `sendiass-bot cases export | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
        return 141
    finally:
        resources.use_config(None)  # main() may be called again in the same process (tests)
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
