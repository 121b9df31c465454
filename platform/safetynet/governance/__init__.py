"""Anti-fraud governance (反欺诈治理, DOMAIN.md §5): near-relative registration (近亲属备案), dishonesty
records (失信) and recovery (追回), the warnings they raise on aid decisions, and funds reconciliation
(资金核对)."""

from __future__ import annotations

from .flags import FlagCode, IntegrityFlag, flags_by_household, household_flags

__all__ = ["FlagCode", "IntegrityFlag", "flags_by_household", "household_flags"]
