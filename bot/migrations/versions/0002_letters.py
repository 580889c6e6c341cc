"""letters: outbox send claims and service

Revision ID: 0002_letters
Revises: 0001
Create Date: 2026-11-23 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_letters"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("service", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("attempt_token", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_to_addr"), ["to_addr"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_to_addr"))
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("attempt_token")
        batch_op.drop_column("service")
