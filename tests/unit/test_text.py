"""GSM 03.38 / UCS-2 encoding, segment counting and splitting."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.text import (
    GSM7_BASIC,
    GSM7_CHARACTERS,
    GSM7_EXTENSION,
    count_segments,
    decode_gsm7_unpacked,
    decode_ucs2,
    encode_gsm7_unpacked,
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
