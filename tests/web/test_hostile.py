"""Issue 12, web and files: each attack tried against the real web server (waitress on
127.0.0.1, real database; real Chromium where the browser matters), and what must hold.

All people, addresses and events are fictional.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select, update

from bot.config import ConfigError, WebConfig, parse_config
from bot.letters.sender import FolderTransport, Sender
from bot.models import LoginAttempt, OutboxLetter, User, WebSession
from bot.pipeline.context import Source
from bot.web import create_app, security, sessions
from tests.apphelpers import make_config_data
from tests.mailfactory import make_email
from tests.web.conftest import (
    ADMIN,
    COORD,
    MANAGER,
    PASSWORD,
    SECRET,
    Clock,
    Web,
    build_web,
)
from tests.web.httpclient import HttpClient
from tests.web.livesrv import LiveServer
from tests.web.test_e2e import page  # noqa: F401  (the Chromium fixture)

JOANNA = "joanna.pike@example.org"
JOANNA_HOME = "j.pike.home@example.org"


@pytest.fixture
def live(web: Web) -> Iterator[tuple[Web, LiveServer]]:
    with LiveServer(web.flask, threads=8) as server:
        yield web, server


def client(server: LiveServer) -> HttpClient:
    return HttpClient(server.url)


# -------------------------------------------------------------------- 1. next targets

HOSTILE_NEXT = [
    "/%09/evil.example/phish",  # a tab: browsers drop it and read //evil.example
    "/\t/evil.example/phish",
    "/%0a/evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%5Cevil.example",
    "/%2F/evil.example",
    "%2F%2Fevil.example",
    "/%252F%252Fevil.example",  # double-encoded
    "https://evil.example",
    "https:evil.example",
    "HTTPS://evil.example/",
    "javascript:alert(1)",
    "/%0d%0aSet-Cookie:%20x=y",
    "/ /evil.example",
    "/.%2e/%2e%2e//evil.example",
    "evil.example",
    "",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_sign_in_never_sends_anyone_off_site(live: tuple[Web, LiveServer], target: str) -> None:
    _, server = live
    c = client(server)
    resp = c.login(COORD, next_=target)
    assert resp.status == 303 and resp.location == "/", (target, resp.location)
    # already signed in: /login?next=... goes straight there, so the same check applies
    raw = target if "%" in target else quote(target, safe="/:")
    resp = c.get("/login?next=" + raw)
    assert resp.status == 302 and resp.location == "/", (target, resp.location)


def test_sign_in_keeps_a_same_site_next_target(live: tuple[Web, LiveServer]) -> None:
    web, server = live
    case_id = web.ingest(subject="Complaint", body="I want to make a formal complaint.")
    c = client(server)
    resp = c.get(f"/cases/{case_id}")
    assert resp.status == 302 and resp.location.startswith("/login?next=")
    assert c.login(COORD, next_=f"/cases/{case_id}").location == f"/cases/{case_id}"
    assert c.get("/login?next=/reports%3Fx%3D1").location == "/reports?x=1"


def test_the_tab_trick_keeps_a_real_browser_on_this_site(
    live: tuple[Web, LiveServer],
    page: Any,  # noqa: F811
) -> None:
    _, server = live
    page.goto(server.url + "/login?next=/%09/evil.example/phish")
    page.fill("input[name=email]", COORD)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("table.queue")
    assert page.url == server.url + "/", page.url


# ----------------------------------------------------------------- 2. server-side sessions


def test_the_cookie_is_only_a_random_token_and_the_database_keeps_its_hash(
    live: tuple[Web, LiveServer],
) -> None:
    web, server = live
    c = client(server)
    assert c.login(COORD).status == 303
    token = c.cookies[sessions.COOKIE_NAME]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token), token  # no data, no signature
    with web.app.sessions() as s:
        rows = s.scalars(select(WebSession)).all()
    assert [r.token_hash for r in rows] == [sessions.token_hash(token)]
    assert token not in {r.token_hash for r in rows}
    # a second sign-in on another browser is another session with another token
    other = client(server)
    other.login(COORD)
    assert other.cookies[sessions.COOKIE_NAME] != token


def test_a_copied_cookie_stops_working_after_sign_out(live: tuple[Web, LiveServer]) -> None:
    _, server = live
    victim = client(server)
    assert victim.login(COORD).status == 303
    thief = HttpClient(server.url, dict(victim.cookies))
    assert thief.get("/").status == 200  # the stolen cookie works while the victim is in
    resp = victim.post("/logout", {})
    assert resp.status == 303 and resp.location == "/login"
    assert sessions.COOKIE_NAME not in victim.cookies
    replay = thief.get("/")
    assert replay.status == 302 and replay.location.startswith("/login"), replay.status
    assert thief.get("/reports").status == 302


def test_password_change_and_disabling_end_copied_sessions(
    live: tuple[Web, LiveServer],
) -> None:
    web, server = live
    coord = client(server)
    coord.login(COORD)
    copied = HttpClient(server.url, dict(coord.cookies))
    admin = client(server)
    admin.login(ADMIN)
    with web.app.sessions() as s:
        coord_id = s.scalar(select(User.id).where(User.email == COORD))
    resp = admin.post(
        f"/admin/users/{coord_id}/password",
        {"password": "a brand new password", "password_again": "a brand new password"},
        csrf_from=f"/admin/users/{coord_id}",
    )
    assert resp.status == 303
    assert copied.get("/").status == 302
    assert coord.get("/").status == 302
    with web.app.sessions() as s:
        left = s.scalar(
            select(func.count()).select_from(WebSession).where(WebSession.user_id == coord_id)
        )
    assert left == 0
    # disabling: the new session from the new password ends at once too
    coord = client(server)
    assert coord.login(COORD, "a brand new password").status == 303
    assert coord.get("/").status == 200
    resp = admin.post(f"/admin/users/{coord_id}/disable", {}, csrf_from=f"/admin/users/{coord_id}")
    assert resp.status == 303
    assert coord.get("/").status == 302


def test_sessions_have_an_idle_timeout_and_an_absolute_lifetime(tmp_path: Path) -> None:
    clock = Clock()
    web = build_web(f"sqlite:///{tmp_path / 'life.db'}", tmp_path, clock)
    flask = create_app(
        web.app,
        WebConfig(cookie_secure=False, session_lifetime_minutes=120, session_idle_minutes=30),
        secret_key=SECRET,
    )
    try:
        with LiveServer(flask) as server:
            # idle: 29 minutes between requests is fine, 30 is not
            c = client(server)
            c.login(COORD)
            clock.advance(minutes=29)
            assert c.get("/").status == 200
            clock.advance(minutes=30)
            assert c.get("/").status == 302
            # absolute: active every 20 minutes, still ends 120 minutes after sign-in
            c = client(server)
            c.login(COORD)
            for _ in range(5):
                clock.advance(minutes=20)
                assert c.get("/").status == 200
            clock.advance(minutes=20)
            assert c.get("/").status == 302
            with web.app.sessions() as s:  # the expired rows are gone, not just refused
                assert s.scalar(select(func.count()).select_from(WebSession)) == 0
    finally:
        web.app.engine.dispose()


def test_session_lifetimes_are_configuration_keys() -> None:
    base = make_config_data("sqlite:///x.db", Path("/tmp"), [])
    cfg = parse_config(
        {**base, "web": {"session_lifetime_minutes": 240, "session_idle_minutes": 15}}, "t"
    )
    assert (cfg.web.session_lifetime_minutes, cfg.web.session_idle_minutes) == (240, 15)
    assert parse_config(base, "t").web.session_lifetime_minutes == 480
    assert parse_config(base, "t").web.session_idle_minutes == 60
    for bad in (
        {"session_idle_minutes": 0},
        {"session_lifetime_minutes": "8h"},
        {"session_lifetime_minutes": 10, "session_idle_minutes": 20},
    ):
        with pytest.raises(ConfigError):
            parse_config({**base, "web": bad}, "t")


# --------------------------------------------------------- 3. managers never see senders


def test_managers_never_see_sender_addresses_coordinators_do(
    live: tuple[Web, LiveServer],
) -> None:
    web, server = live
    held = web.ingest(
        from_name="Joanna Pike",
        from_addr=JOANNA,
        subject="Complaint about my caseworker",
        body="I want to make a formal complaint. My caseworker never called me back.",
        headers={"Reply-To": JOANNA_HOME},  # held: the reason names both addresses
    )
    failed = web.ingest(
        from_name="Sam Iqbal",
        from_addr="sam.iqbal@example.org",
        subject="Thank you",
        body="I wanted to say thank you to Cora for all her help with the tribunal.",
    )
    with web.app.sessions.begin() as s:
        reasons = s.scalars(select(OutboxLetter.hold_reason).where(OutboxLetter.case_id == held))
        assert any(JOANNA_HOME in (r or "") for r in reasons)
        # what the sender records when the server refuses a recipient
        s.execute(
            update(OutboxLetter)
            .where(OutboxLetter.case_id == failed)
            .values(
                status="failed",
                last_error="550 5.1.1 <sam.iqbal@example.org>: Recipient address rejected",
            )
        )
    addresses = (JOANNA, JOANNA_HOME, "sam.iqbal@example.org")
    coord, manager = client(server), client(server)
    coord.login(COORD)
    manager.login(MANAGER)
    pages = ["/", f"/cases/{held}", f"/cases/{failed}", "/reports", "/?status=received"]
    for url in pages:
        resp = manager.get(url)
        assert resp.status == 200, url
        for addr in addresses:
            assert addr not in resp.text, (url, addr)
        assert "@example.org" not in resp.text, url
    seen = coord.get(f"/cases/{held}").text
    assert JOANNA in seen and f"Reply-To ({JOANNA_HOME}) differs" in seen
    assert "sam.iqbal@example.org" in coord.get(f"/cases/{failed}").text
    assert "Recipient address rejected" in coord.get(f"/cases/{failed}").text
    assert "Joanna Pike" in coord.get("/").text and "Joanna Pike" not in manager.get("/").text


# ------------------------------------------------------------- 4. bounded parameters

BAD_NUMBERS = [
    "99999999999999999999",
    "2147483648",
    "-1",
    "0",
    "abc",
    "1e3",
    "1.5",
    "\u0663",  # an Arabic-Indic digit: int() would take it
    " 1",
    "%00",
]
QUERY_NAMES = ["stage", "page", "per_page", "service", "kind", "status", "q", "next", "id"]
QUERY_VALUES = [
    "99999999999999999999",
    "-5",
    "abc",
    "%00",
    "%FF%FE",
    "x" * 5000,
    "\u0663",
    "'%20OR%201=1--",
    "",
]
ALLOWED = {200, 302, 303, 400, 401, 403, 404, 405}


def _fill(rule: Any, value: str, ids: dict[str, str]) -> str:
    path = rule.rule
    for arg in rule.arguments:
        path = path.replace(f"<id:{arg}>", ids.get(arg, value) if value == "" else value)
    return path


def test_queue_parameters_out_of_bounds_answer_400_with_a_reason(
    live: tuple[Web, LiveServer],
) -> None:
    web, server = live
    web.ingest(subject="Complaint", body="I want to make a formal complaint.")
    c = client(server)
    c.login(COORD)
    for query, says in [
        ("stage=99999999999999999999", "stage: expected a whole number from 1 to 9"),
        ("stage=0", "stage: expected"),
        ("after=-1", "after: not a position in this list"),
        ("after=abc", "after: not a position"),
        ("due_to=tomorrow", "due_to: expected a date (YYYY-MM-DD)"),
        ("sort=password_hash", "sort:"),
        ("per_page=1000000000", "per_page: expected a whole number from 1 to 200"),
        ("kind=%27", "kind:"),
        ("q=" + "x" * 201, "q: at most 200 characters"),
        ("q=a%00b", "q: control characters"),
    ]:
        resp = c.get("/?" + query)
        assert resp.status == 400, query
        assert says in resp.text.replace("&#39;", "'"), (query, resp.text[-400:])
    for path in ("/cases/abc", "/cases/99999999999999999999", "/cases/-1"):
        resp = c.get(path)
        assert resp.status == 400 and "is not a record number" in resp.text, path
    assert c.get("/?per_page=1").status == 200
    assert c.get("/?after=6.2147483647.100000").status == 200


@pytest.mark.parametrize("who", [None, COORD, MANAGER, ADMIN])
def test_every_get_route_survives_hostile_parameters(
    live: tuple[Web, LiveServer], who: str | None
) -> None:
    web, server = live
    case_id = web.ingest(subject="Complaint", body="I want to make a formal complaint.")
    c = client(server)
    if who:
        assert c.login(who).status == 303
    ids = {"case_id": str(case_id), "att_id": "1", "file_id": "1", "user_id": "1"}
    rules = [r for r in web.flask.url_map.iter_rules() if "GET" in (r.methods or ()) and r.endpoint]
    assert {r.rule for r in rules} >= {"/", "/cases/<id:case_id>", "/reports", "/login"}
    codes: Counter[int] = Counter()
    for rule in rules:
        if rule.endpoint == "static":
            continue
        for bad in BAD_NUMBERS if rule.arguments else []:
            path = _fill(rule, quote(bad, safe="%"), ids)
            resp = c.get(path)
            codes[resp.status] += 1
            assert resp.status in ALLOWED, (path, resp.status)
            if re.search(r"[^0-9]", bad) or int(bad) < 1 or int(bad) > 2**31 - 1:
                # 400 says why; before that, the signed-out are sent to sign in and
                # non-admins get 403 anywhere under /admin
                hidden = (who is None and resp.status == 302) or (
                    who != ADMIN and path.startswith("/admin") and resp.status == 403
                )
                assert resp.status == 400 or hidden, (path, resp.status)
        base = _fill(rule, "", ids)
        for name in QUERY_NAMES:
            for value in QUERY_VALUES:
                path = f"{base}?{name}={quote(value, safe='%=')}"
                resp = c.get(path)
                codes[resp.status] += 1
                assert resp.status in ALLOWED, (path[:200], resp.status, resp.text[-300:])
    assert codes[500] == 0 and codes[400] > 0, codes


def test_bounded_queue_parameters_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    web = build_web(pg_url, tmp_path)
    try:
        web.ingest(subject="Complaint", body="I want to make a formal complaint.")
        with LiveServer(web.flask) as server:
            c = client(server)
            c.login(COORD)
            for query in ("stage=99999999999999999999", "after=-1", "q=a%00b", "per_page=0"):
                assert c.get("/?" + query).status == 400, query
            assert c.get("/cases/2147483648").status == 400
            assert c.get("/?stage=1&after=0.1.0&per_page=200").status == 200
    finally:
        web.app.engine.dispose()


# ----------------------------------------------------------------------- 5. long subjects


def test_a_200000_character_subject_is_clipped_in_the_queue_and_wrapped_on_the_case_page(
    live: tuple[Web, LiveServer],
    page: Any,  # noqa: F811
) -> None:
    web, server = live
    subject = "Complaint " + "W" * 199_990
    assert len(subject) == 200_000
    case_id = web.ingest(subject=subject, body="I want to make a formal complaint.")
    assert web.case(case_id).subject == subject  # stored whole
    c = client(server)
    c.login(COORD)
    queue = c.get("/").text
    assert len(queue) < 30_000, len(queue)
    assert "W" * 140 in queue and "W" * 160 not in queue and "…" in queue
    case_page = c.get(f"/cases/{case_id}").text
    assert subject in case_page  # the case page shows all of it

    page.goto(server.url + f"/login?next=/cases/{case_id}")
    page.fill("input[name=email]", COORD)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("dl.facts")
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth,"
        " [...document.querySelectorAll('dl.facts dd')].map(d => d.textContent.length)]"
    )
    assert widths[0] <= widths[1], widths[:2]  # wrapped: no sideways scrolling
    assert len(subject) in widths[2]
    page.goto(server.url + "/")
    page.wait_for_selector("table.queue")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


# --------------------------------------------------------------- 6. atomic throttling


def _parallel_wrong_logins(server: LiveServer, emails: list[str]) -> Counter[int]:
    """One POST per address in ``emails``, all released at the same moment."""
    c = client(server)
    token = c.csrf("/login")
    cookies = dict(c.cookies)
    barrier = threading.Barrier(len(emails))
    results: list[int] = []
    lock = threading.Lock()

    def attempt(email: str) -> None:
        mine = HttpClient(server.url, dict(cookies))
        form = {"email": email, "password": "not the password", "csrf_token": token}
        barrier.wait()
        status = mine.request("POST", "/login", form, timeout=120).status
        with lock:
            results.append(status)

    threads = [threading.Thread(target=attempt, args=(e,)) for e in emails]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert len(results) == len(emails)
    return Counter(results)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_forty_parallel_wrong_sign_ins_get_only_the_allowed_tries(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 't.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    web = build_web(url, tmp_path)
    try:
        with LiveServer(web.flask, threads=16) as server:
            per_account = _parallel_wrong_logins(server, [COORD] * 40)
            assert per_account[401] == security.MAX_FAILURES_PER_ACCOUNT, per_account
            assert per_account[429] == 40 - security.MAX_FAILURES_PER_ACCOUNT, per_account
            with web.app.sessions() as s:
                tries = s.scalar(
                    select(func.count())
                    .select_from(LoginAttempt)
                    .where(LoginAttempt.email == COORD)
                )
            assert tries == security.MAX_FAILURES_PER_ACCOUNT
            # one address, many accounts: the address limit holds as well (5 used above)
            emails = [f"nobody{i}@example.org" for i in range(40)]
            per_address = _parallel_wrong_logins(server, emails)
            allowed = security.MAX_FAILURES_PER_IP - security.MAX_FAILURES_PER_ACCOUNT
            assert per_address[401] == allowed, per_address
            assert per_address[429] == 40 - allowed, per_address
    finally:
        web.app.engine.dispose()


# ------------------------------------------------------------------------ 7. file modes


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_outbox_and_var_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    from bot.app import build_app

    var = tmp_path / "var"
    data = make_config_data(f"sqlite:///{var / 'sendiass.db'}", tmp_path, [])
    data["outbound"] = {"transport": "maildir", "path": str(var / "outbox")}
    old = os.umask(0o022)  # a usual default: without care, files would be 0644, folders 0755
    try:
        app = build_app(config=parse_config(data, "t"), clock=Clock())
        try:
            result = app.intake.process(
                make_email(
                    subject="Thank you",
                    body="I wanted to say thank you to Cora for all her help with the tribunal.",
                ),
                Source("durham", "durham"),
            )
            assert result.case_reference
            sender = Sender(app.sessions, app.services, FolderTransport(var / "outbox"), Clock())
            # the thanks to the family, and the notice passing the compliment on (bot.routing)
            with app.sessions() as s:
                purposes = sorted(s.scalars(select(OutboxLetter.purpose)))
            assert purposes == ["compliment_thanks", "staff_notice"], purposes
            assert sender.drain_once().sent == 2
            key = security.secret_key(WebConfig(), default_file=var / "web_secret_key")
            assert len(key) > 32
            with app.engine.connect():  # the -wal and -shm files exist while connected
                db = var / "sendiass.db"
                side = [Path(str(db) + s) for s in ("-wal", "-shm")]
                assert all(p.exists() for p in side)
                for f in [db, *side, var / "web_secret_key", *(var / "outbox").glob("*.eml")]:
                    assert _mode(f) == 0o600, (f, oct(_mode(f)))
            assert list((var / "outbox").glob("*.eml"))
            for d in (var, var / "outbox"):
                assert _mode(d) == 0o700, (d, oct(_mode(d)))
        finally:
            app.engine.dispose()
    finally:
        os.umask(old)


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    from bot import db as dbmod

    path = tmp_path / "old.db"
    path.write_bytes(b"")
    os.chmod(path, 0o644)
    engine = dbmod.make_engine(f"sqlite:///{path}")
    try:
        with engine.connect():
            pass
        assert _mode(path) == 0o600
    finally:
        engine.dispose()
