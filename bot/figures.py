"""What the managers' figures count, recorded on the case: who complained and what about.

* **Who complained** (``classification["complainant"]``): parent/carer, young person,
  professional, MP's office or other. Intake records a guess from the words
  (``complainant_source = "guess"``); a coordinator corrects it on the case page
  (``complainant_source = "person"``). The report counts either, and says how many are guesses.
* **What about** (``classification["category"]``): chosen by a coordinator only. Keywords
  (``config/categories.toml``) give a *suggestion* (``category_suggested``) that the case page
  offers; the report never counts a suggestion as a category.

Also the shared definitions of what the figures count: a complaint out of scope, an informal
concern. Everything here is used by intake, the web and the reports alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigError
from bot.models import Case, CaseEvent

if TYPE_CHECKING:
    from bot.web.actions import Ctx

#: Codes for who complained, in the report's order, with their labels.
COMPLAINANTS: dict[str, str] = {
    "parent_carer": "Parents/carers",
    "young_person": "Young people",
    "professional": "Professionals",
    "mp_office": "MPs' offices",
    "other": "Others",
}
NOT_RECORDED = "not_recorded"

_MP_DOMAINS = ("parliament.uk",)
_MP = re.compile(
    r"\b(?:office of|on behalf of|caseworker (?:to|for)|writing on behalf of my constituent|"
    r"my constituent)\b|\bmember of parliament\b|\bconstituen(?:t|cy)\b",
    re.I,
)
_YOUNG = re.compile(
    r"\b(?:i am|i'm) (?:1[4-9]|2[0-5])\b|\bmy (?:own )?(?:ehcp|plan|college|sixth form)\b|"
    r"\b(?:i am|i'm) a young person\b|"
    r"\b(?:i am|i'm) (?:at|in) (?:college|sixth form|year 1[0-3])\b",
    re.I,
)
_PROFESSIONAL = re.compile(
    r"\b(?:i am|i'm|as) (?:the|a|an) (?:senco|headteacher|head teacher|teacher|social worker|"
    r"health visitor|educational psychologist|school nurse|paediatrician|support worker|"
    r"family support worker|key worker|early help worker|practitioner|advocate)\b|"
    r"\b(?:on behalf of (?:the|our) school|our pupil|one of our pupils|a pupil at our)\b",
    re.I,
)
_PARENT = re.compile(
    r"\bmy (?:son|daughter|child|children|kids?|boy|girl|grandson|granddaughter|"
    r"foster (?:son|daughter|child)|stepson|stepdaughter)\b|\b(?:our|my) (?:son|daughter)\b|"
    r"\b(?:i am|i'm|as) (?:a|his|her|their|the) (?:parent|mum|mother|dad|father|carer|"
    r"grandparent|foster carer|guardian)\b|\bparent(?:s)? of\b",
    re.I,
)


def from_mp_office(sender_addr: str) -> bool:
    """Mail from Parliament's domain: a complaint made through an MP (``Case.via_mp``)."""
    domain = sender_addr.rpartition("@")[2].lower()
    return any(domain == d or domain.endswith("." + d) for d in _MP_DOMAINS)


def guess_complainant(text: str, sender_addr: str = "") -> str:
    """A first guess at who complained, from the words and the sender's domain. Order
    matters: an MP's office writes about a parent's child; a professional about a pupil."""
    if from_mp_office(sender_addr) or _MP.search(text):
        return "mp_office"
    if _PROFESSIONAL.search(text):
        return "professional"
    if _PARENT.search(text):
        return "parent_carer"
    if _YOUNG.search(text):
        return "young_person"
    return "other"


def intake_figures(kind: str, subject: str, text: str, sender_addr: str) -> dict[str, Any]:
    """What intake adds to a new case's classification for the figures: who complained (a
    guess) and, for a complaint, the category the keywords suggest."""
    from bot.reports.categories import categorise

    words = f"{subject}\n{text}"
    out: dict[str, Any] = {
        "complainant": guess_complainant(words, sender_addr),
        "complainant_source": "guess",
    }
    if kind in ("complaint", "stage2_request"):
        try:
            out["category_suggested"] = categorise(words)
        except ConfigError:  # a broken categories file must not stop intake (check-config says)
            out["category_suggested"] = None
    return out


