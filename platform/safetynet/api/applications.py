"""Applications over GraphQL (救助申请): the steps as mutations, ``application``/``applications`` queries.

Scope: an application is visible when its household is (``store.scope.visible_households``); a
DEPARTMENT key sees only applications asking for an aid type it runs (协同办理); partners see none;
auditors read everything. Only ADMIN and CIVIL_AFFAIRS keys act (``safetynet.applications.workflow``,
which also states the rules of each step).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from safetynet.applications import queries, states
from safetynet.applications.workflow import NOTICE_DAYS, WORKING_DAYS, WORKING_DAYS_EXTENDED, Workflow
from safetynet.errors import InputErrors, fail
from safetynet.model import yuan_to_fen
from safetynet.monitoring import warning_feed
from safetynet.plugins import notify
from safetynet.rules import LocalityCodeError, check_code, scope_prefix
from safetynet.store import models as rows
from safetynet.store.models import Household as HouseholdRow

from .context import Context
from .ids import encode, expect
from .inputs import plain
from .payloads import user_errors
from .types import (
    AidType,
    Connection,
    Edge,
    Household,
    Money,
    Node,
    PageInfo,
    ParameterUse,
    Reason,
    UserError,
    _aware,
    aid_type_of,
    money,
)
from .warnings import visible_household_rows

ApplicationStatus = strawberry.enum(states.ApplicationStatus)
StepKind = strawberry.enum(states.StepKind)
AidOutcome = strawberry.enum(states.AidOutcome)

# -- output types ----------------------------------------------------------------------------------


@strawberry.type(
    description="A step of an application: what was done, by whom (the key and the name given), when."
)
class ApplicationStep:
    row: strawberry.Private[rows.ApplicationStep]

    @strawberry.field
    def kind(self) -> StepKind:
        return self.row.kind

    @strawberry.field(description="The day of the step (the decision deadline counts from acceptance).")
    def on(self) -> date:
        return self.row.done_on

    @strawberry.field
    def recorded_at(self) -> datetime:
        return _aware(self.row.recorded_at)

    @strawberry.field(description="The official who took the step (经办人), as given.")
    def by(self) -> str:
        return self.row.by_name

    @strawberry.field(description="The id of the API key that recorded it.")
    def key_id(self) -> int | None:
        return self.row.principal_id

    @strawberry.field(description="Findings, result, reason or remark.")
    def note(self) -> str | None:
        return self.row.note


@strawberry.type(description="One aid type applied for, and its decision (审核确认).")
class ApplicationAid:
    row: strawberry.Private[rows.ApplicationAid]

    @strawberry.field
    def aid_type_code(self) -> str:
        return self.row.aid_type_code

    @strawberry.field(
        description="The aid type, while it is installed; its department handles it (协同办理)."
    )
    def aid_type(self, info: Info[Context, None]) -> AidType | None:
        if self.row.aid_type_code not in info.context.runtime.catalogue.aid_types:
            return None
        return aid_type_of(info, self.row.aid_type_code)

    @strawberry.field(description="Null until decided.")
    def outcome(self) -> AidOutcome | None:
        return self.row.outcome

    @strawberry.field(description="Approved: from the household's assessment on the decision day.")
    def monthly_amount(self) -> Money | None:
        return money(self.row.monthly_amount_fen)

    @strawberry.field
    def one_off_amount(self) -> Money | None:
        return money(self.row.one_off_amount_fen)

    @strawberry.field(description="Why it was refused.")
    def reason(self) -> str | None:
        return self.row.reason

    @strawberry.field(description="The aid record the approval put on the aid chain (fetch it with node).")
    def aid_record_id(self) -> strawberry.ID | None:
        record = self.row.aid_record_id
        return strawberry.ID(encode("AidRecord", record)) if record else None


@strawberry.type(
    description="救助申请: one household's application for one or more aid types at one window (一门受理), "
    "申请 → 受理 → 入户调查 → 经济状况核对 → 民主评议 → 公示 → 审核确认."
)
class Application(Node):
    row: strawberry.Private[rows.Application]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode("Application", self.row.id))

    @strawberry.field(description="The household, if you may see it.")
    async def household(self, info: Info[Context, None]) -> Household | None:
        row = await _household_row(info, self.row.household_id)
        return Household(row=row) if row is not None else None

    @strawberry.field(description="The warning after which the household was helped to apply (协助申办).")
    def warning_id(self) -> strawberry.ID | None:
        return strawberry.ID(encode("Warning", self.row.warning_id)) if self.row.warning_id else None

    @strawberry.field
    def status(self) -> ApplicationStatus:
        return self.row.status

    @strawberry.field(
        description="先行救助: temporary aid granted at once, its paperwork completed afterwards."
    )
    def advance(self) -> bool:
        return self.row.advance

    @strawberry.field
    def aids(self) -> list[ApplicationAid]:
        return [ApplicationAid(row=aid) for aid in self.row.aids]

    @strawberry.field
    def applied_on(self) -> date:
        return self.row.applied_on

    @strawberry.field(description="受理: the decision deadline counts from the next working day.")
    def accepted_on(self) -> date | None:
        return self.row.accepted_on

    @strawberry.field(
        description="The last working day for the decision: workingDays working days after acceptance, "
        "on the official calendar with its adjusted working days (调休)."
    )
    def decision_due_on(self) -> date | None:
        return self.row.decision_due_on

    @strawberry.field(
        description="True when the due date counted days of a year the official calendar does not cover yet "
        "(counted Monday–Friday); it is recomputed at the application's next step."
    )
    def decision_due_provisional(self) -> bool:
        return self.row.due_provisional

    @strawberry.field(
        description="The working days allowed: approval.working_days, or approval.working_days_extended "
        "once extended."
    )
    def working_days(self) -> int | None:
        return self.row.working_days

    @strawberry.field(description="The locality parameter the deadline used, in force on the acceptance day.")
    async def deadline_parameter(self, info: Info[Context, None]) -> ParameterUse | None:
        accepted = self.row.accepted_on
        if accepted is None or self.row.working_days is None:
            return None
        name = WORKING_DAYS_EXTENDED if self.row.extension_reason is not None else WORKING_DAYS
        return await _parameter(info, self.row.household_id, name, accepted)

    @strawberry.field
    def extended(self) -> bool:
        return self.row.extension_reason is not None

    @strawberry.field
    def extension_reason(self) -> str | None:
        return self.row.extension_reason

    @strawberry.field(description="Accepted, not decided, and past its due date.")
    def overdue(self, info: Info[Context, None]) -> bool:
        return queries.is_overdue(self.row, info.context.runtime.today())

    @strawberry.field
    def public_notice_started_on(self) -> date | None:
        return self.row.notice_started_on

    @strawberry.field(description="The last day of the public notice (公示); the decision comes after it.")
    def public_notice_ends_on(self) -> date | None:
        return self.row.notice_ends_on

    @strawberry.field(description="The notice length used (approval.public_notice_days), on its start day.")
    async def public_notice_parameter(self, info: Info[Context, None]) -> ParameterUse | None:
        started = self.row.notice_started_on
        if started is None:
            return None
        return await _parameter(info, self.row.household_id, NOTICE_DAYS, started)

    @strawberry.field
    def decided_on(self) -> date | None:
        return self.row.decided_on

    @strawberry.field(
        description="Integrity flags found when the application was made or decided (registered near "
        "relative, dishonesty record…)."
    )
    def flags(self) -> list[Reason]:
        return [Reason(code=f["code"], message=f["message"], parameters=[]) for f in self.row.flags]

    @strawberry.field
    def steps(self) -> list[ApplicationStep]:
        return [ApplicationStep(row=step) for step in self.row.steps]

    @strawberry.field(description="The mutations that may come next.")
    def next_steps(self) -> list[str]:
        allowed = states.next_actions(self.row.status, extended=self.row.extension_reason is not None)
        return [states.describe(action, self.row.status) for action in allowed]


async def _household_row(info: Info[Context, None], household_id: int) -> HouseholdRow | None:
    return await info.context.loader("visible_households", visible_household_rows).load(household_id)


async def _parameter(
    info: Info[Context, None], household_id: int, name: str, day: date
) -> ParameterUse | None:
    household = await _household_row(info, household_id)
    if household is None:
        return None
    use = info.context.runtime.localities.resolve(name, household.locality_code, day)
    return ParameterUse.of(use) if use else None


# -- reading ---------------------------------------------------------------------------------------


def _with_children(statement: Any) -> Any:
    return statement.options(selectinload(rows.Application.aids), selectinload(rows.Application.steps))


def applications_by_household(ctx: Context) -> DataLoader[int, list[rows.Application]]:
    """Household.applications: the applications you may see, newest first, for a page of households."""

    async def load(household_ids: Sequence[int]) -> list[list[rows.Application]]:
        condition = queries.visible_applications(ctx.me, ctx.runtime.catalogue)

        def work(session: Session) -> list[list[rows.Application]]:
            grouped: dict[int, list[rows.Application]] = defaultdict(list)
            for row in session.scalars(
                _with_children(
                    select(rows.Application)
                    .where(rows.Application.household_id.in_(list(household_ids)), condition)
                    .order_by(rows.Application.id.desc())
                )
            ):
                grouped[row.household_id].append(row)
            return [grouped.get(h, []) for h in household_ids]

        return await ctx.read(work)

    return DataLoader(load_fn=load)


async def applications_of(info: Info[Context, None], household_id: int) -> list[Application]:
    found = await info.context.loader("applications", applications_by_household).load(household_id)
    return [Application(row=row) for row in found]


async def application_node(info: Info[Context, None], number: int) -> Application | None:
    """``Query.node`` and ``Query.application``: the application, if you may see it."""
    ctx = info.context
    condition = queries.visible_applications(ctx.me, ctx.runtime.catalogue)
    row = await ctx.read(
        lambda s: s.scalar(
            _with_children(select(rows.Application).where(rows.Application.id == number, condition))
        )
    )
    return Application(row=row) if row is not None else None


@strawberry.input(description="Which applications: every condition given must hold.")
class ApplicationFilter:
    locality_code: str | None = strawberry.field(default=None, description="This area and everything in it")
    statuses: list[ApplicationStatus] | None = None
    overdue: bool | None = strawberry.field(
        default=None, description="Accepted, not decided and past the due date (true), or not (false)"
    )
    aid_type_code: str | None = strawberry.field(default=None, description="Asking for this aid type")
    household_id: strawberry.ID | None = None


def _conditions(ctx: Context, filter: ApplicationFilter | None) -> list[Any]:
    conditions: list[Any] = [queries.visible_applications(ctx.me, ctx.runtime.catalogue)]
    if filter is None:
        return conditions
    if filter.locality_code:
        try:
            check_code(filter.locality_code)
        except LocalityCodeError as exc:
            raise GraphQLError(f"filter.localityCode: {exc}") from None
        area = HouseholdRow.locality_code.startswith(scope_prefix(filter.locality_code), autoescape=True)
        conditions.append(rows.Application.household_id.in_(select(HouseholdRow.id).where(area)))
    if filter.statuses is not None:
        conditions.append(rows.Application.status.in_(filter.statuses))
    if filter.overdue is not None:
        late = queries.overdue_condition(ctx.runtime.today())
        conditions.append(late if filter.overdue else ~late)
    if filter.aid_type_code:
        conditions.append(
            rows.Application.id.in_(
                select(rows.ApplicationAid.application_id).where(
                    rows.ApplicationAid.aid_type_code == filter.aid_type_code
                )
            )
        )
    if filter.household_id:
        try:
            household = expect(filter.household_id, "Household", "filter", "householdId")
        except InputErrors as exc:
            raise GraphQLError(str(exc)) from None
        conditions.append(rows.Application.household_id == household)
    return conditions


@strawberry.type
class ApplicationsQuery:
    @strawberry.field(description="救助申请: one application, if you may see it.")
    async def application(self, info: Info[Context, None], id: strawberry.ID) -> Application | None:
        try:
            number = expect(id, "Application", "id")
        except InputErrors:
            return None
        return await application_node(info, number)

    @strawberry.field(description="Applications you may see, oldest first.")
    async def applications(
        self,
        info: Info[Context, None],
        filter: ApplicationFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Application]:
        from .schema import decode_cursor, encode_cursor, page_size

        ctx = info.context
        limit = page_size(first, ctx.runtime.settings.max_page_size)
        start = decode_cursor(after)
        conditions = _conditions(ctx, filter)

        def work(session: Session) -> tuple[int, list[rows.Application]]:
            total = session.scalar(select(func.count()).select_from(rows.Application).where(*conditions))
            page = session.scalars(
                _with_children(
                    select(rows.Application)
                    .where(*conditions, rows.Application.id > start)
                    .order_by(rows.Application.id)
                    .limit(limit + 1)
                )
            ).all()
            return total or 0, list(page)

        total, found = await ctx.read(work)
        shown = found[:limit]
        edges = [Edge(cursor=encode_cursor(row.id), node=Application(row=row)) for row in shown]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(found) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
            total_count=total,
        )


# -- mutations -------------------------------------------------------------------------------------


@strawberry.type
class ApplicationPayload:
    application: Application | None
    user_errors: list[UserError]


@strawberry.input(description="申请: a household applies (or is helped to apply) for one or more aid types.")
class ApplyForAidInput:
    household_id: strawberry.ID
    aid_type_codes: list[str]
    by: str = strawberry.field(description="The official taking the application at the window")
    warning_id: strawberry.ID | None = strawberry.field(
        default=None, description="The warning after which the household was helped to apply"
    )
    note: str | None = None


@strawberry.input(
    description="A step with an optional note: acceptance (受理), start of the public notice (公示)."
)
class ApplicationStepInput:
    application_id: strawberry.ID
    by: str
    note: str | None = None


@strawberry.input(description="入户调查: what the home investigation found.")
class InvestigationInput:
    application_id: strawberry.ID
    by: str
    findings: str


@strawberry.input(description="经济状况核对: the result of checking income and property.")
class EconomicCheckInput:
    application_id: strawberry.ID
    by: str
    result: str


@strawberry.input(
    description="民主评议: its result, or, with skipped, why an undisputed application needs none (003 §21)."
)
class AppraisalInput:
    application_id: strawberry.ID
    by: str
    note: str
    skipped: bool = False


@strawberry.input(
    description="Extend the deadline once, before it passes, to approval.working_days_extended."
)
class ExtendApplicationInput:
    application_id: strawberry.ID
    by: str
    reason: str


@strawberry.input(
    description="审核确认: every aid type applied for is approved (amounts from the household's assessment "
    "today, onto the aid chain) or refused (with the reason)."
)
class DecideApplicationInput:
    application_id: strawberry.ID
    by: str
    approve: list[str] = strawberry.field(default_factory=list)
    refuse: list[str] = strawberry.field(default_factory=list)
    reason: str | None = strawberry.field(default=None, description="Required when anything is refused")
    note: str | None = None


@strawberry.input(
    description="小金额先行救助: temporary aid up to temporary.small_advance_cap_per_person × members, at once."
)
class GrantAdvanceInput:
    household_id: strawberry.ID
    amount: Money
    by: str
    note: str = strawberry.field(description="The emergency (急难情形) and what was done")
    warning_id: strawberry.ID | None = None


async def _run(info: Info[Context, None], step: Callable[[Workflow], rows.Application]) -> ApplicationPayload:
    """Run one workflow step in a transaction; once committed, announce the aid it granted and the
    warnings it closed."""
    ctx = info.context
    runtime = ctx.runtime

    def work(session: Session) -> tuple[rows.Application, Workflow]:
        workflow = Workflow(session, runtime.catalogue, ctx.me, runtime.today())
        application = step(workflow)
        _ = application.aids, application.steps  # loaded before the session closes
        return application, workflow

    try:
        application, workflow = await ctx.write(work)
    except InputErrors as exc:
        return ApplicationPayload(application=None, user_errors=user_errors(exc))
    warning_feed.announce(runtime, workflow.closed_warnings)
    for event in workflow.granted:
        await notify(runtime.plugins, "safetynet_aid_granted", event=event)
    return ApplicationPayload(application=Application(row=application), user_errors=[])


async def _step(
    info: Info[Context, None], input: Any, step: Callable[..., rows.Application]
) -> ApplicationPayload:
    """A step on the application ``input.application_id``: ``step`` (a :class:`Workflow` method) with
    the input's other fields."""
    fields = plain(input)
    global_id = fields.pop("application_id")
    return await _run(
        info, lambda w: step(w, w.find(expect(global_id, "Application", "applicationId")), **fields)
    )


