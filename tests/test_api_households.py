"""Households over GraphQL: registration read back field by field, derived member facts, the households
connection, updates from a date, the aid chain, localities, the catalogue queries, node(id) and /healthz."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import func, select

from conftest import income, person, register
from safetynet.api.ids import encode
from safetynet.app import create_app
from safetynet.households import register_household
from safetynet.identity import make_id_number
from safetynet.model import Role, Sex, WarningLevel, WarningStatus
from safetynet.principals import Principal
from safetynet.runtime import Runtime
from safetynet.settings import Settings
from safetynet.store.models import Household as HouseholdRow
from safetynet.store.models import Warning as WarningRow

ADMIN = Principal(key_id=None, role=Role.ADMIN)
ALL_ABLE = dict.fromkeys(
    ("eating", "dressing", "transferring", "toileting", "walkingIndoors", "bathing"), True
)

HOUSEHOLD = """query($id: ID!) { household(id: $id) {
  id localityCode residence address version perCapitaMonthlyIncome categories circle
  members { id name idNumberMasked idNumber birthDate age sex relation disability illness
            laborCapacity employment educationStage selfCare }
  assessments { aidType { code } eligible monthlyAmount oneOffAmount reasons { code message } }
  aidChain { id } warnings { id } visits { id } nextReviewDue
} }"""

GRANT = """mutation($input: GrantAidInput!) { grantAid(input: $input) {
  aidRecord { id aidTypeCode provider status monthlyAmount oneOffAmount startedOn endedOn endReason note }
  userErrors { field message code } } }"""

END = """mutation($id: ID!, $on: Date!, $reason: String!) { endAid(id: $id, endedOn: $on, reason: $reason) {
  aidRecord { id status endedOn endReason } userErrors { field message code } } }"""

UPDATE = """mutation($input: CircumstancesInput!) { updateCircumstances(input: $input) {
  household { id version } userErrors { field message code } } }"""

PAGE = """query($first: Int, $after: String, $filter: HouseholdFilter) {
  households(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id localityCode } } pageInfo { hasNextPage endCursor } totalCount } }"""


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def seed_households(runtime, count: int, locality_code: str = "120101001") -> list[int]:
    """``count`` one-person households registered through the service (fast; for paging)."""

    def work(session) -> list[int]:
        ids = []
        for i in range(count):
            number = make_id_number("120101", date(1950, 1, 1) + timedelta(days=i), 7, Sex.MALE)
            data = {
                "locality_code": locality_code,
                "residence": "URBAN",
                "members": [{"name": f"户主{i}", "id_number": number, "relation": "HEAD"}],
            }
            household = register_household(
                session,
                data,
                principal=ADMIN,
                localities=runtime.localities,
                vault=runtime.vault,
                today=runtime.today(),
            )
            ids.append(household.id)
        return ids

    return runtime.database.run(work)


#: The Household and Member fields API.md fixes; those the schema has must be read back below.
API_FIELDS = {
    "Household": {
        "id",
        "localityCode",
        "residence",
        "address",
        "version",
        "members",
        "perCapitaMonthlyIncome",
        "categories",
        "circle",
        "assessments",
        "aidChain",
        "warnings",
        "visits",
        "nextReviewDue",
    },
    "Member": {
        "id",
        "name",
        "idNumberMasked",
        "idNumber",
        "birthDate",
        "age",
        "sex",
        "relation",
        "disability",
        "illness",
        "laborCapacity",
        "employment",
        "educationStage",
        "selfCare",
    },
}


async def test_the_read_back_covers_every_api_field_the_schema_has(gql, admin_key):
    selected = set(re.findall(r"\w+", HOUSEHOLD))
    for type_name, fields in API_FIELDS.items():
        query = "query($name: String!) { __type(name: $name) { fields { name } } }"
        schema_fields = {
            f["name"] for f in (await gql.ok(query, {"name": type_name}, key=admin_key))["__type"]["fields"]
        }
        assert sorted((fields & schema_fields) - selected) == [], type_name


async def test_registered_household_reads_back_every_field(gql, admin_key):
    head = person(
        born=date(1975, 3, 9),
        sex=Sex.FEMALE,
        name="李秀英",
        monthlyIncomes=income("1500.00"),
        disability="LEVEL_2",
        illness="CHRONIC",
        laborCapacity="PARTIAL",
        employment="UNEMPLOYED",
        selfCare=ALL_ABLE,
    )
    child = person(
        "CHILD",
        born=date(2012, 11, 30),
        sex=Sex.MALE,
        name="李明",
        employment="STUDENT",
        educationStage="PRIMARY",
        monthlyIncomes=income("300.00", "TRANSFER"),
    )
    created = await register(
        gql,
        admin_key,
        localityCode="120101001",
        residence="RURAL",
        address="和平路 1 号",
        members=[head, child],
    )
    data = await gql.ok(HOUSEHOLD, {"id": created["id"]}, key=admin_key)
    h = data["household"]
    assert h["id"] == created["id"]
    assert (h["localityCode"], h["residence"], h["address"], h["version"]) == (
        "120101001",
        "RURAL",
        "和平路 1 号",
        1,
    )
    assert h["perCapitaMonthlyIncome"] == "900.00"  # (1500 + 300) / 2
    assert (h["aidChain"], h["warnings"], h["visits"]) == ([], [], [])
    assert h["nextReviewDue"] is None  # no aid under review yet (see tests/test_schedules.py)
    # One assessment per installed aid type, each explained (the amounts are the aid plugins' business).
    aid_types = (await gql.ok("{ aidTypes { code } }", key=admin_key))["aidTypes"]
    assert sorted(a["aidType"]["code"] for a in h["assessments"]) == sorted(a["code"] for a in aid_types)
    assert all(
        a["reasons"] and all(r["code"] and r["message"] for r in a["reasons"]) for a in h["assessments"]
    )
    dibao = next(a for a in h["assessments"] if a["aidType"]["code"] == "dibao")
    assert dibao["eligible"] is True  # 900.00 a head is below Tianjin's standard of 1010.00
    assert "DIBAO" in h["categories"]
    assert h["circle"] == "COVERED"  # a dibao household is in the first of Changning's four circles

    today = date.today()
    first, second = h["members"]
    assert {k: first[k] for k in first if k != "id"} == {
        "name": "李秀英",
        "idNumberMasked": head["idNumber"][:6] + "********" + head["idNumber"][-4:],
        "idNumber": head["idNumber"],  # an admin may read it
        "birthDate": "1975-03-09",
        "age": age_on(date(1975, 3, 9), today),
        "sex": "FEMALE",
        "relation": "HEAD",
        "disability": "LEVEL_2",
        "illness": "CHRONIC",
        "laborCapacity": "PARTIAL",
        "employment": "UNEMPLOYED",
        "educationStage": "NONE",
        "selfCare": "ABLE",
    }
    assert {k: second[k] for k in ("name", "birthDate", "age", "sex", "relation", "educationStage")} == {
        "name": "李明",
        "birthDate": "2012-11-30",
        "age": age_on(date(2012, 11, 30), today),
        "sex": "MALE",
        "relation": "CHILD",
        "educationStage": "PRIMARY",
    }
    # Defaults from MemberInput, and no self-care assessment at all → null.
    assert (second["disability"], second["illness"], second["laborCapacity"]) == ("NONE", "NONE", "FULL")
    assert second["selfCare"] is None
    assert first["id"] == created["members"][0]["id"] and first["id"] != second["id"]


async def test_birth_date_and_sex_come_from_the_identity_number(gql, admin_key):
    # 11010519491231002X is the GB 11643 example: born 1949-12-31, order code 002 (even) → female.
    created = await register(
        gql, admin_key, members=[{"name": "王芳", "idNumber": "11010519491231002x", "relation": "HEAD"}]
    )
    data = await gql.ok(
        "query($id: ID!) { household(id: $id) { members { birthDate sex idNumberMasked idNumber } } }",
        {"id": created["id"]},
        key=admin_key,
    )
    assert data["household"]["members"] == [
        {
            "birthDate": "1949-12-31",
            "sex": "FEMALE",
            "idNumberMasked": "110105********002X",
            "idNumber": "11010519491231002X",
        }
    ]
    for member in created["members"]:
        assert re.fullmatch(r"\d{6}\*{8}\d{3}[\dX]", member["idNumberMasked"])


async def test_self_care_level_from_the_six_indicators(gql, admin_key):
    def unable(*indicators: str) -> dict:
        return {**ALL_ABLE, **dict.fromkeys(indicators, False)}

    members = [
        person(selfCare=ALL_ABLE),
        person("SPOUSE", selfCare=unable("eating", "bathing")),
        person("PARENT", selfCare=unable("eating", "dressing", "transferring", "toileting")),
        person(
            "GRANDPARENT",
            selfCare=unable("eating", "dressing", "transferring", "toileting", "walkingIndoors", "bathing"),
        ),
        person("CHILD", selfCare=unable("walkingIndoors")),
    ]
    created = await register(gql, admin_key, members=members)
    data = await gql.ok(
        "query($id: ID!) { household(id: $id) { members { relation selfCare } } }",
        {"id": created["id"]},
        key=admin_key,
    )
    assert [(m["relation"], m["selfCare"]) for m in data["household"]["members"]] == [
        ("HEAD", "ABLE"),
        ("SPOUSE", "PARTLY_UNABLE"),
        ("PARENT", "FULLY_UNABLE"),
        ("GRANDPARENT", "FULLY_UNABLE"),
        ("CHILD", "PARTLY_UNABLE"),
    ]


async def test_households_connection_pages_with_cursors(gql, admin_key, runtime):
    ids = seed_households(runtime, 7)
    seen: list[str] = []
    after = None
    pages = []
    while True:
        page = (await gql.ok(PAGE, {"first": 3, "after": after}, key=admin_key))["households"]
        assert page["totalCount"] == 7
        pages.append(len(page["edges"]))
        seen += [e["node"]["id"] for e in page["edges"]]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == [3, 3, 1]
    assert seen == [encode("Household", i) for i in ids]  # registration order, nothing twice or lost

    empty = (await gql.ok(PAGE, {"first": 0}, key=admin_key))["households"]
    assert empty["edges"] == [] and empty["totalCount"] == 7 and empty["pageInfo"]["endCursor"] is None


async def test_households_page_size_defaults_to_50_and_is_capped_at_500(gql, admin_key, runtime):
    seed_households(runtime, 502)
    default = (await gql.ok(PAGE, {}, key=admin_key))["households"]
    assert len(default["edges"]) == 50 and default["pageInfo"]["hasNextPage"] is True
    assert default["totalCount"] == 502
    capped = (await gql.ok(PAGE, {"first": 10_000}, key=admin_key))["households"]
    assert len(capped["edges"]) == 500 and capped["pageInfo"]["hasNextPage"] is True
    rest = await gql.ok(PAGE, {"first": 500, "after": capped["pageInfo"]["endCursor"]}, key=admin_key)
    assert len(rest["households"]["edges"]) == 2 and rest["households"]["pageInfo"]["hasNextPage"] is False


async def test_households_filter_by_locality_and_open_warnings(gql, admin_key, runtime):
    here = await register(gql, admin_key, localityCode="120101001")
    village = await register(gql, admin_key, localityCode="120101001002")
    there = await register(gql, admin_key, localityCode="120101002")
    elsewhere = await register(gql, admin_key, localityCode="120102001")

    async def ids(filter: dict) -> set[str]:
        page = (await gql.ok(PAGE, {"filter": filter}, key=admin_key))["households"]
        assert page["totalCount"] == len(page["edges"])
        return {e["node"]["id"] for e in page["edges"]}

    assert await ids({"localityCode": "120101001"}) == {here["id"], village["id"]}
    assert await ids({"localityCode": "120101"}) == {here["id"], village["id"], there["id"]}
    assert await ids({"localityCode": "120000"}) == {here["id"], village["id"], there["id"], elsewhere["id"]}
    assert await ids({"localityCode": "120102001"}) == {elsewhere["id"]}

    now = datetime.now(UTC)

    def warn(global_id: str, status: WarningStatus) -> None:
        runtime.database.run(
            lambda s: s.add(
                WarningRow(
                    household_id=ids_by_global[global_id],
                    rule="test_rule",
                    level=WarningLevel.YELLOW,
                    status=status,
                    raised_at=now,
                    visit_due_by=now + timedelta(days=15),
                    evidence=[],
                )
            )
        )

    rows = runtime.database.run(lambda s: list(s.scalars(select(HouseholdRow.id).order_by(HouseholdRow.id))))
    ids_by_global = {encode("Household", i): i for i in rows}
    warn(here["id"], WarningStatus.OPEN)
    warn(there["id"], WarningStatus.RESOLVED)  # a resolved warning is not an open one
    assert await ids({"hasOpenWarnings": True}) == {here["id"]}
    assert await ids({"hasOpenWarnings": False}) == {village["id"], there["id"], elsewhere["id"]}
    assert await ids({"hasOpenWarnings": True, "localityCode": "120101002"}) == set()


async def test_update_circumstances_changes_incomes_from_effective_date(gql, admin_key):
    created = await register(
        gql, admin_key, members=[person(monthlyIncomes=income("1800.00")), person("SPOUSE"), person("CHILD")]
    )
    later = date.today() + timedelta(days=30)
    head_id = created["members"][0]["id"]
    payload = (
        await gql.ok(
            UPDATE,
            {
                "input": {
                    "householdId": created["id"],
                    "version": 1,
                    "effectiveFrom": later.isoformat(),
                    "members": [{"memberId": head_id, "monthlyIncomes": income("2400.00")}],
                }
            },
            key=admin_key,
        )
    )["updateCircumstances"]
    assert payload["userErrors"] == []
    assert payload["household"]["version"] == 2

    query = """query($id: ID!, $before: Date, $after: Date) { household(id: $id) { version
        before: perCapitaMonthlyIncome(asOf: $before) after: perCapitaMonthlyIncome(asOf: $after)
        then: assessments(asOf: $before) { aidType { code } eligible monthlyAmount }
        now: assessments(asOf: $after) { aidType { code } eligible monthlyAmount } } }"""
    h = (
        await gql.ok(
            query,
            {
                "id": created["id"],
                "before": (later - timedelta(days=1)).isoformat(),
                "after": later.isoformat(),
            },
            key=admin_key,
        )
    )["household"]
    assert h["version"] == 2
    assert (h["before"], h["after"]) == ("600.00", "800.00")
    dibao_then = next(a for a in h["then"] if a["aidType"]["code"] == "dibao")
    dibao_now = next(a for a in h["now"] if a["aidType"]["code"] == "dibao")
    assert dibao_then["eligible"] and dibao_now["eligible"]  # both below Tianjin's 1010.00
    assert Decimal(dibao_now["monthlyAmount"]) < Decimal(dibao_then["monthlyAmount"])  # more income, less aid


async def test_grant_and_end_aid_on_the_aid_chain(gql, admin_key):
    created = await register(gql, admin_key)
    grant = {
        "householdId": created["id"],
        "aidTypeCode": "dibao",
        "startedOn": "2024-01-01",
        "monthlyAmount": "1230.00",
        "note": "首次认定",
    }
    granted = (await gql.ok(GRANT, {"input": grant}, key=admin_key))["grantAid"]
    assert granted["userErrors"] == []
    record = granted["aidRecord"]
    assert {k: record[k] for k in record if k != "id"} == {
        "aidTypeCode": "dibao",
        "provider": "civil_affairs",
        "status": "ACTIVE",
        "monthlyAmount": "1230.00",
        "oneOffAmount": None,
        "startedOn": "2024-01-01",
        "endedOn": None,
        "endReason": None,
        "note": "首次认定",
    }

    # The same aid from the same provider over an overlapping period would pay twice.
    again = (await gql.ok(GRANT, {"input": {**grant, "startedOn": "2024-06-01"}}, key=admin_key))["grantAid"]
    assert again["aidRecord"] is None
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [(["aidTypeCode"], "DUPLICATE_AID")]
    assert "overlapping" in again["userErrors"][0]["message"]
    # Another provider giving the same aid type is a separate link of the chain.
    other = {**grant, "provider": "red_cross_120000", "monthlyAmount": None, "oneOffAmount": "500.00"}
    assert (await gql.ok(GRANT, {"input": other}, key=admin_key))["grantAid"]["userErrors"] == []

    today = date.today().isoformat()
    ended = (await gql.ok(END, {"id": record["id"], "on": today, "reason": "收入超过标准"}, key=admin_key))[
        "endAid"
    ]
    assert ended["userErrors"] == []
    assert ended["aidRecord"] == {
        "id": record["id"],
        "status": "ENDED",
        "endedOn": today,
        "endReason": "收入超过标准",
    }

    chain = (
        await gql.ok(
            "query($id: ID!) { household(id: $id) {"
            " aidChain { id aidTypeCode provider status oneOffAmount } } }",
            {"id": created["id"]},
            key=admin_key,
        )
    )["household"]["aidChain"]
    assert [(r["aidTypeCode"], r["provider"], r["status"]) for r in chain] == [
        ("dibao", "civil_affairs", "ENDED"),
        ("dibao", "red_cross_120000", "ACTIVE"),
    ]
    # Once ended, the same aid may be granted again from the end date on.
    renewed = {**grant, "startedOn": today}
    assert (await gql.ok(GRANT, {"input": renewed}, key=admin_key))["grantAid"]["userErrors"] == []


async def test_locality_with_parameter_and_a_township_under_it(gql, admin_key):
    query = """query($code: String!) { locality(code: $code) { code name level parent { code }
        parameter(name: "dibao.standard.urban") {
          name localityCode value source illustrative effectiveFrom } } }"""
    tianjin = (await gql.ok(query, {"code": "120000"}, key=admin_key))["locality"]
    standard = {
        "name": "dibao.standard.urban",
        "localityCode": "120000",
        "value": "1010.00",
        "illustrative": True,
        "effectiveFrom": "2022-01-01",
    }
    assert tianjin["code"] == "120000" and tianjin["name"] == "天津市" and tianjin["level"] == "PROVINCE"
    assert tianjin["parent"] == {"code": "100000"}
    assert {k: tianjin["parameter"][k] for k in standard} == standard
    assert tianjin["parameter"]["source"]

    township = (await gql.ok(query, {"code": "120101001"}, key=admin_key))["locality"]
    assert township["code"] == "120101001" and township["level"] == "TOWNSHIP"
    assert township["parameter"] == tianjin["parameter"]  # inherited from the municipality
    assert township["parent"]["code"] in ("120101", "120100", "120000")

    assert (await gql.ok(query, {"code": "990101001"}, key=admin_key))["locality"] is None
    national = (await gql.ok(query, {"code": "100000"}, key=admin_key))["locality"]
    assert national["level"] == "NATIONAL" and national["parent"] is None
    assert national["parameter"]["localityCode"] == "100000"


async def test_catalogue_queries_and_me(gql, admin_key):
    data = await gql.ok(
        """{ aidTypes { code name nameEn tier department plugin }
             partners { code name nameEn kind needTypes plugin }
             plugins { name module hooks }
             me { role localityCode partnerCode department } }""",
        key=admin_key,
    )
    dibao = next(a for a in data["aidTypes"] if a["code"] == "dibao")
    assert dibao == {
        "code": "dibao",
        "name": "最低生活保障",
        "nameEn": "Minimum living guarantee (dibao)",
        "tier": "BASIC_LIVING",
        "department": "civil_affairs",
        "plugin": "aid.dibao",
    }
    assert len({a["code"] for a in data["aidTypes"]}) == len(data["aidTypes"])
    assert isinstance(data["partners"], list)
    assert all(p["plugin"] and p["needTypes"] is not None for p in data["partners"])
    plugins = {p["name"]: p for p in data["plugins"]}
    assert plugins["aid.dibao"]["hooks"] == ["safetynet_aid_types"]
    assert plugins["aid.dibao"]["module"] == "safetynet_aid.dibao"
    assert "safetynet_localities" in plugins["locality.tianjin"]["hooks"]
    assert data["me"] == {"role": "ADMIN", "localityCode": None, "partnerCode": None, "department": None}


async def test_node_fetches_household_member_and_aid_record(gql, admin_key):
    created = await register(gql, admin_key, members=[person(name="赵强"), person("SPOUSE", name="钱丽")])
    record = (
        await gql.ok(
            GRANT,
            {
                "input": {
                    "householdId": created["id"],
                    "aidTypeCode": "dibao",
                    "startedOn": "2024-01-01",
                    "monthlyAmount": "100.00",
                }
            },
            key=admin_key,
        )
    )["grantAid"]["aidRecord"]
    query = """query($id: ID!) { node(id: $id) { __typename id
        ... on Household { localityCode } ... on Member { name } ... on AidRecord { aidTypeCode } } }"""

    async def node(global_id: str) -> dict | None:
        return (await gql.ok(query, {"id": global_id}, key=admin_key))["node"]

    assert await node(created["id"]) == {
        "__typename": "Household",
        "id": created["id"],
        "localityCode": "120101001",
    }
    spouse = created["members"][1]["id"]
    assert await node(spouse) == {"__typename": "Member", "id": spouse, "name": "钱丽"}
    assert await node(record["id"]) == {"__typename": "AidRecord", "id": record["id"], "aidTypeCode": "dibao"}
    assert await node(encode("Household", 10**9)) is None
    assert await node(encode("Nonsense", 1)) is None
    assert await node("not base64 at all!") is None


async def test_healthz_is_503_when_the_database_does_not_answer():
    runtime = Runtime.start(Settings(database_url="postgresql://nobody@127.0.0.1:1/none", secret_key="k"))
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


async def test_healthz_answers_when_the_database_does(client, runtime):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    count = runtime.database.run(lambda s: s.scalar(select(func.count()).select_from(HouseholdRow)))
    assert count == 0  # a health check writes nothing
