"""Monitoring mutations: department feeds in (``ingestRecords``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import strawberry
from sqlalchemy.orm import Session
from strawberry.scalars import JSON
from strawberry.types import Info

from safetynet.catalogue import Catalogue
from safetynet.model import Role
from safetynet.monitoring.ingest import IngestResult, ingest
from safetynet.principals import Principal
from safetynet.store.models import AuditEntry

from .context import Context
from .types import UserError

MAX_RECORDS = 10_000


@strawberry.type(name="RecordError", description="A department record that was refused, and why.")
class RecordErrorType:
    index: int = strawberry.field(description="Position of the record in `records`, from 0.")
    record_id: str | None = strawberry.field(description="Its recordId, when it had a valid one.")
    message: str = strawberry.field(description="Every problem found, by field, with what is expected.")


@strawberry.type
class IngestPayload:
    accepted: int = strawberry.field(description="New signals stored.")
    duplicates: int = strawberry.field(
        description="Records whose recordId this source had sent before (or earlier in this call)."
    )
    rejected: list[RecordErrorType]
    user_errors: list[UserError]


def _refusal(principal: Principal, source: str, catalogue: Catalogue, count: int) -> UserError | None:
    """Why this principal may not ingest these records, or None. Departments send only their own feeds."""
    if principal.role not in (Role.ADMIN, Role.DEPARTMENT):
        article = "an" if principal.role.name[0] in "AEIOU" else "a"
        return UserError(
            field=["source"],
            message=f"{article} {principal.role.name} key may not ingest department records; "
            "use the department's own DEPARTMENT key or an ADMIN key",
            code="FORBIDDEN",
        )
    provided = catalogue.data_sources.get(source)
    if provided is None:
        known = ", ".join(sorted(catalogue.data_sources)) or "(none installed)"
        return UserError(
            field=["source"],
            message=f"no data source '{source}' is installed; known sources: {known}",
            code="UNKNOWN_SOURCE",
        )
    department = provided.item.department
    if principal.role is Role.DEPARTMENT and principal.department != department:
        return UserError(
            field=["source"],
            message=f"source '{source}' belongs to department '{department}'; "
            f"this key acts for department '{principal.department}'",
            code="FORBIDDEN",
        )
    if count > MAX_RECORDS:
        return UserError(
            field=["records"],
            message=f"{count} records in one call; send at most {MAX_RECORDS:,} per call "
            "(or use `safetynet ingest SOURCE FILE` for a whole file)",
            code="TOO_MANY_RECORDS",
        )
    return None


@strawberry.type
class MonitoringMutation:
    @strawberry.mutation(
        description="A department feed (部门数据): records become signals, idempotent by recordId. "
        "Records about people nobody has registered are kept and linked when they are registered."
    )
    async def ingest_records(
        self, info: Info[Context, None], source: str, records: list[JSON]
    ) -> IngestPayload:
        ctx = info.context
        runtime = ctx.runtime
        refusal = _refusal(ctx.me, source, runtime.catalogue, len(records))
        if refusal is not None:
            return IngestPayload(accepted=0, duplicates=0, rejected=[], user_errors=[refusal])
        received_at = datetime.now(UTC)
        origin = ctx.origin

        def work(session: Session) -> IngestResult:
            result = ingest(
                session, runtime.catalogue, runtime.vault, source, records, received_at=received_at
            )
            session.add(
                AuditEntry(
                    principal_id=ctx.me.key_id,
                    action="ingest_records",
                    subject_type="DataSource",
                    subject_id=source,
                    detail={
                        "accepted": result.accepted,
                        "duplicates": result.duplicates,
                        "rejected": len(result.rejected),
                    },
                    client=origin.client,
                    user_agent=origin.user_agent,
                )
            )
            return result

        # Parsing thousands of records is CPU work: do it on a worker thread (sync engine, one
        # transaction) so the event loop keeps serving other requests meanwhile.
        result = await asyncio.to_thread(runtime.database.run, work)
        return IngestPayload(
            accepted=result.accepted,
            duplicates=result.duplicates,
            rejected=[
                RecordErrorType(index=e.index, record_id=e.record_id, message=e.message)
                for e in result.rejected
            ],
            user_errors=[],
        )
