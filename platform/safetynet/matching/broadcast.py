"""Telling subscribers "something new, re-read": the event hub and its broadcast backends.

The event log in the database is the truth. A broadcast only carries a cursor and only wakes readers
up, so a lost message delays an event (until the next poll) but never loses it.

* :class:`InProcessBroadcaster` (the default) serves one server process.
* :class:`RedisBroadcaster` (``SAFETYNET_BROADCAST_URL=redis://…``) publishes each message on a Redis
  channel that every worker process listens to, so a publish on one worker reaches subscribers on all.

The backends carry short text messages on a named channel (here each new cursor; the warning feed,
:mod:`safetynet.monitoring.warning_feed`, sends warning ids on its own channel). After (re)connecting, a
listener is given :data:`RESYNC`: messages sent meanwhile are lost, re-read.

:class:`NeedEventHub` is one per process: it reads new events once for all its subscribers (one query
per wake-up, not one per subscriber), keeps the recent tail of the log in memory, and re-reads the
status of every subscriber's API key with each batch, so authorisation is checked again for every event.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from safetynet.principals import Principal
from safetynet.store.db import Database
from safetynet.store.models import ApiKey

from .events import Audience, LoggedEvent, NeedFilterSpec, head, read_events

log = logging.getLogger(__name__)

CHANNEL = "safetynet:need-events"
#: Given to a listener when messages may have been missed (a Redis reconnection): re-read.
RESYNC = ""
FETCH_LIMIT = 5000
REPLAY_PAGE = 1000


class Broadcaster(Protocol):
    async def start(self, on_message: Callable[[str], None]) -> None: ...
    async def publish(self, message: str) -> None: ...
    async def close(self) -> None: ...


class InProcessBroadcaster:
    """One process: a publish reaches this process's listener directly."""

    def __init__(self) -> None:
        self._on_message: Callable[[str], None] | None = None

    async def start(self, on_message: Callable[[str], None]) -> None:
        self._on_message = on_message

    async def publish(self, message: str) -> None:
        if self._on_message is not None:
            self._on_message(message)

    async def close(self) -> None:
        self._on_message = None


