"""Recipient addresses as keys: one mailbox, one key; one organisation, one domain.

Used by the per-sender daily cap (``bot/letters/policy.py``) and the per-domain flood limit
(``bot/letters/flood.py``), and stored on each outbox letter (``to_key``, ``to_domain``) so
both are one indexed equality rather than a scan of lower-cased addresses. Keys are made in
Python, never by SQL ``lower()``: Python lower-cases characters SQLite's ``lower()`` leaves
alone (the Kelvin sign ``\\u212a`` becomes ``k``), and a key must be the same wherever it is
made.
"""

from __future__ import annotations


def normalise_address(addr: str) -> str:
    """One mailbox, one key: lower case, without a ``+tag`` in the local part."""
    local, _, domain = addr.strip().lower().rpartition("@")
    if not local:
        return addr.strip().lower()
    return f"{local.split('+', 1)[0]}@{domain}"


def domain_of(addr: str) -> str:
    """The address's domain in lower case ('' when it has no ``@``)."""
    return addr.strip().lower().rpartition("@")[2]
