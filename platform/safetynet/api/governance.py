"""Anti-fraud governance over GraphQL: near-relative registrations (近亲属备案), dishonesty records (失信)
and recoveries (追回), and ``Household.integrityFlags``.

Scope (``safetynet.governance.people``): ADMIN keys everywhere and CIVIL_AFFAIRS keys within their area
read and write both registers; AUDITOR keys read everything and change nothing; DEPARTMENT and PARTNER
keys are refused. A registered person's identity number is masked, and shown in full only to
principals that may read identity numbers, each read audited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from safetynet.governance import FlagCode, flags_by_household
from safetynet.governance import IntegrityFlag as Flag
from safetynet.governance.dishonesty import record_dishonesty, record_recovery
from safetynet.governance.near_relatives import Kinship as KinshipValue
from safetynet.governance.near_relatives import register_near_relative, remove_near_relative
from safetynet.governance.people import READERS, visible_in_register
from safetynet.rules import LocalityCodeError, check_code, scope_prefix
from safetynet.store.models import AidRecord as AidRecordRow
from safetynet.store.models import DishonestyRecord as DishonestyRow
from safetynet.store.models import Household as HouseholdRow
from safetynet.store.models import NearRelative as NearRelativeRow
from safetynet.store.models import Recovery as RecoveryRow
from safetynet.store.scope import visible_households

from .context import Context
from .ids import encode, expect
from .inputs import plain
from .payloads import registered, written
from .types import (
    AidRecord,
    Connection,
    Edge,
    IntegrityFlag,
    Money,
    PageInfo,
    UserError,
    full_id_number,
    money,
)

Row = TypeVar("Row", NearRelativeRow, DishonestyRow)

Kinship = strawberry.enum(KinshipValue, description="近亲属: the relative's relation to the staff member")


# -- output types ----------------------------------------------------------------------------------


def flag_of(flag: Flag) -> IntegrityFlag:
    kind = "NearRelative" if flag.code == FlagCode.NEAR_RELATIVE else "DishonestyRecord"
    return IntegrityFlag(
        code=FlagCode(flag.code),
        message=flag.message,
        member_id=None if flag.member_id is None else strawberry.ID(encode("Member", flag.member_id)),
        record_id=None if flag.record_id is None else strawberry.ID(encode(kind, flag.record_id)),
    )


def integrity_flags(ctx: Context) -> DataLoader[tuple[int, date], list[IntegrityFlag]]:
    """Flags by (household id, date): one pair of statements per date for a page of households."""

    async def load(keys: Sequence[tuple[int, date]]) -> list[list[IntegrityFlag]]:
        found: dict[tuple[int, date], list[IntegrityFlag]] = {}
        for day in {day for _, day in keys}:
            ids = [household_id for household_id, d in keys if d == day]
            flags = await ctx.read(lambda s, ids=ids, day=day: flags_by_household(s, ids, day))
            for household_id, listed in flags.items():
                found[(household_id, day)] = [flag_of(f) for f in listed]
        return [found.get(key, []) for key in keys]

    return DataLoader(load_fn=load)


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@strawberry.type
class RegisteredPerson:
    """What both registers' types share: the id (the class is named like its GraphQL type) and the
    person's identity number, masked or, audited, in full."""

    row: strawberry.Private[NearRelativeRow | DishonestyRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode(type(self).__name__, self.row.id))

    @strawberry.field
    def id_number_masked(self) -> str:
        return self.row.id_number_masked

    @strawberry.field(description="The full number: only for principals allowed to read it; audited.")
    def id_number(self, info: Info[Context, None]) -> str | None:
        return full_id_number(info, self.row, None)


