"""Webhooks for partners without a websocket: a real HTTP receiver on loopback gets need events, signed with
HMAC-SHA256 (with and without a timestamp), in order; a failing receiver is retried with backoff, every
attempt recorded, then paused; resuming it delivers what it missed. Webhooks go only to public addresses
(and loopback outside production) unless the allow-list names them, checked at registration and at each
delivery."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from conftest import REGISTER, GraphQL, graphql_for
from matching_support import CLAIM, PUBLISH, household_input, identifying_values, write_charities
from safetynet.matching.services import stop
from safetynet.matching.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TIMESTAMPED_SIGNATURE_HEADER,
    verify,
    verify_timestamped,
)
from safetynet.model import Role
from safetynet.principals import create_key
from safetynet.settings import Settings, SettingsError
from safetynet.store.models import PartnerWebhook

REGISTER_WEBHOOK = """mutation($input: RegisterWebhookInput!) { registerWebhook(input: $input) {
  webhook { id url status needTypes cursor } secret userErrors { field message code } } }"""
WEBHOOKS = """{ webhooks { id status consecutiveFailures pausedAt pauseReason nextAttemptAt
  deliveries(last: 50) { cursor attempt succeeded statusCode error } } }"""
RESUME = """mutation($id: ID!) { resumeWebhook(id: $id) { webhook { status } userErrors { code } } }"""
#: Quick retries: 0.1 s doubling, paused after 4 failed attempts.
FAST = {"webhook_backoff_seconds": "0.1", "webhook_max_attempts": "4", "webhook_tick_seconds": "0.05"}


class Receiver:
    """An HTTP endpoint that answers from a script of status codes (then ``then``) and records requests;
    it answers 401 to requests that ``check(headers, body)`` refuses; over TLS given a server context."""

    def __init__(
        self, script: list[int] | None = None, then: int = 200, tls: ssl.SSLContext | None = None
    ) -> None:
        self.script = list(script or [])
        self.then = then
        self.check: Callable[[Message, bytes], bool] | None = None
        self.requests: list[tuple[float, dict[str, str], bytes, int]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.script.pop(0) if receiver.script else receiver.then
                    if receiver.check is not None and not receiver.check(self.headers, body):
                        status = 401
                    receiver.requests.append((time.monotonic(), dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/safetynet"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
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
    return make_runtime(extra=FAST)


@asynccontextmanager
async def api(runtime) -> AsyncIterator[GraphQL]:
    """``gql`` on an app built from ``runtime`` (its own settings); its webhook sender stops afterwards."""
    async with graphql_for(runtime) as gql:
        try:
            yield gql
        finally:
            await stop(runtime)


@pytest.fixture
async def client(runtime):
    async with api(runtime) as gql:
        yield gql.client


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


async def delivery_recorded(gql: GraphQL, key: str, successes: int = 1) -> dict | None:
    """The key's one webhook once it has recorded ``successes`` successful deliveries (the receiver
    answers before the sender records the answer)."""
    [hook] = (await gql.ok(WEBHOOKS, key=key))["webhooks"]
    return hook if sum(d["succeeded"] for d in hook["deliveries"]) >= successes else None


async def paused(gql: GraphQL, key: str) -> dict | None:
    """The key's one webhook once it is paused."""
    [hook] = (await gql.ok(WEBHOOKS, key=key))["webhooks"]
    return hook if hook["status"] == "PAUSED" else None


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
    hook = await wait_for(lambda: delivery_recorded(gql, keys["heping"], successes=2))
    assert [(d["attempt"], d["succeeded"], d["statusCode"]) for d in hook["deliveries"]] == [
        (1, True, 200),
        (1, True, 200),
    ]
    assert (await gql.ok(WEBHOOKS, key=keys["tianjin"]))["webhooks"] == []  # its own webhooks only


async def test_a_failing_receiver_is_retried_with_backoff_then_paused_and_resumed(gql, keys, receiver):
    receiver.then = 500
    household, secret, webhook = await setup(gql, keys, receiver.url)
    first = await publish(gql, keys, household["id"])
    hook = await wait_for(lambda: paused(gql, keys["heping"]))
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
    hook = await wait_for(lambda: delivery_recorded(gql, keys["heping"]))
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


