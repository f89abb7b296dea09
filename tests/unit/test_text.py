"""GSM 03.38 / UCS-2 encoding, segment counting and splitting."""

from __future__ import annotations

import itertools
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.text import (
    GSM7_BASIC,
    GSM7_CHARACTERS,
    GSM7_EXTENSION,
    MAX_PARTS,
    count_segments,
    data_coding_for,
    decode_gsm7_unpacked,
    decode_parts,
    decode_ucs2,
    encode_gsm7_unpacked,
    encode_parts,
    encode_ucs2,
    encoding_for,
    split_parts,
)

UDH_OCTETS = 6  # UDHL + IEI 0x00 + IEDL + reference + count + number (TS 23.040 §9.2.3.24.1)
USER_DATA_OCTETS = 140

GSM_ALPHABET = sorted(GSM7_CHARACTERS)
EXTENSION = sorted(GSM7_EXTENSION.values())

gsm_text = st.text(alphabet=GSM_ALPHABET, max_size=700)
# Mostly single-unit characters with a fair share of two-unit ones, so that pairs land on part
# boundaries often.
escape_heavy_text = st.text(
    alphabet=st.one_of(st.sampled_from("abc 123"), st.sampled_from(EXTENSION)), max_size=700
)
wide_heavy_text = st.text(
    alphabet=st.one_of(st.sampled_from("aé中 €{"), st.sampled_from("😀𝄞🇮🇩")), max_size=400
)
any_text = st.one_of(gsm_text, escape_heavy_text, wide_heavy_text, st.text(max_size=400))


def septets(text: str) -> int:
    return len(encode_gsm7_unpacked(text))


def ucs2_units(text: str) -> int:
    return len(encode_ucs2(text)) // 2


def packed_octets(septet_count: int, fill_bits: int = 0) -> int:
    """Octets of septets packed 7 bits each (TS 23.038 §6.1.2.1.1), after fill bits."""
    return -(-(septet_count * 7 + fill_bits) // 8)


def octets_on_the_wire(part: str, multipart: bool) -> int:
    """User data octets of one part: the UDH, then the text (GSM-7 after 1 fill bit, so that the
    text starts on a septet boundary: 48 header bits + 1 = 7 septets)."""
    header = UDH_OCTETS if multipart else 0
    if encoding_for(part) == "GSM7":
        return header + packed_octets(septets(part), fill_bits=1 if multipart else 0)
    return header + len(encode_ucs2(part))


# --- the tables -------------------------------------------------------------------------------


def test_default_alphabet_has_128_positions() -> None:
    assert len(GSM7_BASIC) == 128
    assert len(set(GSM7_BASIC)) == 128


def test_well_known_positions_of_the_default_alphabet() -> None:
    assert GSM7_BASIC[0x00] == "@"
    assert GSM7_BASIC[0x02] == "$"
    assert GSM7_BASIC[0x0A] == "\n"
    assert GSM7_BASIC[0x10] == "Δ"
    assert GSM7_BASIC[0x11] == "_"
    assert GSM7_BASIC[0x24] == "¤"
    assert GSM7_BASIC[0x40] == "¡"
    assert GSM7_BASIC[0x41] == "A"
    assert GSM7_BASIC[0x60] == "¿"
    assert GSM7_BASIC[0x7F] == "à"


def test_extension_table() -> None:
    assert set(GSM7_EXTENSION.values()) == set("^{}\\[~]|€\f")
    assert GSM7_EXTENSION[0x65] == "€"


def test_escape_code_is_not_a_character() -> None:
    assert "\x1b" not in GSM7_CHARACTERS
    assert len(GSM7_CHARACTERS) == 127 + 10


# --- encoding choice --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "Your code is 123456", "Çà ü ß ÆØÅ ¿¡ §¤", "ΔΦΓΛΩΠΨΣΘΞ", "{[~]} | ^ \\ €", "a\r\n\fb"],
)
def test_gsm_texts(text: str) -> None:
    assert encoding_for(text) == "GSM7"


