"""A CI-sized chaos run (bench/chaos.py): 100 messages, 5 SIGKILLs of the daemon, two
Dovecot restarts, an SMTP outage and re-deliveries, on SQLite and on PostgreSQL with two
daemons. Nothing lost, logged twice, left pending or sent to a machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("db", "daemons"), [("sqlite", 1), ("postgresql", 2)])
def test_chaos_run_loses_and_duplicates_nothing(db: str, daemons: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("SENDIASS_CRASH_AT", None)
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "chaos.py"), "--messages", "100", "--kills", "5",
         "--db", db, "--daemons", str(daemons), "--seed", "11", "--json"],
        env=env, capture_output=True, text=True, timeout=880,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = json.loads(proc.stdout.strip().splitlines()[-1])
    assert table["logged once"] > 80, table
    assert table["duplicates"] == 0, table
    assert table["lost"] == 0, table
    assert table["quarantined"] == 0, table
    assert table["letters expected"] > 20, table
    assert table["never sent"] == 0, table  # every letter went (at least once)
    assert table["to machines"] == 0, table
    assert table["pending at end"] == 0, table
    assert table["left unmarked"] == 0, table
