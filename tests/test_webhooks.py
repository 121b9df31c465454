"""Webhooks for partners without a websocket: a real HTTP receiver on loopback gets need events, signed with
HMAC-SHA256, in order; a failing receiver is retried with backoff, every attempt recorded, then paused;
resuming it delivers what it missed."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from conftest import REGISTER, GraphQL
from matching_support import CLAIM, PUBLISH, household_input, identifying_values, write_charities
from safetynet.app import create_app
from safetynet.matching.services import stop
from safetynet.matching.webhooks import SIGNATURE_HEADER, verify
from safetynet.model import Role

REGISTER_WEBHOOK = """mutation($input: RegisterWebhookInput!) { registerWebhook(input: $input) {
  webhook { id url status needTypes cursor } secret userErrors { field message code } } }"""
WEBHOOKS = """{ webhooks { id status consecutiveFailures pausedAt pauseReason nextAttemptAt
  deliveries(last: 50) { cursor attempt succeeded statusCode error } } }"""
RESUME = """mutation($id: ID!) { resumeWebhook(id: $id) { webhook { status } userErrors { code } } }"""


class Receiver:
    """An HTTP endpoint that answers from a script of status codes (then ``then``) and records requests."""

    def __init__(self, script: list[int] | None = None, then: int = 200) -> None:
        self.script = list(script or [])
        self.then = then
        self.requests: list[tuple[float, dict[str, str], bytes, int]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.script.pop(0) if receiver.script else receiver.then
                    receiver.requests.append((time.monotonic(), dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/safetynet"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def delivered(self) -> list[dict]:
        with self.lock:
            return [json.loads(body) for _, _, body, status in self.requests if 200 <= status < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def runtime(make_runtime, tmp_path, monkeypatch):
    monkeypatch.setenv("SAFETYNET_CHARITIES", str(write_charities(tmp_path)))
    return make_runtime(
        extra={"webhook_backoff_seconds": "0.1", "webhook_max_attempts": "4", "webhook_tick_seconds": "0.05"}
    )


@pytest.fixture
async def client(runtime):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://test"
    ) as c:
        yield c
    await stop(runtime)
    await runtime.database.async_engine.dispose()


@pytest.fixture
def keys(key):
    return {
        "civil": key(Role.CIVIL_AFFAIRS, locality_code="120101"),
        "heping": key(Role.PARTNER, partner_code="heping_fund"),
        "tianjin": key(Role.PARTNER, partner_code="tianjin_charity"),
    }


async def wait_for(condition, timeout: float = 10.0):
    """Poll ``condition`` (a function, sync or async) until it returns something true."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def setup(
    gql: GraphQL, keys: dict, url: str, partner: str = "heping", **extra
) -> tuple[dict, str, dict]:
    household = (await gql.ok(REGISTER, {"input": household_input()}, key=keys["civil"]))[
        "registerHousehold"
    ]["household"]
    registered = (await gql.ok(REGISTER_WEBHOOK, {"input": {"url": url, **extra}}, key=keys[partner]))[
        "registerWebhook"
    ]
    assert registered["userErrors"] == [], registered["userErrors"]
    return household, registered["secret"], registered["webhook"]


async def publish(
    gql: GraphQL, keys: dict, household_id: str, need_type: str = "medical", summary: str = "门诊费用高"
) -> dict:
    variables = {
        "input": {"householdId": household_id, "needType": need_type, "summary": summary, "urgency": "HIGH"}
    }
    payload = (await gql.ok(PUBLISH, variables, key=keys["civil"]))["publishNeed"]
    assert payload["userErrors"] == []
    return payload["needListing"]


async def test_events_arrive_signed_in_order_without_identifying_fields(gql, keys, receiver):
    household, secret, webhook = await setup(gql, keys, receiver.url)
    assert secret.startswith("whsec_") and webhook["status"] == "ACTIVE"
    first = await publish(gql, keys, household["id"])
    await publish(
        gql, keys, household["id"], need_type="care", summary="需要探访"
    )  # heping_fund does not take care
    assert (await gql.ok(CLAIM, {"id": first["id"]}, key=keys["heping"]))["claimNeed"]["userErrors"] == []
    await wait_for(lambda: len(receiver.delivered()) >= 2)
    await asyncio.sleep(0.3)
    bodies = receiver.delivered()
    assert [(b["kind"], b["listing"]["id"], b["listing"]["status"]) for b in bodies] == [
        ("PUBLISHED", first["id"], "OPEN"),
        ("CLAIMED", first["id"], "CLAIMED"),
    ]
    for _, headers, body, _ in receiver.requests:
        assert verify(secret, body, headers[SIGNATURE_HEADER])
        assert not verify("whsec_wrong", body, headers[SIGNATURE_HEADER])
        assert headers["X-Safetynet-Event"] in ("PUBLISHED", "CLAIMED")
    text = json.dumps(bodies, ensure_ascii=False)
    assert not [v for v in identifying_values(household) if v in text]
    assert bodies[1]["listing"]["claimedBy"] == "heping_fund" and bodies[0]["webhook"] == webhook["id"]
    hooks = (await gql.ok(WEBHOOKS, key=keys["heping"]))["webhooks"]
    assert [(d["attempt"], d["succeeded"], d["statusCode"]) for d in hooks[0]["deliveries"]] == [
        (1, True, 200),
        (1, True, 200),
    ]
    assert (await gql.ok(WEBHOOKS, key=keys["tianjin"]))["webhooks"] == []  # its own webhooks only


