"""The recipient's keys on each outbox letter (``to_key``, ``to_domain``): kept in step with
``to_addr``, filled for letters stored before 0021_outbox_keys, and used by the per-sender
daily cap and the per-domain flood limit through indexes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event, text

from bot import db
from bot.letters.flood import FloodLimits, schedule
from bot.letters.policy import letters_in_last_day
from bot.models import OutboxLetter

NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
KELVIN = "\u212a"  # Python lower-cases it to "k"; SQLite's lower() does not

_n = 0


def _letter(to_addr: str, *, purpose: str = "complaint_ack", status: str = "sent",
            created_at: datetime = NOW - timedelta(hours=1), service: str = "durham"
            ) -> OutboxLetter:  # fmt: skip
    global _n
    _n += 1
    return OutboxLetter(
        purpose=purpose,
        idempotency_key=f"k{_n}",
        status=status,
        to_addr=to_addr,
        from_addr="sendiass@durham.example",
        subject="s",
        body_text="b",
        message_id=f"<m{_n}@durham.example>",
        references=[],
        attempts=0,
        created_at=created_at,
        service=service,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/keys.db"
    else:
        url = request.getfixturevalue("pg_url")
    eng = db.make_engine(url)
    yield eng
    eng.dispose()


def test_the_keys_follow_the_address_on_every_assignment() -> None:
    letter = _letter("  Parent+School@Example.ORG ")
    assert (letter.to_key, letter.to_domain) == ("parent@example.org", "example.org")
    letter.to_addr = f"{KELVIN}ate@Mail.Example"
    assert (letter.to_key, letter.to_domain) == ("kate@mail.example", "mail.example")
    letter.to_addr = ""  # retention's erasure
    assert (letter.to_key, letter.to_domain) == ("", "")


def test_letters_stored_before_the_migration_get_their_keys(engine: Engine) -> None:
    db.upgrade(engine, "0019_searchspeed")
    addrs = ["Parent+School@Example.ORG", f"{KELVIN}ate@example.org", "", "no-at-sign"]
    with engine.begin() as conn:
        for i, addr in enumerate(addrs):
            conn.execute(
                text(
                    "INSERT INTO outbox (purpose, idempotency_key, status, to_addr, from_addr,"
                    " subject, body_text, message_id, \"references\", attempts, created_at)"
                    " VALUES ('acknowledgement', :k, 'sent', :to, 'a@b.example', 's', 'b',"
                    " :mid, :refs, 0, :at)"
                ),
                {"k": f"old{i}", "to": addr, "mid": f"<o{i}@x>", "refs": json.dumps([]),
                 "at": NOW},
            )  # fmt: skip
    db.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT to_addr, to_key, to_domain FROM outbox ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [
        ("Parent+School@Example.ORG", "parent@example.org", "example.org"),
        (f"{KELVIN}ate@example.org", "kate@example.org", "example.org"),
        ("", "", ""),
        ("no-at-sign", "no-at-sign", "no-at-sign"),
    ]


def test_the_daily_cap_counts_one_mailbox_however_it_is_written(engine: Engine) -> None:
    db.upgrade(engine)
    factory = db.session_factory(engine)
    with factory() as s, s.begin():
        s.add_all(
            [
                _letter("parent@example.org"),
                _letter("PARENT+1@example.org"),
                _letter(f"{KELVIN}ate@example.org"),
                _letter("KATE+news@example.org"),
                _letter("parent@example.org", status="discarded"),  # not counted
                _letter("parent@example.org", purpose="safeguarding_alert"),  # not counted
                _letter("parent@example.org", created_at=NOW - timedelta(hours=25)),  # too old
                _letter("other@example.org"),
                _letter("parent@other.example"),
            ]
        )
    with factory() as s, s.begin():
        assert letters_in_last_day(s, "Parent@Example.org", NOW) == 2
        s.add(_letter("parent+2@example.org"))  # written earlier in this transaction
        assert letters_in_last_day(s, "parent@example.org", NOW) == 3
        assert letters_in_last_day(s, "nobody@example.org", NOW) == 0
        assert letters_in_last_day(s, "kate@example.org", NOW) == 2


def test_the_domain_limit_uses_the_stored_domain(engine: Engine) -> None:
    db.upgrade(engine)
    factory = db.session_factory(engine)
    limits = FloodLimits(max_per_hour=1000, max_per_domain_per_day=3)
    with factory() as s, s.begin():
        s.add_all([_letter(f"p{i}@School.Example") for i in range(3)])
        s.add(_letter("p@school.example", service="other"))  # another service's letter
    with factory() as s, s.begin():
        at, reason = schedule(s, "durham", "new@SCHOOL.example", NOW, limits)
        assert at == NOW - timedelta(hours=1) + timedelta(days=1)
        assert reason is not None and "school.example" in reason
        at, reason = schedule(s, "durham", "new@elsewhere.example", NOW, limits)
        assert (at, reason) == (NOW, None)


def test_sqlite_answers_the_daily_cap_from_the_key_index(tmp_path: object) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path}/plan.db")
    db.upgrade(engine)
    seen: list[tuple[str, object]] = []

    def remember(_c: object, _cur: object, statement: str, params: object, *_a: object) -> None:
        if "FROM outbox" in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", remember)
    with db.session_factory(engine)() as s, s.begin():
        letters_in_last_day(s, "parent@example.org", NOW)
    event.remove(engine, "before_cursor_execute", remember)
    [(statement, params)] = seen
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()  # type: ignore[arg-type]
    engine.dispose()
    assert "ix_outbox_to_key" in " ".join(str(r[-1]) for r in plan)
