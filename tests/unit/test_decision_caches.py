"""The caches that decide requests (policy documents, keys, accounts) never answer from data they
have not loaded: the first callers share one read, later callers are served the last loaded
version while it is read again, and a failed read keeps that version in service.

The store is the memory fake with a gate on its reads, so a test holds a read open and looks at
what everyone else gets meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest

from smsgate import errors
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.domain.models import AccessKey, Account, AccountState
from smsgate.errors import SmsError
from smsgate.ports.store import StoreError
from smsgate.service.keyring import KeyRing
from smsgate.service.policy import Policy, PolicyCache

T0 = 1_795_000_000.0
ACCOUNT = Account("1000000000000001", "acme", AccountState.NORMAL, 5, None, T0)
KEY = AccessKey("LTAI1", ACCOUNT.id, "s" * 30, True, None, T0)


class FixedClock:
    def __init__(self, now: float = T0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


class GatedStore(MemoryStore):
    """Counts reads of versions, keys and accounts; each waits for ``gate``; ``broken`` fails
    them as a store that cannot be read."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.reads = 0
        self.broken = False

    async def _pass(self) -> None:
        self.reads += 1
        await self.gate.wait()
        if self.broken:
            raise StoreError("OperationalError: disk I/O error")

    async def document_versions(self) -> dict[str, int]:
        await self._pass()
        return await super().document_versions()

    async def find_key(self, key_id: str) -> tuple[AccessKey, Account] | None:
        await self._pass()
        return await super().find_key(key_id)

    async def get_account(self, account_id: str) -> Account | None:
        await self._pass()
        return await super().get_account(account_id)


@pytest.fixture
async def store() -> AsyncIterator[GatedStore]:
    opened = GatedStore()
    await opened.start()
    await opened.create_account(ACCOUNT, KEY)
    await opened.put_document("keywords", json.dumps(["casino"]))
    yield opened
    await opened.close()


async def until_waiting(store: GatedStore, reads: int) -> None:
    """Let the event loop run until ``reads`` reads are waiting at the gate."""
    for _ in range(100):
        if store.reads >= reads:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{store.reads} reads started, expected {reads}")


def keywords_of(policy: Policy) -> str | None:
    return None if policy.keywords is None else policy.keywords.find("casino")


# -- policy documents --------------------------------------------------------------------------


async def test_callers_before_the_first_load_wait_for_one_shared_read(store: GatedStore) -> None:
    cache = PolicyCache(store, FixedClock(), ttl_s=1.0)
    store.gate.clear()

    burst = [asyncio.ensure_future(cache.current()) for _ in range(64)]
    await until_waiting(store, 1)
    for _ in range(10):
        await asyncio.sleep(0)
    assert store.reads == 1
    assert not any(task.done() for task in burst)  # nobody was answered from defaults
    store.gate.set()

    assert [keywords_of(p) for p in await asyncio.gather(*burst)] == ["casino"] * 64
    assert store.reads == 1


async def test_during_a_refresh_the_last_loaded_version_is_served(store: GatedStore) -> None:
    clock = FixedClock()
    cache = PolicyCache(store, clock, ttl_s=1.0)
    await cache.load()
    await store.put_document("keywords", json.dumps(["lottery"]))
    clock.t = T0 + 1.0
    store.gate.clear()

    refreshing = asyncio.ensure_future(cache.current())
    await until_waiting(store, 2)
    during = [await cache.current() for _ in range(5)]  # answered without waiting
    assert [keywords_of(p) for p in during] == ["casino"] * 5
    assert store.reads == 2
    store.gate.set()

    refreshed = await refreshing
    assert refreshed.keywords is not None
    assert refreshed.keywords.find("lottery") == "lottery"
    assert (await cache.current()).keywords is refreshed.keywords


