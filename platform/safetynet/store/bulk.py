"""Bulk loading of trusted households (synthetic data, migrations from another system).

:func:`load_households` writes the same rows as :func:`safetynet.households.register_household` — households,
members (identity number encrypted, keyed hash, masked), incomes, assets and rigid expenses, all dated
from ``today`` — but a batch at a time: one transaction and a handful of multi-row ``INSERT`` statements
per batch (10,000 households by default), with ids assigned up front so members and incomes link to their
household without a round trip per row.

Every record is still validated as registration validates it: identity numbers with
:func:`~safetynet.identity.parse_id_number`, enum names, amounts, names, exactly one head, no person twice.
A record that fails is skipped and reported (:class:`Rejection`, with the reasons in registration's
words); the rest of its batch is loaded. A person already registered (in the database or earlier in the
input) makes their household skipped, as registering it would fail.

How it is fast:

* most records take a fast path (camelCase keys, names of enum members, ``"1234.00"`` amounts); anything
  else goes through the same :class:`~safetynet.households.Reader` checks as registration, which either
  accepts it or says what is wrong;
* records are read, validated, encrypted and hashed in a forked producer process while this process
  writes the previous batch, so the two use two cores (a producer thread would not: after each statement
  SQLite's writer waits for the GIL, up to the 5 ms switch interval). The batches come over a pipe,
  pickled (about 2 µs per household to unpickle). Without fork, or with ``parallel=False``, in turn;
* on SQLite, rows go in as multi-row ``INSERT … VALUES (…), (…)`` statements of up to 50 rows. Executing a
  statement evaluates the enum ``CHECK (… IN (…))`` constraints' lists once per execution, so 50 rows per
  statement is much faster than one row per execution (measured in memory: 67,000 → 112,000 member rows/s);
  the connection's page cache is raised for the load, since the identity-hash index outgrows the default;
* ids: on SQLite the next free ids (checked in the batch's write transaction, so a concurrent writer only
  causes a retry); on PostgreSQL ids reserved from the tables' sequences.

A batch that hits a unique identity hash already in the database (or a concurrent writer's ids) is rolled
back, the households of the people already registered are skipped, and the batch is written again.
"""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date
from enum import Enum
from itertools import chain, islice
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, text
from sqlalchemy import exc as sa_exc

from safetynet.errors import Problems, UserError
from safetynet.forked import forked
from safetynet.households import (
    CONTROL_CHARACTERS,
    MEMBER_DEFAULTS,
    MEMBER_FACTS,
    Reader,
    _check_locality,
    self_care_mask,
)
from safetynet.identity import IdentityVault, IdNumberError, parse_id_number
from safetynet.model import (
    AssetKind,
    DisabilityLevel,
    EducationStage,
    Employment,
    ExpenseKind,
    Illness,
    IncomeKind,
    LaborCapacity,
    Relation,
    Role,
    UrbanRural,
    yuan_to_fen,
)
from safetynet.principals import Principal
from safetynet.rules import LocalityCodeError, LocalityRegistry
from safetynet.rules.batch import SELF_CARE_INDICATORS
from safetynet.rules.hierarchy import check_code

from .db import Database
from .models import Asset, Household, Income, Member, RigidExpense
from .wal import checkpoint_all, checkpoints_aside

__all__ = ["BATCH_SIZE", "LoadSummary", "Rejection", "Unreadable", "load_households"]

BATCH_SIZE = 10_000
#: Rows per multi-row INSERT on SQLite (at most 999 variables per statement on old SQLite builds).
SQLITE_ROWS_PER_STATEMENT = 50
SQLITE_MAX_VARIABLES = 999
#: The SQLite page cache while loading (KiB): the identity-hash index of millions of members (about 220 MB
#: for a million households), whose pages are written in random order, stays in it.
SQLITE_CACHE_KIB = 1_048_576
_RETRIES = 5
_ADMIN = Principal(key_id=None, role=Role.ADMIN)

_households = Household.__table__
_members = Member.__table__
_incomes = Income.__table__
_assets = Asset.__table__
_expenses = RigidExpense.__table__

