"""Warnings over GraphQL: runSweep, the warnings connection with its filter and scope, assign → visit →
resolve (ENROLLED puts aid on the chain, TERMINATED ends it), illegal transitions as user errors, and the
household's categories from the sweep."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from conftest import GraphQL, person, register
from monitoring_county import EXPECTED, MONTH_END, at, month_of_signals, register_county, start
from safetynet import hookimpl
from safetynet.app import create_app
from safetynet.model import AidEvent, Role
from safetynet.principals import create_key
from safetynet.store.models import Income, Warning

WARNINGS = """query($filter: WarningFilter, $first: Int, $after: String) {
  warnings(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id rule level status raisedAt visitDueBy overdue routedTo assignee aidTypeCode
      resolution resolvedAt referredTo resolutionNote
      evidence { code message parameters { name localityCode value effectiveFrom source illustrative } }
      household { id localityCode } visits { visitor findings visitedAt } } }
  } }"""
SWEEP = """mutation($asOf: Date, $localityCode: String) { runSweep(asOf: $asOf, localityCode: $localityCode) {
  households warningsRaised categoriesChanged warningsUpdated userErrors { field message code } } }"""
ASSIGN = """mutation($id: ID!, $assignee: String!) { assignWarning(id: $id, assignee: $assignee) {
  warning { id status assignee } userErrors { field message code } } }"""
VISIT = """mutation($input: VisitInput!) { recordVisit(input: $input) {
  visit { id visitor findings visitedAt } userErrors { field message code } } }"""
RESOLVE = """mutation($id: ID!, $resolution: Resolution!, $note: String, $aidTypeCode: String,
                      $monthlyAmount: Decimal, $department: String) {
  resolveWarning(id: $id, resolution: $resolution, note: $note, aidTypeCode: $aidTypeCode,
                 monthlyAmount: $monthlyAmount, department: $department) {
    warning { id status resolution resolvedAt resolutionNote referredTo routedTo
              household { aidChain { aidTypeCode provider status monthlyAmount startedOn endedOn endReason } } }
    userErrors { field message code } } }"""
CATEGORIES = "query($id: ID!) { household(id: $id) { categories } }"


class AidEvents:
    def __init__(self) -> None:
        self.granted: list[AidEvent] = []
        self.ended: list[AidEvent] = []

    @hookimpl
    def safetynet_aid_granted(self, event: AidEvent) -> None:
        self.granted.append(event)

    @hookimpl
    def safetynet_aid_ended(self, event: AidEvent) -> None:
        self.ended.append(event)


@contextlib.asynccontextmanager
async def county_api(make_runtime: Any, *plugins: Any) -> AsyncIterator[tuple[Any, Any, Any, GraphQL, Any]]:
    """The county with its March signals, served; yields (runtime, watcher, county, gql, key maker)."""
    runtime, watcher = start(make_runtime, *plugins)
    county = register_county(runtime)
    month_of_signals(runtime, county)
    at(runtime, MONTH_END)

    def key(role: Role = Role.ADMIN, **scope: Any) -> str:
        return runtime.database.run(lambda s: create_key(s, role, **scope))

    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield runtime, watcher, county, GraphQL(client), key
    await runtime.database.async_engine.dispose()


def household_gid(gql_household: int) -> str:
    from safetynet.api.ids import encode

    return encode("Household", gql_household)


async def all_warnings(gql: GraphQL, key: str, **filter: Any) -> dict[str, Any]:
    return (await gql.ok(WARNINGS, {"filter": filter or None, "first": 500}, key=key))["warnings"]


def by_key(connection: dict[str, Any], county: Any) -> dict[tuple[str, str], dict[str, Any]]:
    from safetynet.api.ids import decode

    return {
        (county.name_of(decode(e["node"]["household"]["id"])[1]), e["node"]["rule"]): e["node"]
        for e in connection["edges"]
    }


async def test_run_sweep_over_graphql_raises_the_months_warnings(make_runtime):
    async with county_api(make_runtime) as (runtime, watcher, county, gql, key):
        admin = key()
        swept = (await gql.ok(SWEEP, {"asOf": "2025-03-31"}, key=admin))["runSweep"]
        assert swept == {
            "households": len(county.households),
            "warningsRaised": len(EXPECTED),
            "categoriesChanged": 3,
            "warningsUpdated": 0,
            "userErrors": [],
        }
        # The hook ran on the server's event loop (the sweep itself in a worker thread).
        assert len(watcher.raised) == len(EXPECTED)

        found = await all_warnings(gql, admin)
        assert found["totalCount"] == len(EXPECTED)
        warnings = by_key(found, county)
        assert {k: w["level"] for k, w in warnings.items()} == EXPECTED
        for (name, _), w in warnings.items():
            raised = datetime.fromisoformat(w["raisedAt"])
            days = {"BLUE": 30, "YELLOW": 15, "ORANGE": 7, "RED": 3}[w["level"]]
            if name == "I":  # 河东区's own visit days
                days = {"ORANGE": 2, "RED": 1}.get(w["level"], days)
            assert datetime.fromisoformat(w["visitDueBy"]) - raised == timedelta(days=days)
            assert raised.tzinfo is not None and w["status"] == "OPEN" and w["overdue"] is False
        a1 = warnings[("A1", "medical_out_of_pocket")]
        assert a1["routedTo"] == ["county_coordination", "medical_security"]
        assert a1["evidence"][0]["parameters"] == [
            {
                "name": "warning.medical_out_of_pocket_annual",
                "localityCode": "100000",
                "value": "10000.00",
                "effectiveFrom": "2020-01-01",
                "illustrative": True,
                "source": runtime.localities.resolve(
                    "warning.medical_out_of_pocket_annual", "100000", MONTH_END
                ).source,
            }
        ]
        assert a1["aidTypeCode"] == "medical" and a1["household"]["localityCode"] == "120101001"
        assert warnings[("I", "disaster")]["household"]["localityCode"] == "120102001"

        # A second sweep: nothing new.
        again = (await gql.ok(SWEEP, {"asOf": "2025-03-31"}, key=admin))["runSweep"]
        assert (again["warningsRaised"], again["warningsUpdated"], again["categoriesChanged"]) == (0, 0, 0)


async def test_household_categories_come_from_the_sweep(make_runtime):
    async with county_api(make_runtime) as (runtime, _, county, gql, key):
        admin = key()
        g = household_gid(county.households["G"])
        assert (await gql.ok(CATEGORIES, {"id": g}, key=admin))["household"]["categories"] == [
            "DIBAO"
        ]  # live
        await gql.ok(SWEEP, {"asOf": "2025-03-31"}, key=admin)
        # G starts earning: until the next sweep, its categories are the sweep's record, not a live guess.
        runtime.database.run(
            lambda s: s.add(
                Income(
                    household_id=county.households["G"],
                    member_id=county.members["G"][0],
                    kind="WAGES",
                    monthly_amount_fen=500_000,
                    valid_from=date(2025, 3, 20),
                )
            )
        )
        assert (await gql.ok(CATEGORIES, {"id": g}, key=admin))["household"]["categories"] == ["DIBAO"]
        await gql.ok(SWEEP, {"asOf": "2025-03-31"}, key=admin)
        assert (await gql.ok(CATEGORIES, {"id": g}, key=admin))["household"]["categories"] == []
        # A household never swept is assessed live.
        new = await register(gql, admin, localityCode="120101001", members=[person(born=date(1990, 1, 1))])
        assert (await gql.ok(CATEGORIES, {"id": new["id"]}, key=admin))["household"]["categories"] == [
            "DIBAO"
        ]


async def test_visit_and_enrol_put_the_aid_on_the_chain(make_runtime):
    events = AidEvents()
    async with county_api(make_runtime, events) as (_, _, county, gql, key):
        admin = key()
        await gql.ok(SWEEP, {"asOf": "2025-03-31"}, key=admin)
        g = by_key(await all_warnings(gql, admin), county)[("G", "likely_eligible_not_enrolled")]

        assigned = (await gql.ok(ASSIGN, {"id": g["id"], "assignee": "王社工"}, key=admin))["assignWarning"]
        assert assigned == {
            "warning": {"id": g["id"], "status": "ASSIGNED", "assignee": "王社工"},
            "userErrors": [],
        }
        early = (await gql.ok(RESOLVE, {"id": g["id"], "resolution": "ENROLLED"}, key=admin))[
            "resolveWarning"
        ]
        assert early["warning"] is None and early["userErrors"][0]["code"] == "NOT_VERIFIED"

        bad_visit = {
            "warningId": g["id"],
            "visitor": " ",
            "visitedAt": "2031-01-01T00:00:00+00:00",
            "findings": "",
        }
        refused = (await gql.ok(VISIT, {"input": bad_visit}, key=admin))["recordVisit"]
        assert {(tuple(e["field"]), e["code"]) for e in refused["userErrors"]} == {
            (("visitor",), "REQUIRED"),
            (("findings",), "REQUIRED"),
            (("visitedAt",), "INVALID_DATE"),
        }
        before = {**bad_visit, "visitor": "王社工", "findings": "x", "visitedAt": "2020-01-01T09:00:00+08:00"}
        too_early = (await gql.ok(VISIT, {"input": before}, key=admin))["recordVisit"]["userErrors"]
        assert [(e["field"], e["code"]) for e in too_early] == [(["visitedAt"], "INVALID_DATE")]
        wrong = {
            "warningId": g["id"],
            "householdId": household_gid(county.households["A1"]),
            "visitor": "王社工",
            "visitedAt": datetime.now(UTC).isoformat(),
            "findings": "x",
        }
        assert (await gql.ok(VISIT, {"input": wrong}, key=admin))["recordVisit"]["userErrors"][0][
            "code"
        ] == "MISMATCH"

        visit = {
            "warningId": g["id"],
            "householdId": household_gid(county.households["G"]),
            "visitor": "王社工",
            "visitedAt": datetime.now(UTC).isoformat(),
            "findings": "无收入，独居，符合低保条件，已协助申请",
        }
        recorded = (await gql.ok(VISIT, {"input": visit}, key=admin))["recordVisit"]
        assert recorded["userErrors"] == [] and recorded["visit"]["visitor"] == "王社工"

        enrolled = (
            await gql.ok(RESOLVE, {"id": g["id"], "resolution": "ENROLLED", "note": "审批通过"}, key=admin)
        )["resolveWarning"]
        assert enrolled["userErrors"] == []
        w = enrolled["warning"]
        assert (w["status"], w["resolution"], w["resolutionNote"]) == ("RESOLVED", "ENROLLED", "审批通过")
        assert w["household"]["aidChain"] == [
            {
                "aidTypeCode": "dibao",
                "provider": "civil_affairs",
                "status": "ACTIVE",
                "monthlyAmount": "1010.00",
                "startedOn": "2025-03-31",
                "endedOn": None,
                "endReason": None,
            }
        ]  # the amount of the sweep's assessment
        assert [(e.aid_type_code, e.household_id, e.monthly_amount_fen) for e in events.granted] == [
            ("dibao", county.households["G"], 101000)
        ]
        listed = by_key(await all_warnings(gql, admin, rule="likely_eligible_not_enrolled"), county)[
            ("G", "likely_eligible_not_enrolled")
        ]
        assert [v["visitor"] for v in listed["visits"]] == ["王社工"]

        # A resolved warning cannot be resolved, assigned or visited again.
        for query, variables, name in (
            (RESOLVE, {"id": g["id"], "resolution": "NO_ACTION"}, "resolveWarning"),
            (ASSIGN, {"id": g["id"], "assignee": "李"}, "assignWarning"),
            (VISIT, {"input": visit}, "recordVisit"),
        ):
            payload = (await gql.ok(query, variables, key=admin))[name]
            assert [e["code"] for e in payload["userErrors"]] == ["ILLEGAL_TRANSITION"], name

        # Enrolled: the next sweep does not warn about it again; the medical aid is still not delivered.
        again = (await gql.ok(SWEEP, {"asOf": "2025-03-31"}, key=admin))["runSweep"]
        assert again["warningsRaised"] == 0
        open_g = by_key(await all_warnings(gql, admin, statuses=["OPEN"]), county)
        assert ("G", "policy_not_delivered") in open_g and ("G", "likely_eligible_not_enrolled") not in open_g
        assert open_g[("G", "policy_not_delivered")]["level"] == "YELLOW"  # now a household on dibao


async def test_terminated_ends_the_aid_concerned(make_runtime):
    events = AidEvents()
    async with county_api(make_runtime, events) as (_, _, county, gql, key):
        admin = key()
        await gql.ok(SWEEP, {"asOf": "2025-03-31"}, key=admin)
        warnings = by_key(await all_warnings(gql, admin), county)
        f = warnings[("F", "dibao_income_above_standard")]
        visit = {
            "warningId": f["id"],
            "visitor": "李",
            "visitedAt": datetime.now(UTC).isoformat(),
            "findings": "月收入2000元，已稳定就业",
        }
        assert (await gql.ok(VISIT, {"input": visit}, key=admin))["recordVisit"]["userErrors"] == []
        no_reason = (await gql.ok(RESOLVE, {"id": f["id"], "resolution": "TERMINATED"}, key=admin))[
            "resolveWarning"
        ]
        assert [(e["field"], e["code"]) for e in no_reason["userErrors"]] == [(["note"], "REQUIRED")]
        ended = (
            await gql.ok(
                RESOLVE, {"id": f["id"], "resolution": "TERMINATED", "note": "收入超过低保标准"}, key=admin
            )
        )["resolveWarning"]
        assert ended["userErrors"] == []
        assert ended["warning"]["household"]["aidChain"] == [
            {
                "aidTypeCode": "dibao",
                "provider": "civil_affairs",
                "status": "ENDED",
                "monthlyAmount": "510.00",
                "startedOn": "2025-03-01",
                "endedOn": "2025-03-31",
                "endReason": "收入超过低保标准",
            }
        ]
        assert [(e.aid_type_code, e.ended_on, e.reason) for e in events.ended] == [
            ("dibao", MONTH_END, "收入超过低保标准")
        ]

        # A warning about no aid type, with nothing to end: a user error naming what is missing.
        e = warnings[("E", "disaster")]
        await gql.ok(VISIT, {"input": {**visit, "warningId": e["id"]}}, key=admin)
        missing = (
            await gql.ok(RESOLVE, {"id": e["id"], "resolution": "TERMINATED", "note": "x"}, key=admin)
        )["resolveWarning"]
        assert [(err["field"], err["code"]) for err in missing["userErrors"]] == [
            (["aidTypeCode"], "REQUIRED")
        ]
        nothing = (
            await gql.ok(
                RESOLVE,
                {"id": e["id"], "resolution": "TERMINATED", "note": "x", "aidTypeCode": "tekun"},
                key=admin,
            )
        )["resolveWarning"]
        assert [err["code"] for err in nothing["userErrors"]] == ["NOTHING_TO_END"]


async def test_referral_one_matter_one_discussion_and_no_action(make_runtime):
    async with county_api(make_runtime) as (_, _, county, gql, key):
        admin = key()
        await gql.ok(SWEEP, {"asOf": "2025-03-31"}, key=admin)
        warnings = by_key(await all_warnings(gql, admin), county)
        a1 = (
            await gql.ok(
                RESOLVE,
                {"id": warnings[("A1", "medical_out_of_pocket")]["id"], "resolution": "REFERRED"},
                key=admin,
            )
        )["resolveWarning"]
        assert (a1["warning"]["resolution"], a1["warning"]["referredTo"]) == ("REFERRED", "medical_security")
        b2 = (
            await gql.ok(
                RESOLVE,
                {
                    "id": warnings[("B2", "member_unemployed")]["id"],
                    "resolution": "REFERRED",
                    "department": "trade_union",
                },
                key=admin,
            )
        )["resolveWarning"]
        assert b2["warning"]["referredTo"] == "trade_union"
        assert b2["warning"]["routedTo"] == ["human_resources", "trade_union"]
        c = warnings[("C", "member_deceased")]["id"]
        unexplained = (
            await gql.ok(RESOLVE, {"id": c, "resolution": "ONE_MATTER_ONE_DISCUSSION"}, key=admin)
        )["resolveWarning"]
        assert [e["code"] for e in unexplained["userErrors"]] == ["REQUIRED"]
        discussed = (
            await gql.ok(
                RESOLVE,
                {"id": c, "resolution": "ONE_MATTER_ONE_DISCUSSION", "note": "提交县级协调机制"},
                key=admin,
            )
        )["resolveWarning"]
        assert discussed["warning"]["resolution"] == "ONE_MATTER_ONE_DISCUSSION"
        none = (
            await gql.ok(
                RESOLVE, {"id": warnings[("E", "disaster")]["id"], "resolution": "NO_ACTION"}, key=admin
            )
        )["resolveWarning"]
        assert none["warning"]["status"] == "RESOLVED" and none["userErrors"] == []
        bad = (await gql.ok(RESOLVE, {"id": "nonsense", "resolution": "NO_ACTION"}, key=admin))[
            "resolveWarning"
        ]
        assert [e["code"] for e in bad["userErrors"]] == ["INVALID_ID"]
        money = (
            await gql.ok(
                RESOLVE,
                {
                    "id": warnings[("G", "likely_eligible_not_enrolled")]["id"],
                    "resolution": "NO_ACTION",
                    "monthlyAmount": "12.345",
                },
                key=admin,
            )
        )["resolveWarning"]
        assert [(e["field"], e["code"]) for e in money["userErrors"]] == [
            (["monthlyAmount"], "INVALID_AMOUNT")
        ]
        resolved = await all_warnings(gql, admin, statuses=["RESOLVED"])
        assert resolved["totalCount"] == 4


async def test_run_sweep_is_for_admins_and_civil_affairs_in_their_area(make_runtime):
    async with county_api(make_runtime) as (_, _, county, gql, key):
        for role, scope in (
            (Role.AUDITOR, {}),
            (Role.DEPARTMENT, {"department": "medical_security"}),
            (Role.PARTNER, {"partner_code": "red_cross"}),
        ):
            refused = (await gql.ok(SWEEP, {}, key=key(role, **scope)))["runSweep"]
            assert [e["code"] for e in refused["userErrors"]] == ["FORBIDDEN"], role
        township = key(Role.CIVIL_AFFAIRS, locality_code="120101002")
        own = (await gql.ok(SWEEP, {"asOf": "2025-03-31"}, key=township))["runSweep"]
        assert (own["households"], own["warningsRaised"]) == (1, 1)  # H only
        wider = (await gql.ok(SWEEP, {"asOf": "2025-03-31", "localityCode": "120101"}, key=township))[
            "runSweep"
        ]
        assert wider["households"] == 1  # the intersection with the key's area
        outside = (await gql.ok(SWEEP, {"localityCode": "120102001"}, key=township))["runSweep"]
        assert [(e["field"], e["code"]) for e in outside["userErrors"]] == [
            (["localityCode"], "OUT_OF_SCOPE")
        ]
        bad = (await gql.ok(SWEEP, {"localityCode": "12x"}, key=key()))["runSweep"]
        assert [e["code"] for e in bad["userErrors"]] == ["INVALID_LOCALITY"]
        county_key = key(Role.CIVIL_AFFAIRS, locality_code="120101")
        part = (await gql.ok(SWEEP, {"asOf": "2025-03-31", "localityCode": "120101001"}, key=county_key))[
            "runSweep"
        ]
        assert part["households"] == len(county.households) - 2  # not H (other township), not I (河东区)


async def test_warnings_are_scoped_like_households(make_runtime):
    async with county_api(make_runtime) as (_, _, county, gql, key):
        admin = key()
        await gql.ok(SWEEP, {"asOf": "2025-03-31"}, key=admin)
        township = await all_warnings(gql, key(Role.CIVIL_AFFAIRS, locality_code="120101002"))
        assert set(by_key(township, county)) == {("H", "medical_out_of_pocket")}
        county_key = key(Role.CIVIL_AFFAIRS, locality_code="120101")
        assert set(by_key(await all_warnings(gql, county_key), county)) == {
            k for k in EXPECTED if k[0] != "I"
        }
        # Asking for another area through the filter does not widen the key's.
        assert (await all_warnings(gql, county_key, localityCode="120102"))["totalCount"] == 0

        medical = key(Role.DEPARTMENT, department="medical_security")
        routed = set(by_key(await all_warnings(gql, medical), county))
        assert routed == {k for k in EXPECTED if k[1] == "medical_out_of_pocket"} | {
            ("C", "policy_not_delivered"),
            ("D", "policy_not_delivered"),
            ("F", "policy_not_delivered"),
            ("G", "policy_not_delivered"),
        }
        # C's household is visible to medical security (a warning is routed to it), its death warning is not.
        assert ("C", "member_deceased") not in routed
        labour = set(
            by_key(await all_warnings(gql, key(Role.DEPARTMENT, department="human_resources")), county)
        )
        assert labour == {("B1", "member_unemployed"), ("B2", "member_unemployed")}
        partner = await all_warnings(gql, key(Role.PARTNER, partner_code="red_cross"))
        assert partner["totalCount"] == 0
        auditor = await all_warnings(gql, key(Role.AUDITOR))
        assert auditor["totalCount"] == len(EXPECTED)

        # A department handles the warnings routed to it, and only those.
        labour_key = key(Role.DEPARTMENT, department="human_resources")
        everything = by_key(await all_warnings(gql, admin), county)
        mine = (
            await gql.ok(
                ASSIGN,
                {"id": everything[("B1", "member_unemployed")]["id"], "assignee": "就业局张"},
                key=labour_key,
            )
        )["assignWarning"]
        assert mine["userErrors"] == [] and mine["warning"]["status"] == "ASSIGNED"
        other = (
            await gql.ok(
                ASSIGN, {"id": everything[("C", "member_deceased")]["id"], "assignee": "x"}, key=labour_key
            )
        )["assignWarning"]
        assert [e["code"] for e in other["userErrors"]] == ["NOT_FOUND"]
        auditor_write = (
            await gql.ok(
                ASSIGN,
                {"id": everything[("C", "member_deceased")]["id"], "assignee": "x"},
                key=key(Role.AUDITOR),
            )
        )["assignWarning"]
        assert [e["code"] for e in auditor_write["userErrors"]] == ["FORBIDDEN"]
        # node() answers only what the key may see.
        node = "query($id: ID!) { node(id: $id) { ... on Warning { rule } } }"
        h = everything[("H", "medical_out_of_pocket")]["id"]
        assert (await gql.ok(node, {"id": h}, key=key(Role.CIVIL_AFFAIRS, locality_code="120101001")))[
            "node"
        ] is None


async def test_the_filter_and_pages(make_runtime):
    async with county_api(make_runtime) as (runtime, _, county, gql, key):
        admin = key()
        await gql.ok(SWEEP, {"asOf": "2025-03-31"}, key=admin)

        async def keys(**filter: Any) -> set[tuple[str, str]]:
            return set(by_key(await all_warnings(gql, admin, **filter), county))

        assert await keys(levels=["RED"]) == {
            ("A1", "medical_out_of_pocket"),
            ("G", "likely_eligible_not_enrolled"),
        }
        assert await keys(rule="disaster") == {("E", "disaster"), ("I", "disaster")}
        assert await keys(department="emergency_management", localityCode="120102") == {("I", "disaster")}
        assert await keys(localityCode="120101002") == {("H", "medical_out_of_pocket")}
        assert await keys(statuses=["RESOLVED"]) == set()
        assert await keys(overdue=True) == set()
        # E's deadline passes.
        e_id = county.households["E"]
        runtime.database.run(
            lambda s: s.execute(
                update(Warning)
                .where(Warning.household_id == e_id)
                .values(visit_due_by=datetime.now(UTC) - timedelta(hours=1))
            )
        )
        late = by_key(await all_warnings(gql, admin, overdue=True), county)
        assert set(late) == {("E", "disaster")} and late[("E", "disaster")]["overdue"] is True
        assert ("E", "disaster") not in await keys(overdue=False)
        assert len(await keys(overdue=False)) == len(EXPECTED) - 1

        seen: list[str] = []
        after = None
        while True:
            page = (await gql.ok(WARNINGS, {"first": 5, "after": after}, key=admin))["warnings"]
            seen += [e["node"]["id"] for e in page["edges"]]
            assert page["totalCount"] == len(EXPECTED)
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert len(seen) == len(set(seen)) == len(EXPECTED)
        wrong = await gql(WARNINGS, {"filter": {"localityCode": "1"}}, key=admin)
        assert "filter.localityCode" in wrong["errors"][0]["message"]
        ids = runtime.database.run(lambda s: s.scalars(select(Warning.id)).all())
        assert len(ids) == len(EXPECTED)
