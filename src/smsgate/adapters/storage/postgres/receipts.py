"""Hand-overs, carrier ids, receipts and expiry (the delivery half of ``MessageStore``).

The SQLite store could read a message and then update it, because its writer held the only
write lock. Several processes share this database, so where SQLite relied on that:

- **Receipts lock their messages.** :func:`apply_receipts` reads the unfinished messages it
  names ``FOR UPDATE``, in id order. A second process applying a receipt for the same message
  (a repeat sent to another bind, the expiry sweep) waits, then finds it final and changes
  nothing: a message is made final, refunded and announced (callback, SMPP receipt) once.
- **Early receipts meet their hand-over.** ``keep_pending_receipts`` (a receipt before its
  submit_sm_resp was recorded) and ``mark_submitted`` (the recording) may run at once in two
  processes; each would miss the other's uncommitted row. Before keeping a receipt under a key,
  the writer *probes* the key with an ``INSERT ... ON CONFLICT DO NOTHING`` into
  ``message_carrier_ids`` (taken back at once in the same transaction): a unique index makes an
  insert wait for another transaction's uncommitted insert of the same key. So either the
  probe waits for the hand-over's commit and then finds its message, or the hand-over's insert
  waits for the kept receipt's commit and then finds the receipt. Neither can miss the other,
  as the SQLite writer's single order guaranteed, at no cost to ``mark_submitted``.
- **Owed SMPP receipts are claimed**, like callbacks (``callbacks.py``): a bind's backlog read
  takes a lease on the rows it returns (``FOR UPDATE SKIP LOCKED``), so binds of the same
  account on two processes never both send one. The hot path (a receipt handed to the
  process's own binds as it is applied) takes no lease: a backlog read elsewhere in that
  instant may send it too, which SMPP clients de-duplicate by message id.
"""

# ruff: noqa: S608 -- SQL text is built only from the rows module's constants.

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence
from typing import Any, Final, cast

from smsgate.adapters.storage.common import parse_after_id, parse_id
from smsgate.adapters.storage.postgres.base import DB_NOW, PgParts, many_op
from smsgate.adapters.storage.postgres.rows import (
    M_COLUMNS,
    PENDING_COLUMNS,
    UNFINISHED,
    Row,
    carrier_keys,
    message_from_row,
    pending_from_row,
    pending_rows,
)
from smsgate.domain.carrier_receipts import carrier_key
from smsgate.domain.ids import first_id_at
from smsgate.domain.models import (
    FINAL_STATUSES,
    Accepted,
    Message,
    MessageStatus,
    Receipt,
)
from smsgate.ports.store import PendingReceipt

__all__ = ["Receipts"]

