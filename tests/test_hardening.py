"""API hardening (issue 6, item 5): no schema hints in production, capped pages, a body-size limit, rate
limits per key and per address (in-process and through Redis), masked unexpected errors; through the
app over HTTP, a real uvicorn server, and a production server configured from the environment."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest
import redis
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from command_line import environment, safetynet
from conftest import admin_of, graphql_for, register
from matching_support import free_port, start_process_server, stop_process, thread_server, wait_healthy

REDIS_URL = "redis://127.0.0.1:6379/0"
TYPO = "{ househods { totalCount } }"


# -- schema hints and error masking ----------------------------------------------------------------


@pytest.mark.parametrize("env", ["development", "production"])
async def test_suggestions_are_cut_in_production_only(make_runtime, env):
    runtime = make_runtime(env=env)
    admin = admin_of(runtime)
    filter_typo = "query($f: HouseholdFilter) { households(filter: $f) { totalCount } }"
    async with graphql_for(runtime) as gql:
        messages = [
            (await gql(TYPO, key=admin))["errors"][0]["message"],
            (await gql("{ households(frist: 1) { totalCount } }", key=admin))["errors"][0]["message"],
            (await gql(filter_typo, {"f": {"localityCod": "1"}}, key=admin))["errors"][0]["message"],
        ]
    assert messages[0].startswith("Cannot query field 'househods' on type 'Query'.")
    assert messages[1].startswith("Unknown argument 'frist' on field 'Query.households'.")
    assert "unknown field 'localityCod'" in messages[2]
    hinted = [message for message in messages if "Did you mean" in message]
    assert hinted == ([] if env == "production" else messages)


async def test_unexpected_errors_reach_clients_only_as_an_error_id(runtime, gql, admin_key, caplog):
    await register(gql, admin_key)
    runtime.database.run(lambda s: s.execute(text("ALTER TABLE visits RENAME TO visits_moved")))
    try:
        with caplog.at_level(logging.ERROR, logger="safetynet.api"):
            body = await gql("{ households { edges { node { visits { id } } } } }", key=admin_key)
    finally:
        runtime.database.run(lambda s: s.execute(text("ALTER TABLE visits_moved RENAME TO visits")))
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    error_id = error["extensions"]["errorId"]
    assert (
        error["message"] == f"internal server error (error id {error_id}); the details are in the server log"
    )
    assert error["path"] == ["households", "edges", 0, "node", "visits"]
    told = json.dumps({"message": error["message"], "extensions": error["extensions"]})
    assert not re.search(r"visits|select|sqlite|psycopg|asyncpg|relation|table", told, re.IGNORECASE)
    (logged,) = [r for r in caplog.records if error_id in r.getMessage()]
    assert "visits" in logged.getMessage() and logged.exc_info is not None  # the full story, server-side
    # deliberate errors keep their messages, and are the client's to fix: logged at INFO, not ERROR
    caplog.clear()
    with caplog.at_level(logging.INFO):
        refused = await gql("{ households(first: -1) { totalCount } }", key=admin_key)
    assert refused["errors"][0]["message"] == "first must be zero or more (at most 500), got -1"
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records if "got -1" in r.getMessage()] == [
        ("safetynet.api", "INFO", "client error at households: first must be zero or more (at most 500), got -1")
    ]
    assert (await gql("{ me { role } }"))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# -- page size -------------------------------------------------------------------------------------

CONNECTIONS = """{ __schema { queryType { fields { name args { name type { kind } }
  type { kind name ofType { name } } } } } }"""


async def test_every_connection_caps_its_page_size(make_runtime):
    runtime = make_runtime(max_page_size=2)
    admin = admin_of(runtime)
    async with graphql_for(runtime) as gql:
        for _ in range(3):
            await register(gql, admin)
        fields = (await gql.ok(CONNECTIONS, key=admin))["__schema"]["queryType"]["fields"]
        connections = [
            f for f in fields if ((f["type"]["ofType"] or f["type"])["name"] or "").endswith("Connection")
        ]
        assert {"households", "needListings", "warnings"} <= {f["name"] for f in connections}
        for field in connections:
            arguments = {a["name"]: a["type"]["kind"] for a in field["args"]}
            assert "first" in arguments, f"{field['name']} has no first argument"
            if "NON_NULL" in arguments.values():
                continue
            page = await gql.ok(f"{{ {field['name']}(first: 1000000) {{ edges {{ cursor }} }} }}", key=admin)
            assert len(page[field["name"]]["edges"]) <= 2, field["name"]
        households = await gql.ok(
            "{ households(first: 1000000) { totalCount edges { cursor } pageInfo { hasNextPage } } }",
            key=admin,
        )
    assert households["households"]["totalCount"] == 3
    assert len(households["households"]["edges"]) == 2 and households["households"]["pageInfo"]["hasNextPage"]


# -- body size -------------------------------------------------------------------------------------


def test_bodies_and_websocket_messages_over_the_limit_are_refused(make_runtime):
    runtime = make_runtime(max_body_bytes=4096)
    admin = admin_of(runtime)
    padding = " " * 5000
    with thread_server(runtime) as server, httpx.Client(base_url=f"http://{server}", timeout=10) as http:
        headers = {"Authorization": f"Bearer {admin}"}
        small = http.post("/graphql", json={"query": "{ me { role } }"}, headers=headers)
        assert small.json() == {"data": {"me": {"role": "ADMIN"}}}
        declared = http.post("/graphql", json={"query": "{ me { role } }" + padding}, headers=headers)
        chunked = http.post(
            "/graphql",
            content=iter([b'{"query": "{ me { role } }', padding.encode(), b'"}']),
            headers={**headers, "Content-Type": "application/json"},
        )
        for refused in (declared, chunked):
            assert refused.status_code == 413
            (error,) = refused.json()["errors"]
            assert error["message"] == (
                "request body is larger than the limit of 4,096 bytes (SAFETYNET_MAX_BODY_BYTES)"
            )
            assert error["extensions"] == {"code": "PAYLOAD_TOO_LARGE", "limit": 4096}
        with connect(f"ws://{server}/graphql", subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:
            ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {admin}"}}))
            assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
            query = {"query": "{ me { role } }" + padding}
            ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": query}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert "SAFETYNET_MAX_BODY_BYTES" in closed.value.rcvd.reason


# -- rate limits -----------------------------------------------------------------------------------


def assert_rate_limited(response: httpx.Response, limit: int, who: str) -> None:
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    (error,) = response.json()["errors"]
    assert error["message"] == (
        f"rate limit exceeded: at most {limit} requests per 60 s for {who}; retry after {retry_after} s"
    )
    assert error["extensions"] == {
        "code": "RATE_LIMITED",
        "limit": limit,
        "windowSeconds": 60,
        "retryAfter": retry_after,
    }


async def test_each_key_and_each_address_without_a_key_has_its_own_limit(make_runtime):
    runtime = make_runtime(rate_limit=3, anonymous_rate_limit=2)
    first, second = admin_of(runtime), admin_of(runtime)
    async with graphql_for(runtime) as gql:
        post = gql.client.post

        def as_key(key: str | None) -> dict:
            return {"Authorization": f"Bearer {key}"} if key else {}

        for _ in range(3):
            assert (
                await post("/graphql", json={"query": "{ me { role } }"}, headers=as_key(first))
            ).status_code == 200
        assert_rate_limited(
            await post("/graphql", json={"query": "{ me { role } }"}, headers=as_key(first)), 3, "API key 1"
        )
        assert (
            await post("/graphql", json={"query": "{ me { role } }"}, headers=as_key(second))
        ).status_code == 200
        for _ in range(2):
            assert (await post("/graphql", json={"query": "{ health }"})).status_code == 200
        # a key that does not authenticate counts as no key: it cannot buy itself a fresh limit
        over = await post("/graphql", json={"query": "{ health }"}, headers=as_key("sn_made-up"))
        assert_rate_limited(over, 2, "requests without a valid key from 127.0.0.1")


def redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


async def test_rate_limits_are_shared_by_server_processes_through_redis(make_runtime):
    if not redis_available():
        pytest.skip(f"no Redis at {REDIS_URL}: start one with redis-server --daemonize yes --port 6379")
    one = make_runtime(rate_limit=3, rate_limit_url=REDIS_URL)
    other = make_runtime(rate_limit=3, rate_limit_url=REDIS_URL)  # a second process on the same database
    key = admin_of(one)
    statuses = []
    async with graphql_for(one) as first, graphql_for(other) as second:
        for gql in (first, second, first, second):
            response = await gql.client.post(
                "/graphql", json={"query": "{ me { role } }"}, headers={"Authorization": f"Bearer {key}"}
            )
            statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429]


def test_websocket_connections_and_operations_count_against_the_key(make_runtime):
    runtime = make_runtime(rate_limit=2)
    admin = admin_of(runtime)
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {admin}"}}
    with thread_server(runtime) as server:
        url = f"ws://{server}/graphql"
        with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # request 1
            ws.send(json.dumps(init))
            assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
            subscribe = {"type": "subscribe", "payload": {"query": "{ me { role } }"}}
            ws.send(json.dumps({"id": "1", **subscribe}))  # request 2
            assert json.loads(ws.recv(timeout=10))["payload"] == {"data": {"me": {"role": "ADMIN"}}}
            assert json.loads(ws.recv(timeout=10)) == {"id": "1", "type": "complete"}
            ws.send(json.dumps({"id": "2", **subscribe}))  # request 3
            refused = json.loads(ws.recv(timeout=10))
            assert refused["id"] == "2" and refused["type"] == "error"
            (error,) = refused["payload"]
            assert error["extensions"]["code"] == "RATE_LIMITED"
            assert error["message"].startswith(
                "rate limit exceeded: at most 2 requests per 60 s for API key 1"
            )
        with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # request 4
            ws.send(json.dumps(init))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


# -- a production server configured from the environment -------------------------------------------


def test_a_production_server_from_the_environment(runtime, database_url, tmp_path):
    admin = admin_of(runtime)
    port = free_port()
    env = {
        "SAFETYNET_DATABASE_URL": database_url,
        "SAFETYNET_SECRET_KEY": "test-secret",
        "SAFETYNET_ENV": "production",
        "SAFETYNET_RATE_LIMIT": "6",
        "SAFETYNET_MAX_BODY_BYTES": "2048",
        "SAFETYNET_MAX_PAGE_SIZE": "7",
    }
    log = tmp_path / "server.log"
    process = start_process_server(port, env, log)
    try:
        wait_healthy(port, process, log)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=10, headers={"Authorization": f"Bearer {admin}"}
        ) as http:
            assert http.get("/graphql", headers={"Accept": "text/html"}).status_code != 200  # no GraphiQL
            introspection = http.post("/graphql", json={"query": "{ __schema { types { name } } }"}).json()
            assert "introspection" in introspection["errors"][0]["message"].lower()
            typo = http.post("/graphql", json={"query": TYPO}).json()
            assert "Did you mean" not in typo["errors"][0]["message"]
            negative = http.post(
                "/graphql", json={"query": "{ households(first: -1) { totalCount } }"}
            ).json()
            assert "(at most 7)" in negative["errors"][0]["message"]
            assert http.post("/graphql", json={"query": "{ health }", "pad": "x" * 2048}).status_code == 413
            statuses = [http.post("/graphql", json={"query": "{ health }"}).status_code for _ in range(3)]
            assert statuses == [200, 200, 429]  # the 7th request in the window (the 413 was not counted)
    finally:
        stop_process(process)


def test_bad_limits_in_the_environment_are_one_line_errors(runtime, database_url):
    result = safetynet("keys", "list", env=environment(database_url, max_body_bytes="ten"), ok=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: SAFETYNET_MAX_BODY_BYTES must be a whole number, not 'ten'"
