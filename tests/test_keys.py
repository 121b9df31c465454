"""API keys expire and can be revoked: ``safetynet keys create --expires-in/--expires``, ``keys list``
(no secrets), ``keys revoke``, and the clear UNAUTHENTICATED errors a revoked or expired key gets over
HTTP and the websocket."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from command_line import environment, safetynet
from matching_support import thread_server
from safetynet.model import Role
from safetynet.principals import authenticate, revoke_key

ME = "{ me { role } }"


def created_key(result) -> str:
    return result.stdout.strip().splitlines()[-1]


def test_keys_list_shows_each_key_without_its_secret(runtime, database_url):
    env = environment(database_url)
    admin = created_key(safetynet("keys", "create", "--role", "ADMIN", "--label", "ops", env=env))
    township = created_key(
        safetynet(
            "keys",
            "create",
            "--role",
            "CIVIL_AFFAIRS",
            "--locality",
            "120101001",
            "--expires-in",
            "30",
            env=env,
        )
    )
    listed = safetynet("keys", "list", env=env).stdout
    assert admin not in listed and township not in listed  # only prefixes: the secrets are not stored
    rows = {line.split()[0]: line for line in listed.splitlines()[3:] if line.strip()}
    assert set(rows) == {"1", "2"}
    assert admin[:10] in rows["1"] and "ADMIN" in rows["1"] and "ops" in rows["1"] and "active" in rows["1"]
    expected_expiry = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d")
    assert "120101001" in rows["2"] and expected_expiry in rows["2"]


async def test_a_revoked_key_stops_working_with_a_clear_error(runtime, database_url, gql, key):
    admin = key(Role.ADMIN)
    other = key(Role.AUDITOR)
    assert (await gql.ok(ME, key=admin))["me"] == {"role": "ADMIN"}
    env = environment(database_url)
    revoked = safetynet("keys", "revoke", "1", env=env).stdout
    assert revoked.startswith("key 1 (") and "revoked at" in revoked and "already" not in revoked

    refused = await gql(ME, key=admin)
    (error,) = refused["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "was revoked at" in error["message"] and "(id 1)" in error["message"]
    assert refused["data"] is None
    assert (await gql.ok(ME, key=other))["me"] == {"role": "AUDITOR"}  # only that key

    again = safetynet("keys", "revoke", "1", env=env).stdout
    assert "was already revoked at" in again
    listed = safetynet("keys", "list", env=env).stdout
    assert "revoked" in next(line for line in listed.splitlines() if line.strip().startswith("1 "))


async def test_an_expired_key_is_refused_and_says_when_it_expired(gql, key):
    expired = key(Role.ADMIN, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    current = key(Role.ADMIN, expires_at=datetime.now(UTC) + timedelta(days=1))
    body = await gql(ME, key=expired)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED" and "expired at" in error["message"]
    assert (await gql.ok(ME, key=current))["me"] == {"role": "ADMIN"}
    unknown = await gql(ME, key="sn_never-issued")
    assert unknown["errors"][0]["message"] == "unknown API key"


def test_a_revoked_key_cannot_open_a_websocket(runtime, key):
    revoked = key(Role.ADMIN)
    runtime.database.run(lambda s: revoke_key(s, authenticate(s, revoked).key_id))
    with thread_server(runtime) as server:
        with connect(f"ws://{server}/graphql", subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:
            ws.send(
                json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {revoked}"}})
            )
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        with httpx.Client(base_url=f"http://{server}") as http:
            answer = http.post("/graphql", json={"query": ME}, headers={"Authorization": f"Bearer {revoked}"})
            assert "was revoked" in answer.json()["errors"][0]["message"]


def test_keys_commands_refuse_bad_options_and_write_nothing(runtime, database_url):
    env = environment(database_url)
    both = safetynet(
        "keys", "create", "--role", "ADMIN", "--expires-in", "3", "--expires", "2099-01-01", env=env, ok=False
    )
    assert both.returncode == 2 and "--expires-in DAYS or --expires DATE, not both" in both.stderr
    past = safetynet("keys", "create", "--role", "ADMIN", "--expires", "2020-01-01", env=env, ok=False)
    assert past.returncode == 2 and "--expires 2020-01-01 is not in the future" in past.stderr
    zero = safetynet("keys", "create", "--role", "ADMIN", "--expires-in", "0", env=env, ok=False)
    assert zero.returncode == 2 and "--expires-in" in zero.stderr
    unknown = safetynet("keys", "revoke", "42", env=env, ok=False)
    assert unknown.returncode == 2 and "no API key with id 42" in unknown.stderr
    assert "Traceback" not in both.stderr + past.stderr + zero.stderr + unknown.stderr
    assert "(none)" in safetynet("keys", "list", env=env).stdout


def test_keys_create_with_an_expiry_date(runtime, database_url):
    env = environment(database_url)
    created = safetynet("keys", "create", "--role", "AUDITOR", "--expires", "2099-01-31", env=env)
    assert "expiring at 2099-01-31 00:00 UTC" in created.stdout
    assert created_key(created).startswith("sn_")
    listed = safetynet("keys", "list", env=env).stdout
    assert "2099-01-31 00:00" in listed
