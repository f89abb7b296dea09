"""The replay port: signature nonces already used, in memory and durably.

An Alibaba signature stays valid for the whole timestamp window (15 minutes either side of the
server clock), so a captured request could be sent again. The door refuses a ``(AccessKey,
nonce)`` pair it has seen within that window (``SignatureNonceUsed``). :class:`NonceGuard` decides
that, in memory, on every request; :class:`NonceStore` keeps the pairs durably so that a restart
(clean or a kill -9) does not forget them, since a replay sent after a restart would otherwise
send and charge a second message.

Why durably in the store rather than refusing, after a start, every request signed before it:
clients' clocks are allowed to be up to 15 minutes off, so "signed before the start" cannot be
told from a timestamp without refusing honest requests for up to 15 minutes after each restart.
The store already commits every accepted message in a group commit; a nonce queued just before
the message it authorises rides in the same commit, so keeping it costs no extra round trip.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["NonceGuard", "NonceStore", "StoredNonce"]


class NonceGuard(Protocol):
    #: Whether the pairs outlive this process (a shared guard's do): when they do not, a
    #: starting server gives the guard the pairs the store kept (``NonceStore``).
    keeps_nonces_across_restarts: bool

    async def check_and_remember(
        self, access_key_id: str, nonce: str, timestamp: datetime, now: datetime
    ) -> bool:
        """False if the pair was seen within the window; else remember it and return True.

        ``timestamp`` is the request's signed timestamp, ``now`` the server clock (both
        timezone-aware): a pair is remembered until ``max(timestamp, now) + window``.

        A coroutine: a guard shared by several processes (Redis) answers after a round trip,
        and a replay must be refused whichever process receives it."""
        ...


@dataclass(frozen=True, slots=True)
class StoredNonce:
    access_key_id: str
    nonce: str
    expires_at: float  # unix seconds after which a request with it can no longer be replayed


class NonceStore(Protocol):
    def remember_nonce(self, access_key_id: str, nonce: str, expires_at: float) -> Awaitable[None]:
        """Keep the pair durably until ``expires_at``; the awaitable completes once it is.

        Not a coroutine: the write is queued when this is called, before any write the caller
        queues afterwards, so that awaiting a later write (the message the request sends) also
        means the nonce is durable. StoreError if it cannot be kept."""
        ...

    async def live_nonces(
        self, now: float, after: StoredNonce | None, limit: int
    ) -> list[StoredNonce]:
        """Up to ``limit`` pairs kept that expire after ``now``, in (expires_at, access_key_id,
        nonce) order after ``after`` (a page of what a starting server must remember)."""
        ...

    async def prune_nonces(self, now: float) -> int:
        """Forget the pairs that expired at or before ``now``; returns how many."""
        ...
