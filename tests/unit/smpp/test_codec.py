"""SMPP 3.4 codec: round trips, golden bytes (§3.2, chapter 4 layouts), streaming, fuzzing."""

from __future__ import annotations

import ast
import dataclasses
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import smsgate.smpp
from smsgate.smpp import codec
from smsgate.smpp.codec import NEED_DATA, NeedData, PduReader, decode, encode, error_response
from smsgate.smpp.constants import CommandId, CommandStatus, MessageState, TlvTag
from smsgate.smpp.errors import (
    InvalidCommandLengthError,
    InvalidDestFlagError,
    InvalidParameterLengthError,
    InvalidTlvStreamError,
    InvalidTlvValueError,
    SmppDecodeError,
    SmppEncodeError,
    TruncatedBodyError,
    UnknownCommandIdError,
)
from smsgate.smpp.pdu import (
    PDU_CLASSES,
    AlertNotification,
    BindTransmitter,
    BindTransmitterResp,
    DataSm,
    DeliverSm,
    DistributionList,
    EnquireLink,
    GenericNack,
    Pdu,
    QuerySmResp,
    SmeAddress,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    Tlv,
    UnsuccessSme,
    make_tlv,
)

# --- Strategies: field maxima restated from the spec's chapter 4 tables (incl. NUL) -----------

STR_MAX = {
    "system_id": 16,
    "password": 9,
    "system_type": 13,
    "address_range": 41,
    "service_type": 6,
    "source_addr": 21,
    "destination_addr": 21,
    "schedule_delivery_time": 17,
    "validity_period": 17,
    "message_id": 65,
    "final_date": 17,
    "esme_addr": 65,
}
# data_sm (§4.7.1) and alert_notification (§4.12.1) take 65-octet addresses.
STR_MAX_OVERRIDES = {
    DataSm: {"source_addr": 65, "destination_addr": 65},
    AlertNotification: {"source_addr": 65},
}


def cstrings(maximum: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=maximum - 1)


