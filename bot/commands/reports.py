"""``sendiass-bot digest|report|export``: managers' weekly digest, annual complaints report,
CSV exports. Counts and case references only."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import UserError

if TYPE_CHECKING:  # imported where used: the command line starts without them
    from bot.app import App


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dg = sub.add_parser("digest", help="a managers' weekly digest: print, write as HTML or send")
    dg.add_argument("--week", required=True, type=_week, help="ISO week, e.g. 2026-W47")
    dg.add_argument("--service", action="append", help="only this service (repeatable)")
    out = dg.add_mutually_exclusive_group(required=True)
    out.add_argument("--print", action="store_true", help="the plain-text digest to stdout")
    out.add_argument("--html", metavar="FILE", help="write the HTML digest (chart inline)")
    out.add_argument("--send", metavar="EMAIL", nargs="?", const="", help="send now (to EMAIL, "
                     "else to each [digest] recipient)")  # fmt: skip
    dg.set_defaults(func=cmd_digest)

    rp = sub.add_parser("report", help="the annual complaints report (html, pdf or csv)")
    rp.add_argument("--from", dest="first", required=True, type=_date, metavar="DATE")
    rp.add_argument("--to", dest="last", required=True, type=_date, metavar="DATE")
    rp.add_argument("--service", action="append", help="only this service (repeatable)")
    rp.add_argument("--format", choices=("html", "pdf", "csv"), default="html")
    rp.add_argument("--output", metavar="FILE", help="write here (required for pdf)")
    rp.set_defaults(func=cmd_report)

    ex = sub.add_parser("export", help="cases or their events as CSV, no message text")
    ex.add_argument("what", choices=("cases", "events"))
    ex.add_argument("--from", dest="first", required=True, type=_date, metavar="DATE")
    ex.add_argument("--to", dest="last", required=True, type=_date, metavar="DATE")
    ex.add_argument("--service", action="append", help="only this service (repeatable)")
    ex.set_defaults(func=cmd_export)


def _week(text: str) -> str:
    from bot.reports.digest import parse_week

    try:
        y, w = parse_week(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return f"{y}-W{w:02d}"


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _services(app: App, wanted: list[str] | None) -> list[str]:
    if not wanted:
        return sorted(app.services)
    unknown = [s for s in wanted if s not in app.services]
    if unknown:
        raise UserError(
            f"unknown service {unknown[0]!r} (known: {', '.join(sorted(app.services))})"
        )
    return sorted(set(wanted))


def _write(path: str | None, data: str | bytes) -> None:
    if path is None:
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        return
    Path(path).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


def _build(args: argparse.Namespace) -> App:
    from bot.app import build_app

    return build_app(args.config)


def cmd_digest(args: argparse.Namespace) -> int:
    from bot.letters.sender import make_transport
    from bot.reports.digest import build_digest, build_message, render_html, week_monday

    app = _build(args)
    now = app.clock()
    services = _services(app, args.service)
    today = week_monday(args.week)
    if args.send is not None:
        cfg = app.config.digest
        targets = (
            [(args.send, services)]
            if args.send
            else [(r.email, _services(app, list(r.services) or None)) for r in cfg.recipients]
        )
        if not targets:
            raise UserError("no recipients: give --send EMAIL or add [[digest.recipients]]")
        transport = make_transport(app.config.outbound)
        try:
            for to_addr, svcs in targets:
                with app.sessions() as s:
                    d = build_digest(s, app.services, svcs, args.week, today, now)
                msg = build_message(d, cfg.from_addr, to_addr, now)
                transport.send(msg, cfg.from_addr, [to_addr])
                print(f"sent digest {args.week} to {to_addr}")
        finally:
            transport.close()
        return 0
    with app.sessions() as s:
        d = build_digest(s, app.services, services, args.week, today, now)
    if args.print:
        from bot.reports.digest import render_text

        sys.stdout.write(render_text(d))
        return 0
    import base64

    from bot.reports.digest import trend_png

    src = "data:image/png;base64," + base64.b64encode(trend_png(d)).decode("ascii")
    _write(args.html, render_html(d, src))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    if args.format == "pdf" and not args.output:
        print("sendiass-bot: error: --format pdf needs --output FILE", file=sys.stderr)
        return 2
    if args.last < args.first:
        raise UserError("--to is before --from")
    app = _build(args)
    from bot.reports.annual import build_annual, render_csv
    from bot.reports.annual import render_html as annual_html

    with app.sessions() as s:
        r = build_annual(s, app.services, _services(app, args.service), args.first, args.last)
    if args.format == "pdf":
        from bot.reports.pdf import render_pdf

        _write(args.output, render_pdf(r))
    elif args.format == "csv":
        _write(args.output, render_csv(r))
    else:
        _write(args.output, annual_html(r))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if args.last < args.first:
        raise UserError("--to is before --from")
    app = _build(args)
    from bot.reports.exports import export_cases, export_events

    fn = export_cases if args.what == "cases" else export_events
    with app.sessions() as s:
        _write(None, fn(s, _services(app, args.service), args.first, args.last))
    return 0
