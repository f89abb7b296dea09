"""cancel_sm against the delivery worker: the CancelDesk alone, then with a DeliveryWorker over
the memory store and queue, where exactly one of cancel and hand-over may win for each message.

``cancel_sm`` below is the door's protocol (``SmppConnection._cancel_sm``): claim, ask the store,
settle, and put back on the queue what the desk held back meanwhile. Interleavings are made with
asyncio.Events, never with sleeps.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate import errors
from smsgate.adapters.queue.memory import MemoryDeliveryQueue
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.domain.models import Accepted, Message, MessageStatus, SubmitOutcome
from smsgate.errors import SmsError
from smsgate.ports.carrier import Carrier, ReceiptSink
from smsgate.ports.store import StoreError
from smsgate.service.cancel import CancelDesk, CancelService
from smsgate.service.delivery import DeliveryWorker
from smsgate.service.policy import PolicyCache
from smsgate.service.receipts import ReceiptProcessor
from tests.unit.test_delivery_and_receipts import (
    ACCOUNT_ID,
    T0,
    FixedClock,
    make_message,
    open_store,
)

WAIT_S = 5.0  # a safety net only: a step that never comes fails the test instead of hanging


def _messages(*ids: int) -> list[Message]:
    return [make_message(str(i)) for i in ids]


def _ids(messages: Sequence[Message] | None) -> list[str]:
    return [] if messages is None else [m.id for m in messages]


# -- the desk alone ----------------------------------------------------------------------------


def test_a_message_can_be_claimed_once_at_a_time() -> None:
    desk = CancelDesk()
    assert desk.claim("1")
    assert not desk.claim("1")  # a second cancel_sm of the same message meanwhile
    assert desk.claim("2")
    assert desk.settle("1", cancelled=False) is None  # nothing was held back
    assert desk.claim("1")  # settled: it may be tried again


def test_an_unclaimed_batch_is_handed_over_whole_and_in_order() -> None:
    desk = CancelDesk()
    batch = _messages(3, 1, 2)
    assert desk.take(batch) == batch


def test_a_message_being_handed_over_cannot_be_claimed() -> None:
    desk = CancelDesk()
    batch = _messages(1, 2)
    desk.take(batch)
    assert not desk.claim("1")
    assert not desk.claim("2")
    assert desk.claim("3")  # not in the batch
    desk.handed_over(batch[:1])
    assert desk.claim("1")  # the desk is done with it (the store now says whether it may go)
    assert not desk.claim("2")
    desk.handed_over(batch[1:])
    assert desk.claim("2")


def test_a_claimed_message_is_held_back_and_returned_when_not_cancelled() -> None:
    desk = CancelDesk()
    one, two = _messages(1, 2)
    assert desk.claim("1")
    assert desk.take([one, two]) == [two]
    assert desk.settle("1", cancelled=False) is one  # to be requeued
    assert desk.settle("1", cancelled=False) is None  # returned once only
    assert desk.take([one]) == [one]  # requeued, it goes like any other


def test_a_held_message_that_was_cancelled_is_dropped() -> None:
    desk = CancelDesk()
    one, two = _messages(1, 2)
    assert desk.claim("1")
    assert desk.take([one, two]) == [two]
    assert desk.settle("1", cancelled=True) is None
    assert desk.take([two]) == [two]  # nothing else is affected


def test_a_message_cancelled_on_the_queue_is_dropped_when_the_worker_takes_it() -> None:
    desk = CancelDesk()
    one, two, three = _messages(1, 2, 3)
    assert desk.claim("2")
    assert desk.settle("2", cancelled=True) is None  # cancelled before the worker met it
    assert desk.take([one, two, three]) == [one, three]
    assert desk.claim("2")  # not being handed over


def test_a_failed_cancel_of_a_queued_message_leaves_it_to_the_worker() -> None:
    desk = CancelDesk()
    one = make_message("1")
    assert desk.claim("1")
    assert desk.settle("1", cancelled=False) is None
    assert desk.take([one]) == [one]


def test_claims_and_hand_overs_of_other_messages_do_not_interfere() -> None:
    desk = CancelDesk()
    one, two, three = _messages(1, 2, 3)
    assert desk.claim("1")
    assert desk.take([two]) == [two]
    assert desk.claim("3")
    assert desk.settle("3", cancelled=True) is None
    desk.handed_over([two])
    assert desk.settle("1", cancelled=False) is None  # 1 was never taken: nothing held
    assert desk.take([one, three]) == [one]


# -- a model of the door and the worker racing --------------------------------------------------


@dataclass
class _Race:
    """A store and a queue as the desk's users see them, stepping one await at a time."""

    ids: list[str]
    desk: CancelDesk = field(default_factory=CancelDesk)
    queue: list[Message] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)
    carried: list[str] = field(default_factory=list)
    cancelled: set[str] = field(default_factory=set)
    in_hand: list[Message] | None = None  # the worker's batch, awaiting the carrier
    claims: dict[str, bool] = field(default_factory=dict)  # claimed id -> store will fail

    def __post_init__(self) -> None:
        self.queue = [make_message(i) for i in self.ids]
        self.accepted = set(self.ids)

    def worker_take(self, size: int) -> None:
        if self.in_hand is None and self.queue:
            batch, self.queue = self.queue[:size], self.queue[size:]
            self.in_hand = self.desk.take(batch)

    def worker_done(self) -> None:
        if self.in_hand is not None:
            for message in self.in_hand:  # the carrier got it; the store marks it SUBMITTED
                self.carried.append(message.id)
                self.accepted.discard(message.id)
            self.desk.handed_over(self.in_hand)
            self.in_hand = None

    def door_claim(self, message_id: str, store_fails: bool) -> None:
        if message_id in self.claims or message_id in self.cancelled:
            return  # the door answers these without the desk
        if self.desk.claim(message_id):
            self.claims[message_id] = store_fails

    def door_settle(self, message_id: str) -> None:
        if message_id not in self.claims:
            return
        store_fails = self.claims.pop(message_id)
        done = not store_fails and message_id in self.accepted  # store.cancel_message
        if done:
            self.accepted.discard(message_id)
            self.cancelled.add(message_id)
        held = self.desk.settle(message_id, done)
        if held is not None:
            self.queue.append(held)

    def drain(self) -> None:
        for message_id in list(self.claims):
            self.door_settle(message_id)
        while self.queue or self.in_hand is not None:
            self.worker_take(len(self.queue))
            self.worker_done()


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    count=st.integers(min_value=1, max_value=8),
    steps=st.integers(min_value=0, max_value=60),
)
def test_each_message_is_either_cancelled_or_carried_once(
    seed: int, count: int, steps: int
) -> None:
    rng = random.Random(seed)
    race = _Race([str(i) for i in range(1, count + 1)])
    for _ in range(steps):
        message_id = str(rng.randint(1, count))
        match rng.randrange(4):
            case 0:
                race.worker_take(rng.randint(1, count))
            case 1:
                race.worker_done()
            case 2:
                race.door_claim(message_id, store_fails=rng.random() < 0.25)
            case _:
                race.door_settle(message_id)
    race.drain()

    assert len(race.carried) == len(set(race.carried)), "a message was carried twice"
    assert not set(race.carried) & race.cancelled, "a message was carried and cancelled"
    assert set(race.carried) | race.cancelled == set(race.ids), "a message was lost"


