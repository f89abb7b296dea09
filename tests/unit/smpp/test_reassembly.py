"""Long-message parts: reading UDH and SAR numbering, reassembly, expiry and bounds."""

from __future__ import annotations

from collections.abc import Callable
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.text import (
    DATA_CODING_GSM7,
    DATA_CODING_UCS2,
    GSM7_CHARACTERS,
    GSM7_EXTENSION,
    GSM7_MULTI_PART,
    UCS2_MULTI_PART,
    data_coding_for,
    decode_gsm7_unpacked,
    decode_ucs2,
    encode_gsm7_unpacked,
    encode_parts,
    encode_ucs2,
)
from smsgate.smpp.constants import ESME_RINVDCS, UDHI, CommandStatus, TlvTag
from smsgate.smpp.pdu import DeliverSm, SubmitSm, Tlv
from smsgate.smpp.reassembly import (
    Completed,
    ConcatError,
    DataCodingMismatchError,
    DuplicatePartError,
    Expired,
    Part,
    Reassembler,
    ReassemblyFullError,
    part_of,
    part_of_pdu,
    strongest_receipt_request,
)

KEY = ("acc-1", "Brand", "+8613800000000")
OTHER_KEY = ("acc-1", "Brand", "+8613900000000")


def udh8(reference: int, total: int, number: int) -> bytes:
    return bytes((5, 0x00, 3, reference, total, number))


def udh16(reference: int, total: int, number: int) -> bytes:
    return bytes((6, 0x08, 4, reference >> 8, reference & 0xFF, total, number))


def decode(data: bytes, data_coding: int) -> str:
    return decode_gsm7_unpacked(data) if data_coding == DATA_CODING_GSM7 else decode_ucs2(data)


def reassemble(payloads: list[bytes], data_coding: int) -> Completed[tuple[str, ...], int]:
    """Feed ``payloads`` (in the order given, tagged with their index) to a fresh reassembler
    and return what completes; fails the test if nothing or more than one thing does."""
    reassembler: Reassembler[tuple[str, ...], int] = Reassembler()
    done = []
    for index, payload in enumerate(payloads):
        part = part_of(UDHI, payload)
        assert isinstance(part, Part)
        completed = reassembler.add(KEY, part, data_coding=data_coding, now=0.0, tag=index)
        if completed is not None:
            done.append(completed)
    assert len(done) == 1
    assert len(reassembler) == 0
    assert reassembler.held_bytes == 0
    return done[0]


# --- part_of: UDH -------------------------------------------------------------------------------


def test_udh_8bit_reference() -> None:
    assert part_of(UDHI, udh8(0xA7, 3, 2) + b"body") == Part(0xA7, 3, 2, b"body")


def test_udh_16bit_reference() -> None:
    assert part_of(UDHI, udh16(0xBEEF, 4, 4) + b"tail") == Part(0xBEEF, 4, 4, b"tail")


def test_udh_from_encode_parts_numbers_every_part() -> None:
    text = "x" * 400
    for sixteen_bit, reference in ((False, 200), (True, 40_000)):
        payloads = encode_parts(text, reference, sixteen_bit=sixteen_bit)
        parts = [part_of(UDHI, payload) for payload in payloads]
        assert [(p.reference, p.total, p.number) for p in parts if isinstance(p, Part)] == [
            (reference, 3, 1),
            (reference, 3, 2),
            (reference, 3, 3),
        ]


def test_udh_other_elements_are_skipped() -> None:
    port = b"\x05\x04\x0b\x84\x23\xf0"  # application port addressing, TS 23.040 §9.2.3.24.4
    payload = b"\x0b" + port + b"\x00\x03\x07\x02\x02" + b"world"
    assert part_of(UDHI, payload) == Part(7, 2, 2, b"world")


def test_udh_without_concatenation_is_a_whole_message() -> None:
    port = b"\x05\x04\x0b\x84\x23\xf0"
    assert part_of(UDHI, b"\x06" + port + b"hello") == b"hello"
    assert part_of(UDHI, b"\x00hello") == b"hello"  # an empty header
    assert part_of(UDHI, b"\x00") == b""


def test_udh_part_1_of_1_is_a_whole_message() -> None:
    assert part_of(UDHI, udh8(3, 1, 1) + b"hi") == b"hi"
    assert part_of(UDHI, udh16(300, 1, 1) + b"hi") == b"hi"


