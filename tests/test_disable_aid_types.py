"""Every aid type is its own plugin: ``--disable-plugin aid.X`` takes it out of ``aidTypes``, of every
household's ``assessments`` and of the sweep, and nothing else breaks.

For each aid-type entry point in turn, a county is registered and assessed with every plugin, then a
second runtime on the same database runs without that plugin: the aid type is gone everywhere; every aid
type that does not read its answer (``depends_on``, transitively) answers exactly as before; those that
do still answer, counting only aid of the missing type in force on the date (plugins/safetynet_aid/
_common.py ``on_aid``); the sweep writes every other aid type's answer for every household.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import date, timedelta
from importlib.metadata import entry_points
from itertools import count

import httpx
import pytest
from sqlalchemy import select

from conftest import GraphQL, income, register
from safetynet.api.ids import encode
from safetynet.app import create_app
from safetynet.catalogue import Catalogue
from safetynet.model import Role
from safetynet.monitoring.sweep import run_sweep
from safetynet.principals import create_key
from safetynet.store.models import AssessmentResult
from test_aid_types import ALL_ABLE, GRANT, ROUND, RoundLocalities, member, years_ago

AID_PLUGINS = sorted(e.name for e in entry_points(group="safetynet") if e.name.startswith("aid."))
ASSESSMENTS = """{ households(first: 100) { edges { node { id categories circle
  assessments { aidType { code } eligible monthlyAmount oneOffAmount reasons { code message } } } } } }"""
INGEST = """mutation($source: String!, $records: [JSON!]!) { ingestRecords(source: $source, records: $records) {
  accepted userErrors { message } } }"""
_records = count(1)


@contextlib.asynccontextmanager
async def api(runtime) -> AsyncIterator[tuple[GraphQL, str]]:
    """A GraphQL client against ``runtime``'s app, with an admin key."""
    admin = runtime.database.run(lambda s: create_key(s, Role.ADMIN))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://test"
    ) as c:
        yield GraphQL(c), admin
    await runtime.database.async_engine.dispose()


async def feed(gql, key, source: str, person: dict, **fields) -> None:
    day = (date.today() - timedelta(days=3)).isoformat()
    record = {"recordId": f"D-{next(_records)}", "idNumber": person["idNumber"], "date": day, **fields}
    result = (await gql.ok(INGEST, {"source": source, "records": [record]}, key=key))["ingestRecords"]
    assert (result["accepted"], result["userErrors"]) == (1, [])


async def county(gql, key) -> None:
    """Households that between them are eligible for every aid type of the round-number province."""
    # dibao, medical, education, housing, employment, temporary, heating; hit by a flood
    head = member(born=years_ago(40), employment="UNEMPLOYED")
    pupil = member("CHILD", born=years_ago(10), employment="STUDENT", educationStage="PRIMARY")
    medical = [{"kind": "MEDICAL", "annualAmount": "5000.00"}]
    await register(gql, key, localityCode=ROUND, members=[head, pupil], rigidExpenses=medical)
    await feed(gql, key, "emergency_management", head, disaster="FLOOD", loss="8000")
    # tekun, care services; reported deceased (funeral)
    unable = {**ALL_ABLE, "eating": False, "dressing": False, "toileting": False, "bathing": False}
    elder = member(born=years_ago(70), laborCapacity="NONE", employment="RETIRED", selfCare=unable)
    await register(gql, key, localityCode=ROUND, members=[elder])
    await feed(gql, key, "public_security", elder, event="DECEASED")
    # marginal, low-income family aid, disability subsidies
    disabled = member(
        "SPOUSE", disability="LEVEL_1", laborCapacity="NONE", selfCare={**ALL_ABLE, "bathing": False}
    )
    await register(gql, key, localityCode=ROUND, members=[member(monthlyIncomes=income("2400.00")), disabled])
    # rigid expense
    heavy = [{"kind": "MEDICAL", "annualAmount": "30000.00"}]
    couple = [member(monthlyIncomes=income("3200.00")), member("SPOUSE")]
    await register(gql, key, localityCode=ROUND, members=couple, rigidExpenses=heavy)
    # dibao in force
    working = [member(employment="EMPLOYED", monthlyIncomes=income("1200.00")), member("SPOUSE")]
    enrolled = await register(gql, key, localityCode=ROUND, members=working)
    given = {"householdId": enrolled["id"], "aidTypeCode": "dibao", "startedOn": date.today().isoformat()}
    granted = await gql.ok(GRANT, {"input": {**given, "monthlyAmount": "800.00"}}, key=key)
    assert granted["grantAid"]["userErrors"] == []
    # well off
    await register(gql, key, localityCode=ROUND, members=[member(monthlyIncomes=income("9000.00"))])