octet = st.integers(0, 255)
u32 = st.integers(0, 2**32 - 1)
tlvs = st.lists(st.builds(Tlv, st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=5).map(
    tuple
)
dest_addresses = st.lists(
    st.one_of(
        st.builds(SmeAddress, cstrings(21), octet, octet),
        st.builds(DistributionList, cstrings(21)),
    ),
    max_size=6,
).map(tuple)
unsuccess_smes = st.lists(st.builds(UnsuccessSme, cstrings(21), octet, octet, u32), max_size=6).map(
    tuple
)


def pdus_of(cls: type[Pdu]) -> st.SearchStrategy[Pdu]:
    maxima = {**STR_MAX, **STR_MAX_OVERRIDES.get(cls, {})}
    kwargs: dict[str, st.SearchStrategy[Any]] = {
        "sequence_number": u32,
        "command_status": st.one_of(st.just(0), u32),
        "tlvs": tlvs,
    }
    for field in dataclasses.fields(cls):
        name = field.name
        if name in kwargs:
            continue
        if name == "short_message":
            kwargs[name] = st.binary(max_size=254)
        elif name == "dest_addresses":
            kwargs[name] = dest_addresses
        elif name == "unsuccess_smes":
            kwargs[name] = unsuccess_smes
        elif isinstance(field.default, str):
            kwargs[name] = cstrings(maxima[name])
        else:
            kwargs[name] = octet
    return st.builds(cls, **kwargs)


any_pdu = st.one_of([pdus_of(cls) for cls in PDU_CLASSES.values()])


def read_all(reader: PduReader) -> list[Pdu]:
    out: list[Pdu] = []
    while (pdu := reader.next_pdu()) is not NEED_DATA:
        assert isinstance(pdu, Pdu)
        out.append(pdu)
    return out


# --- Every command of §5.1.2.1 ----------------------------------------------------------------


def test_every_command_id_has_a_pdu_class() -> None:
    assert set(PDU_CLASSES) == set(CommandId)
    for command_id, cls in PDU_CLASSES.items():
        assert cls.command_id == command_id


@pytest.mark.parametrize("cls", list(PDU_CLASSES.values()), ids=lambda c: c.__name__)
@settings(max_examples=60)
@given(data=st.data())
def test_round_trip_every_pdu(cls: type[Pdu], data: st.DataObject) -> None:
    pdu = data.draw(pdus_of(cls))
    wire = encode(pdu)
    assert struct.unpack_from(">II", wire) == (len(wire), cls.command_id)
    assert decode(wire) == pdu
    reader = PduReader()
    reader.feed(wire)
    assert read_all(reader) == [pdu]
    assert reader.buffered == 0


@given(pdu=pdus_of(SubmitSm), extra=tlvs)
def test_unknown_tlvs_are_kept_in_order(pdu: Pdu, extra: tuple[Tlv, ...]) -> None:
    pdu = dataclasses.replace(pdu, tlvs=(*extra, Tlv(0x1400, b"vendor"), *extra))
    assert decode(encode(pdu)).tlvs == pdu.tlvs


# --- Golden bytes, written from the spec's layouts --------------------------------------------


def test_golden_enquire_link() -> None:
    # §4.11.1: header only. command_length 16, command_id 0x15, status 0, sequence 1.
    wire = bytes.fromhex("00000010 00000015 00000000 00000001")
    assert encode(EnquireLink(sequence_number=1)) == wire
    assert decode(wire) == EnquireLink(sequence_number=1)


def test_golden_bind_transmitter() -> None:
    # §4.1.1: system_id, password, system_type (C-Octet), interface_version, addr_ton, addr_npi,
    # address_range (C-Octet).
    body = b"smppclient1\0" + b"password\0" + b"\0" + bytes([0x34, 0x01, 0x01]) + b"\0"
    wire = struct.pack(">IIII", 16 + len(body), 0x00000002, 0, 42) + body
    pdu = BindTransmitter(
        sequence_number=42,
        system_id="smppclient1",
        password="password",
        interface_version=0x34,
        addr_ton=1,
        addr_npi=1,
    )
    assert len(wire) == 42
    assert encode(pdu) == wire
    assert decode(wire) == pdu


def test_golden_submit_sm_with_message_payload() -> None:
    # §4.4.1 with sm_length 0 and the text in message_payload (tag 0x0424, §5.3.2.32).
    text = b"Hello from smsgate"
    body = (
        b"\0"  # service_type
        + bytes([5, 0])  # source_addr_ton (alphanumeric), source_addr_npi
        + b"ACME\0"
        + bytes([1, 1])  # dest_addr_ton (international), dest_addr_npi (E.164)
        + b"447700900123\0"
        + bytes([0, 0, 0])  # esm_class, protocol_id, priority_flag
        + b"\0"  # schedule_delivery_time
        + b"\0"  # validity_period
        + bytes([1, 0, 0, 0])  # registered_delivery, replace_if_present, data_coding, default
        + bytes([0])  # sm_length
        + struct.pack(">HH", 0x0424, len(text))
        + text
    )
    wire = struct.pack(">IIII", 16 + len(body), 0x00000004, 0, 7) + body
    pdu = SubmitSm(
        sequence_number=7,
        source_addr_ton=5,
        source_addr="ACME",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="447700900123",
        registered_delivery=1,
        tlvs=(Tlv(TlvTag.MESSAGE_PAYLOAD, text),),
    )
    assert encode(pdu) == wire
    assert decode(wire) == pdu
    assert decode(wire).tlv_bytes(TlvTag.MESSAGE_PAYLOAD) == text


def test_golden_submit_multi_and_resp() -> None:
    # §4.5.1: number_of_dests then per dest: dest_flag 1 + ton + npi + addr, or dest_flag 2 + name.
    pdu = SubmitMulti(
        sequence_number=3,
        source_addr="A",
        dest_addresses=(SmeAddress("123", 1, 1), DistributionList("friends")),
        short_message=b"hi",
    )
    body = (
        b"\0" + b"\0\0" + b"A\0" + b"\x02" + b"\x01\x01\x01123\0" + b"\x02friends\0"
        + b"\0\0\0" + b"\0\0" + b"\0\0\0\0" + b"\x02hi"
    )  # fmt: skip
    assert encode(pdu) == struct.pack(">IIII", 16 + len(body), 0x21, 0, 3) + body
    resp = SubmitMultiResp(
        sequence_number=3, message_id="m1", unsuccess_smes=(UnsuccessSme("123", 1, 1, 0x0B),)
    )
    body = b"m1\0" + b"\x01" + b"\x01\x01123\0" + b"\x00\x00\x00\x0b"
    assert encode(resp) == struct.pack(">IIII", 16 + len(body), 0x80000021, 0, 3) + body


def test_error_response_without_body() -> None:
    # §4.4.2: the submit_sm_resp body is not returned when command_status is not 0.
    wire = struct.pack(">IIII", 16, 0x80000004, CommandStatus.ESME_RTHROTTLED, 9)
    resp = SubmitSmResp(sequence_number=9, command_status=CommandStatus.ESME_RTHROTTLED)
    assert encode(resp) == wire
    assert decode(wire) == resp
    ok = SubmitSmResp(sequence_number=9, message_id="")
    assert encode(ok) == struct.pack(">IIII", 17, 0x80000004, 0, 9) + b"\0"


# --- Streaming --------------------------------------------------------------------------------


@given(pdus=st.lists(any_pdu, max_size=5))
def test_byte_by_byte_equals_whole(pdus: list[Pdu]) -> None:
    wire = b"".join(encode(p) for p in pdus)
    whole = PduReader()
    whole.feed(wire)
    assert read_all(whole) == pdus
    trickle = PduReader()
    got: list[Pdu] = []
    for i in range(len(wire)):
        trickle.feed(wire[i : i + 1])
        got.extend(read_all(trickle))
    assert got == pdus
    assert trickle.buffered == 0


def test_bind_and_submit_in_one_chunk() -> None:
    bind = BindTransmitter(sequence_number=1, system_id="esme", password="secret")
    submit = SubmitSm(sequence_number=2, destination_addr="8613800138000", short_message=b"hi")
    reader = PduReader()
    reader.feed(encode(bind) + encode(submit) + encode(EnquireLink(sequence_number=3))[:10])
    assert list(reader) == [bind, submit]
    assert reader.next_pdu() is NEED_DATA
    assert reader.buffered == 10


@settings(max_examples=500)
@given(chunks=st.lists(st.binary(max_size=80), max_size=8), max_size=st.integers(16, 300))
def test_arbitrary_bytes_only_decode_or_raise_decode_errors(
    chunks: list[bytes], max_size: int
) -> None:
    reader = PduReader(max_pdu_size=max_size)
    for chunk in chunks:
        reader.feed(chunk)
        for _ in range(len(chunk) + 1):  # each PDU takes ≥16 bytes: a bound, so never a hang
            result = next_or_error(reader)
            if isinstance(result, SmppDecodeError):
                assert isinstance(error_response(result), Pdu)
                if result.close_connection:
                    with pytest.raises(type(result)):
                        reader.next_pdu()
                    return
                continue
            if isinstance(result, NeedData):
                break
            assert decode(encode(result)) == result


def next_or_error(reader: PduReader) -> Pdu | NeedData | SmppDecodeError:
    try:
        return reader.next_pdu()
    except SmppDecodeError as exc:
        return exc


def decode_or_error(wire: bytes) -> Pdu | SmppDecodeError:
    try:
        return decode(wire)
    except SmppDecodeError as exc:
        return exc


@given(body=st.binary(max_size=120), command_id=st.sampled_from(list(CommandId)))
def test_arbitrary_bodies_of_known_commands(body: bytes, command_id: int) -> None:
    wire = struct.pack(">IIII", 16 + len(body), command_id, 0, 5) + body
    result = decode_or_error(wire)
    if isinstance(result, SmppDecodeError):
        assert result.sequence_number == 5
        assert not result.close_connection
    else:
        assert decode(encode(result)) == result


def _outcome(decoder: Any, wire: bytes) -> object:
    _, command_id, status, seq = struct.unpack_from(">IIII", wire)
    try:
        return decoder(wire, 0, len(wire), command_id, status, seq)
    except SmppDecodeError as exc:
        return (type(exc), exc.command_status, exc.sequence_number)


@settings(max_examples=400)
@given(
    pdu=any_pdu,
    cut=st.integers(0, 40),
    at=st.integers(0, 300),
    run=st.integers(0, 80),
    to=octet,
)
def test_the_straight_path_decodes_as_the_field_by_field_one(
    pdu: Pdu, cut: int, at: int, run: int, to: int
) -> None:
    """Whole, cut short, or with a run of octets overwritten (a NUL lost, a length changed),
    every PDU decodes to the same PDU (or the same error) by the codec's straight path as by
    its checked, field-by-field one."""
    whole = encode(pdu)
    body = bytearray(whole[16 : max(16, len(whole) - cut)])
    if body:
        start = at % len(body)
        body[start : start + run] = bytes([to]) * len(body[start : start + run])
    wire = struct.pack(">IIII", 16 + len(body), pdu.command_id, pdu.command_status, 9) + body
    assert _outcome(codec._decode_pdu, wire) == _outcome(codec._decode_checked, wire)


# --- What each malformed input asks the session to answer ------------------------------------


def header(length: int, command_id: int, seq: int = 77, status: int = 0) -> bytes:
    return struct.pack(">IIII", length, command_id, status, seq)


@pytest.mark.parametrize("length", [0, 15, 65 * 1024])
def test_bad_command_length_closes(length: int) -> None:
    reader = PduReader()
    reader.feed(header(length, CommandId.SUBMIT_SM))
    with pytest.raises(InvalidCommandLengthError) as info:
        reader.next_pdu()
    err = info.value
    assert err.close_connection
    assert err.command_status == CommandStatus.ESME_RINVCMDLEN
    assert err.response_command_id == CommandId.GENERIC_NACK
    with pytest.raises(InvalidCommandLengthError):
        reader.next_pdu()  # the framing is lost for good


def test_oversized_length_known_from_four_bytes() -> None:
    reader = PduReader(max_pdu_size=1024)
    reader.feed(struct.pack(">I", 1025))
    with pytest.raises(InvalidCommandLengthError) as info:
        reader.next_pdu()
    assert info.value.sequence_number == 0


def test_max_pdu_size_must_hold_a_header() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        PduReader(max_pdu_size=15)


def test_decode_checks_length() -> None:
    with pytest.raises(InvalidCommandLengthError):
        decode(b"\0" * 8)
    with pytest.raises(InvalidCommandLengthError):
        decode(header(20, CommandId.ENQUIRE_LINK))


def test_unknown_command_id_is_generic_nack_and_reader_goes_on() -> None:
    reader = PduReader()
    reader.feed(header(20, 0x00000099, seq=5) + b"abcd" + encode(EnquireLink(sequence_number=6)))
    with pytest.raises(UnknownCommandIdError) as info:
        reader.next_pdu()
    answer = error_response(info.value)
    assert answer == GenericNack(sequence_number=5, command_status=CommandStatus.ESME_RINVCMDID)
    assert encode(answer) == header(16, 0x80000000, seq=5, status=3)
    assert read_all(reader) == [EnquireLink(sequence_number=6)]


def test_missing_nul_is_invalid_message_length_with_the_response_id() -> None:
    body = b"\0\0\0" + b"12345"  # source_addr never terminated
    reader = PduReader()
    reader.feed(header(16 + len(body), CommandId.SUBMIT_SM) + body)
    with pytest.raises(TruncatedBodyError) as info:
        reader.next_pdu()
    assert info.value.command_status == CommandStatus.ESME_RINVMSGLEN
    assert error_response(info.value) == SubmitSmResp(
        sequence_number=77, command_status=CommandStatus.ESME_RINVMSGLEN
    )
    assert not info.value.close_connection


def test_overlong_cstring_is_invalid_parameter_length() -> None:
    body = b"x" * 16 + b"\0" + b"pw\0\0\x34\0\0\0"  # system_id of 17 with its NUL (max 16)
    with pytest.raises(InvalidParameterLengthError) as info:
        decode(header(16 + len(body), CommandId.BIND_TRANSCEIVER) + body)
    assert info.value.command_status == CommandStatus.ESME_RINVPARLEN
    assert info.value.response_command_id == CommandId.BIND_TRANSCEIVER_RESP


def test_short_message_past_the_end() -> None:
    good = encode(SubmitSm(sequence_number=1, short_message=b"abc"))
    cut = good[:-1]
    with pytest.raises(TruncatedBodyError):
        decode(struct.pack(">I", len(cut)) + cut[4:])
    body = bytearray(good[16:])
    body[-4] = 255  # sm_length 255 is over the spec's 254
    body += b"\0" * 252
    with pytest.raises(TruncatedBodyError, match="254"):
        decode(header(16 + len(body), CommandId.SUBMIT_SM) + bytes(body))


@pytest.mark.parametrize("tail", [b"\x04", b"\x04\x24\x00", b"\x04\x24\x00\x05abcd"])
def test_bad_tlv_stream(tail: bytes) -> None:
    good = encode(SubmitSm(sequence_number=3))
    wire = struct.pack(">I", len(good) + len(tail)) + good[4:] + tail
    with pytest.raises(InvalidTlvStreamError) as info:
        decode(wire)
    assert info.value.command_status == CommandStatus.ESME_RINVOPTPARSTREAM
    assert info.value.sequence_number == 3


def test_bad_dest_flag() -> None:
    body = b"\0\0\0\0" + b"\x01" + b"\x03"
    with pytest.raises(InvalidDestFlagError) as info:
        decode(header(16 + len(body), CommandId.SUBMIT_MULTI) + body)
    assert info.value.command_status == CommandStatus.ESME_RINVDESTFLAG


def test_errors_in_responses_are_answered_with_generic_nack() -> None:
    with pytest.raises(TruncatedBodyError) as info:
        decode(header(17, CommandId.QUERY_SM_RESP) + b"x")
    assert info.value.response_command_id == CommandId.GENERIC_NACK
    with pytest.raises(TruncatedBodyError) as info:
        decode(header(17, CommandId.OUTBIND) + b"x")
    assert info.value.response_command_id == CommandId.GENERIC_NACK


# --- Encoding refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pdu",
    [
        BindTransmitter(sequence_number=1, system_id="x" * 16),
        BindTransmitter(sequence_number=1, password="a\0b"),
        BindTransmitter(sequence_number=1, system_id="é☃"),
        SubmitSm(sequence_number=1, short_message=b"x" * 255),
        SubmitSm(sequence_number=2**32),
        SubmitSm(sequence_number=1, esm_class=256),
        SubmitMulti(sequence_number=1, dest_addresses=(SmeAddress("1"),) * 256),
    ],
)
def test_encode_refuses_what_does_not_fit(pdu: Pdu) -> None:
    with pytest.raises(SmppEncodeError):
        encode(pdu)


