"""What moves from an embedded (SQLite) installation to PostgreSQL, table by table.

Every table of the SQLite schema is decided here: copied (a :class:`TableCopy` in
:data:`TABLES`, in an order that satisfies PostgreSQL's foreign keys) or skipped with the
reason (:data:`SKIPPED`). A move refuses a database holding a table named in neither, so that a
later SQLite migration adding a table cannot be left behind unnoticed; the tests compare every
column of both schemas with this plan.

How the two schemas differ, column by column, and what each row goes through on the way:

- **Balances.** SQLite keeps ``balance_micros`` on the account row; PostgreSQL in a table of
  its own (``balances``, one row per account, the row the hot path locks). Both are copied from
  ``accounts``.
- **Booleans.** SQLite keeps 0/1 integers (``access_keys.enabled``, ``messages.converted``,
  ``pending_receipts.refund``); PostgreSQL has ``boolean``, and asyncpg refuses an int for it.
- **Arrays.** SQLite keeps JSON arrays in text (``messages.carrier_ids``,
  ``access_keys.allowed_actions``); PostgreSQL has ``text[]``.
- **Times** are unix seconds in both (REAL, ``double precision``): copied as they are.
- **Integers.** SQLite's INTEGER is 64 bits; PostgreSQL's columns are ``bigint`` where values
  can be large (ids, micros, validity) and ``integer`` for small counts (segments, attempts,
  part numbers). A value beyond a column's range fails the COPY, and the move rolls back.
- **Sealed secrets** (``access_keys.secret_sealed``, connector passwords inside the
  ``connectors`` document) are copied as they are: both stores seal with the same
  :class:`~smsgate.adapters.secret_box.SecretBox` and the PostgreSQL installation uses the
  same ``master.key``. Nothing is unsealed on the way.
- **Claims** (``claimed_by``, ``claimed_until`` on callbacks, MO pushes, owed SMPP receipts and
  MO messages) exist only in PostgreSQL, where several processes share the work: they keep
  their defaults (NULL), as no process holds a claim yet.
- **The work queue** is the messages table in PostgreSQL (migration 0002, ``postgres/work.py``).
  ``work_due_at`` keeps its default (0: an ACCEPTED message is due at once) and
  ``work_claimed_until`` its NULL (nobody holds it). ``work_node`` is the node id that the
  message's id carries: an embedded installation's one server made every message and handed it
  over, and a PostgreSQL server of that node takes back the SUBMITTED messages of its node
  when its carrier forgets them across a restart (the simulator), as the embedded server
  handed its unfinished ones over again.
- **Identities.** ``callbacks``, ``mo_pushes``, ``mo_messages`` and ``conversion_data`` number
  their rows with an identity in PostgreSQL. The copied ids are kept (a callback's id, an MO
  message's ``sequence_id`` already given to a client, must not change), and each identity is
  advanced past the highest id the SQLite database ever gave (``sqlite_sequence``, for its
  AUTOINCREMENT tables) so that no id is given twice.
"""

# ruff: noqa: S608 -- SQL text is built only from the plan's table and column names (tables.py);
# values go through parameters.

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from smsgate.adapters.storage.postgres.rows import MESSAGE_COLUMN_NAMES
from smsgate.domain.ids import MAX_NODE_ID, MAX_SEQUENCE

