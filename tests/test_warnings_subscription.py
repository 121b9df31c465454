"""Subscription.warnings over graphql-transport-ws with a real server and websocket clients: what a sweep
raises reaches each board exactly as the warnings query scopes and filters it (a county board, a department,
an auditor, a level filter), a partner is refused, a lifecycle change is pushed, a revoked key is cut
off, a sweep run from the command line reaches the boards (by the poll, and through Redis), and the
warnings aid decisions write are pushed (an application's overdue warning closed, an integrity warning)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime

import pytest
import redis
from websockets.sync.client import ClientConnection

from conftest import REGISTER, person
from matching_support import open_socket, post, receive, subscribe, thread_server
from safetynet.model import Role
from safetynet.monitoring import warning_feed
from safetynet.store.models import ApiKey

REDIS_URL = "redis://127.0.0.1:6379/0"
AS_OF = date(2025, 3, 31)
SUBSCRIBE = """subscription($filter: WarningFilter) { warnings(filter: $filter) {
  id rule level status assignee routedTo household { localityCode } } }"""
WARNINGS = """query($filter: WarningFilter) { warnings(filter: $filter, first: 500) {
  edges { node { id } } } }"""
GRANT = """mutation($input: GrantAidInput!) { grantAid(input: $input) { userErrors { message } } }"""
SWEEP = """mutation($asOf: Date) { runSweep(asOf: $asOf) { warningsRaised userErrors { message } } }"""
ASSIGN = """mutation($id: ID!) { assignWarning(id: $id, assignee: "王干部") { userErrors { message } } }"""
APPLY = """mutation($input: ApplyForAidInput!) { applyForAid(input: $input) {
  application { id } userErrors { message } } }"""
ACCEPT = """mutation($input: ApplicationStepInput!) { acceptApplication(input: $input) { userErrors { message } } }"""
INVESTIGATE = """mutation($input: InvestigationInput!) { recordInvestigation(input: $input) {
  userErrors { message } } }"""
CHECK = """mutation($input: EconomicCheckInput!) { recordEconomicCheck(input: $input) { userErrors { message } } }"""
DECIDE = """mutation($input: DecideApplicationInput!) { decideApplication(input: $input) {
  userErrors { message } } }"""
NEAR_RELATIVE = """mutation($input: RegisterNearRelativeInput!) { registerNearRelative(input: $input) {
  userErrors { message } } }"""


@pytest.fixture
def keys(key):
    return {
        "admin": key(Role.ADMIN),
        "heping": key(Role.CIVIL_AFFAIRS, locality_code="120101"),  # 和平区 board
        "hedong": key(Role.CIVIL_AFFAIRS, locality_code="120102"),  # 河东区 board
        "labour": key(Role.DEPARTMENT, locality_code="120101", department="human_resources"),
        "medical": key(Role.DEPARTMENT, locality_code="120000", department="medical_security"),
        "auditor": key(Role.AUDITOR),
        "partner": key(Role.PARTNER, partner_code="red_cross"),
    }


def register_households(server: str, runtime, admin: str) -> None:
    """Two dibao households (Heping, Hedong) long unreviewed, an unemployed and a seriously ill one (Heping)."""
    runtime.today = lambda: date(2023, 1, 1)
    members = [
        ("120101001", person(born=date(1950, 1, 1), laborCapacity="NONE"), True),
        ("120102001", person(born=date(1950, 1, 1), laborCapacity="NONE", region="120102"), True),
        ("120101001", person(born=date(1985, 1, 1), employment="UNEMPLOYED"), False),
        (
            "120101002",
            person(
                born=date(1975, 1, 1),
                illness="SERIOUS",
                monthlyIncomes=[{"kind": "WAGES", "monthlyAmount": "800"}],
            ),
            False,
        ),
    ]
    for locality, member, dibao in members:
        data = post(
            server,
            REGISTER,
            {"input": {"localityCode": locality, "residence": "URBAN", "members": [member]}},
            key=admin,
        )
        household = data["registerHousehold"]["household"]
        if dibao:
            grant = {
                "householdId": household["id"],
                "aidTypeCode": "dibao",
                "startedOn": "2023-01-15",
                "monthlyAmount": "500.00",
            }
            assert post(server, GRANT, {"input": grant}, key=admin)["grantAid"]["userErrors"] == []
    runtime.today = lambda: AS_OF


def wait_for_subscribers(runtime, count: int, timeout: float = 10) -> None:
    """Until the server's feed holds ``count`` subscriptions (a subscribe message is handled asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        current = runtime.services.get(warning_feed.KEY)
        if current is not None and current.subscribers == count:
            return
        assert time.monotonic() < deadline, f"{current and current.subscribers} subscribers, expected {count}"
        time.sleep(0.02)


