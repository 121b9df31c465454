"""Locality parameter packs: TOML files of dated values, each with its source (see hookspecs, localities).

::

    [locality]
    code = "120000"
    name = "天津市"
    name_en = "Tianjin"
    level = "PROVINCE"

    [parameters."dibao.standard.urban"]
    unit = "yuan"
    [[parameters."dibao.standard.urban".values]]
    from = 2022-01-01
    value = 1010
    source = "seed 003 §4"
    illustrative = true
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from safetynet.hookspecs import hookimpl
from safetynet.model import UNITS, Locality, LocalityLevel, ParameterSeries, ParameterValue

from .hierarchy import check_code


class PackError(ValueError):
    """A parameter pack that cannot be read; the message names the file and the entry."""


def load_pack(path: str | Path) -> Locality:
    """Read one locality's TOML pack into a :class:`~safetynet.model.Locality`."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PackError(f"{path}: {exc}") from exc
    head = _require(data, "locality", dict, path)
    code = check_code(_require(head, "code", str, path))
    try:
        level = LocalityLevel[_require(head, "level", str, path)]
    except KeyError:
        raise PackError(f"{path}: locality.level must be one of {[m.name for m in LocalityLevel]}") from None
    parameters = {name: _series(name, entry, path) for name, entry in data.get("parameters", {}).items()}
    return Locality(
        code=code,
        name=_require(head, "name", str, path),
        name_en=_require(head, "name_en", str, path),
        level=level,
        parameters=parameters,
        parent_code=head.get("parent_code"),
    )


def _series(name: str, entry: dict[str, Any], path: Path) -> ParameterSeries:
    where = f'{path}: parameters."{name}"'
    unit = entry.get("unit", "")
    if unit and unit not in UNITS:
        raise PackError(f"{where}: unit '{unit}' is not one of {UNITS}")
    values = []
    for i, item in enumerate(entry.get("values", [])):
        start = item.get("from")
        if not isinstance(start, date):
            raise PackError(f"{where}.values[{i}]: 'from' must be a TOML date such as 2024-01-01")
        if not isinstance(item.get("value"), int | Decimal) or isinstance(item.get("value"), bool):
            raise PackError(f"{where}.values[{i}]: 'value' must be a number")
        if not item.get("source"):
            raise PackError(f"{where}.values[{i}]: every value needs a 'source'")
        values.append(
            ParameterValue(
                effective_from=start,
                value=Decimal(str(item["value"])),
                source=item["source"],
                illustrative=bool(item.get("illustrative", False)),
            )
        )
    if not values:
        raise PackError(f"{where}: no values")
    values.sort(key=lambda v: v.effective_from)
    return ParameterSeries(
        name=name, unit=unit, values=tuple(values), description=entry.get("description", "")
    )


def _require(table: dict[str, Any], key: str, kind: type, path: Path) -> Any:
    value = table.get(key)
    if not isinstance(value, kind):
        raise PackError(f"{path}: '{key}' is required and must be a {kind.__name__}")
    return value


def locality_plugin(module_file: str, *pack_names: str) -> Callable[[], list[Locality]]:
    """A ``safetynet_localities`` hook that loads TOML packs kept beside the plugin module::

        safetynet_localities = locality_plugin(__file__, "zhangye.toml")
    """
    folder = Path(module_file).parent

    @hookimpl
    def safetynet_localities() -> list[Locality]:
        return [load_pack(folder / name) for name in pack_names]

    return safetynet_localities
