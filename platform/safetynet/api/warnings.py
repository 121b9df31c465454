"""Warnings over GraphQL (预警): the ``warnings`` connection, the sweep, and handling a warning.

Scope: a warning is visible when its household is (``store.scope.visible_households``, through a
join); a DEPARTMENT principal sees only the warnings routed to it. ``runSweep`` is for ADMIN keys and for
CIVIL_AFFAIRS keys within their area (the swept area is the intersection of the one asked for and the
key's); the other mutations are for ADMIN, CIVIL_AFFAIRS and DEPARTMENT keys on warnings they may see
(see ``safetynet.monitoring.disposal`` for the lifecycle and what each resolution does).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, selectinload
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from safetynet.assessments import RuleError
from safetynet.errors import InputErrors, fail
from safetynet.model import LowIncomeCategory as Category
from safetynet.model import Role, yuan_to_fen
from safetynet.model import WarningStatus as Status
from safetynet.monitoring import disposal
from safetynet.monitoring.sweep import run_sweep
from safetynet.plugins import notify
from safetynet.rules import LocalityCodeError, ParameterError, check_code, scope_prefix
from safetynet.store.models import AssessmentResult, HouseholdCategory, WarningRoute
from safetynet.store.models import Household as HouseholdRow
from safetynet.store.models import Visit as VisitRow
from safetynet.store.models import Warning as WarningRow
from safetynet.store.scope import visible_households

from .context import Context
from .ids import expect
from .types import (
    Connection,
    Edge,
    Money,
    PageInfo,
    Resolution,
    UserError,
    Visit,
    Warning,
    WarningLevel,
    WarningStatus,
)

# -- the connection --------------------------------------------------------------------------------


@strawberry.input(description="Which warnings: every condition given must hold.")
class WarningFilter:
    locality_code: str | None = strawberry.field(default=None, description="This area and everything in it")
    levels: list[WarningLevel] | None = None
    statuses: list[WarningStatus] | None = None
    overdue: bool | None = strawberry.field(
        default=None, description="OPEN or ASSIGNED past its visit deadline (true), or not (false)"
    )
    department: str | None = strawberry.field(default=None, description="Routed to this department")
    rule: str | None = None


def _conditions(ctx: Context, filter: WarningFilter | None) -> list[Any]:
    """SQL conditions on ``Warning`` joined to its ``Household``: scope first, then the filter."""
    me = ctx.me
    conditions: list[Any] = [visible_households(me)]
    if me.role is Role.DEPARTMENT:
        conditions.append(_routed_to(me.department or ""))
    if filter is None:
        return conditions
    if filter.locality_code:
        try:
            check_code(filter.locality_code)
        except LocalityCodeError as exc:
            raise GraphQLError(f"filter.localityCode: {exc}") from None
        prefix = scope_prefix(filter.locality_code)
        if prefix:
            conditions.append(HouseholdRow.locality_code.startswith(prefix, autoescape=True))
    if filter.levels is not None:
        conditions.append(WarningRow.level.in_(filter.levels))
    if filter.statuses is not None:
        conditions.append(WarningRow.status.in_(filter.statuses))
    if filter.overdue is not None:
        late = WarningRow.status.in_((Status.OPEN, Status.ASSIGNED)) & (
            WarningRow.visit_due_by < datetime.now(UTC)
        )
        conditions.append(late if filter.overdue else ~late)
    if filter.department:
        conditions.append(_routed_to(filter.department))
    if filter.rule:
        conditions.append(WarningRow.rule == filter.rule)
    return conditions


def _routed_to(department: str) -> Any:
    return exists(
        select(WarningRoute.warning_id).where(
            WarningRoute.warning_id == WarningRow.id, WarningRoute.department == department
        )
    )


@strawberry.type
class WarningsQuery:
    @strawberry.field(description="预警: warnings you may see, oldest first.")
    async def warnings(
        self,
        info: Info[Context, None],
        filter: WarningFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Warning]:
        from .schema import decode_cursor, encode_cursor, page_size

        ctx = info.context
        limit = page_size(first, ctx.runtime.settings.max_page_size)
        start = decode_cursor(after)
        conditions = _conditions(ctx, filter)
        joined = select(WarningRow).join(HouseholdRow, HouseholdRow.id == WarningRow.household_id)

        def work(session: Session) -> tuple[int, list[WarningRow]]:
            total = session.scalar(
                select(func.count())
                .select_from(WarningRow)
                .join(HouseholdRow, HouseholdRow.id == WarningRow.household_id)
                .where(*conditions)
            )
            page = session.scalars(
                joined.where(*conditions, WarningRow.id > start)
                .order_by(WarningRow.id)
                .limit(limit + 1)
                .options(selectinload(WarningRow.routes))
            ).all()
            return total or 0, list(page)

        total, found = await ctx.read(work)
        shown = found[:limit]
        edges = [Edge(cursor=encode_cursor(row.id), node=Warning(row=row)) for row in shown]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(found) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
            total_count=total,
        )


# -- loaders used by the Household and Warning types -----------------------------------------------


def swept_categories(ctx: Context) -> DataLoader[int, list[Category] | None]:
    """Current categories from ``household_categories`` by household id; None for a never-swept household."""

    async def load(household_ids: Sequence[int]) -> list[list[Category] | None]:
        def work(session: Session) -> list[list[Category] | None]:
            ids = list(household_ids)
            swept = set(
                session.scalars(
                    select(AssessmentResult.household_id)
                    .where(AssessmentResult.household_id.in_(ids))
                    .distinct()
                )
            )
            current: dict[int, set[Category]] = defaultdict(set)
            for household_id, category in session.execute(
                select(HouseholdCategory.household_id, HouseholdCategory.category).where(
                    HouseholdCategory.household_id.in_(ids), HouseholdCategory.until.is_(None)
                )
            ):
                current[household_id].add(category)
                swept.add(household_id)
            order = list(Category)
            return [sorted(current[h], key=order.index) if h in swept else None for h in ids]

        return await ctx.read(work)

    return DataLoader(load_fn=load)


def visible_household_rows(ctx: Context) -> DataLoader[int, HouseholdRow | None]:
    """Households by id, or None where the principal may not see them."""

    async def load(household_ids: Sequence[int]) -> list[HouseholdRow | None]:
        def work(session: Session) -> list[HouseholdRow | None]:
            rows = session.scalars(
                select(HouseholdRow).where(
                    HouseholdRow.id.in_(list(household_ids)), visible_households(ctx.me)
                )
            ).all()
            by_id = {row.id: row for row in rows}
            return [by_id.get(h) for h in household_ids]

        return await ctx.read(work)

    return DataLoader(load_fn=load)


def visits_by_warning(ctx: Context) -> DataLoader[int, list[VisitRow]]:
    async def load(warning_ids: Sequence[int]) -> list[list[VisitRow]]:
        def work(session: Session) -> list[list[VisitRow]]:
            grouped: dict[int, list[VisitRow]] = defaultdict(list)
            for visit in session.scalars(
                select(VisitRow)
                .where(VisitRow.warning_id.in_(list(warning_ids)))
                .order_by(VisitRow.visited_at)
            ):
                grouped[visit.warning_id].append(visit)  # type: ignore[index]
            return [grouped.get(w, []) for w in warning_ids]

        return await ctx.read(work)

    return DataLoader(load_fn=load)


# -- mutations -------------------------------------------------------------------------------------


@strawberry.type
class SweepPayload:
    households: int
    warnings_raised: int
    categories_changed: int
    warnings_updated: int = strawberry.field(description="Open warnings whose evidence or level changed")
    user_errors: list[UserError]


@strawberry.type
class WarningPayload:
    warning: Warning | None
    user_errors: list[UserError]


@strawberry.type
class VisitPayload:
    visit: Visit | None
    user_errors: list[UserError]


@strawberry.input(description="入户核查: a home visit that verifies a warning.")
class VisitInput:
    warning_id: strawberry.ID
    visitor: str
    visited_at: datetime
    findings: str
    household_id: strawberry.ID | None = None


def _errors(exc: InputErrors) -> list[UserError]:
    return [UserError(field=list(e.field), message=e.message, code=e.code) for e in exc.errors]


def sweep_prefix(role: Role, scope: str, locality_code: str | None) -> str:
    """The code prefix to sweep: the area asked for ∩ the principal's area (a user error if disjoint)."""
    if role not in (Role.ADMIN, Role.CIVIL_AFFAIRS):
        raise fail(("localityCode",), f"a {role.name} key cannot run the sweep", "FORBIDDEN")
    own = scope_prefix(scope)
    if not locality_code:
        return own
    try:
        check_code(locality_code)
    except LocalityCodeError as exc:
        raise fail(("localityCode",), str(exc), "INVALID_LOCALITY") from None
    asked = scope_prefix(locality_code)
    if asked.startswith(own):
        return asked
    if own.startswith(asked):
        return own
    raise fail(("localityCode",), f"'{locality_code}' is outside your area {scope}", "OUT_OF_SCOPE")