@pytest.mark.parametrize(
    "text",
    [
        "验证码 123456",
        "ç",  # only the capital Ç is in the table; no lossy folding
        "\u2126",  # OHM SIGN, not GREEK CAPITAL LETTER OMEGA
        "`",
        "hi 😀",
        "tab\there",
        "\x1b",
        "â",
    ],
)
def test_ucs2_texts(text: str) -> None:
    assert encoding_for(text) == "UCS2"


# --- counting and splitting: fixed cases --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 1),
        ("a", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # 160 septets
        ("€" + "a" * 159, 2),  # 161 septets
        ("中" * 70, 1),
        ("中" * 71, 2),
        ("中" * 134, 2),
        ("中" * 135, 3),
        ("😀" * 35, 1),  # 70 UTF-16 units
        ("😀" * 36, 2),
        ("中" + "{" * 69, 1),  # in UCS-2 a brace is one unit like any other
    ],
)
def test_segment_counts(text: str, segments: int) -> None:
    assert count_segments(text) == segments
    assert len(split_parts(text)) == segments


def test_escape_pair_is_not_cut_and_costs_a_part() -> None:
    # 306 septets would fit two parts of 153, but the euro sign cannot straddle parts.
    text = "a" * 152 + "€" + "a" * 152
    assert split_parts(text) == ["a" * 152, "€" + "a" * 151, "a"]
    assert count_segments(text) == 3


def test_surrogate_pair_is_not_cut() -> None:
    text = "中" * 66 + "😀" + "中" * 10
    parts = split_parts(text)
    assert parts == ["中" * 66, "😀" + "中" * 10]
    assert count_segments(text) == 2


def test_emoji_only_parts_hold_33() -> None:
    parts = split_parts("😀" * 36)
    assert [len(part) for part in parts] == [33, 3]


def test_empty_text_is_one_empty_part() -> None:
    assert split_parts("") == [""]


def test_single_part_text_is_kept_whole() -> None:
    assert split_parts("hello") == ["hello"]


# --- counting and splitting: properties -------------------------------------------------------


@given(any_text)
def test_segment_count_matches_the_parts(text: str) -> None:
    assert count_segments(text) == len(split_parts(text))


@given(any_text)
def test_parts_rejoin_to_the_text(text: str) -> None:
    assert "".join(split_parts(text)) == text


@given(any_text)
def test_every_part_fits_140_octets(text: str) -> None:
    parts = split_parts(text)
    multipart = len(parts) > 1
    for part in parts:
        assert octets_on_the_wire(part, multipart) <= USER_DATA_OCTETS


@given(any_text)
def test_parts_are_filled_greedily(text: str) -> None:
    """No part could have taken the next character: the count is the fewest parts possible."""
    parts = split_parts(text)
    if len(parts) == 1:
        return
    gsm = encoding_for(text) == "GSM7"
    limit, size = (153, septets) if gsm else (67, ucs2_units)
    for part, following in itertools.pairwise(parts):
        assert part
        assert size(part + following[0]) > limit


@given(any_text)
def test_parts_keep_the_message_encoding(text: str) -> None:
    """Each part encodes on its own (no half pair), to the bytes of the whole message."""
    if encoding_for(text) == "GSM7":
        assert b"".join(map(encode_gsm7_unpacked, split_parts(text))) == encode_gsm7_unpacked(text)
    else:
        assert b"".join(map(encode_ucs2, split_parts(text))) == encode_ucs2(text)


@given(any_text)
def test_single_part_limits(text: str) -> None:
    fits_one = septets(text) <= 160 if encoding_for(text) == "GSM7" else ucs2_units(text) <= 70
    assert (count_segments(text) == 1) == fits_one


# --- GSM-7 unpacked codec ----------------------------------------------------------------------


