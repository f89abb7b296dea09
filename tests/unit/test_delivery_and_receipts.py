"""From the queue to a final state: DeliveryWorker, CarrierSimulator, ReceiptProcessor, recovery,
and the bounded MemoryDeliveryQueue between acceptance and delivery.

The simulator reports receipts from loop timers; rules with ``delay_ms=0`` fire on the next loop
pass, and the tests await an ``asyncio.Event`` the receipt sink sets rather than any wall-clock
time. Every other step is driven by calling ``run_once()`` directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate import errors
from smsgate.adapters.carriers.simulator import CarrierSimulator
from smsgate.adapters.limits.memory import MemoryLimiter
from smsgate.adapters.queue.memory import MemoryDeliveryQueue
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.config import SimulatorConfig, SimulatorRule, default_simulator_rules
from smsgate.domain.ids import MessageIdGenerator
from smsgate.domain.models import (
    Accepted,
    AccessKey,
    Account,
    AccountState,
    Message,
    MessageStatus,
    Receipt,
    Rejected,
    Retry,
    SubmitOutcome,
)
from smsgate.ports.carrier import ReceiptSink
from smsgate.ports.store import StoreError
from smsgate.service.delivery import DeliveryWorker, recover_unfinished
from smsgate.service.policy import PolicyCache
from smsgate.service.receipts import ReceiptProcessor
from smsgate.service.submit import Submission, SubmitService
from tests.builders import collect_receipts

T0 = 1_795_000_000.0
ACCOUNT_ID = "1000000000000001"
DELIVERED_TO = "6591230000"  # matches no default rule
BALANCE = 1_000_000_000  # 1,000.00: each message costs the default 0.05 a segment
WAIT_S = 5.0  # a safety net only: a receipt that never comes fails the test instead of hanging


class FixedClock:
    def __init__(self, now: float = T0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


@dataclass
class SpyCarrier:
    """The simulator, with a record of every batch handed to it."""

    inner: CarrierSimulator
    resubmit_on_recovery: bool = True
    records_submission: bool = False
    batches: list[list[str]] = field(default_factory=list)

    async def start(self, sink: ReceiptSink) -> None:
        await self.inner.start(sink)

    async def submit(self, messages: Sequence[Message]) -> list[SubmitOutcome]:
        self.batches.append([m.id for m in messages])
        return await self.inner.submit(messages)

    async def close(self) -> None:
        await self.inner.close()


class FlakyReceiptStore(MemoryStore):
    """apply_receipts fails while ``fail`` is set, as a locked or full database would."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    async def apply_receipts(self, receipts: Sequence[Receipt]) -> list[Message]:
        if self.fail:
            raise StoreError("database is locked")
        return await super().apply_receipts(receipts)


class Pipeline:
    """Submit, worker, simulator and receipt processor over the memory fakes, as app wires them."""

    def __init__(
        self,
        store: MemoryStore,
        clock: FixedClock,
        simulator: SimulatorConfig,
        *,
        capacity: int = 100,
        records_submission: bool = False,
    ) -> None:
        self.store = store
        self.clock = clock
        self.queue = MemoryDeliveryQueue(capacity)
        self.carrier = SpyCarrier(
            CarrierSimulator(simulator, clock), records_submission=records_submission
        )
        self.policy = PolicyCache(store, clock, ttl_s=0)
        self.receipts = ReceiptProcessor(store, self.policy)
        self.arrived = asyncio.Event()
        self.receipts.set_wakeup(self.arrived.set)
        self.changed: list[list[Message]] = []
        self.receipts.add_listener(lambda changed: self.changed.append(list(changed)))
        self.ids = MessageIdGenerator(1)
        self.submit = SubmitService(
            store,
            store,
            store,
            self.queue,
            self.ids,
            clock,
            self.policy,
            MemoryLimiter(),
            max_segments=15,
        )
        self.worker = DeliveryWorker(
            self.queue, self.carrier, store, self.receipts, clock, batch_size=50
        )

    async def send(self, to: str, validity_period: int | None = None) -> Message:
        account = await self.store.get_account(ACCOUNT_ID)
        assert account is not None
        return await self.submit.send(
            account, Submission(to=to, body="hi", validity_period=validity_period)
        )

    async def receipts_arrive(self) -> None:
        """Wait (event-driven) until the carrier has fed at least one receipt."""
        async with asyncio.timeout(WAIT_S):
            await self.arrived.wait()
        self.arrived.clear()

    async def message(self, message_id: str) -> Message:
        message = await self.store.get_message(ACCOUNT_ID, message_id)
        assert message is not None
        return message


