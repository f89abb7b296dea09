"""AccessKey and account look-ups with a short-lived cache.

Every API call needs its key and account, every SMPP submit its bind's account. Reading them from
the store each time would put a database round trip on the hot path; caching them for a second
keeps that off while changes made through the CLI (another process writing the same store) still
take effect within a second.
"""

from __future__ import annotations

from typing import TypeVar

from smsgate.domain.models import AccessKey, Account
from smsgate.ports.clock import Clock
from smsgate.ports.store import AccountStore

__all__ = ["KeyRing"]

_V = TypeVar("_V")


class KeyRing:
    def __init__(self, store: AccountStore, clock: Clock, ttl_s: float = 1.0) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, tuple[AccessKey, Account] | None]] = {}
        self._accounts: dict[str, tuple[float, Account | None]] = {}

    async def find(self, key_id: str) -> tuple[AccessKey, Account] | None:
        now = self._clock.now()
        cached = self._cache.get(key_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await self._store.find_key(key_id)
        _remember(self._cache, key_id, (now + self._ttl, found))
        return found

    async def account(self, account_id: str) -> Account | None:
        """The account, as the store had it at most ``ttl_s`` ago (balances are checked by
        the store itself when charging, so a cached balance is never trusted)."""
        now = self._clock.now()
        cached = self._accounts.get(account_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await self._store.get_account(account_id)
        _remember(self._accounts, account_id, (now + self._ttl, found))
        return found

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)


def _remember(cache: dict[str, _V], key: str, value: _V) -> None:
    if len(cache) > 10_000:  # bounded: unknown ids must not grow memory
        cache.clear()
    cache[key] = value
