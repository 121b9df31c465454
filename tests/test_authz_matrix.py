"""The authorisation matrix (issue 6), generated from the built schema: every Query, Mutation and
Subscription field, for every role, through the real app (a uvicorn server, HTTP and graphql-transport-ws).

Each field is called with a selection generated from the schema (every field without required arguments,
nested up to ``MAX_DEPTH`` with a type at most ``MAX_REPEAT`` times on one path), so nested paths such as
``Household.warnings``, ``Warning.household.members`` or ``NeedListing.household`` are covered without
listing them. Allowed reads must return nothing the role does not see (``authz_matrix.SEES``): no global
id of an object outside it, and no name, address or identity number of a household outside it; only
admins ever get a full identity number. Refused calls get FORBIDDEN (no key: UNAUTHENTICATED) and write
nothing. A field without an entry in ``authz_matrix`` fails ``test_every_field_has_an_entry``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    is_required_argument,
)
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import authz_matrix as matrix
from authz_matrix import ADMIN, NO_KEY, ROLES
from conftest import person
from matching_support import PROTOCOL, open_socket, receive, thread_server
from safetynet.api.ids import decode, encode
from safetynet.api.schema import build_schema
from safetynet.model import Role, WarningLevel, WebhookStatus
from safetynet.monitoring import warning_feed
from safetynet.principals import create_key
from safetynet.store.models import Base, PartnerWebhook, Warning, WarningRoute

MAX_DEPTH = 8
MAX_REPEAT = 2
#: Objects scoped by locality, department or partner: their global ids must stay inside a role's view.
SCOPED_KINDS = {
    *("Household", "Member", "AidRecord", "Warning", "Visit", "NeedListing", "Webhook", "Application"),
    *("NearRelative", "DishonestyRecord"),
}
#: Tables written in the background (webhook deliveries) or by every request (the audit log): left out
#: of the "a refused call writes nothing" comparison; partner_webhooks is compared by its ids only.
UNCOMPARED_TABLES = {"audit_log", "webhook_deliveries", "api_keys"}
IDS_ONLY_TABLES = {"partner_webhooks"}
#: A rule for a world warning routed to a department (one open warning per household and rule), and
#: for a copy of it raised while subscriptions listen.
RULE_FOR = {"medical_security": "medical_out_of_pocket", "education": "policy_not_delivered"}
COPY_RULE_FOR = {"medical_security": "severe_disability", "education": "member_unemployed"}


# -- documents generated from the schema ------------------------------------------------------------


def selection(
    schema: GraphQLSchema, type_: GraphQLOutputType, path: tuple[str, ...], alias: bool = False
) -> str:
    """Every field of ``type_`` without required arguments, nested (a type at most MAX_REPEAT times per
    path). ``alias``: prefix the fields with the type name (fragments of an interface, whose types may
    have fields of one name and different types)."""
    named = get_named_type(type_)
    if is_leaf_type(named):
        return ""
    if len(path) > MAX_DEPTH:
        return "{ __typename }"
    if is_abstract_type(named):
        fragments = [
            f"... on {t.name} {selection(schema, t, (*path, t.name), alias=True)}"
            for t in schema.get_possible_types(named)  # type: ignore[arg-type]
        ]
        return "{ __typename " + " ".join(fragments) + " }"
    assert isinstance(named, GraphQLObjectType)
    fields = ["__typename"]
    for name, field in named.fields.items():
        if any(is_required_argument(a) for a in field.args.values()):
            continue
        child = get_named_type(field.type)
        shown = f"{named.name}_{name}: {name}" if alias else name
        if is_leaf_type(child):
            fields.append(shown)
        elif path.count(child.name) < MAX_REPEAT:
            fields.append(f"{shown} {selection(schema, field.type, (*path, child.name))}")
    return "{ " + " ".join(fields) + " }"


def document(schema: GraphQLSchema, operation: str, name: str, arguments: dict[str, Any]) -> str:
    root = {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }
    field = root[operation].fields[name]  # type: ignore[union-attr]
    missing = [a for a, arg in field.args.items() if is_required_argument(arg) and a not in arguments]
    assert not missing, (
        f"{operation} {name}: the matrix entry gives no value for required argument(s) {missing}"
    )
    declared = ", ".join(f"${a}: {field.args[a].type}" for a in arguments)
    passed = ", ".join(f"{a}: ${a}" for a in arguments)
    head = f"{operation}({declared})" if arguments else operation
    call = f"{name}({passed})" if arguments else name
    return f"{head} {{ {call} {selection(schema, field.type, (get_named_type(field.type).name,))} }}"


def node_kinds(schema: GraphQLSchema) -> set[str]:
    """The types ``Query.node`` must fetch: every implementation of ``Node``."""
    return {t.name for t in schema.get_possible_types(schema.get_type("Node"))}  # type: ignore[arg-type]


def root_fields(schema: GraphQLSchema) -> dict[str, set[str]]:
    roots = {
        "Query": schema.query_type,
        "Mutation": schema.mutation_type,
        "Subscription": schema.subscription_type,
    }
    return {kind: set(root.fields) if root else set() for kind, root in roots.items()}


# -- the world ---------------------------------------------------------------------------------------


class World:
    """The test data of ``authz_matrix`` in a running server, the keys of every role, and fresh targets."""

    def __init__(self, server: str, runtime: Any) -> None:
        self.server = server
        self.runtime = runtime
        self.http = httpx.Client(base_url=f"http://{server}", timeout=120)
        self.schema = build_schema(runtime)._schema
        self.keys = {role: self._key(scope) for role, scope in matrix.KEYS.items()}
        self.ids: dict[str, str] = {}
        self.members: dict[str, str] = {}  # member label "HA.0" → global id
        self.copies: dict[str, str] = {}  # label of an object made like a world object → that object's label
        self.secrets: dict[str, set[str]] = {}  # household label → its names, address and numbers
        self.id_numbers: set[str] = set()
        self._fresh = 0

    def _key(self, scope: dict[str, Any] | None) -> str | None:
        if scope is None:
            return None
        options = {k: v for k, v in scope.items() if k != "role"}
        return self.runtime.database.run(lambda s: create_key(s, Role[scope["role"]], **options))

    # calls

    def call(self, query: str, variables: dict[str, Any] | None = None, role: str = ADMIN) -> dict[str, Any]:
        key = self.keys[role]
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        response = self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    def ok(self, query: str, variables: dict[str, Any] | None = None, role: str = ADMIN) -> dict[str, Any]:
        body = self.call(query, variables, role)
        assert "errors" not in body, body["errors"]
        payload = next(iter(body["data"].values()))
        assert not (isinstance(payload, dict) and payload.get("userErrors")), payload
        return payload

    # what each role sees

    def id(self, label: str) -> str:
        return self.ids[label]

    def sees(self, role: str) -> set[str]:
        """Labels the role sees: its entry in SEES, the members of its households, copies of what it sees."""
        seen = set(matrix.SEES[role])
        seen |= {m for m in self.members if m.split(".")[0] in seen}
        seen |= {c for c, original in self.copies.items() if original in seen}
        return seen

    def visible_ids(self, role: str) -> set[str]:
        labelled = {**self.ids, **self.members}
        return {labelled[label] for label in self.sees(role)}

    def ids_of(self, kind: str) -> dict[str, str]:
        """World objects (including members) of a kind, by label."""
        labelled = {**self.ids, **self.members}
        return {label: i for label, i in labelled.items() if decode(i)[0] == kind}  # type: ignore[index]

    # building

    def build(self) -> None:
        for label, code in matrix.HOUSEHOLDS.items():
            self.ids[label] = self.register(code, label)
        for label, (household, provider, aid_type) in matrix.AID.items():
            self.ids[label] = self.grant(self.ids[household], aid_type, provider)
        for label, (household, departments) in matrix.WARNINGS.items():
            self.ids[label] = self.add_warning(self.ids[household], departments)
        for label, warning in matrix.VISITS.items():
            visit = self.ok(VISIT, {"input": visit_input(self.ids[warning], self.now())})
            self.ids[label] = visit["visit"]["id"]
        for label, (household, need_type) in matrix.LISTINGS.items():
            self.ids[label] = self.publish(self.ids[household], need_type)
        for label, partner in matrix.WEBHOOKS.items():
            self.ids[label] = self.webhook(partner)
        for label, (household, aid_types) in matrix.APPLICATIONS.items():
            self.ids[label] = self.apply(self.ids[household], aid_types)
        for label in matrix.NEAR_RELATIVES:
            self.ids[label] = self.register_near_relative(ADMIN, label)
        for label in matrix.DISHONESTY:
            self.ids[label] = self.record_dishonesty(ADMIN, label)

    def register(self, code: str, label: str | None = None) -> str:
        self._fresh += 1
        tag = label or f"F{self._fresh}"
        born = date(1950, 1, 1) + timedelta(days=37 * self._fresh)
        members = [
            person(name=f"{tag}户主", born=born, region=code[:6]),
            person("SPOUSE", name=f"{tag}配偶", born=born + timedelta(days=400), region=code[:6]),
        ]
        address = f"{tag}号院"
        payload = self.ok(
            REGISTER,
            {"input": {"localityCode": code, "residence": "RURAL", "address": address, "members": members}},
        )
        household = payload["household"]
        numbers = {m["idNumber"] for m in members}
        self.id_numbers |= numbers
        if label:
            for i, member in enumerate(household["members"]):
                self.members[f"{label}.{i}"] = member["id"]
            masked = {m["idNumberMasked"] for m in household["members"]}
            self.secrets[label] = {address, *(m["name"] for m in members), *numbers, *masked}
        return household["id"]

    def grant(self, household: str, aid_type: str, provider: str) -> str:
        self._fresh += 1
        started = (date(2024, 1, 1) + timedelta(days=self._fresh)).isoformat()
        variables = {
            "input": {
                "householdId": household,
                "aidTypeCode": aid_type,
                "provider": provider,
                "startedOn": started,
                "monthlyAmount": "300.00",
            }
        }
        return self.ok(GRANT, variables)["aidRecord"]["id"]

    def add_warning(self, household: str, departments: tuple[str, ...], rule: str | None = None) -> str:
        """A warning as the sweep would raise it, routed to ``departments`` (written to the store directly:
        which rules fire is not what this test is about)."""
        number = decode(household)[1]  # type: ignore[index]
        now = datetime.now(UTC)

        def work(session: Any) -> int:
            row = Warning(
                household_id=number,
                rule=rule or RULE_FOR[departments[0]],
                level=WarningLevel.YELLOW,
                raised_at=now - timedelta(hours=2),
                visit_due_by=now + timedelta(days=7),
                evidence=[],
                routes=[WarningRoute(department=d) for d in departments],
            )
            session.add(row)
            session.flush()
            return row.id

        return encode("Warning", self.runtime.database.run(work))

    def publish(self, household: str, need_type: str) -> str:
        variables = {
            "input": {
                "householdId": household,
                "needType": need_type,
                "summary": "需要帮助",
                "urgency": "HIGH",
            }
        }
        return self.ok(PUBLISH, variables)["needListing"]["id"]

    def apply(self, household: str, aid_types: tuple[str, ...]) -> str:
        variables = {"input": {"householdId": household, "aidTypeCodes": list(aid_types), "by": "窗口"}}
        return self.ok(APPLY, variables)["application"]["id"]

    def near_relative_input(self, role: str, label: str | None = None) -> dict[str, Any]:
        code = matrix.NEAR_RELATIVES[label] if label else matrix.HOME.get(role, matrix.DEFAULT_HOME)
        tag = label or f"F{self._next()}"
        return {
            "idNumber": self._person_number(code),
            "relativeName": f"{tag}亲属",
            "kinship": "SIBLING",
            "staffName": f"{tag}干部",
            "staffPost": "民政所工作人员",
            "localityCode": code,
        }

    def register_near_relative(self, role: str, label: str | None = None) -> str:
        data = self.near_relative_input(role, label)
        if label:
            self._secret(label, data["idNumber"], data["relativeName"], data["staffName"])
        return self.ok(REGISTER_NEAR_RELATIVE, {"input": data})["nearRelative"]["id"]

    def dishonesty_input(self, role: str, label: str | None = None) -> dict[str, Any]:
        code = matrix.DISHONESTY[label] if label else matrix.HOME.get(role, matrix.DEFAULT_HOME)
        return {
            "idNumber": self._person_number(code),
            "personName": f"{label or f'F{self._next()}'}失信人",
            "facts": "隐瞒工资收入",
            "amountToRecover": "1200.00",
            "decidedOn": "2025-01-10",
            "decidingUnit": "甘州区民政局",
            "localityCode": code,
        }

    def record_dishonesty(self, role: str, label: str | None = None) -> str:
        data = self.dishonesty_input(role, label)
        if label:
            self._secret(label, data["idNumber"], data["personName"])
        return self.ok(RECORD_DISHONESTY, {"input": data})["dishonestyRecord"]["id"]

    def _next(self) -> int:
        self._fresh += 1
        return self._fresh

    def _person_number(self, code: str) -> str:
        number = person(born=date(1970, 1, 1) + timedelta(days=43 * self._next()), region=code[:6])[
            "idNumber"
        ]
        self.id_numbers.add(number)
        return number

    def _secret(self, label: str, number: str, *names: str) -> None:
        self.secrets[label] = {number, number[:6] + "*" * 8 + number[-4:], *names}

    def webhook(self, partner: str) -> str:
        variables = {"input": {"url": "http://127.0.0.1:9/hook", "partnerCode": partner}}
        return self.ok(REGISTER_WEBHOOK, variables)["webhook"]["id"]

    @staticmethod
    def now() -> str:
        return datetime.now(UTC).isoformat()

    # fresh targets for mutations, in the role's area

    def household_input(self, role: str) -> dict[str, Any]:
        code = matrix.HOME.get(role, matrix.DEFAULT_HOME)
        self._fresh += 1
        born = date(1960, 1, 1) + timedelta(days=41 * self._fresh)
        return {"localityCode": code, "residence": "URBAN", "members": [person(born=born, region=code[:6])]}

    def fresh_household(self, role: str) -> str:
        """A new household the role may see (for the department: one it gave aid to)."""
        household = self.register(matrix.HOME.get(role, matrix.DEFAULT_HOME))
        if role == matrix.DEPARTMENT:
            self.grant(household, "medical", matrix.DEPARTMENT_CODE)
        return household

    def fresh_aid(self, role: str) -> str:
        provider = matrix.DEPARTMENT_CODE if role == matrix.DEPARTMENT else "civil_affairs"
        return self.grant(self.register(matrix.HOME.get(role, matrix.DEFAULT_HOME)), "medical", provider)

    def fresh_warning(self, role: str) -> str:
        return self.add_warning(
            self.register(matrix.HOME.get(role, matrix.DEFAULT_HOME)), (matrix.DEPARTMENT_CODE,)
        )

    def fresh_application(self, role: str, done: int = 0) -> str:
        """A new dibao application in the role's area, taken through the first ``done`` workflow steps."""
        application = self.apply(self.fresh_household(role), ("dibao",))
        for step, fields in list(matrix.APPLICATION_STEPS.items())[:done]:
            kind = self.schema.mutation_type.fields[step].args["input"].type  # type: ignore[union-attr]
            query = (
                f"mutation($input: {kind}) {{ {step}(input: $input) {{ userErrors {{ code message }} }} }}"
            )
            self.ok(query, {"input": {"applicationId": application, "by": "赵六", **fields}})
        return application

    def fresh_advance(self, role: str) -> str:
        """A new small advance (小金额先行救助) in the role's area, its paperwork to complete."""
        variables = {
            "input": {
                "householdId": self.fresh_household(role),
                "amount": "300.00",
                "by": "王五",
                "note": "火灾",
            }
        }
        return self.ok(GRANT_ADVANCE, variables)["application"]["id"]

    def fresh_near_relative(self, role: str) -> str:
        return self.register_near_relative(role)

    def fresh_dishonesty(self, role: str) -> str:
        return self.record_dishonesty(role)

    def fresh_listing(self, role: str) -> str:
        return self.publish(self.register(matrix.HOME.get(role, matrix.DEFAULT_HOME)), "medical")

    def partner_listing(self, *, claimed: bool = False) -> str:
        """A new listing the partner may take (its need type, in its township), claimed by it or open."""
        listing = self.publish(self.register(matrix.DEFAULT_HOME), "medical")
        if claimed:
            self.ok(CLAIM, {"id": listing}, role=matrix.PARTNER)
        return listing

    def fresh_webhook(self, *, paused: bool = False) -> str:
        webhook = self.webhook(matrix.PARTNER_CODE)
        if paused:
            number = decode(webhook)[1]  # type: ignore[index]

            def pause(session: Any) -> None:
                row = session.get_one(PartnerWebhook, number)
                row.status = WebhookStatus.PAUSED
                row.paused_at = datetime.now(UTC)
                row.pause_reason = "test"

            self.runtime.database.run(pause)
        return webhook

    def need_cursor(self) -> str:
        return self.ok("{ needEventCursor }")

    def raise_warnings(self) -> list[str]:
        """A copy of every world warning (same household and routes, another rule), announced to the boards."""
        copies = []
        for label, (household, departments) in matrix.WARNINGS.items():
            copy = f"{label}'{len(self.copies)}"
            self.ids[copy] = self.add_warning(self.ids[household], departments, COPY_RULE_FOR[departments[0]])
            self.copies[copy] = label
            copies.append(copy)
        warning_feed.announce(self.runtime, [decode(self.ids[c])[1] for c in copies])  # type: ignore[index]
        return copies

    def wait_for_warning_boards(self, count: int) -> None:
        """Until the server's warning feed holds ``count`` subscriptions (subscribing is asynchronous)."""
        deadline = time.monotonic() + 15
        while (feed := self.runtime.services.get(warning_feed.KEY)) is None or feed.subscribers < count:
            assert time.monotonic() < deadline, "the warning subscriptions did not start in 15 s"
            time.sleep(0.02)

    def publish_listings(self) -> list[str]:
        """A copy of every world listing (same household and need type), published now."""
        copies = []
        for label, (household, need_type) in matrix.LISTINGS.items():
            copy = f"{label}'{len(self.copies)}"
            self.ids[copy] = self.publish(self.ids[household], need_type)
            self.copies[copy] = label
            copies.append(copy)
        return copies

    # checks

    def leaks(self, role: str, body: Any, *, ids: bool = True) -> list[str]:
        """What ``body`` shows that ``role`` may not see (``ids``: check global ids too, for bodies about
        world objects only)."""
        found = []
        if ids and role not in matrix.OVERSIGHT:
            visible = self.visible_ids(role)
            for value in strings(body):
                decoded = decode(value)
                if decoded and decoded[0] in SCOPED_KINDS and value not in visible:
                    found.append(f"{decoded[0]} {decoded[1]} ({value})")
        text = json.dumps(body, ensure_ascii=False)
        seen = self.sees(role)
        for label, secrets in self.secrets.items():
            if label not in seen:
                found += [f"{label}'s {s!r}" for s in sorted(secrets) if s in text]
        if role != ADMIN:
            found += [f"the full identity number {n}" for n in sorted(self.id_numbers) if n in text]
        return found

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table (see UNCOMPARED_TABLES), to show that a refused call wrote nothing."""

        def work(session: Any) -> dict[str, list[tuple[Any, ...]]]:
            out = {}
            for table in Base.metadata.sorted_tables:
                if table.name in UNCOMPARED_TABLES:
                    continue
                columns = table.primary_key.columns if table.name in IDS_ONLY_TABLES else table.columns
                out[table.name] = sorted(tuple(map(repr, row)) for row in session.execute(select(*columns)))
            return out

        return self.runtime.database.run(work)


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def visit_input(warning: str, when: str) -> dict[str, Any]:
    return {"warningId": warning, "visitor": "张三", "visitedAt": when, "findings": "入户核查"}


REGISTER = """mutation($input: RegisterHouseholdInput!) { registerHousehold(input: $input) {
  household { id members { id idNumberMasked } } userErrors { field message code } } }"""
GRANT = """mutation($input: GrantAidInput!) { grantAid(input: $input) {
  aidRecord { id } userErrors { field message code } } }"""
VISIT = """mutation($input: VisitInput!) { recordVisit(input: $input) {
  visit { id } userErrors { field message code } } }"""
PUBLISH = """mutation($input: PublishNeedInput!) { publishNeed(input: $input) {
  needListing { id } userErrors { field message code } } }"""
CLAIM = (
    """mutation($id: ID!) { claimNeed(id: $id) { needListing { id } userErrors { field message code } } }"""
)
APPLY = """mutation($input: ApplyForAidInput!) { applyForAid(input: $input) {
  application { id } userErrors { field message code } } }"""
GRANT_ADVANCE = """mutation($input: GrantAdvanceInput!) { grantAdvance(input: $input) {
  application { id } userErrors { field message code } } }"""
REGISTER_NEAR_RELATIVE = """mutation($input: RegisterNearRelativeInput!) { registerNearRelative(input: $input) {
  nearRelative { id } userErrors { field message code } } }"""
RECORD_DISHONESTY = """mutation($input: RecordDishonestyInput!) { recordDishonesty(input: $input) {
  dishonestyRecord { id } userErrors { field message code } } }"""
REGISTER_WEBHOOK = """mutation($input: RegisterWebhookInput!) { registerWebhook(input: $input) {
  webhook { id } userErrors { field message code } } }"""


@pytest.fixture
def runtime(make_runtime, tmp_path, monkeypatch):
    charities = tmp_path / "charities.toml"
    charities.write_text(matrix.CHARITIES, encoding="utf-8")
    monkeypatch.setenv("SAFETYNET_CHARITIES", str(charities))
    return make_runtime()


@pytest.fixture
def world(runtime) -> Iterator[World]:
    with thread_server(runtime) as server:
        world = World(server, runtime)
        world.build()
        yield world
        world.http.close()


# -- the tests -------------------------------------------------------------------------------------


def test_every_field_has_an_entry(runtime):
    """A new field fails here until it has an entry; an entry for a field that is gone fails too."""
    fields = root_fields(build_schema(runtime)._schema)
    entries = {"Query": matrix.QUERIES, "Mutation": matrix.MUTATIONS, "Subscription": matrix.SUBSCRIPTIONS}
    table = {"Query": "QUERIES", "Mutation": "MUTATIONS", "Subscription": "SUBSCRIPTIONS"}
    problems = []
    for kind, names in fields.items():
        problems += [
            f"{kind}.{name} has no entry: add one to {table[kind]} in tests/authz_matrix.py saying which roles "
            f"may call it (and its arguments)"
            for name in sorted(names - set(entries[kind]))
        ]
        problems += [
            f"{table[kind]}['{name}'] in tests/authz_matrix.py is not in the schema: remove it"
            for name in sorted(set(entries[kind]) - names)
        ]
    assert not problems, "\n".join(problems)


def test_the_matrix_keeps_the_standing_rules():
    """Auditors change nothing; without a key only ``health`` answers; partners never write households."""
    assert all(matrix.AUDITOR not in entry.allowed for entry in matrix.MUTATIONS.values())
    assert [name for name, entry in matrix.QUERIES.items() if NO_KEY in entry.allowed] == ["health"]
    assert all(
        NO_KEY not in entry.allowed for entry in (*matrix.MUTATIONS.values(), *matrix.SUBSCRIPTIONS.values())
    )
    assert all(matrix.AUDITOR in e.allowed for name, e in matrix.QUERIES.items() if name != "health")


def _refusal(role: str, body: dict[str, Any]) -> str | None:
    """None when ``body`` is a refusal fit for the role, else what is wrong."""
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
    wanted = "UNAUTHENTICATED" if role == NO_KEY else "FORBIDDEN"
    if wanted not in codes:
        return f"expected a {wanted} error, got {json.dumps(body, ensure_ascii=False)[:400]}"
    data = body.get("data")
    if data and any(v is not None for v in data.values()):
        return f"refused, but data came back: {json.dumps(data, ensure_ascii=False)[:400]}"
    return None


def _returned_ids(value: Any) -> set[str]:
    """The ids of the objects a root field returned: a connection's nodes, a list's items, or one object."""
    if value is None:
        return set()
    if isinstance(value, dict) and "edges" in value:
        return {edge["node"]["id"] for edge in value["edges"]}
    if isinstance(value, list):
        return {item["id"] for item in value}
    return {value["id"]}


def test_reads(world):
    """Every Query field for every role: refused or allowed as the matrix says, and nothing outside the
    role's view comes back; by-id fields return an object exactly when the role sees it."""
    problems = []
    for name, entry in sorted(matrix.QUERIES.items()):
        for role in ROLES:
            where = f"Query.{name} as {role}"
            arguments = entry.args(world, role)
            query = document(world.schema, "query", name, arguments)
            if role not in entry.allowed:
                body = world.call(query, arguments, role)
                if (problem := _refusal(role, body)) is not None:
                    problems.append(f"{where}: {problem}")
                continue
            if entry.probe:
                kinds = node_kinds(world.schema) if entry.probe == ("*",) else set(entry.probe)
                seen = world.visible_ids(role)
                for kind in sorted(kinds):
                    for label, global_id in sorted(world.ids_of(kind).items()):
                        body = world.call(query, {"id": global_id}, role)
                        problems += [f"{where}({label}): error {e}" for e in body.get("errors", [])[:1]]
                        got = (body.get("data") or {}).get(name)
                        if (got is not None) != (global_id in seen):
                            problems.append(
                                f"{where}({label}): expected {'it' if global_id in seen else 'null'}, "
                                f"got {'it' if got else 'null'}"
                            )
                        problems += [f"{where}({label}) shows {leak}" for leak in world.leaks(role, body)]
                continue
            body = world.call(query, arguments, role)
            problems += [f"{where}: error {e}" for e in body.get("errors", [])[:1]]
            problems += [f"{where} shows {leak}" for leak in world.leaks(role, body)]
            if entry.lists and "data" in body and body["data"]:
                expected = {i for label, i in world.ids_of(entry.lists).items() if label in world.sees(role)}
                got = _returned_ids(body["data"][name])
                if got != expected:
                    problems.append(
                        f"{where}: expected {len(expected)} {entry.lists}(s), got {len(got)}: "
                        f"missing {sorted(expected - got)}, extra {sorted(got - expected)}"
                    )
    assert not problems, "\n".join(problems)


