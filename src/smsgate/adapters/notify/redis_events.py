"""Notifications between processes over Redis publish/subscribe ("policy changed", ...).

A process that changes something every process caches (a policy document, an account's keys)
publishes on a topic; the others subscribe and re-read at once instead of at their next
periodic refresh. Redis publish/subscribe delivers at most once, only to subscribers
connected at that moment: a message published while a subscriber is reconnecting is lost.
So a subscription says when that may have happened: after every reconnection it yields
``None`` ("you may have missed something: re-read what you cache") before the next message.
What a subscriber caches must stay correct without any message (the periodic refresh), so a
notification only makes a change visible sooner.

Reconnection happens at two levels. redis-py's client retries a lost connection itself (its
``retry`` setting) and subscribes again on the new connection; the server confirms that
subscription, and that second confirmation is how the subscription knows it happened. When
the client gives up (Redis down for longer), the subscription opens a new connection itself,
retrying with exponential back-off (``backoff``, from its first value doubling to its second)
for as long as it is iterated.

Channels are ``{prefix}events:{topic}``, so that installations sharing a server do not hear
each other.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["DEFAULT_PREFIX", "RedisEvents", "Subscription"]

DEFAULT_PREFIX = "smsgate:"
#: Errors after which a subscription connects again (OSError: a socket's own failures).
_LOST = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisEvents:
    """Publishes on and subscribes to topics, on the caller's client."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        backoff: tuple[float, float] = (0.05, 5.0),
    ) -> None:
        self._client = client
        self._prefix = f"{prefix}events:"
        self._backoff = backoff

    async def publish(self, topic: str, payload: bytes | str) -> int:
        """Send ``payload`` to the topic's current subscribers; how many processes received
        it (0 is not an error: nobody was listening)."""
        return int(await self._client.publish(self._prefix + topic, payload))

    def subscribe(self, topic: str) -> Subscription:
        """A subscription to ``topic``: enter it (``async with``), which returns once Redis
        has confirmed it, so that anything published afterwards is received; then iterate it
        for payloads (``bytes``), and ``None`` after each reconnection."""
        return Subscription(self._client, (self._prefix + topic).encode(), self._backoff)


class Subscription:
    """One topic's messages, as an async iterator; an async context manager that subscribes
    on entry and closes its connection on exit."""

    def __init__(self, client: Redis, channel: bytes, backoff: tuple[float, float]) -> None:
        self._client = client
        self._channel = channel
        self._backoff = backoff
        self._pubsub: PubSub | None = None

    async def __aenter__(self) -> Subscription:
        self._pubsub = await self._subscribed()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Unsubscribe and give the connection back."""
        if self._pubsub is not None:
            pubsub, self._pubsub = self._pubsub, None
            await pubsub.aclose()

    def __aiter__(self) -> AsyncIterator[bytes | None]:
        return self

    async def __anext__(self) -> bytes | None:
        """The next payload; ``None`` once after a reconnection (messages may have been lost)."""
        if self._pubsub is None:
            raise RuntimeError("enter the subscription (async with) before iterating it")
        while True:
            try:
                message: dict[str, Any] | None = await self._pubsub.get_message(timeout=None)
            except _LOST:
                await self._reconnect()
                return None
            if message is None:
                continue
            kind = message["type"]
            if kind in ("message", b"message"):
                data = message["data"]
                return data if isinstance(data, bytes) else str(data).encode()
            if kind in ("subscribe", b"subscribe"):
                # The first confirmation was read on entry: this one is redis-py subscribing
                # again on a new connection.
                return None

    async def _reconnect(self) -> None:
        """Replace the lost connection, retrying until Redis answers (with back-off)."""
        if self._pubsub is not None:
            await _close_quietly(self._pubsub)
            self._pubsub = None
        delay, longest = self._backoff
        while True:
            try:
                self._pubsub = await self._subscribed()
            except _LOST:
                await asyncio.sleep(delay)  # a retry's back-off: nothing to wait for instead
                delay = min(delay * 2, longest)
            else:
                return

    async def _subscribed(self) -> PubSub:
        """A new connection subscribed to the channel, once Redis has confirmed it."""
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is not None and message["type"] in ("subscribe", b"subscribe"):
                    return pubsub
        except BaseException:
            await _close_quietly(pubsub)
            raise


async def _close_quietly(pubsub: PubSub) -> None:
    """Close a connection that may already be broken: its failure to close says nothing new."""
    with contextlib.suppress(*_LOST):
        await pubsub.aclose()