HOUSEHOLD_COLUMNS = ("id", "locality_code", "residence", "address", "version")
MEMBER_COLUMNS = (
    "id",
    "household_id",
    "name",
    "id_number_encrypted",
    "id_number_hash",
    "id_number_masked",
    "birth_date",
    "sex",
    "relation",
    "disability",
    "illness",
    "labor_capacity",
    "employment",
    "education_stage",
    "self_care_unable_mask",
)
INCOME_COLUMNS = ("household_id", "member_id", "kind", "monthly_amount_fen", "valid_from")
ASSET_COLUMNS = ("household_id", "kind", "value_fen", "valid_from")
EXPENSE_COLUMNS = ("household_id", "kind", "annual_amount_fen", "valid_from")

ALREADY_REGISTERED = "this person is already registered in a household; update that household instead"


@dataclass(frozen=True)
class Rejection:
    """A record that was not loaded: its position in the input (from 0) and why."""

    index: int
    reason: str


@dataclass(frozen=True)
class Unreadable:
    """Stands for an input record that could not even be read (e.g. a line that is not JSON)."""

    reason: str


@dataclass(frozen=True)
class LoadSummary:
    """What :func:`load_households` wrote, and the records it skipped."""

    households: int = 0
    members: int = 0
    incomes: int = 0
    assets: int = 0
    rigid_expenses: int = 0
    rejected: tuple[Rejection, ...] = ()

    @property
    def skipped(self) -> int:
        return len(self.rejected)

    @property
    def records(self) -> int:
        """Input records read: loaded households plus skipped ones."""
        return self.households + len(self.rejected)


# -- reading one household -----------------------------------------------------------------------


class _Slow(Exception):
    """The fast path cannot decide: read the record the way registration does."""


def _names(enum: type[Enum]) -> dict[str, str]:
    return {m.name: m.name for m in enum}


_RESIDENCE = _names(UrbanRural)
_RELATION = _names(Relation)
_DISABILITY = _names(DisabilityLevel)
_ILLNESS = _names(Illness)
_CAPACITY = _names(LaborCapacity)
_EMPLOYMENT = _names(Employment)
_STAGE = _names(EducationStage)
_INCOME = _names(IncomeKind)
_ASSET = _names(AssetKind)
_EXPENSE = _names(ExpenseKind)
_DEFAULT = {key: value.name for key, value in MEMBER_DEFAULTS.items()}
_HEAD = Relation.HEAD.name
_MONEY = re.compile(r"\d{1,13}\.\d\d")
_MAX_FEN = 10**14  # safetynet.model.money.MAX_YUAN in fen
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SELF_CARE_KEYS = tuple(enumerate(SELF_CARE_INDICATORS))

# A household ready to write: (locality, residence, address, members, assets, expenses), where a member
# is (name, identity number, birth date, sex, relation, disability, illness, labour capacity, employment,
# education stage, self-care mask, [(income kind, fen)]) and assets and expenses are [(kind, fen)].
_Member = tuple[str, str, date, str, str, str, str, str, str, str, int | None, list[tuple[str, int]]]
_Household = tuple[str, str, str | None, list[_Member], list[tuple[str, int]], list[tuple[str, int]]]


def _fen(value: Any) -> int:
    if value.__class__ is str and _MONEY.fullmatch(value):
        fen = int(value[:-3]) * 100 + int(value[-2:])
        if fen <= _MAX_FEN:
            return fen
    return yuan_to_fen(value)  # other spellings; MoneyError → the slow path says what is wrong


def _text(value: Any, limit: int) -> str | None:
    """Registration's text rule (stripped; empty → None); anything doubtful → the slow path."""
    if value is None:
        return None
    if value.__class__ is not str:
        raise _Slow
    value = value.strip()
    if len(value) > limit or CONTROL_CHARACTERS.search(value):
        raise _Slow
    return value or None


def _items(items: Any, kinds: dict[str, str], amount_key: str) -> list[tuple[str, int]]:
    if not items:
        return []
    return [(kinds[item["kind"]], _fen(item[amount_key])) for item in items]


