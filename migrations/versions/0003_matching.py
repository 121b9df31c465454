"""matching: need fulfilment and withdrawal details, the event log's partner and amount, partner webhooks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ADD COLUMN, no foreign key: rebuilding need_listings on SQLite (the only way to add a
    # constraint there) would cascade-delete its events while foreign keys are on.
    op.add_column("need_listings", sa.Column("fulfilled_amount_fen", sa.BigInteger(), nullable=True))
    op.add_column("need_listings", sa.Column("fulfilment_note", sa.Text(), nullable=True))
    op.add_column("need_listings", sa.Column("aid_record_id", _ID, nullable=True))
    op.add_column("need_listings", sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("need_listings", sa.Column("withdrawal_reason", sa.Text(), nullable=True))
    op.add_column("need_listings", sa.Column("last_event_id", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE need_listings SET last_event_id = "
        "(SELECT max(need_events.id) FROM need_events WHERE need_events.listing_id = need_listings.id)"
    )

    # need_events is rebuilt on SQLite so that its ids are AUTOINCREMENT (never reused: they are cursors).
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table(
        "need_events", recreate="always" if sqlite else "auto", table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("partner_code", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("amount_fen", sa.BigInteger(), nullable=True))

    op.create_table(
        "partner_webhooks",
        sa.Column("id", _ID, nullable=False),
        sa.Column("partner_code", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("need_types", sa.JSON(), nullable=False),
        sa.Column("locality_code", sa.String(length=12), nullable=True),
        sa.Column(
            "status",
            sa.Enum("ACTIVE", "PAUSED", name="webhookstatus", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", _ID, nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["api_keys.id"], name=op.f("fk_partner_webhooks_created_by_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_webhooks")),
    )
    with op.batch_alter_table("partner_webhooks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partner_webhooks_partner_code"), ["partner_code"], unique=False)

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("webhook_id", _ID, nullable=False),
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["need_events.id"],
            name=op.f("fk_webhook_deliveries_event_id_need_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["partner_webhooks.id"],
            name=op.f("fk_webhook_deliveries_webhook_id_partner_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_deliveries_webhook_event", ["webhook_id", "event_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_webhook_event")
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("partner_webhooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_webhooks_partner_code"))
    op.drop_table("partner_webhooks")
    with op.batch_alter_table("need_events", schema=None) as batch_op:
        batch_op.drop_column("amount_fen")
        batch_op.drop_column("partner_code")
    for column in (
        "last_event_id",
        "withdrawal_reason",
        "withdrawn_at",
        "aid_record_id",
        "fulfilment_note",
        "fulfilled_amount_fen",
    ):
        op.drop_column("need_listings", column)
