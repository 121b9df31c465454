"""Need listings in the API: the needListings query and subscription, publish/claim/fulfil/withdraw, matches,
partners' resource lists and webhooks (API.md "NeedListing", DOMAIN.md §4).

A partner sees a listing's need, township and urgency, never the household: ``household`` is null for
it (scope: :func:`safetynet.store.scope.visible_need_listings`), and neither the event nor the listing
carries a name, identity number, address or household id.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info

from safetynet import model
from safetynet.errors import InputErrors, fail
from safetynet.matching import needs as service
from safetynet.matching import webhooks as hooks_service
from safetynet.matching.broadcast import NotAuthorised
from safetynet.matching.events import (
    Audience,
    CursorError,
    FilterError,
    ListingState,
    LoggedEvent,
    NeedFilterSpec,
    aware,
    decode_cursor,
    encode_cursor,
    head,
)
from safetynet.matching.matcher import partners_with_remaining, rank_matches
from safetynet.matching.services import services
from safetynet.model import MoneyError, Role, format_yuan, yuan_to_fen
from safetynet.plugins import notify
from safetynet.store.models import Household as HouseholdRow
from safetynet.store.models import NeedListing as NeedListingRow
from safetynet.store.models import PartnerWebhook, WebhookDelivery
from safetynet.store.scope import visible_households

from .context import Context
from .ids import decode, encode, expect
from .inputs import plain
from .payloads import user_errors
from .types import Connection, Edge, Household, Money, Node, PageInfo, Partner, UserError

Urgency = strawberry.enum(model.Urgency)
NeedStatus = strawberry.enum(model.NeedStatus)
NeedEventKind = strawberry.enum(model.NeedEventKind)
WebhookStatus = strawberry.enum(model.WebhookStatus)

DEFAULT_PAGE = 50
READERS = (Role.ADMIN, Role.AUDITOR, Role.CIVIL_AFFAIRS, Role.PARTNER)


# -- helpers ---------------------------------------------------------------------------------------


def _audience(info: Info[Context, None]) -> Audience:
    ctx = info.context
    audience = service.audience_of(ctx.runtime.catalogue, ctx.me)
    if ctx.me.role not in READERS:
        raise GraphQLError(
            f"a {ctx.me.role.name} key cannot read need listings", extensions={"code": "FORBIDDEN"}
        )
    if audience.is_partner and audience.partner is None:
        raise GraphQLError(
            f"partner '{ctx.me.partner_code}' is not installed: no partner plugin provides it",
            extensions={"code": "UNKNOWN_PARTNER"},
        )
    return audience


def _spec(filter: NeedFilter | None, audience: Audience) -> NeedFilterSpec:
    try:
        spec = (
            NeedFilterSpec.of(filter.locality_code, filter.need_types, filter.urgencies, filter.statuses)
            if filter
            else NeedFilterSpec()
        )
        spec.check_for(audience)
    except FilterError as exc:
        raise GraphQLError(str(exc), extensions={"code": "INVALID_FILTER", "field": exc.field}) from None
    return spec


def _cursor(value: str, field: str = "after") -> int:
    try:
        return decode_cursor(value)
    except CursorError as exc:
        raise GraphQLError(f"{field}: {exc}", extensions={"code": "INVALID_CURSOR"}) from None


def partner_of(info: Info[Context, None], code: str | None) -> Partner | None:
    provided = info.context.runtime.catalogue.partners.get(code or "")
    if provided is None:
        return None
    p = provided.item
    return Partner(
        code=p.code,
        name=p.name,
        name_en=p.name_en,
        kind=p.kind,
        need_types=list(p.need_types),
        plugin=provided.plugin,
    )


def _page_cursor(number: int) -> str:
    return base64.urlsafe_b64encode(f"cursor:{number}".encode()).decode()


def _page_start(after: str | None) -> int:
    if after is None:
        return 0
    try:
        prefix, number = base64.urlsafe_b64decode(after.encode()).decode().split(":")
        if prefix != "cursor":
            raise ValueError
        return int(number)
    except ValueError:
        raise GraphQLError(
            f"after: '{after}' is not a cursor from this API (use an endCursor you were given)",
            extensions={"code": "INVALID_CURSOR"},
        ) from None


def _households(ctx: Context) -> DataLoader[int, HouseholdRow | None]:
    """Households by id, only those the principal may see (partners: none)."""

    async def load(ids: Sequence[int]) -> list[HouseholdRow | None]:
        def work(session: Session) -> list[HouseholdRow | None]:
            rows = session.scalars(
                select(HouseholdRow).where(HouseholdRow.id.in_(list(ids)), visible_households(ctx.me))
            ).all()
            found = {row.id: row for row in rows}
            return [found.get(i) for i in ids]

        return await ctx.read(work)

    return DataLoader(load_fn=load)


def _long_lived(ctx: Context) -> bool:
    """A websocket's context lives as long as the connection: nothing may be cached on it for long."""
    return isinstance(ctx.request, WebSocket)


