"""Properties of the vectorised aid rules on HouseholdBatch objects built directly (NumPy, no database).

Random households are checked against plain per-household reference implementations written here,
which read the parameters straight from the test packs (tests/packs/) rather than through the
columnar ``Parameters`` the rules use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safetynet import hookimpl
from safetynet.assessments import assess_batch
from safetynet.catalogue import Catalogue
from safetynet.model import (
    AssetKind,
    DisabilityLevel,
    EducationStage,
    Employment,
    Illness,
    LaborCapacity,
    SelfCareLevel,
    code_of,
)
from safetynet.plugins import load_plugins
from safetynet.rules import (
    Assessment,
    HouseholdBatch,
    LocalityRegistry,
    MemberColumns,
    Parameters,
    load_pack,
    self_care_level,
)
from safetynet_aid import dibao, low_income_family, marginal, tekun

PACKS = Path(__file__).with_name("packs")
LOCALITIES = {code: load_pack(PACKS / f"round_{code}.toml") for code in ("990000", "980000")}
REGISTRY = LocalityRegistry(LOCALITIES.values())


# ------------------------------------------------------------------------------------------------
# Building batches
# ------------------------------------------------------------------------------------------------


@dataclass
class Person:
    age: int = 40
    income: int = 0  # fen a month, all kinds
    earned: int = 0  # fen a month, wages and business (≤ income)
    employment: Employment = Employment.NOT_IN_LABOR_FORCE
    disability: DisabilityLevel = DisabilityLevel.NONE
    illness: Illness = Illness.NONE
    labor: LaborCapacity = LaborCapacity.FULL
    education: EducationStage = EducationStage.NONE
    self_care_unable: int = -1


@dataclass
class Home:
    locality: str = "990000001"
    urban: bool = True
    members: list[Person] = field(default_factory=list)
    savings: int = 0
    securities: int = 0
    dibao_in_force: bool = False
    income_changed_on: date | None = None


def build(homes: list[Home], as_of: date) -> HouseholdBatch:
    people = [(i, p) for i, home in enumerate(homes) for p in home.members]

    def column(get, dtype):
        return np.array([get(p) for _, p in people], dtype=dtype)

    members = MemberColumns(
        household_index=np.array([i for i, _ in people], dtype=np.int32),
        member_id=np.arange(1, len(people) + 1, dtype=np.int64),
        age=column(lambda p: p.age, np.int16),
        sex=np.zeros(len(people), dtype=np.int8),
        relation=np.zeros(len(people), dtype=np.int8),
        disability=column(lambda p: code_of(p.disability), np.int8),
        illness=column(lambda p: code_of(p.illness), np.int8),
        labor_capacity=column(lambda p: code_of(p.labor), np.int8),
        employment=column(lambda p: code_of(p.employment), np.int8),
        education_stage=column(lambda p: code_of(p.education), np.int8),
        self_care_unable=column(lambda p: p.self_care_unable, np.int8),
        monthly_income_fen=column(lambda p: p.income, np.int64),
        earned_income_fen=column(lambda p: p.earned, np.int64),
    )
    n = len(homes)
    in_force = np.array([h.dibao_in_force for h in homes], dtype=bool)
    return HouseholdBatch(
        as_of=as_of,
        household_id=np.arange(1, n + 1, dtype=np.int64),
        locality_code=np.array([h.locality for h in homes], dtype="<U12"),
        urban=np.array([h.urban for h in homes], dtype=bool),
        members=members,
        assets_fen={
            AssetKind.SAVINGS: np.array([h.savings for h in homes], dtype=np.int64),
            AssetKind.SECURITIES: np.array([h.securities for h in homes], dtype=np.int64),
        },
        active_aid={"dibao": in_force},
        aid_started_on={"dibao": np.where(in_force, np.datetime64("2020-01-01"), np.datetime64("NaT"))},
        income_changed_on=np.array(
            [np.datetime64(h.income_changed_on) if h.income_changed_on else np.datetime64("NaT") for h in homes],
            dtype="datetime64[D]",
        ),
    )


def parameters(batch: HouseholdBatch) -> Parameters:
    return Parameters(REGISTRY, batch.locality_code, batch.as_of)


# ------------------------------------------------------------------------------------------------
# Reference implementations: one household at a time, plain Python
# ------------------------------------------------------------------------------------------------


def param(home: Home, name: str, day: date) -> Decimal:
    return LOCALITIES[home.locality[:6]].parameters[name].at(day).value


def fen(yuan: Decimal) -> int:
    return int(yuan * 100)


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def months_between(start: date, end: date) -> int:
    """Whole calendar months from ``start`` to ``end``."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - (end.day < start.day)


