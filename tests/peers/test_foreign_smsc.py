"""The foreign SMSC, checked with smpplib's own client and with bare smpplib PDUs before any
connector relies on it: binds, ids, scripted answers, held and dropped windows, receipts on
either side of their response, MO messages.

Ordering is proven, never waited for: the peer handles the PDUs of one read in order and
writes at once, so a request sent after others in the same write is a marker (its answer read
first means the others were not answered yet, read last means they were).
"""

from __future__ import annotations

import ast
import asyncio
import re
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import smpplib.client  # type: ignore[import-untyped]
import smpplib.gsm  # type: ignore[import-untyped]

from .esme import Esme, pdu_bytes
from .smsc import (
    ESME_RALYBND,
    ESME_RINVBNDSTS,
    ESME_RINVCMDID,
    ESME_RINVCMDLEN,
    ESME_RINVDSTADR,
    ESME_RINVPASWD,
    ESME_RINVSYSID,
    ESME_RMSGQFUL,
    ESME_ROK,
    ESME_RTHROTTLED,
    Ack,
    Behaviour,
    Bind,
    BindMode,
    ForeignSmsc,
    IdFormat,
    Receipt,
    Submit,
)

SYSTEM_ID = "acme"
PASSWORD = "s3cret"
OTHER_ID = "other"
NOW = datetime(2026, 12, 5, 9, 30, 15, tzinfo=UTC)
FIRST_ID = 0xC0FFEE00

Connect = Callable[[], Awaitable[Esme]]


@pytest.fixture
async def smsc() -> AsyncIterator[ForeignSmsc]:
    async with ForeignSmsc({SYSTEM_ID: PASSWORD, OTHER_ID: "pw2"}, clock=lambda: NOW) as peer:
        yield peer


@pytest.fixture
async def connect(smsc: ForeignSmsc) -> AsyncIterator[Connect]:
    opened: list[Esme] = []

    async def open_one() -> Esme:
        opened.append(await Esme.connect(smsc.port))
        return opened[-1]

    yield open_one
    for esme in opened:
        await esme.close()


async def bound(connect: Connect, mode: str = "transceiver", system_id: str = SYSTEM_ID) -> Esme:
    esme = await connect()
    password = PASSWORD if system_id == SYSTEM_ID else "pw2"
    resp = await esme.bind(mode, system_id, password)
    assert resp.status == ESME_ROK
    return esme


def tlvs(frame: bytes) -> dict[int, bytes]:
    """The TLVs of a deliver_sm/submit_sm, found by walking its mandatory fields by hand
    (SMPP 3.4 §4.6.1), so smpplib's reading is not the only witness."""
    body = frame[16:]
    position = 0

    def c_string() -> None:
        nonlocal position
        position = body.index(b"\0", position) + 1

    c_string()  # service_type
    for _ in range(2):  # source, destination: ton, npi, address
        position += 2
        c_string()
    position += 3  # esm_class, protocol_id, priority_flag
    c_string()  # schedule_delivery_time
    c_string()  # validity_period
    position += 4  # registered_delivery, replace_if_present, data_coding, sm_default_msg_id
    position += 1 + body[position]  # sm_length, short_message
    found = {}
    while position < len(body):
        tag, length = struct.unpack_from(">HH", body, position)
        found[tag] = body[position + 4 : position + 4 + length]
        position += 4 + length
    return found


# -- binds and session requests --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["transmitter", "receiver", "transceiver"])
async def test_a_bind_with_the_configured_credentials_is_accepted(
    smsc: ForeignSmsc, connect: Connect, mode: BindMode
) -> None:
    esme = await connect()
    resp = await esme.bind(mode, SYSTEM_ID, PASSWORD)
    assert (resp.status, resp.system_id, resp.sequence) == (ESME_ROK, b"FOREIGN", 1)
    assert smsc.binds == [Bind(1, SYSTEM_ID, mode, ESME_ROK)]
    assert (smsc.connections, smsc.bound) == (1, 1)