def received(ws: ClientConnection, quiet: float = 1.5) -> list[dict]:
    """Every warning pushed until the socket stays quiet for ``quiet`` seconds."""
    out = []
    while True:
        try:
            message = receive(ws, quiet)
        except TimeoutError:
            return out
        assert message["type"] == "next" and "errors" not in message["payload"], message
        out.append(message["payload"]["data"]["warnings"])


def listed(server: str, key: str, filter: dict | None = None) -> set[str]:
    edges = post(server, WARNINGS, {"filter": filter}, key=key)["warnings"]["edges"]
    return {e["node"]["id"] for e in edges}


def test_boards_receive_what_the_sweep_raises_scoped_like_the_query(runtime, keys):
    boards = {  # name → (key, filter)
        "heping": (keys["heping"], None),
        "hedong": (keys["hedong"], None),
        "labour": (keys["labour"], None),
        "medical": (keys["medical"], {"localityCode": "120101"}),
        "auditor": (keys["auditor"], None),
        "heping_yellow": (keys["heping"], {"levels": ["YELLOW"]}),
    }
    with thread_server(runtime) as server:
        register_households(server, runtime, keys["admin"])
        sockets = {name: open_socket(server, key) for name, (key, _) in boards.items()}
        try:
            for name, (_, filter) in boards.items():
                subscribe(sockets[name], name, {"filter": filter}, query=SUBSCRIBE)
            wait_for_subscribers(runtime, len(boards))
            sweep = post(server, SWEEP, {"asOf": AS_OF.isoformat()}, key=keys["admin"])["runSweep"]
            assert sweep["userErrors"] == [] and sweep["warningsRaised"] > 0
            got = {name: received(ws) for name, ws in sockets.items()}

            for name, (
                key,
                filter,
            ) in boards.items():  # exactly what the query lists for the same key and filter
                ids = [w["id"] for w in got[name]]
                assert len(ids) == len(set(ids)) and set(ids) == listed(server, key, filter), name
            assert {w["household"]["localityCode"][:6] for w in got["heping"]} == {"120101"}
            assert {w["household"]["localityCode"][:6] for w in got["hedong"]} == {"120102"}
            assert {w["rule"] for w in got["heping"]} >= {"review_overdue", "likely_eligible_not_enrolled"}
            assert len(got["auditor"]) == len(got["heping"]) + len(got["hedong"]) == sweep["warningsRaised"]
            [labour] = got["labour"]  # the unemployed member's household: employment aid not delivered
            assert (labour["rule"], "human_resources" in labour["routedTo"]) == ("policy_not_delivered", True)
            assert got["medical"] and all("medical_security" in w["routedTo"] for w in got["medical"])
            assert len(got["medical"]) < len(got["heping"])
            assert got["heping_yellow"] and {w["level"] for w in got["heping_yellow"]} == {"YELLOW"}

            # A lifecycle change is pushed to the boards that may see the warning, and only to them.
            review = next(w for w in got["heping"] if w["rule"] == "review_overdue")
            assert (
                post(server, ASSIGN, {"id": review["id"]}, key=keys["heping"])["assignWarning"]["userErrors"]
                == []
            )
            [assigned] = received(sockets["heping"])
            assert (assigned["id"], assigned["status"], assigned["assignee"]) == (
                review["id"],
                "ASSIGNED",
                "王干部",
            )
            assert [w["id"] for w in received(sockets["auditor"], 0.3)] == [review["id"]]
            for name in ("hedong", "labour", "medical"):
                assert received(sockets[name], 0.3) == [], name
            assert received(sockets["heping_yellow"], 0.3) == [
                w for w in [assigned] if w["level"] == "YELLOW"
            ]

            # A second sweep with nothing new pushes nothing.
            assert (
                post(server, SWEEP, {"asOf": AS_OF.isoformat()}, key=keys["admin"])["runSweep"][
                    "warningsRaised"
                ]
                == 0
            )
            assert received(sockets["auditor"], 0.5) == []
        finally:
            for ws in sockets.values():
                ws.close()


