"""The weekly digest: references only, an inline chart, once per recipient and week."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import cast

import pytest

from bot.app import App, build_app
from bot.config import parse_config
from bot.letters.sender import make_transport
from bot.models import DigestSend
from bot.reports.digest import build_digest, build_message, render_text
from bot.reports.schedule import DigestScheduler
from tests.apphelpers import make_config_data
from tests.reports.seed import LONDON, Seeder
from tests.smtpsink import SmtpSink

WEEK = "2026-W47"  # Monday 16 November 2026
SECRETS = (
    "Ermintrude",
    "Quigglesworth",
    "ermintrude.q@fictional-example.org",
    "Zanzibarian",
    "flibbertigibbet",
)
MONDAY_0800 = datetime(2026, 11, 16, 8, 0, tzinfo=LONDON)


def _at(day: int, hour: int = 10) -> datetime:
    return datetime.combine(datetime(2026, 11, day).date(), time(hour), LONDON).astimezone(UTC)


def seed_week(app: App) -> None:
    with app.sessions() as s:
        sd = Seeder(s, app.services["durham"], tag="W")
        c = sd.case(
            _at(10),
            status="received",
            sender_name="Ermintrude Quigglesworth",
            sender_addr="ermintrude.q@fictional-example.org",
            subject="Zanzibarian transport complaint",
            acknowledge_by=datetime(2026, 11, 12).date(),
            classification={"category": "ehcp"},
        )
        sd.message(c, "Our flibbertigibbet EHCP is late and nobody replies.")
        due = sd.case(
            _at(11),
            status="acknowledged",
            respond_by=datetime(2026, 11, 19).date(),
            subject="Zanzibarian taxi",
            classification={"category": "transport"},
        )
        sd.event(
            due,
            "acknowledge",
            datetime(2026, 11, 12).date(),
            on_time=True,
            **{"from": {"status": "received", "stage": 1}},
        )
        sd.case(_at(12), kind="compliment", status="closed", subject="Zanzibarian thanks")
        old = sd.case(_at(1), status="closed", closure_reason="ombudsman", stage=2)
        sd.event(
            old,
            "close",
            datetime(2026, 11, 13).date(),
            reason="ombudsman",
            **{"from": {"status": "responded", "stage": 2}},
        )
        s.commit()


def _smtp_app(db_url: str, tmp_path: Path, smtp: SmtpSink) -> App:
    data = make_config_data(db_url, tmp_path)
    data["outbound"] = {"transport": "smtp", "host": "127.0.0.1", "port": smtp.port, "tls": "none"}
    data["digest"] = {
        "from_addr": "reports@sendiass.example",
        "recipients": [{"email": "manager@durham.example", "services": ["durham"]}],
    }
    return build_app(config=parse_config(data, "test"))


def _scheduler(app: App, now: datetime) -> DigestScheduler:
    return DigestScheduler(
        app.sessions,
        app.services,
        app.config.digest,
        make_transport(app.config.outbound),
        lambda: now,
    )


def test_digest_content_has_no_personal_data(app: App, tmp_path: Path) -> None:
    seed_week(app)
    with app.sessions() as s:
        d = build_digest(s, app.services, ["durham"], WEEK, MONDAY_0800.date())
    w = d.by_service["durham"]
    assert w.new_by_kind == {"complaint": 2, "compliment": 1}
    assert [r.reference for r in w.overdue] and w.overdue[0].days >= 1
    assert [r.reference for r in w.due_soon]
    assert w.ack_on_time == w.ack_total == 1
    assert w.ombudsman == 1 and w.compliments == 1
    assert w.categories.get("EHCP issues or delays") == 1
    assert w.categories.get("Transport") == 1
    msg = build_message(d, "reports@x.example", "manager@x.example", MONDAY_0800)
    raw = msg.as_bytes().decode("utf-8", "replace")
    text = cast(EmailMessage, msg.get_body(("plain",))).get_content()
    html_part = cast(EmailMessage, msg.get_body(("html",)))
    html = html_part.get_content()
    for secret in SECRETS:
        for where in (raw, text, html, str(msg.items())):
            assert secret.lower() not in where.lower(), secret
    # The chart: a PNG part with a Content-ID that the HTML refers to.
    pngs = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(pngs) == 1
    cid = str(pngs[0]["Content-ID"]).strip("<>")
    assert f'src="cid:{cid}"' in html
    assert cast(bytes, pngs[0].get_payload(decode=True)).startswith(b"\x89PNG")
    out = tmp_path / "digest.html"
    out.write_text(html)


def test_sent_once_per_week_across_restarts(
    db_url: str, tmp_path: Path, smtp_server: SmtpSink
) -> None:
    app = _smtp_app(db_url, tmp_path, smtp_server)
    seed_week(app)
    now = MONDAY_0800 + timedelta(minutes=1)
    first = _scheduler(app, now).run_once()
    assert (first.written, first.sent) == (1, 1)
    # A restart (a new scheduler on the same database), and a second instance in parallel.
    assert _scheduler(app, now + timedelta(hours=2)).run_once().sent == 0
    assert _scheduler(app, now + timedelta(days=3)).run_once().sent == 0
    got = smtp_server.messages()
    assert len(got) == 1
    assert got[0].rcpt_tos == ("manager@durham.example",)
    raw = got[0].data.decode("utf-8", "replace")
    assert "Weekly complaints digest 2026-W47" in raw
    for secret in SECRETS:
        assert secret.lower() not in raw.lower()
    # Next week: one more.
    assert _scheduler(app, now + timedelta(days=7)).run_once().sent == 1
    assert len(smtp_server.messages()) == 2


def test_catch_up_after_downtime(db_url: str, tmp_path: Path, smtp_server: SmtpSink) -> None:
    app = _smtp_app(db_url, tmp_path, smtp_server)
    seed_week(app)
    before = _scheduler(app, MONDAY_0800 - timedelta(minutes=1)).run_once()
    assert (before.written, before.sent) == (0, 0)
    # The daemon was down all Monday morning; it starts on Tuesday afternoon.
    after = _scheduler(app, MONDAY_0800 + timedelta(days=1, hours=6)).run_once()
    assert after.sent == 1
    assert len(smtp_server.messages()) == 1


def test_smtp_down_then_retried(db_url: str, tmp_path: Path, smtp_server: SmtpSink) -> None:
    app = _smtp_app(db_url, tmp_path, smtp_server)
    smtp_server.stop()
    now = MONDAY_0800 + timedelta(minutes=5)
    stats = _scheduler(app, now).run_once()
    assert (stats.written, stats.sent, stats.failed) == (1, 0, 1)
    smtp_server.start()
    assert _scheduler(app, now + timedelta(minutes=10)).run_once().sent == 1
    assert _scheduler(app, now + timedelta(minutes=30)).run_once().sent == 0
    assert len(smtp_server.messages()) == 1
    with app.sessions() as s:
        row = s.query(DigestSend).one()
        assert row.status == "sent" and row.attempts == 2


def test_digest_cli_print(app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    seed_week(app)
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[database]\nurl = "{app.config.database.url}"\n'
        f'[outbound]\ntransport = "maildir"\npath = "{tmp_path / "o"}"\n'
    )
    assert main(["--config", str(cfg), "digest", "--week", WEEK, "--print"]) == 0
    out = capsys.readouterr().out
    assert "Weekly complaints digest 2026-W47" in out
    assert "Zanzibarian" not in out
    html = tmp_path / "d.html"
    assert main(["--config", str(cfg), "digest", "--week", WEEK, "--html", str(html)]) == 0
    assert "data:image/png;base64," in html.read_text()
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(cfg), "digest", "--week", "2026-47", "--print"])
    assert exc.value.code == 2


def test_digest_config() -> None:
    from bot.errors import ConfigError

    base = {"database": {"url": "sqlite://"}, "outbound": {"transport": "maildir", "path": "o"}}
    cfg = parse_config({**base, "digest": {"recipients": [{"email": "m@x.example"}]}}, "t")
    r = cfg.digest.recipients[0]
    assert (r.day, r.time, r.services, cfg.digest.timezone) == (
        "monday",
        "08:00",
        (),
        "Europe/London",
    )
    bad = {**base, "digest": {"recipients": [{"email": "m@x.example", "time": "25:00"}]}}
    with pytest.raises(ConfigError, match=r"digest.recipients\[0\].time"):
        parse_config(bad, "t")
    with pytest.raises(ConfigError, match="unknown service"):
        parse_config(
            {**base, "digest": {"recipients": [{"email": "m", "services": ["nowhere"]}]}},
            "t",
            known_services={"durham"},
        )


def test_digest_per_service_against_a_hand_count(app: App) -> None:
    """Two services' week (Monday 9 to Sunday 15 November 2026, sent Monday 16th), each apart,
    every figure counted by hand from the comments below."""
    d16 = MONDAY_0800.date()
    day = lambda n: datetime(2026, 11, n).date()  # noqa: E731
    frm = lambda stage, status="received": {"from": {"status": status, "stage": stage}}  # noqa: E731
    with app.sessions() as s:
        dur = Seeder(s, app.services["durham"], tag="H")
        sta = Seeder(s, app.services["staffordshire"], tag="H")
        # A: new complaint, not acknowledged, due 12th: overdue by 2 working days (13th,
        #    16th); a coordinator chose EHCP.
        a = dur.case(
            _at(10),
            status="received",
            acknowledge_by=day(12),
            respond_by=day(30),
            classification={"category": "ehcp"},
            sender_addr="a.parent@fictional.example",
        )
        # B: new complaint, acknowledged on the 12th (in time: 3 working days from the 11th
        #    is the 16th), response due 19th: 3 working days left; no category chosen.
        b = dur.case(
            _at(11),
            status="acknowledged",
            respond_by=day(19),
            classification={"category_suggested": "transport"},
        )
        dur.event(b, "acknowledge", day(12), **frm(1))
        # C: an enquiry and D: a compliment, both new and open: no stage, never "due".
        dur.case(_at(12), kind="enquiry", status="received")
        dur.case(_at(12), kind="compliment", status="received", acknowledge_by=day(13))
        # E: a Stage 2 request (its own case) from the week before, response extended to the
        #    20th: 4 working days left, shown as extended.
        e = dur.case(
            _at(3), kind="stage2_request", stage=2, status="investigating", respond_by=day(20)
        )
        dur.event(
            e,
            "extend",
            day(10),
            respond_by="2026-11-20",
            reason="Complex",
            **frm(2, "investigating"),
        )
        # F: new complaint about another organisation: out of scope, not in the stages; its
        #    acknowledgement (due the 13th) is still listed, marked, until a person closes it.
        f = dur.case(
            _at(10), status="received", acknowledge_by=day(13), flags={"out_of_scope": True}
        )
        # G: an old complaint closed this week on referral to the Ombudsman.
        g = dur.case(
            datetime(2026, 6, 2, 9, tzinfo=UTC), status="closed", closure_reason="ombudsman"
        )
        dur.event(g, "close", day(13), reason="ombudsman", **frm(1, "responded"))
        # H: received 20 October, responded on the 13th (Durham's limit: 20 working days,
        #    17 November): a response within the limit. Waiting for the family: nothing due.
        h = dur.case(datetime(2026, 10, 20, 9, tzinfo=UTC), status="responded")
        dur.event(h, "respond", day(13), **frm(1, "investigating"))
        # I: received Monday 2nd, acknowledged on the 10th (limit the 5th): late. Response
        #    due the 30th: beyond the 5 working days, not listed.
        i = dur.case(_at(2), status="acknowledged", respond_by=day(30))
        dur.event(i, "acknowledge", day(10), **frm(1))
        # J: a Stage 2 request that came as its own case on the 13th, already closed (dealt
        #    with on the complaint): new this week, and a next-stage request of the week.
        dur.case(_at(13), kind="stage2_request", stage=2, status="closed",
                 closure_reason="resolved")  # fmt: skip
        # Staffordshire. SA: new complaint, acknowledgement due the 17th (1 working day left);
        # transport.
        sa = sta.case(
            _at(10),
            status="received",
            acknowledge_by=day(17),
            respond_by=datetime(2026, 12, 8).date(),
            classification={"category": "transport"},
        )
        # SB: received 1 September, responded 1 October, asked for Stage 2 on the 11th (a
        #     next-stage request this week): acknowledgement due the 18th (2 left).
        sb = sta.case(
            datetime(2026, 9, 1, 9, tzinfo=UTC),
            stage=2,
            status="next_stage_requested",
            acknowledge_by=day(18),
        )
        sta.event(sb, "respond", datetime(2026, 10, 1).date(), **frm(1, "investigating"))
        sta.event(
            sb,
            "request_next_stage",
            day(11),
            **frm(1, "responded"),
            to={"status": "next_stage_requested", "stage": 2},
        )
        s.commit()
        refs = {
            k: c.reference for k, c in {"A": a, "B": b, "E": e, "F": f, "SA": sa, "SB": sb}.items()
        }

    with app.sessions() as s:
        d = build_digest(s, app.services, ["durham", "staffordshire"], WEEK, d16)
    assert list(d.by_service) == ["durham", "staffordshire"]
    w = d.by_service["durham"]
    # A B F, D, C, J
    assert w.new_by_kind == {"complaint": 3, "compliment": 1, "enquiry": 1, "stage2_request": 1}
    assert w.open_by_stage == {1: 4, 2: 1}  # A B H I; E
    assert w.open_other == {"compliment": 1, "enquiry": 1}
    assert w.out_of_scope_open == 1
    assert [(r.reference, r.kind, r.stage, r.what, r.due, r.days, r.out_of_scope)
            for r in w.overdue] == [
        (refs["A"], "complaint", 1, "acknowledgement", day(12), 2, False),
        (refs["F"], "complaint", 1, "acknowledgement", day(13), 1, True),
    ]  # fmt: skip
    assert [(r.reference, r.kind, r.stage, r.what, r.due, r.days, r.extended)
            for r in w.due_soon] == [
        (refs["B"], "complaint", 1, "response", day(19), 3, False),
        (refs["E"], "stage2_request", 2, "response", day(20), 4, True),
    ]  # fmt: skip
    assert (w.ack_on_time, w.ack_total, w.ack_share) == (1, 2, "50.0%")  # B; I late
    assert w.responses == {"on_time": 1, "extended": 0, "late": 0}  # H
    assert (w.next_stage_requests, w.ombudsman, w.compliments) == (1, 1, 1)  # J; G; D
    assert w.categories == {"EHCP issues or delays": 1} and w.uncategorised == 1  # A; B
    w = d.by_service["staffordshire"]
    assert w.new_by_kind == {"complaint": 1}
    assert w.open_by_stage == {1: 1, 2: 1} and w.open_other == {} and w.out_of_scope_open == 0
    assert w.overdue == []
    assert [(r.reference, r.what, r.due, r.days) for r in w.due_soon] == [
        (refs["SA"], "acknowledgement", day(17), 1),
        (refs["SB"], "acknowledgement", day(18), 2),
    ]
    assert (w.ack_total, w.ack_share) == (0, "–")
    assert w.responses == {"on_time": 0, "extended": 0, "late": 0}
    assert (w.next_stage_requests, w.ombudsman, w.compliments) == (1, 0, 0)
    assert w.categories == {"Transport": 1} and w.uncategorised == 0
    # Complaints received per month (in scope, both services): G in June, SB in September,
    # H in October; A, B, I and SA in November.
    assert d.trend == [
        ("Dec 2025", 0), ("Jan 2026", 0), ("Feb 2026", 0), ("Mar 2026", 0), ("Apr 2026", 0),
        ("May 2026", 0), ("Jun 2026", 1), ("Jul 2026", 0), ("Aug 2026", 0), ("Sep 2026", 1),
        ("Oct 2026", 1), ("Nov 2026", 4),
    ]  # fmt: skip

    text = render_text(d)
    assert "==== durham ====" in text and "==== staffordshire ====" in text
    assert text.index("==== durham ====") < text.index(refs["A"]) < text.index("==== staff")
    assert (
        f"  {refs['A']}  complaint, Stage 1, acknowledgement  due 2026-11-12  "
        "(2 working day(s) late)"
    ) in text
    assert (
        f"  {refs['E']}  stage2 request, Stage 2, response (extended)  due 2026-11-20  "
        "(4 working day(s) left)"
    ) in text
    assert (
        f"  {refs['F']}  complaint (out of scope), Stage 1, acknowledgement  due 2026-11-13  "
        "(1 working day(s) late)"
    ) in text
    assert "Open: Stage 1" not in text and "enquiry: 1" in text
    assert "  Within the procedure's limit: 1 (100.0%)" in text  # plain text, not escaped
    assert "fictional.example" not in text
