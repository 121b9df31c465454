"""Department feeds → signals (部门数据比对): validate, link to members by the keyed identity hash, store.

:func:`ingest` takes any number of records and works in batches (5,000 by default). For each batch the
source's parser validates the rows and the identity numbers are hashed with the vault's lookup key; the
new signals go in with one bulk insert, linked to the registered members by that hash, that skips a
(source, recordId) stored already or meanwhile (``INSERT … ON CONFLICT DO NOTHING``), so a re-run or a
concurrent ingest of the same feed never stores a record twice. The insert is one statement per batch
that joins the members itself: no look-up queries, no rows through Python twice.

A record about a person nobody has registered is kept as an unmatched signal (no member, no household):
:func:`link_unmatched` links such signals once the person is registered, and ``ingest`` runs it at the end.

:func:`ingest_file` is ``safetynet ingest``: a record file in transactions of 50,000 records, read,
validated and hashed (everything but the database's part) batch by batch in a forked process while this
one stores the batches before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Text,
    any_,
    bindparam,
    exists,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from safetynet.catalogue import Catalogue
from safetynet.fastjson import dumps
from safetynet.forked import can_fork, forked
from safetynet.identity import IdentityVault
from safetynet.model import DataSource, ParsedRecords, RecordError, Signal
from safetynet.rules.records import CODE_MAX, RECORD_ID_MAX
from safetynet.store.db import Database, references_checked_by_caller
from safetynet.store.models import Member, SignalRow
from safetynet.store.rows import to_db

from .record_files import RecordFileError, Unreadable, estimate_records, read_records

__all__ = [
    "BATCH_SIZE",
    "IngestResult",
    "RecordFileError",
    "UnknownSourceError",
    "Unreadable",
    "data_source",
    "estimate_records",
    "ingest",
    "ingest_file",
    "link_unmatched",
    "read_records",
]

BATCH_SIZE = 5_000
FILE_CHUNK = 50_000  # records per transaction in ingest_file (read and prepared BATCH_SIZE at a time)

_signals = SignalRow.__table__
_members = Member.__table__


class UnknownSourceError(ValueError):
    """A data-source code that no installed plugin provides; the message lists the known ones."""

    def __init__(self, code: str, known: Iterable[str]) -> None:
        self.code = code
        self.known = tuple(sorted(known))
        super().__init__(
            f"no data source '{code}' is installed; known sources: {', '.join(self.known) or '(none)'}"
        )


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did. ``rejected`` holds every refused record with its index in the input."""

    accepted: int = 0  # new signals stored
    duplicates: int = 0  # records whose (source, recordId) was stored already or came earlier in the input
    rejected: tuple[RecordError, ...] = ()
    matched: int = 0  # accepted signals linked to a registered member
    linked: int = 0  # earlier unmatched signals linked by link_unmatched at the end

    @property
    def unmatched(self) -> int:
        """Accepted signals about people nobody has registered (yet)."""
        return self.accepted - self.matched

    @property
    def records(self) -> int:
        return self.accepted + self.duplicates + len(self.rejected)

    def __add__(self, other: IngestResult) -> IngestResult:
        return IngestResult(
            accepted=self.accepted + other.accepted,
            duplicates=self.duplicates + other.duplicates,
            rejected=self.rejected + other.rejected,
            matched=self.matched + other.matched,
            linked=self.linked + other.linked,
        )


def data_source(catalogue: Catalogue, code: str) -> DataSource:
    """The installed data source ``code``, or :class:`UnknownSourceError` listing the known ones."""
    provided = catalogue.data_sources.get(code)
    if provided is None:
        raise UnknownSourceError(code, catalogue.data_sources)
    return provided.item


def ingest(
    session: Session,
    catalogue: Catalogue,
    vault: IdentityVault,
    source_code: str,
    records: Iterable[Any],
    *,
    received_at: datetime,
    batch_size: int = BATCH_SIZE,
    start_index: int = 0,
    link: bool = True,
    progress: Callable[[int], None] | None = None,
) -> IngestResult:
    """Store ``records`` of the data source ``source_code`` as signals; see the module docstring.

    ``records`` are dicts (JSON objects or CSV rows); anything else, or an :class:`Unreadable` from
    :func:`read_records`, is rejected. Indexes in ``rejected`` count from ``start_index``. The caller's
    transaction decides when everything is committed. ``progress`` is called with each batch's size.
    """
    source = data_source(catalogue, source_code)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    store = _storer(session, source.code, received_at)
    seen: set[str] = set()
    total = IngestResult()
    first = start_index
    with _page_cache(session):
        for batch in _batches(records, batch_size):
            total += store(_read(source, vault, batch, first, seen))
            first += len(batch)
            if progress is not None:
                progress(len(batch))
    if link:
        total = replace(total, linked=link_unmatched(session))
    return total


