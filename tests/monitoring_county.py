"""A synthetic county taken through March 2025, shared by the sweep and warnings-API tests.

Households are registered through the service on 1 March; department signals (SignalRow rows, as the
ingest stores them) arrive during the month; dibao is on two households' aid chains. Each household is
built to raise a known set of warnings under the plugins in ``PLUGINS`` (the built-in rules, dibao,
tekun, marginal and medical aid), so the tests can assert exact answers while the other aid types evolve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import count
from typing import Any

from sqlalchemy import select

from safetynet import hookimpl
from safetynet.aid_chain import grant_aid
from safetynet.households import register_household
from safetynet.identity import make_id_number
from safetynet.model import (
    Locality,
    LocalityLevel,
    ParameterSeries,
    ParameterValue,
    Role,
    Sex,
    WarningEvent,
    WarningLevel,
    WarningRule,
)
from safetynet.principals import Principal
from safetynet.store.models import Member, SignalRow

START = date(2025, 3, 1)
MONTH_END = date(2025, 3, 31)
RULES = (
    "medical_out_of_pocket",
    "member_unemployed",
    "member_deceased",
    "severe_disability",
    "dibao_income_above_standard",
    "likely_eligible_not_enrolled",
    "policy_not_delivered",
    "disaster",
)
PLUGINS = (
    "aid.dibao",
    "aid.tekun",
    "aid.marginal",
    "aid.medical",
    "locality.national",
    "locality.tianjin",
    *(f"warning.{rule}" for rule in RULES),
)
TOWNSHIP = "120101001"  # 和平区, a township; Tianjin's parameters, the national visit days
OTHER_TOWNSHIP = "120101002"
HEDONG = "120102001"  # a township of 河东区, whose (test) pack shortens the visit days
ADMIN = Principal(key_id=None, role=Role.ADMIN)

#: (household, rule) → level after the sweep at the end of March.
EXPECTED = {
    ("A1", "medical_out_of_pocket"): "RED",
    ("A2", "medical_out_of_pocket"): "ORANGE",
    ("B1", "member_unemployed"): "YELLOW",
    ("B2", "member_unemployed"): "ORANGE",
    ("C", "member_deceased"): "ORANGE",
    ("C", "policy_not_delivered"): "YELLOW",
    ("D", "severe_disability"): "ORANGE",
    ("D", "likely_eligible_not_enrolled"): "YELLOW",
    ("D", "policy_not_delivered"): "BLUE",
    ("E", "disaster"): "ORANGE",
    ("F", "dibao_income_above_standard"): "ORANGE",
    ("F", "policy_not_delivered"): "YELLOW",
    ("G", "likely_eligible_not_enrolled"): "RED",
    ("G", "policy_not_delivered"): "BLUE",
    ("H", "medical_out_of_pocket"): "ORANGE",
    ("I", "disaster"): "ORANGE",
}
#: The warnings already raised on 1 March, before any signal (state-based rules only).
FIRST_DAY = {
    key
    for key in EXPECTED
    if key[1] in ("dibao_income_above_standard", "likely_eligible_not_enrolled", "policy_not_delivered")
}


def series(name: str, value: int) -> ParameterSeries:
    return ParameterSeries(
        name=name,
        unit="days",
        values=(
            ParameterValue(date(2020, 1, 1), Decimal(value), "test fixture: a county's own visit days", True),
        ),
    )


class Hedong:
    """An outside locality plugin: 河东区 sets shorter visit deadlines than the national default."""

    @hookimpl
    def safetynet_localities(self):  # type: ignore[no-untyped-def]
        return [
            Locality(
                code="120102",
                name="河东区",
                name_en="Hedong District",
                level=LocalityLevel.COUNTY,
                parent_code="120000",
                parameters={
                    "warning.visit_days.orange": series("warning.visit_days.orange", 2),
                    "warning.visit_days.red": series("warning.visit_days.red", 1),
                },
            )
        ]


class Watcher:
    """An outside plugin: hears every warning raised (asynchronously) and sends RED ones to the county."""

    def __init__(self) -> None:
        self.raised: list[WarningEvent] = []
        self.routed: list[tuple[str, str]] = []

    @hookimpl
    async def safetynet_warning_raised(self, event: WarningEvent) -> None:
        self.raised.append(event)

    @hookimpl
    def safetynet_route_warning(self, event: WarningEvent, rule: WarningRule) -> list[str] | None:
        self.routed.append((event.rule, event.level.name))
        return ["county_coordination"] if event.level is WarningLevel.RED else None


@dataclass
class County:
    households: dict[str, int] = field(default_factory=dict)  # name → household id
    members: dict[str, list[int]] = field(default_factory=dict)  # name → member ids, head first
    id_numbers: dict[str, list[str]] = field(default_factory=dict)

    def name_of(self, household_id: int) -> str:
        return next(name for name, h in self.households.items() if h == household_id)


_sequence = count(1)


def _member(relation: str, born: date, wages: str | None = None, **facts: Any) -> dict[str, Any]:
    number = make_id_number(
        "120101", born, next(_sequence) % 500, Sex.MALE if relation != "SPOUSE" else Sex.FEMALE
    )
    incomes = [{"kind": "WAGES", "monthly_amount": wages}] if wages else []
    return {"name": "测试", "id_number": number, "relation": relation, "monthly_incomes": incomes, **facts}


#: name → (locality, members). Tianjin's urban dibao standard is 1010 yuan (illustrative), marginal < 1515.
HOUSEHOLDS: dict[str, tuple[str, list[dict[str, Any]]]] = {
    # A1, A2: well above the marginal line; large medical bills arrive (A1's exceed its annual income).
    "A1": (TOWNSHIP, [_member("HEAD", date(1970, 1, 2), "4000"), _member("SPOUSE", date(1971, 2, 3))]),
    "A2": (TOWNSHIP, [_member("HEAD", date(1972, 3, 4), "4000"), _member("SPOUSE", date(1973, 4, 5))]),
    # B1: two earners, one loses work. B2: the only earner loses work (zero-employment household).
    "B1": (
        TOWNSHIP,
        [
            _member("HEAD", date(1974, 5, 6), "2500", employment="EMPLOYED"),
            _member("SPOUSE", date(1975, 6, 7), "2500", employment="EMPLOYED"),
        ],
    ),
    "B2": (TOWNSHIP, [_member("HEAD", date(1976, 7, 8), "3000", employment="EMPLOYED")]),
    # C: a dibao household (per-capita 250); the head dies.
    "C": (TOWNSHIP, [_member("HEAD", date(1950, 8, 9)), _member("SPOUSE", date(1952, 9, 10), "500")]),
    # D: per-capita 1200, in the marginal band; a member is certified LEVEL_2.
    "D": (TOWNSHIP, [_member("HEAD", date(1980, 10, 11), "1200")]),
    # E: hit by a flood (losses below its annual income).
    "E": (TOWNSHIP, [_member("HEAD", date(1981, 11, 12), "3000")]),
    # F: dibao in force, but an income of 2000 and nobody employed: dibao no longer applies.
    "F": (TOWNSHIP, [_member("HEAD", date(1982, 12, 13), "2000")]),
    # G: no income, no aid at all: likely eligible for dibao, not enrolled.
    "G": (TOWNSHIP, [_member("HEAD", date(1983, 1, 14))]),
    # H: another township, a large medical bill.
    "H": (OTHER_TOWNSHIP, [_member("HEAD", date(1984, 2, 15), "4000"), _member("SPOUSE", date(1985, 3, 16))]),
    # I: 河东区 (shorter visit deadlines), a flood.
    "I": (HEDONG, [_member("HEAD", date(1986, 4, 17), "3000")]),
}


def at(runtime: Any, day: date) -> None:
    """Set the runtime's "today" (registration dates, the default sweep date, resolution dates)."""
    runtime.today = lambda: day