class _Reader:
    """Turns input records into :data:`_Household` tuples, or reasons why not."""

    def __init__(self, localities: LocalityRegistry | None, today: date) -> None:
        self.localities = localities
        self.today = today
        self.known_localities: dict[Any, bool] = {}

    def read(self, record: Any) -> _Household | list[UserError]:
        if not isinstance(record, Mapping):
            reason = record.reason if isinstance(record, Unreadable) else "a household must be a JSON object"
            return [UserError((), reason, "INVALID")]
        try:
            return self._fast(record)
        except (_Slow, KeyError, TypeError, AttributeError, ValueError):
            return self._slow(record)

    def _fast(self, record: Mapping[str, Any]) -> _Household:
        locality = record["localityCode"]
        known = self.known_localities.get(locality)
        if known is None:
            known = self.known_localities[locality] = not self._locality_problems(locality)
        if not known:
            raise _Slow
        residence = _RESIDENCE[record["residence"]]
        address = _text(record.get("address"), 300)
        members_in = record["members"]
        if not members_in:
            raise _Slow
        today = self.today
        members: list[_Member] = []
        heads = 0
        numbers = set()
        for m in members_in:
            name = _text(m["name"], 100)
            number = m["idNumber"]
            if name is None or number.__class__ is not str:
                raise _Slow
            identity = parse_id_number(number, today=today)
            relation = _RELATION[m["relation"]]
            if relation is _HEAD:
                heads += 1
            care = m.get("selfCare")
            if care is None:
                mask = None
            else:
                mask = 0
                for bit, key in _SELF_CARE_KEYS:
                    able = care.get(key)
                    if able is False:
                        mask |= 1 << bit
                    elif able is not True:
                        raise _Slow
            value = m.get("disability")
            disability = _DEFAULT["disability"] if value is None else _DISABILITY[value]
            value = m.get("illness")
            illness = _DEFAULT["illness"] if value is None else _ILLNESS[value]
            value = m.get("laborCapacity")
            capacity = _DEFAULT["labor_capacity"] if value is None else _CAPACITY[value]
            value = m.get("employment")
            employment = _DEFAULT["employment"] if value is None else _EMPLOYMENT[value]
            value = m.get("educationStage")
            stage = _DEFAULT["education_stage"] if value is None else _STAGE[value]
            numbers.add(identity.number)
            members.append(
                (
                    name,
                    identity.number,
                    identity.birth_date,
                    identity.sex.name,
                    relation,
                    disability,
                    illness,
                    capacity,
                    employment,
                    stage,
                    mask,
                    _items(m.get("monthlyIncomes"), _INCOME, "monthlyAmount"),
                )
            )
        if heads != 1 or len(numbers) != len(members):
            raise _Slow
        assets = _items(record.get("assets"), _ASSET, "value")
        expenses = _items(record.get("rigidExpenses"), _EXPENSE, "annualAmount")
        return locality, residence, address, members, assets, expenses

    def _locality_problems(self, code: Any) -> list[UserError]:
        problems = Problems()
        if self.localities is not None:
            _check_locality(code, self.localities, _ADMIN, problems)
        else:
            try:
                check_code(code)
            except LocalityCodeError as exc:
                problems.add(("locality_code",), str(exc), "INVALID_LOCALITY")
        return problems.errors

    def _slow(self, record: Mapping[str, Any]) -> _Household | list[UserError]:
        """Read as :func:`~safetynet.households.register_household` does, with its messages."""
        data = _snake_keys(record)
        problems = Problems()
        read = Reader(problems)
        problems.errors.extend(self._locality_problems(data.get("locality_code")))
        residence = read.enum(data.get("residence"), UrbanRural, ("residence",))
        address = read.text(data.get("address"), ("address",), limit=300, required=False)
        members_in = data.get("members") or []
        if not isinstance(members_in, list) or not all(isinstance(m, Mapping) for m in members_in):
            problems.add(("members",), "must be a list of members", "INVALID")
            members_in = []
        elif not members_in:
            problems.add(("members",), "a household needs at least one member", "REQUIRED")
        members = [self._slow_member(m, ("members", i), read) for i, m in enumerate(members_in)]
        heads = [i for i, (relation, _, _) in enumerate(members) if relation is Relation.HEAD]
        if members_in and len(heads) != 1:
            problems.add(
                ("members",), f"exactly one member must be the HEAD (户主); found {len(heads)}", "ONE_HEAD"
            )
        seen: set[str] = set()
        for i, (_, number, _) in enumerate(members):
            if number and number in seen:
                problems.add(
                    ("members", i, "id_number"), "the same identity number appears twice", "DUPLICATE_PERSON"
                )
            seen.add(number or "")
        assets = read.amounts(data.get("assets"), AssetKind, "value", ("assets",))
        expenses = read.amounts(data.get("rigid_expenses"), ExpenseKind, "annual_amount", ("rigid_expenses",))
        if problems.errors:
            return problems.errors
        return (
            data["locality_code"],
            residence.name,
            address,
            [m for _, _, m in members if m is not None],
            [(k.name, f) for k, f in assets],
            [(k.name, f) for k, f in expenses],
        )

    def _slow_member(
        self, data: Mapping[str, Any], path: tuple[str | int, ...], read: Reader
    ) -> tuple[Relation | None, str | None, _Member | None]:
        """``safetynet.households._read_member``, keeping the number (encrypted later, with the batch):
        (the relation, the normalised identity number, the member if it has no problem)."""
        before = len(read.problems.errors)
        name = read.text(data.get("name"), (*path, "name"), limit=100)
        identity = None
        try:
            identity = parse_id_number(str(data.get("id_number") or ""), today=self.today)
        except IdNumberError as exc:
            read.problems.add((*path, "id_number"), str(exc), "INVALID_ID_NUMBER")
        relation = read.enum(data.get("relation"), Relation, (*path, "relation"))
        facts = {}
        for key, enum in MEMBER_FACTS.items():
            value = data.get(key)
            facts[key] = MEMBER_DEFAULTS[key] if value is None else read.enum(value, enum, (*path, key))
        mask = self_care_mask(data.get("self_care"), read, (*path, "self_care"))
        incomes = read.amounts(
            data.get("monthly_incomes"), IncomeKind, "monthly_amount", (*path, "monthly_incomes")
        )
        number = identity.number if identity is not None else None
        if len(read.problems.errors) > before or identity is None or name is None or relation is None:
            return relation, number, None
        member = (
            name,
            identity.number,
            identity.birth_date,
            identity.sex.name,
            relation.name,
            *(facts[key].name for key in MEMBER_FACTS),
            mask,
            [(k.name, f) for k, f in incomes],
        )
        return relation, number, member  # type: ignore[return-value]


