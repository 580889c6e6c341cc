"""The pages and the forms. Every POST carries the session's CSRF token (checked in
:mod:`bot.web.server`); every case view and change is written to the case's trail."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import quote, unquote, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, defer, load_only
from werkzeug.wrappers import Response as BaseResponse

from bot import casework, figures, procedure, routing
from bot.letters.sender import sender_running
from bot.letters.waiting import letters_waiting
from bot.lifecycle import ClosureReason, allowed_actions
from bot.models import (
    Attachment,
    Case,
    CaseEvent,
    CaseFile,
    CaseNote,
    LearningRecord,
    LoginAttempt,
    Message,
    OutboxLetter,
    User,
)
from bot.services import Service
from bot.web import actions, params, queries, render, security, sessions
from bot.web.actions import ActionError, Ctx
from bot.web.security import Principal
from bot.web.server import login_session, state
from bot.workdays import LONDON, to_london

log = logging.getLogger(__name__)
bp = Blueprint("web", __name__)
F = TypeVar("F", bound=Callable[..., Any])


def _now() -> datetime:
    return state().app.intake.clock()


def _user() -> Principal:
    user = g.get("user")
    if user is None:
        abort(401)
    return cast(Principal, user)


def _all_services() -> list[str]:
    return sorted(state().app.services)


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None:
            return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return cast(F, wrapped)


#: Only plain printable ASCII: browsers drop tabs and newlines inside a URL (so
#: ``/\t/evil.example`` becomes ``//evil.example``) and read ``\`` as ``/``.
_NEXT_CHARS = re.compile(r"[!-~]+")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site, else the queue.

    Refused (the queue instead): anything with a scheme or a host (``https://x``,
    ``//x``), ``//`` anywhere, a backslash, whitespace, a control character or a dot
    segment, as given or once percent-decoded (three rounds, for ``/%2F%2Fx`` and double
    encodings)."""
    home = url_for("web.index")
    if not target or len(target) > 2000 or not _NEXT_CHARS.fullmatch(target):
        return home
    decoded = target
    for _ in range(3):
        decoded = unquote(decoded)
    for form in (target, decoded):
        if not form.startswith("/") or "//" in form or "\\" in form:
            return home
        if re.search(r"/\.\.?(/|$)", urlsplit(form).path):  # dot segments: /../ or /./
            return home
        if not _NEXT_CHARS.fullmatch(form):
            return home
        parts = urlsplit(form)
        if parts.scheme or parts.netloc:
            return home
    return target


# ----------------------------------------------------------------------------- login


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        if g.get("user") is not None:
            return redirect(safe_next(request.args.get("next")))
        return render_template("login.html", next=request.args.get("next", ""), error=None)
    email = security.normalise_email(request.form.get("email", ""))[:320]
    password = request.form.get("password", "")
    ip = (request.remote_addr or "-")[:64]
    now = _now()
    target = safe_next(request.form.get("next"))
    app = state().app
    # The attempt is counted (and committed) before the password is checked, so parallel
    # attempts cannot slip past the limit; it is marked a success below if it was one.
    with app.sessions.begin() as s:
        attempt = security.reserve_attempt(s, email, ip, now)
    if attempt is None:
        resp = Response(
            render_template(
                "login.html",
                next=request.form.get("next", ""),
                error="Too many failed sign-ins. Try again in 15 minutes.",
            ),
            status=429,
        )
        resp.headers["Retry-After"] = str(int(security.THROTTLE_WINDOW.total_seconds()))
        return resp
    with app.sessions.begin() as s:
        user = security.authenticate(s, email, password) if email and password else None
        if user is None:
            log.info("failed sign-in for an account from %s", ip)
            return (
                render_template(
                    "login.html",
                    next=request.form.get("next", ""),
                    error="Email address or password not recognised.",
                ),
                401,
            )
        security.attempt_succeeded(s, attempt)
        user.last_login_at = now
        s.execute(delete(LoginAttempt).where(LoginAttempt.at < now - timedelta(days=2)))
        login_session(s, user)
    return redirect(target, code=303)


@bp.post("/logout")
def logout() -> BaseResponse:
    with state().app.sessions.begin() as s:
        sessions.end(s)
    return redirect(url_for("web.login"), code=303)


# ----------------------------------------------------------------------------- queue


