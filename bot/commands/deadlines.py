"""Deadline commands: ``deadlines`` and ``workdays add|between``.

``sendiass-bot deadlines --service S --received ISO8601 [--stage N] [--previous-response DATE]``
prints JSON: ``service``, ``received``, ``stage``, ``clock_starts``, ``acknowledge_by``,
``respond_by`` and, with ``--previous-response`` (the date of the previous stage's response
letter), ``next_stage_request_by`` (the last day to ask for this stage) and
``request_on_time``. Each date is ``YYYY-MM-DD`` with its explanation under ``explain``.
An ISO 8601 time without an offset is Europe/London local time; one with an offset (or Z) is
converted to London time.

``sendiass-bot workdays add DATE N [--region R]`` prints the date N working days after DATE.
``sendiass-bot workdays between DATE1 DATE2`` prints the working days after DATE1 up to and
including DATE2 (negative if DATE2 is earlier).
"""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.deadlines import KINDS, check_stage2_timeliness, initial_deadlines, next_stage_request_by
from bot.errors import UserError
from bot.services import Service, load_services
from bot.workdays import (
    REGIONS,
    WorkCalendar,
    add_working_days,
    parse_date,
    parse_datetime,
    working_days_between,
)


def _iso_datetime(text: str) -> datetime:
    try:
        return parse_datetime(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 date-time such as 2026-03-04T09:12 or "
            f"2026-03-04T09:12:00+00:00, got {text!r}"
        ) from None


def _date(text: str) -> date:
    try:
        return parse_date(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _non_negative_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0 or n > 1000:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of working days from 0 to 1000, got {text!r}"
        )
    return n


def _stage_number(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a stage number (1, 2, ...), got {text!r}")
    return n


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "deadlines",
        help="the deadlines of a message received at a given time, explained",
        description="Print a case's deadlines as JSON, each date with its explanation.",
    )
    p.add_argument("--service", required=True, help="service key, e.g. durham")
    p.add_argument(
        "--received",
        required=True,
        type=_iso_datetime,
        metavar="ISO8601",
        help="when the message arrived (no offset = London local time)",
    )
    p.add_argument(
        "--stage",
        type=_stage_number,
        metavar="N",
        help="the stage whose deadlines to compute (default: where a new complaint starts; "
        "with --previous-response, the stage after the first)",
    )
    p.add_argument(
        "--previous-response",
        type=_date,
        metavar="DATE",
        help="date of the previous stage's response letter (YYYY-MM-DD): adds "
        "next_stage_request_by, the last day to ask for this stage",
    )
    p.add_argument(
        "--kind",
        choices=KINDS,
        default=None,
        help="kind of message (default: complaint, or stage2_request with --previous-response)",
    )
    p.add_argument(
        "--about-coordinator",
        action="store_true",
        help="the complaint is about the coordinator (starts at Stage 2 where the procedure "
        "says so)",
    )
    p.add_argument(
        "--services-dir",
        type=Path,
        metavar="DIR",
        help="service files (default: services/ beside --config, else ./config/services, "
        "else the shipped ones)",
    )
    p.set_defaults(func=cmd_deadlines)

    w = sub.add_parser("workdays", help="working-day arithmetic (bank holidays, weekends)")
    wsub = w.add_subparsers(dest="workdays_command", metavar="ACTION", required=True)
    a = wsub.add_parser("add", help="the date N working days after DATE")
    a.add_argument("date", type=_date, metavar="DATE", help="YYYY-MM-DD")
    a.add_argument("n", type=_non_negative_int, metavar="N", help="working days (0 or more)")
    a.add_argument("--region", choices=tuple(REGIONS), default="england")
    a.add_argument("--explain", action="store_true", help="also print the days skipped")
    a.set_defaults(func=cmd_workdays_add)

    b = wsub.add_parser(
        "between",
        help="working days after DATE1 up to and including DATE2 (negative if reversed)",
    )
    b.add_argument("date1", type=_date, metavar="DATE1", help="YYYY-MM-DD")
    b.add_argument("date2", type=_date, metavar="DATE2", help="YYYY-MM-DD")
    b.add_argument("--region", choices=tuple(REGIONS), default="england")
    b.set_defaults(func=cmd_workdays_between)


def _service(args: argparse.Namespace) -> Service:
    services = load_services(args.services_dir)
    if args.service not in services:
        raise UserError(
            f"--service: unknown service {args.service!r} "
            f"(expected one of {', '.join(sorted(services))})"
        )
    return services[args.service]


def cmd_deadlines(args: argparse.Namespace) -> int:
    service = _service(args)
    previous: date | None = args.previous_response
    kind: str = args.kind or ("stage2_request" if previous is not None else "complaint")
    stage: int | None = args.stage
    if stage is not None and not service.has_stage(stage):
        raise UserError(
            f"--stage: {service.key} has no stage {stage} "
            f"(expected one of {', '.join(str(s.number) for s in service.stages)})"
        )
    d = initial_deadlines(
        service, args.received, kind, about_coordinator=args.about_coordinator, stage=stage
    )
    out: dict[str, Any] = d.to_json()
    if previous is not None:
        prev_stage = max((s.number for s in service.stages if s.number < d.stage), default=None)
        if prev_stage is None:
            raise UserError(
                f"--previous-response: Stage {d.stage} is the first stage of {service.key}; "
                "give --stage 2 or later"
            )
        by = next_stage_request_by(service, prev_stage, previous)
        check = check_stage2_timeliness(service, previous, args.received, prev_stage)
        out["previous_response"] = previous.isoformat()
        out["next_stage_request_by"] = by.value.isoformat() if by.value else None
        out["request_on_time"] = check.ok
        out["explain"]["next_stage_request_by"] = by.to_json()
        out["checks"] = {"next_stage_request": check.to_json()}
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def cmd_workdays_add(args: argparse.Namespace) -> int:
    result = add_working_days(args.date, args.n, WorkCalendar(args.region))
    assert result.value is not None
    print(result.value.isoformat())
    if args.explain:
        print(result.text)
    return 0


def cmd_workdays_between(args: argparse.Namespace) -> int:
    print(working_days_between(args.date1, args.date2, WorkCalendar(args.region)))
    return 0
