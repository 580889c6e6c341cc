"""sendiass-bot: complaints intake for SEND Information, Advice and Support Services."""

import os
from pathlib import Path

__version__ = "0.1.0"

#: The project root: ``config/``, ``templates/`` and ``var/`` are found relative to it. An
#: installed (not editable) copy is told where they are by ``SENDIASS_HOME`` (see Dockerfile).
ROOT = Path(os.environ.get("SENDIASS_HOME") or Path(__file__).resolve().parent.parent)