def ingest_file(
    database: Database,
    catalogue: Catalogue,
    vault: IdentityVault,
    source_code: str,
    path: str | Path,
    *,
    received_at: datetime,
    chunk_size: int = FILE_CHUNK,
    progress: Callable[[int], None] | None = None,
    parallel: bool | None = None,
) -> IngestResult:
    """Ingest a record file (:func:`read_records`) as ``safetynet ingest`` does: one transaction per
    ``chunk_size`` records (``progress`` is called with each one's size once committed), then
    :func:`link_unmatched`. A :class:`RecordFileError` stops it; the chunks before stay stored.

    ``parallel`` (default: where it is safe, :func:`safetynet.forked.can_fork`): the file is read,
    validated and hashed in a forked process, batch by batch (:data:`BATCH_SIZE` records), while this
    one looks up and inserts the batches before.
    """
    source = data_source(catalogue, source_code)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    batch_size = min(BATCH_SIZE, chunk_size)

    def read() -> Iterator[_Read]:
        seen: set[str] = set()
        first = 0
        for batch in read_records(path, batch_size):
            yield _read(source, vault, batch, first, seen)
            first += len(batch)

    use_fork = parallel if parallel is not None else can_fork()
    batches = forked(read, name="safetynet-ingest-reader") if use_fork else read()
    per_transaction = max(chunk_size // batch_size, 1)

    def store(session: Session) -> tuple[IngestResult, int]:
        """The next ``chunk_size`` records' batches, stored in this transaction; and how many records."""
        store_batch = _storer(session, source.code, received_at)
        result, records = IngestResult(), 0
        with _page_cache(session):
            for batch in islice(batches, per_transaction):
                result += store_batch(batch)
                records += batch.records
        return result, records

    total = IngestResult()
    with closing(batches), references_checked_by_caller(database) as run:
        while True:
            result, records = run(store)
            if not records:
                break
            total += result
            if progress is not None:
                progress(records)
    return replace(total, linked=database.run(link_unmatched))


def link_unmatched(session: Session, *, hashes: Iterable[str] | None = None) -> int:
    """Link unmatched signals to the members registered since with their identity number; returns how many.

    With ``hashes`` (the keyed hashes of, e.g., the members of a household just registered) only those
    people's signals are looked at, otherwise all unmatched signals are.
    """
    person = _members.c.id_number_hash == _signals.c.id_number_hash
    # Driven by the unmatched signals (their partial index), each looked up among the members: with
    # ``IN (SELECT … FROM members)`` SQLite would walk every member instead.
    statement = (
        update(_signals)
        .where(_signals.c.member_id.is_(None), exists().where(person))
        .values(
            member_id=select(_members.c.id).where(person).scalar_subquery(),
            household_id=select(_members.c.household_id).where(person).scalar_subquery(),
        )
    )
    if hashes is None:
        return session.execute(statement).rowcount
    wanted = sorted(set(hashes))
    if not wanted:
        return 0
    return session.execute(
        statement.where(_any_of(session.connection(), _signals.c.id_number_hash, wanted))
    ).rowcount


# -- one batch -------------------------------------------------------------------------------------

# A new record as both inserts take it: (record_id, kind, id_number_hash, occurred_on as ISO text,
# amount_fen, value, payload JSON text).
_Fresh = tuple[str, str, str, str, int | None, str | None, str]


@dataclass(frozen=True)
class _Read:
    """A batch of records read and validated, the identity numbers hashed; no database yet. Picklable."""

    records: int
    rejected: tuple[RecordError, ...]
    duplicates: int  # earlier in the input
    fresh: list[_Fresh]  # the records new in the input


def _read(
    source: DataSource, vault: IdentityVault, batch: Sequence[Any], first: int, seen: set[str]
) -> _Read:
    """Validate a batch with the source's parser and hash the identity numbers (no database)."""
    rejected: list[RecordError] = []
    readable: list[Mapping[str, Any]] = []
    positions: list[int] = []  # position in the batch of each readable record
    for offset, raw in enumerate(batch):
        if isinstance(raw, Mapping):
            readable.append(raw)
            positions.append(offset)
        elif isinstance(raw, Unreadable):
            rejected.append(RecordError(first + offset, raw.record_id, raw.message))
        else:
            rejected.append(
                RecordError(
                    first + offset,
                    None,
                    f"record must be an object with the fields {', '.join(source.fields)}; got {_json_kind(raw)}",
                )
            )
    parsed = source.parse(readable) if readable else ParsedRecords(signals=(), rejected=())
    rejected.extend(
        RecordError(first + positions[error.index], error.record_id, error.message)
        for error in parsed.rejected
    )
    duplicates = 0
    storable = []
    for local, signal in parsed.signals:
        problem = _unstorable(signal)
        if problem is not None:
            record_id = signal.record_id if isinstance(signal.record_id, str) else None
            rejected.append(RecordError(first + positions[local], record_id, problem))
        elif signal.record_id in seen:
            duplicates += 1
        else:
            seen.add(signal.record_id)
            storable.append(signal)
    hashes = vault.lookup_hashes([signal.id_number for signal in storable])
    fresh = [
        (
            s.record_id,
            s.kind,
            hashed,
            s.occurred_on.isoformat(),
            s.amount_fen,
            s.value,
            dumps(s.values) if s.values else "{}",
        )
        for s, hashed in zip(storable, hashes, strict=True)
    ]
    rejected.sort(key=lambda error: error.index)
    return _Read(records=len(batch), rejected=tuple(rejected), duplicates=duplicates, fresh=fresh)


def _unstorable(signal: Signal) -> str | None:
    """Why a parser's signal cannot be stored, or None (a guard against plugins' mistakes)."""
    record_id, kind, value = signal.record_id, signal.kind, signal.value
    if not isinstance(record_id, str) or not 0 < len(record_id) <= RECORD_ID_MAX:
        return f"recordId must be text of 1 to {RECORD_ID_MAX} characters"
    if not isinstance(signal.id_number, str) or not signal.id_number:
        return "the source's parser gave no identity number; expected the record's idNumber"
    if not isinstance(kind, str) or not 0 < len(kind) <= CODE_MAX:
        return f"the source's parser gave the kind {kind!r}; expected text of 1 to {CODE_MAX} characters"
    if value is not None and (not isinstance(value, str) or len(value) > CODE_MAX):
        return f"the source's parser gave the value {value!r}; expected text of at most {CODE_MAX} characters"
    if type(signal.occurred_on) is not date:
        return f"the source's parser gave the date {signal.occurred_on!r}; expected a date"
    amount = signal.amount_fen
    if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool) or abs(amount) >= 2**63):
        return f"the source's parser gave the amount {amount!r}; expected whole fen (64 bits)"
    return None


