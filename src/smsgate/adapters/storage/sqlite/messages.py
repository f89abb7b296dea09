"""Messages up to their hand-over to a carrier: inserted or accepted (charged), read, cancelled.

Accepts and inserts are the hot path: the writer runs adjacent ones set-wise
(``writer._run_message_ops``) with this module's ``INSERT_MESSAGE`` and ``CHARGE``, and runs
``accept_message_rows`` op by op only after a failure. ``receipts.py`` takes a message on from
its hand-over.
"""

# ruff: noqa: S608 -- SQL text is built only from the modules' constants (column lists, status
# sets); every value goes through a ? parameter.

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Final, cast

from smsgate.adapters.storage.common import (
    accepting_account,
    first_id_of_page,
    id_window,
    parse_after_id,
    parse_id,
)
from smsgate.adapters.storage.sqlite.base import StoreBase
from smsgate.adapters.storage.sqlite.rows import (
    M_COLUMNS,
    MESSAGE_COLUMNS,
    UNFINISHED,
    message_from_row,
    message_row,
)
from smsgate.adapters.storage.sqlite.sql import Row, execute_one, fetch_all, fetch_one
from smsgate.domain.models import Message
from smsgate.ports.store import NumberUse

__all__ = [
    "CHARGE",
    "INSERT_MESSAGE",
    "MessagesMixin",
    "accept_message_rows",
    "insert_message_rows",
    "read_balance",
]

INSERT_MESSAGE: Final = (
    f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES "
    f"({', '.join(['?'] * len(MESSAGE_COLUMNS.split(',')))})"
)
# One accept op's charge: guarded, so a balance never goes below zero whatever runs beside it.
CHARGE: Final = (
    "UPDATE accounts SET balance_micros = balance_micros - ?1 "
    "WHERE id = ?2 AND balance_micros >= ?1"
)
# Per account, a range of the covering index messages_account (ids grow with time): only index
# entries since the id are read, about 9x faster than a range of the primary key, which reads the
# whole rows (measured: 4 ms against 37 ms to count 100,000 of 1,000,000 messages). Messages of an
# account that is not in accounts are not counted (accept_messages never stores any).
_NUMBERS_SINCE: Final = (
    "SELECT id, account_id, to_number, msg_type, created_at FROM messages "
    "WHERE id >= ? ORDER BY id LIMIT ?"
)
_COUNT_SINCE: Final = (
    "SELECT a.id, (SELECT COUNT(*) FROM messages m WHERE m.account_id = a.id AND m.id >= ?) "
    "FROM accounts a"
)
# An account's messages in an id range (query_messages), on the messages_account index: the count
# reads only the index; the page walks it backwards and skips the offset there too. Only a ``to``
# filter reads the table's rows (the number is not in the index, to keep inserts cheap).
_WINDOW: Final = "FROM messages m WHERE m.account_id = ? AND m.id BETWEEN ? AND ?"
_COUNT_WINDOW: Final = f"SELECT COUNT(*) {_WINDOW}"
_COUNT_WINDOW_TO: Final = f"SELECT COUNT(*) {_WINDOW} AND m.to_number = ?"
_PAGE_WINDOW: Final = f"SELECT {M_COLUMNS} {_WINDOW} ORDER BY m.id DESC LIMIT ? OFFSET ?"
_PAGE_WINDOW_TO: Final = (
    f"SELECT {M_COLUMNS} {_WINDOW} AND m.to_number = ? ORDER BY m.id DESC LIMIT ? OFFSET ?"
)
# Pages through the partial index messages_unfinished: its WHERE must match the index's.
_SELECT_UNFINISHED: Final = (
    f"SELECT {M_COLUMNS} FROM messages m "
    f"WHERE m.status IN {UNFINISHED} AND m.id > ? ORDER BY m.id LIMIT ?"
)


