"""Engine and session factory; schema managed by Alembic (``bot/migrations``).

Migrations cannot wedge the database: every upgrade runs in one transaction (on SQLite
too: an explicit ``BEGIN IMMEDIATE`` with pysqlite's own transaction handling switched
off, so ``CREATE TABLE`` no longer commits on its own) while holding the migration lock
(SQLite's write lock; a PostgreSQL advisory lock), so a kill at any statement leaves the
schema as it was, and two processes starting on an empty database migrate one after the
other. A database left half-migrated by an older version is repaired when the leftovers
are empty tables, or explained in one line.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool, StaticPool

from bot import files, search
from bot.errors import UserError
from bot.faults import crash_point

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: PostgreSQL advisory lock key held by whoever migrates ("SENDIASS" in spirit).
MIGRATION_LOCK_KEY = 0x5E9D1A55
log = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL mode and its folder is created."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(f"database.url: not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        if parsed.database and parsed.database != ":memory:":
            # Owner-only: the folder (when we make it), the file, and its -wal/-shm.
            database = Path(parsed.database)
            files.prepare_sqlite(database)
            event.listen(engine, "connect", lambda *_: files.tighten_sqlite(database))
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def alembic_config(connection: Connection) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _transactional_sqlite(dbapi_connection: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, record)
    dbapi_connection.isolation_level = None  # no implicit BEGIN/COMMIT by pysqlite


def _begin_immediate(conn: Connection) -> None:
    # Takes SQLite's write lock at once: a second migrator waits (busy_timeout) here,
    # before it has read the schema version.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _statement_fault(*_args: Any) -> None:
    crash_point("migration-statement")


def _migration_engine(url: Any, pool: type[Any] = NullPool, faults: bool = True) -> Engine:
    engine = create_engine(url, poolclass=pool)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _transactional_sqlite)
        event.listen(engine, "begin", _begin_immediate)
    if faults:
        event.listen(engine, "before_cursor_execute", _statement_fault)
    return engine


def _run_alembic(connection: Connection, revision: str) -> None:
    from alembic import command
    from alembic.util.exc import CommandError

    try:
        command.upgrade(alembic_config(connection), revision)
    except CommandError as exc:
        raise UserError(f"database: {exc}") from None


@functools.cache
def tables_at(revision: str | None) -> frozenset[str]:
    """The tables the migrations have created once ``revision`` is applied."""
    if revision is None:
        return frozenset()
    scratch = _migration_engine("sqlite://", StaticPool, faults=False)
    try:
        with scratch.connect() as conn, conn.begin():
            _run_alembic(conn, revision)
            names = set(inspect(conn).get_table_names())
    finally:
        scratch.dispose()
    return frozenset(names - {"alembic_version"})


def _recorded_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise UserError(f"database: alembic_version holds {len(rows)} rows; expected one")
    return rows[0] if rows else None


def _repair_half_migrated(conn: Connection) -> None:
    """Drop the leftovers of a migration an older version interrupted, if they are empty.

    Older versions ran SQLite migrations with pysqlite's legacy transactions, where each
    ``CREATE TABLE`` committed on its own: a kill left tables of a migration whose version
    was never recorded (and ``_alembic_tmp_*`` tables of a batch operation).
    """
    revision = _recorded_revision(conn)
    present = set(inspect(conn).get_table_names()) - {"alembic_version"}
    ours = tables_at("head")
    expected = tables_at(revision)
    if conn.dialect.name != "sqlite":  # SQLite's full-text tables (bot/search.py)
        ours = frozenset(n for n in ours if not search.is_index_table(n))
        expected = frozenset(n for n in expected if not search.is_index_table(n))
    strays = sorted(
        name for name in present - expected if name in ours or name.startswith("_alembic_tmp_")
    )
    missing = sorted(expected - present)
    at = revision or "none (empty alembic_version)"
    if missing:
        raise UserError(
            f"database: schema at revision {at} lacks table(s) {', '.join(missing)}; "
            "restore it from a backup"
        )
    if not strays:
        return
    for name in strays:
        rows = conn.execute(text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one()
        if rows:
            raise UserError(
                f"database: half-migrated by an older version: recorded revision {at} but "
                f"table {name} already holds {rows} row(s); restore it from a backup"
            )
    order = [t.name for t in reversed(_metadata_tables())]
    strays.sort(key=lambda n: order.index(n) if n in order else -1)
    for name in strays:
        conn.execute(text(f'DROP TABLE "{name}"'))
    log.warning(
        "database: removed empty table(s) left by an interrupted migration at revision %s: %s",
        at,
        ", ".join(strays),
    )


def _metadata_tables() -> list[Any]:
    from bot.models import Base

    return list(Base.metadata.sorted_tables)


_REVISION_LINE = re.compile(r'^(down_revision|revision)\s*=\s*(None|"([^"]+)")', re.MULTILINE)


@functools.cache
def shipped_head() -> str | None:
    """The newest revision among the migrations shipped with this version, read from the
    files' ``revision``/``down_revision`` lines without importing Alembic (a quick read for
    every start; a test checks it against :func:`head_revision`, Alembic's own answer). None
    if the chain is not one line."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict((m[1], m[3]) for m in _REVISION_LINE.finditer(path.read_text("utf-8")))
        if found.get("revision"):
            revisions.add(found["revision"])
        if found.get("down_revision"):
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _already_at_head(engine: Engine) -> bool:
    """True when the database records the newest revision and holds every table: the common
    case of every start, answered by two cheap reads instead of a locked migration run."""
    try:
        with engine.connect() as conn:
            head = shipped_head()
            if head is None or _recorded_revision(conn) != head:
                return False
            present = set(inspect(conn).get_table_names())
    except SQLAlchemyError:
        return False
    return all(t.name in present for t in _metadata_tables())


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (creating it on an empty database), in one
    transaction holding the migration lock."""
    if revision == "head" and _already_at_head(engine):
        return
    migrator = _migration_engine(engine.url)
    try:
        with migrator.connect() as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            _repair_half_migrated(conn)
            _run_alembic(conn, revision)
            search.ensure(conn)
    finally:
        migrator.dispose()


def is_current(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")


def _scripts() -> Any:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


def head_revision() -> str:
    """The newest revision this version's migrations reach (whatever the chain's order)."""
    head = _scripts().get_current_head()
    assert head is not None
    return str(head)


def known_revision(revision: str) -> bool:
    """Whether this version's migrations know ``revision`` (a newer version's do not)."""
    from alembic.util.exc import CommandError

    try:
        return _scripts().get_revision(revision) is not None
    except (CommandError, KeyError, ValueError):
        return False
    except Exception:  # alembic's ResolutionError and friends
        return False


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the database (None: an empty database)."""
    try:
        with engine.connect() as conn:
            return _recorded_revision(conn)
    except UserError:
        raise
    except Exception as exc:  # unreachable, wrong password, not a database ...
        raise UserError(f"database: cannot read the schema version: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}") from None  # fmt: skip


def pending_upgrade(engine: Engine) -> tuple[str | None, str] | None:
    """(recorded, head) when the schema is not at this version's head; None when it is."""
    current, head = current_revision(engine), head_revision()
    return None if current == head else (current, head)


def require_current(engine: Engine) -> None:
    """With ``database.auto_migrate = false``: refuse a schema that is not at head."""
    behind = pending_upgrade(engine)
    if behind is None:
        return
    current, head = behind
    if current is not None and not known_revision(current):
        raise UserError(
            f"database: schema at revision {current}, which this version does not know (a newer "
            "version wrote it); run that version, or restore a backup made for this one"
        )
    raise UserError(
        f"database: schema at revision {current or 'none (empty database)'}, this version needs "
        f"{head}; run `sendiass-bot db upgrade` (database.auto_migrate is false)"
    )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
