"""monitoring: assessment results, household categories, sweep runs; warning subject and delivery columns

The sweep (``safetynet.monitoring.sweep``) writes the latest assessment per household and aid type, the
low-income categories with their start and end dates, and its own progress so that a killed sweep
resumes. Warnings gain the member and aid type they concern, the basis that keeps a closed warning from
being raised again, the level last announced to plugins, the department a referral went to, and a
digest of the evidence that lets the sweep compare warnings without reading their evidence.

Written by hand for SQLite and PostgreSQL alike: new columns are nullable, so plain ``ADD COLUMN`` works
on both (SQLite accepts REFERENCES and CHECK clauses on an added column whose default is NULL).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LEVELS = ("BLUE", "YELLOW", "ORANGE", "RED")
CATEGORIES = ("DIBAO", "TEKUN", "RETURN_POVERTY_WATCH", "MARGINAL", "RIGID_EXPENSE", "OTHER_HARDSHIP")


def upgrade() -> None:
    op.create_table(
        "assessment_results",
        sa.Column("household_id", ID, nullable=False),
        sa.Column("aid_type_code", sa.String(length=64), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("monthly_amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("one_off_amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("assessed_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name=op.f("fk_assessment_results_household_id_households"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("household_id", "aid_type_code", name=op.f("pk_assessment_results")),
    )
    op.create_table(
        "household_categories",
        sa.Column("id", ID, nullable=False),
        sa.Column("household_id", ID, nullable=False),
        sa.Column(
            "category",
            sa.Enum(*CATEGORIES, name="lowincomecategory", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name=op.f("fk_household_categories_household_id_households"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_categories")),
    )
    op.create_index(
        op.f("ix_household_categories_household_id"), "household_categories", ["household_id"], unique=False
    )
    op.create_index(
        "uq_household_categories_open",
        "household_categories",
        ["household_id", "category"],
        unique=True,
        sqlite_where=sa.text("until IS NULL"),
        postgresql_where=sa.text("until IS NULL"),
    )
    op.create_table(
        "sweep_runs",
        sa.Column("id", ID, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("locality_prefix", sa.String(length=12), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("warnings_raised", sa.Integer(), nullable=False),
        sa.Column("warnings_updated", sa.Integer(), nullable=False),
        sa.Column("categories_changed", sa.Integer(), nullable=False),
        sa.Column("assessments_changed", sa.Integer(), nullable=False),
        sa.Column("last_household_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweep_runs")),
    )
    op.create_index("ix_sweep_runs_as_of_prefix", "sweep_runs", ["as_of", "locality_prefix"], unique=False)

    # New warning columns. SQLite takes a REFERENCES or CHECK clause in ADD COLUMN; batch mode (copy and
    # move) must not be used there: dropping the old table with foreign keys on would cascade-delete
    # warning_routes and clear visits.warning_id.
    levels = ", ".join(f"'{level}'" for level in LEVELS)
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE warnings ADD COLUMN member_id INTEGER CONSTRAINT fk_warnings_member_id_members "
            "REFERENCES members (id) ON DELETE SET NULL"
        )
        op.execute(
            "ALTER TABLE warnings ADD COLUMN notified_level VARCHAR(6) CONSTRAINT ck_warnings_notified_level "
            f"CHECK (notified_level IN ({levels}))"
        )
    else:
        op.add_column("warnings", sa.Column("member_id", ID, nullable=True))
        op.create_foreign_key(
            op.f("fk_warnings_member_id_members"),
            "warnings",
            "members",
            ["member_id"],
            ["id"],
            ondelete="SET NULL",
        )
        op.add_column("warnings", sa.Column("notified_level", sa.String(length=6), nullable=True))
        op.create_check_constraint(
            op.f("ck_warnings_notified_level"), "warnings", sa.text(f"notified_level IN ({levels})")
        )
    op.add_column("warnings", sa.Column("aid_type_code", sa.String(length=64), nullable=True))
    op.add_column("warnings", sa.Column("basis", sa.String(length=200), nullable=True))
    op.add_column("warnings", sa.Column("referred_to", sa.String(length=64), nullable=True))
    op.add_column("warnings", sa.Column("evidence_digest", sa.String(length=16), nullable=True))
    open_statuses = sa.text("status IN ('OPEN', 'ASSIGNED', 'VERIFIED')")
    op.create_index(
        "uq_warnings_open_household_rule",
        "warnings",
        ["household_id", "rule"],
        unique=True,
        sqlite_where=open_statuses,
        postgresql_where=open_statuses,
    )

def downgrade() -> None:
    op.drop_index("uq_warnings_open_household_rule", table_name="warnings")
    # SQLite (3.35+) drops these columns in place, their column constraints with them.
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_warnings_notified_level"), "warnings", type_="check")
        op.drop_constraint(op.f("fk_warnings_member_id_members"), "warnings", type_="foreignkey")
    for column in ("evidence_digest", "referred_to", "basis", "aid_type_code", "notified_level", "member_id"):
        op.drop_column("warnings", column)
    op.drop_index("ix_sweep_runs_as_of_prefix", table_name="sweep_runs")
    op.drop_table("sweep_runs")
    op.drop_index("uq_household_categories_open", table_name="household_categories")
    op.drop_index(op.f("ix_household_categories_household_id"), table_name="household_categories")
    op.drop_table("household_categories")
    op.drop_table("assessment_results")
