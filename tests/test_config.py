"""Configuration: validated at start-up; a bad key names the file and the key, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import EMBEDDED, embedded_default, load_config
from bot.errors import ConfigError

GOOD = """
[database]
url = "sqlite:///var/test.db"

[[mailbox]]
service = "durham"
source = "imap"
host = "imap.example.org"
username = "sendiass@durham.gov.uk"
password_env = "DURHAM_IMAP_PASSWORD"
processed_folder = "Processed"

[[mailbox]]
service = "stoke"
source = "maildir"
path = "var/mail/stoke"

[outbound]
transport = "smtp"
host = "smtp.example.org"
password_env = "SMTP_PASSWORD"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sendiass.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_file_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), known_services={"durham", "stoke"})
    imap, maildir = cfg.mailboxes
    assert (imap.port, imap.tls, imap.folder, imap.processed_folder) == (
        993,
        "ssl",
        "INBOX",
        "Processed",
    )
    assert imap.name == "durham-imap-0"
    assert maildir.path == Path("var/mail/stoke")
    assert (cfg.outbound.port, cfg.outbound.tls) == (587, "starttls")
    assert cfg.daemon.idle is True


def test_secrets_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    monkeypatch.setenv("DURHAM_IMAP_PASSWORD", "s3cret")
    assert cfg.mailboxes[0].password.resolve() == "s3cret"
    monkeypatch.delenv("DURHAM_IMAP_PASSWORD")
    with pytest.raises(
        ConfigError,
        match=r"mailbox\[0\]\.password_env: environment variable DURHAM_IMAP_PASSWORD is not set",
    ):
        cfg.mailboxes[0].password.resolve()


def test_embedded_default_has_a_maildir_per_service() -> None:
    cfg = embedded_default()
    assert cfg.origin == EMBEDDED
    assert cfg.database.url == "sqlite:///var/sendiass.db"
    assert {m.service for m in cfg.mailboxes} == {"durham", "staffordshire", "coventry", "stoke"}
    assert all(m.source == "maildir" for m in cfg.mailboxes)
    assert cfg.outbound.transport == "maildir" and cfg.outbound.path == Path("var/outbox")


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (('url = "sqlite', 'uri = "sqlite'), "database.uri", "unknown key"),
        (
            ('host = "imap.example.org"', 'host = "imap.example.org"\nport = "993"'),
            "mailbox[0].port",
            "expected a port",
        ),
        (('source = "imap"', 'source = "pop3"'), "mailbox[0].source", "expected"),
        (('path = "var/mail/stoke"\n', ""), "mailbox[1].path", "missing required key"),
        (
            ('service = "stoke"', 'service = "leeds"'),
            "mailbox[1].service",
            "unknown service 'leeds'",
        ),
        (("[outbound]", "[outbund]"), "outbund", "unknown key"),
        (
            (
                'password_env = "SMTP_PASSWORD"',
                'password_env = "SMTP_PASSWORD"\npassword_file = "/x"',
            ),
            "outbound.password_env",
            "not both",
        ),
    ],
)
def test_bad_keys_name_the_file_and_the_key(
    tmp_path: Path, change: tuple[str, str], key: str, problem: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change, 1))
    assert path.read_text() != GOOD
    with pytest.raises(ConfigError) as info:
        load_config(path, known_services={"durham", "stoke"})
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: ")
    assert problem in message


def test_not_toml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[database\nurl="))


def _cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_bad_config_key_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("processed_folder", "procesed_folder"))
    proc = _cli("--config", str(path), "check-config", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    prefix = f"sendiass-bot: error: {path}: mailbox[0].procesed_folder: unknown key (allowed: "
    assert lines[0].startswith(prefix)
    assert "processed_folder" in lines[0]


def test_cli_missing_config_file_is_exit_2(tmp_path: Path) -> None:
    proc = _cli("--config", str(tmp_path / "nope.toml"), "check-config", cwd=tmp_path)
    assert proc.returncode == 2
    assert (
        proc.stderr.strip() == f"sendiass-bot: error: {tmp_path / 'nope.toml'}: -: file not found"
    )


def test_cli_check_config_reports_what_it_would_read(tmp_path: Path) -> None:
    secrets = {"DURHAM_IMAP_PASSWORD": "imap-pw", "SMTP_PASSWORD": "smtp-pw"}
    proc = _cli("--config", str(write(tmp_path, GOOD)), "check-config", cwd=tmp_path, env=secrets)
    assert proc.returncode == 0, proc.stderr
    assert "mailbox durham-imap-0: imap imap.example.org:993/INBOX -> durham" in proc.stdout
