"""The need event log as readers see it: cursors, filters, who may see an event, and the listing as of it.

Every publish, claim, fulfilment and withdrawal appends one row to ``need_events``; its id is the
cursor. Writers take a lock so that ids are committed in order
(:func:`safetynet.matching.needs.lock_event_log`), which makes "every event after cursor N" a complete
answer at any moment. An event shows the listing *as of that event* (status, partner, times), so a
replay gives exactly what was sent live.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import ColumnElement, String, func, select, true, type_coerce
from sqlalchemy.orm import Session

from safetynet.model import NeedEventKind, NeedStatus, Partner, Role, Urgency
from safetynet.principals import Principal
from safetynet.rules import LocalityCodeError, check_code, is_within, scope_prefix
from safetynet.store.models import Household, NeedEventRow, NeedListing
from safetynet.store.scope import visible_need_listings

CURSOR_TYPE = "NeedEvent"

#: The listing's status right after an event of each kind.
STATUS_AFTER = {
    NeedEventKind.PUBLISHED: NeedStatus.OPEN,
    NeedEventKind.CLAIMED: NeedStatus.CLAIMED,
    NeedEventKind.FULFILLED: NeedStatus.FULFILLED,
    NeedEventKind.WITHDRAWN: NeedStatus.WITHDRAWN,
}
KINDS_LEADING_TO = {status: kind for kind, status in STATUS_AFTER.items()}


class CursorError(ValueError):
    """A string that is not a need-event cursor from this API."""


def encode_cursor(event_id: int) -> str:
    """The opaque cursor of an event (``0`` is the start of the log)."""
    return base64.urlsafe_b64encode(f"{CURSOR_TYPE}:{event_id}".encode()).decode().rstrip("=")


def decode_cursor(value: str) -> int:
    """The event id inside a cursor; a :class:`CursorError` that says what to pass instead."""
    problem = (
        f"'{value}' is not a need-event cursor: pass the `cursor` of the last NeedListingEvent you "
        "received (or of a NeedListing, or Query.needEventCursor), or leave `after` out to start live"
    )
    if not isinstance(value, str) or not value or len(value) > 64:
        raise CursorError(problem)
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        kind, number = raw.split(":", 1)
        event_id = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise CursorError(problem) from None
    if kind != CURSOR_TYPE or event_id < 0 or not number.isdigit():
        raise CursorError(problem)
    return event_id


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- the listing as of an event --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListingFacts:
    """What never changes about a listing once it is published (and what its fulfilment or withdrawal
    wrote), read as plain values: cheap to hold for thousands of events and to share between readers."""

    id: int
    household_id: int
    need_type: str
    summary: str
    locality_code: str
    urgency: Urgency
    published_at: datetime
    claimed_at: datetime | None
    fulfilment_note: str | None
    withdrawal_reason: str | None

    @classmethod
    def of(cls, row: NeedListing) -> ListingFacts:
        return cls(
            row.id,
            row.household_id,
            row.need_type,
            row.summary,
            row.locality_code,
            row.urgency,
            aware(row.published_at),  # type: ignore[arg-type]
            aware(row.claimed_at),
            row.fulfilment_note,
            row.withdrawal_reason,
        )


#: The need_listings columns of ListingFacts, in order.
FACT_COLUMNS = (
    NeedListing.id,
    NeedListing.household_id,
    NeedListing.need_type,
    NeedListing.summary,
    NeedListing.locality_code,
    NeedListing.urgency,
    NeedListing.published_at,
    NeedListing.claimed_at,
    NeedListing.fulfilment_note,
    NeedListing.withdrawal_reason,
)


@dataclass(frozen=True, slots=True)
class ListingState:
    """A listing's changing facts, now or as of one event (its fixed facts are on ``row``)."""

    row: ListingFacts
    cursor: int
    status: NeedStatus
    claimed_by: str | None
    claimed_at: datetime | None
    fulfilled_at: datetime | None
    withdrawn_at: datetime | None
    fulfilled_amount_fen: int | None
    fulfilment_note: str | None

    @classmethod
    def now(cls, row: NeedListing) -> ListingState:
        return cls(
            row=ListingFacts.of(row),
            cursor=row.last_event_id or 0,
            status=row.status,
            claimed_by=row.claimed_by,
            claimed_at=aware(row.claimed_at),
            fulfilled_at=aware(row.fulfilled_at),
            withdrawn_at=aware(row.withdrawn_at),
            fulfilled_amount_fen=row.fulfilled_amount_fen,
            fulfilment_note=row.fulfilment_note,
        )

    @classmethod
    def at(cls, event: LoggedEvent) -> ListingState:
        row, kind = event.listing, event.kind
        held = event.partner_code  # the partner holding the listing right after the event
        fulfilled = kind is NeedEventKind.FULFILLED
        return cls(
            row=row,
            cursor=event.cursor,
            status=STATUS_AFTER[kind],
            claimed_by=held,
            claimed_at=(event.at if kind is NeedEventKind.CLAIMED else row.claimed_at) if held else None,
            fulfilled_at=event.at if fulfilled else None,
            withdrawn_at=event.at if kind is NeedEventKind.WITHDRAWN else None,
            fulfilled_amount_fen=event.amount_fen if fulfilled else None,
            fulfilment_note=row.fulfilment_note if fulfilled else None,
        )


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One row of the event log with its listing and the household's locality (for scope checks only).

    ``shared`` holds what readers may share about this event, e.g. the GraphQL result for one query and
    audience (:mod:`safetynet.api.needs`), so a thousand identical subscribers cost one execution.
    """

    cursor: int
    kind: NeedEventKind
    at: datetime
    partner_code: str | None
    amount_fen: int | None
    listing: ListingFacts
    household_locality: str
    shared: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def state(self) -> ListingState:
        return ListingState.at(self)


# -- who may see what ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audience:
    """A principal reading need listings, with its partner's catalogue entry (the PARTNER scope)."""

    principal: Principal
    partner: Partner | None = None

    def sql(self) -> ColumnElement[bool]:
        return visible_need_listings(self.principal, self.partner)

    @property
    def is_partner(self) -> bool:
        return self.principal.role is Role.PARTNER

    @cached_property
    def _prefixes(self) -> tuple[str, ...] | None:
        """The locality-code prefixes this audience may see (None: nothing at all)."""
        role = self.principal.role
        if role in (Role.ADMIN, Role.AUDITOR):
            return ("",)
        if role is Role.CIVIL_AFFAIRS:
            return (scope_prefix(self.principal.scope),)
        partner = self.partner
        if role is Role.PARTNER and partner is not None and partner.code == self.principal.partner_code:
            return tuple(scope_prefix(area) for area in partner.localities)
        return None

    def allows(self, need_type: str, locality_code: str, household_locality: str) -> bool:
        """The same rule as :func:`safetynet.store.scope.visible_need_listings`, in memory."""
        prefixes = self._prefixes
        if prefixes is None:
            return False
        if self.principal.role is Role.PARTNER:
            assert self.partner is not None
            return need_type in self.partner.need_types and locality_code.startswith(prefixes)
        return household_locality.startswith(prefixes)

    def allows_event(self, event: LoggedEvent) -> bool:
        return self.allows(event.listing.need_type, event.listing.locality_code, event.household_locality)

    def may_see_fulfilment(self, claimed_by: str | None) -> bool:
        """A fulfilment's amount and note: civil affairs and the partner that gave it, not other partners."""
        return not self.is_partner or (claimed_by is not None and claimed_by == self.principal.partner_code)