def _payload(body: dict[str, Any], name: str) -> dict[str, Any]:
    return (body.get("data") or {}).get(name) or {}


def test_writes(world):
    """Every Mutation field for every role: refused roles get FORBIDDEN (no key: UNAUTHENTICATED) and
    nothing is written; allowed roles, on a target in their area, are accepted without any error."""
    problems = []
    for name, entry in sorted(matrix.MUTATIONS.items()):
        refused = [r for r in ROLES if r not in entry.allowed]
        for role in [*refused, *sorted(entry.allowed)]:
            where = f"Mutation.{name} as {role}"
            arguments = entry.args(world, role)
            query = document(world.schema, "mutation", name, arguments)
            if role in entry.allowed:
                body = world.call(query, arguments, role)
                problems += [f"{where}: error {e}" for e in body.get("errors", [])[:1]]
                codes = [e["code"] for e in _payload(body, name).get("userErrors", [])]
                if codes:  # the matrix's arguments are valid for the role: anything else is a refusal
                    problems.append(f"{where}: not accepted: {_payload(body, name)['userErrors']}")
                problems += [f"{where} shows {leak}" for leak in world.leaks(role, body, ids=False)]
                continue
            before = world.snapshot()
            body = world.call(query, arguments, role)
            if role == NO_KEY:
                problem = _refusal(role, body)
            else:
                errors = _payload(body, name).get("userErrors", [])
                codes = [e["code"] for e in errors]
                problem = (
                    None
                    if "errors" not in body and codes == ["FORBIDDEN"]
                    else (
                        f"expected the userError FORBIDDEN, got {json.dumps(body, ensure_ascii=False)[:400]}"
                    )
                )
            if problem:
                problems.append(f"{where}: {problem}")
            after = world.snapshot()
            changed = sorted(t for t in before if before[t] != after.get(t))
            if changed:
                problems.append(f"{where}: refused, but it wrote to {changed}")
    assert not problems, "\n".join(problems)


