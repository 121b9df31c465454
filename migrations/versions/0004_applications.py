"""applications: aid applications, the aid types each asks for with their decisions, and every step taken

申请 → 受理 → 入户调查 → 经济状况核对 → 民主评议 → 公示 → 审核确认 (``safetynet.applications``). New
tables only, so the same statements run on SQLite and PostgreSQL.

Revision ID: 0004_applications
Revises: 0003
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_applications"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATUSES = (
    "SUBMITTED",
    "ACCEPTED",
    "INVESTIGATED",
    "CHECKED",
    "APPRAISED",
    "IN_NOTICE",
    "APPROVED",
    "PARTLY_APPROVED",
    "REFUSED",
    "ADVANCE_GRANTED",
)
STEPS = (
    "APPLIED",
    "ACCEPTED",
    "INVESTIGATED",
    "ECONOMIC_CHECKED",
    "APPRAISED",
    "APPRAISAL_SKIPPED",
    "NOTICE_STARTED",
    "EXTENDED",
    "DECIDED",
    "ADVANCE_GRANTED",
    "PAPERWORK_COMPLETED",
)
OUTCOMES = ("APPROVED", "REFUSED")


def _enum(values: tuple[str, ...], name: str) -> sa.Enum:
    return sa.Enum(
        *values, name=name, native_enum=False, create_constraint=True, length=max(map(len, values))
    )


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", ID, nullable=False),
        sa.Column("household_id", ID, nullable=False),
        sa.Column("warning_id", ID, nullable=True),
        sa.Column("status", _enum(STATUSES, "applicationstatus"), nullable=False),
        sa.Column("advance", sa.Boolean(), nullable=False),
        sa.Column("applied_on", sa.Date(), nullable=False),
        sa.Column("accepted_on", sa.Date(), nullable=True),
        sa.Column("working_days", sa.Integer(), nullable=True),
        sa.Column("decision_due_on", sa.Date(), nullable=True),
        sa.Column("due_provisional", sa.Boolean(), nullable=False),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("notice_started_on", sa.Date(), nullable=True),
        sa.Column("notice_ends_on", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name=op.f("fk_applications_household_id_households"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["warning_id"],
            ["warnings.id"],
            name=op.f("fk_applications_warning_id_warnings"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
    )
    op.create_index(op.f("ix_applications_household_id"), "applications", ["household_id"], unique=False)
    op.create_index(op.f("ix_applications_status"), "applications", ["status"], unique=False)

    op.create_table(
        "application_aids",
        sa.Column("application_id", ID, nullable=False),
        sa.Column("aid_type_code", sa.String(length=64), nullable=False),
        sa.Column("outcome", _enum(OUTCOMES, "aidoutcome"), nullable=True),
        sa.Column("monthly_amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("one_off_amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("aid_record_id", ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_aids_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["aid_record_id"],
            ["aid_records.id"],
            name=op.f("fk_application_aids_aid_record_id_aid_records"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("application_id", "aid_type_code", name=op.f("pk_application_aids")),
    )

    op.create_table(
        "application_steps",
        sa.Column("id", ID, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("kind", _enum(STEPS, "stepkind"), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("principal_id", ID, nullable=True),
        sa.Column("by_name", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_steps_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["api_keys.id"], name=op.f("fk_application_steps_principal_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_steps")),
    )
    op.create_index(
        op.f("ix_application_steps_application_id"), "application_steps", ["application_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("application_steps")
    op.drop_table("application_aids")
    op.drop_index(op.f("ix_applications_status"), table_name="applications")
    op.drop_index(op.f("ix_applications_household_id"), table_name="applications")
    op.drop_table("applications")
