"""The embedded delivery queue: an in-process deque with a reservation count as its bound."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from smsgate.domain.models import Message

__all__ = ["MemoryDeliveryQueue"]


class MemoryDeliveryQueue:
    """Bounded by ``capacity`` counting both queued and reserved-but-not-yet-queued messages.

    Reservations let a door check for room before it stores a message, without holding the room
    across the store's await with a lock: the event loop runs one coroutine at a time, so a
    check-and-increment with no await in between is atomic. Messages put back for later wait on
    loop timers; they are counted as used until they are queued again.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: deque[Message] = deque()
        self._reserved = 0
        self._later = 0  # put_later: waiting for their delay
        self._not_empty = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def used(self) -> int:
        return len(self._items) + self._reserved + self._later

    @property
    def free(self) -> int:
        """Room left now (the port's ``room`` without the await)."""
        return max(0, self._capacity - self.used)

    async def room(self) -> int:
        return self.free

    async def waiting(self) -> int:
        return len(self._items)

    async def try_reserve(self, count: int) -> bool:
        if self.used + count > self._capacity:
            return False
        self._reserved += count
        self._sync_room()
        return True

    async def cancel_reservation(self, count: int) -> None:
        self._reserved = max(0, self._reserved - count)
        self._sync_room()

    async def put_reserved(self, messages: Sequence[Message]) -> None:
        self._reserved = max(0, self._reserved - len(messages))
        self._items.extend(messages)
        if self._items:
            self._not_empty.set()
        self._sync_room()

    async def put_when_room(self, messages: Sequence[Message]) -> None:
        for message in messages:
            while self.used >= self._capacity:
                await self._room.wait()
            self._items.append(message)
            self._not_empty.set()
            self._sync_room()

    async def put_later(self, messages: Sequence[Message], delay_s: float) -> None:
        if not messages:
            return
        waiting = list(messages)
        self._later += len(waiting)
        self._sync_room()
        asyncio.get_running_loop().call_later(max(0.0, delay_s), self._put_back, waiting)

    def _put_back(self, messages: list[Message]) -> None:
        self._later -= len(messages)
        self._items.extend(messages)
        self._not_empty.set()
        self._sync_room()

    async def get_batch(self, max_items: int) -> list[Message]:
        while not self._items:
            self._not_empty.clear()
            await self._not_empty.wait()
        count = min(max_items, len(self._items))
        batch = [self._items.popleft() for _ in range(count)]
        if not self._items:
            self._not_empty.clear()
        self._sync_room()
        return batch

    def _sync_room(self) -> None:
        if self.used < self._capacity:
            self._room.set()
        else:
            self._room.clear()
