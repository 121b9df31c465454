"""Helpers shared by the built-in aid-type plugins. Not a plugin: no hooks, no entry point.

Everything here is plain NumPy over a :class:`~safetynet.rules.HouseholdBatch`, built only on
``safetynet.model`` and ``safetynet.rules`` (what any outside plugin may use), so a county that copies
one aid-type module into its own package copies this file with it.

Money is integer fen throughout; a ratio times an amount is rounded half up to whole fen.

Every aid type is its own plugin and can be disabled (``--disable-plugin aid.dibao``). A rule that reads
another aid type's answer (``depends_on``, through :func:`on_aid`) then counts only aid of that type in
force on the date: with dibao disabled, marginal, medical and the others treat a household as on dibao
only if dibao is on its aid chain. Nothing else changes and no rule fails for a missing dependency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from safetynet.model import AssetKind, DisabilityLevel, Employment, LaborCapacity, SelfCareLevel, code_of
from safetynet.rules import (
    Assessment,
    Because,
    HouseholdBatch,
    ParamColumn,
    Parameters,
    because,
    is_any,
    yuan,
)

#: The aid types whose households count as low-income (低收入家庭) for special aid targeting.
LOW_INCOME = ("dibao", "tekun", "marginal", "rigid_expense")

#: Self-care level names by code (``code_of(SelfCareLevel.X)``), for reason messages.
SELF_CARE_NAMES = np.array([level.name for level in SelfCareLevel])
NOT_ASSESSED = -1


def scaled(fen: np.ndarray, ratio: np.ndarray | float) -> np.ndarray:
    """``fen × ratio`` rounded half up to whole fen (``100000 × 0.3`` → ``30000``)."""
    product = np.asarray(fen, dtype=np.float64) * np.asarray(ratio, dtype=np.float64)
    return np.floor(np.round(product, 6) + 0.5).astype(np.int64)


def whole(values: np.ndarray) -> np.ndarray:
    """A float parameter column (months, years, counts) as whole numbers; 0 where not set."""
    return np.nan_to_num(np.asarray(values, dtype=np.float64)).astype(np.int64)


def dibao_standard(households: HouseholdBatch, parameters: Parameters) -> ParamColumn:
    """The urban or rural dibao standard (yuan per person per month, as fen) by residence."""
    return parameters.by_residence(households.urban, "dibao.standard.urban", "dibao.standard.rural")


def on_aid(households: HouseholdBatch, earlier: Mapping[str, Assessment], *codes: str) -> np.ndarray:
    """Households on any of ``codes``: assessed eligible now, or with such aid in force on the date.

    An aid type that is not installed (absent from ``earlier``) counts only through aid in force.
    """
    on = np.zeros(len(households), dtype=bool)
    for code in codes:
        on |= households.has_active_aid(code)
        if code in earlier:
            on |= np.asarray(earlier[code].eligible, dtype=bool)
    return on


def per_member(households: HouseholdBatch, column: np.ndarray) -> np.ndarray:
    """A household column repeated for each of its members."""
    return np.asarray(column)[households.members.household_index]


def severely_disabled(households: HouseholdBatch) -> np.ndarray:
    """Members with a level 1 or 2 disability certificate (重度残疾), per member."""
    return is_any(households.members.disability, DisabilityLevel.LEVEL_1, DisabilityLevel.LEVEL_2)


def able_to_work(households: HouseholdBatch) -> np.ndarray:
    """Members with full or partial labour capacity, per member."""
    return is_any(households.members.labor_capacity, LaborCapacity.FULL, LaborCapacity.PARTIAL)


def self_care_codes(unable: np.ndarray) -> np.ndarray:
    """Indicators unable (−1 never assessed) → SelfCareLevel codes (−1 never assessed), seed 002 §8."""
    unable = np.asarray(unable)
    return np.select(
        [unable < 0, unable == 0, unable <= 3],
        [NOT_ASSESSED, code_of(SelfCareLevel.ABLE), code_of(SelfCareLevel.PARTLY_UNABLE)],
        default=code_of(SelfCareLevel.FULLY_UNABLE),
    ).astype(np.int8)


# ------------------------------------------------------------------------------------------------
# Income as the dibao rule counts it
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountedIncome:
    """Household monthly income after the employment-cost deduction, and its per-capita value."""

    total_fen: np.ndarray  # all kinds, before the deduction
    deducted_fen: np.ndarray  # the deduction, per household
    counted_fen: np.ndarray  # total − deduction
    per_capita_fen: np.ndarray  # counted ÷ members, whole fen rounded down
    deduction: ParamColumn  # dibao.employment_cost_deduction


def counted_income(households: HouseholdBatch, parameters: Parameters) -> CountedIncome:
    """Income with necessary employment costs deducted (扣减必要的就业成本).

    The seeds grant the deduction to employed dibao recipients (000 §8, 003 §11, 004 §3.2:
    "对已就业的低保对象,在核算其家庭收入时,扣减必要的就业成本"): each EMPLOYED member of a household
    with dibao in force has ``dibao.employment_cost_deduction`` deducted from their earned income (wages
    and business), at most that member's earned income.
    """
    deduction = parameters["dibao.employment_cost_deduction"]
    m = households.members
    applies = per_member(households, households.has_active_aid("dibao")) & is_any(
        m.employment, Employment.EMPLOYED
    )
    each = np.where(
        applies, np.minimum(per_member(households, deduction.values), m.earned_income_fen), 0
    ).astype(np.int64)
    deducted = households.sum_members(np.maximum(each, 0))
    total = households.monthly_income_fen
    counted = total - deducted
    return CountedIncome(total, deducted, counted, households.per_capita(counted), deduction)


# ------------------------------------------------------------------------------------------------
# Property
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PropertyTest:
    """Financial assets (savings + securities) against standard × members × months."""

    within: np.ndarray
    assets_fen: np.ndarray
    limit_fen: np.ndarray
    standard: ParamColumn
    months: ParamColumn
    members: np.ndarray

    def reasons(self, scope: np.ndarray | bool = True) -> list[Because]:
        """PROPERTY_WITHIN_LIMIT / PROPERTY_ABOVE_LIMIT for the households in ``scope``."""
        scope = np.asarray(scope, dtype=bool)
        values = dict(
            assets=yuan(self.assets_fen),
            limit=yuan(self.limit_fen),
            standard=self.standard,
            members=self.members,
            months=self.months,
        )
        return [
            because(
                scope & self.within,
                "PROPERTY_WITHIN_LIMIT",
                "financial assets {assets} ≤ limit {limit} = dibao standard {standard} × {members} "
                "members × {months} months",
                **values,
            ),
            because(
                scope & ~self.within,
                "PROPERTY_ABOVE_LIMIT",
                "financial assets (savings + securities) {assets} > limit {limit} = dibao standard "
                "{standard} × {members} members × {months} months (property.financial_assets_months): "
                "not eligible",
                **values,
            ),
        ]


def property_test(households: HouseholdBatch, parameters: Parameters, standard: ParamColumn) -> PropertyTest:
    """家庭财产: savings and securities at most ``property.financial_assets_months`` months of the standard."""
    months = parameters["property.financial_assets_months"]
    size = households.size
    assets = households.asset_fen(AssetKind.SAVINGS, AssetKind.SECURITIES)
    limit = scaled(standard.values * size, months.values)
    return PropertyTest(assets <= limit, assets, limit, standard, months, size)


# ------------------------------------------------------------------------------------------------
# Department signals
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecentSignals:
    """Per household: the signals of one source and kind within a locality's window of days."""

    mask: np.ndarray  # per signal of the batch: selected
    count: np.ndarray  # per household: how many
    members: np.ndarray  # per household: how many distinct members they are about
    amount_fen: np.ndarray  # per household: the sum of their amounts
    latest_on: np.ndarray  # per household: the date of the latest (NaT where none)
    days: ParamColumn  # the window


