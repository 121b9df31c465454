"""SQLite's write-ahead log during bulk writes: checkpoints in a thread of their own.

In WAL mode the connection whose commit takes the log past 1,000 pages copies the log into the database
file and syncs it, there and then. A bulk writer (the sweep, the bulk load) commits large transactions
one after another, and would wait for that copy and sync at every commit. :func:`checkpoints_aside`
turns those automatic checkpoints off for the engine's connections and runs passive checkpoints from a
thread instead, which overlap the writer's work; the log stays about one transaction long.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url

from .db import Database

CHECKPOINT_SECONDS = 0.25  # how often the thread copies the log into the database file
AUTOCHECKPOINT_PAGES = 1000  # SQLite's default, restored afterwards


@contextmanager
def checkpoints_aside(database: Database, connection: Connection | None = None) -> Iterator[None]:
    """On SQLite, copy the write-ahead log into the database file from a thread of its own while
    ``connection`` writes (or, without one, every connection checked out of the engine meanwhile, for a
    process that does nothing else meanwhile); sqlite3 lets the other threads run during a checkpoint.

    Start the thread after any fork (a forked child would inherit it mid-step).
    """
    path = make_url(database.url).database
    if database.backend != "sqlite" or not path or path == ":memory:":
        yield
        return

    def no_autocheckpoint(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint = 0")

    def default_autocheckpoint(dbapi_connection: Any, *_: Any) -> None:
        if dbapi_connection is not None:  # (None: the connection was invalidated)
            dbapi_connection.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")

    stop = threading.Event()

    def checkpoint() -> None:
        with closing(sqlite3.connect(path, timeout=30)) as checkpointer:
            while not stop.wait(CHECKPOINT_SECONDS):
                try:
                    checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.OperationalError:  # busy: the next round copies it
                    continue

    if connection is not None:
        no_autocheckpoint(connection.connection.dbapi_connection)
    else:
        event.listen(database.engine, "checkout", no_autocheckpoint)
        event.listen(database.engine, "checkin", default_autocheckpoint)
    thread = threading.Thread(target=checkpoint, name="safetynet-checkpoint", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if connection is not None:
            default_autocheckpoint(connection.connection.dbapi_connection)
        else:
            event.remove(database.engine, "checkout", no_autocheckpoint)
            event.remove(database.engine, "checkin", default_autocheckpoint)


def checkpoint_all(connection: Connection) -> None:
    """On SQLite, copy the whole write-ahead log into the database file and empty it, after a bulk
    write (the passive checkpoints of :func:`checkpoints_aside` may lag behind by gigabytes): readers
    then find every page in the file, through its memory map, rather than in the log."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