def _snake_keys(value: Any) -> Any:
    """``{"idNumber": …}`` → ``{"id_number": …}``, recursively (as the CLI and the API hand data over)."""
    if isinstance(value, Mapping):
        return {_CAMEL_BOUNDARY.sub("_", str(k)).lower(): _snake_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_snake_keys(v) for v in value]
    return value


def _reason(errors: Sequence[UserError]) -> str:
    return "; ".join(f"{'.'.join(e.field)}: {e.message}" if e.field else e.message for e in errors)


# -- batches of rows -------------------------------------------------------------------------------


@dataclass
class _Batch:
    """One batch of households as rows, with provisional ids (see :func:`load_households`)."""

    records: int  # input records this batch covers, loaded or not
    rejected: list[Rejection]
    household_index: list[int]  # input index of each household row
    households: list[tuple[Any, ...]]  # HOUSEHOLD_COLUMNS
    members: list[tuple[Any, ...]]  # MEMBER_COLUMNS
    incomes: list[tuple[Any, ...]]  # INCOME_COLUMNS
    assets: list[tuple[Any, ...]]  # ASSET_COLUMNS
    expenses: list[tuple[Any, ...]]  # EXPENSE_COLUMNS
    first_household_id: int = 0
    first_member_id: int = 0

    def without(self, household_ids: set[int]) -> None:
        """Drop these households and everything of theirs (their ids are then simply unused)."""
        keep = [i for i, row in enumerate(self.households) if row[0] not in household_ids]
        self.household_index = [self.household_index[i] for i in keep]
        self.households = [self.households[i] for i in keep]
        self.members = [r for r in self.members if r[1] not in household_ids]
        self.incomes = [r for r in self.incomes if r[0] not in household_ids]
        self.assets = [r for r in self.assets if r[0] not in household_ids]
        self.expenses = [r for r in self.expenses if r[0] not in household_ids]

    def renumber(self, household_ids: Sequence[int], member_ids: Sequence[int]) -> None:
        """Give the households and members these ids (in row order) instead of the provisional ones."""
        h = {row[0]: new for row, new in zip(self.households, household_ids, strict=False)}
        m = {row[0]: new for row, new in zip(self.members, member_ids, strict=False)}
        self.households = [(h[r[0]], *r[1:]) for r in self.households]
        self.members = [(m[r[0]], h[r[1]], *r[2:]) for r in self.members]
        self.incomes = [(h[r[0]], m[r[1]], *r[2:]) for r in self.incomes]
        self.assets = [(h[r[0]], *r[1:]) for r in self.assets]
        self.expenses = [(h[r[0]], *r[1:]) for r in self.expenses]
        self.first_household_id = household_ids[0] if household_ids else 0
        self.first_member_id = member_ids[0] if member_ids else 0


