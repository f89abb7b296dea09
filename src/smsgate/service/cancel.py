"""cancel_sm against the delivery worker: exactly one of them wins for each message.

A message can be cancelled only while it is ACCEPTED, that is, before the worker hands it to a
carrier. Both run on one event loop, and neither awaits between looking and deciding: the door
:meth:`claims <CancelDesk.claim>` a message id before it asks the store to cancel it, and the
worker :meth:`takes <CancelDesk.take>` its batch through the desk, which holds back claimed
messages and refuses claims on messages it is handing over. A message the store did not cancel
(it was further along, or the store failed) goes back on the queue; one it did cancel is dropped
when the worker meets it.
"""

from __future__ import annotations

from collections.abc import Sequence

from smsgate.domain.models import Message

__all__ = ["CancelDesk"]


class CancelDesk:
    def __init__(self) -> None:
        self._claimed: set[str] = set()
        self._handing_over: set[str] = set()
        self._held: dict[str, Message] = {}
        self._cancelled: set[str] = set()  # cancelled, still on the queue

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

    def handed_over(self, batch: Sequence[Message]) -> None:
        self._handing_over.difference_update(m.id for m in batch)
