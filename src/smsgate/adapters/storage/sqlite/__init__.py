"""The embedded store: one SQLite file in WAL mode.

Why it is shaped this way:

- **Group commit.** A message is accepted only once it is durable, and a durable commit costs a
  disk sync. One dedicated writer thread owns the only write connection; callers queue operations
  and await a future, and the writer runs everything that is waiting in ONE transaction, so a
  single sync covers a whole batch of callers. The batch's futures are then resolved with one
  ``call_soon_threadsafe`` (one per future was a measured bottleneck).
- **Failure isolation.** A batch mixes many callers' operations; one bad operation (a duplicate
  id, an overdraft) must not fail the others. The batch is first run optimistically as a whole;
  if anything raises, it is rolled back and re-run with a SAVEPOINT per operation, so only the
  failing caller sees the error, and the rest still commit together. An account that cannot pay
  for ``accept_messages`` is not a failure: that op answers False and the batch goes on.
- **Set-wise work.** Adjacent inserts and accepts share one executemany; accepts are charged
  with one guarded UPDATE per account per batch; receipts refund with one UPDATE per account.
- **Reads beside writes.** A second connection, used by one reader thread, serves queries: WAL
  lets it read committed data while the writer writes, and neither ever blocks the event loop.
- **Flat memory.** Nothing per message is kept in Python; every query is bounded by its limit.

The package, one job per module:

- ``store``: ``SqliteStore``, the protocol modules' mixins over one writer;
- ``writer``: the write queue, the writer thread and its batch runners, the reader thread, the
  store's life cycle; ``base``: what the mixins use of it (``_write``, ``_read``, the secret box);
- ``schema``: the migrations and the connections' pragmas; ``sql``: generic statements and the
  mapping of database errors to StoreError; ``rows``: messages as rows and back;
- one module per port: ``accounts``, ``templates``, ``messages`` (up to the hand-over to a
  carrier) and ``receipts`` (from it on), ``callbacks``, ``inbound``, ``policy``, ``nonces``.
"""

from __future__ import annotations

from smsgate.adapters.storage.sqlite import callbacks, messages, nonces, receipts, rows
from smsgate.adapters.storage.sqlite.schema import MIGRATIONS
from smsgate.adapters.storage.sqlite.store import SqliteStore
from smsgate.adapters.storage.sqlite.writer import Durability, WriterStats

__all__ = ["MIGRATIONS", "Durability", "SqliteStore", "WriterStats"]

# The names the contract tests read (rows of an older schema, query plans) as the one module
# had them.
_MESSAGE_COLUMNS = rows.MESSAGE_COLUMNS
_message_row = rows.message_row
_SELECT_DUE_CALLBACKS = callbacks._SELECT_DUE_CALLBACKS
_SELECT_NEXT_CALLBACK = callbacks._SELECT_NEXT_CALLBACK
_COUNT_SINCE = messages._COUNT_SINCE
_COUNT_WINDOW = messages._COUNT_WINDOW
_COUNT_WINDOW_TO = messages._COUNT_WINDOW_TO
_PAGE_WINDOW = messages._PAGE_WINDOW
_PAGE_WINDOW_TO = messages._PAGE_WINDOW_TO
_SELECT_UNFINISHED = messages._SELECT_UNFINISHED
_SELECT_NONCES = nonces._SELECT_NONCES
_SELECT_NONCES_AFTER = nonces._SELECT_NONCES_AFTER
_SELECT_BY_CARRIER_ID = receipts._SELECT_BY_CARRIER_ID
_SELECT_EXPIRED_OWN = receipts._SELECT_EXPIRED_OWN
_SELECT_EXPIRED_DEFAULT = receipts._SELECT_EXPIRED_DEFAULT
_COUNT_AWAITING_RECEIPT = receipts._COUNT_AWAITING_RECEIPT