# -- filters ---------------------------------------------------------------------------------------


class FilterError(ValueError):
    """A NeedFilter that cannot be used; ``field`` is its path in the API's spelling."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class NeedFilterSpec:
    """A validated NeedFilter. For events, ``statuses`` means the status an event leaves the listing in."""

    locality_code: str | None = None
    need_types: frozenset[str] | None = None
    urgencies: frozenset[Urgency] | None = None
    statuses: frozenset[NeedStatus] | None = None

    @classmethod
    def of(
        cls,
        locality_code: str | None = None,
        need_types: Sequence[str] | None = None,
        urgencies: Sequence[Urgency] | None = None,
        statuses: Sequence[NeedStatus] | None = None,
    ) -> NeedFilterSpec:
        if locality_code is not None:
            try:
                check_code(locality_code)
            except LocalityCodeError as exc:
                raise FilterError("filter.localityCode", str(exc)) from None
        return cls(
            locality_code=locality_code,
            need_types=None if need_types is None else frozenset(need_types),
            urgencies=None if urgencies is None else frozenset(urgencies),
            statuses=None if statuses is None else frozenset(statuses),
        )

    def check_for(self, audience: Audience) -> None:
        """Refuse a filter that asks for what the principal can never see (not a silent empty result)."""
        partner = audience.partner
        if audience.is_partner and partner is not None:
            if self.need_types is not None:
                foreign = sorted(self.need_types - set(partner.need_types))
                if foreign:
                    raise FilterError(
                        "filter.needTypes",
                        f"partner {partner.code} does not take {', '.join(foreign)}; "
                        f"it takes {', '.join(partner.need_types)}",
                    )
            if self.locality_code is not None and not any(
                is_within(self.locality_code, area) or is_within(area, self.locality_code)
                for area in partner.localities
            ):
                raise FilterError(
                    "filter.localityCode",
                    f"partner {partner.code} does not serve {self.locality_code}; "
                    f"it serves {', '.join(partner.localities)}",
                )
        elif audience.principal.role is Role.CIVIL_AFFAIRS and self.locality_code is not None:
            scope = audience.principal.scope
            if not (is_within(self.locality_code, scope) or is_within(scope, self.locality_code)):
                raise FilterError(
                    "filter.localityCode", f"'{self.locality_code}' is outside your area {scope}"
                )

    def _fixed_conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.locality_code is not None:
            conditions.append(
                NeedListing.locality_code.startswith(scope_prefix(self.locality_code), autoescape=True)
                if len(self.locality_code) == 6
                else NeedListing.locality_code.startswith(self.locality_code[:9], autoescape=True)
            )
        if self.need_types is not None:
            conditions.append(NeedListing.need_type.in_(sorted(self.need_types)))
        if self.urgencies is not None:
            conditions.append(NeedListing.urgency.in_(sorted(self.urgencies, key=lambda u: u.name)))
        return conditions

    def listing_conditions(self) -> list[ColumnElement[bool]]:
        """For the needListings query: statuses are the listings' current ones."""
        conditions = self._fixed_conditions()
        if self.statuses is not None:
            conditions.append(NeedListing.status.in_(sorted(self.statuses, key=lambda s: s.name)))
        return conditions

    def event_conditions(self) -> list[ColumnElement[bool]]:
        conditions = self._fixed_conditions()
        if self.statuses is not None:
            kinds = sorted((KINDS_LEADING_TO[s] for s in self.statuses), key=lambda k: k.name)
            conditions.append(NeedEventRow.kind.in_(kinds))
        return conditions

    def matches_event(self, event: LoggedEvent) -> bool:
        listing = event.listing
        if self.locality_code is not None:
            prefix = (
                scope_prefix(self.locality_code) if len(self.locality_code) == 6 else self.locality_code[:9]
            )
            if not listing.locality_code.startswith(prefix):
                return False
        if self.need_types is not None and listing.need_type not in self.need_types:
            return False
        if self.urgencies is not None and listing.urgency not in self.urgencies:
            return False
        return self.statuses is None or STATUS_AFTER[event.kind] in self.statuses