def test_gsm7_known_bytes() -> None:
    assert encode_gsm7_unpacked("@£$¥") == b"\x00\x01\x02\x03"
    assert encode_gsm7_unpacked("A €") == b"\x41\x20\x1b\x65"
    assert encode_gsm7_unpacked("{}\f") == b"\x1b\x28\x1b\x29\x1b\x0a"
    assert encode_gsm7_unpacked("") == b""


def test_gsm7_refuses_other_characters() -> None:
    with pytest.raises(UnicodeEncodeError) as caught:
        encode_gsm7_unpacked("code 中")
    assert (caught.value.start, caught.value.end) == (5, 6)


@given(gsm_text)
def test_gsm7_round_trip(text: str) -> None:
    encoded = encode_gsm7_unpacked(text)
    assert max(encoded, default=0) <= 0x7F
    assert decode_gsm7_unpacked(encoded) == text


@given(st.binary(max_size=300).map(lambda data: bytes(octet & 0x7F for octet in data)))
def test_gsm7_decodes_any_septets(data: bytes) -> None:
    text = decode_gsm7_unpacked(data)
    assert encoding_for(text) == "GSM7"


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"\x1b\x65", "€"),
        (b"\x1b\x41", "A"),  # undefined extension code: the default-alphabet character
        (b"\x1b\x1b", " "),  # reserved escape-escape: a space
        (b"ab\x1b", "ab "),  # dangling escape
        (b"\x00\x10\x7f", "@Δà"),
    ],
)
def test_gsm7_decoding_rules(data: bytes, text: str) -> None:
    assert decode_gsm7_unpacked(data) == text


def test_gsm7_decoding_refuses_8_bit_octets() -> None:
    with pytest.raises(UnicodeDecodeError) as caught:
        decode_gsm7_unpacked(b"ab\x80")
    assert caught.value.start == 2


# --- UCS-2 codec -------------------------------------------------------------------------------


def test_ucs2_known_bytes() -> None:
    assert encode_ucs2("A中") == b"\x00\x41\x4e\x2d"
    assert encode_ucs2("😀") == b"\xd8\x3d\xde\x00"


@given(st.text(max_size=300))
def test_ucs2_round_trip(text: str) -> None:
    assert decode_ucs2(encode_ucs2(text)) == text


def test_ucs2_refuses_broken_input() -> None:
    with pytest.raises(UnicodeDecodeError):
        decode_ucs2(b"\x00\x41\x00")
    with pytest.raises(UnicodeDecodeError):
        decode_ucs2(b"\xd8\x3d\x00\x41")  # lone high surrogate
    with pytest.raises(UnicodeEncodeError):
        encode_ucs2("\ud83d")


# --- concatenated parts: sixteen-bit reference capacities ---------------------------------------


@pytest.mark.parametrize(
    ("text", "eight_bit", "sixteen_bit"),
    [
        ("a" * 160, 1, 1),  # one part: no header, whatever its width would be
        ("a" * 161, 2, 2),
        ("a" * 304, 2, 2),  # 2 x 152
        ("a" * 305, 2, 3),
        ("a" * 306, 2, 3),  # 2 x 153
        ("€" * 76, 1, 1),
        ("€" * 77 + "a" * 7, 2, 2),
        ("中" * 70, 1, 1),
        ("中" * 132, 2, 2),  # 2 x 66
        ("中" * 133, 2, 3),
        ("中" * 134, 2, 3),  # 2 x 67
        ("😀" * 33 + "中" * 5, 2, 2),
    ],
)
def test_segment_counts_by_reference_width(text: str, eight_bit: int, sixteen_bit: int) -> None:
    assert count_segments(text) == eight_bit
    assert count_segments(text, sixteen_bit=False) == eight_bit
    assert count_segments(text, sixteen_bit=True) == sixteen_bit
    assert len(split_parts(text, sixteen_bit=True)) == sixteen_bit