async def _partners_now(ctx: Context) -> list[model.Partner]:
    """Partners with their remaining resources, read once per request (per event on a websocket)."""

    def read(session: Session) -> list[model.Partner]:
        return partners_with_remaining(session, ctx.runtime.catalogue, ctx.runtime.today())

    if _long_lived(ctx):
        return await ctx.read(read)
    if "need_partners" not in ctx.loaders:
        ctx.loaders["need_partners"] = await ctx.read(read)
    return ctx.loaders["need_partners"]


# -- types -----------------------------------------------------------------------------------------


@strawberry.input(
    description="Which need listings; statuses of an event are the status it leaves the listing in."
)
class NeedFilter:
    locality_code: str | None = None
    need_types: list[str] | None = None
    urgencies: list[Urgency] | None = None  # type: ignore[valid-type]
    statuses: list[NeedStatus] | None = None  # type: ignore[valid-type]


@strawberry.type(description="A partner that could take a listing, as the matching plugins scored it.")
class NeedMatch:
    partner: Partner
    score: float
    reason: str
    plugin: str = strawberry.field(description="The plugin whose matcher gave this score.")


@strawberry.type(
    description="A low-income need (需求清单) published for partners, without identifying details."
)
class NeedListing(Node):
    # Plain values where no principal is involved: a subscription executes these for every subscriber.
    state: strawberry.Private[ListingState]
    id: strawberry.ID
    cursor: str = strawberry.field(
        description="The event-log cursor of this state: subscribe with after: cursor to follow from here."
    )
    need_type: str
    summary: str = strawberry.field(
        description="Written for partners: the need, without names, numbers or the address."
    )
    locality_code: str = strawberry.field(
        description="The township (9 digits), or the county for a county-level household."
    )
    urgency: Urgency  # type: ignore[valid-type]
    status: NeedStatus  # type: ignore[valid-type]
    published_at: datetime
    claimed_at: datetime | None
    fulfilled_at: datetime | None
    withdrawn_at: datetime | None

    @classmethod
    def of(cls, state: ListingState) -> NeedListing:
        row = state.row
        return cls(
            state=state,
            id=strawberry.ID(encode("NeedListing", row.id)),
            cursor=encode_cursor(state.cursor),
            need_type=row.need_type,
            summary=row.summary,
            locality_code=row.locality_code,
            urgency=row.urgency,
            status=state.status,
            published_at=row.published_at,
            claimed_at=state.claimed_at,
            fulfilled_at=state.fulfilled_at,
            withdrawn_at=state.withdrawn_at,
        )

    @strawberry.field
    def claimed_by(self, info: Info[Context, None]) -> Partner | None:
        return partner_of(info, self.state.claimed_by)

    @strawberry.field(description="What the partner gave: shown to civil affairs and to that partner only.")
    def fulfilled_amount(self, info: Info[Context, None]) -> Money | None:
        fen = self.state.fulfilled_amount_fen
        if fen is None or not _sees_fulfilment(info, self.state):
            return None
        return format_yuan(fen)  # type: ignore[return-value]

    @strawberry.field(
        description="The partner's note on the help given: civil affairs and that partner only."
    )
    def fulfilment_note(self, info: Info[Context, None]) -> str | None:
        return self.state.fulfilment_note if _sees_fulfilment(info, self.state) else None

    @strawberry.field(description="Why civil affairs withdrew it: not shown to partners.")
    def withdrawal_reason(self, info: Info[Context, None]) -> str | None:
        if info.context.me.role is Role.PARTNER or self.state.withdrawn_at is None:
            return None
        return self.state.row.withdrawal_reason

    @strawberry.field(description="The household: null unless you may see it (always null for partners).")
    async def household(self, info: Info[Context, None]) -> Household | None:
        if info.context.me.role is Role.PARTNER:
            return None
        ctx = info.context
        loader = _households(ctx) if _long_lived(ctx) else ctx.loader("need_households", _households)
        row = await loader.load(self.state.row.household_id)
        return Household(row=row) if row is not None else None

    @strawberry.field(
        description="Partners that could take it, best first: for civil affairs, admins and auditors "
        "(empty for others)."
    )
    async def matches(self, info: Info[Context, None]) -> list[NeedMatch]:
        ctx = info.context
        if ctx.me.role not in (Role.ADMIN, Role.AUDITOR, Role.CIVIL_AFFAIRS):
            return []
        partners = await _partners_now(ctx)
        need = service.need_event(self.state.row)
        out = []
        for m in rank_matches(ctx.runtime.plugins, need, partners):
            partner = partner_of(info, m.partner_code)
            if partner is not None:
                out.append(
                    NeedMatch(partner=partner, score=round(m.score, 4), reason=m.reason, plugin=m.plugin)
                )
        return out


