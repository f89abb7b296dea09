"""MO messages through the SMPP door: what the inbound desk stored reaches a receiver bind of
the account as deliver_sm (esm_class 0), long ones in concatenated parts on one bind as its
window allows, acknowledged in the store once every part is answered ESME_ROK and sent again,
whole, when a part is refused; the store's backlog is read when a receiver binds.

The door runs in-process over a memory store that says when acknowledgements are stored; the
client is a raw socket speaking PDUs that smpplib encodes and decodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import smpplib.command

from smsgate.adapters.storage.memory import MemoryStore
from smsgate.config import SmppConfig
from smsgate.domain.inbound import InboundMessage
from smsgate.domain.models import MessageStatus, Receipt
from smsgate.domain.text import decode_parts
from tests import builders

from .conftest import ACCOUNT_ID, T0
from .smpp_wire import SmppDoor, bound, open_smpp_door, pdu, read_pdu

LONG = "Yes please, book the table for four at eight tonight. " * 5  # 270 characters: 2 parts
WAIT_S = 5.0


class AckStore(MemoryStore):
    """Sets :attr:`finished` when MO acknowledgements are stored, with what they named."""

    def __init__(self) -> None:
        super().__init__()
        self.finished = asyncio.Event()
        self.finished_ids: list[int] = []

    async def finish_smpp_inbound(self, account_id: str, sequence_ids: Sequence[int]) -> None:
        await super().finish_smpp_inbound(account_id, sequence_ids)
        self.finished_ids.extend(sequence_ids)
        self.finished.set()


async def _stored(store: MemoryStore, text: str = "Yes, confirm") -> InboundMessage:
    message = InboundMessage(0, ACCOUNT_ID, "6598765432", "6591230077", "77", text, T0, "up")
    kept = await store.store_inbound(message, smpp=True)
    assert kept is not None
    return kept


async def _received(door: SmppDoor, store: MemoryStore, text: str) -> InboundMessage:
    """An MO message as the inbound desk stores it and tells its listeners."""
    message = await _stored(store, text)
    door.server.on_inbound([message])
    return message


async def _next(reader: asyncio.StreamReader) -> smpplib.command.Command:
    async with asyncio.timeout(WAIT_S):
        return await read_pdu(reader)


def _answer(writer: asyncio.StreamWriter, got: smpplib.command.Command, status: int = 0) -> None:
    writer.write(pdu("deliver_sm_resp", got.sequence, status=status))


async def test_an_mo_message_reaches_a_bound_receiver_and_is_acknowledged() -> None:
    store = AckStore()
    async with open_smpp_door(store) as door:
        reader, writer = await bound(door.port, "receiver")
        message = await _received(door, store, "Yes, confirm")

        got = await _next(reader)
        _answer(writer, got)
        async with asyncio.timeout(WAIT_S):
            await store.finished.wait()

        assert got.command == "deliver_sm"
        assert (got.esm_class, got.data_coding) == (0, 0)
        assert (got.source_addr, got.source_addr_ton, got.source_addr_npi) == (
            b"6598765432",
            1,
            1,
        )
        assert got.destination_addr == b"6591230077"
        assert got.short_message == b"Yes, confirm"
        assert store.finished_ids == [message.sequence_id]
        assert await store.pending_smpp_inbound(ACCOUNT_ID, None, 10) == []
        writer.close()


async def test_what_was_stored_before_the_bind_is_sent_when_a_receiver_binds() -> None:
    store = AckStore()
    async with open_smpp_door(store) as door:
        await _stored(store, "first")
        await _stored(store, "second")

        reader, writer = await bound(door.port, "transceiver")
        got = [await _next(reader), await _next(reader)]

        assert [g.short_message for g in got] == [b"first", b"second"]
        writer.close()


async def test_a_transmitter_gets_no_mo_messages() -> None:
    store = AckStore()
    async with open_smpp_door(store) as door:
        reader, writer = await bound(door.port, "transmitter")
        await _received(door, store, "kept for a receiver")
        writer.write(pdu("enquire_link", 2))

        got = await _next(reader)  # the answer to the enquire_link, and nothing before it

        assert got.command == "enquire_link_resp"
        assert len(await store.pending_smpp_inbound(ACCOUNT_ID, None, 10)) == 1
        writer.close()


async def test_a_long_message_comes_in_parts_on_one_bind_as_its_window_allows() -> None:
    store = AckStore()
    config = replace(SmppConfig(), window=1, shutdown_s=0.5)
    async with open_smpp_door(store, config=config) as door:
        reader, writer = await bound(door.port, "receiver")
        message = await _received(door, store, LONG)

        first = await _next(reader)
        _answer(writer, first)  # the window of one: the second part only after this
        second = await _next(reader)
        assert not store.finished.is_set()  # one part still unanswered
        _answer(writer, second)
        async with asyncio.timeout(WAIT_S):
            await store.finished.wait()

        parts = [first.short_message, second.short_message]
        reference = message.sequence_id % 256
        assert [p[:6] for p in parts] == [bytes((5, 0, 3, reference, 2, n)) for n in (1, 2)]
        assert {first.esm_class, second.esm_class} == {0x40}
        assert decode_parts(parts, 0) == LONG
        assert store.finished_ids == [message.sequence_id]
        writer.close()


async def test_a_refused_part_sends_the_whole_message_again() -> None:
    store = AckStore()
    config = replace(SmppConfig(), receipt_retry_s=0.05, shutdown_s=0.5)
    async with open_smpp_door(store, config=config) as door:
        reader, writer = await bound(door.port, "receiver")
        await _received(door, store, LONG)

        first, second = await _next(reader), await _next(reader)
        _answer(writer, first)
        _answer(writer, second, status=0x64)  # ESME_RX_T_APPN: try again later
        again = [await _next(reader), await _next(reader)]
        for got in again:
            _answer(writer, got)
        async with asyncio.timeout(WAIT_S):
            await store.finished.wait()

        assert [g.short_message for g in again] == [first.short_message, second.short_message]
        writer.close()


async def test_what_a_bind_did_not_answer_goes_to_the_next_receiver() -> None:
    store = AckStore()
    async with open_smpp_door(store) as door:
        reader, writer = await bound(door.port, "receiver")
        await _received(door, store, "unanswered")
        await _next(reader)  # read, never answered
        writer.close()

        reader, writer = await bound(door.port, "receiver")
        got = await _next(reader)
        _answer(writer, got)
        async with asyncio.timeout(WAIT_S):
            await store.finished.wait()

        assert got.short_message == b"unanswered"
        writer.close()


async def test_a_bind_gone_in_the_middle_of_a_long_message_leaves_it_whole_to_the_next() -> None:
    store = AckStore()
    config = replace(SmppConfig(), window=1, shutdown_s=0.5)
    async with open_smpp_door(store, config=config) as door:
        reader, writer = await bound(door.port, "receiver")
        await _received(door, store, LONG)
        first = await _next(reader)
        _answer(writer, first)
        await _next(reader)  # the second part, never answered
        writer.close()

        reader, writer = await bound(door.port, "receiver")
        again = []
        for _ in range(2):  # a window of one: each part after the answer to the one before
            again.append(await _next(reader))
            _answer(writer, again[-1])
        async with asyncio.timeout(WAIT_S):
            await store.finished.wait()

        assert decode_parts([g.short_message for g in again], 0) == LONG
        writer.close()


async def test_receipts_wait_while_the_parts_of_an_mo_message_go_out() -> None:
    store = AckStore()
    config = replace(SmppConfig(), window=1, shutdown_s=0.5)
    async with open_smpp_door(store, config=config) as door:
        reader, writer = await bound(door.port, "transceiver")
        await _received(door, store, LONG)
        first = await _next(reader)  # part 1 of 2 fills the window
        smpp = {"door": "smpp", "registered_delivery": 1, "created_at": T0}
        receipted = builders.message(7, ACCOUNT_ID, **smpp)
        await store.insert_messages([receipted])
        changed = await store.apply_receipts(
            [Receipt(receipted.id, MessageStatus.DELIVERED, "success", T0 + 1)]
        )
        door.server.outbox.on_final(changed)

        _answer(writer, first)
        second = await _next(reader)
        _answer(writer, second)
        receipt = await _next(reader)
        _answer(writer, receipt)

        assert (first.esm_class, second.esm_class) == (0x40, 0x40)
        assert (receipt.esm_class, receipt.receipted_message_id) == (0x04, b"7")
        writer.close()
