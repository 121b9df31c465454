"""Configuration from the environment (API.md, "Command line")."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

DEVELOPMENT = "development"
PRODUCTION = "production"


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///safetynet.db"
    broadcast_url: str | None = None
    secret_key: str = ""
    env: str = DEVELOPMENT
    disabled_plugins: tuple[str, ...] = ()
    allowed_plugins: tuple[str, ...] = ()  # empty: every installed plugin
    plugins_dir: str | None = None
    max_page_size: int = 500
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == PRODUCTION

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = dict(os.environ if environ is None else environ)
        mode = env.get("SAFETYNET_ENV", DEVELOPMENT)
        if mode not in (DEVELOPMENT, PRODUCTION):
            raise SettingsError(f"SAFETYNET_ENV must be '{DEVELOPMENT}' or '{PRODUCTION}', not '{mode}'")
        database_url = env.get("SAFETYNET_DATABASE_URL") or "sqlite:///safetynet.db"
        secret = env.get("SAFETYNET_SECRET_KEY", "")
        if not secret:
            if mode == PRODUCTION:
                raise SettingsError(
                    "SAFETYNET_SECRET_KEY must be set in production (it encrypts identity numbers)"
                )
            secret = _development_secret(database_url)
        values: dict[str, object] = {
            "database_url": database_url,
            "broadcast_url": env.get("SAFETYNET_BROADCAST_URL") or None,
            "secret_key": secret,
            "env": mode,
            "disabled_plugins": _list(env.get("SAFETYNET_DISABLE_PLUGINS")),
            "allowed_plugins": _list(env.get("SAFETYNET_PLUGINS")),
            "plugins_dir": env.get("SAFETYNET_PLUGINS_DIR") or None,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def _development_secret(database_url: str) -> str:
    """In development only: a random key kept in a file beside the SQLite database (or the working dir)."""
    folder = (
        Path(database_url.removeprefix("sqlite:///")).parent
        if database_url.startswith("sqlite:///")
        else Path()
    )
    path = folder / "safetynet.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()
