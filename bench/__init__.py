"""Benchmarks (not tests): each script measures and prints; nothing asserts a time."""

from __future__ import annotations


def production_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment for a measured child process, as a production machine has it: with
    bytecode. An installed package is compiled by ``pip install`` and an editable checkout
    writes ``__pycache__`` on its first import, but a development shell or container may set
    ``PYTHONDONTWRITEBYTECODE``, and then every start compiles the project's modules from
    source again (about 0.2 s of a cron ``poll-once``'s 1 s, measured 2026-12-06)."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra or {})
    return env
