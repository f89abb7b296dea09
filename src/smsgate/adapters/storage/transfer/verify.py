"""Checking a move: the same rows, balances and messages on both sides.

Both sides are summed up by queries of their own, never from what the copy counted, so that a
row the copy dropped, doubled or changed on the way shows: the row count of every table copied,
every account's balance to the micro, every account's messages per status, and every policy
document's version (servers reload policy by version). :func:`verify` compares a source's
:class:`Summary` with the PostgreSQL database as a connection sees it; the move runs it inside
its transaction, before COMMIT, so a move that does not verify leaves nothing behind.
"""

# ruff: noqa: S608 -- SQL text is built only from the plan's table and column names (tables.py);
# values go through parameters.

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from smsgate.adapters.storage.transfer.source import SqliteSource
from smsgate.adapters.storage.transfer.tables import TABLES, TableCopy

__all__ = ["Summary", "Verification", "compare", "source_summary", "target_summary", "verify"]

#: Differences listed at most (one per line); the rest are counted.
MAX_LISTED: Final = 50

_BALANCES_SQLITE: Final = "SELECT id, balance_micros FROM accounts"
_BALANCES_PG: Final = "SELECT account_id, balance_micros FROM balances"
_BY_STATUS: Final = "SELECT account_id, status, count(*) FROM messages GROUP BY account_id, status"
_DOCUMENTS: Final = "SELECT name, version FROM documents"


@dataclass(frozen=True, slots=True)
class Summary:
    """What one side holds, in the terms the verification compares."""

    rows: dict[str, int]  # PostgreSQL table name -> rows (on the SQLite side: rows to copy)
    balances: dict[str, int]  # account id -> micros
    messages: dict[tuple[str, str], int]  # (account id, status) -> messages
    documents: dict[str, int]  # policy document name -> version

    def account_messages(self, account_id: str) -> dict[str, int]:
        return {s: n for (a, s), n in sorted(self.messages.items()) if a == account_id}


@dataclass(frozen=True, slots=True)
class Verification:
    source: Summary
    target: Summary
    #: One line per difference, at most MAX_LISTED of them (then a line counting the rest).
    mismatches: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.mismatches


def source_summary(
    source: SqliteSource, now: float, tables: tuple[TableCopy, ...] = TABLES
) -> Summary:
    """The SQLite side: what the move will copy (``now`` as the move's ``:now``)."""
    params = {"now": now}
    return Summary(
        rows={t.table: int(source.fetch(t.count, params)[0][0]) for t in tables},
        balances=dict(_pairs(source.fetch(_BALANCES_SQLITE))),
        messages={(r[0], r[1]): int(r[2]) for r in source.fetch(_BY_STATUS)},
        documents=dict(_pairs(source.fetch(_DOCUMENTS))),
    )


async def target_summary(conn: Any, tables: tuple[TableCopy, ...] = TABLES) -> Summary:
    """The PostgreSQL side, as the connection (and its transaction, if any) sees it."""
    counts = ", ".join(f"(SELECT count(*) FROM {t.table})" for t in tables)
    row = await conn.fetchrow(f"SELECT {counts}")
    return Summary(
        rows={t.table: int(row[i]) for i, t in enumerate(tables)},
        balances=dict(_pairs(await conn.fetch(_BALANCES_PG))),
        messages={(r[0], r[1]): int(r[2]) for r in await conn.fetch(_BY_STATUS)},
        documents=dict(_pairs(await conn.fetch(_DOCUMENTS))),
    )


async def verify(
    conn: Any, source: Summary, tables: tuple[TableCopy, ...] = TABLES
) -> Verification:
    """``source`` against the PostgreSQL database on ``conn``."""
    return compare(source, await target_summary(conn, tables))


def compare(source: Summary, target: Summary) -> Verification:
    found: list[str] = []
    for table, rows in source.rows.items():
        _differ(found, f"{table}: rows", rows, target.rows.get(table))
    for account_id in sorted(source.balances.keys() | target.balances.keys()):
        _differ(
            found,
            f"account {account_id}: balance in micros",
            source.balances.get(account_id),
            target.balances.get(account_id),
        )
    for account_id, status in sorted(source.messages.keys() | target.messages.keys()):
        _differ(
            found,
            f"account {account_id}: {status} messages",
            source.messages.get((account_id, status), 0),
            target.messages.get((account_id, status), 0),
        )
    for name in sorted(source.documents.keys() | target.documents.keys()):
        _differ(
            found,
            f"policy document {name}: version",
            source.documents.get(name),
            target.documents.get(name),
        )
    if len(found) > MAX_LISTED:
        found[MAX_LISTED:] = [f"... and {len(found) - MAX_LISTED} more differences"]
    return Verification(source, target, tuple(found))


def _differ(found: list[str], what: str, sqlite: int | None, postgresql: int | None) -> None:
    if sqlite != postgresql:
        found.append(f"{what}: {_shown(sqlite)} in SQLite, {_shown(postgresql)} in PostgreSQL")


def _shown(value: int | None) -> str:
    return "none" if value is None else str(value)


def _pairs(rows: Any) -> list[tuple[str, int]]:
    return [(row[0], int(row[1])) for row in rows]
