"""signals indexes: one partial index of the unmatched signals instead of three single-column indexes

``ix_signals_occurred_on`` served no query (signals are read by household, then by date).
``ix_signals_member_id`` and ``ix_signals_id_number_hash`` served only ``link_unmatched``, which looks
for signals not yet linked to a member (``member_id IS NULL``), all of them or by identity hash: the
partial index ``ix_signals_unmatched`` on the identity hash of those signals serves both, and a matched
signal (nearly all of them) no longer costs the ingest two more B-tree inserts. Members are never
deleted by the platform, so the foreign key from ``member_id`` needs no index of its own.

Revision ID: 0010_signals_indexes
Revises: 0009_warnings_household_index
Create Date: 2026-11-23 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_signals_indexes"
down_revision = "0009_warnings_household_index"
branch_labels = None
depends_on = None

UNMATCHED = sa.text("member_id IS NULL")


def upgrade() -> None:
    op.drop_index("ix_signals_occurred_on", table_name="signals")
    op.drop_index("ix_signals_member_id", table_name="signals")
    op.drop_index("ix_signals_id_number_hash", table_name="signals")
    op.create_index(
        "ix_signals_unmatched",
        "signals",
        ["id_number_hash"],
        sqlite_where=UNMATCHED,
        postgresql_where=UNMATCHED,
    )


def downgrade() -> None:
    op.drop_index("ix_signals_unmatched", table_name="signals")
    op.create_index("ix_signals_id_number_hash", "signals", ["id_number_hash"])
    op.create_index("ix_signals_member_id", "signals", ["member_id"])
    op.create_index("ix_signals_occurred_on", "signals", ["occurred_on"])
