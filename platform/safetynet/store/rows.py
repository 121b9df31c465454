"""Rows straight to the database driver, for the bulk writers (sweep, ingest, bulk load).

SQLAlchemy's Core ``executemany`` processes every parameter of every row in Python; for hundreds of
thousands of rows that costs more than the database's own work. These helpers build the plain SQL once
and hand tuples to the driver's ``executemany``. The values must already be as the columns store them:
:func:`to_db` gives SQLAlchemy's own conversion of a column (e.g. dates to ISO text on SQLite, booleans
to 0/1), for the callers to apply only where a value needs converting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect


def fetch_rows(connection: Connection, statement: Any) -> list[tuple[Any, ...]]:
    """The statement's rows as the driver returns them: plain tuples, without SQLAlchemy's result
    processing (the caller converts what needs converting, e.g. with :func:`from_db`)."""
    result = connection.execute(statement)
    try:
        return result.cursor.fetchall()  # type: ignore[union-attr]
    finally:
        result.close()


def marker(dialect: Dialect) -> str:
    """The driver's positional parameter marker: ``?`` (sqlite3) or ``%s`` (psycopg)."""
    return "?" if dialect.paramstyle == "qmark" else "%s"


def insert_sql(table: Table, columns: Sequence[str], dialect: Dialect, suffix: str = "") -> str:
    """``INSERT INTO table (columns) VALUES (?, …)`` followed by ``suffix`` (e.g. ``ON CONFLICT …``)."""
    values = ", ".join([marker(dialect)] * len(columns))
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({values}){suffix}"


def update_sql(table: Table, columns: Sequence[str], keys: Sequence[str], dialect: Dialect) -> str:
    """``UPDATE table SET column = ?, … WHERE key = ? AND …`` (parameters: the columns, then the keys)."""
    mark = marker(dialect)
    assignments = ", ".join(f"{c} = {mark}" for c in columns)
    where = " AND ".join(f"{k} = {mark}" for k in keys)
    return f"UPDATE {table.name} SET {assignments} WHERE {where}"


def execute_many(connection: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> int:
    """Run ``sql`` once per row through the driver's ``executemany``; returns the rows changed."""
    if not rows:
        return 0
    return connection.exec_driver_sql(sql, rows).rowcount  # type: ignore[arg-type]


def to_db(table: Table, column: str, dialect: Dialect) -> Callable[[Any], Any]:
    """How SQLAlchemy converts a Python value of ``table.column`` for this database (identity if not)."""
    convert = table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    return convert or _same


def from_db(table: Table, column: str, dialect: Dialect) -> Callable[[Any], Any]:
    """How SQLAlchemy converts a value of ``table.column`` as the driver returns it (identity if not)."""
    convert = table.c[column].type.dialect_impl(dialect).result_processor(dialect, None)
    return convert or _same


def _same(value: Any) -> Any:
    return value
