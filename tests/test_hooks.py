"""One test per hook the core calls today, each through an outside plugin and the real API; and a test
that every hook in safetynet.hookspecs has a test (or is listed, with its issue, as not called yet)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
import strawberry
from sqlalchemy import select
from strawberry.types import Info

from conftest import GraphQL, person, register
from outside_plugin import charity, riverside, stove
from safetynet import hookimpl, hookspecs
from safetynet.api.ids import decode
from safetynet.app import create_app
from safetynet.model import AidEvent, GraphQLContribution, Role
from safetynet.principals import create_key
from safetynet.rules.records import Field, integer, money, record_source
from safetynet.store.models import AidRecord, LocalityRow, SignalRow

TESTS = Path(__file__).parent
TEST_FUNCTION = re.compile(r"^\s*(?:async\s+)?def\s+(test_\w+)", re.MULTILINE)
GRANT = """mutation($input: GrantAidInput!) { grantAid(input: $input) {
  aidRecord { id } userErrors { field code } } }"""
END = """mutation($id: ID!) { endAid(id: $id, endedOn: "2024-06-30", reason: "moved away") {
  aidRecord { id status } userErrors { field code } } }"""

#: Hooks without a test yet, with the issue that brings their test. A test for a hook the core does not
#: call would test nothing real, so there is none; when the issue lands, write the test (``test_<hook>…``
#: in any tests/*.py) and remove the entry: test_every_hook_has_a_test fails while a listed hook has one.
PENDING_ISSUES: dict[str, str] = {}


@contextlib.asynccontextmanager
async def api(runtime) -> AsyncIterator[tuple[GraphQL, str]]:
    """A GraphQL client against ``runtime``'s app, with an admin key."""
    admin = runtime.database.run(lambda s: create_key(s, Role.ADMIN))
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield GraphQL(client), admin
    await runtime.database.async_engine.dispose()


async def test_safetynet_aid_types(make_runtime):
    stove.BATCH_SIZES.clear()
    runtime = make_runtime(extra_plugins=[stove])
    async with api(runtime) as (gql, admin):
        assert "stove_subsidy" in {
            a["code"] for a in (await gql.ok("{ aidTypes { code } }", key=admin))["aidTypes"]
        }
        for residence in ("URBAN", "RURAL", "URBAN"):
            await register(gql, admin, residence=residence)
        stove.BATCH_SIZES.clear()
        page = await gql.ok(
            "{ households { edges { node { residence"
            " assessments { aidType { code } eligible monthlyAmount } } } } }",
            key=admin,
        )
    answers = [
        (
            e["node"]["residence"],
            next(a for a in e["node"]["assessments"] if a["aidType"]["code"] == "stove_subsidy"),
        )
        for e in page["households"]["edges"]
    ]
    assert [(r, a["eligible"], a["monthlyAmount"]) for r, a in answers] == [
        ("URBAN", True, "101.00"),
        ("RURAL", False, "0.00"),
        ("URBAN", True, "101.00"),
    ]
    assert stove.BATCH_SIZES == [3]  # the rule ran once, for the whole page, not once per household


async def test_safetynet_partners(make_runtime):
    runtime = make_runtime(extra_plugins=[charity])
    async with api(runtime) as (gql, admin):
        partners = (await gql.ok("{ partners { code name nameEn kind needTypes plugin } }", key=admin))[
            "partners"
        ]
    assert {
        "code": "riverside_charity",
        "name": "河畔慈善会",
        "nameEn": "Riverside Charity",
        "kind": "CHARITY",
        "needTypes": ["education", "medical"],
        "plugin": "outside_plugin.charity",
    } in partners
    assert runtime.catalogue.partners["riverside_charity"].item.resources[0].amount_fen == 200000