async def test_a_refresh_that_fails_keeps_the_loaded_version(
    store: GatedStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FixedClock()
    cache = PolicyCache(store, clock, ttl_s=1.0)
    await cache.load()
    store.broken = True

    with caplog.at_level(logging.INFO, logger="smsgate.service.policy"):
        for second in range(1, 4):
            clock.t = T0 + second
            assert keywords_of(await cache.current()) == "casino"
        store.broken = False
        clock.t = T0 + 4
        assert keywords_of(await cache.current()) == "casino"

    assert store.reads == 5
    assert [r.getMessage() for r in caplog.records] == [
        "cannot read policy documents, keeping the loaded ones: OperationalError: disk I/O error",
        "policy documents readable again",
    ]


async def test_nothing_is_decided_when_the_first_load_fails(store: GatedStore) -> None:
    cache = PolicyCache(store, FixedClock(), ttl_s=1.0)
    store.broken = True

    with pytest.raises(StoreError):
        await cache.load()
    with pytest.raises(StoreError):
        await cache.current()  # never the defaults

    store.broken = False
    assert keywords_of(await cache.current()) == "casino"


# -- keys and accounts -------------------------------------------------------------------------


async def test_a_loaded_key_ring_answers_without_reading_the_store(store: GatedStore) -> None:
    ring = KeyRing(store, FixedClock(), ttl_s=1.0)
    await ring.load()
    store.gate.clear()

    assert await ring.find(KEY.id) == (KEY, ACCOUNT)
    assert await ring.account(ACCOUNT.id) == ACCOUNT
    assert store.reads == 0


async def test_callers_of_one_key_share_one_read(store: GatedStore) -> None:
    clock = FixedClock()
    ring = KeyRing(store, clock, ttl_s=1.0)
    store.gate.clear()

    burst = [asyncio.ensure_future(ring.find(KEY.id)) for _ in range(64)]
    await until_waiting(store, 1)
    for _ in range(10):
        await asyncio.sleep(0)
    assert store.reads == 1
    store.gate.set()
    assert await asyncio.gather(*burst) == [(KEY, ACCOUNT)] * 64

    # Expired: one caller reads again; the others get the entry loaded before.
    await store.set_key_enabled(KEY.id, False)
    clock.t = T0 + 1.0
    store.gate.clear()
    rereading = asyncio.ensure_future(ring.find(KEY.id))
    await until_waiting(store, 2)
    assert [await ring.find(KEY.id) for _ in range(5)] == [(KEY, ACCOUNT)] * 5
    store.gate.set()
    found = await rereading
    assert found is not None
    assert not found[0].enabled
    assert store.reads == 2


async def test_a_key_read_that_fails_keeps_the_loaded_entry(store: GatedStore) -> None:
    clock = FixedClock()
    ring = KeyRing(store, clock, ttl_s=1.0)
    assert await ring.account(ACCOUNT.id) == ACCOUNT
    store.broken = True
    clock.t = T0 + 1.0

    assert await ring.account(ACCOUNT.id) == ACCOUNT
    with pytest.raises(SmsError) as caught:  # nothing loaded for this one: no answer made up
        await ring.find(KEY.id)
    assert caught.value.result is errors.SYSTEM_ERROR  # the catalog's answer to a store fault


# -- ttl 0: "at once" --------------------------------------------------------------------------


async def test_with_no_ttl_a_read_begun_before_a_call_is_not_enough(store: GatedStore) -> None:
    """A change written just before a call is seen by it, even when another caller's read was
    already under way (SMPP binds right after `smsgate smpp add` depend on it)."""
    clock = FixedClock()
    cache = PolicyCache(store, clock, ttl_s=0)
    await cache.load()
    store.gate.clear()
    first = asyncio.ensure_future(cache.current())
    await until_waiting(store, 2)
    await store.put_document("keywords", json.dumps(["lottery"]))
    clock.t = T0 + 0.001
    second = asyncio.ensure_future(cache.current())
    for _ in range(10):
        await asyncio.sleep(0)
    assert not second.done()  # not answered from the version being replaced
    store.gate.set()

    await first
    policy = await second
    assert policy.keywords is not None
    assert policy.keywords.find("lottery") == "lottery"
    assert store.reads == 3  # one more read, after the first


async def test_with_no_ttl_a_key_change_is_seen_at_once(store: GatedStore) -> None:
    clock = FixedClock()
    ring = KeyRing(store, clock, ttl_s=0)
    assert await ring.find(KEY.id) == (KEY, ACCOUNT)
    store.gate.clear()
    first = asyncio.ensure_future(ring.find(KEY.id))
    await until_waiting(store, 2)
    await store.set_key_enabled(KEY.id, False)
    clock.t = T0 + 0.001
    second = asyncio.ensure_future(ring.find(KEY.id))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not second.done()
    store.gate.set()

    await first
    found = await second
    assert found is not None
    assert not found[0].enabled
    assert store.reads == 3  # one more read, after the first