class _Builder:
    """Reads records into batches of rows: validation, encryption and hashing of the identity numbers."""

    def __init__(
        self,
        reader: _Reader,
        vault: IdentityVault,
        today: date,
        *,
        iso_dates: bool,
        next_ids: tuple[int, int],
    ) -> None:
        self.reader = reader
        self.vault = vault
        self.iso_dates = iso_dates
        self.valid_from: Any = today.isoformat() if iso_dates else today
        self.next_household_id, self.next_member_id = next_ids
        self.index = 0

    def batch(self, records: Sequence[Any]) -> _Batch:
        rejected: list[Rejection] = []
        read: list[tuple[int, _Household]] = []
        seen: set[str] = set()
        for record in records:
            index = self.index
            self.index += 1
            household = self.reader.read(record)
            if isinstance(household, list):
                rejected.append(Rejection(index, _reason(household)))
                continue
            members = household[3]
            again = [i for i, m in enumerate(members) if m[1] in seen]
            if again:
                rejected.append(
                    Rejection(index, "; ".join(f"members.{i}.idNumber: {ALREADY_REGISTERED}" for i in again))
                )
                continue
            seen.update(m[1] for m in members)
            read.append((index, household))
        return self._rows(len(records), rejected, read)

    def _rows(self, count: int, rejected: list[Rejection], read: list[tuple[int, _Household]]) -> _Batch:
        vault = self.vault
        numbers = [m[1] for _, h in read for m in h[3]]
        encrypted = [vault.encrypt(n) for n in numbers]
        hashes = [vault.lookup_hash(n) for n in numbers]
        valid_from = self.valid_from
        iso = self.iso_dates
        first_h = h_id = self.next_household_id
        first_m = m_id = self.next_member_id
        households, members, incomes, assets, expenses = [], [], [], [], []
        j = 0
        for _, (locality, residence, address, people, owned, rigid) in read:
            households.append((h_id, locality, residence, address, 1))
            for name, number, birth, sex, relation, dis, ill, cap, emp, stage, mask, money in people:
                members.append(
                    (
                        m_id,
                        h_id,
                        name,
                        encrypted[j],
                        hashes[j],
                        number[:6] + "********" + number[-4:],  # mask_id_number of a normalised number
                        birth.isoformat() if iso else birth,
                        sex,
                        relation,
                        dis,
                        ill,
                        cap,
                        emp,
                        stage,
                        mask,
                    )
                )
                for kind, fen in money:
                    incomes.append((h_id, m_id, kind, fen, valid_from))
                m_id += 1
                j += 1
            for kind, fen in owned:
                assets.append((h_id, kind, fen, valid_from))
            for kind, fen in rigid:
                expenses.append((h_id, kind, fen, valid_from))
            h_id += 1
        self.next_household_id, self.next_member_id = h_id, m_id
        return _Batch(
            records=count,
            rejected=rejected,
            household_index=[index for index, _ in read],
            households=households,
            members=members,
            incomes=incomes,
            assets=assets,
            expenses=expenses,
            first_household_id=first_h,
            first_member_id=first_m,
        )


