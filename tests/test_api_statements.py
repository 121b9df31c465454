"""No N+1: a page of households with members, aid chain and assessments costs a fixed number of SQL
statements, whether the page holds 10 households or 100."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import event

from safetynet.aid_chain import grant_aid
from safetynet.households import register_household
from safetynet.identity import make_id_number
from safetynet.model import Role, Sex
from safetynet.principals import Principal

ADMIN = Principal(key_id=None, role=Role.ADMIN)
PAGE = """{ households(first: 100) { totalCount edges { node { id
  members { name } aidChain { aidTypeCode } assessments { eligible } } } } }"""
MOST_STATEMENTS = 15


def seed(runtime, start: int, count: int) -> None:
    """Households ``start`` … ``start + count - 1``: two or three members each, and one aid record."""
    aid_types = set(runtime.catalogue.aid_types)

    def work(session) -> None:
        for n in range(start, start + count):
            born = date(1960, 1, 1) + timedelta(days=n)
            members = [
                {
                    "name": f"成员{n}-{i}",
                    "id_number": make_id_number("120101", born, i, Sex.MALE),
                    "relation": "HEAD" if i == 0 else "CHILD",
                    "monthly_incomes": [{"kind": "WAGES", "monthly_amount": "900.00"}] if i == 0 else None,
                }
                for i in range(2 + n % 2)
            ]
            household = register_household(
                session,
                {"locality_code": f"12010100{1 + n % 3}", "residence": "URBAN", "members": members},
                principal=ADMIN,
                localities=runtime.localities,
                vault=runtime.vault,
                today=runtime.today(),
            )
            grant_aid(
                session,
                household,
                {"aid_type_code": "dibao", "monthly_amount_fen": 30000, "started_on": date(2024, 1, 1)},
                principal=ADMIN,
                aid_types=aid_types,
            )

    runtime.database.run(work)


async def test_a_page_of_households_costs_a_fixed_number_of_statements(gql, admin_key, runtime):
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_rest) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    async def cost() -> tuple[int, int]:
        statements.clear()
        data = await gql.ok(PAGE, key=admin_key)
        edges = data["households"]["edges"]
        assert all(len(e["node"]["members"]) in (2, 3) and len(e["node"]["aidChain"]) == 1 for e in edges)
        assert all(e["node"]["assessments"] for e in edges)
        return len(statements), len(edges)

    seed(runtime, 0, 10)
    await gql.ok(
        "{ me { role } }", key=admin_key
    )  # connect first: a new connection's set-up is not the page's
    engine = runtime.database.async_engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for_ten, shown = await cost()
        assert shown == 10
        seed(runtime, 10, 90)
        for_hundred, shown = await cost()
        assert shown == 100
    finally:
        event.remove(engine, "before_cursor_execute", count)
    print(f"\nSQL statements for a page of 10 households: {for_ten}; of 100: {for_hundred}")
    assert for_hundred == for_ten, statements
    assert for_hundred <= MOST_STATEMENTS, statements
