"""Department signals in columnar form, for warning detectors and rules (one row per signal).

``HouseholdBatch.signals`` holds the signals of the batch's households from the look-back window
(``SIGNAL_LOOKBACK_DAYS`` before the batch date up to it). Detectors reduce them per household::

    spent = households.signals.sum_amount(households, "medical_insurance", within_days=365)
    newly_unemployed = households.signals.any(households, "human_resources", kinds=("UNEMPLOYED",), within_days=90)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .batch import HouseholdBatch

SIGNAL_LOOKBACK_DAYS = 400


@dataclass
class SignalColumns:
    household_index: np.ndarray  # int32, row of the household in the batch
    member_id: np.ndarray  # int64 (0 when the signal is about no known member)
    source: np.ndarray  # str, data-source code
    kind: np.ndarray  # str, e.g. INPATIENT, UNEMPLOYED, DECEASED
    occurred_on: np.ndarray  # datetime64[D]
    amount_fen: np.ndarray  # int64 (0 where the record has no amount)
    value: np.ndarray  # str ("" where the record has no value)

    @classmethod
    def empty(cls) -> SignalColumns:
        return cls(
            household_index=np.zeros(0, dtype=np.int32),
            member_id=np.zeros(0, dtype=np.int64),
            source=np.zeros(0, dtype="<U32"),
            kind=np.zeros(0, dtype="<U32"),
            occurred_on=np.zeros(0, dtype="datetime64[D]"),
            amount_fen=np.zeros(0, dtype=np.int64),
            value=np.zeros(0, dtype="<U32"),
        )

    def __len__(self) -> int:
        return len(self.household_index)

    def select(
        self, as_of: date, source: str, kinds: Sequence[str] = (), within_days: int = SIGNAL_LOOKBACK_DAYS
    ) -> np.ndarray:
        """Mask of signals from ``source`` (of ``kinds``, if given) in the ``within_days`` before ``as_of``."""
        day = np.datetime64(as_of, "D")
        mask = (self.source == source) & (self.occurred_on <= day) & (self.occurred_on > day - within_days)
        if kinds:
            mask &= np.isin(self.kind, list(kinds))
        return mask

    def sum_amount(
        self, households: HouseholdBatch, source: str, kinds: Sequence[str] = (), within_days: int = 365
    ) -> np.ndarray:
        """Per household: the sum of ``amount_fen`` of the selected signals."""
        mask = self.select(households.as_of, source, kinds, within_days)
        summed = np.bincount(
            self.household_index[mask], weights=self.amount_fen[mask], minlength=len(households)
        )
        return np.rint(summed).astype(np.int64)

    def count(
        self, households: HouseholdBatch, source: str, kinds: Sequence[str] = (), within_days: int = 365
    ) -> np.ndarray:
        mask = self.select(households.as_of, source, kinds, within_days)
        return np.bincount(self.household_index[mask], minlength=len(households)).astype(np.int32)

    def any(
        self, households: HouseholdBatch, source: str, kinds: Sequence[str] = (), within_days: int = 365
    ) -> np.ndarray:
        return self.count(households, source, kinds, within_days) > 0

    def latest(self, households: HouseholdBatch, source: str, kinds: Sequence[str] = ()) -> np.ndarray:
        """Per household: the kind of the most recent selected signal ('' where none), e.g. WATCH_START."""
        mask = self.select(households.as_of, source, kinds)
        out = np.full(len(households), "", dtype="<U32")
        order = np.argsort(self.occurred_on[mask], kind="stable")  # later signals overwrite earlier ones
        out[self.household_index[mask][order]] = self.kind[mask][order]
        return out
