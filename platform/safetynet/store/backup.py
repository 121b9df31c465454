"""Backups (备份) and restores of the whole database (docs/operations.md).

SQLite: the online backup API (``sqlite3.Connection.backup``) copies one consistent snapshot while the
server goes on reading and writing. PostgreSQL: ``pg_dump -Fc`` (a consistent snapshot too) and
``pg_restore``, applied by ``psql`` in one transaction. A password in the database URL reaches the
PostgreSQL tools in ``PGPASSWORD``, never on a command line or in a message.

A restore replaces the whole target database, so it refuses a target that holds data unless forced.
Identity numbers stay encrypted in a backup: restoring it is of no use without the secret key
(``SAFETYNET_SECRET_KEY``), which is not in it and must be kept safe separately.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, create_engine, func, inspect, select, table
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from .db import driver_url

SQLITE_HEADER = b"SQLite format 3\x00"
PG_DUMP_HEADER = b"PGDMP"
#: What ``safetynet migrate`` writes by itself: a database holding only these is empty.
SETUP_TABLES = frozenset({"alembic_version", "localities"})


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


def backup(database_url: str, out: Path) -> None:
    """Write a backup of the database to ``out`` (a new file; written beside it, then renamed)."""
    url = _url(database_url)
    if out.exists():
        raise BackupError(f"{out} already exists: choose a new file name (e.g. with the date) or remove it")
    if not out.parent.is_dir():
        raise BackupError(f"cannot write {out}: the folder {out.parent} does not exist")
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if url.get_backend_name() == "sqlite":
            _sqlite_copy(_sqlite_file(url, must_exist=True), partial, journal="DELETE")
        else:
            _postgres_tool("pg_dump", url, "--format=custom", f"--file={partial}")
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)


def restore(database_url: str, source: Path, *, force: bool = False) -> None:
    """Replace the database with the backup ``source``; a database holding data only with ``force``."""
    url = _url(database_url)
    sqlite = url.get_backend_name() == "sqlite"
    _check_backup_file(source, sqlite=sqlite)
    engine = create_engine(driver_url(database_url, asynchronous=False))
    try:
        held = stored_rows(engine)
        tables = inspect(engine).get_table_names()
    except sa_exc.OperationalError as exc:
        raise BackupError(f"cannot open the target database: {_first_line(exc.orig or exc)}") from exc
    finally:
        engine.dispose()
    if held and not force:
        shown = ", ".join(f"{name}: {rows}" for name, rows in list(held.items())[:6])
        raise BackupError(
            f"the target database {_shown(url)} is not empty ({shown}{', …' if len(held) > 6 else ''}); "
            "restoring replaces everything in it: use --force to overwrite it"
        )
    if sqlite:
        _sqlite_copy(source, _sqlite_file(url, must_exist=False), journal="WAL")
    else:
        _postgres_restore(url, source, drop=tables)


def stored_rows(engine: Engine) -> dict[str, int]:
    """Rows per table holding any, leaving out the tables ``safetynet migrate`` fills by itself."""
    counts = {}
    with engine.connect() as connection:
        for name in sorted(set(inspect(connection).get_table_names()) - SETUP_TABLES):
            rows = connection.scalar(select(func.count()).select_from(table(name)))
            if rows:
                counts[name] = rows
    return counts


# -- SQLite ----------------------------------------------------------------------------------------


def _sqlite_file(url: URL, *, must_exist: bool) -> Path:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupError("SAFETYNET_DATABASE_URL must name an SQLite file (sqlite:///FILE) to back it up")
    path = Path(url.database)
    if must_exist and not path.is_file():
        raise BackupError(f"the database file {path} does not exist")
    return path


def _sqlite_copy(source: Path, target: Path, *, journal: str) -> None:
    """Copy every page of ``source`` into ``target`` in one step of the online backup API, then set the
    copy's journal mode (a backup file is one self-contained file; a live database runs in WAL mode)."""
    try:
        with (
            _sqlite_open(source.resolve().as_uri() + "?mode=ro") as reader,
            _sqlite_open(str(target)) as writer,
        ):
            reader.backup(writer)
            writer.execute(f"PRAGMA journal_mode={journal}")
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite: {exc}") from exc


class _sqlite_open:
    """A connection that waits for locks and is closed (not just committed) on leaving."""

    def __init__(self, name: str) -> None:
        self.connection = sqlite3.connect(name, timeout=30, uri=name.startswith("file:"))

    def __enter__(self) -> sqlite3.Connection:
        return self.connection

    def __exit__(self, *exc: object) -> None:
        self.connection.close()


