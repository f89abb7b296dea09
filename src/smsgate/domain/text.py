"""SMS text: GSM 7-bit default alphabet and UCS-2, segment counting and splitting.

An SMS user data field holds 140 octets (3GPP TS 23.040 §9.2.3.24). Text goes in one of two
encodings (3GPP TS 23.038, formerly GSM 03.38):

- **GSM 7-bit default alphabet**: 160 septets per message. Ten characters live in the extension
  table and take two septets each: the escape ``0x1B`` and their code (TS 23.038 §6.2.1.1).
- **UCS-2** for anything else: 70 characters of 16 bits. Characters outside the Basic Multilingual
  Plane (emoji...) are sent as UTF-16 surrogate pairs and take two units, as handsets do.

A longer text is sent as a concatenated SMS: each part starts with a 6-octet user data header
(UDHL, IEI ``0x00``, IEDL, 8-bit reference, part count, part number; TS 23.040 §9.2.3.24.1), which
leaves 134 octets: 153 septets (48 header bits + 1 fill bit = 7 septets) or 67 UCS-2 units.

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
    "ESCAPE",
    "GSM7_BASIC",
    "GSM7_CHARACTERS",
    "GSM7_EXTENSION",
    "GSM7_MULTI_PART",
    "GSM7_SINGLE_PART",
    "MAX_PARTS",
    "UCS2_MULTI_PART",
    "UCS2_SINGLE_PART",
    "Encoding",
    "count_segments",
    "decode_gsm7_unpacked",
    "decode_ucs2",
    "encode_gsm7_unpacked",
    "encode_ucs2",
    "encoding_for",
    "split_parts",
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
#: The concatenation header counts parts in one octet: a longer text cannot be sent.
MAX_PARTS: Final = 255

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
_LIMITS: Final[Mapping[Encoding, tuple[int, int]]] = MappingProxyType(
    {"GSM7": (GSM7_SINGLE_PART, GSM7_MULTI_PART), "UCS2": (UCS2_SINGLE_PART, UCS2_MULTI_PART)}
)


def encoding_for(text: str) -> Encoding:
    """``GSM7`` if every character is in the default alphabet or its extension, else ``UCS2``."""
    return "GSM7" if GSM7_CHARACTERS.issuperset(text) else "UCS2"


def count_segments(text: str) -> int:
    """Number of SMS parts ``text`` is sent (and billed) as; equals ``len(split_parts(text))``.

    An empty text counts as one part, as Alibaba counts it.
    """
    if len(text) <= _ONE_PART_WHATEVER_THE_TEXT:
        return 1
    encoding, units = _measure(text)
    single, multi = _LIMITS[encoding]
    if units <= single:
        return 1
    if units == len(text):  # no escape or surrogate pair to keep whole
        return -(-units // multi)
    return len(_split_gsm7(text) if encoding == "GSM7" else _split_ucs2(text))


def split_parts(text: str) -> list[str]:
    """Split ``text`` into the texts of its parts; ``"".join(parts) == text``.

    A text that fits one message is one part; otherwise each part fits 153 septets or 67 UCS-2
    units (134 octets, 140 with the concatenation header), filled greedily.
    """
    if len(text) <= _ONE_PART_WHATEVER_THE_TEXT:
        return [text]
    encoding, units = _measure(text)
    single, multi = _LIMITS[encoding]
    if units <= single:
        return [text]
    if units == len(text):  # no escape or surrogate pair to keep whole
        return [text[start : start + multi] for start in range(0, len(text), multi)]
    return _split_gsm7(text) if encoding == "GSM7" else _split_ucs2(text)


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


def _split_gsm7(text: str) -> list[str]:
    """Cut the septet string every 153 septets, one septet earlier where the cut would separate
    an escape from its code. The septet string is built in C (``str.translate``) and each part
    is then two slices and a count, so long texts cost no per-character Python work."""
    septets = text.translate(_TO_SEPTETS)
    escape = chr(ESCAPE)
    parts: list[str] = []
    char_start = septet_start = 0
    while septet_start < len(septets):
        septet_end = septet_start + GSM7_MULTI_PART
        if septet_end < len(septets) and septets[septet_end - 1] == escape:
            septet_end -= 1  # an escape septet is always the first of a pair
        chunk = septets[septet_start:septet_end]
        char_end = char_start + len(chunk) - chunk.count(escape)
        parts.append(text[char_start:char_end])
        char_start, septet_start = char_end, septet_end
    return parts


def _split_ucs2(text: str) -> list[str]:
    """Cut the UTF-16 encoding every 67 units (134 octets), one unit earlier where the cut would
    separate a high surrogate from its low one."""
    data = text.encode("utf-16-be", "surrogatepass")
    step = 2 * UCS2_MULTI_PART
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
