"""Warnings over GraphQL (预警): the ``warnings`` connection and subscription, the sweep, handling a
warning, household visits and reviews, and the household's review schedule.

Scope: a warning is visible when its household is (``store.scope.visible_households``, through a
join); a DEPARTMENT principal sees only the warnings routed to it. The ``warnings`` subscription has the
same scope (``store.scope.may_see_warning``, in memory) and filter; partner keys are refused.
``runSweep`` is for ADMIN keys and for CIVIL_AFFAIRS keys within their area (the swept area is the
intersection of the one asked for and the key's); the other warning mutations are for ADMIN,
CIVIL_AFFAIRS and DEPARTMENT keys on warnings they may see (see ``safetynet.monitoring.disposal`` for
the lifecycle and what each resolution does); ``recordHouseholdVisit`` for ADMIN and CIVIL_AFFAIRS keys
(``safetynet.monitoring.reviews``). Every change to a warning is announced to the subscribers once
committed (``safetynet.monitoring.warning_feed``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import strawberry
from graphql import GraphQLError
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, selectinload
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from safetynet import schedules
from safetynet.assessments import RuleError
from safetynet.errors import InputErrors, fail
from safetynet.matching.broadcast import NotAuthorised
from safetynet.matching.events import aware
from safetynet.model import LowIncomeCategory as Category
from safetynet.model import Role, yuan_to_fen
from safetynet.model import WarningStatus as Status
from safetynet.monitoring import disposal, reviews, warning_feed
from safetynet.monitoring.sweep import run_sweep, swept_households
from safetynet.plugins import notify
from safetynet.rules import LocalityCodeError, ParameterError, Parameters, check_code, scope_prefix
from safetynet.store.columns import household_filter, load_batch
from safetynet.store.models import Household as HouseholdRow
from safetynet.store.models import HouseholdCategory, WarningRoute
from safetynet.store.models import Visit as VisitRow
from safetynet.store.models import Warning as WarningRow
from safetynet.store.scope import may_see_warning, visible_households

from .context import Context
from .ids import expect
from .payloads import user_errors
from .types import (
    Connection,
    Edge,
    Money,
    PageInfo,
    Reason,
    Resolution,
    UserError,
    Visit,
    Warning,
    WarningLevel,
    WarningStatus,
)

CareDifficulty = strawberry.enum(schedules.CareDifficulty)
#: Who may read warnings (the query answers a partner with nothing; the subscription refuses it).
READERS = (Role.ADMIN, Role.AUDITOR, Role.CIVIL_AFFAIRS, Role.DEPARTMENT)
LATE = (Status.OPEN, Status.ASSIGNED)

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


def _area(filter: WarningFilter | None) -> str:
    """The filter's locality-code prefix ("" for everywhere); an error naming a malformed code."""
    if filter is None or not filter.locality_code:
        return ""
    try:
        check_code(filter.locality_code)
    except LocalityCodeError as exc:
        raise GraphQLError(f"filter.localityCode: {exc}") from None
    return scope_prefix(filter.locality_code)


def _conditions(ctx: Context, filter: WarningFilter | None) -> list[Any]:
    """SQL conditions on ``Warning`` joined to its ``Household``: scope first, then the filter.

    :func:`_wants` is the same test in memory, for the subscription: change both together.
    """
    me = ctx.me
    conditions: list[Any] = [visible_households(me)]
    if me.role is Role.DEPARTMENT:
        conditions.append(_routed_to(me.department or ""))
    if filter is None:
        return conditions
    prefix = _area(filter)
    if prefix:
        conditions.append(HouseholdRow.locality_code.startswith(prefix, autoescape=True))
    if filter.levels is not None:
        conditions.append(WarningRow.level.in_(filter.levels))
    if filter.statuses is not None:
        conditions.append(WarningRow.status.in_(filter.statuses))
    if filter.overdue is not None:
        late = WarningRow.status.in_(LATE) & (WarningRow.visit_due_by < datetime.now(UTC))
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