# --- Typed TLV helpers ------------------------------------------------------------------------


def test_typed_tlvs() -> None:
    pdu = (
        DeliverSm(sequence_number=1, esm_class=0x04)
        .with_tlv(TlvTag.RECEIPTED_MESSAGE_ID, "abc123")
        .with_tlv(TlvTag.MESSAGE_STATE, MessageState.DELIVERED)
        .with_tlv(TlvTag.NETWORK_ERROR_CODE, b"\x03\x00\x00")
        .with_tlv(TlvTag.SAR_MSG_REF_NUM, 0x1234)
        .with_tlv(TlvTag.QOS_TIME_TO_LIVE, 86400)
    )
    assert pdu.tlvs[0] == Tlv(0x001E, b"abc123\0")
    assert pdu.tlvs[3] == Tlv(0x020C, b"\x12\x34")
    assert pdu.tlv_str(TlvTag.RECEIPTED_MESSAGE_ID) == "abc123"
    assert pdu.tlv_int(TlvTag.MESSAGE_STATE) == MessageState.DELIVERED
    assert pdu.tlv_int(TlvTag.QOS_TIME_TO_LIVE) == 86400
    assert pdu.tlv_bytes(TlvTag.NETWORK_ERROR_CODE) == b"\x03\x00\x00"
    assert pdu.tlv_int(TlvTag.SOURCE_PORT) is None
    assert pdu.tlv_str(TlvTag.ADDITIONAL_STATUS_INFO_TEXT) is None
    assert pdu.tlv_bytes(TlvTag.MESSAGE_PAYLOAD) is None
    replaced = pdu.with_tlv(TlvTag.MESSAGE_STATE, MessageState.EXPIRED)
    assert replaced.tlvs[1] == Tlv(0x0427, b"\x03")
    assert len(replaced.tlvs) == len(pdu.tlvs)
    assert replaced.without_tlv(TlvTag.MESSAGE_STATE).get_tlv(TlvTag.MESSAGE_STATE) is None
    assert decode(encode(pdu)) == pdu
    assert pdu.is_response is False
    assert QuerySmResp(sequence_number=1).is_response