class RedisBroadcaster:
    """Several processes: messages go through a Redis pub/sub channel (redis-py's asyncio client).

    The listener reconnects with backoff after a Redis failure and then asks for a re-read
    (:data:`RESYNC`), since messages published while it was away are gone; a failed publish is logged,
    and the other workers' polls pick the change up.
    """

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        import redis.asyncio as redis

        self.url = url
        self.channel = channel
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self, on_message: Callable[[str], None]) -> None:
        self._task = asyncio.create_task(self._listen(on_message), name="safetynet-redis-listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._ready.wait()
        if not self._ready.is_set():
            log.warning(
                "Redis at %s is not answering yet; %s falls back to polling", self._shown(), self.channel
            )

    async def _listen(self, on_message: Callable[[str], None]) -> None:
        delay = 0.5
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._ready.set()
                on_message(RESYNC)  # anything published while we were not listening: re-read
                delay = 0.5
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data = message["data"]
                        on_message(data.decode(errors="replace") if isinstance(data, bytes) else str(data))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._ready.clear()
                log.warning("Redis listener lost %s (%s); reconnecting in %.1f s", self._shown(), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def publish(self, message: str) -> None:
        try:
            await self._redis.publish(self.channel, message)
        except Exception as exc:
            log.warning("could not publish on %s to Redis %s: %s", self.channel, self._shown(), exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await self._redis.aclose()

    def _shown(self) -> str:
        from redis.connection import parse_url

        try:
            parts = parse_url(self.url)
            return f"{parts.get('host', '?')}:{parts.get('port', 6379)}"
        except Exception:
            return "redis"


def broadcaster_for(url: str | None, channel: str = CHANNEL) -> Broadcaster:
    if not url:
        return InProcessBroadcaster()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBroadcaster(url, channel)
    raise ValueError(
        f"SAFETYNET_BROADCAST_URL '{url}' is not supported: leave it unset (in-process) or use redis://HOST:PORT/DB"
    )


class NotAuthorised(Exception):
    """The subscriber's key was revoked or expired (checked for every event)."""


@dataclass
class KeyState:
    revoked: bool
    expires_at: datetime | None

    def valid(self, now: datetime) -> bool:
        if self.revoked:
            return False
        if self.expires_at is None:
            return True
        expires = self.expires_at if self.expires_at.tzinfo else self.expires_at.replace(tzinfo=UTC)
        return expires > now


class NeedEventHub:
    """This process's view of the event log: the tail in memory, subscribers woken on every change."""

    def __init__(self, database: Database, *, cache_size: int = 20_000, poll_seconds: float = 2.0) -> None:
        self.database = database
        self.cache_size = cache_size
        self.poll_seconds = poll_seconds
        self.head = 0  # newest event read
        self.floor = 0  # every event after floor (up to head) is in the cache
        self._cursors: list[int] = []
        self._events: list[LoggedEvent] = []
        self._wake = asyncio.Event()
        self._dirty = asyncio.Event()
        self._keys: dict[int, KeyState] = {}
        self._subscribers: dict[int, int] = {}  # key id → number of live subscriptions
        self._listeners: list[Callable[[], None]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._starting: asyncio.Future[None] | None = None

    # -- lifecycle

    async def start(self) -> None:
        """Read where the log stands and start listening (once, however many callers ask at the same time)."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._begin())
        await asyncio.shield(self._starting)

    async def _begin(self) -> None:
        self.head = self.floor = await self._read(head)
        self._tasks = [
            asyncio.create_task(self._fetch_loop(), name="safetynet-need-hub"),
            asyncio.create_task(self._poll_loop(), name="safetynet-need-poll"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        self._wake.set()

    def on_new_events(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    # -- being told

    def on_message(self, message: str) -> None:
        """A broadcast: a new cursor, or :data:`RESYNC`."""
        try:
            cursor = int(message) if message else 0
        except ValueError:
            log.warning("ignoring a malformed message on %s: %r", CHANNEL, message)
            return
        self.notify(cursor)

    def notify(self, cursor: int = 0) -> None:
        """Something new (``cursor``; 0 = unknown): re-read the log soon."""
        if cursor == 0 or cursor > self.head:
            self._dirty.set()

    async def _read(self, work: Callable[[Session], Any]) -> Any:
        async with self.database.async_session() as session:
            return await session.run_sync(work)

    async def _fetch_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._fetch()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the need event log failed; retrying")
                await asyncio.sleep(1)
                self._dirty.set()

    async def _poll_loop(self) -> None:
        """A safety net for lost broadcasts: re-read now and then while anyone is listening."""
        while True:
            await asyncio.sleep(self.poll_seconds)
            if self._subscribers or self._listeners:
                self._dirty.set()

    async def _fetch(self) -> None:
        key_ids = [k for k in self._subscribers if k is not None]

        def work(session: Session) -> tuple[list[LoggedEvent], dict[int, KeyState]]:
            events = read_events(session, self.head, limit=FETCH_LIMIT)
            return events, key_states(session, key_ids)

        events, keys = await self._read(work)
        self._keys.update(keys)
        if events:
            self._events.extend(events)
            self._cursors.extend(e.cursor for e in events)
            self.head = events[-1].cursor
            if len(events) == FETCH_LIMIT:
                self._dirty.set()
            if len(self._events) > self.cache_size * 5 // 4:
                cut = len(self._events) - self.cache_size
                self.floor = self._cursors[cut - 1]
                del self._events[:cut]
                del self._cursors[:cut]
            for listener in self._listeners:
                listener()
        if events or keys:
            wake, self._wake = self._wake, asyncio.Event()
            wake.set()

    # -- subscribing

    def authorised(self, principal: Principal) -> bool:
        state = self._keys.get(principal.key_id) if principal.key_id is not None else None
        return state is None or state.valid(datetime.now(UTC))

    def _since(self, cursor: int) -> list[LoggedEvent]:
        return self._events[bisect.bisect_right(self._cursors, cursor) :]

    async def follow(
        self, audience: Audience, spec: NeedFilterSpec, after: int | None
    ) -> AsyncIterator[LoggedEvent]:
        """Every event after ``after`` (None: from now) that the audience may see and the filter wants,
        in cursor order, without gaps or repeats: first from the database, then live from memory."""
        await self.start()
        principal = audience.principal
        cursor = self.head if after is None else after
        key = principal.key_id
        self._subscribers[key] = self._subscribers.get(key, 0) + 1  # type: ignore[index]
        try:
            while True:
                if cursor < self.floor:  # replay what this process no longer (or never) held in memory
                    floor_before = self.floor
                    page = await self._replay_page(cursor, audience, spec)
                    for event in page:
                        if not self.authorised(principal):
                            raise NotAuthorised
                        yield event
                        cursor = event.cursor
                    if len(page) < REPLAY_PAGE:
                        cursor = max(cursor, floor_before)
                    continue
                if self.head > cursor:
                    for event in self._since(cursor):
                        if not self.authorised(principal):
                            raise NotAuthorised
                        if audience.allows_event(event) and spec.matches_event(event):
                            yield event
                        cursor = event.cursor
                    continue
                if not self.authorised(principal):
                    raise NotAuthorised
                await self._wake.wait()
        finally:
            count = self._subscribers.get(key, 1) - 1  # type: ignore[arg-type]
            if count:
                self._subscribers[key] = count  # type: ignore[index]
            else:
                self._subscribers.pop(key, None)  # type: ignore[arg-type]

    async def _replay_page(self, cursor: int, audience: Audience, spec: NeedFilterSpec) -> list[LoggedEvent]:
        key = audience.principal.key_id
        conditions = [audience.sql(), *spec.event_conditions()]

        def work(session: Session) -> tuple[list[LoggedEvent], dict[int, KeyState]]:
            events = read_events(session, cursor, conditions=conditions, limit=REPLAY_PAGE)
            return events, key_states(session, [key] if key is not None else [])

        events, keys = await self._read(work)
        self._keys.update(keys)
        return events


def key_states(session: Session, key_ids: list[int]) -> dict[int, KeyState]:
    if not key_ids:
        return {}
    rows = session.execute(
        select(ApiKey.id, ApiKey.revoked_at, ApiKey.expires_at).where(ApiKey.id.in_(key_ids))
    ).all()
    found = {row.id: KeyState(row.revoked_at is not None, row.expires_at) for row in rows}
    for missing in set(key_ids) - set(found):
        found[missing] = KeyState(True, None)  # a deleted key is no key
    return found
