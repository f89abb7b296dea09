"""The shared work queue's statements (``ports.queue.WorkStore``): the messages table is the queue.

Why the table and not a second structure (an outbox table, a Redis stream): the transaction that
accepts a message is the one that queues it, so there is no second write that a crash between
the two could lose, and no message the queue knows that the store does not. What a queue needs
beyond the row is three columns (migration 0002): when the message may be taken
(``work_due_at``: a carrier asked for it later), until when a worker holds it
(``work_claimed_until``, on the database's clock), and which node took it last (``work_node``).

- ``claim_work`` takes up to ``limit`` queued messages that are due and held by nobody (or by
  a worker whose lease ran out), ``FOR UPDATE SKIP LOCKED`` so that concurrent workers never
  wait for each other nor take the same message, in one statement that also returns them.
- A message leaves the queue when its state leaves ``accepted`` (handed over, failed,
  cancelled, expired): the partial index ``messages_work`` holds only queued messages.
- ``requeue_work`` gives claimed messages back, now or after a delay (the carrier's "later").
- A worker that dies holding messages leaves them to the others when their lease runs out
  (``lease_s``): at most that long late, never lost. A carrier that took a message whose
  hand-over the dead worker had not yet recorded may see it again: at least once to the
  carrier, as with one process.
- ``pg_notify`` tells the workers of every process that work came, so that they do not wait for
  their next poll; a notification lost (a dropped connection) costs only that poll's delay.
"""

# ruff: noqa: S608 -- SQL text is built only from this module's constants.

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from smsgate.adapters.storage.postgres.base import DB_NOW, PgParts
from smsgate.adapters.storage.postgres.rows import M_COLUMNS, message_from_row
from smsgate.domain.models import Message
from smsgate.ports.store import StoreError

__all__ = ["WORK_CHANNEL", "Work"]

#: The channel of "work was queued" notifications.
WORK_CHANNEL: Final = "smsgate_work"

_CLAIM: Final = (
    "WITH todo AS (SELECT id FROM messages "
    f"WHERE status = 'accepted' AND work_due_at <= {DB_NOW} "
    f"AND (work_claimed_until IS NULL OR work_claimed_until <= {DB_NOW}) "
    "ORDER BY work_due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) "
    f"UPDATE messages m SET work_node = $1, work_claimed_until = {DB_NOW} + $3 "
    f"FROM todo WHERE m.id = todo.id RETURNING {M_COLUMNS}"
)
_REQUEUE: Final = (
    f"UPDATE messages SET work_claimed_until = NULL, work_due_at = {DB_NOW} + $2 "
    "WHERE id = ANY($1::bigint[]) AND status = 'accepted'"
)
_RELEASE_NODE: Final = (
    "UPDATE messages SET work_claimed_until = NULL "
    "WHERE status = 'accepted' AND work_node = $1 AND work_claimed_until IS NOT NULL"
)
_RENEW_NODE: Final = (
    f"WITH renewed AS (UPDATE messages SET work_claimed_until = {DB_NOW} + $2 "
    f"WHERE status = 'accepted' AND work_node = $1 AND work_claimed_until > {DB_NOW} "
    "RETURNING 1) SELECT count(*) FROM renewed"
)
_WAITING: Final = "SELECT count(*) FROM messages WHERE status = 'accepted'"
_NODE_SUBMITTED: Final = (
    f"SELECT {M_COLUMNS} FROM messages m WHERE m.status = 'submitted' AND m.work_node = $1 "
    "AND m.id > $2 ORDER BY m.id LIMIT $3"
)


class Work(PgParts):
    """The ``WorkStore`` statements of :class:`~.store.PostgresStore`."""

    async def claim_work(self, node_id: int, limit: int, lease_s: float) -> list[Message]:
        """Up to ``limit`` queued messages, held by this node for ``lease_s`` seconds."""
        rows = await self._fetch(_CLAIM, node_id, limit, lease_s)
        return sorted((message_from_row(row) for row in rows), key=lambda m: int(m.id))

    async def requeue_work(self, message_ids: Sequence[str], delay_s: float) -> None:
        """Give claimed messages back to the queue, to be taken ``delay_s`` from now."""
        if message_ids:
            await self._fetch(_REQUEUE, [int(i) for i in message_ids], max(0.0, delay_s))

    async def release_node_work(self, node_id: int) -> None:
        """Give back what ``node_id`` held: called by a node as it starts, the holder being its
        own previous life (a node id is one live process's), so that the work need not wait
        for the lease to run out."""
        await self._fetch(_RELEASE_NODE, node_id)

    async def renew_node_work(self, node_id: int, lease_s: float) -> int:
        """Extend every live claim of ``node_id`` to ``lease_s`` from now; how many. A carrier
        that answers with its receipt (the simulator) keeps a message queued while it holds
        it: the worker's lease must outlast the carrier's hold, however long that is."""
        return int(await self._fetchval(_RENEW_NODE, node_id, lease_s))

    async def waiting_work(self) -> int:
        """How many messages are queued (claimed or not): the depth the doors' bound counts."""
        return int(await self._fetchval(_WAITING))

    async def node_submitted(self, node_id: int, after: str | None, limit: int) -> list[Message]:
        """Messages the node handed to a carrier and that wait for their receipt, by id."""
        rows = await self._fetch(_NODE_SUBMITTED, node_id, int(after or 0), limit)
        return [message_from_row(row) for row in rows]

    async def notify_work(self) -> None:
        """Tell the workers of every process that work was queued."""
        await self._fetch("SELECT pg_notify($1, '')", WORK_CHANNEL)

    async def listen_work(self, wake: Callable[[], None]) -> Callable[[], Awaitable[None]]:
        """Call ``wake`` whenever work is announced; returns the coroutine function that stops
        listening. On a connection of its own: a listening connection cannot serve the pool."""
        try:
            conn = await self._connect("smsgate-work")
            await conn.add_listener(WORK_CHANNEL, lambda *_args: wake())
        except Exception as exc:
            raise StoreError(f"cannot listen for work: {type(exc).__name__}: {exc}") from exc

        async def stop() -> None:
            await conn.close()

        return stop
