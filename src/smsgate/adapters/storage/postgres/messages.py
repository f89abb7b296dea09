"""Outgoing messages (the accept path and the records half of ``MessageStore``) in PostgreSQL.

The accept path is the hot path: every API request and every SMPP submit awaits
``accept_messages([one], price)`` before it answers. Why it is shaped this way:

- **No transaction per message.** Accepts are operations of the group-commit writer; adjacent
  inserts, accepts and nonces are given to :func:`run_message_ops` together, which charges them
  in a handful of statements and inserts every row of the run with one binary COPY.
- **Exact money across processes.** The balances of the run's accounts are read
  ``FOR UPDATE``, in account order (so two processes' writers never lock them in opposite
  orders), after the run's rows are in (so the locks are held only through the charge and the
  COMMIT), and the accepts are decided against them in Python in batch order. The row locks
  make that exact while several processes charge the same account: another writer waits for
  this commit and then sees the balance it left. One guarded UPDATE per account takes the run's
  total (``balance >= charge``, and the table's CHECK under it); the charge and the rows commit
  together or not at all. SQLite could read its balances without a lock because its writer
  held the database's only write lock; here that lock is the balance row's.
- **Never charged twice.** Message ids are primary keys: a retried commit (see ``writer.py``)
  or a repeated request that re-inserts a stored message fails on its id, and the op-by-op
  re-run undoes that accept's charge with its savepoint.
"""

# ruff: noqa: S608 -- SQL text is built only from the rows module's constants.

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, cast

from smsgate.adapters.storage.common import (
    accepting_account,
    first_id_of_page,
    id_window,
    parse_after_id,
    parse_id,
)
from smsgate.adapters.storage.postgres.base import PgParts, changed_op, execute_op, status_count
from smsgate.adapters.storage.postgres.nonces import insert_nonce_rows, insert_nonces
from smsgate.adapters.storage.postgres.rows import (
    M_COLUMNS,
    MESSAGE_COLUMN_NAMES,
    MESSAGE_COLUMNS,
    UNFINISHED,
    Row,
    message_from_row,
    message_row,
)
from smsgate.adapters.storage.postgres.writer import GroupFn, WriteFn
from smsgate.domain.models import Message
from smsgate.ports.store import NumberUse, StoreError

__all__ = ["GROUPED", "Messages", "accept_messages", "insert_messages", "run_message_ops"]

_LOCK_BALANCES: Final = (
    "SELECT account_id, balance_micros FROM balances WHERE account_id = ANY($1::text[]) "
    "ORDER BY account_id FOR UPDATE"
)
# One guarded UPDATE for the totals of a run's accounts.
_CHARGE_MANY: Final = (
    "UPDATE balances b SET balance_micros = b.balance_micros - t.charge "
    "FROM unnest($1::text[], $2::bigint[]) AS t (account_id, charge) "
    "WHERE b.account_id = t.account_id AND b.balance_micros >= t.charge"
)
_CHARGE_ONE: Final = (
    "UPDATE balances SET balance_micros = balance_micros - $1 "
    "WHERE account_id = $2 AND balance_micros >= $1"
)
# Per account, a range of messages_account since the id: only the index is read where the
# visibility map allows. Messages of an account that is not in accounts are not counted.
_NUMBERS_SINCE: Final = (
    "SELECT id, account_id, to_number, msg_type, created_at FROM messages "
    "WHERE id >= $1 ORDER BY id LIMIT $2"
)
_COUNT_SINCE: Final = (
    "SELECT a.id, c.n FROM accounts a CROSS JOIN LATERAL "
    "(SELECT count(*) AS n FROM messages m WHERE m.account_id = a.id AND m.id >= $1) c "
    "WHERE c.n > 0"
)
_WINDOW: Final = "FROM messages m WHERE m.account_id = $1 AND m.id BETWEEN $2 AND $3"
_COUNT_WINDOW: Final = f"SELECT count(*) {_WINDOW}"
_COUNT_WINDOW_TO: Final = f"SELECT count(*) {_WINDOW} AND m.to_number = $4"
_PAGE_WINDOW: Final = f"SELECT {M_COLUMNS} {_WINDOW} ORDER BY m.id DESC LIMIT $4 OFFSET $5"
_PAGE_WINDOW_TO: Final = (
    f"SELECT {M_COLUMNS} {_WINDOW} AND m.to_number = $4 ORDER BY m.id DESC LIMIT $5 OFFSET $6"
)
# Pages through the partial index messages_unfinished: its WHERE must match the index's.
SELECT_UNFINISHED: Final = (
    f"SELECT {M_COLUMNS} FROM messages m "
    f"WHERE m.status IN {UNFINISHED} AND m.id > $1 ORDER BY m.id LIMIT $2"
)