def standard_of(home: Home, day: date) -> int:
    return fen(param(home, "dibao.standard.urban" if home.urban else "dibao.standard.rural", day))


def per_capita_counted(home: Home, day: date) -> int:
    deduction = fen(param(home, "dibao.employment_cost_deduction", day))
    deducted = sum(
        min(deduction, p.earned)
        for p in home.members
        if home.dibao_in_force and p.employment is Employment.EMPLOYED
    )
    return (sum(p.income for p in home.members) - deducted) // len(home.members)


def property_within(home: Home, day: date) -> bool:
    months = param(home, "property.financial_assets_months", day)
    limit = half_up(standard_of(home, day) * len(home.members) * months)
    return home.savings + home.securities <= limit


def reference_dibao(home: Home, day: date, tekun_eligible: bool = False) -> tuple[bool, int]:
    """(eligible, monthly amount in fen)."""
    if not home.members or tekun_eligible:
        return False, 0
    standard = standard_of(home, day)
    per_capita = per_capita_counted(home, day)
    if not property_within(home, day):
        return False, 0
    if per_capita < standard:
        return True, (standard - per_capita) * len(home.members)
    employed = any(p.employment is Employment.EMPLOYED for p in home.members)
    exit_months = int(param(home, "dibao.gradual_exit_months", day))
    changed = home.income_changed_on
    exiting = changed is not None and 0 <= months_between(changed, day) < exit_months
    return (home.dibao_in_force and employed and exiting), 0


def reference_worst_self_care(home: Home) -> int:
    levels = [self_care_level(p.self_care_unable) for p in home.members]
    codes = [code_of(level) for level in levels if level is not None]
    return max(codes, default=-1)


# ------------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------------

DAYS = st.dates(min_value=date(2023, 1, 1), max_value=date(2027, 12, 31))


@st.composite
def people(draw, *, employed_ok: bool = True) -> Person:
    income = draw(st.integers(0, 400_000))
    employments = list(Employment) if employed_ok else [e for e in Employment if e is not Employment.EMPLOYED]
    return Person(
        age=draw(st.integers(0, 100)),
        income=income,
        earned=draw(st.integers(0, income)),
        employment=draw(st.sampled_from(employments)),
        disability=draw(st.sampled_from(list(DisabilityLevel))),
        illness=draw(st.sampled_from(list(Illness))),
        labor=draw(st.sampled_from(list(LaborCapacity))),
        education=draw(st.sampled_from(list(EducationStage))),
        self_care_unable=draw(st.integers(-1, 6)),
    )


@st.composite
def plain_homes(draw) -> Home:
    """No property, exit or tekun complications: no assets, no aid in force."""
    return Home(
        locality=draw(st.sampled_from(["990000001", "980000001"])),
        urban=draw(st.booleans()),
        members=draw(st.lists(people(), min_size=1, max_size=6)),
    )


def months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    for last in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError(day)


@st.composite
def changed_dates(draw, as_of: date) -> date | None:
    """None, any day in the last 900, or a day near the end of a 6- or 18-month exit."""
    kind = draw(st.sampled_from(["none", "any", "boundary"]))
    if kind == "none":
        return None
    if kind == "any":
        return as_of - timedelta(days=draw(st.integers(0, 900)))
    months = draw(st.sampled_from([5, 6, 7, 17, 18, 19]))
    return months_before(as_of, months) + timedelta(days=draw(st.integers(-3, 3)))


@st.composite
def any_homes(draw, as_of: date) -> Home:
    changed = draw(changed_dates(as_of))
    return Home(
        locality=draw(st.sampled_from(["990000001", "980000001"])),
        urban=draw(st.booleans()),
        members=draw(st.lists(people(), min_size=0, max_size=6)),
        savings=draw(st.one_of(st.just(0), st.integers(0, 20_000_000))),
        securities=draw(st.one_of(st.just(0), st.integers(0, 5_000_000))),
        dibao_in_force=draw(st.booleans()),
        income_changed_on=changed,
    )


@st.composite
def batches(draw, max_size: int = 25) -> tuple[list[Home], date]:
    as_of = draw(DAYS)
    homes = draw(st.lists(any_homes(as_of), min_size=0, max_size=max_size))
    return homes, as_of


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------------------
# dibao
# ------------------------------------------------------------------------------------------------


