"""The audit log (审计日志) over GraphQL: reads of personal data are recorded, and ``auditLog`` shows them.

Every read of an unmasked identity number, and of a household's full record (its members: names, birth
dates, illness, disability), by a principal with an API key is noted on the request's context
(:func:`record_read`) and written at the end of the request in one statement (:class:`AuditReads`), so a
page of a hundred households costs one insert, not a hundred. An entry says who (the key), what (the
action, the household or member), when, and from where (the client's IP address and user agent).

``auditLog`` is for AUDITOR and ADMIN keys only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.orm import Session
from strawberry.extensions import SchemaExtension
from strawberry.scalars import JSON
from strawberry.types import Info

from safetynet.model import Role
from safetynet.store.models import ApiKey, AuditEntry

from .context import Context
from .ids import decode, encode
from .types import Connection, Edge, PageInfo
from .types import Role as RoleType

READ_HOUSEHOLD = "read_household"
READ_ID_NUMBER = "read_id_number"
READERS = (Role.ADMIN, Role.AUDITOR)


# -- recording reads -------------------------------------------------------------------------------


def record_read(
    ctx: Context, action: str, subject_type: str, subject_id: int, household_id: int | None
) -> None:
    """Note that this request showed personal data; :class:`AuditReads` writes it when the request ends.

    Reads by the system itself (no key, e.g. the command line) are not recorded; the same subject read
    twice in one request is one entry.
    """
    if ctx.principal is not None and ctx.principal.key_id is not None:
        ctx.audited_reads[(action, subject_type, subject_id)] = household_id


async def write_reads(ctx: Context) -> None:
    """Write the reads noted so far in one insert, and forget them."""
    if not ctx.audited_reads:
        return
    reads, ctx.audited_reads = ctx.audited_reads, {}
    origin = ctx.origin
    rows = [
        {
            "principal_id": ctx.me.key_id,
            "action": action,
            "subject_type": subject_type,
            "subject_id": str(subject_id),
            "detail": {"household": household_id},
            "client": origin.client,
            "user_agent": origin.user_agent,
        }
        for (action, subject_type, subject_id), household_id in reads.items()
    ]
    await ctx.write(lambda session: session.execute(insert(AuditEntry), rows))


class AuditReads(SchemaExtension):
    """Writes the request's audited reads after execution (HTTP) or before each subscription event is
    sent (websocket), so nothing is shown that is not logged."""

    async def on_execute(self) -> AsyncIterator[None]:
        yield
        await write_reads(self.execution_context.context)

    async def on_stream_result(self, result: Any) -> AsyncIterator[None]:
        await write_reads(self.execution_context.context)
        yield


# -- the auditLog query ----------------------------------------------------------------------------


@strawberry.type(description="The API key behind an audit entry (the key itself is never kept).")
class AuditPrincipal:
    key_id: int
    key_prefix: str
    label: str | None
    role: RoleType  # type: ignore[valid-type]
    locality_code: str | None
    partner_code: str | None
    department: str | None


@strawberry.type(name="AuditEntry", description="审计日志: who read or changed what, when, from where.")
class AuditLogEntry:
    row: strawberry.Private[AuditEntry]
    key: strawberry.Private[ApiKey | None]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode("AuditEntry", self.row.id))

    @strawberry.field
    def at(self) -> datetime:
        return self.row.at if self.row.at.tzinfo else self.row.at.replace(tzinfo=UTC)

    @strawberry.field(description="What was done, e.g. read_household, read_id_number, publish_need.")
    def action(self) -> str:
        return self.row.action

    @strawberry.field
    def subject_type(self) -> str:
        return self.row.subject_type

    @strawberry.field
    def subject_id(self) -> str:
        return self.row.subject_id

    @strawberry.field(description="The household concerned, if any.")
    def household_id(self) -> strawberry.ID | None:
        number = _household_of(self.row)
        return None if number is None else strawberry.ID(encode("Household", number))

    @strawberry.field(description="The member concerned, if any.")
    def member_id(self) -> strawberry.ID | None:
        if self.row.subject_type != "Member":
            return None
        return strawberry.ID(encode("Member", int(self.row.subject_id)))

    @strawberry.field(description="Who: null for the system itself (the command line, the sweep).")
    def principal(self) -> AuditPrincipal | None:
        k = self.key
        if k is None:
            return None
        return AuditPrincipal(
            key_id=k.id,
            key_prefix=k.key_prefix,
            label=k.label,
            role=k.role,
            locality_code=k.locality_code,
            partner_code=k.partner_code,
            department=k.department,
        )

    @strawberry.field(description="From where: the client's IP address.")
    def client(self) -> str | None:
        return self.row.client

    @strawberry.field(description="From where: the client's user agent, when it sent one.")
    def user_agent(self) -> str | None:
        return self.row.user_agent

    @strawberry.field(description="Everything else recorded with the entry.")
    def detail(self) -> JSON:
        return self.row.detail or {}


def _household_of(row: AuditEntry) -> int | None:
    if row.subject_type == "Household":
        return int(row.subject_id)
    household = (row.detail or {}).get("household")
    return household if isinstance(household, int) else None


@strawberry.input(description="Which audit entries: every condition given must hold.")
class AuditLogFilter:
    household_id: strawberry.ID | None = strawberry.field(
        default=None, description="About this household or one of its members"
    )
    member_id: strawberry.ID | None = None
    key_id: int | None = strawberry.field(default=None, description="By this API key (principal.keyId)")
    actions: list[str] | None = None
    since: datetime | None = strawberry.field(default=None, description="At or after this time")
    until: datetime | None = strawberry.field(default=None, description="Before this time")


def _number(global_id: str, type_name: str, field: str) -> int:
    decoded = decode(global_id)
    if decoded is None or decoded[0] != type_name:
        raise GraphQLError(f"filter.{field}: '{global_id}' is not the id of a {type_name}")
    return decoded[1]


def _utc(moment: datetime) -> datetime:
    """Filter times in UTC, as stored (a time without an offset is taken as UTC)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _conditions(filter: AuditLogFilter | None) -> list[Any]:
    if filter is None:
        return []
    conditions: list[Any] = []
    if filter.household_id is not None:
        number = _number(filter.household_id, "Household", "householdId")
        conditions.append(
            or_(
                and_(AuditEntry.subject_type == "Household", AuditEntry.subject_id == str(number)),
                AuditEntry.detail["household"].as_integer() == number,
            )
        )
    if filter.member_id is not None:
        number = _number(filter.member_id, "Member", "memberId")
        conditions += [AuditEntry.subject_type == "Member", AuditEntry.subject_id == str(number)]
    if filter.key_id is not None:
        conditions.append(AuditEntry.principal_id == filter.key_id)
    if filter.actions is not None:
        conditions.append(AuditEntry.action.in_(filter.actions))
    if filter.since is not None:
        conditions.append(AuditEntry.at >= _utc(filter.since))
    if filter.until is not None:
        conditions.append(AuditEntry.at < _utc(filter.until))
    return conditions