def complainant_of(classification: Mapping[str, Any] | None) -> str:
    value = (classification or {}).get("complainant")
    return value if isinstance(value, str) and value in COMPLAINANTS else NOT_RECORDED


def category_of(classification: Mapping[str, Any] | None) -> str | None:
    """The category a coordinator chose (None: not categorised yet)."""
    value = (classification or {}).get("category")
    return value if isinstance(value, str) and value else None


def out_of_scope(flags: Mapping[str, Any] | None, closure_reason: str | None) -> bool:
    """A complaint about someone other than the service (a person's flag or the classifier's
    after review), or closed as out of scope: not counted as a complaint."""
    return bool((flags or {}).get("out_of_scope")) or closure_reason == "out_of_scope"


def informal(flags: Mapping[str, Any] | None) -> bool:
    """A concern handled informally (the service's informal route) and not escalated to a
    formal complaint: ``flags["informal"]`` (true, or a mapping naming its outcome) or the
    case's route, unless ``flags["formal"]`` says it was escalated."""
    f = flags or {}
    if f.get("formal"):
        return False
    return bool(f.get("informal")) or f.get("route") in ("informal_first", "informal")


# ------------------------------------------------------------------------ the case page


class FiguresError(ValueError):
    """A value the case page cannot record; the message is shown to the person."""


def set_figures(
    ctx: Ctx, case: Case, complainant: str, category: str, via_mp: bool | None = None
) -> str:
    """Record who complained, whether the complaint came through an MP (``via_mp``; None
    leaves it) and (for a complaint) its category, as a coordinator chose them. An empty
    category clears it; the keyword suggestion is kept apart."""
    from bot.reports.categories import labels

    if complainant not in COMPLAINANTS:
        raise FiguresError(
            f"who complained: expected one of {', '.join(COMPLAINANTS)}, got {complainant!r}"
        )
    known = {k for k in labels() if k != "uncategorised"}
    if category and category not in known:
        raise FiguresError(f"category: expected one of {', '.join(sorted(known))}")
    before = dict(case.classification or {})
    after = {**before, "complainant": complainant, "complainant_source": "person"}
    if category:
        after["category"] = category
        after["category_source"] = "person"
    else:
        after.pop("category", None)
        after.pop("category_source", None)
    changed = [k for k in ("complainant", "category") if before.get(k) != after.get(k)]
    if before.get("complainant_source") != "person":
        changed.append("confirmed")
    mp_changed = via_mp is not None and bool(case.via_mp) != via_mp
    if mp_changed:
        changed.append("via_mp")
    if not changed:
        return "nothing changed"
    if mp_changed:
        case.via_mp = bool(via_mp)
    case.classification = after
    case.updated_at = ctx.now
    ctx.session.add(
        CaseEvent(
            case=case,
            at=ctx.now,
            actor=ctx.user.actor,
            kind="figures_recorded",
            detail={
                "complainant": complainant,
                "category": after.get("category"),
                "via_mp": bool(case.via_mp),
                "changed": changed,
                "previous": {
                    "complainant": before.get("complainant"),
                    "category": before.get("category"),
                },
            },
        )
    )
    what = COMPLAINANTS[complainant].lower()
    return (
        f"recorded: who complained {what}"
        + (f", category {labels().get(category, category)}" if category else ", no category")
        + (", via an MP" if case.via_mp else "")
    )


def page(classification: Mapping[str, Any] | None, kind: str) -> dict[str, Any]:
    """What the case page's "For the figures" box shows: the values, where they came from,
    and the choices."""
    from bot.reports.categories import labels

    cls = classification or {}
    try:
        cats = {k: v for k, v in labels().items() if k != "uncategorised"}
    except ConfigError:  # the case page still opens; check-config names the problem
        cats = {}
    suggested = cls.get("category_suggested")
    return {
        "complainant": complainant_of(cls),
        "complainant_label": COMPLAINANTS.get(complainant_of(cls), "not recorded"),
        "guessed": cls.get("complainant_source") == "guess",
        "category": category_of(cls),
        "category_label": cats.get(category_of(cls) or "", ""),
        "suggested": suggested if suggested in cats else None,
        "suggested_label": cats.get(suggested or "", ""),
        "complainants": COMPLAINANTS,
        "categories": cats,
        "has_category": kind in ("complaint", "stage2_request"),
    }
