"""Messages from their hand-over to a carrier on: carrier ids, receipts, expiry.

A submit's outcome records the carrier's ids (one per part); a receipt names one of them and
finishes its message (a long one once every part is delivered), queues its callback and its SMPP
receipt, and refunds a failure. A receipt that comes before its submit's outcome is kept until
``mark_submitted`` records the id. SUBMITTED messages past their validity expire.
"""

# ruff: noqa: S608 -- SQL text is built only from the modules' constants (column lists, status
# sets); every value goes through a ? parameter.

from __future__ import annotations

import heapq
import itertools
import json
import math
import sqlite3
from collections.abc import Sequence
from typing import Final

from smsgate.adapters.storage.common import parse_after_id, parse_id
from smsgate.adapters.storage.sqlite.base import StoreBase
from smsgate.adapters.storage.sqlite.rows import (
    M_COLUMNS,
    UNFINISHED,
    carrier_keys,
    ids_json,
    message_from_row,
    or_null,
)
from smsgate.adapters.storage.sqlite.sql import Row, execute_many, fetch_all, fetch_one
from smsgate.domain.carrier_receipts import carrier_key
from smsgate.domain.ids import first_id_at
from smsgate.domain.models import FINAL_STATUSES, Accepted, Message, MessageStatus, Receipt
from smsgate.ports.store import PendingReceipt

__all__ = ["ReceiptsMixin"]

