"""Synthetic households and department feeds (合成数据) for the demo, tests, load tests and benchmarks.

:func:`households` yields ``registerHousehold`` inputs (API.md ``RegisterHouseholdInput``, camelCase JSON
shape, money as two-decimal strings, enums by name); :func:`feeds` makes department records (API.md
"Department records") about some of their members and about people civil affairs does not know;
:func:`write_dataset` writes both as JSON lines.

Everything is sampled with NumPy in chunks of households (one ``numpy.random.Generator`` per seed, so a
seed always gives the same data) and the rows are assembled with little per-row Python work: a million
households (about 2.6 million people) take well under a minute on one core.

What the data looks like (the monitoring rules need these cases to exist, in plausible proportions):

* household types: elderly living alone or as a couple, single adults, couples with or without children,
  single parents, three generations, adults living with their parents or a grandparent, grandparents
  raising grandchildren without the parents, lone minors aged 16–17 (sometimes with a younger sibling),
  siblings, and heads with an unrelated member; 1–6 members, about 2.6 on average;
* ages consistent with relations (children at least 20 years younger than the younger parent, parents at
  least 20 years older than the head, grandchildren under 18), school-age members in the matching
  education stage, retirees past retirement age; disability, illness, labour capacity and self-care
  depend on age;
* per-capita income spread around the local dibao standard: about 3% of households have no income, about
  30% are below the standard, about 17% between 1x and 1.5x, the rest above; incomes are wages or
  business income for the employed, pensions for retirees, transfers or odd jobs for others;
* savings mostly small, about one household in twelve above 36 months of standard × members; vehicles,
  houses, securities and (rural) other assets for a few; medical, education, rehabilitation and living
  rigid expenses for the members they concern;
* identity numbers valid under GB 11643, with the area's county as region code, the member's birth date
  and sex, and order codes given out by a counter per (region, birth date, sex), so they are unique.
  They are the numbers :func:`safetynet.identity.make_id_number` builds (the tests check this member by
  member); the digits and check digits are computed for a whole chunk at once with NumPy, since calling
  ``make_id_number`` per member would cost more than the whole per-household budget;
* names from Faker's ``zh_CN`` surname (weighted by frequency) and given-name lists, spouses of opposite
  sex, children with the father's surname; addresses composed from Faker's ``zh_CN`` place-name lists,
  with province, city and county names from the area code where known.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from faker.providers.address.zh_CN import Provider as _FakerAddress
from faker.providers.person.zh_CN import Provider as _FakerPerson

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
    UrbanRural,
    code_of,
)

__all__ = [
    "DEFAULT_AS_OF",
    "SOURCES",
    "Area",
    "DatasetSummary",
    "feeds",
    "households",
    "write_dataset",
]

DEFAULT_AS_OF = date(2026, 11, 1)

#: The department feeds, in API.md order, with the prefix of their record ids.
SOURCES: tuple[str, ...] = (
    "medical_insurance",
    "human_resources",
    "public_security",
    "disabled_federation",
    "education",
    "rural_revitalization",
    "emergency_management",
)
_RECORD_PREFIX = ("MI", "HR", "PS", "DF", "ED", "RR", "EM")
_MI, _HR, _PS, _DF, _ED, _RR, _EM = range(len(SOURCES))

_CHUNK = 8192  # households sampled at once; fixed, so households() and write_dataset() agree
_MAX_AGE = 100
_SEQUENCES = 500  # order codes per (region, birth date, sex): 2 × sequence (+ 1 for men)
_HOUSEHOLD_STREAM = 1
_FEED_STREAM = 2
_EPOCH = date(1970, 1, 1).toordinal()
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # ISO 7064 MOD 11-2: 7 9 10 5 8 4 2 1 6 3 …
_CHECK_CHARS = np.array([str(v) if v < 10 else "X" for v in ((12 - r) % 11 for r in range(11))], dtype=object)


@dataclass(frozen=True)
class Area:
    """Where synthetic households live, and the local dibao standard that shapes their incomes."""

    township_code: str  # 9 digits; the first 6 are the county, used as the identity-number region code
    standard_urban_fen: int  # dibao standard, yuan per person per month × 100
    standard_rural_fen: int
    urban_share: float = 0.6

    def __post_init__(self) -> None:
        if (
            len(self.township_code) != 9
            or not self.township_code.isascii()
            or not self.township_code.isdigit()
        ):
            raise ValueError(f"township_code must have 9 digits, got '{self.township_code}'")
        if self.township_code[0] == "0":
            raise ValueError(f"township_code must start with a province code, got '{self.township_code}'")
        if self.standard_urban_fen <= 0 or self.standard_rural_fen <= 0:
            raise ValueError("dibao standards must be positive amounts in fen")
        if not 0.0 <= self.urban_share <= 1.0:
            raise ValueError(f"urban_share must be between 0 and 1, got {self.urban_share}")


@dataclass(frozen=True)
class DatasetSummary:
    """What :func:`write_dataset` wrote: counts and paths (``paths["households"]`` and one per source)."""

    households: int
    members: int
    records: dict[str, int] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)


# --- enum codes (positions in the enums, as in columnar batches) ----------------------------------


def _names(enum: type) -> np.ndarray:
    return np.array([member.name for member in enum], dtype=object)


_REL_NAMES = _names(Relation)
_DIS_NAMES = _names(DisabilityLevel)
_ILL_NAMES = _names(Illness)
_CAP_NAMES = _names(LaborCapacity)
_EMP_NAMES = _names(Employment)
_EDU_NAMES = _names(EducationStage)
_INCOME_NAMES = _names(IncomeKind)
# The order of the asset and expense columns (and of the items in each household).
_ASSET_ORDER = tuple(k.name for k in (AssetKind.SAVINGS, AssetKind.VEHICLE, AssetKind.HOUSE,
                                      AssetKind.SECURITIES, AssetKind.OTHER))  # fmt: skip
_EXPENSE_ORDER = tuple(k.name for k in (ExpenseKind.MEDICAL, ExpenseKind.EDUCATION,
                                        ExpenseKind.REHABILITATION, ExpenseKind.LIVING))  # fmt: skip

HEAD, SPOUSE, CHILD, PARENT, GRANDCHILD, GRANDPARENT, SIBLING, OTHER = (
    code_of(r)
    for r in (
        Relation.HEAD,
        Relation.SPOUSE,
        Relation.CHILD,
        Relation.PARENT,
        Relation.GRANDCHILD,
        Relation.GRANDPARENT,
        Relation.SIBLING,
        Relation.OTHER,
    )
)
_REL_LIST_ORDER = np.zeros(len(Relation), dtype=np.int8)  # head, spouse, children, grandchildren, parents…
for _rank, _rel in enumerate((HEAD, SPOUSE, CHILD, GRANDCHILD, PARENT, GRANDPARENT, SIBLING, OTHER)):
    _REL_LIST_ORDER[_rel] = _rank

_EMPLOYED = code_of(Employment.EMPLOYED)
_UNEMPLOYED = code_of(Employment.UNEMPLOYED)
_STUDENT = code_of(Employment.STUDENT)
_RETIRED = code_of(Employment.RETIRED)
_NOT_IN_LABOR_FORCE = code_of(Employment.NOT_IN_LABOR_FORCE)
_NO_STAGE = code_of(EducationStage.NONE)
_PRESCHOOL = code_of(EducationStage.PRESCHOOL)
_PRIMARY = code_of(EducationStage.PRIMARY)
_JUNIOR = code_of(EducationStage.JUNIOR_SECONDARY)
_SENIOR = code_of(EducationStage.SENIOR_SECONDARY)
_VOCATIONAL = code_of(EducationStage.VOCATIONAL)
_UNIVERSITY = code_of(EducationStage.UNIVERSITY)
_FULL = code_of(LaborCapacity.FULL)
_PARTIAL = code_of(LaborCapacity.PARTIAL)
_NO_CAPACITY = code_of(LaborCapacity.NONE)
_CHRONIC = code_of(Illness.CHRONIC)
_SERIOUS = code_of(Illness.SERIOUS)
_NO_DISABILITY = code_of(DisabilityLevel.NONE)
_WAGES = code_of(IncomeKind.WAGES)
_BUSINESS = code_of(IncomeKind.BUSINESS)
_PROPERTY = code_of(IncomeKind.PROPERTY)
_TRANSFER = code_of(IncomeKind.TRANSFER)
_PENSION = code_of(IncomeKind.PENSION)
_OTHER_INCOME = code_of(IncomeKind.OTHER)
_URBAN_NAME, _RURAL_NAME = UrbanRural.URBAN.name, UrbanRural.RURAL.name

# Self-care (002 §8): the activities people lose first come first; k unable → the first k are False.
_SELF_CARE_KEYS = ("eating", "dressing", "transferring", "toileting", "walkingIndoors", "bathing")
_SELF_CARE_LOSS_ORDER = ("bathing", "walkingIndoors", "dressing", "transferring", "toileting", "eating")
_SELF_CARE = [
    {key: key not in _SELF_CARE_LOSS_ORDER[:unable] for key in _SELF_CARE_KEYS} for unable in range(7)
]
_SELF_CARE_JSON = ["null"] + [json.dumps(d, separators=(",", ":")) for d in _SELF_CARE]  # index k + 1


# --- household types -------------------------------------------------------------------------------
# weight, head age range, age skew (>1: younger heads more likely), P(head male), P(spouse), and the
# distributions of the numbers of children, parents, grandchildren, grandparents, siblings and others.
_TYPE_TABLE = (
    # elderly living alone
    (0.125, 60, 90, 1.5, 0.40, 0.0, (1,), (1,), (1,), (1,), (1,), (1,)),
    # single adult
    (0.080, 25, 59, 1.0, 0.55, 0.0, (1,), (1,), (1,), (1,), (1,), (1,)),
    # elderly couple
    (0.120, 60, 90, 1.5, 0.85, 1.0, (1,), (1,), (1,), (1,), (1,), (1,)),
    # couple without children at home
    (0.070, 25, 59, 1.0, 0.80, 1.0, (1,), (1,), (1,), (1,), (1,), (1,)),
    # couple with children
    (0.260, 26, 55, 1.0, 0.80, 1.0, (0, 0.6, 0.33, 0.07), (1,), (1,), (1,), (1,), (1,)),
    # single parent
    (0.075, 25, 55, 1.0, 0.25, 0.0, (0, 0.65, 0.30, 0.05), (1,), (1,), (1,), (1,), (1,)),
    # three generations
    (0.140, 28, 55, 1.0, 0.80, 0.85, (0, 0.7, 0.3), (0, 0.55, 0.45), (1,), (1,), (1,), (1,)),
    # adult living with parents
    (0.060, 25, 59, 1.0, 0.55, 0.0, (1,), (0, 0.5, 0.5), (1,), (1,), (1,), (1,)),
    # young adult living with a grandparent
    (0.008, 25, 35, 1.0, 0.55, 0.0, (1,), (1,), (1,), (0, 1), (1,), (1,)),
    # grandparents raising grandchildren without the parents (隔代家庭)
    (0.030, 55, 80, 1.0, 0.50, 0.5, (1,), (1,), (0, 0.7, 0.3), (1,), (1,), (1,)),
    # lone minor, sometimes with a younger sibling
    (0.004, 16, 17, 1.0, 0.50, 0.0, (1,), (1,), (1,), (1,), (0.6, 0.4), (1,)),
    # siblings
    (0.015, 30, 70, 1.0, 0.55, 0.0, (1,), (1,), (1,), (1,), (0, 1), (1,)),
    # head with an unrelated member
    (0.013, 40, 80, 1.0, 0.55, 0.0, (1,), (1,), (1,), (1,), (1,), (0, 1)),
)
_LONE_MINOR_TYPE = 10
_TYPE_P = np.array([row[0] for row in _TYPE_TABLE])
_TYPE_P /= _TYPE_P.sum()
_TYPE_HEAD_LO = np.array([row[1] for row in _TYPE_TABLE])
_TYPE_HEAD_HI = np.array([row[2] for row in _TYPE_TABLE])
_TYPE_SKEW = np.array([row[3] for row in _TYPE_TABLE])
_TYPE_MALE = np.array([row[4] for row in _TYPE_TABLE])
_TYPE_SPOUSE = np.array([row[5] for row in _TYPE_TABLE])


def _cumulative(column: int) -> np.ndarray:
    """Per type, the cumulative probabilities of 0, 1, 2… (without the final 1), padded with 1s."""
    dists = [row[column] for row in _TYPE_TABLE]
    width = max(len(d) for d in dists)
    out = np.ones((len(dists), width - 1 if width > 1 else 1))
    for i, d in enumerate(dists):
        cum = np.cumsum(d)[:-1]
        out[i, : len(cum)] = cum
    return out


_CHILDREN_CUM, _PARENTS_CUM, _GRANDCHILDREN_CUM, _GRANDPARENTS_CUM, _SIBLINGS_CUM, _OTHERS_CUM = (
    _cumulative(c) for c in range(6, 12)
)

# Income bands of per-capita income against the standard: zero, below 1x, 1x–1.5x, above 1.5x.
_BANDS_WITH_EARNER = np.cumsum([0.0, 0.22, 0.18, 0.60])[:-1]
_BANDS_WITHOUT_EARNER = np.cumsum([0.22, 0.55, 0.13, 0.10])[:-1]
_BAND_ZERO, _BAND_BELOW, _BAND_MARGINAL, _BAND_ABOVE = range(4)

# Annual education cost by stage (yuan, median), for rigid expenses.
_EDUCATION_COST = np.array([0, 3000, 600, 900, 3500, 4000, 12000], dtype=float)


# --- names and places -----------------------------------------------------------------------------

_SURNAMES = np.array(list(_FakerPerson.last_names.keys()), dtype=object)
_SURNAME_P = np.array(list(_FakerPerson.last_names.values()), dtype=float)
_SURNAME_P /= _SURNAME_P.sum()


def _given_names(names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Faker's given names (45%) and two-character names composed from its one-character ones (55%)."""
    singles = [g for g in names if len(g) == 1]
    pairs = [a + b for a in singles for b in singles if a != b]
    pool = np.array(list(names) + pairs, dtype=object)
    p = np.concatenate([np.full(len(names), 0.45 / len(names)), np.full(len(pairs), 0.55 / len(pairs))])
    return pool, p / p.sum()