async def test_a_receiver_checking_the_timestamped_signature_refuses_replayed_and_tampered_deliveries(
    gql, keys, receiver
):
    tolerance = 2
    household, secret, _ = await setup(gql, keys, receiver.url)
    receiver.check = lambda headers, body: verify_timestamped(
        secret,
        body,
        headers.get(TIMESTAMP_HEADER),
        headers.get(TIMESTAMPED_SIGNATURE_HEADER),
        tolerance_seconds=tolerance,
    )
    listing = await publish(gql, keys, household["id"])
    await wait_for(receiver.delivered)  # a fresh delivery passes the check
    [(_, headers, body, status)] = receiver.requests
    assert status == 200 and json.loads(body)["listing"]["id"] == listing["id"]
    assert verify(secret, body, headers[SIGNATURE_HEADER])  # the untimed signature is still sent
    signed_at = int(headers[TIMESTAMP_HEADER])
    assert abs(signed_at - time.time()) < tolerance
    sent = {
        name: headers[name]
        for name in ("Content-Type", TIMESTAMP_HEADER, TIMESTAMPED_SIGNATURE_HEADER, SIGNATURE_HEADER)
    }
    tampered = body.replace(b'"urgency":"HIGH"', b'"urgency":"LOW"')
    assert tampered != body

    async with httpx.AsyncClient() as attacker:

        async def replay(content: bytes, **changed: str) -> int:
            return (
                await attacker.post(receiver.url, content=content, headers={**sent, **changed})
            ).status_code

        assert await replay(body) == 200  # within the window a copy passes: receivers deduplicate by cursor
        assert await replay(tampered) == 401
        await asyncio.sleep(signed_at + tolerance + 1.1 - time.time())
        assert await replay(body) == 401  # stale
        assert (
            await replay(body, **{TIMESTAMP_HEADER: str(int(time.time()))}) == 401
        )  # new time, old signature
        assert await replay(body, **{TIMESTAMP_HEADER: "", TIMESTAMPED_SIGNATURE_HEADER: ""}) == 401


# -- where webhooks may go (server-side request forgery) -------------------------------------------

PARTNER = "trade_union_310105"
NOT_PUBLIC = [
    ("https://10.1.2.3/hook", "a private address"),
    ("https://172.16.0.1/hook", "a private address"),
    ("https://192.168.1.1/hook", "a private address"),
    ("https://[fd12:3456::1]/hook", "a private address"),
    ("https://[::ffff:10.0.0.1]/hook", "a private address"),
    ("https://169.254.169.254/latest/meta-data/", "a link-local address"),
    ("https://[fe80::1]/hook", "a link-local address"),
    ("https://0.0.0.0:8000/hook", "an unspecified address"),
    ("https://[::]/hook", "an unspecified address"),
    ("https://224.0.0.1/hook", "a multicast address"),
    ("https://240.0.0.1/hook", "a reserved address"),
    ("https://100.64.0.1/hook", "not a public address"),
]
LOOPBACK = [
    "https://127.0.0.1:8443/hook",
    "https://127.1/hook",
    "https://2130706433/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://localhost/hook",
    "https://LocalHost./hook",
    "https://hooks.localhost/hook",
]
#: Names are resolved only when delivering.
PUBLIC = ["https://hooks.example.org/safetynet", "https://93.184.215.14/hook", "https://[2606:4700::1111]/"]


async def register_url(gql: GraphQL, key: str, url: str) -> dict:
    return (await gql.ok(REGISTER_WEBHOOK, {"input": {"url": url}}, key=key))["registerWebhook"]


def stored_webhooks(runtime) -> int:
    return runtime.database.run(lambda s: s.scalar(select(func.count()).select_from(PartnerWebhook)))


async def assert_refused(gql: GraphQL, key: str, url: str, why: str) -> None:
    payload = await register_url(gql, key, url)
    assert payload["webhook"] is None and payload["secret"] is None, url
    [error] = payload["userErrors"]
    assert (error["field"], error["code"]) == (["url"], "INVALID_URL"), url
    assert why in error["message"], (url, error["message"])


@pytest.mark.parametrize("env", ["production", "development"])
async def test_registration_refuses_addresses_that_are_not_public_and_writes_nothing(make_runtime, env):
    runtime = make_runtime(env=env)
    partner = runtime.database.run(lambda s: create_key(s, Role.PARTNER, partner_code=PARTNER))
    refused = [*NOT_PUBLIC, *((url, "(a loopback address)") for url in LOOPBACK)]
    accepted = PUBLIC
    if env == "development":  # loopback is allowed for local receivers, nothing else
        refused, accepted = NOT_PUBLIC, [*PUBLIC, *LOOPBACK, "http://hooks.example.org/plain"]
    async with api(runtime) as gql:
        for url, why in refused:
            await assert_refused(gql, partner, url, why)
        if env == "production":
            await assert_refused(
                gql, partner, "http://hooks.example.org/plain", "must use https in production"
            )
        assert stored_webhooks(runtime) == 0
        for url in accepted:
            assert (await register_url(gql, partner, url))["userErrors"] == [], url
        metadata = await register_url(gql, partner, "https://169.254.169.254/latest/meta-data/")
    assert metadata["userErrors"][0]["message"] == (
        "must point at a public address, not 169.254.169.254 (a link-local address)"
    )
    assert stored_webhooks(runtime) == len(accepted)


