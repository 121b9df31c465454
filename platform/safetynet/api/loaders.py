"""DataLoaders: one SQL statement per kind of child for a whole page of households (no N+1)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from strawberry.dataloader import DataLoader

from safetynet.assessments import assess_batch
from safetynet.rules import Assessment, HouseholdBatch
from safetynet.store.columns import household_filter, load_batch
from safetynet.store.models import AidRecord, Member, Visit, Warning

from .context import Context


def _children(model: Any, order: Any, *options: Any):  # type: ignore[no-untyped-def]
    """A loader of ``model`` rows by household id."""

    def factory(ctx: Context) -> DataLoader[int, list[Any]]:
        async def load(household_ids: Sequence[int]) -> list[list[Any]]:
            def work(session: Session) -> list[list[Any]]:
                rows = session.scalars(
                    select(model)
                    .where(model.household_id.in_(household_ids))
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
warnings = _children(Warning, (Warning.household_id, Warning.raised_at.desc()), selectinload(Warning.routes))
visits = _children(Visit, (Visit.household_id, Visit.visited_at.desc()))


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