def _check_backup_file(source: Path, *, sqlite: bool) -> None:
    if not source.is_file():
        raise BackupError(f"cannot read {source}: no such file")
    with source.open("rb") as file:
        header = file.read(len(SQLITE_HEADER))
    if sqlite and header.startswith(PG_DUMP_HEADER):
        raise BackupError(f"{source} is a PostgreSQL dump: restore it into a PostgreSQL database")
    if not sqlite and header == SQLITE_HEADER:
        raise BackupError(f"{source} is an SQLite backup: restore it into an SQLite database")
    if header != SQLITE_HEADER and not header.startswith(PG_DUMP_HEADER):
        raise BackupError(
            f"{source} is not a safetynet backup (neither an SQLite file nor a pg_dump -Fc file)"
        )
    if sqlite:
        try:
            with _sqlite_open(source.resolve().as_uri() + "?mode=ro") as reader:
                reader.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.Error as exc:
            raise BackupError(f"{source} is not a safetynet backup: {exc}") from exc


# -- PostgreSQL ------------------------------------------------------------------------------------


def _postgres_restore(url: URL, source: Path, *, drop: list[str]) -> None:
    """``pg_restore``'s SQL fed to ``psql`` in one transaction, after dropping the target's tables.

    The input reaches psql's end, and so its COMMIT, only once pg_restore has read the whole backup;
    otherwise psql is killed and the transaction rolled back: a failed restore leaves the target as it was.
    """
    conninfo, environment = _libpq(url)
    dropping = ", ".join('"' + name.replace('"', '""') + '"' for name in drop)
    before = [f"--command=DROP TABLE IF EXISTS {dropping} CASCADE"] if drop else []
    with tempfile.TemporaryFile() as reading_errors, tempfile.TemporaryFile() as applying_errors:
        reader = subprocess.Popen(
            [_tool("pg_restore"), "--no-owner", "--no-privileges", "--file=-", str(source)],
            stdout=subprocess.PIPE,
            stderr=reading_errors,
        )
        psql = [_tool("psql"), f"--dbname={conninfo}", "--no-psqlrc", "--quiet", "--single-transaction"]
        applier = subprocess.Popen(
            [*psql, "--set=ON_ERROR_STOP=1", *before, "--file=-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=applying_errors,
            env=environment,
        )
        assert reader.stdout is not None and applier.stdin is not None
        try:
            shutil.copyfileobj(reader.stdout, applier.stdin)
        except BrokenPipeError:  # psql stopped at an error; its message says which
            reader.kill()
        if reader.wait() != 0 and applier.poll() is None:
            applier.kill()  # before the end of its input: no COMMIT, the transaction is rolled back
        with contextlib.suppress(BrokenPipeError):
            applier.stdin.close()
        applier.wait()
        if applier.returncode > 0:  # psql stopped at an error of its own
            raise _nothing_restored("psql", applying_errors)
        if reader.returncode != 0:
            raise _nothing_restored("pg_restore", reading_errors)
        if applier.returncode != 0:
            raise _nothing_restored("psql", applying_errors)


def _nothing_restored(tool: str, errors: IO[bytes]) -> BackupError:
    errors.seek(0)
    problem = errors.read().decode(errors="replace")
    return BackupError(f"{tool} failed, nothing was restored: {_first_line(problem)}")


def _postgres_tool(name: str, url: URL, *arguments: str) -> None:
    """Run a PostgreSQL client tool on the database; its error, if any, becomes a BackupError."""
    conninfo, environment = _libpq(url)
    done = subprocess.run(
        [_tool(name), f"--dbname={conninfo}", *arguments],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        raise BackupError(f"{name} failed: {_first_line(done.stderr)}")


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The connection URI without the password, and the environment that carries it (PGPASSWORD)."""
    environment = dict(os.environ)
    if url.password is not None:
        environment["PGPASSWORD"] = str(url.password)
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), environment


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: install the PostgreSQL client tools "
            "(the server's major version or newer), e.g. `apt-get install postgresql-client`"
        )
    return found


# -- shared ----------------------------------------------------------------------------------------


def _url(database_url: str) -> URL:
    driver_url(database_url, asynchronous=False)  # an unsupported database is a DatabaseURLError
    return make_url(database_url)


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _first_line(problem: object) -> str:
    lines = [line.strip() for line in str(problem).splitlines() if line.strip()]
    return " ".join(lines[:3]) if lines else "no message"
