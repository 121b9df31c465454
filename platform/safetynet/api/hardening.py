"""What the API tells clients when something goes wrong: nothing about the server's insides.

* An unexpected exception (a bug, a database failure…) reaches the client as ``internal server error``
  with an error id (``extensions: {code: INTERNAL_SERVER_ERROR, errorId}``); the server log has the full
  traceback under that id. Deliberate errors (``GraphQLError``: validation, authentication, bad
  arguments) keep their messages, and are logged at INFO: they are the client's to fix, not an
  operator's (strawberry would log each one at ERROR, with a traceback).
* In production, "Did you mean …?" suggestions are cut from every message: they would spell out the
  schema that introspection no longer shows.

Both happen in :meth:`MaskingSchema.process_errors`, which strawberry calls with every error of every
operation (HTTP, websocket, subscriptions, errors raised by extensions) before formatting it.
:class:`LimitWebsocketOperations` applies the rate limit to operations sent over a websocket.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

logger = logging.getLogger("safetynet.api")

INTERNAL_ERROR_CODE = "INTERNAL_SERVER_ERROR"
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def is_unexpected(error: GraphQLError) -> bool:
    """An exception that is not a GraphQLError, raised while executing (it has a path) or by an
    extension (it has no place in the document). Errors from validating the document or the
    variables (a scalar refusing a value) point at the document and are the client's to fix."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    return error.path is not None or not error.nodes


def without_suggestions(message: str) -> str:
    """``"Cannot query field 'x' on type 'Query'. Did you mean 'y'?"`` → ``"Cannot query field 'x' on type 'Query'."``"""
    return _SUGGESTION.sub("", message)


class MaskingSchema(strawberry.Schema):
    """A strawberry schema that masks unexpected errors and, if asked, hides suggestions."""

    def __init__(self, *args: Any, hide_suggestions: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hide_suggestions = hide_suggestions

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if is_unexpected(error):
                _mask(error)
                continue
            if self.hide_suggestions:
                error.message = without_suggestions(error.message)
            logger.info("client error at %s: %s", _path(error), error.message)


def _path(error: GraphQLError) -> str:
    return ".".join(map(str, error.path)) if error.path else "-"


def _mask(error: GraphQLError) -> None:
    """Log the error with its traceback under a new id, and leave only the id in what the client sees."""
    error_id = secrets.token_hex(8)
    original = error.original_error
    path = _path(error)
    logger.error(
        "error id %s at %s: %s: %s",
        error_id,
        path,
        type(original).__name__,
        original,
        exc_info=original,
    )
    error.message = f"internal server error (error id {error_id}); the details are in the server log"
    error.extensions = {"code": INTERNAL_ERROR_CODE, "errorId": error_id}
    error.original_error = None


class LimitWebsocketOperations(SchemaExtension):
    """Over a websocket, every operation counts against its key's rate limit, as HTTP requests do.

    The app keeps its :class:`~safetynet.limits.RateLimiter` in ``app.state.rate_limiter``; HTTP requests
    are counted before they reach the schema.
    """

    async def on_execute(self) -> AsyncIterator[None]:
        ctx = self.execution_context.context
        request = getattr(ctx, "request", None)
        limiter = getattr(request.app.state, "rate_limiter", None) if isinstance(request, WebSocket) else None
        if limiter is not None and ctx.principal is not None:
            refusal = await limiter.check(ctx.principal.key_id, ctx.client)
            if refusal is not None:
                raise GraphQLError(refusal.message, extensions=refusal.extensions)
        yield
