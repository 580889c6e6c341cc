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
from bot.reports.digest import build_digest, build_message
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