@strawberry.type(description="近亲属备案: a staff member's registered near relative.")
class NearRelative(RegisteredPerson):
    row: strawberry.Private[NearRelativeRow]

    @strawberry.field
    def relative_name(self) -> str:
        return self.row.relative_name

    @strawberry.field
    def kinship(self) -> Kinship:  # type: ignore[valid-type]
        return KinshipValue(self.row.kinship)

    @strawberry.field(description="The staff member (civil-affairs worker, village cadre…)")
    def staff_name(self) -> str:
        return self.row.staff_name

    @strawberry.field
    def staff_post(self) -> str:
        return self.row.staff_post

    @strawberry.field(description="Where the staff member works: households under it are flagged")
    def locality_code(self) -> str:
        return self.row.locality_code

    @strawberry.field
    def registered_at(self) -> datetime:
        return _utc(self.row.registered_at)

    @strawberry.field
    def active(self) -> bool:
        return self.row.removed_at is None

    @strawberry.field
    def removed_at(self) -> datetime | None:
        return None if self.row.removed_at is None else _utc(self.row.removed_at)

    @strawberry.field
    def removal_reason(self) -> str | None:
        return self.row.removal_reason


@strawberry.type(description="追回: money recovered on a dishonesty record.")
class Recovery:
    row: strawberry.Private[RecoveryRow]

    @strawberry.field
    def amount(self) -> Money:
        return money(self.row.amount_fen)

    @strawberry.field
    def received_on(self) -> date:
        return self.row.received_on

    @strawberry.field
    def note(self) -> str | None:
        return self.row.note


@strawberry.type(description="失信记录: aid obtained by fraud, and what is to be recovered.")
class DishonestyRecord(RegisteredPerson):
    row: strawberry.Private[DishonestyRow]

    @strawberry.field
    def person_name(self) -> str:
        return self.row.person_name

    @strawberry.field(description="What was falsely declared, concealed or deceived (虚报、隐瞒、欺骗)")
    def facts(self) -> str:
        return self.row.facts

    @strawberry.field
    def amount_to_recover(self) -> Money:
        return money(self.row.amount_to_recover_fen)

    @strawberry.field
    def recovered(self) -> Money:
        return money(self._recovered_fen)

    @strawberry.field
    def outstanding(self) -> Money:
        return money(self.row.amount_to_recover_fen - self._recovered_fen)

    @property
    def _recovered_fen(self) -> int:
        return sum(r.amount_fen for r in self.row.recoveries)

    @strawberry.field
    def recoveries(self) -> list[Recovery]:
        return [Recovery(row=r) for r in self.row.recoveries]

    @strawberry.field
    def decided_on(self) -> date:
        return self.row.decided_on

    @strawberry.field
    def deciding_unit(self) -> str:
        return self.row.deciding_unit

    @strawberry.field(description="The area of the unit that recorded it")
    def locality_code(self) -> str:
        return self.row.locality_code

    @strawberry.field
    def recorded_at(self) -> datetime:
        return _utc(self.row.recorded_at)

    @strawberry.field(description="The aid records concerned that you may see")
    async def aid_records(self, info: Info[Context, None]) -> list[AidRecord]:
        ctx = info.context
        ids = [link.aid_record_id for link in self.row.aid_records]

        def work(session: Session) -> list[AidRecordRow]:
            return list(
                session.scalars(
                    select(AidRecordRow)
                    .join(HouseholdRow, HouseholdRow.id == AidRecordRow.household_id)
                    .where(AidRecordRow.id.in_(ids), visible_households(ctx.me))
                    .order_by(AidRecordRow.id)
                )
            )

        return [AidRecord(row=r) for r in await ctx.read(work)] if ids else []


# -- queries ---------------------------------------------------------------------------------------


@strawberry.input(description="Which near-relative registrations: every condition given must hold.")
class NearRelativeFilter:
    locality_code: str | None = strawberry.field(default=None, description="This area and everything in it")
    id_number: str | None = strawberry.field(default=None, description="This relative's identity number")
    include_removed: bool = False