def test_without_udhi_the_short_message_is_the_body() -> None:
    """A header-looking first octet means nothing without UDHI: it is text."""
    payload = udh8(1, 2, 1) + b"abc"
    assert part_of(0, payload) == payload
    assert part_of(0x80 | 0x03, payload) == payload  # reply path, store-and-forward mode bits
    assert part_of(0, b"") == b""


@pytest.mark.parametrize(
    ("short_message", "message"),
    [
        (b"", "empty"),
        (b"\x09\x00\x03\x01\x02\x01a", "overruns the payload"),  # UDHL 9, 7 octets follow
        (b"\x01\x00", "ends inside an information element"),  # IEI without IEDL
        (b"\x05\x00\x05\x01\x02\x01a", "overruns the user data header"),  # IEDL 5 in UDHL 5
        (b"\x05\x00\x03\x01\x00\x01a", "part count 0"),
        (b"\x05\x00\x03\x01\x02\x00a", "part number 0"),
        (b"\x05\x00\x03\x01\x02\x03a", "part number 3 is outside 1-2"),
        (b"\x06\x08\x04\x01\x02\x00\x01a", "part count 0"),  # 16-bit reference
        (b"\x06\x08\x04\x01\x02\x02\x03a", "part number 3"),
        (b"\x05\x00\x03\x01\x01\x02a", "part number 2 is outside 1-1"),  # 2 of 1
    ],
)
def test_malformed_udh_is_refused_with_invalid_esm_class(
    short_message: bytes, message: str
) -> None:
    with pytest.raises(ConcatError, match=message) as caught:
        part_of(UDHI, short_message)
    assert caught.value.status == CommandStatus.ESME_RINVESMCLASS


def test_concatenation_element_of_the_wrong_length_is_skipped() -> None:
    """As decode_parts reads headers: IEI 0x00 with IEDL 2 is not a concatenation element."""
    assert part_of(UDHI, b"\x04\x00\x02\x01\x02body") == b"body"


# --- part_of: SAR -------------------------------------------------------------------------------


def test_sar_numbers_a_headerless_part() -> None:
    part = part_of(0, b"hello", sar_msg_ref_num=0x1234, sar_total_segments=3, sar_segment_seqnum=2)
    assert part == Part(0x1234, 3, 2, b"hello")


def test_sar_part_1_of_1_is_a_whole_message() -> None:
    whole = part_of(0, b"hi", sar_msg_ref_num=5, sar_total_segments=1, sar_segment_seqnum=1)
    assert whole == b"hi"


def test_sar_and_udh_that_agree() -> None:
    payload = udh8(9, 2, 1) + b"abc"
    sar = {"sar_msg_ref_num": 9, "sar_total_segments": 2, "sar_segment_seqnum": 1}
    assert part_of(UDHI, payload, **sar) == Part(9, 2, 1, b"abc")


def test_sar_with_a_header_without_concatenation() -> None:
    payload = b"\x06\x05\x04\x0b\x84\x23\xf0" + b"abc"
    sar = {"sar_msg_ref_num": 9, "sar_total_segments": 2, "sar_segment_seqnum": 2}
    assert part_of(UDHI, payload, **sar) == Part(9, 2, 2, b"abc")


@pytest.mark.parametrize(
    "sar",
    [
        (10, 2, 1),  # reference differs
        (9, 3, 1),  # total differs
        (9, 2, 2),  # number differs
    ],
)
def test_sar_and_udh_that_disagree_are_refused(sar: tuple[int, int, int]) -> None:
    ref, total, seq = sar
    with pytest.raises(ConcatError, match="contradict") as caught:
        part_of(
            UDHI,
            udh8(9, 2, 1) + b"abc",
            sar_msg_ref_num=ref,
            sar_total_segments=total,
            sar_segment_seqnum=seq,
        )
    assert caught.value.status == CommandStatus.ESME_RINVOPTPARAMVAL


