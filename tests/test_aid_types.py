"""Every aid type through the API, under two round-number test provinces (tests/packs/).

990000 圆数省: urban standard 900 until 2023-12-31 and 1000 from 2024-01-01, rural 800, marginal 1.5x,
tekun 1.3x, low-income family aid 0.3 of the standard, 6-month gradual exit, small advance 500, financial
assets ≤ 36 months of the standard, heating aid, disability living subsidy extended to marginal households.
980000 另一圆数省: the same without low-income family aid, heating aid or the extension, and an 18-month exit.
Households live in a township of either ("990000001", "980000001") and are assessed through
``assessments(asOf:)``; each test checks amounts and the reasons (codes, parameter names and values).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from conftest import income, person, register
from safetynet import hookimpl
from safetynet.rules import load_pack

PACKS = Path(__file__).with_name("packs")
ROUND, OTHER = "990000001", "980000001"


class RoundLocalities:
    """A test plugin providing the two round-number provinces."""

    @hookimpl
    def safetynet_localities(self):
        return [load_pack(PACKS / "round_990000.toml"), load_pack(PACKS / "round_980000.toml")]


@pytest.fixture
def runtime(make_runtime):
    return make_runtime(extra_plugins=[RoundLocalities()])


ASSESSMENTS = """query($id: ID!, $asOf: Date) { household(id: $id) {
  categories
  assessments(asOf: $asOf) { aidType { code } eligible monthlyAmount oneOffAmount
    reasons { code message parameters { name localityCode value effectiveFrom source illustrative } } } } }"""

GRANT = """mutation($input: GrantAidInput!) { grantAid(input: $input) {
  aidRecord { id } userErrors { field message code } } }"""

UPDATE = """mutation($input: CircumstancesInput!) { updateCircumstances(input: $input) {
  household { version } userErrors { field message code } } }"""

VERSION = """query($id: ID!) { household(id: $id) { version } }"""

ALL_ABLE = dict(eating=True, dressing=True, transferring=True, toileting=True, walkingIndoors=True, bathing=True)


def years_ago(years: int, days: int = 10) -> date:
    """A birth date making someone ``years`` old today (their birthday ``days`` days ago)."""
    day = date.today() - timedelta(days=days)
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def months_after(day: date, months: int) -> date:
    """The first of the month ``months`` after ``day``'s month (``day`` must be a first)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def member(relation: str = "HEAD", locality: str = ROUND, **facts) -> dict:
    return person(relation, region=locality[:6], **facts)


async def assess(gql, key, household_id: str, as_of: date | None = None) -> dict:
    """aid type code → assessment, plus ``"categories"``."""
    variables = {"id": household_id, "asOf": as_of.isoformat() if as_of else None}
    h = (await gql.ok(ASSESSMENTS, variables, key=key))["household"]
    found = {a["aidType"]["code"]: a for a in h["assessments"]}
    found["categories"] = h["categories"]
    return found


def reason(assessment: dict, code: str) -> dict:
    matches = [r for r in assessment["reasons"] if r["code"] == code]
    assert matches, f"no reason {code} in {[r['code'] for r in assessment['reasons']]}"
    return matches[0]


def codes(assessment: dict) -> list[str]:
    return [r["code"] for r in assessment["reasons"]]


def used(assessment: dict, code: str) -> dict[str, str]:
    """Parameter name → value for the parameters reason ``code`` names."""
    return {p["name"]: p["value"] for p in reason(assessment, code)["parameters"]}


# ------------------------------------------------------------------------------------------------
# The catalogue
# ------------------------------------------------------------------------------------------------

EXPECTED_TYPES = {
    "dibao": ("BASIC_LIVING", "civil_affairs"),
    "tekun": ("BASIC_LIVING", "civil_affairs"),
    "low_income_family": ("BASIC_LIVING", "civil_affairs"),
    "marginal": ("BASIC_LIVING", "civil_affairs"),
    "rigid_expense": ("BASIC_LIVING", "civil_affairs"),
    "medical": ("SPECIAL", "medical_security"),
    "education": ("SPECIAL", "education"),
    "housing": ("SPECIAL", "housing"),
    "employment": ("SPECIAL", "human_resources"),
    "disaster": ("SPECIAL", "emergency_management"),
    "temporary": ("EMERGENCY", "civil_affairs"),
    "care_service": ("SERVICE", "civil_affairs"),
    "heating": ("OTHER", "civil_affairs"),
    "funeral": ("OTHER", "civil_affairs"),
    "disability_subsidy": ("OTHER", "disabled_federation"),
}


