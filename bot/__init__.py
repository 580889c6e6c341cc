"""sendiass-bot: complaints intake for SEND Information, Advice and Support Services."""

from pathlib import Path

__version__ = "0.1.0"

#: The project root: ``config/``, ``templates/`` and ``var/`` are found relative to it.
ROOT = Path(__file__).resolve().parent.parent