async def answers(gql, key) -> dict[str, dict[str, dict]]:
    """Household id → aid type code → its assessment (checking that categories and circle resolve)."""
    edges = (await gql.ok(ASSESSMENTS, key=key))["households"]["edges"]
    return {e["node"]["id"]: {a["aidType"]["code"]: a for a in e["node"]["assessments"]} for e in edges}


def readers_of(catalogue: Catalogue, code: str) -> set[str]:
    """The aid types that read ``code``'s answer, directly or through another."""
    found: set[str] = set()
    grew = True
    while grew:
        grew = False
        for other, provided in catalogue.aid_types.items():
            if other not in found and ({code} | found) & set(provided.item.depends_on):
                found.add(other)
                grew = True
    return found


def test_every_aid_type_is_its_own_plugin():
    assert len(AID_PLUGINS) == 15 and "aid.dibao" in AID_PLUGINS and "aid.funeral" in AID_PLUGINS


@pytest.mark.parametrize("plugin", AID_PLUGINS)
async def test_disabling_an_aid_type_plugin_removes_it_and_breaks_nothing_else(make_runtime, plugin):
    code = plugin.removeprefix("aid.")
    full = make_runtime(extra_plugins=[RoundLocalities()])
    async with api(full) as (gql, admin):
        await county(gql, admin)
        before = await answers(gql, admin)
    every = set(full.catalogue.aid_types)
    eligible_somewhere = {c for household in before.values() for c, a in household.items() if a["eligible"]}
    assert eligible_somewhere == every  # the county exercises every aid type
    readers = readers_of(full.catalogue, code)

    without = make_runtime(extra_plugins=[RoundLocalities()], disabled_plugins=(plugin,))
    assert set(without.catalogue.aid_types) == every - {code}
    async with api(without) as (gql, admin):
        listed = await gql.ok("{ aidTypes { code } plugins { name } }", key=admin)
        assert {a["code"] for a in listed["aidTypes"]} == every - {code}
        assert plugin not in {p["name"] for p in listed["plugins"]}
        after = await answers(gql, admin)
    assert set(after) == set(before)
    for household, assessed in after.items():
        assert set(assessed) == every - {code}, household
        for other, answer in assessed.items():
            if other not in readers:
                assert answer == before[household][other], (household, other)
            else:  # still answered, with its reasons
                assert answer["reasons"], (household, other)

    swept = run_sweep(without)
    assert swept.households == len(before)
    stored = without.database.run(
        lambda s: s.execute(
            select(AssessmentResult.household_id, AssessmentResult.aid_type_code, AssessmentResult.eligible)
        ).all()
    )
    assert code not in {c for _, c, _ in stored}
    written = {(encode("Household", h), c) for h, c, eligible in stored if eligible}
    assert written == {(h, c) for h, assessed in after.items() for c, a in assessed.items() if a["eligible"]}


async def test_without_dibao_the_others_count_dibao_in_force_only(make_runtime):
    """The documented behaviour: an aid type that is not installed counts through aid in force."""
    async with api(make_runtime(extra_plugins=[RoundLocalities()])) as (gql, admin):
        await county(gql, admin)  # dibao can be granted only while it is installed
    without_dibao = make_runtime(extra_plugins=[RoundLocalities()], disabled_plugins=("aid.dibao",))
    async with api(without_dibao) as (gql, admin):
        found = await answers(gql, admin)
    not_tekun = [h for h in found.values() if not h["tekun"]["eligible"]]
    enrolled = [h for h in not_tekun if h["marginal"]["reasons"][0]["code"] == "ON_DIBAO_OR_TEKUN"]
    assert len(enrolled) == 1  # the household with dibao on its aid chain; the poorer ones are not "on dibao"
    assert enrolled[0]["medical"]["eligible"] is True  # premium subsidy for a household on dibao
    poorest = [h for h in not_tekun if h["temporary"]["eligible"]]  # no income, nothing in force
    assert poorest and all(h["marginal"]["eligible"] for h in poorest)
