"""labels: coordinators' confirmations and corrections, kept as labelled examples

Revision ID: 0007_labels
Revises: 0004_reports
Create Date: 2026-12-06 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_labels"
down_revision = "0006_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "classifier_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("safeguarding", sa.Boolean(), nullable=False),
        sa.Column("about_coordinator", sa.Boolean(), nullable=False),
        sa.Column("out_of_scope", sa.Boolean(), nullable=False),
        sa.Column("event_date", sa.String(length=10), nullable=True),
        sa.Column("classifier_kind", sa.String(length=32), nullable=False),
        sa.Column("kind_changed", sa.Boolean(), nullable=False),
        sa.Column("changed", sa.JSON(), nullable=False),
        sa.Column("labelled_by", sa.String(length=320), nullable=False),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_classifier_labels_message_id_messages")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_classifier_labels_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classifier_labels")),
    )
    for col in ("message_id", "case_id", "service", "labelled_at"):
        op.create_index(
            op.f(f"ix_classifier_labels_{col}"), "classifier_labels", [col], unique=False
        )


def downgrade() -> None:
    for col in ("message_id", "case_id", "service", "labelled_at"):
        op.drop_index(op.f(f"ix_classifier_labels_{col}"), table_name="classifier_labels")
    op.drop_table("classifier_labels")
