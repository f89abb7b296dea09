"""Generic statements on either connection, and how database failures reach callers.

Reads run these on the reader thread, writes queue them for the writer thread; ``as_store_error``
and ``rollback`` serve the writer and the schema's migrations alike.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any, cast

from smsgate.ports.store import StoreError

__all__ = [
    "Row",
    "as_store_error",
    "execute_count",
    "execute_many",
    "execute_one",
    "fetch_all",
    "fetch_one",
    "fetch_value",
    "rollback",
]

Row = tuple[Any, ...]


def fetch_one(conn: sqlite3.Connection, sql: str, params: Row) -> Row | None:
    """fetchall, never a half-read cursor: an unfinished statement would pin an old snapshot."""
    rows = conn.execute(sql, params).fetchall()
    return cast(Row, rows[0]) if rows else None


def fetch_all(conn: sqlite3.Connection, sql: str, params: Row) -> list[Row]:
    return conn.execute(sql, params).fetchall()


def execute_one(conn: sqlite3.Connection, arg: tuple[str, Row]) -> bool:
    """One statement; True if it changed a row (so setters can say "no such record")."""
    sql, params = arg
    return conn.execute(sql, params).rowcount > 0


def execute_count(conn: sqlite3.Connection, arg: tuple[str, Row]) -> int:
    """One statement; how many rows it changed."""
    sql, params = arg
    return conn.execute(sql, params).rowcount


def fetch_value(conn: sqlite3.Connection, arg: tuple[str, Row]) -> Any:
    """The first column of a statement's only row (e.g. an UPSERT ... RETURNING)."""
    sql, params = arg
    return conn.execute(sql, params).fetchall()[0][0]


def execute_many(conn: sqlite3.Connection, arg: tuple[str, list[Row]]) -> None:
    sql, rows = arg
    conn.executemany(sql, rows)


def as_store_error(exc: BaseException) -> BaseException:
    """Database failures become StoreError; domain errors (ValueError...) pass through."""
    if isinstance(exc, sqlite3.Error):
        error = StoreError(f"{type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error
    return exc


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
            conn.execute("ROLLBACK")
