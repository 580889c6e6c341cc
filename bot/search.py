"""Full-text search over cases: subject, sender name and address, reference and message text.

Two engines, one behaviour:

* **SQLite** (the embedded default): FTS5 tables ``cases_fts`` (reference, sender name,
  sender address, subject) and ``messages_fts`` (a message's subject and text), both
  *external content* tables (the text is read from ``cases``/``messages``; the index holds
  only the tokens), kept in step by triggers on insert, update and delete. Retention's
  anonymisation is an update, so the erased words leave the index in the same transaction;
  :func:`purge_deleted` then merges the index so no deleted token stays in an old segment.
* **PostgreSQL**: a generated ``search_vector`` column (``tsvector``, configuration
  ``simple``: no stemming, like SQLite's ``unicode61``) on ``cases`` and ``messages`` with a
  GIN index each; PostgreSQL recomputes it on every write.

Text is split into words of letters and digits (so ``DUR-2026-0001`` is ``dur 2026 0001`` and
``joanna.pike@example.org`` is ``joanna pike example org``); case and, on SQLite, accents are
ignored. A query is split the same way; every word must be found somewhere in the case (its
own fields or any of its messages), each as the start of a word: ``Chauhan``, ``okaf``,
``exclusion`` (a one-letter word only as a whole word). Only the first :data:`MAX_TEXT`
characters of a message are indexed (a ``tsvector`` is limited to 1 MB).

The DDL is here, not only in the migration, so that :func:`ensure` can put the SQLite
triggers back if a later migration recreates ``cases`` or ``messages`` (batch mode drops a
table's triggers with it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    bindparam,
    column,
    func,
    literal_column,
    select,
)
from sqlalchemy import table as sql_table
from sqlalchemy import text as sql_text

log = logging.getLogger(__name__)

#: Characters of a message's text that are indexed.
MAX_TEXT = 100_000
#: Words of a query that are used (the rest are ignored).
MAX_TERMS = 8
#: Longest word of a query (longer ones are cut).
MAX_TERM_CHARS = 60
_WORD = re.compile(r"[^\W_]+")
#: A word found in at most this many cases is gathered from the index as a list of case ids
#: (:func:`matching_ids`); a query whose every word is more common than that is left to the
#: database's plan (:func:`condition`).
GATHER_LIMIT = 1_000
#: Messages read while gathering a word: a case has few messages, so a word with more
#: matching messages than this is taken as common (past the gather limit) without counting.
GATHER_MESSAGES = 4 * GATHER_LIMIT

_CASE_COLS = ("reference", "sender_name", "sender_addr", "subject")
_MESSAGE_COLS = ("subject", "text")


def terms(query: str) -> list[str]:
    """The words of ``query`` as the index sees them (lower case, letters and digits)."""
    return [w[:MAX_TERM_CHARS] for w in _WORD.findall(query.lower())][:MAX_TERMS]


# ----------------------------------------------------------------------------- DDL


def _vals(prefix: str, cols: tuple[str, ...], table: str) -> str:
    out = []
    for c in cols:
        expr = f"{prefix}.{c}"
        if table == "messages" and c == "text":
            expr = f"substr({expr}, 1, {MAX_TEXT})"
        out.append(expr)
    return ", ".join(out)


def _sqlite_triggers(table: str, cols: tuple[str, ...]) -> list[str]:
    fts = f"{table}_fts"
    names = ", ".join(cols)
    return [
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {_vals('new', cols, table)}); END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {names}) "
        f"VALUES ('delete', old.id, {_vals('old', cols, table)}); END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF {names} ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {names}) "
        f"VALUES ('delete', old.id, {_vals('old', cols, table)}); "
        f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {_vals('new', cols, table)}); END",
    ]


def _pg_document(cols: tuple[str, ...], table: str) -> str:
    joined = " || ' ' || ".join(f"coalesce({c}, '')" for c in cols)
    if table == "messages":
        joined = f"left({joined}, {MAX_TEXT})"
    return f"to_tsvector('simple'::regconfig, regexp_replace({joined}, '[^[:alnum:]]+', ' ', 'g'))"


def create_statements(dialect: str) -> list[str]:
    """The search index: tables and triggers (SQLite) or generated columns and GIN indexes."""
    if dialect == "sqlite":
        out = []
        for table, cols in (("cases", _CASE_COLS), ("messages", _MESSAGE_COLS)):
            out.append(
                f"CREATE VIRTUAL TABLE {table}_fts USING fts5({', '.join(cols)}, "
                f"content='{table}', content_rowid='id', "
                "tokenize='unicode61 remove_diacritics 2')"
            )
            out += _sqlite_triggers(table, cols)
        return out
    if dialect == "postgresql":
        out = []
        for table, cols in (("cases", _CASE_COLS), ("messages", _MESSAGE_COLS)):
            out.append(
                f"ALTER TABLE {table} ADD COLUMN search_vector tsvector "
                f"GENERATED ALWAYS AS ({_pg_document(cols, table)}) STORED"
            )
            out.append(f"CREATE INDEX ix_{table}_search ON {table} USING gin (search_vector)")
        return out
    raise ValueError(f"no full-text search for database {dialect!r}")


def backfill_statements() -> list[str]:
    """SQLite: index what the tables already hold (after 'delete-all')."""
    out = []
    for table, cols in (("cases", _CASE_COLS), ("messages", _MESSAGE_COLS)):
        fts = f"{table}_fts"
        out.append(f"INSERT INTO {fts}({fts}) VALUES ('delete-all')")
        out.append(
            f"INSERT INTO {fts}(rowid, {', '.join(cols)}) "
            f"SELECT id, {_vals(table, cols, table)} FROM {table}"
        )
    return out


#: The queue's worklist: open cases that need a person, in deadline order (bot/web/queries.py
#: pages through it by keyset). The WHERE is spelled as the queue's query spells it, so that
#: SQLite recognises the partial index.
WORKLIST_WHERE = {
    "sqlite": "needs_person = 1 AND status <> 'closed'",
    "postgresql": "needs_person = true AND status <> 'closed'",
}


#: Open safeguarding cases, the queue's first segment.
SAFEGUARDING_WHERE = {
    "sqlite": "safeguarding = 1 AND status <> 'closed'",
    "postgresql": "safeguarding = true AND status <> 'closed'",
}


def index_statements(dialect: str) -> list[str]:
    prefix = []
    if dialect == "postgresql":  # reference and address prefixes (LIKE 'x%') under any locale
        prefix = [
            "CREATE INDEX ix_cases_reference_prefix ON cases (reference text_pattern_ops)",
            "CREATE INDEX ix_cases_sender_addr_prefix ON cases (sender_addr text_pattern_ops)",
        ]
    return [
        *prefix,
        f"CREATE INDEX ix_cases_worklist ON cases (due_on, received_at, id) "
        f"WHERE {WORKLIST_WHERE[dialect]}",
        f"CREATE INDEX ix_cases_safeguarding_open ON cases (due_on, received_at, id) "
        f"WHERE {SAFEGUARDING_WHERE[dialect]}",
        # partial: most cases have no handler, and statistics over the NULLs would make the
        # planner think an assignee matches a large share of all cases
        "CREATE INDEX ix_cases_handler ON cases (handler, due_on, received_at, id) "
        "WHERE handler IS NOT NULL",
    ]


def speed_index_statements(dialect: str) -> list[str]:
    """0019_searchspeed: PostgreSQL's worklist by service and kind (the queue's service and
    kind filter). SQLite's queue never uses a service or kind index (bot/web/queries.py)."""
    if dialect != "postgresql":
        return []
    return [
        "CREATE INDEX IF NOT EXISTS ix_cases_worklist_service_kind "
        "ON cases (service, kind, due_on, received_at, id) "
        f"WHERE {WORKLIST_WHERE[dialect]}"
    ]


