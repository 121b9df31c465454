"""Live warnings for front-end boards (``Subscription.warnings``): warning ids in, fresh rows out.

Whatever writes warnings calls :func:`announce` with their ids once committed: the sweep after each
batch, the lifecycle mutations after each change, an application's decision (the overdue warning it
closes), and every aid decision (the integrity warnings of :mod:`safetynet.governance.decisions`). It
costs nothing when nobody listens: no feed in the process and no broadcast URL, nothing happens; a feed
without subscribers drops the ids.

A server process has one :class:`WarningFeed` (started by the app, or by the first subscription). It
reads announced warnings once for all its subscribers — the rows with their routes and their household's
locality, in chunks — and gives each subscriber the ones its ``wants`` test accepts (scope and filter,
:mod:`safetynet.api.warnings`). Other processes hear through the broadcast backend of the need events
(:mod:`safetynet.matching.broadcast`) on the channel ``safetynet:warnings``: with Redis, a change on one
worker reaches the boards on every worker, and a sweep run from the command line publishes there too.
As a safety net (a lost message; a command-line sweep without Redis), the feed also looks for warnings
newer than the newest it has seen every :data:`POLL_SECONDS` while anyone is subscribed; changes to
older warnings made by another process arrive through Redis only.

There is no log to replay: a board subscribes, then reads the ``warnings`` query for what came before.
Each state of a warning (its id and ``updated_at``) is delivered once, in id order within a read. The
subscribers' API keys are read again with every read, so a revoked key ends its subscriptions. A
subscriber more than :data:`MAX_QUEUED` warnings behind (an unfiltered board during a first sweep of a
million households) is ended with :class:`FeedLagging` rather than held in memory: filter, or query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from safetynet.matching.broadcast import RESYNC, Broadcaster, NotAuthorised, broadcaster_for, key_states
from safetynet.principals import Principal
from safetynet.store.db import Database
from safetynet.store.models import Household, Warning

log = logging.getLogger(__name__)

KEY = "warning_feed"
CHANNEL = "safetynet:warnings"
POLL_SECONDS = 2.0
READ_CHUNK = 5000
#: How many warnings' last delivered state are remembered (to deliver each state once).
REMEMBERED = 100_000
#: How many warnings a subscriber may have waiting before its subscription is ended.
MAX_QUEUED = 10_000
#: This process, in its messages: a feed ignores its own (it has delivered them already).
ORIGIN = secrets.token_hex(8)


@dataclass(frozen=True)
class FeedWarning:
    """A warning as read for the subscribers: the row (routes loaded) and its household's locality."""

    row: Warning
    locality_code: str
    routes: frozenset[str]


class FeedLagging(Exception):
    """The subscriber fell more than :data:`MAX_QUEUED` warnings behind."""


@dataclass(eq=False)
class Subscriber:
    principal: Principal
    wants: Callable[[FeedWarning], bool]
    #: Warnings to hand out, or the exception that ends the subscription.
    queue: asyncio.Queue[FeedWarning | type[Exception]] = field(default_factory=asyncio.Queue)


def message(ids: Sequence[int], origin: str = ORIGIN) -> str:
    return f"{origin} {','.join(str(i) for i in ids)}"


def announce(runtime: Any, warning_ids: Sequence[int]) -> None:
    """Tell subscribers that these warnings were raised or changed (call after the commit, from any thread)."""
    ids = list(warning_ids)
    if not ids:
        return
    current: WarningFeed | None = runtime.services.get(KEY)
    if current is not None and current.loop.is_running():
        current.loop.call_soon_threadsafe(current.publish, ids)
    elif (runtime.settings.broadcast_url or "").startswith(("redis://", "rediss://", "unix://")):
        _publish_to_redis(runtime, ids)  # no server here (e.g. the command-line sweep): the workers listen


def _publish_to_redis(runtime: Any, ids: list[int]) -> None:
    import redis

    client = runtime.services.get(f"{KEY}.redis")
    if client is None:
        client = runtime.services[f"{KEY}.redis"] = redis.Redis.from_url(
            runtime.settings.broadcast_url, socket_connect_timeout=5
        )
    try:
        client.publish(CHANNEL, message(ids))
    except Exception as exc:  # a board misses a change; the sweep or mutation must not fail for it
        log.warning("could not publish %d warning ids on %s: %s", len(ids), CHANNEL, exc)