@strawberry.type
class AuditQuery:
    @strawberry.field(description="审计日志, newest first: for AUDITOR and ADMIN keys only.")
    async def audit_log(
        self,
        info: Info[Context, None],
        filter: AuditLogFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[AuditLogEntry]:
        from .schema import decode_cursor, encode_cursor, page_size

        ctx = info.context
        if ctx.me.role not in READERS:
            raise GraphQLError(
                f"a {ctx.me.role.name} key cannot read the audit log; use an AUDITOR or ADMIN key",
                extensions={"code": "FORBIDDEN"},
            )
        limit = page_size(first, ctx.runtime.settings.max_page_size)
        conditions = _conditions(filter)
        older = [AuditEntry.id < decode_cursor(after)] if after is not None else []

        def work(session: Session) -> tuple[int, list[tuple[AuditEntry, ApiKey | None]]]:
            total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions))
            page = session.execute(
                select(AuditEntry, ApiKey)
                .outerjoin(ApiKey, ApiKey.id == AuditEntry.principal_id)
                .where(*conditions, *older)
                .order_by(AuditEntry.id.desc())
                .limit(limit + 1)
            ).all()
            return total or 0, [(entry, key) for entry, key in page]

        total, found = await ctx.read(work)
        edges = [
            Edge(cursor=encode_cursor(entry.id), node=AuditLogEntry(row=entry, key=key))
            for entry, key in found[:limit]
        ]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(found) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
            total_count=total,
        )
