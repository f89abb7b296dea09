"""The schema: its migrations, and opening the write and read connections with their pragmas.

The writer connection applies the migrations before anyone uses it; the reader connection only
reads (``PRAGMA query_only``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Final

from smsgate.adapters.secret_files import create_private_file, restrict_to_owner
from smsgate.adapters.storage.sqlite.sql import rollback
from smsgate.domain.carrier_receipts import carrier_key
from smsgate.ports.store import StoreError

__all__ = ["MIGRATIONS", "close_writer", "connect_reader", "connect_writer"]

_BUSY_TIMEOUT_MS: Final = 5000
_WAL_SIZE_LIMIT: Final = 64 * 1024 * 1024

# MO messages, their parts and their deliveries (how they are used: inbound.py).
_INBOUND_MIGRATION: Final = (
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

# Each migration is the list of statements taking the schema from version i to i + 1; the
# database's PRAGMA user_version says how many have been applied. Append, never edit.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE accounts (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            state TEXT NOT NULL,
            balance_micros INTEGER NOT NULL CHECK (balance_micros >= 0),
            callback_url TEXT,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE access_keys (
            id TEXT PRIMARY KEY,
            account_id TEXT NOT NULL REFERENCES accounts (id),
            secret_sealed TEXT NOT NULL,
            enabled INTEGER NOT NULL,
            allowed_actions TEXT,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX access_keys_account ON access_keys (account_id)",
        """CREATE TABLE templates (
            account_id TEXT NOT NULL REFERENCES accounts (id),
            code TEXT NOT NULL,
            content TEXT NOT NULL,
            template_type TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (account_id, code)
        ) WITHOUT ROWID""",
        # No foreign key on messages: it would cost a lookup per insert on the hot path, and
        # accounts are never deleted (closed accounts keep their records).
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            account_id TEXT NOT NULL,
            to_number TEXT NOT NULL,
            sender TEXT,
            body TEXT NOT NULL,
            encoding TEXT NOT NULL,
            segments INTEGER NOT NULL,
            country TEXT NOT NULL,
            region_code TEXT NOT NULL,
            region TEXT NOT NULL,
            carrier TEXT NOT NULL,
            msg_type TEXT NOT NULL,
            created_at REAL NOT NULL,
            status TEXT NOT NULL,
            task_id TEXT,
            channel_id TEXT,
            template_code TEXT,
            sms_up_extend_code TEXT,
            validity_period INTEGER,
            door TEXT NOT NULL,
            error_code TEXT,
            send_date REAL,
            receive_date REAL,
            carrier_message_id TEXT,
            converted INTEGER,
            conversion_time REAL,
            extra TEXT
        )""",
        # Only unfinished messages are indexed, so the index stays as small as the backlog, and
        # keyed by id so that resuming pages through it in order without sorting.
        """CREATE INDEX messages_unfinished ON messages (id)
            WHERE status IN ('accepted', 'submitted')""",
        """CREATE TABLE conversion_data (
            id INTEGER PRIMARY KEY,
            account_id TEXT NOT NULL,
            rate REAL NOT NULL,
            report_time REAL NOT NULL
        )""",
        # AUTOINCREMENT: a finished callback's id is never reused, so a late finish or retry
        # from a slow worker cannot touch a newer job.
        """CREATE TABLE callbacks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            account_id TEXT NOT NULL,
            url TEXT NOT NULL,
            message_id INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            last_error TEXT,
            state TEXT NOT NULL CHECK (state IN ('pending', 'dead'))
        )""",
        "CREATE INDEX callbacks_due ON callbacks (state, next_attempt_at)",
    ),
    # An account's records, newest first (message listings and record queries).
    ("CREATE INDEX messages_account ON messages (account_id, id)",),
    (
        # What accepting a message cost, so that a failure receipt can refund exactly that.
        "ALTER TABLE messages ADD COLUMN price_micros INTEGER NOT NULL DEFAULT 0",
        # Policy documents. The body is the last column: a large body spills to overflow pages,
        # and document_versions (polled by every server) then reads name and version without
        # walking them.
        """CREATE TABLE documents (
            name TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            updated_at REAL,
            body TEXT NOT NULL
        )""",
        """CREATE TABLE sign_names (
            account_id TEXT NOT NULL REFERENCES accounts (id),
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (account_id, name)
        ) WITHOUT ROWID""",
    ),
    (
        # SMPP registered_delivery of the submit_sm: which receipts go back as deliver_sm.
        "ALTER TABLE messages ADD COLUMN registered_delivery INTEGER NOT NULL DEFAULT 0",
        # The SMPP receipts owed to each account's receiver binds, until acknowledged. Keyed by
        # account first: a bind reads its account's receipts in id order off the primary key.
        """CREATE TABLE smpp_receipts (
            account_id TEXT NOT NULL,
            message_id INTEGER NOT NULL,
            PRIMARY KEY (account_id, message_id)
        ) WITHOUT ROWID""",
    ),
    (
        # The SMPP bind that submitted a message (its system_id, and its bind id while the
        # process that gave it lives): where the receipt goes back. NULL for API messages.
        "ALTER TABLE messages ADD COLUMN system_id TEXT",
        "ALTER TABLE messages ADD COLUMN bind_id INTEGER",
    ),
    (
        # Signature nonces of the replay window, kept across restarts (ports/replay.py). Keyed
        # by expiry first: inserts append at the end of the tree, pruning cuts its start, and a
        # start reads the live ones in key order.
        """CREATE TABLE nonces (
            expires_at REAL NOT NULL,
            access_key_id TEXT NOT NULL,
            nonce TEXT NOT NULL,
            PRIMARY KEY (expires_at, access_key_id, nonce)
        ) WITHOUT ROWID""",
    ),
    (
        # The mobile operator of the destination is its network: "carrier" now means where
        # smsgate hands a message over. A rename touches only the schema, not the rows.
        "ALTER TABLE messages RENAME COLUMN carrier TO network",
    ),
    (
        # Which carrier connection took a message, and the carrier's id for each of its parts
        # (a JSON array: a long message sent in parts has one id per part).
        "ALTER TABLE messages ADD COLUMN connector TEXT",
        "ALTER TABLE messages RENAME COLUMN carrier_message_id TO carrier_ids",
        # An id recorded before was the only one, given by the only carrier there was.
        "UPDATE messages SET carrier_ids = json_array(carrier_ids), connector = 'simulator' "
        "WHERE carrier_ids IS NOT NULL",
    ),
    (
        # Receipts from a carrier name only its id for a part: (connector, carrier id) finds the
        # message. A carrier that reuses an id replaces the older entry (INSERT OR REPLACE).
        """CREATE TABLE message_carrier_ids (
            connector TEXT NOT NULL,
            carrier_id TEXT NOT NULL,
            message_id INTEGER NOT NULL,
            PRIMARY KEY (connector, carrier_id)
        ) WITHOUT ROWID""",
        "INSERT OR REPLACE INTO message_carrier_ids (connector, carrier_id, message_id) "
        "SELECT m.connector, j.value, m.id FROM messages m, json_each(m.carrier_ids) j "
        "WHERE m.carrier_ids IS NOT NULL AND m.connector IS NOT NULL ORDER BY m.id",
    ),
    (
        # What an upstream carrier's receipt said, raw, beside the receipt code it mapped to.
        "ALTER TABLE messages ADD COLUMN carrier_status TEXT",
        # Carrier ids are kept by their carrier key (carriers write one id as 00A1 and a1), and
        # each part's receipt so far (NULL: none yet) is kept with its id: a long message is
        # delivered once every part is.
        """CREATE TABLE message_carrier_ids_v10 (
            connector TEXT NOT NULL,
            carrier_id TEXT NOT NULL,
            message_id INTEGER NOT NULL,
            state TEXT,
            PRIMARY KEY (connector, carrier_id)
        ) WITHOUT ROWID""",
        "INSERT OR REPLACE INTO message_carrier_ids_v10 (connector, carrier_id, message_id) "
        "SELECT connector, carrier_key(carrier_id), message_id FROM message_carrier_ids "
        "ORDER BY message_id",
        "DROP TABLE message_carrier_ids",
        "ALTER TABLE message_carrier_ids_v10 RENAME TO message_carrier_ids",
        # Receipts that came before their submit's response was recorded, under each key their
        # id may have been stored as, until mark_submitted records it (or they grow too old).
        """CREATE TABLE pending_receipts (
            connector TEXT NOT NULL,
            carrier_key TEXT NOT NULL,
            reported_id TEXT NOT NULL,
            status TEXT NOT NULL,
            error_code TEXT NOT NULL,
            carrier_status TEXT,
            done_at REAL NOT NULL,
            refund INTEGER NOT NULL,
            received_at REAL NOT NULL,
            PRIMARY KEY (connector, carrier_key)
        ) WITHOUT ROWID""",
        "CREATE INDEX pending_receipts_reported ON pending_receipts (connector, reported_id)",
        "CREATE INDEX pending_receipts_age ON pending_receipts (received_at)",
        # SUBMITTED messages with a validity of their own by when it runs out, for the expiry
        # sweep: only those waiting for a receipt are indexed, so the index stays as small as
        # that backlog. Those without one expire in id order (messages_unfinished), which
        # costs the hot path nothing (this index costs mark_submitted 2 us a message).
        """CREATE INDEX messages_expiry_own ON messages (created_at + validity_period)
            WHERE status = 'submitted' AND validity_period IS NOT NULL""",
    ),
    # MO messages, their parts and their deliveries (see inbound.py).
    _INBOUND_MIGRATION,
    (
        # SUBMITTED messages by connector and send date, for a drained connector's count of
        # the receipts it still owes (_COUNT_AWAITING_RECEIPT): only those waiting for a
        # receipt are indexed, so the count reads just that connector's entries. It costs the
        # hot path an index entry per message handed over (mark_submitted) and its removal
        # when the receipt comes, as messages_expiry_own does.
        """CREATE INDEX messages_awaiting_receipt ON messages (connector, send_date)
            WHERE status = 'submitted'""",
    ),
)


