"""Authentication of Alibaba API calls: timestamp, key, signature, then nonce.

The order matters. The timestamp is checked first (cheap, and it bounds how long nonces must be
remembered); the nonce is remembered only after the signature has been verified, so that a forger
cannot burn a legitimate client's nonces. Secrets never leave this module in messages or logs.

A nonce is remembered in memory (the guard that refuses a replay) and, with a
:class:`~smsgate.ports.replay.NonceStore`, durably, so that a restart does not forget it. The
durable write is queued here, before anything the request goes on to write, and the door awaits
:attr:`Authenticated.remembered` before it answers: the nonce of a send is committed in the same
group commit as its message (or an earlier one), at no extra round trip.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Generator
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from smsgate import errors
from smsgate.domain.models import AccessKey, Account
from smsgate.doors.aliyun.signature import SignedRequest, check_timestamp, verify_signature
from smsgate.errors import GatewayError
from smsgate.ports.clock import Clock
from smsgate.ports.replay import NonceGuard, NonceStore
from smsgate.ports.store import StoreError
from smsgate.service.keyring import KeyRing

__all__ = ["ApiAuthenticator", "Authenticated", "NonceGuard"]


class Authenticated(NamedTuple):
    key: AccessKey
    account: Account
    #: Completes once the request's nonce is durable (never raises: when the store cannot keep
    #: it, the store's failure is what the operator is told about, and memory still refuses a
    #: replay until the next start).
    remembered: Awaitable[None]


class ApiAuthenticator:
    def __init__(
        self,
        keyring: KeyRing,
        nonces: NonceGuard,
        clock: Clock,
        skew: timedelta,
        kept: NonceStore | None = None,
    ) -> None:
        self._keyring = keyring
        self._nonces = nonces
        self._clock = clock
        self._skew = skew
        self._kept = kept

    async def authenticate(self, request: SignedRequest) -> Authenticated:
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        check_timestamp(request, now, self._skew)
        found = await self._keyring.find(request.access_key_id)
        if found is None:
            raise GatewayError(errors.INVALID_ACCESS_KEY_ID_NOT_FOUND)
        key, account = found
        if not key.enabled:
            raise GatewayError(errors.INVALID_ACCESS_KEY_ID_INACTIVE)
        verify_signature(request, key.secret)
        if not await self._nonces.check_and_remember(key.id, request.nonce, request.timestamp, now):
            raise GatewayError(errors.SIGNATURE_NONCE_USED)
        if self._kept is None:
            return Authenticated(key, account, _DONE)
        # Remembered as long as the memory guard remembers it (see ports.replay.NonceGuard).
        expires_at = (max(request.timestamp, now) + self._skew).timestamp()
        try:
            pending = self._kept.remember_nonce(key.id, request.nonce, expires_at)
        except StoreError:  # refused at once (a closed store): as when the write fails later
            return Authenticated(key, account, _DONE)
        return Authenticated(key, account, _Settled(pending))


class _Settled:
    """Awaits a durable write, swallowing the store's failure (see ``Authenticated``)."""

    __slots__ = ("_pending",)

    def __init__(self, pending: Awaitable[None]) -> None:
        self._pending = pending

    def __await__(self) -> Generator[Any, None, None]:
        with contextlib.suppress(StoreError):
            yield from self._pending.__await__()


class _Done:
    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator that finishes at once


_DONE = _Done()