async def test_every_aid_type_is_listed_with_its_tier_and_department(gql, admin_key):
    listed = (await gql.ok("{ aidTypes { code name nameEn tier department plugin } }", key=admin_key))["aidTypes"]
    by_code = {a["code"]: a for a in listed}
    assert set(by_code) == set(EXPECTED_TYPES)
    for code, (tier, department) in EXPECTED_TYPES.items():
        a = by_code[code]
        assert (a["tier"], a["department"], a["plugin"]) == (tier, department, f"aid.{code}")
        assert a["name"] and a["nameEn"]
    order = [a["code"] for a in listed]  # assessment order: each after what it depends on
    assert order.index("tekun") < order.index("dibao") < order.index("marginal") < order.index("rigid_expense")
    assert order.index("dibao") < order.index("low_income_family")


# ------------------------------------------------------------------------------------------------
# dibao
# ------------------------------------------------------------------------------------------------


async def test_dibao_is_the_gap_to_the_standard_times_members(gql, admin_key):
    members = [member(monthlyIncomes=income("1800.00")), member("SPOUSE"), member("CHILD")]
    h = await register(gql, admin_key, localityCode=ROUND, members=members)
    a = await assess(gql, admin_key, h["id"])
    dibao = a["dibao"]
    assert (dibao["eligible"], dibao["monthlyAmount"]) == (True, "1200.00")
    assert codes(dibao)[0] == "INCOME_BELOW_STANDARD"
    assert reason(dibao, "INCOME_BELOW_STANDARD")["message"] == "per-capita income 600.00 < dibao standard 1000.00"
    standard = reason(dibao, "INCOME_BELOW_STANDARD")["parameters"][0]
    assert standard == {
        "name": "dibao.standard.urban", "localityCode": "990000", "value": "1000.00",
        "effectiveFrom": "2024-01-01", "source": "test pack 990000", "illustrative": True,
    }
    assert reason(dibao, "GAP_TO_STANDARD")["message"] == "(1000.00 − 600.00) × 3 members = 1200.00 a month"
    assert used(dibao, "PROPERTY_WITHIN_LIMIT") == {
        "dibao.standard.urban": "1000.00", "property.financial_assets_months": "36"
    }
    assert "EMPLOYMENT_COST_DEDUCTED" not in codes(dibao)  # nobody employed, no dibao in force yet
    assert a["categories"] == ["DIBAO"]
    assert a["marginal"]["eligible"] is False and codes(a["marginal"]) == ["ON_DIBAO_OR_TEKUN"]
    assert a["low_income_family"]["eligible"] is False
    assert a["low_income_family"]["monthlyAmount"] == "0.00"


async def test_rural_households_use_the_rural_standard(gql, admin_key):
    h = await register(
        gql, admin_key, localityCode=ROUND, residence="RURAL",
        members=[member(monthlyIncomes=income("500.00")), member("SPOUSE")],
    )
    dibao = (await assess(gql, admin_key, h["id"]))["dibao"]
    assert dibao["monthlyAmount"] == "1100.00"  # (800 − 250) × 2
    assert used(dibao, "INCOME_BELOW_STANDARD") == {"dibao.standard.rural": "800.00"}


@pytest.mark.parametrize(("savings", "eligible"), [("40000.00", False), ("36000.00", True)])
async def test_financial_assets_above_the_limit_bar_dibao(gql, admin_key, savings, eligible):
    h = await register(
        gql, admin_key, localityCode=ROUND, members=[member()],
        assets=[{"kind": "SAVINGS", "value": savings}, {"kind": "VEHICLE", "value": "90000.00"}],
    )
    a = await assess(gql, admin_key, h["id"])
    dibao = a["dibao"]
    assert dibao["eligible"] is eligible
    if eligible:  # exactly standard × members × months is still within the limit; vehicles do not count
        assert dibao["monthlyAmount"] == "1000.00"
        assert "PROPERTY_WITHIN_LIMIT" in codes(dibao)
        return
    assert dibao["monthlyAmount"] == "0.00"
    above = reason(dibao, "PROPERTY_ABOVE_LIMIT")
    assert above["message"].startswith("financial assets (savings + securities) 40000.00 > limit 36000.00")
    assert {p["name"]: p["value"] for p in above["parameters"]} == {
        "dibao.standard.urban": "1000.00", "property.financial_assets_months": "36"
    }
    assert a["marginal"]["eligible"] is False and "PROPERTY_ABOVE_LIMIT" in codes(a["marginal"])
    temporary = a["temporary"]  # no income, but not without means: no small advance
    assert temporary["eligible"] is False and "PROPERTY_ABOVE_LIMIT" in codes(temporary)
    assert a["categories"] == []


