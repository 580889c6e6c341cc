"""intake trust: HTML sanitised once at intake, kept in messages.html_safe

Existing messages get their HTML sanitised here, within the same limits as the intake
(bot/safehtml.py), so the case page never sanitises on view.

Revision ID: 0005_intake_trust
Revises: 0004_reports
Create Date: 2026-12-06 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.safehtml import sanitise_for_storage

revision = "0005_intake_trust"
down_revision = "0004_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("html_safe", sa.Text(), nullable=True))
    conn = op.get_bind()
    messages = sa.table(
        "messages", sa.column("id", sa.Integer), sa.column("html", sa.Text),
        sa.column("html_safe", sa.Text),
    )  # fmt: skip
    last = 0
    while True:
        rows = conn.execute(
            sa.select(messages.c.id, messages.c.html)
            .where(messages.c.html.is_not(None), messages.c.id > last)
            .order_by(messages.c.id)
            .limit(200)
        ).all()
        if not rows:
            break
        for row in rows:
            safe = sanitise_for_storage(row.html).html
            conn.execute(sa.update(messages).where(messages.c.id == row.id).values(html_safe=safe))
        last = rows[-1].id


def downgrade() -> None:
    op.drop_column("messages", "html_safe")