_MALE_GIVEN, _MALE_GIVEN_P = _given_names(_FakerPerson.first_names_male)
_FEMALE_GIVEN, _FEMALE_GIVEN_P = _given_names(_FakerPerson.first_names_female)

# GB/T 2260 province codes → names (as in Faker's zh_CN list).
_PROVINCES = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区", "21": "辽宁省",
    "22": "吉林省", "23": "黑龙江省", "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省",
    "35": "福建省", "36": "江西省", "37": "山东省", "41": "河南省", "42": "湖北省", "43": "湖南省",
    "44": "广东省", "45": "广西壮族自治区", "46": "海南省", "50": "重庆市", "51": "四川省", "52": "贵州省",
    "53": "云南省", "54": "西藏自治区", "61": "陕西省", "62": "甘肃省", "63": "青海省",
    "64": "宁夏回族自治区", "65": "新疆维吾尔自治区", "71": "台湾省", "81": "香港特别行政区",
    "82": "澳门特别行政区",
}  # fmt: skip
_MUNICIPALITIES = frozenset({"11", "12", "31", "50"})
# Real names for the seed localities' cities and counties (DOMAIN.md); others get composed names.
_KNOWN_CITIES = {"6207": "张掖市", "6210": "庆阳市", "6401": "银川市"}
_KNOWN_COUNTIES = {
    "120101": "和平区", "120102": "河东区", "120103": "河西区", "120104": "南开区", "120105": "河北区",
    "120106": "红桥区", "310101": "黄浦区", "310104": "徐汇区", "310105": "长宁区", "310106": "静安区",
    "620702": "甘州区", "621002": "西峰区", "640121": "永宁县",
}  # fmt: skip
_PLACE_STEMS = tuple(
    s for s in dict.fromkeys(_FakerAddress.districts + _FakerAddress.cities) if s[-1] not in "区特新"
)
_CITY_STEMS = tuple(dict.fromkeys(_FakerAddress.cities))
_TOWN_STEMS = tuple(d for d in dict.fromkeys(_FakerAddress.districts) if d[-1] not in "区特新")
_COMMON_SURNAMES = tuple(list(_FakerPerson.last_names)[:100])
_ROADS_PER_AREA, _COMMUNITIES_PER_AREA, _VILLAGES_PER_AREA = 16, 12, 15


def _pick(options: Sequence[str], *key: str) -> str:
    """A deterministic choice from ``options`` keyed by strings (not by the seed: places stay put)."""
    return options[zlib.crc32("/".join(key).encode()) % len(options)]


@dataclass(frozen=True)
class _Place:
    province: str
    city: str  # "" in municipalities
    county: str
    town: str
    roads: tuple[str, ...]
    communities: tuple[str, ...]  # urban: 社区, village codes 001–…
    villages: tuple[str, ...]  # rural: 村, village codes 200–…

    @property
    def prefix(self) -> str:
        return f"{self.province}{self.city}{self.county}{self.town}"


