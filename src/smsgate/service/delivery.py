"""Delivery: from the queue to the carrier, and recovery of unfinished work on start."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from smsgate import errors
from smsgate.domain.models import (
    Accepted,
    Message,
    MessageStatus,
    Receipt,
    Rejected,
    SubmitOutcome,
)
from smsgate.ports.carrier import Carrier
from smsgate.ports.clock import Clock
from smsgate.ports.queue import DeliveryQueue
from smsgate.ports.store import MessageStore
from smsgate.service.cancel import CancelDesk
from smsgate.service.receipts import ReceiptProcessor

__all__ = ["DeliveryWorker", "recover_unfinished"]

log = logging.getLogger(__name__)


class DeliveryWorker:
    """Takes batches off the queue, expires what is too old, hands the rest to the carrier and
    acts on what the carrier says of each message.

    Accepted messages are the carrier's (recorded as SUBMITTED when the carrier needs that).
    Rejected ones become FAILED through the receipt processor, so their receipts go out like any
    failure's. Retried ones go back on the queue after the carrier's delay. If the carrier raises,
    it took none of the batch, and the whole batch goes back on the queue at once.
    """

    def __init__(
        self,
        queue: DeliveryQueue,
        carrier: Carrier,
        store: MessageStore,
        receipts: ReceiptProcessor,
        clock: Clock,
        batch_size: int = 256,
        cancels: CancelDesk | None = None,
        on_recorded: Callable[[Sequence[Accepted]], None] | None = None,
    ) -> None:
        self._queue = queue
        self._carrier = carrier
        self._store = store
        self._receipts = receipts
        self._clock = clock
        self._batch_size = batch_size
        self._cancels = cancels or CancelDesk()
        # Told of hand-overs once they are durable (the receipts' memory of carrier ids).
        self._on_recorded = on_recorded

    async def run_once(self) -> int:
        """Deliver one batch (waits for work); returns the number of messages handled."""
        batch = await self._queue.get_batch(self._batch_size)
        taken = self._cancels.take(batch)
        carried: list[Message] = []
        try:
            carried = await self._hand_over(taken)
        finally:
            unrecorded = () if self._carrier.records_submission else carried
            self._cancels.handed_over(taken, unrecorded)
        return len(batch)

    async def _hand_over(self, batch: list[Message]) -> list[Message]:
        """Expire what is too old, give the rest to the carrier; returns what the carrier took."""
        now = self._clock.now()
        live: list[Message] = []
        expired: list[Receipt] = []
        for message in batch:
            expires_at = message.expires_at
            if expires_at is not None and expires_at <= now:
                expired.append(Receipt(message.id, MessageStatus.EXPIRED, errors.EXPIRED.code, now))
            else:
                live.append(message)
        if expired:
            self._receipts.feed(expired)
        if not live:
            return []
        try:
            outcomes = await self._carrier.submit(live)
        except Exception:
            # Back on the queue: accepted work must not wait for a restart to be retried.
            await self._queue.put_when_room(live)
            raise
        return await self._settle(live, outcomes)

    async def _settle(self, live: list[Message], outcomes: list[SubmitOutcome]) -> list[Message]:
        """Act on each message's outcome; returns the messages the carrier took.

        Failures and retries are dealt with before the hand-over is recorded, so that a store
        failure there cannot lose them. A message the carrier said nothing of is retried at once
        (a carrier bug: losing it would be worse than a carrier seeing it twice).
        """
        pending = {m.id: m for m in live}
        taken: list[Message] = []
        accepted: list[Accepted] = []
        failed: list[Receipt] = []
        later: dict[float, list[Message]] = {}
        for outcome in outcomes:
            message = pending.pop(outcome.message_id, None)
            if message is None:
                continue  # not in this batch, or told twice: the first word counts
            if isinstance(outcome, Accepted):
                taken.append(message)
                accepted.append(outcome)
            elif isinstance(outcome, Rejected):
                at = outcome.rejected_at
                failed.append(
                    Receipt(
                        message.id,
                        MessageStatus.FAILED,
                        outcome.receipt_code,
                        at,
                        send_date=at,
                        connector=outcome.connector or None,  # "": no connector (no route)
                    )
                )
            else:
                later.setdefault(outcome.after_s, []).append(message)
        if pending:
            log.error("the carrier said nothing of %d messages; they are retried", len(pending))
            later.setdefault(0.0, []).extend(pending.values())
        if failed:
            self._receipts.feed(failed)
        for delay_s, messages in later.items():
            await self._queue.put_later(messages, delay_s)
        if accepted and self._carrier.records_submission:
            # Nothing is awaited between the carrier's answer and this write being queued: a
            # connector being drained counts on it (service.connectors).
            # Receipts that came before these hand-overs were recorded are applied with them.
            self._receipts.announce(await self._store.mark_submitted(accepted))
            if self._on_recorded is not None:
                self._on_recorded(accepted)
        return taken


async def recover_unfinished(
    store: MessageStore,
    queue: DeliveryQueue,
    carrier: Carrier,
    before_id: str,
    page: int = 1000,
) -> int:
    """Put every message the store holds as unfinished, older than ``before_id``, back on the queue.

    ``before_id`` is an id made just before the doors opened: newer messages were enqueued by the
    door that accepted them, and must not be enqueued twice.

    ACCEPTED messages never reached the carrier. SUBMITTED ones did; they are handed over again
    only when the carrier says that is harmless (the simulator); otherwise their receipts are
    awaited until they expire.
    """
    recovered = 0
    after: str | None = None
    while True:
        messages = await store.unfinished_messages(after, page)
        if not messages:
            break
        after = messages[-1].id
        todo = [
            m
            for m in messages
            if int(m.id) < int(before_id)
            and (m.status is MessageStatus.ACCEPTED or carrier.resubmit_on_recovery)
        ]
        await queue.put_when_room(todo)
        recovered += len(todo)
        if int(after) >= int(before_id):
            break
    if recovered:
        log.info("recovered %d unfinished messages", recovered)
    return recovered