async def test_safetynet_localities(make_runtime):
    runtime = make_runtime(extra_plugins=[riverside, stove])
    async with api(runtime) as (gql, admin):
        query = """query($code: String!, $on: Date) { locality(code: $code) { code name level parent { code }
            parameter(name: "dibao.standard.urban", asOf: $on) {
              localityCode value effectiveFrom source } } }"""
        province = (await gql.ok(query, {"code": "990000", "on": "2024-06-30"}, key=admin))["locality"]
        assert {k: province[k] for k in ("code", "name", "level", "parent")} == {
            "code": "990000",
            "name": "河畔省",
            "level": "PROVINCE",
            "parent": {"code": "100000"},
        }
        assert province["parameter"] == {
            "localityCode": "990000",
            "value": "500.00",
            "effectiveFrom": "2020-01-01",
            "source": "test fixture: not a real standard",
        }
        later = (await gql.ok(query, {"code": "990101001", "on": "2024-07-01"}, key=admin))["locality"]
        assert later["parameter"]["value"] == "560.00" and later["level"] == "TOWNSHIP"
        stored = runtime.database.run(lambda s: s.get(LocalityRow, "990000"))
        assert (stored.name, stored.plugin) == ("河畔省", "outside_plugin.riverside")

        # A household there is accepted only because the pack provides the province, and is assessed
        # with its parameters.
        household = await register(gql, admin, localityCode="990101001")
        assessments = (
            await gql.ok(
                """query($id: ID!) { household(id: $id) { assessments(asOf: "2024-06-30") {
                     aidType { code } monthlyAmount
                     reasons { parameters { name localityCode value } } } } }""",
                {"id": household["id"]},
                key=admin,
            )
        )["household"]["assessments"]
    subsidy = next(a for a in assessments if a["aidType"]["code"] == "stove_subsidy")
    assert subsidy["monthlyAmount"] == "50.00"
    assert subsidy["reasons"][0]["parameters"] == [
        {"name": "dibao.standard.urban", "localityCode": "990000", "value": "500.00"}
    ]


@strawberry.type
class CountyQuery:
    @strawberry.field(description="The principal's role, said by a plugin")
    def county_greeting(self, info: Info, name: str) -> str:
        return f"你好 {name}, {info.context.me.role.name}"


@strawberry.type
class CountyMutation:
    @strawberry.mutation
    def county_echo(self, text: str) -> str:
        return text[::-1]


class County:
    @hookimpl
    def safetynet_graphql(self):  # type: ignore[no-untyped-def]
        return [GraphQLContribution(query=(CountyQuery,), mutation=(CountyMutation,))]


async def test_safetynet_graphql(make_runtime):
    runtime = make_runtime(extra_plugins=[County()])
    async with api(runtime) as (gql, admin):
        assert (await gql.ok('{ countyGreeting(name: "李") }', key=admin)) == {
            "countyGreeting": "你好 李, ADMIN"
        }
        assert (await gql.ok('mutation { countyEcho(text: "abc") }', key=admin)) == {"countyEcho": "cba"}
        # The core's fields are still there.
        assert (await gql.ok("{ me { role } }", key=admin)) == {"me": {"role": "ADMIN"}}


class WaterUtility:
    """An outside department feed, built with the public record helper (safetynet.rules.records)."""

    @hookimpl
    def safetynet_data_sources(self):  # type: ignore[no-untyped-def]
        return [
            record_source(
                code="water_arrears",
                department="water_utility",
                fields=[Field("months", integer(1, 120)), Field("owed", money)],
                signal=lambda row: row.signal("ARREARS", amount_fen=row["owed"], value=str(row["months"])),
            )
        ]


INGEST = """mutation($source: String!, $records: [JSON!]!) { ingestRecords(source: $source, records: $records) {
  accepted duplicates rejected { index recordId message } userErrors { field code } } }"""


async def test_safetynet_data_sources(make_runtime):
    runtime = make_runtime(extra_plugins=[WaterUtility()])
    head = person()
    records = [
        {
            "recordId": "W-1",
            "idNumber": head["idNumber"],
            "date": "2026-09-30",
            "months": "3",
            "owed": "210.50",
        },
        {"recordId": "W-2", "idNumber": head["idNumber"], "date": "2026-09-30", "months": 0, "owed": "1"},
    ]
    water = runtime.database.run(lambda s: create_key(s, Role.DEPARTMENT, department="water_utility"))
    async with api(runtime) as (gql, admin):
        household = await register(gql, admin, members=[head])
        payload = (await gql.ok(INGEST, {"source": "water_arrears", "records": records}, key=water))[
            "ingestRecords"
        ]
        again = (await gql.ok(INGEST, {"source": "water_arrears", "records": records[:1]}, key=admin))[
            "ingestRecords"
        ]
    assert payload == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": [
            {"index": 1, "recordId": "W-2", "message": "months: 0 is not a whole number from 1 to 120"}
        ],
        "userErrors": [],
    }
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    signal = runtime.database.run(
        lambda s: s.scalar(select(SignalRow).where(SignalRow.source == "water_arrears"))
    )
    assert (signal.record_id, signal.kind, signal.value, signal.amount_fen, signal.household_id) == (
        "W-1",
        "ARREARS",
        "3",
        21050,
        decode(household["id"])[1],
    )


