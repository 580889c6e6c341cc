"""bot.resources: one place that says where templates, service files and categories are."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import resources
from bot.reports.categories import load_categories
from bot.services import load_services

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    resources.use_config(None)
    load_categories.cache_clear()


def test_a_checkout_reads_its_top_level_folders() -> None:
    assert resources.is_checkout()
    assert resources.bundled_root() == REPO
    assert resources.templates("letters") == REPO / "templates" / "letters"


def test_service_files_come_from_the_config_folder_then_cwd_then_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resources.services_dir() == REPO / "config" / "services"

    local = tmp_path / "config" / "services"
    local.mkdir(parents=True)
    shutil.copy(REPO / "config" / "services" / "durham.toml", local)
    assert resources.services_dir() == local
    assert set(load_services()) == {"durham"}

    site = tmp_path / "etc"
    (site / "services").mkdir(parents=True)
    shutil.copy(REPO / "config" / "services" / "stoke.toml", site / "services")
    resources.use_config(site / "sendiass.toml")
    assert resources.services_dir() == site / "services"
    assert set(load_services()) == {"stoke"}


def test_categories_can_be_overridden_by_the_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "categories.toml").write_text(
        '[[category]]\nkey = "transport"\nlabel = "Home to school transport"\nphrases = ["taxi"]\n',
        encoding="utf-8",
    )
    load_categories.cache_clear()
    assert [c.key for c in load_categories()] == ["transport"]


def test_a_config_file_in_the_working_directory_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resources.default_config_file() is None
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "sendiass.toml").write_text("", encoding="utf-8")
    assert resources.default_config_file() == tmp_path / "config" / "sendiass.toml"


def test_no_module_finds_top_level_folders_by_itself() -> None:
    """Every lookup of templates/ or config/ goes through bot.resources, so the installed
    product finds the packaged copies."""
    offenders = []
    pattern = re.compile(r"ROOT\b|parents?\b.*[\"'](templates|config)[\"']")
    for path in [*REPO.glob("bot/**/*.py"), *REPO.glob("classifiers/**/*.py")]:
        if path.name in ("resources.py", "__init__.py") and path.parent.name == "bot":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert offenders == []
