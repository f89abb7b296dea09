"""The delivery queue several processes share: the store's queued messages (``WorkStore``).

Putting a message on this queue costs nothing: the store queued it in the transaction that
accepted it. What this adapter adds is what each process needs around that:

- **The bound.** Doors reserve room before they store (``ports.queue``). The depth is the
  store's count of queued messages, read every ``depth_every_s`` in the background (never on a
  request's path), plus what this process accepted since that read and what it has reserved.
  Several processes reserving at once may overshoot the bound by what each accepts between
  two reads: the bound is a brake on a backlog, not an exact count.
- **Taking work.** ``get_batch`` claims messages under a lease (``lease_s``) in one statement;
  when there are none it waits for a notification that work came (``pg_notify``, sent by the
  processes that accept, at most one per ``notify_every_s``) or for ``poll_s``, whichever comes
  first, so that a lost notification costs at most one poll.
- **Keeping it.** A carrier that answers only with the receipt (the simulator) leaves a message
  queued while it holds it, so a worker renews all its node's claims three times per lease
  while it lives: its work is taken over only once it is gone, after ``lease_s``, or at once
  when its node starts again (``release_node_work``).
- **Giving back.** ``put_later`` and ``put_when_room`` hand claimed messages back to the store
  (due later, or at once); every process's workers may then take them.

A carrier that records hand-overs and keeps nothing across restarts would leave its messages
SUBMITTED, out of the queue: :meth:`SharedDeliveryQueue.recover_node` hands a restarted node's
back to its workers (``WorkStore.node_submitted``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from smsgate.domain.models import Message
from smsgate.ports.queue import WorkStore
from smsgate.ports.store import StoreError
from smsgate.tasks import BackgroundTasks

__all__ = ["SharedDeliveryQueue"]

log = logging.getLogger(__name__)


class SharedDeliveryQueue:
    """Implements :class:`smsgate.ports.queue.DeliveryQueue` over a :class:`WorkStore`."""

    def __init__(
        self,
        work: WorkStore,
        capacity: int,
        node_id: int,
        *,
        lease_s: float = 120.0,
        poll_s: float = 0.5,
        depth_every_s: float = 0.5,
        notify_every_s: float = 0.005,
    ) -> None:
        self._work = work
        self._capacity = capacity
        self._node = node_id
        self._lease_s = lease_s
        self._poll_s = poll_s
        self._depth_every_s = depth_every_s
        self._notify_every_s = notify_every_s
        self._depth = 0  # the store's count at the last read
        self._since = 0  # accepted here since that read
        self._reserved = 0
        self._woken = asyncio.Event()
        self._recovered: deque[Message] = deque()  # this node's, for the carrier again
        self._notify_due = False
        self._tasks = BackgroundTasks()
        self._stop_listening: Callable[[], Awaitable[None]] | None = None
        self._depth_task: asyncio.Task[None] | None = None
        self._renewing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read the depth, listen for work, and keep the depth fresh in the background."""
        await self._work.release_node_work(self._node)  # held by this node's previous life
        self._depth = await self._work.waiting_work()
        self._stop_listening = await self._work.listen_work(self._woken.set)
        self._depth_task = asyncio.create_task(self._follow_depth(), name="queue-depth")

    async def close(self) -> None:
        for task in (self._depth_task, self._renewing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._tasks.cancel()
        if self._stop_listening is not None:
            with contextlib.suppress(Exception):  # the connection may be gone already
                await self._stop_listening()
            self._stop_listening = None

    # --- the port ------------------------------------------------------------------------------

    @property
    def used(self) -> int:
        return self._depth + self._since + self._reserved

    async def try_reserve(self, count: int) -> bool:
        if self.used + count > self._capacity:
            return False
        self._reserved += count
        return True

    async def room(self) -> int:
        return max(0, self._capacity - self.used)

    async def waiting(self) -> int:
        return self._depth + self._since

    async def cancel_reservation(self, count: int) -> None:
        self._reserved = max(0, self._reserved - count)

    async def put_reserved(self, messages: Sequence[Message]) -> None:
        # Queued already: the store's accepting transaction did it. Only announce it.
        self._reserved = max(0, self._reserved - len(messages))
        self._since += len(messages)
        self._woken.set()  # this process's own workers
        if not self._notify_due:
            self._notify_due = True
            self._tasks.spawn(self._notify_soon())

    async def put_when_room(self, messages: Sequence[Message]) -> None:
        await self._work.requeue_work([m.id for m in messages], 0.0)
        self._woken.set()

    async def put_later(self, messages: Sequence[Message], delay_s: float) -> None:
        await self._work.requeue_work([m.id for m in messages], delay_s)

    async def recover_node(self, node_id: int, page: int = 1000) -> int:
        """Take, to be handed over again by this process's workers, the messages ``node_id``
        handed to a carrier that keeps nothing across restarts (the simulator): a node that
        restarts gives them again, as the embedded server does with its unfinished messages."""
        after: str | None = None
        recovered = 0
        while batch := await self._work.node_submitted(node_id, after, page):
            self._recovered.extend(batch)
            recovered += len(batch)
            after = batch[-1].id
            self._woken.set()
        if recovered:
            log.info("handing %d messages of node %d to the carrier again", recovered, node_id)
        return recovered

    async def get_batch(self, max_items: int) -> list[Message]:
        if self._renewing is None:  # this process delivers: keep its claims alive
            self._renewing = asyncio.create_task(self._renew_forever(), name="queue-leases")
        if self._recovered:
            count = min(max_items, len(self._recovered))
            return [self._recovered.popleft() for _ in range(count)]
        while True:
            self._woken.clear()
            batch = await self._work.claim_work(self._node, max_items, self._lease_s)
            if batch:
                return batch
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._woken.wait()

    # --- background ----------------------------------------------------------------------------

    async def _notify_soon(self) -> None:
        """One notification for what this process accepted in the last moment."""
        try:
            await asyncio.sleep(self._notify_every_s)
            self._notify_due = False
            await self._work.notify_work()
        except StoreError as exc:  # the workers' next poll finds the work anyway
            log.warning("cannot announce queued work: %s", exc)

    async def _renew_forever(self) -> None:
        """Renew this node's claims three times per lease: a message stays claimed while a
        carrier that answers only with its receipt holds it, for as long as that takes, and
        is taken over only when this process is gone (its renewals stop)."""
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                await self._work.renew_node_work(self._node, self._lease_s)
            except StoreError as exc:
                log.warning("cannot renew the claims of node %d: %s", self._node, exc)

    async def _follow_depth(self) -> None:
        while True:
            await asyncio.sleep(self._depth_every_s)
            try:
                depth = await self._work.waiting_work()
            except StoreError:
                continue  # keep the last count; the store reports its own health
            self._depth, self._since = depth, 0
