"""MoOutbox: MO messages owed to an account's SMPP binds, to any receiver bind of that account in
turn, at least once, never outstanding twice at once, read back from the store when a receiver
binds (after a restart too), over the real MemoryStore and fake receiver links.

The same mechanism as the receipts' (``test_receipt_outbox.py``): what differs is the key (the
MO's sequence id), the store rows (``pending_smpp_inbound``/``finish_smpp_inbound``) and that an
MO message has no bind that asked for it.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.adapters.storage.memory import MemoryStore
from smsgate.domain.inbound import InboundMessage
from smsgate.doors.smpp.outbox import InboundLink, MoOutbox
from smsgate.ports.store import StoreError
from tests.unit.smpp.outbox_kit import ManualTimers, spin, until

T0 = 1_700_000_000.0
A, B = "acc-a", "acc-b"
WAIT_S = 5.0  # a safety net only: a resend that never comes fails the test instead of hanging


class CountingStore(MemoryStore):
    """Counts backlog reads and acknowledgement writes; fails the next few when told to."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.finishes: list[tuple[str, list[int]]] = []
        self.failing_reads = 0
        self.failing_finishes = 0

    async def pending_smpp_inbound(
        self, account_id: str, after_sequence_id: int | None, limit: int
    ) -> list[InboundMessage]:
        self.reads += 1
        if self.failing_reads:
            self.failing_reads -= 1
            raise StoreError("database is locked")
        return await super().pending_smpp_inbound(account_id, after_sequence_id, limit)

    async def finish_smpp_inbound(self, account_id: str, sequence_ids: Sequence[int]) -> None:
        if self.failing_finishes:
            self.failing_finishes -= 1
            raise StoreError("database is locked")
        self.finishes.append((account_id, list(sequence_ids)))
        await super().finish_smpp_inbound(account_id, sequence_ids)


@dataclass
class Wire:
    """What every link has outstanding, to catch an MO sent twice at once or to a stranger."""

    outstanding: dict[int, MoLink] = field(default_factory=dict)
    acked: list[int] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


_bind_ids = itertools.count(1)


class MoLink:
    """A receiver bind: a window of outstanding MO messages, answered by the test."""

    def __init__(self, wire: Wire, account_id: str = A, window: int = 100, name: str = "") -> None:
        self.wire = wire
        self._account_id = account_id
        self._bind_id = next(_bind_ids)
        self.window = window
        self.name = name or f"link-{account_id}"
        self.attached = True
        self.outstanding: dict[int, InboundMessage] = {}
        self.sent: list[int] = []
        self.sent_event = asyncio.Event()

    def __repr__(self) -> str:
        return self.name

    @property
    def account_id(self) -> str:
        return self._account_id

    @property
    def system_id(self) -> str:
        return f"sys-{self._account_id}"

    @property
    def bind_id(self) -> int:
        return self._bind_id

    def can_send_inbound(self) -> bool:
        return len(self.outstanding) < self.window

    def send_inbound(self, message: InboundMessage) -> None:
        wire, key = self.wire, message.sequence_id
        if not self.attached:
            wire.violations.append(f"{key} sent to {self} after it detached")
        if message.account_id != self.account_id:
            wire.violations.append(f"{key} of {message.account_id} sent to {self}")
        if key in wire.outstanding:
            wire.violations.append(f"{key} sent to {self} while outstanding on {wire.outstanding}")
        if len(self.outstanding) >= self.window:
            wire.violations.append(f"{key} sent to {self} with a full window")
        self.outstanding[key] = message
        wire.outstanding[key] = self
        self.sent.append(key)
        self.sent_event.set()

    def _take(self, key: int | None) -> InboundMessage:
        if key is None:
            key = next(iter(self.outstanding))
        message = self.outstanding.pop(key)
        if self.wire.outstanding.get(key) is self:
            del self.wire.outstanding[key]
        return message

    def ack(self, outbox: MoOutbox, key: int | None = None) -> int:
        """Every part answered ESME_ROK, then the bind's drain pumps (as the door does)."""
        message = self._take(key)
        self.wire.acked.append(message.sequence_id)
        outbox.acknowledged(self, message)
        outbox.pump(self.account_id)
        return message.sequence_id

    def ack_all(self, outbox: MoOutbox) -> list[int]:
        return [self.ack(outbox) for _ in range(len(self.outstanding))]

    def refuse(self, outbox: MoOutbox, key: int | None = None) -> int:
        """An error status or a response timeout for one of its parts."""
        message = self._take(key)
        outbox.refused(self, message)
        outbox.pump(self.account_id)
        return message.sequence_id

    def drop(self, outbox: MoOutbox) -> list[int]:
        """The bind goes away with what it did not answer."""
        self.attached = False
        unanswered = [self._take(key) for key in list(self.outstanding)]
        outbox.detach(self, unanswered)
        return [m.sequence_id for m in unanswered]


