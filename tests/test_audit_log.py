"""The audit log (审计日志): reads of a household's full record and of unmasked identity numbers are logged
with who, what, when and from where, in one insert per request; ``auditLog`` shows them to auditors and
admins only, filtered by household, member, key, action and time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import JSON, column, delete, event, insert, select, table, update

from conftest import key_id, person, register
from matching_support import SUBSCRIBE, events, open_socket, post, publish, subscribe, thread_server
from safetynet.model import Role
from safetynet.store.db import Database
from safetynet.store.migrate import upgrade
from safetynet.store.models import AuditEntry

FULL = "query($id: ID!) { household(id: $id) { id members { name } } }"
SHALLOW = "query($id: ID!) { household(id: $id) { id localityCode aidChain { id } } }"
PAGE = "{ households(first: 100) { edges { node { id members { name idNumber } } } } }"
LOG = """query($filter: AuditLogFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id at action subjectType subjectId householdId memberId client userAgent
      principal { keyId keyPrefix role localityCode department } } } } }"""
TOWNSHIP = "120101001"


def entries(runtime, action: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    return runtime.database.run(lambda s: list(s.scalars(query)))


@pytest.fixture
def civil(key):
    return key(Role.CIVIL_AFFAIRS, locality_code="120101")


@pytest.fixture
async def households(gql, admin_key, runtime) -> list[dict]:
    """Three households; the log starts empty (registering them showed their members to the admin)."""
    made = [
        await register(gql, admin_key, localityCode=TOWNSHIP, members=[person(), person("SPOUSE")])
        for _ in range(3)
    ]
    runtime.database.run(lambda s: s.execute(delete(AuditEntry)))
    return made


async def test_a_full_record_read_is_logged_with_who_what_when_and_where(
    gql, client, civil, households, runtime
):
    household = households[0]
    response = await client.post(
        "/graphql",
        json={"query": FULL, "variables": {"id": household["id"]}},
        headers={"Authorization": f"Bearer {civil}", "User-Agent": "county-desk/2.1"},
    )
    assert response.json()["data"]["household"]["members"]
    [entry] = entries(runtime)
    assert (entry.principal_id, entry.action, entry.subject_type) == (
        key_id(runtime, civil),
        "read_household",
        "Household",
    )
    assert entry.detail == {"household": int(entry.subject_id)}
    assert entry.user_agent == "county-desk/2.1"
    assert entry.client == "127.0.0.1"  # httpx's ASGI transport reports the loopback client
    assert abs(entry.at.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=1)

    # Reading it again in another request is another entry; fields other than the people are not logged.
    await gql.ok(FULL, {"id": household["id"]}, key=civil)
    await gql.ok(SHALLOW, {"id": household["id"]}, key=civil)
    assert len(entries(runtime, "read_household")) == 2


async def test_a_page_costs_one_audit_insert_with_an_entry_per_household_and_number(
    gql, admin_key, households, runtime
):
    inserts: list[tuple[str, int]] = []

    def count(_conn, _cursor, statement, parameters, _context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_LOG"):
            inserts.append((statement, len(parameters) if executemany else 1))

    engine = runtime.database.async_engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        page = await gql.ok(PAGE, key=admin_key)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    shown = [m["idNumber"] for e in page["households"]["edges"] for m in e["node"]["members"]]
    assert len(shown) == 6 and all(len(n) == 18 for n in shown)
    assert len(inserts) == 1, inserts  # one statement, however many households the page holds
    assert len(entries(runtime, "read_household")) == 3
    assert len(entries(runtime, "read_id_number")) == 6


async def test_masked_numbers_are_not_logged_as_number_reads(gql, civil, households, runtime):
    data = await gql.ok(
        "query($id: ID!) { household(id: $id) { members { idNumber idNumberMasked } } }",
        {"id": households[0]["id"]},
        key=civil,
    )
    assert all(m["idNumber"] is None for m in data["household"]["members"])
    assert entries(runtime, "read_id_number") == []


@pytest.mark.parametrize("role", [Role.ADMIN, Role.AUDITOR])
async def test_auditors_and_admins_read_the_log(gql, key, civil, households, runtime, role):
    reader = key(role)
    await gql.ok(FULL, {"id": households[0]["id"]}, key=civil)
    log = await gql.ok(
        LOG, {"filter": {"actions": ["read_household"], "keyId": key_id(runtime, civil)}}, key=reader
    )
    [edge] = log["auditLog"]["edges"]
    node = edge["node"]
    assert (node["action"], node["householdId"], node["subjectType"]) == (
        "read_household",
        households[0]["id"],
        "Household",
    )
    assert node["client"] == "127.0.0.1" and node["userAgent"].startswith("python-httpx/")
    assert node["principal"] == {
        "keyId": key_id(runtime, civil),
        "keyPrefix": civil[:10],
        "role": "CIVIL_AFFAIRS",
        "localityCode": "120101",
        "department": None,
    }
    assert civil not in str(log)  # the key itself is never shown


@pytest.mark.parametrize(
    "scope",
    [
        {"role": Role.CIVIL_AFFAIRS, "locality_code": "120101"},
        {"role": Role.DEPARTMENT, "department": "medical_security"},
        {"role": Role.PARTNER, "partner_code": "red_cross_310105"},
    ],
)
async def test_others_may_not_read_the_log(gql, key, scope):
    body = await gql(LOG, key=key(**scope))
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert "AUDITOR or ADMIN" in body["errors"][0]["message"]


async def test_without_a_key_the_log_is_refused(gql):
    body = await gql(LOG)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_the_log_filters_by_household_member_key_action_and_time(
    gql, key, admin_key, civil, households, runtime
):
    auditor = key(Role.AUDITOR)
    other = key(Role.CIVIL_AFFAIRS, locality_code=TOWNSHIP)
    first, second = households[0], households[1]
    await gql.ok(FULL, {"id": first["id"]}, key=civil)
    await gql.ok(FULL, {"id": second["id"]}, key=other)
    member = first["members"][0]["id"]
    await gql.ok(
        "query($id: ID!) { node(id: $id) { ... on Member { idNumber } } }", {"id": member}, key=admin_key
    )
    # Back-date the first read: the time filters must see it as yesterday's.
    yesterday = datetime.now(UTC) - timedelta(days=1)
    civil_id = key_id(runtime, civil)
    runtime.database.run(
        lambda s: s.execute(
            update(AuditEntry).where(AuditEntry.principal_id == civil_id).values(at=yesterday)
        )
    )

    async def ids(filter: dict) -> list[tuple[str, str | None]]:
        log = (await gql.ok(LOG, {"filter": filter}, key=auditor))["auditLog"]
        assert log["totalCount"] == len(log["edges"])
        return [(e["node"]["action"], e["node"]["householdId"]) for e in log["edges"]]

    reads = {"actions": ["read_household", "read_id_number"]}
    assert await ids({**reads, "householdId": first["id"]}) == [
        ("read_id_number", first["id"]),
        ("read_household", first["id"]),  # node(Member): the member's household record
        ("read_household", first["id"]),
    ]
    assert await ids({**reads, "householdId": second["id"]}) == [("read_household", second["id"])]
    assert await ids({"memberId": member}) == [("read_id_number", first["id"])]
    assert await ids({**reads, "keyId": civil_id}) == [("read_household", first["id"])]
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert await ids({**reads, "until": today.isoformat()}) == [("read_household", first["id"])]
    assert ("read_household", first["id"]) not in await ids(
        {**reads, "keyId": civil_id, "since": today.isoformat()}
    )
    body = await gql(LOG, {"filter": {"householdId": member}}, key=auditor)
    assert "is not the id of a Household" in body["errors"][0]["message"]


async def test_the_log_pages_newest_first(gql, key, civil, households, runtime):
    auditor = key(Role.AUDITOR)
    for household in households:
        await gql.ok(FULL, {"id": household["id"]}, key=civil)
    seen, after = [], None
    while True:
        log = (
            await gql.ok(
                LOG, {"filter": {"actions": ["read_household"]}, "first": 2, "after": after}, key=auditor
            )
        )["auditLog"]
        assert log["totalCount"] == 3
        seen += [e["node"]["householdId"] for e in log["edges"]]
        if not log["pageInfo"]["hasNextPage"]:
            break
        after = log["pageInfo"]["endCursor"]
    assert seen == [h["id"] for h in reversed(households)]


def test_a_subscriber_reading_households_is_logged_before_the_event_is_sent(runtime, key, admin_key):
    civil = key(Role.CIVIL_AFFAIRS, locality_code="120101")
    query = SUBSCRIBE.replace("claimedBy { code } }", "claimedBy { code } household { members { name } } }")
    with thread_server(runtime) as server:
        household = post(
            server,
            "mutation($input: RegisterHouseholdInput!) { registerHousehold(input: $input) { household { id } } }",
            {"input": {"localityCode": TOWNSHIP, "residence": "URBAN", "members": [person()]}},
            key=admin_key,
        )["registerHousehold"]["household"]
        cursor = post(server, "{ needEventCursor }", key=civil)["needEventCursor"]
        with open_socket(server, civil) as ws:
            subscribe(ws, "s", {"after": cursor}, query=query)
            publish(server, admin_key, household["id"])
            [heard] = events(ws, 1)
            assert heard["listing"]["household"]["members"]
            logged = [
                e for e in entries(runtime, "read_household") if e.principal_id == key_id(runtime, civil)
            ]
    assert len(logged) == 1 and logged[0].client == "127.0.0.1"


def test_migrating_moves_the_user_agent_of_earlier_entries_out_of_detail_into_its_column(database_url):
    database = Database(database_url)
    upgrade(database, "0007_governance")  # entries written before 0008 kept the user agent in detail
    before = table(
        "audit_log", column("action"), column("subject_type"), column("subject_id"), column("detail", JSON)
    )
    details = [
        {"household": 1, "user_agent": "county-desk/2.1"},
        {"accepted": 3, "duplicates": 0},
    ]
    database.run(
        lambda s: s.execute(
            insert(before),
            [{"action": "a", "subject_type": "Household", "subject_id": "1", "detail": d} for d in details],
        )
    )
    upgrade(database)
    query = select(AuditEntry.user_agent, AuditEntry.detail).order_by(AuditEntry.id)
    moved = database.run(lambda s: [tuple(row) for row in s.execute(query)])
    database.engine.dispose()
    assert moved == [("county-desk/2.1", {"household": 1}), (None, {"accepted": 3, "duplicates": 0})]
