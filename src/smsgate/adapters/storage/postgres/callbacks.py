"""Receipt pushes to callback URLs (``CallbackStore``), claimed by one process at a time.

The SQLite store has one process, whose pusher reads due rows and later finishes or retries
them. Several processes share this database, and each runs a pusher: reading due rows alone
would have two processes POST the same receipts at once. So reading due rows *claims* them:

- ``due_callbacks`` picks due rows ``FOR UPDATE SKIP LOCKED`` (a row another process is
  claiming this instant is skipped, not waited for) that nobody else holds a live claim on, and
  stamps them ``claimed_by`` this store instance until ``claim_s`` from now, all in one
  statement. The same instance gets its own claimed rows again (its pusher decides what is in
  flight, as with SQLite); another gets none of them until the claim runs out.
- ``finish_callbacks`` deletes the rows, ``retry_callbacks`` reschedules them and drops the
  claim; a process that dies holding claims leaves them to the others after ``claim_s``, and a
  store that closes cleanly gives its claims back at once (``store.py``).
- Leases run on the database's clock (``DB_NOW``), not on the ``now`` callers pass (which is
  their clock, and in tests any time at all): every process then agrees when a claim ends.
  ``next_callback_due`` answers when the earliest row this instance may take is due, on the
  callers' clock, or when another's claim runs out, on the database's: in production both are
  the wall clock, so a pusher never spins on rows it cannot take.

The same machinery serves MO pushes (``inbound.py``) through :class:`PushTable`.
"""

# ruff: noqa: S608 -- SQL text is built only from this module's constants and table names.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

from smsgate.adapters.storage.postgres.base import DB_NOW, PgParts, execute_op, many_op
from smsgate.adapters.storage.postgres.rows import M_COLUMNS, MO_COLUMNS, message_from_row
from smsgate.ports.store import CallbackJob, CallbackRetry

__all__ = ["CALLBACKS", "MO_PUSHES", "Callbacks", "PushTable"]


@dataclass(frozen=True, slots=True)
class PushTable:
    """The statements of one table of pushes (``callbacks`` or ``mo_pushes``)."""

    table: str
    key: str  # the column naming the pushed record
    source: str  # the table of pushed records, aliased m
    source_key: str  # its key column
    columns: str  # the pushed record's columns, as m.*

    @property
    def claim(self) -> str:
        """$1 now (callers' clock), $2 limit, $3 claimant, $4 claim seconds."""
        p, m = self.table, self.source
        return (
            f"WITH due AS (SELECT p.id FROM {p} p JOIN {m} m ON m.{self.source_key} = p.{self.key} "
            "WHERE p.state = 'pending' AND p.next_attempt_at <= $1 "
            f"AND (p.claimed_by IS NULL OR p.claimed_by = $3 OR p.claimed_until <= {DB_NOW}) "
            "ORDER BY p.next_attempt_at, p.id LIMIT $2 FOR UPDATE OF p SKIP LOCKED) "
            f"UPDATE {p} p SET claimed_by = $3, claimed_until = {DB_NOW} + $4 "
            f"FROM due, {m} m WHERE p.id = due.id AND m.{self.source_key} = p.{self.key} "
            f"RETURNING p.id, p.account_id, p.url, p.attempts, p.next_attempt_at, {self.columns}"
        )

    @property
    def next_due(self) -> str:
        """$1 claimant. The same join as the claim, so that a row whose record is gone cannot
        announce a due time the claim would never honour (a busy loop in the pusher)."""
        p, m = self.table, self.source
        join = f"FROM {p} p JOIN {m} m ON m.{self.source_key} = p.{self.key}"
        return (
            "SELECT min(due) FROM ("
            f"(SELECT p.next_attempt_at AS due {join} WHERE p.state = 'pending' "
            f"AND (p.claimed_by IS NULL OR p.claimed_by = $1 OR p.claimed_until <= {DB_NOW}) "
            "ORDER BY p.next_attempt_at LIMIT 1) UNION ALL "
            f"(SELECT greatest(p.next_attempt_at, p.claimed_until) {join} "
            f"WHERE p.state = 'pending' AND p.claimed_by <> $1 AND p.claimed_until > {DB_NOW} "
            "ORDER BY p.claimed_until LIMIT 1)) d"
        )

    @property
    def finish(self) -> str:
        return f"DELETE FROM {self.table} WHERE id = ANY($1::bigint[])"

    @property
    def retry(self) -> str:
        return (
            f"UPDATE {self.table} SET attempts = $1, next_attempt_at = $2, last_error = $3, "
            "state = $4, claimed_by = NULL, claimed_until = NULL WHERE id = $5"
        )

    @property
    def release(self) -> str:
        """Give back this instance's claims ($1): other processes may take them at once."""
        return (
            f"UPDATE {self.table} SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = $1"
        )


CALLBACKS: Final = PushTable("callbacks", "message_id", "messages", "id", M_COLUMNS)
MO_PUSHES: Final = PushTable("mo_pushes", "sequence_id", "mo_messages", "sequence_id", MO_COLUMNS)


def retry_rows(retries: Sequence[CallbackRetry]) -> list[tuple[Any, ...]]:
    return [
        (r.attempts, r.next_attempt_at, r.last_error, "dead" if r.dead else "pending", r.id)
        for r in retries
    ]


def by_due(rows: list[Any]) -> list[Any]:
    """Claimed rows in due order (RETURNING has none of its own)."""
    return sorted(rows, key=lambda row: (row[4], row[0]))


class Callbacks(PgParts):
    async def due_callbacks(self, now: float, limit: int) -> list[CallbackJob]:
        if limit <= 0:
            return []
        rows = await self._fetch(CALLBACKS.claim, now, limit, self._claimant, self._claim_s)
        return [
            CallbackJob(
                id=row[0],
                account_id=row[1],
                url=row[2],
                message=message_from_row(row[5:]),
                attempts=row[3],
            )
            for row in by_due(rows)
        ]

    async def next_callback_due(self) -> float | None:
        return cast(float | None, await self._fetchval(CALLBACKS.next_due, self._claimant))

    async def finish_callbacks(self, ids: Sequence[int]) -> None:
        if ids:
            await self._write(execute_op, (CALLBACKS.finish, (list(ids),)))

    async def retry_callbacks(self, retries: Sequence[CallbackRetry]) -> None:
        if retries:
            await self._write(many_op, (CALLBACKS.retry, retry_rows(retries)))
