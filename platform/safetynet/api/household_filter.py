"""``HouseholdFilter.categories`` and ``HouseholdFilter.circle`` as SQL conditions on ``households``.

They follow the fields. ``Household.categories`` (:func:`.loaders.current_categories`) is the latest
sweep's record — the open ``household_categories`` rows — plus RETURN_POVERTY_WATCH from the
rural-revitalisation signals; a household never swept is assessed live instead. So:

* a swept household is matched in SQL: its open category rows, and the watch as an SQL condition on the
  latest WATCH_START / WATCH_END signal of each member (the loader's rule);
* the never-swept households among those the other filters leave (no category row, and no sweep batch
  reached them: :func:`safetynet.monitoring.sweep.swept_households`) are few once sweeps run — those
  registered since the last one. Their categories come from the field's own function, in chunks, and
  enter the SQL as a list of ids.

``HouseholdFilter.circle`` compares :func:`safetynet.circles.circle_expression` — the expression the
field evaluates — fed with the same categories.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import ColumnElement, and_, bindparam, exists, or_, select
from sqlalchemy.orm import Session, aliased

from safetynet.circles import COVERED_CATEGORIES, Circle, circle_expression
from safetynet.model import LowIncomeCategory
from safetynet.monitoring.sweep import swept_households
from safetynet.store.models import Household as HouseholdRow
from safetynet.store.models import HouseholdCategory, SignalRow

from .context import Context
from .loaders import WATCH_KINDS, WATCH_SOURCE, current_categories

#: Never-swept households are assessed this many at a time.
LIVE_CHUNK = 2000
WATCH = LowIncomeCategory.RETURN_POVERTY_WATCH


async def category_and_circle_conditions(
    ctx: Context,
    base: Sequence[ColumnElement[bool]],
    categories: Iterable[LowIncomeCategory] | None,
    circle: Circle | None,
) -> list[ColumnElement[bool]]:
    """Conditions for households in any of ``categories`` and in ``circle`` (None: not filtered), among
    the households ``base`` selects."""
    if categories is None and circle is None:
        return []
    live = await _never_swept_categories(ctx, base)
    conditions = []
    if categories is not None:
        wanted = set(categories)
        swept_match = _recorded(wanted - {WATCH})
        if WATCH in wanted:  # for a never-swept household this agrees with its live categories too
            swept_match = or_(swept_match, _watched(ctx.runtime.today()))
        conditions.append(or_(swept_match, _ids_in(h for h, found in live.items() if wanted & found)))
    if circle is not None:
        covered = or_(
            _recorded(COVERED_CATEGORIES),
            _ids_in(h for h, found in live.items() if COVERED_CATEGORIES & found),
        )
        conditions.append(
            circle_expression(ctx.runtime.catalogue, ctx.runtime.today(), covered) == circle.value
        )
    return conditions


async def _never_swept_categories(
    ctx: Context, base: Sequence[ColumnElement[bool]]
) -> dict[int, set[LowIncomeCategory]]:
    """Household.categories of the never-swept households among ``base`` (as the field decides them)."""

    def never_swept(session: Session) -> list[int]:
        unrecorded = (
            select(HouseholdRow.id).where(*base, ~_recorded(LowIncomeCategory)).order_by(HouseholdRow.id)
        )
        ids = list(session.scalars(unrecorded))
        swept = swept_households(session, ids)
        return [h for h in ids if h not in swept]

    ids = await ctx.read(never_swept)
    found: dict[int, set[LowIncomeCategory]] = {}
    for start in range(0, len(ids), LIVE_CHUNK):
        chunk = ids[start : start + LIVE_CHUNK]
        found.update(zip(chunk, map(set, await current_categories(ctx, chunk)), strict=True))
    return found


def _recorded(categories: Iterable[LowIncomeCategory]) -> ColumnElement[bool]:
    """The household has an open ``household_categories`` row of one of ``categories``."""
    wanted = set(categories)
    return exists(
        select(HouseholdCategory.id).where(
            HouseholdCategory.household_id == HouseholdRow.id,
            HouseholdCategory.until.is_(None),
            HouseholdCategory.category.in_([c for c in LowIncomeCategory if c in wanted]),
        )
    )


def _watched(today: date) -> ColumnElement[bool]:
    """A member's latest watch signal up to ``today`` (by date, then id) is WATCH_START."""
    start, later = aliased(SignalRow), aliased(SignalRow)
    superseded = exists(
        select(later.id).where(
            later.household_id == start.household_id,
            later.id_number_hash == start.id_number_hash,
            later.source == WATCH_SOURCE,
            later.kind.in_(WATCH_KINDS),
            later.occurred_on <= today,
            or_(
                later.occurred_on > start.occurred_on,
                and_(later.occurred_on == start.occurred_on, later.id > start.id),
            ),
        )
    )
    return exists(
        select(start.id).where(
            start.household_id == HouseholdRow.id,
            start.source == WATCH_SOURCE,
            start.kind == "WATCH_START",
            start.occurred_on <= today,
            ~superseded,
        )
    )


def _ids_in(ids: Iterable[int]) -> ColumnElement[bool]:
    """``households.id IN (…)`` with the numbers written into the statement (no limit on bound parameters)."""
    return HouseholdRow.id.in_(bindparam(None, sorted(ids), expanding=True, literal_execute=True))
