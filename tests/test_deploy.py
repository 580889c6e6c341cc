"""The deployment recipes agree with the CLI and the README: the Dockerfile and compose file
(no container runtime runs here, so their commands, port, user and paths are checked), the
systemd units (their commands parse, their hardening is rated by systemd-analyze), the nginx
example, and a real non-editable install laid out as the image lays it out."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.cli import build_parser
from bot.config import parse_config
from bot.services import load_services
from tests.mailfactory import make_email

REPO = Path(__file__).resolve().parents[1]
UNITS = {
    "run": REPO / "deploy" / "systemd" / "sendiass-bot.service",
    "web": REPO / "deploy" / "systemd" / "sendiass-bot-web.service",
}


def parses(argv: list[str]) -> str:
    """The subcommand ``argv`` names; fails the test if the real CLI would refuse it."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"the CLI refuses {shlex.join(argv)!r} (exit {exc.code})")
    return str(args.command)


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            op, _, rest = line.strip().partition(" ")
            out.append((op.upper(), " ".join(rest.split())))
    return out


def one(instructions: list[tuple[str, str]], op: str) -> str:
    found = [a for o, a in instructions if o == op]
    assert len(found) == 1, (op, found)
    return found[0]


def readme_deployment() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("## Deployment\n")
    return text[start : text.index("\n## ", start + 1)]


def test_dockerfile_runs_real_commands_as_a_non_root_user() -> None:
    ins = dockerfile()
    assert ins[0] == ("FROM", "python:3.11-slim")
    runs = [a for o, a in ins if o == "RUN"]
    assert any(re.search(r"\bpip install \.(\s|$)", r) for r in runs)
    assert not any(re.search(r"pip install .*(-e\b|--editable)", r) for r in runs)
    copies = [a.split() for o, a in ins if o == "COPY"]
    # What setup.py needs to ship config/ and templates/ inside the package is in the build.
    for folder in ("config", "templates", "bot", "classifiers"):
        assert [folder, f"./{folder}"] in copies, folder
        assert (REPO / folder).is_dir()
    assert any("setup.py" in c for c in copies)
    install_at = next(i for i, (o, a) in enumerate(ins) if o == "RUN" and "pip install ." in a)
    assert all(i < install_at for i, (o, _) in enumerate(ins) if o == "COPY")

    users = [a for o, a in ins if o == "USER"]
    assert users and users[-1] not in ("root", "0")
    user = users[-1]
    assert any(re.search(rf"useradd .*\b{user}$", r.split("&&")[-1].strip()) for r in runs)
    # Every RUN after USER runs as that user; the ones that call the CLI use real commands.
    for r in runs:
        for m in re.finditer(r"sendiass-bot((?: [^&|>;]+)?)", r):
            argv = m.group(1).split()
            if argv != ["--help"]:
                parses(argv)

    entry = json.loads(one(ins, "ENTRYPOINT"))
    cmd = json.loads(one(ins, "CMD"))
    assert entry[0] == "sendiass-bot"
    assert parses(entry[1:] + cmd) == "run"
    assert one(ins, "EXPOSE") == "8080"
    assert json.loads(one(ins, "VOLUME")) == ["/var/lib/sendiass/var"]
    workdirs = [a for o, a in ins if o == "WORKDIR"]
    assert workdirs[-1] + "/var" == "/var/lib/sendiass/var"  # relative var/ is the volume

    readme = readme_deployment()
    for claim in ("python:3.11-slim", "`pip install .`", f"user `{user}`", "port 8080",
                  "`web --host 0.0.0.0 --port 8080`", f"`{shlex.join(entry)}`",
                  f"default command is `{shlex.join(cmd)}`", "/var/lib/sendiass/var"):  # fmt: skip
        assert claim in readme, claim


