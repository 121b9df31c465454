"""Households in columnar form: what rules and detectors receive (NumPy arrays, one row per household).

Enumerated member facts are small-integer codes (``safetynet.model.code_of``); compare them with
:func:`is_any`. Money is integer fen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import Enum

import numpy as np

from safetynet.model import AssetKind, ExpenseKind, IncomeKind, SelfCareLevel, code_of

from .signals import SignalColumns

#: Income kinds that count as earned (劳动收入): employment costs may be deducted from them.
EARNED_INCOME = (IncomeKind.WAGES, IncomeKind.BUSINESS)

#: The six self-care indicators (生活自理能力评估指标), in bit order of ``self_care_unable_mask``.
SELF_CARE_INDICATORS = ("eating", "dressing", "transferring", "toileting", "walkingIndoors", "bathing")


def self_care_level(unable: int) -> SelfCareLevel | None:
    """All six able → ABLE; 1–3 unable → PARTLY_UNABLE; 4 or more → FULLY_UNABLE (seed 002 §8). -1: never assessed."""
    if unable < 0:
        return None
    if unable == 0:
        return SelfCareLevel.ABLE
    return SelfCareLevel.PARTLY_UNABLE if unable <= 3 else SelfCareLevel.FULLY_UNABLE


def is_any(codes: np.ndarray, *members: Enum) -> np.ndarray:
    """``is_any(m.disability, DisabilityLevel.LEVEL_1, DisabilityLevel.LEVEL_2)`` → bool array."""
    return np.isin(codes, [code_of(m) for m in members])


@dataclass
class MemberColumns:
    """One row per living member; ``household_index`` points at the household's row in the batch."""

    household_index: np.ndarray  # int32
    member_id: np.ndarray  # int64
    age: np.ndarray  # int16, whole years on the batch date
    sex: np.ndarray  # int8 codes of Sex
    relation: np.ndarray  # Relation
    disability: np.ndarray  # DisabilityLevel
    illness: np.ndarray  # Illness
    labor_capacity: np.ndarray  # LaborCapacity
    employment: np.ndarray  # Employment
    education_stage: np.ndarray  # EducationStage
    self_care_unable: (
        np.ndarray
    )  # int8: how many of the six indicators the member cannot do; -1 never assessed
    monthly_income_fen: np.ndarray  # int64, all kinds
    earned_income_fen: np.ndarray  # int64, wages and business

    def __len__(self) -> int:
        return len(self.member_id)


@dataclass
class HouseholdBatch:
    """A batch of households as of one date."""

    as_of: date
    household_id: np.ndarray  # int64
    locality_code: np.ndarray  # str
    urban: np.ndarray  # bool
    members: MemberColumns
    assets_fen: dict[AssetKind, np.ndarray] = field(default_factory=dict)
    rigid_expense_annual_fen: dict[ExpenseKind, np.ndarray] = field(default_factory=dict)
    #: aid type code → bool array: the household has an aid record of that type in force on the date.
    active_aid: dict[str, np.ndarray] = field(default_factory=dict)
    #: aid type code → ``datetime64[D]`` array: when the aid in force began (NaT where none is).
    aid_started_on: dict[str, np.ndarray] = field(default_factory=dict)
    #: ``datetime64[D]``: when the household's current incomes took effect (its last income change);
    #: NaT for a household with no income rows. Gradual exit (渐退) counts from here.
    income_changed_on: np.ndarray | None = None
    #: Department signals about the batch's households in the look-back window.
    signals: SignalColumns = field(default_factory=SignalColumns.empty)
    #: ``datetime64[D]``: the household's last recorded review (复核), NaT where none (``safetynet.schedules``).
    last_reviewed_on: np.ndarray | None = None
    #: The household's accepted application not decided on the date that is due first (审核确认时限):
    #: its id (0 where none) and its decision due date (``datetime64[D]``, NaT where none).
    application_id: np.ndarray | None = None
    application_due_on: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.household_id)

    # -- per-household reductions over members -----------------------------------------------------
    def sum_members(self, values: np.ndarray) -> np.ndarray:
        """Sum a member column per household (int64 for integer input)."""
        summed = np.bincount(self.members.household_index, weights=values, minlength=len(self))
        return np.rint(summed).astype(np.int64) if np.issubdtype(values.dtype, np.integer) else summed

    def count_members(self, mask: np.ndarray) -> np.ndarray:
        return np.bincount(
            self.members.household_index, weights=mask.astype(np.int64), minlength=len(self)
        ).astype(np.int32)

    def any_member(self, mask: np.ndarray) -> np.ndarray:
        return self.count_members(mask) > 0

    # -- derived columns ----------------------------------------------------------------------------
    @property
    def size(self) -> np.ndarray:
        """共同生活家庭成员人数: living members."""
        return self.count_members(np.ones(len(self.members), dtype=bool))

    @property
    def monthly_income_fen(self) -> np.ndarray:
        return self.sum_members(self.members.monthly_income_fen)

    @property
    def earned_income_fen(self) -> np.ndarray:
        return self.sum_members(self.members.earned_income_fen)

    def per_capita(self, household_fen: np.ndarray) -> np.ndarray:
        """Household amount per member, whole fen rounded down (0 for an empty household)."""
        size = self.size
        return np.where(size > 0, household_fen // np.maximum(size, 1), 0)

    @property
    def per_capita_income_fen(self) -> np.ndarray:
        """家庭人均月收入."""
        return self.per_capita(self.monthly_income_fen)

    def asset_fen(self, *kinds: AssetKind) -> np.ndarray:
        zero = np.zeros(len(self), dtype=np.int64)
        return sum((self.assets_fen.get(k, zero) for k in kinds), zero)

    def expense_annual_fen(self, *kinds: ExpenseKind) -> np.ndarray:
        zero = np.zeros(len(self), dtype=np.int64)
        return sum((self.rigid_expense_annual_fen.get(k, zero) for k in kinds), zero)

    def has_active_aid(self, aid_type_code: str) -> np.ndarray:
        return self.active_aid.get(aid_type_code, np.zeros(len(self), dtype=bool))

    def months_since(self, days: np.ndarray) -> np.ndarray:
        """Whole calendar months from each date to the batch date (-1 where the date is NaT)."""
        known = ~np.isnat(days)
        months = (np.datetime64(self.as_of, "M") - days.astype("datetime64[M]")).astype(np.int64)
        after_day = (np.datetime64(self.as_of, "D") - np.datetime64(self.as_of, "M").astype("datetime64[D]")) < (
            days - days.astype("datetime64[M]").astype("datetime64[D]")
        )
        return np.where(known, months - after_day, -1)