# -- with the delivery worker ------------------------------------------------------------------


@dataclass
class RecordingCarrier:
    """A carrier that records what it got; ``gate`` holds submit() until it is set."""

    clock: FixedClock
    records_submission: bool = True
    resubmit_on_recovery: bool = False
    got: list[str] = field(default_factory=list)
    gate: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    withdrawable: set[str] = field(default_factory=set)

    async def start(self, sink: ReceiptSink) -> None:
        pass

    async def submit(self, messages: Sequence[Message]) -> list[SubmitOutcome]:
        self.got.extend(m.id for m in messages)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        return [Accepted(m.id, "up", (f"c-{m.id}",), self.clock.now()) for m in messages]

    async def close(self) -> None:
        pass

    async def cancel(self, message_id: str) -> bool:
        """Withdraws only what the test put in ``withdrawable``."""
        if message_id in self.withdrawable:
            self.withdrawable.discard(message_id)
            return True
        return False


class GatedStore(MemoryStore):
    """cancel_message waits for ``cancel_gate`` when it is set up, and can fail."""

    def __init__(self) -> None:
        super().__init__()
        self.cancel_gate: asyncio.Event | None = None
        self.cancel_entered = asyncio.Event()
        self.fail_cancel = False

    async def cancel_message(self, account_id: str, message_id: str, at: float) -> Message | None:
        self.cancel_entered.set()
        if self.cancel_gate is not None:
            await self.cancel_gate.wait()
        if self.fail_cancel:
            raise StoreError("database is locked")
        return await super().cancel_message(account_id, message_id, at)


