"""Synthetic households and department feeds: shape, validity, realism, determinism and the files."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest

from safetynet.identity import make_id_number, parse_id_number
from safetynet.model import (
    AssetKind,
    DisabilityLevel,
    EducationStage,
    Employment,
    ExpenseKind,
    Illness,
    IncomeKind,
    LaborCapacity,
    Relation,
    Sex,
    UrbanRural,
)
from safetynet.synthetic import SOURCES, Area, DatasetSummary, feeds, households, write_dataset

AS_OF = date(2026, 11, 1)
AREAS = [
    Area("120101001", standard_urban_fen=101000, standard_rural_fen=101000, urban_share=0.9),
    Area("640121100", standard_urban_fen=80000, standard_rural_fen=65000, urban_share=0.3),
    Area("640121201", standard_urban_fen=80000, standard_rural_fen=65000, urban_share=0.1),
]
MONEY = re.compile(r"^(0|[1-9]\d*)\.\d\d$")
HOUSEHOLD_KEYS = {"localityCode", "residence", "address", "members", "assets", "rigidExpenses"}
MEMBER_KEYS = {
    "name",
    "idNumber",
    "relation",
    "disability",
    "illness",
    "laborCapacity",
    "employment",
    "educationStage",
    "selfCare",
    "monthlyIncomes",
}
SELF_CARE_KEYS = {"eating", "dressing", "transferring", "toileting", "walkingIndoors", "bathing"}
FEED_FIELDS = {
    "medical_insurance": {"recordId", "idNumber", "date", "kind", "totalCost", "outOfPocket"},
    "human_resources": {"recordId", "idNumber", "date", "event"},  # + monthlyWage for EMPLOYED
    "public_security": {"recordId", "idNumber", "date", "event"},
    "disabled_federation": {"recordId", "idNumber", "date", "level"},
    "education": {"recordId", "idNumber", "date", "stage", "school"},
    "rural_revitalization": {"recordId", "idNumber", "date", "event"},
    "emergency_management": {"recordId", "idNumber", "date", "disaster", "loss"},
}
STAGE_AGES = {
    "PRESCHOOL": (3, 5),
    "PRIMARY": (6, 11),
    "JUNIOR_SECONDARY": (12, 15),
    "SENIOR_SECONDARY": (15, 18),
    "VOCATIONAL": (15, 22),
    "UNIVERSITY": (18, 22),
}


def names(enum) -> set[str]:
    return {member.name for member in enum}


def age_of(id_number: str, on: date = AS_OF) -> int:
    born = parse_id_number(id_number).birth_date
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def per_capita_ratio(household: dict, standard: Decimal) -> Decimal:
    total = sum(
        (Decimal(i["monthlyAmount"]) for m in household["members"] for i in m["monthlyIncomes"]), Decimal(0)
    )
    return total / len(household["members"]) / standard


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    return list(households(3000, AREAS, seed=11, as_of=AS_OF))


@pytest.fixture(scope="module")
def sample_feeds(sample) -> dict[str, list[dict]]:
    return feeds(sample, share_of_people=0.1, seed=11, as_of=AS_OF)


# --- households ----------------------------------------------------------------------------------


def test_same_seed_same_households_and_other_seed_other_households():
    first = list(households(200, AREAS, seed=4, as_of=AS_OF))
    assert first == list(households(200, AREAS, seed=4, as_of=AS_OF))
    assert first != list(households(200, AREAS, seed=5, as_of=AS_OF))
    assert list(households(0, AREAS)) == []


def test_households_have_exactly_the_register_household_input_shape(sample):
    for household in sample:
        assert set(household) == HOUSEHOLD_KEYS
        assert household["residence"] in names(UrbanRural)
        assert re.fullmatch(r"\d{9}(\d{3})?", household["localityCode"])
        assert household["localityCode"][:9] in {a.township_code for a in AREAS}
        assert household["address"] and not household["address"].isascii()
        for asset in household["assets"]:
            assert set(asset) == {"kind", "value"}
            assert asset["kind"] in names(AssetKind) and MONEY.match(asset["value"])
        for expense in household["rigidExpenses"]:
            assert set(expense) == {"kind", "annualAmount"}
            assert expense["kind"] in names(ExpenseKind) and MONEY.match(expense["annualAmount"])
        for member in household["members"]:
            assert set(member) == MEMBER_KEYS
            assert 2 <= len(member["name"]) <= 4 and not member["name"].isascii()
            assert member["relation"] in names(Relation)
            assert member["disability"] in names(DisabilityLevel)
            assert member["illness"] in names(Illness)
            assert member["laborCapacity"] in names(LaborCapacity)
            assert member["employment"] in names(Employment)
            assert member["educationStage"] in names(EducationStage)
            assert member["selfCare"] is None or (
                set(member["selfCare"]) == SELF_CARE_KEYS
                and all(isinstance(v, bool) for v in member["selfCare"].values())
            )
            for income in member["monthlyIncomes"]:
                assert set(income) == {"kind", "monthlyAmount"}
                assert income["kind"] in names(IncomeKind) and MONEY.match(income["monthlyAmount"])
                assert Decimal(income["monthlyAmount"]) > 0


def test_identity_numbers_are_valid_unique_and_made_like_make_id_number(sample):
    seen = set()
    for household in sample:
        county = household["localityCode"][:6]
        for member in household["members"]:
            number = member["idNumber"]
            parsed = parse_id_number(number)
            assert parsed.number == number
            assert parsed.region_code == county
            assert parsed.birth_date <= AS_OF
            sequence = int(number[14:17]) // 2
            assert make_id_number(county, parsed.birth_date, sequence, parsed.sex) == number
            seen.add(number)
    assert len(seen) == sum(len(h["members"]) for h in sample)


def test_identity_numbers_stay_unique_when_a_birth_date_runs_out_of_order_codes():
    """500 order codes per (county, birth date, sex): the 501st person born that day moves to another day."""
    import numpy as np

    from safetynet.synthetic import _HouseholdGenerator

    generator = _HouseholdGenerator([Area("130102003", 70000, 60000)], seed=1, as_of=AS_OF)
    count = 1200
    born = date(1980, 3, 3).toordinal()
    birth = np.full(count, born, dtype=np.int64)
    age = np.full(count, age_of(make_id_number("130102", date(1980, 3, 3), 0, Sex.MALE)))
    sequences = generator._sequences(
        np.zeros(count, dtype=np.int64), birth, age, np.ones(count, dtype=np.int64)
    )
    assert (birth == born).sum() == 500 and sorted(sequences[birth == born]) == list(range(500))
    numbers = [
        make_id_number("130102", date.fromordinal(int(b)), int(s), Sex.MALE)
        for b, s in zip(birth, sequences, strict=True)
    ]
    assert len(set(numbers)) == count
    assert {age_of(n) for n in numbers} == {int(age[0])}  # moved within the same year of age

    crowded = [
        m["idNumber"] for h in households(4000, [Area("130102003", 70000, 60000)]) for m in h["members"]
    ]
    assert len(crowded) == len(set(crowded))


def test_household_sizes_and_exactly_one_head(sample):
    sizes = Counter(len(h["members"]) for h in sample)
    assert set(sizes) <= set(range(1, 7)) and sizes[1] and sizes[5] and sizes[6]
    assert 2.4 <= sum(k * v for k, v in sizes.items()) / len(sample) <= 2.8
    for household in sample:
        relations = [m["relation"] for m in household["members"]]
        assert relations.count("HEAD") == 1 and relations[0] == "HEAD"
        assert relations.count("SPOUSE") <= 1


def test_relations_ages_and_sexes_are_consistent(sample):
    for household in sample:
        members = household["members"]
        head = members[0]
        head_age = age_of(head["idNumber"])
        relations = {m["relation"] for m in members}
        if head_age < 25:  # only lone minors, without parents or a spouse, head a household that young
            assert 16 <= head_age <= 17 and relations <= {"HEAD", "SIBLING"}
        else:
            assert head_age <= 90
        sex = {m["relation"]: parse_id_number(m["idNumber"]).sex for m in members}
        if "SPOUSE" in sex:
            assert sex["SPOUSE"] != sex["HEAD"]
        parents_age = [head_age] + [age_of(m["idNumber"]) for m in members if m["relation"] == "SPOUSE"]
        for member in members[1:]:
            age = age_of(member["idNumber"])
            relation = member["relation"]
            if relation == "CHILD":
                assert all(parent - age >= 18 for parent in parents_age)
            elif relation == "PARENT":
                assert age - head_age >= 18
            elif relation == "GRANDCHILD":
                assert age < 18 and head_age - age >= 36
            elif relation == "GRANDPARENT":
                assert age - head_age >= 36
            elif relation == "SPOUSE":
                assert age >= 18


def test_schooling_employment_and_capacity_fit_the_age(sample):
    for member in (m for h in sample for m in h["members"]):
        age = age_of(member["idNumber"])
        stage, employment = member["educationStage"], member["employment"]
        if stage != "NONE":
            low, high = STAGE_AGES[stage]
            assert low <= age <= high, (stage, age)
        assert (employment == "STUDENT") == (stage not in ("NONE", "PRESCHOOL"))
        severe = member["disability"] in ("LEVEL_1", "LEVEL_2") or member["illness"] == "SERIOUS"
        if 6 <= age <= 14 and not severe:  # compulsory schooling
            assert employment == "STUDENT"
        if employment == "RETIRED":
            assert age >= 55
        if employment in ("EMPLOYED", "UNEMPLOYED"):
            assert age >= 16 and member["laborCapacity"] != "NONE"
        if age < 16:
            assert member["laborCapacity"] == "NONE"
        if member["disability"] in ("LEVEL_1", "LEVEL_2"):
            assert member["laborCapacity"] == "NONE" and member["selfCare"] is not None


def test_the_cases_monitoring_looks_for_are_all_there(sample):
    cases = Counter()
    for household in sample:
        members = household["members"]
        relations = Counter(m["relation"] for m in members)
        ages = [age_of(m["idNumber"]) for m in members]
        cases["elderly alone"] += len(members) == 1 and ages[0] >= 60
        cases["single parent"] += relations["CHILD"] > 0 and not relations["SPOUSE"] and ages[0] < 60
        cases["severely disabled"] += any(m["disability"] in ("LEVEL_1", "LEVEL_2") for m in members)
        cases["seriously ill"] += any(m["illness"] == "SERIOUS" for m in members)
        cases["unemployed able to work"] += any(
            m["employment"] == "UNEMPLOYED" and m["laborCapacity"] == "FULL" for m in members
        )
        cases["grandparent raising grandchildren"] += relations["GRANDCHILD"] > 0 and not relations["CHILD"]
        cases["lone minor"] += ages[0] < 18
        cases["no income"] += not any(m["monthlyIncomes"] for m in members)
        cases["rural"] += household["residence"] == "RURAL"
        cases["village code"] += len(household["localityCode"]) == 12
        cases["self-care partly or fully lost"] += any(
            m["selfCare"] and not all(m["selfCare"].values()) for m in members
        )
    for case, count in cases.items():
        assert count >= 3, case
    assert 0.05 <= cases["elderly alone"] / len(sample) <= 0.25
    assert cases["lone minor"] < 0.02 * len(sample)


def test_per_capita_income_is_spread_around_the_standard():
    urban = [Area("310105001", standard_urban_fen=100000, standard_rural_fen=100000, urban_share=1.0)]
    sample = list(households(3000, urban, seed=2, as_of=AS_OF))
    ratios = [per_capita_ratio(h, Decimal(1000)) for h in sample]
    zero = sum(r == 0 for r in ratios) / len(ratios)
    below = sum(r < 1 for r in ratios) / len(ratios)
    marginal = sum(1 <= r < Decimal("1.5") for r in ratios) / len(ratios)
    above = sum(r >= Decimal("1.5") for r in ratios) / len(ratios)
    assert 0.01 <= zero <= 0.1
    assert 0.15 <= below <= 0.45
    assert 0.08 <= marginal <= 0.3
    assert above >= 0.4
    assert all(h["residence"] == "URBAN" for h in sample)


def test_incomes_assets_and_expenses_fit_the_members(sample):
    big_savings = 0
    for household in sample:
        members = household["members"]
        for member in members:
            kinds = {i["kind"] for i in member["monthlyIncomes"]}
            if {"WAGES", "BUSINESS"} & kinds:
                assert member["employment"] == "EMPLOYED"
            if "PENSION" in kinds:
                assert member["employment"] == "RETIRED"
            if age_of(member["idNumber"]) < 16:
                assert not kinds
        expenses = {e["kind"]: Decimal(e["annualAmount"]) for e in household["rigidExpenses"]}
        ill = any(m["illness"] != "NONE" for m in members)
        assert ("MEDICAL" in expenses) == ill
        if "EDUCATION" in expenses:
            assert any(m["educationStage"] != "NONE" for m in members)
        if "REHABILITATION" in expenses:
            assert any(m["disability"] != "NONE" for m in members)
        standard = Decimal(1010) if household["localityCode"].startswith("12") else Decimal(800)
        if household["residence"] == "RURAL" and not household["localityCode"].startswith("12"):
            standard = Decimal(650)
        savings = sum(Decimal(a["value"]) for a in household["assets"] if a["kind"] == "SAVINGS")
        big_savings += savings > 36 * standard * len(members)
    assert 0.03 <= big_savings / len(sample) <= 0.15


def test_names_come_from_faker_lists_and_children_share_the_fathers_surname(sample):
    from faker.providers.person.zh_CN import Provider

    surnames = set(Provider.last_names)
    shared = total = 0
    for household in sample:
        members = household["members"]
        for member in members:
            assert member["name"][:1] in surnames or member["name"][:2] in surnames
        head = members[0]
        if parse_id_number(head["idNumber"]).sex is Sex.MALE:
            for child in (m for m in members if m["relation"] == "CHILD"):
                total += 1
                shared += child["name"][0] == head["name"][0]
    assert total and shared == total


def test_areas_are_checked():
    with pytest.raises(ValueError, match="9 digits"):
        Area("12010100", 100000, 100000)
    with pytest.raises(ValueError, match="positive"):
        Area("120101001", 0, 100000)
    with pytest.raises(ValueError, match="urban_share"):
        Area("120101001", 100000, 100000, urban_share=1.5)
    with pytest.raises(ValueError, match="at least one Area"):
        list(households(1, []))
    with pytest.raises(ValueError, match="n must be"):
        list(households(-1, AREAS))


# --- feeds ---------------------------------------------------------------------------------------


def test_feed_records_have_exactly_the_api_fields_and_valid_values(sample_feeds):
    assert set(sample_feeds) == set(SOURCES) == set(FEED_FIELDS)
    for source, records in sample_feeds.items():
        assert records, source
        prefix = {"medical_insurance": "MI", "human_resources": "HR", "public_security": "PS",
                  "disabled_federation": "DF", "education": "ED", "rural_revitalization": "RR",
                  "emergency_management": "EM"}[source]  # fmt: skip
        assert [r["recordId"] for r in records] == [f"{prefix}-{i:08d}" for i in range(1, len(records) + 1)]
        for record in records:
            fields = set(FEED_FIELDS[source])
            if source == "human_resources" and record["event"] == "EMPLOYED":
                fields.add("monthlyWage")
                assert MONEY.match(record["monthlyWage"])
            assert set(record) == fields
            parse_id_number(record["idNumber"])
            day = date.fromisoformat(record["date"])
            assert AS_OF - timedelta(days=90) <= day < AS_OF
            assert day >= parse_id_number(record["idNumber"]).birth_date
            if source == "medical_insurance":
                assert record["kind"] in {"INPATIENT", "OUTPATIENT_CHRONIC", "OUTPATIENT"}
                assert MONEY.match(record["totalCost"]) and MONEY.match(record["outOfPocket"])
                assert 0 < Decimal(record["outOfPocket"]) <= Decimal(record["totalCost"])
            elif source == "human_resources":
                assert record["event"] in {"UNEMPLOYED", "EMPLOYED"}
            elif source == "public_security":
                assert record["event"] in {"DECEASED", "CRIMINAL_PENALTY"}
            elif source == "disabled_federation":
                assert type(record["level"]) is int and 1 <= record["level"] <= 4
            elif source == "education":
                assert record["stage"] in names(EducationStage) - {"NONE"}
                low, high = STAGE_AGES[record["stage"]]
                assert low <= age_of(record["idNumber"]) <= high + 1
                assert record["school"] and not record["school"].isascii()
            elif source == "rural_revitalization":
                assert record["event"] in {"WATCH_START", "WATCH_END"}
            else:
                assert record["disaster"] in {"FLOOD", "DROUGHT", "EARTHQUAKE", "FIRE", "HAIL", "TYPHOON",
                                              "LANDSLIDE", "SNOWSTORM"}  # fmt: skip
                assert MONEY.match(record["loss"]) and Decimal(record["loss"]) > 0


def test_feeds_cover_about_the_share_of_people_plausibly(sample, sample_feeds):
    members = {m["idNumber"]: (m, h) for h in sample for m in h["members"]}
    known = {r["idNumber"] for records in sample_feeds.values() for r in records if r["idNumber"] in members}
    assert 0.09 <= len(known) / len(members) <= 0.11
    counts = {source: len(records) for source, records in sample_feeds.items()}
    assert max(counts, key=counts.get) == "medical_insurance"
    deaths = [r for r in sample_feeds["public_security"] if r["event"] == "DECEASED"]
    assert deaths and sum(age_of(r["idNumber"]) >= 60 for r in deaths) / len(deaths) >= 0.7
    assert counts["public_security"] < counts["medical_insurance"] / 5
    for record in sample_feeds["rural_revitalization"]:
        if record["idNumber"] in members:
            assert members[record["idNumber"]][1]["residence"] == "RURAL"
    for record in sample_feeds["disabled_federation"]:
        member = members.get(record["idNumber"], (None,))[0]
        if member and member["disability"] != "NONE":
            assert record["level"] <= int(member["disability"][-1])
    for record in sample_feeds["human_resources"]:
        if record["idNumber"] in members:
            assert 16 <= age_of(record["idNumber"]) < 60


def test_some_records_are_about_people_civil_affairs_does_not_know(sample, sample_feeds):
    members = {m["idNumber"] for h in sample for m in h["members"]}
    counties = {h["localityCode"][:6] for h in sample}
    records = [r for rs in sample_feeds.values() for r in rs]
    unknown = [r for r in records if r["idNumber"] not in members]
    assert 0.01 <= len(unknown) / len(records) <= 0.04
    for record in unknown:
        assert parse_id_number(record["idNumber"]).region_code in counties
    assert len({r["idNumber"] for r in unknown}) == len(unknown)


def test_feeds_are_deterministic_and_follow_the_share(sample):
    first = feeds(sample[:500], seed=3, as_of=AS_OF)
    assert first == feeds(iter(sample[:500]), seed=3, as_of=AS_OF)
    assert first != feeds(sample[:500], seed=4, as_of=AS_OF)
    none = feeds(sample[:500], share_of_people=0.0, as_of=AS_OF)
    assert none == {source: [] for source in SOURCES}
    without_unknown = feeds(sample[:500], unknown_share=0.0, as_of=AS_OF)
    members = {m["idNumber"] for h in sample[:500] for m in h["members"]}
    assert all(r["idNumber"] in members for rs in without_unknown.values() for r in rs)


# --- files ---------------------------------------------------------------------------------------


def test_write_dataset_writes_the_generated_households_and_feeds(tmp_path):
    summary = write_dataset(tmp_path / "data", 1500, AREAS, seed=9, as_of=AS_OF)
    assert isinstance(summary, DatasetSummary)
    expected = list(households(1500, AREAS, seed=9, as_of=AS_OF))
    household_path = tmp_path / "data" / "households.jsonl"
    assert summary.paths["households"] == household_path
    text = household_path.read_text(encoding="utf-8")
    assert "\\u" not in text and "天津市" in text  # UTF-8, not ASCII escapes
    lines = text.splitlines()
    assert summary.households == len(lines) == 1500
    assert [json.loads(line) for line in lines] == expected
    assert summary.members == sum(len(h["members"]) for h in expected)

    expected_feeds = feeds(expected, seed=9, as_of=AS_OF)
    assert set(summary.records) == set(SOURCES)
    for source in SOURCES:
        path = tmp_path / "data" / "feeds" / f"{source}.jsonl"
        assert summary.paths[source] == path
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert summary.records[source] == len(records)
        assert records == expected_feeds[source]
    assert sum(summary.records.values()) >= 0.05 * summary.members


def test_write_dataset_with_no_households(tmp_path):
    summary = write_dataset(tmp_path, 0, AREAS)
    assert summary.households == summary.members == 0
    assert summary.paths["households"].read_text() == ""
    assert all(count == 0 for count in summary.records.values())
