"""Run the Alembic migrations from code (``safetynet migrate``, the demo, the tests)."""

from __future__ import annotations

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
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
