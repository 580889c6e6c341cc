"""``backup`` and ``restore`` of a SQLite case log through SQLite's online backup API.

The backup is taken in one step under a read transaction, so it is consistent while the
daemon keeps writing (WAL mode lets writers go on). It is written to a hidden file beside
the destination, checked (``PRAGMA integrity_check``), switched out of WAL mode so that it is
one self-contained file, and only then renamed into place, mode 0600.

PostgreSQL is backed up with ``pg_dump`` and restored with ``pg_restore`` (README,
Deployment); the commands say so rather than half-doing it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.errors import UserError

SQLITE_MAGIC = b"SQLite format 3\x00"
#: Tables whose rows make a database "not empty" for ``restore``.
CONTENT_TABLES = ("cases", "messages", "quarantine", "outbox", "users", "case_events")

PG_BACKUP_HINT = (
    "the database is PostgreSQL: back it up with pg_dump, e.g. "
    "`pg_dump --format=custom --file=sendiass.dump DBNAME` (README: Deployment, backups)"
)
PG_RESTORE_HINT = (
    "the database is PostgreSQL: restore with pg_restore, e.g. "
    "`pg_restore --clean --if-exists --no-owner --dbname=DBNAME sendiass.dump`, then "
    "`sendiass-bot db upgrade` (README: Deployment, backups)"
)


@dataclass(frozen=True)
class Summary:
    path: Path
    schema: str
    counts: dict[str, int]

    def describe(self) -> str:
        parts = ", ".join(f"{n} {t}" for t, n in self.counts.items())
        return f"schema {self.schema}; {parts}"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for any other database."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(f"database.url: not a database URL: {url!r}") from None
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise UserError("database.url: an in-memory SQLite database cannot be backed up")
    return Path(parsed.database)


@contextlib.contextmanager
def _connect(path: Path, *, readonly: bool = False) -> Iterator[sqlite3.Connection]:
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def _schema(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return str(row[0]) if row else None


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return {
        t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])
        for t in CONTENT_TABLES
        if t in tables
    }


def _check(conn: sqlite3.Connection, what: str) -> None:
    result = conn.execute("PRAGMA integrity_check").fetchone()
    if not result or result[0] != "ok":
        raise UserError(f"{what}: integrity check failed: {result[0] if result else '?'}")


def backup(url: str, dest: Path, *, force: bool = False) -> Summary:
    """Copy the live SQLite database at ``url`` to ``dest`` (mode 0600)."""
    source = sqlite_path(url)
    if source is None:
        raise UserError(PG_BACKUP_HINT)
    if not source.is_file():
        raise UserError(f"no database at {source} (nothing to back up)")
    if dest.is_dir():
        raise UserError(f"{dest} is a folder: give the backup file's name")
    if dest.exists() and not force:
        raise UserError(f"{dest} exists: give --force to replace it")
    if not dest.parent.is_dir():
        raise UserError(f"folder {dest.parent} does not exist")
    if dest.resolve() == source.resolve():
        raise UserError("the backup cannot be the database itself")
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        with _connect(source) as src, _connect(partial) as dst:
            src.backup(dst)  # every page in one step: one consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            _check(dst, "backup")
            schema = _schema(dst)
            counts = _counts(dst)
        if schema is None:
            raise UserError(f"{source} is not a sendiass-bot database (no schema version)")
        with open(partial, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(partial, 0o600)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return Summary(dest, schema, counts)


def inspect_backup(path: Path) -> Summary:
    """Check that ``path`` is a sound sendiass-bot backup; its schema version and counts."""
    if not path.is_file():
        raise UserError(f"{path}: no such backup file")
    with open(path, "rb") as fh:
        if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise UserError(f"{path}: not a SQLite backup")
    with _connect(path, readonly=True) as conn:
        try:
            _check(conn, str(path))
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{path}: unreadable backup: {exc}") from None
        schema = _schema(conn)
        if schema is None:
            raise UserError(f"{path}: not a sendiass-bot backup (no schema version)")
        counts = _counts(conn)
    return Summary(path, schema, counts)


def known_revision(schema: str) -> bool:
    """Whether this version of sendiass-bot has migration ``schema`` (so it can upgrade it)."""
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    from bot.db import MIGRATIONS

    scripts = ScriptDirectory(str(MIGRATIONS))
    try:
        return scripts.get_revision(schema) is not None
    except CommandError:
        return False


def restore(url: str, src: Path, *, force: bool = False) -> tuple[Summary, dict[str, int]]:
    """Replace the SQLite database at ``url`` by the backup ``src``; refuses to overwrite
    data without ``force``. Returns the backup's summary and what the target held."""
    target = sqlite_path(url)
    if target is None:
        raise UserError(PG_RESTORE_HINT)
    info = inspect_backup(src)
    if not known_revision(info.schema):
        raise UserError(
            f"{src}: schema {info.schema} is not known to this version of sendiass-bot "
            "(the backup is from a newer version): install that version to restore it"
        )
    if target.exists() and src.resolve() == target.resolve():
        raise UserError("the backup is the database itself")
    held: dict[str, int] = {}
    if target.exists():
        with _connect(target) as conn:
            try:
                held = {t: n for t, n in _counts(conn).items() if n}
            except sqlite3.DatabaseError as exc:
                if not force:
                    raise UserError(
                        f"{target}: not a readable database ({exc}): give --force to replace it"
                    ) from None
                held = {"unreadable": 1}
        if held.get("unreadable"):  # a damaged file: start afresh rather than copy into it
            for suffix in ("", "-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
    if held and not force:
        parts = ", ".join(f"{n} {t}" for t, n in held.items())
        raise UserError(f"{target} is not empty ({parts}): give --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with _connect(src, readonly=True) as source, _connect(target) as dst:
        source.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")
        _check(dst, str(target))
    os.chmod(target, 0o600)
    return info, held