@bp.get("/")
@login_required
def index() -> Any:
    user = _user()
    if not user.sees_cases:
        return redirect(url_for("web.reports"))
    app = state().app
    visible = user.visible_services(_all_services())
    bodies_for = {s for s in visible if user.reads_bodies(s)}
    f = queue_filters(visible, bodies_for, user)
    now = _now()
    today = to_london(now, LONDON).date()
    with app.sessions() as s:
        page = queries.queue(
            s,
            app.services,
            visible,
            bodies_for,
            today,
            f,
            viewer=user.email,
            managed=[v for v in visible if user.is_manager],
        )
        waiting = queries.flood_banners(s, visible, now)
        late = letters_waiting(s, now, visible)
        assignees = _assignees(s, visible)
    args = {k: v for k, v in request.args.items() if k != "after" and v}
    return render_template(
        "queue.html",
        page=page,
        f=f,
        services=visible,
        kinds=actions.KINDS,
        statuses=queries.STATUSES,
        ranks=queries.RANKS,
        today=today,
        args=args,
        waiting=waiting,
        can_log=any(user.can_act(s) for s in visible),
        letters_waiting=late,
        sorts=_sorts_for(visible, bodies_for),
        assignees=assignees,
        can_close_enquiries={s for s in visible if user.can_act(s)},
    )


def _sorts_for(visible: list[str], bodies_for: set[str]) -> dict[str, queries.Sort]:
    """The columns this person may sort by: not by what they may not read."""
    reads_all = set(visible) <= bodies_for
    return {k: v for k, v in queries.SORTS.items() if reads_all or not v.bodies}


def _assignees(s: Session, visible: list[str]) -> list[str]:
    """The accounts a case of these services can be assigned to (the assignee filter)."""
    return sorted(
        u.email
        for u in s.scalars(select(User).where(User.active.is_(True)))
        if "coordinator" in (u.roles or [])
        and (not u.services or any(v in u.services for v in visible))
    )


def queue_filters(
    visible: list[str], bodies_for: set[str], user: Principal
) -> queries.QueueFilters:
    """The queue's query parameters, each checked (a bad one answers 400 naming it)."""
    after = params.text_arg("after", 40).strip()
    if after and queries.parse_cursor(after) is None:
        abort(400, description="after: not a position in this list; start from the first page.")
    sort = params.choice_arg("sort", list(_sorts_for(visible, bodies_for)))
    assignee = params.text_arg("assignee", 320).strip().lower()
    if assignee and assignee != "none" and not actions.valid_email(assignee):
        abort(400, description="assignee: expected an email address or 'none'.")
    return queries.QueueFilters(
        service=params.choice_arg("service", visible),
        kind=params.choice_arg("kind", actions.KINDS),
        stage=params.int_arg("stage", 1, queries.MAX_STAGE),
        status=params.choice_arg("status", queries.STATUSES),
        q=params.text_arg("q", 200).strip(),
        per_page=params.int_arg("per_page", 1, queries.MAX_PAGE_SIZE) or queries.PAGE_SIZE,
        view=params.choice_arg("view", queries.VIEWS) or "complaints",
        due_from=params.date_arg("due_from"),
        due_to=params.date_arg("due_to"),
        assignee=assignee,
        mine=params.choice_arg("mine", ["1"]) == "1",
        sort=sort,
        desc=params.choice_arg("dir", ["asc", "desc"]) == "desc",
        after=after,
    )


# ------------------------------------------------------------------------------ cases


def _event(s: Session, case_id: int, user: Principal, kind: str, detail: dict[str, Any]) -> None:
    s.add(CaseEvent(case_id=case_id, at=_now(), actor=user.actor, kind=kind, detail=detail))


def _deny(case_id: int, user: Principal, what: str, status: int = 404) -> None:
    """Record the refused attempt on the case's trail, then answer 404 (no hint it exists),
    or 403 to someone who may see the case but not do this (a manager correcting it)."""
    with state().app.sessions.begin() as s:
        if s.get(Case, case_id) is not None:
            _event(s, case_id, user, "access_denied", {"what": what, "path": request.path})
    abort(status)


