"""MO (inbound) messages: parts of long ones until whole, the messages, and their deliveries.

MO messages touch none of the tables of outgoing messages (``schema.py`` creates theirs):

- ``mo_parts`` holds the parts of long MO messages until their group is whole. Each part is
  stored before the SMSC is answered, so a part taken is never lost to a crash; the group's
  parts are removed in the transaction that stores their message, so a last part delivered
  twice stores it once.
- ``mo_messages`` numbers messages with AUTOINCREMENT: a ``sequence_id`` is never given twice.
- ``mo_pushes`` (HTTP SmsUp pushes, like ``callbacks``) and ``smpp_mo`` (deliver_sm owed to
  SMPP binds, like ``smpp_receipts``) are queued in the transaction that stores the message.
"""

# ruff: noqa: S608 -- SQL text is built only from this module's constants.

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Final, cast

from smsgate.adapters.storage.sqlite.base import StoreBase
from smsgate.adapters.storage.sqlite.sql import (
    Row,
    execute_count,
    execute_many,
    fetch_all,
    fetch_one,
)
from smsgate.domain.inbound import InboundMessage
from smsgate.ports.store import CallbackRetry, InboundPart, InboundPushJob

__all__ = ["InboundMixin"]

_COLUMNS: Final = (
    "sequence_id, account_id, source, destination, dest_code, text, received_at, connector"
)
_M_COLUMNS: Final = ", ".join("m." + c.strip() for c in _COLUMNS.split(","))
_PART_COLUMNS: Final = (
    "connector, source, destination, reference, total, number, data_coding, received_at, body"
)
_GROUP: Final = "connector = ? AND source = ? AND destination = ? AND reference = ? AND total = ?"
_DUE_PUSHES: Final = (
    f"SELECT p.id, p.account_id, p.url, p.attempts, {_M_COLUMNS} FROM mo_pushes p "
    "JOIN mo_messages m ON m.sequence_id = p.sequence_id "
    "WHERE p.state = 'pending' AND p.next_attempt_at <= ? "
    "ORDER BY p.next_attempt_at, p.id LIMIT ?"
)
_NEXT_PUSH: Final = (
    "SELECT p.next_attempt_at FROM mo_pushes p "
    "JOIN mo_messages m ON m.sequence_id = p.sequence_id "
    "WHERE p.state = 'pending' ORDER BY p.next_attempt_at LIMIT 1"
)
_FINISH_PUSH: Final = "DELETE FROM mo_pushes WHERE id = ?"
_RETRY_PUSH: Final = (
    "UPDATE mo_pushes SET attempts = ?, next_attempt_at = ?, last_error = ?, state = ? WHERE id = ?"
)
_PENDING_SMPP: Final = (
    f"SELECT {_M_COLUMNS} FROM smpp_mo s JOIN mo_messages m ON m.sequence_id = s.sequence_id "
    "WHERE s.account_id = ? AND s.sequence_id > ? ORDER BY s.sequence_id LIMIT ?"
)
_FINISH_SMPP: Final = "DELETE FROM smpp_mo WHERE account_id = ? AND sequence_id = ?"
_LIST: Final = (
    f"SELECT {_M_COLUMNS} FROM mo_messages m WHERE m.account_id = ? "
    "ORDER BY m.sequence_id DESC LIMIT ?"
)
_PRUNE_PARTS: Final = "DELETE FROM mo_parts WHERE received_at < ?"


