"""Per-request context: the principal, the runtime, DataLoaders, and database helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from safetynet.principals import Origin, Principal
from safetynet.runtime import Runtime

T = TypeVar("T")


@dataclass
class Context:
    runtime: Runtime
    principal: Principal | None
    client: str | None = None
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = None
    loaders: dict[str, Any] = field(default_factory=dict)
    key_error: str | None = None
    #: Reads of personal data to audit, written together when the request ends (``api.audit``).
    audited_reads: dict[tuple[str, str, int], int | None] = field(default_factory=dict)

    async def read(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` with a short-lived session (one per call; DataLoaders batch the calls)."""
        async with self.runtime.database.async_session() as session:
            return await session.run_sync(work)

    async def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction: everything or nothing is written."""
        async with self.runtime.database.async_session() as session, session.begin():
            return await session.run_sync(work)

    def loader(self, name: str, factory: Callable[[Context], Any]) -> Any:
        if name not in self.loaders:
            self.loaders[name] = factory(self)
        return self.loaders[name]

    @property
    def origin(self) -> Origin:
        """The request's client address and user agent, for the audit log."""
        headers = getattr(self.request, "headers", None)
        return Origin.of(self.client, headers.get("user-agent") if headers is not None else None)

    @property
    def me(self) -> Principal:
        """The principal; the auth guard has already refused requests without one."""
        assert self.principal is not None
        return self.principal
