"""Authentication of Alibaba API calls: timestamp, key, signature, then nonce.

The order matters. The timestamp is checked first (cheap, and it bounds how long nonces must be
remembered); the nonce is remembered only after the signature has been verified, so that a forger
cannot burn a legitimate client's nonces. Secrets never leave this module in messages or logs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from smsgate import errors
from smsgate.domain.models import AccessKey, Account
from smsgate.doors.aliyun.signature import SignedRequest, check_timestamp, verify_signature
from smsgate.errors import GatewayError
from smsgate.ports.clock import Clock
from smsgate.service.keyring import KeyRing

__all__ = ["ApiAuthenticator", "NonceGuard"]


class NonceGuard(Protocol):
    def check_and_remember(
        self, access_key_id: str, nonce: str, timestamp: datetime, now: datetime
    ) -> bool: ...


class ApiAuthenticator:
    def __init__(self, keyring: KeyRing, nonces: NonceGuard, clock: Clock, skew: timedelta) -> None:
        self._keyring = keyring
        self._nonces = nonces
        self._clock = clock
        self._skew = skew

    async def authenticate(self, request: SignedRequest) -> tuple[AccessKey, Account]:
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        check_timestamp(request, now, self._skew)
        found = await self._keyring.find(request.access_key_id)
        if found is None:
            raise GatewayError(errors.INVALID_ACCESS_KEY_ID_NOT_FOUND)
        key, account = found
        if not key.enabled:
            raise GatewayError(errors.INVALID_ACCESS_KEY_ID_INACTIVE)
        verify_signature(request, key.secret)
        if not self._nonces.check_and_remember(key.id, request.nonce, request.timestamp, now):
            raise GatewayError(errors.SIGNATURE_NONCE_USED)
        return key, account
