"""Standing schedules (定期核查 · 探访周期): when each household is next reviewed, and how often it is visited.

**Reviews (复核, 定期核查).** A household is reviewed while it holds aid that makes it a low-income
recipient (an aid type of the basic-living tier, or one deciding the MARGINAL or RIGID_EXPENSE
category): dibao, tekun support, low-income family aid, marginal, rigid expense.

* every ``review.months.unstable`` months (6, seed 003 §7 "收入来源不固定、家庭成员有劳动能力的低保、
  低收入家庭,每半年核查一次") for dibao and low-income family aid when a member is able to work
  (labour capacity FULL or PARTIAL, of working age ``employment.working_age_from``–``to``, not a
  student or retired) but not employed: no fixed source of income;
* every ``review.months.stable`` months (12) otherwise: tekun, stable dibao and low-income families
  (003 §7 "每年核查一次"), marginal and rigid-expense households (000 §3 "年度复核").

The review clock runs from the household's last recorded review (``households.last_reviewed_on``: a
home visit for one of its warnings, or a household visit recorded as a review), or from the day the
reviewed aid began (its approval, 审核确认, was the last full check) if that is later. Seed 001 §3.1
reviews households with split registration (人户分离), complex membership or non-local registration
more often; the model records no such fact (a member's registration place is not kept), so no
interval shortens for it.

**Care visits (探访周期, seed 001 §5.4 "根据低收入人口的困难程度设置月度、季度、半年度等不同探访周期").**
Every reviewed household has a visit cycle by difficulty: HIGH (``care_visit.months.high``) with a member
fully unable to care for self (生活不能自理, 4 or more of the six indicators, 002 §7); MEDIUM
(``care_visit.months.medium``) for tekun, or a member partly unable, severely disabled (level 1–2) or
seriously ill; LOW (``care_visit.months.low``) otherwise. The cycle runs from the last recorded visit.

Everything is vectorised over a :class:`~safetynet.rules.HouseholdBatch` and depends only on
``safetynet.model`` and ``safetynet.rules``, like a rules helper: the ``review_overdue`` warning rule (run
by the sweep) and ``Household.nextReviewDue`` (a one-household batch) use the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from safetynet.model import (
    AidTier,
    AidType,
    DisabilityLevel,
    Employment,
    Illness,
    LaborCapacity,
    LowIncomeCategory,
)
from safetynet.rules import Because, HouseholdBatch, ParamColumn, ParameterError, Parameters, because, is_any

#: The warning rule raised when a review is past due (``plugins/safetynet_warnings/review_overdue.py``);
#: recording a review resolves its open warnings (``safetynet.monitoring.reviews``).
REVIEW_OVERDUE = "review_overdue"

STABLE = "review.months.stable"
UNSTABLE = "review.months.unstable"
WORKING_AGE_FROM = "employment.working_age_from"
WORKING_AGE_TO = "employment.working_age_to"
#: Categories whose recognition brings a periodic review besides the basic-living aid types.
REVIEWED_CATEGORIES = (LowIncomeCategory.MARGINAL, LowIncomeCategory.RIGID_EXPENSE)
NO_DATE = np.datetime64("NaT", "D")


class CareDifficulty(IntEnum):
    """困难程度: how hard a household's situation is, for its care-visit cycle (low to high)."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2

    @property
    def parameter(self) -> str:
        return f"care_visit.months.{self.name.lower()}"


def reviewed_aid_types(aid_types: Mapping[str, AidType]) -> dict[str, bool]:
    """code → may its holders have the unstable interval, for every aid type whose holders are reviewed.

    Basic-living aid types and those deciding a reviewed category are reviewed; the unstable interval
    applies to dibao and to basic-living aid that decides no category (low-income family aid), not to
    tekun support (no labour capacity by definition) nor to marginal and rigid-expense households.
    """
    return {
        code: aid.tier is AidTier.BASIC_LIVING and aid.category is not LowIncomeCategory.TEKUN
        for code, aid in sorted(aid_types.items())
        if aid.tier is AidTier.BASIC_LIVING or aid.category in REVIEWED_CATEGORIES
    }