async def test_wrong_credentials_are_refused_without_a_body_and_the_connection_stays(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    esme = await connect()
    refused = [await esme.bind("transceiver", "nobody", PASSWORD)]
    refused.append(await esme.bind("transceiver", SYSTEM_ID, "wrong"))
    assert [(pdu.status, pdu.length) for pdu in refused] == [
        (ESME_RINVSYSID, 16),
        (ESME_RINVPASWD, 16),
    ]
    assert (await esme.bind("transceiver", SYSTEM_ID, PASSWORD)).status == ESME_ROK
    assert (await esme.bind("transceiver", SYSTEM_ID, PASSWORD)).status == ESME_RALYBND
    assert [bind.status for bind in smsc.binds] == [
        ESME_RINVSYSID,
        ESME_RINVPASWD,
        ESME_ROK,
        ESME_RALYBND,
    ]


async def test_bind_status_turns_every_bind_away(smsc: ForeignSmsc, connect: Connect) -> None:
    smsc.bind_status = ESME_RTHROTTLED
    esme = await connect()
    assert (await esme.bind("transceiver", SYSTEM_ID, PASSWORD)).status == ESME_RTHROTTLED
    assert smsc.bound == 0


async def test_a_submit_needs_a_bind_that_may_transmit(smsc: ForeignSmsc, connect: Connect) -> None:
    unbound = await connect()
    unbound.submit()
    receiver = await bound(connect, "receiver")
    receiver.submit()
    statuses = [(await unbound.expect("submit_sm_resp")).status]
    statuses.append((await receiver.expect("submit_sm_resp")).status)
    assert statuses == [ESME_RINVBNDSTS, ESME_RINVBNDSTS]
    assert smsc.submits == []


async def test_enquire_link_is_answered_bound_or_not(connect: Connect) -> None:
    unbound = await connect()
    sequence = unbound.send("enquire_link")
    assert (await unbound.expect("enquire_link_resp")).sequence == sequence
    esme = await bound(connect)
    sequence = esme.send("enquire_link")
    assert (await esme.expect("enquire_link_resp")).sequence == sequence


async def test_an_unbind_is_answered_then_the_connection_closed(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    esme = await bound(connect)
    sequence = esme.send("unbind")
    assert (await esme.expect("unbind_resp")).sequence == sequence
    await esme.at_end()
    await smsc.wait_closed(1)
    assert smsc.bound == 0


async def test_garbage_gets_a_generic_nack(connect: Connect) -> None:
    esme = await connect()
    unknown = struct.pack(">LLLL", 16, 0x00000777, 0, 41)
    esme.writer.write(unknown + pdu_bytes("query_sm", 42, message_id="1"))
    nacks = [await esme.expect("generic_nack"), await esme.expect("generic_nack")]
    assert [(pdu.status, pdu.sequence) for pdu in nacks] == [
        (ESME_RINVCMDID, 41),
        (ESME_RINVCMDID, 42),
    ]
    esme.send("enquire_link")  # still reading
    await esme.expect("enquire_link_resp")
    esme.writer.write(struct.pack(">LLLL", 8, 0x00000015, 0, 43))
    nack = await esme.expect("generic_nack")
    assert (nack.status, nack.sequence) == (ESME_RINVCMDLEN, 43)
    await esme.at_end()


async def test_the_peer_sends_enquire_link_and_unbind(smsc: ForeignSmsc, connect: Connect) -> None:
    esme = await bound(connect)
    asked = asyncio.create_task(smsc.enquire_link())
    esme.answer(await esme.expect("enquire_link"))
    assert await asked == [ESME_ROK]
    asked = asyncio.create_task(smsc.unbind())
    unbind = await esme.expect("unbind")
    esme.answer(unbind)
    assert await asked == [ESME_ROK]
    await esme.at_end()
    assert unbind.sequence == 2  # the peer numbers its own requests per connection


async def test_a_connection_closed_before_answering_the_peer_answers_none(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    esme = await bound(connect)
    asked = asyncio.create_task(smsc.unbind())
    await esme.expect("unbind")
    await esme.close()
    assert await asked == [None]


async def test_reconnects_are_counted(smsc: ForeignSmsc, connect: Connect) -> None:
    first = await bound(connect)
    assert smsc.disconnect() == 1
    await first.at_end()
    await smsc.wait_closed(1)
    await bound(connect)
    assert (smsc.connections, smsc.closed, smsc.bound) == (2, 1, 1)
    assert [bind.connection for bind in await smsc.wait_binds(2)] == [1, 2]


# -- submits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("id_format", "expected"),
    [("dec", [b"3237998080", b"3237998081"]), ("hex", [b"c0ffee00", b"c0ffee01"])],
)
async def test_submits_are_answered_with_ids_in_the_configured_format(
    smsc: ForeignSmsc, connect: Connect, id_format: IdFormat, expected: list[bytes]
) -> None:
    smsc.id_format = id_format
    esme = await bound(connect)
    esme.submit()
    esme.submit()
    resps = [await esme.expect("submit_sm_resp"), await esme.expect("submit_sm_resp")]
    assert [(pdu.status, pdu.sequence, pdu.message_id) for pdu in resps] == [
        (ESME_ROK, 2, expected[0]),
        (ESME_ROK, 3, expected[1]),
    ]
    assert [submit.message_id.encode() for submit in smsc.answered] == expected


async def test_every_submit_is_recorded_with_its_fields(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    esme = await bound(connect, "transmitter")
    payload = "长消息".encode("utf-16-be")
    esme.send(
        "submit_sm",
        service_type="CMT",
        source_addr_ton=5,
        source_addr_npi=0,
        source_addr="Acme",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="6591000001",
        esm_class=0x03,
        registered_delivery=1,
        data_coding=8,
        validity_period="000001000000000R",
        message_payload=payload,
        sar_msg_ref_num=0x1234,
        sar_total_segments=2,
        sar_segment_seqnum=1,
    )
    [submit] = await smsc.wait_submits(1)
    assert submit == Submit(
        system_id=SYSTEM_ID,
        connection=1,
        sequence=2,
        service_type="CMT",
        source_addr="Acme",
        source_addr_ton=5,
        source_addr_npi=0,
        destination_addr="6591000001",
        dest_addr_ton=1,
        dest_addr_npi=1,
        esm_class=0x03,
        registered_delivery=1,
        data_coding=8,
        validity_period="000001000000000R",
        short_message=b"",
        message_payload=payload,
        sar_msg_ref_num=0x1234,
        sar_total_segments=2,
        sar_segment_seqnum=1,
        number=FIRST_ID,
        message_id=str(FIRST_ID),
        status=ESME_ROK,
        received_at=NOW,
    )
    assert submit.text == "长消息"


async def test_a_udh_is_told_apart_from_the_text(smsc: ForeignSmsc, connect: Connect) -> None:
    esme = await bound(connect)
    esme.submit(
        text=b"\x05\x00\x03\x07\x02\x01" + smpplib.gsm.gsm_encode("€1 @ home"), esm_class=0x40
    )
    [submit] = await smsc.wait_submits(1)
    assert (submit.udh, submit.text) == (b"\x05\x00\x03\x07\x02\x01", "€1 @ home")


async def test_answers_follow_the_destination_then_the_global_behaviour_at_any_time(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    esme = await bound(connect)
    smsc.by_destination["6591000002"] = Behaviour(status=ESME_RINVDSTADR)
    esme.submit("6591000001")
    esme.submit("6591000002")
    first = [await esme.expect("submit_sm_resp") for _ in range(2)]
    smsc.behaviour = Behaviour(status=ESME_RTHROTTLED)
    esme.submit("6591000001")
    later = [await esme.expect("submit_sm_resp")]
    smsc.behaviour = Behaviour(status=ESME_RMSGQFUL)
    del smsc.by_destination["6591000002"]
    esme.submit("6591000002")
    later.append(await esme.expect("submit_sm_resp"))
    assert [(pdu.status, pdu.length) for pdu in first + later] == [
        (ESME_ROK, 16 + len(str(FIRST_ID)) + 1),
        (ESME_RINVDSTADR, 16),  # SMPP 3.4 §4.4.2: no body with an error
        (ESME_RTHROTTLED, 16),
        (ESME_RMSGQFUL, 16),
    ]
    assert [submit.message_id for submit in smsc.submits] == [str(FIRST_ID), "", "", ""]


async def test_held_responses_wait_for_a_release(smsc: ForeignSmsc, connect: Connect) -> None:
    smsc.behaviour = Behaviour(hold=True)
    esme = await bound(connect)
    for _ in range(4):
        esme.submit()
    esme.send("enquire_link")
    assert (await esme.read()).command == "enquire_link_resp"  # nothing answered before it
    await smsc.wait_held(4)
    assert smsc.answered == []
    assert smsc.release(1) == 1
    assert (await esme.expect("submit_sm_resp")).sequence == 2
    smsc.behaviour = Behaviour()
    assert smsc.release() == 3
    assert [(await esme.expect("submit_sm_resp")).sequence for _ in range(3)] == [3, 4, 5]
    assert (smsc.held, len(smsc.answered)) == (0, 4)


async def test_a_submit_beyond_the_window_is_throttled_and_recorded(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    smsc.max_window = 2
    smsc.behaviour = Behaviour(hold=True)
    esme = await bound(connect)
    for _ in range(3):
        esme.submit()
    overflow = await esme.expect("submit_sm_resp")
    assert (overflow.sequence, overflow.status) == (4, ESME_RTHROTTLED)
    assert [submit.sequence for submit in smsc.overflows] == [4]
    smsc.release()
    assert [(await esme.expect("submit_sm_resp")).status for _ in range(2)] == [ESME_ROK] * 2


async def test_a_drop_mid_window_answers_nothing_in_it(smsc: ForeignSmsc, connect: Connect) -> None:
    smsc.behaviour = Behaviour(hold=True)
    smsc.drop_after(3)
    esme = await bound(connect)
    for _ in range(5):
        esme.submit()
    await esme.at_end()
    await smsc.wait_closed(1)
    assert (len(smsc.submits), smsc.answered, smsc.held) == (3, [], 0)
    smsc.behaviour = Behaviour()
    again = await bound(connect)
    again.submit()
    assert (await again.expect("submit_sm_resp")).status == ESME_ROK  # the rule was one-shot
    assert smsc.connections == 2


@pytest.mark.parametrize(("answered", "responses"), [(False, [2]), (True, [2, 3])])
async def test_a_drop_comes_before_or_after_the_nth_response(
    smsc: ForeignSmsc, connect: Connect, answered: bool, responses: list[int]
) -> None:
    smsc.drop_after(2, answered=answered)
    esme = await bound(connect)
    for _ in range(3):
        esme.submit()
    got = [(await esme.expect("submit_sm_resp")).sequence for _ in responses]
    await esme.at_end()
    assert (got, len(smsc.submits)) == (responses, 2)


async def test_a_delayed_response_comes_after_later_requests(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    smsc.behaviour = Behaviour(delay_s=0.05)
    esme = await bound(connect)
    esme.submit()
    esme.send("enquire_link")
    assert [pdu.command for pdu in await esme.read_until("submit_sm_resp")] == [
        "enquire_link_resp",
        "submit_sm_resp",
    ]


# -- receipts --------------------------------------------------------------------------------


async def test_a_receipt_follows_its_response_in_the_de_facto_format(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    esme = await bound(connect)
    esme.submit("6591000001", b"Your code is 1234", registered_delivery=1)
    resp = await esme.expect("submit_sm_resp")
    receipt = await esme.expect("deliver_sm")
    message_id = str(FIRST_ID)
    assert resp.message_id == message_id.encode()
    assert (
        receipt.short_message
        == (
            f"id:{message_id} sub:001 dlvrd:001 submit date:2612050930 done date:2612050930"
            " stat:DELIVRD err:000 text:Your code is 1234"
        ).encode()
    )
    assert (receipt.esm_class, receipt.receipted_message_id, receipt.message_state) == (
        0x04,
        message_id.encode(),
        2,
    )
    assert (receipt.source_addr, receipt.destination_addr) == (b"6591000001", b"Acme")
    assert receipt.network_error_code is None
    esme.answer(receipt)
    [ack] = await smsc.wait_acks(1)
    assert ack == Ack(smsc.deliveries[0], "deliver_sm_resp", ESME_ROK)
    assert smsc.acked == smsc.deliveries


async def test_a_failure_receipt_carries_its_stat_err_and_network_error_code(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    smsc.behaviour = Behaviour(receipt=Receipt("UNDELIV", "012", b"\x03\x00\x0c"))
    esme = await bound(connect)
    esme.submit(registered_delivery=1)
    await esme.expect("submit_sm_resp")
    frame = await esme.read_frame()
    assert frame is not None
    assert re.search(rb"dlvrd:000 .* stat:UNDELIV err:012 text:hello\x04", frame)  # then TLVs
    assert tlvs(frame) == {
        0x001E: str(FIRST_ID).encode() + b"\0",  # receipted_message_id
        0x0427: bytes([5]),  # message_state UNDELIVERABLE
        0x0423: b"\x03\x00\x0c",  # network_error_code: GSM, 12
    }


async def test_a_receipt_can_race_ahead_of_its_response(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    smsc.behaviour = Behaviour(hold=True, receipt=Receipt(before_response=True))
    esme = await bound(connect)
    esme.submit(registered_delivery=1)
    receipt = await esme.expect("deliver_sm")
    assert receipt.receipted_message_id == str(FIRST_ID).encode()
    assert smsc.answered == []
    smsc.release()
    assert (await esme.expect("submit_sm_resp")).message_id == str(FIRST_ID).encode()


async def test_receipts_come_only_when_asked_for(smsc: ForeignSmsc, connect: Connect) -> None:
    smsc.by_destination["6591000002"] = Behaviour(receipt=Receipt("UNDELIV", "001"))
    esme = await bound(connect)
    esme.submit("6591000001", registered_delivery=0)
    esme.submit("6591000001", registered_delivery=2)  # failures only; this one is delivered
    esme.submit("6591000002", registered_delivery=2)
    esme.submit("6591000001", registered_delivery=1)
    smsc.by_destination["6591000003"] = Behaviour(receipt=None)
    esme.submit("6591000003", registered_delivery=1)
    esme.send("enquire_link")
    pdus = await esme.read_until("enquire_link_resp")
    assert [pdu.command[:10] for pdu in pdus] == [
        *["submit_sm_"] * 3,
        "deliver_sm",
        "submit_sm_",
        "deliver_sm",
        "submit_sm_",
        "enquire_li",
    ]
    assert [delivery.submit.sequence for delivery in smsc.deliveries if delivery.submit] == [4, 5]


async def test_receipt_tlvs_can_be_left_out(smsc: ForeignSmsc, connect: Connect) -> None:
    smsc.behaviour = Behaviour(receipt=Receipt(tlvs=False))
    esme = await bound(connect)
    esme.submit(registered_delivery=1)
    await esme.expect("submit_sm_resp")
    frame = await esme.read_frame()
    assert frame is not None
    assert tlvs(frame) == {}
    assert frame.find(f"id:{FIRST_ID} ".encode()) > 0


async def test_receipts_can_write_the_id_unlike_the_response(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    smsc.id_format = "hex"
    smsc.receipt_id = lambda number: f"{number:012d}"
    esme = await bound(connect)
    esme.submit(registered_delivery=1)
    assert (await esme.expect("submit_sm_resp")).message_id == b"c0ffee00"
    receipt = await esme.expect("deliver_sm")
    assert receipt.receipted_message_id == b"003237998080"
    assert receipt.short_message.startswith(b"id:003237998080 sub:001")


async def test_a_transmitters_receipts_go_to_its_system_ids_receiver_or_wait_for_one(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    transmitter = await bound(connect, "transmitter")
    await bound(connect, "receiver", OTHER_ID)
    transmitter.submit(registered_delivery=1)
    await transmitter.expect("submit_sm_resp")
    assert smsc.deliveries == []  # nobody of acme can receive: it waits
    receiver = await bound(connect, "receiver")
    waited = await receiver.expect("deliver_sm")
    transmitter.submit(registered_delivery=1)
    direct = await receiver.expect("deliver_sm")
    assert [waited.receipted_message_id, direct.receipted_message_id] == [
        str(FIRST_ID).encode(),
        str(FIRST_ID + 1).encode(),
    ]
    assert {delivery.connection for delivery in smsc.deliveries} == {3}


async def test_a_receipt_can_be_sent_by_hand(smsc: ForeignSmsc, connect: Connect) -> None:
    smsc.behaviour = Behaviour(receipt=None)
    esme = await bound(connect)
    esme.submit(registered_delivery=1)
    await esme.expect("submit_sm_resp")
    [submit] = smsc.submits
    delivery = smsc.send_receipt(submit, Receipt("EXPIRED", "000"))
    receipt = await esme.expect("deliver_sm")
    assert (receipt.message_state, receipt.sequence) == (3, delivery.sequence if delivery else 0)


# -- MO messages -----------------------------------------------------------------------------


async def test_mo_messages_in_gsm_and_ucs2_are_acknowledged(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    esme = await bound(connect, "receiver")
    smsc.send_mo("6591234567", "12345", "Hi @ €5")
    smsc.send_mo("6591234567", "12345", "你好")
    gsm, ucs2 = await esme.expect("deliver_sm"), await esme.expect("deliver_sm")
    assert (gsm.esm_class, gsm.data_coding, gsm.short_message) == (
        0,
        0,
        smpplib.gsm.gsm_encode("Hi @ €5"),
    )
    assert (ucs2.data_coding, ucs2.short_message) == (8, "你好".encode("utf-16-be"))
    assert (gsm.source_addr, gsm.destination_addr) == (b"6591234567", b"12345")
    esme.answer(gsm)
    esme.answer(ucs2, status=ESME_RMSGQFUL)
    acks = await smsc.wait_acks(2)
    assert [(ack.delivery.kind, ack.status) for ack in acks] == [
        ("mo", ESME_ROK),
        ("mo", ESME_RMSGQFUL),
    ]
    assert smsc.acked == [smsc.deliveries[0]]


async def test_a_long_mo_comes_in_udh_parts_that_never_split_a_character(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    esme = await bound(connect)
    text = "я" * 66 + "😀" + "я" * 80
    deliveries = smsc.send_mo("6591234567", "12345", text)
    parts = [await esme.expect("deliver_sm") for _ in deliveries]
    headers = [part.short_message[:6] for part in parts]
    reference = headers[0][3]
    assert headers == [bytes((5, 0, 3, reference, 3, index)) for index in (1, 2, 3)]
    assert {(part.esm_class, part.data_coding) for part in parts} == {(0x40, 8)}
    pieces = [part.short_message[6:].decode("utf-16-be") for part in parts]  # strict
    assert (pieces[0], "".join(pieces)) == ("я" * 66, text)


async def test_a_long_gsm_mo_can_come_with_sar_tlvs(smsc: ForeignSmsc, connect: Connect) -> None:
    esme = await bound(connect)
    text = "x" * 152 + "€" + "y" * 20
    smsc.send_mo("6591234567", "12345", text, long="sar")
    parts = [await esme.expect("deliver_sm"), await esme.expect("deliver_sm")]
    assert [
        (part.esm_class, part.sar_total_segments, part.sar_segment_seqnum) for part in parts
    ] == [(0, 2, 1), (0, 2, 2)]
    assert parts[0].sar_msg_ref_num == parts[1].sar_msg_ref_num
    assert parts[0].short_message == b"x" * 152  # the escape stays with its character
    assert b"".join(part.short_message for part in parts) == smpplib.gsm.gsm_encode(text)


async def test_an_mo_needs_a_receiver(smsc: ForeignSmsc, connect: Connect) -> None:
    await bound(connect, "transmitter")
    with pytest.raises(LookupError):
        smsc.send_mo("6591234567", "12345", "hi")


# -- smpplib's own client, and the peer's independence ---------------------------------------


def _smpplib_session(port: int) -> tuple[Any, Any]:
    """Bind, submit asking for a receipt, take the response and the receipt, unbind."""
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    seen: dict[str, Any] = {}

    def keep(name: str) -> Callable[..., None]:
        # A received-message handler's return value is the deliver_sm_resp status: None is OK.
        return lambda pdu: seen.__setitem__(name, pdu)

    client.set_message_sent_handler(keep("sent"))
    client.set_message_received_handler(keep("received"))
    client.connect()
    try:
        client.bind_transceiver(system_id=SYSTEM_ID, password=PASSWORD)
        client.send_message(
            source_addr="Acme",
            destination_addr="6591000009",
            short_message=b"hi",
            registered_delivery=1,
        )
        client.read_once()
        client.read_once()  # answers the deliver_sm itself
        client.unbind()
    finally:
        client.disconnect()
    return seen["sent"], seen["received"]


async def test_smpplibs_client_binds_submits_and_acknowledges_its_receipt(
    smsc: ForeignSmsc,
) -> None:
    sent, received = await asyncio.to_thread(_smpplib_session, smsc.port)
    assert sent.message_id == str(FIRST_ID).encode()
    assert received.receipted_message_id == str(FIRST_ID).encode()
    [ack] = await smsc.wait_acks(1)
    assert (ack.status, smsc.submits[0].destination_addr) == (ESME_ROK, "6591000009")
    await smsc.wait_closed(1)


async def test_a_wait_that_times_out_says_what_the_peer_saw(smsc: ForeignSmsc) -> None:
    with pytest.raises(AssertionError, match=r"1 submit_sm; connections=0 .* submits=0"):
        await smsc.wait_submits(1, timeout=0.01)


async def test_a_failure_of_the_peer_itself_is_raised_by_stop() -> None:
    peer = ForeignSmsc({SYSTEM_ID: PASSWORD})
    peer.bind_status = -1  # smpplib cannot pack it: the peer fails answering the bind
    esme = await Esme.connect(await peer.start())
    esme.send("bind_transceiver", system_id=SYSTEM_ID, password=PASSWORD)
    await esme.at_end()
    await esme.close()
    with pytest.raises(RuntimeError, match="the foreign SMSC failed") as failed:
        await peer.stop()
    assert isinstance(failed.value.__cause__, struct.error)


def test_the_peer_imports_nothing_of_smsgate() -> None:
    imported = set()
    for path in Path(__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {(path.name, alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add((path.name, node.module or "."))
    assert {(name, module) for name, module in imported if module.startswith("smsgate")} == set()
    assert ("wire.py", "smpplib.smpp") in imported
