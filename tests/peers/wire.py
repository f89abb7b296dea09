"""The foreign SMSC's bytes: every PDU it reads or writes goes through smpplib here.

Nothing in this package imports smsgate: a connector tested against this peer is tested against
another library's idea of SMPP 3.4, so a misreading shared by smsgate's encoder and decoder
cannot cancel itself out.

smpplib's quirks, met here once so the server need not know them:

- ``make_pdu`` numbers a request from its client; without one it must be passed ``sequence``,
  and then it keeps the client's number instead, so the number is set again after building
  (the same helper as ``tests/doors/test_smpp_backpressure.py``'s ``_pdu``).
- ``parse_pdu`` builds the command before parsing, so a request needs ``sequence`` passed too.
- C-octet strings are given as ``str`` and come back as ``bytes``.
- An unknown TLV raises unless ``allow_unknown_opt_params``; with it, the TLV is skipped.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import smpplib.consts  # type: ignore[import-untyped]
import smpplib.gsm  # type: ignore[import-untyped]
import smpplib.smpp  # type: ignore[import-untyped]

__all__ = [
    "ESME_RALYBND",
    "ESME_RINVBNDSTS",
    "ESME_RINVCMDID",
    "ESME_RINVCMDLEN",
    "ESME_RINVDSTADR",
    "ESME_RINVPASWD",
    "ESME_RINVSYSID",
    "ESME_RMSGQFUL",
    "ESME_ROK",
    "ESME_RTHROTTLED",
    "GSM",
    "MAX_FRAME",
    "UCS2",
    "UDHI",
    "FrameError",
    "Pdu",
    "decode",
    "decode_text",
    "encode",
    "encode_response",
    "encode_text",
    "read_frame",
    "split_text",
    "text_of",
]

Pdu = Any
"""An ``smpplib.command.Command`` (smpplib is untyped)."""

MAX_FRAME = 64 * 1024
"""Longest PDU read; SMPP 3.4 sets no limit, real SMSCs use a few KB."""

ESME_ROK: int = smpplib.consts.SMPP_ESME_ROK
ESME_RINVCMDLEN: int = smpplib.consts.SMPP_ESME_RINVCMDLEN
ESME_RINVCMDID: int = smpplib.consts.SMPP_ESME_RINVCMDID
ESME_RINVBNDSTS: int = smpplib.consts.SMPP_ESME_RINVBNDSTS
ESME_RALYBND: int = smpplib.consts.SMPP_ESME_RALYBND
ESME_RINVDSTADR: int = smpplib.consts.SMPP_ESME_RINVDSTADR
ESME_RINVPASWD: int = smpplib.consts.SMPP_ESME_RINVPASWD
ESME_RINVSYSID: int = smpplib.consts.SMPP_ESME_RINVSYSID
ESME_RMSGQFUL: int = smpplib.consts.SMPP_ESME_RMSGQFUL
ESME_RTHROTTLED: int = smpplib.consts.SMPP_ESME_RTHROTTLED

GSM = 0x00
LATIN1 = 0x03
UCS2 = 0x08
UDHI = 0x40

_HEADER = struct.Struct(">LLLL")
_GSM_TABLE: str = smpplib.gsm.GSM_CHARACTER_TABLE
_GSM_UNUSED = "`"  # smpplib's filler for table positions with no character


class FrameError(Exception):
    """A PDU that cannot be read, carrying the status its generic_nack gives."""

    def __init__(self, status: int, sequence: int = 0) -> None:
        super().__init__(f"undecodable PDU (status 0x{status:x}, sequence {sequence})")
        self.status = status
        self.sequence = sequence


def encode(command: str, sequence: int, status: int = 0, **fields: object) -> bytes:
    """One PDU as bytes, built by smpplib from ``fields`` (strings as ``str``)."""
    pdu = smpplib.smpp.make_pdu(command, sequence=sequence, status=status, **fields)
    pdu.sequence = sequence
    data: bytes = pdu.generate()
    return data


def encode_response(command: str, sequence: int, status: int = 0, **fields: object) -> bytes:
    """A response PDU; with an error status, the header alone.

    SMPP 3.4 returns no body with a non-zero command_status for bind_*_resp (§4.1.2) and
    submit_sm_resp (§4.4.2); smpplib would write its fields anyway, so they are cut off.
    """
    data = encode(command, sequence, status, **fields)
    if status == 0:
        return data
    return _HEADER.pack(_HEADER.size, *_HEADER.unpack_from(data)[1:])


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """The next whole PDU, or None at a clean end of stream.

    A command_length under the 16-byte header or over :data:`MAX_FRAME` leaves no way to find
    the next PDU, so it raises :class:`FrameError` with ``ESME_RINVCMDLEN`` (SMPP 3.4 §3.3).
    """
    try:
        head = await reader.readexactly(_HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise FrameError(ESME_RINVCMDLEN) from None
        return None
    length, _, _, sequence = _HEADER.unpack(head)
    if not _HEADER.size <= length <= MAX_FRAME:
        raise FrameError(ESME_RINVCMDLEN, sequence)
    return head + await reader.readexactly(length - _HEADER.size)


def decode(frame: bytes) -> Pdu:
    """smpplib's reading of one whole PDU.

    Raises :class:`FrameError`: ``ESME_RINVCMDID`` for a command smpplib does not know (or a
    body it cannot parse, which leaves the same answer: a generic_nack).
    """
    _, _, _, sequence = _HEADER.unpack_from(frame)
    try:
        return smpplib.smpp.parse_pdu(frame, sequence=sequence, allow_unknown_opt_params=True)
    except Exception:  # smpplib raises whatever its slicing meets on a malformed body
        raise FrameError(ESME_RINVCMDID, sequence) from None


def text_of(value: object) -> str:
    """A C-octet string field as smpplib parsed it (bytes, or None when absent)."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return "" if value is None else str(value)


