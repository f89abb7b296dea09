"""ReceiptProcessor.take: receipts whose sender waits until they are durable (an upstream SMSC's
deliver_sm is answered only then), beside the fed ones the simulator sends.

The processor is driven by calling ``run_once()``; a take is a task whose completion is checked
between calls, never waited for with a clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from smsgate.adapters.storage.memory import MemoryStore
from smsgate.domain.models import Message, MessageStatus, Receipt
from smsgate.ports.store import StoreError
from smsgate.service.policy import PolicyCache
from smsgate.service.receipts import ReceiptProcessor, mark_refunds
from tests import builders
from tests.unit.test_delivery_and_receipts import FixedClock

T0 = 1_700_000_000.0


class FlakyStore(MemoryStore):
    """Fails the next ``failures`` applies."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0
        self.applied: list[list[str]] = []

    async def apply_receipts(self, receipts: Sequence[Receipt]) -> list[Message]:
        if self.failures:
            self.failures -= 1
            raise StoreError("disk on fire")
        self.applied.append([r.message_id for r in receipts])
        return await super().apply_receipts(receipts)


def _delivered(message_id: str) -> Receipt:
    return Receipt(message_id, MessageStatus.DELIVERED, "success", T0)


@pytest.fixture
async def store() -> FlakyStore:
    store = FlakyStore()
    await store.start()
    await store.insert_messages([builders.message(i) for i in range(1, 7)])
    return store


def _processor(store: FlakyStore, max_batch: int = 1000) -> ReceiptProcessor:
    return ReceiptProcessor(store, PolicyCache(store, FixedClock(T0), ttl_s=0), max_batch)


async def _started(task: asyncio.Task[None]) -> None:
    """Let ``task`` run up to its wait (a loop pass, not a clock)."""
    await asyncio.sleep(0)
    assert not task.done()


async def test_take_returns_once_its_receipts_are_applied(store: FlakyStore) -> None:
    processor = _processor(store)
    woken: list[bool] = []
    processor.set_wakeup(lambda: woken.append(True))
    taking = asyncio.create_task(processor.take([_delivered("1"), _delivered("2")]))
    await _started(taking)
    assert woken == [True]
    assert not taking.done()

    assert await processor.run_once() == 2
    await taking
    message = await store.get_message("acc-1", "2")
    assert message is not None
    assert message.status is MessageStatus.DELIVERED


async def test_a_take_split_over_two_batches_waits_for_both(store: FlakyStore) -> None:
    processor = _processor(store, max_batch=2)
    processor.feed([_delivered("1")])
    taking = asyncio.create_task(processor.take([_delivered("2"), _delivered("3")]))
    await _started(taking)

    assert await processor.run_once() == 2
    await asyncio.sleep(0)
    assert not taking.done()
    assert await processor.run_once() == 1
    await taking
    assert store.applied == [["1", "2"], ["3"]]


async def test_a_failed_batch_fails_its_takers_and_keeps_the_fed_receipts(
    store: FlakyStore,
) -> None:
    """The taker's sender will send its receipts again; the fed ones have no sender to do so."""
    processor = _processor(store, max_batch=3)
    processor.feed([_delivered("1")])
    taken = [_delivered("2"), _delivered("3"), _delivered("4")]
    taking = asyncio.create_task(processor.take(taken))
    await _started(taking)
    processor.feed([_delivered("5")])
    store.failures = 1

    with pytest.raises(StoreError):
        await processor.run_once()
    with pytest.raises(StoreError):
        await taking
    # "4" (the rest of the failed take) is dropped too; "1" and "5" are still to apply.
    assert processor.pending == 2
    assert await processor.run_once() == 2
    assert store.applied == [["1", "5"]]


async def test_announce_tells_the_listeners_of_messages_made_final_elsewhere(
    store: FlakyStore,
) -> None:
    processor = _processor(store)
    heard: list[list[str]] = []
    processor.add_listener(lambda changed: heard.append([m.id for m in changed]))

    processor.announce([])
    processor.announce([builders.message(9)])

    assert heard == [["9"]]


def test_mark_refunds_marks_the_failures_the_platform_refunds() -> None:
    failed = Receipt("1", MessageStatus.FAILED, "INVALID_NUM", T0)
    other = Receipt("2", MessageStatus.FAILED, "SYSTEM_ERR", T0)
    delivered = _delivered("3")

    marked = mark_refunds([failed, other, delivered], frozenset({"INVALID_NUM", "success"}))

    assert [r.refund for r in marked] == [True, False, False]
    assert mark_refunds([failed], frozenset()) == [failed]
