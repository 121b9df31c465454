"""Subscription.needListings over graphql-transport-ws, with real servers and a real websocket client:
two uvicorn processes sharing the database and Redis, replay from a cursor without loss or repeats, what a
partner never receives, and authorisation at connect, at subscribe and for every event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import redis
from websockets.exceptions import ConnectionClosed

from matching_support import (
    CLAIM,
    FULFIL,
    WITHDRAW,
    events,
    free_port,
    identifying_values,
    nothing_more,
    open_socket,
    post,
    publish,
    receive,
    register_household,
    start_process_server,
    stop_process,
    subscribe,
    thread_server,
    wait_healthy,
    write_charities,
)
from safetynet.matching import broadcast
from safetynet.matching.events import decode_cursor, encode_cursor
from safetynet.model import Role
from safetynet.store.models import ApiKey

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def runtime(make_runtime, tmp_path, monkeypatch):
    monkeypatch.setenv("SAFETYNET_CHARITIES", str(write_charities(tmp_path)))
    return make_runtime()


@pytest.fixture
def keys(key):
    return {
        "civil": key(Role.CIVIL_AFFAIRS, locality_code="120101"),
        "heping": key(Role.PARTNER, partner_code="heping_fund"),
        "tianjin": key(Role.PARTNER, partner_code="tianjin_charity"),
        "binhai": key(Role.PARTNER, partner_code="binhai_fund"),
        "department": key(Role.DEPARTMENT, locality_code="120101", department="medical_security"),
        "other_civil": key(Role.CIVIL_AFFAIRS, locality_code="120116"),
    }


@pytest.fixture
def cluster(runtime, database_url, tmp_path, keys):
    """Two real server processes (``uvicorn --factory safetynet.app:create_app_from_env``) on loopback,
    sharing the test database and a Redis broadcast; polling is slowed down to 60 s, so an event that
    arrives within seconds on the other worker came through Redis."""
    if not redis_available():
        pytest.skip(f"no Redis at {REDIS_URL}: start one with redis-server --daemonize yes --port 6379")
    env = {
        "SAFETYNET_DATABASE_URL": database_url,
        "SAFETYNET_SECRET_KEY": "test-secret",
        "SAFETYNET_BROADCAST_URL": REDIS_URL,
        "SAFETYNET_CHARITIES": str(tmp_path / "charities.toml"),
        "SAFETYNET_NEED_POLL_SECONDS": "60",
    }
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    processes = [start_process_server(p, env, log) for p, log in zip(ports, logs, strict=True)]
    try:
        for port, process, log in zip(ports, processes, logs, strict=True):
            wait_healthy(port, process, log)
        yield [f"127.0.0.1:{p}" for p in ports]
    finally:
        for process in processes:
            stop_process(process)


def assert_nothing_identifying(received: list[dict], household: dict) -> None:
    text = json.dumps(received, ensure_ascii=False)
    assert not [v for v in identifying_values(household) if v in text]
    for event in received:
        assert set(event["listing"]) <= {
            "id",
            "cursor",
            "needType",
            "summary",
            "localityCode",
            "urgency",
            "status",
            "publishedAt",
            "claimedBy",
        }


def test_a_partner_on_worker_b_hears_worker_a_and_resumes_from_its_cursor_on_either(cluster, keys):
    a, b = cluster
    household = register_household(a, keys["civil"])
    start = post(b, "{ needEventCursor }", key=keys["heping"])["needEventCursor"]

    with open_socket(b, keys["heping"]) as ws:
        subscribe(ws, "s1", {"after": start})
        first = publish(a, keys["civil"], household["id"])  # through worker A
        [heard] = events(ws, 1, timeout=8)  # on worker B, long before its 60 s poll: through Redis
        assert (heard["kind"], heard["listing"]["id"], heard["listing"]["status"]) == (
            "PUBLISHED",
            first["id"],
            "OPEN",
        )
        cursor = heard["cursor"]

    # Offline for five events the partner may see (and one it may not: it does not take 'care').
    assert post(a, CLAIM, {"id": first["id"]}, key=keys["heping"])["claimNeed"]["userErrors"] == []
    assert (
        post(a, FULFIL, {"id": first["id"], "amount": "500.00"}, key=keys["heping"])["fulfilNeed"][
            "userErrors"
        ]
        == []
    )
    living = publish(
        a, keys["civil"], household["id"], need_type="living", summary="失业,生活困难", urgency="NORMAL"
    )
    publish(a, keys["civil"], household["id"], need_type="care", summary="需要探访")
    assert (
        post(a, WITHDRAW, {"id": living["id"], "reason": "已获临时救助"}, key=keys["civil"])["withdrawNeed"][
            "userErrors"
        ]
        == []
    )
    last = publish(a, keys["civil"], household["id"], urgency="CRITICAL", summary="住院押金不足")
    expected = [
        ("CLAIMED", first["id"], "CLAIMED"),
        ("FULFILLED", first["id"], "FULFILLED"),
        ("PUBLISHED", living["id"], "OPEN"),
        ("WITHDRAWN", living["id"], "WITHDRAWN"),
        ("PUBLISHED", last["id"], "OPEN"),
    ]

    replays = {}
    for server in (b, a):  # the same five on either worker, in order, and nothing else
        with open_socket(server, keys["heping"]) as ws:
            subscribe(ws, "s2", {"after": cursor})
            replays[server] = missed = events(ws, 5)
            nothing_more(ws, 1.0)
            assert [(e["kind"], e["listing"]["id"], e["listing"]["status"]) for e in missed] == expected
            cursors = [e["cursor"] for e in missed]
            assert len(set(cursors)) == 5 and cursor not in cursors
    with open_socket(b, keys["heping"]) as ws:  # then live again: a publish through A reaches B
        subscribe(ws, "s3", {"after": replays[b][-1]["cursor"]})
        nothing_more(ws, 0.5)
        live = publish(a, keys["civil"], household["id"], summary="复诊费用")
        [again] = events(ws, 1, timeout=8)
        assert (again["kind"], again["listing"]["id"]) == ("PUBLISHED", live["id"])
    assert replays[a] == replays[b]  # the listing as of each event: a replay is what was sent live
    assert replays[b][0]["listing"]["claimedBy"] == {"code": "heping_fund"}
    assert_nothing_identifying([heard, *replays[a], *replays[b]], household)


def test_subscribe_time_errors(runtime, keys):
    with thread_server(runtime) as server:
        household = register_household(server, keys["civil"])
        publish(server, keys["civil"], household["id"])
        cases = [
            (keys["heping"], {"filter": {"needTypes": ["education"]}}, "does not take education"),
            (keys["heping"], {"filter": {"localityCode": "310105"}}, "does not serve 310105"),
            (keys["heping"], {"after": "not-a-cursor"}, "is not a need-event cursor"),
            (keys["heping"], {"after": encode_cursor(10**9)}, "ahead of the event log"),
            (keys["department"], {}, "cannot read need listings"),
            (keys["other_civil"], {"filter": {"localityCode": "120101"}}, "outside your area"),
        ]
        with open_socket(server, keys["heping"]) as ws:
            for n, (key, variables, message) in enumerate(cases):
                if key != keys["heping"]:
                    continue
                subscribe(ws, f"e{n}", variables)
                answer = receive(ws)
                assert answer["type"] == "error" and answer["id"] == f"e{n}", (
                    answer
                )  # at once, not an empty stream
                assert message in answer["payload"][0]["message"]
        for n, (key, variables, message) in enumerate(cases):
            if key == keys["heping"]:
                continue
            with open_socket(server, key) as ws:
                subscribe(ws, f"e{n}", variables)
                answer = receive(ws)
                assert answer["type"] == "error" and message in answer["payload"][0]["message"], answer


def test_authorisation_is_checked_for_every_event(runtime, keys):
    with thread_server(runtime) as server:
        household = register_household(server, keys["civil"])
        with open_socket(server, keys["tianjin"]) as ws:
            subscribe(ws, "s", {})
            nothing_more(ws, 0.3)
            publish(server, keys["civil"], household["id"])
            assert events(ws, 1)[0]["kind"] == "PUBLISHED"
            runtime.database.run(
                lambda s: (
                    s.query(ApiKey)
                    .filter(ApiKey.partner_code == "tianjin_charity")
                    .update({"revoked_at": datetime.now(UTC)})
                )
            )
            publish(server, keys["civil"], household["id"], summary="第二次就医")
            refused = receive(ws)
            assert refused["type"] == "next" and refused["payload"]["data"] is None
            assert "revoked" in refused["payload"]["errors"][0]["message"]
            assert receive(ws) == {"id": "s", "type": "complete"}
        # A revoked key cannot connect again at all: refused at connection_init.
        with pytest.raises(ConnectionClosed) as closed:
            open_socket(server, keys["tianjin"])
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


def test_filters_scope_and_replay_from_the_database(runtime, keys, monkeypatch):
    """A subscriber behind what the server holds in memory is replayed from the database, in pages."""
    runtime.settings.extra["need_cache_events"] = "2"
    monkeypatch.setattr(broadcast, "REPLAY_PAGE", 2)
    with thread_server(runtime) as server:
        household = register_household(server, keys["civil"])
        start = post(server, "{ needEventCursor }", key=keys["civil"])["needEventCursor"]
        listings = [publish(server, keys["civil"], household["id"], summary=f"第{i}次就医") for i in range(6)]
        post(server, CLAIM, {"id": listings[0]["id"]}, key=keys["heping"])
        care = publish(server, keys["civil"], household["id"], need_type="care", summary="需要探访")
        with open_socket(server, keys["heping"]) as ws:
            subscribe(ws, "all", {"after": start})
            replayed = events(ws, 7)
            assert [e["listing"]["id"] for e in replayed] == [x["id"] for x in listings] + [listings[0]["id"]]
            nothing_more(ws, 0.5)
            subscribe(ws, "claims", {"after": start, "filter": {"statuses": ["CLAIMED"]}})
            [claimed] = events(ws, 1)
            assert (claimed["kind"], claimed["listing"]["id"]) == ("CLAIMED", listings[0]["id"])
        with open_socket(server, keys["civil"]) as ws:  # civil affairs: its area, every need type
            subscribe(ws, "c", {"after": start, "filter": {"needTypes": ["care"], "urgencies": ["HIGH"]}})
            [seen] = events(ws, 1)
            assert seen["listing"]["id"] == care["id"]
        with open_socket(server, keys["other_civil"]) as ws:
            subscribe(ws, "o", {"after": start})
            nothing_more(ws, 0.5)
        with open_socket(server, keys["binhai"]) as ws:  # another district
            subscribe(ws, "b", {"after": start})
            nothing_more(ws, 0.5)


def test_safetynet_serve_with_two_workers_shares_events_through_redis(runtime, database_url, tmp_path, keys):
    """``safetynet serve --workers 2``: connections land on either worker; each hears every publish."""
    if not redis_available():
        pytest.skip(f"no Redis at {REDIS_URL}")
    port = free_port()
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        "SAFETYNET_DATABASE_URL": database_url,
        "SAFETYNET_SECRET_KEY": "test-secret",
        "SAFETYNET_BROADCAST_URL": REDIS_URL,
        "SAFETYNET_CHARITIES": str(tmp_path / "charities.toml"),
        "SAFETYNET_NEED_POLL_SECONDS": "60",
    }
    command = [sys.executable, "-m", "safetynet.cli", "serve", "--workers", "2", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_healthy(port, process, log)
        server = f"127.0.0.1:{port}"
        household = register_household(server, keys["civil"])
        start = post(server, "{ needEventCursor }", key=keys["heping"])["needEventCursor"]
        sockets = [open_socket(server, keys["heping"]) for _ in range(6)]
        try:
            for n, ws in enumerate(sockets):
                subscribe(ws, f"s{n}", {"after": start})
            published = [
                publish(server, keys["civil"], household["id"], summary=f"第{n}次就医")["id"]
                for n in range(4)
            ]
            for ws in sockets:
                assert [e["listing"]["id"] for e in events(ws, 4, timeout=8)] == published
        finally:
            for ws in sockets:
                ws.close()
    finally:
        stop_process(process)


def test_identical_subscribers_share_one_execution_per_event_and_audience(runtime, keys):
    query = """subscription($after: String) { needListings(after: $after) {
      cursor listing { id status household { id } } } }"""
    with thread_server(runtime) as server:
        household = register_household(server, keys["civil"])
        start = post(server, "{ needEventCursor }", key=keys["civil"])["needEventCursor"]
        sockets = [
            open_socket(server, key)
            for key in (keys["heping"], keys["heping"], keys["heping"], keys["civil"])
        ]
        try:
            for n, ws in enumerate(sockets):
                subscribe(ws, f"s{n}", {"after": start}, query=query)
            listing = publish(server, keys["civil"], household["id"])
            seen = [events(ws, 1)[0] for ws in sockets]
        finally:
            for ws in sockets:
                ws.close()
        hub = runtime.services["matching"].hub
        [logged] = [e for e in hub._events if e.cursor == decode_cursor(seen[0]["cursor"])]
        # Three partner subscribers, one execution; civil affairs (who may see the household) its own.
        assert len(logged.shared) == 2
    assert {e["listing"]["id"] for e in seen} == {listing["id"]}
    assert [e["listing"]["household"] for e in seen] == [None, None, None, {"id": household["id"]}]
