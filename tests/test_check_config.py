"""check-config catches what would fail at 3 a.m.: unreadable secrets, values still marked
TO BE CONFIRMED, servers that refuse the login (``--connect``, against the real Dovecot and
aiosmtpd); and ``web`` on a busy port says so in one line."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.checks import unconfirmed_values
from tests.servers import ImapAccount, free_port
from tests.smtpsink import SmtpSink

REPO = Path(__file__).resolve().parents[1]
EXCEPTION_NAME = re.compile(r"\b[A-Z]\w*(Error|Exception|Refused|Timeout)\b|Traceback|errno", re.I)


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        timeout=180,
    )


def errors(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("sendiass-bot: error:")]


def site(tmp_path: Path, body: str, *, confirmed: bool = True) -> Path:
    """A site folder: sendiass.toml and its own services/ (durham and stoke)."""
    services = tmp_path / "site" / "services"
    services.mkdir(parents=True)
    for key in ("durham", "stoke"):
        text = (REPO / "config" / "services" / f"{key}.toml").read_text(encoding="utf-8")
        if confirmed:
            text = text.replace("TO BE CONFIRMED", "confirmed")
        (services / f"{key}.toml").write_text(text, encoding="utf-8")
    path = tmp_path / "site" / "sendiass.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "t.db"}"\n' + body, encoding="utf-8")
    return path


MAILDIR_OUT = '[outbound]\ntransport = "maildir"\npath = "var/outbox"\n'


def imap_box(host: str = "127.0.0.1", port: int = 993, extra: str = "") -> str:
    return (
        f'[[mailbox]]\nservice = "durham"\nsource = "imap"\nhost = "{host}"\nport = {port}\n'
        f'tls = "none"\nusername = "u@example.org"\n{extra}\n'
    )


# ------------------------------------------------------------------------------ secrets


def test_an_unset_or_empty_password_env_fails_naming_file_and_key(tmp_path: Path) -> None:
    cfg = site(tmp_path, imap_box(extra='password_env = "SENDIASS_T_IMAP"') + MAILDIR_OUT)
    env = {k: v for k, v in os.environ.items() if k != "SENDIASS_T_IMAP"}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(cfg), "check-config"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
        env={**env, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.returncode == 2
    assert errors(proc)[0] == (
        f"sendiass-bot: error: {cfg}: mailbox[0].password_env: "
        "environment variable SENDIASS_T_IMAP is not set"
    )
    assert "configuration OK" not in proc.stdout
    assert "Traceback" not in proc.stderr

    proc = cli("--config", str(cfg), "check-config", cwd=tmp_path, env={"SENDIASS_T_IMAP": " "})
    assert proc.returncode == 2
    assert errors(proc)[0].endswith(
        "mailbox[0].password_env: environment variable SENDIASS_T_IMAP is empty"
    )

    proc = cli("--config", str(cfg), "check-config", cwd=tmp_path, env={"SENDIASS_T_IMAP": "pw"})
    assert proc.returncode == 0, proc.stderr
    assert "configuration OK" in proc.stdout


def test_an_unreadable_password_file_fails(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-secret"
    folder = tmp_path / "a-folder"
    folder.mkdir()
    empty = tmp_path / "empty-secret"
    empty.write_text("\n")
    body = (
        imap_box(extra=f'password_file = "{missing}"')
        + imap_box(extra=f'password_file = "{folder}"')
        + '[outbound]\ntransport = "smtp"\nhost = "127.0.0.1"\nusername = "x"\n'
        + f'password_file = "{empty}"\n'
    )
    cfg = site(tmp_path, body)
    proc = cli("--config", str(cfg), "check-config", cwd=tmp_path)
    assert proc.returncode == 2
    assert errors(proc)[:3] == [
        f"sendiass-bot: error: {cfg}: mailbox[0].password_file: "
        f"cannot read {missing}: no such file",
        f"sendiass-bot: error: {cfg}: mailbox[1].password_file: "
        f"cannot read {folder}: it is a folder",
        f"sendiass-bot: error: {cfg}: outbound.password_file: {empty} is empty",
    ]
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------- TO BE CONFIRMED


def test_values_marked_to_be_confirmed_warn_and_fail_with_strict(tmp_path: Path) -> None:
    cfg = site(tmp_path, MAILDIR_OUT, confirmed=False)
    durham = tmp_path / "site" / "services" / "durham.toml"
    warning = (
        f"sendiass-bot: warning: {durham}: privacy_notice_url: value still marked TO BE CONFIRMED"
    )
    proc = cli("--config", str(cfg), "check-config", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith(warning) for line in proc.stderr.splitlines())
    assert "configuration OK" in proc.stdout

    strict = cli("--config", str(cfg), "--verbose", "check-config", "--strict", cwd=tmp_path)
    assert strict.returncode == 2
    assert any(line.startswith(warning.replace("warning", "error")) for line in errors(strict))
    assert "configuration OK" not in strict.stdout


def test_confirmed_service_files_pass_strict(tmp_path: Path) -> None:
    cfg = site(tmp_path, MAILDIR_OUT, confirmed=True)
    proc = cli("--config", str(cfg), "check-config", "--strict", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "TO BE CONFIRMED" not in proc.stderr


def test_the_marker_is_attributed_to_the_key_it_precedes(tmp_path: Path) -> None:
    path = tmp_path / "svc.toml"
    path.write_text(
        'key = "x"\n'
        "# Who handles it. TO BE CONFIRMED by the service.\n"
        "# (a second comment line)\n"
        'coordinator_email = "a@example.org"\n'
        "# an ordinary comment\n"
        'name = "X"\n'
        'phone = "TO BE CONFIRMED"\n'
        "\n[[stages]]\nnumber = 1\n\n[stages.next_stage_request]\n"
        "# TO BE CONFIRMED\n"
        "within = { amount = 20 }\n"
        "\n[[stages]]\nnumber = 2\n# no contact yet: TO BE CONFIRMED.\n"
        'handler = { role = "Commissioner" }\n',
        encoding="utf-8",
    )
    keys = [f.key for f in unconfirmed_values(path)]
    assert keys == [
        "coordinator_email",
        "phone",
        "stages[0].next_stage_request.within",
        "stages[1].handler",
    ]


def test_the_shipped_service_files_name_each_marked_key() -> None:
    found = {
        (p.stem, f.key)
        for p in sorted((REPO / "config" / "services").glob("*.toml"))
        for f in unconfirmed_values(p)
    }
    marked_lines = sum(
        p.read_text(encoding="utf-8").count("TO BE CONFIRMED")
        for p in (REPO / "config" / "services").glob("*.toml")
    )
    assert len(found) == marked_lines
    assert ("stoke", "coordinator_email") in found


# -------------------------------------------------------------------------- --connect


@pytest.fixture
def smtp_auth() -> Iterator[SmtpSink]:
    sink = SmtpSink(free_port(), credentials=("letters@example.org", "smtp-secret")).start()
    try:
        yield sink
    finally:
        sink.stop()


def connect_config(tmp_path: Path, account: ImapAccount, smtp: SmtpSink, imap_port: int) -> Path:
    body = imap_box(port=imap_port, extra='password_env = "T_IMAP_PW"').replace(
        'username = "u@example.org"', f'username = "{account.user}"'
    ) + (
        f'[outbound]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {smtp.port}\n'
        'tls = "none"\nusername = "letters@example.org"\npassword_env = "T_SMTP_PW"\n'
    )
    return site(tmp_path, body)


def test_connect_logs_in_to_the_real_servers(
    tmp_path: Path, imap_account: ImapAccount, smtp_auth: SmtpSink
) -> None:
    cfg = connect_config(tmp_path, imap_account, smtp_auth, imap_account.port)
    env = {"T_IMAP_PW": imap_account.password, "T_SMTP_PW": "smtp-secret"}
    proc = cli("--config", str(cfg), "check-config", "--connect", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"mailbox durham-imap-0 (imap 127.0.0.1:{imap_account.port}, none): OK: " in proc.stdout
    assert f"logged in as {imap_account.user}; INBOX has 0 message(s)" in proc.stdout
    assert "OK: logged in as letters@example.org" in proc.stdout
    assert smtp_auth.data_transactions == 0  # nothing was sent


def test_connect_says_which_login_failed_and_why_in_words(
    tmp_path: Path, imap_account: ImapAccount, smtp_auth: SmtpSink
) -> None:
    cfg = connect_config(tmp_path, imap_account, smtp_auth, imap_account.port)
    env = {"T_IMAP_PW": "wrong-password", "T_SMTP_PW": "also-wrong"}
    proc = cli("--config", str(cfg), "check-config", "--connect", cwd=tmp_path, env=env)
    assert proc.returncode == 2
    lines = proc.stdout.splitlines()
    (imap_line,) = [x for x in lines if "mailbox durham-imap-0 (imap" in x]
    (smtp_line,) = [x for x in lines if "outbound (smtp" in x]
    assert "FAILED: the IMAP server refused the login for " + imap_account.user in imap_line
    assert "FAILED: the SMTP server refused the login: 535" in smtp_line
    assert errors(proc) == [
        "sendiass-bot: error: 2 server(s) could not be reached or refused the login (see above)"
    ]
    assert not EXCEPTION_NAME.search(proc.stdout + proc.stderr), proc.stdout + proc.stderr


def test_connect_to_a_closed_port_says_nothing_is_listening(
    tmp_path: Path, imap_account: ImapAccount, smtp_auth: SmtpSink
) -> None:
    closed = free_port()
    cfg = connect_config(tmp_path, imap_account, smtp_auth, closed)
    env = {"T_IMAP_PW": imap_account.password, "T_SMTP_PW": "smtp-secret"}
    smtp_auth.stop()
    proc = cli("--config", str(cfg), "check-config", "--connect", cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert (
        f"FAILED: connection refused by 127.0.0.1:{closed}: nothing is listening on that port"
        in proc.stdout
    )
    assert (
        f"FAILED: connection refused by 127.0.0.1:{smtp_auth.port}: nothing is listening"
        in proc.stdout
    )
    assert not EXCEPTION_NAME.search(proc.stdout + proc.stderr), proc.stdout + proc.stderr


def test_connect_with_tls_to_a_plain_port_says_so(
    tmp_path: Path, imap_account: ImapAccount, smtp_auth: SmtpSink
) -> None:
    cfg = connect_config(tmp_path, imap_account, smtp_auth, imap_account.port)
    cfg.write_text(cfg.read_text().replace('tls = "none"', 'tls = "ssl"', 1))
    env = {"T_IMAP_PW": imap_account.password, "T_SMTP_PW": "smtp-secret"}
    proc = cli("--config", str(cfg), "check-config", "--connect", cwd=tmp_path, env=env)
    assert proc.returncode == 2
    (imap_line,) = [x for x in proc.stdout.splitlines() if "mailbox durham-imap-0 (imap" in x]
    assert "FAILED: the TLS handshake with 127.0.0.1" in imap_line
    assert "OK: logged in as letters@example.org" in proc.stdout
    assert not EXCEPTION_NAME.search(proc.stdout + proc.stderr), proc.stdout + proc.stderr


# ------------------------------------------------------------------------------- web


def test_web_on_a_busy_port_says_so_in_one_line_and_exits_2(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        proc = cli("web", "--port", str(port), cwd=tmp_path)
    assert proc.returncode == 2
    assert errors(proc) == [
        f"sendiass-bot: error: web: cannot listen on 127.0.0.1:{port}: the port is already in "
        "use by another program (choose another with --host/--port or web.host/web.port)"
    ]
    assert "Traceback" not in proc.stderr
    assert "web UI on" not in proc.stderr
    shutil.rmtree(tmp_path / "var", ignore_errors=True)


def test_categories_file_checked(tmp_path: Path) -> None:
    """The report's categories (and the case page's choices) come from categories.toml: a
    bad one is named with its key, exit 2; a good one is counted."""
    cfg = site(tmp_path, MAILDIR_OUT)
    ok = cli("--config", str(cfg), "check-config", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert re.search(r"categories: \d+ in .*categories\.toml", ok.stdout)
    (cfg.parent / "categories.toml").write_text('[[category]]\nkey = "a"\nlabel = 3\n')
    bad = cli("--config", str(cfg), "check-config", cwd=tmp_path)
    assert bad.returncode == 2
    assert errors(bad) == [
        f"sendiass-bot: error: {cfg.parent / 'categories.toml'}: category[0]: key and label "
        "must be strings"
    ]
    assert not EXCEPTION_NAME.search(bad.stderr)
