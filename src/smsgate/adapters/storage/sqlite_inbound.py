"""MO (inbound) messages in the SQLite store: schema, statements and the writer's operations.

Kept apart from ``sqlite.py`` (which runs them on its writer and reader threads): MO messages
touch none of the tables of outgoing messages.

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
from typing import Any, Final

from smsgate.domain.inbound import InboundMessage
from smsgate.ports.store import InboundPart, InboundPushJob

__all__ = [
    "DUE_PUSHES",
    "FINISH_PUSH",
    "FINISH_SMPP",
    "LIST",
    "MIGRATION",
    "NEXT_PUSH",
    "PENDING_SMPP",
    "PRUNE_PARTS",
    "RETRY_PUSH",
    "add_part",
    "message_from_row",
    "part_row",
    "push_from_row",
    "store_message",
]

_Row = tuple[Any, ...]

MIGRATION: Final = (
    """CREATE TABLE mo_messages (
        sequence_id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id TEXT NOT NULL,
        source TEXT NOT NULL,
        destination TEXT NOT NULL,
        dest_code TEXT NOT NULL,
        text TEXT NOT NULL,
        received_at REAL NOT NULL,
        connector TEXT NOT NULL
    )""",
    "CREATE INDEX mo_messages_account ON mo_messages (account_id, sequence_id)",
    """CREATE TABLE mo_parts (
        connector TEXT NOT NULL,
        source TEXT NOT NULL,
        destination TEXT NOT NULL,
        reference INTEGER NOT NULL,
        total INTEGER NOT NULL,
        number INTEGER NOT NULL,
        data_coding INTEGER NOT NULL,
        received_at REAL NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (connector, source, destination, reference, total, number)
    ) WITHOUT ROWID""",
    "CREATE INDEX mo_parts_age ON mo_parts (received_at)",
    """CREATE TABLE mo_pushes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id TEXT NOT NULL,
        url TEXT NOT NULL,
        sequence_id INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        state TEXT NOT NULL CHECK (state IN ('pending', 'dead'))
    )""",
    "CREATE INDEX mo_pushes_due ON mo_pushes (state, next_attempt_at)",
    """CREATE TABLE smpp_mo (
        account_id TEXT NOT NULL,
        sequence_id INTEGER NOT NULL,
        PRIMARY KEY (account_id, sequence_id)
    ) WITHOUT ROWID""",
)

_COLUMNS: Final = (
    "sequence_id, account_id, source, destination, dest_code, text, received_at, connector"
)
_M_COLUMNS: Final = ", ".join("m." + c.strip() for c in _COLUMNS.split(","))
_PART_COLUMNS: Final = (
    "connector, source, destination, reference, total, number, data_coding, received_at, body"
)
_GROUP: Final = "connector = ? AND source = ? AND destination = ? AND reference = ? AND total = ?"

DUE_PUSHES: Final = (
    f"SELECT p.id, p.account_id, p.url, p.attempts, {_M_COLUMNS} FROM mo_pushes p "
    "JOIN mo_messages m ON m.sequence_id = p.sequence_id "
    "WHERE p.state = 'pending' AND p.next_attempt_at <= ? "
    "ORDER BY p.next_attempt_at, p.id LIMIT ?"
)
NEXT_PUSH: Final = (
    "SELECT p.next_attempt_at FROM mo_pushes p "
    "JOIN mo_messages m ON m.sequence_id = p.sequence_id "
    "WHERE p.state = 'pending' ORDER BY p.next_attempt_at LIMIT 1"
)
FINISH_PUSH: Final = "DELETE FROM mo_pushes WHERE id = ?"
RETRY_PUSH: Final = (
    "UPDATE mo_pushes SET attempts = ?, next_attempt_at = ?, last_error = ?, state = ? WHERE id = ?"
)
PENDING_SMPP: Final = (
    f"SELECT {_M_COLUMNS} FROM smpp_mo s JOIN mo_messages m ON m.sequence_id = s.sequence_id "
    "WHERE s.account_id = ? AND s.sequence_id > ? ORDER BY s.sequence_id LIMIT ?"
)
FINISH_SMPP: Final = "DELETE FROM smpp_mo WHERE account_id = ? AND sequence_id = ?"
LIST: Final = (
    f"SELECT {_M_COLUMNS} FROM mo_messages m WHERE m.account_id = ? "
    "ORDER BY m.sequence_id DESC LIMIT ?"
)
PRUNE_PARTS: Final = "DELETE FROM mo_parts WHERE received_at < ?"


def part_row(part: InboundPart) -> _Row:
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


def _part_from_row(row: _Row) -> InboundPart:
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


def message_from_row(row: _Row) -> InboundMessage:
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


def push_from_row(row: _Row) -> InboundPushJob:
    return InboundPushJob(
        id=row[0], account_id=row[1], url=row[2], attempts=row[3], message=message_from_row(row[4:])
    )


# -- the writer's operations (writer thread, inside the batch's transaction) -------------------


def add_part(conn: sqlite3.Connection, row: _Row) -> list[InboundPart] | None:
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


def store_message(
    conn: sqlite3.Connection, arg: tuple[InboundMessage, _Row | None, bool]
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
