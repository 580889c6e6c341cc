"""Build step: ship the top-level ``templates/`` and ``config/`` inside the wheel.

The folders stay at the top of the repository (people edit them in place); a wheel carries
copies under ``bot/_data/``, where :mod:`bot.resources` finds them when the product is
installed. An editable install reads the checkout's folders directly, so nothing is copied.
Everything else about the build is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
BUNDLED = ("templates", "config")
#: A site's own configuration file is never shipped.
NOT_SHIPPED = ("sendiass.toml", "__pycache__", "*.pyc", ".*")


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "bot" / "_data"
        for name in BUNDLED:
            dest = target / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(HERE / name, dest, ignore=shutil.ignore_patterns(*NOT_SHIPPED))


setup(cmdclass={"build_py": BuildPyWithData})
