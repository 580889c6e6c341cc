"""Helpers for the operations tests: the real CLI in a subprocess on a temporary config,
and the coordinators' real case actions (bot/web/actions.py) to close cases at fixed
dates. All people, addresses and events are fictional."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from bot.app import App, build_app
from bot.models import Case
from bot.web import actions
from bot.web.security import Principal

REPO = Path(__file__).resolve().parents[1]

COORDINATOR = Principal(
    id=1, email="coordinator@durham.example", roles=frozenset({"coordinator"}), services=()
)


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def write_config(folder: Path, db_url: str, extra: str = "", name: str = "ops.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(
        f"""
[database]
url = "{db_url}"
[[mailbox]]
name = "durham"
service = "durham"
source = "maildir"
path = "{folder / "mail"}"
[outbound]
transport = "maildir"
path = "{folder / "outbox"}"
{extra}
""",
        encoding="utf-8",
    )
    return path


def ingest(config: Path, folder: Path, emails: dict[str, bytes]) -> None:
    """Write each email as NAME.eml and run them through `ingest` (the durham service)."""
    paths = []
    for name, raw in emails.items():
        p = folder / f"{name}.eml"
        p.write_bytes(raw)
        paths.append(str(p))
    ok(cli("--config", str(config), "ingest", *paths, "--service", "durham", cwd=folder))


def with_attachment(raw: bytes, filename: str, data: bytes, mime: str = "application/pdf") -> bytes:
    """The message with a file attached."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    maintype, subtype = mime.split("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def app_for(config: Path) -> App:
    return build_app(config)


def case_of(app: App, sender_addr: str) -> Case:
    with app.sessions() as s:
        case = s.scalars(
            select(Case).where(Case.sender_addr == sender_addr).order_by(Case.id)
        ).first()
        assert case is not None, sender_addr
        return case


def close_case(app: App, case_id: int, at: datetime, note: str = "") -> None:
    """A coordinator closes the case at ``at`` (upheld), as the web UI would."""
    with app.sessions.begin() as s:
        case = s.get(Case, case_id)
        assert case is not None
        ctx = actions.Ctx(session=s, user=COORDINATOR, now=at, services=app.services)
        # unsent letters are kept (the web UI asks; before issue 15 they were always kept)
        actions.close(ctx, case, "resolved", "upheld", "justified", note, letters="keep")