@lru_cache(maxsize=4096)
def _place(township_code: str) -> _Place:
    province_code, city_code, county_code = township_code[:2], township_code[:4], township_code[:6]
    province = _PROVINCES.get(province_code) or _pick(_FakerAddress.provinces, province_code)
    if province_code in _MUNICIPALITIES:
        city = ""
    else:
        city = _KNOWN_CITIES.get(city_code) or _pick(_CITY_STEMS, "city", city_code) + "市"
    county = _KNOWN_COUNTIES.get(county_code)
    if county is None:
        number = int(county_code[4:])
        suffix = "区" if number <= 20 else "市" if number >= 81 else "县"
        county = _pick(_PLACE_STEMS, "county", county_code) + suffix
    town_number = int(township_code[6:])
    town_suffix = "街道" if town_number < 100 else "镇" if town_number < 200 else "乡"
    town = _pick(_TOWN_STEMS, "town", township_code) + town_suffix
    roads = tuple(
        _pick(_PLACE_STEMS, "road", township_code, str(i)) + _pick(("路", "街", "大街", "道"), "rs", str(i))
        for i in range(_ROADS_PER_AREA)
    )
    communities = tuple(
        _pick(_PLACE_STEMS + _COMMON_SURNAMES, "community", township_code, str(i))
        + _pick(("社区", "里社区", "园社区", "新村社区"), "cs", township_code, str(i))
        for i in range(_COMMUNITIES_PER_AREA)
    )
    villages = tuple(
        _pick(_COMMON_SURNAMES, "village", township_code, str(i))
        + _pick(("家庄村", "庄村", "家村", "营村", "堡村", "湾村", "沟村"), "vs", township_code, str(i))
        for i in range(_VILLAGES_PER_AREA)
    )
    return _Place(province, city, county, town, roads, communities, villages)


# --- small helpers ----------------------------------------------------------------------------------


_CENTS = np.array([f".{c:02d}" for c in range(100)], dtype=object)


