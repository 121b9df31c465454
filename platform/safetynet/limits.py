"""Request limits of the HTTP server: body and websocket message size, and rate limits per key or address.

Both answer like GraphQL does (``{"errors": [{"message", "extensions": {"code", …}}]}``), so clients
need no second error format: 413 ``PAYLOAD_TOO_LARGE`` for a body over ``SAFETYNET_MAX_BODY_BYTES``
(a websocket message over it closes the socket with code 1009), 429 ``RATE_LIMITED`` with a
``Retry-After`` header once a key (or an address without a valid key) has used up its requests for the
window. Counts are kept in Redis when ``SAFETYNET_RATE_LIMIT_URL`` (or a Redis broadcast URL) is set,
so several server processes share them; otherwise in each process.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from safetynet.settings import Settings

logger = logging.getLogger(__name__)

WS_MESSAGE_TOO_BIG = 1009
_REDIS_PREFIX = "safetynet:rate:"


def error_body(message: str, extensions: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL-shaped error answer."""
    return {"data": None, "errors": [{"message": message, "extensions": extensions}]}


# -- body size -------------------------------------------------------------------------------------


class BodyLimit:
    """ASGI middleware: refuse request bodies and websocket messages larger than ``max_bytes``.

    An HTTP body is read in full before the app sees it (GraphQL needs all of it anyway), counting
    bytes as they arrive, so a body without ``Content-Length`` is refused as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    @property
    def _message(self) -> str:
        return f"request body is larger than the limit of {self.max_bytes:,} bytes (SAFETYNET_MAX_BODY_BYTES)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self.app(scope, self._websocket_receive(receive, send), send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        extensions = {"code": "PAYLOAD_TOO_LARGE", "limit": self.max_bytes}
        response = JSONResponse(error_body(self._message, extensions), status_code=413)
        await response(scope, receive, send)

    def _websocket_receive(self, receive: Receive, send: Send) -> Receive:
        async def checked() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                size = (
                    len(message.get("text") or "") if message.get("bytes") is None else len(message["bytes"])
                )
                if size > self.max_bytes:  # (text counted in characters: at most 4 bytes each)
                    reason = f"message larger than {self.max_bytes} bytes (SAFETYNET_MAX_BODY_BYTES)"
                    await send({"type": "websocket.close", "code": WS_MESSAGE_TOO_BIG, "reason": reason})
                    return {"type": "websocket.disconnect", "code": WS_MESSAGE_TOO_BIG}
            return message

        return checked


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body as one message, then the client's later messages (e.g. ``http.disconnect``)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# -- rate limits -----------------------------------------------------------------------------------


class Counter(Protocol):
    async def hit(self, bucket: str, window: int, now: float) -> int:
        """Count one request in ``bucket`` for the fixed window containing ``now``; the count so far."""
        ...


class LocalCounter:
    """Counts in this process (one server process, or limits per process)."""

    def __init__(self) -> None:
        self._window_start: float | None = None
        self._counts: dict[str, int] = {}

    async def hit(self, bucket: str, window: int, now: float) -> int:
        start = now - now % window
        if start != self._window_start:  # a new window: forget the old counts
            self._window_start, self._counts = start, {}
        self._counts[bucket] = self._counts.get(bucket, 0) + 1
        return self._counts[bucket]


class RedisCounter:
    """Counts in Redis (``INCR`` on a key per bucket and window, expiring with the window).

    ``namespace`` keeps apart the counts of deployments (databases) that share one Redis.
    """

    def __init__(self, url: str, namespace: str) -> None:
        import redis.asyncio

        self.prefix = f"{_REDIS_PREFIX}{namespace}:"
        self._client = redis.asyncio.from_url(url, socket_connect_timeout=2, socket_timeout=2)

    async def hit(self, bucket: str, window: int, now: float) -> int:
        key = f"{self.prefix}{bucket}:{int(now // window)}"
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window + 1)
            count, _ = await pipe.execute()
        return int(count)

    async def close(self) -> None:
        await self._client.aclose()


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused: the limit, the window and the seconds until the next window."""

    limit: int
    window: int
    retry_after: int
    who: str

    @property
    def message(self) -> str:
        return (
            f"rate limit exceeded: at most {self.limit} requests per {self.window} s for {self.who}; "
            f"retry after {self.retry_after} s"
        )

    @property
    def extensions(self) -> dict[str, Any]:
        return {
            "code": "RATE_LIMITED",
            "limit": self.limit,
            "windowSeconds": self.window,
            "retryAfter": self.retry_after,
        }

    def response(self) -> JSONResponse:
        body = error_body(self.message, self.extensions)
        return JSONResponse(body, status_code=429, headers={"Retry-After": str(self.retry_after)})


class RateLimiter:
    """Fixed-window request limits: ``rate_limit`` per API key, ``anonymous_rate_limit`` per client address."""

    def __init__(self, settings: Settings) -> None:
        self.window = settings.rate_limit_window
        self.per_key = settings.rate_limit
        self.per_address = settings.anonymous_rate_limit
        url = settings.rate_limit_url
        namespace = hashlib.sha256(settings.database_url.encode()).hexdigest()[:12]
        self.counter: Counter = RedisCounter(url, namespace) if url else LocalCounter()

    async def check(self, key_id: int | None, address: str | None) -> Refusal | None:
        """Count a request by a key (by its id) or, without a valid key, by the client's address."""
        if key_id is not None:
            limit, bucket, who = self.per_key, f"key:{key_id}", f"API key {key_id}"
        else:
            limit, bucket, who = (
                self.per_address,
                f"address:{address}",
                f"requests without a valid key from {address}",
            )
        if not limit:
            return None
        now = time.time()
        try:
            count = await self.counter.hit(bucket, self.window, now)
        except Exception:  # Redis unreachable: serve rather than refuse everyone, and say so in the log
            logger.exception("rate limit counter failed; the request is let through")
            return None
        if count <= limit:
            return None
        retry_after = max(1, math.ceil(self.window - now % self.window))
        return Refusal(limit=limit, window=self.window, retry_after=retry_after, who=who)

    async def close(self) -> None:
        if isinstance(self.counter, RedisCounter):
            await self.counter.close()