async def test_a_parameter_changed_on_a_date_changes_the_assessment_from_that_date(gql, admin_key):
    h = await register(gql, admin_key, localityCode=ROUND, members=[member(), member("SPOUSE")])
    before = (await assess(gql, admin_key, h["id"], date(2023, 12, 31)))["dibao"]
    after = (await assess(gql, admin_key, h["id"], date(2024, 1, 1)))["dibao"]
    assert (before["monthlyAmount"], after["monthlyAmount"]) == ("1800.00", "2000.00")
    old = reason(before, "INCOME_BELOW_STANDARD")["parameters"][0]
    new = reason(after, "INCOME_BELOW_STANDARD")["parameters"][0]
    assert (old["value"], old["effectiveFrom"]) == ("900.00", "2020-01-01")
    assert (new["value"], new["effectiveFrom"]) == ("1000.00", "2024-01-01")


# ------------------------------------------------------------------------------------------------
# marginal, low-income family aid and the single-person option
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locality", [ROUND, OTHER])
async def test_marginal_household_and_low_income_family_aid_where_the_locality_has_it(gql, admin_key, locality):
    members = [member(locality=locality, monthlyIncomes=income("2400.00")), member("SPOUSE", locality)]
    h = await register(gql, admin_key, localityCode=locality, members=members)
    a = await assess(gql, admin_key, h["id"])
    assert a["dibao"]["eligible"] is False and a["dibao"]["monthlyAmount"] == "0.00"
    assert reason(a["dibao"], "INCOME_AT_OR_ABOVE_STANDARD")["message"] == (
        "per-capita income 1200.00 ≥ dibao standard 1000.00"
    )
    assert "SINGLE_PERSON_OPTION" not in codes(a["dibao"])
    marginal = a["marginal"]
    assert marginal["eligible"] is True and marginal["monthlyAmount"] is None
    band = reason(marginal, "INCOME_IN_MARGINAL_BAND")
    assert band["message"] == "per-capita income 1200.00 < 1.5 × dibao standard 1000.00 = 1500.00"
    assert {p["name"]: p["value"] for p in band["parameters"]} == {
        "marginal.income_multiple": "1.5", "dibao.standard.urban": "1000.00"
    }
    assert a["categories"] == ["MARGINAL"]
    family = a["low_income_family"]
    if locality == ROUND:
        assert (family["eligible"], family["monthlyAmount"]) == (True, "300.00")
        amount = reason(family, "LOW_INCOME_FAMILY_AMOUNT")
        assert amount["message"] == "0.3 × dibao standard 1000.00 = 300.00 a month per household"
        assert {p["name"]: p["value"] for p in amount["parameters"]} == {
            "low_income_family.share_of_standard": "0.3", "dibao.standard.urban": "1000.00"
        }
    else:
        assert (family["eligible"], family["monthlyAmount"]) == (False, "0.00")
        assert codes(family) == ["NOT_OFFERED_HERE"]
        assert "low_income_family.share_of_standard" in reason(family, "NOT_OFFERED_HERE")["message"]