@pytest.mark.parametrize(
    ("ref", "total", "seq", "missing"),
    [
        (1, None, None, "sar_total_segments, sar_segment_seqnum"),
        (None, 2, None, "sar_msg_ref_num, sar_segment_seqnum"),
        (None, None, 1, "sar_msg_ref_num, sar_total_segments"),
        (1, 2, None, "sar_segment_seqnum"),
        (1, None, 1, "sar_total_segments"),
        (None, 2, 1, "sar_msg_ref_num"),
    ],
)
def test_partial_sar_is_refused_as_missing(
    ref: int | None, total: int | None, seq: int | None, missing: str
) -> None:
    with pytest.raises(ConcatError, match=f"missing {missing}$") as caught:
        part_of(0, b"x", sar_msg_ref_num=ref, sar_total_segments=total, sar_segment_seqnum=seq)
    assert caught.value.status == CommandStatus.ESME_RMISSINGOPTPARAM


@pytest.mark.parametrize(
    ("ref", "total", "seq", "message"),
    [
        (1, 0, 1, "part count 0"),
        (1, 256, 1, "part count 256"),
        (1, 2, 0, "part number 0"),
        (1, 2, 3, "part number 3 is outside 1-2"),
        (-1, 2, 1, "sar_msg_ref_num -1"),
        (0x10000, 2, 1, "sar_msg_ref_num 65536"),
    ],
)
def test_bad_sar_values_are_refused(ref: int, total: int, seq: int, message: str) -> None:
    with pytest.raises(ConcatError, match=message) as caught:
        part_of(0, b"x", sar_msg_ref_num=ref, sar_total_segments=total, sar_segment_seqnum=seq)
    assert caught.value.status == CommandStatus.ESME_RINVOPTPARAMVAL


# --- part_of_pdu ----------------------------------------------------------------------------------


def test_part_of_pdu_reads_esm_class_short_message_and_sar_tlvs() -> None:
    pdu = (
        SubmitSm(sequence_number=1, short_message=b"abc")
        .with_tlv(TlvTag.SAR_MSG_REF_NUM, 0x0102)
        .with_tlv(TlvTag.SAR_TOTAL_SEGMENTS, 2)
        .with_tlv(TlvTag.SAR_SEGMENT_SEQNUM, 2)
    )
    assert part_of_pdu(pdu) == Part(0x0102, 2, 2, b"abc")
    udh = SubmitSm(sequence_number=2, esm_class=UDHI, short_message=udh8(4, 2, 1) + b"de")
    assert part_of_pdu(udh) == Part(4, 2, 1, b"de")
    assert part_of_pdu(DeliverSm(sequence_number=3, short_message=b"plain")) == b"plain"


def test_part_of_pdu_refuses_sar_tlv_of_the_wrong_size() -> None:
    pdu = SubmitSm(
        sequence_number=1,
        short_message=b"abc",
        tlvs=(
            Tlv(TlvTag.SAR_MSG_REF_NUM, b"\x00\x00\x01"),  # 3 octets, §5.3.2.22 says 2
            Tlv(TlvTag.SAR_TOTAL_SEGMENTS, b"\x02"),
            Tlv(TlvTag.SAR_SEGMENT_SEQNUM, b"\x01"),
        ),
    )
    with pytest.raises(ConcatError, match="0x020c") as caught:
        part_of_pdu(pdu)
    assert caught.value.status == CommandStatus.ESME_RINVOPTPARAMVAL


def test_part_of_pdu_partial_sar() -> None:
    pdu = SubmitSm(sequence_number=1, short_message=b"abc").with_tlv(TlvTag.SAR_MSG_REF_NUM, 1)
    with pytest.raises(ConcatError) as caught:
        part_of_pdu(pdu)
    assert caught.value.status == CommandStatus.ESME_RMISSINGOPTPARAM


