"""What the DeliveryWorker does with each carrier outcome: Accepted, Rejected, Retry, a carrier
that raises, and a carrier that says nothing of a message.

A scripted carrier answers each message as the test says (Accepted by default), over the memory
store and queue. Retries wait on loop timers of a few milliseconds: the tests await the queue's
``get_batch`` (an event), never a sleep. The simulator's own rejecting and retrying rules are
driven end to end at the bottom.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace

import pytest

from smsgate.adapters.carriers.simulator import CarrierSimulator
from smsgate.adapters.queue.memory import MemoryDeliveryQueue
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.config import SimulatorConfig, SimulatorRule
from smsgate.domain.models import (
    Accepted,
    Message,
    MessageStatus,
    Receipt,
    Rejected,
    Retry,
    SubmitOutcome,
)
from smsgate.ports.carrier import Carrier, ReceiptSink
from smsgate.ports.store import StoreError
from smsgate.service.cancel import CancelDesk, CancelService
from smsgate.service.delivery import DeliveryWorker
from smsgate.service.policy import PolicyCache
from smsgate.service.receipts import ReceiptProcessor
from tests.unit.test_delivery_and_receipts import (
    ACCOUNT_ID,
    BALANCE,
    T0,
    FixedClock,
    make_message,
    open_store,
)

WAIT_S = 5.0  # a safety net only: a step that never comes fails the test instead of hanging
RETRY_S = 0.02  # short enough to wait for, long enough to see the message is held meanwhile
CALLBACK_URL = "https://example.com/receipts"


@dataclass
class ScriptedCarrier:
    """Answers from ``script`` (message id -> outcomes in turn; None says nothing of it), then
    Accepted with one id per part; raises ``failure`` once when it is set."""

    clock: FixedClock
    records_submission: bool = True
    resubmit_on_recovery: bool = False
    script: dict[str, list[SubmitOutcome | None]] = field(default_factory=dict)
    failure: Exception | None = None
    batches: list[list[str]] = field(default_factory=list)

    async def start(self, sink: ReceiptSink) -> None:
        pass

    async def submit(self, messages: Sequence[Message]) -> list[SubmitOutcome]:
        self.batches.append([m.id for m in messages])
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure
        outcomes: list[SubmitOutcome] = []
        for message in messages:
            plan = self.script.get(message.id)
            if plan:
                outcome = plan.pop(0)
                if outcome is not None:
                    outcomes.append(outcome)
            else:
                outcomes.append(self.accepted(message))
        return outcomes

    def accepted(self, message: Message) -> Accepted:
        parts = tuple(f"up-{message.id}.{k}" for k in range(1, message.segments + 1))
        return Accepted(message.id, "up", parts, self.clock.now())

    async def cancel(self, message_id: str) -> bool:
        return False

    async def close(self) -> None:
        pass


class Rig:
    """Store, queue, receipt processor and worker around a scripted carrier, as app wires them."""

    def __init__(
        self, store: MemoryStore, carrier: ScriptedCarrier | CarrierSimulator, clock: FixedClock
    ) -> None:
        self.store = store
        self.clock = clock
        self.queue = MemoryDeliveryQueue(100)
        self.desk = CancelDesk()
        self.receipts = ReceiptProcessor(store, PolicyCache(store, self.clock, ttl_s=0))
        self.heard: list[list[Message]] = []
        self.receipts.add_listener(lambda changed: self.heard.append(list(changed)))
        self.receipts.add_listener(self.desk.finished)
        port: Carrier = carrier  # the port, structurally
        self.carrier = port
        self.worker = DeliveryWorker(
            self.queue, port, store, self.receipts, self.clock, batch_size=50, cancels=self.desk
        )

    async def enqueue(self, *messages: Message) -> None:
        await self.store.insert_messages(messages)
        await self.queue.put_when_room(messages)

    async def message(self, message_id: str) -> Message:
        message = await self.store.get_message(ACCOUNT_ID, message_id)
        assert message is not None
        return message

    async def deliver_next(self) -> int:
        """Run the worker once, waiting (event-driven) for a batch that is not there yet."""
        async with asyncio.timeout(WAIT_S):
            return await self.worker.run_once()


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    opened = await open_store(MemoryStore())
    await opened.set_callback_url(ACCOUNT_ID, CALLBACK_URL)
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def carrier(clock: FixedClock) -> ScriptedCarrier:
    return ScriptedCarrier(clock)


@pytest.fixture
def rig(store: MemoryStore, carrier: ScriptedCarrier, clock: FixedClock) -> Rig:
    return Rig(store, carrier, clock)


# -- accepted ----------------------------------------------------------------------------------


async def test_an_accepted_message_is_submitted_with_its_connector_and_part_ids(
    rig: Rig, carrier: ScriptedCarrier, store: MemoryStore
) -> None:
    await rig.enqueue(replace(make_message("1"), segments=3))
    rig.clock.t = T0 + 2

    assert await rig.deliver_next() == 1

    submitted = await rig.message("1")
    assert (submitted.status, submitted.send_date) == (MessageStatus.SUBMITTED, T0 + 2)
    assert (submitted.connector, submitted.carrier_ids) == ("up", ("up-1.1", "up-1.2", "up-1.3"))
    assert (len(rig.queue), rig.queue.used, rig.receipts.pending) == (0, 0, 0)
    # The carrier's receipt names only its id for a part; that is enough to find the message.
    found = await store.find_by_carrier_id("up", "up-1.2")
    assert found == submitted


async def test_a_carrier_that_does_not_record_submission_leaves_accepted_messages_alone(
    rig: Rig, carrier: ScriptedCarrier
) -> None:
    carrier.records_submission = False
    await rig.enqueue(make_message("1"))

    await rig.deliver_next()

    assert (await rig.message("1")).status is MessageStatus.ACCEPTED  # its receipt will say
    assert rig.desk.with_carrier("1")  # cancellable only through the carrier now


# -- rejected ----------------------------------------------------------------------------------


async def test_a_rejected_message_fails_with_the_code_and_its_receipt_goes_out(
    rig: Rig, carrier: ScriptedCarrier, store: MemoryStore
) -> None:
    await store.put_document("platform", json.dumps({"refund_on": ["INVALID_NUM"]}))
    await rig.enqueue(replace(make_message("1"), price_micros=50_000, registered_delivery=1))
    carrier.script["1"] = [Rejected("1", "up", "INVALID_NUM", T0 + 1)]

    await rig.deliver_next()
    assert rig.receipts.pending == 1  # fed at once, like an expiry
    assert await rig.receipts.run_once() == 1

    failed = await rig.message("1")
    assert (failed.status, failed.error_code) == (MessageStatus.FAILED, "INVALID_NUM")
    assert (failed.send_date, failed.receive_date, failed.connector) == (T0 + 1, T0 + 1, "up")
    assert failed.carrier_ids == ()  # the carrier never took it
    assert rig.heard == [[failed]]
    # Like any failure: a callback push and an SMPP receipt are owed, and the policy refunds it.
    assert [job.message for job in await store.due_callbacks(T0 + 1, 10)] == [failed]
    assert await store.pending_smpp_receipts(ACCOUNT_ID, None, 10) == [failed]
    account = await store.get_account(ACCOUNT_ID)
    assert account is not None
    assert account.balance_micros == BALANCE + 50_000
    assert (len(rig.queue), rig.queue.used, carrier.batches) == (0, 0, [["1"]])  # not sent again


# -- retry -------------------------------------------------------------------------------------


async def test_a_retried_message_waits_its_delay_then_is_delivered_once(
    rig: Rig, carrier: ScriptedCarrier, store: MemoryStore
) -> None:
    await rig.enqueue(make_message("1"), make_message("2"))
    carrier.script["1"] = [Retry("1", RETRY_S)]
    loop = asyncio.get_running_loop()
    started = loop.time()

    assert await rig.deliver_next() == 2

    assert (len(rig.queue), rig.queue.used) == (0, 1)  # held off the queue, counted against it
    assert (await rig.message("1")).status is MessageStatus.ACCEPTED
    assert (await rig.message("2")).status is MessageStatus.SUBMITTED
    assert rig.receipts.pending == 0

    assert await rig.deliver_next() == 1  # wakes when the retry is back on the queue
    assert loop.time() - started >= RETRY_S - 0.001  # the loop clock's resolution is far finer
    assert carrier.batches == [["1", "2"], ["1"]]
    assert (await rig.message("1")).status is MessageStatus.SUBMITTED
    assert rig.queue.used == 0

    # Its receipt comes by the carrier's id, and it is final.
    found = await store.find_by_carrier_id("up", "up-1.1")
    assert found is not None
    rig.receipts.feed([Receipt(found.id, MessageStatus.DELIVERED, "success", T0 + 3)])
    await rig.receipts.run_once()
    assert (await rig.message("1")).status is MessageStatus.DELIVERED


async def test_retries_with_different_delays_each_wait_their_own(
    rig: Rig, carrier: ScriptedCarrier
) -> None:
    await rig.enqueue(make_message("1"), make_message("2"))
    carrier.script["1"] = [Retry("1", RETRY_S * 2)]
    carrier.script["2"] = [Retry("2", RETRY_S)]

    await rig.deliver_next()
    await rig.deliver_next()
    await rig.deliver_next()

    assert carrier.batches == [["1", "2"], ["2"], ["1"]]  # the shorter delay came back first


async def test_a_retried_message_that_expires_meanwhile_expires(
    rig: Rig, carrier: ScriptedCarrier
) -> None:
    await rig.enqueue(replace(make_message("1"), validity_period=60))
    carrier.script["1"] = [Retry("1", RETRY_S)]
    await rig.deliver_next()

    rig.clock.t = T0 + 60
    await rig.deliver_next()
    await rig.receipts.run_once()

    expired = await rig.message("1")
    assert (expired.status, expired.error_code) == (MessageStatus.EXPIRED, "EXPIRED")
    assert carrier.batches == [["1"]]


async def test_a_message_waiting_to_be_retried_can_be_cancelled_and_is_never_sent(
    rig: Rig, carrier: ScriptedCarrier, store: MemoryStore
) -> None:
    await rig.enqueue(make_message("1"), make_message("2"))
    carrier.script["1"] = [Retry("1", RETRY_S)]
    await rig.deliver_next()

    cancels = CancelService(rig.desk, store, rig.queue, rig.carrier, rig.clock)
    assert await cancels.cancel(ACCOUNT_ID, "1")
    assert await rig.deliver_next() == 1  # 1 came back, and was dropped

    assert carrier.batches == [["1", "2"]]
    assert (await rig.message("1")).status is MessageStatus.CANCELLED
    assert rig.queue.used == 0


# -- failures of the carrier -------------------------------------------------------------------


async def test_a_carrier_that_raises_gets_the_whole_batch_again_and_nothing_is_lost(
    rig: Rig, carrier: ScriptedCarrier
) -> None:
    batch = [make_message(str(i)) for i in range(1, 4)]
    await rig.enqueue(*batch)
    carrier.failure = ConnectionError("link down")

    with pytest.raises(ConnectionError):
        await rig.deliver_next()

    assert len(rig.queue) == 3  # back at once
    assert [(await rig.message(m.id)).status for m in batch] == [MessageStatus.ACCEPTED] * 3
    assert await rig.deliver_next() == 3
    assert carrier.batches == [["1", "2", "3"], ["1", "2", "3"]]  # in their order
    assert [(await rig.message(m.id)).status for m in batch] == [MessageStatus.SUBMITTED] * 3


async def test_a_message_the_carrier_says_nothing_of_is_retried_at_once(
    rig: Rig, carrier: ScriptedCarrier, caplog: pytest.LogCaptureFixture
) -> None:
    await rig.enqueue(make_message("1"), make_message("2"))
    carrier.script["1"] = [None]

    with caplog.at_level(logging.ERROR, logger="smsgate.service.delivery"):
        await rig.deliver_next()
    assert "said nothing of 1 messages" in caplog.text

    await rig.deliver_next()
    assert carrier.batches == [["1", "2"], ["1"]]
    assert (await rig.message("1")).status is MessageStatus.SUBMITTED


async def test_outcomes_for_other_messages_or_told_twice_are_ignored(
    rig: Rig, carrier: ScriptedCarrier
) -> None:
    await rig.enqueue(make_message("1"))
    carrier.script["1"] = [Rejected("1", "up", "INVALID_NUM", T0)]
    real_submit = carrier.submit

    async def chatty(messages: Sequence[Message]) -> list[SubmitOutcome]:
        outcomes = await real_submit(messages)
        return [*outcomes, Retry("1", 0), Accepted("9", "up", ("x",), T0)]

    carrier.submit = chatty  # type: ignore[method-assign]
    await rig.deliver_next()
    await rig.receipts.run_once()

    assert (await rig.message("1")).status is MessageStatus.FAILED  # the first word counts
    assert rig.queue.used == 0


async def test_a_store_failure_recording_the_hand_over_does_not_send_the_batch_again(
    rig: Rig, carrier: ScriptedCarrier, store: MemoryStore
) -> None:
    """The carrier has the messages: putting them back would send them twice. They stay
    ACCEPTED in the store, which resumes them on the next start; rejections and retries of the
    same batch are dealt with before the store is asked."""
    await rig.enqueue(make_message("1"), make_message("2"), make_message("3"))
    carrier.script["2"] = [Rejected("2", "up", "INVALID_NUM", T0)]
    carrier.script["3"] = [Retry("3", 0)]

    async def failing(outcomes: Sequence[Accepted]) -> None:
        raise StoreError("database is locked")

    store.mark_submitted = failing  # type: ignore[method-assign]
    with pytest.raises(StoreError):
        await rig.deliver_next()
    del store.mark_submitted  # the store works again

    assert (await rig.message("1")).status is MessageStatus.ACCEPTED
    assert rig.receipts.pending == 1  # 2's failure is on its way
    assert await rig.deliver_next() == 1  # only 3 comes back
    assert carrier.batches == [["1", "2", "3"], ["3"]]


# -- the simulator's rules, end to end ---------------------------------------------------------


async def test_the_simulator_rejects_and_retries_by_its_rules(store: MemoryStore) -> None:
    rules = (
        SimulatorRule("suffix", "9911", "RECEIVER_BLACKLIST", reject=True),
        SimulatorRule("suffix", "9912", "success", delay_ms=int(RETRY_S * 1000), retries=1),
    )
    clock = FixedClock()
    simulator = CarrierSimulator(SimulatorConfig(delay_ms=0, rules=rules), clock)
    rig = Rig(store, simulator, clock)
    arrived = asyncio.Event()
    rig.receipts.set_wakeup(arrived.set)
    await simulator.start(rig.receipts.report)
    refused = make_message("1", to="6591239911")
    throttled = replace(make_message("2", to="6591239912"), segments=2)
    await rig.enqueue(refused, throttled)

    await rig.deliver_next()  # 1 refused, 2 asked for again
    assert await rig.receipts.run_once() == 1
    arrived.clear()
    await rig.deliver_next()  # 2 taken; its receipt follows after the rule's delay
    async with asyncio.timeout(WAIT_S):
        await arrived.wait()
    await rig.receipts.run_once()

    first, second = await rig.message("1"), await rig.message("2")
    assert (first.status, first.error_code, first.connector) == (
        MessageStatus.FAILED,
        "RECEIVER_BLACKLIST",
        "simulator",
    )
    assert (second.status, second.connector, second.carrier_ids) == (
        MessageStatus.DELIVERED,
        "simulator",
        ("sim-2-1", "sim-2-2"),
    )
    assert await store.find_by_carrier_id("simulator", "sim-2-2") == second
    await simulator.close()
