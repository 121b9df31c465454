"""schedules: the household's last periodic review (复核), from which the next review is due

Revision ID: 0005_schedules
Revises: 0004_applications
Create Date: 2026-11-24 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_schedules"
down_revision = "0004_applications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN on both databases: rebuilding households on SQLite (what batch_alter_table
    # would do) would cascade-delete every child row while foreign keys are on.
    op.add_column("households", sa.Column("last_reviewed_on", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("households", "last_reviewed_on")  # ALTER TABLE … DROP COLUMN (SQLite 3.35+)
