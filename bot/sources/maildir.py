"""Maildir source: for the embedded default and servers that deliver locally.

A message is done when it carries the Seen flag (``S``) in ``cur/``; it is marked only after
its record is committed. A Maildir has no UIDs, so exactly-once rests on the Message-ID and
content fingerprint (see the dedupe stage). Delivery uses the stdlib ``mailbox`` module.
"""

from __future__ import annotations

import contextlib
import mailbox
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from bot import files


@dataclass(frozen=True)
class MaildirItem:
    key: str
    path: Path
    raw: bytes
    arrival: datetime


def _split(name: str) -> tuple[str, str]:
    """A Maildir file name as (unique key, flags)."""
    key, sep, info = name.partition(":")
    flags = info[2:] if sep and info.startswith("2,") else ""
    return key, flags


class MaildirSource:
    def __init__(self, path: Path, since: date | None = None) -> None:
        self.path = path
        #: Files delivered before this day (UTC) are left alone.
        self.since = since
        for sub in ("new", "cur", "tmp"):
            files.private_dir(path / sub)

    def pending(self) -> Iterator[MaildirItem]:
        """Messages not yet marked done, oldest delivery first."""
        entries: list[tuple[float, str, Path]] = []
        for sub in ("new", "cur"):
            with os.scandir(self.path / sub) as it:
                for entry in it:
                    if entry.name.startswith(".") or not entry.is_file():
                        continue
                    key, flags = _split(entry.name)
                    if "S" in flags:
                        continue
                    mtime = entry.stat().st_mtime
                    if self.since is not None and datetime.fromtimestamp(mtime, UTC).date() < (
                        self.since
                    ):
                        continue
                    entries.append((mtime, key, Path(entry.path)))
        for mtime, key, path in sorted(entries):
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue  # taken or removed meanwhile
            yield MaildirItem(key, path, raw, datetime.fromtimestamp(mtime, UTC))

    def mark_done(self, item: MaildirItem) -> None:
        _, flags = _split(item.path.name)
        new_name = f"{item.key}:2,{''.join(sorted(set(flags + 'S')))}"
        with contextlib.suppress(FileNotFoundError):
            os.replace(item.path, self.path / "cur" / new_name)


def deliver(path: Path, raw: bytes) -> str:
    """Put ``raw`` into the Maildir at ``path`` (used by ``demo`` and tests)."""
    files.private_dir(path.parent)
    with files.owner_only_umask():
        box = mailbox.Maildir(str(path), factory=None, create=True)
        return box.add(mailbox.MaildirMessage(raw))