def _sees_fulfilment(info: Info[Context, None], state: ListingState) -> bool:
    me = info.context.me
    return me.role is not Role.PARTNER or (
        state.claimed_by is not None and state.claimed_by == me.partner_code
    )


@strawberry.type(
    description="One change to a need listing, from the event log (PUBLISHED CLAIMED FULFILLED WITHDRAWN)."
)
class NeedListingEvent:
    logged: strawberry.Private[LoggedEvent]
    cursor: str = strawberry.field(description="Pass it back as after: to resume after this event.")
    kind: NeedEventKind  # type: ignore[valid-type]
    listing: NeedListing = strawberry.field(description="The listing as of this event.")

    @classmethod
    def of(cls, event: LoggedEvent) -> NeedListingEvent:
        listing = NeedListing.of(event.state())
        return cls(logged=event, cursor=listing.cursor, kind=event.kind, listing=listing)


@strawberry.type
class NeedListingPayload:
    need_listing: NeedListing | None
    user_errors: list[UserError]


@strawberry.input(description="A household's need, written for partners (no names, numbers or address).")
class PublishNeedInput:
    household_id: strawberry.ID
    need_type: str
    summary: str
    urgency: Urgency  # type: ignore[valid-type]


@strawberry.type(
    description="One resource of a partner's list (社会救助资源清单), with what is left this year."
)
class PartnerResource:
    code: str
    name: str
    need_type: str
    amount: Money | None
    remaining_amount: Money | None
    quantity: int | None
    remaining_quantity: int | None
    available_until: date | None


@strawberry.type(description="A partner's areas and resource list.")
class PartnerResources:
    partner: Partner
    localities: list[str]
    resources: list[PartnerResource]


@strawberry.type(description="One attempt to deliver one event to a webhook.")
class WebhookDeliveryAttempt:
    row: strawberry.Private[WebhookDelivery]

    @strawberry.field
    def cursor(self) -> str:
        return encode_cursor(self.row.event_id)

    @strawberry.field
    def attempt(self) -> int:
        return self.row.attempt

    @strawberry.field
    def succeeded(self) -> bool:
        return self.row.succeeded

    @strawberry.field(description="The receiver's HTTP status, if it answered.")
    def status_code(self) -> int | None:
        return self.row.status_code

    @strawberry.field
    def error(self) -> str | None:
        return self.row.error

    @strawberry.field
    def duration_ms(self) -> int:
        return self.row.duration_ms

    @strawberry.field
    def attempted_at(self) -> datetime:
        return aware(self.row.attempted_at)  # type: ignore[return-value]


