"""crash safety: per-UID decisions for the sweep; letters handed over

Revision ID: 0009_crash_safety
Revises: 0004_reports
Create Date: 2026-12-06 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_crash_safety"
down_revision = "0012_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uid_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uid_decisions")),
        sa.UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_uid_decisions_mailbox_uid"),
    )

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("handed_over_at")
    op.drop_table("uid_decisions")
