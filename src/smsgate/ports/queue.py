"""The queue between acceptance and delivery.

It is bounded: a door reserves room *before* it stores a message, so acceptance can never outrun
delivery by more than the configured size. When there is no room, the door tells its client to slow
down (HTTP ``Throttling``, SMPP ``ESME_RMSGQFUL``) instead of growing a silent backlog. The queue is
not the record of truth: the store is. After a crash, work is rebuilt from the store's unfinished
messages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from smsgate.domain.models import Message

__all__ = ["DeliveryQueue", "WorkStore"]


class DeliveryQueue(Protocol):
    """What the doors and the delivery workers need of the queue; every method a coroutine.

    Coroutines because a queue shared by several processes answers after a round trip; the
    embedded one answers without suspending, and a reservation there stays atomic because
    nothing between its check and its count awaits.

    What crosses the queue is the message's *id*: the store already holds the message, durably,
    before it is put here. The embedded queue keeps the objects it was given (same process, no
    copy); a shared queue records only ids and loads the messages it hands out from the store,
    in the same round trip that claims them. So the parameters are whole messages (the doors
    have them), and a shared adapter reads nothing from them but ``id`` (and ``expires_at``
    where it orders by it).
    """

    async def try_reserve(self, count: int) -> bool:
        """Reserve room for ``count`` messages; False (nothing reserved) when full."""
        ...

    async def room(self) -> int:
        """How many messages could be reserved now."""
        ...

    async def waiting(self) -> int:
        """How many messages wait to be taken (for messages and metrics; not a bound)."""
        ...

    async def cancel_reservation(self, count: int) -> None:
        """Give back room reserved for messages that were not accepted after all."""
        ...

    async def put_reserved(self, messages: Sequence[Message]) -> None:
        """Enqueue messages whose room was reserved."""
        ...

    async def put_when_room(self, messages: Sequence[Message]) -> None:
        """Enqueue, waiting for room first (recovery: work already accepted must not be refused)."""
        ...

    async def put_later(self, messages: Sequence[Message], delay_s: float) -> None:
        """Enqueue after ``delay_s`` seconds: a carrier said it cannot take them now.

        They count against the bound while they wait, even beyond it (they left the queue a
        moment ago, and doors may have reserved the room since): a carrier that slows down slows
        the doors down, instead of growing a backlog outside the bound."""
        ...

    async def get_batch(self, max_items: int) -> list[Message]:
        """Wait for at least one message; return up to ``max_items``. Frees their room."""
        ...


@runtime_checkable
class WorkStore(Protocol):
    """A store that is also the queue several processes share (the PostgreSQL store): queued
    messages are its accepted ones, claimed by one worker at a time under a lease."""

    async def claim_work(self, node_id: int, limit: int, lease_s: float) -> list[Message]:
        """Up to ``limit`` queued, due messages nobody holds, now held by ``node_id`` for
        ``lease_s`` seconds (a worker that dies leaves them to others when the lease ends)."""
        ...

    async def requeue_work(self, message_ids: Sequence[str], delay_s: float) -> None:
        """Give claimed messages back, to be taken again ``delay_s`` from now."""
        ...

    async def release_node_work(self, node_id: int) -> None:
        """Give back every message ``node_id`` holds (a node starting again: the holder was
        its previous life)."""
        ...

    async def renew_node_work(self, node_id: int, lease_s: float) -> int:
        """Extend every live claim of ``node_id`` to ``lease_s`` from now (a live worker's
        heartbeat: its claims end only when it stops renewing them); how many."""
        ...

    async def waiting_work(self) -> int:
        """How many messages are queued, claimed or not."""
        ...

    async def node_submitted(self, node_id: int, after: str | None, limit: int) -> list[Message]:
        """A page of the messages ``node_id`` handed to a carrier that still owes their receipt
        (by id, after ``after``): what a restarted node gives again to a carrier that keeps
        nothing across restarts."""
        ...

    async def notify_work(self) -> None:
        """Tell every process's workers that work was queued."""
        ...

    async def listen_work(self, wake: Callable[[], None]) -> Callable[[], Awaitable[None]]:
        """Call ``wake`` whenever work is announced; returns how to stop listening."""
        ...