def _any_of(connection: Connection, column: ColumnElement[str], values: list[str]) -> ColumnElement[bool]:
    """``column IN (values)`` with one bound parameter however many values there are: a JSON array
    on SQLite, an array on PostgreSQL (no parameter limits, one compiled statement)."""
    if connection.dialect.name == "sqlite":
        listed = select(literal_column("value")).select_from(
            func.json_each(bindparam(None, json.dumps(values)))
        )
        return column.in_(listed)
    return column == any_(bindparam(None, values, type_=ARRAY(Text)))


# -- the bulk insert, per database -----------------------------------------------------------------

# PostgreSQL: one statement per batch over column arrays, which links each record to its member, skips
# the (source, recordId) pairs stored already and counts what it inserted: no look-up queries, whose
# plans would depend on the statistics of a table that grows under them.
_POSTGRES_INSERT = text(
    """
    WITH inserted AS (
        INSERT INTO signals (source, received_at, record_id, kind, id_number_hash, member_id, household_id,
                             occurred_on, amount_fen, value, payload)
        SELECT CAST(:source AS text), CAST(:received_at AS timestamptz), r.record_id, r.kind, r.id_number_hash,
               m.id, m.household_id, r.occurred_on, r.amount_fen, r.value, CAST(r.payload AS json)
        FROM unnest(CAST(:record_id AS text[]), CAST(:kind AS text[]), CAST(:id_number_hash AS text[]),
                    CAST(:occurred_on AS date[]), CAST(:amount_fen AS bigint[]), CAST(:value AS text[]),
                    CAST(:payload AS text[]))
             AS r(record_id, kind, id_number_hash, occurred_on, amount_fen, value, payload)
        LEFT JOIN members AS m ON m.id_number_hash = r.id_number_hash
        WHERE NOT EXISTS (SELECT FROM signals AS s WHERE s.source = :source AND s.record_id = r.record_id)
        ON CONFLICT (source, record_id) DO NOTHING
        RETURNING member_id
    )
    SELECT count(*), count(member_id) FROM inserted
    """
)
_READ_COLUMNS = ("record_id", "kind", "id_number_hash", "occurred_on", "amount_fen", "value", "payload")

