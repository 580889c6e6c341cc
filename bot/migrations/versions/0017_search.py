"""search: full-text search over cases and messages; indexes for the keyset-paged queue

SQLite: two external-content FTS5 tables (``cases_fts`` over reference, sender name and
address and subject; ``messages_fts`` over a message's subject and text) kept in step by
triggers, so every write path (the ORM, bulk inserts, retention's updates) updates the index.
PostgreSQL: a generated ``search_vector`` (tsvector, 'simple' configuration) on ``cases`` and
``messages`` with a GIN index each. The DDL lives in ``bot/search.py`` (one copy, also used to
repair the SQLite triggers after a future migration recreates a table).

Both: the queue's worklist index (open cases that need a person, in deadline order) and an
index on the handler (the assignee filters).

Revision ID: 0017_search
Revises: 0008_routing
Create Date: 2026-12-06 08:45:00
"""

from __future__ import annotations

from alembic import op

from bot import search

revision = "0017_search"
down_revision = "0018_health"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for statement in search.create_statements(bind.dialect.name):
        op.execute(statement)
    if bind.dialect.name == "sqlite":
        for statement in search.backfill_statements():
            op.execute(statement)
    for statement in search.index_statements(bind.dialect.name):
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for statement in search.drop_statements(bind.dialect.name):
        op.execute(statement)
