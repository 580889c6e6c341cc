"""Files and folders that hold personal data are the owner's alone: folders 0700, files 0600.

Used for the SQLite database (and its ``-wal``, ``-shm`` and ``-journal`` files), the folders
the program creates (``var/``, the outbox, local Maildirs), the ``.eml`` letters and the
session signing key. Folders are created under a ``077`` umask and then chmod-ed explicitly;
files are opened with mode 0600 (``O_CREAT | O_EXCL``) so there is no moment at which they
are readable by others. Existing folders chosen by the administrator are left as they are;
the database's own files are tightened to 0600 at every start when they belong to us.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


@contextlib.contextmanager
def owner_only_umask() -> Iterator[None]:
    """Everything created inside is owner-only, whatever else sets its mode."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def private_dir(path: Path) -> Path:
    """``path`` and any missing parents, created 0700 (existing folders untouched)."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    with owner_only_umask():
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    for made in missing:
        with contextlib.suppress(OSError):  # made by another process meanwhile
            os.chmod(made, DIR_MODE)
    return path


def tighten(path: Path) -> None:
    """Make an existing file of ours 0600 (not ours, or gone: leave it)."""
    with contextlib.suppress(OSError):
        st = os.stat(path)
        if st.st_uid == os.geteuid() and st.st_mode & 0o777 != FILE_MODE:
            os.chmod(path, FILE_MODE)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists; tighten it if it does."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        tighten(path)
        return
    os.close(fd)


def open_private(path: Path) -> int:
    """A new file at ``path`` (it must not exist), 0600, open for writing: a descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd


def prepare_sqlite(database: Path) -> None:
    """The SQLite database file (and its folder) owner-only before SQLite opens it; SQLite
    gives its ``-wal`` and ``-shm`` files the database file's mode."""
    private_dir(database.parent)
    with owner_only_umask():
        create_private_file(database)
    tighten_sqlite(database)


def tighten_sqlite(database: Path) -> None:
    tighten(database)
    for suffix in SQLITE_SIDE_FILES:
        tighten(Path(str(database) + suffix))