# SQLite: the same in one statement per batch, the records given as one JSON array of arrays (RETURNING
# answers the rows inserted; ``?1``… are numbered parameters).
_SQLITE_INSERT = """
    INSERT INTO signals (source, received_at, record_id, kind, id_number_hash, member_id, household_id,
                         occurred_on, amount_fen, value, payload)
    SELECT ?1, ?2, json_extract(r.value, '$[0]'), json_extract(r.value, '$[1]'), json_extract(r.value, '$[2]'),
           m.id, m.household_id, json_extract(r.value, '$[3]'), json_extract(r.value, '$[4]'),
           json_extract(r.value, '$[5]'), json_extract(r.value, '$[6]')
    FROM json_each(?3) AS r
    LEFT JOIN members AS m ON m.id_number_hash = json_extract(r.value, '$[2]')
    WHERE NOT EXISTS (SELECT 1 FROM signals AS s WHERE s.source = ?1 AND s.record_id = json_extract(r.value, '$[0]'))
    ON CONFLICT (source, record_id) DO NOTHING
    RETURNING member_id
"""


def _storer(session: Session, source: str, received_at: datetime) -> Callable[[_Read], IngestResult]:
    """A function that stores a read batch as signals, linked to their members, and says what it did."""
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":

        def insert_postgres(fresh: list[_Fresh]) -> tuple[int, int]:
            columns = dict(zip(_READ_COLUMNS, map(list, zip(*fresh, strict=True)), strict=True))
            parameters = {"source": source, "received_at": received_at, **columns}
            inserted, matched = session.execute(_POSTGRES_INSERT, parameters).one()
            return inserted, matched

        return partial(_store, insert_postgres)
    if dialect.name == "sqlite":
        stamp = to_db(_signals, "received_at", dialect)(received_at)

        def insert_sqlite(fresh: list[_Fresh]) -> tuple[int, int]:
            parameters = (source, stamp, dumps(fresh))
            members = session.connection().exec_driver_sql(_SQLITE_INSERT, parameters).all()
            return len(members), sum(member_id is not None for (member_id,) in members)

        return partial(_store, insert_sqlite)
    raise NotImplementedError(f"ingest supports SQLite and PostgreSQL, not {dialect.name}")


def _store(insert: Callable[[list[_Fresh]], tuple[int, int]], read: _Read) -> IngestResult:
    """Insert a read batch's new records with ``insert`` (which says how many it inserted and how many
    of those it linked to a member); a record stored already, or meanwhile, counts as a duplicate."""
    inserted, matched = insert(read.fresh) if read.fresh else (0, 0)
    return IngestResult(
        accepted=inserted,
        duplicates=read.duplicates + len(read.fresh) - inserted,
        rejected=read.rejected,
        matched=matched,
    )


@contextmanager
def _page_cache(session: Session, kib: int = 65_536) -> Iterator[None]:
    """On SQLite, a page cache of at least ``kib`` KiB for this connection while ingesting (the signal
    indexes outgrow the 2 MiB default), then the connection's own setting again."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    connection = session.connection()
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
    page = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
    if (before * page // 1024 if before > 0 else -before) >= kib:
        yield
        return
    connection.exec_driver_sql(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


# -- helpers ---------------------------------------------------------------------------------------


def _batches(records: Iterable[Any], size: int) -> Iterator[Sequence[Any]]:
    if isinstance(records, Sequence):
        for start in range(0, len(records), size):
            yield records[start : start + size]
        return
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


def _json_kind(value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    return "null" if value is None else type(value).__name__
