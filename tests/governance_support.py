"""Queries and helpers shared by the governance tests (near relatives, dishonesty)."""

from __future__ import annotations

from typing import Any

from conftest import GraphQL
from safetynet import hookimpl
from safetynet.model import WarningEvent

FLAGS = """query($id: ID!, $asOf: Date) { household(id: $id) {
  integrityFlags(asOf: $asOf) { code message memberId recordId } } }"""

GRANT = """mutation($input: GrantAidInput!) { grantAid(input: $input) {
  aidRecord { id } userErrors { field message code } } }"""

WARNINGS = """query($rule: String) { warnings(filter: {rule: $rule}, first: 100) { edges { node {
  id rule level status routedTo aidTypeCode evidence { code message } household { id } } } } }"""


class RaisedWarnings:
    """A plugin that records ``safetynet_warning_raised``."""

    def __init__(self) -> None:
        self.events: list[WarningEvent] = []

    @hookimpl
    def safetynet_warning_raised(self, event: WarningEvent) -> None:
        self.events.append(event)


async def flags(gql: GraphQL, key: str, household_id: str, as_of: str | None = None) -> list[dict[str, Any]]:
    data = await gql.ok(FLAGS, {"id": household_id, "asOf": as_of}, key=key)
    return data["household"]["integrityFlags"]


async def grant(gql: GraphQL, key: str, household_id: str, **aid: Any) -> dict[str, Any]:
    aid = {"householdId": household_id, "aidTypeCode": "temporary", "startedOn": "2024-05-10", **aid}
    aid.setdefault("oneOffAmount", "500.00")
    payload = (await gql.ok(GRANT, {"input": aid}, key=key))["grantAid"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload["aidRecord"]


async def warnings(gql: GraphQL, key: str, rule: str) -> list[dict[str, Any]]:
    data = await gql.ok(WARNINGS, {"rule": rule}, key=key)
    return [e["node"] for e in data["warnings"]["edges"]]
