"""governance: near-relative registrations (近亲属备案), dishonesty records (失信) and recoveries (追回)

Revision ID: 0007_governance
Revises: 0005_schedules
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_governance"
down_revision = "0005_schedules"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _key_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["api_keys.id"], name=op.f(f"fk_{table}_{column}_api_keys"))


def upgrade() -> None:
    op.create_table(
        "near_relatives",
        sa.Column("id", _ID, nullable=False),
        sa.Column("id_number_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("id_number_hash", sa.String(length=64), nullable=False),
        sa.Column("id_number_masked", sa.String(length=18), nullable=False),
        sa.Column("relative_name", sa.String(length=100), nullable=False),
        sa.Column("kinship", sa.String(length=16), nullable=False),
        sa.Column("staff_name", sa.String(length=100), nullable=False),
        sa.Column("staff_post", sa.String(length=100), nullable=False),
        sa.Column("locality_code", sa.String(length=12), nullable=False),
        sa.Column("locality_prefix", sa.String(length=12), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_by", _ID, nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", _ID, nullable=True),
        sa.Column("removal_reason", sa.Text(), nullable=True),
        _key_fk("near_relatives", "registered_by"),
        _key_fk("near_relatives", "removed_by"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_near_relatives")),
    )
    op.create_index(op.f("ix_near_relatives_id_number_hash"), "near_relatives", ["id_number_hash"])
    op.create_index(op.f("ix_near_relatives_locality_code"), "near_relatives", ["locality_code"])

    op.create_table(
        "dishonesty_records",
        sa.Column("id", _ID, nullable=False),
        sa.Column("id_number_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("id_number_hash", sa.String(length=64), nullable=False),
        sa.Column("id_number_masked", sa.String(length=18), nullable=False),
        sa.Column("person_name", sa.String(length=100), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("amount_to_recover_fen", sa.BigInteger(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("deciding_unit", sa.String(length=200), nullable=False),
        sa.Column("locality_code", sa.String(length=12), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", _ID, nullable=True),
        _key_fk("dishonesty_records", "recorded_by"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dishonesty_records")),
    )
    op.create_index(op.f("ix_dishonesty_records_id_number_hash"), "dishonesty_records", ["id_number_hash"])
    op.create_index(op.f("ix_dishonesty_records_locality_code"), "dishonesty_records", ["locality_code"])

    op.create_table(
        "dishonesty_aid_records",
        sa.Column("record_id", _ID, nullable=False),
        sa.Column("aid_record_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["dishonesty_records.id"],
            name=op.f("fk_dishonesty_aid_records_record_id_dishonesty_records"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["aid_record_id"],
            ["aid_records.id"],
            name=op.f("fk_dishonesty_aid_records_aid_record_id_aid_records"),
        ),
        sa.PrimaryKeyConstraint("record_id", "aid_record_id", name=op.f("pk_dishonesty_aid_records")),
    )
    op.create_index(
        op.f("ix_dishonesty_aid_records_aid_record_id"), "dishonesty_aid_records", ["aid_record_id"]
    )

    op.create_table(
        "recoveries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("record_id", _ID, nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", _ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["dishonesty_records.id"],
            name=op.f("fk_recoveries_record_id_dishonesty_records"),
            ondelete="CASCADE",
        ),
        _key_fk("recoveries", "recorded_by"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recoveries")),
    )
    op.create_index(op.f("ix_recoveries_record_id"), "recoveries", ["record_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_recoveries_record_id"), table_name="recoveries")
    op.drop_table("recoveries")
    op.drop_index(op.f("ix_dishonesty_aid_records_aid_record_id"), table_name="dishonesty_aid_records")
    op.drop_table("dishonesty_aid_records")
    op.drop_index(op.f("ix_dishonesty_records_locality_code"), table_name="dishonesty_records")
    op.drop_index(op.f("ix_dishonesty_records_id_number_hash"), table_name="dishonesty_records")
    op.drop_table("dishonesty_records")
    op.drop_index(op.f("ix_near_relatives_locality_code"), table_name="near_relatives")
    op.drop_index(op.f("ix_near_relatives_id_number_hash"), table_name="near_relatives")
    op.drop_table("near_relatives")