# -- writing ---------------------------------------------------------------------------------------


class _Writer:
    """Writes batches in their own transactions on one connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.sqlite = connection.dialect.name == "sqlite"
        self._statements: dict[tuple[str, int], str] = {}

    def next_ids(self) -> tuple[int, int]:
        """Where provisional ids start: after the largest ids in use."""
        c = self.connection
        households = c.scalar(select(func.max(_households.c.id))) or 0
        members = c.scalar(select(func.max(_members.c.id))) or 0
        if c.in_transaction():
            c.commit()
        return households + 1, members + 1

    def write(self, batch: _Batch) -> list[Rejection]:
        """Write the batch (rejecting the households of people already registered); returns those rejections."""
        rejected: list[Rejection] = []
        for attempt in range(_RETRIES):
            try:
                with self.connection.begin():
                    self._assign_ids(batch)
                    self._insert(batch)
                return rejected
            except sa_exc.IntegrityError:
                found = self._already_registered(batch)
                rejected.extend(found)
                # Nobody already registered: on SQLite a concurrent writer may have taken our ids (try again
                # with new ones); otherwise the error is not one this loader knows how to get around.
                if not found and (not self.sqlite or attempt == _RETRIES - 1):
                    raise
        return rejected

    def _assign_ids(self, batch: _Batch) -> None:
        c = self.connection
        n_h, n_m = len(batch.households), len(batch.members)
        if self.sqlite:
            # The batch's first statement is this read, so the ids are checked again after a retry; a writer
            # that slips in before our first INSERT makes it fail on the primary key, and we try again.
            top_h = c.scalar(select(func.max(_households.c.id))) or 0
            top_m = c.scalar(select(func.max(_members.c.id))) or 0
            if batch.first_household_id > top_h and batch.first_member_id > top_m:
                return
            batch.renumber(range(top_h + 1, top_h + 1 + n_h), range(top_m + 1, top_m + 1 + n_m))
            return
        batch.renumber(self._reserve("households", n_h), self._reserve("members", n_m))

    def _reserve(self, table: str, n: int) -> list[int]:
        if not n:
            return []
        return list(
            self.connection.scalars(
                text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"),
                {"n": n},
            )
        )

    def _insert(self, batch: _Batch) -> None:
        for table, columns, rows in (
            (_households, HOUSEHOLD_COLUMNS, batch.households),
            (_members, MEMBER_COLUMNS, batch.members),
            (_incomes, INCOME_COLUMNS, batch.incomes),
            (_assets, ASSET_COLUMNS, batch.assets),
            (_expenses, EXPENSE_COLUMNS, batch.expenses),
        ):
            if not rows:
                continue
            if self.sqlite:
                self._insert_sqlite(table.name, columns, rows)
            else:
                self.connection.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])

    def _insert_sqlite(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        per = max(1, min(SQLITE_ROWS_PER_STATEMENT, SQLITE_MAX_VARIABLES // len(columns)))
        whole = len(rows) - len(rows) % per
        if whole:
            flat = chain.from_iterable
            self.connection.exec_driver_sql(
                self._statement(table, columns, per),
                [tuple(flat(rows[i : i + per])) for i in range(0, whole, per)],
            )
        if whole < len(rows):
            rest = rows[whole:]
            self.connection.exec_driver_sql(
                self._statement(table, columns, len(rest)), tuple(chain.from_iterable(rest))
            )

    def _statement(self, table: str, columns: Sequence[str], rows: int) -> str:
        key = (table, rows)
        statement = self._statements.get(key)
        if statement is None:
            values = "(" + ", ".join("?" * len(columns)) + ")"
            statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([values] * rows)
            self._statements[key] = statement
        return statement

    def _already_registered(self, batch: _Batch) -> list[Rejection]:
        """The households with a person whose identity hash is already stored; dropped from the batch."""
        hashes = [row[4] for row in batch.members]
        stored: set[str] = set()
        query = select(_members.c.id_number_hash).where(
            _members.c.id_number_hash.in_(bindparam("h", expanding=True))
        )
        with self.connection.begin():
            for i in range(0, len(hashes), 500):
                stored.update(self.connection.scalars(query, {"h": hashes[i : i + 500]}))
        if not stored:
            return []
        positions: dict[int, list[int]] = {}
        for row in batch.members:
            positions.setdefault(row[1], []).append(row[0])
        bad: dict[int, list[int]] = {}
        for row in batch.members:
            if row[4] in stored:
                bad.setdefault(row[1], []).append(positions[row[1]].index(row[0]))
        index_of = {row[0]: index for row, index in zip(batch.households, batch.household_index, strict=True)}
        batch.without(set(bad))
        return [
            Rejection(index_of[h], "; ".join(f"members.{i}.idNumber: {ALREADY_REGISTERED}" for i in members))
            for h, members in bad.items()
        ]


@contextmanager
def _page_cache(connection: Connection, kib: int) -> Iterator[None]:
    """On SQLite, a page cache of at least ``kib`` KiB for this connection while loading."""
    if connection.dialect.name != "sqlite":
        yield
        return
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


# -- the pipeline ----------------------------------------------------------------------------------


def load_households(
    database: Database,
    vault: IdentityVault,
    records: Iterable[Any],
    *,
    today: date,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    localities: LocalityRegistry | None = None,
    parallel: bool | None = None,
) -> LoadSummary:
    """Load ``records`` (``RegisterHouseholdInput`` JSON objects, camelCase as ``safetynet generate``
    writes them; snake_case works too) as registered on ``today``; see the module docstring.

    ``localities``: when given, locality codes must be under a configured locality, as for registration
    (otherwise any well-formed code is accepted). ``progress(n)`` is called after each committed batch with
    the number of records it covered. Each batch is committed on its own: when a database error stops the
    load, the batches before it stay loaded.

    ``parallel`` (default: where the platform can fork): read, validate and encrypt in a forked producer
    process while this one writes. The producer consumes ``records`` (its copy of the iterator, e.g. a
    generator reading a file), so ``records`` must not depend on this process's threads or connections;
    pass ``parallel=False`` for such iterables.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if parallel is None:
        parallel = "fork" in multiprocessing.get_all_start_methods()
    with database.engine.connect() as connection, _page_cache(connection, SQLITE_CACHE_KIB):
        writer = _Writer(connection)
        builder = _Builder(
            _Reader(localities, today),
            vault,
            today,
            iso_dates=writer.sqlite,
            next_ids=writer.next_ids(),
        )
        totals = dict.fromkeys(("households", "members", "incomes", "assets", "rigid_expenses"), 0)
        rejected: list[Rejection] = []
        batches = (
            forked(lambda: _in_process(builder, records, batch_size), name="safetynet-load-producer")
            if parallel
            else _in_process(builder, records, batch_size)
        )
        with closing(batches), checkpoints_aside(database, connection) if parallel else nullcontext():
            for batch in batches:
                rejected.extend(batch.rejected)
                rejected.extend(writer.write(batch))
                totals["households"] += len(batch.households)
                totals["members"] += len(batch.members)
                totals["incomes"] += len(batch.incomes)
                totals["assets"] += len(batch.assets)
                totals["rigid_expenses"] += len(batch.expenses)
                if progress is not None:
                    progress(batch.records)
        checkpoint_all(connection)
    rejected.sort(key=lambda r: r.index)
    return LoadSummary(**totals, rejected=tuple(rejected))


def _in_process(builder: _Builder, records: Iterable[Any], batch_size: int) -> Iterator[_Batch]:
    iterator = iter(records)
    while chunk := list(islice(iterator, batch_size)):
        yield builder.batch(chunk)
