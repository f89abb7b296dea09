"""MO (inbound) messages (``InboundStore``) in PostgreSQL.

As in the SQLite store: ``mo_parts`` holds the parts of long MO messages until their group is
whole (each part stored before the SMSC is answered), ``mo_messages`` numbers messages with an
identity (a ``sequence_id`` is never given twice), and ``mo_pushes`` / ``smpp_mo`` are queued in
the transaction that stores the message. Where SQLite's single writer was relied on:

- **A group's parts meet in one process at a time.** Two parts of one message may arrive on
  two processes at once; each would see only its own part and neither would find the group
  whole. :func:`_add_part` takes a transaction-scoped advisory lock on the group first (this is
  a rare path: long MO messages), so the second waits for the first's commit and sees both.
- **A last part delivered twice stores the message once**: ``store_inbound`` deletes the
  group's parts; a second process's DELETE waits on the first's and then finds nothing.
- **Pushes and SMPP deliveries are claimed** like receipt callbacks (``callbacks.py``).
  ``sequence_id`` grows in the order ids are drawn, which across processes is not quite the
  order of commits: a bind's backlog read that pages "after" an id could pass one committed
  late; the process that stored it hands it to its own binds directly.
"""

# ruff: noqa: S608 -- SQL text is built only from the rows module's constants.

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, cast

from smsgate.adapters.storage.postgres.base import (
    DB_NOW,
    PgParts,
    count_op,
    execute_op,
    many_op,
)
from smsgate.adapters.storage.postgres.callbacks import MO_PUSHES, by_due, retry_rows
from smsgate.adapters.storage.postgres.rows import (
    MO_COLUMNS,
    PART_COLUMNS,
    Row,
    mo_from_row,
    part_from_row,
    part_row,
    push_from_row,
)
from smsgate.domain.inbound import InboundMessage
from smsgate.ports.store import CallbackRetry, InboundPart, InboundPushJob

__all__ = ["Inbound"]

_GROUP: Final = (
    "connector = $1 AND source = $2 AND destination = $3 AND reference = $4 AND total = $5"
)
_LOCK_GROUP: Final = (
    "SELECT pg_advisory_xact_lock(hashtextextended($1 || '|' || $2 || '|' || $3 || '|' "
    "|| $4::int4::text || '|' || $5::int4::text, 7))"
)
_CLAIM_SMPP: Final = (
    "WITH owed AS (SELECT s.account_id, s.sequence_id FROM smpp_mo s "
    "WHERE s.account_id = $1 AND s.sequence_id > $2 "
    f"AND (s.claimed_by IS NULL OR s.claimed_by = $4 OR s.claimed_until <= {DB_NOW}) "
    "ORDER BY s.sequence_id LIMIT $3 FOR UPDATE SKIP LOCKED), "
    f"claimed AS (UPDATE smpp_mo s SET claimed_by = $4, claimed_until = {DB_NOW} + $5 "
    "FROM owed WHERE s.account_id = owed.account_id AND s.sequence_id = owed.sequence_id "
    "RETURNING s.sequence_id) "
    f"SELECT {MO_COLUMNS} FROM claimed c JOIN mo_messages m ON m.sequence_id = c.sequence_id "
    "ORDER BY m.sequence_id"
)
_LIST: Final = (
    f"SELECT {MO_COLUMNS} FROM mo_messages m WHERE m.account_id = $1 "
    "ORDER BY m.sequence_id DESC LIMIT $2"
)