_SELECT_BY_CARRIER_IDS: Final = (
    f"SELECT c.carrier_id, {M_COLUMNS} FROM message_carrier_ids c "
    "JOIN messages m ON m.id = c.message_id "
    "WHERE c.connector = $1 AND c.carrier_id = ANY($2::text[])"
)
# A (re)recorded id has had no receipt yet: the UPSERT resets its state.
_RECORD_CARRIER_ID: Final = (
    "INSERT INTO message_carrier_ids (connector, carrier_id, message_id) VALUES ($1, $2, $3) "
    "ON CONFLICT (connector, carrier_id) DO UPDATE SET message_id = excluded.message_id, "
    "state = NULL"
)
_RECORD_SUBMITTED_ID: Final = (
    "INSERT INTO message_carrier_ids (connector, carrier_id, message_id) "
    f"SELECT $1, $2, id FROM messages WHERE id = $3 AND status IN {UNFINISHED} "
    "ON CONFLICT (connector, carrier_id) DO UPDATE SET message_id = excluded.message_id, "
    "state = NULL"
)
_MARK_SUBMITTED: Final = (
    "UPDATE messages SET status = 'submitted', send_date = $1, connector = $2, "
    f"carrier_ids = COALESCE($3::text[], carrier_ids) WHERE id = $4 AND status IN {UNFINISHED}"
)
_P_COLUMNS: Final = ", ".join("p." + c.strip() for c in PENDING_COLUMNS.split(","))
# Receipts kept under (connector, key, message id) triples whose key now names that message.
_SELECT_PENDING_FOR: Final = (
    f"SELECT c.message_id, {_P_COLUMNS} "
    "FROM unnest($1::text[], $2::text[], $3::bigint[]) AS j (connector, key, mid) "
    "JOIN pending_receipts p ON p.connector = j.connector AND p.carrier_key = j.key "
    "JOIN message_carrier_ids c ON c.connector = p.connector AND c.carrier_id = p.carrier_key "
    "AND c.message_id = j.mid ORDER BY p.connector, p.carrier_key FOR UPDATE OF p"
)
_KEEP_PENDING: Final = (
    f"INSERT INTO pending_receipts ({PENDING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
    "ON CONFLICT (connector, carrier_key) DO UPDATE SET reported_id = excluded.reported_id, "
    "status = excluded.status, error_code = excluded.error_code, "
    "carrier_status = excluded.carrier_status, done_at = excluded.done_at, "
    "refund = excluded.refund, received_at = excluded.received_at"
)
# See the module docstring: waits for another transaction's uncommitted recording of the key.
_PROBE_KEY: Final = (
    "INSERT INTO message_carrier_ids (connector, carrier_id, message_id) VALUES ($1, $2, 0) "
    "ON CONFLICT (connector, carrier_id) DO NOTHING RETURNING true"
)
_UNPROBE_KEY: Final = (
    "DELETE FROM message_carrier_ids WHERE connector = $1 AND carrier_id = $2 AND message_id = 0"
)
_PRUNE_PENDING: Final = (
    "WITH gone AS (DELETE FROM pending_receipts WHERE received_at < $1 "
    "RETURNING connector, reported_id, received_at) "
    "SELECT count(*) FROM (SELECT DISTINCT connector, reported_id, received_at FROM gone) d"
)
# SUBMITTED messages past their own validity, on the partial index messages_expiry_own.
_SELECT_EXPIRED_OWN: Final = (
    "SELECT created_at + validity_period, id FROM messages WHERE status = 'submitted' "
    "AND validity_period IS NOT NULL AND created_at + validity_period <= $1 "
    "ORDER BY created_at + validity_period LIMIT $2"
)
# SUBMITTED messages without one, made before the default validity: ids embed the millisecond
# they were made at, so messages_unfinished up to an id bound holds all of them.
_SELECT_EXPIRED_DEFAULT: Final = (
    f"SELECT created_at, id FROM messages WHERE status IN {UNFINISHED} AND id < $1 "
    "AND status = 'submitted' AND validity_period IS NULL AND created_at <= $2 "
    "ORDER BY id LIMIT $3"
)
#: A message's id may be a little later than its created_at (an id generator that ran ahead).
_ID_AHEAD_S: Final = 3600.0
# A range of the partial index messages_awaiting_receipt: its WHERE must match the index's.
_COUNT_AWAITING_RECEIPT: Final = (
    "SELECT count(*) FROM messages WHERE status = 'submitted' AND connector = $1 "
    "AND send_date <= $2"
)
# An account's owed receipts after an id, claimed for this instance (see the module docstring).
_CLAIM_SMPP_RECEIPTS: Final = (
    "WITH owed AS (SELECT r.account_id, r.message_id FROM smpp_receipts r "
    "WHERE r.account_id = $1 AND r.message_id > $2 "
    f"AND (r.claimed_by IS NULL OR r.claimed_by = $4 OR r.claimed_until <= {DB_NOW}) "
    "ORDER BY r.message_id LIMIT $3 FOR UPDATE SKIP LOCKED), "
    f"claimed AS (UPDATE smpp_receipts r SET claimed_by = $4, claimed_until = {DB_NOW} + $5 "
    "FROM owed WHERE r.account_id = owed.account_id AND r.message_id = owed.message_id "
    "RETURNING r.message_id) "
    f"SELECT {M_COLUMNS} FROM claimed c JOIN messages m ON m.id = c.message_id ORDER BY m.id"
)
_APPLY_RECEIPT: Final = (
    "UPDATE messages SET status = $1, error_code = $2, receive_date = $3, "
    "send_date = COALESCE($4, send_date), connector = COALESCE($5, connector), "
    "carrier_ids = COALESCE($6::text[], carrier_ids), "
    "carrier_status = COALESCE($7, carrier_status) "
    f"WHERE id = $8 AND status IN {UNFINISHED}"
)