def recent_signals(households: HouseholdBatch, source: str, kind: str, days: ParamColumn) -> RecentSignals:
    """Signals of ``kind`` from ``source`` in the ``days`` (a per-household parameter) up to the batch date.

    The batch carries signals of the last ``SIGNAL_LOOKBACK_DAYS`` only: a longer window is cut there.
    """
    s = households.signals
    n = len(households)
    day = np.datetime64(households.as_of, "D")
    window = whole(days.values)[s.household_index].astype("timedelta64[D]")
    mask = s.select(households.as_of, source, (kind,)) & (s.occurred_on > day - window)
    index = s.household_index[mask]
    count = np.bincount(index, minlength=n).astype(np.int32)
    pairs = np.unique(np.stack([index.astype(np.int64), s.member_id[mask]]), axis=1)
    members = np.bincount(pairs[0], minlength=n).astype(np.int32)
    amount = np.rint(np.bincount(index, weights=s.amount_fen[mask], minlength=n)).astype(np.int64)
    latest = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]").view(np.int64)  # NaT: the smallest
    np.maximum.at(latest, index, s.occurred_on[mask].view(np.int64))
    return RecentSignals(mask, count, members, amount, latest.view("datetime64[D]"), days)


# ------------------------------------------------------------------------------------------------
# Dates
# ------------------------------------------------------------------------------------------------


def add_months(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    """The first date on which ``HouseholdBatch.months_since(days)`` reaches ``months`` (NaT stays NaT).

    Same day of the month ``months`` later; where that month is too short, the 1st of the next one.
    """
    days = np.asarray(days, dtype="datetime64[D]")
    start = days.astype("datetime64[M]")
    target = start + whole(months).astype("timedelta64[M]")
    candidate = target.astype("datetime64[D]") + (days - start.astype("datetime64[D]"))
    spills = candidate.astype("datetime64[M]") != target
    return np.where(spills, (target + np.timedelta64(1, "M")).astype("datetime64[D]"), candidate)
