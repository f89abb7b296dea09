"""deliver_sm from the SMSC (receipts, MO) goes to the UpstreamSink and is answered with its
status, only once it returned."""

from __future__ import annotations

import asyncio

import pytest

from smsgate.domain.models import Accepted
from smsgate.smpp.constants import CommandStatus, TlvTag
from smsgate.smpp.pdu import DeliverSm
from tests.builders import message
from tests.peers.smsc import ESME_ROK, Behaviour, ForeignSmsc, Receipt

from .conftest import NAME, Connect, RecordingSink


async def test_a_receipt_is_handed_to_the_sink_and_acked_only_after_it_returns(
    smsc: ForeignSmsc, connect: Connect, sink: RecordingSink
) -> None:
    sink.gate = asyncio.Event()
    smsc.behaviour = Behaviour(receipt=None)
    connector = await connect()
    [outcome] = await connector.submit([message(1)])
    assert isinstance(outcome, Accepted)
    smsc.send_receipt(smsc.submits[0])
    [pdu] = await sink.wait(1)
    # An enquire_link on the same connection comes back after anything the connector wrote
    # before it: an early ack would be here by then.
    assert await smsc.enquire_link() == [ESME_ROK]
    assert smsc.acks == []

    sink.gate.set()
    [ack] = await smsc.wait_acks(1)
    assert (ack.command, ack.status) == ("deliver_sm_resp", ESME_ROK)
    assert sink.delivered[0][0] == NAME
    assert isinstance(pdu, DeliverSm)
    assert pdu.esm_class == 0x04
    assert pdu.tlv_str(TlvTag.RECEIPTED_MESSAGE_ID) == smsc.submits[0].message_id


async def test_the_ack_carries_the_sink_s_status(
    smsc: ForeignSmsc, connect: Connect, sink: RecordingSink
) -> None:
    sink.status = CommandStatus.ESME_RX_T_APPN
    await connect()
    smsc.send_mo("6591234567", "12345", "hello")
    [ack] = await smsc.wait_acks(1)
    assert ack.status == CommandStatus.ESME_RX_T_APPN


async def test_a_sink_that_raises_gets_esme_rsyserr(
    smsc: ForeignSmsc, connect: Connect, sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    sink.error = RuntimeError("boom")
    await connect()
    smsc.send_mo("6591234567", "12345", "hello")
    [ack] = await smsc.wait_acks(1)
    assert (ack.command, ack.status) == ("deliver_sm_resp", CommandStatus.ESME_RSYSERR)
    assert any("upstream sink failed" in r.getMessage() for r in caplog.records)


async def test_receipts_for_every_submit_reach_the_sink(
    smsc: ForeignSmsc, connect: Connect, sink: RecordingSink
) -> None:
    connector = await connect(binds=2)
    outcomes = await connector.submit([message(n) for n in range(20)])
    assert all(isinstance(o, Accepted) for o in outcomes)
    received = await sink.wait(20)
    await smsc.wait_acks(20)
    assert {p.tlv_str(TlvTag.RECEIPTED_MESSAGE_ID) for p in received} == {
        s.message_id for s in smsc.submits
    }
    assert {a.status for a in smsc.acks} == {ESME_ROK}


async def test_a_receipt_before_its_response_reaches_the_sink_too(
    smsc: ForeignSmsc, connect: Connect, sink: RecordingSink
) -> None:
    # The sink may see it before or after submit() returns (the store keeps a receipt whose
    # id is not recorded yet); it must see it, and the submit must count as accepted.
    smsc.behaviour = Behaviour(receipt=Receipt(before_response=True))
    connector = await connect()
    [outcome] = await connector.submit([message(1)])
    assert isinstance(outcome, Accepted)
    [receipt] = await sink.wait(1)
    assert receipt.tlv_str(TlvTag.RECEIPTED_MESSAGE_ID) == outcome.carrier_ids[0]
    await smsc.wait_acks(1)


async def test_with_tx_rx_mo_messages_arrive_on_the_receiver(
    smsc: ForeignSmsc, connect: Connect, sink: RecordingSink
) -> None:
    connector = await connect(bind_mode="tx+rx")
    await smsc.wait_binds(2)
    [part1, part2] = smsc.send_mo("6591234567", "12345", "x" * 200, long="sar")
    assert part1.connection == part2.connection
    receiver = next(b for b in smsc.binds if b.mode == "receiver")
    assert part1.connection == receiver.connection
    received = await sink.wait(2)
    assert [p.tlv_int(TlvTag.SAR_SEGMENT_SEQNUM) for p in received] == [1, 2]
    await smsc.wait_acks(2)
    [outcome] = await connector.submit([message(1)])
    assert isinstance(outcome, Accepted)
    transmitter = next(b for b in smsc.binds if b.mode == "transmitter")
    assert smsc.submits[0].connection == transmitter.connection
