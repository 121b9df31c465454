"""Optimistic concurrency (乐观锁) on household updates, through the HTTP API on a real database.

Two requests with the same version run at the same time. The test holds the household's row (PostgreSQL)
or the database's write lock (SQLite) until both requests have read the household and sent their
``UPDATE households``, so the database's version check, not the order Python happens to run them in,
decides: exactly one wins, the other gets a user error on ``version`` naming the current version, and
nothing of the loser's change is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import make_url

from conftest import income, person, register
from safetynet.api.ids import expect
from safetynet.store.models import Asset, Household, Income, RigidExpense

UPDATE = """mutation($input: CircumstancesInput!) { updateCircumstances(input: $input) {
  household { id version address perCapitaMonthlyIncome } userErrors { field message code } } }"""
READ = "query($id: ID!) { household(id: $id) { version address perCapitaMonthlyIncome } }"


@contextlib.contextmanager
def household_updates_seen(runtime: Any) -> Iterator[list[str]]:
    """The ``UPDATE households`` statements the API's engine sends, recorded as they are sent."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE HOUSEHOLDS"):
            seen.append(statement)

    engine = runtime.database.async_engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextlib.contextmanager
def writes_held(runtime: Any, household_id: int) -> Iterator[None]:
    """Hold writers of the household back: its row lock on PostgreSQL, the write lock on SQLite."""
    if runtime.database.backend == "sqlite":
        connection = sqlite3.connect(make_url(runtime.database.url).database, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    with runtime.database.engine.connect() as connection:
        connection.execute(select(Household.id).where(Household.id == household_id).with_for_update())
        try:
            yield
        finally:
            connection.rollback()


def household_id(global_id: str) -> int:
    return expect(global_id, "Household")


def circumstances(runtime: Any, hid: int) -> dict[str, Any]:
    """The household's dated rows, as (kind, amount, from, to)."""

    def work(session: Any) -> dict[str, Any]:
        def rows(model: Any, amount: Any) -> list[tuple]:
            return sorted(
                (r.kind.name, getattr(r, amount), r.valid_from, r.valid_to)
                for r in session.scalars(select(model).where(model.household_id == hid))
            )

        return {
            "incomes": rows(Income, "monthly_amount_fen"),
            "assets": rows(Asset, "value_fen"),
            "expenses": rows(RigidExpense, "annual_amount_fen"),
        }

    return runtime.database.run(work)


async def test_two_concurrent_updates_with_the_same_version_one_wins_nothing_is_lost(gql, admin_key, runtime):
    created = await register(gql, admin_key, members=[person(monthlyIncomes=income("1000.00"))])
    hid = household_id(created["id"])
    head = created["members"][0]["id"]
    before = circumstances(runtime, hid)
    changes = {
        "east": {
            "address": "东街 1 号",
            "members": [{"memberId": head, "monthlyIncomes": income("2000.00")}],
            "assets": [{"kind": "HOUSE", "value": "50000.00"}],
        },
        "west": {
            "address": "西路 2 号",
            "members": [{"memberId": head, "monthlyIncomes": income("300.00")}],
            "rigidExpenses": [{"kind": "MEDICAL", "annualAmount": "8000.00"}],
        },
    }

    async def update(name: str) -> dict:
        variables = {"input": {"householdId": created["id"], "version": 1, **changes[name]}}
        return (await gql.ok(UPDATE, variables, key=admin_key))["updateCircumstances"]

    with household_updates_seen(runtime) as seen:
        with writes_held(runtime, hid):
            requests = {name: asyncio.ensure_future(update(name)) for name in changes}
            for _ in range(1500):  # both have read version 1 and sent their UPDATE, which waits on the lock
                if len(seen) >= 2:
                    break
                assert not any(r.done() for r in requests.values()), [r.result() for r in requests.values()]
                await asyncio.sleep(0.01)
            assert len(seen) == 2, f"the two requests did not both reach UPDATE households: {seen}"
            assert all("version" in statement for statement in seen)  # the UPDATE checks the version
        payloads = {name: await request for name, request in requests.items()}

    winners = [name for name, p in payloads.items() if not p["userErrors"]]
    assert len(winners) == 1, payloads
    [winner] = winners
    [loser] = set(changes) - {winner}
    assert payloads[winner]["household"]["version"] == 2
    assert payloads[loser]["household"] is None
    [error] = payloads[loser]["userErrors"]
    assert (error["field"], error["code"]) == (["version"], "STALE_VERSION")
    assert "current version 2, you sent 1" in error["message"]

    stored = (await gql.ok(READ, {"id": created["id"]}, key=admin_key))["household"]
    won = changes[winner]
    assert stored == {
        "version": 2,
        "address": won["address"],
        "perCapitaMonthlyIncome": won["members"][0]["monthlyIncomes"][0]["monthlyAmount"],
    }
    after = circumstances(runtime, hid)
    today = runtime.today()
    [(_, first_income, started, _)] = before["incomes"]
    amount = int(won["members"][0]["monthlyIncomes"][0]["monthlyAmount"].replace(".", ""))
    if started < today:
        assert after["incomes"] == sorted(
            [("WAGES", first_income, started, today), ("WAGES", amount, today, None)]
        )
    else:
        assert after["incomes"] == [("WAGES", amount, today, None)]
    assert after["assets"] == ([("HOUSE", 5_000_000, today, None)] if winner == "east" else [])
    assert after["expenses"] == ([("MEDICAL", 800_000, today, None)] if winner == "west" else [])


async def test_many_concurrent_updates_racing_freely_leave_exactly_one_winner(gql, admin_key, runtime):
    created = await register(gql, admin_key, members=[person(monthlyIncomes=income("1000.00"))])
    head = created["members"][0]["id"]
    amounts = [f"{100 * (i + 1)}.00" for i in range(6)]

    async def update(amount: str) -> dict:
        variables = {
            "input": {
                "householdId": created["id"],
                "version": 1,
                "address": f"门牌 {amount}",
                "members": [{"memberId": head, "monthlyIncomes": income(amount)}],
            }
        }
        return (await gql.ok(UPDATE, variables, key=admin_key))["updateCircumstances"]

    payloads = await asyncio.gather(*(update(a) for a in amounts))
    won = [(a, p) for a, p in zip(amounts, payloads, strict=True) if not p["userErrors"]]
    assert len(won) == 1, payloads
    [(amount, payload)] = won
    for other in payloads:
        if other is not payload:
            assert [(e["field"], e["code"]) for e in other["userErrors"]] == [(["version"], "STALE_VERSION")]
            assert "current version 2, you sent 1" in other["userErrors"][0]["message"]
    stored = (await gql.ok(READ, {"id": created["id"]}, key=admin_key))["household"]
    assert stored == {"version": 2, "address": f"门牌 {amount}", "perCapitaMonthlyIncome": amount}
    open_incomes = [i for i in circumstances(runtime, household_id(created["id"]))["incomes"] if i[3] is None]
    assert open_incomes == [("WAGES", int(amount.replace(".", "")), runtime.today(), None)]