def _wants(me: Any, filter: WarningFilter | None) -> Callable[[warning_feed.FeedWarning], bool]:
    """:func:`_conditions` in memory, for one warning the live feed read: scope first, then the filter."""
    prefix = _area(filter)
    levels = None if filter is None or filter.levels is None else set(filter.levels)
    statuses = None if filter is None or filter.statuses is None else set(filter.statuses)
    overdue = None if filter is None else filter.overdue
    department = None if filter is None else filter.department
    rule = None if filter is None else filter.rule

    def wants(warning: warning_feed.FeedWarning) -> bool:
        row = warning.row
        if not may_see_warning(me, warning.locality_code, warning.routes):
            return False
        if not warning.locality_code.startswith(prefix):
            return False
        if levels is not None and row.level not in levels:
            return False
        if statuses is not None and row.status not in statuses:
            return False
        if overdue is not None:
            late = row.status in LATE and aware(row.visit_due_by) < datetime.now(UTC)
            if late is not overdue:
                return False
        if department and department not in warning.routes:
            return False
        return not rule or row.rule == rule

    return wants


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
            swept = swept_households(session, ids)
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


@strawberry.input(description="探访 / 复核: a home visit to a household, not tied to a warning.")
class HouseholdVisitInput:
    household_id: strawberry.ID
    visitor: str
    visited_at: datetime
    findings: str
    review: bool = strawberry.field(
        default=False,
        description="The visit was the household's periodic review (复核): its circumstances were checked",
    )


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
                user_errors=user_errors(exc),
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
            return WarningPayload(warning=None, user_errors=user_errors(exc))
        warning_feed.announce(ctx.runtime, [row.id])
        return WarningPayload(warning=Warning(row=row), user_errors=[])

    @strawberry.mutation(
        description="入户核查: record a home visit for a warning (OPEN/ASSIGNED → VERIFIED)."
    )
    async def record_visit(self, info: Info[Context, None], input: VisitInput) -> VisitPayload:
        ctx = info.context
        try:
            number = expect(input.warning_id, "Warning", "warningId")
            household = expect(input.household_id, "Household", "householdId") if input.household_id else None

            def work(session: Session) -> tuple[VisitRow, list[int]]:
                warning = disposal.find_warning(session, ctx.me, number, "warningId")
                visit = disposal.record_visit(
                    session,
                    warning,
                    visitor=input.visitor,
                    visited_at=input.visited_at,
                    findings=input.findings,
                    household_id=household,
                )
                how = f"visit {visit.id} by {visit.visitor} for warning {warning.id} ({warning.rule})"
                resolved = reviews.record_review(session, warning.household_id, visit.visited_at.date(), how)
                return visit, [warning.id, *resolved]

            visit, changed = await ctx.write(work)
        except InputErrors as exc:
            return VisitPayload(visit=None, user_errors=user_errors(exc))
        warning_feed.announce(ctx.runtime, changed)
        return VisitPayload(visit=Visit(row=visit), user_errors=[])

    @strawberry.mutation(
        description="探访 / 复核: record a home visit not tied to a warning; with review: true it is also the "
        "household's periodic review (its next review is then due a full interval later)."
    )
    async def record_household_visit(
        self, info: Info[Context, None], input: HouseholdVisitInput
    ) -> VisitPayload:
        ctx = info.context
        try:
            household = expect(input.household_id, "Household", "householdId")
            visit, resolved = await ctx.write(
                lambda s: reviews.record_household_visit(
                    s,
                    ctx.me,
                    household,
                    visitor=input.visitor,
                    visited_at=input.visited_at,
                    findings=input.findings,
                    review=input.review,
                )
            )
        except InputErrors as exc:
            return VisitPayload(visit=None, user_errors=user_errors(exc))
        warning_feed.announce(ctx.runtime, resolved)
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
            return WarningPayload(warning=None, user_errors=user_errors(exc))
        warning_feed.announce(runtime, [result.warning.id])
        await _announce_aid(ctx, result)
        return WarningPayload(warning=Warning(row=result.warning), user_errors=[])


# -- the subscription ------------------------------------------------------------------------------


async def _stream(
    ctx: Context, feed: warning_feed.WarningFeed, subscriber: warning_feed.Subscriber
) -> AsyncIterator[Warning]:
    try:
        async for item in feed.follow(subscriber):
            ctx.loaders.clear()  # nested fields read afresh for every warning of a long subscription
            yield Warning(row=item.row)
    except NotAuthorised:
        raise GraphQLError(
            "your API key was revoked or has expired; reconnect with a valid key",
            extensions={"code": "UNAUTHENTICATED"},
        ) from None
    except warning_feed.FeedLagging:
        raise GraphQLError(
            f"more than {warning_feed.MAX_QUEUED} warnings came faster than you read them: narrow the filter "
            "(e.g. levels, localityCode), subscribe again and read the warnings query for what you missed",
            extensions={"code": "TOO_FAR_BEHIND"},
        ) from None


