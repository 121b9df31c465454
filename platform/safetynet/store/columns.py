"""Read households as of a date into a columnar :class:`~safetynet.rules.HouseholdBatch`.

One query per table (households, members, incomes, assets, expenses, aid, signals), whatever the batch
size. The database computes what would otherwise cost a Python step per row (enum names → small-integer
codes, dates → day numbers, NULL → defaults), rows are fetched as the driver's plain tuples, and NumPy
turns them into columns and does the per-member and per-household sums.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from enum import Enum
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from safetynet.applications.overdue import deadline_columns
from safetynet.model import (
    AssetKind,
    DisabilityLevel,
    EducationStage,
    Employment,
    ExpenseKind,
    Illness,
    LaborCapacity,
    Relation,
    Sex,
    UrbanRural,
)
from safetynet.rules import EARNED_INCOME, SIGNAL_LOOKBACK_DAYS, HouseholdBatch, MemberColumns, SignalColumns

from .models import AidRecord, Asset, Household, Income, Member, RigidExpense, SignalRow
from .rows import fetch_rows


def household_filter(
    *, household_ids: Sequence[int] | None = None, id_range: tuple[int, int] | None = None, prefix: str = ""
) -> ColumnElement[bool]:
    """Which households a batch holds: given ids, an inclusive id range, and/or a locality-code prefix."""
    conditions: list[ColumnElement[bool]] = []
    if household_ids is not None:
        conditions.append(Household.id.in_(list(household_ids)))
    if id_range is not None:
        conditions.append(Household.id.between(*id_range))
    if prefix:
        conditions.append(Household.locality_code.startswith(prefix, autoescape=True))
    return and_(True, *conditions)


def _in_force(valid_from, valid_to, day: date) -> ColumnElement[bool]:  # type: ignore[no-untyped-def]
    return and_(valid_from <= day, or_(valid_to.is_(None), valid_to > day))


def _code(column: Any, enum: type[Enum]) -> ColumnElement[int]:
    """The enum column's small-integer code (its position in the enum), computed by the database: the
    rows then carry small integers instead of text, and no Python code looks at each value."""
    return case(*((type_coerce(column, String) == member.name, i) for i, member in enumerate(enum)), else_=-1)


def _checked(codes: np.ndarray, enum: type[Enum]) -> np.ndarray:
    if len(codes) and codes.min() < 0:
        raise KeyError(f"a stored {enum.__name__} value is not one of {', '.join(m.name for m in enum)}")
    return codes.astype(np.int8)


def _day_number(value: Any, dialect: str) -> ColumnElement[int]:
    """A date as days since 1970-01-01 (NumPy's ``datetime64[D]``), computed by the database, so that
    whole rows are integers and become an array in one NumPy call."""
    if dialect == "sqlite":
        return cast(func.julianday(value) - 2440587.5, Integer)
    if dialect == "postgresql":
        return value - literal(date(1970, 1, 1), Date)
    raise NotImplementedError(f"load_batch supports SQLite and PostgreSQL, not {dialect}")


#: A missing date as a day number: NumPy's NaT (the smallest int64).
_NO_DAY = int(np.iinfo(np.int64).min)


def _days(values: Sequence[Any]) -> np.ndarray:
    """Dates as read (ISO text on SQLite, ``date`` objects on PostgreSQL) → ``datetime64[D]``."""
    return np.array(values, dtype="datetime64[D]") if len(values) else np.zeros(0, dtype="datetime64[D]")


def _positions(ids: np.ndarray, household_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For child rows' household ids: (which rows belong to the batch, their households' rows in it)."""
    where = np.searchsorted(ids, household_ids)
    where[where >= len(ids)] = 0
    return (ids[where] == household_ids) if len(ids) else np.zeros(len(household_ids), dtype=bool), where


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[tuple[Any, ...]]:
    """Rows → one tuple per column (``zip`` in C; NumPy fed the rows themselves would probe each row
    object for array interfaces, which costs more than the query)."""
    return list(zip(*rows, strict=True)) if rows else [()] * width


def ages_on(birth_dates: np.ndarray, day: date) -> np.ndarray:
    """Whole years of age on ``day`` for an array of ``datetime64[D]`` birth dates."""
    births = birth_dates.astype("datetime64[D]")
    years = births.astype("datetime64[Y]").astype(np.int64) + 1970
    # Compare (month, day) rather than day of year, so leap years do not shift birthdays.
    months = births.astype("datetime64[M]").astype(np.int64) % 12
    days = (births - births.astype("datetime64[M]")).astype(np.int64)
    not_yet = (months > day.month - 1) | ((months == day.month - 1) & (days > day.day - 1))
    return (day.year - years - not_yet).astype(np.int16)


def load_batch(session: Session, as_of: date, where: ColumnElement[bool]) -> HouseholdBatch:
    """The households matching ``where`` (see :func:`household_filter`), as of ``as_of``, ordered by id.

    One query per table. The households come first; the child tables are then read for the batch's id
    range (``household_id BETWEEN first AND last``, a range scan of their household index) and the rows
    of households outside the batch dropped with NumPy, unless the batch is sparse in its range (e.g. a
    locality's households among others, or a list of ids), when they are read with ``household_id IN
    (SELECT id FROM households WHERE …)``. Enums come back as codes and dates as day numbers; the rows
    become columns without a Python loop over them.
    """
    connection = session.connection()
    dialect = connection.dialect.name
    rows = fetch_rows(
        connection,
        select(
            Household.id,
            Household.locality_code,
            type_coerce(Household.residence, String),
            func.coalesce(_day_number(Household.last_reviewed_on, dialect), _NO_DAY),
        )
        .where(where)
        .order_by(Household.id),
    )
    h = len(rows)
    cols = _columns(rows, 4)
    ids = np.array(cols[0], dtype=np.int64)
    if h and (h == 1 or h * 2 >= int(ids[-1] - ids[0]) + 1):

        def in_batch(column: Any) -> ColumnElement[bool]:
            return column.between(int(ids[0]), int(ids[-1]))

    else:
        subquery = select(Household.id).where(where)

        def in_batch(column: Any) -> ColumnElement[bool]:
            return column.in_(subquery)

    members = fetch_rows(
        connection,
        select(
            Member.household_id,
            Member.id,
            _code(Member.sex, Sex),
            _code(Member.relation, Relation),
            _code(Member.disability, DisabilityLevel),
            _code(Member.illness, Illness),
            _code(Member.labor_capacity, LaborCapacity),
            _code(Member.employment, Employment),
            _code(Member.education_stage, EducationStage),
            func.coalesce(Member.self_care_unable_mask, -1),
            _day_number(Member.birth_date, dialect),
        )
        .where(in_batch(Member.household_id))
        .where(or_(Member.deceased_on.is_(None), Member.deceased_on > as_of))
        .order_by(Member.household_id, Member.id),
    )
    numbers = np.array(members, dtype=np.int64).reshape(len(members), 11)
    births = numbers[:, 10].astype("datetime64[D]")
    keep, household_index = _positions(ids, numbers[:, 0])
    if not keep.all():
        numbers, births, household_index = numbers[keep], births[keep], household_index[keep]
    member_ids = numbers[:, 1].copy()
    masks = numbers[:, 9]
    unable = np.where(masks < 0, -1, np.bitwise_count(np.maximum(masks, 0).astype(np.uint8))).astype(np.int8)

    # Incomes in force, row by row (summing in the database would sort them first): totals and earned
    # parts summed per living member of the batch, starts maxed per household (its last income change).
    earned = [k.name for k in EARNED_INCOME]
    incomes = fetch_rows(
        connection,
        select(
            Income.household_id,
            Income.member_id,
            Income.monthly_amount_fen,
            case((type_coerce(Income.kind, String).in_(earned), Income.monthly_amount_fen), else_=0),
            _day_number(Income.valid_from, dialect),
        )
        .where(in_batch(Income.household_id))
        .where(_in_force(Income.valid_from, Income.valid_to, as_of)),
    )
    income = np.array(incomes, dtype=np.int64).reshape(len(incomes), 5)
    changed = income[:, 4].astype("datetime64[D]")
    in_households, income_household = _positions(ids, income[:, 0])
    income_total = np.zeros(len(member_ids), dtype=np.int64)
    income_earned = np.zeros(len(member_ids), dtype=np.int64)
    if len(member_ids) and len(income):
        order = np.argsort(member_ids, kind="stable")
        found = np.searchsorted(member_ids, income[:, 1], sorter=order)
        found[found >= len(order)] = 0
        position = order[found]
        living = (member_ids[position] == income[:, 1]) & in_households
        np.add.at(income_total, position[living], income[living, 2])
        np.add.at(income_earned, position[living], income[living, 3])

    batch = HouseholdBatch(
        as_of=as_of,
        household_id=ids,
        locality_code=np.array(cols[1], dtype="<U12") if h else np.zeros(0, dtype="<U12"),
        urban=np.array(cols[2], dtype=object) == UrbanRural.URBAN.name if h else np.zeros(0, dtype=bool),
        last_reviewed_on=np.array(cols[3], dtype=np.int64).view("datetime64[D]"),
        members=MemberColumns(
            household_index=household_index.astype(np.int32),
            member_id=member_ids,
            age=ages_on(births, as_of),
            sex=_checked(numbers[:, 2], Sex),
            relation=_checked(numbers[:, 3], Relation),
            disability=_checked(numbers[:, 4], DisabilityLevel),
            illness=_checked(numbers[:, 5], Illness),
            labor_capacity=_checked(numbers[:, 6], LaborCapacity),
            employment=_checked(numbers[:, 7], Employment),
            education_stage=_checked(numbers[:, 8], EducationStage),
            self_care_unable=unable,
            monthly_income_fen=income_total,
            earned_income_fen=income_earned,
        ),
    )
    for model, amount, target, enum in (
        (Asset, Asset.value_fen, batch.assets_fen, AssetKind),
        (RigidExpense, RigidExpense.annual_amount_fen, batch.rigid_expense_annual_fen, ExpenseKind),
    ):
        items = fetch_rows(
            connection,
            select(model.household_id, _code(model.kind, enum), amount)
            .where(in_batch(model.household_id))
            .where(_in_force(model.valid_from, model.valid_to, as_of)),
        )
        table = np.array(items, dtype=np.int64).reshape(len(items), 3)
        inside, index = _positions(ids, table[:, 0])
        table, index = table[inside], index[inside]
        kinds = _checked(table[:, 1], enum)
        members_of_enum = list(enum)
        # the columns in the order a GROUP BY household, kind would first meet them (as before)
        by_name = np.argsort(np.argsort([m.name for m in members_of_enum]))
        ordered = kinds[np.lexsort((by_name[kinds], index))]
        _, first = np.unique(ordered, return_index=True)
        for code in ordered[np.sort(first)]:
            rows_of_kind = kinds == code
            column = target.setdefault(members_of_enum[code], np.zeros(h, dtype=np.int64))
            np.add.at(column, index[rows_of_kind], table[rows_of_kind, 2])

    aid = fetch_rows(
        connection,
        select(
            AidRecord.household_id,
            AidRecord.aid_type_code,
            type_coerce(func.min(AidRecord.started_on), String),
        )
        .where(in_batch(AidRecord.household_id))
        .where(_in_force(AidRecord.started_on, AidRecord.ended_on, as_of))
        .group_by(AidRecord.household_id, AidRecord.aid_type_code),
    )
    if aid:
        aid_cols = _columns(aid, 3)
        inside, index = _positions(ids, np.array(aid_cols[0], dtype=np.int64))
        codes = np.array(aid_cols[1], dtype=object)[inside]
        started = _days(aid_cols[2])[inside]
        index = index[inside]
        for code in dict.fromkeys(codes.tolist()):
            rows_of_code = codes == code
            batch.active_aid.setdefault(code, np.zeros(h, dtype=bool))[index[rows_of_code]] = True
            batch.aid_started_on.setdefault(code, np.full(h, np.datetime64("NaT"), dtype="datetime64[D]"))[
                index[rows_of_code]
            ] = started[rows_of_code]
    batch.signals = _signals(connection, in_batch, ids, as_of)
    batch.application_id, batch.application_due_on = deadline_columns(connection, in_batch, ids, as_of)
    # the latest start per household (NaT, the smallest datetime64, where there is no income)
    latest = np.full(h, np.datetime64("NaT"), dtype="datetime64[D]").view(np.int64)
    np.maximum.at(latest, income_household[in_households], changed[in_households].view(np.int64))
    batch.income_changed_on = latest.view("datetime64[D]")
    return batch


def _signals(connection: Any, in_batch: Any, ids: np.ndarray, as_of: date) -> SignalColumns:
    rows = fetch_rows(
        connection,
        select(
            SignalRow.household_id,
            func.coalesce(SignalRow.member_id, 0),
            SignalRow.source,
            SignalRow.kind,
            type_coerce(SignalRow.occurred_on, String),
            func.coalesce(SignalRow.amount_fen, 0),
            func.coalesce(SignalRow.value, ""),
        )
        .where(in_batch(SignalRow.household_id))
        .where(
            SignalRow.occurred_on <= as_of,
            SignalRow.occurred_on > as_of - timedelta(days=SIGNAL_LOOKBACK_DAYS),
        )
        .order_by(SignalRow.household_id, SignalRow.id),
    )
    if not rows:
        return SignalColumns.empty()
    cols = _columns(rows, 7)
    inside, index = _positions(ids, np.array(cols[0], dtype=np.int64))
    if not inside.any():
        return SignalColumns.empty()
    return SignalColumns(
        household_index=index[inside].astype(np.int32),
        member_id=np.array(cols[1], dtype=np.int64)[inside],
        source=np.array(cols[2], dtype="<U32")[inside],
        kind=np.array(cols[3], dtype="<U32")[inside],
        occurred_on=_days(cols[4])[inside],
        amount_fen=np.array(cols[5], dtype=np.int64)[inside],
        value=np.array(cols[6], dtype="<U32")[inside],
    )
