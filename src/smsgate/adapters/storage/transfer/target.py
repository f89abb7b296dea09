"""Moving an embedded installation's database into PostgreSQL: one transaction, then verified.

How, and why so:

- **All or nothing.** Everything happens in one PostgreSQL transaction: the schema's pending
  migrations, the copy of every table, the identities' new starts and the verification. A
  failure anywhere, a verification that finds a difference among them, rolls all of it back:
  the database is as it was, and the move can simply be run again.
- **Into an empty database only.** Merging two installations' records could give one id to
  two messages or keys; the move refuses (:class:`TargetNotEmptyError`) a database whose tables
  hold any row, after locking them (``EXCLUSIVE``: readers go on, no process can write them
  until the move commits). The migrations' advisory lock is held to the end too, so a server
  starting on the database meanwhile waits at its migrations rather than writing beside the
  move.
- **Fast.** Each table is one ``COPY`` (asyncpg's ``copy_records_to_table``, binary) fed by a
  stream of pages off the SQLite cursor: a table of millions of messages never sits in memory,
  and rows cross as COPY data rather than one INSERT each. The client is the bottleneck (11-15
  us of CPU a message with its carrier ids in ``bench/migrate_copy.py``: reading SQLite rows
  into Python objects is the largest part, asyncpg's encoding of them the next, text[] costly
  among it); PostgreSQL keeps its indexes up on its own core meanwhile. Dropping the secondary
  indexes for the copy and building them afterwards was tried and measured no faster
  (1,000,000 messages, five runs each on a busy 2-core machine: median 65,000 messages/s
  against 72,000 with the indexes kept).
- **Identities past every id given.** See :mod:`.tables`: ``setval`` after the copy, to the
  highest of the ids copied and SQLite's AUTOINCREMENT counter.
"""

# ruff: noqa: S608 -- SQL text is built only from the plan's table and column names (tables.py);
# values go through parameters.

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from smsgate.adapters.storage.postgres.schema import apply_migrations
from smsgate.adapters.storage.transfer.source import SqliteSource
from smsgate.adapters.storage.transfer.tables import TABLES, Row, TableCopy
from smsgate.adapters.storage.transfer.verify import Verification, source_summary, verify
from smsgate.ports.store import StoreError

__all__ = ["MoveResult", "Progress", "TargetNotEmptyError", "VerificationError", "move"]

#: Called after each page copied: (table, rows of it copied so far, rows it has).
Progress = Callable[[str, int, int], None]

PAGE_ROWS: Final = 5_000
_LOCK_TIMEOUT_MS: Final = 10_000
_CONNECT_TIMEOUT_S: Final = 10.0


class TargetNotEmptyError(Exception):
    """The PostgreSQL database already holds records (named in the message)."""

    def __init__(self, tables: list[str]) -> None:
        self.tables = tables
        super().__init__(
            f"the PostgreSQL database already holds records ({', '.join(tables)}): a move goes "
            "into an empty database only; create a new one (CREATE DATABASE ...) and move into it"
        )


class VerificationError(Exception):
    """The copy differs from the source; the transaction was rolled back."""

    def __init__(self, verification: Verification) -> None:
        self.verification = verification
        super().__init__("; ".join(verification.mismatches))


@dataclass(frozen=True, slots=True)
class MoveResult:
    applied: list[str]  # migrations applied on the way
    copied: dict[str, int]  # rows copied per table
    copy_s: float  # seconds spent copying rows
    total_s: float  # seconds from connecting to COMMIT
    verification: Verification


async def move(
    source: SqliteSource,
    url: str,
    *,
    now: float | None = None,
    page_rows: int = PAGE_ROWS,
    progress: Progress | None = None,
    tables: tuple[TableCopy, ...] = TABLES,
) -> MoveResult:
    """Copy the open ``source`` into the PostgreSQL database at ``url`` and verify the copy.

    ``now`` (default: the wall clock) decides which nonces are still live. Raises
    :class:`TargetNotEmptyError`, :class:`VerificationError`, or StoreError when PostgreSQL cannot
    be reached or refuses a statement; in every case nothing was committed."""
    now = time.time() if now is None else now
    expected = source_summary(source, now, tables)
    started = time.perf_counter()
    try:
        conn = await asyncpg.connect(
            url,
            timeout=_CONNECT_TIMEOUT_S,
            server_settings={"application_name": "smsgate-move"},
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        raise StoreError(f"cannot connect to PostgreSQL: {type(exc).__name__}: {exc}") from exc
    try:
        async with conn.transaction():
            await conn.execute(f"SET LOCAL lock_timeout = {_LOCK_TIMEOUT_MS}")
            applied = await apply_migrations(conn)
            await _lock_empty(conn, tables)
            copy_started = time.perf_counter()
            copied: dict[str, int] = {}
            for table in tables:
                copied[table.table] = await _copy(
                    conn, source, table, now, page_rows, expected.rows[table.table], progress
                )
            copy_s = time.perf_counter() - copy_started
            await _advance_identities(conn, source, tables)
            verification = await verify(conn, expected, tables)
            if not verification.ok:
                raise VerificationError(verification)
    except asyncpg.PostgresError as exc:
        raise StoreError(f"the move failed: {type(exc).__name__}: {exc}") from exc
    except (OSError, asyncpg.InterfaceError) as exc:
        raise StoreError(f"lost PostgreSQL: {type(exc).__name__}: {exc}") from exc
    finally:
        await conn.close()
    return MoveResult(applied, copied, copy_s, time.perf_counter() - started, verification)


async def _lock_empty(conn: Any, tables: tuple[TableCopy, ...]) -> None:
    names = [t.table for t in tables]
    await conn.execute(f"LOCK TABLE {', '.join(names)} IN EXCLUSIVE MODE")
    probes = ", ".join(f"EXISTS (SELECT 1 FROM {name})" for name in names)
    row = await conn.fetchrow(f"SELECT {probes}")
    held = [name for i, name in enumerate(names) if row[i]]
    if held:
        raise TargetNotEmptyError(held)


async def _copy(
    conn: Any,
    source: SqliteSource,
    table: TableCopy,
    now: float,
    page_rows: int,
    total: int,
    progress: Progress | None,
) -> int:
    copied = 0

    async def records() -> AsyncIterator[Row]:
        nonlocal copied
        convert = table.convert
        for page in source.pages(table.select, {"now": now}, page_rows):
            if convert is None:
                for row in page:
                    yield row
            else:
                for row in page:
                    yield convert(row)
            copied += len(page)
            if progress is not None:
                progress(table.table, copied, total)

    if total:
        if progress is not None:
            progress(table.table, 0, total)
        try:
            await conn.copy_records_to_table(
                table.table, records=records(), columns=list(table.columns)
            )
        except (TypeError, ValueError, asyncpg.DataError) as exc:
            # A value of a type the column does not take (asyncpg's encoders raise these).
            raise StoreError(f"copying {table.table}: {type(exc).__name__}: {exc}") from exc
    return copied


async def _advance_identities(
    conn: Any, source: SqliteSource, tables: tuple[TableCopy, ...]
) -> None:
    for table in tables:
        if table.identity is None:
            continue
        sequence = await conn.fetchval(
            "SELECT pg_get_serial_sequence($1, $2)", table.table, table.identity
        )
        copied = await conn.fetchval(f"SELECT max({table.identity}) FROM {table.table}")
        top = max(copied or 0, source.sequence(table.source))
        # setval(seq, n, true): the next id is n + 1; (seq, 1, false): the next is 1.
        await conn.execute("SELECT setval($1, $2, $3)", sequence, max(top, 1), top > 0)