def test_subscriptions(world):
    """Every Subscription field for every role over graphql-transport-ws: refused roles get an error (no
    key: the connection is refused); subscribers get exactly the events about what they see."""
    problems = []
    for name, entry in sorted(matrix.SUBSCRIPTIONS.items()):
        sockets = {}
        for role in ROLES:
            where = f"Subscription.{name} as {role}"
            if role == NO_KEY:
                problem = _refused_connection(world.server)
                if problem:
                    problems.append(f"{where}: {problem}")
                continue
            arguments = entry.args(world, role)
            ws = open_socket(world.server, world.keys[role])
            message = {
                "id": role,
                "type": "subscribe",
                "payload": {
                    "query": document(world.schema, "subscription", name, arguments),
                    "variables": arguments,
                },
            }
            ws.send(json.dumps(message))
            sockets[role] = ws
        try:
            for role, ws in sockets.items():
                if role not in entry.allowed:
                    reply = receive(ws)
                    errors = (
                        reply["payload"] if reply["type"] == "error" else reply["payload"].get("errors", [])
                    )
                    codes = [e.get("extensions", {}).get("code") for e in errors]
                    if "FORBIDDEN" not in codes:
                        problems.append(f"Subscription.{name} as {role}: expected FORBIDDEN, got {reply}")
            if entry.ready is not None:
                entry.ready(world, len([r for r in sockets if r in entry.allowed]))
            made = entry.trigger(world)
            for role, ws in sockets.items():
                if role in entry.allowed:
                    where = f"Subscription.{name} as {role}"
                    expected = {world.id(label) for label in made if label in world.sees(role)}
                    problems += _check_stream(world, role, ws, name, entry.kind, expected, where)
        finally:
            for ws in sockets.values():
                ws.close()
    assert not problems, "\n".join(problems)