def test_compose_services_agree_with_the_image_and_the_cli() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    ins = dockerfile()
    entry = json.loads(one(ins, "ENTRYPOINT"))
    port = one(ins, "EXPOSE")
    services = compose["services"]
    assert services["db"]["image"].startswith("postgres:")
    commands = {name: parses(entry[1:] + svc["command"]) for name, svc in services.items()
                if name != "db"}  # fmt: skip
    assert commands == {"migrate": "db", "bot": "run", "web": "web"}
    web = services["web"]["command"]
    assert web[web.index("--port") + 1] == port
    assert web[web.index("--host") + 1] == "0.0.0.0"
    assert [p.rsplit(":", 1)[1] for p in services["web"]["ports"]] == [port]
    assert all(p.startswith("127.0.0.1:") for p in services["web"]["ports"])
    config_path = entry[entry.index("--config") + 1]
    for name in ("bot", "web", "migrate"):
        mounts = services[name]["volumes"]
        host = [m.split(":")[0] for m in mounts if m.split(":")[1] == config_path]
        assert host, name
        assert any(m.endswith(":/var/lib/sendiass/var") for m in mounts)
    # The example configuration is valid and points at the compose database.
    import tomllib

    example = REPO / host[0]
    cfg = parse_config(
        tomllib.loads(example.read_text(encoding="utf-8")),
        str(example),
        known_services=set(load_services()),
    )
    assert cfg.database.url.startswith("postgresql+psycopg://sendiass@db:5432/")
    assert "PGPASSWORD" in services["bot"]["environment"]
    assert "password" not in cfg.database.url.split("@")[0].split("//")[1]


def _unit(path: Path) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


@pytest.mark.parametrize("command", sorted(UNITS))
def test_systemd_units_run_real_commands_hardened(command: str) -> None:
    unit = _unit(UNITS[command])
    execs = unit.get("ExecStartPre", []) + unit["ExecStart"]
    found = []
    for line in execs:
        binary, *argv = shlex.split(line)
        assert binary == f"{unit['WorkingDirectory'][0]}/.venv/bin/sendiass-bot"
        found.append(parses(argv))
    assert found[-1] == command
    assert unit["User"] == ["sendiass"]
    for key, value in {
        "NoNewPrivileges": "true",
        "ProtectSystem": "strict",
        "PrivateTmp": "true",
        "ProtectHome": "true",
        "UMask": "0077",
        "CapabilityBoundingSet": "",
    }.items():
        assert unit[key] == [value], key
    assert unit["ReadWritePaths"] == [f"{unit['WorkingDirectory'][0]}/var"]
    assert "SENDIASS_HOME" not in " ".join(unit.get("Environment", []))
    if command == "web":
        argv = shlex.split(unit["ExecStart"][0])
        assert argv[argv.index("--host") + 1] == "127.0.0.1"
        nginx = (REPO / "deploy" / "nginx" / "sendiass-bot.conf").read_text(encoding="utf-8")
        upstream = re.search(r"upstream \w+ \{\s*server ([\d.]+:\d+);", nginx)
        assert upstream
        assert upstream.group(1) == f"127.0.0.1:{argv[argv.index('--port') + 1]}"
    text = UNITS[command].read_text(encoding="utf-8")
    assert str(UNITS[command].relative_to(REPO)) in readme_deployment()
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(UNITS[command])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    level = re.search(r"Overall exposure level for \S+: ([\d.]+)", proc.stdout)
    assert level, proc.stdout + proc.stderr
    assert float(level.group(1)) <= 2.0, proc.stdout
    assert "[Install]" in text


