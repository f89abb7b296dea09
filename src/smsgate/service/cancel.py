"""cancel_sm against the delivery worker: exactly one of them wins for each message.

A message can be cancelled while no carrier has it (it waits on the queue), or while a carrier
that can withdraw it (:meth:`Carrier.cancel`) still holds it. Both the door and the worker run on
one event loop, and neither awaits between looking and deciding: :meth:`CancelService.cancel`
:meth:`claims <CancelDesk.claim>` a message id before it asks the carrier or the store, and the
worker :meth:`takes <CancelDesk.take>` its batch through the desk, which holds back claimed
messages and refuses claims on messages it is handing over. A message the store did not cancel
(it was further along, or the store failed) goes back on the queue; one it did cancel is dropped
when the worker meets it.

A carrier that does not record the hand-over (the simulator) leaves its messages ACCEPTED in the
store until their receipt; the desk remembers them (:meth:`CancelDesk.handed_over`) so that only
the carrier's own :meth:`~Carrier.cancel` can take them back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from smsgate.domain.models import Message
from smsgate.ports.carrier import Carrier
from smsgate.ports.clock import Clock
from smsgate.ports.queue import DeliveryQueue
from smsgate.ports.store import MessageStore
from smsgate.service.store_faults import StoreFaults

__all__ = ["CancelDesk", "CancelService"]

log = logging.getLogger(__name__)


class CancelDesk:
    def __init__(self) -> None:
        self._claimed: set[str] = set()
        self._handing_over: set[str] = set()
        self._held: dict[str, Message] = {}
        self._cancelled: set[str] = set()  # cancelled, still on the queue
        self._with_carrier: set[str] = set()  # handed over, still ACCEPTED in the store

    def claim(self, message_id: str) -> bool:
        """May the door try to cancel this message? False while the worker hands it over."""
        if message_id in self._handing_over or message_id in self._claimed:
            return False
        self._claimed.add(message_id)
        return True

    def settle(self, message_id: str, cancelled: bool) -> Message | None:
        """The store's answer for a claimed message. Returns a message the worker held back
        meanwhile that must go back on the queue (it was not cancelled after all)."""
        self._claimed.discard(message_id)
        held = self._held.pop(message_id, None)
        if cancelled:
            if held is None:
                self._cancelled.add(message_id)  # the worker will meet it later
            return None
        return held

    def take(self, batch: Sequence[Message]) -> list[Message]:
        """The worker's batch minus claimed and cancelled messages; the rest are handed over
        until :meth:`handed_over`."""
        live: list[Message] = []
        for message in batch:
            if message.id in self._cancelled:
                self._cancelled.discard(message.id)
            elif message.id in self._claimed:
                self._held[message.id] = message
            else:
                live.append(message)
        self._handing_over.update(m.id for m in live)
        return live

    def handed_over(self, batch: Sequence[Message], unrecorded: Sequence[Message] = ()) -> None:
        """The worker is done with ``batch``; ``unrecorded`` went to a carrier that leaves them
        ACCEPTED in the store, so they can be cancelled only through the carrier."""
        self._handing_over.difference_update(m.id for m in batch)
        self._with_carrier.update(m.id for m in unrecorded)

    def with_carrier(self, message_id: str) -> bool:
        return message_id in self._with_carrier

    def finished(self, messages: Sequence[Message]) -> None:
        """Receipt listener: these messages are final, out of the carrier's hands."""
        self._with_carrier.difference_update(m.id for m in messages)


class CancelService:
    """cancel_sm for one message of an account: True if it will never be delivered. A store
    that fails is the catalog's ``isp.SYSTEM_ERROR``."""

    def __init__(
        self,
        desk: CancelDesk,
        store: MessageStore,
        queue: DeliveryQueue,
        carrier: Carrier,
        clock: Clock,
    ) -> None:
        self._desk = desk
        self._store = store
        self._queue = queue
        self._carrier = carrier
        self._clock = clock
        self._faults = StoreFaults(log)

    async def cancel(self, account_id: str, message_id: str) -> bool:
        if not self._desk.claim(message_id):
            return False  # being handed over right now
        cancelled = None
        try:
            with_carrier = self._desk.with_carrier(message_id)
            if with_carrier and not await self._carrier.cancel(message_id):
                return False
            with self._faults.translated("cancel a message"):
                now = self._clock.now()
                cancelled = await self._store.cancel_message(account_id, message_id, now)
            if cancelled is None and with_carrier:
                log.error("message %s was withdrawn from the carrier but not cancelled", message_id)
        finally:
            held = self._desk.settle(message_id, cancelled is not None)
            if held is not None:
                await self._queue.put_when_room([held])
        if cancelled is not None:
            self._desk.finished([cancelled])
        return cancelled is not None
