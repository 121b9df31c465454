"""Shared by the need-listing, subscription and webhook tests: charities for Tianjin, GraphQL documents,
household fixtures, uvicorn servers (threads and real processes) and graphql-transport-ws clients."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from websockets.sync.client import ClientConnection, connect

from conftest import REGISTER, person
from safetynet.app import create_app

PROTOCOL = "graphql-transport-ws"
TOWNSHIP = "120101001"  # a township of Tianjin's Heping district (和平区)

#: Four charities around TOWNSHIP: one serving the township itself, one its district, one the whole
#: city, and one another district (it must never see the township's listings).
CHARITIES = """
[[charity]]
code = "township_care"
name = "劝业场街社区基金会"
name_en = "Quanyechang Street Community Foundation"
kind = "COMMUNITY_FOUNDATION"
need_types = ["care", "medical"]
localities = ["120101001"]

[[charity.resource]]
code = "township_visits"
name = "独居老人探访"
need_type = "care"
quantity = 20

[[charity]]
code = "heping_fund"
name = "和平区慈善协会"
name_en = "Heping District Charity Association"
kind = "CHARITY"
need_types = ["medical", "living"]
localities = ["120101"]

[[charity.resource]]
code = "heping_medical"
name = "大病救助金"
need_type = "medical"
amount = "10000.00"
quantity = 2
available_until = 2099-12-31

[[charity]]
code = "tianjin_charity"
name = "天津市慈善协会"
name_en = "Tianjin Charity Association"
kind = "CHARITY"
need_types = ["medical", "education"]
localities = ["120000"]

[[charity.resource]]
code = "tianjin_medical"
name = "医疗援助"
need_type = "medical"
amount = "50000.00"
quantity = 100
available_until = 2099-12-31

[[charity]]
code = "binhai_fund"
name = "滨海新区慈善基金会"
name_en = "Binhai Charity Foundation"
kind = "CHARITY"
need_types = ["medical"]
localities = ["120116"]
"""

PUBLISH = """mutation($input: PublishNeedInput!) { publishNeed(input: $input) {
  needListing { id cursor needType summary localityCode urgency status claimedBy { code } }
  userErrors { field message code } } }"""
CLAIM = """mutation($id: ID!) { claimNeed(id: $id) {
  needListing { id status claimedBy { code } } userErrors { field message code } } }"""
FULFIL = """mutation($id: ID!, $amount: Decimal, $note: String) {
  fulfilNeed(id: $id, amount: $amount, note: $note) {
  needListing { id status fulfilledAmount fulfilmentNote } userErrors { field message code } } }"""
WITHDRAW = """mutation($id: ID!, $reason: String!) { withdrawNeed(id: $id, reason: $reason) {
  needListing { id status } userErrors { field message code } } }"""
SUBSCRIBE = """subscription($filter: NeedFilter, $after: String) {
  needListings(filter: $filter, after: $after) {
    cursor kind
    listing { id cursor needType summary localityCode urgency status publishedAt claimedBy { code } } } }"""


def write_charities(folder: Path) -> Path:
    path = folder / "charities.toml"
    path.write_text(CHARITIES, encoding="utf-8")
    return path


def household_input(**overrides: Any) -> dict:
    data = {
        "localityCode": f"{TOWNSHIP}003",  # a village: listings show its township
        "residence": "URBAN",
        "address": "和平区劝业场街福安大街18号",
        "members": [person(name="王秀英", born=date(1948, 3, 2))],
    }
    return {**data, **overrides}


def identifying_values(household: dict) -> set[str]:
    """What must never reach a partner: the household id, names, numbers and the address."""
    values = {household["id"], household_input()["address"]}
    for member in household["members"]:
        values |= {member["id"], member["name"], member["idNumberMasked"]}
    return values


# -- servers ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def thread_server(runtime) -> Iterator[str]:
    """``host:port`` of a uvicorn server running the app in a thread (its lifespan runs, as in production)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), log_level="warning", ws_ping_interval=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start in 15 s"
        time.sleep(0.02)
    try:
        yield f"{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def start_process_server(port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    """``python -m uvicorn --factory safetynet.app:create_app_from_env`` on loopback."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "safetynet.app:create_app_from_env",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    handle = log.open("wb")
    return subprocess.Popen(command, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT)


def wait_healthy(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server on {port} exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(
        f"server on {port} did not answer in {timeout} s: {log.read_text(errors='replace')[-3000:]}"
    )


def stop_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# -- clients ---------------------------------------------------------------------------------------


def post(server: str, query: str, variables: dict | None = None, *, key: str) -> dict:
    response = httpx.post(
        f"http://{server}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def register_household(server: str, key: str, **overrides: Any) -> dict:
    data = post(server, REGISTER, {"input": household_input(**overrides)}, key=key)["registerHousehold"]
    assert data["userErrors"] == [], data["userErrors"]
    return data["household"]


def publish(
    server: str,
    key: str,
    household_id: str,
    *,
    need_type: str = "medical",
    summary: str = "",
    urgency: str = "HIGH",
) -> dict:
    variables = {
        "input": {
            "householdId": household_id,
            "needType": need_type,
            "urgency": urgency,
            "summary": summary or "老人独居,慢性病,自付医疗费用较高,需要医疗救助",
        }
    }
    data = post(server, PUBLISH, variables, key=key)["publishNeed"]
    assert data["userErrors"] == [], data["userErrors"]
    return data["needListing"]


def open_socket(server: str, key: str) -> ClientConnection:
    ws = connect(
        f"ws://{server}/graphql", subprotocols=[PROTOCOL], open_timeout=10, max_size=None, legacy=True
    )
    ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}}))
    ack = json.loads(ws.recv(timeout=10))
    assert ack["type"] == "connection_ack", ack
    return ws


def subscribe(
    ws: ClientConnection, operation_id: str, variables: dict | None = None, query: str = SUBSCRIBE
) -> None:
    message = {
        "id": operation_id,
        "type": "subscribe",
        "payload": {"query": query, "variables": variables or {}},
    }
    ws.send(json.dumps(message))


def receive(ws: ClientConnection, timeout: float = 10) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def events(ws: ClientConnection, count: int, timeout: float = 10) -> list[dict]:
    """The next ``count`` events of a needListings subscription (fails on anything else)."""
    out = []
    for _ in range(count):
        message = receive(ws, timeout)
        assert message["type"] == "next" and "errors" not in message["payload"], message
        out.append(message["payload"]["data"]["needListings"])
    return out


def nothing_more(ws: ClientConnection, wait: float = 0.5) -> None:
    try:
        message = ws.recv(timeout=wait)
    except TimeoutError:
        return
    raise AssertionError(f"expected nothing more, got {message}")