def _check_stream(
    world: World, role: str, ws: Any, name: str, kind: str, expected: set[str], where: str
) -> list[str]:
    """Receive until every expected event came and the socket stays quiet: exactly ``expected`` objects
    (an object may come more than once, as it changes), each within the role's view."""
    problems, got = [], set()
    deadline = time.monotonic() + 15
    while True:
        waiting = not expected <= got
        try:
            reply = receive(ws, max(deadline - time.monotonic(), 0.1) if waiting else 1.5)
        except TimeoutError:
            break
        if reply["type"] != "next" or reply["payload"].get("errors"):
            return [*problems, f"{where}: {reply}"]
        problems += [f"{where} shows {leak}" for leak in world.leaks(role, reply["payload"])]
        got.add(_own_id(reply["payload"]["data"][name], kind))
    if got != expected:
        problems.append(f"{where}: expected {sorted(expected)}, got {sorted(got)}")
    return problems


def _own_id(event: Any, kind: str) -> str | None:
    """The id of the object an event is about: the shallowest global id of ``kind`` in it."""
    level = [event]
    while level:
        for value in level:
            if isinstance(value, str) and (decoded := decode(value)) and decoded[0] == kind:
                return value
        level = [
            child
            for value in level
            if isinstance(value, dict | list)
            for child in (value.values() if isinstance(value, dict) else value)
        ]
    return None


