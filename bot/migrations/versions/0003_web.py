"""web: triage UI (users, login attempts, learning records, notes, files; case columns)

Revision ID: 0003_web
Revises: 0002_letters
Create Date: 2026-11-23 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_web"
down_revision = "0002_letters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lifecycle", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("due_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("safeguarding", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("handler", sa.String(length=320), nullable=True))
        batch_op.add_column(
            sa.Column("channel", sa.String(length=16), nullable=False, server_default="email")
        )
        batch_op.add_column(
            sa.Column("via_mp", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("outcome", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("justification", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_merged_into_id_cases"), "cases", ["merged_into_id"], ["id"]
        )
        batch_op.create_index(
            "ix_cases_queue",
            ["needs_person", "status", "service", "safeguarding", "due_on", "received_at"],
        )
        batch_op.create_index("ix_cases_safeguarding", ["safeguarding"])
        batch_op.create_index("ix_cases_kind", ["kind"])
        batch_op.create_index("ix_cases_due_on", ["due_on"])

    # Existing cases: the derived columns (kept in step by the mapper events from now on).
    op.execute(
        "UPDATE cases SET due_on = CASE "
        "WHEN status IN ('received', 'next_stage_requested') "
        "THEN COALESCE(acknowledge_by, respond_by) "
        "WHEN status IN ('acknowledged', 'investigating') THEN respond_by "
        "ELSE NULL END"
    )
    bind = op.get_bind()
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("flags", sa.JSON))
    flagged = [
        row.id
        for row in bind.execute(sa.select(cases.c.id, cases.c.flags))
        if isinstance(row.flags, dict) and row.flags.get("safeguarding")
    ]
    for i in range(0, len(flagged), 500):
        bind.execute(
            sa.text("UPDATE cases SET safeguarding = :yes WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"yes": True, "ids": flagged[i : i + 500]},
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_login_attempts_email_at", ["email", "at"], unique=False)
        batch_op.create_index("ix_login_attempts_ip_at", ["ip", "at"], unique=False)
    op.create_table(
        "learning_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("you_said", sa.Text(), nullable=False),
        sa.Column("we_did", sa.Text(), nullable=False),
        sa.Column("what_else", sa.Text(), nullable=False),
        sa.Column("justification", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_learning_records_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_records")),
        sa.UniqueConstraint("case_id", name=op.f("uq_learning_records_case_id")),
    )
    with op.batch_alter_table("learning_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_learning_records_service"), ["service"], unique=False)
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_notes_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notes")),
    )
    with op.batch_alter_table("case_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_notes_case_id"), ["case_id"], unique=False)
    op.create_table(
        "case_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=500), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=320), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_files_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_files")),
    )
    with op.batch_alter_table("case_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_files_case_id"), ["case_id"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_status_case_id", ["status", "case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status_case_id")
    with op.batch_alter_table("case_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_files_case_id"))
    op.drop_table("case_files")
    with op.batch_alter_table("case_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_notes_case_id"))
    op.drop_table("case_notes")
    with op.batch_alter_table("learning_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learning_records_service"))
    op.drop_table("learning_records")
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempts_ip_at")
        batch_op.drop_index("ix_login_attempts_email_at")
    op.drop_table("login_attempts")
    op.drop_table("users")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_due_on")
        batch_op.drop_index("ix_cases_kind")
        batch_op.drop_index("ix_cases_safeguarding")
        batch_op.drop_index("ix_cases_queue")
        batch_op.drop_constraint(batch_op.f("fk_cases_merged_into_id_cases"), type_="foreignkey")
        batch_op.drop_column("merged_into_id")
        batch_op.drop_column("justification")
        batch_op.drop_column("outcome")
        batch_op.drop_column("via_mp")
        batch_op.drop_column("channel")
        batch_op.drop_column("handler")
        batch_op.drop_column("safeguarding")
        batch_op.drop_column("due_on")
        batch_op.drop_column("lifecycle")