class Inbound(PgParts):
    async def add_inbound_part(self, part: InboundPart) -> list[InboundPart] | None:
        return await self._write(_add_part, part_row(part))

    async def store_inbound(
        self, message: InboundMessage, *, completes: InboundPart | None = None, smpp: bool = False
    ) -> InboundMessage | None:
        group = None if completes is None else completes.group
        return await self._write(_store_message, (message, group, smpp))

    async def due_inbound_pushes(self, now: float, limit: int) -> list[InboundPushJob]:
        if limit <= 0:
            return []
        rows = await self._fetch(MO_PUSHES.claim, now, limit, self._claimant, self._claim_s)
        return [push_from_row((*row[:4], *row[5:])) for row in by_due(rows)]

    async def next_inbound_push_due(self) -> float | None:
        return cast(float | None, await self._fetchval(MO_PUSHES.next_due, self._claimant))

    async def finish_inbound_pushes(self, ids: Sequence[int]) -> None:
        if ids:
            await self._write(execute_op, (MO_PUSHES.finish, (list(ids),)))

    async def retry_inbound_pushes(self, retries: Sequence[CallbackRetry]) -> None:
        if retries:
            await self._write(many_op, (MO_PUSHES.retry, retry_rows(retries)))

    async def pending_smpp_inbound(
        self, account_id: str, after_sequence_id: int | None, limit: int
    ) -> list[InboundMessage]:
        if limit <= 0:
            return []
        after = -1 if after_sequence_id is None else after_sequence_id
        rows = await self._fetch(
            _CLAIM_SMPP, account_id, after, limit, self._claimant, self._claim_s
        )
        return [mo_from_row(row) for row in rows]

    async def finish_smpp_inbound(self, account_id: str, sequence_ids: Sequence[int]) -> None:
        if sequence_ids:
            sql = "DELETE FROM smpp_mo WHERE account_id = $1 AND sequence_id = $2"
            await self._write(many_op, (sql, [(account_id, i) for i in sequence_ids]))

    async def list_inbound(self, account_id: str, limit: int) -> list[InboundMessage]:
        if limit <= 0:
            return []
        rows = await self._fetch(_LIST, account_id, limit)
        return [mo_from_row(row) for row in rows]

    async def prune_inbound_parts(self, received_before: float) -> int:
        sql = "DELETE FROM mo_parts WHERE received_at < $1"
        return await self._write(count_op, (sql, (received_before,)))


# -- the writer's operations (inside the batch's transaction) ----------------------------------


async def _add_part(conn: Any, row: Row) -> list[InboundPart] | None:
    """Keep the part (the first of a number counts); the group's parts once it is whole."""
    group = row[:5]
    await conn.execute(_LOCK_GROUP, *group)
    await conn.execute(
        f"INSERT INTO mo_parts ({PART_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        "ON CONFLICT DO NOTHING",
        *row,
    )
    parts = await conn.fetch(
        f"SELECT {PART_COLUMNS} FROM mo_parts WHERE {_GROUP} ORDER BY number", *group
    )
    if len(parts) < row[4]:
        return None
    return [part_from_row(part) for part in parts]


async def _store_message(
    conn: Any, arg: tuple[InboundMessage, tuple[str, str, str, int, int] | None, bool]
) -> InboundMessage | None:
    """Remove the group's parts (nothing stored if they are gone), store the message, queue
    its push (the account's URL as it is now) and its SMPP delivery."""
    message, group, smpp = arg
    if group is not None:
        status = await conn.execute(f"DELETE FROM mo_parts WHERE {_GROUP}", *group)
        if status == "DELETE 0":
            return None
    sequence_id = await conn.fetchval(
        "INSERT INTO mo_messages (account_id, source, destination, dest_code, text, received_at, "
        "connector) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING sequence_id",
        message.account_id,
        message.source,
        message.destination,
        message.dest_code,
        message.text,
        message.received_at,
        message.connector,
    )
    await conn.execute(
        "INSERT INTO mo_pushes (account_id, url, sequence_id, next_attempt_at, state) "
        "SELECT id, callback_url, $1, $2, 'pending' FROM accounts "
        "WHERE id = $3 AND callback_url IS NOT NULL",
        sequence_id,
        message.received_at,
        message.account_id,
    )
    if smpp:
        await conn.execute(
            "INSERT INTO smpp_mo (account_id, sequence_id) VALUES ($1, $2)",
            message.account_id,
            sequence_id,
        )
    return InboundMessage(
        sequence_id,
        message.account_id,
        message.source,
        message.destination,
        message.dest_code,
        message.text,
        message.received_at,
        message.connector,
    )
