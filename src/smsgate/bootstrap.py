"""One way to build smsgate: the adapters chosen from the configuration, the server over them.

The server (``smsgate serve``), the CLI and the tests all build through :func:`bootstrap`, so
there is one wiring to keep right. What differs between an embedded installation, a scale-out
one and a test is only *which adapters* fill the ports (store, limiter, queue, clock, replay
guard); each can be passed in, and what is not passed is chosen from the configuration.

Nothing here starts anything: the caller starts what it built (``await gateway.open()`` for the
core without listeners, ``await gateway.start()`` for the whole server).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from smsgate.adapters.limits.memory import MemoryLimiter
from smsgate.adapters.limits.redis import RedisLimiter
from smsgate.adapters.queue.memory import MemoryDeliveryQueue
from smsgate.adapters.queue.shared import SharedDeliveryQueue
from smsgate.adapters.replay.memory import MemoryNonceGuard
from smsgate.adapters.replay.redis import RedisNonceGuard
from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.factory import open_store
from smsgate.config import Config
from smsgate.ports.clock import Clock, SystemClock
from smsgate.ports.limits import Limiter
from smsgate.ports.queue import DeliveryQueue, WorkStore
from smsgate.ports.replay import NonceGuard
from smsgate.ports.store import Store

if TYPE_CHECKING:
    from smsgate.app import Gateway

__all__ = ["Adapters", "adapters_for", "bootstrap"]


@dataclass(frozen=True, slots=True)
class Adapters:
    """What fills the ports of one smsgate process."""

    store: Store
    #: Seals connector passwords (and, inside the store, AccessKey secrets).
    box: SecretBox
    clock: Clock
    queue: DeliveryQueue
    limiter: Limiter
    nonces: NonceGuard
    #: The fault injector's dice: ``random.random`` in service, fixed in tests.
    chance: Callable[[], float]
    #: What the adapters opened beyond the store (a Redis connection pool), closed last.
    closers: tuple[Callable[[], Awaitable[object]], ...] = ()

    async def close(self) -> None:
        for close in self.closers:
            await close()


def adapters_for(
    config: Config,
    *,
    store: Store | None = None,
    limiter: Limiter | None = None,
    queue: DeliveryQueue | None = None,
    clock: Clock | None = None,
    nonces: NonceGuard | None = None,
    chance: Callable[[], float] | None = None,
) -> Adapters:
    """The adapters the configuration names, except those passed in.

    The embedded default: the data directory's SQLite store, and the limiter, queue and replay
    guard in process memory. With ``[redis] url``, the limiter and the replay guard are the
    ones every process shares in Redis; with a PostgreSQL store, the store is the delivery queue
    every process shares. A store passed in without a data directory behind it
    (a test's memory store) gets a master key of its own for the run."""
    if store is None:
        store = open_store(config)  # makes the master key if the database is new
        box = SecretBox.from_key_file(config.master_key_path, create=False)
    elif config.master_key_path.exists():
        box = SecretBox.from_key_file(config.master_key_path, create=False)
    else:
        box = SecretBox(secrets.token_bytes(32))
    window = timedelta(seconds=config.server.timestamp_skew_s)
    closers: list[Callable[[], Awaitable[object]]] = []
    if config.redis.url and (limiter is None or nonces is None):
        # One client (a connection pool) for everything this process keeps in Redis.
        client = Redis.from_url(config.redis.url)
        closers.append(client.aclose)
        prefix = config.redis.prefix
        limiter = limiter if limiter is not None else RedisLimiter(client, prefix=prefix)
        nonces = nonces if nonces is not None else RedisNonceGuard(client, window, prefix=prefix)
    return Adapters(
        store=store,
        box=box,
        clock=clock if clock is not None else SystemClock(),
        queue=queue if queue is not None else _queue_for(config, store),
        limiter=limiter if limiter is not None else MemoryLimiter(),
        nonces=nonces if nonces is not None else MemoryNonceGuard(window=window),
        chance=chance if chance is not None else random.random,
        closers=tuple(closers),
    )


def _queue_for(config: Config, store: Store) -> DeliveryQueue:
    """The queue the store allows: a store that several processes share is the queue itself."""
    capacity = config.pipeline.queue_size
    if isinstance(store, WorkStore):
        return SharedDeliveryQueue(store, capacity, config.server.node_id)
    return MemoryDeliveryQueue(capacity)


def bootstrap(
    config: Config,
    *,
    store: Store | None = None,
    limiter: Limiter | None = None,
    queue: DeliveryQueue | None = None,
    clock: Clock | None = None,
    nonces: NonceGuard | None = None,
    chance: Callable[[], float] | None = None,
) -> Gateway:
    """The server over the adapters the configuration names, except those passed in."""
    from smsgate.app import Gateway  # noqa: PLC0415 - the CLI's admin commands need not load it

    adapters = adapters_for(
        config,
        store=store,
        limiter=limiter,
        queue=queue,
        clock=clock,
        nonces=nonces,
        chance=chance,
    )
    return Gateway(config, adapters)