# -- helpers -----------------------------------------------------------------------------------


async def _receive(store: MemoryStore, account_id: str = A, count: int = 1) -> list[InboundMessage]:
    """MO messages stored for an account with SMPP credentials: what the inbound desk's
    listeners are told."""
    stored = []
    for n in range(count):
        message = InboundMessage(
            0, account_id, "6598765432", "6591230000", "", f"MO {n}", T0, "upstream"
        )
        kept = await store.store_inbound(message, smpp=True)
        assert kept is not None
        stored.append(kept)
    return stored


async def _owed(store: MemoryStore, account_id: str = A) -> list[int]:
    return [m.sequence_id for m in await store.pending_smpp_inbound(account_id, None, 10_000)]


@pytest.fixture
async def store() -> AsyncIterator[CountingStore]:
    opened = CountingStore()
    await opened.start()
    yield opened
    await opened.close()


@pytest.fixture
def wire() -> Iterator[Wire]:
    made = Wire()
    yield made
    assert made.violations == []


@pytest.fixture
async def outbox(store: CountingStore) -> AsyncIterator[MoOutbox]:
    made = MoOutbox(store, retry_s=0.01)
    yield made
    await made.close()


def _attach(outbox: MoOutbox, link: MoLink) -> MoLink:
    _: InboundLink = link  # the port, structurally
    outbox.attach(link)
    return link


# -- the backlog and the hot path --------------------------------------------------------------


async def test_a_receiver_that_binds_gets_what_was_stored_meanwhile_in_order(
    store: CountingStore, outbox: MoOutbox, wire: Wire
) -> None:
    stored = await _receive(store, count=3)
    link = _attach(outbox, MoLink(wire))
    await until(lambda: len(link.sent) == 3)
    assert link.sent == [m.sequence_id for m in stored]
    assert store.reads == 1
    await spin()
    assert link.sent == [m.sequence_id for m in stored]  # nothing more, nothing twice


async def test_a_stored_message_goes_straight_to_a_bound_receiver_without_a_store_read(
    store: CountingStore, outbox: MoOutbox, wire: Wire
) -> None:
    link = _attach(outbox, MoLink(wire))
    await until(lambda: store.reads == 1)
    await spin()

    stored = await _receive(store, count=2)
    outbox.on_inbound(stored)

    assert link.sent == [m.sequence_id for m in stored]  # at once, in the listener call
    await spin()
    assert store.reads == 1


async def test_an_acknowledged_message_is_owed_no_more_and_acknowledgements_are_batched(
    store: CountingStore, outbox: MoOutbox, wire: Wire
) -> None:
    link = _attach(outbox, MoLink(wire))
    await spin()
    outbox.on_inbound(await _receive(store, count=3))

    acked = link.ack_all(outbox)
    await spin()

    assert store.finishes == [(A, acked)]  # one store write for the three
    assert await _owed(store) == []


