"""Applications (救助申请) over GraphQL: 申请 → 受理 → 入户调查 → 经济状况核对 → 民主评议 → 公示 → 审核确认.

A full path to approval puts the aid on the chain (and fires the hook); appraisal skipped when
undisputed; a refusal puts the household in POLICY_EDGE for two years; steps out of order are refused;
the deadline in working days over the 2026 National Day holiday, extended once; overdue applications
on the query and as a sweep warning raised once and closed by the decision; the small advance
(先行救助) at and over its cap; scope. Households are in Changning (310105): 20/45 working days and a
500-yuan cap per person (seed 001 §5.1, §5.3); the notice lasts 7 days (national default).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from conftest import GraphQL, income, person, register
from safetynet import hookimpl
from safetynet.app import create_app
from safetynet.model import AidEvent, Role
from safetynet.principals import create_key

REGISTERED_ON = date(2026, 9, 1)  # households are registered first (their incomes count from then)
ACCEPTED_ON = date(2026, 9, 18)  # a Friday before the Mid-Autumn and National Day holidays
DUE_ON = "2026-10-22"  # 20 working days later, by hand in tests/test_working_days.py
EXTENDED_DUE_ON = "2026-11-26"  # 45 working days later
TOWNSHIP = "310105001"  # a township of Changning

APPLICATION = """
  id status advance appliedOn acceptedOn decisionDueOn decisionDueProvisional workingDays extended
  extensionReason overdue publicNoticeStartedOn publicNoticeEndsOn decidedOn nextSteps warningId
  deadlineParameter { name localityCode value illustrative }
  publicNoticeParameter { name localityCode value }
  aids { aidTypeCode outcome monthlyAmount oneOffAmount reason aidRecordId aidType { department } }
  steps { kind on by keyId note recordedAt }
  flags { code message }
  household { id aidChain { id aidTypeCode provider monthlyAmount oneOffAmount startedOn endedOn } }