async def test_the_allow_list_lets_named_internal_targets_through(make_runtime):
    runtime = make_runtime(env="production", webhook_allow_hosts=("hooks.internal", "10.20.0.0/16", "::1"))
    partner = runtime.database.run(lambda s: create_key(s, Role.PARTNER, partner_code=PARTNER))
    allowed = [
        "https://hooks.internal/h",
        "https://HOOKS.internal./h",
        "https://10.20.3.4/h",
        "https://[::1]:8443/h",
    ]
    async with api(runtime) as gql:
        await assert_refused(gql, partner, "https://10.30.0.1/h", "(a private address)")
        await assert_refused(gql, partner, "https://127.0.0.1/h", "(a loopback address)")
        await assert_refused(gql, partner, "http://10.20.3.4/h", "must use https in production")
        assert stored_webhooks(runtime) == 0
        for url in allowed:
            assert (await register_url(gql, partner, url))["userErrors"] == [], url
    assert stored_webhooks(runtime) == len(allowed)


def test_the_allow_list_is_read_from_the_environment_and_bad_entries_are_refused():
    environment = {
        "SAFETYNET_SECRET_KEY": "k",
        "SAFETYNET_WEBHOOK_ALLOW_HOSTS": " hooks.internal, 10.20.0.0/16,,[fd00::1]",
    }
    settings = Settings.from_env(environment)
    assert settings.webhook_allow_hosts == ("hooks.internal", "10.20.0.0/16", "[fd00::1]")
    assert Settings.from_env({"SAFETYNET_SECRET_KEY": "k"}).webhook_allow_hosts == ()
    for bad in ("10.0.0.0/33", "https://hooks.internal", "hooks internal"):
        with pytest.raises(SettingsError) as refused:
            Settings.from_env({**environment, "SAFETYNET_WEBHOOK_ALLOW_HOSTS": f"hooks.internal,{bad}"})
        assert str(refused.value) == (
            f"SAFETYNET_WEBHOOK_ALLOW_HOSTS: '{bad}' is not a hostname, an IP address or a CIDR"
        )


@pytest.fixture
def localhost_tls(tmp_path, monkeypatch) -> ssl.SSLContext:
    """A TLS server context with a certificate for ``localhost`` that this process's clients trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_file, key_file = tmp_path / "localhost.pem", tmp_path / "localhost.key"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate_file))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate_file, key_file)
    return context


async def test_in_production_a_name_resolving_to_loopback_gets_webhooks_only_while_allowed(
    make_runtime, runtime, keys, localhost_tls
):
    receiver = Receiver(tls=localhost_tls)
    url = f"https://localhost:{receiver.port}/hooks/safetynet"
    try:
        # The allow-list names localhost: registered, and delivered over TLS to the local receiver.
        allowing = make_runtime(env="production", webhook_allow_hosts=("localhost",), extra=FAST)
        async with api(allowing) as gql:
            household, secret, _ = await setup(gql, keys, url)
            first = await publish(gql, keys, household["id"])
            await wait_for(receiver.delivered)
            await wait_for(lambda: delivery_recorded(gql, keys["heping"]))  # before this app stops
        [(_, headers, body, _)] = receiver.requests
        assert json.loads(body)["listing"]["id"] == first["id"]
        assert verify_timestamped(
            secret, body, headers[TIMESTAMP_HEADER], headers[TIMESTAMPED_SIGNATURE_HEADER]
        )

        # Without the allow-list the name is refused at registration and, for the webhook registered before,
        # at every delivery: the name resolves to loopback, so nothing is sent; each refusal is recorded as
        # a failed attempt, then the webhook pauses.
        refusing = make_runtime(env="production", extra=FAST)
        async with api(refusing) as gql:
            await assert_refused(gql, keys["heping"], url, "not localhost (a loopback address)")
            await publish(gql, keys, household["id"], summary="复诊")
            hook = await wait_for(lambda: paused(gql, keys["heping"]))
        assert len(receiver.requests) == 1
        refusals, (delivered,) = hook["deliveries"][:4], hook["deliveries"][4:]
        assert [(d["attempt"], d["succeeded"], d["statusCode"]) for d in refusals] == [
            (n, False, None) for n in (4, 3, 2, 1)
        ]
        for attempt in refusals:
            assert attempt["error"].startswith("refused: localhost resolves to "), attempt["error"]
            assert attempt["error"].endswith(", a loopback address"), attempt["error"]
        assert "refused: localhost resolves to" in hook["pauseReason"]
        assert (delivered["succeeded"], delivered["statusCode"]) == (True, 200)
    finally:
        receiver.close()
