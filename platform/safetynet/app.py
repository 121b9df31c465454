"""The Starlette application: /graphql (HTTP and graphql-transport-ws), GraphiQL in development, /healthz."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from safetynet.api.context import Context
from safetynet.api.needs import share_subscription_results
from safetynet.api.schema import build_schema
from safetynet.matching import services as matching
from safetynet.principals import Principal, authenticate
from safetynet.runtime import Runtime

INVALID_KEY = "invalid, revoked or expired API key"


class GraphQLApp(GraphQL):
    """Strawberry's ASGI view with our context: the principal comes from the Bearer key."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        super().__init__(
            share_subscription_results(build_schema(runtime)),
            graphql_ide=None if runtime.settings.production else "graphiql",
            allow_queries_via_get=False,
        )

    async def principal_for(self, authorization: str | None) -> tuple[Principal | None, str | None]:
        if not authorization:
            return None, None
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None, "Authorization must be 'Bearer <key>'"
        async with self.runtime.database.async_session() as session:
            principal = await session.run_sync(lambda s: authenticate(s, key.strip()))
        return principal, None if principal else INVALID_KEY

    async def get_context(self, request: Any, response: Any) -> Context:
        client = request.client.host if request.client else None
        if isinstance(request, WebSocket):
            return Context(runtime=self.runtime, principal=None, client=client, request=request)
        principal, error = await self.principal_for(request.headers.get("authorization"))
        return Context(
            runtime=self.runtime, principal=principal, client=client, request=request, key_error=error
        )

    async def on_ws_connect(self, context: Context) -> Any:
        """graphql-transport-ws: the key comes in connection_init as {"authorization": "Bearer <key>"}."""
        params = context.connection_params or {}
        principal, _ = await self.principal_for(params.get("authorization") or params.get("Authorization"))
        if principal is None:
            raise ConnectionRejectionError({"message": INVALID_KEY})
        context.principal = principal
        return None


def create_app(runtime: Runtime) -> Starlette:
    graphql = GraphQLApp(runtime)

    async def healthz(_request: Request) -> JSONResponse:
        try:
            async with runtime.database.async_engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "database": str(exc.__class__.__name__)}, status_code=503
            )
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await matching.services(runtime)  # need-event hub, broadcast listener, webhook sender
        with _server_garbage_collection():
            yield
        await matching.stop(runtime)
        await runtime.database.dispose()

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )


@contextlib.contextmanager
def _server_garbage_collection() -> Iterator[None]:
    """Collect garbage less often while serving.

    Each open websocket subscription keeps a few hundred Python objects alive, and CPython's default
    thresholds then run a full collection (which walks every object and stops every subscriber for
    hundreds of milliseconds with a thousand subscribers) every few thousand allocations. What start-up
    built is frozen out of the collector's walks, and collections are rarer; both are undone at shutdown.
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 50)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def create_app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory`` and several workers: configuration from the environment."""
    return create_app(Runtime.start())