# --- Part -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "total", "number"),
    [(-1, 2, 1), (0x10000, 2, 1), (1, 0, 1), (1, 256, 1), (1, 2, 0), (1, 2, 3)],
)
def test_part_guards_its_numbering(reference: int, total: int, number: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        Part(reference, total, number, b"")


# --- Reassembler ----------------------------------------------------------------------------------


def test_parts_in_order_complete_the_message() -> None:
    r: Reassembler[tuple[str, ...], str] = Reassembler()
    assert r.add(KEY, Part(5, 3, 1, b"aa"), data_coding=0, now=1.0, tag="s1") is None
    assert r.add(KEY, Part(5, 3, 2, b"bb"), data_coding=0, now=2.0, tag="s2") is None
    assert len(r) == 1
    assert r.held_bytes == 4
    done = r.add(KEY, Part(5, 3, 3, b"c"), data_coding=0, now=3.0, tag="s3")
    assert done == Completed(KEY, 5, 3, 0, b"aabbc", ("s1", "s2", "s3"), started=1.0)
    assert len(r) == 0
    assert r.held_bytes == 0
    assert r.next_deadline() is None


def test_parts_out_of_order_are_joined_in_number_order() -> None:
    r: Reassembler[tuple[str, ...], int] = Reassembler()
    assert r.add(KEY, Part(5, 3, 3, b"3"), data_coding=8, now=0.0, tag=30) is None
    assert r.add(KEY, Part(5, 3, 1, b"1"), data_coding=8, now=0.0, tag=10) is None
    done = r.add(KEY, Part(5, 3, 2, b"2"), data_coding=8, now=0.0, tag=20)
    assert done is not None
    assert done.body == b"123"
    assert done.tags == (10, 20, 30)
    assert done.data_coding == 8
    assert done.total == 3


def test_same_reference_under_different_keys_never_mixes() -> None:
    r: Reassembler[tuple[str, ...], str] = Reassembler()
    assert r.add(KEY, Part(7, 2, 1, b"A1"), data_coding=0, now=0.0, tag="a1") is None
    assert r.add(OTHER_KEY, Part(7, 2, 2, b"B2"), data_coding=0, now=0.0, tag="b2") is None
    assert r.add(OTHER_KEY, Part(7, 2, 1, b"B1"), data_coding=0, now=0.0, tag="b1") == (
        Completed(OTHER_KEY, 7, 2, 0, b"B1B2", ("b1", "b2"), started=0.0)
    )
    assert len(r) == 1
    done = r.add(KEY, Part(7, 2, 2, b"A2"), data_coding=0, now=0.0, tag="a2")
    assert done == Completed(KEY, 7, 2, 0, b"A1A2", ("a1", "a2"), started=0.0)


def test_same_reference_with_another_total_is_another_message() -> None:
    r: Reassembler[tuple[str, ...], str] = Reassembler()
    assert r.add(KEY, Part(7, 2, 1, b"x"), data_coding=0, now=0.0, tag="two") is None
    assert r.add(KEY, Part(7, 3, 1, b"y"), data_coding=0, now=0.0, tag="three") is None
    assert len(r) == 2
    done = r.add(KEY, Part(7, 2, 2, b"z"), data_coding=0, now=0.0, tag="two-2")
    assert done is not None
    assert done.body == b"xz"
    assert len(r) == 1


def test_reference_can_be_reused_once_a_message_completed() -> None:
    r: Reassembler[tuple[str, ...], int] = Reassembler()
    for round_ in range(2):
        assert r.add(KEY, Part(1, 2, 2, b"b"), data_coding=0, now=0.0, tag=round_) is None
        done = r.add(KEY, Part(1, 2, 1, b"a"), data_coding=0, now=0.0, tag=round_)
        assert done is not None
        assert done.body == b"ab"


def test_duplicate_part_is_refused_and_the_group_keeps_waiting() -> None:
    r: Reassembler[tuple[str, ...], str] = Reassembler()
    assert r.add(KEY, Part(5, 2, 1, b"first"), data_coding=0, now=0.0, tag="orig") is None
    with pytest.raises(DuplicatePartError, match="part 1 of 2 of message 5 came twice") as caught:
        r.add(KEY, Part(5, 2, 1, b"again"), data_coding=0, now=1.0, tag="dup")
    assert caught.value.status == CommandStatus.ESME_RSUBMITFAIL
    assert isinstance(caught.value, ConcatError)
    assert len(r) == 1
    assert r.held_bytes == 5
    done = r.add(KEY, Part(5, 2, 2, b"!"), data_coding=0, now=2.0, tag="last")
    assert done == Completed(KEY, 5, 2, 0, b"first!", ("orig", "last"), started=0.0)


def test_data_coding_mismatch_is_refused_and_the_group_keeps_waiting() -> None:
    r: Reassembler[tuple[str, ...], str] = Reassembler()
    assert r.add(KEY, Part(5, 2, 1, b"ab"), data_coding=0, now=0.0, tag="gsm") is None
    with pytest.raises(DataCodingMismatchError, match="data_coding 8, its first part 0") as caught:
        r.add(KEY, Part(5, 2, 2, b"\x00c"), data_coding=8, now=0.0, tag="ucs2")
    assert caught.value.status == ESME_RINVDCS == 0x104
    assert len(r) == 1
    assert r.held_bytes == 2
    done = r.add(KEY, Part(5, 2, 2, b"c"), data_coding=0, now=0.0, tag="gsm-2")
    assert done is not None
    assert done.tags == ("gsm", "gsm-2")


def test_part_1_of_1_completes_at_once_without_being_held() -> None:
    r: Reassembler[tuple[str, ...], str] = Reassembler(max_groups=1, max_bytes=1)
    assert r.add(KEY, Part(1, 2, 1, b"x"), data_coding=0, now=0.0, tag="held") is None
    done = r.add(KEY, Part(9, 1, 1, b"whole"), data_coding=3, now=4.0, tag="t")
    assert done == Completed(KEY, 9, 1, 3, b"whole", ("t",), started=4.0)
    assert len(r) == 1


# --- expiry ---------------------------------------------------------------------------------------


def test_groups_expire_timeout_after_their_first_part() -> None:
    r: Reassembler[tuple[str, ...], str] = Reassembler(timeout_s=10.0)
    assert r.next_deadline() is None
    assert r.expire(100.0) == []
    r.add(KEY, Part(1, 3, 2, b"b"), data_coding=0, now=100.0, tag="k1-2")
    r.add(OTHER_KEY, Part(1, 2, 1, b"x"), data_coding=8, now=105.0, tag="k2-1")
    # A later part does not push the group's deadline back: it is set by the first part.
    r.add(KEY, Part(1, 3, 1, b"a"), data_coding=0, now=109.0, tag="k1-1")
    assert r.next_deadline() == 110.0
    assert r.expire(109.999) == []
    assert r.expire(110.0) == [
        Expired(KEY, 1, 3, 0, (1, 2), ("k1-1", "k1-2"), started=100.0),
    ]
    assert len(r) == 1
    assert r.held_bytes == 1
    assert r.next_deadline() == 115.0
    assert r.expire(200.0) == [Expired(OTHER_KEY, 1, 2, 8, (1,), ("k2-1",), started=105.0)]
    assert len(r) == 0
    assert r.held_bytes == 0
    assert r.next_deadline() is None


def test_expire_drops_all_due_groups_oldest_first() -> None:
    r: Reassembler[tuple[str, ...], int] = Reassembler(timeout_s=1.0)
    for reference in range(5):
        r.add(KEY, Part(reference, 2, 1, b"p"), data_coding=0, now=float(reference), tag=reference)
    expired = r.expire(3.5)
    assert [e.reference for e in expired] == [0, 1, 2]
    assert [e.tags for e in expired] == [(0,), (1,), (2,)]
    assert len(r) == 2
    assert r.next_deadline() == 4.0


def test_a_part_after_expiry_starts_a_new_group() -> None:
    r: Reassembler[tuple[str, ...], str] = Reassembler(timeout_s=5.0)
    r.add(KEY, Part(2, 2, 1, b"old"), data_coding=0, now=0.0, tag="old")
    assert len(r.expire(5.0)) == 1
    assert r.add(KEY, Part(2, 2, 2, b"new"), data_coding=0, now=6.0, tag="new") is None
    assert r.next_deadline() == 11.0


# --- bounds ---------------------------------------------------------------------------------------


def test_max_groups_refuses_a_new_group_but_not_parts_of_waiting_ones() -> None:
    r: Reassembler[tuple[str, ...], str] = Reassembler(max_groups=2)
    r.add(KEY, Part(1, 3, 1, b"a"), data_coding=0, now=0.0, tag="1-1")
    r.add(KEY, Part(2, 2, 1, b"b"), data_coding=0, now=0.0, tag="2-1")
    with pytest.raises(ReassemblyFullError, match="2 messages") as caught:
        r.add(KEY, Part(3, 2, 1, b"c"), data_coding=0, now=0.0, tag="3-1")
    assert caught.value.status == CommandStatus.ESME_RMSGQFUL
    assert len(r) == 2
    assert r.held_bytes == 2
    assert r.add(KEY, Part(1, 3, 2, b"a"), data_coding=0, now=0.0, tag="1-2") is None
    # A part that completes its group is taken: it frees room.
    assert r.add(KEY, Part(2, 2, 2, b"b"), data_coding=0, now=0.0, tag="2-2") is not None
    assert r.add(KEY, Part(3, 2, 1, b"c"), data_coding=0, now=0.0, tag="3-1") is None
    assert len(r) == 2


def test_max_bytes_refuses_a_held_part_but_not_a_completing_one() -> None:
    r: Reassembler[tuple[str, ...], str] = Reassembler(max_bytes=10)
    r.add(KEY, Part(1, 3, 1, b"12345"), data_coding=0, now=0.0, tag="1")
    r.add(OTHER_KEY, Part(1, 2, 1, b"1234"), data_coding=0, now=0.0, tag="o1")
    with pytest.raises(ReassemblyFullError, match="9 octets") as caught:
        r.add(KEY, Part(1, 3, 2, b"67"), data_coding=0, now=0.0, tag="2")
    assert caught.value.status == CommandStatus.ESME_RMSGQFUL
    assert r.held_bytes == 9
    r.add(KEY, Part(1, 3, 2, b"6"), data_coding=0, now=0.0, tag="2")  # exactly 10: fits
    assert r.held_bytes == 10
    done = r.add(OTHER_KEY, Part(1, 2, 2, b"5678"), data_coding=0, now=0.0, tag="o2")
    assert done is not None
    assert done.body == b"12345678"
    assert r.held_bytes == 6


def test_refused_new_group_leaves_nothing_behind() -> None:
    r: Reassembler[tuple[str, ...], str] = Reassembler(max_bytes=3)
    with pytest.raises(ReassemblyFullError):
        r.add(KEY, Part(1, 2, 1, b"four"), data_coding=0, now=0.0, tag="t")
    assert len(r) == 0
    assert r.held_bytes == 0
    assert r.next_deadline() is None


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout_s must be positive"):
        Reassembler(timeout_s=0.0)
    with pytest.raises(ValueError, match="timeout_s must be positive"):
        Reassembler(timeout_s=-1.0)
    with pytest.raises(ValueError, match="at least 1"):
        Reassembler(max_groups=0)
    with pytest.raises(ValueError, match="at least 1"):
        Reassembler(max_bytes=0)


# --- end to end: encode_parts, part_of, Reassembler, decode ---------------------------------------


@pytest.mark.parametrize("sixteen_bit", [False, True])
def test_gsm7_escape_on_a_part_boundary_round_trips(sixteen_bit: bool) -> None:
    """'€' takes two septets; put it where encode_parts has to carry it into the next part."""
    capacity = GSM7_MULTI_PART - sixteen_bit
    text = "a" * (capacity - 1) + "€" + "b" * 100 + "{end}"
    payloads = encode_parts(text, 77, sixteen_bit=sixteen_bit)
    assert len(payloads) == 2
    done = reassemble(payloads[::-1], DATA_CODING_GSM7)
    assert done.tags == (1, 0)
    assert decode_gsm7_unpacked(done.body) == text


@pytest.mark.parametrize("sixteen_bit", [False, True])
def test_ucs2_surrogate_pair_on_a_part_boundary_round_trips(sixteen_bit: bool) -> None:
    capacity = UCS2_MULTI_PART - sixteen_bit
    text = "я" * (capacity - 1) + "😀" + "ж" * 150 + "🎉"
    payloads = encode_parts(text, 300 if sixteen_bit else 30, sixteen_bit=sixteen_bit)
    assert len(payloads) == 4
    order = [2, 0, 3, 1]
    done = reassemble([payloads[i] for i in order], DATA_CODING_UCS2)
    assert done.tags == (1, 3, 0, 2)
    assert decode_ucs2(done.body) == text


@pytest.mark.parametrize("header", [udh8, udh16])
def test_pairs_another_sender_cut_between_parts_decode_whole(
    header: Callable[[int, int, int], bytes],
) -> None:
    """encode_parts never cuts a pair, but other senders do: the bodies are joined before
    decoding, so an escape and its code, or a surrogate pair, in two parts come back whole."""
    septets = encode_gsm7_unpacked("price: 5€ {ok}")
    cut = septets.index(0x1B) + 1  # part 1 ends with the escape, part 2 starts with its code
    gsm = [header(12, 2, 2) + septets[cut:], header(12, 2, 1) + septets[:cut]]  # out of order
    assert decode_gsm7_unpacked(reassemble(gsm, DATA_CODING_GSM7).body) == "price: 5€ {ok}"

    units = encode_ucs2("hi 😀 there")
    cut = units.index(b"\xd8\x3d") + 2  # after the high surrogate
    ucs2 = [
        header(13, 3, 3) + units[cut + 4 :],
        header(13, 3, 2) + units[cut : cut + 4],  # low surrogate and " "
        header(13, 3, 1) + units[:cut],
    ]
    assert decode_ucs2(reassemble(ucs2, DATA_CODING_UCS2).body) == "hi 😀 there"


GSM_ALPHABET = sorted(GSM7_CHARACTERS)
EXTENSION = sorted(GSM7_EXTENSION.values())
gsm_chars = st.one_of(st.sampled_from(GSM_ALPHABET), st.sampled_from(EXTENSION))
unicode_chars = st.one_of(
    st.sampled_from("abc жя€{"), st.sampled_from("😀🎉👍🏽"), st.characters(codec="utf-8")
)


def long_texts(chars: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A random head, then a short random unit repeated up to 300 times: most texts take several
    parts, and escapes or surrogate pairs in the unit fall on part boundaries at many offsets
    (drawn texts alone rarely pass the 160 septets of one part)."""
    return st.builds(
        lambda head, unit, count: head + unit * count,
        st.text(alphabet=chars, max_size=200),
        st.text(alphabet=chars, min_size=1, max_size=4),
        st.integers(0, 300),
    )


@given(
    st.one_of(long_texts(gsm_chars), long_texts(unicode_chars)),
    st.integers(0, 0xFFFF),
    st.booleans(),
    st.randoms(use_true_random=False),
)
def test_any_text_survives_encode_shuffle_reassemble(
    text: str, reference: int, sixteen_bit: bool, rng: Random
) -> None:
    reference = reference if sixteen_bit else reference & 0xFF
    data_coding = data_coding_for(text)
    payloads = encode_parts(text, reference, sixteen_bit=sixteen_bit)
    if len(payloads) == 1:
        assert part_of(0, payloads[0]) == payloads[0]
        assert decode(payloads[0], data_coding) == text
        return
    order = list(range(len(payloads)))
    rng.shuffle(order)
    r: Reassembler[tuple[str, ...], int] = Reassembler()
    results = []
    for index in order:
        part = part_of(UDHI, payloads[index])
        assert isinstance(part, Part)
        assert part.reference == reference
        results.append(r.add(KEY, part, data_coding=data_coding, now=0.0, tag=index))
    *pending, done = results
    assert pending == [None] * (len(payloads) - 1)
    assert done is not None
    assert done.tags == tuple(range(len(payloads)))
    assert decode(done.body, data_coding) == text
    assert len(r) == 0


# --- registered_delivery of a message in parts --------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((1, 0, 0), 1),  # Kannel: the first part asks
        ((1, 1, 1), 1),  # Jasmin, smpplib: every part asks
        ((0, 0, 1), 1),  # the last part asks
        ((0, 2, 0), 2),  # failures only, from a middle part
        ((2, 1), 1),  # 1 (every outcome) includes 2 (failures only)
        ((1, 2), 1),
        ((0, 0), 0),  # nobody asks
        ((3, 0), 3),  # the reserved 3 asks for nothing, and is kept as sent
        ((0, 3, 2), 2),
        ((0x10, 1), 0x11),  # intermediate notification on the first part, a receipt on the last
        ((0x04 | 2, 0x08), 0x0E),  # SME acknowledgement bits from every part
    ],
)
def test_a_message_asks_for_the_strongest_receipt_of_its_parts(
    parts: tuple[int, ...], expected: int
) -> None:
    assert strongest_receipt_request(parts) == expected


def test_a_message_without_parts_has_no_receipt_request() -> None:
    with pytest.raises(ValueError, match="at least one part"):
        strongest_receipt_request([])


@given(st.lists(st.integers(0, 0x1F), min_size=1, max_size=8))
def test_any_part_asking_for_every_outcome_asks_for_the_message(values: list[int]) -> None:
    combined = strongest_receipt_request(values)
    receipts = {v & 3 for v in values}
    assert combined & 3 == (1 if 1 in receipts else 2 if 2 in receipts else values[0] & 3)
    for value in values:
        assert combined & value & ~3 == value & ~3
