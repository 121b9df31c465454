"""audit user agent: the client's user agent in its own audit_log column, no longer inside ``detail``

Revision ID: 0008_audit_user_agent
Revises: 0007_governance
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_audit_user_agent"
down_revision = "0007_governance"
branch_labels = None
depends_on = None

# The entries written so far keep the user agent in detail (a JSON object): move it, per database.
MOVE_OUT = {
    "sqlite": """UPDATE audit_log SET user_agent = json_extract(detail, '$.user_agent'),
        detail = json_remove(detail, '$.user_agent') WHERE json_extract(detail, '$.user_agent') IS NOT NULL""",
    "postgresql": """UPDATE audit_log SET user_agent = detail->>'user_agent',
        detail = (detail::jsonb - 'user_agent')::json WHERE detail->>'user_agent' IS NOT NULL""",
}
MOVE_BACK = {
    "sqlite": """UPDATE audit_log SET detail = json_set(detail, '$.user_agent', user_agent)
        WHERE user_agent IS NOT NULL""",
    "postgresql": """UPDATE audit_log
        SET detail = (detail::jsonb || jsonb_build_object('user_agent', user_agent))::json
        WHERE user_agent IS NOT NULL""",
}


def upgrade() -> None:
    # Plain ADD/DROP COLUMN, as in 0005: no table rebuild on SQLite.
    op.add_column("audit_log", sa.Column("user_agent", sa.String(length=300), nullable=True))
    op.execute(MOVE_OUT[op.get_bind().dialect.name])


def downgrade() -> None:
    op.execute(MOVE_BACK[op.get_bind().dialect.name])
    op.drop_column("audit_log", "user_agent")  # ALTER TABLE … DROP COLUMN (SQLite 3.35+)
