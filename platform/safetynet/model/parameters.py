"""Locality parameters as dated data with sources (the OpenFisca style), and the record of a parameter's use."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from .enums import LocalityLevel

#: Units a parameter may have. ``yuan`` values become integer fen in rule arrays.
UNITS = ("yuan", "ratio", "months", "days", "years", "count")


@dataclass(frozen=True)
class ParameterValue:
    """One dated value: in force from ``effective_from`` until the next value of the same series."""

    effective_from: date
    value: Decimal
    source: str
    illustrative: bool = False


@dataclass(frozen=True)
class ParameterSeries:
    """The dated values one locality sets for one parameter name, e.g. ``dibao.standard.urban``."""

    name: str
    unit: str
    values: tuple[ParameterValue, ...]
    description: str = ""

    def at(self, day: date) -> ParameterValue | None:
        """The value in force on ``day``, or None when this locality had not set one yet."""
        starts = [v.effective_from for v in self.values]
        i = bisect.bisect_right(starts, day) - 1
        return self.values[i] if i >= 0 else None


@dataclass(frozen=True)
class ParameterUse:
    """Which value of which locality a decision used: the trace a caseworker reads."""

    name: str
    locality_code: str
    unit: str
    value: Decimal
    effective_from: date
    source: str
    illustrative: bool

    @property
    def display_value(self) -> str:
        """``780.00`` for yuan, ``1.5`` for a ratio, ``6`` for months."""
        if self.unit == "yuan":
            return f"{self.value:.2f}"
        normalized = self.value.normalize()
        return format(normalized, "f")


@dataclass(frozen=True)
class Locality:
    """An administrative area (行政区划) and the parameters it sets.

    ``code`` is 6 digits (province, city, county; ``100000`` is national), 9 (township) or 12 (village).
    A locality inherits every parameter it does not set from its ancestors.
    """

    code: str
    name: str
    name_en: str
    level: LocalityLevel
    parameters: dict[str, ParameterSeries] = field(default_factory=dict)
    parent_code: str | None = None
