"""Review schedules (定期核查) and care-visit cycles (探访周期): Household.nextReviewDue and reviewSchedule,
the review_overdue warning the sweep raises (and does not repeat), reviews recorded by a warning visit or
a household visit that resolve it, and recordHouseholdVisit's bad input and scope."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np

from conftest import REGISTER, person
from safetynet.model import Role
from safetynet.schedules import add_months

EARLY = date(2023, 1, 1)  # registration: incomes are in force from then
AS_OF = date(2025, 3, 31)  # the sweep date and "today" of the queries
FULLY_UNABLE = {
    "eating": False,
    "dressing": False,
    "transferring": False,
    "toileting": False,
    "walkingIndoors": True,
    "bathing": False,
}

GRANT = (
    """mutation($input: GrantAidInput!) { grantAid(input: $input) { userErrors { field message code } } }"""
)
SCHEDULE = """query($id: ID!) { household(id: $id) { nextReviewDue reviewSchedule {
  lastReviewedOn reviewMonths nextReviewDue reviewOverdue careDifficulty careVisitMonths lastVisitedOn
  nextCareVisitDue reasons { code message parameters { name localityCode value source illustrative } } } } }"""
SWEEP = """mutation($asOf: Date) { runSweep(asOf: $asOf) {
  households warningsRaised warningsUpdated userErrors { field message code } } }"""
REVIEW_WARNINGS = """{ warnings(first: 100, filter: { rule: "review_overdue" }) { edges { node {
  id level status resolution resolutionNote routedTo aidTypeCode household { id }
  evidence { code message parameters { name localityCode value } } } } } }"""
VISIT = """mutation($input: VisitInput!) { recordVisit(input: $input) {
  visit { id visitedAt } userErrors { field message code } } }"""
HOUSEHOLD_VISIT = """mutation($input: HouseholdVisitInput!) { recordHouseholdVisit(input: $input) {
  visit { id visitor findings visitedAt } userErrors { field message code } } }"""
VISITS = "query($id: ID!) { household(id: $id) { visits { id findings } } }"


def at(runtime, day: date) -> None:
    runtime.today = lambda: day


async def household(
    gql, key: str, member: dict, locality: str = "120101001", aid: tuple | None = None
) -> str:
    data = await gql.ok(
        REGISTER, {"input": {"localityCode": locality, "residence": "URBAN", "members": [member]}}, key=key
    )
    payload = data["registerHousehold"]
    assert payload["userErrors"] == []
    household_id = payload["household"]["id"]
    if aid is not None:
        code, started_on = aid
        grant = {
            "householdId": household_id,
            "aidTypeCode": code,
            "startedOn": started_on,
            "monthlyAmount": "300.00",
        }
        assert (await gql.ok(GRANT, {"input": grant}, key=key))["grantAid"]["userErrors"] == []
    return household_id


async def county(gql, runtime, key: str) -> dict[str, str]:
    """Households registered on EARLY with the aid under review each holds, if any."""
    at(runtime, EARLY)
    made = {
        # tekun support since 2024-01-10, a member fully unable to care for self: yearly, visited monthly
        "tekun": await household(
            gql,
            key,
            person(born=date(1950, 2, 1), laborCapacity="NONE", selfCare=FULLY_UNABLE),
            aid=("tekun", "2024-01-10"),
        ),
        # dibao since 2024-08-31 with an unemployed member able to work: every 6 months (→ 02-28, clipped)
        "unstable": await household(
            gql, key, person(born=date(1985, 3, 1), employment="UNEMPLOYED"), aid=("dibao", "2024-08-31")
        ),
        # dibao since 2024-06-15, the member employed: yearly, not due yet
        "stable": await household(
            gql,
            key,
            person(
                born=date(1985, 3, 1),
                employment="EMPLOYED",
                monthlyIncomes=[{"kind": "WAGES", "monthlyAmount": "500"}],
            ),
            aid=("dibao", "2024-06-15"),
        ),
        # dibao since 2023-01-15, never reviewed: due 2024-01-15, and the next one (2025-01-15) missed too
        "twice": await household(
            gql, key, person(born=date(1950, 4, 1), laborCapacity="NONE"), aid=("dibao", "2023-01-15")
        ),
        # dibao since 2023-03-01, reviewed on 2024-02-01 (recorded below): due 2025-02-01
        "reviewed": await household(
            gql, key, person(born=date(1951, 5, 1), laborCapacity="NONE"), aid=("dibao", "2023-03-01")
        ),
        # no aid: no schedule
        "none": await household(gql, key, person(born=date(1980, 6, 1))),
        # Changning (长宁区): marginal since 2024-09-01, a severely disabled member: the district's quarterly visits
        "changning": await household(
            gql,
            key,
            person(born=date(1960, 7, 1), disability="LEVEL_1", region="310105"),
            locality="310105001",
            aid=("marginal", "2024-09-01"),
        ),
    }
    at(runtime, AS_OF)
    return made


async def schedule_of(gql, key: str, household_id: str) -> dict:
    return (await gql.ok(SCHEDULE, {"id": household_id}, key=key))["household"]


def reasons(schedule: dict) -> dict[str, dict]:
    return {r["code"]: r for r in schedule["reasons"]}


def test_add_months_keeps_the_day_or_clips_it_to_the_month_end():
    days = np.array(["2024-01-31", "2024-08-31", "2023-12-15", "NaT"], dtype="datetime64[D]")
    got = add_months(days, np.array([1, 6, 12, 3]))
    assert got[:3].astype(str).tolist() == ["2024-02-29", "2025-02-28", "2024-12-15"]
    assert np.isnat(got[3])


async def test_next_review_due_by_category_income_and_locality(gql, runtime, admin_key):
    made = await county(gql, runtime, admin_key)

    tekun = await schedule_of(gql, admin_key, made["tekun"])
    assert tekun["nextReviewDue"] == "2025-01-10"
    plan = tekun["reviewSchedule"]
    assert (plan["reviewMonths"], plan["reviewOverdue"], plan["lastReviewedOn"]) == (12, True, None)
    assert (plan["careDifficulty"], plan["careVisitMonths"], plan["nextCareVisitDue"]) == (
        "HIGH",
        1,
        "2024-02-10",
    )
    why = reasons(plan)
    [interval] = why["REVIEW_EVERY_STABLE"]["parameters"]
    assert (interval["name"], interval["localityCode"], interval["value"]) == (
        "review.months.stable",
        "120000",
        "12",
    )
    assert "003_60fef8027b4d4253 §7" in interval["source"]
    assert "tekun began on 2024-01-10" in why["REVIEWED_SINCE_AID_STARTED"]["message"]
    assert "CARE_VISIT_HIGH" in why

    unstable = (await schedule_of(gql, admin_key, made["unstable"]))["reviewSchedule"]
    assert (unstable["nextReviewDue"], unstable["reviewMonths"], unstable["careDifficulty"]) == (
        "2025-02-28",
        6,
        "LOW",
    )
    why = reasons(unstable)
    assert "REVIEW_EVERY_STABLE" not in why
    used = {p["name"]: p for p in why["REVIEW_EVERY_UNSTABLE"]["parameters"]}
    assert used["review.months.unstable"]["value"] == "6"
    assert used["employment.working_age_from"]["localityCode"] == "100000"
    assert "1 member(s) able to work" in why["REVIEW_EVERY_UNSTABLE"]["message"]

    stable = (await schedule_of(gql, admin_key, made["stable"]))["reviewSchedule"]
    assert (stable["nextReviewDue"], stable["reviewMonths"], stable["reviewOverdue"]) == (
        "2025-06-15",
        12,
        False,
    )

    assert await schedule_of(gql, admin_key, made["none"]) == {"nextReviewDue": None, "reviewSchedule": None}

    changning = (await schedule_of(gql, admin_key, made["changning"]))["reviewSchedule"]
    assert (changning["nextReviewDue"], changning["careDifficulty"], changning["careVisitMonths"]) == (
        "2025-09-01",
        "MEDIUM",
        3,
    )
    [care] = reasons(changning)["CARE_VISIT_MEDIUM"]["parameters"]
    assert (care["name"], care["localityCode"], care["illustrative"]) == (
        "care_visit.months.medium",
        "310105",
        False,
    )
    assert "001_77bde4bf6e0bc9da §5.4" in care["source"]
    [interval] = reasons(changning)["REVIEW_EVERY_STABLE"]["parameters"]
    assert (interval["localityCode"], interval["illustrative"]) == ("100000", True)  # the seed sets none


async def test_the_sweep_raises_review_overdue_once_and_a_review_resolves_it(gql, runtime, admin_key):
    made = await county(gql, runtime, admin_key)
    old_review = {
        "householdId": made["reviewed"],
        "visitor": "李社工",
        "visitedAt": "2024-02-01T10:00:00+08:00",
        "findings": "年度复核:收入、财产无变化",
        "review": True,
    }
    assert (await gql.ok(HOUSEHOLD_VISIT, {"input": old_review}, key=admin_key))["recordHouseholdVisit"][
        "userErrors"
    ] == []

    first = (await gql.ok(SWEEP, {"asOf": AS_OF.isoformat()}, key=admin_key))["runSweep"]
    assert first["userErrors"] == [] and first["warningsRaised"] > 0
    found = {
        e["node"]["household"]["id"]: e["node"]
        for e in (await gql.ok(REVIEW_WARNINGS, key=admin_key))["warnings"]["edges"]
    }
    name_of = {v: k for k, v in made.items()}
    assert {name_of[h]: w["level"] for h, w in found.items()} == {
        "tekun": "BLUE",
        "unstable": "BLUE",
        "twice": "YELLOW",
        "reviewed": "BLUE",
    }
    for warning in found.values():
        assert warning["routedTo"] == ["civil_affairs"] and warning["status"] == "OPEN"
    tekun = found[made["tekun"]]
    assert tekun["aidTypeCode"] == "tekun"
    evidence = {e["code"]: e for e in tekun["evidence"]}
    assert {"REVIEW_OVERDUE", "REVIEW_EVERY_STABLE", "REVIEWED_SINCE_AID_STARTED", "REVIEW_DUE"} <= set(
        evidence
    )
    assert evidence["REVIEW_EVERY_STABLE"]["parameters"][0]["name"] == "review.months.stable"
    assert evidence["REVIEW_DUE"]["message"] == "review due 2025-01-10"
    evidence = {e["code"]: e for e in found[made["reviewed"]]["evidence"]}
    assert evidence["LAST_REVIEW"]["message"] == "last review recorded on 2024-02-01"
    assert evidence["REVIEW_DUE"]["message"] == "review due 2025-02-01"
    evidence = {e["code"]: e for e in found[made["twice"]]["evidence"]}
    assert evidence["REVIEW_MISSED_AGAIN"]["parameters"][0]["name"] == "review.months.stable"
    assert "2023-01-15" in evidence["REVIEWED_SINCE_AID_STARTED"]["message"]

    again = (await gql.ok(SWEEP, {"asOf": AS_OF.isoformat()}, key=admin_key))["runSweep"]
    assert (again["warningsRaised"], again["warningsUpdated"]) == (
        0,
        0,
    )  # updated, not duplicated: nothing new

    # A visit for the tekun household's warning is its review: the warning is resolved, the clock restarts.
    now = datetime.now(UTC)
    visit = {
        "warningId": tekun["id"],
        "visitor": "王干部",
        "visitedAt": now.isoformat(),
        "findings": "入户核查,情况属实",
    }
    assert (await gql.ok(VISIT, {"input": visit}, key=admin_key))["recordVisit"]["userErrors"] == []
    # A household visit recorded as a review resolves the unstable household's; a care visit alone does not.
    review = {**old_review, "householdId": made["unstable"], "visitedAt": now.isoformat()}
    care = {**old_review, "householdId": made["twice"], "visitedAt": now.isoformat(), "review": False}
    for data in (review, care):
        assert (await gql.ok(HOUSEHOLD_VISIT, {"input": data}, key=admin_key))["recordHouseholdVisit"][
            "userErrors"
        ] == []

    after = {
        e["node"]["household"]["id"]: e["node"]
        for e in (await gql.ok(REVIEW_WARNINGS, key=admin_key))["warnings"]["edges"]
    }
    for name in ("tekun", "unstable"):
        resolved = after[made[name]]
        assert (resolved["status"], resolved["resolution"]) == ("RESOLVED", "NO_ACTION")
        assert resolved["resolutionNote"].startswith(f"review (复核) recorded on {now.date().isoformat()}")
    assert after[made["twice"]]["status"] == "OPEN" and after[made["reviewed"]]["status"] == "OPEN"

    plan = (await schedule_of(gql, admin_key, made["tekun"]))["reviewSchedule"]
    assert plan["lastReviewedOn"] == plan["lastVisitedOn"] == now.date().isoformat()
    assert plan["nextReviewDue"] == add_months(np.array([now.date()], dtype="datetime64[D]"), np.array([12]))[
        0
    ].astype(str)
    assert plan["reviewOverdue"] is False and "LAST_REVIEW" in reasons(plan)
    twice = (await schedule_of(gql, admin_key, made["twice"]))["reviewSchedule"]
    assert (twice["lastReviewedOn"], twice["lastVisitedOn"]) == (None, now.date().isoformat())
    assert twice["nextCareVisitDue"] > AS_OF.isoformat()  # the care visit restarted the visit cycle

    third = (await gql.ok(SWEEP, {"asOf": AS_OF.isoformat()}, key=admin_key))["runSweep"]
    assert third["warningsRaised"] == 0  # the reviewed households are not overdue any more
    final = (await gql.ok(REVIEW_WARNINGS, key=admin_key))["warnings"]["edges"]
    assert len(final) == 4 and {e["node"]["id"] for e in final} == {w["id"] for w in found.values()}


async def test_a_review_older_than_the_warning_does_not_resolve_it(gql, runtime, admin_key):
    made = await county(gql, runtime, admin_key)
    await gql.ok(SWEEP, {"asOf": AS_OF.isoformat()}, key=admin_key)
    late_entry = {
        "householdId": made["twice"],
        "visitor": "李社工",
        "visitedAt": "2024-03-01T09:00:00+08:00",  # a paper record of last year's review, entered now
        "findings": "补录:2024年复核",
        "review": True,
    }
    assert (await gql.ok(HOUSEHOLD_VISIT, {"input": late_entry}, key=admin_key))["recordHouseholdVisit"][
        "userErrors"
    ] == []
    [warning] = [
        e["node"]
        for e in (await gql.ok(REVIEW_WARNINGS, key=admin_key))["warnings"]["edges"]
        if e["node"]["household"]["id"] == made["twice"]
    ]
    assert warning["status"] == "OPEN"
    plan = (await schedule_of(gql, admin_key, made["twice"]))["reviewSchedule"]
    assert (plan["lastReviewedOn"], plan["nextReviewDue"]) == ("2024-03-01", "2025-03-01")
    updated = (await gql.ok(SWEEP, {"asOf": AS_OF.isoformat()}, key=admin_key))["runSweep"]
    assert (updated["warningsRaised"], updated["warningsUpdated"]) == (0, 1)  # its evidence, not a new one
    [warning] = [
        e["node"]
        for e in (await gql.ok(REVIEW_WARNINGS, key=admin_key))["warnings"]["edges"]
        if e["node"]["household"]["id"] == made["twice"]
    ]
    assert warning["level"] == "YELLOW"  # now only BLUE is due, but a warning's level never goes down
    assert "last review recorded on 2024-03-01" in {e["message"] for e in warning["evidence"]}


async def test_record_household_visit_bad_input_and_scope(gql, runtime, admin_key, key):
    made = await county(gql, runtime, admin_key)
    target = made["stable"]
    bad = {
        "householdId": target,
        "visitor": " ",
        "visitedAt": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        "findings": "",
        "review": True,
    }
    answer = (await gql.ok(HOUSEHOLD_VISIT, {"input": bad}, key=admin_key))["recordHouseholdVisit"]
    assert answer["visit"] is None
    assert {(tuple(e["field"]), e["code"]) for e in answer["userErrors"]} == {
        (("visitor",), "REQUIRED"),
        (("findings",), "REQUIRED"),
        (("visitedAt",), "INVALID_DATE"),
    }
    good = {**bad, "visitor": "李社工", "findings": "探访", "visitedAt": datetime.now(UTC).isoformat()}
    for who, code in (
        (key(Role.AUDITOR), "FORBIDDEN"),
        (key(Role.PARTNER, partner_code="red_cross"), "FORBIDDEN"),
        (key(Role.DEPARTMENT, locality_code="120101", department="medical_security"), "FORBIDDEN"),
        (key(Role.CIVIL_AFFAIRS, locality_code="120102"), "NOT_FOUND"),  # another district's household
    ):
        answer = (await gql.ok(HOUSEHOLD_VISIT, {"input": good}, key=who))["recordHouseholdVisit"]
        assert [e["code"] for e in answer["userErrors"]] == [code]
    assert (await gql.ok(VISITS, {"id": target}, key=admin_key))["household"][
        "visits"
    ] == []  # nothing written
    plan = (await schedule_of(gql, admin_key, target))["reviewSchedule"]
    assert (plan["lastReviewedOn"], plan["lastVisitedOn"]) == (None, None)

    township = key(Role.CIVIL_AFFAIRS, locality_code="120101001")
    answer = (await gql.ok(HOUSEHOLD_VISIT, {"input": good}, key=township))["recordHouseholdVisit"]
    assert answer["userErrors"] == [] and answer["visit"]["findings"] == "探访"
    plan = (await schedule_of(gql, admin_key, target))["reviewSchedule"]
    assert plan["lastReviewedOn"] == plan["lastVisitedOn"] == datetime.now(UTC).date().isoformat()