class MessagesMixin(StoreBase):
    """The MessageStore port up to the hand-over to a carrier (receipts.py has the rest)."""

    async def insert_messages(self, messages: Sequence[Message]) -> None:
        if messages:
            await self._write(insert_message_rows, [message_row(m) for m in messages])

    async def accept_messages(self, messages: Sequence[Message], charge_micros: int) -> bool:
        account_id = accepting_account(messages, charge_micros)
        rows = [message_row(m) for m in messages]
        return await self._write(accept_message_rows, (account_id, charge_micros, rows))

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
        """Ids stand for their creation time here: the window becomes an id range, walked on
        the ``messages_account`` index (see ``_id_window``)."""
        if offset < 0:
            raise ValueError("offset cannot be negative")
        window = id_window(since, until)
        if window is None:
            return 0, []
        return await self._read(_query_messages, account_id, window, to, max(limit, 0), offset)

    async def numbers_since(
        self, since_id: str, after_id: str | None, limit: int
    ) -> list[NumberUse]:
        floor = first_id_of_page(since_id, after_id)
        rows = await self._read(fetch_all, _NUMBERS_SINCE, (floor, limit))
        return [NumberUse(str(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    async def count_messages_since(self, since_id: str) -> dict[str, int]:
        since = parse_id(since_id)
        if since is None:
            raise ValueError(f"not a message id: {since_id!r}")
        rows = await self._read(fetch_all, _COUNT_SINCE, (since,))
        return {account_id: count for account_id, count in rows if count}

    async def get_message(self, account_id: str, message_id: str) -> Message | None:
        mid = parse_id(message_id)
        if mid is None:
            return None
        return await self._read(_get_message, mid, account_id)

    async def cancel_message(self, account_id: str, message_id: str, at: float) -> Message | None:
        mid = parse_id(message_id)
        if mid is None:
            return None
        return await self._write(_cancel_message, (account_id, mid, at))

    async def list_messages(self, account_id: str, limit: int) -> list[Message]:
        if limit <= 0:
            return []
        return await self._read(_list_messages, account_id, limit)

    async def last_message_id(self) -> str | None:
        row = await self._read(fetch_one, "SELECT MAX(id) FROM messages", ())
        return None if row is None or row[0] is None else str(row[0])

    async def unfinished_messages(self, after_id: str | None, limit: int) -> list[Message]:
        after = parse_after_id(after_id)
        if limit <= 0:
            return []
        return await self._read(_unfinished_messages, after, limit)

    async def record_conversion(
        self, account_id: str, message_id: str, converted: bool, at: float
    ) -> bool:
        mid = parse_id(message_id)
        if mid is None:
            return False
        sql = (
            "UPDATE messages SET converted = ?, conversion_time = ? WHERE id = ? AND account_id = ?"
        )
        return await self._write(execute_one, (sql, (converted, at, mid, account_id)))

    async def add_conversion_data(self, account_id: str, rate: float, report_time: float) -> None:
        sql = "INSERT INTO conversion_data (account_id, rate, report_time) VALUES (?, ?, ?)"
        await self._write(execute_one, (sql, (account_id, rate, report_time)))


# -- write operations (writer thread, inside the batch's transaction) -------------------------


def insert_message_rows(conn: sqlite3.Connection, rows: list[Row]) -> None:
    conn.executemany(INSERT_MESSAGE, rows)


_Accept = tuple[str, int, list[Row]]  # account id, charge, message rows


def accept_message_rows(conn: sqlite3.Connection, arg: _Accept) -> bool:
    """One accept op on its own (the op-by-op re-run; the fast path does runs of them set-wise
    in ``_run_message_ops``): one guarded UPDATE takes the charge, then the rows are inserted.

    An account that cannot pay (or does not exist) is a normal outcome, not an error: False,
    without raising, so the rest of the batch is neither rolled back nor re-run. A free accept
    only checks that the account exists, without writing to it.
    """
    account_id, charge, rows = arg
    if charge == 0:
        if read_balance(conn, account_id) is None:
            return False
    elif conn.execute(CHARGE, (charge, account_id)).rowcount == 0:
        return False
    conn.executemany(INSERT_MESSAGE, rows)
    return True


def read_balance(conn: sqlite3.Connection, account_id: str) -> int | None:
    rows = conn.execute(
        "SELECT balance_micros FROM accounts WHERE id = ?", (account_id,)
    ).fetchall()
    return cast(int, rows[0][0]) if rows else None


def _cancel_message(conn: sqlite3.Connection, arg: tuple[str, int, float]) -> Message | None:
    """Only an ACCEPTED message (not yet with a carrier) can be cancelled; its refund is in the
    same transaction, so a message is refunded at most once."""
    account_id, mid, at = arg
    row = conn.execute(
        "UPDATE messages SET status = 'cancelled', receive_date = ? "
        f"WHERE id = ? AND account_id = ? AND status = 'accepted' RETURNING {MESSAGE_COLUMNS}",
        (at, mid, account_id),
    ).fetchone()
    if row is None:
        return None
    message = message_from_row(row)
    if message.price_micros:
        conn.execute(
            "UPDATE accounts SET balance_micros = balance_micros + ? WHERE id = ?",
            (message.price_micros, account_id),
        )
    return message


# -- read operations (reader thread) ----------------------------------------------------------


def _get_message(conn: sqlite3.Connection, mid: int, account_id: str) -> Message | None:
    row = fetch_one(
        conn,
        f"SELECT {M_COLUMNS} FROM messages m WHERE m.id = ? AND m.account_id = ?",
        (mid, account_id),
    )
    return None if row is None else message_from_row(row)


def _list_messages(conn: sqlite3.Connection, account_id: str, limit: int) -> list[Message]:
    rows = conn.execute(
        f"SELECT {M_COLUMNS} FROM messages m WHERE m.account_id = ? ORDER BY m.id DESC LIMIT ?",
        (account_id, limit),
    ).fetchall()
    return [message_from_row(row) for row in rows]


def _query_messages(
    conn: sqlite3.Connection,
    account_id: str,
    window: tuple[int, int],
    to: str | None,
    limit: int,
    offset: int,
) -> tuple[int, list[Message]]:
    """The count and the page in one read transaction, so that they agree."""
    params: list[object] = [account_id, *window]
    if to is None:
        count_sql, page_sql = _COUNT_WINDOW, _PAGE_WINDOW
    else:
        count_sql, page_sql = _COUNT_WINDOW_TO, _PAGE_WINDOW_TO
        params.append(to)
    conn.execute("BEGIN")
    try:
        total: int = conn.execute(count_sql, params).fetchall()[0][0]
        rows: list[Row] = []
        if limit and offset < total:
            rows = conn.execute(page_sql, [*params, limit, offset]).fetchall()
    finally:
        conn.execute("COMMIT")
    return total, [message_from_row(row) for row in rows]


def _unfinished_messages(conn: sqlite3.Connection, after: int, limit: int) -> list[Message]:
    rows = conn.execute(_SELECT_UNFINISHED, (after, limit)).fetchall()
    return [message_from_row(row) for row in rows]
