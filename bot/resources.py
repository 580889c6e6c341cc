"""Where the product's own files are: templates, service files, categories.

One resolver, so an installed product and a checkout find the same things:

- **Bundled files** (``templates/``, ``config/services/``, ``config/categories.toml``) live
  at the top level of the repository. In a checkout (an editable install, or ``PYTHONPATH``
  pointing at the repository) they are read there, so an edit shows at once. A wheel carries
  copies under ``bot/_data/`` (setup.py's ``build_py`` step); an installed product reads those.
- **Site configuration overrides the bundled copies**: for ``config/...`` items, the folder
  of the ``--config`` file comes first (``/etc/sendiass/sendiass.toml`` makes
  ``/etc/sendiass/services/`` and ``/etc/sendiass/categories.toml`` win when they exist), then
  ``config/`` in the working directory, then the bundled copy.

Nothing here imports anything heavy: the command line's start-up depends on it.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: The repository root when this is a checkout (its top-level folders are read there).
CHECKOUT_DIR = PACKAGE_DIR.parent
#: Where a wheel puts its copies of the top-level folders (see setup.py).
PACKAGED_DIR = PACKAGE_DIR / "_data"
#: The top-level folders that are shipped as package data.
BUNDLED = ("templates", "config")

CONFIG_FILE = "sendiass.toml"

_config_path: Path | None = None


def is_checkout() -> bool:
    """True when the code runs from a source tree that has its top-level folders."""
    return (CHECKOUT_DIR / "pyproject.toml").is_file() and all(
        (CHECKOUT_DIR / name).is_dir() for name in BUNDLED
    )


def bundled_root() -> Path:
    """The folder holding ``templates/`` and ``config/``: the checkout, else the packaged copy."""
    return CHECKOUT_DIR if is_checkout() else PACKAGED_DIR


def bundled(*parts: str) -> Path:
    """A shipped file or folder, e.g. ``bundled("templates", "letters")``."""
    return bundled_root().joinpath(*parts)


def templates(kind: str) -> Path:
    """``templates/<kind>`` (letters, reports, web)."""
    return bundled("templates", kind)


def use_config(path: str | Path | None) -> None:
    """Remember the ``--config`` file so its folder can override the bundled service files
    and categories (the command line calls this once, before any command runs)."""
    global _config_path
    _config_path = Path(path) if path is not None else None


def config_candidates(name: str, config_path: str | Path | None = None) -> list[Path]:
    """Where ``config/<name>`` is looked for, first match wins."""
    chosen = Path(config_path) if config_path is not None else _config_path
    out: list[Path] = []
    if chosen is not None:
        out.append(chosen.parent / name)
    out.append(Path.cwd() / "config" / name)
    out.append(bundled("config", name))
    return out


def config_item(name: str, config_path: str | Path | None = None) -> Path:
    """``config/<name>`` (``services`` or ``categories.toml``): next to the ``--config`` file,
    else in ``./config/``, else the bundled copy (returned even when missing, for the error)."""
    candidates = config_candidates(name, config_path)
    for path in candidates:
        if path.exists():
            return path
    return candidates[-1]


def services_dir(config_path: str | Path | None = None) -> Path:
    return config_item("services", config_path)


def categories_file(config_path: str | Path | None = None) -> Path:
    return config_item("categories.toml", config_path)


def default_config_file() -> Path | None:
    """``config/sendiass.toml`` in the working directory (or in the checkout), if any."""
    candidates = [Path.cwd() / "config" / CONFIG_FILE]
    if is_checkout():
        candidates.append(CHECKOUT_DIR / "config" / CONFIG_FILE)
    return next((path for path in candidates if path.is_file()), None)
