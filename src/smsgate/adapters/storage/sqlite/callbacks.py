"""The queue of receipt callbacks (HTTP pushes of delivery reports) and its retries.

Callbacks are queued by ``receipts.py``, in the transaction that applies their receipt.
"""

# ruff: noqa: S608 -- SQL text is built only from this module's constants (column lists); every
# value goes through a ? parameter.

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Final, cast

from smsgate.adapters.storage.sqlite.base import StoreBase
from smsgate.adapters.storage.sqlite.rows import M_COLUMNS, message_from_row
from smsgate.adapters.storage.sqlite.sql import execute_many, fetch_one
from smsgate.ports.store import CallbackJob, CallbackRetry

__all__ = ["CallbacksMixin"]

_SELECT_DUE_CALLBACKS: Final = (
    f"SELECT c.id, c.account_id, c.url, c.attempts, {M_COLUMNS} FROM callbacks c "
    "JOIN messages m ON m.id = c.message_id "
    "WHERE c.state = 'pending' AND c.next_attempt_at <= ? "
    "ORDER BY c.next_attempt_at, c.id LIMIT ?"
)
# The same join as due_callbacks, so that a callback whose message is gone cannot announce a due
# time that due_callbacks would never honour (a busy loop in the notifier); ORDER BY + LIMIT 1
# walks the callbacks_due index and stops at the first hit, where MIN() over a join would not.
_SELECT_NEXT_CALLBACK: Final = (
    "SELECT c.next_attempt_at FROM callbacks c JOIN messages m ON m.id = c.message_id "
    "WHERE c.state = 'pending' ORDER BY c.next_attempt_at LIMIT 1"
)


class CallbacksMixin(StoreBase):
    """The CallbackStore port: the queue of receipt callbacks to push."""

    async def due_callbacks(self, now: float, limit: int) -> list[CallbackJob]:
        if limit <= 0:
            return []
        return await self._read(_due_callbacks, now, limit)

    async def next_callback_due(self) -> float | None:
        row = await self._read(fetch_one, _SELECT_NEXT_CALLBACK, ())
        return None if row is None else cast(float, row[0])

    async def finish_callbacks(self, ids: Sequence[int]) -> None:
        if ids:
            sql = "DELETE FROM callbacks WHERE id = ?"
            await self._write(execute_many, (sql, [(i,) for i in ids]))

    async def retry_callbacks(self, retries: Sequence[CallbackRetry]) -> None:
        if retries:
            sql = (
                "UPDATE callbacks SET attempts = ?, next_attempt_at = ?, last_error = ?, "
                "state = ? WHERE id = ?"
            )
            rows = [
                (r.attempts, r.next_attempt_at, r.last_error, "dead" if r.dead else "pending", r.id)
                for r in retries
            ]
            await self._write(execute_many, (sql, rows))


def _due_callbacks(conn: sqlite3.Connection, now: float, limit: int) -> list[CallbackJob]:
    rows = conn.execute(_SELECT_DUE_CALLBACKS, (now, limit)).fetchall()
    return [
        CallbackJob(
            id=row[0],
            account_id=row[1],
            url=row[2],
            message=message_from_row(row[4:]),
            attempts=row[3],
        )
        for row in rows
    ]