def account() -> Account:
    return Account(ACCOUNT_ID, "acme", AccountState.NORMAL, BALANCE, None, T0 - 86_400)


def key() -> AccessKey:
    return AccessKey("LTAI" + "k" * 20, ACCOUNT_ID, "s" * 30, True, None, T0 - 86_400)


S = TypeVar("S", bound=MemoryStore)


async def open_store(store: S) -> S:
    await store.start()
    await store.create_account(account(), key())
    return store


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    opened = await open_store(MemoryStore())
    yield opened
    await opened.close()


@pytest.fixture
async def pipeline(store: MemoryStore, clock: FixedClock) -> AsyncIterator[Pipeline]:
    built = Pipeline(store, clock, SimulatorConfig(delay_ms=0))
    await built.carrier.start(built.receipts.report)
    yield built
    await built.carrier.close()


def make_message(message_id: str, *, created_at: float = T0, to: str = DELIVERED_TO) -> Message:
    return Message(
        id=message_id,
        account_id=ACCOUNT_ID,
        to=to,
        sender=None,
        body="hi",
        encoding="GSM7",
        segments=1,
        country="Singapore",
        region_code="SG",
        region="Singapore",
        network="SingTel",
        msg_type="NOTIFY",
        created_at=created_at,
    )


# -- worker + simulator + receipts -----------------------------------------------------------

DEFAULT_OUTCOMES = [
    (f"659123{9900 + i}", rule.receipt) for i, rule in enumerate(default_simulator_rules(), 1)
]


def _status_of(code: str) -> MessageStatus:
    if code == errors.DELIVERED.code:
        return MessageStatus.DELIVERED
    if code == errors.EXPIRED.code:
        return MessageStatus.EXPIRED
    return MessageStatus.FAILED


@pytest.mark.parametrize(
    ("to", "receipt"), [(DELIVERED_TO, errors.DELIVERED.code), *DEFAULT_OUTCOMES]
)
async def test_a_message_goes_from_accepted_to_the_rules_final_state(
    pipeline: Pipeline, clock: FixedClock, to: str, receipt: str
) -> None:
    message = await pipeline.send(to)
    assert (await pipeline.message(message.id)).status is MessageStatus.ACCEPTED

    clock.t = T0 + 1  # handed to the carrier one second after acceptance
    assert await pipeline.worker.run_once() == 1
    assert pipeline.carrier.batches == [[message.id]]
    # The simulator does not record the hand-over: its receipt carries the send date instead.
    assert (await pipeline.message(message.id)).status is MessageStatus.ACCEPTED

    clock.t = T0 + 3
    await pipeline.receipts_arrive()
    assert await pipeline.receipts.run_once() == 1

    final = await pipeline.message(message.id)
    assert final.status is _status_of(receipt)
    assert final.is_final
    assert final.error_code == receipt
    assert (final.send_date, final.receive_date) == (T0 + 1, T0 + 3)
    assert (final.connector, final.carrier_ids) == ("simulator", (f"sim-{message.id}",))
    assert pipeline.changed == [[final]]
    assert pipeline.receipts.pending == 0


def test_the_default_rules_cover_every_receipt_code() -> None:
    codes = {receipt for _, receipt in DEFAULT_OUTCOMES}
    assert codes == {c.code for c in errors.RECEIPT_CODES} | {errors.EXPIRED.code}


