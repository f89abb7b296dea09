"""What every part of the PostgreSQL store shares: the writer, the read pool, the secret box.

Each protocol module (``accounts``, ``templates``, ``messages``, ``receipts``, ``callbacks``,
``inbound``, ``policy``, ``nonces``) is a class deriving from :class:`PgParts`; ``store.py``
composes them into ``PostgresStore`` and owns the life cycle. Writes go through the
group-commit :class:`~smsgate.adapters.storage.postgres.writer.Writer` (one connection); reads
go to a small pool, so a slow page of records never waits behind a commit, nor the reverse.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar, cast

import asyncpg

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.postgres.writer import Writer, as_store_error
from smsgate.ports.store import StoreError

__all__ = ["DB_NOW", "PgParts"]

_R = TypeVar("_R")

#: The database's clock in unix seconds: claims' leases run on it, whatever clock callers use.
DB_NOW: Final = "extract(epoch FROM clock_timestamp())::float8"


class PgParts:
    """The shared state and plumbing; see the module docstring."""

    _box: SecretBox
    _writer: Writer
    _pool: Any  # asyncpg.Pool while open, None otherwise
    #: Who this store instance is in claims (unique per instance, so per process).
    _claimant: str
    #: How long a claim on due work lasts before another process may take the work over.
    _claim_s: float

    async def _connect(self, name: str, **settings: str) -> Any:
        """A connection of its own (named ``name`` on the server); the store's to make."""
        raise NotImplementedError

    async def _write(self, fn: Callable[[Any, Any], Awaitable[_R]], arg: Any) -> _R:
        """Queue one operation for the writer and wait until its batch is committed."""
        return await self._writer.write(fn, arg)

    def _readers(self) -> Any:
        pool = self._pool
        if pool is None:
            raise StoreError("the store is not open")
        return pool

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        """A query's rows, read on the pool (StoreError for database failures)."""
        pool = self._readers()
        try:
            return cast(list[Any], await pool.fetch(sql, *args))
        except Exception as exc:
            raise as_store_error(exc) from exc

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        pool = self._readers()
        try:
            return await pool.fetchrow(sql, *args)
        except Exception as exc:
            raise as_store_error(exc) from exc

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        pool = self._readers()
        try:
            return await pool.fetchval(sql, *args)
        except Exception as exc:
            raise as_store_error(exc) from exc

    async def _in_snapshot(self, body: Callable[[Any], Awaitable[_R]]) -> _R:
        """``body(conn)`` in one read-only REPEATABLE READ transaction: several queries that
        must agree (a count and its page) see one snapshot."""
        pool = self._readers()
        try:
            async with (
                pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                return await body(conn)
        except asyncpg.PostgresError as exc:
            raise as_store_error(exc) from exc
        except (OSError, asyncpg.InterfaceError) as exc:
            raise as_store_error(exc) from exc


def status_count(status: str) -> int:
    """The row count of a command status such as ``UPDATE 3`` or ``INSERT 0 1``."""
    return int(status.rsplit(" ", 1)[-1])


# -- generic operations for the writer (inside the batch's transaction) -------------------------


async def execute_op(conn: Any, arg: tuple[str, tuple[Any, ...]]) -> None:
    """One statement."""
    sql, params = arg
    await conn.execute(sql, *params)


async def changed_op(conn: Any, arg: tuple[str, tuple[Any, ...]]) -> bool:
    """One statement; True if it changed a row (so setters can say "no such record")."""
    sql, params = arg
    return status_count(await conn.execute(sql, *params)) > 0


async def count_op(conn: Any, arg: tuple[str, tuple[Any, ...]]) -> int:
    """One statement; how many rows it changed."""
    sql, params = arg
    return status_count(await conn.execute(sql, *params))


async def value_op(conn: Any, arg: tuple[str, tuple[Any, ...]]) -> Any:
    """The first column of a statement's first row (e.g. an UPSERT ... RETURNING)."""
    sql, params = arg
    return await conn.fetchval(sql, *params)


async def many_op(conn: Any, arg: tuple[str, list[tuple[Any, ...]]]) -> None:
    """One statement for many rows (asyncpg pipelines them: one round trip)."""
    sql, rows = arg
    if rows:
        await conn.executemany(sql, rows)