@SETTINGS
@given(homes=st.lists(plain_homes(), min_size=1, max_size=30), as_of=DAYS)
def test_dibao_is_never_negative_and_zero_exactly_at_or_above_the_standard(homes, as_of):
    batch = build(homes, as_of)
    result = dibao.assess(batch, parameters(batch), {})
    amount = result.monthly_amount_fen
    assert amount.dtype == np.int64 and (amount >= 0).all()
    for i, home in enumerate(homes):
        per_capita = sum(p.income for p in home.members) // len(home.members)
        at_or_above = per_capita >= standard_of(home, as_of)
        assert (amount[i] == 0) == at_or_above
        assert bool(result.eligible[i]) == (not at_or_above)
        assert amount[i] == reference_dibao(home, as_of)[1]


@SETTINGS
@given(drawn=batches(), tekun_mask=st.lists(st.booleans(), min_size=25, max_size=25))
def test_dibao_agrees_with_the_per_household_reference(drawn, tekun_mask):
    homes, as_of = drawn
    batch = build(homes, as_of)
    tekun_eligible = np.array(tekun_mask[: len(homes)], dtype=bool)
    earlier = {"tekun": Assessment(eligible=tekun_eligible, reasons=[])}
    result = dibao.assess(batch, parameters(batch), earlier)
    assert (result.monthly_amount_fen >= 0).all()
    for i, home in enumerate(homes):
        expected = reference_dibao(home, as_of, bool(tekun_eligible[i]))
        assert (bool(result.eligible[i]), int(result.monthly_amount_fen[i])) == expected, (i, home)
        reasons = result.reasons_for(i)
        assert reasons, "every household gets at least one reason"
        for r in reasons:  # every parameter a reason names is one the packs set
            for use in r.parameters:
                assert use.locality_code == home.locality[:6]


@SETTINGS
@given(drawn=batches())
def test_low_income_family_and_marginal_agree_with_the_reference(drawn):
    homes, as_of = drawn
    batch = build(homes, as_of)
    p = parameters(batch)
    earlier = {"tekun": Assessment(eligible=np.zeros(len(homes), dtype=bool), reasons=[])}
    earlier["dibao"] = dibao.assess(batch, p, earlier)
    family = low_income_family.assess(batch, p, earlier)
    edge = marginal.assess(batch, p, earlier)
    for i, home in enumerate(homes):
        on_dibao = bool(earlier["dibao"].eligible[i]) or home.dibao_in_force
        if not home.members or on_dibao:
            in_band = False
        else:
            band = half_up(standard_of(home, as_of) * param(home, "marginal.income_multiple", as_of))
            in_band = per_capita_counted(home, as_of) < band and property_within(home, as_of)
        assert bool(edge.eligible[i]) == in_band
        offered = home.locality.startswith("990000")
        assert bool(family.eligible[i]) == (in_band and offered)
        expected = half_up(standard_of(home, as_of) * Decimal("0.3")) if in_band and offered else 0
        assert int(family.monthly_amount_fen[i]) == expected


@SETTINGS
@given(as_of=DAYS, data=st.data())
def test_gradual_exit_lasts_exactly_the_localitys_months(as_of, data):
    """Working dibao households now above the standard: eligible while fewer whole months have passed."""
    homes = []
    for _ in range(data.draw(st.integers(1, 12))):
        worker = Person(income=data.draw(st.integers(250_000, 600_000)), employment=Employment.EMPLOYED)
        worker.earned = worker.income
        homes.append(Home(
            locality=data.draw(st.sampled_from(["990000001", "980000001"])),
            members=[worker, *data.draw(st.lists(people(employed_ok=False), max_size=1).map(
                lambda ps: [Person(age=p.age) for p in ps]))],
            dibao_in_force=True,
            income_changed_on=data.draw(changed_dates(as_of).filter(lambda d: d is not None and d <= as_of)),
        ))
    batch = build(homes, as_of)
    result = dibao.assess(batch, parameters(batch), {})
    for i, home in enumerate(homes):
        months = 6 if home.locality.startswith("990000") else 18
        exiting = months_between(home.income_changed_on, as_of) < months
        assert bool(result.eligible[i]) == exiting, (home.income_changed_on, as_of, months)
        assert result.monthly_amount_fen[i] == 0
        codes = [r.code for r in result.reasons_for(i)]
        assert ("GRADUAL_EXIT" in codes) == exiting and ("GRADUAL_EXIT_ENDED" in codes) != exiting
        if exiting:  # the end date in extra is the first day on which the exit no longer holds
            ends = result.extra["gradual_exit_ends_on"][i].astype(object)
            assert months_between(home.income_changed_on, ends) == months
            assert months_between(home.income_changed_on, ends - timedelta(days=1)) == months - 1


# ------------------------------------------------------------------------------------------------
# tekun
# ------------------------------------------------------------------------------------------------


