"""近亲属备案 over GraphQL: staff register near relatives; households of the staff member's area with such a
member are flagged and every aid decision for them raises a warning; scope, masking and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from conftest import GraphQL, person, register
from governance_support import RaisedWarnings, flags, grant, warnings
from safetynet.api.ids import decode
from safetynet.app import create_app
from safetynet.model import Role
from safetynet.principals import create_key
from safetynet.store.models import AuditEntry, NearRelative

REGISTER = """mutation($input: RegisterNearRelativeInput!) { registerNearRelative(input: $input) {
  nearRelative { id idNumberMasked idNumber relativeName kinship staffName staffPost localityCode active
                 removedAt removalReason }
  userErrors { field message code } } }"""
REMOVE = """mutation($id: ID!, $reason: String!) { removeNearRelative(id: $id, reason: $reason) {
  nearRelative { id active removedAt removalReason } userErrors { field message code } } }"""
LIST = """query($filter: NearRelativeFilter) { nearRelatives(filter: $filter, first: 50) {
  totalCount edges { node { id idNumberMasked idNumber staffName localityCode active } } } }"""
VISIT = """mutation($input: VisitInput!) { recordVisit(input: $input) { userErrors { code } } }"""
RESOLVE = """mutation($id: ID!, $aidTypeCode: String, $monthlyAmount: Decimal) {
  resolveWarning(id: $id, resolution: ENROLLED, aidTypeCode: $aidTypeCode, monthlyAmount: $monthlyAmount) {
    userErrors { field message code } } }"""

TOWNSHIP = "120101001"
OTHER_TOWNSHIP = "120102001"


def relative(id_number: str, locality: str = TOWNSHIP, **changes: str) -> dict[str, str]:
    return {
        "idNumber": id_number,
        "relativeName": "王芳",
        "kinship": "SIBLING",
        "staffName": "王强",
        "staffPost": "民政所工作人员",
        "localityCode": locality,
        **changes,
    }


async def register_relative(gql: GraphQL, key: str, **values: str) -> dict:
    payload = (await gql.ok(REGISTER, {"input": relative(**values)}, key=key))["registerNearRelative"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload["nearRelative"]


async def test_a_registered_relative_flags_households_in_the_staff_members_area_only(gql, key):
    civil = key(Role.CIVIL_AFFAIRS, locality_code="120101")
    admin = key(Role.ADMIN)
    sister, cousin = person("HEAD", name="王芳"), person("HEAD", name="李明")
    household = await register(gql, admin, localityCode="120101001003", members=[sister])
    elsewhere = await register(gql, admin, localityCode=OTHER_TOWNSHIP, members=[cousin])
    plain = await register(gql, admin, localityCode=TOWNSHIP)

    registered = await register_relative(gql, civil, id_number=sister["idNumber"])
    assert registered["idNumberMasked"] == sister["idNumber"][:6] + "********" + sister["idNumber"][-4:]
    assert registered["idNumber"] is None  # civil affairs may not read identity numbers
    assert (registered["kinship"], registered["staffName"], registered["active"]) == ("SIBLING", "王强", True)
    await register_relative(gql, civil, id_number=cousin["idNumber"], locality=TOWNSHIP)

    flagged = await flags(gql, admin, household["id"])
    assert [(f["code"], f["memberId"], f["recordId"]) for f in flagged] == [
        ("NEAR_RELATIVE", household["members"][0]["id"], registered["id"])
    ]
    assert "王强" in flagged[0]["message"] and "民政所工作人员" in flagged[0]["message"]
    assert sister["idNumber"] not in flagged[0]["message"]
    # the cousin is registered by staff of another township: his household is outside their area
    assert await flags(gql, admin, elsewhere["id"]) == []
    assert await flags(gql, admin, plain["id"]) == []
    # the day before it was registered, the registration did not count
    assert await flags(gql, admin, household["id"], as_of="2000-01-01") == []


async def test_every_aid_decision_for_a_flagged_household_raises_one_warning_for_civil_affairs(make_runtime):
    raised = RaisedWarnings()
    runtime = make_runtime(extra_plugins=[raised])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://t"
    ) as c:
        gql = GraphQL(c)
        admin = runtime.database.run(lambda s: create_key(s, Role.ADMIN))
        relative_person = person("HEAD", name="王芳")
        flagged = await register(gql, admin, members=[relative_person])
        other = await register(gql, admin)
        await register_relative(gql, admin, id_number=relative_person["idNumber"])

        await grant(gql, admin, other["id"])
        assert await warnings(gql, admin, "near_relative_decision") == []

        first = await grant(gql, admin, flagged["id"])
        [warning] = await warnings(gql, admin, "near_relative_decision")
        assert warning["household"]["id"] == flagged["id"]
        assert (warning["level"], warning["status"], warning["routedTo"]) == (
            "ORANGE",
            "OPEN",
            ["civil_affairs"],
        )
        assert [e["code"] for e in warning["evidence"]] == ["AID_DECISION", "NEAR_RELATIVE"]
        assert first["id"] and "temporary" in warning["evidence"][0]["message"]
        assert [(e.rule, e.household_id) for e in raised.events] == [
            ("near_relative_decision", decode(flagged["id"])[1])
        ]

        # a second decision while the warning is open is added to it, not raised again
        await grant(gql, admin, flagged["id"], aidTypeCode="dibao", oneOffAmount=None, monthlyAmount="300.00")
        [again] = await warnings(gql, admin, "near_relative_decision")
        assert again["id"] == warning["id"] and again["aidTypeCode"] == "dibao"
        assert [e["code"] for e in again["evidence"]] == ["AID_DECISION", "NEAR_RELATIVE", "AID_DECISION"]
        assert len(raised.events) == 1

        # resolving it ENROLLED is itself an aid decision: a new warning is raised
        visit = {
            "warningId": warning["id"],
            "visitor": "李核查",
            "findings": "核实",
            "visitedAt": datetime.now(UTC).isoformat(),
        }
        assert (await gql.ok(VISIT, {"input": visit}, key=admin))["recordVisit"]["userErrors"] == []
        enrolled = await gql.ok(
            RESOLVE, {"id": warning["id"], "aidTypeCode": "tekun", "monthlyAmount": "900.00"}, key=admin
        )
        assert enrolled["resolveWarning"]["userErrors"] == []
        after = await warnings(gql, admin, "near_relative_decision")
        assert sorted(w["status"] for w in after) == ["OPEN", "RESOLVED"]
        assert [w["aidTypeCode"] for w in after if w["status"] == "OPEN"] == ["tekun"]
        assert len(raised.events) == 2
    await runtime.database.async_engine.dispose()


async def test_removing_a_registration_keeps_it_on_record_and_ends_the_flag(gql, key):
    admin = key(Role.ADMIN)
    civil = key(Role.CIVIL_AFFAIRS, locality_code=TOWNSHIP)
    sister = person("HEAD")
    household = await register(gql, admin, members=[sister])
    registered = await register_relative(gql, civil, id_number=sister["idNumber"])
    assert len(await flags(gql, admin, household["id"])) == 1

    removed = (await gql.ok(REMOVE, {"id": registered["id"], "reason": "调离岗位"}, key=civil))[
        "removeNearRelative"
    ]
    assert removed["userErrors"] == []
    assert (removed["nearRelative"]["active"], removed["nearRelative"]["removalReason"]) == (
        False,
        "调离岗位",
    )
    assert await flags(gql, admin, household["id"]) == []

    again = (await gql.ok(REMOVE, {"id": registered["id"], "reason": "x"}, key=civil))["removeNearRelative"]
    assert [e["code"] for e in again["userErrors"]] == ["ALREADY_REMOVED"]
    listed = (await gql.ok(LIST, {}, key=civil))["nearRelatives"]
    assert listed["totalCount"] == 0
    history = (await gql.ok(LIST, {"filter": {"includeRemoved": True}}, key=civil))["nearRelatives"]
    assert [n["node"]["id"] for n in history["edges"]] == [registered["id"]]
    no_reason = (await gql.ok(REMOVE, {"id": registered["id"], "reason": " "}, key=civil))[
        "removeNearRelative"
    ]
    assert {e["code"] for e in no_reason["userErrors"]} == {"ALREADY_REMOVED", "REQUIRED"}


async def test_bad_input_is_a_user_error_and_nothing_is_written(gql, key, runtime):
    civil = key(Role.CIVIL_AFFAIRS, locality_code=TOWNSHIP)
    number = person()["idNumber"]
    bad = relative(number[:-1] + ("0" if number[-1] != "0" else "1"), staffName=" ", localityCode="12")
    payload = (await gql.ok(REGISTER, {"input": bad}, key=civil))["registerNearRelative"]
    assert payload["nearRelative"] is None
    assert {(tuple(e["field"]), e["code"]) for e in payload["userErrors"]} == {
        (("idNumber",), "INVALID_ID_NUMBER"),
        (("staffName",), "REQUIRED"),
        (("localityCode",), "INVALID_LOCALITY"),
    }
    outside = (await gql.ok(REGISTER, {"input": relative(number, OTHER_TOWNSHIP)}, key=civil))[
        "registerNearRelative"
    ]
    assert [(e["field"], e["code"]) for e in outside["userErrors"]] == [(["localityCode"], "OUT_OF_SCOPE")]
    unknown = await gql.ok(REGISTER, {"input": relative(number, "990000")}, key=key(Role.ADMIN))
    assert [e["code"] for e in unknown["registerNearRelative"]["userErrors"]] == ["UNKNOWN_LOCALITY"]
    assert runtime.database.run(lambda s: s.scalars(select(NearRelative)).all()) == []

    await register_relative(gql, civil, id_number=number)
    duplicate = (await gql.ok(REGISTER, {"input": relative(number)}, key=civil))["registerNearRelative"]
    assert [e["code"] for e in duplicate["userErrors"]] == ["DUPLICATE"]
    assert len(runtime.database.run(lambda s: s.scalars(select(NearRelative)).all())) == 1


async def test_scope_auditors_read_departments_and_partners_are_refused(gql, key):
    county = key(Role.CIVIL_AFFAIRS, locality_code="120101")
    township = key(Role.CIVIL_AFFAIRS, locality_code=TOWNSHIP)
    neighbour = key(Role.CIVIL_AFFAIRS, locality_code=OTHER_TOWNSHIP)
    auditor = key(Role.AUDITOR)
    department = key(Role.DEPARTMENT, locality_code="120000", department="medical_security")
    partner = key(Role.PARTNER, partner_code="red_cross_310105")
    number = person()["idNumber"]
    registered = await register_relative(gql, township, id_number=number)
    await register_relative(gql, county, id_number=person()["idNumber"], locality="120101")

    async def seen(k: str) -> set[str]:
        return {e["node"]["localityCode"] for e in (await gql.ok(LIST, {}, key=k))["nearRelatives"]["edges"]}

    assert await seen(county) == {TOWNSHIP, "120101"}
    assert await seen(township) == {TOWNSHIP}
    assert await seen(neighbour) == set()
    assert await seen(auditor) == {TOWNSHIP, "120101"}
    by_number = await gql.ok(LIST, {"filter": {"idNumber": number}}, key=auditor)
    assert [e["node"]["id"] for e in by_number["nearRelatives"]["edges"]] == [registered["id"]]

    for refused in (department, partner):
        body = await gql(LIST, key=refused)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "errors" in await gql(LIST)  # no key

    for writer in (auditor, department, partner):
        payload = await gql.ok(REGISTER, {"input": relative(person()["idNumber"])}, key=writer)
        assert [e["code"] for e in payload["registerNearRelative"]["userErrors"]] == ["FORBIDDEN"]
    not_yours = (await gql.ok(REMOVE, {"id": registered["id"], "reason": "x"}, key=neighbour))[
        "removeNearRelative"
    ]
    assert [e["code"] for e in not_yours["userErrors"]] == ["NOT_FOUND"]


async def test_the_identity_number_is_encrypted_and_only_admins_read_it_audited(gql, key, runtime):
    admin = key(Role.ADMIN)
    number = person()["idNumber"]
    await register_relative(gql, key(Role.CIVIL_AFFAIRS, locality_code=TOWNSHIP), id_number=number)
    listed = (await gql.ok(LIST, {}, key=admin))["nearRelatives"]["edges"]
    assert listed[0]["node"]["idNumber"] == number

    def stored(session):
        row = session.scalars(select(NearRelative)).one()
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "read_id_number")).all()
        return row, [(e.subject_type, e.subject_id) for e in entries]

    row, audited = runtime.database.run(stored)
    assert number.encode() not in row.id_number_encrypted and number not in row.id_number_hash
    assert runtime.vault.decrypt(row.id_number_encrypted) == number
    assert audited == [("NearRelative", str(row.id))]