@pytest.mark.parametrize("locality", [ROUND, OTHER])
async def test_single_person_option_for_a_severely_disabled_member(gql, admin_key, locality):
    head = member(locality=locality, monthlyIncomes=income("2400.00"))
    disabled = member(
        "SPOUSE", locality, disability="LEVEL_1", laborCapacity="NONE",
        selfCare={**ALL_ABLE, "bathing": False, "dressing": False},
    )
    h = await register(gql, admin_key, localityCode=locality, members=[head, disabled])
    a = await assess(gql, admin_key, h["id"])
    dibao = a["dibao"]
    assert dibao["eligible"] is False and dibao["monthlyAmount"] == "0.00"
    option = reason(dibao, "SINGLE_PERSON_OPTION")
    assert "1 severely disabled or seriously ill member(s): 1000.00 a month" in option["message"]
    assert "not cumulative" in option["message"]
    assert {p["name"]: p["value"] for p in option["parameters"]} == {
        "dibao.standard.urban": "1000.00", "marginal.income_multiple": "1.5"
    }
    assert a["marginal"]["eligible"] is True
    family = a["low_income_family"]
    disability = a["disability_subsidy"]
    if locality == ROUND:
        assert family["monthlyAmount"] == "300.00"
        alternative = reason(family, "SINGLE_PERSON_ALTERNATIVE")["message"]
        assert "1000.00" in alternative and "not cumulative with low-income family aid" in alternative
        # living subsidy extended to the marginal household's severely disabled member + nursing subsidy
        assert (disability["eligible"], disability["monthlyAmount"]) == (True, "300.00")
        assert used(disability, "LIVING_SUBSIDY") == {"disability_subsidy.living_monthly": "100.00"}
    else:
        assert family["eligible"] is False
        assert (disability["eligible"], disability["monthlyAmount"]) == (True, "200.00")
        assert "NOT_EXTENDED_TO_MARGINAL" in codes(disability)
    assert used(disability, "NURSING_SUBSIDY") == {"disability_subsidy.nursing_monthly": "200.00"}
    care = a["care_service"]
    assert care["eligible"] is True
    assert reason(care, "CANNOT_LOOK_AFTER_SELF")["message"].startswith("0 member(s) fully and 1 partly unable")


# ------------------------------------------------------------------------------------------------
# tekun
# ------------------------------------------------------------------------------------------------


async def test_an_elderly_person_alone_without_income_or_labour_capacity_is_tekun(gql, admin_key):
    elder = member(
        born=years_ago(70), laborCapacity="NONE", employment="RETIRED",
        selfCare={**ALL_ABLE, "eating": False, "dressing": False, "toileting": False, "bathing": False},
    )
    h = await register(gql, admin_key, localityCode=ROUND, members=[elder])
    a = await assess(gql, admin_key, h["id"])
    tekun = a["tekun"]
    assert tekun["eligible"] is True
    assert tekun["monthlyAmount"] == "1900.00"  # 1.3 × 1000 support + 600 care subsidy, fully unable
    support = reason(tekun, "SUPPORT_AMOUNT")
    assert support["message"] == (
        "support at least 1.3 × dibao standard 1000.00 = 1300.00 per person × 1 = 1300.00 a month"
    )
    assert {p["name"]: p["value"] for p in support["parameters"]} == {
        "tekun.support_multiple": "1.3", "dibao.standard.urban": "1000.00"
    }
    level = reason(tekun, "SELF_CARE_LEVEL")["message"]
    assert level == "self-care: 4 of 6 indicators unable (most dependent member) → FULLY_UNABLE"
    assert used(tekun, "CARE_SUBSIDY") == {
        "tekun.care_subsidy.fully_unable": "600.00", "tekun.care_subsidy.partly_unable": "300.00"
    }
    assert used(tekun, "TEKUN_ELIGIBLE") == {"tekun.minor_age_limit": "18", "tekun.elderly_age": "60"}
    dibao = a["dibao"]
    assert dibao["eligible"] is False and dibao["monthlyAmount"] == "0.00"
    assert "TEKUN_SUPPORT_INSTEAD" in codes(dibao)
    assert a["categories"] == ["TEKUN"]
    assert a["care_service"]["eligible"] is True
    assert (a["temporary"]["eligible"], a["temporary"]["oneOffAmount"]) == (True, "500.00")  # nothing in force yet
    assert a["medical"]["oneOffAmount"] == "400.00"  # premium paid in full for tekun
    assert used(a["medical"], "PREMIUM_PAID_IN_FULL") == {"medical.resident_premium_annual": "400.00"}


