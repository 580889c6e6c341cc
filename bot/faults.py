"""Fail points for crash tests: ``SENDIASS_CRASH_AT=point:N`` kills the process with SIGKILL
the Nth time ``point`` is reached. Unset (always, outside tests) it does nothing.

Points: ``after-fetch`` (bytes fetched, nothing committed), ``after-commit`` (record
committed, message not yet marked on the server), ``before-send`` and ``after-send``
(letters).
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def crash_point(point: str) -> None:
    spec = os.environ.get("SENDIASS_CRASH_AT")
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