def _money_objects(fen: np.ndarray) -> np.ndarray:
    """Integer fen → ``"1234.50"`` strings (an array of str objects)."""
    fen = np.asarray(fen, dtype=np.int64)
    return (fen // 100).astype(str).astype(object) + _CENTS[fen % 100]


def _money(fen: np.ndarray) -> list[str]:
    """Integer fen → ``"1234.50"`` strings."""
    return _money_objects(fen).tolist()


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _ymd(ordinals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    days = (ordinals - _EPOCH).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (days - months).astype(np.int64) + 1
    return year, month, day


def _ages(birth: np.ndarray, as_of: date) -> np.ndarray:
    """Completed years of age on ``as_of`` for birth-date ordinals."""
    year, month, day = _ymd(birth)
    return as_of.year - year - ((as_of.month * 100 + as_of.day) < (month * 100 + day))


def _iso_dates(ordinals: np.ndarray) -> list[str]:
    return (ordinals - _EPOCH).astype("datetime64[D]").astype(str).tolist()


def _format_ids(region: np.ndarray, birth: np.ndarray, sequence: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Identity numbers (GB 11643) for arrays of region codes (as ints), birth ordinals, sequences, sexes.

    The same numbers as ``make_id_number(region, birth_date, sequence, sex)``, computed for whole arrays.
    """
    year, month, day = _ymd(birth)
    first17 = (
        region.astype(np.int64) * 10**11
        + (year * 10000 + month * 100 + day) * 1000
        + sequence.astype(np.int64) * 2
        + male.astype(np.int64)
    )
    digits, total = first17.copy(), np.zeros(len(first17), dtype=np.int64)
    for weight in reversed(_ID_WEIGHTS):
        total += (digits % 10) * weight
        digits //= 10
    return first17.astype(str).astype(object) + _CHECK_CHARS[total % 11]


def _lognormal(rng: np.random.Generator, median: float, sigma: float, size: int) -> np.ndarray:
    return median * np.exp(sigma * rng.standard_normal(size))


def _count(rng: np.random.Generator, cumulative: np.ndarray) -> np.ndarray:
    """Per row of cumulative probabilities, how many (0, 1, 2…)."""
    return (rng.random(len(cumulative))[:, None] >= cumulative).sum(axis=1)


def _within(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For per-household counts: the household of each row, and the row's position within its household."""
    owner = np.repeat(np.arange(len(counts)), counts)
    position = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, position


# --- columns shared by households and feeds ---------------------------------------------------------


@dataclass
class _Columns:
    """Per-member columns that feeds are sampled from (from generated chunks or from household dicts)."""

    region_codes: list[str]
    region: np.ndarray  # index into region_codes
    birth: np.ndarray  # date ordinals
    male: np.ndarray
    sequence: np.ndarray
    relation: np.ndarray
    disability: np.ndarray
    illness: np.ndarray
    employment: np.ndarray
    education: np.ndarray
    rural: np.ndarray
    localities: list[str]
    locality: np.ndarray  # index into localities
    is_taken: Callable[[int, int, int, int], bool]  # (region, birth, male, sequence) already a member?

    @property
    def size(self) -> int:
        return len(self.birth)

    def id_numbers(self, rows: np.ndarray) -> list[str]:
        return self.id_numbers_of(self.region[rows], self.birth[rows], self.sequence[rows], self.male[rows])

    def id_numbers_of(
        self, region: np.ndarray, birth: np.ndarray, sequence: np.ndarray, male: np.ndarray
    ) -> list[str]:
        codes = np.array([int(c) for c in self.region_codes], dtype=np.int64)
        return _format_ids(codes[region] if len(region) else region, birth, sequence, male).tolist()


def _concat_columns(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not parts:
        return {}
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


# --- households -------------------------------------------------------------------------------------


@dataclass
class _Chunk:
    """A chunk of generated households, as arrays, ready to become dicts or JSON lines."""

    locality: np.ndarray  # str objects
    rural: np.ndarray
    address: np.ndarray  # str objects
    bounds: np.ndarray  # members of household i are rows bounds[i]:bounds[i + 1]
    assets: np.ndarray  # households × _ASSET_ORDER, fen (0: none)
    expenses: np.ndarray  # households × _EXPENSE_ORDER, fen per year (0: none)
    names: np.ndarray  # str objects
    ids: np.ndarray  # str objects
    relation: np.ndarray
    disability: np.ndarray
    illness: np.ndarray
    capacity: np.ndarray
    employment: np.ndarray
    education: np.ndarray
    self_care: np.ndarray  # -1: not assessed; k: k activities not done alone
    income: np.ndarray  # fen per month (0: none)
    income_kind: np.ndarray
    rent: np.ndarray  # a second, property income (fen per month; 0: none)
    columns: dict[str, np.ndarray]

    def dicts(self) -> Iterator[dict]:
        incomes: list[list[dict]] = [[] for _ in range(len(self.names))]
        for rows, kinds, amounts in self._income_items():
            for row, kind, amount in zip(rows.tolist(), kinds.tolist(), _money(amounts), strict=True):
                incomes[row].append({"kind": kind, "monthlyAmount": amount})
        rows = zip(
            self.names.tolist(),
            self.ids.tolist(),
            _REL_NAMES[self.relation].tolist(),
            _DIS_NAMES[self.disability].tolist(),
            _ILL_NAMES[self.illness].tolist(),
            _CAP_NAMES[self.capacity].tolist(),
            _EMP_NAMES[self.employment].tolist(),
            _EDU_NAMES[self.education].tolist(),
            self.self_care.tolist(),
            incomes,
            strict=True,
        )
        members = [
            {
                "name": name,
                "idNumber": number,
                "relation": relation,
                "disability": disability,
                "illness": illness,
                "laborCapacity": capacity,
                "employment": job,
                "educationStage": stage,
                "selfCare": None if care < 0 else dict(_SELF_CARE[care]),
                "monthlyIncomes": money,
            }
            for name, number, relation, disability, illness, capacity, job, stage, care, money in rows
        ]
        assets = _grouped_items(self.assets, _ASSET_ORDER, "value")
        expenses = _grouped_items(self.expenses, _EXPENSE_ORDER, "annualAmount")
        bounds = self.bounds.tolist()
        for i, (locality, rural, address) in enumerate(
            zip(self.locality.tolist(), self.rural.tolist(), self.address.tolist(), strict=True)
        ):
            yield {
                "localityCode": locality,
                "residence": _RURAL_NAME if rural else _URBAN_NAME,
                "address": address,
                "members": members[bounds[i] : bounds[i + 1]],
                "assets": assets[i],
                "rigidExpenses": expenses[i],
            }

    def _income_items(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        rows = np.flatnonzero(self.income)
        yield rows, _INCOME_NAMES[self.income_kind[rows]], self.income[rows]
        rows = np.flatnonzero(self.rent)
        yield rows, np.full(len(rows), _INCOME_NAMES[_PROPERTY], dtype=object), self.rent[rows]

    def json_lines(self) -> str:
        """The chunk as JSON lines, built column-wise; each line parses to the dict :meth:`dicts` yields."""
        m = len(self.names)
        combo = self.relation.astype(np.int64)
        for column, radix in (
            (self.disability, 5),
            (self.illness, 3),
            (self.capacity, 3),
            (self.employment, 5),
            (self.education, 7),
            (self.self_care + 1, 8),
        ):
            combo = combo * radix + column
        unique, inverse = np.unique(combo, return_inverse=True)
        middles = np.array([_member_middle(int(c)) for c in unique], dtype=object)
        income = np.full(m, "", dtype=object)
        for rows, kinds, amounts in self._income_items():
            item = '{"kind":"' + kinds + '","monthlyAmount":"' + _money_objects(amounts) + '"}'
            income[rows] = np.where(income[rows] == "", item, income[rows] + ("," + item))
        first = np.zeros(m, dtype=bool)
        first[self.bounds[:-1]] = True
        member = (
            np.where(first, '{"name":"', ',{"name":"').astype(object)
            + self.names
            + '","idNumber":"'
            + self.ids
            + middles[inverse.ravel()]
            + income
            + "]}"
        )
        members = np.add.reduceat(member, self.bounds[:-1]) if m else member
        lines = (
            '{"localityCode":"'
            + self.locality
            + np.where(
                self.rural, '","residence":"RURAL","address":"', '","residence":"URBAN","address":"'
            ).astype(object)
            + self.address
            + '","members":['
            + members
            + '],"assets":['
            + _joined_items(self.assets, _ASSET_ORDER, "value")
            + '],"rigidExpenses":['
            + _joined_items(self.expenses, _EXPENSE_ORDER, "annualAmount")
            + "]}\n"
        )
        return "".join(lines.tolist())


@cache
def _member_middle(combo: int) -> str:
    """The JSON of a member between the identity number and the incomes, for a code of its facts."""
    combo, care = divmod(combo, 8)
    combo, education = divmod(combo, 7)
    combo, employment = divmod(combo, 5)
    combo, capacity = divmod(combo, 3)
    relation, illness = divmod(combo, 3)
    relation, disability = divmod(relation, 5)
    return (
        f'","relation":"{_REL_NAMES[relation]}","disability":"{_DIS_NAMES[disability]}",'
        f'"illness":"{_ILL_NAMES[illness]}","laborCapacity":"{_CAP_NAMES[capacity]}",'
        f'"employment":"{_EMP_NAMES[employment]}","educationStage":"{_EDU_NAMES[education]}",'
        f'"selfCare":{_SELF_CARE_JSON[care]},"monthlyIncomes":['
    )


def _grouped_items(values: np.ndarray, kinds: Sequence[str], amount_key: str) -> list[list[dict]]:
    """Per household, ``{"kind", amount_key}`` dicts for the non-zero columns of ``values``."""
    out: list[list[dict]] = [[] for _ in range(len(values))]
    rows, cols = np.nonzero(values)
    for row, col, amount in zip(rows.tolist(), cols.tolist(), _money(values[rows, cols]), strict=True):
        out[row].append({"kind": kinds[col], amount_key: amount})
    return out


def _joined_items(values: np.ndarray, kinds: Sequence[str], amount_key: str) -> np.ndarray:
    """Per household, the JSON of its non-zero items (``values``: households × kinds), comma-separated."""
    h = len(values)
    rows, cols = np.nonzero(values)  # row-major, so grouped by household
    counts = np.bincount(rows, minlength=h)
    before = np.cumsum(counts) - counts
    # each household gets an empty leading element, so that households without items join to ""
    slots = np.full(h + len(rows), "", dtype=object)
    starts = np.arange(h) + before
    within = np.arange(len(rows)) - before[rows]
    prefixes = np.array([f'{{"kind":"{k}","{amount_key}":"' for k in kinds], dtype=object)
    item = prefixes[cols] + _money_objects(values[rows, cols]) + '"}'
    slots[starts[rows] + 1 + within] = np.where(within == 0, item, "," + item)
    return np.add.reduceat(slots, starts) if h else slots


class _HouseholdGenerator:
    """Samples households chunk by chunk; keeps the identity-number counters across chunks."""

    def __init__(self, areas: Sequence[Area], seed: int, as_of: date) -> None:
        if not areas:
            raise ValueError("synthetic households need at least one Area")
        if seed < 0:
            raise ValueError(f"seed must be zero or positive, got {seed}")
        self.areas = list(areas)
        self.as_of = as_of
        self.rng = np.random.default_rng([_HOUSEHOLD_STREAM, seed])
        self.region_codes = list(dict.fromkeys(a.township_code[:6] for a in self.areas))
        self.area_region = np.array([self.region_codes.index(a.township_code[:6]) for a in self.areas])
        self.urban_fen = np.array([a.standard_urban_fen for a in self.areas], dtype=np.int64)
        self.rural_fen = np.array([a.standard_rural_fen for a in self.areas], dtype=np.int64)
        self.urban_share = np.array([a.urban_share for a in self.areas])
        self.places = [_place(a.township_code) for a in self.areas]
        self.localities = [
            a.township_code + (f"{v:03d}" if v else "") for a in self.areas for v in range(1000)
        ]
        self.locality_codes = np.array(self.localities, dtype=object)
        # Birth dates for age a lie in (back[a + 1], back[a]]; none after today, for parse_id_number.
        self.back = np.array([_years_before(as_of, k).toordinal() for k in range(_MAX_AGE + 2)])
        self.latest = min(as_of, date.today()).toordinal()
        self.first_day = int(self.back[-1]) + 1
        self.days = as_of.toordinal() - self.first_day + 1
        self.counts = np.zeros(len(self.region_codes) * self.days * 2, dtype=np.int32)

    def key(self, region: np.ndarray | int, birth: np.ndarray | int, male: np.ndarray | int):
        return (region * self.days + (birth - self.first_day)) * 2 + male

    def is_taken(self, region: int, birth: int, male: int, sequence: int) -> bool:
        if not self.first_day <= birth < self.first_day + self.days:
            return False
        return sequence < self.counts[self.key(region, birth, male)]

    def chunks(self, n: int) -> Iterator[_Chunk]:
        if n < 0:
            raise ValueError(f"n must be zero or positive, got {n}")
        for start in range(0, n, _CHUNK):
            yield self.chunk(min(_CHUNK, n - start))

    # -- sampling -----------------------------------------------------------------------------------

    def _births(self, age: np.ndarray) -> np.ndarray:
        high = np.minimum(self.back[age], self.latest)
        low = np.minimum(self.back[age + 1] + 1, high)
        return self.rng.integers(low, high + 1)

    def _sequences(self, region: np.ndarray, birth: np.ndarray, age: np.ndarray, male: np.ndarray):
        """Order-code sequences from per-(region, birth date, sex) counters; moves birthdays on overflow."""
        sequence = np.zeros(len(birth), dtype=np.int64)
        pending = np.arange(len(birth))
        for _ in range(50):
            keys = self.key(region[pending], birth[pending], male[pending])
            order = np.argsort(keys, kind="stable")
            ordered = keys[order]
            starts = np.r_[True, ordered[1:] != ordered[:-1]]
            first = np.maximum.accumulate(np.where(starts, np.arange(len(ordered)), 0))
            seq = np.empty(len(keys), dtype=np.int64)
            seq[order] = self.counts[ordered] + np.arange(len(ordered)) - first
            fits = seq < _SEQUENCES
            np.maximum.at(self.counts, keys[fits], (seq[fits] + 1).astype(np.int32))
            sequence[pending[fits]] = seq[fits]
            pending = pending[~fits]
            if not len(pending):
                return sequence
            birth[pending] = self._births(age[pending])
        raise ValueError(
            "too many synthetic people share a county, birth date and sex (at most 500 each); "
            "use more areas or fewer households"
        )

    def chunk(self, size: int) -> _Chunk:
        rng = self.rng
        h = size
        area = rng.integers(0, len(self.areas), h)
        rural = rng.random(h) >= self.urban_share[area]
        kind = rng.choice(len(_TYPE_P), h, p=_TYPE_P)

        # heads
        lo, hi = _TYPE_HEAD_LO[kind], _TYPE_HEAD_HI[kind]
        head_age = lo + np.floor((hi - lo + 1) * rng.random(h) ** _TYPE_SKEW[kind]).astype(np.int64)
        head_male = rng.random(h) < _TYPE_MALE[kind]
        head_surname = rng.choice(len(_SURNAMES), h, p=_SURNAME_P)
        has_spouse = rng.random(h) < _TYPE_SPOUSE[kind]
        spouse_surname = rng.choice(len(_SURNAMES), h, p=_SURNAME_P)
        gap = np.rint(rng.normal(2.0, 3.0, h)).astype(np.int64)
        spouse_age = np.clip(np.where(head_male, head_age - gap, head_age + gap), 20, 99)
        spouse_age = np.clip(spouse_age, np.maximum(head_age - 15, 18), head_age + 15)
        younger_parent = np.where(has_spouse, np.minimum(head_age, spouse_age), head_age)
        # children take the father's surname; a single mother's children half the time hers
        other_surname = rng.choice(len(_SURNAMES), h, p=_SURNAME_P)
        child_surname = np.where(head_male, head_surname, np.where(has_spouse, spouse_surname, other_surname))
        child_surname = np.where(
            ~head_male & ~has_spouse & (rng.random(h) < 0.5), head_surname, child_surname
        )

        rows_hh, rows_rel, rows_age, rows_male, rows_surname = [], [], [], [], []

        def add(owner, relation, age, male, surname):
            rows_hh.append(owner)
            rows_rel.append(np.full(len(owner), relation, dtype=np.int8))
            rows_age.append(np.asarray(age, dtype=np.int64))
            rows_male.append(np.asarray(male, dtype=bool))
            rows_surname.append(np.asarray(surname, dtype=np.int64))

        add(np.arange(h), HEAD, head_age, head_male, head_surname)
        s = np.flatnonzero(has_spouse)
        add(s, SPOUSE, spouse_age[s], ~head_male[s], spouse_surname[s])

        owner, _ = _within(_count(rng, _CHILDREN_CUM[kind]))
        top = younger_parent[owner] - 20
        bottom = np.maximum(0, younger_parent[owner] - 42)
        age = bottom + np.floor((top - bottom + 1) * rng.random(len(owner))).astype(np.int64)
        add(owner, CHILD, age, rng.random(len(owner)) < 0.52, child_surname[owner])

        parents = _count(rng, _PARENTS_CUM[kind])
        owner, position = _within(parents)
        pair = parents[owner] == 2
        male = np.where(pair, position == 0, rng.random(len(owner)) < 0.35)
        age = head_age[owner] + rng.integers(22, 37, len(owner))
        second = np.flatnonzero(position == 1)
        age[second] = np.maximum(
            head_age[owner[second]] + 20, age[second - 1] - rng.integers(0, 6, len(second))
        )
        age = np.minimum(age, _MAX_AGE)
        surname = np.where(male, head_surname[owner], rng.choice(len(_SURNAMES), len(owner), p=_SURNAME_P))
        add(owner, PARENT, age, male, surname)

        owner, _ = _within(_count(rng, _GRANDCHILDREN_CUM[kind]))
        surname = np.where(head_male[owner], head_surname[owner], child_surname[owner])
        add(owner, GRANDCHILD, rng.integers(0, 18, len(owner)), rng.random(len(owner)) < 0.52, surname)

        owner, _ = _within(_count(rng, _GRANDPARENTS_CUM[kind]))
        male = rng.random(len(owner)) < 0.35
        surname = np.where(male, head_surname[owner], rng.choice(len(_SURNAMES), len(owner), p=_SURNAME_P))
        age = np.minimum(head_age[owner] + rng.integers(40, 57, len(owner)), _MAX_AGE)
        add(owner, GRANDPARENT, age, male, surname)

        owner, _ = _within(_count(rng, _SIBLINGS_CUM[kind]))
        age = np.where(
            kind[owner] == _LONE_MINOR_TYPE,
            rng.integers(6, 16, len(owner)),
            np.clip(head_age[owner] + rng.integers(-10, 11, len(owner)), 18, 95),
        )
        add(owner, SIBLING, age, rng.random(len(owner)) < 0.5, head_surname[owner])

        owner, _ = _within(_count(rng, _OTHERS_CUM[kind]))
        surname = rng.choice(len(_SURNAMES), len(owner), p=_SURNAME_P)
        add(owner, OTHER, rng.integers(18, 76, len(owner)), rng.random(len(owner)) < 0.5, surname)

        hh = np.concatenate(rows_hh)
        relation = np.concatenate(rows_rel)
        target_age = np.concatenate(rows_age)
        male = np.concatenate(rows_male)
        surname = np.concatenate(rows_surname)
        order = np.lexsort((-target_age, _REL_LIST_ORDER[relation], hh))
        hh, relation, target_age, male, surname = (
            hh[order],
            relation[order],
            target_age[order],
            male[order],
            surname[order],
        )
        m = len(hh)
        sizes = np.bincount(hh, minlength=h)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        heads = bounds[:-1]
        member_rural = rural[hh]

        # birth dates, identity numbers
        region = self.area_region[area][hh]
        birth = self._births(target_age)
        sequence = self._sequences(region, birth, target_age, male.astype(np.int64))
        age = _ages(birth, self.as_of)
        ids = _format_ids(
            np.array([int(c) for c in self.region_codes], dtype=np.int64)[region], birth, sequence, male
        )

        # names
        given = np.where(
            male,
            _MALE_GIVEN[rng.choice(len(_MALE_GIVEN), m, p=_MALE_GIVEN_P)],
            _FEMALE_GIVEN[rng.choice(len(_FEMALE_GIVEN), m, p=_FEMALE_GIVEN_P)],
        )
        names = _SURNAMES[surname] + given

        # health: disability, illness
        u = rng.random(m)
        p_disabled = np.select([age < 18, age < 60, age < 80], [0.03, 0.07, 0.12], 0.20)
        level = 1 + np.searchsorted([0.12, 0.32, 0.62], rng.random(m), side="right")
        disability = np.where(u < p_disabled, level, _NO_DISABILITY).astype(np.int8)
        u = rng.random(m)
        p_serious = np.select([age < 40, age < 60], [0.01, 0.03], 0.06)
        p_chronic = p_serious + np.select(
            [age < 18, age < 40, age < 60, age < 80], [0.01, 0.04, 0.15, 0.35], 0.5
        )
        illness = np.where(u < p_serious, _SERIOUS, np.where(u < p_chronic, _CHRONIC, 0)).astype(np.int8)

        # labour capacity: the most limiting of age, disability and illness
        u = rng.random(m)
        capacity = np.full(m, _FULL, dtype=np.int8)
        capacity = np.maximum(capacity, np.where(age < 16, _NO_CAPACITY, _FULL))
        capacity = np.maximum(capacity, np.where(age >= 75, _NO_CAPACITY, _FULL))
        capacity = np.maximum(capacity, np.where((age >= 60) & (u < 0.6), _PARTIAL, _FULL))
        capacity = np.maximum(
            capacity, np.select([disability == 1, disability == 2, disability == 3], [2, 2, 1], 0)
        )
        capacity = np.maximum(capacity, np.where((disability == 4) & (u < 0.5), _PARTIAL, _FULL))
        v = rng.random(m)
        capacity = np.maximum(
            capacity, np.where(illness == _SERIOUS, np.where(v < 0.6, _NO_CAPACITY, _PARTIAL), _FULL)
        )
        capacity = np.maximum(capacity, np.where((illness == _CHRONIC) & (v < 0.4), _PARTIAL, _FULL))
        capacity = capacity.astype(np.int8)

        # schooling
        u = rng.random(m)
        education = np.select(
            [
                (age >= 3) & (age <= 5) & (u < 0.85),
                (age >= 6) & (age <= 11),
                (age >= 12) & (age <= 14),
                (age == 15) & (u < 0.5),
                (age == 15) & (u < 0.78),
                (age == 15) & (u < 0.95),
                (age >= 16) & (age <= 17) & (u < 0.58),
                (age >= 16) & (age <= 17) & (u < 0.88),
                (age == 18) & (u < 0.25),
                (age == 18) & (u < 0.55),
                (age == 18) & (u < 0.65),
                (age >= 19) & (age <= 22) & (u < 0.35),
                (age >= 19) & (age <= 22) & (u < 0.42),
            ],
            [
                _PRESCHOOL, _PRIMARY, _JUNIOR, _JUNIOR, _SENIOR, _VOCATIONAL, _SENIOR, _VOCATIONAL,
                _SENIOR, _UNIVERSITY, _VOCATIONAL, _UNIVERSITY, _VOCATIONAL,
            ],
            _NO_STAGE,
        ).astype(np.int8)  # fmt: skip
        # compulsory schooling, except for some severely disabled or seriously ill children
        kept_home = ((disability == 1) | (disability == 2) | (illness == _SERIOUS)) & (rng.random(m) < 0.4)
        education = np.where(kept_home & (age >= 6), _NO_STAGE, education).astype(np.int8)
        student = (education != _NO_STAGE) & (education != _PRESCHOOL)

        # employment
        retirement_age = np.where(male, 60, 55)
        u, v = rng.random(m), rng.random(m)
        retired = (age >= retirement_age) & (u < np.where(member_rural, 0.35, 0.85))
        farming = member_rural & (age < 70) & (capacity != _NO_CAPACITY) & (v < 0.5)
        working_age = (age >= 16) & (age < retirement_age)
        full_job = np.select([v < 0.76, v < 0.92], [_EMPLOYED, _UNEMPLOYED], _NOT_IN_LABOR_FORCE)
        partial_job = np.select([v < 0.45, v < 0.70], [_EMPLOYED, _UNEMPLOYED], _NOT_IN_LABOR_FORCE)
        minor_job = np.select([v < 0.4, v < 0.8], [_EMPLOYED, _UNEMPLOYED], _NOT_IN_LABOR_FORCE)
        employment = np.select(
            [
                student,
                age < 16,
                working_age & (age < 18) & (capacity != _NO_CAPACITY),
                working_age & (capacity == _FULL),
                working_age & (capacity == _PARTIAL),
                working_age,
                retired,
                farming,
            ],
            [
                _STUDENT,
                _NOT_IN_LABOR_FORCE,
                minor_job,
                full_job,
                partial_job,
                _NOT_IN_LABOR_FORCE,
                _RETIRED,
                _EMPLOYED,
            ],
            _NOT_IN_LABOR_FORCE,
        ).astype(np.int8)

        # self-care assessments for the severely disabled, the seriously ill and the very old
        assessed = (
            (disability == 1)
            | (disability == 2)
            | (illness == _SERIOUS)
            | (age >= 80)
            | ((capacity == _NO_CAPACITY) & (age >= 60) & (rng.random(m) < 0.3))
        )
        p_unable = np.clip(
            0.04
            + 0.55 * (disability == 1)
            + 0.3 * (disability == 2)
            + 0.2 * (illness == _SERIOUS)
            + 0.1 * (age >= 80)
            + 0.1 * (age >= 90),
            0,
            0.9,
        )
        self_care = np.where(assessed, rng.binomial(6, p_unable), -1)

        # incomes: a per-capita target by band, shared among the members who earn
        standard = np.where(rural, self.rural_fen[area], self.urban_fen[area]).astype(float)
        employed = employment == _EMPLOYED
        retired = employment == _RETIRED
        u = rng.random(m)
        weight = np.select(
            [
                employed,
                retired,
                (employment == _UNEMPLOYED) & (u < 0.3),
                (employment == _NOT_IN_LABOR_FORCE) & (age >= 18) & (u < 0.5),
            ],
            [
                rng.uniform(0.6, 1.4, m),
                rng.uniform(0.35, 0.8, m),
                rng.uniform(0.05, 0.15, m),
                rng.uniform(0.08, 0.2, m),
            ],
            0.0,
        )
        income_kind = np.select(
            [employed, retired, employment == _UNEMPLOYED],
            [
                np.where(rng.random(m) < np.where(member_rural, 0.5, 0.1), _BUSINESS, _WAGES),
                _PENSION,
                _OTHER_INCOME,
            ],
            _TRANSFER,
        )
        has_earner = np.bincount(hh, employed | retired, minlength=h) > 0
        u = rng.random(h)
        band = np.where(
            has_earner,
            np.searchsorted(_BANDS_WITH_EARNER, u, side="right"),
            np.searchsorted(_BANDS_WITHOUT_EARNER, u, side="right"),
        )
        ratio = np.select(
            [band == _BAND_ZERO, band == _BAND_BELOW, band == _BAND_MARGINAL],
            [0.0, rng.uniform(0.08, 0.97, h), rng.uniform(1.02, 1.48, h)],
            1.52 + np.minimum(rng.exponential(1.3, h), 8.0),
        )
        target = ratio * standard * sizes
        total_weight = np.bincount(hh, weight, minlength=h)
        orphaned = (total_weight == 0) & (target > 0)  # nobody earns: the head receives transfers
        weight[heads[orphaned]] = 1.0
        income_kind[heads[orphaned]] = _TRANSFER
        total_weight = np.bincount(hh, weight, minlength=h)
        share = np.divide(weight, total_weight[hh], out=np.zeros(m), where=total_weight[hh] > 0)
        amount = np.rint(target[hh] * share / 100).astype(np.int64) * 100
        rental = (band == _BAND_ABOVE) & (rng.random(h) < 0.06)
        rent = np.zeros(m, dtype=np.int64)
        rent[heads[rental]] = rng.integers(200, 3001, int(rental.sum())) * 100

        # assets
        u = rng.random(h)
        months = np.select(
            [u < 0.18, u < 0.62, u < 0.82, u < 0.91],
            [0.0, rng.uniform(0.2, 6, h), rng.uniform(6, 24, h), rng.uniform(24, 36, h)],
            rng.uniform(36.5, 120, h),
        )
        savings = np.rint(months * standard * sizes).astype(np.int64)
        u = rng.random(h)
        vehicle = np.where(
            rural,
            np.where(rng.random(h) < 0.7, rng.uniform(2000, 12000, h), _lognormal(rng, 40000, 0.4, h)),
            np.clip(_lognormal(rng, 60000, 0.6, h), 15000, 300000),
        )
        vehicle = np.where(u < np.where(rural, 0.2, 0.1), np.rint(vehicle / 100) * 10000, 0).astype(np.int64)
        house = np.where(rng.random(h) < 0.04, np.rint(rng.uniform(150, 1200, h)) * 100000, 0).astype(
            np.int64
        )
        securities = np.where(
            rng.random(h) < 0.03, np.rint(np.clip(_lognormal(rng, 20000, 1.0, h), 1000, 500000) * 100), 0
        ).astype(np.int64)
        other_asset = np.where(
            rural & (rng.random(h) < 0.06), np.rint(rng.uniform(30, 400, h)) * 10000, 0
        ).astype(np.int64)
        assets = np.stack([savings, vehicle, house, securities, other_asset], axis=1)

        # rigid expenses (annual)
        medical = np.where(illness == _CHRONIC, _lognormal(rng, 3000, 0.6, m), 0) + np.where(
            illness == _SERIOUS, _lognormal(rng, 25000, 0.8, m), 0
        )
        schooling = np.where(
            education != _NO_STAGE, _EDUCATION_COST[education] * _lognormal(rng, 1.0, 0.3, m), 0
        )
        rehabilitation = np.where(
            (disability >= 1) & (disability <= 3) & (rng.random(m) < 0.6), _lognormal(rng, 5000, 0.6, m), 0
        )
        per_household = [np.rint(np.bincount(hh, x, minlength=h)).astype(np.int64) * 100
                         for x in (medical, schooling, rehabilitation)]  # fmt: skip
        any_rigid = (per_household[0] + per_household[1] + per_household[2]) > 0
        living = (
            np.where(
                any_rigid & (rng.random(h) < 0.5),
                np.rint(standard * 12 * sizes * rng.uniform(0.6, 1.0, h) / 100),
                0,
            ).astype(np.int64)
            * 100
        )
        expenses = np.stack([*per_household, living], axis=1)

        # localities and addresses
        village_level = rng.random(h) < 0.7
        community = rng.integers(0, _COMMUNITIES_PER_AREA, h)
        village = rng.integers(0, _VILLAGES_PER_AREA, h)
        village_number = np.where(village_level, np.where(rural, 200 + village, 1 + community), 0)
        locality = area * 1000 + village_number
        numbers = rng.integers(1, 301, h)
        road = rng.integers(0, _ROADS_PER_AREA, h)
        building, unit = rng.integers(1, 31, h), rng.integers(1, 7, h)
        floor, room = rng.integers(1, 19, h), rng.integers(1, 5, h)
        group = rng.integers(1, 13, h)
        addresses = []
        places = self.places
        for a, r, vi, no, ro, b, un, fl, rm, g in zip(
            area.tolist(),
            rural.tolist(),
            village.tolist(),
            numbers.tolist(),
            road.tolist(),
            building.tolist(),
            unit.tolist(),
            floor.tolist(),
            room.tolist(),
            group.tolist(),
            strict=True,
        ):
            place = places[a]
            if r:
                addresses.append(f"{place.prefix}{place.villages[vi]}{g}组{no}号")
            else:
                addresses.append(f"{place.prefix}{place.roads[ro]}{no}号{b}栋{un}单元{fl}{rm:02d}室")

        columns = {
            "region": region.astype(np.int32),
            "birth": birth.astype(np.int64),
            "male": male.astype(np.int8),
            "sequence": sequence.astype(np.int16),
            "relation": relation.astype(np.int8),
            "disability": disability,
            "illness": illness,
            "employment": employment,
            "education": education,
            "rural": member_rural,
            "locality": locality[hh].astype(np.int32),
        }
        return _Chunk(
            locality=self.locality_codes[locality],
            rural=rural,
            address=np.array(addresses, dtype=object),
            bounds=bounds,
            assets=assets,
            expenses=expenses,
            names=names,
            ids=ids,
            relation=relation,
            disability=disability,
            illness=illness,
            capacity=capacity,
            employment=employment,
            education=education,
            self_care=self_care,
            income=amount,
            income_kind=income_kind,
            rent=rent,
            columns=columns,
        )

    def columns(self, parts: list[dict[str, np.ndarray]]) -> _Columns:
        data = _concat_columns(parts)
        if not data:
            data = {
                key: np.zeros(0, dtype=np.int64)
                for key in ("region", "birth", "male", "sequence", "relation", "disability", "illness",
                            "employment", "education", "rural", "locality")
            }  # fmt: skip
        return _Columns(
            region_codes=self.region_codes,
            localities=self.localities,
            is_taken=self.is_taken,
            **data,
        )


def households(
    n: int, areas: Sequence[Area], *, seed: int = 0, as_of: date = DEFAULT_AS_OF
) -> Iterator[dict]:
    """``n`` synthetic households in ``RegisterHouseholdInput`` JSON shape, spread at random over ``areas``.

    Deterministic for a seed (and ``as_of``); birth dates are never after today, so every identity
    number passes ``parse_id_number``.
    """
    generator = _HouseholdGenerator(areas, seed, as_of)
    for chunk in generator.chunks(n):
        yield from chunk.dicts()


# --- department feeds --------------------------------------------------------------------------------

_DISASTERS = np.array(["FLOOD", "DROUGHT", "HAIL", "EARTHQUAKE", "FIRE", "TYPHOON", "LANDSLIDE", "SNOWSTORM"])
_DISASTER_P_RURAL = np.cumsum([0.30, 0.20, 0.14, 0.05, 0.15, 0.05, 0.06, 0.05])[:-1]
_DISASTER_P_URBAN = np.cumsum([0.35, 0.0, 0.02, 0.05, 0.45, 0.08, 0.02, 0.03])[:-1]
_MEDICAL_KINDS = np.array(["INPATIENT", "OUTPATIENT_CHRONIC", "OUTPATIENT"], dtype=object)


def _columns_from_dicts(items: Iterable[dict]) -> _Columns:
    """Feed columns from household dicts (identity numbers give region, birth date and sex)."""
    rel = {name: i for i, name in enumerate(_REL_NAMES)}
    dis = {name: i for i, name in enumerate(_DIS_NAMES)}
    ill = {name: i for i, name in enumerate(_ILL_NAMES)}
    emp = {name: i for i, name in enumerate(_EMP_NAMES)}
    edu = {name: i for i, name in enumerate(_EDU_NAMES)}
    regions: dict[str, int] = {}
    localities: dict[str, int] = {}
    ids: list[str] = []
    rows: list[tuple[int, ...]] = []
    for household in items:
        rural = household["residence"] == _RURAL_NAME
        locality = localities.setdefault(household["localityCode"], len(localities))
        for member in household["members"]:
            number = member["idNumber"].upper()
            ids.append(number)
            rows.append(
                (
                    regions.setdefault(number[:6], len(regions)),
                    date(int(number[6:10]), int(number[10:12]), int(number[12:14])).toordinal(),
                    int(number[16]) % 2,
                    int(number[14:17]) // 2,
                    rel[member.get("relation", "HEAD")],
                    dis[member.get("disability") or "NONE"],
                    ill[member.get("illness") or "NONE"],
                    emp[member.get("employment") or "NOT_IN_LABOR_FORCE"],
                    edu[member.get("educationStage") or "NONE"],
                    rural,
                    locality,
                )
            )
    table = np.array(rows, dtype=np.int64).reshape(len(rows), 11)
    region_codes = list(regions)
    taken = set(ids)
    columns = _Columns(
        region_codes=region_codes,
        region=table[:, 0],
        birth=table[:, 1],
        male=table[:, 2],
        sequence=table[:, 3],
        relation=table[:, 4],
        disability=table[:, 5],
        illness=table[:, 6],
        employment=table[:, 7],
        education=table[:, 8],
        rural=table[:, 9].astype(bool),
        localities=list(localities),
        locality=table[:, 10],
        is_taken=lambda region, birth, male, sequence: False,
    )

    def is_taken(region: int, birth: int, male: int, sequence: int) -> bool:
        one = np.array([0])
        number = columns.id_numbers_of(one + region, one + birth, one + sequence, one + male)[0]
        return number in taken

    columns.is_taken = is_taken
    return columns


def _source_weights(columns: _Columns, rows: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Relative chances of each source for people: medical most common, deaths mostly of the old…"""
    ill = columns.illness[rows]
    chronic, serious = ill == _CHRONIC, ill == _SERIOUS
    employment = columns.employment[rows]
    disabled = columns.disability[rows] != _NO_DISABILITY
    rural = columns.rural[rows]
    head = columns.relation[rows] == HEAD
    adult = age >= 18
    weights = np.zeros((len(rows), len(SOURCES)))
    weights[:, _MI] = 0.40 * (1 + 2 * chronic + 5 * serious + 0.5 * (age >= 60))
    weights[:, _HR] = (
        0.20
        * (1 + 1.5 * (employment == _UNEMPLOYED))
        * ((age >= 16) & (age < 60) & (employment != _STUDENT) & (employment != _RETIRED))
    )
    mortality = np.select([age < 40, age < 60, age < 70, age < 80], [0.01, 0.04, 0.12, 0.3], 0.8)
    weights[:, _PS] = 0.3 * mortality * (1 + 2 * serious) + 0.012 * (adult & (age <= 65))
    weights[:, _DF] = 0.05 * (1 + 5 * disabled) + 0.02 * (age >= 70)
    weights[:, _ED] = 0.25 * ((age >= 3) & (age <= 22))
    weights[:, _RR] = 0.10 * rural
    weights[:, _EM] = 0.06 * adult * (1 + 0.5 * rural) * (1 + head)
    return weights


def _choose_sources(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cumulative = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cumulative[:, -1]
    return (u[:, None] >= cumulative).sum(axis=1)


def _unknown_people(columns: _Columns, templates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Birth dates and sequences for people like ``templates`` whose identity numbers no member has."""
    issued: set[tuple[int, int, int, int]] = set()
    births, sequences = [], []
    for region, birth, male in zip(
        columns.region[templates].tolist(),
        columns.birth[templates].tolist(),
        columns.male[templates].tolist(),
        strict=True,
    ):
        sequence = _SEQUENCES - 1
        while (region, birth, male, sequence) in issued or columns.is_taken(region, birth, male, sequence):
            sequence -= 1
            if sequence < 0:
                birth, sequence = birth - 1, _SEQUENCES - 1
        issued.add((region, birth, male, sequence))
        births.append(birth)
        sequences.append(sequence)
    return np.array(births, dtype=np.int64), np.array(sequences, dtype=np.int64)


def _school(stage: int, locality: str, number: int, rural: bool) -> str:
    place = _place(locality[:9])
    town = place.town.removesuffix("街道").removesuffix("镇").removesuffix("乡")
    city = place.city.removesuffix("市") or place.province.removesuffix("市")
    if stage == _PRESCHOOL:
        return f"{town}中心幼儿园" if rural else f"{place.county}第{number}幼儿园"
    if stage == _PRIMARY:
        return f"{town}中心小学" if rural else f"{place.county}第{number}小学"
    if stage == _JUNIOR:
        return f"{town}初级中学" if rural else f"{place.county}第{number}中学"
    if stage == _SENIOR:
        return f"{place.county}第{number}高级中学"
    if stage == _VOCATIONAL:
        return f"{city}市第{number}职业学校" if number % 2 else f"{city}职业技术学院"
    return f"{city}{('大学', '师范学院', '理工大学', '医学院', '职业技术大学')[number % 5]}"


def _make_feeds(
    columns: _Columns, *, share_of_people: float, unknown_share: float, seed: int, as_of: date
) -> dict[str, list[dict]]:
    if not 0.0 <= share_of_people <= 1.0:
        raise ValueError(f"share_of_people must be between 0 and 1, got {share_of_people}")
    if not 0.0 <= unknown_share < 1.0:
        raise ValueError(f"unknown_share must be at least 0 and below 1, got {unknown_share}")
    if seed < 0:
        raise ValueError(f"seed must be zero or positive, got {seed}")
    rng = np.random.default_rng([_FEED_STREAM, seed])
    result: dict[str, list[dict]] = {source: [] for source in SOURCES}
    n = columns.size
    chosen_count = round(share_of_people * n)
    if not chosen_count:
        return result
    ages = _ages(columns.birth, as_of)

    chosen = np.sort(rng.choice(n, size=chosen_count, replace=False))
    source = _choose_sources(_source_weights(columns, chosen, ages[chosen]), rng)
    u = rng.random(len(chosen))
    repeat_medical = (source == _MI) & (columns.illness[chosen] != 0)
    records_each = 1 + np.where(repeat_medical, (u < 0.4).astype(np.int64) + (u < 0.15), 0)
    person = np.repeat(chosen, records_each)
    source = np.repeat(source, records_each)

    unknown_count = 0
    if unknown_share > 0:
        unknown_count = max(1, round(len(person) * unknown_share / (1 - unknown_share)))
    templates = rng.integers(0, n, unknown_count)
    unknown_source = _choose_sources(_source_weights(columns, templates, ages[templates]), rng)
    unknown_birth, unknown_sequence = _unknown_people(columns, templates)
    id_numbers = columns.id_numbers(person) + columns.id_numbers_of(
        columns.region[templates], unknown_birth, unknown_sequence, columns.male[templates]
    )
    like = np.concatenate([person, templates])  # whose facts each record follows
    source = np.concatenate([source, unknown_source])
    birth = np.concatenate([columns.birth[person], unknown_birth])
    age = np.concatenate([ages[person], _ages(unknown_birth, as_of)])
    total = len(like)
    day = np.maximum(as_of.toordinal() - rng.integers(1, 91, total), birth)
    employment, disability = columns.employment[like], columns.disability[like]
    illness, education, rural = columns.illness[like], columns.education[like], columns.rural[like]

    for index, name in enumerate(SOURCES):
        rows = np.flatnonzero(source == index)
        rows = rows[np.argsort(day[rows], kind="stable")]
        k = len(rows)
        record_ids = [f"{_RECORD_PREFIX[index]}-{i:08d}" for i in range(1, k + 1)]
        ids = [id_numbers[i] for i in rows.tolist()]
        dates = _iso_dates(day[rows])
        base = zip(record_ids, ids, dates, strict=True)
        out = result[name]
        if index == _MI:
            u = rng.random(k)
            ill = illness[rows]
            kind = np.select(
                [ill == _SERIOUS, ill == _CHRONIC],
                [
                    np.select([u < 0.7, u < 0.9], [0, 1], 2),
                    np.select([u < 0.2, u < 0.8], [0, 1], 2),
                ],
                np.where(u < 0.25, 0, 2),
            )
            cost = np.select(
                [kind == 0, kind == 1],
                [
                    np.clip(_lognormal(rng, 12000, 0.9, k), 1500, 600000),
                    np.clip(_lognormal(rng, 900, 0.6, k), 80, 20000),
                ],
                np.clip(_lognormal(rng, 250, 0.8, k), 20, 8000),
            )
            cost_fen = np.rint(cost * 100).astype(np.int64)
            own = np.select([kind == 0, kind == 1], [rng.uniform(0.2, 0.55, k), rng.uniform(0.25, 0.5, k)],
                            rng.uniform(0.4, 1.0, k))  # fmt: skip
            own_fen = np.rint(cost_fen * own).astype(np.int64)
            for (rid, idn, d), kd, c, o in zip(
                base, _MEDICAL_KINDS[kind].tolist(), _money(cost_fen), _money(own_fen), strict=True
            ):
                out.append({"recordId": rid, "idNumber": idn, "date": d, "kind": kd, "totalCost": c,
                            "outOfPocket": o})  # fmt: skip
        elif index == _HR:
            u = rng.random(k)
            hired = np.where(employment[rows] == _EMPLOYED, u < 0.2, u < 0.6).tolist()
            wage = _money(
                np.rint(np.clip(_lognormal(rng, 3200, 0.35, k), 1800, 15000)).astype(np.int64) * 100
            )
            for (rid, idn, d), h, w in zip(base, hired, wage, strict=True):
                if h:
                    out.append(
                        {"recordId": rid, "idNumber": idn, "date": d, "event": "EMPLOYED", "monthlyWage": w}
                    )
                else:
                    out.append({"recordId": rid, "idNumber": idn, "date": d, "event": "UNEMPLOYED"})
        elif index == _PS:
            a = age[rows]
            mortality = np.select([a < 40, a < 60, a < 70, a < 80], [0.01, 0.04, 0.12, 0.3], 0.8)
            death = 0.3 * mortality * (1 + 2 * (illness[rows] == _SERIOUS))
            crime = 0.012 * ((a >= 18) & (a <= 65))
            deceased = (rng.random(k) * (death + crime) < death).tolist()
            for (rid, idn, d), dead in zip(base, deceased, strict=True):
                out.append({"recordId": rid, "idNumber": idn, "date": d,
                            "event": "DECEASED" if dead else "CRIMINAL_PENALTY"})  # fmt: skip
        elif index == _DF:
            current = disability[rows].astype(np.int64)
            new = 1 + np.searchsorted([0.1, 0.27, 0.57], rng.random(k), side="right")
            worse = np.maximum(current - (rng.random(k) < 0.3), 1)
            level = np.where(current == _NO_DISABILITY, new, worse).tolist()
            for (rid, idn, d), lv in zip(base, level, strict=True):
                out.append({"recordId": rid, "idNumber": idn, "date": d, "level": lv})
        elif index == _ED:
            a = age[rows]
            u = rng.random(k)
            by_age = np.select(
                [a <= 5, a <= 11, a <= 14, a <= 17],
                [_PRESCHOOL, _PRIMARY, _JUNIOR, np.where(u < 0.65, _SENIOR, _VOCATIONAL)],
                np.where(u < 0.75, _UNIVERSITY, _VOCATIONAL),
            )
            stage = np.where(education[rows] != _NO_STAGE, education[rows], by_age)
            numbers = rng.integers(1, 40, k).tolist()
            localities = [columns.localities[i] for i in columns.locality[like[rows]].tolist()]
            for (rid, idn, d), st, loc, no, r in zip(
                base, stage.tolist(), localities, numbers, rural[rows].tolist(), strict=True
            ):
                out.append({"recordId": rid, "idNumber": idn, "date": d, "stage": str(_EDU_NAMES[st]),
                            "school": _school(st, loc, no, bool(r))})  # fmt: skip
        elif index == _RR:
            start = (rng.random(k) < 0.75).tolist()
            for (rid, idn, d), s in zip(base, start, strict=True):
                out.append({"recordId": rid, "idNumber": idn, "date": d,
                            "event": "WATCH_START" if s else "WATCH_END"})  # fmt: skip
        else:
            u = rng.random(k)
            disaster = np.where(
                rural[rows],
                np.searchsorted(_DISASTER_P_RURAL, u, side="right"),
                np.searchsorted(_DISASTER_P_URBAN, u, side="right"),
            )
            loss = np.clip(
                _lognormal(rng, 5000, 1.1, k) * np.where(_DISASTERS[disaster] == "FIRE", 2, 1), 200, 800000
            )
            for (rid, idn, d), dz, ls in zip(
                base, _DISASTERS[disaster].tolist(), _money(np.rint(loss).astype(np.int64) * 100), strict=True
            ):
                out.append({"recordId": rid, "idNumber": idn, "date": d, "disaster": dz, "loss": ls})
    return result


def feeds(
    households: Sequence[dict] | Iterable[dict],
    *,
    share_of_people: float = 0.05,
    unknown_share: float = 0.02,
    seed: int = 0,
    as_of: date = DEFAULT_AS_OF,
) -> dict[str, list[dict]]:
    """Department records (API.md "Department records") for about ``share_of_people`` of the members.

    Returns every source in :data:`SOURCES` (lists may be empty). Records are dated in the 90 days before
    ``as_of``, consistent with the person (deaths mostly of the old, education records for school-age
    people, disability levels for the disabled…); ``unknown_share`` of them concern people with valid
    identity numbers who are not members of ``households``. Record ids are unique per source and follow
    the dates. ``feeds(households(n, areas, seed=s), seed=s)`` equals what ``write_dataset`` writes.
    """
    columns = _columns_from_dicts(households)
    return _make_feeds(
        columns, share_of_people=share_of_people, unknown_share=unknown_share, seed=seed, as_of=as_of
    )


def write_dataset(
    out_dir: Path, n: int, areas: Sequence[Area], *, seed: int = 0, as_of: date = DEFAULT_AS_OF
) -> DatasetSummary:
    """Write ``out_dir/households.jsonl`` and ``out_dir/feeds/<source>.jsonl`` (UTF-8 JSON lines).

    The households are those of ``households(n, areas, seed=seed, as_of=as_of)`` and the feeds those of
    ``feeds(...)`` over them with the default shares and the same seed.
    """
    out_dir = Path(out_dir)
    feed_dir = out_dir / "feeds"
    feed_dir.mkdir(parents=True, exist_ok=True)
    generator = _HouseholdGenerator(areas, seed, as_of)
    parts: list[dict[str, np.ndarray]] = []
    household_path = out_dir / "households.jsonl"
    members = 0
    with household_path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        for chunk in generator.chunks(n):
            out.write(chunk.json_lines())
            parts.append(chunk.columns)
            members += len(chunk.names)
    records = _make_feeds(
        generator.columns(parts), share_of_people=0.05, unknown_share=0.02, seed=seed, as_of=as_of
    )
    paths = {"households": household_path}
    counts = {}
    for source, rows in records.items():
        path = feed_dir / f"{source}.jsonl"
        with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
            out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        paths[source] = path
        counts[source] = len(rows)
    return DatasetSummary(households=n, members=members, records=counts, paths=paths)