@dataclass
class Schedule:
    """Each household's review and care-visit schedule on the batch date (NaT / -1 where not reviewed)."""

    #: 复核对象: holds aid under review on the batch date.
    reviewed: np.ndarray
    #: The first aid type under review per household ("" where none), e.g. to name in a warning.
    aid_type_code: np.ndarray
    #: When that aid began (the latest start among the aid under review).
    aid_started_on: np.ndarray
    #: The last recorded review (NaT where none was recorded).
    last_reviewed_on: np.ndarray
    #: Irregular income with a member able to work: the shorter interval applies.
    unstable: np.ndarray
    #: Members able to work without a fixed income, per household.
    able_not_employed: np.ndarray
    review_months: ParamColumn
    #: When the next review is due: the later of the last review and the aid's start, plus the interval.
    next_review_due: np.ndarray
    care_difficulty: np.ndarray  # int8 codes of CareDifficulty, -1 where not reviewed
    care_visit_months: ParamColumn
    reasons: list[Because]
    care_reasons: list[Because]

    def review_overdue(self, day: np.datetime64) -> np.ndarray:
        """Past due on ``day`` (due dates before it)."""
        return self.reviewed & (self.next_review_due < day)

    def next_care_visit_due(self, last_visited_on: np.ndarray) -> np.ndarray:
        """The next care visit: the later of the last visit and the aid's start, plus the cycle."""
        since = np.fmax(np.asarray(last_visited_on, dtype="datetime64[D]"), self.aid_started_on)
        due = np.full(len(since), NO_DATE)
        due[self.reviewed] = add_months(
            since[self.reviewed], months_of(self.care_visit_months)[self.reviewed]
        )
        return due


