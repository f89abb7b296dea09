"""deliver_sm owed to each system_id (receipts and MO messages) on their way to its receiver binds.

A carrier's SMSC delivers to the system_id, not to the connection that submitted: a receipt goes
to any bind of the system_id that can receive (receiver or transceiver), taken in turn, within
each bind's window. With none bound it waits, in order, for the next one; a deliver_sm that is
refused or not answered is sent again after ``retry_s``; one a bind took with it when it went
away is sent first to the next. Nothing is dropped, so what a system_id is owed is bounded
instead: ``max_pending`` counts every receipt promised at submit time (see :meth:`reserve`) and
every deliver_sm not yet acknowledged, and :meth:`has_room` says when the SMSC must refuse
(ESME_RMSGQFUL) rather than promise more.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .deliveries import Delivery

__all__ = ["DeliveryLink", "Outbox"]


class DeliveryLink(Protocol):
    """A bind of ``system_id`` that can take deliver_sm (bound as receiver or transceiver)."""

    @property
    def system_id(self) -> str: ...

    def can_send(self) -> bool:
        """Room in the bind's window for one more deliver_sm."""
        ...

    def send(self, delivery: Delivery) -> None:
        """Send it; the answer comes back as :meth:`Outbox.acknowledged` or
        :meth:`Outbox.refused`, or it is among the unanswered ones on :meth:`Outbox.detach`."""
        ...


@dataclass(slots=True)
class _Box:
    links: list[DeliveryLink] = field(default_factory=list)
    ready: deque[Delivery] = field(default_factory=deque)
    pending: int = 0  # promised, ready, in flight or waiting to be retried
    turn: int = 0  # the link to start with next time, round robin
    changed: asyncio.Event | None = None  # for waiters on ``ready``


class Outbox:
    """Per system_id queues of deliver_sm and the binds that take them. Runs on one loop."""

    def __init__(self, *, max_pending: int, retry_s: float) -> None:
        self._max_pending = max_pending
        self._retry_s = retry_s
        self._boxes: dict[str, _Box] = {}
        self._timers: set[asyncio.TimerHandle] = set()

    # --- bounds -------------------------------------------------------------------------------

    def has_room(self, system_id: str, count: int = 1) -> bool:
        box = self._boxes.get(system_id)
        return box is None or box.pending + count <= self._max_pending

    def reserve(self, system_id: str, count: int = 1) -> None:
        """Count ``count`` deliver_sm that will be :meth:`put` later (a receipt after its
        delay) against the system_id's bound."""
        self._box(system_id).pending += count

    def pending(self, system_id: str) -> int:
        """Promised and not yet acknowledged."""
        box = self._boxes.get(system_id)
        return 0 if box is None else box.pending

    def owed(self) -> int:
        """Promised to any system_id and not yet acknowledged."""
        return sum(box.pending for box in self._boxes.values())

    def waiting(self, system_id: str) -> int:
        """Due and not yet sent (no receiver bound, or its window is full)."""
        box = self._boxes.get(system_id)
        return 0 if box is None else len(box.ready)

    async def until_waiting(self, system_id: str, count: int) -> None:
        """Until at least ``count`` deliver_sm wait for ``system_id`` (for tests)."""
        box = self._box(system_id)
        while len(box.ready) < count:
            if box.changed is None:
                box.changed = asyncio.Event()
            await box.changed.wait()
            box.changed.clear()

    # --- binds --------------------------------------------------------------------------------

    def attach(self, link: DeliveryLink) -> None:
        """A bind that can receive: it gets what its system_id is owed."""
        self._box(link.system_id).links.append(link)
        self.pump(link.system_id)

    def detach(self, link: DeliveryLink, unanswered: Sequence[Delivery]) -> None:
        """The bind went away: what it did not answer goes first to the next."""
        box = self._boxes.get(link.system_id)
        if box is None or link not in box.links:
            return
        box.links.remove(link)
        box.ready.extendleft(reversed(unanswered))
        self._notify(box)
        self.pump(link.system_id)
        self._forget_if_idle(link.system_id, box)

    def receivers(self) -> list[str]:
        """The system_ids with a bind that can receive, in the order they first bound."""
        return [system_id for system_id, box in self._boxes.items() if box.links]

    # --- deliveries ---------------------------------------------------------------------------

    def put(self, system_id: str, deliveries: Iterable[Delivery], *, reserved: bool = True) -> None:
        """``deliveries`` are due now: already :meth:`reserve`\\ d, or counted here. Sent by the
        next :meth:`pump`."""
        box = self._box(system_id)
        before = len(box.ready)
        box.ready.extend(deliveries)
        if not reserved:
            box.pending += len(box.ready) - before
        self._notify(box)

    def acknowledged(self, system_id: str) -> None:
        """A bind answered a deliver_sm with ESME_ROK: it is done."""
        box = self._boxes.get(system_id)
        if box is not None:
            box.pending -= 1
            self._forget_if_idle(system_id, box)

    def refused(self, system_id: str, delivery: Delivery) -> None:
        """A bind refused the deliver_sm or did not answer it: again after ``retry_s``."""
        loop = asyncio.get_running_loop()
        holder: list[asyncio.TimerHandle] = []
        holder.append(loop.call_later(self._retry_s, self._retry, system_id, delivery, holder))
        self._timers.add(holder[0])

    def _retry(self, system_id: str, delivery: Delivery, holder: list[asyncio.TimerHandle]) -> None:
        self._timers.discard(holder[0])
        box = self._box(system_id)
        box.ready.append(delivery)
        self._notify(box)
        self.pump(system_id)

    def pump(self, system_id: str) -> None:
        """Send what is due to the system_id's binds, each in turn as far as its window allows."""
        box = self._boxes.get(system_id)
        if box is None or not box.ready or not box.links:
            return
        links, ready = box.links, box.ready
        count = len(links)
        start = box.turn % count
        box.turn = start + 1
        for i in range(count):
            link = links[(start + i) % count]
            while ready and link.can_send():
                link.send(ready.popleft())
            if not ready:
                return

    def close(self) -> None:
        """Stop the retry timers (the SMSC is stopping)."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    # --- helpers ------------------------------------------------------------------------------

    def _box(self, system_id: str) -> _Box:
        box = self._boxes.get(system_id)
        if box is None:
            box = self._boxes[system_id] = _Box()
        return box

    def _forget_if_idle(self, system_id: str, box: _Box) -> None:
        """A system_id that is owed nothing and has no bind takes no memory (any system_id
        may bind when no credentials are set)."""
        if not box.pending and not box.links and box.changed is None:
            del self._boxes[system_id]

    @staticmethod
    def _notify(box: _Box) -> None:
        if box.changed is not None:
            box.changed.set()