def _case(s: Session, case_id: int, user: Principal, need: str = "open") -> Case:
    """The case if ``user`` may ``need`` it (open | bodies | act | learning); else 404."""
    case = s.get(Case, case_id, with_for_update=need in ("act", "learning"))
    if case is None:
        abort(404)
    allowed = {
        "open": user.can_open,
        "bodies": user.reads_bodies,
        "act": user.can_act,
        "learning": user.can_write_learning,
    }[need](case.service)
    allowed = routing.may(user, case, need, allowed)
    if not allowed:
        # Someone who may see the case but not act on it (a manager) is told so: 403.
        # A case routed away from them (bot.routing) is not theirs to see at all: 404.
        sees = routing.may(user, case, "open", user.can_open(case.service))
        status = 403 if need == "act" and sees else 404
        s.rollback()
        _deny(case_id, user, need, status)
    return case


def _explain_rows(case: Case) -> list[dict[str, Any]]:
    labels = {
        "clock_starts": "Clock starts",
        "stage": "Stage",
        "acknowledge_by": "Acknowledge by",
        "respond_by": "Respond by",
        "next_stage_request_by": "Next stage may be requested until",
    }
    explain = (case.deadlines or {}).get("explain") or {}
    out = []
    for key, value in explain.items():
        if isinstance(value, dict):
            out.append(
                {
                    "label": labels.get(key, key.replace("_", " ").capitalize()),
                    "date": value.get("date"),
                    "text": value.get("text") or value.get("rule", ""),
                }
            )
    return out


@bp.get("/cases/<id:case_id>")
@login_required
def case_page(case_id: int) -> Any:
    user = _user()
    app = state().app
    now = _now()
    with app.sessions.begin() as s:
        case = _case(s, case_id, user)
        service = app.services[case.service]
        bodies = routing.may(user, case, "bodies", user.reads_bodies(case.service))
        _event(s, case.id, user, "viewed", {"bodies": bodies})
        casework.mark_opened(s, case.id, user.email, now)
        today = to_london(now, service.tz).date()
        state_now = actions.state_of(case, service)
        messages: list[dict[str, Any]] = []
        notes: list[CaseNote] = []
        files: list[CaseFile] = []
        family = casework.family_addresses(case)
        if bodies:
            reasons = (case.classification or {}).get("reasons") or []
            rows = s.scalars(
                select(Message)
                .where(Message.case_id == case.id)
                .options(defer(Message.raw), defer(Message.headers))
                .order_by(Message.id)
            ).all()
            first_in = next((m.id for m in rows if m.direction == "in"), None)
            for m in rows:
                atts = s.execute(
                    select(
                        Attachment.id, Attachment.filename, Attachment.content_type, Attachment.size
                    )
                    .where(Attachment.message_id == m.id)
                    .order_by(Attachment.id)
                ).all()
                rs = reasons if m.id == first_in else []
                messages.append(
                    {
                        "type": "message",
                        "at": m.arrived_at,
                        "m": m,
                        "text": render.highlight(m.new_text or m.text, rs),
                        "quoted": m.quoted_text,
                        # Sanitised once at intake (bot/safehtml.py); never again here.
                        "html": Markup(m.html_safe) if m.html_safe else None,
                        "attachments": atts,
                        "when": to_london(m.date, service.tz).strftime("%d %b %Y %H:%M"),
                    }
                )
            notes = list(
                s.scalars(select(CaseNote).where(CaseNote.case_id == case.id).order_by(CaseNote.id))
            )
            files = list(
                s.scalars(
                    select(CaseFile)
                    .where(CaseFile.case_id == case.id)
                    .options(load_only(CaseFile.id, CaseFile.filename, CaseFile.size, CaseFile.at))
                    .order_by(CaseFile.id)
                )
            )
        letters = list(
            s.scalars(
                select(OutboxLetter)
                .where(OutboxLetter.case_id == case.id)
                .order_by(OutboxLetter.id)
            )
        )
        events = list(
            s.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id))
        )
        learning = s.scalar(select(LearningRecord).where(LearningRecord.case_id == case.id))
        conversation: list[dict[str, Any]] = []
        if bodies:
            conversation = [
                *messages,
                *(
                    {"type": "letter", "at": x.sent_at or x.created_at, "l": x}
                    for x in letters
                    if x.status != "discarded" and x.to_addr.lower() in family
                ),
                *({"type": "note", "at": n.at, "n": n} for n in notes if n.kind == "note"),
            ]
            conversation.sort(key=lambda item: item["at"])
        can_act = routing.may(user, case, "act", user.can_act(case.service))
        canned = casework.canned_replies(case.service) if can_act and bodies else {}
        reply_text = canned.get(request.args.get("canned", ""), "")
        unsent = casework.unsent_letters(s, case) if can_act else []
        default_subject = casework.default_subject(s, case) if can_act and bodies else ""
        handlers = sorted(
            u.email
            for u in s.scalars(select(User).where(User.active.is_(True)))
            if "coordinator" in (u.roles or []) and (not u.services or case.service in u.services)
        )
        badges = queries.deadline_badges(
            case.status, case.acknowledge_by, case.respond_by, today, service
        )
        rules = [
            r
            for r in (case.classification or {}).get("reasons") or []
            if isinstance(r, dict) and bodies
        ]
        html = render_template(
            "case.html",
            case=case,
            service=service,
            bodies=bodies,
            can_act=can_act,
            can_learn=user.can_write_learning(case.service),
            messages=messages,
            conversation=conversation,
            canned=canned,
            reply_text=reply_text,
            default_subject=default_subject,
            unsent=unsent,
            safeguarding_actions=casework.SAFEGUARDING_ACTIONS,
            safeguarding_action=(case.flags or {}).get("safeguarding_action"),
            notes=notes,
            files=files,
            letters=letters,
            events=events,
            learning=learning,
            handlers=handlers,
            badges=badges,
            explain=_explain_rows(case),
            checks=((case.deadlines or {}).get("checks") or {}),
            rules=rules,
            model_opinion=_model_opinion(case.classification) if bodies else None,
            corrected=(case.classification or {}).get("corrected"),
            lifecycle_actions=[a.value for a in allowed_actions(state_now)],
            stage=_stage_info(service, case.stage),
            route=procedure.panel(
                service,
                status=case.status,
                stage_no=case.stage,
                kind=case.kind,
                channel=case.channel,
                route=case.route,
                informal_outcome=case.informal_outcome,
                flags=case.flags or {},
                lifecycle=case.lifecycle,
            ),
            today=today,
            kinds=actions.KINDS,
            outcomes=actions.OUTCOMES,
            justifications=actions.JUSTIFICATIONS,
            closure_reasons=[
                r.value
                for r in ClosureReason
                if r.value != "withdrawn" and (r.value != "advice_given" or case.kind == "enquiry")
            ],
            tz=service.tz,
        )
        if (case.flags or {}).get("new_message") and user.can_act(case.service):
            # A coordinator has seen the family's new message: the marker has done its job.
            case.flags = {k: v for k, v in case.flags.items() if k != "new_message"}
    return html