class Receipts(PgParts):
    async def mark_submitted(self, outcomes: Sequence[Accepted]) -> list[Message]:
        rows: list[Row] = []
        ids: list[Row] = []
        for o in outcomes:
            mid = parse_id(o.message_id)
            if mid is not None:
                carrier_ids = list(o.carrier_ids) if o.carrier_ids else None
                rows.append((o.submitted_at, o.connector, carrier_ids, mid))
                ids.extend((o.connector, key, mid) for key in carrier_keys(o.carrier_ids))
        if not rows:
            return []
        return await self._write(_mark_submitted, (rows, ids))

    async def find_by_carrier_id(self, connector: str, carrier_message_id: str) -> Message | None:
        found = await self.find_by_carrier_ids(connector, [carrier_message_id])
        return found.get(carrier_message_id)

    async def find_by_carrier_ids(
        self, connector: str, carrier_message_ids: Sequence[str]
    ) -> dict[str, Message]:
        if not carrier_message_ids:
            return {}
        keys = {carrier_id: carrier_key(carrier_id) for carrier_id in carrier_message_ids}
        rows = await self._fetch(_SELECT_BY_CARRIER_IDS, connector, sorted(set(keys.values())))
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
        own = await self._fetch(_SELECT_EXPIRED_OWN, now, limit)
        made_before = now - default_validity_s
        below = int(first_id_at(max(0, math.ceil((made_before + _ID_AHEAD_S) * 1000))))
        default = await self._fetch(_SELECT_EXPIRED_DEFAULT, below, made_before, limit)
        expiring = sorted((at + default_validity_s, mid) for at, mid in default)
        merged = heapq.merge([(row[0], row[1]) for row in own], expiring)
        return [str(mid) for _, mid in itertools.islice(merged, limit)]

    async def count_awaiting_receipt(self, connector: str, sent_until: float) -> int:
        """Through the writer, after the writes this process queued before it (the port's
        contract); other processes' hand-overs count once they are committed."""
        return await self._write(_count_awaiting_receipt, (connector, sent_until))

    async def apply_receipts(self, receipts: Sequence[Receipt]) -> list[Message]:
        for receipt in receipts:
            if receipt.status not in FINAL_STATUSES:
                raise ValueError(f"a receipt must carry a final status, not {receipt.status}")
        parsed = [(mid, r) for r in receipts if (mid := parse_id(r.message_id)) is not None]
        if not parsed:
            return []
        return await self._write(apply_receipts, parsed)

    async def pending_smpp_receipts(
        self, account_id: str, after_id: str | None, limit: int
    ) -> list[Message]:
        after = parse_after_id(after_id)
        if limit <= 0:
            return []
        rows = await self._fetch(
            _CLAIM_SMPP_RECEIPTS, account_id, after, limit, self._claimant, self._claim_s
        )
        return [message_from_row(row) for row in rows]

    async def finish_smpp_receipts(self, account_id: str, message_ids: Sequence[str]) -> None:
        rows = [(account_id, mid) for i in message_ids if (mid := parse_id(i)) is not None]
        if rows:
            sql = "DELETE FROM smpp_receipts WHERE account_id = $1 AND message_id = $2"
            await self._write(many_op, (sql, rows))