@dataclass
class Rig:
    store: GatedStore
    clock: FixedClock
    queue: MemoryDeliveryQueue
    carrier: RecordingCarrier
    desk: CancelDesk
    worker: DeliveryWorker

    async def enqueue(self, *ids: int) -> list[Message]:
        messages = _messages(*ids)
        await self.store.insert_messages(messages)
        await self.queue.put_when_room(messages)
        return messages

    async def cancel_sm(self, message_id: str) -> bool:
        """The door's cancel_sm: True when it answered CancelSmResp (the message is cancelled)."""
        message = await self.store.get_message(ACCOUNT_ID, message_id)
        assert message is not None
        if message.is_final:
            return False
        service = CancelService(self.desk, self.store, self.queue, self.carrier, self.clock)
        try:
            return await service.cancel(ACCOUNT_ID, message_id)
        except SmsError as exc:  # the store failed: the door answers the catalog's system error
            if exc.result is not errors.SYSTEM_ERROR:
                raise
            return False

    async def status(self, message_id: str) -> MessageStatus:
        message = await self.store.get_message(ACCOUNT_ID, message_id)
        assert message is not None
        return message.status


def _rig(store: GatedStore, *, records_submission: bool = True) -> Rig:
    clock = FixedClock()
    queue = MemoryDeliveryQueue(100)
    carrier = RecordingCarrier(clock, records_submission=records_submission)
    desk = CancelDesk()
    receipts = ReceiptProcessor(store, PolicyCache(store, clock, ttl_s=0))
    port: Carrier = carrier  # the port, structurally
    worker = DeliveryWorker(queue, port, store, receipts, clock, batch_size=50, cancels=desk)
    return Rig(store, clock, queue, carrier, desk, worker)


@pytest.fixture
async def store() -> AsyncIterator[GatedStore]:
    opened = await open_store(GatedStore())
    yield opened
    await opened.close()


@pytest.fixture
def rig(store: GatedStore) -> Rig:
    return _rig(store)


async def test_a_message_cancelled_on_the_queue_never_reaches_the_carrier(rig: Rig) -> None:
    await rig.enqueue(1, 2, 3)
    assert await rig.cancel_sm("2")

    assert await rig.worker.run_once() == 3
    assert rig.carrier.got == ["1", "3"]
    assert await rig.status("2") is MessageStatus.CANCELLED
    assert await rig.status("1") is MessageStatus.SUBMITTED
    assert len(rig.queue) == 0


async def test_a_message_not_cancelled_reaches_the_carrier(rig: Rig) -> None:
    await rig.enqueue(1)
    assert await rig.worker.run_once() == 1
    assert rig.carrier.got == ["1"]
    assert await rig.status("1") is MessageStatus.SUBMITTED
    assert not await rig.cancel_sm("1")  # too late: with the carrier
    assert await rig.status("1") is MessageStatus.SUBMITTED


async def test_a_message_claimed_while_the_worker_takes_it_is_held_then_dropped(
    rig: Rig, store: GatedStore
) -> None:
    await rig.enqueue(1, 2)
    store.cancel_gate = asyncio.Event()
    door = asyncio.create_task(rig.cancel_sm("1"))
    async with asyncio.timeout(WAIT_S):
        await store.cancel_entered.wait()  # claimed; the store is working on it

    assert await rig.worker.run_once() == 2  # meanwhile the worker meets the message
    assert rig.carrier.got == ["2"]

    store.cancel_gate.set()
    assert await door
    assert await rig.status("1") is MessageStatus.CANCELLED
    assert len(rig.queue) == 0  # dropped, not requeued
    assert rig.carrier.got == ["2"]


