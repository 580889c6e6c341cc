"""Mailbox leases: several daemons on one PostgreSQL, each mailbox worked by one at a time.

A lease is a PostgreSQL session-level advisory lock keyed by the mailbox name, held on a
connection of its own for as long as the daemon works the mailbox. The others stand by
and try again every :data:`STANDBY_INTERVAL` seconds; when the holder dies its connection
closes, PostgreSQL releases the lock, and a standby takes over at its next try. A holder
checks its lease connection before every pass and stops working the mailbox the moment
it is gone. SQLite has one writer host by nature: there every lease is granted.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

#: How often a standing-by daemon tries to take a mailbox over (seconds).
STANDBY_INTERVAL = 1.0


def lease_key(mailbox: str) -> int:
    """A signed 64-bit advisory-lock key for ``mailbox``."""
    digest = hashlib.sha256(f"sendiass-mailbox:{mailbox}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class MailboxLease:
    def __init__(self, engine: Engine, mailbox: str) -> None:
        self.engine = engine
        self.mailbox = mailbox
        self.key = lease_key(mailbox)
        self.shared = engine.dialect.name != "postgresql"
        self._conn: Connection | None = None

    def hold(self) -> bool:
        """True when this process holds the lease (taking it if it is free)."""
        if self.shared:
            return True
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            except Exception as exc:  # the lease connection is gone: so is the lease
                log.warning("mailbox %s: lease lost (%s)", self.mailbox, type(exc).__name__)
                self.release()
                return False
        conn = self.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        log.info("mailbox %s: lease taken; this daemon works it", self.mailbox)
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            conn.commit()
        except Exception:
            conn.invalidate()  # closing the connection releases the lock in any case
        finally:
            conn.close()
