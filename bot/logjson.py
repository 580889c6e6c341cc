"""``--log-format json``: one JSON object per line on standard error.

Keys: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``msg``, the thread's name, and any
structured fields a call passed in ``extra`` (the web server's access log: ``method``,
``path``, ``status``, ``duration_ms``). The code never logs message bodies, subjects or
names; as a second line of defence every email address in a line is replaced by
``[email]`` (an SMTP error may quote a recipient), except on the web UI's account audit
lines (``bot.web.admin``), which name the staff account changed and who changed it, by
design.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
#: Attributes every LogRecord has: anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


#: Loggers whose lines name staff accounts on purpose (an audit trail of account changes).
KEEP_ADDRESSES = frozenset({"bot.web.admin"})


def redact(text: str) -> str:
    return EMAIL.sub("[email]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": message if record.name in KEEP_ADDRESSES else redact(message),
            "thread": record.threadName,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_type"] = record.exc_info[0].__name__
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)