def test_a_partner_is_refused_and_a_revoked_key_is_cut_off(runtime, keys):
    with thread_server(runtime) as server:
        register_households(server, runtime, keys["admin"])
        with open_socket(server, keys["partner"]) as ws:
            subscribe(ws, "p", {}, query=SUBSCRIBE)
            answer = receive(ws)
            assert answer["type"] == "error" and answer["id"] == "p"
            assert "a PARTNER key cannot read warnings" in answer["payload"][0]["message"]
        with open_socket(server, keys["heping"]) as ws:
            subscribe(ws, "bad", {"filter": {"localityCode": "12010"}}, query=SUBSCRIBE)
            answer = receive(ws)
            assert answer["type"] == "error" and "filter.localityCode" in answer["payload"][0]["message"]
        with open_socket(server, keys["hedong"]) as ws:
            subscribe(ws, "h", {}, query=SUBSCRIBE)
            wait_for_subscribers(runtime, 1)
            runtime.database.run(
                lambda s: (
                    s.query(ApiKey)
                    .filter(ApiKey.locality_code == "120102", ApiKey.role == Role.CIVIL_AFFAIRS)
                    .update({"revoked_at": datetime.now(UTC)})
                )
            )
            post(server, SWEEP, {"asOf": AS_OF.isoformat()}, key=keys["admin"])
            refused = receive(ws)
            assert refused["type"] == "next" and "revoked" in refused["payload"]["errors"][0]["message"]
            assert receive(ws) == {"id": "h", "type": "complete"}
        wait_for_subscribers(runtime, 0)


def test_a_board_too_far_behind_is_ended_with_a_clear_error(runtime, keys, monkeypatch):
    monkeypatch.setattr(warning_feed, "MAX_QUEUED", 2)  # the sweep's one batch raises more at once
    with thread_server(runtime) as server:
        register_households(server, runtime, keys["admin"])
        with open_socket(server, keys["auditor"]) as ws:
            subscribe(ws, "a", {}, query=SUBSCRIBE)
            wait_for_subscribers(runtime, 1)
            assert (
                post(server, SWEEP, {"asOf": AS_OF.isoformat()}, key=keys["admin"])["runSweep"][
                    "warningsRaised"
                ]
                > 2
            )
            first, second, ended = receive(ws), receive(ws), receive(ws)
            assert [m["payload"]["data"]["warnings"]["rule"] != "" for m in (first, second)] == [True, True]
            error = ended["payload"]["errors"][0]
            assert error["extensions"]["code"] == "TOO_FAR_BEHIND" and "narrow the filter" in error["message"]
            assert receive(ws) == {"id": "a", "type": "complete"}
        wait_for_subscribers(runtime, 0)


def ok(server: str, mutation: str, key: str, **input) -> dict:
    """Run a mutation that must succeed; its payload."""
    payload = next(iter(post(server, mutation, {"input": input}, key=key).values()))
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