def _optional_id(global_id: str | None, type_name: str, field: str) -> int | None:
    return expect(global_id, type_name, field) if global_id else None


@strawberry.type
class ApplicationsMutation:
    @strawberry.mutation(
        description="申请: apply for one or more aid types at one window (一门受理、协同办理)."
    )
    async def apply_for_aid(self, info: Info[Context, None], input: ApplyForAidInput) -> ApplicationPayload:
        def apply(workflow: Workflow) -> rows.Application:
            household = expect(input.household_id, "Household", "householdId")
            warning = _optional_id(input.warning_id, "Warning", "warningId")
            return workflow.apply(
                household, input.aid_type_codes, by=input.by, note=input.note, warning_id=warning
            )

        return await _run(info, apply)

    @strawberry.mutation(description="受理: accept the application; the decision deadline starts to run.")
    async def accept_application(
        self, info: Info[Context, None], input: ApplicationStepInput
    ) -> ApplicationPayload:
        return await _step(info, input, Workflow.accept)

    @strawberry.mutation(description="入户调查: record the home investigation's findings.")
    async def record_investigation(
        self, info: Info[Context, None], input: InvestigationInput
    ) -> ApplicationPayload:
        return await _step(info, input, Workflow.investigate)

    @strawberry.mutation(description="经济状况核对: record the economic check's result.")
    async def record_economic_check(
        self, info: Info[Context, None], input: EconomicCheckInput
    ) -> ApplicationPayload:
        return await _step(info, input, Workflow.economic_check)

    @strawberry.mutation(
        description="民主评议: record the appraisal, or skip it for an undisputed application."
    )
    async def record_appraisal(self, info: Info[Context, None], input: AppraisalInput) -> ApplicationPayload:
        return await _step(info, input, Workflow.appraise)

    @strawberry.mutation(description="公示: start the public notice (approval.public_notice_days days).")
    async def start_public_notice(
        self, info: Info[Context, None], input: ApplicationStepInput
    ) -> ApplicationPayload:
        return await _step(info, input, Workflow.start_notice)

    @strawberry.mutation(description="Extend the decision deadline once, with the reason.")
    async def extend_application(
        self, info: Info[Context, None], input: ExtendApplicationInput
    ) -> ApplicationPayload:
        return await _step(info, input, Workflow.extend)

    @strawberry.mutation(
        description="审核确认: approve or refuse each aid type; approvals go on the aid chain."
    )
    async def decide_application(
        self, info: Info[Context, None], input: DecideApplicationInput
    ) -> ApplicationPayload:
        return await _step(info, input, Workflow.decide)

    @strawberry.mutation(
        description="小金额先行救助: grant temporary aid up to the cap now, paperwork afterwards."
    )
    async def grant_advance(self, info: Info[Context, None], input: GrantAdvanceInput) -> ApplicationPayload:
        def grant(workflow: Workflow) -> rows.Application:
            household = expect(input.household_id, "Household", "householdId")
            warning = _optional_id(input.warning_id, "Warning", "warningId")
            try:
                amount = yuan_to_fen(input.amount)
            except ValueError as exc:
                raise fail(("amount",), str(exc), "INVALID_AMOUNT") from None
            return workflow.grant_advance(
                household, amount_fen=amount, by=input.by, note=input.note, warning_id=warning
            )

        return await _run(info, grant)

    @strawberry.mutation(
        description="补齐手续: complete a small advance's paperwork (the application is APPROVED)."
    )
    async def complete_advance(
        self, info: Info[Context, None], input: ApplicationStepInput
    ) -> ApplicationPayload:
        return await _step(info, input, Workflow.complete_advance)