async def test_one_batch_gets_each_destination_its_own_receipt(pipeline: Pipeline) -> None:
    sent = {to: (await pipeline.send(to)).id for to in (DELIVERED_TO, "6591239902", "6591239910")}

    assert await pipeline.worker.run_once() == 3
    assert pipeline.carrier.batches == [list(sent.values())]
    await pipeline.receipts_arrive()
    while pipeline.receipts.pending < 3:  # rules of equal delay share one timer; be robust anyway
        await pipeline.receipts_arrive()
    assert await pipeline.receipts.run_once() == 3

    finals = {to: await pipeline.message(mid) for to, mid in sent.items()}
    assert {to: (m.status, m.error_code) for to, m in finals.items()} == {
        DELIVERED_TO: (MessageStatus.DELIVERED, "success"),
        "6591239902": (MessageStatus.FAILED, "INVALID_NUM"),
        "6591239910": (MessageStatus.EXPIRED, "EXPIRED"),
    }


async def test_a_rule_delay_overrides_the_default_delay(clock: FixedClock) -> None:
    simulator = CarrierSimulator(
        SimulatorConfig(
            delay_ms=60_000,
            rules=(SimulatorRule("prefix", "6591", "PORTED_NUM", 0),),
        ),
        clock,
    )
    assert simulator.outcome_for("6591230000") == ("PORTED_NUM", 0)
    assert simulator.outcome_for("6281234567890") == ("success", 60_000)


async def test_first_matching_rule_wins(clock: FixedClock) -> None:
    simulator = CarrierSimulator(
        SimulatorConfig(
            delay_ms=0,
            rules=(
                SimulatorRule("exact", "6591230000", "RECEIVER_BLACKLIST"),
                SimulatorRule("suffix", "0000", "INVALID_NUM", 5),
            ),
        ),
        clock,
    )
    assert simulator.outcome_for("6591230000") == ("RECEIVER_BLACKLIST", 0)
    assert simulator.outcome_for("6591240000") == ("INVALID_NUM", 5)


async def test_the_simulator_names_itself_and_gives_each_part_its_own_id(
    clock: FixedClock,
) -> None:
    simulator = CarrierSimulator(SimulatorConfig(delay_ms=0, rules=()), clock)
    short, long = make_message("1"), replace(make_message("2"), segments=3)

    assert await simulator.submit([short, long]) == [
        Accepted("1", "simulator", ("sim-1",), T0),
        Accepted("2", "simulator", ("sim-2-1", "sim-2-2", "sim-2-3"), T0),
    ]
    await simulator.close()


async def test_a_rejecting_rule_refuses_the_submit_with_its_code(clock: FixedClock) -> None:
    rule = SimulatorRule("suffix", "9911", "INVALID_NUM", reject=True)
    simulator = CarrierSimulator(SimulatorConfig(rules=(rule,)), clock)
    refused, taken = make_message("1", to="6591239911"), make_message("2")

    assert await simulator.submit([refused, taken]) == [
        Rejected("1", "simulator", "INVALID_NUM", T0),
        Accepted("2", "simulator", ("sim-2",), T0),
    ]
    assert not await simulator.cancel("1")  # it never held the message
    await simulator.close()


async def test_a_retrying_rule_asks_again_as_often_as_it_says_then_takes_the_message(
    clock: FixedClock,
) -> None:
    rule = SimulatorRule("suffix", "9912", "PORTED_NUM", 250, retries=2)
    simulator = CarrierSimulator(SimulatorConfig(rules=(rule,)), clock)
    message = make_message("1", to="6591239912")

    answers = [await simulator.submit([message]) for _ in range(3)]

    assert answers == [
        [Retry("1", 0.25)],
        [Retry("1", 0.25)],
        [Accepted("1", "simulator", ("sim-1",), T0)],
    ]
    assert simulator.outcome_for(message.to) == ("PORTED_NUM", 250)  # its receipt, 250 ms on
    await simulator.close()


