"""Property-based: real messages, mutated the way broken or hostile mail is, through the real
intake; each is logged or quarantined, and the queue, the case page and the digest still
render afterwards.

Seeds are the real-world MIME set (tests/data/realworld-mime) and the labelled corpus
(tests/data/corpus/dev.jsonl). Example counts are modest and the run is derandomised, so CI
sees the same examples every time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.app import App, build_app
from bot.config import WebConfig, parse_config
from bot.models import Case, Message, QuarantineItem
from bot.parse import content_hash
from bot.pipeline.context import Outcome, Source
from bot.reports.digest import build_digest, render_text
from bot.web import create_app
from tests.apphelpers import make_config_data
from tests.mailfactory import load_corpus, record_to_eml
from tests.web.conftest import COORD, MANAGER, SECRET, Browser, add_users

DATA = Path(__file__).parent / "data"
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
DURHAM = Source("durham", "durham")
REALWORLD = sorted((DATA / "realworld-mime").rglob("*.eml"))
CORPUS = [record_to_eml(r) for r in load_corpus(DATA / "corpus" / "dev.jsonl")[:60]]

FUZZ = settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def _split(raw: bytes) -> tuple[bytes, bytes, bytes]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        head, found, body = raw.partition(sep)
        if found:
            return head, sep, body
    return raw, b"", b""


def set_header(raw: bytes, name: str, value: bytes) -> bytes:
    """``raw`` with every ``name`` header replaced by one with ``value``."""
    head, sep, body = _split(raw)
    lines = re.split(rb"\r?\n(?![ \t])", head)
    kept = [x for x in lines if not x.lower().startswith(name.lower().encode() + b":")]
    return b"\r\n".join([name.encode() + b": " + value, *kept]) + (sep or b"\r\n\r\n") + body


Mutation = Callable[[bytes, st.DataObject], bytes]


def truncate(raw: bytes, data: st.DataObject) -> bytes:
    return raw[: data.draw(st.integers(0, len(raw)), label="cut")]


def wrong_charset(raw: bytes, data: st.DataObject) -> bytes:
    charset = data.draw(st.sampled_from([b"x-bogus", b"utf-16", b"iso-2022-jp", b"utf-7"]))
    out = re.sub(rb"(?i)charset=\"?[\w-]+\"?", b"charset=" + charset, raw)
    return out if out != raw else set_header(raw, "Content-Type", b"text/plain; charset=" + charset)


def broken_boundary(raw: bytes, data: st.DataObject) -> bytes:
    out = re.sub(rb"(?i)boundary=\"?([^\";\r\n]+)\"?", b'boundary="nowhere-to-be-found"', raw)
    if out == raw:
        out = set_header(raw, "Content-Type", b'multipart/mixed; boundary="b1"')
    return out + b"\r\n--b1\r\nContent-Type: text/plain\r\n\r\nunterminated part"


def huge_header(raw: bytes, data: st.DataObject) -> bytes:
    size = data.draw(st.sampled_from([100_000, 400_000]))
    name = data.draw(st.sampled_from(["Subject", "X-Huge", "To"]))
    return set_header(raw, name, b"a" * size)


def nul_bytes(raw: bytes, data: st.DataObject) -> bytes:
    at = data.draw(st.lists(st.integers(0, max(0, len(raw))), min_size=1, max_size=5))
    out = bytearray(raw)
    for i in sorted(at, reverse=True):
        out[i:i] = b"\x00"
    return bytes(out)


def deep_nesting(raw: bytes, data: st.DataObject) -> bytes:
    depth = data.draw(st.sampled_from([150, 2_000, 20_000]))
    html = b"<div>" * depth + b"I want to complain." + b"</div>" * depth
    head, _, _ = _split(set_header(raw, "Content-Type", b"text/html; charset=utf-8"))
    head = set_header(head + b"\r\n\r\n", "Content-Transfer-Encoding", b"8bit")
    return _split(head)[0] + b"\r\n\r\n" + html


def enormous_attachment(raw: bytes, data: st.DataObject) -> bytes:
    size = data.draw(st.sampled_from([300_000, 1_500_000]))
    line = b"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n"
    payload = line * (size // len(line))
    head, _, body = _split(raw)
    head = set_header(head + b"\r\n\r\n", "Content-Type", b'multipart/mixed; boundary="zz"')
    return (
        _split(head)[0]
        + b"\r\n\r\n--zz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + body[:5000]
        + b"\r\n--zz\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
        b'filename="big.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n' + payload + b"--zz--\r\n"
    )


HOSTILE_FROM = b"=?utf-8?q?Jo_=3Cnew.victim=40example.net=3E?= <attacker@evil.example>"


def hostile_from(raw: bytes, data: st.DataObject) -> bytes:
    value = data.draw(
        st.sampled_from(
            [
                HOSTILE_FROM,
                b'"Parent. URGENT: re-verify at http://evil.example/ehcp" <p@example.org>',
                b"=?utf-8?b?PGEuYkBjLmQ+?=",
                b"<>",
                b"a@b@c, d@e",
            ]
        )
    )
    return set_header(raw, "From", value)


def hostile_date(raw: bytes, data: st.DataObject) -> bytes:
    value = data.draw(
        st.sampled_from(
            [
                b"Mon, 01 Jan 1990 09:00:00 +0000",
                b"Fri, 31 Dec 9999 23:59:59 -1200",
                b"Mon, 01 Jan 0001 00:00:00 +1400",
                b"Tue, 05 Mar 2002 10:00:00 +0000",
                b"yesterday-ish",
            ]
        )
    )
    return set_header(raw, "Date", value)


def hostile_references(raw: bytes, data: st.DataObject) -> bytes:
    count = data.draw(st.sampled_from([1, 5_000]))
    refs = b" ".join(b"<guess-%d@sendiass.example>" % i for i in range(count))
    raw = set_header(raw, "Subject", b"Re: DUR-2026-0001 and STO-2026-0001")
    return set_header(raw, "References", refs)


MUTATIONS: list[Mutation] = [
    truncate, wrong_charset, broken_boundary, huge_header, nul_bytes, deep_nesting,
    enormous_attachment, hostile_from, hostile_date, hostile_references,
]  # fmt: skip


@pytest.fixture
def fuzz_app(tmp_path: Path) -> tuple[App, Browser, Browser]:
    data = make_config_data(f"sqlite:///{tmp_path / 'fuzz.db'}", tmp_path)
    data["intake"] = {"attachment_max_bytes": 100_000}
    app = build_app(config=parse_config(data, "fuzz"), clock=lambda: NOW)
    add_users(app)
    flask = create_app(app, WebConfig(cookie_secure=False), secret_key=SECRET)
    flask.config["TESTING"] = True
    browser = Browser(flask.test_client())
    assert browser.login(COORD).status_code == 303
    manager = Browser(flask.test_client())
    assert manager.login(MANAGER).status_code == 303
    return app, browser, manager


def check(app: App, browser: Browser, manager: Browser, raw: bytes, hostile: bool) -> None:
    result = app.intake.process(raw, DURHAM)
    digest = content_hash(raw)
    with app.sessions() as s:
        logged = s.scalar(select(Message.id).where(Message.content_hash == digest))
        quarantined = s.scalar(
            select(QuarantineItem.id).where(QuarantineItem.content_hash == digest)
        )
        case = s.scalar(select(Case).where(Case.reference == result.case_reference))
    if result.outcome is Outcome.QUARANTINE:
        assert quarantined is not None
    elif result.outcome is not Outcome.DUPLICATE:
        assert logged is not None, result
    if case is not None:
        if hostile:
            assert case.sender_addr != "new.victim@example.net"
        if case.restricted:
            # routed away from the person it is about: not in the coordinators' view, and
            # the service's manager sees the page (routing.may)
            assert browser.get(f"/cases/{case.id}").status_code == 404
            assert manager.get(f"/cases/{case.id}").status_code == 200
        else:
            assert browser.get(f"/cases/{case.id}").status_code == 200
    assert browser.get("/").status_code == 200
    with app.sessions() as s:
        text = render_text(build_digest(s, app.services, ["durham"], "2026-W46", date(2026, 11, 9)))
    assert "Weekly complaints digest" in text


def mutate(raw: bytes, data: st.DataObject) -> tuple[bytes, bool]:
    chosen = data.draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3), label="how")
    for mutation in chosen:
        raw = mutation(raw, data)
    return raw, hostile_from in chosen


@FUZZ
@given(data=st.data())
def test_mutated_realworld_mail_is_logged_or_quarantined_and_pages_render(
    fuzz_app: tuple[App, Browser, Browser], data: st.DataObject
) -> None:
    app, browser, manager = fuzz_app
    seed = data.draw(st.sampled_from(REALWORLD), label="seed").read_bytes()
    raw, hostile = mutate(seed, data)
    check(app, browser, manager, raw, hostile)


@FUZZ
@given(data=st.data())
def test_mutated_corpus_mail_is_logged_or_quarantined_and_pages_render(
    fuzz_app: tuple[App, Browser, Browser], data: st.DataObject
) -> None:
    app, browser, manager = fuzz_app
    seed = data.draw(st.sampled_from(CORPUS), label="seed")
    raw, hostile = mutate(seed, data)
    check(app, browser, manager, raw, hostile)