@pytest.mark.parametrize(("age", "is_tekun"), [(17, True), (18, False)])
async def test_minors_under_the_age_limit_are_tekun_and_adults_able_to_work_are_not(gql, admin_key, age, is_tekun):
    h = await register(gql, admin_key, localityCode=ROUND, members=[member(born=years_ago(age))])
    a = await assess(gql, admin_key, h["id"])
    tekun = a["tekun"]
    assert tekun["eligible"] is is_tekun
    if is_tekun:  # an orphan of 17: default labour capacity FULL does not matter for a minor
        assert tekun["monthlyAmount"] == "1300.00"
        assert used(tekun, "TEKUN_ELIGIBLE")["tekun.minor_age_limit"] == "18"
        assert "SELF_CARE_NOT_ASSESSED" in codes(tekun)
        assert a["dibao"]["eligible"] is False
        assert a["categories"] == ["TEKUN"]
    else:
        assert tekun["monthlyAmount"] == "0.00"
        supporter = reason(tekun, "ABLE_SUPPORTER")
        assert supporter["message"] == (
            "1 member(s) aged 18 to under 60 able to work: an able legal supporter in the household"
        )
        assert {p["name"]: p["value"] for p in supporter["parameters"]} == {
            "tekun.minor_age_limit": "18", "tekun.elderly_age": "60"
        }
        assert (a["dibao"]["eligible"], a["dibao"]["monthlyAmount"]) == (True, "1000.00")


async def test_tekun_needs_no_income(gql, admin_key):
    elder = member(born=years_ago(75), laborCapacity="NONE", monthlyIncomes=income("100.00", "PENSION"))
    a = await assess(gql, admin_key, (await register(gql, admin_key, localityCode=ROUND, members=[elder]))["id"])
    assert a["tekun"]["eligible"] is False
    assert reason(a["tekun"], "HAS_INCOME")["message"] == "household income 100.00 a month: has an income source"
    assert a["dibao"]["monthlyAmount"] == "900.00"


# ------------------------------------------------------------------------------------------------
# rigid expense
# ------------------------------------------------------------------------------------------------


async def test_rigid_expense_household(gql, admin_key):
    h = await register(
        gql, admin_key, localityCode=ROUND,
        members=[member(monthlyIncomes=income("3200.00")), member("SPOUSE")],
        rigidExpenses=[{"kind": "MEDICAL", "annualAmount": "30000.00"}],
    )
    a = await assess(gql, admin_key, h["id"])
    assert a["dibao"]["eligible"] is False and a["marginal"]["eligible"] is False
    assert "INCOME_ABOVE_MARGINAL_BAND" in codes(a["marginal"])
    rigid = a["rigid_expense"]
    assert rigid["eligible"] is True and rigid["monthlyAmount"] is None
    low = reason(rigid, "INCOME_BELOW_DISPOSABLE")
    assert low["message"] == (
        "annual per-capita income 19200.00 < last year's per-capita disposable income 30000.00"
    )
    assert {p["name"]: p["value"] for p in low["parameters"]} == {"rigid_expense.disposable_income_annual": "30000.00"}
    heavy = reason(rigid, "RIGID_SPENDING_HEAVY")
    assert heavy["message"].startswith("rigid spending 30000.00 a year (medical 30000.00,")
    assert heavy["message"].endswith("> 0.6 × annual household income 38400.00")
    assert {p["name"]: p["value"] for p in heavy["parameters"]} == {
        "dibao.standard.urban": "1000.00", "rigid_expense.spending_share": "0.6"
    }
    assert a["categories"] == ["RIGID_EXPENSE"]
    medical = a["medical"]  # 200 × 2 premium subsidy + min((30000 − 1000) × 0.5, 10000)
    assert (medical["eligible"], medical["oneOffAmount"]) == (True, "10400.00")
    assert used(medical, "OUT_OF_POCKET_AID") == {
        "medical.aid_threshold_annual": "1000.00", "medical.aid_ratio": "0.5", "medical.aid_cap_annual": "10000.00"
    }


async def test_living_costs_count_only_up_to_the_dibao_standard(gql, admin_key):
    h = await register(
        gql, admin_key, localityCode=ROUND,
        members=[member(monthlyIncomes=income("3400.00")), member("SPOUSE")],
        rigidExpenses=[{"kind": "LIVING", "annualAmount": "50000.00"}],
    )
    rigid = (await assess(gql, admin_key, h["id"]))["rigid_expense"]
    assert rigid["eligible"] is False  # living counted as 1000 × 2 × 12 = 24000 ≤ 0.6 × 40800 = 24480
    message = reason(rigid, "RIGID_SPENDING_NOT_HEAVY")["message"]
    assert "living 24000.00 counted up to dibao standard 1000.00 × 2 × 12 = 24000.00" in message
    assert message.endswith("≤ 0.6 × annual household income 40800.00")