@strawberry.type(description="A partner's webhook: need events POSTed to url, signed with HMAC-SHA256.")
class Webhook(Node):
    row: strawberry.Private[PartnerWebhook]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode("Webhook", self.row.id))

    @strawberry.field
    def partner_code(self) -> str:
        return self.row.partner_code

    @strawberry.field
    def url(self) -> str:
        return self.row.url

    @strawberry.field(description="Empty: every need type the partner takes.")
    def need_types(self) -> list[str]:
        return list(self.row.need_types or ())

    @strawberry.field
    def locality_code(self) -> str | None:
        return self.row.locality_code

    @strawberry.field
    def status(self) -> WebhookStatus:  # type: ignore[valid-type]
        return self.row.status

    @strawberry.field(
        description="The last event handled; the next delivery is the first matching one after it."
    )
    def cursor(self) -> str:
        return encode_cursor(self.row.cursor)

    @strawberry.field
    def consecutive_failures(self) -> int:
        return self.row.consecutive_failures

    @strawberry.field
    def next_attempt_at(self) -> datetime | None:
        return aware(self.row.next_attempt_at)

    @strawberry.field
    def paused_at(self) -> datetime | None:
        return aware(self.row.paused_at)

    @strawberry.field
    def pause_reason(self) -> str | None:
        return self.row.pause_reason

    @strawberry.field
    def created_at(self) -> datetime:
        return aware(self.row.created_at)  # type: ignore[return-value]

    @strawberry.field(description="The latest delivery attempts, newest first.")
    async def deliveries(self, info: Info[Context, None], last: int = 20) -> list[WebhookDeliveryAttempt]:
        limit = max(0, min(last, 500))

        def work(session: Session) -> list[WebhookDelivery]:
            return list(
                session.scalars(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.webhook_id == self.row.id)
                    .order_by(WebhookDelivery.id.desc())
                    .limit(limit)
                )
            )

        return [WebhookDeliveryAttempt(row=r) for r in await info.context.read(work)]


@strawberry.input
class RegisterWebhookInput:
    url: str
    need_types: list[str] | None = strawberry.field(
        default=None, description="Only these of the partner's need types (default: all it takes)."
    )
    locality_code: str | None = strawberry.field(default=None, description="Only listings in this area.")
    after: str | None = strawberry.field(
        default=None, description="Start after this event cursor (default: events from now on)."
    )
    partner_code: str | None = strawberry.field(
        default=None, description="Admins only: the partner it is for."
    )


@strawberry.type
class WebhookPayload:
    webhook: Webhook | None
    secret: str | None = strawberry.field(
        description="Only in registerWebhook's answer, once: verify X-Safetynet-Signature with it."
    )
    user_errors: list[UserError]


# -- queries ---------------------------------------------------------------------------------------


async def need_listing_node(info: Info[Context, None], number: int) -> NeedListing | None:
    """``Query.node`` for a NeedListing id: the same scope as the needListings query."""
    ctx = info.context
    if ctx.me.role not in READERS:
        return None
    audience = service.audience_of(ctx.runtime.catalogue, ctx.me)
    row = await ctx.read(
        lambda s: s.scalar(select(NeedListingRow).where(NeedListingRow.id == number, audience.sql()))
    )
    return NeedListing.of(ListingState.now(row)) if row is not None else None


async def webhook_node(info: Info[Context, None], number: int) -> Webhook | None:
    """``Query.node`` for a Webhook id: a partner's own webhooks; every webhook for admins and auditors."""
    me = info.context.me

    def work(session: Session) -> PartnerWebhook | None:
        try:
            return hooks_service.webhook_for(session, number, me)
        except InputErrors:
            return None

    row = await info.context.read(work)
    return Webhook(row=row) if row is not None else None