async def test_an_expired_message_never_reaches_the_carrier(
    pipeline: Pipeline, clock: FixedClock
) -> None:
    stale = await pipeline.send(DELIVERED_TO, validity_period=60)
    fresh = await pipeline.send(DELIVERED_TO, validity_period=3600)

    clock.t = T0 + 60  # the validity period has run out exactly
    assert await pipeline.worker.run_once() == 2

    assert pipeline.carrier.batches == [[fresh.id]]
    assert pipeline.receipts.pending == 1  # fed synchronously, before any carrier receipt
    assert await pipeline.receipts.run_once() == 1
    expired = await pipeline.message(stale.id)
    assert (expired.status, expired.error_code) == (MessageStatus.EXPIRED, errors.EXPIRED.code)
    assert expired.receive_date == T0 + 60
    assert expired.send_date is None  # it was never sent
    assert pipeline.changed == [[expired]]


async def test_a_message_within_its_validity_period_is_delivered(
    pipeline: Pipeline, clock: FixedClock
) -> None:
    message = await pipeline.send(DELIVERED_TO, validity_period=60)
    clock.t = T0 + 59.999
    await pipeline.worker.run_once()
    assert pipeline.carrier.batches == [[message.id]]
    await pipeline.receipts_arrive()
    await pipeline.receipts.run_once()
    assert (await pipeline.message(message.id)).status is MessageStatus.DELIVERED


async def test_a_carrier_that_records_submission_marks_messages_submitted(
    store: MemoryStore, clock: FixedClock
) -> None:
    pipeline = Pipeline(store, clock, SimulatorConfig(delay_ms=0), records_submission=True)
    # No sink started: the receipt never comes, so the SUBMITTED state stays observable.
    message = await pipeline.send(DELIVERED_TO)
    clock.t = T0 + 2

    await pipeline.worker.run_once()

    submitted = await pipeline.message(message.id)
    assert submitted.status is MessageStatus.SUBMITTED
    assert (submitted.send_date, submitted.connector, submitted.carrier_ids) == (
        T0 + 2,
        "simulator",
        (f"sim-{message.id}",),
    )
    await pipeline.carrier.close()


