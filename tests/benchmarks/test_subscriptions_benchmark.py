"""Subscriptions: publish-to-delivery latency with 1,000 subscribers, and the replay of 10,000 missed events.

Run with ``uv run pytest -m benchmark tests/benchmarks/test_subscriptions_benchmark.py -s`` (not part of the
default run; ``SAFETYNET_TEST_DATABASE_URL=postgresql://…`` runs it on PostgreSQL). Targets: p99 ≤ 1 s,
zero loss, replay ≤ 2 s.

One real server process (``uvicorn --factory safetynet.app:create_app_from_env``, in-process broadcast) on
loopback. 1,000 websocket connections, each with one ``needListings`` subscription, are held by separate
client processes (``subscription_load_client.py``), so the clients' work does not slow the server down.
After a warm-up event that every subscriber must receive, 100 needs are published one after another over
HTTP; latency is from just before each ``publishNeed`` request is sent to the moment a subscriber's
client reads the event. Loss is any (subscriber, need) pair that never arrived. Then 10,000 events are
written straight to the log (so the server holds none of them in memory and must read them all back),
and one subscriber (an asyncio websocket client) reconnects with the cursor from before them: the time
is from its subscribe message to the 10,000th event, each checked to arrive once and in order.

It prints a table and writes it to the "Subscriptions" section of docs/benchmarks.md (other sections are
left as they are), with the load average: server, clients and other work share the machine's cores.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert, select
from websockets.asyncio.client import connect

from matching_support import (
    TOWNSHIP,
    free_port,
    post,
    publish,
    register_household,
    start_process_server,
    stop_process,
    wait_healthy,
    write_charities,
)
from safetynet.matching.events import decode_cursor
from safetynet.model import NeedEventKind, NeedStatus, Role, Urgency
from safetynet.principals import create_key
from safetynet.runtime import Runtime
from safetynet.settings import Settings
from safetynet.store.migrate import upgrade
from safetynet.store.models import Household, NeedEventRow, NeedListing

pytestmark = pytest.mark.benchmark

SUBSCRIBERS = 1_000
CLIENT_PROCESSES = 4
NEEDS = 100
MISSED = 10_000
CLIENT = Path(__file__).with_name("subscription_load_client.py")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux), to tell the server's work from a busy machine's."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, timeout: float = 15.0) -> None:
    """Wait until the server is idle: its CPU time grows by less than 20 ms in half a second."""
    deadline = time.monotonic() + timeout
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - before < 0.02:
            return
        before = now


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def test_subscriptions_benchmark(database_url, tmp_path):
    load_at_start = os.getloadavg()
    charities = write_charities(tmp_path)
    os.environ["SAFETYNET_CHARITIES"] = str(charities)
    runtime = Runtime.start(Settings(database_url=database_url, secret_key="bench-secret"))
    upgrade(runtime.database)
    runtime.sync_localities()
    civil = runtime.database.run(lambda s: create_key(s, Role.CIVIL_AFFAIRS, locality_code="120101"))
    partner = runtime.database.run(lambda s: create_key(s, Role.PARTNER, partner_code="heping_fund"))
    port = free_port()
    log = tmp_path / "server.log"
    env = {
        "SAFETYNET_DATABASE_URL": database_url,
        "SAFETYNET_SECRET_KEY": "bench-secret",
        "SAFETYNET_CHARITIES": str(charities),
    }
    server_process = start_process_server(port, env, log)
    clients: list[subprocess.Popen] = []
    try:
        wait_healthy(port, server_process, log)
        server = f"127.0.0.1:{port}"
        household = register_household(server, civil)
        after = post(server, "{ needEventCursor }", key=partner)["needEventCursor"]

        # -- 1,000 subscribers ------------------------------------------------------------------
        per_client = SUBSCRIBERS // CLIENT_PROCESSES
        outputs = [tmp_path / f"client-{i}.json" for i in range(CLIENT_PROCESSES)]
        for out in outputs:
            clients.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        str(CLIENT),
                        f"ws://{server}/graphql",
                        partner,
                        str(per_client),
                        after,
                        str(NEEDS),
                        str(out),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for client in clients:
            assert client.stdout is not None and client.stdout.readline().strip() == "READY"
        time.sleep(1.0)  # every subscribe message handled
        publish(server, civil, household["id"], summary="预热")  # the warm-up event
        for client in clients:
            assert client.stdout is not None and client.stdout.readline().strip() == "WARM"

        sent: dict[str, float] = {}
        cpu_before = cpu_seconds(server_process.pid)
        started = time.perf_counter()
        with httpx.Client(
            base_url=f"http://{server}", headers={"Authorization": f"Bearer {civil}"}, timeout=30
        ) as http:
            for i in range(NEEDS):
                variables = {
                    "input": {
                        "householdId": household["id"],
                        "needType": "medical",
                        "urgency": "HIGH",
                        "summary": f"第{i}次门诊,自付费用高",
                    }
                }
                at = time.time()
                body = http.post("/graphql", json={"query": _PUBLISH, "variables": variables}).json()
                sent[body["data"]["publishNeed"]["needListing"]["id"]] = at
        publishing = time.perf_counter() - started
        for client in clients:
            assert client.wait(180) == 0
        fan_out_cpu = cpu_seconds(server_process.pid) - cpu_before
        settle(server_process.pid)  # the 1,000 connections closing is not part of the replay
        latencies, lost, duplicates, out_of_order = [], 0, 0, 0
        for out in outputs:
            for arrivals in json.loads(out.read_text())["subscribers"]:
                ids = [a[0] for a in arrivals]
                duplicates += len(ids) - len(set(ids))
                cursors = [decode_cursor(a[1]) for a in arrivals]
                out_of_order += sum(1 for x, y in itertools.pairwise(cursors) if y <= x)
                lost += len(set(sent) - set(ids))
                latencies += [a[2] - sent[a[0]] for a in arrivals if a[0] in sent]
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)

        # -- replay of 10,000 missed events -----------------------------------------------------
        before = post(server, "{ needEventCursor }", key=partner)["needEventCursor"]
        _write_events(runtime, MISSED)
        cpu_before = cpu_seconds(server_process.pid)
        replay, replayed = asyncio.run(_replay(f"ws://{server}/graphql", partner, before))
        replay_cpu = cpu_seconds(server_process.pid) - cpu_before
        assert len(replayed) == MISSED and replayed == sorted(set(replayed)), (
            "replay lost, repeated or reordered"
        )
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
        stop_process(server_process)
        runtime.database.engine.dispose()
        os.environ.pop("SAFETYNET_CHARITIES", None)

    backend = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    load_at_end = os.getloadavg()
    rows = [
        (
            "setup",
            f"{backend}; one server process, in-process broadcast; {SUBSCRIBERS:,} websocket subscribers "
            f"held by {CLIENT_PROCESSES} client processes on loopback",
        ),
        (
            "publishing",
            f"{NEEDS} needs one after another in {publishing:.1f} s ({NEEDS / publishing:.1f}/s), "
            f"{len(latencies):,} deliveries",
        ),
        (
            "publish-to-delivery latency",
            f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms",
        ),
        ("loss", f"{lost} lost, {duplicates} duplicates, {out_of_order} out of order"),
        (
            "server CPU, publishing and delivering",
            f"{fan_out_cpu:.1f} s = {fan_out_cpu / len(latencies) * 1e6:.0f} µs per delivery",
        ),
        (
            "replay of 10,000 missed events",
            f"{replay:.2f} s = {MISSED / replay:,.0f} events/s to one reconnecting "
            f"subscriber (server CPU {replay_cpu:.2f} s)",
        ),
    ]
    targets = [
        ("p99 ≤ 1 s", f"{p99 * 1000:.0f} ms", _met(p99 <= 1.0)),
        ("zero loss", f"{lost + duplicates + out_of_order}", _met(lost + duplicates + out_of_order == 0)),
        ("replay ≤ 2 s", f"{replay:.2f} s", _met(replay <= 2.0)),
    ]
    body = _report(rows, targets, load_at_start, load_at_end)
    print("\n" + body, flush=True)
    _write_section(body)
    assert lost == 0 and duplicates == 0 and out_of_order == 0
    assert len(latencies) == SUBSCRIBERS * NEEDS


_PUBLISH = """mutation($input: PublishNeedInput!) {
  publishNeed(input: $input) { needListing { id } userErrors { code } } }"""
_REPLAY = "subscription($after: String) { needListings(after: $after) { cursor kind listing { id } } }"


DOCS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
SECTION = "Subscriptions"
COMMAND = "uv run pytest -m benchmark tests/benchmarks/test_subscriptions_benchmark.py -s"
INTRO = (
    "# Benchmarks\n\n"
    "Figures measured on the project's development machine, each with the command that produced it.\n"
    "Each section is written by its own benchmark; re-running one replaces only its section.\n"
)


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _report(
    rows: list[tuple[str, str]],
    targets: list[tuple[str, str, str]],
    load_at_start: tuple[float, float, float],
    load_at_end: tuple[float, float, float],
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{os.cpu_count()} cores ({platform.system()} {platform.machine()}, Python {platform.python_version()})"
    lines = [
        f"Measured {when} on {machine}; load average at the start {load_at_start[0]:.1f} "
        f"(5 min: {load_at_start[1]:.1f}), at the end {load_at_end[0]:.1f} (5 min: {load_at_end[1]:.1f}). "
        "Server, clients and any other work share the cores, so a busy machine slows every figure; "
        "the server's own CPU time is given too.",
        "",
        f"Command: `{COMMAND}` (SQLite; set `SAFETYNET_TEST_DATABASE_URL=postgresql://…` for PostgreSQL)",
        "",
        "| step | figure |",
        "| --- | --- |",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
        "| target | measured | |",
        "| --- | --- | --- |",
        *(f"| {what} | {measured} | {met} |" for what, measured, met in targets),
    ]
    return "\n".join(lines)


def _write_section(body: str) -> None:
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else INTRO
    section = f"## {SECTION}\n\n{body.rstrip()}\n"
    pattern = re.compile(rf"^## {re.escape(SECTION)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text, encoding="utf-8")


async def _replay(url: str, key: str, after: str) -> tuple[float, list[int]]:
    """Seconds from subscribing with ``after`` until the last missed event arrived, and their cursors."""
    async with connect(url, subprotocols=["graphql-transport-ws"], max_size=None, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        started = time.perf_counter()
        message = {
            "id": "replay",
            "type": "subscribe",
            "payload": {"query": _REPLAY, "variables": {"after": after}},
        }
        await ws.send(json.dumps(message))
        cursors = []
        while len(cursors) < MISSED:
            answer = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
            assert answer["type"] == "next", answer
            cursors.append(decode_cursor(answer["payload"]["data"]["needListings"]["cursor"]))
        return time.perf_counter() - started, cursors


def _write_events(runtime: Runtime, count: int) -> None:
    """``count`` published needs, written straight to the log (as if published while nobody listened)."""

    def work(session) -> None:  # type: ignore[no-untyped-def]
        household_id = session.scalar(select(Household.id).limit(1))
        now = datetime.now(UTC)
        for start in range(0, count, 1000):
            ids = session.scalars(
                insert(NeedListing).returning(NeedListing.id),
                [
                    {
                        "household_id": household_id,
                        "need_type": "medical",
                        "summary": f"积压需求 {start + i}",
                        "locality_code": TOWNSHIP,
                        "urgency": Urgency.NORMAL,
                        "status": NeedStatus.OPEN,
                        "published_at": now,
                    }
                    for i in range(min(1000, count - start))
                ],
            ).all()
            session.execute(
                insert(NeedEventRow),
                [{"listing_id": i, "kind": NeedEventKind.PUBLISHED, "created_at": now} for i in ids],
            )

    runtime.database.run(work)
