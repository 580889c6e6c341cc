"""outbox_keys: the recipient as keys on each letter, and the flood windows' indexes

``outbox.to_key`` (the address without case or ``+tag``) and ``outbox.to_domain`` are kept in
step with ``to_addr`` by the model (``bot/models.py``, ``bot/recipients.py``); this migration
fills them for the letters already stored, in batches, with the same Python function (SQL's
``lower()`` differs from Python's for a few characters). Indexes: the per-sender daily cap
(``to_key``, ``created_at``), the per-domain flood limit (``service``, ``to_domain``) and the
hourly window (``service``, scheduled time).

Revision ID: 0021_outbox_keys
Revises: 0019_searchspeed
Create Date: 2026-12-06 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.recipients import domain_of, normalise_address

revision = "0021_outbox_keys"
down_revision = "0019_searchspeed"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    op.add_column("outbox", sa.Column("to_key", sa.String(length=320), nullable=True))
    op.add_column("outbox", sa.Column("to_domain", sa.String(length=255), nullable=True))
    bind = op.get_bind()
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.Integer()),
        sa.column("to_addr", sa.String()),
        sa.column("to_key", sa.String()),
        sa.column("to_domain", sa.String()),
    )
    fill = (
        sa.update(outbox)
        .where(outbox.c.id == sa.bindparam("b_id"))
        .values(to_key=sa.bindparam("b_key"), to_domain=sa.bindparam("b_domain"))
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(outbox.c.id, outbox.c.to_addr)
            .where(outbox.c.id > last)
            .order_by(outbox.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        bind.execute(
            fill,
            [
                {
                    "b_id": r.id,
                    "b_key": normalise_address(r.to_addr or ""),
                    "b_domain": domain_of(r.to_addr or ""),
                }
                for r in rows
            ],
        )
        last = rows[-1].id
    op.create_index("ix_outbox_to_key", "outbox", ["to_key", "created_at"])
    op.create_index("ix_outbox_service_domain", "outbox", ["service", "to_domain"])
    op.create_index(
        "ix_outbox_service_slot",
        "outbox",
        ["service", sa.text("coalesce(next_attempt_at, created_at)")],
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_service_slot", table_name="outbox")
    op.drop_index("ix_outbox_service_domain", table_name="outbox")
    op.drop_index("ix_outbox_to_key", table_name="outbox")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("to_domain")
        batch_op.drop_column("to_key")