def connect_writer(path: Path, synchronous: str) -> sqlite3.Connection:
    """The write connection, with the schema brought up to date before anyone uses it.

    The database holds message texts (one-time codes among them): it and SQLite's ``-wal`` and
    ``-shm`` files are the owner's only (mode 0600), whatever the umask."""
    create_private_file(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchall()[0][0]
        if mode != "wal":
            raise StoreError(f"{path}: cannot use WAL mode (journal_mode is {mode})")
        for suffix in ("", "-wal", "-shm"):
            restrict_to_owner(path.with_name(path.name + suffix))
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        # The WAL is reused after each checkpoint but never shrinks by itself: a burst would
        # leave a large file behind. Trim it back to this size instead.
        conn.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")
        conn.execute("PRAGMA foreign_keys = ON")
        # Migration 10 re-keys carrier ids with the one normalisation the code uses.
        conn.create_function("carrier_key", 1, carrier_key, deterministic=True)
        _migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchall()[0][0]
    if version > len(MIGRATIONS):
        raise StoreError(
            f"{path}: schema version {version} is newer than this smsgate ({len(MIGRATIONS)})"
        )
    for target, statements in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise


def close_writer(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):  # only a planner hint
        conn.execute("PRAGMA optimize")
    conn.close()


def connect_reader(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA query_only = ON")
    return conn
