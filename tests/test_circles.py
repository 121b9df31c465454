"""Household.circle (Changning's four circles, seed 001 §2) and RETURN_POVERTY_WATCH in categories."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import event

from conftest import income, person, register
from safetynet.api.ids import decode
from safetynet.circles import RECENT_WINDOW_DAYS, Circle, circles_of
from safetynet.model import LowIncomeCategory
from safetynet.store.models import AidRecord, HouseholdCategory, SignalRow
from test_api_statements import seed

QUERY = "query($id: ID!) { household(id: $id) { categories circle } }"


async def _household(gql, key, **facts) -> tuple[int, str]:
    """A household well above every standard (no category of its own), as its numeric id."""
    facts.setdefault("members", [person(monthlyIncomes=income("20000.00"))])
    created = await register(gql, key, **facts)
    return decode(created["id"])[1], created["id"]


def _aid(
    runtime, household_id: int, code: str, provider: str, started: date, ended=None, reason=None
) -> None:
    runtime.database.run(
        lambda s: s.add(
            AidRecord(
                household_id=household_id,
                aid_type_code=code,
                provider=provider,
                monthly_amount_fen=10000,
                started_on=started,
                ended_on=ended,
                end_reason=reason,
            )
        )
    )


async def _read(gql, key, global_id) -> dict:
    return (await gql.ok(QUERY, {"id": global_id}, key=key))["household"]


async def test_no_aid_and_no_category_is_in_no_circle(gql, admin_key):
    _, gid = await _household(gql, admin_key)
    assert await _read(gql, admin_key, gid) == {"categories": [], "circle": None}


async def test_a_dibao_household_by_assessment_is_covered(gql, admin_key):
    created = await register(gql, admin_key, members=[person(monthlyIncomes=income("100.00"))])
    found = await _read(gql, admin_key, created["id"])
    assert "DIBAO" in found["categories"]
    assert found["circle"] == "COVERED"


async def test_a_swept_category_or_basic_living_aid_in_force_is_covered(gql, admin_key, runtime):
    today = runtime.today()
    swept, swept_gid = await _household(gql, admin_key)
    runtime.database.run(
        lambda s: s.add(HouseholdCategory(household_id=swept, category=LowIncomeCategory.TEKUN, since=today))
    )
    assert await _read(gql, admin_key, swept_gid) == {"categories": ["TEKUN"], "circle": "COVERED"}

    aided, aided_gid = await _household(gql, admin_key)
    _aid(runtime, aided, "dibao", "civil_affairs", today - timedelta(days=3000))
    assert (await _read(gql, admin_key, aided_gid))["circle"] == "COVERED"


async def test_recent_special_or_temporary_aid_is_covered_needs_more(gql, admin_key, runtime):
    today = runtime.today()
    medical, medical_gid = await _household(gql, admin_key)
    _aid(
        runtime,
        medical,
        "medical",
        "medical_security",
        today - timedelta(days=400),
        today - timedelta(days=300),
    )
    assert (await _read(gql, admin_key, medical_gid))["circle"] == "COVERED_NEEDS_MORE"

    temporary, temporary_gid = await _household(gql, admin_key)
    _aid(runtime, temporary, "temporary", "civil_affairs", today - timedelta(days=10))
    assert (await _read(gql, admin_key, temporary_gid))["circle"] == "COVERED_NEEDS_MORE"

    old, old_gid = await _household(gql, admin_key)  # temporary aid three years ago: outside the window
    _aid(
        runtime, old, "temporary", "civil_affairs", today - timedelta(days=1100), today - timedelta(days=1090)
    )
    assert (await _read(gql, admin_key, old_gid))["circle"] is None


async def test_terminated_aid_within_two_years_is_policy_edge(gql, admin_key, runtime):
    today = runtime.today()
    ended, ended_gid = await _household(gql, admin_key)
    _aid(
        runtime,
        ended,
        "dibao",
        "civil_affairs",
        today - timedelta(days=2000),
        today - timedelta(days=100),
        "收入超标",
    )
    assert (await _read(gql, admin_key, ended_gid))["circle"] == "POLICY_EDGE"

    long_ago, long_ago_gid = await _household(gql, admin_key)
    _aid(
        runtime,
        long_ago,
        "dibao",
        "civil_affairs",
        date(2015, 1, 1),
        today - timedelta(days=RECENT_WINDOW_DAYS + 5),
        "收入超标",
    )
    assert (await _read(gql, admin_key, long_ago_gid))["circle"] is None

    lapsed, lapsed_gid = await _household(gql, admin_key)  # ended without a reason: not a termination
    _aid(runtime, lapsed, "dibao", "civil_affairs", date(2015, 1, 1), today - timedelta(days=100))
    assert (await _read(gql, admin_key, lapsed_gid))["circle"] is None


async def test_partner_aid_within_two_years_is_other_concern(gql, admin_key, runtime):
    today = runtime.today()
    red_cross, red_cross_gid = await _household(gql, admin_key)
    _aid(runtime, red_cross, "care_service", "red_cross_310105", today - timedelta(days=200))
    assert (await _read(gql, admin_key, red_cross_gid))["circle"] == "OTHER_CONCERN"

    charity, charity_gid = await _household(gql, admin_key)  # not in the catalogue, not a department
    _aid(
        runtime,
        charity,
        "heating",
        "some_local_charity",
        today - timedelta(days=30),
        today - timedelta(days=20),
    )
    assert (await _read(gql, admin_key, charity_gid))["circle"] == "OTHER_CONCERN"

    department, department_gid = await _household(gql, admin_key)  # a department giving non-special aid
    _aid(runtime, department, "disability_subsidy", "disabled_federation", today - timedelta(days=30))
    assert (await _read(gql, admin_key, department_gid))["circle"] is None

    old, old_gid = await _household(gql, admin_key)
    _aid(runtime, old, "heating", "red_cross_310105", date(2018, 1, 1), date(2018, 2, 1))
    assert (await _read(gql, admin_key, old_gid))["circle"] is None


async def test_the_first_matching_circle_wins(gql, admin_key, runtime):
    today = date(2026, 6, 1)
    chain = [
        ("medical", "medical_security", date(2026, 1, 1), None, None),
        ("dibao", "civil_affairs", date(2025, 1, 1), date(2026, 1, 1), "收入超标"),
        ("heating", "red_cross_310105", date(2026, 1, 1), None, None),
    ]
    households = [(await _household(gql, admin_key))[0] for _ in range(4)]
    for household, records in zip(households, (chain, chain[1:], chain[2:], []), strict=True):
        for code, provider, started, ended, reason in records:
            _aid(runtime, household, code, provider, started, ended, reason)

    def circles(covered: list[int]) -> list[Circle | None]:
        return runtime.database.run(lambda s: circles_of(s, runtime.catalogue, today, households, covered))

    # in a covered category (e.g. MARGINAL) first; otherwise the recent medical aid, the termination, the partner
    assert circles([households[0]]) == [Circle.COVERED, Circle.POLICY_EDGE, Circle.OTHER_CONCERN, None]
    assert circles([])[0] is Circle.COVERED_NEEDS_MORE


def _signal(runtime, household_id: int, person_hash: str, kind: str, on: date, n: list[int] = [0]) -> None:  # noqa: B006
    n[0] += 1
    runtime.database.run(
        lambda s: s.add(
            SignalRow(
                source="rural_revitalization",
                record_id=f"rr-{n[0]}",
                kind=kind,
                id_number_hash=person_hash,
                household_id=household_id,
                occurred_on=on,
                payload={},
            )
        )
    )


async def test_return_poverty_watch_comes_from_the_latest_rural_revitalisation_signal(
    gql, admin_key, runtime
):
    today = runtime.today()
    watched, watched_gid = await _household(gql, admin_key)
    _signal(runtime, watched, "a" * 64, "WATCH_START", date(2019, 3, 1))  # years ago: still watched
    _signal(runtime, watched, "b" * 64, "WATCH_START", date(2019, 3, 1))
    _signal(
        runtime, watched, "b" * 64, "WATCH_END", today - timedelta(days=5)
    )  # another member left the list
    assert await _read(gql, admin_key, watched_gid) == {
        "categories": ["RETURN_POVERTY_WATCH"],
        "circle": None,
    }

    ended, ended_gid = await _household(gql, admin_key)
    _signal(runtime, ended, "c" * 64, "WATCH_START", date(2020, 1, 1))
    _signal(runtime, ended, "c" * 64, "WATCH_END", date(2021, 1, 1))
    assert (await _read(gql, admin_key, ended_gid))["categories"] == []

    # After a sweep (categories from household_categories) the watch is still added.
    runtime.database.run(
        lambda s: s.add(
            HouseholdCategory(household_id=watched, category=LowIncomeCategory.DIBAO, since=today)
        )
    )
    assert await _read(gql, admin_key, watched_gid) == {
        "categories": ["DIBAO", "RETURN_POVERTY_WATCH"],
        "circle": "COVERED",
    }


async def test_a_page_of_circles_costs_a_fixed_number_of_statements(gql, admin_key, runtime):
    page = "{ households(first: 100) { edges { node { id categories circle } } } }"
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_rest) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    async def cost() -> tuple[int, list]:
        statements.clear()
        edges = (await gql.ok(page, key=admin_key))["households"]["edges"]
        return len(statements), edges

    seed(runtime, 0, 10)
    await gql.ok("{ me { role } }", key=admin_key)
    engine = runtime.database.async_engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for_ten, edges = await cost()
        assert len(edges) == 10 and all(e["node"]["circle"] == "COVERED" for e in edges)  # dibao in force
        seed(runtime, 10, 90)
        for_hundred, edges = await cost()
        assert len(edges) == 100
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert for_hundred == for_ten, statements