class Messages(PgParts):
    async def insert_messages(self, messages: Sequence[Message]) -> None:
        if messages:
            await self._write(insert_messages, [message_row(m) for m in messages])

    async def accept_messages(self, messages: Sequence[Message], charge_micros: int) -> bool:
        account_id = accepting_account(messages, charge_micros)
        rows = [message_row(m) for m in messages]
        return await self._write(accept_messages, (account_id, charge_micros, rows))

    async def query_messages(
        self,
        account_id: str,
        *,
        since: float,
        until: float,
        to: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[Message]]:
        """Ids stand for their creation time: the window becomes an id range of the
        ``messages_account`` index (see ``common.id_window``); the count and the page are read
        in one snapshot, so that they agree."""
        if offset < 0:
            raise ValueError("offset cannot be negative")
        window = id_window(since, until)
        if window is None:
            return 0, []
        limit = max(limit, 0)
        params: list[object] = [account_id, *window]
        if to is None:
            count_sql, page_sql = _COUNT_WINDOW, _PAGE_WINDOW
        else:
            count_sql, page_sql = _COUNT_WINDOW_TO, _PAGE_WINDOW_TO
            params.append(to)

        async def read(conn: Any) -> tuple[int, list[Any]]:
            total = cast(int, await conn.fetchval(count_sql, *params))
            rows: list[Any] = []
            if limit and offset < total:
                rows = await conn.fetch(page_sql, *params, limit, offset)
            return total, rows

        total, rows = await self._in_snapshot(read)
        return total, [message_from_row(row) for row in rows]

    async def numbers_since(
        self, since_id: str, after_id: str | None, limit: int
    ) -> list[NumberUse]:
        floor = first_id_of_page(since_id, after_id)
        rows = await self._fetch(_NUMBERS_SINCE, floor, limit)
        return [NumberUse(str(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    async def count_messages_since(self, since_id: str) -> dict[str, int]:
        since = parse_id(since_id)
        if since is None:
            raise ValueError(f"not a message id: {since_id!r}")
        rows = await self._fetch(_COUNT_SINCE, since)
        return {row[0]: row[1] for row in rows}

    async def get_message(self, account_id: str, message_id: str) -> Message | None:
        mid = parse_id(message_id)
        if mid is None:
            return None
        row = await self._fetchrow(
            f"SELECT {M_COLUMNS} FROM messages m WHERE m.id = $1 AND m.account_id = $2",
            mid,
            account_id,
        )
        return None if row is None else message_from_row(row)

    async def cancel_message(self, account_id: str, message_id: str, at: float) -> Message | None:
        mid = parse_id(message_id)
        if mid is None:
            return None
        return await self._write(_cancel_message, (account_id, mid, at))

    async def list_messages(self, account_id: str, limit: int) -> list[Message]:
        if limit <= 0:
            return []
        rows = await self._fetch(
            f"SELECT {M_COLUMNS} FROM messages m WHERE m.account_id = $1 "
            "ORDER BY m.id DESC LIMIT $2",
            account_id,
            limit,
        )
        return [message_from_row(row) for row in rows]

    async def last_message_id(self) -> str | None:
        """The highest id of all nodes: a node's generator continues after it, which keeps its
        own ids unique (they carry its node id) and never reissues one of its own."""
        value = await self._fetchval("SELECT max(id) FROM messages")
        return None if value is None else str(value)

    async def unfinished_messages(self, after_id: str | None, limit: int) -> list[Message]:
        after = parse_after_id(after_id)
        if limit <= 0:
            return []
        rows = await self._fetch(SELECT_UNFINISHED, after, limit)
        return [message_from_row(row) for row in rows]

    async def record_conversion(
        self, account_id: str, message_id: str, converted: bool, at: float
    ) -> bool:
        mid = parse_id(message_id)
        if mid is None:
            return False
        sql = (
            "UPDATE messages SET converted = $1, conversion_time = $2 "
            "WHERE id = $3 AND account_id = $4"
        )
        return await self._write(changed_op, (sql, (converted, at, mid, account_id)))

    async def add_conversion_data(self, account_id: str, rate: float, report_time: float) -> None:
        sql = "INSERT INTO conversion_data (account_id, rate, report_time) VALUES ($1, $2, $3)"
        await self._write(execute_op, (sql, (account_id, rate, report_time)))


# -- the writer's operations (inside the batch's transaction) ----------------------------------


async def copy_messages(conn: Any, rows: Sequence[Row]) -> None:
    """Binary COPY: the cheapest way into a table (a duplicate id fails the whole COPY, and the
    writer then re-runs the batch op by op to find whose it was)."""
    if rows:
        await conn.copy_records_to_table("messages", records=rows, columns=MESSAGE_COLUMN_NAMES)


async def insert_messages(conn: Any, rows: list[Row]) -> None:
    await copy_messages(conn, rows)


_Accept = tuple[str, int, list[Row]]  # account id, charge, message rows


async def accept_messages(conn: Any, arg: _Accept) -> bool:
    """One accept on its own (the op-by-op re-run; :func:`run_message_ops` does runs of them):
    one guarded UPDATE takes the charge, then the rows are inserted.

    An account that cannot pay (or does not exist) is an answer, not an error: False, without
    raising, so the rest of the batch is neither rolled back nor re-run. A free accept only
    checks that the account exists, without writing to it."""
    account_id, charge, rows = arg
    if charge == 0:
        if not await conn.fetchval("SELECT 1 FROM balances WHERE account_id = $1", account_id):
            return False
    elif status_count(await conn.execute(_CHARGE_ONE, charge, account_id)) == 0:
        return False
    await copy_messages(conn, rows)
    return True


async def run_message_ops(conn: Any, ops: list[tuple[WriteFn, Any]]) -> list[object]:
    """A run of adjacent insert, accept and nonce ops, set-wise; one value per op.

    The outcome is that of running the ops one by one in their order (charges touch only
    balances, inserts only messages, nonces only nonces). Every row of the run is inserted
    first, with one COPY; only then are the run's balances read and locked, the accepts decided
    against them in order, each account's total taken with one guarded UPDATE, and the rows of
    refused accepts (rare: an account that cannot pay) deleted again. Taking the row locks last
    keeps them only through the charge and the COMMIT: other processes charging the same
    account wait for less than a whole batch. A row of a refused accept that shares an id with
    a later op fails the COPY, and the writer re-runs the batch op by op, where it is exact."""
    rows: list[Row] = []
    nonces: list[Row] = []
    accounts: set[str] = set()
    for fn, arg in ops:
        if fn is insert_messages:
            rows.extend(arg)
        elif fn is insert_nonces:
            nonces.extend(arg)
        else:
            accounts.add(arg[0])
            rows.extend(arg[2])
    await copy_messages(conn, rows)
    await insert_nonce_rows(conn, nonces)
    balances: dict[str, int] = {}
    if accounts:
        balances = {row[0]: row[1] for row in await conn.fetch(_LOCK_BALANCES, sorted(accounts))}
    taken: dict[str, int] = {}
    refused: list[int] = []
    values: list[object] = []
    for fn, arg in ops:
        if fn is not accept_messages:
            values.append(None)
            continue
        account_id, charge, accept_rows = arg
        balance = balances.get(account_id)
        if balance is None or balance < charge:
            values.append(False)
            refused.extend(row[0] for row in accept_rows)
            continue
        balances[account_id] = balance - charge
        taken[account_id] = taken.get(account_id, 0) + charge
        values.append(True)
    charges = [(account_id, total) for account_id, total in taken.items() if total]
    if charges:
        ids, totals = zip(*charges, strict=True)
        changed = status_count(await conn.execute(_CHARGE_MANY, list(ids), list(totals)))
        if changed != len(charges):  # cannot happen under the row locks: re-run op by op
            raise StoreError("a balance changed under the writer's lock")
    if refused:
        await conn.execute("DELETE FROM messages WHERE id = ANY($1::bigint[])", refused)
    return values


#: The writer's group runner for each operation it runs set-wise.
GROUPED: Final[dict[WriteFn, GroupFn]] = {
    insert_messages: run_message_ops,
    accept_messages: run_message_ops,
    insert_nonces: run_message_ops,
}


async def _cancel_message(conn: Any, arg: tuple[str, int, float]) -> Message | None:
    """Only an ACCEPTED message (not yet with a carrier) can be cancelled; its refund is in the
    same transaction, so a message is refunded at most once."""
    account_id, mid, at = arg
    row = await conn.fetchrow(
        "UPDATE messages SET status = 'cancelled', receive_date = $1 "
        f"WHERE id = $2 AND account_id = $3 AND status = 'accepted' RETURNING {MESSAGE_COLUMNS}",
        at,
        mid,
        account_id,
    )
    if row is None:
        return None
    message = message_from_row(row)
    if message.price_micros:
        await conn.execute(
            "UPDATE balances SET balance_micros = balance_micros + $1 WHERE account_id = $2",
            message.price_micros,
            account_id,
        )
    return message