def test_sixteen_bit_parts_hold_one_unit_less() -> None:
    assert [len(part) for part in split_parts("a" * 400, sixteen_bit=True)] == [152, 152, 96]
    assert [len(part) for part in split_parts("中" * 140, sixteen_bit=True)] == [66, 66, 8]
    assert [len(part) for part in split_parts("😀" * 36, sixteen_bit=True)] == [33, 3]
    # The escape pair moves to the next part rather than straddle the 152-septet cut.
    text = "a" * 151 + "€" + "a" * 10
    assert split_parts(text, sixteen_bit=True) == ["a" * 151, "€" + "a" * 10]


@given(any_text, st.booleans())
def test_segment_count_matches_the_parts_for_both_widths(text: str, sixteen_bit: bool) -> None:
    parts = split_parts(text, sixteen_bit=sixteen_bit)
    assert count_segments(text, sixteen_bit=sixteen_bit) == len(parts)
    assert "".join(parts) == text


@given(any_text)
def test_sixteen_bit_parts_are_filled_greedily(text: str) -> None:
    parts = split_parts(text, sixteen_bit=True)
    if len(parts) == 1:
        return
    limit, size = (152, septets) if encoding_for(text) == "GSM7" else (66, ucs2_units)
    for part, following in itertools.pairwise(parts):
        assert size(part) <= limit
        assert size(part + following[0]) > limit
    assert size(parts[-1]) <= limit


# --- concatenated parts: SMPP payloads --------------------------------------------------------


def udh_length(payload: bytes, multipart: bool) -> int:
    return 1 + payload[0] if multipart else 0


def air_octets(payload: bytes, data_coding: int, multipart: bool) -> int:
    """TS 23.040 user data length once the SMSC packs the septets: the header, fill bits up to a
    septet boundary (§9.2.3.24), then 7 bits per septet; UCS-2 goes over the air as it is."""
    header = udh_length(payload, multipart)
    if data_coding == 8:
        return len(payload)
    fill_bits = (7 - header * 8 % 7) % 7
    return header + packed_octets(len(payload) - header, fill_bits)


def test_data_coding() -> None:
    assert data_coding_for("") == 0
    assert data_coding_for("Your code is 123456 €") == 0
    assert data_coding_for("验证码 123456") == 8
    assert data_coding_for("ç") == 8


def test_single_part_has_no_header() -> None:
    assert encode_parts("hello", 7) == [b"hello"]
    assert encode_parts("", 0) == [b""]
    assert encode_parts("中", 0) == [b"\x4e\x2d"]
    assert encode_parts("a" * 160, 255, sixteen_bit=True) == [b"a" * 160]


def test_eight_bit_reference_header_bytes() -> None:
    """TS 23.040 §9.2.3.24.1: UDHL 5, IEI 0x00, IEDL 3, reference, count, number."""
    payloads = encode_parts("a" * 153 + "b" * 8, 0x2A)
    assert payloads == [
        b"\x05\x00\x03\x2a\x02\x01" + b"\x61" * 153,
        b"\x05\x00\x03\x2a\x02\x02" + b"\x62" * 8,
    ]
    assert [len(payload) for payload in payloads] == [159, 14]


def test_sixteen_bit_reference_header_bytes() -> None:
    """TS 23.040 §9.2.3.24.8: UDHL 6, IEI 0x08, IEDL 4, reference (big-endian), count, number."""
    payloads = encode_parts("a" * 152 + "€" * 5, 0x1234, sixteen_bit=True)  # 162 septets
    assert payloads == [
        b"\x06\x08\x04\x12\x34\x02\x01" + b"a" * 152,
        b"\x06\x08\x04\x12\x34\x02\x02" + b"\x1b\x65" * 5,
    ]


def test_ucs2_parts_are_big_endian_after_the_header() -> None:
    payloads = encode_parts("中" * 67 + "AB", 0xFF)  # 69 units: one part
    assert payloads == [b"\x4e\x2d" * 67 + b"\x00\x41\x00\x42"]
    payloads = encode_parts("中" * 67 + "ABCD", 0xFF)  # 71 units: two parts
    assert payloads[0] == b"\x05\x00\x03\xff\x02\x01" + b"\x4e\x2d" * 67
    # The second part's text is GSM-7 on its own, but a message has one encoding.
    assert payloads[1] == b"\x05\x00\x03\xff\x02\x02\x00\x41\x00\x42\x00\x43\x00\x44"
    assert max(map(len, payloads)) == 140