def _refused_connection(server: str) -> str | None:
    with connect(f"ws://{server}/graphql", subprotocols=[PROTOCOL], open_timeout=10) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        try:
            reply = ws.recv(timeout=10)
        except ConnectionClosed:
            return None
        return f"a connection without a key was accepted: {reply}"


def test_a_department_records_aid_as_itself_and_ends_only_its_own(world):
    """A department's feedback (部门救助反馈) is on the chain with the department as provider, whatever it
    asks; it may end that record, not civil affairs' dibao on the same household."""
    department = matrix.DEPARTMENT
    variables = {
        "input": {
            "householdId": world.id("HA"),  # seen through the warning routed to it
            "aidTypeCode": "medical.inpatient_relief",
            "provider": "civil_affairs",
            "startedOn": "2025-02-01",
            "oneOffAmount": "2600.00",
        }
    }
    record = world.ok(GRANT, variables, role=department)["aidRecord"]["id"]
    chain = world.ok(
        "query($id: ID!) { household(id: $id) { aidChain { id provider } } }",
        {"id": world.id("HA")},
        department,
    )
    assert {"id": record, "provider": matrix.DEPARTMENT_CODE} in chain["aidChain"]
    end = """mutation($id: ID!) { endAid(id: $id, endedOn: "2025-06-30", reason: "出院") {
      aidRecord { id endedOn } userErrors { code message } } }"""
    assert world.ok(end, {"id": record}, department)["aidRecord"] == {"id": record, "endedOn": "2025-06-30"}
    refused = world.call(end, {"id": world.id("RA_dibao")}, department)["data"]["endAid"]
    assert [e["code"] for e in refused["userErrors"]] == ["FORBIDDEN"]
    assert "only the aid it gave" in refused["userErrors"][0]["message"]