# ------------------------------------------------------------------------------------------------
# gradual exit
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("locality", "months"), [(ROUND, 6), (OTHER, 18)])
async def test_gradual_exit_keeps_dibao_for_the_localitys_months_after_income_rises(gql, admin_key, locality, months):
    today = date.today()
    head = member(locality=locality, employment="EMPLOYED", monthlyIncomes=income("1200.00"))
    h = await register(gql, admin_key, localityCode=locality, members=[head, member("SPOUSE", locality)])
    first = await assess(gql, admin_key, h["id"])
    assert first["dibao"]["monthlyAmount"] == "800.00"  # (1000 − 600) × 2; no deduction before dibao
    granted = (await gql.ok(GRANT, {"input": {
        "householdId": h["id"], "aidTypeCode": "dibao", "startedOn": today.isoformat(), "monthlyAmount": "800.00",
    }}, key=admin_key))["grantAid"]
    assert granted["userErrors"] == []

    on_dibao = (await assess(gql, admin_key, h["id"]))["dibao"]
    assert on_dibao["monthlyAmount"] == "1000.00"  # 200 employment costs deducted: (1000 − 500) × 2
    deducted = reason(on_dibao, "EMPLOYMENT_COST_DEDUCTED")
    assert deducted["message"].startswith("employment costs 200.00 deducted from earned income (200.00 per")
    assert {p["name"]: p["value"] for p in deducted["parameters"]} == {"dibao.employment_cost_deduction": "200.00"}

    rises_on = months_after(today.replace(day=1), 2)
    version = (await gql.ok(VERSION, {"id": h["id"]}, key=admin_key))["household"]["version"]
    updated = (await gql.ok(UPDATE, {"input": {
        "householdId": h["id"], "version": version, "effectiveFrom": rises_on.isoformat(),
        "members": [{"memberId": h["members"][0]["id"], "monthlyIncomes": income("2600.00")}],
    }}, key=admin_key))["updateCircumstances"]
    assert updated["userErrors"] == []

    ends_on = months_after(rises_on, months)
    last_day = ends_on - timedelta(days=1)
    for day in (rises_on, months_after(rises_on, months - 1) + timedelta(days=14), last_day):
        dibao = (await assess(gql, admin_key, h["id"], day))["dibao"]
        assert dibao["eligible"] is True, day
        assert dibao["monthlyAmount"] == "0.00"  # the payment on the aid record continues
        exit_reason = reason(dibao, "GRADUAL_EXIT")
        assert f"since {rises_on.isoformat()}" in exit_reason["message"]
        assert f"dibao continues {months} months, until {ends_on.isoformat()}" in exit_reason["message"]
        assert {p["name"]: p["value"] for p in exit_reason["parameters"]} == {
            "dibao.standard.urban": "1000.00", "dibao.gradual_exit_months": str(months)
        }
        assert reason(dibao, "INCOME_AT_OR_ABOVE_STANDARD")["message"] == (
            "per-capita income 1200.00 ≥ dibao standard 1000.00"  # (2600 − 200) / 2
        )
    after = await assess(gql, admin_key, h["id"], ends_on)
    dibao = after["dibao"]
    assert dibao["eligible"] is False
    ended = reason(dibao, "GRADUAL_EXIT_ENDED")
    assert ended["message"] == (
        f"gradual exit of {months} months after income rose on {rises_on.isoformat()} ended on "
        f"{ends_on.isoformat()}: terminate dibao after verification"
    )
    assert used(dibao, "GRADUAL_EXIT_ENDED") == {"dibao.gradual_exit_months": str(months)}


async def test_no_gradual_exit_without_an_employed_member(gql, admin_key):
    today = date.today()
    h = await register(gql, admin_key, localityCode=ROUND, members=[member(monthlyIncomes=income("1200.00"))])
    await gql.ok(GRANT, {"input": {
        "householdId": h["id"], "aidTypeCode": "dibao", "startedOn": today.isoformat(), "monthlyAmount": "1.00",
    }}, key=admin_key)
    dibao = (await assess(gql, admin_key, h["id"]))["dibao"]
    assert dibao["eligible"] is False and "NO_GRADUAL_EXIT" in codes(dibao)


