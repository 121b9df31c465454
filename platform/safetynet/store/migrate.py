"""Run the Alembic migrations from code (``safetynet migrate``, the demo, the tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config

from .db import Database

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"


def alembic_config() -> Config:
    if not MIGRATIONS.is_dir():
        raise FileNotFoundError(f"migrations folder not found at {MIGRATIONS}: run from a safetynet checkout")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(database: Database, revision: str = "heads") -> None:
    """Bring the database to ``revision`` (default: the newest)."""
    _run(command.upgrade, database, revision)


def downgrade(database: Database, revision: str) -> None:
    """Take the database back to ``revision`` (undoing the migrations after it)."""
    _run(command.downgrade, database, revision)


def _run(step: Callable[[Config, str], None], database: Database, revision: str) -> None:
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        step(config, revision)
