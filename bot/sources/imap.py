"""IMAP mailbox source: fetch bytes, and mark them done after the commit. Nothing else.

- The cursor is (UIDVALIDITY, last UID), kept in the database by the intake transaction.
- Messages are fetched with ``BODY.PEEK[]`` so the shared mailbox's unread state is
  untouched until the message is committed; then it is flagged (``\\Seen`` and the keyword
  ``$SendiassLogged``) or moved to ``processed_folder``.
- A message committed but not yet marked when the process died is found again by a sweep
  (UIDs at or below the cursor that still lack the marker) and marked.
"""

from __future__ import annotations

import contextlib
import logging
import select
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from imapclient import IMAPClient

from bot.config import MailboxConfig

log = logging.getLogger(__name__)

KEYWORD = b"$SendiassLogged"
FETCH_BATCH = 200


@dataclass(frozen=True)
class Fetched:
    uidvalidity: int
    uid: int
    raw: bytes
    arrival: datetime


def ssl_context(cafile: object | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    return ctx


class ImapMailbox:
    """One connection to one folder of one account."""

    def __init__(self, cfg: MailboxConfig, timeout: float = 60.0) -> None:
        self.cfg = cfg
        self.timeout = timeout
        self.client: IMAPClient | None = None
        self.uidvalidity = 0
        self.keywords_allowed = False
        self.can_move = False
        self.can_idle = False

    # ----------------------------------------------------------------- connection

    def connect(self) -> None:
        cfg = self.cfg
        context = ssl_context(cfg.cafile)
        client = IMAPClient(
            cfg.host,
            port=cfg.port,
            ssl=cfg.tls == "ssl",
            ssl_context=context if cfg.tls == "ssl" else None,
            timeout=self.timeout,
        )
        try:
            if cfg.tls == "starttls":
                client.starttls(context)
            client.login(cfg.username, cfg.password.resolve() or "")
            info = client.select_folder(cfg.folder)
            if cfg.processed_folder and not client.folder_exists(cfg.processed_folder):
                client.create_folder(cfg.processed_folder)
        except Exception:
            _quietly_close(client)
            raise
        self.client = client
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        permanent = info.get(b"PERMANENTFLAGS", ())
        self.keywords_allowed = b"\\*" in permanent
        caps = client.capabilities()
        self.can_move = b"MOVE" in caps
        self.can_idle = b"IDLE" in caps

    def close(self) -> None:
        if self.client is not None:
            _quietly_close(self.client)
            self.client = None

    def _c(self) -> IMAPClient:
        if self.client is None:
            raise ConnectionError("not connected")
        return self.client

    # ----------------------------------------------------------------------- fetch

    def new_uids(self, last_uid: int) -> list[int]:
        """UIDs above the cursor (``n:*`` always names the highest UID, so filter); with
        ``since``, only mail the server received on or after that day (INTERNALDATE)."""
        criteria: list[str | bytes | date] = ["UID", f"{last_uid + 1}:*"]
        if self.cfg.since is not None:
            criteria += ["SINCE", self.cfg.since]
        found = self._c().search(criteria)
        return sorted(u for u in found if u > last_uid)

    def fetch(self, uids: list[int]) -> Iterator[Fetched]:
        client = self._c()
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            data = client.fetch(batch, [b"BODY.PEEK[]", b"INTERNALDATE"])
            for uid in batch:
                item = data.get(uid)
                if item is None:  # expunged meanwhile
                    continue
                raw = item.get(b"BODY[]") or b""
                arrival = item.get(b"INTERNALDATE")
                if isinstance(arrival, datetime):
                    arrival = (
                        arrival.astimezone(UTC) if arrival.tzinfo else arrival.replace(tzinfo=UTC)
                    )
                else:
                    arrival = datetime.now(UTC)
                yield Fetched(self.uidvalidity, uid, bytes(raw), arrival)

    # ------------------------------------------------------------------- mark done

    def mark_done(self, uids: list[int]) -> None:
        """Flag or move messages whose records are committed."""
        if not uids:
            return
        client = self._c()
        if self.cfg.processed_folder:
            if self.can_move:
                client.move(uids, self.cfg.processed_folder)
            else:
                client.copy(uids, self.cfg.processed_folder)
                client.delete_messages(uids)
                if b"UIDPLUS" in client.capabilities():
                    client.uid_expunge(uids)
                else:
                    client.expunge()
            return
        flags = []
        if self.cfg.mark_seen:
            flags.append(b"\\Seen")
        if self.keywords_allowed:
            flags.append(KEYWORD)
        if flags:
            client.add_flags(uids, flags, silent=True)

    def unmarked_at_or_below(self, last_uid: int) -> list[int]:
        """Messages the cursor passed that were never marked (the process died first)."""
        if last_uid <= 0:
            return []
        client = self._c()
        if self.cfg.processed_folder:
            criteria: list[str | bytes] = ["UID", f"1:{last_uid}"]
        elif self.keywords_allowed:
            criteria = ["UID", f"1:{last_uid}", "UNKEYWORD", KEYWORD]
        elif self.cfg.mark_seen:
            criteria = ["UID", f"1:{last_uid}", "UNSEEN"]
        else:
            return []
        return sorted(u for u in client.search(criteria) if u <= last_uid)

    # ------------------------------------------------------------------------ IDLE

    def idle_start(self) -> bool:
        """Enter IDLE; True if the server announced new mail since we last looked.

        imaplib files untagged responses that arrive outside IDLE (with a SEARCH, a STORE,
        or just before IDLE's continuation) in ``untagged_responses``, where ``idle_check``
        never looks. Any EXISTS found there means: poll again before idling. Consuming it
        here, and polling after, is what keeps a message from waiting a whole IDLE period.
        """
        client = self._c()
        client.idle()
        pending = client._imap.untagged_responses
        return bool(pending.pop("EXISTS", None) or pending.pop("RECENT", None))

    def idle_check(self, timeout: float) -> bool:
        """True when the server said something changed (EXISTS/RECENT).

        imapclient's ``idle_check`` returns nothing, silently, when the server has closed the
        connection; a socket that is readable yet yields no response is taken as closed, so
        the caller reconnects instead of idling on a dead connection.
        """
        client = self._c()
        sock = client.socket()
        buffered = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        if not buffered and not select.select([sock], [], [], timeout)[0]:
            return False
        responses = client.idle_check(timeout=0)
        if not responses:
            raise ConnectionError("the server closed the connection during IDLE")
        return any(
            isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT")
            for r in responses
        )

    def idle_done(self) -> None:
        self._c().idle_done()

    def noop(self) -> None:
        self._c().noop()


def _quietly_close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:
        with contextlib.suppress(Exception):
            client.shutdown()
