"""Each service's own route through its procedure, as the service file states it: the
informal step, the rule on writing, exemptions shown as flags, and steps with their own clocks.

Pure helpers (no storage, no clock) used by the case operations in :mod:`bot.web.actions`
(shared by the web UI, the CLI and the pipeline) and by :mod:`bot.routing`.

- **Informal step** (``Service.informal_route``): Coventry starts every complaint informally
  (L11, L40); Durham (L76-80) and Staffordshire (L63-65) offer it as an alternative a
  complainant may choose; Stoke treats spoken complaints about waiting or opening times as
  informal (L33). An informal case has no formal clock; it ends resolved, or is escalated to
  the formal procedure, whose clock starts on the day it is asked for.
- **Writing** (``Service.writing``): where the procedure wants complaints in writing (Durham
  L67, Staffordshire L59-60) a complaint taken by phone or in person waits for the writing,
  and the formal clock starts when it arrives.
- **Exemptions** (``Eligibility.exemptions``) are flags with the procedure's line, for a
  person to weigh; they never refuse a complaint. Some are raised by intake
  (:func:`auto_exemptions`); a coordinator can raise any of the service's list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.services import Exemption, Service

#: Channels where the complaint was spoken, not written.
VERBAL_CHANNELS = frozenset({"phone", "in_person"})


def track_for(service: Service, kind: str, channel: str, informal: bool) -> str:
    """The track a new case starts on (``bot.lifecycle.TRACKS``): ``informal`` when asked for
    (or when the procedure starts informally), ``awaiting_writing`` for a spoken complaint
    where the procedure wants it in writing, else ``formal``. Raises ValueError when the
    informal step is asked for and the procedure has none."""
    if kind != "complaint":
        return "formal"
    verbal = channel in VERBAL_CHANNELS
    route = service.informal_route(verbal)
    if informal:
        if route is None:
            raise ValueError(f"the {service.key} procedure has no informal step")
        return "informal"
    if route is not None and route.code == "informal_first":
        return "informal"
    if verbal and service.writing.required:
        return "awaiting_writing"
    return "formal"


def exemption_flag(e: Exemption, why: str, by: str, at: str) -> dict[str, str]:
    return {
        "code": e.code,
        "description": e.description,
        "source": e.source,
        "why": why,
        "by": by,
        "at": at,
    }


def auto_exemptions(
    service: Service, flags: Mapping[str, Any], checks: Mapping[str, Any], at: str
) -> list[dict[str, str]]:
    """The exemptions of the service's list that intake's findings point to: a complaint
    about another organisation (``outside_service``), events older than the window
    (``older_than_window``). Only those the procedure lists; each with its line."""
    listed = {e.code: e for e in service.eligibility.exemptions}
    out: list[dict[str, str]] = []
    if flags.get("out_of_scope") and "outside_service" in listed:
        out.append(
            exemption_flag(
                listed["outside_service"], "the message seems to be about someone else", "bot", at
            )
        )
    window = checks.get("event_window") or {}
    if window.get("ok") is False and "older_than_window" in listed:
        out.append(
            exemption_flag(
                listed["older_than_window"], str(window.get("evidence") or ""), "bot", at
            )
        )
    return out


def merged_exemptions(
    current: list[dict[str, Any]] | None, automatic: list[dict[str, str]]
) -> list[dict[str, Any]]:
    """A person's flags kept; the automatic ones replaced by ``automatic``."""
    kept = [x for x in current or [] if x.get("by") != "bot"]
    codes = {x.get("code") for x in kept}
    return [*kept, *(x for x in automatic if x["code"] not in codes)]


def panel(
    service: Service,
    *,
    status: str,
    stage_no: int,
    kind: str,
    channel: str,
    route: str,
    informal_outcome: str | None,
    flags: Mapping[str, Any],
    lifecycle: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """What the case page shows of the procedure's route for this case, each rule with its
    line, and which of the route's actions apply now."""
    verbal = channel in VERBAL_CHANNELS
    informal = service.informal_route(verbal)
    on_informal = status == "informal"
    current = service.stage(stage_no) if service.has_stage(stage_no) else None
    life = dict(lifecycle or {})
    steps = []
    if current is not None:
        for st in current.steps:
            scheduled = life.get("step") == st.code
            steps.append(
                {
                    "code": st.code,
                    "name": st.name,
                    "required": st.required,
                    "source": st.source,
                    "meeting_by": life.get("meeting_by") if scheduled else None,
                    "meeting_on": life.get("meeting_on") if scheduled else None,
                    "respond_after": st.respond_after.describe() if st.respond_after else None,
                    "meeting_within": st.meeting_within.describe() if st.meeting_within else None,
                }
            )
    w = service.writing
    writing = ""
    if w.required:
        writing = f"complaints must be in writing ({w.how}); a spoken one waits for it"
    elif w.verbal_statement:
        writing = "a spoken complaint is accepted as a Verbal Statement of Complaint"
    elif w.source:
        writing = "no rule that a complaint must be in writing"
    first = stage_no == service.first_stage.number
    direct = service.route("direct_to_stage")
    return {
        "track": "informal" if on_informal or route == "informal" else "formal",
        "status": status,
        "informal": (
            {"code": informal.code, "description": informal.description, "source": informal.source}
            if informal is not None
            else None
        ),
        "informal_outcome": informal_outcome,
        "writing": {"text": writing, "source": w.source} if writing else None,
        "awaiting_writing": status == "awaiting_writing",
        "exemptions": list(flags.get("exemptions") or []),
        "exemption_list": [
            {"code": e.code, "description": e.description, "source": e.source}
            for e in service.eligibility.exemptions
        ],
        "steps": steps,
        "can_go_informal": (
            informal is not None
            and kind == "complaint"
            and first
            and status in ("received", "acknowledged", "investigating")
        ),
        "can_resolve_informal": on_informal,
        "can_formalise": status in ("informal", "awaiting_writing"),
        "direct": (
            {
                "stage": direct.start_stage,
                "source": direct.source,
                "description": direct.description,
            }
            if direct is not None
            and first
            and kind == "complaint"
            and status in ("received", "acknowledged", "investigating")
            else None
        ),
        "can_schedule": bool(steps)
        and status in ("acknowledged", "investigating", "next_stage_requested"),
    }


def without_clock(deadlines: Mapping[str, Any], why: str) -> dict[str, Any]:
    """A case's stored deadlines on the informal step or waiting for writing: no
    acknowledgement or response date, each explained by ``why`` (with the line)."""
    out = dict(deadlines)
    explain = dict(out.get("explain") or {})
    for key in ("acknowledge_by", "respond_by"):
        out[key] = None
        explain[key] = {"date": None, "rule": why, "notes": []}
    out["explain"] = explain
    return out