# ------------------------------------------------------------------------------------------------
# special, emergency, service and other aid
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("residence", ["URBAN", "RURAL"])
async def test_special_aid_for_a_dibao_household(gql, admin_key, residence):
    members = [
        member(born=years_ago(40), employment="UNEMPLOYED"),
        member("CHILD", born=years_ago(10), employment="STUDENT", educationStage="PRIMARY"),
        member("CHILD", born=years_ago(19), employment="STUDENT", educationStage="UNIVERSITY"),
    ]
    h = await register(
        gql, admin_key, localityCode=ROUND, residence=residence, members=members,
        rigidExpenses=[{"kind": "MEDICAL", "annualAmount": "5000.00"}],
    )
    a = await assess(gql, admin_key, h["id"])
    standard = "1000.00" if residence == "URBAN" else "800.00"
    assert a["dibao"]["monthlyAmount"] == f"{float(standard) * 3:.2f}"

    medical = a["medical"]  # 200 × 3 premium subsidy + (5000 − 1000) × 0.5
    assert (medical["eligible"], medical["oneOffAmount"], medical["monthlyAmount"]) == (True, "2600.00", None)
    assert used(medical, "PREMIUM_SUBSIDY_FIXED") == {
        "medical.premium_subsidy_fixed": "200.00", "medical.resident_premium_annual": "400.00"
    }
    education = a["education"]
    assert (education["eligible"], education["oneOffAmount"]) == (True, "4000.00")
    assert reason(education, "COMPULSORY_SUBSIDY")["message"] == (
        "1 compulsory-education pupil(s) (two exemptions, one subsidy) × 1000.00 = 1000.00 a year"
    )
    assert used(education, "UNIVERSITY_GRANT") == {"education.grant_annual.university": "3000.00"}
    assert "PRESCHOOL_GRANT" not in codes(education)

    housing = a["housing"]
    assert housing["eligible"] is True
    if residence == "URBAN":
        assert (housing["monthlyAmount"], housing["oneOffAmount"]) == ("300.00", "0.00")
        assert used(housing, "URBAN_RENT_SUBSIDY") == {"housing.urban_rent_subsidy_monthly": "300.00"}
    else:
        assert (housing["monthlyAmount"], housing["oneOffAmount"]) == ("0.00", "20000.00")
        assert "safety appraisal" in reason(housing, "RURAL_RENOVATION_PRIORITY")["message"]

    employment = a["employment"]
    assert employment["eligible"] is True and employment["monthlyAmount"] is None
    assert used(employment, "UNEMPLOYED_ABLE_MEMBERS") == {
        "employment.working_age_from": "16", "employment.working_age_to": "60"
    }
    assert "ZERO_EMPLOYMENT_HOUSEHOLD" in codes(employment)

    temporary = a["temporary"]
    assert (temporary["eligible"], temporary["oneOffAmount"]) == (True, "1500.00")
    assert reason(temporary, "SMALL_ADVANCE")["message"] == (
        "no income and no dibao or tekun in force: small advance aid of up to 500.00 per person × 3 = 1500.00 "
        "without full checks, papers completed afterwards"
    )
    assert used(temporary, "ONE_MATTER_ONE_DISCUSSION") == {"temporary.small_advance_cap_per_person": "500.00"}
    assert "BASIC_LIVING_ASSESSED" in codes(temporary)

    heating = a["heating"]
    assert (heating["eligible"], heating["oneOffAmount"]) == (True, "1000.00")
    assert used(heating, "HEATING_ALLOWANCE") == {"heating.allowance_per_household": "1000.00"}
    assert a["care_service"]["eligible"] is False and "NO_CARE_NEED_RECORDED" in codes(a["care_service"])
    assert a["disability_subsidy"]["eligible"] is False
    assert (a["disaster"]["eligible"], codes(a["disaster"])) == (False, ["NO_DISASTER_FACT"])
    assert (a["funeral"]["eligible"], codes(a["funeral"])) == (False, ["NO_DEATH_FACT"])


async def test_households_above_the_low_income_lines_get_no_special_aid(gql, admin_key):
    h = await register(
        gql, admin_key, localityCode=OTHER,
        members=[member(locality=OTHER, monthlyIncomes=income("9000.00")), member("SPOUSE", OTHER)],
    )
    a = await assess(gql, admin_key, h["id"])
    assert a["categories"] == []
    for code in ("medical", "education", "housing", "employment", "care_service"):
        assert a[code]["eligible"] is False and "NOT_LOW_INCOME" in codes(a[code]), code
    assert codes(a["heating"]) == ["NOT_OFFERED_HERE"]
    assert (a["temporary"]["eligible"], codes(a["temporary"])) == (False, ["HAS_INCOME"])
    assert "RIGID_SPENDING_NOT_HEAVY" in codes(a["rigid_expense"])
