"""The plugin manager: entry points (group ``safetynet``), a plugin directory, allow and deny lists.

A plugin that fails to load stops start-up with a message naming it: a silently missing aid type
would wrong real households.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pluggy

from safetynet import hookspecs

log = logging.getLogger(__name__)


class PluginLoadError(RuntimeError):
    """A plugin that could not be loaded or that breaks the contract."""


def load_plugins(
    *,
    disabled: Iterable[str] = (),
    allowed: Iterable[str] = (),
    plugins_dir: str | None = None,
    extra: Iterable[Any] = (),
) -> pluggy.PluginManager:
    """Build the plugin manager.

    ``disabled`` names entry points to skip; a non-empty ``allowed`` loads only those. ``plugins_dir``
    is a folder whose ``*.py`` files are each loaded as a plugin. ``extra`` registers objects directly
    (used by tests and embedding applications).
    """
    disabled, allowed = set(disabled), set(allowed)
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    known = {ep.name for ep in entry_points(group=hookspecs.PROJECT)}
    for name in sorted((disabled | allowed) - known):
        raise PluginLoadError(
            f"no installed plugin is called '{name}'; installed: {', '.join(sorted(known))}"
        )
    for ep in sorted(entry_points(group=hookspecs.PROJECT), key=lambda e: e.name):
        if ep.name in disabled or (allowed and ep.name not in allowed):
            log.info("plugin %s disabled", ep.name)
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginLoadError(f"plugin '{ep.name}' ({ep.value}) failed to load: {exc!r}") from exc
        _register(pm, plugin, ep.name)
    if plugins_dir:
        for path in sorted(Path(plugins_dir).glob("*.py")):
            _register(pm, _load_file(path), f"dir:{path.stem}")
    for plugin in extra:
        _register(pm, plugin, getattr(plugin, "__name__", None) or type(plugin).__name__)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError(
            f"{exc}: a @hookimpl whose name matches no hook in safetynet.hookspecs"
        ) from exc
    return pm


def _register(pm: pluggy.PluginManager, plugin: Any, name: str) -> None:
    try:
        pm.register(plugin, name=name)
    except (ValueError, pluggy.PluginValidationError) as exc:
        raise PluginLoadError(f"plugin '{name}' could not be registered: {exc}") from exc


def _load_file(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"safetynet_dir_plugin_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise PluginLoadError(f"plugin file {path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise PluginLoadError(f"plugin file {path} failed to load: {exc!r}") from exc
    return module


def distribution_of(plugin: Any) -> str | None:
    """The module a plugin came from, for ``safetynet plugins``."""
    module = inspect.getmodule(plugin)
    return module.__name__ if module else None


async def notify(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> None:
    """Call an event hook, awaiting plugins that return awaitables; a failing plugin is logged by name."""
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        try:
            result = impl.function(**{k: kwargs[k] for k in impl.argnames})
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("plugin %s failed in %s", impl.plugin_name, hook_name)
