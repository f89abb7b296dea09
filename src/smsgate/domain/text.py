"""SMS text: GSM 7-bit default alphabet and UCS-2, segment counting and splitting.

An SMS user data field holds 140 octets (3GPP TS 23.040 §9.2.3.24). Text goes in one of two
encodings (3GPP TS 23.038, formerly GSM 03.38):

- **GSM 7-bit default alphabet**: 160 septets per message. Ten characters live in the extension
  table and take two septets each: the escape ``0x1B`` and their code (TS 23.038 §6.2.1.1).
- **UCS-2** for anything else: 70 characters of 16 bits. Characters outside the Basic Multilingual
  Plane (emoji...) are sent as UTF-16 surrogate pairs and take two units, as handsets do.

A longer text is sent as a concatenated SMS: each part starts with a 6-octet user data header
(UDHL, IEI ``0x00``, IEDL, 8-bit reference, part count, part number; TS 23.040 §9.2.3.24.1), which
leaves 134 octets: 153 septets (48 header bits + 1 fill bit = 7 septets) or 67 UCS-2 units. With
the 16-bit reference (IEI ``0x08``, TS 23.040 §9.2.3.24.8) the header takes 7 octets, leaving 133:
152 septets (56 header bits = 8 septets, no fill) or 66 UCS-2 units. :func:`count_segments` and
:func:`split_parts` take ``sixteen_bit=True`` for that header.

:func:`encode_parts` builds each part's SMPP ``short_message`` (UDH then text, with ``esm_class``
UDHI set by the caller for more than one part) and :func:`decode_parts` takes such payloads apart
again. GSM-7 goes in *unpacked*, one septet per octet, as SMPP ``data_coding`` 0 carries it and the
SMSC packs it for the air interface: a 153-septet part is then a 159-octet ``short_message`` (SMPP
allows 254) that becomes 140 octets on the air.

The whole message uses one encoding: a single character outside the GSM alphabet turns all of it
into UCS-2, which is how Alibaba and carriers count and bill. Characters are matched exactly: ``ç``
is not folded into the table's ``Ç``, nor U+2126 OHM SIGN into U+03A9 GREEK CAPITAL LETTER OMEGA,
so every GSM-7 text decodes back to exactly what was sent.

Splitting never cuts an escape pair or a surrogate pair; grapheme clusters (combining marks, ZWJ
emoji sequences, flags) may straddle parts, which handsets reassemble before display. Nothing here
refuses a long text: the submit rules compare :func:`count_segments` with :data:`MAX_PARTS` (and
any lower product limit).

Text is expected to be valid Unicode: surrogate code points (``"\\ud83d"``) have no encoding and
:func:`encode_ucs2` refuses them, so doors should refuse such input.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

__all__ = [
    "DATA_CODING_GSM7",
    "DATA_CODING_UCS2",
    "ESCAPE",
    "GSM7_BASIC",
    "GSM7_CHARACTERS",
    "GSM7_EXTENSION",
    "GSM7_MULTI_PART",
    "GSM7_MULTI_PART_16BIT",
    "GSM7_SINGLE_PART",
    "MAX_PARTS",
    "UCS2_MULTI_PART",
    "UCS2_MULTI_PART_16BIT",
    "UCS2_SINGLE_PART",
    "Encoding",
    "concatenation_element",
    "count_binary_segments",
    "count_segments",
    "data_coding_for",
    "decode_gsm7_unpacked",
    "decode_parts",
    "decode_ucs2",
    "encode_gsm7_unpacked",
    "encode_parts",
    "encode_ucs2",
    "encoding_for",
    "split_parts",
    "split_udh",
]

Encoding = Literal["GSM7", "UCS2"]

#: TS 23.038 §6.2.1: the default alphabet, indexed by septet value. Index 0x1B is the escape to
#: the extension table, not a character.
GSM7_BASIC: Final = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
#: Escape septet announcing a character of the extension table.
ESCAPE: Final = 0x1B
#: TS 23.038 §6.2.1.1: the extension table, septet after the escape -> character.
GSM7_EXTENSION: Final[Mapping[int, str]] = MappingProxyType(
    {
        0x0A: "\f",
        0x14: "^",
        0x28: "{",
        0x29: "}",
        0x2F: "\\",
        0x3C: "[",
        0x3D: "~",
        0x3E: "]",
        0x40: "|",
        0x65: "€",
    }
)

GSM7_SINGLE_PART: Final = 160
GSM7_MULTI_PART: Final = 153
UCS2_SINGLE_PART: Final = 70
UCS2_MULTI_PART: Final = 67
#: Part capacities under the 7-octet header with a 16-bit reference (TS 23.040 §9.2.3.24.8).
GSM7_MULTI_PART_16BIT: Final = 152
UCS2_MULTI_PART_16BIT: Final = 66
#: The concatenation header counts parts in one octet: a longer text cannot be sent.
MAX_PARTS: Final = 255

#: SMPP 3.4 §5.2.19 ``data_coding``: SMSC default alphabet (GSM-7 here) and UCS2 (ISO/IEC-10646).
DATA_CODING_GSM7: Final = 0
DATA_CODING_UCS2: Final = 8

# TS 23.040 §9.2.3.24: information element identifiers of the concatenation headers.
_IEI_CONCAT_8BIT: Final = 0x00  # §9.2.3.24.1, IEDL 3: reference, count, number
_IEI_CONCAT_16BIT: Final = 0x08  # §9.2.3.24.8, IEDL 4: reference (2 octets), count, number

_EXTENSION_CHARS: Final = frozenset(GSM7_EXTENSION.values())
#: Every character GSM-7 can carry (the escape code itself excluded).
GSM7_CHARACTERS: Final = frozenset(GSM7_BASIC.replace("\x1b", "")) | _EXTENSION_CHARS

# str.translate tables: text -> one code point per septet (encoded as latin-1 afterwards), and
# septets read as latin-1 -> text. Both run in C, which keeps the common path loop-free.
_TO_SEPTETS: Final[dict[int, str]] = {
    ord(char): chr(septet) for septet, char in enumerate(GSM7_BASIC) if septet != ESCAPE
} | {ord(char): chr(ESCAPE) + chr(septet) for septet, char in GSM7_EXTENSION.items()}
_FROM_SEPTETS: Final[dict[int, str]] = {
    septet: char for septet, char in enumerate(GSM7_BASIC) if septet != ESCAPE
}
_LAST_BMP: Final = "\uffff"
# Up to this many characters a text fits one part even if every character takes two units
# (35 non-BMP characters are 70 UCS-2 units; 35 extension characters are 70 septets).
_ONE_PART_WHATEVER_THE_TEXT: Final = UCS2_SINGLE_PART // 2
# (encoding, sixteen_bit) -> (single-part capacity, per-part capacity when concatenated)
_LIMITS: Final[Mapping[tuple[Encoding, bool], tuple[int, int]]] = MappingProxyType(
    {
        ("GSM7", False): (GSM7_SINGLE_PART, GSM7_MULTI_PART),
        ("UCS2", False): (UCS2_SINGLE_PART, UCS2_MULTI_PART),
        ("GSM7", True): (GSM7_SINGLE_PART, GSM7_MULTI_PART_16BIT),
        ("UCS2", True): (UCS2_SINGLE_PART, UCS2_MULTI_PART_16BIT),
    }
)


def encoding_for(text: str) -> Encoding:
    """``GSM7`` if every character is in the default alphabet or its extension, else ``UCS2``."""
    return "GSM7" if GSM7_CHARACTERS.issuperset(text) else "UCS2"


def count_segments(text: str, *, sixteen_bit: bool = False) -> int:
    """Number of SMS parts ``text`` is sent (and billed) as; equals ``len(split_parts(text))``
    for the same ``sixteen_bit`` (the concatenation header's reference width).

    An empty text counts as one part, as Alibaba counts it.
    """
    if len(text) <= _ONE_PART_WHATEVER_THE_TEXT:
        return 1
    encoding, units = _measure(text)
    single, multi = _LIMITS[encoding, sixteen_bit]
    if units <= single:
        return 1
    if units == len(text):  # no escape or surrogate pair to keep whole
        return -(-units // multi)
    return len(_split_gsm7(text, multi) if encoding == "GSM7" else _split_ucs2(text, multi))


#: 8-bit user data: 140 octets in one message, 134 per part with a concatenation header.
BINARY_SINGLE_PART: Final = 140
BINARY_MULTI_PART: Final = 134


def count_binary_segments(octets: int) -> int:
    """Number of SMS parts binary user data of ``octets`` octets is sent (and billed) as."""
    if octets <= BINARY_SINGLE_PART:
        return 1
    return -(-octets // BINARY_MULTI_PART)


def split_parts(text: str, *, sixteen_bit: bool = False) -> list[str]:
    """Split ``text`` into the texts of its parts; ``"".join(parts) == text``.

    A text that fits one message is one part; otherwise each part fits 153 septets or 67 UCS-2
    units (134 octets, 140 with the 8-bit-reference concatenation header), filled greedily; with
    ``sixteen_bit=True``, 152 septets or 66 units (133 octets, 140 with the 7-octet header).
    """
    if len(text) <= _ONE_PART_WHATEVER_THE_TEXT:
        return [text]
    encoding, units = _measure(text)
    single, multi = _LIMITS[encoding, sixteen_bit]
    if units <= single:
        return [text]
    if units == len(text):  # no escape or surrogate pair to keep whole
        return [text[start : start + multi] for start in range(0, len(text), multi)]
    return _split_gsm7(text, multi) if encoding == "GSM7" else _split_ucs2(text, multi)


def data_coding_for(text: str) -> int:
    """SMPP ``data_coding`` (SMPP 3.4 §5.2.19) of ``text``: 0 (SMSC default alphabet) for a
    GSM-7 text, 8 (UCS2) otherwise; the value :func:`encode_parts` payloads are meant for."""
    return DATA_CODING_GSM7 if encoding_for(text) == "GSM7" else DATA_CODING_UCS2


def encode_parts(text: str, reference: int, *, sixteen_bit: bool = False) -> list[bytes]:
    """The SMPP ``short_message`` of each part of ``text``, in order, for :func:`data_coding_for`.

    A text that fits one message is one payload without a header. Otherwise each payload is a
    concatenation user data header (TS 23.040 §9.2.3.24.1: ``05 00 03 ref count number``; with
    ``sixteen_bit``, §9.2.3.24.8: ``06 08 04 ref_hi ref_lo count number``), parts numbered from
    1, followed by the part's text as :func:`split_parts` cuts it: GSM-7 unpacked septets or
    UCS-2 big-endian. The caller sets UDHI (``esm_class`` 0x40, SMPP 3.4 §5.2.12) when there is
    more than one payload.

    ``reference`` identifies the message among the recipient's concurrent ones: 0-255, or
    0-65535 with ``sixteen_bit``. ``ValueError`` for a reference out of range or a text of more
    than :data:`MAX_PARTS` parts; ``UnicodeEncodeError`` for a lone surrogate.
    """
    limit = 0xFFFF if sixteen_bit else 0xFF
    if not 0 <= reference <= limit:
        raise ValueError(f"reference {reference} is outside 0-{limit}")
    encode = encode_gsm7_unpacked if encoding_for(text) == "GSM7" else encode_ucs2
    parts = split_parts(text, sixteen_bit=sixteen_bit)
    if len(parts) == 1:
        return [encode(text)]
    if len(parts) > MAX_PARTS:
        raise ValueError(f"text needs {len(parts)} parts; at most {MAX_PARTS} can be concatenated")
    if sixteen_bit:
        header = bytes((6, _IEI_CONCAT_16BIT, 4, reference >> 8, reference & 0xFF, len(parts)))
    else:
        header = bytes((5, _IEI_CONCAT_8BIT, 3, reference, len(parts)))
    return [header + bytes((number,)) + encode(part) for number, part in enumerate(parts, 1)]


def decode_parts(payloads: list[bytes], data_coding: int, *, udhi: bool | None = None) -> str:
    """The text of a message from its parts' ``short_message`` payloads: the inverse of
    :func:`encode_parts` (``data_coding`` 0: GSM-7 unpacked septets; 8: UCS-2).

    ``udhi`` says whether the payloads start with a user data header (the ``esm_class`` UDHI bit,
    SMPP 3.4 §5.2.12); by default, as :func:`encode_parts` makes them, they do when there is
    more than one. Each header is skipped by its UDHL octet (TS 23.040 §9.2.3.24). If every
    header has a concatenation element (IEI 0x00 or 0x08), the parts are put in the order of
    their numbers, which must then be 1 to the count, with one reference and one count;
    otherwise they are joined as given. The bodies are joined before decoding, so an escape or
    surrogate pair split across parts by another sender decodes whole.

    ``ValueError`` (``UnicodeDecodeError`` included) for another ``data_coding``, a malformed
    header, an inconsistent set of parts, or a body that does not decode.
    """
    if data_coding not in (DATA_CODING_GSM7, DATA_CODING_UCS2):
        raise ValueError(f"data_coding {data_coding} is not 0 (GSM-7) or 8 (UCS-2)")
    bodies = list(payloads)
    if len(payloads) > 1 if udhi is None else udhi:
        split = [_split_udh(payload) for payload in payloads]
        bodies = [body for _, body in split]
        concat = [_concatenation(elements) for elements, _ in split]
        numbered = [element for element in concat if element is not None]
        if numbered and len(numbered) == len(concat):
            bodies = _in_part_order(bodies, numbered)
    data = b"".join(bodies)
    return decode_gsm7_unpacked(data) if data_coding == DATA_CODING_GSM7 else decode_ucs2(data)


def encode_gsm7_unpacked(text: str) -> bytes:
    """GSM-7 with one septet per octet and ``0x1B`` escapes: SMPP ``data_coding`` 0 as most SMSCs
    take it. Raises ``UnicodeEncodeError`` for a character outside the alphabet."""
    if not GSM7_CHARACTERS.issuperset(text):
        index = next(i for i, char in enumerate(text) if char not in GSM7_CHARACTERS)
        raise UnicodeEncodeError("gsm-7", text, index, index + 1, "not in the GSM-7 alphabet")
    return text.translate(_TO_SEPTETS).encode("latin-1")


def decode_gsm7_unpacked(data: bytes) -> str:
    """Inverse of :func:`encode_gsm7_unpacked`; ``UnicodeDecodeError`` for an octet above 0x7F.

    TS 23.038 §6.2.1.1: an escape followed by a code the extension table does not define shows the
    default-alphabet character of that code, and escape-escape (reserved) shows a space; a
    trailing escape is shown as a space too.
    """
    if data and max(data) > 0x7F:
        index = next(i for i, octet in enumerate(data) if octet > 0x7F)
        raise UnicodeDecodeError("gsm-7", data, index, index + 1, "not a septet")
    if ESCAPE not in data:
        return data.decode("latin-1").translate(_FROM_SEPTETS)
    return "".join(_decode_escaped(data))


def encode_ucs2(text: str) -> bytes:
    """UTF-16 big-endian (SMPP ``data_coding`` 8); non-BMP characters become surrogate pairs."""
    return text.encode("utf-16-be")


def decode_ucs2(data: bytes) -> str:
    """Inverse of :func:`encode_ucs2`; ``UnicodeDecodeError`` for an odd length or a lone
    surrogate."""
    return data.decode("utf-16-be")


# --- helpers ----------------------------------------------------------------------------------


def _measure(text: str) -> tuple[Encoding, int]:
    """The encoding of ``text`` and its length in that encoding's units (septets or UTF-16
    units). Set and ``max`` scans run in C; characters are counted one by one only when an
    extension character is present, and then only those."""
    if GSM7_CHARACTERS.issuperset(text):
        if _EXTENSION_CHARS.isdisjoint(text):
            return "GSM7", len(text)
        return "GSM7", len(text) + sum(text.count(char) for char in _EXTENSION_CHARS)
    if max(text) <= _LAST_BMP:
        return "UCS2", len(text)
    return "UCS2", len(text.encode("utf-16-le", "surrogatepass")) // 2


def _split_gsm7(text: str, multi: int) -> list[str]:
    """Cut the septet string every ``multi`` septets, one septet earlier where the cut would
    separate an escape from its code. The septet string is built in C (``str.translate``) and
    each part is then two slices and a count, so long texts cost no per-character Python work."""
    septets = text.translate(_TO_SEPTETS)
    escape = chr(ESCAPE)
    parts: list[str] = []
    char_start = septet_start = 0
    while septet_start < len(septets):
        septet_end = septet_start + multi
        if septet_end < len(septets) and septets[septet_end - 1] == escape:
            septet_end -= 1  # an escape septet is always the first of a pair
        chunk = septets[septet_start:septet_end]
        char_end = char_start + len(chunk) - chunk.count(escape)
        parts.append(text[char_start:char_end])
        char_start, septet_start = char_end, septet_end
    return parts


def _split_ucs2(text: str, multi: int) -> list[str]:
    """Cut the UTF-16 encoding every ``multi`` units, one unit earlier where the cut would
    separate a high surrogate from its low one."""
    data = text.encode("utf-16-be", "surrogatepass")
    step = 2 * multi
    parts: list[str] = []
    start = 0
    while start < len(data):
        end = start + step
        if end < len(data) and 0xD8 <= data[end - 2] <= 0xDB:  # high surrogate before the cut
            end -= 2
        parts.append(data[start:end].decode("utf-16-be", "surrogatepass"))
        start = end
    return parts


def _decode_escaped(data: bytes) -> list[str]:
    chars: list[str] = []
    escaped = False
    for septet in data:
        if escaped:
            escaped = False
            if septet == ESCAPE:
                chars.append(" ")
            else:
                chars.append(GSM7_EXTENSION.get(septet) or GSM7_BASIC[septet])
        elif septet == ESCAPE:
            escaped = True
        else:
            chars.append(GSM7_BASIC[septet])
    if escaped:
        chars.append(" ")
    return chars


def _split_udh(payload: bytes) -> tuple[bytes, bytes]:
    """(information elements, body) of a payload starting with a user data header: UDHL, then
    UDHL octets of elements (TS 23.040 §9.2.3.24)."""
    if not payload:
        raise ValueError("payload is empty but should start with a user data header")
    end = 1 + payload[0]
    if end > len(payload):
        raise ValueError(f"user data header of {payload[0]} octets overruns the payload")
    return payload[1:end], payload[end:]


def _concatenation(elements: bytes) -> tuple[int, int, int] | None:
    """(reference, count, number) of the concatenation element among ``elements`` (each IEI,
    IEDL, data; TS 23.040 §9.2.3.24), or ``None`` if there is none. The two concatenation
    elements are exclusive and not repeatable, so the last one counts (§9.2.3.24); other
    elements, and concatenation elements of the wrong length, are skipped."""
    found = None
    at = 0
    while at < len(elements):
        if at + 2 > len(elements):
            raise ValueError("user data header ends inside an information element")
        iei, length = elements[at], elements[at + 1]
        data = elements[at + 2 : at + 2 + length]
        if len(data) < length:
            raise ValueError(f"information element {iei:#04x} overruns the user data header")
        if iei == _IEI_CONCAT_8BIT and length == 3:
            found = data[0], data[1], data[2]
        elif iei == _IEI_CONCAT_16BIT and length == 4:
            found = data[0] << 8 | data[1], data[2], data[3]
        at += 2 + length
    return found


def _in_part_order(bodies: list[bytes], concat: list[tuple[int, int, int]]) -> list[bytes]:
    """``bodies`` sorted by part number, after checking that the concatenation elements
    (reference, count, number) describe exactly these parts of one message."""
    references = {reference for reference, _, _ in concat}
    counts = {count for _, count, _ in concat}
    numbers = sorted(number for _, _, number in concat)
    if len(references) != 1:
        raise ValueError(f"parts of different messages: references {sorted(references)}")
    if counts != {len(bodies)}:
        raise ValueError(f"part counts {sorted(counts)} for {len(bodies)} payloads")
    if numbers != list(range(1, len(bodies) + 1)):
        raise ValueError(f"part numbers {numbers} are not 1 to {len(bodies)}")
    order = sorted(range(len(bodies)), key=lambda index: concat[index][2])
    return [bodies[index] for index in order]


# --- public names for the header parsing, shared with SMPP reassembly ---------------------------


def split_udh(payload: bytes) -> tuple[bytes, bytes]:
    """(information elements, body) of a payload starting with a user data header (UDHL, then
    UDHL octets of elements; TS 23.040 §9.2.3.24). Public so that the SMPP door's reassembly
    reads headers exactly as :func:`decode_parts` does. ``ValueError`` for an empty payload or a
    UDHL that overruns it."""
    return _split_udh(payload)


def concatenation_element(elements: bytes) -> tuple[int, int, int] | None:
    """(reference, count, number) of the concatenation element (IEI 0x00 or 0x08) among the
    information elements ``elements``, or ``None``; the last one counts and other elements are
    skipped by their length, as in :func:`decode_parts`. The count and number are returned as
    sent, unchecked. ``ValueError`` for an element that overruns ``elements``."""
    return _concatenation(elements)