async def timers_due_now_have_fired() -> None:
    """Return once every loop timer already due has run (or was cancelled): no time passes."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    loop.call_later(0, lambda: loop.call_soon(done.set_result, None))
    await done


@pytest.mark.parametrize("close", [False, True])
async def test_closing_the_simulator_cancels_pending_receipts(
    store: MemoryStore, clock: FixedClock, close: bool
) -> None:
    pipeline = Pipeline(store, clock, SimulatorConfig(delay_ms=0))
    fed: list[Receipt] = []
    await pipeline.carrier.start(collect_receipts(fed))
    message = await pipeline.send(DELIVERED_TO)
    await pipeline.worker.run_once()

    if close:
        await pipeline.carrier.close()
    await timers_due_now_have_fired()

    # Without close() the receipt is there by now, which shows the wait above is long enough.
    assert [r.message_id for r in fed] == ([] if close else [message.id])
    await pipeline.carrier.close()


# -- recovery --------------------------------------------------------------------------------


async def _seed_for_recovery(store: MemoryStore) -> tuple[list[Message], str]:
    """accepted, final, submitted (all older than the returned before_id), then a newer one."""
    ids = MessageIdGenerator(0)
    at = int(T0 * 1000)
    accepted, final, submitted = (make_message(ids.next_id(at)) for _ in range(3))
    before_id = ids.next_id(at + 1)
    newer = make_message(ids.next_id(at + 2))
    await store.insert_messages([accepted, final, submitted, newer])
    await store.apply_receipts([Receipt(final.id, MessageStatus.DELIVERED, "success", T0 + 1)])
    await store.mark_submitted([Accepted(submitted.id, "up", ("c-1",), T0 + 1)])
    return [accepted, final, submitted, newer], before_id


@pytest.mark.parametrize("page", [1, 2, 1000])
async def test_recovery_requeues_only_unfinished_messages_older_than_before_id(
    store: MemoryStore, clock: FixedClock, page: int
) -> None:
    (accepted, _final, submitted, newer), before_id = await _seed_for_recovery(store)
    assert int(submitted.id) < int(before_id) < int(newer.id)
    queue = MemoryDeliveryQueue(100)
    carrier = SpyCarrier(CarrierSimulator(SimulatorConfig(), clock), resubmit_on_recovery=True)

    recovered = await recover_unfinished(store, queue, carrier, before_id, page=page)

    assert recovered == 2
    assert [m.id for m in await queue.get_batch(100)] == [accepted.id, submitted.id]
    assert len(queue) == 0


async def test_recovery_leaves_submitted_messages_to_a_real_carrier(
    store: MemoryStore, clock: FixedClock
) -> None:
    (accepted, *_), before_id = await _seed_for_recovery(store)
    queue = MemoryDeliveryQueue(100)
    carrier = SpyCarrier(CarrierSimulator(SimulatorConfig(), clock), resubmit_on_recovery=False)

    assert await recover_unfinished(store, queue, carrier, before_id, page=1) == 1
    assert [m.id for m in await queue.get_batch(100)] == [accepted.id]


async def test_recovery_of_an_empty_store_enqueues_nothing(
    store: MemoryStore, clock: FixedClock
) -> None:
    queue = MemoryDeliveryQueue(1)
    carrier = SpyCarrier(CarrierSimulator(SimulatorConfig(), clock))
    before_id = MessageIdGenerator(0).next_id(int(T0 * 1000))
    assert await recover_unfinished(store, queue, carrier, before_id) == 0
    assert queue.used == 0


async def test_recovered_messages_are_delivered(pipeline: Pipeline, store: MemoryStore) -> None:
    (accepted, _final, submitted, newer), before_id = await _seed_for_recovery(store)

    await recover_unfinished(store, pipeline.queue, pipeline.carrier, before_id)
    assert await pipeline.worker.run_once() == 2
    await pipeline.receipts_arrive()
    await pipeline.receipts.run_once()

    assert (await pipeline.message(accepted.id)).status is MessageStatus.DELIVERED
    assert (await pipeline.message(submitted.id)).status is MessageStatus.DELIVERED
    assert (await pipeline.message(newer.id)).status is MessageStatus.ACCEPTED  # not ours


# -- the receipt processor -------------------------------------------------------------------


async def test_receipts_go_back_when_the_store_fails(clock: FixedClock) -> None:
    store = await open_store(FlakyReceiptStore())
    ids = MessageIdGenerator(0)
    messages = [make_message(ids.next_id(int(T0 * 1000))) for _ in range(4)]
    await store.insert_messages(messages)
    processor = ReceiptProcessor(store, PolicyCache(store, clock, ttl_s=0))
    notified: list[list[str]] = []
    processor.add_listener(lambda changed: notified.append([m.id for m in changed]))
    first = [Receipt(m.id, MessageStatus.DELIVERED, "success", T0 + 1) for m in messages[:3]]
    processor.feed(first)

    store.fail = True
    with pytest.raises(StoreError):
        await processor.run_once()

    assert processor.pending == 3
    assert notified == []
    assert all(not m.is_final for m in await store.list_messages(ACCOUNT_ID, 10))

    # A receipt arriving meanwhile queues behind the ones put back.
    processor.feed([Receipt(messages[3].id, MessageStatus.FAILED, "INVALID_NUM", T0 + 2)])
    store.fail = False
    assert await processor.run_once() == 4

    assert processor.pending == 0
    assert notified == [[m.id for m in messages]]
    final = {m.id: (m.status, m.error_code) for m in await store.list_messages(ACCOUNT_ID, 10)}
    assert final == {
        **{m.id: (MessageStatus.DELIVERED, "success") for m in messages[:3]},
        messages[3].id: (MessageStatus.FAILED, "INVALID_NUM"),
    }


async def test_listeners_hear_only_messages_that_changed(
    store: MemoryStore, clock: FixedClock
) -> None:
    ids = MessageIdGenerator(0)
    messages = [make_message(ids.next_id(int(T0 * 1000))) for _ in range(2)]
    await store.insert_messages(messages)
    processor = ReceiptProcessor(store, PolicyCache(store, clock, ttl_s=0))
    heard: list[list[Message]] = []
    also: list[int] = []
    processor.add_listener(lambda changed: heard.append(list(changed)))
    processor.add_listener(lambda changed: also.append(len(changed)))

    processor.feed([Receipt(messages[0].id, MessageStatus.DELIVERED, "success", T0 + 1)])
    await processor.run_once()
    # A duplicate receipt, one for an unknown message, and a new one.
    processor.feed(
        [
            Receipt(messages[0].id, MessageStatus.FAILED, "UNKNOWN_ERR", T0 + 2),
            Receipt("999", MessageStatus.DELIVERED, "success", T0 + 2),
            Receipt(messages[1].id, MessageStatus.EXPIRED, "EXPIRED", T0 + 2),
        ]
    )
    assert await processor.run_once() == 3

    assert [[(m.id, m.status) for m in batch] for batch in heard] == [
        [(messages[0].id, MessageStatus.DELIVERED)],
        [(messages[1].id, MessageStatus.EXPIRED)],
    ]
    assert also == [1, 1]
    first = await store.get_message(ACCOUNT_ID, messages[0].id)
    assert first is not None
    assert (first.status, first.error_code) == (MessageStatus.DELIVERED, "success")


async def test_the_processor_applies_at_most_one_batch_per_run(
    store: MemoryStore, clock: FixedClock
) -> None:
    ids = MessageIdGenerator(0)
    messages = [make_message(ids.next_id(int(T0 * 1000))) for _ in range(5)]
    await store.insert_messages(messages)
    processor = ReceiptProcessor(store, PolicyCache(store, clock, ttl_s=0), max_batch=2)
    wakeups: list[None] = []
    processor.set_wakeup(lambda: wakeups.append(None))

    processor.feed([Receipt(m.id, MessageStatus.DELIVERED, "success", T0) for m in messages])

    assert len(wakeups) == 1
    assert [await processor.run_once() for _ in range(4)] == [2, 2, 1, 0]
    assert all(m.is_final for m in await store.list_messages(ACCOUNT_ID, 10))


# -- the bounded queue -----------------------------------------------------------------------


def queued(count: int, start: int = 1) -> list[Message]:
    return [make_message(str(i)) for i in range(start, start + count)]


async def test_reservations_count_against_the_capacity() -> None:
    queue = MemoryDeliveryQueue(3)

    assert await queue.try_reserve(2)
    assert not await queue.try_reserve(2)  # refused whole: nothing reserved
    assert queue.used == 2
    assert await queue.try_reserve(1)
    assert not await queue.try_reserve(1)
    assert (queue.used, len(queue)) == (3, 0)

    await queue.cancel_reservation(1)
    assert queue.used == 2
    await queue.put_reserved(queued(2))
    assert (queue.used, len(queue)) == (2, 2)  # the reservation became queued items
    assert await queue.try_reserve(1)
    assert not await queue.try_reserve(1)


async def test_put_later_holds_room_until_the_messages_come_back() -> None:
    queue = MemoryDeliveryQueue(2)
    assert await queue.try_reserve(2)  # doors took the room a batch left while its carrier answered
    later = queued(2, start=10)
    loop = asyncio.get_running_loop()
    start = loop.time()

    await queue.put_later(later, 0.02)

    assert (queue.used, len(queue), queue.free) == (4, 0, 0)  # beyond the bound: doors wait
    assert not await queue.try_reserve(1)
    async with asyncio.timeout(WAIT_S):
        assert await queue.get_batch(10) == later
    assert loop.time() - start >= 0.019  # the loop clock's resolution is far finer
    assert (queue.used, queue.free) == (2, 0)  # what the doors reserved


async def test_cancelling_more_than_was_reserved_does_not_go_below_zero() -> None:
    queue = MemoryDeliveryQueue(2)
    await queue.try_reserve(1)
    await queue.cancel_reservation(5)
    assert queue.used == 0
    assert await queue.try_reserve(2)


async def test_get_batch_frees_room_and_keeps_order() -> None:
    queue = MemoryDeliveryQueue(3)
    assert await queue.try_reserve(3)
    messages = queued(3)
    await queue.put_reserved(messages)
    assert not await queue.try_reserve(1)

    assert await queue.get_batch(2) == messages[:2]
    assert queue.used == 1
    assert await queue.try_reserve(2)
    assert await queue.get_batch(10) == messages[2:]


async def test_get_batch_waits_for_work() -> None:
    queue = MemoryDeliveryQueue(2)
    waiting = asyncio.Event()

    async def consumer() -> list[Message]:
        waiting.set()
        return await queue.get_batch(10)

    task = asyncio.create_task(consumer())
    await waiting.wait()  # the consumer ran up to its first suspension: the empty queue
    assert not task.done()

    messages = queued(2)
    assert await queue.try_reserve(2)
    await queue.put_reserved(messages)
    async with asyncio.timeout(WAIT_S):
        assert await task == messages


async def test_put_when_room_waits_until_get_batch_frees_room() -> None:
    queue = MemoryDeliveryQueue(2)
    first = queued(2)
    assert await queue.try_reserve(2)
    await queue.put_reserved(first)
    late = queued(2, start=10)
    started = asyncio.Event()

    async def recover() -> None:
        started.set()
        await queue.put_when_room(late)

    task = asyncio.create_task(recover())
    await started.wait()  # it ran until it blocked on the full queue
    assert not task.done()
    assert len(queue) == 2

    assert await queue.get_batch(1) == first[:1]  # one slot free: one late message fits
    assert await queue.get_batch(1) == first[1:]
    async with asyncio.timeout(WAIT_S):
        await task
    assert (len(queue), queue.used) == (2, 2)
    assert await queue.get_batch(10) == late


async def test_put_when_room_does_not_overtake_reservations() -> None:
    queue = MemoryDeliveryQueue(1)
    assert await queue.try_reserve(1)  # a door is storing a message
    started = asyncio.Event()

    async def recover() -> None:
        started.set()
        await queue.put_when_room(queued(1, start=10))

    task = asyncio.create_task(recover())
    await started.wait()
    assert not task.done()

    mine = queued(1)
    await queue.put_reserved(mine)  # the door's message goes in; the queue is still full
    assert await queue.get_batch(10) == mine
    async with asyncio.timeout(WAIT_S):
        await task
    assert [m.id for m in await queue.get_batch(10)] == ["10"]


@given(
    capacity=st.integers(1, 8),
    ops=st.lists(
        st.tuples(st.sampled_from(["reserve", "cancel", "put"]), st.integers(0, 5)), max_size=40
    ),
)
async def test_used_never_exceeds_the_capacity(capacity: int, ops: list[tuple[str, int]]) -> None:
    queue = MemoryDeliveryQueue(capacity)
    reserved = items = 0
    for op, n in ops:
        if op == "reserve":
            ok = await queue.try_reserve(n)
            assert ok == (reserved + items + n <= capacity)
            reserved += n if ok else 0
        elif op == "cancel":
            await queue.cancel_reservation(n)
            reserved = max(0, reserved - n)
        elif reserved:
            put = min(n, reserved)
            await queue.put_reserved(queued(put))
            reserved -= put
            items += put
        assert (queue.used, len(queue)) == (reserved + items, items)
        assert queue.used <= capacity
