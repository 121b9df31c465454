"""The running platform: settings, plugins, the catalogue, the database and the identity vault."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pluggy
from sqlalchemy import select

from safetynet.catalogue import Catalogue
from safetynet.governance.decisions import CORE_GOVERNANCE, DecisionWatch
from safetynet.identity import IdentityVault
from safetynet.plugins import load_plugins
from safetynet.rules import LocalityRegistry
from safetynet.settings import Settings
from safetynet.store.db import Database
from safetynet.store.models import LocalityRow


@dataclass
class Runtime:
    settings: Settings
    plugins: pluggy.PluginManager
    catalogue: Catalogue
    database: Database
    vault: IdentityVault
    #: Long-lived services started on demand in the serving event loop (e.g. "matching": the need event
    #: hub, broadcast listener and webhook dispatcher), keyed by name; stopped by the app's lifespan.
    services: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, settings: Settings | None = None, *, extra_plugins: Iterable[Any] = ()) -> Runtime:
        """Load plugins (failing loudly), build the catalogue and connect to the database."""
        settings = settings or Settings.from_env()
        pm = load_plugins(
            disabled=settings.disabled_plugins,
            allowed=settings.allowed_plugins,
            plugins_dir=settings.plugins_dir,
            extra=extra_plugins,
        )
        runtime = cls(
            settings=settings,
            plugins=pm,
            catalogue=Catalogue(pm),
            database=Database(settings.database_url),
            vault=IdentityVault.from_setting(settings.secret_key, settings.lookup_key),
        )
        # The core's own hook implementations: not plugins, so no allow- or deny-list removes them.
        pm.register(DecisionWatch(runtime), name=CORE_GOVERNANCE)
        return runtime

    @property
    def localities(self) -> LocalityRegistry:
        return self.catalogue.localities

    def today(self) -> date:
        return date.today()

    def sync_localities(self) -> None:
        """Mirror the plugins' localities into the ``localities`` table (names and hierarchy for SQL joins)."""

        def work(session: Any) -> None:
            stored = {row.code: row for row in session.scalars(select(LocalityRow))}
            for code, locality in self.localities.localities.items():
                row = stored.pop(code, None) or LocalityRow(code=code)
                row.name, row.level, row.parent_code = locality.name, locality.level, locality.parent_code
                row.plugin = self.catalogue.locality_plugins[code]
                session.add(row)
            for row in stored.values():
                session.delete(row)

        self.database.run(work)
