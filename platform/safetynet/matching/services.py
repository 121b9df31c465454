"""The matching services of one server process: the event hub, the broadcast backend, the webhook sender.

Started on first use in the serving event loop (or by the app's lifespan) and kept on
``runtime.services["matching"]``; :func:`stop` ends them (the app's lifespan calls it at shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass

from safetynet.runtime import Runtime

from .broadcast import Broadcaster, NeedEventHub, broadcaster_for
from .webhooks import WebhookDispatcher, WebhookSettings

log = logging.getLogger(__name__)

KEY = "matching"


def _number(runtime: Runtime, name: str, default: float) -> float:
    """A tuning value from settings.extra or the environment (``SAFETYNET_<NAME>``)."""
    raw = runtime.settings.extra.get(name) or os.environ.get(f"SAFETYNET_{name.upper()}")
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"SAFETYNET_{name.upper()} must be a number, not '{raw}'") from None


@dataclass
class MatchingServices:
    runtime: Runtime
    hub: NeedEventHub
    broadcaster: Broadcaster
    webhooks: WebhookDispatcher
    loop: asyncio.AbstractEventLoop
    starting: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Start everything once, however many callers ask at the same time."""
        if self.starting is None:
            self.starting = asyncio.ensure_future(self._begin())
        await asyncio.shield(self.starting)

    async def _begin(self) -> None:
        await self.hub.start()
        await self.broadcaster.start(self.hub.on_message)
        self.hub.on_new_events(self.webhooks.kick)
        self.webhooks.start()

    async def announce(self, cursor: int) -> None:
        """After a need event is committed: wake this process's subscribers and tell the other workers."""
        await self.start()
        self.hub.notify(cursor)
        await self.broadcaster.publish(str(cursor))

    async def close(self) -> None:
        await self.webhooks.close()
        await self.broadcaster.close()
        await self.hub.close()


async def services(runtime: Runtime) -> MatchingServices:
    """This process's services for ``runtime``, started in the running loop."""
    loop = asyncio.get_running_loop()
    current: MatchingServices | None = runtime.services.get(KEY)
    if current is None or current.loop is not loop or loop.is_closed():
        settings = runtime.settings
        current = MatchingServices(
            runtime=runtime,
            hub=NeedEventHub(
                runtime.database,
                cache_size=max(1, int(_number(runtime, "need_cache_events", 20_000))),
                poll_seconds=_number(runtime, "need_poll_seconds", 2.0),
            ),
            broadcaster=broadcaster_for(settings.broadcast_url),
            webhooks=WebhookDispatcher(
                runtime,
                WebhookSettings(
                    max_attempts=int(_number(runtime, "webhook_max_attempts", 8)),
                    backoff_seconds=_number(runtime, "webhook_backoff_seconds", 5.0),
                    max_backoff_seconds=_number(runtime, "webhook_max_backoff_seconds", 3600.0),
                    timeout_seconds=_number(runtime, "webhook_timeout_seconds", 10.0),
                    tick_seconds=_number(runtime, "webhook_tick_seconds", 1.0),
                ),
            ),
            loop=loop,
        )
        runtime.services[KEY] = current
    await current.start()
    return current


async def stop(runtime: Runtime) -> None:
    current: MatchingServices | None = runtime.services.pop(KEY, None)
    if current is not None and current.loop is asyncio.get_running_loop():
        await current.close()