@pytest.mark.parametrize("how", ["store error", "already submitted elsewhere"])
async def test_a_held_message_whose_cancel_failed_goes_back_and_is_delivered(
    rig: Rig, store: GatedStore, how: str
) -> None:
    await rig.enqueue(1, 2)
    store.cancel_gate = asyncio.Event()
    door = asyncio.create_task(rig.cancel_sm("1"))
    async with asyncio.timeout(WAIT_S):
        await store.cancel_entered.wait()
    await rig.worker.run_once()
    assert rig.carrier.got == ["2"]

    if how == "store error":
        store.fail_cancel = True
    else:  # the store no longer has it ACCEPTED
        await store.mark_submitted([Accepted("1", "up", (), T0)])
    store.cancel_gate.set()
    assert not await door
    assert len(rig.queue) == 1  # requeued by the door

    assert await rig.worker.run_once() == 1
    assert rig.carrier.got == ["2", "1"]


async def test_a_message_being_handed_over_cannot_be_cancelled(rig: Rig) -> None:
    await rig.enqueue(1)
    rig.carrier.gate = asyncio.Event()
    worker = asyncio.create_task(rig.worker.run_once())
    async with asyncio.timeout(WAIT_S):
        await rig.carrier.entered.wait()  # submit() is in progress: the store says ACCEPTED

    assert await rig.status("1") is MessageStatus.ACCEPTED
    assert not await rig.cancel_sm("1")
    assert await rig.status("1") is MessageStatus.ACCEPTED

    rig.carrier.gate.set()
    assert await worker == 1
    assert rig.carrier.got == ["1"]
    assert await rig.status("1") is MessageStatus.SUBMITTED


async def test_a_double_cancel_sm_is_refused_while_the_first_is_pending(
    rig: Rig, store: GatedStore
) -> None:
    await rig.enqueue(1)
    store.cancel_gate = asyncio.Event()
    first = asyncio.create_task(rig.cancel_sm("1"))
    async with asyncio.timeout(WAIT_S):
        await store.cancel_entered.wait()
    assert not await rig.cancel_sm("1")
    store.cancel_gate.set()
    assert await first
    assert not await rig.cancel_sm("1")  # final now

    assert await rig.worker.run_once() == 1
    assert rig.carrier.got == []


async def test_a_message_requeued_after_a_carrier_failure_can_be_cancelled(rig: Rig) -> None:
    await rig.enqueue(1)

    async def broken(messages: Sequence[Message]) -> list[SubmitOutcome]:
        raise ConnectionError("carrier down")

    real_submit = rig.carrier.submit
    rig.carrier.submit = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await rig.worker.run_once()
    assert len(rig.queue) == 1  # back on the queue, and released by the desk

    assert await rig.cancel_sm("1")
    rig.carrier.submit = real_submit  # type: ignore[method-assign]
    assert await rig.worker.run_once() == 1
    assert rig.carrier.got == []


async def test_a_message_the_carrier_has_cannot_be_cancelled_even_if_unrecorded(
    store: GatedStore,
) -> None:
    rig = _rig(store, records_submission=False)
    await rig.enqueue(1)
    assert await rig.worker.run_once() == 1
    assert rig.carrier.got == ["1"]  # the carrier has it; its receipt will follow

    assert not await rig.cancel_sm("1")
    assert await rig.status("1") is not MessageStatus.CANCELLED


async def test_an_unrecorded_message_the_carrier_withdraws_is_cancelled(store: GatedStore) -> None:
    rig = _rig(store, records_submission=False)
    await rig.enqueue(1)
    assert await rig.worker.run_once() == 1
    rig.carrier.withdrawable.add("1")

    assert await rig.cancel_sm("1")
    assert await rig.status("1") is MessageStatus.CANCELLED
    assert not await rig.cancel_sm("1")  # final now