# -- the writer's operations (inside the batch's transaction) ----------------------------------


async def _mark_submitted(conn: Any, arg: tuple[list[Row], list[Row]]) -> list[Message]:
    """Final messages are left alone: a fast carrier's receipt may arrive before its submit.
    Their carrier ids are not recorded either. Then the receipts kept for the ids just
    recorded are applied and forgotten. Rows go in id and key order, as every writer locks
    them, so that two processes' writers do not deadlock on them."""
    rows, ids = arg
    await conn.executemany(_MARK_SUBMITTED, sorted(rows, key=lambda row: row[3]))
    if not ids:
        return []
    ids.sort()
    await conn.executemany(_RECORD_SUBMITTED_ID, ids)
    # The usual case costs one probe of an empty table.
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pending_receipts)"):
        return []
    connectors, keys, mids = (list(column) for column in zip(*ids, strict=True))
    receipts: dict[tuple[str, str], tuple[int, Receipt]] = {}
    for row in await conn.fetch(_SELECT_PENDING_FOR, connectors, keys, mids):
        # One receipt applies once, even if two of its keys found two messages.
        receipts.setdefault(
            (row[1], row[3]), (row[0], pending_from_row(row[1:]).receipt(str(row[0]), row[2]))
        )
    if not receipts:
        return []
    await conn.executemany(
        "DELETE FROM pending_receipts WHERE connector = $1 AND reported_id = $2", list(receipts)
    )
    return await apply_receipts(conn, list(receipts.values()))


async def _count_awaiting_receipt(conn: Any, arg: tuple[str, float]) -> int:
    return cast(int, await conn.fetchval(_COUNT_AWAITING_RECEIPT, *arg))


async def _keep_pending_receipts(conn: Any, receipts: list[PendingReceipt]) -> list[Message]:
    """Apply the receipts whose message recorded one of their keys since the caller looked;
    keep the others under each of their keys (the probe: see the module docstring)."""
    matched: list[tuple[int, Receipt]] = []
    rows: list[Row] = []
    for pending in receipts:
        for key in pending.keys:
            if await conn.fetchval(_PROBE_KEY, pending.connector, key):
                await conn.execute(_UNPROBE_KEY, pending.connector, key)
                continue
            mid = await conn.fetchval(
                "SELECT message_id FROM message_carrier_ids "
                "WHERE connector = $1 AND carrier_id = $2",
                pending.connector,
                key,
            )
            if mid:
                matched.append((mid, pending.receipt(str(mid), key)))
                break
        else:
            rows.extend(pending_rows(pending))
    if rows:
        await conn.executemany(_KEEP_PENDING, rows)
    return await apply_receipts(conn, matched) if matched else []


async def _prune_pending_receipts(conn: Any, received_before: float) -> int:
    """One receipt is one (connector, reported id, received_at), whatever its number of keys."""
    return cast(int, await conn.fetchval(_PRUNE_PENDING, received_before))