__all__ = ["SKIPPED", "SKIPPED_PREFIX", "TABLES", "Row", "TableCopy"]

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class TableCopy:
    """One PostgreSQL table filled from the SQLite database.

    ``select`` reads the rows in the order of ``columns`` (the PostgreSQL table's), in key
    order so that a read streams off the primary key; ``where`` (with ``:now`` for the moment of
    the move) filters it, and the verification counts the same rows. ``convert`` maps a row's
    SQLite values to what asyncpg encodes for PostgreSQL's types (None: none needs it).
    ``identity`` names the identity column to advance past the copied ids."""

    table: str
    source: str  # the SQLite table read
    columns: tuple[str, ...]
    order: str
    why: str
    where: str = ""
    convert: Callable[[Row], Row] | None = None
    identity: str | None = None
    #: SQLite expressions for ``columns`` where they differ from the column names.
    expressions: tuple[str, ...] | None = None
    #: PostgreSQL columns not copied: they keep their defaults (the module docstring says why).
    defaults: tuple[str, ...] = ()

    @property
    def select(self) -> str:
        what = ", ".join(self.expressions or self.columns)
        return f"SELECT {what} FROM {self.source}{self._where} ORDER BY {self.order}"

    @property
    def count(self) -> str:
        return f"SELECT count(*) FROM {self.source}{self._where}"

    @property
    def _where(self) -> str:
        return f" WHERE {self.where}" if self.where else ""


def _json_array(text: str | None) -> list[str] | None:
    return None if text is None else list(json.loads(text))


def _key(row: Row) -> Row:
    return (row[0], row[1], row[2], bool(row[3]), _json_array(row[4]), row[5])


_CARRIER_IDS: Final = MESSAGE_COLUMN_NAMES.index("carrier_ids")
_CONVERTED: Final = MESSAGE_COLUMN_NAMES.index("converted")
assert _CONVERTED == _CARRIER_IDS + 1  # _message rebuilds the two side by side


def _carrier_ids(text: str) -> list[str]:
    """A JSON array of ids, split by hand when written without escapes and without spaces (the
    SQLite store writes it so unless an id needs escaping): 1.2 us an array against json's
    2.5 us, a fifth of the messages' conversion. Where no backslash is, every quote is a
    delimiter, so ``","`` can only be a separator."""
    if text.startswith('["') and text.endswith('"]') and "\\" not in text and '", "' not in text:
        return text[2:-2].split('","')
    return list(json.loads(text))


def _message(row: Row) -> Row:
    """Most rows go as read: only those with carrier ids or a conversion are rebuilt."""
    ids, converted = row[_CARRIER_IDS], row[_CONVERTED]
    if ids is None and converted is None:
        return row
    return (
        *row[:_CARRIER_IDS],
        None if ids is None else _carrier_ids(ids),
        None if converted is None else bool(converted),
        *row[_CONVERTED + 1 :],
    )


def _pending_receipt(row: Row) -> Row:
    return (*row[:7], bool(row[7]), row[8])


_PUSH_COLUMNS: Final = ("account_id", "url", "attempts", "next_attempt_at", "last_error", "state")
_CLAIMS: Final = ("claimed_by", "claimed_until")
#: The node bits of a message id (``domain.ids``: above the 12 bits of the sequence).
NODE_OF_ID: Final = f"(id >> {MAX_SEQUENCE.bit_length()}) & {MAX_NODE_ID}"