def gsm_encodable(text: str) -> bool:
    """True when every character of ``text`` is in the GSM 03.38 alphabet or its extension."""
    return _GSM_UNUSED not in text and all(char in _GSM_TABLE for char in text)


def encode_text(text: str, data_coding: int) -> bytes:
    """``text`` in ``data_coding``: GSM 03.38 unpacked (one septet a byte), Latin-1 or UCS-2."""
    if data_coding == GSM:
        if not gsm_encodable(text):
            raise ValueError(f"not in the GSM alphabet: {text!r}")
        data: bytes = smpplib.gsm.gsm_encode(text)
        return data
    if data_coding == LATIN1:
        return text.encode("latin-1")
    if data_coding == UCS2:
        return text.encode("utf-16-be")
    raise ValueError(f"data_coding {data_coding} is not one the peer writes")


def decode_text(data: bytes, data_coding: int) -> str:
    """The text of a message body (UDH already removed), for assertions."""
    if data_coding == UCS2:
        return data.decode("utf-16-be", errors="replace")
    if data_coding != GSM:
        return data.decode("latin-1")
    chars: list[str] = []
    escaped = False
    for byte in data:
        if byte == 0x1B and not escaped:
            escaped = True
            continue
        index = (0x80 + byte) if escaped else byte
        char = _GSM_TABLE[index] if index < len(_GSM_TABLE) else "?"
        chars.append("?" if char == _GSM_UNUSED else char)
        escaped = False
    return "".join(chars)


def split_text(data: bytes, data_coding: int, single: int, part: int) -> list[bytes]:
    """``data`` whole if it fits ``single`` octets, else in ``part``-octet pieces.

    Never splits a GSM escape from the character it escapes, nor a UTF-16 surrogate pair.
    """
    if len(data) <= single:
        return [data]
    pieces: list[bytes] = []
    start = 0
    while start < len(data):
        end = min(start + part, len(data))
        if end < len(data):
            if data_coding == GSM and data[end - 1] == 0x1B:
                end -= 1
            elif data_coding == UCS2 and 0xD8 <= data[end - 2] <= 0xDB:
                end -= 2
        pieces.append(data[start:end])
        start = end
    return pieces
