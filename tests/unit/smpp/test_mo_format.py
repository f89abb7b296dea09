"""MO messages as deliver_sm to an account's binds (``doors/smpp/mo.py``): esm_class 0, the
handset's number as source, GSM-7 when the text allows and UCS-2 otherwise, concatenated parts
with an 8-bit reference taken from the sequence id, message_payload beyond 255 parts. Each PDU is
put through smsgate's codec both ways, so every field fits the wire."""

from __future__ import annotations

import pytest

from smsgate.domain.inbound import InboundMessage
from smsgate.domain.text import decode_parts
from smsgate.doors.smpp.mo import ESM_CLASS_MO, deliver_sm_of, mo_parts
from smsgate.smpp.codec import NEED_DATA, PduReader, encode
from smsgate.smpp.constants import TlvTag
from smsgate.smpp.pdu import DeliverSm

T0 = 1_700_000_000.0
UDHI = 0x40


def _message(text: str, sequence_id: int = 7, source: str = "6598765432") -> InboundMessage:
    return InboundMessage(sequence_id, "acc", source, "6591230077", "77", text, T0, "up")


def _wire(message: InboundMessage) -> list[DeliverSm]:
    """The message's deliver_sm PDUs, encoded and decoded again."""
    reader = PduReader(max_pdu_size=70_000)  # message_payload may hold 65,535 octets
    for seq, part in enumerate(mo_parts(message), start=1):
        reader.feed(encode(deliver_sm_of(message, part, seq)))
    pdus = []
    while (pdu := reader.next_pdu()) is not NEED_DATA:
        assert isinstance(pdu, DeliverSm)
        pdus.append(pdu)
    return pdus


def test_a_short_gsm_text_is_one_deliver_sm_from_the_handset_to_the_number() -> None:
    [pdu] = _wire(_message("Yes, confirm @ 10:00 £5"))

    assert pdu.esm_class == ESM_CLASS_MO == 0
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == ("6598765432", 1, 1)
    assert (pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi) == ("6591230077", 1, 1)
    assert pdu.data_coding == 0
    assert pdu.registered_delivery == 0
    assert decode_parts([pdu.short_message], 0) == "Yes, confirm @ 10:00 £5"


def test_a_text_outside_gsm_7_is_ucs2() -> None:
    [pdu] = _wire(_message("好的，明天见 👍"))

    assert pdu.data_coding == 8
    assert pdu.short_message.decode("utf-16-be") == "好的，明天见 👍"


@pytest.mark.parametrize(
    ("text", "coding", "count"),
    [("Reply STOP to opt out. " * 20, 0, 4), ("回复退订以停止接收。" * 20, 8, 3)],
)
def test_a_long_text_is_concatenated_parts_referenced_by_its_sequence_id(
    text: str, coding: int, count: int
) -> None:
    pdus = _wire(_message(text, sequence_id=256 + 42))

    assert len(pdus) == count
    for number, pdu in enumerate(pdus, start=1):
        assert pdu.esm_class == UDHI
        assert pdu.data_coding == coding
        assert pdu.short_message[:6] == bytes((5, 0, 3, 42, count, number))
    assert decode_parts([p.short_message for p in pdus], coding) == text


def test_the_same_message_sent_again_has_the_same_reference() -> None:
    message = _message("x" * 200, sequence_id=9)
    assert mo_parts(message) == mo_parts(message)


def test_a_text_beyond_255_parts_goes_whole_in_message_payload() -> None:
    text = "a" * (153 * 255 + 1)
    [pdu] = _wire(_message(text))

    assert (pdu.esm_class, pdu.data_coding, pdu.short_message) == (0, 0, b"")
    assert pdu.tlv_bytes(TlvTag.MESSAGE_PAYLOAD) == text.encode("ascii")


def test_a_ucs2_payload_is_cut_at_the_tlvs_limit_on_a_character_boundary() -> None:
    text = "文" * 40_000
    [pdu] = _wire(_message(text))

    payload = pdu.tlv_bytes(TlvTag.MESSAGE_PAYLOAD)
    assert payload is not None
    assert len(payload) == 65_534
    assert payload.decode("utf-16-be") == "文" * 32_767


def test_a_sender_that_is_a_name_is_alphanumeric() -> None:
    [pdu] = _wire(_message("hi", source="MyBank"))

    assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == ("MyBank", 5, 0)