@pytest.mark.parametrize(("reference", "sixteen_bit"), [(-1, False), (256, False), (65536, True)])
def test_reference_out_of_range_is_refused(reference: int, sixteen_bit: bool) -> None:
    with pytest.raises(ValueError, match="reference"):
        encode_parts("a" * 200, reference, sixteen_bit=sixteen_bit)


def test_reference_width_bounds_are_accepted() -> None:
    assert encode_parts("a" * 200, 255)[0][3] == 255
    assert encode_parts("a" * 200, 65535, sixteen_bit=True)[0][3:5] == b"\xff\xff"


def test_at_most_255_parts() -> None:
    assert len(encode_parts("a" * 153 * MAX_PARTS, 1)) == MAX_PARTS
    with pytest.raises(ValueError, match="255"):
        encode_parts("a" * (153 * MAX_PARTS + 1), 1)
    with pytest.raises(ValueError, match="255"):
        encode_parts("a" * (152 * MAX_PARTS + 1), 1, sixteen_bit=True)


def test_lone_surrogate_cannot_be_encoded() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_parts("\ud83d", 0)


@given(any_text, st.integers(0, 255), st.booleans())
def test_parts_round_trip(text: str, reference: int, sixteen_bit: bool) -> None:
    payloads = encode_parts(text, reference, sixteen_bit=sixteen_bit)
    assert decode_parts(payloads, data_coding_for(text)) == text


@given(any_text, st.integers(0, 65535), st.booleans())
def test_payload_count_is_the_segment_count(text: str, reference: int, sixteen_bit: bool) -> None:
    reference = reference if sixteen_bit else reference & 0xFF
    payloads = encode_parts(text, reference, sixteen_bit=sixteen_bit)
    assert len(payloads) == count_segments(text, sixteen_bit=sixteen_bit)


@given(any_text, st.booleans())
def test_every_payload_fits_140_octets_on_the_air(text: str, sixteen_bit: bool) -> None:
    """UCS-2 payloads are at most 140 octets as they are. GSM-7 payloads are unpacked (one septet
    per octet, up to 159 octets with the header, within SMPP's 254) and fit 140 once packed."""
    data_coding = data_coding_for(text)
    payloads = encode_parts(text, 0, sixteen_bit=sixteen_bit)
    multipart = len(payloads) > 1
    for payload in payloads:
        assert air_octets(payload, data_coding, multipart) <= USER_DATA_OCTETS
        assert len(payload) <= (USER_DATA_OCTETS if data_coding == 8 else 160)
        assert len(payload) <= 254  # SMPP 3.4 §5.2.22 short_message


@given(any_text, st.integers(0, 65535), st.booleans())
def test_headers_number_the_parts(text: str, reference: int, sixteen_bit: bool) -> None:
    reference = reference if sixteen_bit else reference & 0xFF
    payloads = encode_parts(text, reference, sixteen_bit=sixteen_bit)
    if len(payloads) == 1:
        return
    for number, payload in enumerate(payloads, 1):
        if sixteen_bit:
            assert payload[:5] == bytes((6, 8, 4, reference >> 8, reference & 0xFF))
            assert payload[5:7] == bytes((len(payloads), number))
        else:
            assert payload[:6] == bytes((5, 0, 3, reference, len(payloads), number))


@given(any_text.map(lambda text: text + "x" * 161), st.randoms())
def test_parts_in_any_order_decode_the_same(text: str, rng: Random) -> None:
    payloads = encode_parts(text, 9)
    rng.shuffle(payloads)
    assert decode_parts(payloads, data_coding_for(text)) == text


