"""warnings household index: drop ix_warnings_household_id, which ix_warnings_household_rule_status covers

Every query by household alone can use the composite index (household_id leads it), so the single-column
index only cost the sweep an extra B-tree insert per warning written.

Revision ID: 0009_warnings_household_index
Revises: 0008_audit_user_agent
Create Date: 2026-11-23 20:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0009_warnings_household_index"
down_revision = "0008_audit_user_agent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_warnings_household_id", table_name="warnings")


def downgrade() -> None:
    op.create_index("ix_warnings_household_id", "warnings", ["household_id"])
