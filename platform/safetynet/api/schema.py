"""The schema: core Query and Mutation, merged with the plugins' GraphQL contributions at start-up."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

import strawberry
from graphql import FieldNode, GraphQLError, OperationDefinitionNode
from sqlalchemy import exists, func, select, true
from sqlalchemy.orm import Session, selectinload
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import Info

from safetynet.aid_chain import aid_event, check_aid_writer, end_aid, grant_aid
from safetynet.errors import InputErrors, fail
from safetynet.households import check_household_writer, register_household, update_circumstances
from safetynet.model import WarningStatus, yuan_to_fen
from safetynet.plugins import PluginLoadError, notify
from safetynet.rules import LocalityCodeError, check_code, scope_prefix
from safetynet.runtime import Runtime
from safetynet.store.models import AidRecord as AidRecordRow
from safetynet.store.models import Household as HouseholdRow
from safetynet.store.models import Member as MemberRow
from safetynet.store.models import Visit as VisitRow
from safetynet.store.models import Warning as WarningRow
from safetynet.store.scope import visible_households, visit_restriction, warning_restriction

from .applications import ApplicationsMutation, ApplicationsQuery, application_node
from .audit import READ_HOUSEHOLD, AuditQuery, AuditReads, record_read
from .context import Context
from .governance import GovernanceMutation, GovernanceQuery
from .hardening import LimitWebsocketOperations, MaskingSchema
from .household_filter import category_and_circle_conditions
from .ids import decode, expect
from .inputs import CircumstancesInput, GrantAidInput, RegisterHouseholdInput, plain
from .monitoring import MonitoringMutation
from .needs import NeedsMutation, NeedsQuery, NeedsSubscription, need_listing_node, webhook_node
from .payloads import registered, user_errors, written
from .types import (
    MONEY_SCALAR,
    AidRecord,
    AidType,
    Circle,
    Connection,
    Edge,
    Household,
    Locality,
    LowIncomeCategory,
    Member,
    Money,
    Node,
    PageInfo,
    Partner,
    PluginInfo,
    Principal,
    UserError,
    Visit,
    Warning,
    aid_type_of,
    locality_of,
)
from .warnings import WarningsMutation, WarningsQuery, WarningsSubscription

DEFAULT_PAGE = 50
OPEN_STATUSES = (WarningStatus.OPEN, WarningStatus.ASSIGNED, WarningStatus.VERIFIED)
PUBLIC_FIELDS = {"health", "__typename"}
INTROSPECTION_FIELDS = {"__schema", "__type"}


# -- helpers ---------------------------------------------------------------------------------------


def page_size(first: int | None, maximum: int) -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 0:
        raise GraphQLError(f"first must be zero or more (at most {maximum}), got {first}")
    return min(first, maximum)


def encode_cursor(number: int) -> str:
    return base64.urlsafe_b64encode(f"cursor:{number}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        prefix, number = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
        if prefix != "cursor":
            raise ValueError
        return int(number)
    except ValueError:
        raise GraphQLError(
            f"after: '{cursor}' is not a cursor from this API (use an endCursor you were given)"
        ) from None


def visible_household(session: Session, ctx: Context, household_id: int) -> HouseholdRow | None:
    return session.scalar(
        select(HouseholdRow).where(HouseholdRow.id == household_id, visible_households(ctx.me))
    )


def _amount_fen(data: dict[str, Any], key: str) -> None:
    """Money input (the lenient Decimal scalar) → ``<key>_fen``; a user error names the field."""
    value = data.pop(key, None)
    if value is None:
        data[f"{key}_fen"] = None
        return
    try:
        data[f"{key}_fen"] = yuan_to_fen(value, allow_negative=True)
    except ValueError as exc:
        raise fail((key,), str(exc), "INVALID_AMOUNT") from None


# -- queries ---------------------------------------------------------------------------------------


@strawberry.type
class CoreQuery:
    @strawberry.field(description="Always answers, with or without a key.")
    def health(self) -> str:
        return "ok"

    @strawberry.field(description="Any object by its global id, if you may see it.")
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        decoded = decode(id)
        if decoded is None:
            return None
        kind, number = decoded
        wrappers = {
            "Household": (HouseholdRow, Household, HouseholdRow.id, None),
            "Member": (MemberRow, Member, MemberRow.household_id, None),
            "AidRecord": (AidRecordRow, AidRecord, AidRecordRow.household_id, None),
            "Warning": (WarningRow, Warning, WarningRow.household_id, warning_restriction),
            "Visit": (VisitRow, Visit, VisitRow.household_id, visit_restriction),
        }
        if kind == "NeedListing":
            return await need_listing_node(info, number)
        if kind == "Webhook":
            return await webhook_node(info, number)
        if kind == "Application":
            return await application_node(info, number)
        if kind not in wrappers:
            return None
        row_type, wrapper, household_column, restriction = wrappers[kind]
        ctx = info.context

        def work(session: Session) -> Any:
            query = (
                select(row_type)
                .where(row_type.id == number)
                .where(household_column.in_(select(HouseholdRow.id).where(visible_households(ctx.me))))
                .where(restriction(ctx.me) if restriction else true())
            )
            if row_type is WarningRow:
                query = query.options(selectinload(WarningRow.routes))  # Warning.routedTo reads them
            return session.scalar(query)

        row = await ctx.read(work)
        if isinstance(row, MemberRow):  # a member's personal data: a read of the household's record
            record_read(ctx, READ_HOUSEHOLD, "Household", row.household_id, row.household_id)
        return wrapper(row=row) if row is not None else None

    @strawberry.field
    async def household(self, info: Info[Context, None], id: strawberry.ID) -> Household | None:
        decoded = decode(id)
        if decoded is None or decoded[0] != "Household":
            return None
        row = await info.context.read(lambda s: visible_household(s, info.context, decoded[1]))
        return Household(row=row) if row else None

    @strawberry.field(description="Households you may see, newest registrations last.")
    async def households(
        self,
        info: Info[Context, None],
        filter: HouseholdFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Household]:
        ctx = info.context
        limit = page_size(first, ctx.runtime.settings.max_page_size)
        start = decode_cursor(after)
        conditions = [visible_households(ctx.me)]
        if filter and filter.locality_code:
            try:
                check_code(filter.locality_code)
            except LocalityCodeError as exc:
                raise GraphQLError(f"filter.localityCode: {exc}") from None
            conditions.append(
                HouseholdRow.locality_code.startswith(scope_prefix(filter.locality_code), autoescape=True)
            )
        if filter and filter.has_open_warnings is not None:
            has_open = exists(
                select(WarningRow.id).where(
                    WarningRow.household_id == HouseholdRow.id, WarningRow.status.in_(OPEN_STATUSES)
                )
            )
            conditions.append(has_open if filter.has_open_warnings else ~has_open)
        if filter and filter.categories is not None and not filter.categories:
            raise GraphQLError("filter.categories: name at least one category, or leave the filter out")
        if filter:
            conditions += await category_and_circle_conditions(
                ctx, conditions, filter.categories, filter.circle
            )

        def work(session: Session) -> tuple[int, list[HouseholdRow]]:
            total = session.scalar(select(func.count()).select_from(HouseholdRow).where(*conditions)) or 0
            page = session.scalars(
                select(HouseholdRow)
                .where(*conditions, HouseholdRow.id > start)
                .order_by(HouseholdRow.id)
                .limit(limit + 1)
            ).all()
            return total, list(page)

        total, found = await ctx.read(work)
        shown = found[:limit]
        edges = [Edge(cursor=encode_cursor(row.id), node=Household(row=row)) for row in shown]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(found) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
            total_count=total,
        )

    @strawberry.field(description="Installed aid types, in assessment order.")
    def aid_types(self, info: Info[Context, None]) -> list[AidType]:
        return [aid_type_of(info, code) for code in info.context.runtime.catalogue.assessment_order]

    @strawberry.field
    def partners(self, info: Info[Context, None]) -> list[Partner]:
        return [
            Partner(
                code=p.item.code,
                name=p.item.name,
                name_en=p.item.name_en,
                kind=p.item.kind,
                need_types=list(p.item.need_types),
                plugin=p.plugin,
            )
            for p in info.context.runtime.catalogue.partners.values()
        ]

    @strawberry.field
    def locality(self, info: Info[Context, None], code: str) -> Locality | None:
        try:
            check_code(code)
        except LocalityCodeError as exc:
            raise GraphQLError(f"code: {exc}") from None
        return locality_of(info, code)

    @strawberry.field
    def plugins(self, info: Info[Context, None]) -> list[PluginInfo]:
        return [
            PluginInfo(name=p.name, module=p.module, hooks=list(p.hooks))
            for p in info.context.runtime.catalogue.plugins()
        ]

    @strawberry.field
    def me(self, info: Info[Context, None]) -> Principal:
        p = info.context.me
        return Principal(
            role=p.role, locality_code=p.locality_code, partner_code=p.partner_code, department=p.department
        )


@strawberry.input
class HouseholdFilter:
    locality_code: str | None = None
    categories: list[LowIncomeCategory] | None = strawberry.field(
        default=None, description="Households currently in any of these categories (as Household.categories)."
    )
    circle: Circle | None = strawberry.field(
        default=None, description="Households in this circle (as Household.circle)."
    )
    has_open_warnings: bool | None = None


# -- mutations -------------------------------------------------------------------------------------


@strawberry.type
class HouseholdPayload:
    household: Household | None
    user_errors: list[UserError]


@strawberry.type
class AidRecordPayload:
    aid_record: AidRecord | None
    user_errors: list[UserError]


def _household_or_error(session: Session, ctx: Context, global_id: str, field: str) -> HouseholdRow:
    row = visible_household(session, ctx, expect(global_id, "Household", field))
    if row is None:
        raise fail((field,), "no household with this id that you may see", "NOT_FOUND")
    return row


@strawberry.type
class CoreMutation:
    @strawberry.mutation(
        description="登记: a household with its members, incomes, assets and rigid expenses."
    )
    async def register_household(
        self, info: Info[Context, None], input: RegisterHouseholdInput
    ) -> HouseholdPayload:
        ctx = info.context
        return await written(
            ctx,
            HouseholdPayload,
            "household",
            lambda s: Household(row=registered(ctx, s, register_household, plain(input))),
        )

    @strawberry.mutation(
        description="变更: incomes, assets, expenses, member facts; send the current version."
    )
    async def update_circumstances(
        self, info: Info[Context, None], input: CircumstancesInput
    ) -> HouseholdPayload:
        ctx = info.context
        data = plain(input)

        def work(session: Session) -> Household:
            check_household_writer(ctx.me)
            for i, member in enumerate(data.get("members") or ()):
                member["member_id"] = expect(member["member_id"], "Member", "members", i, "memberId")
            household = _household_or_error(session, ctx, data["household_id"], "householdId")
            changed = update_circumstances(
                session, household, data, principal=ctx.me, today=ctx.runtime.today()
            )
            return Household(row=changed)

        try:
            return await written(ctx, HouseholdPayload, "household", work)
        except Exception as exc:  # the version check in SQL lost a race with another writer
            if type(exc).__name__ != "StaleDataError":
                raise
            return HouseholdPayload(
                household=None,
                user_errors=[
                    UserError(
                        field=["version"],
                        message="the household was changed concurrently; reload it",
                        code="STALE_VERSION",
                    )
                ],
            )

    @strawberry.mutation(
        description="Add aid to a household's aid chain (also departments' and partners' feedback)."
    )
    async def grant_aid(self, info: Info[Context, None], input: GrantAidInput) -> AidRecordPayload:
        ctx = info.context
        data = plain(input)
        aid_types = set(ctx.runtime.catalogue.aid_types)
        try:
            check_aid_writer(ctx.me, "household_id")
            _amount_fen(data, "monthly_amount")
            _amount_fen(data, "one_off_amount")

            def work(session: Session) -> tuple[AidRecordRow, Any]:
                household = _household_or_error(session, ctx, data["household_id"], "householdId")
                record = grant_aid(session, household, data, principal=ctx.me, aid_types=aid_types)
                return record, aid_event(record, household)

            record, event = await ctx.write(work)
        except InputErrors as exc:
            return AidRecordPayload(aid_record=None, user_errors=user_errors(exc))
        await notify(ctx.runtime.plugins, "safetynet_aid_granted", event=event)
        return AidRecordPayload(aid_record=AidRecord(row=record), user_errors=[])

    @strawberry.mutation(description="End an aid record (终止), with the date and the reason.")
    async def end_aid(
        self, info: Info[Context, None], id: strawberry.ID, ended_on: date, reason: str
    ) -> AidRecordPayload:
        ctx = info.context
        try:
            check_aid_writer(ctx.me, "id", "end aid")
            number = expect(id, "AidRecord", "id")

            def work(session: Session) -> tuple[AidRecordRow, Any]:
                record = session.get(AidRecordRow, number)
                household = visible_household(session, ctx, record.household_id) if record else None
                if record is None or household is None:
                    raise fail(("id",), "no aid record with this id that you may see", "NOT_FOUND")
                end_aid(session, record, ended_on, reason, principal=ctx.me)
                return record, aid_event(record, household)

            record, event = await ctx.write(work)
        except InputErrors as exc:
            return AidRecordPayload(aid_record=None, user_errors=user_errors(exc))
        await notify(ctx.runtime.plugins, "safetynet_aid_ended", event=event)
        return AidRecordPayload(aid_record=AidRecord(row=record), user_errors=[])


# -- the guard and the schema ----------------------------------------------------------------------


class RequirePrincipal(SchemaExtension):
    """No key, no data: only ``health`` (and, in development, introspection) answer without a key."""

    def on_execute(self):  # type: ignore[no-untyped-def]
        ctx: Context = self.execution_context.context
        if ctx.principal is None:
            document = self.execution_context.graphql_document
            allowed = PUBLIC_FIELDS | (set() if ctx.runtime.settings.production else INTROSPECTION_FIELDS)
            # A fragment at the top level of an operation (None here) could hide any field: refused too.
            fields = {
                selection.name.value if isinstance(selection, FieldNode) else None
                for definition in (document.definitions if document else ())
                if isinstance(definition, OperationDefinitionNode)
                for selection in definition.selection_set.selections
            }
            if not fields <= allowed:
                message = ctx.key_error or "authentication required: send 'Authorization: Bearer <key>'"
                raise GraphQLError(message, extensions={"code": "UNAUTHENTICATED"})
        yield


def build_schema(runtime: Runtime) -> strawberry.Schema:
    """Core types plus every plugin's contributions; a field two parts both define is a start-up error."""
    parts: dict[str, list[tuple[str, type]]] = {
        "Query": [("core", CoreQuery)],
        "Mutation": [("core", CoreMutation), ("core", MonitoringMutation)],
    }
    parts["Query"].append(("core", NeedsQuery))
    parts["Mutation"].append(("core", NeedsMutation))
    parts["Query"].append(("core", WarningsQuery))
    parts["Mutation"].append(("core", WarningsMutation))
    parts.setdefault("Subscription", []).append(("core", NeedsSubscription))
    parts["Query"].append(("core", AuditQuery))
    parts["Query"].append(("core", GovernanceQuery))
    parts["Mutation"].append(("core", GovernanceMutation))
    parts["Query"].append(("core", ApplicationsQuery))
    parts["Mutation"].append(("core", ApplicationsMutation))
    parts["Subscription"].append(("core", WarningsSubscription))
    extra_types: list[type] = []
    for provided in runtime.catalogue.graphql:
        contribution = provided.item
        parts["Query"] += [(provided.plugin, t) for t in contribution.query]
        parts["Mutation"] += [(provided.plugin, t) for t in contribution.mutation]
        parts.setdefault("Subscription", []).extend((provided.plugin, t) for t in contribution.subscription)
        extra_types += contribution.types
    roots = {name: _merge(name, members) for name, members in parts.items() if members}
    # Classes or factories, never instances: an extension instance would be shared by concurrent requests.
    extensions: list[Any] = [RequirePrincipal, AuditReads, lambda: QueryDepthLimiter(max_depth=12)]
    extensions.append(LimitWebsocketOperations)
    if runtime.settings.production:
        from graphql.validation import NoSchemaIntrospectionCustomRule
        from strawberry.extensions import AddValidationRules

        extensions += [
            lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]),
            lambda: MaxAliasesLimiter(30),
            lambda: MaxTokensLimiter(5000),
        ]
    return MaskingSchema(  # unexpected errors masked; in production no "Did you mean …?"
        hide_suggestions=runtime.settings.production,
        query=roots["Query"],
        mutation=roots["Mutation"],
        subscription=roots.get("Subscription"),
        types=extra_types,
        extensions=extensions,
        config=StrawberryConfig(scalar_map={Money: MONEY_SCALAR}),
    )


def _merge(name: str, members: list[tuple[str, type]]) -> type:
    owner: dict[str, str] = {}
    for plugin, cls in members:
        for field in cls.__strawberry_definition__.fields:  # type: ignore[attr-defined]
            if field.name in owner:
                raise PluginLoadError(
                    f"GraphQL field {name}.{field.name} is defined by both {owner[field.name]} and plugin {plugin}"
                )
            owner[field.name] = "the core" if plugin == "core" else f"plugin {plugin}"
    return merge_types(name, tuple(cls for _, cls in members))
