"""Parameter resolution: by locality hierarchy and date, once per locality, as dense arrays for a batch."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np

from safetynet.model import Locality, ParameterUse

from .hierarchy import NATIONAL_CODE, ancestors, check_code

_RESOLVED_KEPT = 200_000  # answers kept by LocalityRegistry.resolve


class ParameterError(LookupError):
    """A parameter that no locality in a household's hierarchy sets for the date asked."""


class LocalityRegistry:
    """The localities the plugins provide, and resolution along village → … → province → nation."""

    def __init__(self, localities: Iterable[Locality]) -> None:
        self.localities: dict[str, Locality] = {}
        self.units: dict[str, str] = {}
        self._resolved: dict[tuple[str, str, date], ParameterUse | None] = {}
        self._uses: dict[tuple[str, str, date], ParameterUse] = {}  # (name, locality, effective from)
        self._nearest: dict[str, str] = {}
        for locality in localities:
            self.localities[locality.code] = locality
            for name, series in locality.parameters.items():
                if series.unit:
                    known = self.units.setdefault(name, series.unit)
                    if known != series.unit:
                        raise ParameterError(
                            f"parameter {name} has unit '{series.unit}' in {locality.code} but '{known}' elsewhere"
                        )
        for locality in self.localities.values():
            for name in locality.parameters:
                if name not in self.units:
                    raise ParameterError(f"parameter {name} of {locality.code} has no unit in any pack")

    def governing(self, code: str) -> Locality | None:
        """The nearest provided locality at or above ``code``, not counting the nation."""
        for candidate in ancestors(code):
            if candidate != NATIONAL_CODE and candidate in self.localities:
                return self.localities[candidate]
        return None

    def nearest_provided(self, code: str) -> str:
        """``code`` or its nearest ancestor that a plugin provides (where resolving ``code`` starts to
        find values); ``code`` itself when none is."""
        found = self._nearest.get(code)
        if found is None:
            found = self._nearest[code] = next((c for c in ancestors(code) if c in self.localities), code)
        return found

    def is_known(self, code: str) -> bool:
        """A locality code is accepted when it or an ancestor (below the nation) is provided."""
        check_code(code)
        return self.governing(code) is not None

    def resolve(self, name: str, code: str, day: date) -> ParameterUse | None:
        """The value of ``name`` in force at ``code`` on ``day``, from the nearest locality that sets it.

        Answers are kept (the localities do not change once provided): a sweep asks the same questions
        for every batch of households. The localities that inherit one dated value get the same use."""
        key = (name, code, day)
        if key in self._resolved:
            return self._resolved[key]
        if len(self._resolved) >= _RESOLVED_KEPT:
            self._resolved.clear()
        use = self._resolved[key] = self._resolve(name, code, day)
        return use

    def source_of(self, name: str, code: str, effective_from: date) -> str | None:
        """The source of the value of ``name`` that locality ``code`` set from ``effective_from``, or None
        when no installed pack sets that dated value (stored evidence names its parameters so)."""
        locality = self.localities.get(code)
        series = locality.parameters.get(name) if locality else None
        value = series.at(effective_from) if series else None
        return value.source if value is not None and value.effective_from == effective_from else None

    def _resolve(self, name: str, code: str, day: date) -> ParameterUse | None:
        for candidate in ancestors(code):
            locality = self.localities.get(candidate)
            series = locality.parameters.get(name) if locality else None
            value = series.at(day) if series else None
            if value is not None:
                key = (name, candidate, value.effective_from)
                use = self._uses.get(key)
                if use is None:
                    use = self._uses[key] = ParameterUse(
                        name=name,
                        locality_code=candidate,
                        unit=self.units[name],
                        value=value.value,
                        effective_from=value.effective_from,
                        source=value.source,
                        illustrative=value.illustrative,
                    )
                return use
        return None


@dataclass(frozen=True)
class ParamColumn:
    """One parameter's value for every household of a batch, and which dated value each one used.

    ``values`` are integer fen for ``yuan`` parameters and floats otherwise; ``use_index[i]`` points
    into ``uses`` (-1 where no locality sets the parameter, see ``defined``).
    """

    name: str
    values: np.ndarray
    uses: tuple[ParameterUse, ...]
    use_index: np.ndarray

    @property
    def defined(self) -> np.ndarray:
        return self.use_index >= 0

    def use(self, i: int) -> ParameterUse | None:
        j = int(self.use_index[i])
        return self.uses[j] if j >= 0 else None

    @staticmethod
    def choose(mask: np.ndarray, if_true: ParamColumn, if_false: ParamColumn) -> ParamColumn:
        """Per household, one parameter or the other (e.g. the urban or the rural standard)."""
        offset = len(if_true.uses)
        false_index = np.where(if_false.use_index >= 0, if_false.use_index + offset, -1)
        return ParamColumn(
            name=f"{if_true.name}|{if_false.name}",
            values=np.where(mask, if_true.values, if_false.values),
            uses=if_true.uses + if_false.uses,
            use_index=np.where(mask, if_true.use_index, false_index).astype(np.int32),
        )


class Parameters:
    """Parameters for one batch of households on one date: each resolved once per distinct locality
    that sets parameters (a village's households are resolved at the nearest provided locality above)."""

    def __init__(self, registry: LocalityRegistry, locality_codes: np.ndarray, as_of: date) -> None:
        self.registry = registry
        self.as_of = as_of
        self._codes, self._code_of = np.unique(np.asarray(locality_codes, dtype=str), return_inverse=True)
        nearest = [registry.nearest_provided(str(code)) for code in self._codes]
        self._keys, key_of_code = np.unique(np.asarray(nearest, dtype=str), return_inverse=True)
        self._inverse = key_of_code.ravel()[self._code_of]  # household → key
        self._cache: dict[str, ParamColumn] = {}

    def optional(self, name: str) -> ParamColumn:
        """The parameter, with ``defined`` False for households whose localities do not set it."""
        if name not in self._cache:
            uses = [self.registry.resolve(name, str(code), self.as_of) for code in self._keys]
            unit = self.registry.units.get(name)
            # Localities that inherit one dated value share its use (one object): each is listed once.
            present = list({id(u): u for u in uses if u is not None}.values())
            index_of = {id(u): i for i, u in enumerate(present)}
            per_code = np.array([index_of[id(u)] if u is not None else -1 for u in uses], dtype=np.int32)
            if unit == "yuan":
                code_values = np.array([int(u.value * 100) if u else 0 for u in uses], dtype=np.int64)
            else:
                code_values = np.array([float(u.value) if u else np.nan for u in uses], dtype=np.float64)
            self._cache[name] = ParamColumn(
                name=name,
                values=code_values[self._inverse] if len(uses) else code_values,
                uses=tuple(present),
                use_index=per_code[self._inverse] if len(uses) else per_code,
            )
        return self._cache[name]

    def __getitem__(self, name: str) -> ParamColumn:
        """The parameter for every household; an error naming the first locality that lacks it."""
        column = self.optional(name)
        missing = ~column.defined
        if missing.any():
            code = self._codes[self._code_of[np.argmax(missing)]]
            raise ParameterError(f"parameter {name} is not set for locality {code} on {self.as_of}")
        return column

    def by_residence(self, urban: np.ndarray, urban_name: str, rural_name: str) -> ParamColumn:
        """The urban parameter for urban households and the rural one for rural households."""
        return ParamColumn.choose(urban, self[urban_name], self[rural_name])
