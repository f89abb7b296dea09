"""The expiry sweep: what carriers never answered for does not wait for ever.

- A SUBMITTED message whose validity ran out (``created_at + validity_period``, or the platform
  default, 72 hours unless configured, for a message sent without one) and still has no receipt
  becomes EXPIRED with the ``EXPIRED`` receipt code, through the :class:`ReceiptProcessor`, so its
  callback, SMPP receipt and refund policy follow as for a receipt from the carrier. The store
  reads only what is due, however long the backlog of messages waiting for receipts (SQLite: a
  partial index in expiry order for messages with a validity, the unfinished messages in id
  order up to the default's bound for the others).
- Receipts kept for an id no submit recorded (``keep_pending_receipts``) and parts of MO
  messages whose siblings never came are dropped after ``keep_s`` (a day by default): a submit
  response or a part that late will not come.

Messages still ACCEPTED are not this sweep's: the delivery worker expires them before hand-over.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final, Protocol

from smsgate import errors
from smsgate.domain.models import MessageStatus, Receipt
from smsgate.logs import log_event
from smsgate.ports.clock import Clock
from smsgate.ports.store import MessageStore, StoreError
from smsgate.service.receipts import ReceiptProcessor

__all__ = ["DEFAULT_VALIDITY_S", "ExpirySweeper"]

log = logging.getLogger(__name__)

DEFAULT_VALIDITY_S: Final = 72 * 3600.0
_DAY: Final = 86_400.0


class _Parts(Protocol):
    async def prune_inbound_parts(self, received_before: float) -> int: ...


class ExpirySweeper:
    """Run :meth:`run_once` now and then (:meth:`run` does, every ``interval_s``)."""

    def __init__(
        self,
        store: MessageStore,
        receipts: ReceiptProcessor,
        clock: Clock,
        *,
        default_validity_s: float = DEFAULT_VALIDITY_S,
        keep_s: float = _DAY,
        batch: int = 1000,
        parts: _Parts | None = None,
    ) -> None:
        self._store = store
        self._receipts = receipts
        self._clock = clock
        self._default_validity_s = default_validity_s
        self._keep_s = keep_s
        self._batch = batch
        self._parts = parts
        self._failing = False

    async def run_once(self) -> int:
        """One sweep; how many messages expired. StoreError if the store failed."""
        now = self._clock.now()
        expired = 0
        seen: set[str] = set()
        while True:
            ids = await self._store.submitted_past_expiry(
                now, self._default_validity_s, self._batch
            )
            if not ids or seen.intersection(ids):
                break  # none left, or they did not change (no page is read twice)
            seen.update(ids)
            code = errors.EXPIRED.code
            await self._receipts.take(
                [Receipt(mid, MessageStatus.EXPIRED, code, now) for mid in ids]
            )
            expired += len(ids)
            if len(ids) < self._batch:
                break
        if expired:
            log_event(log, logging.INFO, "upstream.expired", count=expired)
        before = now - self._keep_s
        dropped = await self._store.prune_pending_receipts(before)
        if dropped:
            log_event(log, logging.WARNING, "upstream.receipts_unmatched", count=dropped)
        if self._parts is not None:
            parts = await self._parts.prune_inbound_parts(before)
            if parts:
                log_event(log, logging.WARNING, "upstream.mo_parts_dropped", count=parts)
        return expired

    async def run(self, interval_s: float = 60.0) -> None:
        """Sweep every ``interval_s`` until cancelled; a store failure waits for the next."""
        while True:
            try:
                await self.run_once()
            except StoreError as exc:
                if not self._failing:
                    log.error("expiry sweep failed, will retry: %s", exc)
                    self._failing = True
            else:
                self._failing = False
            await asyncio.sleep(interval_s)
