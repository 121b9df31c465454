"""Read households as of a date into a columnar :class:`~safetynet.rules.HouseholdBatch`.

One query per table (households, members, incomes, assets, expenses, aid), whatever the batch size;
enum columns are read as text and turned into small-integer codes with NumPy, not row by row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from enum import Enum

import numpy as np
from sqlalchemy import ColumnElement, String, and_, case, func, or_, select, type_coerce
from sqlalchemy.orm import Session

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


def _codes(values: Sequence[str], enum: type[Enum]) -> np.ndarray:
    names = np.asarray(values, dtype=object)
    lookup = {m.name: i for i, m in enumerate(enum)}
    uniques, inverse = (
        np.unique(names.astype(str), return_inverse=True) if len(names) else (np.array([]), names)
    )
    table = np.array([lookup[str(u)] for u in uniques], dtype=np.int8)
    return table[inverse] if len(names) else np.zeros(0, dtype=np.int8)


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
    """The households matching ``where`` (see :func:`household_filter`), as of ``as_of``, ordered by id."""
    rows = session.execute(
        select(Household.id, Household.locality_code, type_coerce(Household.residence, String))
        .where(where)
        .order_by(Household.id)
    ).all()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    h = len(ids)
    in_batch = select(Household.id).where(where)

    members = session.execute(
        select(
            Member.household_id,
            Member.id,
            Member.birth_date,
            type_coerce(Member.sex, String),
            type_coerce(Member.relation, String),
            type_coerce(Member.disability, String),
            type_coerce(Member.illness, String),
            type_coerce(Member.labor_capacity, String),
            type_coerce(Member.employment, String),
            type_coerce(Member.education_stage, String),
            Member.self_care_unable_mask,
        )
        .where(Member.household_id.in_(in_batch))
        .where(or_(Member.deceased_on.is_(None), Member.deceased_on > as_of))
        .order_by(Member.household_id, Member.id)
    ).all()
    cols = list(zip(*members, strict=True)) if members else [()] * 11
    member_ids = np.asarray(cols[1], dtype=np.int64)
    masks = np.asarray([-1 if m is None else m for m in cols[10]], dtype=np.int16)
    unable = np.where(masks < 0, -1, np.bitwise_count(np.maximum(masks, 0).astype(np.uint8))).astype(np.int8)

    earned = [k.name for k in EARNED_INCOME]
    incomes = session.execute(
        select(
            Income.member_id,
            func.sum(Income.monthly_amount_fen),
            func.sum(
                case((type_coerce(Income.kind, String).in_(earned), Income.monthly_amount_fen), else_=0)
            ),
        )
        .where(Income.household_id.in_(in_batch))
        .where(_in_force(Income.valid_from, Income.valid_to, as_of))
        .group_by(Income.member_id)
    ).all()
    member_position = {int(m): i for i, m in enumerate(member_ids)}
    income_total = np.zeros(len(member_ids), dtype=np.int64)
    income_earned = np.zeros(len(member_ids), dtype=np.int64)
    for member_id, total, earned_total in incomes:
        i = member_position.get(member_id)
        if i is not None:
            income_total[i] = total or 0
            income_earned[i] = earned_total or 0

    index_of = {int(x): i for i, x in enumerate(ids)}
    batch = HouseholdBatch(
        as_of=as_of,
        household_id=ids,
        locality_code=np.asarray([r[1] for r in rows], dtype="<U12"),
        urban=np.asarray([r[2] == UrbanRural.URBAN.name for r in rows], dtype=bool),
        members=MemberColumns(
            household_index=np.asarray([index_of[int(x)] for x in cols[0]], dtype=np.int32),
            member_id=member_ids,
            age=ages_on(np.asarray(cols[2], dtype="datetime64[D]"), as_of),
            sex=_codes(cols[3], Sex),
            relation=_codes(cols[4], Relation),
            disability=_codes(cols[5], DisabilityLevel),
            illness=_codes(cols[6], Illness),
            labor_capacity=_codes(cols[7], LaborCapacity),
            employment=_codes(cols[8], Employment),
            education_stage=_codes(cols[9], EducationStage),
            self_care_unable=unable,
            monthly_income_fen=income_total,
            earned_income_fen=income_earned,
        ),
    )
    for model, amount, target, enum in (
        (Asset, Asset.value_fen, batch.assets_fen, AssetKind),
        (RigidExpense, RigidExpense.annual_amount_fen, batch.rigid_expense_annual_fen, ExpenseKind),
    ):
        for household_id, kind, total in session.execute(
            select(model.household_id, type_coerce(model.kind, String), func.sum(amount))
            .where(model.household_id.in_(in_batch))
            .where(_in_force(model.valid_from, model.valid_to, as_of))
            .group_by(model.household_id, model.kind)
        ):
            column = target.setdefault(enum[kind], np.zeros(h, dtype=np.int64))
            column[index_of[int(household_id)]] = total
    for household_id, code, started_on in session.execute(
        select(AidRecord.household_id, AidRecord.aid_type_code, func.min(AidRecord.started_on))
        .where(AidRecord.household_id.in_(in_batch))
        .where(_in_force(AidRecord.started_on, AidRecord.ended_on, as_of))
        .group_by(AidRecord.household_id, AidRecord.aid_type_code)
    ):
        i = index_of[int(household_id)]
        batch.active_aid.setdefault(code, np.zeros(h, dtype=bool))[i] = True
        batch.aid_started_on.setdefault(code, np.full(h, np.datetime64("NaT"), dtype="datetime64[D]"))[i] = started_on
    batch.signals = _signals(session, in_batch, index_of, as_of)
    batch.income_changed_on = np.full(h, np.datetime64("NaT"), dtype="datetime64[D]")
    for household_id, changed_on in session.execute(
        select(Income.household_id, func.max(Income.valid_from))
        .where(Income.household_id.in_(in_batch))
        .where(_in_force(Income.valid_from, Income.valid_to, as_of))
        .group_by(Income.household_id)
    ):
        batch.income_changed_on[index_of[int(household_id)]] = changed_on
    return batch


def _signals(session: Session, in_batch, index_of: dict[int, int], as_of: date) -> SignalColumns:  # type: ignore[no-untyped-def]
    rows = session.execute(
        select(
            SignalRow.household_id,
            SignalRow.member_id,
            SignalRow.source,
            SignalRow.kind,
            SignalRow.occurred_on,
            SignalRow.amount_fen,
            SignalRow.value,
        )
        .where(SignalRow.household_id.in_(in_batch))
        .where(SignalRow.occurred_on <= as_of, SignalRow.occurred_on > as_of - timedelta(days=SIGNAL_LOOKBACK_DAYS))
    ).all()
    if not rows:
        return SignalColumns.empty()
    cols = list(zip(*rows, strict=True))
    return SignalColumns(
        household_index=np.asarray([index_of[int(h)] for h in cols[0]], dtype=np.int32),
        member_id=np.asarray([m or 0 for m in cols[1]], dtype=np.int64),
        source=np.asarray(cols[2], dtype="<U32"),
        kind=np.asarray(cols[3], dtype="<U32"),
        occurred_on=np.asarray(cols[4], dtype="datetime64[D]"),
        amount_fen=np.asarray([a or 0 for a in cols[5]], dtype=np.int64),
        value=np.asarray([v or "" for v in cols[6]], dtype="<U32"),
    )
