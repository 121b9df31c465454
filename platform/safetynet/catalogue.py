"""The immutable catalogue built from the catalogue hooks at start-up: what the rest of the core reads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pluggy

from safetynet.model import AidType, DataSource, GraphQLContribution, Locality, Partner, WarningRule
from safetynet.plugins import PluginLoadError
from safetynet.rules import LocalityRegistry

T = TypeVar("T")


@dataclass(frozen=True)
class Provided(Generic[T]):
    """A catalogue entry with the plugin that provided it."""

    item: T
    plugin: str


@dataclass(frozen=True)
class PluginInfo:
    name: str
    module: str
    hooks: tuple[str, ...]


class Catalogue:
    """Aid types, partners, localities, data sources, warning rules and GraphQL contributions."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.aid_types: dict[str, Provided[AidType]] = _collect(
            pm, "safetynet_aid_types", lambda a: a.code, "aid type"
        )
        self.partners: dict[str, Provided[Partner]] = _collect(
            pm, "safetynet_partners", lambda p: p.code, "partner"
        )
        localities: dict[str, Provided[Locality]] = _collect(
            pm, "safetynet_localities", lambda loc: loc.code, "locality"
        )
        self.locality_plugins = {code: p.plugin for code, p in localities.items()}
        self.localities = LocalityRegistry(p.item for p in localities.values())
        self.data_sources: dict[str, Provided[DataSource]] = _collect(
            pm, "safetynet_data_sources", lambda d: d.code, "data source"
        )
        self.warning_rules: dict[str, Provided[WarningRule]] = _collect(
            pm, "safetynet_warning_rules", lambda w: w.code, "warning rule"
        )
        self.graphql: list[Provided[GraphQLContribution]] = [
            Provided(item, plugin) for plugin, items in _results(pm, "safetynet_graphql") for item in items
        ]
        self.assessment_order: tuple[str, ...] = _dependency_order(self.aid_types)

    def plugins(self) -> list[PluginInfo]:
        infos = []
        for name, plugin in sorted(self.pm.list_name_plugin(), key=lambda np: np[0]):
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
            infos.append(
                PluginInfo(name=name, module=getattr(plugin, "__name__", type(plugin).__name__), hooks=hooks)
            )
        return infos


def _results(pm: pluggy.PluginManager, hook_name: str) -> list[tuple[str, Sequence[Any]]]:
    """Call a catalogue hook plugin by plugin, so each result is attributed to its plugin."""
    out = []
    for impl in getattr(pm.hook, hook_name).get_hookimpls():  # registration order (pluggy calls in reverse)
        try:
            items = impl.function()
        except Exception as exc:
            raise PluginLoadError(f"plugin '{impl.plugin_name}' failed in {hook_name}: {exc!r}") from exc
        out.append((impl.plugin_name, list(items or ())))
    return out


def _collect(
    pm: pluggy.PluginManager, hook_name: str, key: Callable[[Any], str], what: str
) -> dict[str, Any]:
    found: dict[str, Provided[Any]] = {}
    for plugin, items in _results(pm, hook_name):
        for item in items:
            code = key(item)
            if code in found:
                raise PluginLoadError(
                    f"{what} '{code}' is provided by both plugin '{found[code].plugin}' and plugin '{plugin}'"
                )
            found[code] = Provided(item, plugin)
    return found


def _dependency_order(aid_types: dict[str, Provided[AidType]]) -> tuple[str, ...]:
    """Aid type codes so that each comes after the installed aid types it depends on."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(code: str) -> None:
        if code in order or code not in aid_types:
            return
        if code in visiting:
            raise PluginLoadError(f"aid type '{code}' depends on itself through {sorted(visiting)}")
        visiting.add(code)
        for dependency in aid_types[code].item.depends_on:
            visit(dependency)
        visiting.discard(code)
        order.append(code)

    for code in sorted(aid_types):
        visit(code)
    return tuple(order)