@strawberry.type
class NeedsQuery:
    @strawberry.field(
        description="Need listings you may see, oldest first (partners: their need types and areas)."
    )
    async def need_listings(
        self,
        info: Info[Context, None],
        filter: NeedFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[NeedListing]:
        ctx = info.context
        audience = _audience(info)
        spec = _spec(filter, audience)
        maximum = ctx.runtime.settings.max_page_size
        if first is not None and first < 0:
            raise GraphQLError(f"first must be zero or more (at most {maximum}), got {first}")
        limit = DEFAULT_PAGE if first is None else min(first, maximum)
        start = _page_start(after)
        conditions = [audience.sql(), *spec.listing_conditions()]

        def work(session: Session) -> tuple[int, list[NeedListingRow]]:
            total = session.scalar(select(func.count()).select_from(NeedListingRow).where(*conditions)) or 0
            rows = session.scalars(
                select(NeedListingRow)
                .where(*conditions, NeedListingRow.id > start)
                .order_by(NeedListingRow.id)
                .limit(limit + 1)
            ).all()
            return total, list(rows)

        total, found = await ctx.read(work)
        edges = [
            Edge(cursor=_page_cursor(row.id), node=NeedListing.of(ListingState.now(row)))
            for row in found[:limit]
        ]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(found) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
            total_count=total,
        )

    @strawberry.field(description="One need listing, if you may see it.")
    async def need_listing(self, info: Info[Context, None], id: strawberry.ID) -> NeedListing | None:
        _audience(info)
        decoded = decode(id)
        if decoded is None or decoded[0] != "NeedListing":
            return None
        return await need_listing_node(info, decoded[1])

    @strawberry.field(
        description="The newest need-event cursor: subscribe to needListings with after: it "
        "to miss nothing from now on."
    )
    async def need_event_cursor(self, info: Info[Context, None]) -> str:
        _audience(info)
        return encode_cursor(await info.context.read(head))

    @strawberry.field(
        description="Partners' areas and resource lists with what is left this year (partners: their own)."
    )
    async def partner_resources(
        self, info: Info[Context, None], partner_code: str | None = None
    ) -> list[PartnerResources]:
        ctx = info.context
        me = ctx.me
        partners = await _partners_now(ctx)
        out = []
        for p in partners:
            if partner_code is not None and p.code != partner_code:
                continue
            if me.role is Role.PARTNER and p.code != me.partner_code:
                continue
            shown = partner_of(info, p.code)
            assert shown is not None
            out.append(
                PartnerResources(
                    partner=shown,
                    localities=list(p.localities),
                    resources=[
                        PartnerResource(
                            code=r.code,
                            name=r.name,
                            need_type=r.need_type,
                            amount=None if r.amount_fen is None else format_yuan(r.amount_fen),  # type: ignore[arg-type]
                            remaining_amount=None
                            if r.remaining_amount_fen is None
                            else format_yuan(r.remaining_amount_fen),  # type: ignore[arg-type]
                            quantity=r.quantity,
                            remaining_quantity=r.remaining_quantity,
                            available_until=r.available_until,
                        )
                        for r in p.resources
                    ],
                )
            )
        return out

    @strawberry.field(description="Your webhooks (partners); every webhook (admins, auditors).")
    async def webhooks(self, info: Info[Context, None]) -> list[Webhook]:
        me = info.context.me
        return [
            Webhook(row=r) for r in await info.context.read(lambda s: hooks_service.visible_webhooks(s, me))
        ]


# -- mutations -------------------------------------------------------------------------------------


def _amount_fen(amount: Any) -> int | None:
    if amount is None:
        return None
    try:
        fen = yuan_to_fen(amount, allow_negative=True)
    except MoneyError as exc:
        raise fail(("amount",), str(exc), "INVALID_AMOUNT") from None
    if fen < 0:
        raise fail(
            ("amount",), f"'{amount}' is negative; a fulfilment amount is zero or more", "INVALID_AMOUNT"
        )
    return fen


async def _announce(ctx: Context, change: service.Change) -> None:
    svc = await services(ctx.runtime)
    await svc.announce(change.event.id)


