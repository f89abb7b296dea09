"""Receipts: from a carrier's word to the store, then to whoever is waiting for it.

Carriers report receipts one by one from timers and sockets; writing each to the store would be a
round trip per message. The processor collects them and applies each batch in one store call, which
also queues HTTP callbacks in the same transaction. Listeners (the callback pusher, SMPP receivers)
are told after the batch is durable.

Two ways in: :meth:`ReceiptProcessor.feed` for a carrier that needs no answer (the simulator, the
delivery worker's rejections), and :meth:`ReceiptProcessor.take` for one that must know the
receipt is durable before it answers its sender (an upstream SMSC's deliver_sm is answered
ESME_ROK only then). Messages that became final elsewhere (kept receipts applied when a submit is
recorded) reach the same listeners through :meth:`ReceiptProcessor.announce`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace

from smsgate.domain.models import Message, MessageStatus, Receipt
from smsgate.ports.store import MessageStore, StoreError
from smsgate.service.policy import PolicyCache

__all__ = ["ReceiptProcessor", "mark_refunds", "refunds"]

log = logging.getLogger(__name__)

Listener = Callable[[Sequence[Message]], None]


def refunds(status: MessageStatus, error_code: str, refund_on: Collection[str]) -> bool:
    """Whether a receipt gives the message's price back: a failure whose code the platform
    settings list in ``refund_on``."""
    return status is not MessageStatus.DELIVERED and error_code in refund_on


def mark_refunds(receipts: Sequence[Receipt], refund_on: Collection[str]) -> list[Receipt]:
    """``receipts`` with ``refund`` set where :func:`refunds` says so."""
    if not refund_on:
        return list(receipts)
    return [
        replace(r, refund=True) if refunds(r.status, r.error_code, refund_on) else r
        for r in receipts
    ]


class ReceiptProcessor:
    """Batches receipts and applies them; :meth:`run_once` is driven by the app's task loop."""

    def __init__(self, store: MessageStore, policy: PolicyCache, max_batch: int = 1000) -> None:
        self._store = store
        self._policy = policy
        self._max_batch = max_batch
        self._pending: list[Receipt] = []
        # Parallel to _pending: who awaits each receipt (take), None for fed ones.
        self._waiters: list[asyncio.Future[None] | None] = []
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
        self._waiters.extend([None] * len(receipts))
        self._wakeup()

    async def report(self, receipts: Sequence[Receipt]) -> None:
        """:meth:`feed`, as a carrier's ``ReceiptSink``."""
        self.feed(receipts)

    async def take(self, receipts: Sequence[Receipt]) -> None:
        """Take receipts and return once they are durable, applied in the next batches.

        If a batch holding them fails in the store, this raises its StoreError and they are not
        retried here: the caller tells its sender, who sends them again (an SMSC redelivers a
        deliver_sm answered with an error). Being cancelled does not withdraw them.
        """
        if not receipts:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_consume)  # a cancelled caller leaves its failure unread
        self._pending.extend(receipts)
        self._waiters.extend([done] * len(receipts))
        self._wakeup()
        await asyncio.shield(done)

    def announce(self, changed: Sequence[Message]) -> None:
        """Tell the listeners of messages made final by another store write (durable)."""
        if changed:
            for listener in self._listeners:
                listener(changed)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run_once(self) -> int:
        """Apply up to one batch of waiting receipts; returns how many were applied."""
        if not self._pending:
            return 0
        # Read the policy before taking the batch: if reading fails, the receipts stay pending.
        refund_on = (await self._policy.current()).platform.refund_on
        size = self._max_batch
        batch, waiters = self._pending[:size], self._waiters[:size]
        del self._pending[:size], self._waiters[:size]
        try:
            changed = await self._store.apply_receipts(mark_refunds(batch, refund_on))
        except StoreError as exc:
            self._put_back(batch, waiters, exc)
            raise
        if self._failing:
            log.warning("receipts are applied again (%d waiting)", len(self._pending))
            self._failing = False
        # A take's receipts are contiguous: it is settled unless the rest of them come next.
        following = self._waiters[0] if self._waiters else None
        for waiter in dict.fromkeys(waiters):
            if waiter is not None and waiter is not following and not waiter.done():
                waiter.set_result(None)
        self.announce(changed)
        return len(batch)

    def _put_back(
        self, batch: list[Receipt], waiters: list[asyncio.Future[None] | None], exc: StoreError
    ) -> None:
        """A receipt must not be lost because the store hiccuped: fed ones wait for the next
        batch; awaited ones fail their caller (with the rest of its receipts), whose sender
        sends them again. Logged once per run of failures (a full disk fails every retry; the
        store's health says why)."""
        failed = {w for w in waiters if w is not None}
        for waiter in failed:
            if not waiter.done():
                waiter.set_exception(exc)
        while self._waiters and self._waiters[0] in failed:
            del self._pending[0], self._waiters[0]
        kept = [r for r, w in zip(batch, waiters, strict=True) if w is None]
        self._pending[:0] = kept
        self._waiters[:0] = [None] * len(kept)
        if not self._failing:
            log.exception("store failed while applying %d receipts; will retry", len(batch))
            self._failing = True


def _consume(done: asyncio.Future[None]) -> None:
    if not done.cancelled():
        done.exception()