# -- reading the log -------------------------------------------------------------------------------


def head(session: Session) -> int:
    """The newest event's cursor (0 for an empty log)."""
    return session.scalar(select(func.max(NeedEventRow.id))) or 0


def _moment(value: Any) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite: its text, parsed by the C ``fromisoformat``)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def read_events(
    session: Session,
    after: int,
    *,
    conditions: Sequence[ColumnElement[bool]] = (),
    up_to: int | None = None,
    limit: int = 1000,
) -> list[LoggedEvent]:
    """Events after ``after`` (and at most ``up_to``), oldest first, with their listings (as plain values).

    This is the hot path of subscriptions (one call per batch of events, thousands of rows on a replay):
    plain columns, no ORM objects, and on SQLite the times are read as text and parsed in C.
    """
    columns: list[Any] = [
        NeedEventRow.id,
        NeedEventRow.kind,
        NeedEventRow.created_at,
        NeedEventRow.partner_code,
        NeedEventRow.amount_fen,
        Household.locality_code,
        *FACT_COLUMNS,
    ]
    if session.get_bind().dialect.name == "sqlite":
        for i in (2, 12, 13):  # created_at, published_at, claimed_at
            columns[i] = type_coerce(columns[i], String)
    query = (
        select(*columns)
        .join(NeedListing, NeedListing.id == NeedEventRow.listing_id)
        .join(Household, Household.id == NeedListing.household_id)
        .where(NeedEventRow.id > after, *conditions)
        .where(NeedEventRow.id <= up_to if up_to is not None else true())
        .order_by(NeedEventRow.id)
        .limit(limit)
    )
    out = []
    for cursor, kind, at, partner, amount, household_locality, *listing in session.execute(query):
        listing[6] = _moment(listing[6])  # published_at
        listing[7] = _moment(listing[7])  # claimed_at
        facts = ListingFacts(*listing)
        when = _moment(at) or datetime.now(UTC)
        out.append(LoggedEvent(cursor, kind, when, partner, amount, facts, household_locality))
    return out