@strawberry.input(description="Which dishonesty records: every condition given must hold.")
class DishonestyFilter:
    locality_code: str | None = strawberry.field(default=None, description="This area and everything in it")
    id_number: str | None = strawberry.field(default=None, description="This person's identity number")
    outstanding: bool | None = strawberry.field(
        default=None, description="Money still to recover (true), or fully recovered (false)"
    )


def _check_reader(ctx: Context, what: str) -> None:
    if ctx.me.role not in READERS:
        raise GraphQLError(f"a {ctx.me.role.name} key cannot read {what}", extensions={"code": "FORBIDDEN"})


def _area(column: Any, locality_code: str | None) -> list[Any]:
    if not locality_code:
        return []
    try:
        check_code(locality_code)
    except LocalityCodeError as exc:
        raise GraphQLError(f"filter.localityCode: {exc}", extensions={"code": "INVALID_FILTER"}) from None
    return [column.startswith(scope_prefix(locality_code), autoescape=True)]


def _same_person(ctx: Context, column: Any, id_number: str | None) -> list[Any]:
    return [] if id_number is None else [column == ctx.runtime.vault.lookup_hash(id_number)]


async def _page(
    ctx: Context,
    row_type: type[Row],
    conditions: list[Any],
    first: int | None,
    after: str | None,
    wrap: Callable[[Row], Any],
    *options: Any,
) -> Connection[Any]:
    from .schema import decode_cursor, encode_cursor, page_size

    limit = page_size(first, ctx.runtime.settings.max_page_size)
    start = decode_cursor(after)

    def work(session: Session) -> tuple[int, list[Row]]:
        total = session.scalar(select(func.count()).select_from(row_type).where(*conditions))
        page = session.scalars(
            select(row_type)
            .where(*conditions, row_type.id > start)
            .order_by(row_type.id)
            .limit(limit + 1)
            .options(*options)
        ).all()
        return total or 0, list(page)

    total, found = await ctx.read(work)
    edges = [Edge(cursor=encode_cursor(row.id), node=wrap(row)) for row in found[:limit]]
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=len(found) > limit, end_cursor=edges[-1].cursor if edges else None),
        total_count=total,
    )


_WITH_DETAILS = (selectinload(DishonestyRow.recoveries), selectinload(DishonestyRow.aid_records))


