"""Database engines: a synchronous one for the CLI, migrations and bulk work, an async one for the API.

``SAFETYNET_DATABASE_URL`` is given once, in its plain form (``sqlite:///safetynet.db`` or
``postgresql://user@host/db``); the drivers are chosen here. SQLite runs in WAL mode with foreign keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

_DRIVERS = {  # backend → (sync driver, async driver)
    "sqlite": ("pysqlite", "aiosqlite"),
    "postgresql": ("psycopg", "asyncpg"),
}


class DatabaseURLError(ValueError):
    pass


def driver_url(url: str, *, asynchronous: bool) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise DatabaseURLError(
            f"SAFETYNET_DATABASE_URL '{parsed.render_as_string(hide_password=True)}' is not supported: "
            "use sqlite:///FILE or postgresql://USER@HOST/DB"
        )
    sync_driver, async_driver = _DRIVERS[backend]
    return parsed.set(
        drivername=f"{backend}+{async_driver if asynchronous else sync_driver}"
    ).render_as_string(hide_password=False)


MMAP_BYTES = 2**30


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Read the first MMAP_BYTES of the file through a memory map rather than a read call per page: the
    # sweep's reading and the ingest's random lookups in the identity-hash index take a third less
    # time at a million households. Mapped pages are the OS page cache, shared, but count in a
    # process's resident set (see docs/benchmarks.md). Writes still go through the log.
    cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    cursor.close()


class Database:
    """The two engines and their session factories for one database URL."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.backend = make_url(url).get_backend_name()
        self.engine: Engine = create_engine(driver_url(url, asynchronous=False), echo=echo)
        self.async_engine: AsyncEngine = create_async_engine(driver_url(url, asynchronous=True), echo=echo)
        if self.backend == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.async_engine.sync_engine, "connect", _sqlite_pragmas)
        self.session: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        self.async_session: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.async_engine, expire_on_commit=False
        )

    def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction on the sync engine: committed on success, rolled back on error."""
        with self.session.begin() as session:
            return work(session)

    async def dispose(self) -> None:
        await self.async_engine.dispose()
        self.engine.dispose()


@contextmanager
def references_checked_by_caller(database: Database) -> Iterator[Callable[[Callable[[Session], T]], T]]:
    """A ``run`` like :meth:`Database.run`, for a bulk writer (the ingest, the sweep) whose every
    reference was read in the same transaction from rows the platform never deletes (households,
    members): on SQLite, its transactions run on one connection with the foreign-key checks off,
    which would only look those rows up again (two B-tree searches per row written, a third of the
    ingest's insert); then the checks are on again. PostgreSQL checks as always.
    """
    if database.backend != "sqlite":
        yield database.run
        return
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # (outside any transaction, or a no-op)
        connection.commit()

        def run(work: Callable[[Session], T]) -> T:
            with Session(bind=connection, expire_on_commit=False) as session, session.begin():
                return work(session)

        try:
            yield run
        finally:
            connection.rollback()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