class InboundMixin(StoreBase):
    """The InboundStore port: MO messages, their parts and deliveries."""

    async def add_inbound_part(self, part: InboundPart) -> list[InboundPart] | None:
        return await self._write(_add_part, _part_row(part))

    async def store_inbound(
        self, message: InboundMessage, *, completes: InboundPart | None = None, smpp: bool = False
    ) -> InboundMessage | None:
        group = None if completes is None else completes.group
        return await self._write(_store_message, (message, group, smpp))

    async def due_inbound_pushes(self, now: float, limit: int) -> list[InboundPushJob]:
        if limit <= 0:
            return []
        rows = await self._read(fetch_all, _DUE_PUSHES, (now, limit))
        return [_push_from_row(row) for row in rows]

    async def next_inbound_push_due(self) -> float | None:
        row = await self._read(fetch_one, _NEXT_PUSH, ())
        return None if row is None else cast(float, row[0])

    async def finish_inbound_pushes(self, ids: Sequence[int]) -> None:
        if ids:
            await self._write(execute_many, (_FINISH_PUSH, [(i,) for i in ids]))

    async def retry_inbound_pushes(self, retries: Sequence[CallbackRetry]) -> None:
        if retries:
            rows = [
                (r.attempts, r.next_attempt_at, r.last_error, "dead" if r.dead else "pending", r.id)
                for r in retries
            ]
            await self._write(execute_many, (_RETRY_PUSH, rows))

    async def pending_smpp_inbound(
        self, account_id: str, after_sequence_id: int | None, limit: int
    ) -> list[InboundMessage]:
        if limit <= 0:
            return []
        after = -1 if after_sequence_id is None else after_sequence_id
        rows = await self._read(fetch_all, _PENDING_SMPP, (account_id, after, limit))
        return [_inbound_from_row(row) for row in rows]

    async def finish_smpp_inbound(self, account_id: str, sequence_ids: Sequence[int]) -> None:
        if sequence_ids:
            rows = [(account_id, i) for i in sequence_ids]
            await self._write(execute_many, (_FINISH_SMPP, rows))

    async def list_inbound(self, account_id: str, limit: int) -> list[InboundMessage]:
        if limit <= 0:
            return []
        rows = await self._read(fetch_all, _LIST, (account_id, limit))
        return [_inbound_from_row(row) for row in rows]

    async def prune_inbound_parts(self, received_before: float) -> int:
        return await self._write(execute_count, (_PRUNE_PARTS, (received_before,)))


# -- rows <-> records -------------------------------------------------------------------------


def _part_row(part: InboundPart) -> Row:
    return (
        part.connector,
        part.source,
        part.destination,
        part.reference,
        part.total,
        part.number,
        part.data_coding,
        part.received_at,
        part.body,
    )


def _part_from_row(row: Row) -> InboundPart:
    return InboundPart(
        connector=row[0],
        source=row[1],
        destination=row[2],
        reference=row[3],
        total=row[4],
        number=row[5],
        data_coding=row[6],
        received_at=row[7],
        body=bytes(row[8]),
    )


def _inbound_from_row(row: Row) -> InboundMessage:
    return InboundMessage(
        sequence_id=row[0],
        account_id=row[1],
        source=row[2],
        destination=row[3],
        dest_code=row[4],
        text=row[5],
        received_at=row[6],
        connector=row[7],
    )


def _push_from_row(row: Row) -> InboundPushJob:
    return InboundPushJob(
        id=row[0],
        account_id=row[1],
        url=row[2],
        attempts=row[3],
        message=_inbound_from_row(row[4:]),
    )


# -- the writer's operations (writer thread, inside the batch's transaction) -------------------


def _add_part(conn: sqlite3.Connection, row: Row) -> list[InboundPart] | None:
    """Keep the part (the first of a number counts); the group's parts once it is whole."""
    conn.execute(
        f"INSERT OR IGNORE INTO mo_parts ({_PART_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row
    )
    parts = conn.execute(
        f"SELECT {_PART_COLUMNS} FROM mo_parts WHERE {_GROUP} ORDER BY number", row[:5]
    ).fetchall()
    if len(parts) < row[4]:
        return None
    return [_part_from_row(part) for part in parts]


def _store_message(
    conn: sqlite3.Connection, arg: tuple[InboundMessage, Row | None, bool]
) -> InboundMessage | None:
    """Remove the group's parts (nothing stored if they are gone), store the message, queue
    its push (the account's URL as it is now) and its SMPP delivery."""
    message, group, smpp = arg
    if (
        group is not None
        and conn.execute(f"DELETE FROM mo_parts WHERE {_GROUP}", group).rowcount == 0
    ):
        return None
    sequence_id: int = conn.execute(
        "INSERT INTO mo_messages (account_id, source, destination, dest_code, text, received_at, "
        "connector) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING sequence_id",
        (
            message.account_id,
            message.source,
            message.destination,
            message.dest_code,
            message.text,
            message.received_at,
            message.connector,
        ),
    ).fetchall()[0][0]
    conn.execute(
        "INSERT INTO mo_pushes (account_id, url, sequence_id, next_attempt_at, state) "
        "SELECT id, callback_url, ?, ?, 'pending' FROM accounts "
        "WHERE id = ? AND callback_url IS NOT NULL",
        (sequence_id, message.received_at, message.account_id),
    )
    if smpp:
        conn.execute(
            "INSERT INTO smpp_mo (account_id, sequence_id) VALUES (?, ?)",
            (message.account_id, sequence_id),
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