"""
PAYLOAD = "{ application { " + APPLICATION + " } userErrors { field message code } }"
APPLY = "mutation($input: ApplyForAidInput!) { applyForAid(input: $input) " + PAYLOAD + " }"
ACCEPT = "mutation($input: ApplicationStepInput!) { acceptApplication(input: $input) " + PAYLOAD + " }"
INVESTIGATE = "mutation($input: InvestigationInput!) { recordInvestigation(input: $input) " + PAYLOAD + " }"
CHECK = "mutation($input: EconomicCheckInput!) { recordEconomicCheck(input: $input) " + PAYLOAD + " }"
APPRAISE = "mutation($input: AppraisalInput!) { recordAppraisal(input: $input) " + PAYLOAD + " }"
NOTICE = "mutation($input: ApplicationStepInput!) { startPublicNotice(input: $input) " + PAYLOAD + " }"
EXTEND = "mutation($input: ExtendApplicationInput!) { extendApplication(input: $input) " + PAYLOAD + " }"
DECIDE = "mutation($input: DecideApplicationInput!) { decideApplication(input: $input) " + PAYLOAD + " }"
ADVANCE = "mutation($input: GrantAdvanceInput!) { grantAdvance(input: $input) " + PAYLOAD + " }"
COMPLETE = "mutation($input: ApplicationStepInput!) { completeAdvance(input: $input) " + PAYLOAD + " }"
ONE = "query($id: ID!) { application(id: $id) { " + APPLICATION + " } node(id: $id) { id } }"
LIST = """query($filter: ApplicationFilter) { applications(filter: $filter) {
  totalCount edges { node { id status overdue decisionDueOn } } } }"""
HOUSEHOLD = """query($id: ID!) { household(id: $id) {
  circle categories applications { id status } assessments { aidType { code } eligible monthlyAmount oneOffAmount } } }"""
SWEEP = """mutation($asOf: Date) { runSweep(asOf: $asOf) { warningsRaised userErrors { message } } }"""
WARNINGS = """query($filter: WarningFilter) { warnings(filter: $filter) {
  totalCount edges { node { id rule status level resolution resolutionNote routedTo evidence { code message } } } } }"""


@dataclass
class AidEvents:
    granted: list[AidEvent] = field(default_factory=list)

    @hookimpl
    def safetynet_aid_granted(self, event: AidEvent) -> None:
        self.granted.append(event)


@dataclass
class Api:
    runtime: Any
    gql: GraphQL
    events: AidEvents
    admin: str

    def on(self, day: date) -> None:
        """Set the runtime's today (step dates, deadlines, the sweep's default date)."""
        self.runtime.today = lambda: day

    def key(self, role: Role = Role.CIVIL_AFFAIRS, **scope: Any) -> str:
        return self.runtime.database.run(lambda s: create_key(s, role, **scope))

    async def do(self, mutation: str, key: str | None = None, **input: Any) -> dict:
        """Run a step; the payload (with its userErrors)."""
        data = await self.gql.ok(mutation, {"input": input}, key=key or self.admin)
        return next(iter(data.values()))

    async def step(self, mutation: str, key: str | None = None, **input: Any) -> dict:
        """Run a step that must succeed; the application."""
        payload = await self.do(mutation, key, **input)
        assert payload["userErrors"] == [], payload["userErrors"]
        return payload["application"]

    async def household(self, *members: dict, **extra: Any) -> dict:
        return await register(
            self.gql,
            self.admin,
            localityCode=TOWNSHIP,
            members=list(members) or [person(region="310105")],
            **extra,
        )

    async def accepted(self, household_id: str, codes: list[str], day: date = ACCEPTED_ON) -> dict:
        self.on(day)
        applied = await self.step(APPLY, householdId=household_id, aidTypeCodes=codes, by="窗口 李娜")
        return await self.step(ACCEPT, applicationId=applied["id"], by="窗口 李娜")

    async def checked(self, application_id: str) -> dict:
        await self.step(
            INVESTIGATE, applicationId=application_id, by="社工 王强", findings="住房简陋，无劳动收入"
        )
        return await self.step(
            CHECK, applicationId=application_id, by="核对中心", result="收入、财产符合条件"
        )


@pytest.fixture
async def api(make_runtime) -> AsyncIterator[Api]:
    events = AidEvents()
    runtime = make_runtime(extra_plugins=[events])
    admin = runtime.database.run(lambda s: create_key(s, Role.ADMIN))
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        api = Api(runtime, GraphQL(client), events, admin)
        api.on(REGISTERED_ON)
        yield api
    await runtime.database.async_engine.dispose()


def codes(errors: list[dict]) -> list[str]:
    return [e["code"] for e in errors]


# -- the full path ---------------------------------------------------------------------------------


async def test_full_path_to_approval_puts_the_aid_on_the_chain(api):
    worker = api.key(locality_code="310105")
    household = await api.household()  # one adult, no income, no property: dibao, housing and medical
    api.on(ACCEPTED_ON)
    assessed = {
        a["aidType"]["code"]: a
        for a in (await api.gql.ok(HOUSEHOLD, {"id": household["id"]}, key=worker))["household"][
            "assessments"
        ]
    }
    applied = await api.step(
        APPLY,
        worker,
        householdId=household["id"],
        aidTypeCodes=["dibao", "housing", "medical"],
        by="窗口 李娜",
    )
    assert applied["status"] == "SUBMITTED"
    assert applied["nextSteps"] == ["acceptApplication"]
    assert applied["decisionDueOn"] is None and applied["flags"] == []
    assert [a["aidTypeCode"] for a in applied["aids"]] == ["dibao", "housing", "medical"]
    assert [a["aidType"]["department"] for a in applied["aids"]] == [
        "civil_affairs",
        "housing",
        "medical_security",
    ]

    accepted = await api.step(ACCEPT, worker, applicationId=applied["id"], by="窗口 李娜", note="材料齐全")
    assert accepted["status"] == "ACCEPTED" and accepted["acceptedOn"] == "2026-09-18"
    assert accepted["decisionDueOn"] == DUE_ON and accepted["workingDays"] == 20
    assert not accepted["decisionDueProvisional"]
    assert accepted["deadlineParameter"] == {
        "name": "approval.working_days",
        "localityCode": "310105",
        "value": "20",
        "illustrative": False,
    }
    api.on(date(2026, 9, 24))
    await api.step(
        INVESTIGATE, worker, applicationId=applied["id"], by="社工 王强", findings="独居，无劳动收入"
    )
    await api.step(CHECK, worker, applicationId=applied["id"], by="核对中心", result="无收入，无存款")
    api.on(date(2026, 10, 9))
    await api.step(APPRAISE, worker, applicationId=applied["id"], by="居委会", note="评议小组7人一致同意")
    api.on(date(2026, 10, 12))
    noticed = await api.step(NOTICE, worker, applicationId=applied["id"], by="居委会", note="社区公告栏")
    assert noticed["publicNoticeStartedOn"] == "2026-10-12" and noticed["publicNoticeEndsOn"] == "2026-10-18"
    assert noticed["publicNoticeParameter"] == {
        "name": "approval.public_notice_days",
        "localityCode": "100000",
        "value": "7",
    }
    assert noticed["nextSteps"] == ["decideApplication", "extendApplication"]

    api.on(date(2026, 10, 18))  # the last day of the notice: too early
    early = await api.do(
        DECIDE, worker, applicationId=applied["id"], by="街道 张敏", approve=["dibao", "housing", "medical"]
    )
    assert codes(early["userErrors"]) == ["NOTICE_RUNNING"]
    assert "2026-10-19" in early["userErrors"][0]["message"]

    api.on(date(2026, 10, 19))
    decided = await api.step(
        DECIDE, worker, applicationId=applied["id"], by="街道 张敏", approve=["dibao", "housing", "medical"]
    )
    assert decided["status"] == "APPROVED" and decided["decidedOn"] == "2026-10-19"
    assert decided["nextSteps"] == [] and not decided["overdue"]
    chain = {r["aidTypeCode"]: r for r in decided["household"]["aidChain"]}
    for aid in decided["aids"]:
        code = aid["aidTypeCode"]
        assert aid["outcome"] == "APPROVED"
        assert aid["monthlyAmount"] == assessed[code]["monthlyAmount"]
        assert aid["oneOffAmount"] == assessed[code]["oneOffAmount"]
        assert chain[code]["id"] == aid["aidRecordId"]
        assert (
            chain[code]["startedOn"] == "2026-10-19" and chain[code]["monthlyAmount"] == aid["monthlyAmount"]
        )
    assert chain["dibao"]["monthlyAmount"] == "1330.00"  # Shanghai's standard, one member, no income
    assert {r["provider"] for r in chain.values()} == {"civil_affairs", "housing", "medical_security"}
    assert sorted(e.aid_type_code for e in api.events.granted) == ["dibao", "housing", "medical"]

    steps = decided["steps"]
    assert [s["kind"] for s in steps] == [
        "APPLIED",
        "ACCEPTED",
        "INVESTIGATED",
        "ECONOMIC_CHECKED",
        "APPRAISED",
        "NOTICE_STARTED",
        "DECIDED",
    ]
    assert [s["on"] for s in steps][-2:] == ["2026-10-12", "2026-10-19"]
    assert steps[2]["by"] == "社工 王强" and steps[2]["note"] == "独居，无劳动收入"
    assert steps[3]["note"] == "无收入，无存款"
    assert {s["keyId"] for s in steps} == {steps[0]["keyId"]} and steps[0]["keyId"] is not None

    # the household's applications, and the application as a node
    found = await api.gql.ok(HOUSEHOLD, {"id": household["id"]}, key=worker)
    assert found["household"]["applications"] == [{"id": applied["id"], "status": "APPROVED"}]
    assert found["household"]["circle"] == "COVERED"
    one = await api.gql.ok(ONE, {"id": applied["id"]}, key=worker)
    assert one["node"] == {"id": applied["id"]} and one["application"]["status"] == "APPROVED"

    # approving again is out of order; the chain refuses the same aid twice anyway
    again = await api.do(DECIDE, worker, applicationId=applied["id"], by="街道 张敏", approve=["dibao"])
    assert codes(again["userErrors"]) == ["OUT_OF_ORDER"]
    assert "APPROVED" in again["userErrors"][0]["message"]


async def test_appraisal_skipped_when_undisputed_with_the_reason(api):
    household = await api.household()
    other = await api.household(person(region="310105"))
    accepted = await api.accepted(household["id"], ["dibao"])
    await api.checked(accepted["id"])
    skipped = await api.step(
        APPRAISE, applicationId=accepted["id"], by="街道 张敏", skipped=True, note="家庭情况清楚，无争议"
    )
    assert skipped["status"] == "APPRAISED"
    assert skipped["steps"][-1]["kind"] == "APPRAISAL_SKIPPED"
    assert skipped["steps"][-1]["note"] == "家庭情况清楚，无争议"
    # the reason is required
    second = await api.accepted(other["id"], ["dibao"])
    await api.checked(second["id"])
    bare = await api.do(APPRAISE, applicationId=second["id"], by="街道 张敏", skipped=True, note=" ")
    assert codes(bare["userErrors"]) == ["REQUIRED"] and bare["userErrors"][0]["field"] == ["note"]
    # then the notice and the decision as usual
    api.on(date(2026, 10, 12))
    await api.step(NOTICE, applicationId=accepted["id"], by="居委会")
    api.on(date(2026, 10, 19))
    decided = await api.step(DECIDE, applicationId=accepted["id"], by="街道 张敏", approve=["dibao"])
    assert decided["status"] == "APPROVED"


async def test_refusal_puts_the_household_on_the_policy_edge_for_two_years(api):
    worker = api.key(locality_code="310105")
    household = await api.household(person(region="310105", monthlyIncomes=income("20000.00")))
    assert (await api.gql.ok(HOUSEHOLD, {"id": household["id"]}, key=worker))["household"]["circle"] is None
    accepted = await api.accepted(household["id"], ["dibao", "temporary"])
    await api.checked(accepted["id"])
    # before the notice only a refusal can be decided; every aid type applied for must be decided
    approve = await api.do(
        DECIDE,
        worker,
        applicationId=accepted["id"],
        by="街道 张敏",
        approve=["dibao"],
        refuse=["temporary"],
        reason="收入高",
    )
    assert codes(approve["userErrors"]) == ["NOTICE_REQUIRED"]
    partial = await api.do(
        DECIDE, worker, applicationId=accepted["id"], by="街道 张敏", refuse=["dibao"], reason="收入高"
    )
    assert (
        codes(partial["userErrors"]) == ["UNDECIDED"] and "temporary" in partial["userErrors"][0]["message"]
    )
    no_reason = await api.do(
        DECIDE, worker, applicationId=accepted["id"], by="街道 张敏", refuse=["dibao", "temporary"]
    )
    assert codes(no_reason["userErrors"]) == ["REQUIRED"] and no_reason["userErrors"][0]["field"] == [
        "reason"
    ]

    api.on(date(2026, 9, 30))
    refused = await api.step(
        DECIDE,
        worker,
        applicationId=accepted["id"],
        by="街道 张敏",
        refuse=["dibao", "temporary"],
        reason="家庭人均收入20000.00元高于低保标准",
    )
    assert refused["status"] == "REFUSED"
    assert [(a["outcome"], a["reason"]) for a in refused["aids"]] == [
        ("REFUSED", "家庭人均收入20000.00元高于低保标准")
    ] * 2
    assert refused["household"]["aidChain"] == [] and api.events.granted == []
    assert (await api.gql.ok(HOUSEHOLD, {"id": household["id"]}, key=worker))["household"][
        "circle"
    ] == "POLICY_EDGE"
    api.on(date(2026, 9, 30) + timedelta(days=730))
    assert (await api.gql.ok(HOUSEHOLD, {"id": household["id"]}, key=worker))["household"][
        "circle"
    ] == "POLICY_EDGE"
    api.on(date(2026, 9, 30) + timedelta(days=731))  # two years on: out of the circle
    assert (await api.gql.ok(HOUSEHOLD, {"id": household["id"]}, key=worker))["household"]["circle"] is None


async def test_approval_needs_eligibility_under_the_current_assessment(api):
    household = await api.household(person(region="310105", monthlyIncomes=income("20000.00")))
    accepted = await api.accepted(household["id"], ["dibao"])
    await api.checked(accepted["id"])
    await api.step(APPRAISE, applicationId=accepted["id"], by="居委会", note="同意")
    await api.step(NOTICE, applicationId=accepted["id"], by="居委会")
    api.on(date(2026, 10, 9))
    refused = await api.do(DECIDE, applicationId=accepted["id"], by="街道 张敏", approve=["dibao"])
    assert codes(refused["userErrors"]) == ["NOT_ELIGIBLE"]
    assert refused["userErrors"][0]["field"] == ["approve", "0"]
    shown = await api.gql.ok(ONE, {"id": accepted["id"]}, key=api.admin)
    assert (
        shown["application"]["status"] == "IN_NOTICE" and shown["application"]["household"]["aidChain"] == []
    )


# -- order and bad input ---------------------------------------------------------------------------


async def test_steps_out_of_order_are_refused_naming_the_state_and_next_steps(api):
    household = await api.household()
    api.on(ACCEPTED_ON)
    applied = await api.step(APPLY, householdId=household["id"], aidTypeCodes=["dibao"], by="窗口 李娜")
    early = await api.do(INVESTIGATE, applicationId=applied["id"], by="社工 王强", findings="…")
    assert codes(early["userErrors"]) == ["OUT_OF_ORDER"]
    assert early["userErrors"][0]["field"] == ["applicationId"]
    assert "SUBMITTED" in early["userErrors"][0]["message"]
    assert "next: acceptApplication" in early["userErrors"][0]["message"]

    await api.step(ACCEPT, applicationId=applied["id"], by="窗口 李娜")
    skipped = await api.do(CHECK, applicationId=applied["id"], by="核对中心", result="…")
    message = skipped["userErrors"][0]["message"]
    assert codes(skipped["userErrors"]) == ["OUT_OF_ORDER"]
    assert "ACCEPTED" in message and "recordInvestigation, extendApplication" in message
    notice = await api.do(NOTICE, applicationId=applied["id"], by="居委会")
    assert codes(notice["userErrors"]) == ["OUT_OF_ORDER"]
    shown = (await api.gql.ok(ONE, {"id": applied["id"]}, key=api.admin))["application"]
    assert shown["status"] == "ACCEPTED" and [s["kind"] for s in shown["steps"]] == ["APPLIED", "ACCEPTED"]

    await api.checked(applied["id"])
    refuse_only = (await api.gql.ok(ONE, {"id": applied["id"]}, key=api.admin))["application"]["nextSteps"]
    assert refuse_only == ["recordAppraisal", "decideApplication (refusal only)", "extendApplication"]


async def test_bad_applications_are_refused_and_nothing_is_written(api):
    household = await api.household()
    api.on(ACCEPTED_ON)
    bad = await api.do(APPLY, householdId=household["id"], aidTypeCodes=["dibao", "gold_bars"], by=" ")
    assert sorted((e["field"], e["code"]) for e in bad["userErrors"]) == [
        (["aidTypeCodes", "1"], "UNKNOWN"),
        (["by"], "REQUIRED"),
    ]
    assert "dibao" in next(e["message"] for e in bad["userErrors"] if e["code"] == "UNKNOWN")
    none = await api.do(APPLY, householdId=household["id"], aidTypeCodes=[], by="窗口 李娜")
    assert codes(none["userErrors"]) == ["REQUIRED"]
    first = await api.step(APPLY, householdId=household["id"], aidTypeCodes=["dibao"], by="窗口 李娜")
    twice = await api.do(
        APPLY, householdId=household["id"], aidTypeCodes=["housing", "dibao"], by="窗口 李娜"
    )
    assert codes(twice["userErrors"]) == ["DUPLICATE_APPLICATION"]
    assert twice["userErrors"][0]["field"] == ["aidTypeCodes", "1"]
    listed = await api.gql.ok(LIST, {"filter": {"householdId": household["id"]}}, key=api.admin)
    assert [e["node"]["id"] for e in listed["applications"]["edges"]] == [first["id"]]
    wrong_id = await api.do(ACCEPT, applicationId=household["id"], by="窗口 李娜")
    assert codes(wrong_id["userErrors"]) == ["INVALID_ID"]


# -- the deadline ----------------------------------------------------------------------------------


async def test_deadline_over_the_national_day_holiday_and_one_extension(api):
    household = await api.household()
    other = await api.household(person(region="310105"))
    accepted = await api.accepted(household["id"], ["dibao"])
    assert accepted["decisionDueOn"] == DUE_ON  # across Mid-Autumn, National Day and two adjusted days
    api.on(date(2026, 10, 20))
    reasonless = await api.do(EXTEND, applicationId=accepted["id"], by="街道 张敏", reason="")
    assert codes(reasonless["userErrors"]) == ["REQUIRED"]
    extended = await api.step(
        EXTEND, applicationId=accepted["id"], by="街道 张敏", reason="人户分离，经济状况调查难度较大"
    )
    assert extended["decisionDueOn"] == EXTENDED_DUE_ON and extended["workingDays"] == 45
    assert extended["extended"] and extended["extensionReason"] == "人户分离，经济状况调查难度较大"
    assert extended["deadlineParameter"]["name"] == "approval.working_days_extended"
    assert extended["deadlineParameter"]["value"] == "45"
    assert extended["status"] == "ACCEPTED" and extended["steps"][-1]["kind"] == "EXTENDED"
    assert "extendApplication" not in extended["nextSteps"]
    again = await api.do(EXTEND, applicationId=accepted["id"], by="街道 张敏", reason="再延")
    assert codes(again["userErrors"]) == ["ALREADY_EXTENDED"]

    # an extension must come before the deadline passes
    late = await api.accepted(other["id"], ["dibao"])
    api.on(date(2026, 10, 23))
    refused = await api.do(EXTEND, applicationId=late["id"], by="街道 张敏", reason="人户分离")
    assert (
        codes(refused["userErrors"]) == ["DEADLINE_PASSED"] and DUE_ON in refused["userErrors"][0]["message"]
    )


async def test_a_deadline_beyond_the_calendar_is_provisional(api):
    household = await api.household()
    accepted = await api.accepted(household["id"], ["dibao"], day=date(2026, 12, 24))
    assert accepted["decisionDueOn"] == "2027-01-21" and accepted["decisionDueProvisional"]


# -- overdue ---------------------------------------------------------------------------------------


async def test_overdue_applications_show_on_the_query_and_raise_one_warning_closed_by_the_decision(api):
    worker = api.key(locality_code="310105")
    late_household = await api.household()
    on_time_household = await api.household(person(region="310105"))
    late = await api.accepted(late_household["id"], ["dibao"])
    on_time = await api.accepted(on_time_household["id"], ["dibao"], day=date(2026, 10, 12))

    api.on(date(2026, 10, 22))  # the due date itself is not late
    overdue = await api.gql.ok(LIST, {"filter": {"overdue": True}}, key=worker)
    assert overdue["applications"]["totalCount"] == 0
    api.on(date(2026, 10, 23))
    overdue = await api.gql.ok(LIST, {"filter": {"overdue": True, "localityCode": "310105"}}, key=worker)
    assert [e["node"] for e in overdue["applications"]["edges"]] == [
        {"id": late["id"], "status": "ACCEPTED", "overdue": True, "decisionDueOn": DUE_ON}
    ]
    current = await api.gql.ok(LIST, {"filter": {"overdue": False, "statuses": ["ACCEPTED"]}}, key=worker)
    assert [e["node"]["id"] for e in current["applications"]["edges"]] == [on_time["id"]]

    rule = {"filter": {"rule": "application_overdue"}}
    swept = await api.gql.ok(SWEEP, {"asOf": "2026-10-23"}, key=api.admin)
    assert swept["runSweep"]["userErrors"] == []
    warnings = (await api.gql.ok(WARNINGS, rule, key=worker))["warnings"]
    assert warnings["totalCount"] == 1
    warning = warnings["edges"][0]["node"]
    assert (
        warning["status"] == "OPEN"
        and warning["level"] == "YELLOW"
        and warning["routedTo"] == ["civil_affairs"]
    )
    assert (
        warning["evidence"][0]["code"] == "APPLICATION_OVERDUE"
        and DUE_ON in warning["evidence"][0]["message"]
    )

    for day in ("2026-10-23", "2026-10-26"):  # swept again, the same day and a later one: still one warning
        await api.gql.ok(SWEEP, {"asOf": day}, key=api.admin)
        again = (await api.gql.ok(WARNINGS, rule, key=worker))["warnings"]
        assert [e["node"]["id"] for e in again["edges"]] == [warning["id"]]

    api.on(date(2026, 10, 26))
    await api.checked(late["id"])
    await api.step(
        DECIDE, worker, applicationId=late["id"], by="街道 张敏", refuse=["dibao"], reason="材料不实"
    )
    closed = (await api.gql.ok(WARNINGS, rule, key=worker))["warnings"]["edges"]
    assert [(w["node"]["id"], w["node"]["status"], w["node"]["resolution"]) for w in closed] == [
        (warning["id"], "RESOLVED", "NO_ACTION")
    ]
    assert "REFUSED" in closed[0]["node"]["resolutionNote"]
    await api.gql.ok(SWEEP, {"asOf": "2026-10-27"}, key=api.admin)
    assert (await api.gql.ok(WARNINGS, rule, key=worker))["warnings"]["totalCount"] == 1  # nothing new


# -- 先行救助 ---------------------------------------------------------------------------------------


async def test_small_advance_at_the_cap_is_granted_at_once_and_over_it_refused(api):
    members = [
        person(region="310105"),
        person("SPOUSE", region="310105"),
        person("CHILD", region="310105", born=date(2015, 3, 1)),
    ]
    household = await api.household(*members)
    api.on(date(2026, 11, 3))
    over = await api.do(
        ADVANCE, householdId=household["id"], amount="1500.01", by="街道 张敏", note="火灾，急需生活费"
    )
    assert codes(over["userErrors"]) == ["OVER_ADVANCE_CAP"] and over["userErrors"][0]["field"] == ["amount"]
    message = over["userErrors"][0]["message"]
    assert (
        "500.00 yuan per person" in message and "3 member(s) = 1500.00" in message and "一事一议" in message
    )
    nothing = await api.gql.ok(HOUSEHOLD, {"id": household["id"]}, key=api.admin)
    assert nothing["household"]["applications"] == [] and api.events.granted == []

    granted = await api.step(
        ADVANCE, householdId=household["id"], amount="1500.00", by="街道 张敏", note="火灾，急需生活费"
    )
    assert granted["status"] == "ADVANCE_GRANTED" and granted["advance"]
    assert granted["nextSteps"] == ["completeAdvance"]
    assert granted["aids"][0]["outcome"] == "APPROVED" and granted["aids"][0]["oneOffAmount"] == "1500.00"
    [record] = granted["household"]["aidChain"]
    assert record == {
        "id": granted["aids"][0]["aidRecordId"],
        "aidTypeCode": "temporary",
        "provider": "civil_affairs",
        "monthlyAmount": None,
        "oneOffAmount": "1500.00",
        "startedOn": "2026-11-03",
        "endedOn": "2026-11-04",
    }
    assert [(e.aid_type_code, e.one_off_amount_fen) for e in api.events.granted] == [("temporary", 150000)]
    # the same advance twice the same day is refused by the aid chain (nothing paid twice)
    twice = await api.do(ADVANCE, householdId=household["id"], amount="100.00", by="街道 张敏", note="再次")
    assert codes(twice["userErrors"]) == ["DUPLICATE_AID"]

    api.on(date(2026, 11, 6))
    completed = await api.step(
        COMPLETE, applicationId=granted["id"], by="街道 张敏", note="登记救助事由、金额，补齐签字盖章"
    )
    assert completed["status"] == "APPROVED"
    assert [s["kind"] for s in completed["steps"]] == ["ADVANCE_GRANTED", "PAPERWORK_COMPLETED"]
    assert completed["steps"][-1]["on"] == "2026-11-06"


# -- scope -----------------------------------------------------------------------------------------


async def test_another_countys_key_cannot_see_or_act_and_readers_cannot_write(api):
    household = await api.household()
    accepted = await api.accepted(household["id"], ["dibao", "medical"])
    elsewhere = api.key(locality_code="120101")  # a Tianjin district
    assert (await api.gql.ok(ONE, {"id": accepted["id"]}, key=elsewhere)) == {
        "application": None,
        "node": None,
    }
    assert (await api.gql.ok(LIST, {}, key=elsewhere))["applications"]["totalCount"] == 0
    acted = await api.do(INVESTIGATE, elsewhere, applicationId=accepted["id"], by="某人", findings="…")
    assert codes(acted["userErrors"]) == ["NOT_FOUND"]
    applied = await api.do(APPLY, elsewhere, householdId=household["id"], aidTypeCodes=["housing"], by="某人")
    assert codes(applied["userErrors"]) == ["NOT_FOUND"]
    township = api.key(locality_code=TOWNSHIP)
    assert (await api.gql.ok(LIST, {}, key=township))["applications"]["totalCount"] == 1

    auditor = api.key(Role.AUDITOR)
    assert (await api.gql.ok(ONE, {"id": accepted["id"]}, key=auditor))["application"]["status"] == "ACCEPTED"
    refused = await api.do(INVESTIGATE, auditor, applicationId=accepted["id"], by="审计", findings="…")
    assert codes(refused["userErrors"]) == ["FORBIDDEN"]
    department = api.key(Role.DEPARTMENT, locality_code="310105", department="medical_security")
    refused = await api.do(INVESTIGATE, department, applicationId=accepted["id"], by="医保", findings="…")
    assert codes(refused["userErrors"]) == ["FORBIDDEN"]
    partner = api.key(Role.PARTNER, partner_code="red_cross_120000")
    assert (await api.gql.ok(ONE, {"id": accepted["id"]}, key=partner))["application"] is None
    shown = (await api.gql.ok(ONE, {"id": accepted["id"]}, key=api.admin))["application"]
    assert [s["kind"] for s in shown["steps"]] == ["APPLIED", "ACCEPTED"]  # nothing was written


async def test_helped_to_apply_after_a_warning(api):
    household = await api.household()
    other = await api.household(person(region="310105"))
    api.on(ACCEPTED_ON)
    await api.gql.ok(SWEEP, {}, key=api.admin)
    warnings = """query($id: ID!) { household(id: $id) { warnings { id rule } } }"""
    found = (await api.gql.ok(warnings, {"id": household["id"]}, key=api.admin))["household"]["warnings"]
    warning = next(w["id"] for w in found if w["rule"] == "likely_eligible_not_enrolled")
    wrong = await api.do(
        APPLY, householdId=other["id"], aidTypeCodes=["dibao"], by="社工 王强", warningId=warning
    )
    assert codes(wrong["userErrors"]) == ["MISMATCH"] and wrong["userErrors"][0]["field"] == ["warningId"]
    helped = await api.step(
        APPLY,
        householdId=household["id"],
        aidTypeCodes=["dibao"],
        by="社工 王强",
        warningId=warning,
        note="协助申办",
    )
    assert helped["warningId"] == warning and helped["steps"][0]["note"] == "协助申办"
