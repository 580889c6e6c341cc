"""sendiass-bot: complaints intake for SEND Information, Advice and Support Services."""

from bot import resources

__version__ = "0.1.0"

#: Where ``templates/`` and ``config/`` are read from: the checkout's top level, or the copies
#: a wheel installs under ``bot/_data/``. Prefer the functions of :mod:`bot.resources`, which
#: also let a site's ``config/`` override the bundled service files and categories.
ROOT = resources.bundled_root()