async def test_a_failing_receiver_is_retried_with_backoff_then_paused_and_resumed(gql, keys, receiver):
    receiver.then = 500
    household, secret, webhook = await setup(gql, keys, receiver.url)
    first = await publish(gql, keys, household["id"])

    async def paused():
        [hook] = (await gql.ok(WEBHOOKS, key=keys["heping"]))["webhooks"]
        return hook if hook["status"] == "PAUSED" else None

    hook = await wait_for(paused)
    attempts = list(receiver.requests)
    assert [status for *_, status in attempts] == [500, 500, 500, 500]  # max_attempts, not for ever
    assert [int(h["X-Safetynet-Attempt"]) for _, h, _, _ in attempts] == [1, 2, 3, 4]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39  # 0.1 s doubling each time
    assert hook["consecutiveFailures"] == 4 and "4 consecutive failed attempts" in hook["pauseReason"]
    assert [(d["attempt"], d["succeeded"], d["statusCode"]) for d in hook["deliveries"]] == [
        (4, False, 500),
        (3, False, 500),
        (2, False, 500),
        (1, False, 500),
    ]
    await asyncio.sleep(0.5)
    assert len(receiver.requests) == 4  # paused: no more attempts

    # While paused, more happens; once the receiver works and the webhook is resumed, it all arrives in order.
    second = await publish(gql, keys, household["id"], summary="复诊")
    receiver.then = 204
    resumed = (await gql.ok(RESUME, {"id": webhook["id"]}, key=keys["heping"]))["resumeWebhook"]
    assert resumed == {"webhook": {"status": "ACTIVE"}, "userErrors": []}
    await wait_for(lambda: len(receiver.delivered()) >= 2)
    assert [b["listing"]["id"] for b in receiver.delivered()] == [first["id"], second["id"]]
    assert all(verify(secret, body, h[SIGNATURE_HEADER]) for _, h, body, _ in receiver.requests)
    again = (await gql.ok(RESUME, {"id": webhook["id"]}, key=keys["heping"]))["resumeWebhook"]
    assert again["userErrors"] == [{"code": "NOT_PAUSED"}]


async def test_a_receiver_that_recovers_gets_the_event_on_a_retry(gql, keys, receiver):
    receiver.script = [503, 502]
    household, _, _ = await setup(gql, keys, receiver.url)
    listing = await publish(gql, keys, household["id"])
    await wait_for(receiver.delivered)
    assert [status for *_, status in receiver.requests] == [503, 502, 200]
    assert [b["listing"]["id"] for b in receiver.delivered()] == [listing["id"]]
    [hook] = (await gql.ok(WEBHOOKS, key=keys["heping"]))["webhooks"]
    assert hook["status"] == "ACTIVE" and hook["consecutiveFailures"] == 0
    assert [d["succeeded"] for d in hook["deliveries"]] == [True, False, False]


async def test_registration_user_errors(gql, keys, admin_key, receiver):
    cases = [
        ({"url": "ftp://example.org/x"}, "heping", ["url"], "INVALID_URL"),
        ({"url": "http://user:pw@example.org/x"}, "heping", ["url"], "INVALID_URL"),
        ({"url": receiver.url, "needTypes": ["education"]}, "heping", ["needTypes"], "NOT_TAKEN"),
        ({"url": receiver.url, "localityCode": "310105"}, "heping", ["localityCode"], "NOT_SERVED"),
        ({"url": receiver.url, "after": "garbage"}, "heping", ["after"], "INVALID_CURSOR"),
        ({"url": receiver.url, "partnerCode": "tianjin_charity"}, "heping", ["partnerCode"], "FORBIDDEN"),
        ({"url": receiver.url}, "civil", ["url"], "FORBIDDEN"),
    ]
    for data, who, field, code in cases:
        payload = (await gql.ok(REGISTER_WEBHOOK, {"input": data}, key=keys[who]))["registerWebhook"]
        assert payload["webhook"] is None and payload["secret"] is None
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(field, code)], data
    admin = (
        await gql.ok(
            REGISTER_WEBHOOK,
            {"input": {"url": receiver.url, "partnerCode": "tianjin_charity"}},
            key=admin_key,
        )
    )["registerWebhook"]
    assert admin["userErrors"] == [] and admin["webhook"]["needTypes"] == []