def add_months(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Each date plus whole calendar months, the day kept or clipped to the month's end (01-31 + 1 → 02-28/29)."""
    days = np.asarray(days, dtype="datetime64[D]")
    month = days.astype("datetime64[M]")
    day_of_month = days - month.astype("datetime64[D]")
    target = month + np.asarray(months, dtype=np.int64).astype("timedelta64[M]")
    last_day = (target + 1).astype("datetime64[D]") - np.timedelta64(1, "D")
    return np.minimum(target.astype("datetime64[D]") + day_of_month, last_day)


def months_of(column: ParamColumn) -> np.ndarray:
    """A months (or years) parameter as whole numbers per household (0 where not set)."""
    return np.nan_to_num(np.asarray(column.values, dtype=np.float64)).astype(np.int64)


def _required(parameters: Parameters, name: str, where: np.ndarray, codes: np.ndarray) -> ParamColumn:
    """The parameter, which every household in ``where`` needs (an error naming the first locality without it)."""
    column = parameters.optional(name)
    missing = where & ~column.defined
    if missing.any():
        raise ParameterError(
            f"parameter {name} is not set for locality {codes[np.argmax(missing)]} on {parameters.as_of}"
        )
    return column


def schedule(
    households: HouseholdBatch, parameters: Parameters, aid_types: Mapping[str, AidType]
) -> Schedule:
    """The review and care-visit schedule of every household of the batch (see the module)."""
    h = households
    n = len(h)
    m = h.members
    codes = h.locality_code
    reviewed = np.zeros(n, dtype=bool)
    may_be_unstable = np.zeros(n, dtype=bool)
    tekun = np.zeros(n, dtype=bool)
    first = np.full(n, "", dtype=object)
    started = np.full(n, NO_DATE)
    for code, unstable_applies in reviewed_aid_types(aid_types).items():
        if code not in h.active_aid:
            continue
        active = h.active_aid[code]
        first[active & ~reviewed] = code
        started = np.fmax(started, np.where(active, h.aid_started_on[code], NO_DATE))
        reviewed |= active
        if unstable_applies:
            may_be_unstable |= active
        if aid_types[code].category is LowIncomeCategory.TEKUN:
            tekun |= active
    last = h.last_reviewed_on if h.last_reviewed_on is not None else np.full(n, NO_DATE)

    # Only the members of reviewed households are looked at (none, in a batch without recipients).
    inside = np.flatnonzero(reviewed[m.household_index])
    at = m.household_index[inside]

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(at, weights=mask, minlength=n).astype(np.int32)

    age_from = _required(parameters, WORKING_AGE_FROM, may_be_unstable, codes)
    age_to = _required(parameters, WORKING_AGE_TO, may_be_unstable, codes)
    age = m.age[inside]
    able = (
        is_any(m.labor_capacity[inside], LaborCapacity.FULL, LaborCapacity.PARTIAL)
        & (age >= months_of(age_from)[at])
        & (age < months_of(age_to)[at])
        & ~is_any(m.employment[inside], Employment.EMPLOYED, Employment.STUDENT, Employment.RETIRED)
    )
    able_not_employed = count(able)
    unstable = may_be_unstable & (able_not_employed > 0)
    stable_months = _required(parameters, STABLE, reviewed & ~unstable, codes)
    unstable_months = _required(parameters, UNSTABLE, unstable, codes)
    months = ParamColumn.choose(unstable, unstable_months, stable_months)
    since = np.fmax(last, started)
    due = np.full(n, NO_DATE)
    due[reviewed] = add_months(since[reviewed], months_of(months)[reviewed])

    self_care = m.self_care_unable[inside]
    fully = count(self_care >= 4) > 0
    partly = count(self_care > 0) > 0
    severe = count(is_any(m.disability[inside], DisabilityLevel.LEVEL_1, DisabilityLevel.LEVEL_2)) > 0
    serious = count(is_any(m.illness[inside], Illness.SERIOUS)) > 0
    difficulty = np.where(
        fully,
        CareDifficulty.HIGH,
        np.where(tekun | partly | severe | serious, CareDifficulty.MEDIUM, CareDifficulty.LOW),
    )
    difficulty = np.where(reviewed, difficulty, -1).astype(np.int8)
    care = {
        level: _required(parameters, level.parameter, difficulty == level, codes) for level in CareDifficulty
    }
    care_months = ParamColumn.choose(
        difficulty == CareDifficulty.HIGH,
        care[CareDifficulty.HIGH],
        ParamColumn.choose(
            difficulty == CareDifficulty.MEDIUM, care[CareDifficulty.MEDIUM], care[CareDifficulty.LOW]
        ),
    )

    recorded = reviewed & ~np.isnat(last) & (np.isnat(started) | (last >= started))
    reasons = [
        because(
            reviewed & ~unstable,
            "REVIEW_EVERY_STABLE",
            "{aid} in force: reviewed (定期核查) every {months} months",
            aid=first,
            months=months,
        ),
        because(
            unstable,
            "REVIEW_EVERY_UNSTABLE",
            "{aid} in force with {count} member(s) able to work (aged {age_from} to under {age_to}) but not "
            "employed, an irregular income (收入来源不固定、家庭成员有劳动能力): reviewed every {months} months",
            aid=first,
            count=able_not_employed,
            age_from=age_from,
            age_to=age_to,
            months=months,
        ),
        because(recorded, "LAST_REVIEW", "last review recorded on {day}", day=last),
        because(
            reviewed & ~recorded,
            "REVIEWED_SINCE_AID_STARTED",
            "no review recorded since {aid} began on {day}: the interval runs from then",
            aid=first,
            day=started,
        ),
        because(reviewed, "REVIEW_DUE", "review due {due}", due=due),
    ]
    care_reasons = [
        because(
            difficulty == CareDifficulty.HIGH,
            "CARE_VISIT_HIGH",
            "a member cannot care for self (生活不能自理): visited every {months} months",
            months=care_months,
        ),
        because(
            difficulty == CareDifficulty.MEDIUM,
            "CARE_VISIT_MEDIUM",
            "tekun support, or a member partly unable to care for self, severely disabled or seriously ill: "
            "visited every {months} months",
            months=care_months,
        ),
        because(
            difficulty == CareDifficulty.LOW,
            "CARE_VISIT_LOW",
            "visited every {months} months",
            months=care_months,
        ),
    ]
    return Schedule(
        reviewed=reviewed,
        aid_type_code=first,
        aid_started_on=started,
        last_reviewed_on=last,
        unstable=unstable,
        able_not_employed=able_not_employed,
        review_months=months,
        next_review_due=due,
        care_difficulty=difficulty,
        care_visit_months=care_months,
        reasons=reasons,
        care_reasons=care_reasons,
    )
