"""Signature nonces of the replay window (``ports.replay.NonceStore``) in PostgreSQL.

``remember_nonce`` is not a coroutine: it queues the write at once, so that the message the
same request accepts afterwards rides in the same commit (or a later one), and awaiting that
message means the nonce is durable too. The nonces of one event-loop iteration share one
operation and one future (one op per request cost ~9% of the HTTP hot path in the SQLite
store); they join the writer's queue at the end of the iteration or just before the next write
is queued, whichever comes first. The writer's group runner for accepts (``messages.py``)
inserts them set-wise with the messages.

The pairs are keyed by expiry first, so a page of live nonces is a range of the primary key and
pruning deletes its start.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from smsgate.adapters.storage.postgres.base import PgParts, count_op
from smsgate.adapters.storage.postgres.rows import Row
from smsgate.ports.replay import StoredNonce
from smsgate.ports.store import StoreError

__all__ = ["INSERT_NONCES", "Nonces", "insert_nonces"]

#: Repeats of a pair (in one statement, or already kept) are kept once.
INSERT_NONCES: Final = (
    "INSERT INTO nonces (expires_at, access_key_id, nonce) "
    "SELECT * FROM unnest($1::float8[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING"
)
_SELECT: Final = (
    "SELECT expires_at, access_key_id, nonce FROM nonces WHERE expires_at > $1 "
    "ORDER BY expires_at, access_key_id, nonce LIMIT $2"
)
# The next page seeks on expires_at >= the last one's as well as on the row value, so the
# planner has a plain index bound to start from.
_SELECT_AFTER: Final = (
    "SELECT expires_at, access_key_id, nonce FROM nonces "
    "WHERE expires_at >= $1 AND (expires_at, access_key_id, nonce) > ($1, $2, $3) "
    "ORDER BY expires_at, access_key_id, nonce LIMIT $4"
)


class Nonces(PgParts):
    #: Nonces remembered during this loop iteration, and the future they share.
    _nonces: tuple[list[Row], asyncio.Future[None]] | None = None

    def remember_nonce(
        self, access_key_id: str, nonce: str, expires_at: float
    ) -> asyncio.Future[None]:
        """Committed with, or before, any write queued after this call (see NonceStore)."""
        if not self._writer.is_open:
            raise StoreError("the store is not open")
        pending = self._nonces
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = self._nonces = ([], loop.create_future())
            loop.call_soon(self._queue_nonces)
        pending[0].append((expires_at, access_key_id, nonce))
        return pending[1]

    def _queue_nonces(self) -> None:
        """Hand the iteration's nonces to the writer (also called by the writer's
        ``before_queue`` hook, so that they precede the write being queued)."""
        pending, self._nonces = self._nonces, None
        if pending is None:
            return
        if self._writer.is_open:
            self._writer.submit_future(insert_nonces, pending[0], pending[1])
        elif not pending[1].done():
            pending[1].set_exception(StoreError("the store is not open"))

    async def live_nonces(
        self, now: float, after: StoredNonce | None, limit: int
    ) -> list[StoredNonce]:
        if limit <= 0:
            return []
        if after is None or after.expires_at <= now:
            rows = await self._fetch(_SELECT, now, limit)
        else:
            rows = await self._fetch(
                _SELECT_AFTER, after.expires_at, after.access_key_id, after.nonce, limit
            )
        return [StoredNonce(key_id, nonce, expires_at) for expires_at, key_id, nonce in rows]

    async def prune_nonces(self, now: float) -> int:
        return await self._write(count_op, ("DELETE FROM nonces WHERE expires_at <= $1", (now,)))


async def insert_nonces(conn: Any, rows: list[Row]) -> None:
    """The writer's operation (and part of the accepts' group run in ``messages.py``)."""
    await insert_nonce_rows(conn, rows)


async def insert_nonce_rows(conn: Any, rows: list[Row]) -> None:
    if rows:
        columns = list(zip(*rows, strict=True))
        await conn.execute(INSERT_NONCES, *columns)
