"""AccessKey and account look-ups with a short-lived cache.

Every API call needs its key and account, every SMPP submit its bind's account. Reading them from
the store each time would put a database round trip on the hot path; caching them for a second
keeps that off while changes made through the CLI (another process writing the same store) still
take effect within a second.

The server awaits :meth:`KeyRing.load` before it opens its doors, so the first burst of requests
finds its keys in memory. After that, callers of one id share one read of the store (a burst of
requests with one new key makes one query, not one each); while an expired entry is read again,
the others are answered from it, and a read that fails keeps it in service. With ``ttl_s`` 0
every call sees a read that began after it (as the policy cache does). A read that fails with
nothing loaded to fall back on is the catalog's ``isp.SYSTEM_ERROR``, for every caller that
waited for it (:class:`~smsgate.service.store_faults.StoreFaults`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final, Generic, TypeVar

from smsgate.domain.models import AccessKey, Account
from smsgate.ports.clock import Clock
from smsgate.ports.store import AccountStore, StoreError
from smsgate.service.store_faults import StoreFaults

__all__ = ["MAX_ENTRIES", "KeyRing"]

log = logging.getLogger(__name__)

_V = TypeVar("_V")

#: Entries kept per cache: unknown ids must not grow memory without bound.
MAX_ENTRIES: Final = 10_000


class KeyRing:
    def __init__(self, store: AccountStore, clock: Clock, ttl_s: float = 1.0) -> None:
        self._store = store
        self._clock = clock
        faults = StoreFaults(log)
        self._keys = _Entries[tuple[AccessKey, Account] | None](
            store.find_key, clock, ttl_s, faults=faults, operation="read an access key"
        )
        self._accounts = _Entries[Account | None](
            store.get_account, clock, ttl_s, faults=faults, operation="read an account"
        )

    async def load(self) -> None:
        """Read every key with its account (up to the cache's bound) before the doors open."""
        for key, account in await self._store.list_all_keys(MAX_ENTRIES):
            self._keys.put(key.id, (key, account))
            self._accounts.put(account.id, account)

    async def find(self, key_id: str) -> tuple[AccessKey, Account] | None:
        return await self._keys.get(key_id)

    async def account(self, account_id: str) -> Account | None:
        """The account, as the store had it at most ``ttl_s`` ago (balances are checked by
        the store itself when charging, so a cached balance is never trusted)."""
        return await self._accounts.get(account_id)

    def forget(self, key_id: str) -> None:
        self._keys.forget(key_id)


class _Entries(Generic[_V]):
    """Values by id, each read from the store at most once per ``ttl_s``, one read at a time;
    a read that fails with nothing to fall back on is ``faults``' error for ``operation``."""

    def __init__(
        self,
        read: Callable[[str], Awaitable[_V]],
        clock: Clock,
        ttl_s: float,
        *,
        faults: StoreFaults,
        operation: str,
    ) -> None:
        self._read = read
        self._clock = clock
        self._ttl = ttl_s
        self._faults = faults
        self._operation = operation
        self._values: dict[str, tuple[float, _V]] = {}
        #: Reads under way: the shared future and when it began.
        self._reads: dict[str, tuple[asyncio.Future[_V], float]] = {}

    async def get(self, id_: str) -> _V:
        arrived = self._clock.now()
        while True:
            cached = self._values.get(id_)
            if cached is not None and cached[0] > arrived:
                return cached[1]
            reading = self._reads.get(id_)
            if reading is None:
                task = asyncio.ensure_future(self._fetch(id_, cached))
                task.add_done_callback(_consume)
                self._reads[id_] = (task, arrived)
                return await asyncio.shield(task)  # a cancelled caller does not cancel it
            pending, began = reading
            if cached is not None and self._ttl > 0:
                return cached[1]  # being read again: serve what was loaded meanwhile
            value = await asyncio.shield(pending)
            # With ttl_s 0 ("at once") only a read that began after this call will do.
            if self._ttl > 0 or began >= arrived:
                return value

    def put(self, id_: str, value: _V) -> None:
        self._remember(id_, value, self._clock.now())

    def forget(self, id_: str) -> None:
        self._values.pop(id_, None)

    async def _fetch(self, id_: str, cached: tuple[float, _V] | None) -> _V:
        started = self._clock.now()
        try:
            value = await self._read(id_)
        except StoreError as exc:
            if cached is None:  # every caller waiting for this read gets the catalog's error
                raise self._faults.failure(self._operation, exc) from exc
            log.warning("cannot read %s again, keeping the loaded entry: %s", id_, exc)
            value = cached[1]  # served for another ttl_s: one retry (and one log line) per ttl_s
        else:
            self._faults.success(self._operation)
        finally:
            del self._reads[id_]
        self._remember(id_, value, started)
        return value

    def _remember(self, id_: str, value: _V, read_at: float) -> None:
        if len(self._values) >= MAX_ENTRIES and id_ not in self._values:
            self._values.clear()
        self._values[id_] = (read_at + self._ttl, value)


def _consume(future: asyncio.Future[_V]) -> None:
    """Retrieve a shared read's failure even when every caller waiting for it was cancelled."""
    if not future.cancelled():
        future.exception()