@strawberry.type
class NeedsMutation:
    @strawberry.mutation(description="Publish a household's need for partners (civil affairs).")
    async def publish_need(self, info: Info[Context, None], input: PublishNeedInput) -> NeedListingPayload:
        ctx = info.context
        data = plain(input)
        try:
            household_id = expect(data.pop("household_id"), "Household", "householdId")
            change = await ctx.write(
                lambda s: service.publish_need(
                    s,
                    household_id,
                    data,
                    principal=ctx.me,
                    catalogue=ctx.runtime.catalogue,
                    vault=ctx.runtime.vault,
                    now=service.utcnow(),
                    origin=ctx.origin,
                )
            )
        except InputErrors as exc:
            return NeedListingPayload(need_listing=None, user_errors=user_errors(exc))
        await _announce(ctx, change)
        await notify(
            ctx.runtime.plugins, "safetynet_need_published", event=service.need_event(change.listing)
        )
        return NeedListingPayload(
            need_listing=NeedListing.of(ListingState.now(change.listing)), user_errors=[]
        )

    @strawberry.mutation(description="A partner takes a need on; one partner only.")
    async def claim_need(self, info: Info[Context, None], id: strawberry.ID) -> NeedListingPayload:
        ctx = info.context
        audience = service.audience_of(ctx.runtime.catalogue, ctx.me)
        try:
            number = expect(id, "NeedListing", "id")
            change = await ctx.write(
                lambda s: service.claim_need(
                    s, number, audience=audience, now=service.utcnow(), origin=ctx.origin
                )
            )
        except InputErrors as exc:
            return NeedListingPayload(need_listing=None, user_errors=user_errors(exc))
        await _announce(ctx, change)
        return NeedListingPayload(
            need_listing=NeedListing.of(ListingState.now(change.listing)), user_errors=[]
        )

    @strawberry.mutation(
        description="The partner that claimed a need reports the help given; "
        "it is added to the household's aid chain."
    )
    async def fulfil_need(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        amount: Money | None = None,
        note: str | None = None,
    ) -> NeedListingPayload:
        ctx = info.context
        runtime = ctx.runtime
        audience = service.audience_of(runtime.catalogue, ctx.me)
        try:
            number = expect(id, "NeedListing", "id")
            fen = _amount_fen(amount)
            change = await ctx.write(
                lambda s: service.fulfil_need(
                    s,
                    number,
                    audience=audience,
                    amount_fen=fen,
                    note=note,
                    today=runtime.today(),
                    now=service.utcnow(),
                    origin=ctx.origin,
                )
            )
        except InputErrors as exc:
            return NeedListingPayload(need_listing=None, user_errors=user_errors(exc))
        await _announce(ctx, change)
        from safetynet.aid_chain import aid_event

        assert change.aid_record is not None
        await notify(
            runtime.plugins,
            "safetynet_need_fulfilled",
            event=service.need_event(change.listing, partner_code=change.listing.claimed_by, amount_fen=fen),
        )
        await notify(
            runtime.plugins, "safetynet_aid_granted", event=aid_event(change.aid_record, change.household)
        )
        return NeedListingPayload(
            need_listing=NeedListing.of(ListingState.now(change.listing)), user_errors=[]
        )

    @strawberry.mutation(description="Civil affairs takes a need back (open or claimed), with the reason.")
    async def withdraw_need(
        self, info: Info[Context, None], id: strawberry.ID, reason: str
    ) -> NeedListingPayload:
        ctx = info.context
        audience = service.audience_of(ctx.runtime.catalogue, ctx.me)
        try:
            number = expect(id, "NeedListing", "id")
            change = await ctx.write(
                lambda s: service.withdraw_need(
                    s, number, reason, audience=audience, now=service.utcnow(), origin=ctx.origin
                )
            )
        except InputErrors as exc:
            return NeedListingPayload(need_listing=None, user_errors=user_errors(exc))
        await _announce(ctx, change)
        return NeedListingPayload(
            need_listing=NeedListing.of(ListingState.now(change.listing)), user_errors=[]
        )

    @strawberry.mutation(
        description="A partner registers a URL to receive need events (signed, retried, paused)."
    )
    async def register_webhook(
        self, info: Info[Context, None], input: RegisterWebhookInput
    ) -> WebhookPayload:
        ctx = info.context
        data = plain(input)
        try:
            if data.get("after") is not None:
                try:
                    data["after"] = decode_cursor(data["after"])
                except CursorError as exc:
                    raise fail(("after",), str(exc), "INVALID_CURSOR") from None
            row, secret = await ctx.write(
                lambda s: hooks_service.register_webhook(
                    s,
                    data,
                    principal=ctx.me,
                    catalogue=ctx.runtime.catalogue,
                    vault=ctx.runtime.vault,
                    settings=ctx.runtime.settings,
                )
            )
        except InputErrors as exc:
            return WebhookPayload(webhook=None, secret=None, user_errors=user_errors(exc))
        (await services(ctx.runtime)).webhooks.kick()
        return WebhookPayload(webhook=Webhook(row=row), secret=secret, user_errors=[])

    @strawberry.mutation(description="Take up a paused webhook again, from the event that failed.")
    async def resume_webhook(self, info: Info[Context, None], id: strawberry.ID) -> WebhookPayload:
        ctx = info.context
        try:
            number = expect(id, "Webhook", "id")
            row = await ctx.write(lambda s: hooks_service.resume_webhook(s, number, principal=ctx.me))
        except InputErrors as exc:
            return WebhookPayload(webhook=None, secret=None, user_errors=user_errors(exc))
        (await services(ctx.runtime)).webhooks.kick()
        return WebhookPayload(webhook=Webhook(row=row), secret=None, user_errors=[])

    @strawberry.mutation(description="Delete a webhook and its delivery records.")
    async def delete_webhook(self, info: Info[Context, None], id: strawberry.ID) -> WebhookPayload:
        ctx = info.context
        try:
            number = expect(id, "Webhook", "id")
            row = await ctx.write(lambda s: hooks_service.delete_webhook(s, number, principal=ctx.me))
        except InputErrors as exc:
            return WebhookPayload(webhook=None, secret=None, user_errors=user_errors(exc))
        return WebhookPayload(webhook=Webhook(row=row), secret=None, user_errors=[])


