"""DataLoaders: one SQL statement per kind of child for a whole page of households (no N+1)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.orm import Session, selectinload
from strawberry.dataloader import DataLoader

from safetynet.assessments import assess_batch, categories_of
from safetynet.circles import COVERED_CATEGORIES, Circle, circles_of
from safetynet.model import LowIncomeCategory
from safetynet.rules import Assessment, HouseholdBatch
from safetynet.store.columns import household_filter, load_batch
from safetynet.store.models import AidRecord, Member, SignalRow, Visit, Warning
from safetynet.store.scope import visit_restriction, warning_restriction

from .context import Context


def _children(model: Any, order: Any, *options: Any, restriction: Any = None):  # type: ignore[no-untyped-def]
    """A loader of ``model`` rows by household id; ``restriction(principal)`` narrows which rows of a
    visible household the principal may see (``store.scope``)."""

    def factory(ctx: Context) -> DataLoader[int, list[Any]]:
        async def load(household_ids: Sequence[int]) -> list[list[Any]]:
            def work(session: Session) -> list[list[Any]]:
                rows = session.scalars(
                    select(model)
                    .where(model.household_id.in_(household_ids))
                    .where(restriction(ctx.me) if restriction else true())
                    .order_by(*order)
                    .options(*options)
                ).all()
                grouped: dict[int, list[Any]] = defaultdict(list)
                for row in rows:
                    grouped[row.household_id].append(row)
                return [grouped.get(h, []) for h in household_ids]

            return await ctx.read(work)

        return DataLoader(load_fn=load)

    return factory


members = _children(Member, (Member.household_id, Member.id))
aid_chain = _children(AidRecord, (AidRecord.household_id, AidRecord.started_on, AidRecord.id))
warnings = _children(
    Warning,
    (Warning.household_id, Warning.raised_at.desc()),
    selectinload(Warning.routes),
    restriction=warning_restriction,
)
visits = _children(Visit, (Visit.household_id, Visit.visited_at.desc()), restriction=visit_restriction)


@dataclass(frozen=True)
class Assessed:
    """One household's row in an assessed batch."""

    batch: HouseholdBatch
    results: dict[str, Assessment]
    index: int


def assessed(ctx: Context) -> DataLoader[tuple[int, date], Assessed | None]:
    """Assessments keyed by (household id, date): one batch load and one rule call per aid type per date."""

    async def load(keys: Sequence[tuple[int, date]]) -> list[Assessed | None]:
        by_date: dict[date, list[int]] = defaultdict(list)
        for household_id, day in keys:
            by_date[day].append(household_id)
        found: dict[tuple[int, date], Assessed] = {}
        for day, ids in by_date.items():
            batch = await ctx.read(
                lambda s, day=day, ids=ids: load_batch(s, day, household_filter(household_ids=ids))
            )
            results = assess_batch(ctx.runtime.catalogue, batch)
            for i, household_id in enumerate(batch.household_id.tolist()):
                found[(household_id, day)] = Assessed(batch, results, i)
        return [found.get(key) for key in keys]

    return DataLoader(load_fn=load)


#: The rural-revitalisation data source and its events (防止返贫监测: imported, never re-assessed).
WATCH_SOURCE = "rural_revitalization"
WATCH_KINDS = ("WATCH_START", "WATCH_END")


def return_poverty_watch(ctx: Context) -> DataLoader[int, bool]:
    """Per household id: is any member's latest rural_revitalization signal WATCH_START (over all time)?"""

    async def load(household_ids: Sequence[int]) -> list[bool]:
        today = ctx.runtime.today()

        def work(session: Session) -> list[bool]:
            latest: dict[tuple[int, str], str] = {}
            for household_id, person, kind in session.execute(
                select(SignalRow.household_id, SignalRow.id_number_hash, SignalRow.kind)
                .where(
                    SignalRow.household_id.in_(list(household_ids)),
                    SignalRow.source == WATCH_SOURCE,
                    SignalRow.kind.in_(WATCH_KINDS),
                    SignalRow.occurred_on <= today,
                )
                .order_by(SignalRow.occurred_on, SignalRow.id)  # later signals overwrite earlier ones
            ):
                latest[(household_id, person)] = kind
            watched = {h for (h, _), kind in latest.items() if kind == "WATCH_START"}
            return [h in watched for h in household_ids]

        return await ctx.read(work)

    return DataLoader(load_fn=load)


async def current_categories(ctx: Context, household_ids: Sequence[int]) -> list[list[LowIncomeCategory]]:
    """Household.categories for many households: the sweep's record (live assessment if never swept),
    plus RETURN_POVERTY_WATCH from the rural-revitalisation signals. Batched through the loaders."""
    from .warnings import swept_categories

    ids = list(household_ids)
    swept = await ctx.loader("swept_categories", swept_categories).load_many(ids)
    watched = await ctx.loader("return_poverty_watch", return_poverty_watch).load_many(ids)
    live_ids = [h for h, s in zip(ids, swept, strict=True) if s is None]
    today = ctx.runtime.today()
    live = await ctx.loader("assessed", assessed).load_many([(h, today) for h in live_ids])
    live_by_id = dict(zip(live_ids, live, strict=True))
    out = []
    for h, s, w in zip(ids, swept, watched, strict=True):
        if s is not None:
            found = set(s)
        else:
            a = live_by_id[h]
            found = set(categories_of(ctx.runtime.catalogue, a.results, a.index)) if a is not None else set()
        found.discard(LowIncomeCategory.RETURN_POVERTY_WATCH)  # decided by rural revitalisation only
        if w:
            found.add(LowIncomeCategory.RETURN_POVERTY_WATCH)
        out.append([c for c in LowIncomeCategory if c in found])
    return out


def categories(ctx: Context) -> DataLoader[int, list[LowIncomeCategory]]:
    """Household.categories by household id (see :func:`current_categories`)."""

    async def load(household_ids: Sequence[int]) -> list[list[LowIncomeCategory]]:
        return await current_categories(ctx, household_ids)

    return DataLoader(load_fn=load)


def circles(ctx: Context) -> DataLoader[int, Circle | None]:
    """Household.circle by household id: the categories of a whole page, then one statement evaluating
    :func:`safetynet.circles.circle_expression` (the expression ``HouseholdFilter.circle`` compares)."""

    async def load(household_ids: Sequence[int]) -> list[Circle | None]:
        ids = list(household_ids)
        found = await ctx.loader("categories", categories).load_many(ids)
        covered = [h for h, cats in zip(ids, found, strict=True) if COVERED_CATEGORIES.intersection(cats)]
        today = ctx.runtime.today()
        return await ctx.read(lambda s: circles_of(s, ctx.runtime.catalogue, today, ids, covered))

    return DataLoader(load_fn=load)