def _stage_info(service: Service, number: int) -> dict[str, Any]:
    try:
        st = service.stage(number)
    except KeyError:
        return {"number": number, "name": f"Stage {number}", "final": False, "extend": False}
    return {
        "number": st.number,
        "name": st.name,
        "final": st.final,
        "extend": st.extension.allowed,
    }


def _download(content: bytes, filename: str, content_type: str, fallback: str) -> Response:
    safe = render.safe_filename(filename, fallback)
    resp = Response(content, mimetype=render.download_type(content_type))
    resp.headers["Content-Disposition"] = (
        f"attachment; filename=\"{safe}\"; filename*=UTF-8''{quote(filename or safe)}"
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp


@bp.get("/cases/<id:case_id>/attachments/<id:att_id>")
@login_required
def attachment(case_id: int, att_id: int) -> Response:
    user = _user()
    with state().app.sessions.begin() as s:
        case = _case(s, case_id, user, "bodies")
        row = s.execute(
            select(Attachment)
            .join(Message, Message.id == Attachment.message_id)
            .where(Attachment.id == att_id, Message.case_id == case.id)
        ).scalar_one_or_none()
        if row is None or row.content is None:
            abort(404)
        _event(
            s,
            case.id,
            user,
            "attachment_downloaded",
            {"attachment_id": row.id, "filename": row.filename, "size": row.size},
        )
        return _download(row.content, row.filename, row.content_type, f"attachment-{row.id}")


@bp.get("/cases/<id:case_id>/files/<id:file_id>")
@login_required
def case_file(case_id: int, file_id: int) -> Response:
    user = _user()
    with state().app.sessions.begin() as s:
        case = _case(s, case_id, user, "bodies")
        f = s.get(CaseFile, file_id)
        if f is None or f.case_id != case.id:
            abort(404)
        _event(s, case.id, user, "file_downloaded", {"file_id": f.id, "filename": f.filename})
        return _download(f.content, f.filename, f.content_type, f"file-{f.id}")


# ---------------------------------------------------------------------------- actions


def _date_field(name: str, required: bool = True) -> date | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        if required:
            raise ActionError(f"{name.replace('_', ' ')}: give a date")
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ActionError(f"{name.replace('_', ' ')}: {raw!r} is not a date (YYYY-MM-DD)") from None


def _int_field(name: str) -> int:
    try:
        return int(request.form.get(name, ""))
    except ValueError:
        raise ActionError(f"{name}: expected a number") from None


def _act_classify(ctx: Ctx, case: Case) -> str:
    flags = {k: request.form.get(k) == "on" for k in actions.FLAG_NAMES}
    return actions.confirm_classification(ctx, case, request.form.get("kind", ""), flags)


def _act_event_date(ctx: Ctx, case: Case) -> str:
    return actions.set_event_date(ctx, case, request.form.get("event_date", ""))


def _act_letter(ctx: Ctx, case: Case) -> str:
    letter_id = _int_field("letter_id")
    op = request.form.get("op", "")
    if op == "approve":
        return actions.approve_letter(ctx, case, letter_id)
    if op == "discard":
        return actions.discard_letter(ctx, case, letter_id)
    if op == "edit":
        return actions.edit_letter(
            ctx, case, letter_id, request.form.get("subject", ""), request.form.get("body", "")
        )
    raise ActionError(f"unknown letter action {op!r}")


def _act_assign(ctx: Ctx, case: Case) -> str:
    return actions.assign(ctx, case, request.form.get("handler", ""))


def _act_link(ctx: Ctx, case: Case) -> str:
    ref = request.form.get("reference", "").strip().upper()
    other = ctx.session.scalar(select(Case).where(Case.reference == ref).with_for_update())
    if other is None or not ctx.user.can_act(other.service):
        raise ActionError(f"no case {ref!r} that you can work on")
    return actions.link_or_merge(ctx, case, other, request.form.get("mode", "link"))


def _act_respond(ctx: Ctx, case: Case) -> str:
    on = _date_field("response_date")
    assert on is not None
    up = request.files.get("file")
    upload = None
    if up is not None and up.filename:
        upload = actions.Upload(
            filename=up.filename,
            content_type=up.mimetype or "application/octet-stream",
            content=up.read(actions.MAX_UPLOAD_BYTES + 1),
        )
    return actions.record_response(
        ctx,
        case,
        on,
        request.form.get("summary", ""),
        upload,
        request.form.get("send_letter") == "on",
        outcome=actions.StageOutcome(
            decision=request.form.get("outcome", ""),
            reasons=request.form.get("reasons", ""),
            actions=request.form.get("actions", ""),
            remedy=request.form.get("remedy", ""),
        ),
    )


def _act_extend(ctx: Ctx, case: Case) -> str:
    new_date = _date_field("new_date")
    assert new_date is not None
    return actions.extend_deadline(ctx, case, new_date, request.form.get("reason", ""))


def _act_next_stage(ctx: Ctx, case: Case) -> str:
    return actions.next_stage(ctx, case, _date_field("requested_on", required=False))


def _act_acknowledge(ctx: Ctx, case: Case) -> str:
    return actions.acknowledge(ctx, case)


def _act_investigate(ctx: Ctx, case: Case) -> str:
    return actions.investigate(ctx, case)


def _act_withdraw(ctx: Ctx, case: Case) -> str:
    return actions.withdraw(
        ctx, case, request.form.get("note", ""), request.form.get("letters", "")
    )


def _act_close(ctx: Ctx, case: Case) -> str:
    return actions.close(
        ctx,
        case,
        request.form.get("reason", ""),
        request.form.get("outcome", ""),
        request.form.get("justification", ""),
        request.form.get("note", ""),
        request.form.get("letters", ""),
    )


def _act_note(ctx: Ctx, case: Case) -> str:
    return actions.add_note(ctx, case, request.form.get("text", ""))


def _act_safeguarding_action(ctx: Ctx, case: Case) -> str:
    return actions.safeguarding_action(
        ctx,
        case,
        request.form.get("what", ""),
        request.form.get("who", ""),
        request.form.get("details", ""),
    )


def _act_safeguarding_clear(ctx: Ctx, case: Case) -> str:
    return actions.clear_safeguarding(
        ctx, case, request.form.get("reason", ""), request.form.get("confirm") == "yes"
    )


def _act_advice_given(ctx: Ctx, case: Case) -> str:
    return actions.advice_given(ctx, case, request.form.get("note", ""))


def _act_learning(ctx: Ctx, case: Case) -> str:
    return actions.save_learning(
        ctx,
        case,
        request.form.get("you_said", ""),
        request.form.get("we_did", ""),
        request.form.get("what_else", ""),
        request.form.get("justification", ""),
    )


def _act_figures(ctx: Ctx, case: Case) -> str:
    try:
        return figures.set_figures(
            ctx,
            case,
            request.form.get("complainant", ""),
            request.form.get("category", ""),
            via_mp=request.form.get("via_mp") == "on",
        )
    except figures.FiguresError as exc:
        raise ActionError(str(exc)) from None


@bp.app_template_global("case_figures")
def case_figures(case: Case) -> dict[str, Any]:
    return figures.page(case.classification, case.kind)


def _act_informal(ctx: Ctx, case: Case) -> str:
    return actions.go_informal(ctx, case, request.form.get("note", ""))


def _act_resolve_informal(ctx: Ctx, case: Case) -> str:
    return actions.resolve_informal(ctx, case, request.form.get("summary", ""))


def _act_formalise(ctx: Ctx, case: Case) -> str:
    return actions.formalise(ctx, case, _date_field("on", required=False))


def _act_exemption(ctx: Ctx, case: Case) -> str:
    return actions.flag_exemption(
        ctx,
        case,
        request.form.get("code", ""),
        request.form.get("note", ""),
        clear=request.form.get("clear") == "on",
    )


def _act_direct_to_stage(ctx: Ctx, case: Case) -> str:
    return actions.direct_to_stage(ctx, case)


def _act_schedule_step(ctx: Ctx, case: Case) -> str:
    on = _date_field("meeting_on")
    assert on is not None
    return actions.schedule_step(ctx, case, request.form.get("step", ""), on)


ACTIONS: dict[str, Callable[[Ctx, Case], str]] = {
    "classify": _act_classify,
    "event-date": _act_event_date,
    "letter": _act_letter,
    "assign": _act_assign,
    "link": _act_link,
    "respond": _act_respond,
    "extend": _act_extend,
    "next-stage": _act_next_stage,
    "acknowledge": _act_acknowledge,
    "investigate": _act_investigate,
    "withdraw": _act_withdraw,
    "close": _act_close,
    "advice-given": _act_advice_given,
    "learning": _act_learning,
    "figures": _act_figures,
    "note": _act_note,
    "safeguarding-action": _act_safeguarding_action,
    "safeguarding-clear": _act_safeguarding_clear,
    "informal": _act_informal,
    "resolve-informal": _act_resolve_informal,
    "formalise": _act_formalise,
    "exemption": _act_exemption,
    "schedule-step": _act_schedule_step,
    "direct-to-stage": _act_direct_to_stage,
}


@bp.post("/cases/<id:case_id>/<action>")
@login_required
def case_action(case_id: int, action: str) -> BaseResponse:
    handler = ACTIONS.get(action)
    if handler is None:
        abort(404)
    user = _user()
    app = state().app
    still_open = True
    try:
        with app.sessions.begin() as s:
            case = _case(s, case_id, user, "learning" if action == "learning" else "act")
            now = _now()
            ctx = Ctx(s, user, now, app.services, app.config.web.base_url, sender_running(s, now))
            message = handler(ctx, case)
            # the action may route the case away from this person (a complaint about them)
            still_open = routing.may(user, case, "open", user.can_open(case.service))
    except ActionError as exc:
        flash(str(exc), "error")
    else:
        flash(message, "ok")
    if not still_open:
        # done, and no longer theirs to see: back to their cases, not to a 404
        flash("The case has been passed to its handler and has left your view.", "ok")
        return redirect(url_for("web.index"), code=303)
    if request.form.get("back") == "enquiries":  # the one-click close on the enquiries list
        return redirect(url_for("web.index", view="enquiries"), code=303)
    return redirect(url_for("web.case_page", case_id=case_id), code=303)


@bp.post("/cases/<id:case_id>/reply")
@login_required
def reply(case_id: int) -> Any:
    """A free-text letter to the family: ``op=preview`` shows it exactly as it will be sent
    (nothing is written); ``op=send`` queues the letter that was previewed."""
    user = _user()
    app = state().app
    op = request.form.get("op", "preview")
    subject = request.form.get("subject", "")
    text = request.form.get("text", "")
    error = None
    draft = None
    message = ""
    with app.sessions.begin() as s:
        case = _case(s, case_id, user, "act")
        if not routing.may(user, case, "bodies", user.reads_bodies(case.service)):
            s.rollback()
            _deny(case_id, user, "reply", 403)
        now = _now()
        ctx = Ctx(s, user, now, app.services, app.config.web.base_url, sender_running(s, now))
        reference = case.reference
        try:
            if op == "send":
                message = actions.send_reply(
                    ctx, case, subject, text, request.form.get("token", "")
                )
            elif op == "preview":
                draft = actions.preview_reply(ctx, case, subject, text)
            else:
                raise ActionError(f"unknown reply step {op!r}")
        except ActionError as exc:
            error = str(exc)  # nothing was written: preview and the checks come first
        if draft is None and error is None:
            flash(message, "ok")
            return redirect(url_for("web.case_page", case_id=case_id) + "#conversation", 303)
        if error is not None and op == "send":
            try:
                draft = actions.preview_reply(ctx, case, subject, text)
            except ActionError:
                draft = None
        service_name = app.services[case.service].name
    return (
        render_template(
            "reply_preview.html",
            case_id=case_id,
            reference=reference,
            service_name=service_name,
            draft=draft,
            subject=subject,
            text=text,
            error=error,
        ),
        400 if error else 200,
    )


# ------------------------------------------------------------------- complaints by phone


@bp.route("/cases/new", methods=["GET", "POST"])
@login_required
def new_case() -> Any:
    user = _user()
    app = state().app
    mine = [s for s in _all_services() if user.can_act(s)]
    if not mine:
        abort(403)
    now = _now()
    local_now = to_london(now, LONDON)
    form = request.form if request.method == "POST" else {}
    error = None
    if request.method == "POST":
        try:
            service = request.form.get("service", "")
            if service not in mine:
                raise ActionError("choose one of your services")
            when = request.form.get("received_at", "").strip()
            try:
                received = (
                    datetime.fromisoformat(when).replace(tzinfo=app.services[service].tz)
                    if when
                    else now
                )
            except ValueError:
                raise ActionError(f"received: {when!r} is not a date and time") from None
            new = actions.NewCase(
                service=service,
                channel=request.form.get("channel", ""),
                via_mp=request.form.get("via_mp") == "on",
                kind=request.form.get("kind", "complaint"),
                sender_name=request.form.get("sender_name", ""),
                sender_addr=request.form.get("sender_addr", ""),
                received_at=received,
                summary=request.form.get("summary", ""),
                about_coordinator=request.form.get("about_coordinator") == "on",
                safeguarding=request.form.get("safeguarding") == "on",
                informal=request.form.get("informal") == "on",
            )
            with app.sessions.begin() as s:
                ctx = Ctx(s, user, now, app.services, app.config.web.base_url)
                case = actions.log_case(ctx, new)
                case_id, reference = case.id, case.reference
        except ActionError as exc:
            error = str(exc)
        else:
            flash(f"{reference} logged", "ok")
            return redirect(url_for("web.case_page", case_id=case_id), code=303)
    return (
        render_template(
            "new_case.html",
            services=mine,
            channels=[c for c in actions.CHANNELS if c != "email"],
            kinds=[k for k in actions.KINDS if k != "automated"],
            form=form,
            error=error,
            default_received=local_now.strftime("%Y-%m-%dT%H:%M"),
        ),
        400 if error else 200,
    )


# ---------------------------------------------------------------------------- reports


@bp.get("/reports")
@login_required
def reports() -> Any:
    user = _user()
    if not user.sees_reports:
        abort(403)
    app = state().app
    services = [s for s in _all_services() if user.covers(s)]
    today = to_london(_now(), LONDON).date()
    with app.sessions() as s:
        data = queries.reports(s, services, today)
    year_start = date(today.year if today.month >= 4 else today.year - 1, 4, 1)
    return render_template(
        "reports.html", data=data, services=services, today=today, year_start=year_start
    )


@bp.get("/reports/annual")
@login_required
def annual_report() -> Any:
    """The annual report (bot/reports/annual.py) over the services this manager covers, as a
    download: PDF, HTML or CSV."""
    from bot.reports.annual import build_annual, render_csv, render_html

    user = _user()
    if not user.sees_reports:
        abort(403)
    try:
        first = date.fromisoformat(request.args.get("from", ""))
        last = date.fromisoformat(request.args.get("to", ""))
    except ValueError:
        abort(400, "from and to: expected dates YYYY-MM-DD")
    fmt = request.args.get("format", "pdf")
    if last < first or (last - first).days > 800 or fmt not in ("pdf", "html", "csv"):
        abort(400, "from must be before to (at most two years), format pdf, html or csv")
    app = state().app
    services = [s for s in _all_services() if user.covers(s)]
    with app.sessions() as s:
        r = build_annual(s, app.services, services, first, last)
    name = f"complaints-report-{first.isoformat()}-to-{last.isoformat()}.{fmt}"
    if fmt == "pdf":
        from bot.reports.pdf import render_pdf

        return _download(render_pdf(r), name, "application/pdf", "report.pdf")
    if fmt == "csv":
        return _download(render_csv(r).encode(), name, "text/csv", "report.csv")
    return _download(render_html(r).encode(), name, "text/html", "report.html")


@bp.app_errorhandler(400)
@bp.app_errorhandler(401)
@bp.app_errorhandler(403)
@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
@bp.app_errorhandler(413)
def error(exc: Any) -> tuple[str, int]:
    code = int(getattr(exc, "code", 500) or 500)
    return render_template("error.html", code=code, description=exc.description), code


# ---------------------------------------------------------------------------- filters

_SUMMARY_SKIP = frozenset(
    {"description", "explain", "deadlines", "check", "checks", "rules", "from", "to", "original"}
)
_PRIVATE = frozenset(
    {
        "note",
        "reason",
        "to",
        "filename",
        "with",
        "subject",
        "hold_reason",
        "hold_reasons",
        "error",
        "last_error",
        "sender",
        "address",
    }
)
#: Anything shaped like an email address, in what is shown to those who may not read senders.
_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"']+@[^\s<>()\[\]\\,;:\"']+")


