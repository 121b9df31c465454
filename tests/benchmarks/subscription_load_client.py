"""A load client for the subscriptions benchmark, run as its own process (the server keeps its CPU).

    python subscription_load_client.py WS_URL KEY COUNT AFTER EXPECTED OUT

opens COUNT websocket connections, each with one needListings subscription after the cursor AFTER,
prints ``READY`` once every connection is acknowledged and subscribed and ``WARM`` once every subscriber
received its first (warm-up) event, then records the arrival time (``time.time()``) of every event until
each subscriber has EXPECTED events after the warm-up, or 120 s pass. Writes
``{"subscribers": [[[listing_id, cursor, arrived_at], ...], ...]}`` to OUT.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect

QUERY = "subscription($after: String) { needListings(after: $after) { cursor kind listing { id } } }"


async def subscriber(
    url: str,
    key: str,
    after: str,
    expected: int,
    ready: asyncio.Event,
    warm: list[asyncio.Event],
    index: int,
    out: list,
    done: asyncio.Event,
    deadline: list[float],
) -> None:
    arrivals: list[tuple[str, str, float]] = []
    out[index] = arrivals
    async with connect(
        url, subprotocols=["graphql-transport-ws"], max_size=None, ping_interval=None, open_timeout=60
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": QUERY, "variables": {"after": after}}}
            )
        )
        ready.set()
        first = True
        while len(arrivals) < expected:
            remaining = deadline[0] - time.monotonic()
            if remaining <= 0:
                break
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=remaining)
            except TimeoutError:
                break
            now = time.time()
            message = json.loads(raw)
            if message.get("type") != "next":
                print(f"subscriber {index}: {message}", file=sys.stderr)
                break
            event = message["payload"]["data"]["needListings"]
            if first:
                first = False
                warm[index].set()
                continue
            arrivals.append((event["listing"]["id"], event["cursor"], now))
    warm[index].set()
    done.set()


async def main(url: str, key: str, count: int, after: str, expected: int, path: str) -> None:
    out: list = [None] * count
    readies = [asyncio.Event() for _ in range(count)]
    warms = [asyncio.Event() for _ in range(count)]
    deadline = [time.monotonic() + 600]
    tasks = []
    for i in range(count):
        tasks.append(
            asyncio.create_task(
                subscriber(url, key, after, expected, readies[i], warms, i, out, asyncio.Event(), deadline)
            )
        )
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # do not flood the accept queue
    await asyncio.gather(*(r.wait() for r in readies))
    print("READY", flush=True)
    await asyncio.gather(*(w.wait() for w in warms))
    print("WARM", flush=True)
    deadline[0] = time.monotonic() + 120
    await asyncio.gather(*tasks, return_exceptions=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"subscribers": out}, handle)
    print("DONE", flush=True)


if __name__ == "__main__":
    ws_url, api_key, n, cursor, want, out_path = sys.argv[1:7]
    asyncio.run(main(ws_url, api_key, int(n), cursor, int(want), out_path))
