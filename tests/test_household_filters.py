"""``households(filter: { categories, circle })`` agrees with ``Household.categories`` and ``Household.circle``.

A varied county: households assessed live (never swept) and households with a sweep's record (some
changed since, so their record and a live assessment differ), aid chains putting households in each of
the four circles, and the return-poverty watch from the rural-revitalisation feed. For every circle and
every category, the filter returns exactly the households whose field says so; combined with the other
filters and with a scoped key too.
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import count

import pytest

from conftest import income, person, register
from safetynet.api.ids import decode
from safetynet.circles import RECENT_WINDOW_DAYS
from safetynet.model import Circle, LowIncomeCategory, Role
from safetynet.monitoring.sweep import run_sweep
from safetynet.store.models import HouseholdCategory

FIELDS = """query($filter: HouseholdFilter) { households(first: 500, filter: $filter) {
  totalCount edges { node { id localityCode categories circle } } } }"""
GRANT = """mutation($input: GrantAidInput!) { grantAid(input: $input) {
  aidRecord { id } userErrors { field message code } } }"""
END = """mutation($id: ID!, $on: Date!) { endAid(id: $id, endedOn: $on, reason: "收入超标") {
  userErrors { field message code } } }"""
INGEST = """mutation($records: [JSON!]!) { ingestRecords(source: "rural_revitalization", records: $records) {
  accepted userErrors { message } } }"""
UPDATE = """mutation($input: CircumstancesInput!) { updateCircumstances(input: $input) {
  userErrors { field message code } } }"""
VERSION = """query($id: ID!) { household(id: $id) { version members { id } } }"""

TOWNSHIP, OTHER_TOWNSHIP = "120101001", "120102001"
_records = count(1)


def ago(days: int) -> date:
    return date.today() - timedelta(days=days)


async def grant(
    gql, key, household: str, code: str, started: date, *, provider=None, ended=None, terminated_on=None
):
    given = {
        "householdId": household,
        "aidTypeCode": code,
        "startedOn": started.isoformat(),
        "oneOffAmount": "100.00",
    }
    if provider:
        given["provider"] = provider
    if ended:
        given["endedOn"] = ended.isoformat()
    payload = (await gql.ok(GRANT, {"input": given}, key=key))["grantAid"]
    assert payload["userErrors"] == []
    if terminated_on:
        ended_aid = await gql.ok(
            END, {"id": payload["aidRecord"]["id"], "on": terminated_on.isoformat()}, key=key
        )
        assert ended_aid["endAid"]["userErrors"] == []


async def watch(gql, key, member: dict, *events: tuple[str, date]) -> None:
    records = [
        {
            "recordId": f"RR-{next(_records)}",
            "idNumber": member["idNumber"],
            "date": on.isoformat(),
            "event": event,
        }
        for event, on in events
    ]
    result = (await gql.ok(INGEST, {"records": records}, key=key))["ingestRecords"]
    assert (result["accepted"], result["userErrors"]) == (len(records), [])


async def household(gql, key, *members: dict, locality: str = TOWNSHIP) -> str:
    return (await register(gql, key, localityCode=locality, members=list(members)))["id"]


def rich(relation: str = "HEAD") -> dict:
    return person(relation, monthlyIncomes=income("20000.00"))


async def county(gql, key, runtime) -> None:
    """Households in every category and circle, some swept (and changed since), some never swept."""
    # swept first: a dibao household whose income has risen since (the record still says DIBAO) …
    risen = await household(gql, key, person(monthlyIncomes=income("100.00")))
    # … a well-off household poor since (its record says nothing) …
    fallen = await household(gql, key, rich(), rich("SPOUSE"))
    # … a marginal one on the watch list, and one with a terminated dibao
    watched_head = person(monthlyIncomes=income("1300.00"))
    await household(gql, key, watched_head)
    await watch(gql, key, watched_head, ("WATCH_START", ago(400)))
    terminated = await household(gql, key, rich())
    await grant(gql, key, terminated, "dibao", ago(900), terminated_on=ago(100))
    run_sweep(runtime)
    # no aid type decides OTHER_HARDSHIP: a record of it as an import would leave it
    other_hardship = HouseholdCategory(
        household_id=decode(terminated)[1], category=LowIncomeCategory.OTHER_HARDSHIP, since=date.today()
    )
    runtime.database.run(lambda s: s.add(other_hardship))
    await new_incomes(gql, key, risen, "20000.00")
    await new_incomes(gql, key, fallen, "1300.00")

    # never swept: each category …
    await household(gql, key, person(monthlyIncomes=income("100.00")), person("SPOUSE"))  # dibao
    await household(gql, key, person(born=date(1940, 1, 1), laborCapacity="NONE", employment="RETIRED"))
    await household(gql, key, person(monthlyIncomes=income("1300.00")), locality=OTHER_TOWNSHIP)  # marginal
    heavy = [{"kind": "MEDICAL", "annualAmount": "60000.00"}]
    members = [person(monthlyIncomes=income("3200.00")), person("SPOUSE")]
    await register(gql, key, localityCode=TOWNSHIP, members=members, rigidExpenses=heavy)  # rigid expense
    ended_head, still_head = rich(), rich()
    ended_watch = await household(gql, key, ended_head)
    await watch(gql, key, ended_head, ("WATCH_START", ago(300)), ("WATCH_END", ago(30)))
    still = await household(gql, key, still_head, rich("SPOUSE"))
    await watch(gql, key, still_head, ("WATCH_END", ago(500)), ("WATCH_START", ago(20)))
    # … and each circle by the aid chain
    window = RECENT_WINDOW_DAYS
    await grant(gql, key, await household(gql, key, rich()), "dibao", ago(3000))  # in force
    special = await household(gql, key, rich(), locality=OTHER_TOWNSHIP)
    await grant(gql, key, special, "medical", ago(400), provider="medical_security", ended=ago(300))
    await grant(gql, key, await household(gql, key, rich()), "temporary", ago(10))
    old = await household(gql, key, rich())
    await grant(gql, key, old, "temporary", ago(window + 30), ended=ago(window + 20))
    edge = await household(gql, key, rich())
    await grant(gql, key, edge, "tekun", ago(2000), terminated_on=ago(window - 10))
    red_cross = await household(gql, key, rich())
    await grant(gql, key, red_cross, "care_service", ago(200), provider="red_cross_310105")
    charity = await household(gql, key, rich())
    await grant(gql, key, charity, "heating", ago(40), provider="some_charity", ended=ago(20))
    await grant(gql, key, ended_watch, "disability_subsidy", ago(30), provider="disabled_federation")  # none
    await grant(gql, key, still, "medical", ago(50), provider="medical_security")
    await household(gql, key, rich())  # nothing at all


async def new_incomes(gql, key, household_id: str, head_income: str) -> None:
    """From today the head earns ``head_income`` and the other members nothing."""
    found = (await gql.ok(VERSION, {"id": household_id}, key=key))["household"]
    members = [
        {"memberId": m["id"], "monthlyIncomes": income(head_income if i == 0 else "0.00")}
        for i, m in enumerate(found["members"])
    ]
    update = {
        "householdId": household_id,
        "version": found["version"],
        "effectiveFrom": date.today().isoformat(),
        "members": members,
    }
    assert (await gql.ok(UPDATE, {"input": update}, key=key))["updateCircumstances"]["userErrors"] == []


async def fetch(gql, key, **filter) -> tuple[int, dict[str, dict]]:
    found = (await gql.ok(FIELDS, {"filter": filter or None}, key=key))["households"]
    return found["totalCount"], {e["node"]["id"]: e["node"] for e in found["edges"]}


async def test_the_filters_return_exactly_the_households_the_fields_describe(gql, admin_key, runtime):
    await county(gql, admin_key, runtime)
    total, everyone = await fetch(gql, admin_key)
    assert total == len(everyone) == 18
    by_circle = {c: {h for h, n in everyone.items() if n["circle"] == c.value} for c in Circle}
    by_category = {
        c: {h for h, n in everyone.items() if c.value in n["categories"]} for c in LowIncomeCategory
    }
    assert all(by_circle.values()), {c.name: len(v) for c, v in by_circle.items()}  # each is represented
    assert all(by_category.values()), {c.name: len(v) for c, v in by_category.items()}
    assert sum(1 for n in everyone.values() if n["circle"] is None) >= 3

    for circle, expected in by_circle.items():
        total, found = await fetch(gql, admin_key, circle=circle.name)
        assert (total, set(found)) == (len(expected), expected), circle
        assert {n["circle"] for n in found.values()} == {circle.value}
    for category, expected in by_category.items():
        total, found = await fetch(gql, admin_key, categories=[category.name])
        assert (total, set(found)) == (len(expected), expected), category
    both = [LowIncomeCategory.DIBAO, LowIncomeCategory.RETURN_POVERTY_WATCH]
    total, found = await fetch(gql, admin_key, categories=[c.name for c in both])
    assert set(found) == by_category[both[0]] | by_category[both[1]]

    # combined with each other and with the locality
    in_other = {h for h, n in everyone.items() if n["localityCode"] == OTHER_TOWNSHIP}
    _, found = await fetch(gql, admin_key, localityCode="120102", circle="COVERED")
    assert set(found) == by_circle[Circle.COVERED] & in_other != set()
    _, found = await fetch(gql, admin_key, categories=["MARGINAL"], circle="COVERED")
    assert set(found) == by_category[LowIncomeCategory.MARGINAL]


async def test_a_swept_households_record_decides_until_the_next_sweep(gql, admin_key, runtime):
    """The record, not today's circumstances: a household whose income rose stays DIBAO, as the field says."""
    risen = await household(gql, admin_key, person(monthlyIncomes=income("100.00")))
    run_sweep(runtime)
    await new_incomes(gql, admin_key, risen, "20000.00")
    fresh = await household(gql, admin_key, person(monthlyIncomes=income("100.00")))  # never swept
    _, found = await fetch(gql, admin_key, categories=["DIBAO"])
    assert set(found) == {risen, fresh}
    assert found[risen]["categories"] == ["DIBAO"] and found[risen]["circle"] == "COVERED"

    run_sweep(runtime)
    _, found = await fetch(gql, admin_key, categories=["DIBAO"])
    assert set(found) == {fresh}
    _, found = await fetch(gql, admin_key, circle="COVERED")
    assert set(found) == {fresh}


async def test_a_scoped_key_filters_only_what_it_may_see(gql, admin_key, key, runtime):
    here = await household(gql, admin_key, person(monthlyIncomes=income("100.00")))
    await household(gql, admin_key, person(monthlyIncomes=income("100.00")), locality=OTHER_TOWNSHIP)
    township = key(Role.CIVIL_AFFAIRS, locality_code=TOWNSHIP)
    for filter in ({"categories": ["DIBAO"]}, {"circle": "COVERED"}):
        total, found = await fetch(gql, township, **filter)
        assert (total, set(found)) == (1, {here})


@pytest.mark.parametrize("filter", [{"categories": []}, {"circle": "NOWHERE"}, {"categories": ["RICH"]}])
async def test_bad_filter_values_are_refused_naming_the_field(gql, admin_key, filter):
    body = await gql(FIELDS, {"filter": filter}, key=admin_key)
    assert body.get("data") is None or body["data"]["households"] is None
    message = body["errors"][0]["message"]
    assert next(iter(filter)) in message or "HouseholdFilter" in message, message
