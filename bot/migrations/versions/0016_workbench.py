"""workbench: safeguarding actions, per-user last-opened times, the family's last message,
and the outbox sender's heartbeat (issue 15)

Revision ID: 0016_workbench
Revises: 0008_routing
Create Date: 2026-12-06 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_workbench"
down_revision = "0014_procsteps"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(
            sa.Column(
                "safeguarding_actioned", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(sa.Column("family_message_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_cases_family_message_at", "cases", ["family_message_at"])
    op.create_table(
        "case_reads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_email", sa.String(length=320), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_reads_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_reads")),
        sa.UniqueConstraint("case_id", "user_email", name="uq_case_reads_case_user"),
    )


def downgrade() -> None:
    op.drop_table("case_reads")
    op.drop_index("ix_cases_family_message_at", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("family_message_at")
        batch.drop_column("safeguarding_actioned")