def register_county(runtime: Any) -> County:
    """Register the households on 1 March in one transaction and put dibao on C's and F's aid chains."""
    at(runtime, START)
    county = County()

    def work(session: Any) -> None:
        for name, (locality, members) in HOUSEHOLDS.items():
            household = register_household(
                session,
                {"locality_code": locality, "residence": "URBAN", "members": members},
                principal=ADMIN,
                localities=runtime.localities,
                vault=runtime.vault,
                today=START,
            )
            county.households[name] = household.id
            county.members[name] = list(
                session.scalars(
                    select(Member.id).where(Member.household_id == household.id).order_by(Member.id)
                )
            )
            county.id_numbers[name] = [m["id_number"] for m in members]
        aid_types = set(runtime.catalogue.aid_types)
        for name, monthly in (("C", 152000), ("F", 51000)):
            household = session.get(_household_model(), county.households[name])
            grant_aid(
                session,
                household,
                {"aid_type_code": "dibao", "started_on": START, "monthly_amount_fen": monthly},
                principal=ADMIN,
                aid_types=aid_types,
            )

    runtime.database.run(work)
    return county


def _household_model() -> Any:
    from safetynet.store.models import Household

    return Household


def signal(
    runtime: Any,
    county: County,
    name: str,
    member: int,
    source: str,
    kind: str,
    day: date,
    *,
    amount_fen: int | None = None,
    value: str | None = None,
) -> None:
    """Store one department record about a member, as the ingest does (linked by the keyed hash)."""
    number = county.id_numbers[name][member]

    def work(session: Any) -> None:
        session.add(
            SignalRow(
                source=source,
                record_id=f"{source}-{name}-{member}-{kind}-{day}",
                kind=kind,
                id_number_hash=runtime.vault.lookup_hash(number),
                member_id=county.members[name][member],
                household_id=county.households[name],
                occurred_on=day,
                amount_fen=amount_fen,
                value=value,
                payload={},
            )
        )

    runtime.database.run(work)