async def apply_receipts(conn: Any, receipts: list[tuple[int, Receipt]]) -> list[Message]:
    """One locking SELECT finds the messages still unfinished (and their account's callback
    URL); then set-wise statements update them, queue their callbacks and SMPP receipts, record
    the carrier ids the receipts carry and refund. The first receipt that makes a message final
    wins; the others, like receipts for final or unknown messages, are ignored.

    A receipt for one part of a message sent in several parts records that part's state on its
    carrier id row; a DELIVERED part leaves the message waiting until every part has been
    delivered. A callback is first due at the receipt's ``done_at``: the store has no clock of
    its own.
    """
    ids = sorted({mid for mid, _ in receipts})
    found = await conn.fetch(
        f"SELECT {M_COLUMNS}, a.callback_url FROM messages m "
        "LEFT JOIN accounts a ON a.id = m.account_id "
        f"WHERE m.id = ANY($1::bigint[]) AND m.status IN {UNFINISHED} "
        "ORDER BY m.id FOR UPDATE OF m",
        ids,
    )
    pending = {row[0]: row for row in found}
    parts = _Parts(conn)
    changed: list[Message] = []
    updates: list[Row] = []
    callbacks: list[Row] = []
    smpp_receipts: list[Row] = []
    recorded: list[Row] = []
    refunds: dict[str, int] = {}
    for mid, receipt in receipts:
        row = pending.get(mid)
        if row is None:
            continue
        message = message_from_row(row[:-1])
        if receipt.part is not None and await parts.waiting(message, receipt):
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
                recorded.extend((connector, key, mid) for key in carrier_keys(receipt.carrier_ids))
        changed.append(message)
        updates.append(
            (
                receipt.status.value,
                receipt.error_code,
                receipt.done_at,
                receipt.send_date,
                receipt.connector,
                list(receipt.carrier_ids) if receipt.carrier_ids else None,
                receipt.carrier_status,
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
    await parts.save()
    await _record_outcomes(conn, updates, callbacks, smpp_receipts, recorded, refunds)
    return changed


async def _record_outcomes(
    conn: Any,
    updates: list[Row],
    callbacks: list[Row],
    smpp_receipts: list[Row],
    recorded: list[Row],
    refunds: dict[str, int],
) -> None:
    """The writes of :func:`apply_receipts`, one statement (pipelined) per kind."""
    if updates:
        await conn.executemany(_APPLY_RECEIPT, updates)
    if callbacks:
        await conn.executemany(
            "INSERT INTO callbacks (account_id, url, message_id, attempts, next_attempt_at, "
            "state) VALUES ($1, $2, $3, 0, $4, 'pending')",
            callbacks,
        )
    if smpp_receipts:
        await conn.executemany(
            "INSERT INTO smpp_receipts (account_id, message_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING",
            smpp_receipts,
        )
    if recorded:
        await conn.executemany(_RECORD_CARRIER_ID, sorted(recorded))
    # Only messages that changed are refunded: a repeated receipt finds its message final and
    # gives nothing back again. One UPDATE per account, in account order.
    if refunds:
        await conn.executemany(
            "UPDATE balances SET balance_micros = balance_micros + $1 WHERE account_id = $2",
            [(amount, account_id) for account_id, amount in sorted(refunds.items())],
        )


class _Parts:
    """The parts' receipts of the messages sent in several parts that one batch of receipts
    touches: read once per message (under the message's row lock), written back together."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._states: dict[int, dict[str, str | None]] = {}
        self._writes: list[Row] = []

    async def waiting(self, message: Message, receipt: Receipt) -> bool:
        """Record ``receipt`` for its part; True while the message must wait for other parts."""
        keys = carrier_keys(message.carrier_ids)
        connector = message.connector
        if connector is None or len(keys) < 2 or receipt.part not in keys:
            return False
        mid = int(message.id)
        states = self._states.get(mid)
        if states is None:
            rows = await self._conn.fetch(
                "SELECT carrier_id, state FROM message_carrier_ids WHERE connector = $1 "
                "AND carrier_id = ANY($2::text[]) AND message_id = $3",
                connector,
                keys,
                mid,
            )
            states = self._states[mid] = {row[0]: row[1] for row in rows}
        if receipt.part not in states:
            return False  # the id went to a newer message: this one's parts are not known
        states[receipt.part] = receipt.status.value
        self._writes.append((receipt.status.value, connector, receipt.part, mid))
        if receipt.status is not MessageStatus.DELIVERED:
            return False
        return any(state != MessageStatus.DELIVERED.value for state in states.values())

    async def save(self) -> None:
        if self._writes:
            await self._conn.executemany(
                "UPDATE message_carrier_ids SET state = $1 "
                "WHERE connector = $2 AND carrier_id = $3 AND message_id = $4",
                self._writes,
            )