#: Every table copied, parents before the tables whose foreign keys name them.
TABLES: Final[tuple[TableCopy, ...]] = (
    TableCopy(
        "accounts",
        "accounts",
        ("id", "name", "state", "callback_url", "created_at"),
        order="id",
        why="accounts, closed ones too (their records stay)",
    ),
    TableCopy(
        "balances",
        "accounts",
        ("account_id", "balance_micros"),
        expressions=("id", "balance_micros"),
        order="id",
        why="each account's balance: a column of accounts in SQLite, a table in PostgreSQL",
    ),
    TableCopy(
        "access_keys",
        "access_keys",
        ("id", "account_id", "secret_sealed", "enabled", "allowed_actions", "created_at"),
        order="id",
        convert=_key,
        why="AccessKeys, secrets sealed as they are (the same master key opens them)",
    ),
    TableCopy(
        "templates",
        "templates",
        ("account_id", "code", "content", "template_type", "status", "created_at"),
        order="account_id, code",
        why="templates and their review status",
    ),
    TableCopy(
        "sign_names",
        "sign_names",
        ("account_id", "name", "status", "created_at"),
        order="account_id, name",
        why="sign names and their review status",
    ),
    TableCopy(
        "documents",
        "documents",
        ("name", "version", "updated_at", "body"),
        order="name",
        why="policy documents with their versions (servers reload by version)",
    ),
    TableCopy(
        "messages",
        "messages",
        (*MESSAGE_COLUMN_NAMES, "work_node"),
        expressions=(*MESSAGE_COLUMN_NAMES, NODE_OF_ID),
        defaults=("work_due_at", "work_claimed_until"),
        order="id",
        convert=_message,
        why="every message in its state: the record, and the outbox of unfinished ones",
    ),
    TableCopy(
        "message_carrier_ids",
        "message_carrier_ids",
        ("connector", "carrier_id", "message_id", "state"),
        order="connector, carrier_id",
        why="carrier ids and each part's receipt so far: receipts still to come find them",
    ),
    TableCopy(
        "pending_receipts",
        "pending_receipts",
        (
            "connector",
            "carrier_key",
            "reported_id",
            "status",
            "error_code",
            "carrier_status",
            "done_at",
            "refund",
            "received_at",
        ),
        order="connector, carrier_key",
        convert=_pending_receipt,
        why="receipts that came before their hand-over was recorded (pruned after keep_s)",
    ),
    TableCopy(
        "conversion_data",
        "conversion_data",
        ("id", "account_id", "rate", "report_time"),
        order="id",
        identity="id",
        why="conversion rates reported by accounts",
    ),
    TableCopy(
        "callbacks",
        "callbacks",
        ("id", "message_id", *_PUSH_COLUMNS),
        defaults=_CLAIMS,
        order="id",
        identity="id",
        why="receipt pushes still owed (pending) or given up (dead), attempts kept",
    ),
    TableCopy(
        "smpp_receipts",
        "smpp_receipts",
        ("account_id", "message_id"),
        defaults=_CLAIMS,
        order="account_id, message_id",
        why="SMPP receipts owed to receiver binds until acknowledged",
    ),
    TableCopy(
        "nonces",
        "nonces",
        ("expires_at", "access_key_id", "nonce"),
        order="expires_at, access_key_id, nonce",
        where="expires_at > :now",
        why="nonces of the live replay window only: a request signed before the move cannot be "
        "replayed after it. Expired ones are skipped: the guard no longer needs them and a "
        "server prunes them",
    ),
    TableCopy(
        "mo_messages",
        "mo_messages",
        (
            "sequence_id",
            "account_id",
            "source",
            "destination",
            "dest_code",
            "text",
            "received_at",
            "connector",
        ),
        order="sequence_id",
        identity="sequence_id",
        why="MO messages, with the sequence ids clients already know them by",
    ),
    TableCopy(
        "mo_parts",
        "mo_parts",
        (
            "connector",
            "source",
            "destination",
            "reference",
            "total",
            "number",
            "data_coding",
            "received_at",
            "body",
        ),
        order="connector, source, destination, reference, total, number",
        why="parts of long MO messages not yet whole: the SMSC was answered, so they exist "
        "nowhere else",
    ),
    TableCopy(
        "mo_pushes",
        "mo_pushes",
        ("id", "sequence_id", *_PUSH_COLUMNS),
        defaults=_CLAIMS,
        order="id",
        identity="id",
        why="SmsUp pushes of MO messages still owed or given up",
    ),
    TableCopy(
        "smpp_mo",
        "smpp_mo",
        ("account_id", "sequence_id"),
        defaults=_CLAIMS,
        order="account_id, sequence_id",
        why="MO messages owed to SMPP receiver binds until acknowledged",
    ),
)

#: SQLite tables not copied, and why.
SKIPPED: Final[dict[str, str]] = {
    "sqlite_sequence": "SQLite's AUTOINCREMENT counters: read to advance the PostgreSQL "
    "identities past every id given, not copied",
}
#: SQLite's own tables (``sqlite_sequence``, ``sqlite_stat1`` of ANALYZE and PRAGMA optimize)
#: are bookkeeping of that database, never records.
SKIPPED_PREFIX: Final = "sqlite_"