# -- subscription ----------------------------------------------------------------------------------


async def _stream(
    ctx: Context, audience: Audience, spec: NeedFilterSpec, start: int, newest: int
) -> AsyncIterator[NeedListingEvent]:
    hub = (await services(ctx.runtime)).hub
    hub.notify(newest)  # the log may be ahead of this process (e.g. written while it was down)
    try:
        async for event in hub.follow(audience, spec, start):
            yield NeedListingEvent.of(event)
    except NotAuthorised:
        raise GraphQLError(
            "your API key was revoked or has expired; reconnect with a valid key",
            extensions={"code": "UNAUTHENTICATED"},
        ) from None


@strawberry.type
class NeedsSubscription:
    @strawberry.subscription(
        description="Need events you may see: those after the `after` cursor first (replayed from the log), "
        "then live ones, in order, without gaps or repeats. Without `after`, from now on."
    )
    async def need_listings(
        self, info: Info[Context, None], filter: NeedFilter | None = None, after: str | None = None
    ) -> AsyncIterator[NeedListingEvent]:
        ctx = info.context
        audience = _audience(info)
        spec = _spec(filter, audience)
        newest = await ctx.read(head)
        if after is None:
            start = newest
        else:
            start = _cursor(after)
            if start > newest:
                raise GraphQLError(
                    f"after: cursor '{after}' is ahead of the event log (its newest cursor is "
                    f"'{encode_cursor(newest)}'): was it issued by another database?",
                    extensions={"code": "INVALID_CURSOR"},
                )
        return _stream(ctx, audience, spec, start, newest)


# -- one execution per event, query and audience ---------------------------------------------------


class SharedEventExecution(StrawberryGraphQLCoreExecutionContext):
    """Executes a need event once for every subscriber with the same query, variables and audience.

    A thousand partner dashboards on one subscription would otherwise run the same GraphQL execution a
    thousand times per event. The result is kept on the event (``LoggedEvent.shared``) under a key of
    the query text, operation name, variables and who is asking: for partners the partner (they can
    never see anything key-specific), for everyone else the API key itself (their fields may read
    personal data, and such reads are audited per key). Anything that is not a need event is executed
    as usual.
    """

    def execute_operation(self, serially: bool | None = None) -> Any:
        event = self.root_value
        key = self._shared_key() if isinstance(event, NeedListingEvent) else None
        if key is None:
            return super().execute_operation(serially)
        shared = event.logged.shared
        found = shared.get(key)
        if found is not None:
            return found if not isinstance(found, asyncio.Future) else _awaited(found)
        result = super().execute_operation(serially)
        if not self.is_awaitable(result):
            shared[key] = result
            return result
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        shared[key] = future

        async def settle() -> Any:
            try:
                value = await result
            except BaseException as exc:
                shared.pop(key, None)
                future.set_exception(exc)
                future.exception()  # retrieved: the other subscribers get it through _awaited
                raise
            shared[key] = value
            future.set_result(value)
            return value

        return settle()

    def _shared_key(self) -> tuple[Any, ...] | None:
        location = self.operation.loc
        principal = getattr(self.context_value, "principal", None)
        if location is None or principal is None:
            return None
        variables = getattr(self.variable_values, "coerced", self.variable_values)
        try:
            frozen = repr(sorted((variables or {}).items()))
        except TypeError:
            return None
        who: tuple[Any, ...] = (
            (Role.PARTNER, principal.partner_code)
            if principal.role is Role.PARTNER
            else (principal.role, principal.key_id, principal.locality_code, principal.department)
        )
        return (location.source.body, self.operation.name and self.operation.name.value, frozen, who)


async def _awaited(future: asyncio.Future[Any]) -> Any:
    return await asyncio.shield(future)


def share_subscription_results(schema: strawberry.Schema) -> strawberry.Schema:
    """Install :class:`SharedEventExecution` on a schema (the app does, for its websocket subscribers)."""
    schema.execution_context_class = SharedEventExecution
    return schema
