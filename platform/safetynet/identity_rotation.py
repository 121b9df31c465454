"""Rotating the secret that encrypts identity numbers and other personal secrets at rest (密钥轮换).

Every column named ``*_encrypted`` in the database model holds values from :class:`IdentityVault`
(members' identity numbers, webhook secrets, and whatever a later table adds under that name). A value
records the id of the key that encrypted it, so during a rotation old and new values live side by side
and both decrypt, as long as the old secret is still listed in ``SAFETYNET_SECRET_KEY``:

1. ``SAFETYNET_SECRET_KEY=new,old`` and ``SAFETYNET_LOOKUP_KEY=old`` (the secret the lookup hashes were
   made with; it does not change), then restart the servers: new values are encrypted with ``new``;
2. ``safetynet keys rotate-identity`` re-encrypts every value still under an old key, in batches, each
   in its own transaction; interrupted, it is run again and carries on (values already under ``new`` are
   skipped);
3. once it reports nothing left under an old key, ``SAFETYNET_SECRET_KEY=new``.

Lookup hashes (HMAC of the number) are not touched: they are keyed by ``SAFETYNET_LOOKUP_KEY``, so
matching department records, duplicate checks and links to records of people not yet registered carry
on unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Column, Table, select, update
from sqlalchemy.orm import Session

from safetynet.identity import IdentityVault
from safetynet.store.db import Database
from safetynet.store.models import Base, Member

ENCRYPTED_SUFFIX = "_encrypted"


@dataclass(frozen=True)
class EncryptedColumn:
    table: Table
    column: Column  # type: ignore[type-arg]

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column.name}"

    @property
    def key(self) -> Column:  # type: ignore[type-arg]
        (primary,) = self.table.primary_key.columns
        return primary


def encrypted_columns() -> list[EncryptedColumn]:
    """Every ``*_encrypted`` column of the model, table by table."""
    return [
        EncryptedColumn(table, column)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith(ENCRYPTED_SUFFIX)
    ]


@dataclass
class ColumnRotation:
    """What a rotation found and did in one column."""

    column: str
    rotated: int = 0
    current: int = 0  # already under the current key (or changed by someone else meanwhile)
    empty: int = 0
    by_key: dict[str, int] = field(default_factory=dict)  # values under each old key (census only)

    def count(self, outcome: str) -> None:
        """Count one value: ``rotated``, ``current``, ``empty``, or the id of the old key it is under."""
        if outcome in ("rotated", "current", "empty"):
            setattr(self, outcome, getattr(self, outcome) + 1)
        else:
            self.by_key[outcome] = self.by_key.get(outcome, 0) + 1


def census(database: Database, vault: IdentityVault, *, batch_size: int = 5_000) -> list[ColumnRotation]:
    """How many values of each column are under the current key and under each old key; nothing written."""
    return [
        _each_batch(database, target, batch_size, lambda _s, _t, rows: [_state(vault, b) for _, b in rows])
        for target in encrypted_columns()
    ]


def rotate(
    database: Database,
    vault: IdentityVault,
    *,
    batch_size: int = 1_000,
    progress: Callable[[ColumnRotation], None] = lambda _: None,
) -> list[ColumnRotation]:
    """Re-encrypt every value not under the vault's current key, ``batch_size`` rows per transaction.

    A value changed by someone else since it was read is left alone (it was written under the current
    key). ``progress`` is called after each batch. A value under a key the vault does not know raises
    ``ValueError`` naming the key id, and nothing of its batch is written.
    """

    def reencrypt(
        session: Session, target: EncryptedColumn, rows: list[tuple[int, bytes | None]]
    ) -> list[str]:
        outcomes = []
        for row_id, blob in rows:
            state = _state(vault, blob)
            if state in ("current", "empty"):
                outcomes.append(state)
                continue
            assert blob is not None
            changed = session.execute(
                update(target.table)
                .where(target.key == row_id, target.column == blob)
                .values({target.column.name: vault.encrypt(vault.decrypt(blob))})
            ).rowcount
            outcomes.append("rotated" if changed else "current")
        return outcomes

    return [_each_batch(database, target, batch_size, reencrypt, progress) for target in encrypted_columns()]


def _state(vault: IdentityVault, blob: bytes | None) -> str:
    """``empty``, ``current``, or the id of the old key ``blob`` is under."""
    if blob is None:
        return "empty"
    return vault.key_id_of(blob) if vault.needs_rotation(blob) else "current"


def _each_batch(
    database: Database,
    target: EncryptedColumn,
    size: int,
    work: Callable[[Session, EncryptedColumn, list[tuple[int, bytes | None]]], list[str]],
    progress: Callable[[ColumnRotation], None] = lambda _: None,
) -> ColumnRotation:
    """Run ``work`` on the column's (id, value) pairs, ``size`` at a time in id order, each batch in its
    own transaction; count the outcomes it returns."""
    done = ColumnRotation(target.name)

    def batch(session: Session, after: int | None) -> tuple[int | None, list[str]]:
        query = select(target.key, target.column).order_by(target.key).limit(size)
        if after is not None:
            query = query.where(target.key > after)
        rows = [(row_id, blob) for row_id, blob in session.execute(query)]
        return (rows[-1][0] if rows else None), work(session, target, rows)

    last, outcomes = database.run(lambda session: batch(session, None))
    while last is not None:
        for outcome in outcomes:
            done.count(outcome)
        progress(done)
        last, outcomes = database.run(lambda session, after=last: batch(session, after))
    return done


def lookup_key_problem(session: Session, vault: IdentityVault) -> str | None:
    """Whether stored lookup hashes were made with this vault's lookup secret, checked on one member.

    A changed lookup secret would make every registered person look new to duplicate checks and to
    department records. Returns what is wrong and how to fix it, or None.
    """
    row = session.execute(
        select(Member.id, Member.id_number_encrypted, Member.id_number_hash).order_by(Member.id).limit(1)
    ).first()
    if row is None:
        return None
    member_id, blob, stored_hash = row
    try:
        number = vault.decrypt(blob)
    except ValueError as exc:
        return f"member {member_id}: {exc}"
    if vault.lookup_hash(number) != stored_hash:
        return (
            "the identity numbers' lookup hashes were made with another secret: set SAFETYNET_LOOKUP_KEY "
            "to the secret in use before SAFETYNET_SECRET_KEY was changed (the lookup key never rotates)"
        )
    return None