async def _announce_aid(ctx: Context, result: disposal.Disposal) -> None:
    for event in result.granted:
        await notify(ctx.runtime.plugins, "safetynet_aid_granted", event=event)
    for event in result.ended:
        await notify(ctx.runtime.plugins, "safetynet_aid_ended", event=event)


def _loaded(warning: WarningRow) -> WarningRow:
    """Touch what the Warning type reads, before the session closes."""
    _ = warning.routed_to
    return warning


@strawberry.type
class WarningsMutation:
    @strawberry.mutation(
        description="动态监测: assess every household of the area and run every warning rule."
    )
    async def run_sweep(
        self, info: Info[Context, None], as_of: date | None = None, locality_code: str | None = None
    ) -> SweepPayload:
        ctx = info.context
        me = ctx.me
        try:
            prefix = sweep_prefix(me.role, me.scope, locality_code)
            result = await asyncio.to_thread(
                run_sweep,
                ctx.runtime,
                as_of or ctx.runtime.today(),
                prefix,
                loop=asyncio.get_running_loop(),
            )
        except InputErrors as exc:
            return SweepPayload(
                households=0,
                warnings_raised=0,
                categories_changed=0,
                warnings_updated=0,
                user_errors=_errors(exc),
            )
        except (RuleError, ParameterError) as exc:
            error = UserError(field=None, message=f"the sweep stopped: {exc}", code="SWEEP_FAILED")
            return SweepPayload(
                households=0, warnings_raised=0, categories_changed=0, warnings_updated=0, user_errors=[error]
            )
        return SweepPayload(
            households=result.households,
            warnings_raised=result.warnings_raised,
            categories_changed=result.categories_changed,
            warnings_updated=result.warnings_updated,
            user_errors=[],
        )

    @strawberry.mutation(description="分派: give a warning to a caseworker (OPEN → ASSIGNED).")
    async def assign_warning(
        self, info: Info[Context, None], id: strawberry.ID, assignee: str
    ) -> WarningPayload:
        ctx = info.context
        try:
            number = expect(id, "Warning", "id")

            def work(session: Session) -> WarningRow:
                warning = disposal.find_warning(session, ctx.me, number)
                return _loaded(disposal.assign_warning(session, warning, assignee))

            row = await ctx.write(work)
        except InputErrors as exc:
            return WarningPayload(warning=None, user_errors=_errors(exc))
        return WarningPayload(warning=Warning(row=row), user_errors=[])

    @strawberry.mutation(
        description="入户核查: record a home visit for a warning (OPEN/ASSIGNED → VERIFIED)."
    )
    async def record_visit(self, info: Info[Context, None], input: VisitInput) -> VisitPayload:
        ctx = info.context
        try:
            number = expect(input.warning_id, "Warning", "warningId")
            household = expect(input.household_id, "Household", "householdId") if input.household_id else None

            def work(session: Session) -> VisitRow:
                warning = disposal.find_warning(session, ctx.me, number, "warningId")
                return disposal.record_visit(
                    session,
                    warning,
                    visitor=input.visitor,
                    visited_at=input.visited_at,
                    findings=input.findings,
                    household_id=household,
                )

            visit = await ctx.write(work)
        except InputErrors as exc:
            return VisitPayload(visit=None, user_errors=_errors(exc))
        return VisitPayload(visit=Visit(row=visit), user_errors=[])

    @strawberry.mutation(
        description="分类处置: ENROLLED puts the aid on the chain, REFERRED pushes to a department, "
        "ONE_MATTER_ONE_DISCUSSION goes to the county, TERMINATED ends the aid concerned, NO_ACTION closes."
    )
    async def resolve_warning(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        resolution: Resolution,
        note: str | None = None,
        aid_type_code: str | None = None,
        monthly_amount: Money | None = None,
        department: str | None = None,
    ) -> WarningPayload:
        ctx = info.context
        runtime = ctx.runtime
        try:
            number = expect(id, "Warning", "id")
            try:
                monthly = None if monthly_amount is None else yuan_to_fen(monthly_amount)
            except ValueError as exc:
                raise fail(("monthlyAmount",), str(exc), "INVALID_AMOUNT") from None

            def work(session: Session) -> disposal.Disposal:
                warning = disposal.find_warning(session, ctx.me, number)
                result = disposal.resolve_warning(
                    session,
                    warning,
                    resolution,
                    principal=ctx.me,
                    catalogue=runtime.catalogue,
                    today=runtime.today(),
                    note=note,
                    aid_type_code=aid_type_code,
                    monthly_amount_fen=monthly,
                    department=department,
                )
                _loaded(result.warning)
                return result

            result = await ctx.write(work)
        except InputErrors as exc:
            return WarningPayload(warning=None, user_errors=_errors(exc))
        await _announce_aid(ctx, result)
        return WarningPayload(warning=Warning(row=result.warning), user_errors=[])