# One seek on the message_carrier_ids primary key, then the message by its id.
_SELECT_BY_CARRIER_ID: Final = (
    f"SELECT {M_COLUMNS} FROM message_carrier_ids c JOIN messages m ON m.id = c.message_id "
    "WHERE c.connector = ? AND c.carrier_id = ?"
)
# The same for a JSON array of keys: one seek per key.
_SELECT_BY_CARRIER_IDS: Final = (
    f"SELECT c.carrier_id, {M_COLUMNS} FROM message_carrier_ids c "
    "JOIN messages m ON m.id = c.message_id "
    "WHERE c.connector = ? AND c.carrier_id IN (SELECT value FROM json_each(?))"
)
# A (re)recorded id has had no receipt yet: REPLACE resets its state.
_INSERT_CARRIER_ID: Final = (
    "INSERT OR REPLACE INTO message_carrier_ids (connector, carrier_id, message_id) "
    "VALUES (?, ?, ?)"
)
# The receipts each part of a message has had (keys in a JSON array).
_SELECT_PART_STATES: Final = (
    "SELECT carrier_id, state FROM message_carrier_ids WHERE connector = ? "
    "AND carrier_id IN (SELECT value FROM json_each(?)) AND message_id = ?"
)
_PENDING_COLUMNS: Final = (
    "connector, carrier_key, reported_id, status, error_code, carrier_status, done_at, refund, "
    "received_at"
)
_INSERT_PENDING: Final = (
    f"INSERT OR REPLACE INTO pending_receipts ({_PENDING_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# Receipts kept under the keys of a JSON array of [connector, key, message id] that now name
# that message.
_SELECT_PENDING_FOR: Final = (
    f"SELECT c.message_id, {', '.join('p.' + c.strip() for c in _PENDING_COLUMNS.split(','))} "
    "FROM json_each(?) j JOIN pending_receipts p "
    "ON p.connector = json_extract(j.value, '$[0]') "
    "AND p.carrier_key = json_extract(j.value, '$[1]') "
    "JOIN message_carrier_ids c ON c.connector = p.connector AND c.carrier_id = p.carrier_key "
    "AND c.message_id = json_extract(j.value, '$[2]')"
)
# SUBMITTED messages past their own validity, on the partial index messages_expiry_own in
# expiry order: only the due ones are read.
_SELECT_EXPIRED_OWN: Final = (
    "SELECT created_at + validity_period, id FROM messages WHERE status = 'submitted' "
    "AND validity_period IS NOT NULL AND created_at + validity_period <= ? "
    "ORDER BY created_at + validity_period LIMIT ?"
)
# A range of the partial index messages_awaiting_receipt: its WHERE must match the index's.
_COUNT_AWAITING_RECEIPT: Final = (
    "SELECT COUNT(*) FROM messages WHERE status = 'submitted' AND connector = ? AND send_date <= ?"
)
# SUBMITTED messages without one, made before the default validity: ids embed the millisecond
# they were made at, so the oldest unfinished messages (messages_unfinished, in id order) up to
# an id bound are the only ones read.
_SELECT_EXPIRED_DEFAULT: Final = (
    f"SELECT created_at, id FROM messages WHERE status IN {UNFINISHED} AND id < ? "
    "AND status = 'submitted' AND validity_period IS NULL AND created_at <= ? ORDER BY id LIMIT ?"
)
#: A message's id may be a little later than its created_at (an id generator that ran ahead):
#: the id bound of the default expiry reaches this far past it.
_ID_AHEAD_S: Final = 3600.0
# Walks the smpp_receipts primary key (account, id) and joins each message by its id.
_SELECT_SMPP_RECEIPTS: Final = (
    f"SELECT {M_COLUMNS} FROM smpp_receipts r JOIN messages m ON m.id = r.message_id "
    "WHERE r.account_id = ? AND r.message_id > ? ORDER BY r.message_id LIMIT ?"
)


class ReceiptsMixin(StoreBase):
    """The MessageStore port from the hand-over to a carrier on: carrier ids, receipts, expiry."""

    async def mark_submitted(self, outcomes: Sequence[Accepted]) -> list[Message]:
        rows: list[Row] = []
        ids: list[Row] = []
        for o in outcomes:
            mid = parse_id(o.message_id)
            if mid is not None:
                rows.append((o.submitted_at, o.connector, ids_json(o.carrier_ids), mid))
                ids.extend((o.connector, key, mid) for key in carrier_keys(o.carrier_ids))
        if not rows:
            return []
        return await self._write(_mark_submitted, (rows, ids))

    async def find_by_carrier_id(self, connector: str, carrier_message_id: str) -> Message | None:
        key = carrier_key(carrier_message_id)
        row = await self._read(fetch_one, _SELECT_BY_CARRIER_ID, (connector, key))
        return None if row is None else message_from_row(row)

    async def find_by_carrier_ids(
        self, connector: str, carrier_message_ids: Sequence[str]
    ) -> dict[str, Message]:
        if not carrier_message_ids:
            return {}
        keys = {carrier_id: carrier_key(carrier_id) for carrier_id in carrier_message_ids}
        params = (connector, json.dumps(sorted(set(keys.values()))))
        rows = await self._read(fetch_all, _SELECT_BY_CARRIER_IDS, params)
        by_key = {row[0]: message_from_row(row[1:]) for row in rows}
        return {cid: by_key[key] for cid, key in keys.items() if key in by_key}

    async def keep_pending_receipts(self, receipts: Sequence[PendingReceipt]) -> list[Message]:
        if any(not r.keys for r in receipts):
            raise ValueError("a pending receipt needs at least one key")
        if not receipts:
            return []
        return await self._write(_keep_pending_receipts, list(receipts))

    async def prune_pending_receipts(self, received_before: float) -> int:
        return await self._write(_prune_pending_receipts, received_before)

    async def submitted_past_expiry(
        self, now: float, default_validity_s: float, limit: int
    ) -> list[str]:
        if limit <= 0:
            return []
        own = await self._read(fetch_all, _SELECT_EXPIRED_OWN, (now, limit))
        made_before = now - default_validity_s
        below = int(first_id_at(max(0, math.ceil((made_before + _ID_AHEAD_S) * 1000))))
        default = await self._read(fetch_all, _SELECT_EXPIRED_DEFAULT, (below, made_before, limit))
        expiring = sorted((at + default_validity_s, mid) for at, mid in default)
        merged = heapq.merge(own, expiring)
        return [str(mid) for _, mid in itertools.islice(merged, limit)]

    async def count_awaiting_receipt(self, connector: str, sent_until: float) -> int:
        # Through the writer, after the writes queued before it (the port's contract).
        return await self._write(_count_awaiting_receipt, (connector, sent_until))

    async def apply_receipts(self, receipts: Sequence[Receipt]) -> list[Message]:
        for receipt in receipts:
            if receipt.status not in FINAL_STATUSES:
                raise ValueError(f"a receipt must carry a final status, not {receipt.status}")
        parsed = [(mid, r) for r in receipts if (mid := parse_id(r.message_id)) is not None]
        if not parsed:
            return []
        return await self._write(_apply_receipts, parsed)

    async def pending_smpp_receipts(
        self, account_id: str, after_id: str | None, limit: int
    ) -> list[Message]:
        after = parse_after_id(after_id)
        if limit <= 0:
            return []
        rows = await self._read(fetch_all, _SELECT_SMPP_RECEIPTS, (account_id, after, limit))
        return [message_from_row(row) for row in rows]

    async def finish_smpp_receipts(self, account_id: str, message_ids: Sequence[str]) -> None:
        rows = [(account_id, mid) for i in message_ids if (mid := parse_id(i)) is not None]
        if rows:
            sql = "DELETE FROM smpp_receipts WHERE account_id = ? AND message_id = ?"
            await self._write(execute_many, (sql, rows))


# -- write operations (writer thread, inside the batch's transaction) -------------------------


def _mark_submitted(conn: sqlite3.Connection, arg: tuple[list[Row], list[Row]]) -> list[Message]:
    """Final messages are left alone: a fast carrier's receipt may arrive before its submit.
    Their carrier ids are not recorded either (the SELECT finds no unfinished message). Then
    the receipts kept for the ids just recorded are applied and forgotten."""
    rows, ids = arg
    conn.executemany(
        "UPDATE messages SET status = 'submitted', send_date = ?, connector = ?, "
        "carrier_ids = COALESCE(?, carrier_ids) "
        f"WHERE id = ? AND status IN {UNFINISHED}",
        rows,
    )
    conn.executemany(
        "INSERT OR REPLACE INTO message_carrier_ids (connector, carrier_id, message_id) "
        f"SELECT ?, ?, id FROM messages WHERE id = ? AND status IN {UNFINISHED}",
        ids,
    )
    # The usual case costs one probe of an empty table.
    if not ids or not conn.execute("SELECT 1 FROM pending_receipts LIMIT 1").fetchall():
        return []
    receipts: dict[tuple[str, str], tuple[int, Receipt]] = {}
    for row in conn.execute(_SELECT_PENDING_FOR, (json.dumps(ids),)).fetchall():
        # One receipt applies once, even if two of its keys found two messages.
        receipts.setdefault(
            (row[1], row[3]), (row[0], _pending_from_row(row[1:]).receipt(str(row[0]), row[2]))
        )
    conn.executemany(
        "DELETE FROM pending_receipts WHERE connector = ? AND reported_id = ?", list(receipts)
    )
    return _apply_receipts(conn, list(receipts.values())) if receipts else []


def _count_awaiting_receipt(conn: sqlite3.Connection, arg: tuple[str, float]) -> int:
    row = conn.execute(_COUNT_AWAITING_RECEIPT, arg).fetchone()
    return 0 if row is None else int(row[0])


def _keep_pending_receipts(
    conn: sqlite3.Connection, receipts: list[PendingReceipt]
) -> list[Message]:
    """Apply the receipts whose message recorded one of their keys since the caller looked;
    keep the others under each of their keys."""
    matched: list[tuple[int, Receipt]] = []
    rows: list[Row] = []
    for pending in receipts:
        for key in pending.keys:
            found = conn.execute(
                "SELECT message_id FROM message_carrier_ids WHERE connector = ? AND carrier_id = ?",
                (pending.connector, key),
            ).fetchall()
            if found:
                mid = found[0][0]
                matched.append((mid, pending.receipt(str(mid), key)))
                break
        else:
            rows.extend(_pending_rows(pending))
    conn.executemany(_INSERT_PENDING, rows)
    return _apply_receipts(conn, matched) if matched else []


def _prune_pending_receipts(conn: sqlite3.Connection, received_before: float) -> int:
    """One receipt is one (connector, reported id, received_at), whatever its number of keys."""
    count: int = conn.execute(
        "SELECT COUNT(*) FROM (SELECT DISTINCT connector, reported_id, received_at "
        "FROM pending_receipts WHERE received_at < ?)",
        (received_before,),
    ).fetchall()[0][0]
    conn.execute("DELETE FROM pending_receipts WHERE received_at < ?", (received_before,))
    return count


def _apply_receipts(conn: sqlite3.Connection, receipts: list[tuple[int, Receipt]]) -> list[Message]:
    """One SELECT finds the messages still unfinished (and their account's callback URL); one
    executemany updates them, one queues their callbacks and one records the carrier ids the
    receipts carry. The first receipt that makes a message final wins; the others, like receipts
    for final or unknown messages, are ignored.

    A receipt for one part of a message sent in several parts records that part's state on its
    carrier id row; a DELIVERED part leaves the message waiting until every part has been
    delivered (the parts' states are read only for such messages, one query each).

    A callback is first due at the receipt's ``done_at``: the store has no clock of its own.
    """
    ids = json.dumps(sorted({mid for mid, _ in receipts}))
    found = conn.execute(
        f"SELECT {M_COLUMNS}, a.callback_url FROM messages m "
        "LEFT JOIN accounts a ON a.id = m.account_id "
        f"WHERE m.id IN (SELECT value FROM json_each(?)) AND m.status IN {UNFINISHED}",
        (ids,),
    ).fetchall()
    pending = {row[0]: row for row in found}
    parts = _Parts(conn)
    changed: list[Message] = []
    updates: list[Row] = []
    callbacks: list[Row] = []
    smpp_receipts: list[Row] = []
    carrier_ids: list[Row] = []
    refunds: dict[str, int] = {}
    for mid, receipt in receipts:
        row = pending.get(mid)
        if row is None:
            continue
        message = message_from_row(row[:-1])
        if receipt.part is not None and parts.waiting(message, receipt):
            continue
        del pending[mid]
        message.status = receipt.status
        message.error_code = receipt.error_code
        message.receive_date = receipt.done_at
        if receipt.send_date is not None:
            message.send_date = receipt.send_date
        if receipt.connector is not None:
            message.connector = receipt.connector
        if receipt.carrier_status is not None:
            message.carrier_status = receipt.carrier_status
        if receipt.carrier_ids:
            message.carrier_ids = receipt.carrier_ids
            connector = message.connector
            if connector is not None:
                carrier_ids.extend(
                    (connector, key, mid) for key in carrier_keys(receipt.carrier_ids)
                )
        changed.append(message)
        updates.append(
            (
                receipt.status.value,
                receipt.error_code,
                receipt.done_at,
                or_null(receipt.send_date),
                or_null(receipt.connector),
                ids_json(receipt.carrier_ids),
                or_null(receipt.carrier_status),
                mid,
            )
        )
        if row[-1] is not None:
            callbacks.append((message.account_id, row[-1], mid, receipt.done_at))
        if message.wants_smpp_receipt:
            smpp_receipts.append((message.account_id, mid))
        if receipt.refund and message.price_micros:
            account_id = message.account_id
            refunds[account_id] = refunds.get(account_id, 0) + message.price_micros
    parts.save()
    conn.executemany(
        "UPDATE messages SET status = ?, error_code = ?, receive_date = ?, "
        "send_date = COALESCE(?, send_date), connector = COALESCE(?, connector), "
        "carrier_ids = COALESCE(?, carrier_ids), carrier_status = COALESCE(?, carrier_status) "
        f"WHERE id = ? AND status IN {UNFINISHED}",
        updates,
    )
    conn.executemany(
        "INSERT INTO callbacks (account_id, url, message_id, attempts, next_attempt_at, state) "
        "VALUES (?, ?, ?, 0, ?, 'pending')",
        callbacks,
    )
    conn.executemany(
        "INSERT OR IGNORE INTO smpp_receipts (account_id, message_id) VALUES (?, ?)", smpp_receipts
    )
    if carrier_ids:
        conn.executemany(_INSERT_CARRIER_ID, carrier_ids)
    # Only messages that changed above are refunded: a repeated receipt finds its message final
    # and gives nothing back again. One UPDATE per account, however many messages it had.
    conn.executemany(
        "UPDATE accounts SET balance_micros = balance_micros + ? WHERE id = ?",
        [(amount, account_id) for account_id, amount in sorted(refunds.items())],
    )
    return changed


class _Parts:
    """The parts' receipts of the messages sent in several parts that one batch of receipts
    touches: read once per message, written back together (writer thread)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._states: dict[int, dict[str, str | None]] = {}
        self._writes: list[Row] = []

    def waiting(self, message: Message, receipt: Receipt) -> bool:
        """Record ``receipt`` for its part; True while the message must wait for other parts."""
        keys = carrier_keys(message.carrier_ids)
        connector = message.connector
        if connector is None or len(keys) < 2 or receipt.part not in keys:
            return False
        mid = int(message.id)
        states = self._states.get(mid)
        if states is None:
            rows = self._conn.execute(
                _SELECT_PART_STATES, (connector, json.dumps(keys), mid)
            ).fetchall()
            states = self._states[mid] = dict(rows)
        if receipt.part not in states:
            return False  # the id went to a newer message: this one's parts are not known
        states[receipt.part] = receipt.status.value
        self._writes.append((receipt.status.value, connector, receipt.part, mid))
        if receipt.status is not MessageStatus.DELIVERED:
            return False
        return any(state != MessageStatus.DELIVERED.value for state in states.values())

    def save(self) -> None:
        if self._writes:
            self._conn.executemany(
                "UPDATE message_carrier_ids SET state = ? "
                "WHERE connector = ? AND carrier_id = ? AND message_id = ?",
                self._writes,
            )


# -- rows <-> records -------------------------------------------------------------------------


def _pending_rows(p: PendingReceipt) -> list[Row]:
    status, carrier_status = p.status.value, or_null(p.carrier_status)
    return [
        (
            p.connector,
            key,
            p.reported_id,
            status,
            p.error_code,
            carrier_status,
            p.done_at,
            int(p.refund),
            p.received_at,
        )
        for key in p.keys
    ]


def _pending_from_row(row: Row) -> PendingReceipt:
    """A kept receipt as one of its rows holds it (``keys`` is only the row's key)."""
    return PendingReceipt(
        connector=row[0],
        keys=(row[1],),
        reported_id=row[2],
        status=MessageStatus(row[3]),
        error_code=row[4],
        carrier_status=row[5],
        done_at=row[6],
        refund=bool(row[7]),
        received_at=row[8],
    )