class WarningFeed:
    """This process's live warnings: ids from :func:`announce` and the broadcast, rows to subscribers."""

    def __init__(self, database: Database, broadcaster: Broadcaster, loop: asyncio.AbstractEventLoop) -> None:
        self.database = database
        self.broadcaster = broadcaster
        self.loop = loop
        self._subscribers: set[Subscriber] = set()
        self._pending: set[int] = set()
        self._poll_due = False
        self._newest = 0  # the newest warning id the poll has seen
        self._delivered: OrderedDict[int, Any] = OrderedDict()  # id → updated_at last delivered
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._sending: set[asyncio.Task[Any]] = set()
        self._starting: asyncio.Future[None] | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        """Start listening once, however many callers ask at the same time."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._begin())
        await asyncio.shield(self._starting)

    async def _begin(self) -> None:
        await self.broadcaster.start(self._on_message)
        self._tasks = [
            asyncio.create_task(self._read_loop(), name="safetynet-warning-feed"),
            asyncio.create_task(self._poll_loop(), name="safetynet-warning-poll"),
        ]

    async def close(self) -> None:
        for task in [*self._tasks, *self._sending]:
            task.cancel()
        for task in [*self._tasks, *self._sending]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.broadcaster.close()

    # -- being told

    def publish(self, ids: list[int]) -> None:
        """Warnings changed in this process: deliver here, and tell the other processes."""
        self._take(ids)
        task = asyncio.ensure_future(self.broadcaster.publish(message(ids)))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def _on_message(self, text: str) -> None:
        if text == RESYNC:
            self._poll_due = True
            self._wake.set()
            return
        origin, _, listed = text.partition(" ")
        if origin == ORIGIN:
            return
        try:
            ids = [int(i) for i in listed.split(",") if i]
        except ValueError:
            log.warning("ignoring a malformed message on %s: %r", CHANNEL, text[:200])
            return
        self._take(ids)

    def _take(self, ids: Sequence[int]) -> None:
        if self._subscribers and ids:
            self._pending.update(ids)
            self._wake.set()

    # -- reading and handing out

    async def _run(self, work: Callable[[Session], Any]) -> Any:
        async with self.database.async_session() as session:
            return await session.run_sync(work)

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            if self._subscribers:
                self._poll_due = True
                self._wake.set()

    async def _read_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading announced warnings failed; retrying")
                await asyncio.sleep(1)
                self._wake.set()

    async def _read(self) -> None:
        ids, self._pending = self._pending, set()
        poll, self._poll_due = self._poll_due, False
        if not self._subscribers:
            return
        newest = self._newest
        keys = sorted({s.principal.key_id for s in self._subscribers if s.principal.key_id is not None})

        def work(session: Session) -> tuple[list[int], list[Any], dict[int, Any]]:
            found = (
                list(
                    session.scalars(
                        select(Warning.id).where(Warning.id > newest).order_by(Warning.id).limit(READ_CHUNK)
                    )
                )
                if poll
                else []
            )
            wanted = sorted(ids | set(found))
            rows: list[Any] = []
            for start in range(0, len(wanted), READ_CHUNK):
                rows += session.execute(
                    select(Warning, Household.locality_code)
                    .join(Household, Household.id == Warning.household_id)
                    .where(Warning.id.in_(wanted[start : start + READ_CHUNK]))
                    .options(selectinload(Warning.routes))
                    .order_by(Warning.id)
                ).all()
            return found, rows, key_states(session, keys)

        found, rows, states = await self._run(work)
        if found:
            self._newest = max(self._newest, found[-1])
            if len(found) == READ_CHUNK:
                self._poll_due = True
                self._wake.set()
        fresh = []
        for row, locality_code in rows:
            if row.id in self._delivered and self._delivered[row.id] == row.updated_at:
                continue
            self._delivered[row.id] = row.updated_at
            self._delivered.move_to_end(row.id)
            fresh.append(FeedWarning(row, locality_code, frozenset(row.routed_to)))
        while len(self._delivered) > REMEMBERED:
            self._delivered.popitem(last=False)
        now = datetime.now(UTC)
        for subscriber in list(self._subscribers):
            state = (
                states.get(subscriber.principal.key_id) if subscriber.principal.key_id is not None else None
            )
            if state is not None and not state.valid(now):
                self._end(subscriber, NotAuthorised)
                continue
            for warning in fresh:
                if subscriber.wants(warning):
                    if subscriber.queue.qsize() >= MAX_QUEUED:
                        self._end(subscriber, FeedLagging)
                        break
                    subscriber.queue.put_nowait(warning)

    def _end(self, subscriber: Subscriber, reason: type[Exception]) -> None:
        self._subscribers.discard(subscriber)
        subscriber.queue.put_nowait(reason)

    # -- subscribing

    async def subscribe(self, principal: Principal, wants: Callable[[FeedWarning], bool]) -> Subscriber:
        """Register a subscriber now (so nothing announced from here on is missed); then :meth:`follow` it."""
        await self.start()
        if not self._subscribers:  # the poll looks for warnings newer than those existing now
            self._newest = await self._run(lambda s: s.scalar(select(func.max(Warning.id))) or 0)
        subscriber = Subscriber(principal, wants)
        self._subscribers.add(subscriber)
        return subscriber

    async def follow(self, subscriber: Subscriber) -> AsyncIterator[FeedWarning]:
        """The subscriber's warnings as they come; :class:`NotAuthorised` when its key is revoked,
        :class:`FeedLagging` when it fell too far behind."""
        try:
            while True:
                item = await subscriber.queue.get()
                if not isinstance(item, FeedWarning):
                    raise item
                yield item
        finally:
            self._subscribers.discard(subscriber)


async def feed(runtime: Any) -> WarningFeed:
    """This process's feed for ``runtime``, started in the running loop."""
    loop = asyncio.get_running_loop()
    current: WarningFeed | None = runtime.services.get(KEY)
    if current is None or current.loop is not loop or loop.is_closed():
        current = WarningFeed(
            runtime.database, broadcaster_for(runtime.settings.broadcast_url, CHANNEL), loop
        )
        runtime.services[KEY] = current
    await current.start()
    return current


async def stop(runtime: Any) -> None:
    current: WarningFeed | None = runtime.services.pop(KEY, None)
    if current is not None and current.loop is asyncio.get_running_loop():
        await current.close()