def test_warnings_written_by_aid_decisions_reach_the_boards(runtime, keys, monkeypatch):
    """No poll: only what is announced arrives. Deciding an application closes its overdue warning, and
    aid granted to the household of a staff member's registered near relative raises an integrity warning."""
    monkeypatch.setattr(warning_feed, "POLL_SECONDS", 3600.0)
    admin = keys["admin"]
    on = {"by": "窗口 李娜"}
    with thread_server(runtime) as server:
        runtime.today = lambda: date(2026, 9, 1)
        relative = person(region="310105")
        household = post(
            server,
            REGISTER,
            {"input": {"localityCode": "310105001", "residence": "URBAN", "members": [relative]}},
            key=admin,
        )["registerHousehold"]["household"]["id"]
        runtime.today = lambda: date(2026, 9, 18)  # accepted: the decision is due by 2026-10-22
        application = ok(server, APPLY, admin, householdId=household, aidTypeCodes=["dibao"], **on)
        application_id = application["application"]["id"]
        ok(server, ACCEPT, admin, applicationId=application_id, **on)
        runtime.today = lambda: date(2026, 10, 23)
        assert post(server, SWEEP, {"asOf": "2026-10-23"}, key=admin)["runSweep"]["userErrors"] == []
        [overdue] = listed(server, admin, {"rule": "application_overdue"})
        ok(server, INVESTIGATE, admin, applicationId=application_id, findings="住房简陋", **on)
        ok(server, CHECK, admin, applicationId=application_id, result="收入超标", **on)
        with open_socket(server, keys["auditor"]) as ws:
            subscribe(ws, "a", {}, query=SUBSCRIBE)
            wait_for_subscribers(runtime, 1)

            ok(server, DECIDE, admin, applicationId=application_id, refuse=["dibao"], reason="收入超标", **on)
            [closed] = received(ws)
            assert (closed["id"], closed["rule"], closed["status"]) == (
                overdue,
                "application_overdue",
                "RESOLVED",
            )

            runtime.today = date.today  # a registration counts from the day it is made
            relative_of_staff = {
                "idNumber": relative["idNumber"],
                "relativeName": "王芳",
                "kinship": "SIBLING",
                "staffName": "王强",
                "staffPost": "民政所工作人员",
                "localityCode": "310105001",
            }
            ok(server, NEAR_RELATIVE, admin, **relative_of_staff)
            assert received(ws, 0.3) == []
            grant = {
                "householdId": household,
                "aidTypeCode": "temporary",
                "startedOn": date.today().isoformat(),
                "oneOffAmount": "500.00",
            }
            assert post(server, GRANT, {"input": grant}, key=admin)["grantAid"]["userErrors"] == []
            [raised] = received(ws)
            assert (raised["rule"], raised["status"], raised["household"]["localityCode"]) == (
                "near_relative_decision",
                "OPEN",
                "310105001",
            )


def cli_sweep(database_url: str, **env: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "safetynet.cli", "sweep", "--as-of", AS_OF.isoformat()],
        env={
            **os.environ,
            "SAFETYNET_DATABASE_URL": database_url,
            "SAFETYNET_SECRET_KEY": "test-secret",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_command_line_sweep_reaches_the_boards_by_the_poll(runtime, keys, database_url):
    """No Redis: the server finds warnings newer than it has seen (every POLL_SECONDS while subscribed)."""
    with thread_server(runtime) as server:
        register_households(server, runtime, keys["admin"])
        with open_socket(server, keys["hedong"]) as ws:
            subscribe(ws, "h", {}, query=SUBSCRIBE)
            wait_for_subscribers(runtime, 1)
            cli_sweep(database_url)
            got = received(ws, warning_feed.POLL_SECONDS + 2)
            assert got and {w["id"] for w in got} == listed(server, keys["hedong"])


def test_a_command_line_sweep_reaches_the_boards_through_redis(make_runtime, keys, database_url, monkeypatch):
    """With SAFETYNET_BROADCAST_URL the command-line sweep publishes each batch's ids; the poll is off."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}: start one with redis-server --daemonize yes --port 6379")
    monkeypatch.setattr(warning_feed, "POLL_SECONDS", 3600.0)
    served = make_runtime(broadcast_url=REDIS_URL)
    with thread_server(served) as server:
        register_households(server, served, keys["admin"])
        with open_socket(server, keys["heping"]) as ws:
            subscribe(ws, "h", {"filter": {"rule": "review_overdue"}}, query=SUBSCRIBE)
            wait_for_subscribers(served, 1)
            cli_sweep(database_url, SAFETYNET_BROADCAST_URL=REDIS_URL)
            [review] = received(ws)
            assert (review["rule"], review["household"]["localityCode"]) == ("review_overdue", "120101001")
