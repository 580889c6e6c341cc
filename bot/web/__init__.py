"""The coordinators' triage web UI (Flask 3, served by waitress; server-rendered Jinja2).

:func:`create_app` builds the WSGI application around an :class:`bot.app.App`;
``sendiass-bot web`` serves it. See README "Web UI".
"""

from __future__ import annotations

from bot.web.server import create_app, serve

__all__ = ["create_app", "serve"]
