"""Receipts: from a carrier's word to the store, then to whoever is waiting for it.

Carriers report receipts one by one from timers and sockets; writing each to the store would be a
round trip per message. The processor collects them and applies each batch in one store call, which
also queues HTTP callbacks in the same transaction. Listeners (the callback pusher, SMPP receivers)
are told after the batch is durable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from smsgate.domain.models import Message, MessageStatus, Receipt
from smsgate.ports.store import MessageStore, StoreError
from smsgate.service.policy import PolicyCache

__all__ = ["ReceiptProcessor"]

log = logging.getLogger(__name__)

Listener = Callable[[Sequence[Message]], None]


class ReceiptProcessor:
    """Batches receipts and applies them; :meth:`run_once` is driven by the app's task loop."""

    def __init__(self, store: MessageStore, policy: PolicyCache, max_batch: int = 1000) -> None:
        self._store = store
        self._policy = policy
        self._max_batch = max_batch
        self._pending: list[Receipt] = []
        self._listeners: list[Listener] = []
        self._wakeup: Callable[[], None] = lambda: None
        self._failing = False  # the last apply failed (logged once per run of failures)

    def set_wakeup(self, wakeup: Callable[[], None]) -> None:
        """The driver's way to be woken when receipts arrive."""
        self._wakeup = wakeup

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def feed(self, receipts: Sequence[Receipt]) -> None:
        """Take receipts from a carrier (never blocks)."""
        self._pending.extend(receipts)
        self._wakeup()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run_once(self) -> int:
        """Apply up to one batch of waiting receipts; returns how many were applied."""
        if not self._pending:
            return 0
        # Read the policy before taking the batch: if reading fails, the receipts stay pending.
        refund_on = (await self._policy.current()).platform.refund_on
        batch = self._pending[: self._max_batch]
        del self._pending[: self._max_batch]
        if refund_on:
            batch = [
                replace(r, refund=True)
                if r.status is not MessageStatus.DELIVERED and r.error_code in refund_on
                else r
                for r in batch
            ]
        try:
            changed = await self._store.apply_receipts(batch)
        except StoreError:
            # Put them back: a receipt must not be lost because the store hiccuped. Logged once
            # per run of failures (a full disk fails every retry; the store's health says why).
            self._pending[:0] = batch
            if not self._failing:
                log.exception("store failed while applying %d receipts; will retry", len(batch))
                self._failing = True
            raise
        if self._failing:
            log.warning("receipts are applied again (%d waiting)", len(self._pending))
            self._failing = False
        for listener in self._listeners:
            listener(changed)
        return len(batch)