@strawberry.type
class GovernanceQuery:
    @strawberry.field(description="近亲属备案: registrations you may see, oldest first.")
    async def near_relatives(
        self,
        info: Info[Context, None],
        filter: NearRelativeFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[NearRelative]:
        ctx = info.context
        _check_reader(ctx, "near-relative registrations")
        filter = filter or NearRelativeFilter()
        conditions = [
            visible_in_register(NearRelativeRow.locality_code, ctx.me),
            *_area(NearRelativeRow.locality_code, filter.locality_code),
            *_same_person(ctx, NearRelativeRow.id_number_hash, filter.id_number),
        ]
        if not filter.include_removed:
            conditions.append(NearRelativeRow.removed_at.is_(None))
        return await _page(ctx, NearRelativeRow, conditions, first, after, lambda r: NearRelative(row=r))

    @strawberry.field(description="失信记录: records you may see, oldest first.")
    async def dishonesty_records(
        self,
        info: Info[Context, None],
        filter: DishonestyFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[DishonestyRecord]:
        ctx = info.context
        _check_reader(ctx, "dishonesty records")
        filter = filter or DishonestyFilter()
        conditions = [
            visible_in_register(DishonestyRow.locality_code, ctx.me),
            *_area(DishonestyRow.locality_code, filter.locality_code),
            *_same_person(ctx, DishonestyRow.id_number_hash, filter.id_number),
        ]
        if filter.outstanding is not None:
            recovered = (
                select(func.coalesce(func.sum(RecoveryRow.amount_fen), 0))
                .where(RecoveryRow.record_id == DishonestyRow.id)
                .scalar_subquery()
            )
            owed = DishonestyRow.amount_to_recover_fen > recovered
            conditions.append(owed if filter.outstanding else ~owed)
        return await _page(
            ctx, DishonestyRow, conditions, first, after, lambda r: DishonestyRecord(row=r), *_WITH_DETAILS
        )


# -- mutations -------------------------------------------------------------------------------------


@strawberry.input(description="近亲属备案: a staff member's near relative.")
class RegisterNearRelativeInput:
    id_number: str
    relative_name: str
    kinship: Kinship  # type: ignore[valid-type]
    staff_name: str
    staff_post: str = strawberry.field(description="e.g. 民政所工作人员, 村委会主任")
    locality_code: str = strawberry.field(
        description="Where the staff member works (county, township, village)"
    )


@strawberry.input(description="失信: a person's fraud, and the amount to recover.")
class RecordDishonestyInput:
    id_number: str
    person_name: str
    facts: str
    amount_to_recover: Money
    decided_on: date
    deciding_unit: str
    locality_code: str = strawberry.field(description="The area of the recording unit (your area or in it)")
    aid_record_ids: list[strawberry.ID] = strawberry.field(default_factory=list)


@strawberry.input(description="追回: money recovered on a dishonesty record.")
class RecordRecoveryInput:
    record_id: strawberry.ID
    amount: Money
    received_on: date
    note: str | None = None


@strawberry.type
class NearRelativePayload:
    near_relative: NearRelative | None
    user_errors: list[UserError]


@strawberry.type
class DishonestyRecordPayload:
    dishonesty_record: DishonestyRecord | None
    user_errors: list[UserError]


def _with_details(row: DishonestyRow) -> DishonestyRecord:
    """The record, with what the DishonestyRecord type reads loaded before the session closes."""
    _ = row.recoveries, row.aid_records
    return DishonestyRecord(row=row)


@strawberry.type
class GovernanceMutation:
    @strawberry.mutation(description="近亲属备案: register a staff member's near relative.")
    async def register_near_relative(
        self, info: Info[Context, None], input: RegisterNearRelativeInput
    ) -> NearRelativePayload:
        ctx = info.context
        return await written(
            ctx,
            NearRelativePayload,
            "near_relative",
            lambda s: NearRelative(row=registered(ctx, s, register_near_relative, plain(input))),
        )

    @strawberry.mutation(description="End a near-relative registration, with the reason (kept on record).")
    async def remove_near_relative(
        self, info: Info[Context, None], id: strawberry.ID, reason: str
    ) -> NearRelativePayload:
        ctx = info.context

        def work(session: Session) -> NearRelative:
            number = expect(id, "NearRelative", "id")
            return NearRelative(row=remove_near_relative(session, number, reason, principal=ctx.me))

        return await written(ctx, NearRelativePayload, "near_relative", work)

    @strawberry.mutation(description="失信: record a person's fraud and the amount to recover.")
    async def record_dishonesty(
        self, info: Info[Context, None], input: RecordDishonestyInput
    ) -> DishonestyRecordPayload:
        ctx = info.context
        data = plain(input)

        def work(session: Session) -> DishonestyRecord:
            data["aid_record_ids"] = [
                expect(global_id, "AidRecord", "aidRecordIds", i)
                for i, global_id in enumerate(data["aid_record_ids"])
            ]
            return _with_details(registered(ctx, session, record_dishonesty, data))

        return await written(ctx, DishonestyRecordPayload, "dishonesty_record", work)

    @strawberry.mutation(description="追回: record money recovered on a dishonesty record.")
    async def record_recovery(
        self, info: Info[Context, None], input: RecordRecoveryInput
    ) -> DishonestyRecordPayload:
        ctx = info.context
        data = plain(input)

        def work(session: Session) -> DishonestyRecord:
            data["record_id"] = expect(data["record_id"], "DishonestyRecord", "recordId")
            return _with_details(record_recovery(session, data, principal=ctx.me, today=ctx.runtime.today()))

        return await written(ctx, DishonestyRecordPayload, "dishonesty_record", work)