def drop_statements(dialect: str) -> list[str]:
    out = [
        "DROP INDEX ix_cases_worklist",
        "DROP INDEX ix_cases_safeguarding_open",
        "DROP INDEX ix_cases_handler",
    ]
    if dialect == "postgresql":
        out += ["DROP INDEX ix_cases_reference_prefix", "DROP INDEX ix_cases_sender_addr_prefix"]
    if dialect == "sqlite":
        for table in ("cases", "messages"):
            out += [f"DROP TRIGGER IF EXISTS {table}_fts_{x}" for x in ("ai", "ad", "au")]
            out.append(f"DROP TABLE IF EXISTS {table}_fts")
    else:
        for table in ("cases", "messages"):
            out.append(f"DROP INDEX ix_{table}_search")
            out.append(f"ALTER TABLE {table} DROP COLUMN search_vector")
    return out


_INDEX_TABLE = re.compile(r"(cases|messages)_fts(_(data|idx|docsize|config|content))?")


def is_index_table(name: str) -> bool:
    """``name`` is one of SQLite's full-text index tables (not a table of the schema proper:
    PostgreSQL has none)."""
    return bool(_INDEX_TABLE.fullmatch(name))


def ensure(conn: Connection) -> None:
    """SQLite: if the search index exists but a trigger is missing (a later migration
    recreated the table), put the triggers back and index everything again."""
    if conn.dialect.name != "sqlite":
        return
    rows = conn.exec_driver_sql(
        "SELECT type, name FROM sqlite_master WHERE name LIKE '%\\_fts%' ESCAPE '\\'"
    ).all()
    names = {name for _type, name in rows}
    if "cases_fts" not in names:
        return  # before the search migration
    wanted = {f"{t}_fts_{x}" for t in ("cases", "messages") for x in ("ai", "ad", "au")}
    if wanted <= names:
        return
    log.warning("search index: triggers missing (a table was recreated); rebuilding the index")
    for table, cols in (("cases", _CASE_COLS), ("messages", _MESSAGE_COLS)):
        for statement in _sqlite_triggers(table, cols):
            conn.exec_driver_sql(statement)
    for statement in backfill_statements():
        conn.exec_driver_sql(statement)


