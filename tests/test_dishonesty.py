"""失信 and 追回 over GraphQL: a fraud recorded against a person flags every household with that person, in
every locality ("一处失信、他处受限"), and aid decisions for it raise a warning; recoveries; scope and masking."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from conftest import person, register
from governance_support import flags, grant, warnings
from safetynet.api.ids import decode, encode
from safetynet.governance import household_flags
from safetynet.model import Role
from safetynet.store.models import AuditEntry, DishonestyRecord

RECORD = """mutation($input: RecordDishonestyInput!) { recordDishonesty(input: $input) {
  dishonestyRecord { id idNumberMasked idNumber personName facts amountToRecover recovered outstanding
    decidedOn decidingUnit localityCode aidRecords { id aidTypeCode } recoveries { amount receivedOn note } }
  userErrors { field message code } } }"""
RECOVER = """mutation($input: RecordRecoveryInput!) { recordRecovery(input: $input) {
  dishonestyRecord { id recovered outstanding recoveries { amount receivedOn note } }
  userErrors { field message code } } }"""
LIST = """query($filter: DishonestyFilter) { dishonestyRecords(filter: $filter, first: 50) {
  totalCount edges { node { id idNumber localityCode outstanding aidRecords { id } } } } }"""

COUNTY = "120101"
DECIDED = "2024-03-01"


def fraud(id_number: str, **changes: object) -> dict[str, object]:
    return {
        "idNumber": id_number,
        "personName": "赵六",
        "facts": "隐瞒经营收入,骗取低保金",
        "amountToRecover": "3600.00",
        "decidedOn": DECIDED,
        "decidingUnit": "和平区民政局",
        "localityCode": COUNTY,
        **changes,
    }


async def record(gql, key: str, id_number: str, **changes: object) -> dict:
    payload = (await gql.ok(RECORD, {"input": fraud(id_number, **changes)}, key=key))["recordDishonesty"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload["dishonestyRecord"]


async def test_a_dishonesty_record_follows_the_person_to_every_locality(gql, key, runtime):
    tianjin = key(Role.CIVIL_AFFAIRS, locality_code=COUNTY)
    zhangye = key(Role.CIVIL_AFFAIRS, locality_code="620702")
    admin = key(Role.ADMIN)
    cheat = person("HEAD", name="赵六")
    here = await register(gql, tianjin, localityCode="120101001", members=[person("HEAD")])
    aid = await grant(
        gql, tianjin, here["id"], aidTypeCode="dibao", oneOffAmount=None, monthlyAmount="300.00"
    )

    recorded = await record(gql, tianjin, cheat["idNumber"], aidRecordIds=[aid["id"]])
    assert (recorded["amountToRecover"], recorded["recovered"], recorded["outstanding"]) == (
        "3600.00",
        "0.00",
        "3600.00",
    )
    assert recorded["aidRecords"] == [{"id": aid["id"], "aidTypeCode": "dibao"}]
    assert recorded["idNumber"] is None and recorded["idNumberMasked"].endswith(cheat["idNumber"][-4:])

    # the person moves to Zhangye and applies there: the flag goes with them
    there = await register(
        gql, zhangye, localityCode="620702001", members=[person("SPOUSE"), {**cheat, "relation": "HEAD"}]
    )
    [flag] = await flags(gql, zhangye, there["id"])
    assert flag["code"] == "DISHONESTY" and flag["recordId"] == recorded["id"]
    assert flag["memberId"] == there["members"][1]["id"]
    assert "和平区民政局" in flag["message"] and "3600.00" in flag["message"]
    assert await flags(gql, zhangye, there["id"], as_of="2024-02-29") == []  # before the decision
    assert await flags(gql, tianjin, here["id"]) == []
    # Zhangye sees the flag, not Tianjin's record
    assert (await gql.ok(LIST, {}, key=zhangye))["dishonestyRecords"]["totalCount"] == 0

    # the same, for other services (applications) through safetynet.governance
    direct = runtime.database.run(lambda s: household_flags(s, decode(there["id"])[1], date.today()))
    assert [(f.code, f.record_id) for f in direct] == [("DISHONESTY", decode(recorded["id"])[1])]

    # an aid decision there raises a warning for civil affairs and the aid type's department
    await grant(gql, zhangye, there["id"], aidTypeCode="medical", oneOffAmount="2000.00")
    [warning] = await warnings(gql, admin, "dishonesty_decision")
    assert warning["household"]["id"] == there["id"]
    assert warning["routedTo"] == ["civil_affairs", "medical_security"]
    assert [e["code"] for e in warning["evidence"]] == ["AID_DECISION", "DISHONESTY"]


async def test_recoveries_up_to_the_amount_to_recover(gql, key, runtime):
    civil = key(Role.CIVIL_AFFAIRS, locality_code=COUNTY)
    recorded = await record(gql, civil, person()["idNumber"])

    async def recover(amount: str, on: str = "2024-04-01", **extra: object) -> dict:
        data = {"recordId": recorded["id"], "amount": amount, "receivedOn": on, **extra}
        return (await gql.ok(RECOVER, {"input": data}, key=civil))["recordRecovery"]

    first = await recover("1000.00", note="第一期")
    assert first["userErrors"] == []
    assert (first["dishonestyRecord"]["recovered"], first["dishonestyRecord"]["outstanding"]) == (
        "1000.00",
        "2600.00",
    )
    too_much = await recover("2600.01")
    assert [(e["field"], e["code"]) for e in too_much["userErrors"]] == [(["amount"], "OVER_RECOVERY")]
    bad = await recover("0", on="2024-02-01")
    assert {(tuple(e["field"]), e["code"]) for e in bad["userErrors"]} == {
        (("amount",), "INVALID_AMOUNT"),
        (("receivedOn",), "INVALID_DATE"),
    }
    future = await recover("1.00", on=(date.today() + timedelta(days=2)).isoformat())
    assert [e["code"] for e in future["userErrors"]] == ["INVALID_DATE"]
    rest = await recover("2600.00", on="2024-05-01")
    assert rest["dishonestyRecord"]["outstanding"] == "0.00"
    assert [r["amount"] for r in rest["dishonestyRecord"]["recoveries"]] == ["1000.00", "2600.00"]

    owed = await gql.ok(LIST, {"filter": {"outstanding": True}}, key=civil)
    settled = await gql.ok(LIST, {"filter": {"outstanding": False}}, key=civil)
    assert owed["dishonestyRecords"]["totalCount"] == 0
    assert settled["dishonestyRecords"]["totalCount"] == 1
    wrong_id = await gql.ok(
        RECOVER,
        {"input": {"recordId": encode("AidRecord", 1), "amount": "1", "receivedOn": "2024-05-01"}},
        key=civil,
    )
    assert [e["code"] for e in wrong_id["recordRecovery"]["userErrors"]] == ["INVALID_ID"]


async def test_bad_input_is_a_user_error_and_nothing_is_written(gql, key, runtime):
    civil = key(Role.CIVIL_AFFAIRS, locality_code=COUNTY)
    elsewhere = await register(gql, key(Role.ADMIN), localityCode="620702001")
    hidden_aid = await grant(gql, key(Role.ADMIN), elsewhere["id"])
    bad = fraud(
        "12345",
        personName="",
        amountToRecover="-5",
        decidedOn=(date.today() + timedelta(days=1)).isoformat(),
        localityCode="620702",
        aidRecordIds=[hidden_aid["id"]],
    )
    payload = (await gql.ok(RECORD, {"input": bad}, key=civil))["recordDishonesty"]
    assert payload["dishonestyRecord"] is None
    assert {(tuple(e["field"]), e["code"]) for e in payload["userErrors"]} == {
        (("idNumber",), "INVALID_ID_NUMBER"),
        (("personName",), "REQUIRED"),
        (("amountToRecover",), "INVALID_AMOUNT"),
        (("decidedOn",), "INVALID_DATE"),
        (("localityCode",), "OUT_OF_SCOPE"),
        (("aidRecordIds", "0"), "NOT_FOUND"),
    }
    not_an_aid = fraud(person()["idNumber"], aidRecordIds=[elsewhere["id"]])
    refused = (await gql.ok(RECORD, {"input": not_an_aid}, key=civil))["recordDishonesty"]
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["aidRecordIds", "0"], "INVALID_ID")]
    assert runtime.database.run(lambda s: s.scalars(select(DishonestyRecord)).all()) == []


async def test_scope_auditors_read_departments_and_partners_are_refused(gql, key, runtime):
    county = key(Role.CIVIL_AFFAIRS, locality_code=COUNTY)
    township = key(Role.CIVIL_AFFAIRS, locality_code="120101001")
    other = key(Role.CIVIL_AFFAIRS, locality_code="120102")
    auditor = key(Role.AUDITOR)
    admin = key(Role.ADMIN)
    department = key(Role.DEPARTMENT, locality_code="120000", department="medical_security")
    partner = key(Role.PARTNER, partner_code="red_cross_310105")
    number = person()["idNumber"]
    county_record = await record(gql, county, number)
    await record(gql, township, person()["idNumber"], localityCode="120101001")

    async def seen(k: str, **filter: object) -> set[str]:
        data = await gql.ok(LIST, {"filter": filter or None}, key=k)
        return {e["node"]["localityCode"] for e in data["dishonestyRecords"]["edges"]}

    assert await seen(county) == {COUNTY, "120101001"}
    assert await seen(township) == {"120101001"}
    assert await seen(other) == set()
    assert await seen(auditor) == {COUNTY, "120101001"}
    assert await seen(auditor, idNumber=number) == {COUNTY}
    assert await seen(auditor, localityCode="120101001") == {"120101001"}
    for refused in (department, partner):
        body = await gql(LIST, key=refused)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    for writer in (auditor, department, partner):
        payload = await gql.ok(RECORD, {"input": fraud(person()["idNumber"])}, key=writer)
        assert [e["code"] for e in payload["recordDishonesty"]["userErrors"]] == ["FORBIDDEN"]
    recovery = {"recordId": county_record["id"], "amount": "10.00", "receivedOn": "2024-04-01"}
    for writer, code in ((auditor, "FORBIDDEN"), (other, "NOT_FOUND"), (township, "NOT_FOUND")):
        payload = await gql.ok(RECOVER, {"input": recovery}, key=writer)
        assert [e["code"] for e in payload["recordRecovery"]["userErrors"]] == [code]

    # only principals that may read identity numbers see it, and the read is audited
    listed = await gql.ok(LIST, {"filter": {"idNumber": number}}, key=admin)
    assert [e["node"]["idNumber"] for e in listed["dishonestyRecords"]["edges"]] == [number]
    assert [
        e["node"]["idNumber"]
        for e in (await gql.ok(LIST, {"filter": {"idNumber": number}}, key=auditor))["dishonestyRecords"][
            "edges"
        ]
    ] == [None]
    audited = runtime.database.run(
        lambda s: s.scalars(
            select(AuditEntry.subject_type).where(AuditEntry.action == "read_id_number")
        ).all()
    )
    assert audited == ["DishonestyRecord"]