class AidEvents:
    """Records the aid events it receives; ``ended`` is async, so the core must await it."""

    def __init__(self) -> None:
        self.granted: list[AidEvent] = []
        self.ended: list[AidEvent] = []

    @hookimpl
    def safetynet_aid_granted(self, event: AidEvent) -> None:
        self.granted.append(event)

    @hookimpl
    async def safetynet_aid_ended(self, event: AidEvent) -> None:
        await asyncio.sleep(0.01)
        self.ended.append(event)


class Failing:
    @hookimpl
    def safetynet_aid_granted(self, event: AidEvent) -> None:
        raise RuntimeError("funds platform unreachable")


async def grant_and_end(runtime) -> tuple[str, str, str]:
    """Register, grant dibao (and a refused duplicate), end it; the household, record and member ids."""
    async with api(runtime) as (gql, admin):
        household = await register(gql, admin, localityCode="120101002")
        grant = {
            "householdId": household["id"],
            "aidTypeCode": "dibao",
            "startedOn": "2024-01-01",
            "monthlyAmount": "300.00",
            "oneOffAmount": "50.00",
        }
        record = (await gql.ok(GRANT, {"input": grant}, key=admin))["grantAid"]["aidRecord"]["id"]
        duplicate = (await gql.ok(GRANT, {"input": grant}, key=admin))["grantAid"]
        assert duplicate["userErrors"] == [{"field": ["aidTypeCode"], "code": "DUPLICATE_AID"}]
        ended = (await gql.ok(END, {"id": record}, key=admin))["endAid"]
        assert ended["userErrors"] == []
    return household["id"], record, household["members"][0]["id"]


async def test_safetynet_aid_granted(make_runtime, caplog):
    events = AidEvents()
    runtime = make_runtime(extra_plugins=[Failing(), events])
    with caplog.at_level(logging.ERROR, logger="safetynet.plugins"):
        household, record, _ = await grant_and_end(runtime)
    assert events.granted == [  # once: the refused duplicate was not an event
        AidEvent(
            record_id=decode(record)[1],
            household_id=decode(household)[1],
            locality_code="120101002",
            aid_type_code="dibao",
            provider="civil_affairs",
            monthly_amount_fen=30000,
            one_off_amount_fen=5000,
            started_on=date(2024, 1, 1),
        )
    ]
    # A failing plugin is logged by name and does not undo the grant, nor keep others from hearing of it.
    assert any(
        "Failing" in r.getMessage() and "safetynet_aid_granted" in r.getMessage() for r in caplog.records
    )
    assert runtime.database.run(lambda s: s.get(AidRecord, decode(record)[1]) is not None)


async def test_safetynet_aid_ended(make_runtime):
    events = AidEvents()
    runtime = make_runtime(extra_plugins=[events])
    _, record, _ = await grant_and_end(runtime)
    assert len(events.ended) == 1  # the async implementation was awaited before the response
    [ended] = events.ended
    assert (ended.record_id, ended.ended_on, ended.reason, ended.aid_type_code) == (
        decode(record)[1],
        date(2024, 6, 30),
        "moved away",
        "dibao",
    )


def hook_names() -> set[str]:
    return {
        name
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("safetynet_") and hasattr(function, f"{hookspecs.PROJECT}_spec")
    }


def functions_named_test() -> set[str]:
    """The names of the test functions in tests/*.py."""
    return {
        name
        for path in TESTS.glob("*.py")
        for name in TEST_FUNCTION.findall(path.read_text(encoding="utf-8"))
    }


def test_every_hook_has_a_test():
    """A hook counts as tested when a test function in tests/*.py is named after it (``test_<hook>…``)."""
    hooks = hook_names()
    assert "safetynet_aid_granted" in hooks and len(hooks) >= 13
    tested = {hook for hook in hooks for name in functions_named_test() if name.startswith(f"test_{hook}")}
    assert sorted(hooks - tested - PENDING_ISSUES.keys()) == [], "write a test_<hook> for these hooks"
    assert sorted(tested & PENDING_ISSUES.keys()) == [], (
        "these hooks have tests now: remove them from PENDING_ISSUES"
    )
    assert sorted(PENDING_ISSUES.keys() - hooks) == [], "PENDING_ISSUES names hooks that no longer exist"
