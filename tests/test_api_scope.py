"""Scope: each key sees only its area, through every path (household, households, node, nested fields);
writes outside it are user errors that write nothing; auditors read, partners see no households; identity
numbers only for admins, audited; requests without a valid key get nothing but ``health``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from graphql import get_introspection_query
from sqlalchemy import func, select, update

from conftest import person, register
from safetynet.app import create_app
from safetynet.model import Role
from safetynet.principals import create_key, hash_key
from safetynet.store.models import AidRecord, ApiKey, AuditEntry, Household, Member

GRANT = """mutation($input: GrantAidInput!) { grantAid(input: $input) {
  aidRecord { id } userErrors { field message code } } }"""
END = """mutation($id: ID!) { endAid(id: $id, endedOn: "2024-12-31", reason: "test") {
  aidRecord { id } userErrors { field message code } } }"""
UPDATE = """mutation($input: CircumstancesInput!) { updateCircumstances(input: $input) {
  household { id version } userErrors { field message code } } }"""
REGISTER = """mutation($input: RegisterHouseholdInput!) { registerHousehold(input: $input) {
  household { id } userErrors { field message code } } }"""
NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
HOUSEHOLDS = """{ households(first: 500) { totalCount edges { node { id
  members { id idNumber } aidChain { id } } } } }"""

#: Where each test household lives.
PLACES = {"A": "120101001", "A_village": "120101001003", "B": "120101002", "C": "120102001"}
#: What a civil-affairs key at each locality may see.
VISIBLE = {
    "120101": {"A", "A_village", "B"},
    "120101001": {"A", "A_village"},
    "120101002": {"B"},
    "120102": {"C"},
}


@dataclass
class Placed:
    id: str
    members: list[str]
    aid_record: str


@dataclass
class Area:
    households: dict[str, Placed] = field(default_factory=dict)

    def ids(self, names) -> set[str]:  # type: ignore[no-untyped-def]
        return {self.households[n].id for n in names}


@pytest.fixture
async def area(gql, admin_key) -> Area:
    area = Area()
    for name, code in PLACES.items():
        created = await register(gql, admin_key, localityCode=code, members=[person(), person("SPOUSE")])
        granted = await gql.ok(
            GRANT,
            {
                "input": {
                    "householdId": created["id"],
                    "aidTypeCode": "dibao",
                    "startedOn": "2024-01-01",
                    "monthlyAmount": "300.00",
                }
            },
            key=admin_key,
        )
        area.households[name] = Placed(
            created["id"], [m["id"] for m in created["members"]], granted["grantAid"]["aidRecord"]["id"]
        )
    return area


def counts(runtime) -> tuple[int, ...]:
    def work(session) -> tuple[int, ...]:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (Household, Member, AidRecord)
        )

    return runtime.database.run(work)


@pytest.mark.parametrize("scope", sorted(VISIBLE))
async def test_civil_affairs_sees_only_its_area_through_every_path(gql, key, area, scope):
    token = key(Role.CIVIL_AFFAIRS, locality_code=scope)
    visible = VISIBLE[scope]

    page = (await gql.ok(HOUSEHOLDS, key=token))["households"]
    assert page["totalCount"] == len(visible)
    assert {e["node"]["id"] for e in page["edges"]} == area.ids(visible)
    for edge in page["edges"]:  # nested fields come only from visible households
        placed = next(p for p in area.households.values() if p.id == edge["node"]["id"])
        assert [m["id"] for m in edge["node"]["members"]] == placed.members
        assert all(m["idNumber"] is None for m in edge["node"]["members"])
        assert [r["id"] for r in edge["node"]["aidChain"]] == [placed.aid_record]

    for name, placed in area.households.items():
        shown = name in visible
        household = await gql.ok(
            "query($id: ID!) { household(id: $id) { id } }", {"id": placed.id}, key=token
        )
        assert (household["household"] is not None) is shown, (scope, name)
        for global_id in (placed.id, *placed.members, placed.aid_record):
            node = (await gql.ok(NODE, {"id": global_id}, key=token))["node"]
            assert (node is not None) is shown, (scope, name, global_id)
            if shown:
                assert node["id"] == global_id

    # A filter cannot widen the area: asking for the whole municipality still shows only the key's part.
    widened = await gql.ok('{ households(filter: {localityCode: "120000"}) { totalCount } }', key=token)
    assert widened["households"]["totalCount"] == len(visible)


async def test_writes_outside_the_area_are_user_errors_and_write_nothing(gql, key, area, runtime):
    token = key(Role.CIVIL_AFFAIRS, locality_code="120101001")
    before = counts(runtime)

    outside = await gql.ok(
        REGISTER,
        {"input": {"localityCode": "120101002", "residence": "URBAN", "members": [person()]}},
        key=token,
    )
    errors = outside["registerHousehold"]["userErrors"]
    assert outside["registerHousehold"]["household"] is None
    assert [(e["field"], e["code"]) for e in errors] == [(["localityCode"], "OUT_OF_SCOPE")]
    assert "120101002" in errors[0]["message"] and "120101001" in errors[0]["message"]
    above = await gql.ok(
        REGISTER,
        {"input": {"localityCode": "120101", "residence": "URBAN", "members": [person()]}},
        key=token,
    )
    assert [e["code"] for e in above["registerHousehold"]["userErrors"]] == ["OUT_OF_SCOPE"]

    b = area.households["B"]
    grant = {
        "householdId": b.id,
        "aidTypeCode": "dibao",
        "startedOn": "2025-01-01",
        "monthlyAmount": "1.00",
        "provider": "township_fund",
    }
    granted = (await gql.ok(GRANT, {"input": grant}, key=token))["grantAid"]
    assert granted["aidRecord"] is None
    assert [(e["field"], e["code"]) for e in granted["userErrors"]] == [(["householdId"], "NOT_FOUND")]
    ended = (await gql.ok(END, {"id": b.aid_record}, key=token))["endAid"]
    assert [(e["field"], e["code"]) for e in ended["userErrors"]] == [(["id"], "NOT_FOUND")]
    updated = (
        await gql.ok(UPDATE, {"input": {"householdId": b.id, "version": 1, "address": "x"}}, key=token)
    )["updateCircumstances"]
    assert [(e["field"], e["code"]) for e in updated["userErrors"]] == [(["householdId"], "NOT_FOUND")]
    assert counts(runtime) == before

    # The same key writes inside its area (a village of its township).
    inside = await register(gql, token, localityCode="120101001007")
    assert inside["localityCode"] == "120101001007"
    assert counts(runtime) == (before[0] + 1, before[1] + 1, before[2])


async def test_auditor_reads_everything_and_writes_nothing(gql, key, area, runtime):
    token = key(Role.AUDITOR)
    page = (await gql.ok(HOUSEHOLDS, key=token))["households"]
    assert page["totalCount"] == len(PLACES)
    assert all(m["idNumber"] is None for e in page["edges"] for m in e["node"]["members"])
    a = area.households["A"]
    assert (await gql.ok(NODE, {"id": a.aid_record}, key=token))["node"]["id"] == a.aid_record

    before = counts(runtime)
    attempts = {
        "registerHousehold": (
            REGISTER,
            {"input": {"localityCode": "120101001", "residence": "URBAN", "members": [person()]}},
        ),
        "grantAid": (
            GRANT,
            {
                "input": {
                    "householdId": a.id,
                    "aidTypeCode": "dibao",
                    "startedOn": "2025-01-01",
                    "monthlyAmount": "1.00",
                    "provider": "audit_test",
                }
            },
        ),
        "endAid": (END, {"id": a.aid_record}),
        "updateCircumstances": (UPDATE, {"input": {"householdId": a.id, "version": 1, "address": "x"}}),
    }
    for mutation, (query, variables) in attempts.items():
        payload = (await gql.ok(query, variables, key=token))[mutation]
        assert [e["code"] for e in payload["userErrors"]] == ["FORBIDDEN"], mutation
        assert payload["userErrors"][0]["message"]
    assert counts(runtime) == before
    versions = runtime.database.run(lambda s: set(s.scalars(select(Household.version))))
    assert versions == {1}
    ended = runtime.database.run(
        lambda s: s.scalar(select(func.count()).where(AidRecord.ended_on.is_not(None)))
    )
    assert ended == 0


async def test_partner_sees_no_households(gql, key, area):
    token = key(Role.PARTNER, partner_code="red_cross_120000")
    me = (await gql.ok("{ me { role partnerCode localityCode } }", key=token))["me"]
    assert me == {"role": "PARTNER", "partnerCode": "red_cross_120000", "localityCode": None}
    assert (await gql.ok(HOUSEHOLDS, key=token))["households"] == {"totalCount": 0, "edges": []}
    for placed in area.households.values():
        assert (await gql.ok("query($id: ID!) { household(id: $id) { id } }", {"id": placed.id}, key=token))[
            "household"
        ] is None
        for global_id in (placed.id, placed.members[0], placed.aid_record):
            assert (await gql.ok(NODE, {"id": global_id}, key=token))["node"] is None


async def test_department_sees_households_in_its_area_it_gave_aid_to(gql, key, admin_key, area):
    token = key(Role.DEPARTMENT, department="medical_security", locality_code="120101")
    assert (await gql.ok(HOUSEHOLDS, key=token))["households"]["totalCount"] == 0
    for name in ("A", "C"):  # C lies outside the department's county
        grant = {
            "householdId": area.households[name].id,
            "aidTypeCode": "dibao",
            "startedOn": "2024-02-01",
            "oneOffAmount": "800.00",
            "provider": "medical_security",
        }  # recorded for the department
        assert (await gql.ok(GRANT, {"input": grant}, key=admin_key))["grantAid"]["userErrors"] == []
    page = (await gql.ok(HOUSEHOLDS, key=token))["households"]
    assert {e["node"]["id"] for e in page["edges"]} == area.ids({"A"})


async def test_id_numbers_only_for_admins_and_every_read_is_audited(gql, key, admin_key, area, runtime):
    a = area.households["A"]
    query = "query($id: ID!) { node(id: $id) { ... on Member { idNumber idNumberMasked } } }"
    civil = key(Role.CIVIL_AFFAIRS, locality_code="120101")
    masked = (await gql.ok(query, {"id": a.members[0]}, key=civil))["node"]
    assert masked["idNumber"] is None and "********" in masked["idNumberMasked"]

    def audit_rows():
        return runtime.database.run(
            lambda s: list(
                s.scalars(
                    select(AuditEntry).where(AuditEntry.action == "read_id_number").order_by(AuditEntry.id)
                )
            )
        )

    assert audit_rows() == []
    full = (await gql.ok(query, {"id": a.members[0]}, key=admin_key))["node"]
    assert (
        len(full["idNumber"]) == 18
        and full["idNumber"][:6] + "********" + full["idNumber"][-4:] == (full["idNumberMasked"])
    )
    admin_id = runtime.database.run(
        lambda s: s.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(admin_key)))
    )
    member_id, household_id = runtime.database.run(
        lambda s: s.execute(select(Member.id, Member.household_id).order_by(Member.id).limit(1)).one()
    )
    [entry] = audit_rows()
    assert (entry.principal_id, entry.action, entry.subject_type, entry.subject_id) == (
        admin_id,
        "read_id_number",
        "Member",
        str(member_id),
    )
    assert entry.detail["household"] == household_id
    assert entry.at is not None

    # A page of households read by an admin: one audit row per number shown.
    page = (await gql.ok(HOUSEHOLDS, key=admin_key))["households"]
    shown = [m["idNumber"] for e in page["edges"] for m in e["node"]["members"]]
    assert all(len(n) == 18 for n in shown)
    assert len(audit_rows()) == 1 + len(shown)


@pytest.mark.parametrize(
    "query",
    [
        "{ households { totalCount } }",
        "{ me { role } }",
        "{ health me { role } }",
        "{ aidTypes { code } }",
        "{ ... on Query { aidTypes { code } } }",  # a fragment does not smuggle a field past the guard
        "{ ...Q } fragment Q on Query { plugins { name } }",
        "{ ...health } fragment health on Query { plugins { name } }",
        "{ health: plugins { name } }",
        'mutation { registerHousehold(input: {localityCode: "120101001", residence: URBAN, members: []}) '
        "{ userErrors { code } } }",
    ],
)
async def test_requests_without_a_key_are_refused(gql, runtime, query):
    body = await gql(query)
    assert body.get("data") is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    assert "Authorization: Bearer" in body["errors"][0]["message"]
    assert counts(runtime) == (0, 0, 0)


async def test_health_answers_without_a_key(gql):
    assert await gql("{ health }") == {"data": {"health": "ok"}}


async def test_introspection_without_a_key_only_in_development(gql, make_runtime):
    # What GraphiQL sends first: the standard query, with its fragment definitions.
    body = await gql(get_introspection_query())
    assert "errors" not in body and body["data"]["__schema"]["queryType"]["name"] == "Query"

    production = make_runtime(env="production")
    admin = production.database.run(lambda s: create_key(s, Role.ADMIN))
    transport = httpx.ASGITransport(app=create_app(production))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        anonymous = (await client.post("/graphql", json={"query": get_introspection_query()})).json()
        assert anonymous["data"] is None
        assert "introspection has been disabled" in anonymous["errors"][0]["message"]
        keyed = (
            await client.post(
                "/graphql",
                json={"query": "{ __schema { queryType { name } } }"},
                headers={"Authorization": f"Bearer {admin}"},
            )
        ).json()
        assert "introspection has been disabled" in keyed["errors"][0]["message"]
    await production.database.async_engine.dispose()


async def test_unknown_revoked_expired_and_malformed_keys_are_refused(gql, key, runtime, client):
    token = key(Role.CIVIL_AFFAIRS, locality_code="120101")
    assert (await gql.ok("{ me { role } }", key=token))["me"]["role"] == "CIVIL_AFFAIRS"
    runtime.database.run(
        lambda s: s.execute(
            update(ApiKey).where(ApiKey.key_hash == hash_key(token)).values(revoked_at=datetime.now(UTC))
        )
    )
    expired = runtime.database.run(
        lambda s: create_key(s, Role.ADMIN, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    )
    for refused, why in ((token, "was revoked at"), ("sn_this-key-was-never-issued", "unknown API key"), (expired, "expired at")):
        body = await gql("{ me { role } households { totalCount } }", key=refused)
        assert body.get("data") is None
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert why in body["errors"][0]["message"]
    response = await client.post(
        "/graphql", json={"query": "{ me { role } }"}, headers={"Authorization": f"Basic {token}"}
    )
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "Bearer" in body["errors"][0]["message"]
