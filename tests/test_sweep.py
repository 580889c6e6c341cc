"""The sweep closes every UID it has decided on, re-deliveries included, after a crash
between the commit and the MOVE/flag (real Dovecot, the bot as a real subprocess)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.models import Message, UidDecision
from tests.apphelpers import make_app
from tests.mailfactory import make_email
from tests.servers import ImapAccount
from tests.test_imap import _bot, _config_file, account, mailbox_cfg  # noqa: F401

FLAG = b"$SendiassLogged"


@pytest.mark.parametrize("processed_folder", [None, "Processed"])
def test_redeliveries_are_closed_after_a_crash_before_the_move(
    account: ImapAccount,  # noqa: F811
    tmp_path: Path,
    processed_folder: str | None,
) -> None:
    if processed_folder:
        account.create_folder(processed_folder)
    originals = [make_email(subject=f"Sweep test {i}") for i in range(3)]
    for raw in originals:
        account.append("INBOX", raw)
    for raw in originals:  # the same messages delivered again
        account.append("INBOX", raw)
    config = _config_file(tmp_path, account)
    if processed_folder:
        text = config.read_text().replace(
            'password_env = "', f'processed_folder = "{processed_folder}"\npassword_env = "'
        )
        config.write_text(text)
    crashed = _bot(
        ["--config", str(config), "poll-once"], account, SENDIASS_CRASH_AT="after-commit:1"
    )
    crashed.communicate(timeout=120)
    assert crashed.returncode == -signal.SIGKILL
    assert len(account.uids("INBOX")) == 6  # nothing was moved or flagged

    again = _bot(["--config", str(config), "poll-once"], account)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err

    app = make_app(f"sqlite:///{tmp_path / 'daemon.db'}", tmp_path, [mailbox_cfg(account)])
    with app.sessions() as s:
        assert len(list(s.scalars(select(Message.id)))) == 3
        decisions = list(s.scalars(select(UidDecision.decision)))
    assert decisions == ["duplicate"] * 3
    if processed_folder:
        assert account.uids("INBOX") == []
        assert len(account.uids(processed_folder)) == 6
    else:
        uids = account.uids("INBOX")
        assert len(uids) == 6
        assert all(FLAG in account.flags("INBOX", uid) for uid in uids)