# --- decode_parts: what other senders send ----------------------------------------------------


def test_decode_single_payload_with_a_header() -> None:
    """A one-part concatenated message (count 1) from another sender: UDHI says so."""
    assert decode_parts([b"\x05\x00\x03\x01\x01\x01hi"], 0, udhi=True) == "hi"
    # Without UDHI, one payload is all text (here: GSM-7 é@¥£££hi).
    payload = b"\x05\x00\x03\x01\x01\x01hi"
    assert decode_parts([payload], 0) == decode_gsm7_unpacked(payload) == "é@¥£££hi"


def test_decode_without_headers_joins_as_given() -> None:
    assert decode_parts([b"ab", b"cd"], 0, udhi=False) == "abcd"
    assert decode_parts([], 0) == ""


def test_decode_skips_other_information_elements() -> None:
    port = b"\x05\x04\x0b\x84\x23\xf0"  # application port addressing, TS 23.040 §9.2.3.24.4
    payloads = [
        b"\x0b" + port + b"\x00\x03\x07\x02\x02" + b"world",
        b"\x0b" + port + b"\x00\x03\x07\x02\x01" + b"hello ",
    ]
    assert decode_parts(payloads, 0) == "hello world"


def test_decode_uses_the_last_concatenation_element() -> None:
    payloads = [
        b"\x0b\x00\x03\x01\x02\x02\x08\x04\x00\x07\x02\x01" + b"first ",
        b"\x0b\x00\x03\x01\x02\x01\x08\x04\x00\x07\x02\x02" + b"second",
    ]
    assert decode_parts(payloads, 0) == "first second"


def test_decode_joins_pairs_split_across_parts() -> None:
    # Another sender cut an escape pair and a surrogate pair between parts.
    payloads = [b"\x05\x00\x03\x01\x02\x01a\x1b", b"\x05\x00\x03\x01\x02\x02\x65"]
    assert decode_parts(payloads, 0) == "a€"
    high, low = "😀".encode("utf-16-be")[:2], "😀".encode("utf-16-be")[2:]
    payloads = [b"\x05\x00\x03\x01\x02\x01" + high, b"\x05\x00\x03\x01\x02\x02" + low]
    assert decode_parts(payloads, 8) == "😀"


@pytest.mark.parametrize(
    ("payloads", "message"),
    [
        ([b"\x05\x00\x03\x01\x02\x01a", b"\x05\x00\x03\x02\x02\x02b"], "different"),
        ([b"\x05\x00\x03\x01\x03\x01a", b"\x05\x00\x03\x01\x03\x02b"], "counts"),  # count 3
        ([b"\x05\x00\x03\x01\x02\x01a", b"\x05\x00\x03\x01\x02\x01b"], "part numbers"),
        ([b"\x05\x00\x03\x01\x02\x00a", b"\x05\x00\x03\x01\x02\x01b"], "part numbers"),
        ([b"\x09\x00\x03\x01\x02\x01a", b"\x05\x00\x03\x01\x02\x02b"], "overruns the pay"),
        ([b"\x05\x00\x05\x01\x02\x01a", b"\x05\x00\x03\x01\x02\x02b"], "0x00 overruns"),
        ([b"\x01\x00", b"\x01\x00"], "ends inside an information element"),
        ([b"", b"\x05\x00\x03\x01\x02\x02b"], "empty"),
    ],
)
def test_decode_refuses_malformed_parts(payloads: list[bytes], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_parts(payloads, 0)


def test_decode_refuses_other_data_codings_and_bad_bodies() -> None:
    with pytest.raises(ValueError, match="data_coding 3"):
        decode_parts([b"abc"], 3)
    with pytest.raises(UnicodeDecodeError):
        decode_parts([b"\x05\x00\x03\x01\x02\x01\x00", b"\x05\x00\x03\x01\x02\x02"], 8)
    with pytest.raises(UnicodeDecodeError):
        decode_parts([b"\x80"], 0)
