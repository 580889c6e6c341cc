"""The accounts page (/admin/users) with the Flask test client against a real database:
admins list, add, change, reset and disable accounts; nobody else gets in; the rules are
the command line's; nothing shows or logs a password or its hash."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.models import User
from bot.web import security
from tests.web.conftest import ADMIN, BOTH, COORD, MANAGER, PASSWORD, USERS, Browser, Web

NEW_PASSWORD = "a fresh fictional passphrase"


def account(web: Web, email: str) -> User:
    with web.app.sessions() as s:
        user = s.scalar(select(User).where(User.email == email))
        assert user is not None, email
        return user


def all_accounts(web: Web) -> dict[str, tuple[list[str], list[str], bool, str, int]]:
    """email -> (roles, services, active, password hash, session version)."""
    with web.app.sessions() as s:
        return {
            u.email: (
                list(u.roles),
                list(u.services),
                u.active,
                u.password_hash,
                u.session_version,
            )
            for u in s.scalars(select(User))
        }


def signed_in(web: Web, email: str, password: str = PASSWORD) -> Browser:
    b = web.client()
    resp = b.login(email, password)
    assert resp.status_code == 303, (email, resp.status_code)
    return b


def still_signed_in(b: Browser) -> bool:
    """True when the session still works; False when the next request is sent to sign in."""
    resp = b.get("/reports")
    assert resp.status_code in (200, 302, 403), resp.status_code
    return not (resp.status_code == 302 and "/login" in resp.headers["Location"])


def errors(b: Browser) -> list[str]:
    """The error messages flashed since the last call (as the next page would show them)."""
    with b.c.session_transaction() as sess:
        flashed = sess.pop("_flashes", [])
    return [m for category, m in flashed if category == "error"]


def add(b: Browser, email: str, roles: list[str], services: list[str], **extra: str) -> object:
    data: dict[str, object] = {
        "email": email,
        "role": roles,
        "service": services,
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD,
    }
    data.update(extra)
    return b.post("/admin/users", data)


# ------------------------------------------------------------------------------ listing


def test_admin_lists_accounts_without_any_password_hash(web: Web) -> None:
    a = signed_in(web, ADMIN)
    resp = a.get("/admin/users")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    for email in USERS:
        assert email in html
    hashes = {h for _, _, _, h, _ in all_accounts(web).values()}
    assert hashes and all(h.startswith("$argon2") for h in hashes)
    assert "$argon2" not in html and "argon2" not in html
    assert not any(h in html for h in hashes)
    # each account's row: its roles, its services ("all" when none), status and last sign-in
    row = re.compile(r'<tr class="account-\w+">\s*<td><a href="[^"]+">([^<]+)</a>.*?</tr>', re.S)
    rows = {m.group(1): m.group(0) for m in row.finditer(html)}
    assert set(rows) == set(USERS)
    assert "manager" in rows[BOTH] and "coordinator" in rows[BOTH] and "durham" in rows[BOTH]
    assert ">all<" in rows[ADMIN] and "05 Nov 2026 12:00" in rows[ADMIN]  # signed in just now
    assert "never" in rows[COORD] and "active" in rows[COORD]
    # each account's own page has no hash either
    for email in USERS:
        page = a.get(f"/admin/users/{account(web, email).id}").get_data(as_text=True)
        assert email in page and "$argon2" not in page
    assert a.get("/admin/users/999999").status_code == 404
    home = a.get("/admin/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/admin/users")


def test_the_navigation_links_to_accounts_for_admins_only(web: Web) -> None:
    a = signed_in(web, ADMIN)
    assert 'href="/admin/users"' in a.get("/reports").get_data(as_text=True)
    for email in (COORD, MANAGER, BOTH):
        page = signed_in(web, email).get("/reports" if email != COORD else "/")
        assert page.status_code == 200
        assert "/admin" not in page.get_data(as_text=True), email


# -------------------------------------------------------------------------------- adding


def test_admin_adds_an_account_that_signs_in_with_its_password(web: Web) -> None:
    a = signed_in(web, ADMIN)
    resp = add(a, "  New.Person@Example.ORG ", ["coordinator", "manager"], ["stoke", "durham"])
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    new = account(web, "new.person@example.org")
    assert resp.headers["Location"].endswith(f"/admin/users/{new.id}")
    assert new.roles == ["coordinator", "manager"] and new.services == ["durham", "stoke"]
    assert new.active and new.created_at is not None and new.last_login_at is None
    assert new.password_hash.startswith("$argon2") and NEW_PASSWORD not in new.password_hash
    assert "new.person@example.org" in a.get("/admin/users").get_data(as_text=True)
    # the new account signs in with the password the admin set, and only with that
    assert web.client().login("new.person@example.org", PASSWORD).status_code == 401
    b = signed_in(web, "new.person@example.org", NEW_PASSWORD)
    assert b.get("/").status_code == 200
    assert account(web, "new.person@example.org").last_login_at is not None
    # an admin with no services (sees every service)
    assert add(a, "second.admin@example.org", ["admin"], []).status_code == 303
    assert account(web, "second.admin@example.org").services == []


@pytest.mark.parametrize(
    ("email", "roles", "services", "password", "again", "message"),
    [
        ("x@example.org", ["manager"], [], "nine char", "nine char", "at least 10 characters"),
        ("x@example.org", ["manager"], [], NEW_PASSWORD, NEW_PASSWORD + "!", "passwords differ"),
        ("x@example.org", ["coordinator"], [], NEW_PASSWORD, NEW_PASSWORD, "at least one service"),
        ("x@example.org", ["manager"], ["nowhere"], NEW_PASSWORD, NEW_PASSWORD, "unknown service"),
        ("x@example.org", ["king"], [], NEW_PASSWORD, NEW_PASSWORD, "unknown role"),
        ("x@example.org", [], [], NEW_PASSWORD, NEW_PASSWORD, "at least one role"),
        ("not an address", ["manager"], [], NEW_PASSWORD, NEW_PASSWORD, "not an email address"),
        ("no-at-sign.example.org", ["manager"], [], NEW_PASSWORD, NEW_PASSWORD, "not an email"),
        (COORD.upper(), ["manager"], [], NEW_PASSWORD, NEW_PASSWORD, "already has an account"),
    ],
)
def test_adding_refuses_what_the_command_line_refuses(
    web: Web,
    email: str,
    roles: list[str],
    services: list[str],
    password: str,
    again: str,
    message: str,
) -> None:
    before = all_accounts(web)
    a = signed_in(web, ADMIN)
    resp = add(a, email, roles, services, password=password, password_again=again)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert message in html
    assert all_accounts(web) == before  # nothing added, nothing changed
    # the form keeps what was typed, except the passwords
    assert password not in html and again not in html
    if "@" in email and " " not in email:
        assert f'value="{email}"' in html
    for r in roles:
        if r in security.ROLES:
            assert f'value="{r}" checked' in html


def test_a_ten_character_password_is_enough(web: Web) -> None:
    a = signed_in(web, ADMIN)
    resp = add(
        a, "ten@example.org", ["manager"], [], password="0123456789", password_again="0123456789"
    )
    assert resp.status_code == 303
    signed_in(web, "ten@example.org", "0123456789")


def test_the_command_line_keeps_the_same_password_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHORT_PW", "too short")
    monkeypatch.setenv("GOOD_PW", NEW_PASSWORD)
    add_manager = ["users", "add", "c@example.org", "--role", "manager", "--password-env"]
    assert main([*add_manager, "SHORT_PW"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err
    assert main([*add_manager, "GOOD_PW"]) == 0
    assert main(["users", "passwd", "c@example.org", "--password-env", "SHORT_PW"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err
    assert main(["users", "add", "c@example.org", "--role", "coordinator"]) == 2
    assert "a coordinator needs at least one --service" in capsys.readouterr().err


# ------------------------------------------------------------------------------- changing


def test_admin_changes_roles_and_services(web: Web) -> None:
    coord = signed_in(web, COORD)
    assert coord.get("/reports").status_code == 403
    a = signed_in(web, ADMIN)
    uid = account(web, COORD).id
    resp = a.post(
        f"/admin/users/{uid}/access",
        {"role": ["coordinator", "manager"], "service": ["durham", "stoke"]},
    )
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/admin/users/{uid}")
    assert not errors(a)
    user = account(web, COORD)
    assert user.roles == ["coordinator", "manager"] and user.services == ["durham", "stoke"]
    # takes effect on the coordinator's next request, without signing in again
    assert coord.get("/reports").status_code == 200
    # a refused change changes nothing
    before = all_accounts(web)
    a.post(f"/admin/users/{uid}/access", {"role": ["coordinator"], "service": []})
    assert any("at least one service" in m for m in errors(a))
    a.post(f"/admin/users/{uid}/access", {"role": ["coordinator"], "service": ["nowhere"]})
    assert any("unknown service" in m for m in errors(a))
    assert all_accounts(web) == before
    assert a.post("/admin/users/999999/access", {"role": ["manager"]}).status_code == 404


def test_admin_resets_a_password_and_the_old_one_and_old_sessions_stop_working(
    web: Web,
) -> None:
    coord = signed_in(web, COORD)
    assert still_signed_in(coord)
    a = signed_in(web, ADMIN)
    uid = account(web, COORD).id
    before = account(web, COORD)
    resp = a.post(
        f"/admin/users/{uid}/password", {"password": "nine char", "password_again": "nine char"}
    )
    assert resp.status_code == 303
    assert any("at least 10 characters" in m for m in errors(a))
    a.post(f"/admin/users/{uid}/password", {"password": NEW_PASSWORD, "password_again": "other"})
    assert any("passwords differ" in m for m in errors(a))
    assert account(web, COORD).password_hash == before.password_hash
    assert still_signed_in(coord)

    a.post(
        f"/admin/users/{uid}/password", {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert not errors(a)
    after = account(web, COORD)
    assert after.password_hash != before.password_hash
    assert after.session_version == before.session_version + 1
    assert not still_signed_in(coord)  # the coordinator's open session has ended
    assert web.client().login(COORD, PASSWORD).status_code == 401
    assert signed_in(web, COORD, NEW_PASSWORD).get("/").status_code == 200


def test_an_admin_resetting_their_own_password_stays_signed_in_here_only(web: Web) -> None:
    elsewhere = signed_in(web, ADMIN)
    a = signed_in(web, ADMIN)
    uid = account(web, ADMIN).id
    resp = a.post(
        f"/admin/users/{uid}/password", {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert resp.status_code == 303
    assert a.get("/admin/users").status_code == 200
    assert not still_signed_in(elsewhere)
    signed_in(web, ADMIN, NEW_PASSWORD)


def test_admin_disables_and_enables_an_account(web: Web) -> None:
    coord = signed_in(web, COORD)
    assert coord.get("/").status_code == 200
    idle = signed_in(web, COORD)  # makes no request until the account is enabled again
    a = signed_in(web, ADMIN)
    uid = account(web, COORD).id
    assert a.post(f"/admin/users/{uid}/disable").status_code == 303
    assert not errors(a)
    assert not account(web, COORD).active
    # the open session stops working on its next request, and signing in is refused
    resp = coord.get("/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert web.client().login(COORD).status_code == 401
    html = a.get("/admin/users").get_data(as_text=True)
    assert re.search(r'account-disabled">\s*<td><a href="[^"]+">' + re.escape(COORD), html)
    assert "Enable" in a.get(f"/admin/users/{uid}").get_data(as_text=True)
    # enabled again, the account signs in with its password (the old session stays ended)
    assert a.post(f"/admin/users/{uid}/enable").status_code == 303
    assert account(web, COORD).active
    assert coord.get("/").status_code == 302
    assert not still_signed_in(idle)  # disabling ended every session, not just refused them
    assert signed_in(web, COORD).get("/").status_code == 200


def test_a_disabled_accounts_session_ends_even_if_nothing_else_changed(web: Web) -> None:
    """The session check looks at ``active`` itself, not only at the session version."""
    coord = signed_in(web, COORD)
    assert still_signed_in(coord)
    with web.app.sessions.begin() as s:
        user = s.scalar(select(User).where(User.email == COORD))
        assert user is not None
        user.active = False  # as a direct database change would: no session_version bump
    resp = coord.get("/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    with web.app.sessions.begin() as s:
        user = s.scalar(select(User).where(User.email == COORD))
        assert user is not None
        user.active = True
    assert coord.get("/").status_code == 302  # the session was cleared, not just refused


def test_an_admin_cannot_disable_or_de_admin_themself(web: Web) -> None:
    a = signed_in(web, ADMIN)
    me = account(web, ADMIN).id
    before = all_accounts(web)
    assert a.post(f"/admin/users/{me}/disable").status_code == 303
    assert any("cannot disable your own account" in m for m in errors(a))
    resp = a.post(f"/admin/users/{me}/access", {"role": ["manager"], "service": []})
    assert resp.status_code == 303
    assert any("cannot remove your own admin role" in m for m in errors(a))
    assert all_accounts(web) == before
    assert a.get("/admin/users").status_code == 200
    page = a.get(f"/admin/users/{me}").get_data(as_text=True)
    assert "/disable" not in page  # no button for it either
    # adding a role to oneself is fine, and so is another admin removing this one's
    a.post(f"/admin/users/{me}/access", {"role": ["admin", "manager"], "service": []})
    assert account(web, ADMIN).roles == ["admin", "manager"]
    add(a, "other.admin@example.org", ["admin"], [])
    other = signed_in(web, "other.admin@example.org", NEW_PASSWORD)
    other.post(f"/admin/users/{me}/access", {"role": ["manager"], "service": []})
    assert not errors(other)
    assert account(web, ADMIN).roles == ["manager"]
    assert a.get("/admin/users").status_code == 403  # no longer an admin: at once
    other.post(f"/admin/users/{me}/disable")
    assert not account(web, ADMIN).active


# ------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize("email", [COORD, MANAGER, BOTH])
def test_non_admins_get_403_on_every_admin_url(web: Web, email: str) -> None:
    target = account(web, COORD).id
    before = all_accounts(web)
    b = signed_in(web, email)
    for url in (
        "/admin",
        "/admin/",
        "/admin/users",
        f"/admin/users/{target}",
        f"/admin/users/{target}/disable",
        "/admin/users/999999",
        "/admin/nothing-here",
    ):
        assert b.get(url).status_code == 403, url
    posts = {
        "/admin/users": {
            "email": "sneaky@example.org",
            "role": ["admin"],
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
        f"/admin/users/{target}/access": {"role": ["admin"], "service": ["durham"]},
        f"/admin/users/{target}/password": {
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
        f"/admin/users/{target}/disable": {},
        f"/admin/users/{target}/enable": {},
        f"/admin/users/{account(web, email).id}/access": {"role": ["admin"]},
    }
    for url, data in posts.items():
        assert b.post(url, data).status_code == 403, url  # with a valid CSRF token
    assert all_accounts(web) == before
    assert still_signed_in(b)


def test_admin_pages_send_the_signed_out_to_sign_in(web: Web) -> None:
    b = web.client()
    for url in ("/admin/users", f"/admin/users/{account(web, COORD).id}"):
        resp = b.get(url)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], url
    before = all_accounts(web)
    token = b.csrf()  # a session with a token but nobody signed in
    resp = b.c.post(f"/admin/users/{account(web, COORD).id}/disable", data={"csrf_token": token})
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert all_accounts(web) == before


def test_admin_posts_without_the_csrf_token_are_rejected(web: Web) -> None:
    a = signed_in(web, ADMIN)
    uid = account(web, COORD).id
    before = all_accounts(web)
    posts = {
        "/admin/users": {
            "email": "nocsrf@example.org",
            "role": ["manager"],
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
        f"/admin/users/{uid}/access": {"role": ["manager"]},
        f"/admin/users/{uid}/password": {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        f"/admin/users/{uid}/disable": {},
    }
    for url, data in posts.items():
        for token in ({}, {"csrf_token": "forged"}):
            assert a.post(url, {**data, **token}, csrf=False).status_code == 400, url
    assert all_accounts(web) == before
    # with the token the same request works
    assert a.post(f"/admin/users/{uid}/disable").status_code == 303
    assert not account(web, COORD).active


# ------------------------------------------------------------------------- escaping, logs

EVIL = "<script>alert(1)</script>@evil.example"


def test_html_in_an_account_is_escaped(web: Web) -> None:
    # an account made outside the page (the command line accepts this address)
    with web.app.sessions.begin() as s:
        s.add(
            User(
                email=EVIL,
                password_hash=security.hash_password(NEW_PASSWORD),
                roles=["manager"],
                services=["durham"],
                active=True,
                session_version=1,
                created_at=web.clock.now,
            )
        )
    a = signed_in(web, ADMIN)
    listing = a.get("/admin/users").get_data(as_text=True)
    assert "<script>" not in listing
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@evil.example" in listing
    page = a.get(f"/admin/users/{account(web, EVIL).id}").get_data(as_text=True)
    assert "<script>" not in page and "&lt;script&gt;" in page
    # and what is typed into the form comes back escaped with the error
    resp = add(a, '"><img src=x onerror=alert(2)>', ["manager"], [])
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "Content-Security-Policy" in resp.headers
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "<script" not in html  # the page itself has no script at all


def test_every_change_is_logged_without_secrets(web: Web, caplog: pytest.LogCaptureFixture) -> None:
    a = signed_in(web, ADMIN)
    uid = account(web, COORD).id
    with caplog.at_level(logging.INFO, logger="bot.web.admin"):
        add(a, "logged@example.org", ["manager"], ["durham"])
        a.post(f"/admin/users/{uid}/access", {"role": ["coordinator"], "service": ["stoke"]})
        a.post(
            f"/admin/users/{uid}/password",
            {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        )
        a.post(f"/admin/users/{uid}/disable")
        a.post(f"/admin/users/{uid}/enable")
        signed_in(web, MANAGER).post(f"/admin/users/{uid}/disable")
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.web.admin"]
    actor = f"user:{ADMIN}"
    expected = [
        ("logged@example.org", "added", "services: durham"),
        (COORD, "roles and services changed", "services: durham -> stoke"),
        (COORD, "password reset", ""),
        (COORD, "disabled", ""),
        (COORD, "enabled", ""),
    ]
    assert len(lines) == len(expected) + 1, lines
    for (target, what, detail), line in zip(expected, lines, strict=False):
        assert target in line and what in line and actor in line and detail in line, line
    assert f"user:{MANAGER}" in lines[-1] and "refused" in lines[-1]
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert NEW_PASSWORD not in everything and "$argon2" not in everything
