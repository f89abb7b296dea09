"""Limits hold across processes: two servers built by ``smsgate.bootstrap`` with the same
``[redis] url`` share their counters and replay nonces, whichever of them a request reaches.

Each server here has a store of its own (what is shared is what Redis holds); the test of
several processes on one PostgreSQL store is in ``tests/interop``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from smsgate import errors
from smsgate.adapters.limits.redis import RedisLimiter
from smsgate.adapters.replay.redis import RedisNonceGuard
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.app import Gateway
from smsgate.config import RedisConfig
from smsgate.domain.models import AccessKey, Account, AccountState
from smsgate.errors import SmsError
from smsgate.service.submit import Submission
from tests import builders
from tests.services import delete_redis_keys, redis_url

from .conftest import T0, FixedClock

ACCOUNT = Account("1000000000000001", "acme", AccountState.NORMAL, 10**9, None, T0 - 86_400)
KEY = AccessKey("LTAI5tSharedLimits000001", ACCOUNT.id, "s" * 30, True, None, T0 - 86_400)
SG = "6591234567"


@pytest.fixture
async def servers() -> AsyncIterator[tuple[Gateway, Gateway]]:
    """Two servers on one Redis prefix of their own (deleted after)."""
    redis = RedisConfig(url=redis_url(), prefix=f"smsgate-test:{secrets.token_hex(6)}:")
    opened: list[Gateway] = []
    try:
        for _ in range(2):
            store = MemoryStore()
            await store.start()
            await store.create_account(ACCOUNT, KEY)
            opened.append(await builders.open_core(store, FixedClock(), redis=redis))
        yield opened[0], opened[1]
    finally:
        for gateway in opened:
            await gateway.stop()
        async with Redis.from_url(redis.url) as client:
            await delete_redis_keys(client, redis.prefix)


async def test_the_servers_are_built_on_the_shared_adapters(
    servers: tuple[Gateway, Gateway],
) -> None:
    for gateway in servers:
        assert isinstance(gateway.limiter, RedisLimiter)
        assert isinstance(gateway.nonces, RedisNonceGuard)


async def test_one_verification_code_a_minute_whichever_server_takes_it(
    servers: tuple[Gateway, Gateway],
) -> None:
    first, second = servers
    otp = Submission(to=SG, body="Your code is 1234", msg_type="OTP")

    await first.submit.send(ACCOUNT, otp)
    with pytest.raises(SmsError) as refused:
        await second.submit.send(ACCOUNT, otp)

    assert refused.value.result is errors.BUSINESS_LIMIT_CONTROL_MINUTE


async def test_a_nonce_used_on_one_server_is_refused_by_the_other(
    servers: tuple[Gateway, Gateway],
) -> None:
    first, second = servers
    now = datetime.fromtimestamp(T0, UTC)

    assert await first.nonces.check_and_remember(KEY.id, "nonce-1", now, now)
    assert not await second.nonces.check_and_remember(KEY.id, "nonce-1", now, now)
