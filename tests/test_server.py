"""The app served by a real uvicorn server: HTTP with a key, and the graphql-transport-ws websocket
protocol with the key in connection_init."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from conftest import REGISTER, person
from safetynet.app import create_app
from safetynet.model import Role

PROTOCOL = "graphql-transport-ws"


@pytest.fixture
def server(runtime) -> Iterator[str]:
    """``host:port`` of a uvicorn server running the app in a background thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    uvicorn_server = uvicorn.Server(uvicorn.Config(create_app(runtime), log_level="warning"))
    thread = threading.Thread(target=uvicorn_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uvicorn_server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start in 15 s"
        time.sleep(0.02)
    yield f"{host}:{port}"
    uvicorn_server.should_exit = True
    thread.join(15)
    sock.close()
    assert not thread.is_alive(), "the server did not shut down"


def receive(ws: ClientConnection) -> dict:
    return json.loads(ws.recv(timeout=10))


@contextlib.contextmanager
def open_socket(server: str, key: str) -> Iterator[ClientConnection]:
    """A graphql-transport-ws connection that has sent connection_init with ``key``."""
    with connect(f"ws://{server}/graphql", subprotocols=[PROTOCOL], open_timeout=10) as ws:
        assert ws.subprotocol == PROTOCOL
        ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}}))
        yield ws


def test_http_with_a_key(server, admin_key):
    with httpx.Client(base_url=f"http://{server}", timeout=10) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        response = http.post(
            "/graphql",
            json={"query": "{ me { role } aidTypes { code } }"},
            headers={"Authorization": f"Bearer {admin_key}"},
        )
        assert response.status_code == 200
        body = response.json()
        assert body["data"]["me"] == {"role": "ADMIN"} and "dibao" in {
            a["code"] for a in body["data"]["aidTypes"]
        }
        refused = http.post("/graphql", json={"query": "{ me { role } }"}).json()
        assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        ide = http.get("/graphql", headers={"Accept": "text/html"})  # GraphiQL, in development only
        assert ide.status_code == 200 and "graphiql" in ide.text.lower()


def test_websocket_query_with_the_key_in_connection_init(server, admin_key):
    with open_socket(server, admin_key) as ws:
        assert receive(ws)["type"] == "connection_ack"
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ me { role } }"}}))
        assert receive(ws) == {"id": "1", "type": "next", "payload": {"data": {"me": {"role": "ADMIN"}}}}
        assert receive(ws) == {"id": "1", "type": "complete"}
        ws.send(json.dumps({"type": "ping"}))
        assert receive(ws)["type"] == "pong"


def test_websocket_operations_run_in_the_key_scope(admin_key, key, server):
    with httpx.Client(base_url=f"http://{server}", timeout=10) as http:
        for code in ("120101001", "120101002"):
            variables = {"input": {"localityCode": code, "residence": "URBAN", "members": [person()]}}
            body = http.post(
                "/graphql",
                json={"query": REGISTER, "variables": variables},
                headers={"Authorization": f"Bearer {admin_key}"},
            ).json()
            assert body["data"]["registerHousehold"]["userErrors"] == []
    township = key(Role.CIVIL_AFFAIRS, locality_code="120101002")
    with open_socket(server, township) as ws:
        assert receive(ws)["type"] == "connection_ack"
        query = "{ me { localityCode } households { totalCount edges { node { localityCode } } } }"
        ws.send(json.dumps({"id": "a", "type": "subscribe", "payload": {"query": query}}))
        message = receive(ws)
        assert message["type"] == "next"
        assert message["payload"]["data"] == {
            "me": {"localityCode": "120101002"},
            "households": {"totalCount": 1, "edges": [{"node": {"localityCode": "120101002"}}]},
        }
        assert receive(ws) == {"id": "a", "type": "complete"}


@pytest.mark.parametrize("authorization", ["Bearer sn_never-issued", "", "Basic abc"])
def test_websocket_with_a_bad_key_is_closed_with_4403(server, authorization):
    with connect(f"ws://{server}/graphql", subprotocols=[PROTOCOL], open_timeout=10) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": authorization}}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