def test_nginx_terminates_tls_and_proxies_to_the_web_ui() -> None:
    conf = (REPO / "deploy" / "nginx" / "sendiass-bot.conf").read_text(encoding="utf-8")
    assert re.search(r"listen 443 ssl;", conf)
    assert re.search(r"ssl_certificate\s+\S+;", conf)
    assert re.search(r"ssl_certificate_key\s+\S+;", conf)
    assert re.search(r"ssl_protocols TLSv1\.2 TLSv1\.3;", conf)
    assert "return 301 https://$host$request_uri;" in conf
    assert re.search(r"proxy_pass http://sendiass_bot_web;", conf)
    assert "X-Forwarded-Proto" in conf
    # The access log format names $uri, not $request (which carries the query string).
    fmt = re.search(r"log_format sendiass_noquery ([^;]+);", conf)
    assert fmt
    assert "$uri" in fmt.group(1)
    assert "$request " not in fmt.group(1) + " "
    assert "access_log /var/log/nginx/sendiass-bot.access.log sendiass_noquery;" in conf


def test_every_command_in_the_readmes_deployment_section_exists() -> None:
    section = readme_deployment()
    entry = json.loads(one(dockerfile(), "ENTRYPOINT"))
    commands: list[list[str]] = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", section, re.S):
        for line in block.splitlines():
            line = line.replace("$(date +\\%F)", "DATE")
            line = re.split(r"\s(?:&&|\||#|>)\s?", line)[0]
            m = re.match(r"^(?:\S+ )*?(?:\S*/bin/)sendiass-bot (.*)$", line) or re.match(
                r"^sendiass-bot (.*)$", line
            )
            if m:
                commands.append(shlex.split(m.group(1)))
            m = re.search(r"docker compose run --rm \w+ (.*)$", line)
            if m:
                commands.append(entry[1:] + shlex.split(m.group(1)))
    for span in re.findall(r"`(sendiass-bot [^`]+)`", section.replace("\n", " ")):
        if "[" not in span and span != shlex.join(entry):  # the image's entry point alone
            commands.append(shlex.split(span)[1:])
    names = {parses(argv) for argv in commands}
    assert {"backup", "restore", "db", "subject-access", "run", "users"} <= names, names


def test_a_non_editable_install_laid_out_like_the_image_works(tmp_path: Path) -> None:
    """`pip install .` from the files the Dockerfile copies: the installed copy, run from a
    folder with no checkout, logs a compliment and writes its letter from its own templates."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(REPO / name, src / name)
    for name in ("bot", "classifiers", "config", "templates"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    site = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(src)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    work = tmp_path / "work"
    work.mkdir()
    (work / "c.toml").write_text(
        f'[database]\nurl = "sqlite:///{work}/var/s.db"\n'
        f'[[mailbox]]\nname = "durham"\nservice = "durham"\nsource = "maildir"\n'
        f'path = "{work}/mail"\n[outbound]\ntransport = "maildir"\npath = "{work}/outbox"\n',
        encoding="utf-8",
    )
    (work / "c.eml").write_bytes(
        make_email(
            from_name="Morgan Ellery",
            from_addr="morgan.ellery@example.org",
            subject="Thank you",
            body="I just wanted to say a huge thank you to Priya, your adviser, for all her help "
            "with my son's annual review. She was brilliant and we felt listened to.\n\n"
            "Morgan Ellery",
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def bot(*args: str) -> subprocess.CompletedProcess[str]:
        e = {**env, "PYTHONPATH": str(site)}
        return subprocess.run(
            [sys.executable, "-m", "bot", "--config", "c.toml", *args],
            cwd=work, env=e, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    where = subprocess.run(
        [sys.executable, "-c", "import bot; print(bot.__file__)"],
        env={**env, "PYTHONPATH": str(site)}, cwd=work, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert where.stdout.strip().startswith(str(site))
    checked = bot("check-config")
    assert checked.returncode == 0, checked.stderr
    assert str(site) in checked.stdout  # the service files are the installed copies
    proc = bot("ingest", "c.eml", "--service", "durham")
    assert proc.returncode == 0, proc.stderr
    proc = bot("letters", "send")
    assert proc.returncode == 0, proc.stderr
    letters = list((work / "outbox").rglob("*.eml")) + list((work / "outbox").rglob("*,*"))
    assert letters, "the acknowledgement was written from the installed templates"
