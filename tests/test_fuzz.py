"""Fuzzing (issue 6, item 7): schemathesis generates queries and mutations for every root field of the
schema the server builds, and posts them with an admin key to a real server over a migrated database with
a few households, in development and in production mode. No answer may be a 5xx, break the GraphQL
response shape, report a masked unexpected error (INTERNAL_SERVER_ERROR) or a null in a non-null field.

``SAFETYNET_FUZZ_EXAMPLES`` (default 8) sets the examples per operation; examples are derandomised, so
a run is repeatable (raise the number to explore further).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import graphql
import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.graphql import nodes
from sqlalchemy import text

from conftest import REGISTER, GraphQL, person, register
from matching_support import thread_server
from safetynet.api.schema import build_schema
from safetynet.model import Role
from safetynet.principals import create_key

EXAMPLES = int(os.environ.get("SAFETYNET_FUZZ_EXAMPLES", "8"))
NON_NULL_BROKEN = "Cannot return null for non-nullable field"
# Keys of department records (API.md, "Department records"), so that JSON objects look like records.
RECORD_FIELDS = ("recordId", "idNumber", "date", "event", "monthlyWage", "amount", "kind", "level", "note")


def json_node(value: Any) -> graphql.ValueNode:
    """A JSON value written as a GraphQL literal."""
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, list):
        return nodes.List([json_node(item) for item in value])
    if isinstance(value, dict):
        return nodes.Object(
            [
                graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=json_node(v))
                for k, v in value.items()
            ]
        )
    return nodes.String(value)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(RECORD_FIELDS), inner, max_size=5)
    ),
    max_leaves=10,
)
schemathesis.graphql.scalar("JSON", _json.map(json_node))
schemathesis.graphql.scalar(
    "Decimal",
    st.decimals(allow_nan=False, allow_infinity=False).map(str).map(nodes.String)
    | st.text(max_size=10).map(nodes.String)
    | st.integers().map(nodes.Int),
)


def shape_problems(response: requests.Response) -> list[str]:
    """What is wrong with one answer (empty when it is a well-formed GraphQL response without a server error)."""
    if response.status_code >= 500:
        return [f"HTTP {response.status_code}: {response.text[:300]}"]
    try:
        body = response.json()
    except ValueError:
        return [f"HTTP {response.status_code}, not JSON: {response.text[:300]}"]
    if (
        not isinstance(body, dict)
        or not ({"data", "errors"} & body.keys())
        or body.keys() - {"data", "errors", "extensions"}
    ):
        return [f"not a GraphQL response: {str(body)[:300]}"]
    problems = []
    if response.status_code != 200:
        problems.append(f"HTTP {response.status_code}: {str(body)[:300]}")
    errors = body.get("errors") or []
    if not isinstance(errors, list) or not all(
        isinstance(e, dict) and isinstance(e.get("message"), str) for e in errors
    ):
        return [f"malformed errors: {str(errors)[:300]}"]
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        if code == "INTERNAL_SERVER_ERROR" or error["message"].startswith(NON_NULL_BROKEN):
            problems.append(f"{error['message']} at {error.get('path')}")
    return problems


def fuzz(server: str, key: str, sdl: str) -> dict[str, list[str]]:
    """Every operation of ``sdl`` with EXAMPLES generated cases; the problems found, by operation and query."""
    found: dict[str, list[str]] = {}
    headers = {"Authorization": f"Bearer {key}"}
    with requests.Session() as session:

        def examples(operation: Any) -> None:
            @given(case=st.one_of(*(operation.as_strategy(mode) for mode in GenerationMode)))
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                response = case.call(
                    base_url=f"http://{server}/graphql", session=session, headers=headers, timeout=30
                )
                for problem in shape_problems(response):
                    found.setdefault(f"{operation.label}: {case.body}", []).append(problem)

            check()

        for result in schemathesis.graphql.from_file(sdl).get_all_operations():
            examples(result.ok())
    return found


@pytest.mark.parametrize("env", ["development", "production"])
async def test_fuzzed_operations_never_fail_on_the_server(make_runtime, env):
    runtime = make_runtime(env=env)
    admin = runtime.database.run(lambda s: create_key(s, Role.ADMIN))
    sdl = build_schema(runtime).as_str()
    with thread_server(runtime) as server:
        async with httpx.AsyncClient(base_url=f"http://{server}", timeout=30) as client:
            gql = GraphQL(client)
            for code in ("120101001", "120101002", "310105001"):
                await register(gql, admin, localityCode=code)
        found = await asyncio.to_thread(fuzz, server, admin, sdl)
    assert not found, "\n\n".join(f"{query}\n  " + "\n  ".join(problems) for query, problems in found.items())


def test_the_checks_catch_a_server_error(runtime, admin_key):
    with thread_server(runtime) as server:
        httpx.post(
            f"http://{server}/graphql",
            json={
                "query": REGISTER,
                "variables": {
                    "input": {"localityCode": "120101001", "residence": "URBAN", "members": [person()]}
                },
            },
            headers={"Authorization": f"Bearer {admin_key}"},
        )
        runtime.database.run(lambda s: s.execute(text("ALTER TABLE visits RENAME TO visits_moved")))
        try:
            response = requests.post(
                f"http://{server}/graphql",
                json={"query": "{ households { edges { node { visits { id } } } } }"},
                headers={"Authorization": f"Bearer {admin_key}"},
                timeout=30,
            )
        finally:
            runtime.database.run(lambda s: s.execute(text("ALTER TABLE visits_moved RENAME TO visits")))
    (problem,) = shape_problems(response)
    assert problem.startswith("internal server error (error id ")