async def test_after_a_restart_a_new_outbox_sends_what_the_store_still_owes(
    store: CountingStore, wire: Wire
) -> None:
    first = MoOutbox(store, retry_s=0.01)
    link = _attach(first, MoLink(wire, name="before"))
    await spin()
    stored = await _receive(store, count=2)
    first.on_inbound(stored)
    link.ack(first, stored[0].sequence_id)  # the other one is never answered
    await first.close()  # the process stops

    restarted = Wire()  # the old process's connections are gone with it
    second = MoOutbox(store, retry_s=0.01)
    again = _attach(second, MoLink(restarted, name="after"))
    await until(lambda: again.sent == [stored[1].sequence_id])
    again.ack_all(second)
    await second.close()
    assert await _owed(store) == []
    assert restarted.violations == []


async def test_messages_go_to_the_receivers_of_their_account_in_turn_and_never_elsewhere(
    store: CountingStore, outbox: MoOutbox, wire: Wire
) -> None:
    first = _attach(outbox, MoLink(wire, A, name="first"))
    second = _attach(outbox, MoLink(wire, A, name="second"))
    stranger = _attach(outbox, MoLink(wire, B, name="stranger"))
    await spin()

    outbox.on_inbound(await _receive(store, A, count=6))

    assert len(first.sent) == len(second.sent) == 3
    assert stranger.sent == []
    owner = {key: link for link in (first, second) for key in link.sent}
    keys = sorted(owner)
    assert all(owner[a] is not owner[b] for a, b in itertools.pairwise(keys))


async def test_a_message_waits_for_room_in_a_full_window(
    store: CountingStore, outbox: MoOutbox, wire: Wire
) -> None:
    link = _attach(outbox, MoLink(wire, window=1))
    await spin()
    stored = await _receive(store, count=2)
    outbox.on_inbound(stored)
    assert link.sent == [stored[0].sequence_id]

    link.ack(outbox)
    assert link.sent == [m.sequence_id for m in stored]


async def test_without_a_receiver_nothing_is_sent_and_the_store_keeps_it(
    store: CountingStore, outbox: MoOutbox, wire: Wire
) -> None:
    stored = await _receive(store)
    outbox.on_inbound(stored)  # nobody bound
    await spin()
    assert await _owed(store) == [stored[0].sequence_id]

    link = _attach(outbox, MoLink(wire))
    await until(lambda: link.sent == [stored[0].sequence_id])


# -- refusals, silence, binds going away ---------------------------------------------------------


async def test_a_refused_message_is_sent_again_after_retry_s(
    store: CountingStore, outbox: MoOutbox, wire: Wire
) -> None:
    link = _attach(outbox, MoLink(wire))
    await spin()
    [stored] = await _receive(store)
    outbox.on_inbound([stored])
    link.sent_event.clear()

    link.refuse(outbox)
    assert link.sent == [stored.sequence_id]  # not at once
    async with asyncio.timeout(WAIT_S):
        await link.sent_event.wait()
    assert link.sent == [stored.sequence_id] * 2
    assert await _owed(store) == [stored.sequence_id]


async def test_a_refused_message_waits_for_its_timer(
    store: CountingStore, outbox: MoOutbox, wire: Wire, timers: ManualTimers
) -> None:
    link = _attach(outbox, MoLink(wire))
    await spin()
    stored = await _receive(store, count=2)
    outbox.on_inbound(stored)
    link.refuse(outbox, stored[0].sequence_id)
    await spin()
    assert link.sent == [m.sequence_id for m in stored]

    assert timers.fire() == 1
    assert link.sent == [*(m.sequence_id for m in stored), stored[0].sequence_id]