def purge_deleted(conn: Connection) -> None:
    """SQLite: merge the FTS5 segments so that deleted (erased) tokens are dropped from the
    index itself, not only hidden by delete markers. PostgreSQL recomputes the vector."""
    if conn.dialect.name == "sqlite":
        for fts in ("cases_fts", "messages_fts"):
            conn.exec_driver_sql(f"INSERT INTO {fts}({fts}) VALUES ('optimize')")


# --------------------------------------------------------------------------- query


def matching_case_ids(dialect: str, term: str) -> Any:
    """A subquery: the ids of cases whose own fields or messages have a word starting with
    ``term`` (one word of :func:`terms`)."""
    from bot.models import Case, Message

    if dialect == "sqlite":
        expr = f'"{term}"*' if len(term) > 1 else f'"{term}"'
        cfts = sql_table("cases_fts", column("rowid", Integer))
        mfts = sql_table("messages_fts", column("rowid", Integer))
        in_cases = select(cfts.c.rowid).where(literal_column("cases_fts").op("MATCH")(expr))
        in_messages = select(Message.case_id).where(
            Message.id.in_(
                select(mfts.c.rowid).where(literal_column("messages_fts").op("MATCH")(expr))
            ),
            Message.case_id.is_not(None),
        )
        return in_cases.union(in_messages)
    query = func.to_tsquery(sql_text("'simple'::regconfig"), f"{term}:*" if len(term) > 1 else term)
    found = Case.__table__.alias("found_cases")  # not correlated with the outer query's cases
    in_cases = select(found.c.id).where(literal_column("found_cases.search_vector").op("@@")(query))
    in_messages = select(Message.case_id).where(
        literal_column("messages.search_vector").op("@@")(query),
        Message.case_id.is_not(None),
    )
    return in_cases.union(in_messages)


def condition(dialect: str, query: str, id_column: Any) -> ColumnElement[bool] | None:
    """Every word of ``query`` found in the case (None when the query has no word)."""
    words = terms(query)
    if not words:
        return None
    from sqlalchemy import and_

    return and_(*(id_column.in_(matching_case_ids(dialect, w)) for w in words))


# ----------------------------------------------------------- gathered: rarest word first


def _sqlite_match(term: str) -> str:
    return f'"{term}"*' if len(term) > 1 else f'"{term}"'


def _pg_query(term: str) -> str:
    return f"{term}:*" if len(term) > 1 else term


