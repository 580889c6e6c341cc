"""procsteps: the track a complaint is on (formal or informal) and the informal step's outcome

Revision ID: 0014_procsteps
Revises: 0008_routing
Create Date: 2026-12-06 08:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_procsteps"
down_revision = "0008_routing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("route", sa.String(16), nullable=False, server_default="formal"))
        batch.add_column(sa.Column("informal_outcome", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("informal_outcome")
        batch.drop_column("route")