async def test_what_a_bind_did_not_answer_goes_to_the_next_bind(
    store: CountingStore, outbox: MoOutbox, wire: Wire
) -> None:
    gone = _attach(outbox, MoLink(wire, name="gone"))
    await spin()
    stored = await _receive(store, count=2)
    outbox.on_inbound(stored)
    assert gone.drop(outbox) == [m.sequence_id for m in stored]

    later = _attach(outbox, MoLink(wire, name="later"))
    await until(lambda: len(later.sent) == 2)
    assert later.sent == [m.sequence_id for m in stored]


async def test_a_read_that_fails_is_tried_again(
    store: CountingStore, outbox: MoOutbox, wire: Wire, timers: ManualTimers
) -> None:
    stored = await _receive(store)
    store.failing_reads = 1
    link = _attach(outbox, MoLink(wire))
    await spin()
    assert link.sent == []

    timers.fire()
    await until(lambda: link.sent == [stored[0].sequence_id])


async def test_an_acknowledgement_that_cannot_be_stored_means_a_resend(
    store: CountingStore, outbox: MoOutbox, wire: Wire
) -> None:
    store.failing_finishes = 1
    first = _attach(outbox, MoLink(wire, name="first"))
    await spin()
    [stored] = await _receive(store)
    outbox.on_inbound([stored])
    first.ack(outbox)
    await spin()
    assert await _owed(store) == [stored.sequence_id]  # at least once: it stays owed

    first.drop(outbox)
    second = _attach(outbox, MoLink(wire, name="second"))
    await until(lambda: second.sent == [stored.sequence_id])


# -- random runs -------------------------------------------------------------------------------

OPS = ("receive", "attach", "drop", "ack", "refuse", "spin", "pump")


async def _random_run(seed: int, steps: int) -> None:
    """Receivers of two accounts come and go, MO messages are stored, binds answer at random;
    then one well-behaved bind per account must get every message still owed."""
    rng = random.Random(seed)
    store = CountingStore()
    await store.start()
    outbox = MoOutbox(store, retry_s=0, page=rng.choice([1, 2, 3, 500]), max_ready=4)
    wire = Wire()
    links: list[MoLink] = []
    owed: set[int] = set()

    for step in range(steps):
        op = rng.choice(OPS)
        live = [link for link in links if link.attached]
        if op == "receive":
            stored = await _receive(store, rng.choice((A, B)), rng.randint(1, 3))
            owed.update(m.sequence_id for m in stored)
            outbox.on_inbound(stored)
        elif op == "attach" and len(live) < 4:
            link = MoLink(wire, rng.choice((A, B)), rng.randint(0, 3), f"link{step}")
            links.append(link)
            _attach(outbox, link)
        elif op == "drop" and live:
            rng.choice(live).drop(outbox)
        elif op in ("ack", "refuse"):
            busy = [link for link in live if link.outstanding]
            if busy:
                link = rng.choice(busy)
                key = rng.choice(list(link.outstanding))
                (link.ack if op == "ack" else link.refuse)(outbox, key)
        elif op == "spin":
            await spin(rng.randint(1, 5))
        elif op == "pump":
            outbox.pump(rng.choice((A, B)))
        assert wire.violations == [], (seed, step)

    for link in links:
        if link.attached:
            link.drop(outbox)
    finals = [
        _attach(outbox, MoLink(wire, A, 5, "final-a")),
        _attach(outbox, MoLink(wire, B, 5, "final-b")),
    ]
    for _ in range(500):
        await spin(2)
        for link in finals:
            link.ack_all(outbox)
        if not await _owed(store, A) and not await _owed(store, B):
            break
    await outbox.close()
    assert wire.violations == [], seed
    assert await _owed(store, A) == [], seed
    assert await _owed(store, B) == [], seed
    assert owed <= set(wire.acked), seed  # at least once: every message was acknowledged
    await store.close()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), steps=st.integers(0, 80))
def test_random_runs_deliver_every_message_at_least_once_never_twice_at_once(
    seed: int, steps: int
) -> None:
    asyncio.run(_random_run(seed, steps))
