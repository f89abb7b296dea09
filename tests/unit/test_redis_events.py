"""Notifications between processes over Redis: a publish from one client reaches a subscriber on
another, and a subscription whose connection is killed comes back and says so (``None``)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from smsgate.adapters.notify.redis_events import RedisEvents, Subscription
from tests.services import redis_url

#: Every await on Redis here is bounded, so that a lost message fails the test, not the run.
TIMEOUT_S = 10.0


@pytest.fixture
async def publisher() -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url())
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    """Channels of this test's own (nothing is stored: publish/subscribe keeps no keys)."""
    return f"smsgate-test:{secrets.token_hex(8)}:"


async def test_a_subscriber_sees_a_publish_from_another_client(
    publisher: Redis, prefix: str
) -> None:
    subscriber = Redis.from_url(redis_url())
    try:
        async with asyncio.timeout(TIMEOUT_S):
            async with RedisEvents(subscriber, prefix=prefix).subscribe("policy") as sub:
                events = RedisEvents(publisher, prefix=prefix)
                assert await events.publish("policy", b"account:42") == 1
                assert await events.publish("other", b"not for us") == 0
                assert await events.publish("policy", "platform") == 1
                assert [await anext(sub), await anext(sub)] == [b"account:42", b"platform"]
    finally:
        await subscriber.aclose()


async def test_another_installation_on_the_server_is_not_heard(publisher: Redis) -> None:
    subscriber = Redis.from_url(redis_url())
    ours, theirs = (f"smsgate-test:{secrets.token_hex(8)}:" for _ in range(2))
    try:
        async with asyncio.timeout(TIMEOUT_S):
            async with RedisEvents(subscriber, prefix=ours).subscribe("policy") as sub:
                assert await RedisEvents(publisher, prefix=theirs).publish("policy", b"x") == 0
                assert await RedisEvents(publisher, prefix=ours).publish("policy", b"y") == 1
                assert await anext(sub) == b"y"
    finally:
        await subscriber.aclose()


@pytest.mark.parametrize(
    "retries",
    [
        pytest.param(3, id="redis-py-reconnects"),  # the client's default: it resubscribes
        pytest.param(0, id="subscription-reconnects"),  # the client gives up: we reconnect
    ],
)
async def test_a_subscription_comes_back_after_its_connection_is_killed(
    publisher: Redis, prefix: str, retries: int
) -> None:
    name = f"sub-{secrets.token_hex(6)}"
    subscriber = Redis.from_url(redis_url(), client_name=name, retry=Retry(NoBackoff(), retries))
    events = RedisEvents(publisher, prefix=prefix)
    try:
        async with asyncio.timeout(TIMEOUT_S):
            sub: Subscription
            async with RedisEvents(subscriber, prefix=prefix).subscribe("policy") as sub:
                assert await events.publish("policy", b"before") == 1
                assert await anext(sub) == b"before"
                killed = await _kill_connections(publisher, name)
                assert killed == 1
                # Subscribed again (the server confirmed it) before it says so.
                assert await anext(sub) is None
                assert await events.publish("policy", b"after") == 1
                assert await anext(sub) == b"after"
    finally:
        await subscriber.aclose()


async def _kill_connections(client: Redis, name: str) -> int:
    """Close, from the server's side, every connection of the clients called ``name``."""
    killed = 0
    for connection in await client.client_list(_type="pubsub"):
        if connection.get("name") == name:
            killed += await client.client_kill_filter(_id=connection["id"])
    return killed