def month_of_signals(runtime: Any, county: County) -> None:
    """What the departments report during March."""
    signal(runtime, county, "A1", 0, "medical_insurance", "INPATIENT", date(2025, 3, 5), amount_fen=4_000_000)
    signal(
        runtime,
        county,
        "A1",
        1,
        "medical_insurance",
        "OUTPATIENT_CHRONIC",
        date(2025, 3, 12),
        amount_fen=2_000_000,
    )  # 60,000 yuan in all > 48,000 a year of income
    signal(runtime, county, "A2", 0, "medical_insurance", "INPATIENT", date(2025, 3, 6), amount_fen=1_500_000)
    signal(runtime, county, "B1", 1, "human_resources", "UNEMPLOYED", date(2025, 3, 10))
    signal(runtime, county, "B2", 0, "human_resources", "UNEMPLOYED", date(2025, 3, 11))
    signal(runtime, county, "C", 0, "public_security", "DECEASED", date(2025, 3, 15))
    signal(
        runtime,
        county,
        "D",
        0,
        "disabled_federation",
        "DISABILITY_CERTIFIED",
        date(2025, 3, 20),
        value="LEVEL_2",
    )
    signal(
        runtime,
        county,
        "E",
        0,
        "emergency_management",
        "DISASTER",
        date(2025, 3, 25),
        amount_fen=2_000_000,
        value="FLOOD",
    )
    signal(runtime, county, "H", 0, "medical_insurance", "INPATIENT", date(2025, 3, 7), amount_fen=1_200_000)
    signal(
        runtime,
        county,
        "I",
        0,
        "emergency_management",
        "DISASTER",
        date(2025, 3, 26),
        amount_fen=500_000,
        value="FIRE",
    )
    # Noise the rules must ignore: a small bill, an old unemployment, a level 4 certificate, a later job.
    signal(runtime, county, "E", 0, "medical_insurance", "OUTPATIENT", date(2025, 3, 8), amount_fen=30_000)
    signal(runtime, county, "A2", 1, "human_resources", "UNEMPLOYED", date(2024, 6, 1))
    signal(
        runtime,
        county,
        "A1",
        1,
        "disabled_federation",
        "DISABILITY_CERTIFIED",
        date(2025, 3, 9),
        value="LEVEL_4",
    )
    signal(runtime, county, "H", 1, "human_resources", "UNEMPLOYED", date(2025, 3, 1))
    signal(runtime, county, "H", 1, "human_resources", "EMPLOYED", date(2025, 3, 20), amount_fen=300_000)


def start(make_runtime: Any, *more_plugins: Any) -> tuple[Any, Watcher]:
    """A runtime with the county's plugin set, the Hedong pack and a Watcher."""
    watcher = Watcher()
    runtime = make_runtime(extra_plugins=[Hedong(), watcher, *more_plugins], allowed_plugins=PLUGINS)
    return runtime, watcher
