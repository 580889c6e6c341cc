"""Alembic environment: the connection (already inside its one transaction, holding the
migration lock) is handed in by :func:`bot.db.upgrade`."""

from __future__ import annotations

from alembic import context

from bot.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
context.run_migrations()