@SETTINGS
@given(drawn=batches())
def test_tekun_support_and_self_care_level_agree_with_the_reference(drawn):
    homes, as_of = drawn
    batch = build(homes, as_of)
    result = tekun.assess(batch, parameters(batch), {})
    levels = result.extra["self_care_level"]
    for i, home in enumerate(homes):
        assert int(levels[i]) == reference_worst_self_care(home)
        minor, elderly = 18, 60
        qualifies = all(
            p.age < minor
            or (p.labor is LaborCapacity.NONE
                and (p.age >= elderly or p.disability in (DisabilityLevel.LEVEL_1, DisabilityLevel.LEVEL_2)))
            for p in home.members
        )
        eligible = bool(home.members) and qualifies and sum(p.income for p in home.members) == 0
        assert bool(result.eligible[i]) == eligible
        if not eligible:
            assert result.monthly_amount_fen[i] == 0
            continue
        support = half_up(standard_of(home, as_of) * Decimal("1.3")) * len(home.members)
        care = sum(
            {SelfCareLevel.PARTLY_UNABLE: 30000, SelfCareLevel.FULLY_UNABLE: 60000}.get(
                self_care_level(p.self_care_unable), 0
            )
            for p in home.members
        )
        assert int(result.monthly_amount_fen[i]) == support + care >= support


def test_the_self_care_level_and_single_person_option_are_exposed_as_extra_columns():
    as_of = date(2025, 6, 1)
    homes = [
        Home(members=[Person(age=70, labor=LaborCapacity.NONE, self_care_unable=4)]),
        Home(members=[Person(age=80, labor=LaborCapacity.NONE, self_care_unable=2),
                      Person(age=16, self_care_unable=0)]),
        Home(members=[Person(income=240_000, earned=240_000),
                      Person(disability=DisabilityLevel.LEVEL_2, labor=LaborCapacity.NONE, income=10_000),
                      Person(illness=Illness.SERIOUS, age=30)]),
    ]
    batch = build(homes, as_of)
    p = parameters(batch)
    t = tekun.assess(batch, p, {})
    assert t.extra["self_care_level"].tolist() == [
        code_of(SelfCareLevel.FULLY_UNABLE), code_of(SelfCareLevel.PARTLY_UNABLE), -1  # never assessed
    ]
    assert t.eligible.tolist() == [True, True, False]
    assert t.monthly_amount_fen.tolist() == [130000 + 60000, 2 * 130000 + 30000, 0]
    d = dibao.assess(batch, p, {"tekun": t})
    # household 3: 2500 / 3 = 833.33 < 1000 → dibao itself, so no option; raise the income to 1200 each
    assert d.eligible.tolist() == [False, False, True]
    homes[2].members[0].income = homes[2].members[0].earned = 350_000
    batch = build(homes, as_of)
    d = dibao.assess(batch, parameters(batch), {"tekun": t})
    assert d.eligible.tolist() == [False, False, False]
    # per-capita (3500 + 100) / 3 = 1200 in [1000, 1500): the two members may each be single-person dibao
    assert d.extra["single_person_option_fen"].tolist() == [0, 0, (100000 - 10000) + 100000]
    option = next(r for r in d.reasons_for(2) if r.code == "SINGLE_PERSON_OPTION")
    assert option.message.startswith("single-person dibao option (单人保) for 2 severely disabled")
    assert "1900.00 a month" in option.message


# ------------------------------------------------------------------------------------------------
# Every installed rule, through the catalogue
# ------------------------------------------------------------------------------------------------


class RoundLocalities:
    @hookimpl
    def safetynet_localities(self):
        return list(LOCALITIES.values())


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue(load_plugins(extra=[RoundLocalities()]))


def test_every_rule_handles_an_empty_batch(catalogue):
    results = assess_batch(catalogue, build([], date(2025, 1, 1)))
    assert len(results) == 15
    for code, result in results.items():
        assert result.eligible.shape == (0,), code


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=batches(max_size=15))
def test_every_rule_gives_well_formed_answers(catalogue, drawn):
    homes, as_of = drawn
    batch = build(homes, as_of)
    results = assess_batch(catalogue, batch)
    for code, result in results.items():
        assert result.eligible.dtype == bool and result.eligible.shape == (len(homes),), code
        for amounts in (result.monthly_amount_fen, result.one_off_amount_fen):
            if amounts is not None:
                assert amounts.dtype == np.int64 and amounts.shape == (len(homes),), code
                assert (amounts >= 0).all(), code
                assert (amounts[~result.eligible] == 0).all(), code
        for i in range(len(homes)):
            for r in result.reasons_for(i):
                assert r.code.isupper() and r.message, (code, r)
                assert "(not set)" not in r.message or code in ("disability_subsidy",), (code, r)
