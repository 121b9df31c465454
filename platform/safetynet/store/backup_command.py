"""``safetynet backup OUT`` and ``safetynet restore IN`` (docs/operations.md).

Both act on the database of ``SAFETYNET_DATABASE_URL`` and need neither the plugins nor the secret key.
Registered on the ``safetynet`` group by ``safetynet.cli``. Exit code 1 with ``error: …`` when refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import click
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from safetynet.settings import Settings

from .backup import BackupError, backup, restore, stored_rows
from .db import DatabaseURLError, driver_url

KEY_REMINDER = (
    "identity numbers stay encrypted in the backup: keep SAFETYNET_SECRET_KEY (in development the file "
    "safetynet.secret beside the database) safe and apart from it; a restore needs the same key"
)


def _database_url() -> str:
    return os.environ.get("SAFETYNET_DATABASE_URL") or Settings.database_url


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(1)


@click.command("backup")
@click.argument("out", type=click.Path(path_type=Path, dir_okay=False))
def backup_command(out: Path) -> None:
    """Back up the database to OUT, a new file, while the server keeps running.

    SQLite: the online backup API (one consistent snapshot, even while the server writes); OUT is an
    SQLite file. PostgreSQL: pg_dump -Fc (custom format, for pg_restore).
    """
    url = _database_url()
    try:
        backup(url, out)
    except (BackupError, DatabaseURLError) as exc:
        _fail(str(exc))
    click.echo(f"backed up {_shown(url)} to {out} ({out.stat().st_size:,} bytes)")
    click.echo(KEY_REMINDER)


@click.command("restore")
@click.argument("source", metavar="IN", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite a target database that holds data.")
def restore_command(source: Path, force: bool) -> None:
    """Replace the database with the backup IN (made by `safetynet backup`). Stop the servers first.

    Refuses a database that holds data unless --force. Then run `safetynet migrate` (a backup made by
    an older version is brought up to date) and start the servers again.
    """
    url = _database_url()
    try:
        restore(url, source, force=force)
    except (BackupError, DatabaseURLError) as exc:
        _fail(str(exc))
    engine = create_engine(driver_url(url, asynchronous=False))
    try:
        households = stored_rows(engine).get("households", 0)
    finally:
        engine.dispose()
    click.echo(f"restored {source} into {_shown(url)}: {households} households")
    click.echo("next: `safetynet migrate`, then start the servers")