def test_typed_tlv_of_the_wrong_size() -> None:
    pdu = SubmitSm(
        sequence_number=8,
        tlvs=(Tlv(TlvTag.SAR_MSG_REF_NUM, b"\x01"), Tlv(TlvTag.RECEIPTED_MESSAGE_ID, b"abc")),
    )
    with pytest.raises(InvalidTlvValueError) as info:
        pdu.tlv_int(TlvTag.SAR_MSG_REF_NUM)
    assert info.value.command_status == CommandStatus.ESME_RINVOPTPARAMVAL
    assert error_response(info.value) == SubmitSmResp(sequence_number=8, command_status=0xC4)
    with pytest.raises(InvalidTlvValueError):
        pdu.tlv_str(TlvTag.RECEIPTED_MESSAGE_ID)


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        (TlvTag.MESSAGE_PAYLOAD, 5),
        (TlvTag.MESSAGE_PAYLOAD, "text"),
        (TlvTag.SAR_TOTAL_SEGMENTS, 256),
        (TlvTag.RECEIPTED_MESSAGE_ID, "x" * 65),
    ],
)
def test_make_tlv_refuses_wrong_types(tag: int, value: int | str) -> None:
    with pytest.raises(SmppEncodeError):
        make_tlv(tag, value)


def test_bind_resp_carries_sc_interface_version() -> None:
    resp = BindTransmitterResp(sequence_number=1, system_id="smsgate").with_tlv(
        TlvTag.SC_INTERFACE_VERSION, 0x34
    )
    assert decode(encode(resp)).tlv_int(TlvTag.SC_INTERFACE_VERSION) == 0x34


def test_smpp_package_is_sans_io() -> None:
    # DESIGN.md: nothing in smpp/ imports asyncio, sockets or clocks.
    forbidden = {"asyncio", "socket", "time", "datetime", "os", "selectors", "threading"}
    for path in Path(smsgate.smpp.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not {n.split(".")[0] for n in names} & forbidden, (path.name, names)
