"""Bad input: each problem is a user error naming the field path and saying what is expected, and nothing is
written. Input GraphQL itself rejects (an unknown enum value, a malformed document) is a GraphQL error naming
the variable path, never a 500."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from conftest import REGISTER, income, person, register
from safetynet.store.models import AidRecord, Asset, Household, Income, Member, RigidExpense

GRANT = """mutation($input: GrantAidInput!) { grantAid(input: $input) {
  aidRecord { id } userErrors { field message code } } }"""
END = """mutation($id: ID!, $on: Date!, $reason: String!) { endAid(id: $id, endedOn: $on, reason: $reason) {
  aidRecord { id endedOn } userErrors { field message code } } }"""
UPDATE = """mutation($input: CircumstancesInput!) { updateCircumstances(input: $input) {
  household { id version } userErrors { field message code } } }"""
TABLES = (Household, Member, Income, Asset, RigidExpense, AidRecord)


def rows(runtime) -> dict[str, int]:
    def work(session) -> dict[str, int]:
        return {m.__tablename__: session.scalar(select(func.count()).select_from(m)) for m in TABLES}

    return runtime.database.run(work)


def with_bad_check_digit(member: dict) -> dict:
    number = member["idNumber"]
    wrong = "0" if number[-1] != "0" else "1"
    return {**member, "idNumber": number[:17] + wrong}


#: name → (the household input, the field path, words the message must contain, the code)
REGISTRATION_PROBLEMS: dict[str, tuple[Callable[[], dict], list[str], str, str]] = {
    "bad check digit": (
        lambda: {"members": [with_bad_check_digit(person())]},
        ["members", "0", "idNumber"],
        "check digit should be",
        "INVALID_ID_NUMBER",
    ),
    "identity number too short": (
        lambda: {"members": [{**person(), "idNumber": person()["idNumber"][:17]}]},
        ["members", "0", "idNumber"],
        "must have 18 characters, got 17",
        "INVALID_ID_NUMBER",
    ),
    "identity number with letters": (
        lambda: {"members": [{**person(), "idNumber": "12010119800501A012"}]},
        ["members", "0", "idNumber"],
        "17 digits followed by a digit or 'X'",
        "INVALID_ID_NUMBER",
    ),
    "unknown locality": (
        lambda: {"localityCode": "990101001"},
        ["localityCode"],
        "'990101001' is not under any configured locality",
        "UNKNOWN_LOCALITY",
    ),
    "malformed locality": (
        lambda: {"localityCode": "12010100"},
        ["localityCode"],
        "expected 6 digits (county and above), 9 (township) or 12 (village)",
        "INVALID_LOCALITY",
    ),
    "negative income": (
        lambda: {"members": [person(monthlyIncomes=income("-100.00"))]},
        ["members", "0", "monthlyIncomes", "0", "monthlyAmount"],
        "amounts must be zero or more",
        "INVALID_AMOUNT",
    ),
    "non-numeric income": (
        lambda: {"members": [person(monthlyIncomes=income("abc"))]},
        ["members", "0", "monthlyIncomes", "0", "monthlyAmount"],
        'expected a number such as "780.00"',
        "INVALID_AMOUNT",
    ),
    "income with fractions of a fen": (
        lambda: {
            "members": [person(), person("SPOUSE", monthlyIncomes=[*income("1.00"), *income("12.345")])]
        },
        ["members", "1", "monthlyIncomes", "1", "monthlyAmount"],
        "more than two decimal places",
        "INVALID_AMOUNT",
    ),
    "absurdly large income": (
        lambda: {"members": [person(monthlyIncomes=income("99999999999999999999.00"))]},
        ["members", "0", "monthlyIncomes", "0", "monthlyAmount"],
        "amounts are at most",
        "INVALID_AMOUNT",
    ),
    "negative asset": (
        lambda: {"assets": [{"kind": "SAVINGS", "value": "-1.00"}]},
        ["assets", "0", "value"],
        "zero or more",
        "INVALID_AMOUNT",
    ),
    "non-numeric expense": (
        lambda: {"rigidExpenses": [{"kind": "MEDICAL", "annualAmount": "lots"}]},
        ["rigidExpenses", "0", "annualAmount"],
        "expected a number",
        "INVALID_AMOUNT",
    ),
    "no members": (lambda: {"members": []}, ["members"], "at least one member", "REQUIRED"),
    "two heads": (
        lambda: {"members": [person(), person()]},
        ["members"],
        "exactly one member must be the HEAD (户主); found 2",
        "ONE_HEAD",
    ),
    "no head": (
        lambda: {"members": [person("SPOUSE")]},
        ["members"],
        "exactly one member must be the HEAD",
        "ONE_HEAD",
    ),
    "blank name": (
        lambda: {"members": [person(name="   ")]},
        ["members", "0", "name"],
        "must not be empty",
        "REQUIRED",
    ),
    "NUL in a name": (
        lambda: {"members": [person(name="张\u0000伟")]},
        ["members", "0", "name"],
        "control characters",
        "INVALID",
    ),
    "address too long": (
        lambda: {"address": "路" * 301},
        ["address"],
        "longer than 300 characters",
        "TOO_LONG",
    ),
}


@pytest.mark.parametrize("problem", sorted(REGISTRATION_PROBLEMS))
async def test_registration_problem_is_a_user_error_and_writes_nothing(gql, admin_key, runtime, problem):
    make, field, words, code = REGISTRATION_PROBLEMS[problem]
    household = {"localityCode": "120101001", "residence": "URBAN", "members": [person()], **make()}
    before = rows(runtime)
    payload = (await gql.ok(REGISTER, {"input": household}, key=admin_key))["registerHousehold"]
    assert payload["household"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(field, code)], payload["userErrors"]
    assert words in payload["userErrors"][0]["message"]
    assert rows(runtime) == before


async def test_all_problems_are_reported_at_once(gql, admin_key, runtime):
    household = {
        "localityCode": "12",
        "residence": "URBAN",
        "members": [with_bad_check_digit(person()), person("SPOUSE", monthlyIncomes=income("-5"))],
    }
    payload = (await gql.ok(REGISTER, {"input": household}, key=admin_key))["registerHousehold"]
    assert [e["field"] for e in payload["userErrors"]] == [
        ["localityCode"],
        ["members", "0", "idNumber"],
        ["members", "1", "monthlyIncomes", "0", "monthlyAmount"],
    ]
    assert rows(runtime)["households"] == 0


async def test_duplicate_identity_numbers(gql, admin_key, runtime):
    head = person()
    twice = {
        "localityCode": "120101001",
        "residence": "URBAN",
        "members": [head, {**head, "relation": "SPOUSE"}],
    }
    payload = (await gql.ok(REGISTER, {"input": twice}, key=admin_key))["registerHousehold"]
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["members", "1", "idNumber"], "DUPLICATE_PERSON")
    ]
    assert "appears twice" in payload["userErrors"][0]["message"]
    assert rows(runtime)["members"] == 0

    await register(gql, admin_key, members=[head])
    before = rows(runtime)
    again = {
        "localityCode": "120101002",
        "residence": "RURAL",
        "members": [person(), {**head, "relation": "PARENT"}],
    }
    payload = (await gql.ok(REGISTER, {"input": again}, key=admin_key))["registerHousehold"]
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["members", "1", "idNumber"], "ALREADY_REGISTERED")
    ]
    assert "update that household instead" in payload["userErrors"][0]["message"]
    assert rows(runtime) == before


async def test_unknown_enum_value_is_rejected_by_graphql_naming_the_path(gql, admin_key, runtime):
    # The contract for enum values: GraphQL checks them while coercing the variables, before any resolver
    # runs, so the answer is a top-level GraphQL error (not a userErrors entry) whose message names the
    # variable and the path inside it. Nothing is written.
    member = {**person(), "relation": "COUSIN"}
    body = await gql(
        REGISTER,
        {"input": {"localityCode": "120101001", "residence": "URBAN", "members": [member]}},
        key=admin_key,
    )
    assert body["data"] is None
    [error] = body["errors"]
    for words in ("$input", "members[0].relation", "COUSIN", "Relation"):
        assert words in error["message"], error["message"]

    inline = await gql(
        'mutation { registerHousehold(input: {localityCode: "120101001", residence: SUBURBAN, members: []}) '
        "{ userErrors { code } } }",
        key=admin_key,
    )
    assert "SUBURBAN" in inline["errors"][0]["message"] and "UrbanRural" in inline["errors"][0]["message"]
    assert rows(runtime)["households"] == 0


async def test_stale_version_is_refused_and_the_earlier_update_kept(gql, admin_key):
    created = await register(gql, admin_key, members=[person(monthlyIncomes=income("1000.00"))])
    head = created["members"][0]["id"]

    def change(version: int, amount: str) -> dict:
        return {
            "input": {
                "householdId": created["id"],
                "version": version,
                "members": [{"memberId": head, "monthlyIncomes": income(amount)}],
            }
        }

    first = (await gql.ok(UPDATE, change(1, "2000.00"), key=admin_key))["updateCircumstances"]
    assert first["userErrors"] == [] and first["household"]["version"] == 2
    late = (await gql.ok(UPDATE, change(1, "3000.00"), key=admin_key))["updateCircumstances"]
    assert late["household"] is None
    assert [(e["field"], e["code"]) for e in late["userErrors"]] == [(["version"], "STALE_VERSION")]
    assert "current version 2, you sent 1" in late["userErrors"][0]["message"]
    kept = await gql.ok(
        "query($id: ID!) { household(id: $id) { version perCapitaMonthlyIncome } }",
        {"id": created["id"]},
        key=admin_key,
    )
    assert kept["household"] == {"version": 2, "perCapitaMonthlyIncome": "2000.00"}


async def test_bad_circumstances_change_nothing(gql, admin_key, runtime):
    created = await register(gql, admin_key, members=[person(monthlyIncomes=income("1000.00"))])
    other = await register(gql, admin_key)
    cases = [
        ({"members": [{"memberId": "not-an-id"}]}, ["members", "0", "memberId"], "is not the id of a Member"),
        (
            {"members": [{"memberId": other["members"][0]["id"]}]},
            ["members", "0", "memberId"],
            "is not a member of this household",
        ),
        (
            {"members": [{"memberId": created["members"][0]["id"], "monthlyIncomes": income("-1.00")}]},
            ["members", "0", "monthlyIncomes", "0", "monthlyAmount"],
            "zero or more",
        ),
        ({"assets": [{"kind": "HOUSE", "value": "1.234"}]}, ["assets", "0", "value"], "two decimal places"),
        ({"address": "a\u0000b"}, ["address"], "control characters"),
        ({"householdId": "SG91c2Vob2xkOjk5OTk"}, ["householdId"], "no household with this id"),
    ]
    before = rows(runtime)
    for change, field, words in cases:
        variables = {"input": {"householdId": created["id"], "version": 1, **change}}
        payload = (await gql.ok(UPDATE, variables, key=admin_key))["updateCircumstances"]
        assert [e["field"] for e in payload["userErrors"]] == [field], change
        assert words in payload["userErrors"][0]["message"]
    assert rows(runtime) == before
    h = await gql.ok(
        "query($id: ID!) { household(id: $id) { version address perCapitaMonthlyIncome } }",
        {"id": created["id"]},
        key=admin_key,
    )
    assert h["household"] == {"version": 1, "address": None, "perCapitaMonthlyIncome": "1000.00"}


async def test_bad_aid_grants_and_endings_are_user_errors(gql, admin_key, runtime):
    created = await register(gql, admin_key)
    base = {
        "householdId": created["id"],
        "aidTypeCode": "dibao",
        "startedOn": "2024-01-01",
        "monthlyAmount": "100.00",
    }
    cases = [
        ({"monthlyAmount": "abc"}, ["monthlyAmount"], "expected a number"),
        ({"monthlyAmount": None, "oneOffAmount": "-5.00"}, ["oneOffAmount"], "zero or more"),
        ({"monthlyAmount": None}, ["monthlyAmount"], "give a monthlyAmount, a oneOffAmount, or both"),
        ({"endedOn": "2023-12-31"}, ["endedOn"], "is before startedOn 2024-01-01"),
        ({"aidTypeCode": "no_such_aid"}, ["aidTypeCode"], "not an installed aid type"),
        ({"aidTypeCode": "Bad Code!"}, ["aidTypeCode"], "must be a code like"),
        ({"provider": "Red Cross"}, ["provider"], "must be a code like"),
        ({"householdId": "nonsense"}, ["householdId"], "is not the id of a Household"),
        ({"note": "bad\u0000note"}, ["note"], "control characters"),
    ]
    for change, field, words in cases:
        payload = (await gql.ok(GRANT, {"input": {**base, **change}}, key=admin_key))["grantAid"]
        assert payload["aidRecord"] is None
        assert [e["field"] for e in payload["userErrors"]] == [field], change
        assert words in payload["userErrors"][0]["message"]
    assert rows(runtime)["aid_records"] == 0

    record = (await gql.ok(GRANT, {"input": base}, key=admin_key))["grantAid"]["aidRecord"]["id"]
    endings = [
        ({"on": "2023-06-30", "reason": "x"}, ["endedOn"], "is before the aid started"),
        ({"on": "2024-06-30", "reason": "  "}, ["reason"], "must not be empty"),
        ({"id": "nonsense", "on": "2024-06-30", "reason": "x"}, ["id"], "is not the id of a AidRecord"),
    ]
    for change, field, words in endings:
        payload = (await gql.ok(END, {"id": record, **change}, key=admin_key))["endAid"]
        assert [e["field"] for e in payload["userErrors"]] == [field], change
        assert words in payload["userErrors"][0]["message"]
    ended = runtime.database.run(lambda s: s.scalar(select(AidRecord.ended_on)))
    assert ended is None
    assert (await gql.ok(END, {"id": record, "on": "2024-06-30", "reason": "moved"}, key=admin_key))[
        "endAid"
    ]["userErrors"] == []
    twice = (await gql.ok(END, {"id": record, "on": "2024-07-31", "reason": "again"}, key=admin_key))[
        "endAid"
    ]
    assert [(e["field"], e["code"]) for e in twice["userErrors"]] == [(["id"], "ALREADY_ENDED")]
    assert "already ends on 2024-06-30" in twice["userErrors"][0]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"query": "{ households { "},
        {"query": "{ households { edges } }"},
        {"query": "{ noSuchField }"},
        {"query": "query($x: Int!) { households(first: $x) { totalCount } }", "variables": {"x": "many"}},
    ],
)
async def test_malformed_graphql_is_a_graphql_error_not_a_500(client, admin_key, body):
    response = await client.post("/graphql", json=body, headers={"Authorization": f"Bearer {admin_key}"})
    assert response.status_code in (200, 400)
    payload = response.json()
    assert payload.get("data") is None
    assert payload["errors"] and all(e["message"] for e in payload["errors"])


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{", "application/json"),
        (b'{"query": 5}', "application/json"),
        (b"{ health }", "text/plain"),
        (b"[1, 2]", "application/json"),
    ],
)
async def test_unreadable_requests_are_400(client, admin_key, content, content_type):
    response = await client.post(
        "/graphql",
        content=content,
        headers={"Authorization": f"Bearer {admin_key}", "content-type": content_type},
    )
    assert response.status_code == 400
    assert response.text


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ('after: "abc"', "after: 'abc' is not a cursor from this API (use an endCursor you were given)"),
        ('after: "SG91c2Vob2xkOjE="', "is not a cursor from this API"),  # a node id is not a cursor
        ("first: -1", "first must be zero or more (at most 500), got -1"),
        ('filter: {localityCode: "12"}', "filter.localityCode: '12' is not an administrative code"),
    ],
)
async def test_bad_connection_arguments_are_clear_errors(gql, admin_key, arguments, words):
    body = await gql(f"{{ households({arguments}) {{ totalCount }} }}", key=admin_key)
    assert body["data"] is None
    assert [e["path"] for e in body["errors"]] == [["households"]]
    assert words in body["errors"][0]["message"]