def case_ids_with(conn: Connection, term: str, limit: int | None = None) -> set[int] | None:
    """The ids of the cases that have a word starting with ``term`` (their own fields or a
    message), read from the index; None when there are more than ``limit`` (each read stops
    there, so a common word costs no more than a rare one). ``limit``: GATHER_LIMIT."""
    limit = GATHER_LIMIT if limit is None else limit
    if conn.dialect.name == "sqlite":
        match = {"e": _sqlite_match(term)}
        in_cases = sql_text("SELECT rowid FROM cases_fts WHERE cases_fts MATCH :e LIMIT :n")
        in_messages = sql_text(
            "SELECT messages.case_id FROM messages_fts "
            "JOIN messages ON messages.id = messages_fts.rowid "
            "WHERE messages_fts MATCH :e AND messages.case_id IS NOT NULL LIMIT :n"
        )
    else:
        match = {"e": _pg_query(term)}
        in_cases = sql_text(
            "SELECT id FROM cases "
            "WHERE search_vector @@ to_tsquery('simple'::regconfig, :e) LIMIT :n"
        )
        in_messages = sql_text(
            "SELECT case_id FROM messages "
            "WHERE search_vector @@ to_tsquery('simple'::regconfig, :e) "
            "AND case_id IS NOT NULL LIMIT :n"
        )
    found = set(conn.execute(in_cases, {**match, "n": limit + 1}).scalars())
    if len(found) > limit:
        return None
    cap = max(GATHER_MESSAGES, 4 * limit)
    rows = list(conn.execute(in_messages, {**match, "n": cap}).scalars())
    if len(rows) >= cap:
        return None
    found.update(rows)
    return None if len(found) > limit else found


def case_ids_having(conn: Connection, term: str, ids: Collection[int]) -> set[int]:
    """Of the cases ``ids`` (a few thousand at most), those that have a word starting with
    ``term``: the index is asked only about them."""
    if not ids:
        return set()
    wanted = sorted(ids)
    if conn.dialect.name == "sqlite":
        match = _sqlite_match(term)
        # +rowid: the ids filter the words' matches; a bare rowid IN would have FTS5 run the
        # whole match once per id
        found = set(
            conn.execute(
                sql_text(
                    "SELECT rowid FROM cases_fts WHERE cases_fts MATCH :e AND +rowid IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"e": match, "ids": wanted},
            ).scalars()
        )
        owner: dict[int, int] = {}
        for message_id, case_id in conn.execute(
            sql_text("SELECT id, case_id FROM messages WHERE case_id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": [i for i in wanted if i not in found]},
        ).all():
            owner[message_id] = case_id
        if owner:
            hits = conn.execute(
                sql_text(
                    "SELECT rowid FROM messages_fts WHERE messages_fts MATCH :e AND +rowid IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"e": match, "ids": sorted(owner)},
            ).scalars()
            found.update(owner[m] for m in hits)
        return found
    query = _pg_query(term)
    rows = conn.execute(
        sql_text(
            "SELECT id FROM cases WHERE id = ANY(:ids) "
            "AND search_vector @@ to_tsquery('simple'::regconfig, :e) "
            "UNION SELECT case_id FROM messages WHERE case_id = ANY(:ids) "
            "AND search_vector @@ to_tsquery('simple'::regconfig, :e)"
        ),
        {"e": query, "ids": wanted},
    ).scalars()
    return {i for i in rows if i is not None}


def matching_ids(conn: Connection, query: str, limit: int | None = None) -> list[int] | None:
    """The ids of the cases that have every word of ``query`` (as :func:`condition`), found
    from a rare word: the words are gathered from the index one by one, longest (most
    likely rarest) first, each read stopping past ``limit`` cases (:func:`case_ids_with`);
    the first word found in at most ``limit`` cases gives the candidates, and every other
    word is then checked only on them (:func:`case_ids_having`, by id, so a common word
    costs no more than a rare one). None when the query has no word, or every word is in
    more than ``limit`` cases (then :func:`condition` is the way). ``limit``: GATHER_LIMIT."""
    limit = GATHER_LIMIT if limit is None else limit
    words = sorted(dict.fromkeys(terms(query)), key=len, reverse=True)
    for word in words:
        found = case_ids_with(conn, word, limit)
        if found is None:
            continue
        for other in words:
            if other != word and found:
                found = case_ids_having(conn, other, found)
        return sorted(found)
    return None