@strawberry.type
class WarningsSubscription:
    @strawberry.subscription(
        description="预警 as they are raised or change (by the sweep, by their handling), from now on: those "
        "you may see that the filter wants, as the warnings query would list them. Read the query for "
        "earlier ones."
    )
    async def warnings(
        self, info: Info[Context, None], filter: WarningFilter | None = None
    ) -> AsyncIterator[Warning]:
        ctx = info.context
        if ctx.me.role not in READERS:
            raise GraphQLError(
                f"a {ctx.me.role.name} key cannot read warnings", extensions={"code": "FORBIDDEN"}
            )
        wants = _wants(ctx.me, filter)
        feed = await warning_feed.feed(ctx.runtime)
        return _stream(ctx, feed, await feed.subscribe(ctx.me, wants))


# -- the review schedule (定期核查 · 探访) ------------------------------------------------------------


@strawberry.type(
    description="定期核查 · 探访周期: when the household is next reviewed and visited, and why "
    "(for households holding aid under review: dibao, tekun, low-income family, marginal, rigid expense)."
)
class ReviewSchedule:
    last_reviewed_on: date | None = strawberry.field(description="The last recorded review (复核)")
    review_months: int = strawberry.field(description="review.months.stable or review.months.unstable")
    next_review_due: date
    review_overdue: bool = strawberry.field(description="Past due today")
    care_difficulty: CareDifficulty  # type: ignore[valid-type]
    care_visit_months: int = strawberry.field(description="care_visit.months.<difficulty>")
    last_visited_on: date | None = strawberry.field(description="The last home visit recorded")
    next_care_visit_due: date
    reasons: list[Reason] = strawberry.field(description="Each rule applied, naming its parameters")


@dataclass(frozen=True)
class _Scheduled:
    plan: schedules.Schedule
    index: int
    last_visited_on: np.ndarray
    today: date


def _schedules(ctx: Context) -> DataLoader[int, _Scheduled | None]:
    """Schedules by household id: one batch for a page of households (the sweep's code, as of today)."""

    async def load(household_ids: Sequence[int]) -> list[_Scheduled | None]:
        today = ctx.runtime.today()
        ids = list(household_ids)

        def work(session: Session) -> tuple[Any, dict[int, datetime]]:
            batch = load_batch(session, today, household_filter(household_ids=ids))
            visited = session.execute(
                select(VisitRow.household_id, func.max(VisitRow.visited_at))
                .where(VisitRow.household_id.in_(ids))
                .group_by(VisitRow.household_id)
            ).all()
            return batch, {household_id: moment for household_id, moment in visited}

        batch, visited = await ctx.read(work)
        catalogue = ctx.runtime.catalogue
        try:
            plan = schedules.schedule(
                batch,
                Parameters(catalogue.localities, batch.locality_code, today),
                {code: provided.item for code, provided in catalogue.aid_types.items()},
            )
        except ParameterError as exc:
            raise GraphQLError(f"no review schedule: {exc}") from None
        last_visits = np.array(
            [aware(visited[h]).date() if h in visited else None for h in batch.household_id.tolist()],
            dtype="datetime64[D]",
        )
        position = {h: i for i, h in enumerate(batch.household_id.tolist())}
        return [_Scheduled(plan, position[h], last_visits, today) if h in position else None for h in ids]

    return DataLoader(load_fn=load)


def _day(value: np.datetime64) -> date | None:
    return None if np.isnat(value) else value.item()


async def review_schedule(ctx: Context, household_id: int) -> ReviewSchedule | None:
    """Household.reviewSchedule (and nextReviewDue): None when it holds no aid under review."""
    found = await ctx.loader("review_schedules", _schedules).load(household_id)
    if found is None or not found.plan.reviewed[found.index]:
        return None
    plan, i = found.plan, found.index
    care_due = plan.next_care_visit_due(found.last_visited_on)
    return ReviewSchedule(
        last_reviewed_on=_day(plan.last_reviewed_on[i]),
        review_months=int(plan.review_months.values[i]),
        next_review_due=plan.next_review_due[i].item(),
        review_overdue=bool(plan.review_overdue(np.datetime64(found.today, "D"))[i]),
        care_difficulty=schedules.CareDifficulty(int(plan.care_difficulty[i])),
        care_visit_months=int(plan.care_visit_months.values[i]),
        last_visited_on=_day(found.last_visited_on[i]),
        next_care_visit_due=care_due[i].item(),
        reasons=[
            Reason.of(b.explain(i))
            for b in (*plan.reasons, *plan.care_reasons)
            if bool(np.asarray(b.mask, dtype=bool)[i])
        ],
    )
