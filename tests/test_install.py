"""A real, non-editable install: build a wheel, install it into a fresh virtualenv outside
the checkout, and run the product from an empty folder.

The fresh virtualenv sees this interpreter's site-packages for the third-party dependencies
(a ``.pth`` file appended *after* its own site-packages, so nothing is downloaded), but not
the checkout: PYTHONPATH is unset, the working directory is an empty temporary folder, and the
test checks that ``bot`` is imported from the new virtualenv.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import free_port

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _source_files() -> list[str]:
    """The files a clone would have (tracked plus new, not ignored), relative to the repo."""
    proc = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if proc.returncode == 0 and proc.stdout.strip():
        return [line for line in proc.stdout.splitlines() if (REPO / line).is_file()]
    skip = {".git", ".venv", "var", "build", "dist", "__pycache__", "tests"}
    return [
        str(p.relative_to(REPO))
        for p in REPO.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(REPO).parts)
    ]


@dataclass
class Installed:
    venv: Path
    wheel: Path
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def script(self) -> Path:
        return self.venv / "bin" / "sendiass-bot"

    def run(self, *args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.script), *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("install")
    # A copy of the source tree, so the build leaves nothing in the checkout; with a stand-in
    # for the trained model directory another branch adds under classifiers/model/.
    src = base / "src"
    for rel in _source_files():
        if rel.startswith("tests/"):
            continue
        dest = src / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest)
    model = src / "classifiers" / "model" / "stand-in" / "weights"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(b"\x00fictional model bytes\n")

    dist = base / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(dist), str(src)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = dist.glob("sendiass_bot-*.whl")

    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    inst = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--no-deps", "--disable-pip-version-check", "-q", str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert inst.returncode == 0, inst.stderr[-3000:]
    # Only now let the new venv see the shared third-party packages (appended to sys.path,
    # after its own site-packages; .pth files inside them, such as an editable install's
    # finder, are not processed).
    (new_site,) = (venv / "lib").glob("python3*/site-packages")
    shared = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (new_site / "zz_shared_dependencies.pth").write_text("\n".join(shared) + "\n")

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    yield Installed(venv, wheel, env)


def test_the_wheel_carries_templates_config_and_any_model_files(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for rel in (
        "templates/letters/complaint_ack.txt",
        "templates/web/base.html",
        "templates/reports/digest.txt.j2",
        "config/services/durham.toml",
        "config/categories.toml",
    ):
        assert f"bot/_data/{rel}" in names, rel
    assert "classifiers/patterns/complaint.jsonl" in names
    assert "classifiers/model/stand-in/weights" in names
    assert not any(n.endswith("sendiass.toml") for n in names)


def test_the_installed_product_is_not_the_checkout(installed: Installed, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(installed.python), "-c",
         "import bot, bot.resources as r; print(bot.__file__); print(r.bundled_root())"],
        cwd=tmp_path, env=installed.env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    module, root = proc.stdout.split()
    assert Path(module).is_relative_to(installed.venv)
    assert not Path(module).is_relative_to(REPO)
    assert Path(root) == Path(module).parent / "_data"


def test_demo_runs_in_an_empty_folder(installed: Installed, tmp_path: Path) -> None:
    proc = installed.run("demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Triage queue" in proc.stdout
    letters = list((tmp_path / "var" / "outbox").glob("*.eml"))
    assert letters, proc.stdout
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in letters)
    assert "DUR-" in text  # a rendered acknowledgement, from the packaged templates


def test_classify_and_deadlines(installed: Installed, tmp_path: Path) -> None:
    eml = tmp_path / "complaint.eml"
    shutil.copy(REPO / "tests" / "fixtures" / "mail" / "complaint_plain.eml", eml)
    proc = installed.run("classify", str(eml), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "complaint" in proc.stdout

    proc = installed.run(
        "deadlines", "--service", "durham", "--received", "2026-12-24T10:00", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["service"] == "durham"
    assert out["acknowledge_by"] > "2026-12-24"


def test_a_config_folder_in_the_working_directory_overrides_the_packaged_one(
    installed: Installed, tmp_path: Path
) -> None:
    services = tmp_path / "config" / "services"
    services.mkdir(parents=True)
    shutil.copy(REPO / "config" / "services" / "durham.toml", services / "durham.toml")
    proc = installed.run(
        "deadlines", "--service", "stoke", "--received", "2026-12-24T10:00", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "unknown service 'stoke' (expected one of durham)" in proc.stderr


def test_web_serves_healthz(installed: Installed, tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [str(installed.script), "web", "--port", str(port)],
        cwd=tmp_path,
        env=installed.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body: dict[str, object] | None = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    body = json.loads(r.read())
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        assert body is not None, proc.poll()
        assert (body["status"], body["database"]) == ("ok", "ok")
        # No daemon has run here: /healthz says so and is healthy on its own.
        assert isinstance(body["daemon"], dict) and body["daemon"]["state"] == "not seen"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert "Traceback" not in out