def hide_addresses(text: str) -> str:
    return _ADDRESS.sub("[address hidden]", text)


@bp.app_template_filter("london")
def london(value: datetime | None, tz: Any = LONDON) -> str:
    if value is None:
        return ""
    return to_london(value, tz).strftime("%d %b %Y %H:%M")


@bp.app_template_filter("event_summary")
def event_summary(event: CaseEvent, bodies: bool) -> str:
    """One line for the timeline; free text people wrote only for those who read bodies."""
    d = event.detail or {}
    parts: list[str] = []
    if d.get("description"):
        parts.append(str(d["description"]))
    for key, value in d.items():
        if key in _SUMMARY_SKIP or (key in _PRIVATE and not bodies):
            continue
        if isinstance(value, str | int | float | bool) and value not in ("", None):
            parts.append(f"{key.replace('_', ' ')}: {value}")
        elif key == "changed" and value:
            parts.append(f"changed: {', '.join(map(str, value))}")
    if event.kind in ("classification_corrected", "classification_confirmed"):
        c, o = d.get("corrected") or {}, d.get("original") or {}
        parts.append(f"classifier said {o.get('kind')}, person said {c.get('kind')}")
    line = "; ".join(parts)
    if not bodies:
        line = hide_addresses(line)
    return line if len(line) <= 400 else line[:397] + "..."


def _model_opinion(classification: dict[str, Any] | None) -> dict[str, Any] | None:
    """The trained model's opinion stored with a classification, for the case page."""
    model = (classification or {}).get("model")
    if not isinstance(model, dict):
        return None
    kinds = model.get("kinds") or {}
    kind = (classification or {}).get("kind")
    return {
        "version": model.get("version"),
        "kind": kind,
        "probability": kinds.get(kind) if isinstance(kinds, dict) else None,
        "rule_kind": (classification or {}).get("rule_kind"),
        "holds": (classification or {}).get("holds") or [],
    }
