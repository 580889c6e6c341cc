"""searchspeed: PostgreSQL index for the queue filtered by service and kind

Full-text search itself needs no new index (bot/search.py gathers the rarest word's cases
from the existing full-text indexes). PostgreSQL's plan for the open queue filtered by
service and kind walked ``ix_cases_worklist`` and threw away the other services' and kinds'
cases; ``ix_cases_worklist_service_kind`` is the same partial index led by service and kind.
SQLite's queue is written so that it never picks a service or kind index
(bot/web/queries.py), so the index is PostgreSQL's only.

Revision ID: 0019_searchspeed
Revises: 0017_search
Create Date: 2026-12-06 20:15:00
"""

from __future__ import annotations

from alembic import op

from bot import search

revision = "0019_searchspeed"
down_revision = "0017_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for statement in search.speed_index_statements(bind.dialect.name):
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_cases_worklist_service_kind")
