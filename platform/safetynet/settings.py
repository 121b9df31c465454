"""Configuration from the environment (API.md, "Command line")."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from safetynet.matching.webhook_targets import AllowList

DEVELOPMENT = "development"
PRODUCTION = "production"
MEBIBYTE = 1024 * 1024
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# Production defaults for the rate limits (requests per window; 0 turns a limit off).
PRODUCTION_RATE_LIMIT = 600
PRODUCTION_ANONYMOUS_RATE_LIMIT = 60


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
    #: The secret that keys identity numbers' lookup hashes (default: the current secret). It stays the
    #: same when SAFETYNET_SECRET_KEY is rotated: department records of people not yet registered are kept
    #: only as hashes, so hashes cannot be recomputed.
    lookup_key: str | None = None
    #: Largest HTTP request body and websocket message accepted (413 / close code 1009 beyond).
    max_body_bytes: int = 10 * MEBIBYTE
    #: Requests per ``rate_limit_window`` seconds for each API key, and for each client address without
    #: a valid key; 0 is no limit (the default outside production).
    rate_limit: int = 0
    anonymous_rate_limit: int = 0
    rate_limit_window: int = 60
    #: ``redis://…`` to share the rate-limit counts between server processes (default: the broadcast URL
    #: when it is Redis, else counts are kept in each process).
    rate_limit_url: str | None = None
    #: Hostnames, addresses and CIDRs webhooks may be sent to although they are not public
    #: (``matching/webhook_targets.py``).
    webhook_allow_hosts: tuple[str, ...] = ()
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
        lookup_key = env.get("SAFETYNET_LOOKUP_KEY", "").strip() or None
        if len(_list(secret)) > 1 and lookup_key is None:
            raise SettingsError(
                "SAFETYNET_LOOKUP_KEY must be set while SAFETYNET_SECRET_KEY lists several secrets: set it to "
                "the secret the identity numbers' lookup hashes were made with (the oldest one, before any rotation)"
            )
        broadcast_url = env.get("SAFETYNET_BROADCAST_URL") or None
        production = mode == PRODUCTION
        values: dict[str, object] = {
            "database_url": database_url,
            "broadcast_url": broadcast_url,
            "secret_key": secret,
            "env": mode,
            "disabled_plugins": _list(env.get("SAFETYNET_DISABLE_PLUGINS")),
            "allowed_plugins": _list(env.get("SAFETYNET_PLUGINS")),
            "plugins_dir": env.get("SAFETYNET_PLUGINS_DIR") or None,
            "lookup_key": lookup_key,
            "max_page_size": _count(env, "SAFETYNET_MAX_PAGE_SIZE", cls.max_page_size, minimum=1),
            "max_body_bytes": _count(env, "SAFETYNET_MAX_BODY_BYTES", cls.max_body_bytes, minimum=1024),
            "rate_limit": _count(env, "SAFETYNET_RATE_LIMIT", PRODUCTION_RATE_LIMIT if production else 0),
            "anonymous_rate_limit": _count(
                env, "SAFETYNET_ANONYMOUS_RATE_LIMIT", PRODUCTION_ANONYMOUS_RATE_LIMIT if production else 0
            ),
            "rate_limit_window": _count(env, "SAFETYNET_RATE_LIMIT_WINDOW", cls.rate_limit_window, minimum=1),
            "rate_limit_url": _rate_limit_url(env.get("SAFETYNET_RATE_LIMIT_URL"), broadcast_url),
            "webhook_allow_hosts": _webhook_allow_hosts(env.get("SAFETYNET_WEBHOOK_ALLOW_HOSTS")),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def _rate_limit_url(value: str | None, broadcast_url: str | None) -> str | None:
    """SAFETYNET_RATE_LIMIT_URL, else the broadcast URL when it is Redis, else None (counts in-process)."""
    if not value:
        return broadcast_url if broadcast_url and broadcast_url.startswith(REDIS_SCHEMES) else None
    if not value.startswith(REDIS_SCHEMES):
        raise SettingsError(f"SAFETYNET_RATE_LIMIT_URL must be a redis:// URL, not '{value}'")
    return value


def _webhook_allow_hosts(value: str | None) -> tuple[str, ...]:
    entries = _list(value)
    try:
        AllowList.parse(entries)
    except ValueError as exc:
        raise SettingsError(f"SAFETYNET_WEBHOOK_ALLOW_HOSTS: {exc}") from None
    return entries


def _count(env: dict[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    """A whole-number setting; the error names the variable and what it takes."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not '{raw}'") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


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
