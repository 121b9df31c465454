"""Fixtures: a fresh migrated database per test (SQLite by default, PostgreSQL when
SAFETYNET_TEST_DATABASE_URL is set), the runtime, an HTTP client against the app, and API keys."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from safetynet.app import create_app
from safetynet.identity import make_id_number
from safetynet.model import Role, Sex
from safetynet.principals import create_key, hash_key
from safetynet.runtime import Runtime
from safetynet.settings import Settings
from safetynet.store.db import driver_url
from safetynet.store.migrate import upgrade
from safetynet.store.models import ApiKey

POSTGRES_URL = os.environ.get("SAFETYNET_TEST_DATABASE_URL")


def _reset_postgres(url: str) -> None:
    engine = create_engine(driver_url(url, asynchronous=False))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def database_url(tmp_path) -> str:
    if POSTGRES_URL:
        _reset_postgres(POSTGRES_URL)
        return POSTGRES_URL
    return f"sqlite:///{tmp_path}/safetynet.db"


@pytest.fixture
def make_runtime(database_url) -> Iterator[Any]:
    """Start a runtime on the test database, optionally with extra plugins or disabled ones."""
    started: list[Runtime] = []

    def start(*, extra_plugins=(), **settings: Any) -> Runtime:
        runtime = Runtime.start(
            Settings(database_url=database_url, secret_key="test-secret", **settings), extra_plugins=extra_plugins
        )
        if not started:
            upgrade(runtime.database)
        runtime.sync_localities()
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.database.engine.dispose()


@pytest.fixture
def runtime(make_runtime) -> Runtime:
    return make_runtime()


@pytest.fixture
async def client(runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://test") as c:
        yield c
    await runtime.database.async_engine.dispose()


@pytest.fixture
def key(runtime):
    """``key(Role.CIVIL_AFFAIRS, locality_code="120101001")`` → a new API key string."""

    def make(role: Role = Role.ADMIN, **scope: Any) -> str:
        return runtime.database.run(lambda s: create_key(s, role, **scope))

    return make


@pytest.fixture
def admin_key(key) -> str:
    return key(Role.ADMIN)


class GraphQL:
    """Posts GraphQL over HTTP with a key; ``ok`` also asserts there were no errors."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def __call__(self, query: str, variables: dict | None = None, *, key: str | None = None) -> dict:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def ok(self, query: str, variables: dict | None = None, *, key: str) -> dict:
        body = await self(query, variables, key=key)
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture
def gql(client) -> GraphQL:
    return GraphQL(client)


@asynccontextmanager
async def graphql_for(runtime: Runtime) -> AsyncIterator[GraphQL]:
    """The ``gql`` helper on an app built from ``runtime`` (its own settings)."""
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield GraphQL(client)
    await runtime.database.async_engine.dispose()


def admin_of(runtime: Runtime) -> str:
    return runtime.database.run(lambda s: create_key(s, Role.ADMIN))


_sequence = iter(range(1, 10**6))


def key_id(runtime: Runtime, key: str) -> int:
    """The stored id of an API key (what the audit log records)."""
    return runtime.database.run(lambda s: s.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(key))))


def assert_foreign_keys_hold(runtime: Runtime) -> None:
    """On SQLite: every reference stored is to an existing row, and every pooled connection checks
    foreign keys (bulk writers turn the checks off for their own connection only)."""
    if runtime.database.backend != "sqlite":
        return
    connections = [runtime.database.engine.connect() for _ in range(5)]  # the idle pool, and more
    try:
        assert [c.exec_driver_sql("PRAGMA foreign_keys").scalar() for c in connections] == [1] * 5
        assert connections[0].exec_driver_sql("PRAGMA foreign_key_check").all() == []
    finally:
        for connection in connections:
            connection.close()


def person(
    relation: str = "HEAD", *, born: date = date(1980, 5, 1), sex: Sex = Sex.MALE, region: str = "120101", **facts: Any
) -> dict:
    """A MemberInput with a fresh valid identity number."""
    number = make_id_number(region, born, next(_sequence) % 500, sex)
    return {"name": facts.pop("name", "张伟"), "idNumber": number, "relation": relation, **facts}


def income(amount: str, kind: str = "WAGES") -> list[dict]:
    return [{"kind": kind, "monthlyAmount": amount}]


REGISTER = """
mutation($input: RegisterHouseholdInput!) {
  registerHousehold(input: $input) {
    household { id version localityCode members { id name idNumberMasked } }
    userErrors { field message code }
  }
}"""


async def register(gql: GraphQL, key: str, **household: Any) -> dict:
    """Register a household (defaults: urban, in a Tianjin township, one head) and return its payload."""
    household.setdefault("localityCode", "120101001")
    household.setdefault("residence", "URBAN")
    household.setdefault("members", [person()])
    data = await gql.ok(REGISTER, {"input": household}, key=key)
    payload = data["registerHousehold"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload["household"]
