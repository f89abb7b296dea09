"""The delivery queue several processes share: PostgreSQL's queued messages, claimed under a
lease (``WorkStore``), and the queue adapter over them (``SharedDeliveryQueue``). Two store
instances on one database stand for two processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from smsgate.adapters.queue.shared import SharedDeliveryQueue
from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.postgres import PostgresStore
from smsgate.domain.models import Accepted, Message

MakeMessage = Callable[..., Message]
OpenAccount = Callable[..., Awaitable[None]]
WAIT_S = 10.0


@pytest.fixture
async def pair(pg_url: str, secret_box: SecretBox) -> AsyncIterator[list[PostgresStore]]:
    stores = [PostgresStore(pg_url, secret_box, pool_size=2) for _ in range(2)]
    for store in stores:
        await store.start()
    yield stores
    for store in stores:
        await store.close()


@pytest.fixture
async def queued(
    pair: list[PostgresStore], open_account: OpenAccount, make_message: MakeMessage
) -> list[str]:
    """Twenty messages accepted (so queued) through the first store."""
    await open_account(pair[0], balance_micros=10**9)
    messages = [make_message(i) for i in range(1, 21)]
    assert await pair[0].accept_messages(messages, sum(m.price_micros for m in messages))
    return [m.id for m in messages]


async def test_accepting_is_queueing_and_two_workers_never_take_the_same_message(
    pair: list[PostgresStore], queued: list[str]
) -> None:
    first, second = pair

    batches = await asyncio.gather(
        *(store.claim_work(node, 7, 60.0) for node, store in ((1, first), (2, second)) * 2)
    )

    taken = [m.id for batch in batches for m in batch]
    assert sorted(taken, key=int) == queued  # every message once, none twice
    assert await first.claim_work(1, 10, 60.0) == []  # all held


async def test_a_dead_workers_messages_are_taken_over_when_its_lease_runs_out(
    pair: list[PostgresStore], queued: list[str]
) -> None:
    dead, alive = pair
    held = await dead.claim_work(1, 20, 0.2)
    assert len(held) == 20

    async with asyncio.timeout(WAIT_S):
        while not (taken := await alive.claim_work(2, 20, 60.0)):
            await asyncio.sleep(0.05)  # the lease is on the database's clock

    assert [m.id for m in taken] == queued


async def test_a_node_starting_again_takes_back_its_own_claims_at_once(
    pair: list[PostgresStore], queued: list[str]
) -> None:
    before, after = pair  # the same node, before and after a restart
    assert len(await before.claim_work(5, 20, 3600.0)) == 20

    await after.release_node_work(5)

    assert [m.id for m in await after.claim_work(5, 20, 60.0)] == queued


async def test_messages_given_back_later_wait_for_their_time(
    pair: list[PostgresStore], queued: list[str]
) -> None:
    store = pair[0]
    held = await store.claim_work(1, 2, 60.0)
    await store.requeue_work([held[0].id], 3600.0)  # the carrier said "later"
    await store.requeue_work([held[1].id], 0.0)  # the carrier failed: at once

    again = await store.claim_work(1, 100, 60.0)

    assert held[1].id in [m.id for m in again]
    assert held[0].id not in [m.id for m in again]
    assert await store.waiting_work() == 20  # claimed or not, all still queued


async def test_a_handed_over_message_leaves_the_queue_and_stays_its_nodes(
    pair: list[PostgresStore], queued: list[str]
) -> None:
    store = pair[0]
    held = await store.claim_work(3, 2, 60.0)
    await store.mark_submitted(
        [Accepted(m.id, "simulator", (f"c-{m.id}",), 1_700_000_100.0) for m in held]
    )

    assert await store.waiting_work() == 18
    assert [m.id for m in await store.node_submitted(3, None, 10)] == [m.id for m in held]
    assert await store.node_submitted(4, None, 10) == []


async def test_the_shared_queue_wakes_another_processes_worker(
    pair: list[PostgresStore], open_account: OpenAccount, make_message: MakeMessage
) -> None:
    door_side, worker_side = pair
    # A poll long enough that only the notification can wake the worker within the test.
    doors = SharedDeliveryQueue(door_side, 100, 1, poll_s=60.0)
    workers = SharedDeliveryQueue(worker_side, 100, 2, poll_s=60.0)
    await doors.start()
    await workers.start()
    try:
        waiting = asyncio.create_task(workers.get_batch(10))
        await open_account(door_side, balance_micros=10**9)
        message = make_message(1)
        assert await doors.try_reserve(1)
        assert await door_side.accept_messages([message], message.price_micros)
        await doors.put_reserved([message])

        async with asyncio.timeout(WAIT_S):
            batch = await waiting
        assert [m.id for m in batch] == [message.id]
    finally:
        await doors.close()
        await workers.close()


async def test_the_bound_counts_what_the_store_holds_and_what_was_reserved(
    pair: list[PostgresStore], queued: list[str]
) -> None:
    queue = SharedDeliveryQueue(pair[1], 25, 1)
    await queue.start()
    try:
        assert await queue.waiting() == 20
        assert await queue.try_reserve(5)
        assert not await queue.try_reserve(1)  # 20 queued and 5 reserved: full
        await queue.cancel_reservation(5)
        assert await queue.room() == 5
    finally:
        await queue.close()


async def test_a_live_worker_keeps_its_claims_by_renewing_them(
    pair: list[PostgresStore], queued: list[str]
) -> None:
    holder, other = pair
    assert len(await holder.claim_work(1, 20, 0.3)) == 20

    assert await holder.renew_node_work(1, 3600.0) == 20
    await asyncio.sleep(0.5)  # past the first lease, on the database's clock

    assert await other.claim_work(2, 20, 60.0) == []
    assert await holder.renew_node_work(2, 3600.0) == 0  # another node's claims are not its
