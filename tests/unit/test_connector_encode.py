"""A message as the submit_sm PDUs of an upstream connector: fields, codings, long messages."""

from __future__ import annotations

from typing import Any

import pytest

from smsgate.adapters.carriers.smpp.encode import (
    BINARY_CODING,
    UCS2_CODING,
    UDHI,
    encode_message,
    relative_validity,
)
from smsgate.domain.connectors import ConnectorSpec
from smsgate.domain.text import decode_gsm7_unpacked
from smsgate.smpp.constants import TlvTag
from tests.builders import message

NOW = 1_700_000_000.0
LONG_GSM = "".join(f"{n:04d} " for n in range(80))  # 400 GSM characters: 3 parts of 153


def spec(**changes: Any) -> ConnectorSpec:
    fields: dict[str, Any] = {
        "name": "acme",
        "host": "127.0.0.1",
        "port": 2775,
        "system_id": "smsgate",
        "password_sealed": "sealed",
    }
    return ConnectorSpec(**(fields | changes))


def test_a_short_text_is_one_submit_sm_with_a_receipt_asked_for() -> None:
    out = encode_message(message(1, to="6591234567"), spec(), reference=7, now=NOW)
    [pdu] = out.pdus()
    assert (pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi) == ("6591234567", 1, 1)
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == ("smsgate", 5, 0)
    assert pdu.registered_delivery == 1
    assert pdu.esm_class == 0
    assert pdu.data_coding == 0
    assert decode_gsm7_unpacked(pdu.short_message) == "Your code is 123456"
    assert pdu.validity_period == ""
    assert pdu.tlvs == ()


@pytest.mark.parametrize(
    ("sender", "expected"),
    [("+6598765432", ("6598765432", 1, 1)), ("6598765432", ("6598765432", 1, 1)),
     ("Acme", ("Acme", 5, 0)), (None, ("", 0, 0))],
)  # fmt: skip
def test_source_ton_npi_follow_the_sender(sender: str | None, expected: tuple[Any, ...]) -> None:
    [pdu] = encode_message(message(1, sender=sender), spec(), reference=0, now=NOW).pdus()
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == expected


def test_the_connector_s_source_ton_npi_win() -> None:
    out = encode_message(message(1), spec(source_ton=3, source_npi=9), reference=0, now=NOW)
    [pdu] = out.pdus()
    assert (pdu.source_addr_ton, pdu.source_addr_npi) == (3, 9)


def test_validity_is_the_time_left_as_a_relative_time() -> None:
    msg = message(1, created_at=NOW - 100, validity_period=3600 + 100 + 61)
    [pdu] = encode_message(msg, spec(), reference=0, now=NOW).pdus()
    assert pdu.validity_period == "000000010101000R"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "000000000001000R"), (59.9, "000000000059000R"), (86_400 * 45 + 3, "000115000003000R"),
     (86_400 * 400, "010105000000000R")],
)  # fmt: skip
def test_relative_validity(seconds: float, text: str) -> None:
    assert relative_validity(seconds) == text


@pytest.mark.parametrize("coding", [1, 3])
def test_gsm_text_goes_in_the_connector_s_text_coding(coding: int) -> None:
    [pdu] = encode_message(message(1), spec(text_coding=coding), reference=0, now=NOW).pdus()
    assert (pdu.data_coding, pdu.short_message) == (coding, b"Your code is 123456")


def test_a_gsm_character_latin1_lacks_sends_the_text_as_ucs2() -> None:
    msg = message(1, body="Δ" * 100)
    pdus = encode_message(msg, spec(text_coding=3), reference=5, now=NOW).pdus()
    assert [p.data_coding for p in pdus] == [UCS2_CODING, UCS2_CODING]
    assert [len(p.short_message) for p in pdus] == [6 + 134, 6 + 66]


def test_ucs2_text_is_coding_8() -> None:
    msg = message(1, body="你好，世界", encoding="UCS2")
    [pdu] = encode_message(msg, spec(), reference=0, now=NOW).pdus()
    assert (pdu.data_coding, pdu.short_message) == (UCS2_CODING, "你好，世界".encode("utf-16-be"))


def test_binary_data_is_8_bit_in_134_octet_parts() -> None:
    data = bytes(range(200))
    msg = message(1, body=data.hex(), encoding="BINARY", segments=2)
    pdus = encode_message(msg, spec(), reference=0x1FF, now=NOW).pdus()
    assert [p.data_coding for p in pdus] == [BINARY_CODING, BINARY_CODING]
    assert b"".join(p.short_message[6:] for p in pdus) == data
    assert pdus[0].short_message[:6] == bytes((5, 0, 3, 0xFF, 2, 1))


def test_udh_parts_carry_the_reference_count_and_number() -> None:
    out = encode_message(message(1, body=LONG_GSM), spec(), reference=0x1234, now=NOW)
    pdus = out.pdus()
    assert len(pdus) == 3
    assert all(p.esm_class == UDHI for p in pdus)
    assert [p.short_message[:6] for p in pdus] == [bytes((5, 0, 3, 0x34, 3, n)) for n in (1, 2, 3)]
    text = "".join(decode_gsm7_unpacked(p.short_message[6:]) for p in pdus)
    assert text == LONG_GSM


def test_sar_parts_carry_the_tlvs_and_no_header() -> None:
    pdus = encode_message(
        message(1, body=LONG_GSM), spec(long_method="sar"), reference=0x1234, now=NOW
    ).pdus()
    assert [p.esm_class for p in pdus] == [0, 0, 0]
    assert [
        (
            p.tlv_int(TlvTag.SAR_MSG_REF_NUM),
            p.tlv_int(TlvTag.SAR_TOTAL_SEGMENTS),
            p.tlv_int(TlvTag.SAR_SEGMENT_SEQNUM),
        )
        for p in pdus
    ] == [(0x1234, 3, 1), (0x1234, 3, 2), (0x1234, 3, 3)]
    assert "".join(decode_gsm7_unpacked(p.short_message) for p in pdus) == LONG_GSM


def test_payload_sends_the_whole_text_in_one_message_payload() -> None:
    out = encode_message(
        message(1, body=LONG_GSM), spec(long_method="payload"), reference=0, now=NOW
    )
    [pdu] = out.pdus()
    assert pdu.short_message == b""
    payload = pdu.tlv_bytes(TlvTag.MESSAGE_PAYLOAD)
    assert payload is not None
    assert decode_gsm7_unpacked(payload) == LONG_GSM


def test_a_short_text_ignores_the_long_method() -> None:
    for method in ("udh", "sar", "payload"):
        [pdu] = encode_message(message(1), spec(long_method=method), reference=0, now=NOW).pdus()
        assert (pdu.esm_class, pdu.tlvs) == (0, ())


def test_the_pdu_is_built_with_its_sequence_number() -> None:
    out = encode_message(message(1, body=LONG_GSM), spec(), reference=0, now=NOW)
    assert out.pdu(2, 77).sequence_number == 77
    assert out.pdu(2, 77).short_message == out.pdus()[2].short_message


def test_more_than_255_parts_cannot_be_sent() -> None:
    with pytest.raises(ValueError, match="255"):
        encode_message(message(1, body="a" * 153 * 256), spec(), reference=0, now=NOW)
