"""The SMPP door holds a bounded amount of work per bind, however fast a client sends.

The door runs in-process over a memory store whose commits wait on a gate the test opens, so
"the server is busy" is a state the test holds rather than a race it hopes to win. The client is
a raw socket speaking PDUs that smpplib encodes and decodes, so nothing of smsgate's codec is on
the client's side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace

import pytest
import smpplib.consts

from smsgate.adapters.storage.memory import MemoryStore
from smsgate.config import SmppConfig
from smsgate.domain.models import Message

from .smpp_wire import bound, open_smpp_door, pdu, read_pdu

WINDOW = 8


class GatedStore(MemoryStore):
    """Accepting messages waits for :attr:`gate`; :attr:`waiting` counts what waits."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = 0
        self.most_waiting = 0

    async def accept_messages(self, messages: Sequence[Message], charge_micros: int) -> bool:
        self.waiting += len(messages)
        self.most_waiting = max(self.most_waiting, self.waiting)
        try:
            await self.gate.wait()
        finally:
            self.waiting -= len(messages)
        return await super().accept_messages(messages, charge_micros)


@pytest.fixture
async def gated(request: pytest.FixtureRequest) -> AsyncIterator[tuple[GatedStore, int]]:
    """A gated store and the port of an SMPP door over it with ``request_window`` WINDOW (and
    the test's other [smpp] settings, given as the fixture's parameter)."""
    store = GatedStore()
    settings = getattr(request, "param", {})
    config = replace(SmppConfig(), request_window=WINDOW, shutdown_s=0.5, **settings)
    async with open_smpp_door(store, config=config) as door:
        try:
            yield store, door.port
        finally:
            store.gate.set()


def _submit(sequence: int) -> bytes:
    return pdu(
        "submit_sm",
        sequence,
        source_addr="Acme",
        destination_addr=f"6591{sequence:06d}",
        short_message=b"backpressure",
    )


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the loop run until ``condition`` holds (the door's work is all on this loop)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0)


async def test_a_busy_server_takes_no_more_than_the_window_from_one_bind(
    gated: tuple[GatedStore, int],
) -> None:
    store, port = gated
    reader, writer = await bound(port)
    sent = 10 * WINDOW
    writer.write(b"".join(_submit(seq) for seq in range(2, 2 + sent)))
    await writer.drain()
    await _until(lambda: store.waiting >= WINDOW)  # a window's worth reaches the store
    for _ in range(100):  # give the door every chance to take more than it should
        await asyncio.sleep(0)
    assert store.waiting == WINDOW

    store.gate.set()
    answers = [await read_pdu(reader) for _ in range(sent)]
    assert sorted(a.sequence for a in answers) == list(range(2, 2 + sent))
    assert {(a.command, a.status) for a in answers} == {
        ("submit_sm_resp", smpplib.consts.SMPP_ESME_ROK)
    }
    assert store.most_waiting == WINDOW
    writer.close()


async def test_a_bind_stuck_at_its_window_does_not_hold_up_another_bind(
    gated: tuple[GatedStore, int],
) -> None:
    store, port = gated
    _, greedy = await bound(port)
    greedy.write(b"".join(_submit(seq) for seq in range(2, 2 + 10 * WINDOW)))
    await _until(lambda: store.waiting >= WINDOW)

    reader, writer = await bound(port)
    writer.write(pdu("enquire_link", 7))
    answer = await asyncio.wait_for(read_pdu(reader), timeout=5)
    assert (answer.command, answer.sequence) == ("enquire_link_resp", 7)
    greedy.close()
    writer.close()


@pytest.mark.parametrize("gated", [{"concat_timeout_s": 0.2}], indirect=True)
async def test_a_long_message_whose_parts_are_late_is_dropped_and_may_start_over(
    gated: tuple[GatedStore, int], caplog: pytest.LogCaptureFixture
) -> None:
    """The parts a client never completes are not held for ever: at concat_timeout_s the
    message is dropped (uncharged), and its first part is then a new message's."""
    caplog.set_level(logging.WARNING, logger="smsgate.doors.smpp.translate")
    store, port = gated
    store.gate.set()
    reader, writer = await bound(port)

    def part(sequence: int, number: int) -> bytes:
        udh = bytes((5, 0x00, 3, 7, 2, number))  # concatenation, reference 7, part number of 2
        return pdu(
            "submit_sm",
            sequence,
            source_addr="Acme",
            destination_addr="6591000001",
            esm_class=0x40,
            short_message=udh + b"half",
        )

    writer.write(part(2, 1))
    first = await read_pdu(reader)
    await _until(lambda: "dropped a long message" in caplog.text)
    writer.write(part(3, 1))  # a duplicate part, were the first still held
    again = await read_pdu(reader)
    writer.write(part(4, 2))
    whole = await read_pdu(reader)
    ok = smpplib.consts.SMPP_ESME_ROK
    assert (first.status, again.status, whole.status) == (ok, ok, ok)
    assert again.message_id == whole.message_id != first.message_id
    writer.close()
