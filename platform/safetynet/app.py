"""The Starlette application: /graphql (HTTP and graphql-transport-ws), GraphiQL in development, /healthz.

Every request passes the body-size limit and, on /graphql, its key's rate limit (``safetynet.limits``).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from safetynet.api.context import Context
from safetynet.api.needs import share_subscription_results
from safetynet.api.schema import build_schema
from safetynet.identity_rotation import lookup_key_problem
from safetynet.limits import BodyLimit, RateLimiter
from safetynet.matching import services as matching
from safetynet.monitoring import warning_feed
from safetynet.principals import KeyRefused, Principal, authenticate
from safetynet.runtime import Runtime

NO_KEY = "authentication required: send 'Authorization: Bearer <key>'"
_CALLER = "safetynet.caller"  # where an HTTP request's caller is kept in the ASGI scope


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the principal of a valid key, or why the key was refused (None: no key)."""

    principal: Principal | None
    key_error: str | None


class GraphQLApp(GraphQL):
    """Strawberry's ASGI view with our context: the principal comes from the Bearer key; each request
    counts against its key's rate limit (or its address's, without a valid key)."""

    def __init__(self, runtime: Runtime, limiter: RateLimiter) -> None:
        self.runtime = runtime
        self.limiter = limiter
        super().__init__(
            share_subscription_results(build_schema(runtime)),
            graphql_ide=None if runtime.settings.production else "graphiql",
            allow_queries_via_get=False,
        )

    async def caller(self, authorization: str | None) -> Caller:
        if not authorization:
            return Caller(None, None)
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return Caller(None, "Authorization must be 'Bearer <key>'")
        async with self.runtime.database.async_session() as session:
            try:
                return Caller(await session.run_sync(lambda s: authenticate(s, key.strip())), None)
            except KeyRefused as refused:
                return Caller(None, str(refused))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            caller = await self.caller(request.headers.get("authorization"))
            address = request.client.host if request.client else None
            key_id = caller.principal.key_id if caller.principal else None
            refusal = await self.limiter.check(key_id, address)
            if refusal is not None:
                await refusal.response()(scope, receive, send)
                return
            scope[_CALLER] = caller
        await super().__call__(scope, receive, send)

    async def get_context(self, request: Any, response: Any) -> Context:
        client = request.client.host if request.client else None
        if isinstance(request, WebSocket):
            return Context(runtime=self.runtime, principal=None, client=client, request=request)
        caller: Caller = request.scope[_CALLER]
        return Context(
            runtime=self.runtime,
            principal=caller.principal,
            client=client,
            request=request,
            response=response,
            key_error=caller.key_error,
        )

    async def on_ws_connect(self, context: Context) -> Any:
        """graphql-transport-ws: the key comes in connection_init as {"authorization": "Bearer <key>"}."""
        params = context.connection_params or {}
        caller = await self.caller(params.get("authorization") or params.get("Authorization"))
        if caller.principal is None:
            raise ConnectionRejectionError({"message": caller.key_error or NO_KEY, "code": "UNAUTHENTICATED"})
        refusal = await self.limiter.check(caller.principal.key_id, context.client)
        if refusal is not None:
            raise ConnectionRejectionError(
                {"message": refusal.message, "code": "RATE_LIMITED", "retryAfter": refusal.retry_after}
            )
        context.principal = caller.principal
        return None


def create_app(runtime: Runtime) -> Starlette:
    limiter = RateLimiter(runtime.settings)
    graphql = GraphQLApp(runtime, limiter)

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
        _check_lookup_key(runtime)
        await matching.services(runtime)  # need-event hub, broadcast listener, webhook sender
        await warning_feed.feed(runtime)  # live warnings for the warnings subscription
        with _server_garbage_collection():
            yield
        await warning_feed.stop(runtime)
        await matching.stop(runtime)
        await limiter.close()
        await runtime.database.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
        ],
        middleware=[Middleware(BodyLimit, max_bytes=runtime.settings.max_body_bytes)],
        lifespan=lifespan,
    )
    app.state.rate_limiter = (
        limiter  # websocket operations are counted by the schema's LimitWebsocketOperations
    )
    return app


def _check_lookup_key(runtime: Runtime) -> None:
    """Refuse to serve when the lookup-hash secret is not the one stored hashes were made with."""
    problem = runtime.database.run(lambda session: lookup_key_problem(session, runtime.vault))
    if problem:
        raise RuntimeError(f"not serving: {problem}")


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
