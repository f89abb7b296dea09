"""SMPP 3.4 PDU codec, sans-IO: ``encode(pdu) -> bytes`` and :class:`PduReader` for bytes in.

Wire format (§3.2): a 16-octet header ``command_length, command_id, command_status,
sequence_number`` (4-octet big-endian Integers; command_length counts the header), the mandatory
body of chapter 4, then optional TLVs (§3.2.4: 2-octet tag, 2-octet length, value).

Each command has a *layout*: its mandatory fields as steps (a C-Octet String with its maximum, a
run of 1-octet Integers read with one ``struct`` call, ``sm_length`` + ``short_message``, the
submit_multi address lists). One table drives both directions, as aioquic's frame table does.

Malformed input only ever raises :class:`~smsgate.smpp.errors.SmppDecodeError` subclasses that
say what to answer (see :mod:`smsgate.smpp.errors`); :func:`error_response` builds that answer.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterator, Sequence
from operator import attrgetter
from struct import Struct
from struct import error as StructError  # noqa: N812
from typing import Any, Final

from smsgate.smpp.buffer import Buffer, BufferTruncatedError, FieldTooLongError
from smsgate.smpp.constants import MAX_SHORT_MESSAGE, CommandId, DestFlag
from smsgate.smpp.errors import (
    InvalidCommandLengthError,
    InvalidDestFlagError,
    InvalidParameterLengthError,
    InvalidTlvStreamError,
    SmppDecodeError,
    SmppEncodeError,
    TruncatedBodyError,
    UnknownCommandIdError,
)
from smsgate.smpp.pdu import (
    PDU_CLASSES,
    DestAddress,
    DistributionList,
    Pdu,
    SmeAddress,
    Tlv,
    UnsuccessSme,
    from_values,
)

__all__ = [
    "HEADER_SIZE",
    "NEED_DATA",
    "NeedData",
    "PduReader",
    "decode",
    "encode",
    "error_response",
]

HEADER_SIZE: Final = 16
_HEADER = Struct(">IIII")
_U32 = Struct(">I")
_TLV_HEADER = Struct(">HH")
_U8 = Struct(">B")
_DEST_SME = Struct(">BBB")  # dest_flag, dest_addr_ton, dest_addr_npi (§4.5.1.1)
_UNSUCCESS_TAIL = Struct(">I")  # error_status_code (§4.5.2)
_ADDRESS_MAX = 21  # destination_addr / dl_name in submit_multi(_resp), incl. NUL


class NeedData(enum.Enum):
    """Returned by :meth:`PduReader.next_pdu` when no whole PDU is buffered yet."""

    NEED_DATA = enum.auto()


NEED_DATA: Final = NeedData.NEED_DATA


# --- Layouts (chapter 4 field tables) -------------------------------------------------------------


# Step kinds; plain ints because the decode loop compares them for every field.
_K_CSTRING, _K_INTS, _K_SM, _K_DESTS, _K_UNSUCCESS = range(5)


_Step = tuple[int, Any, Any]


def _c(name: str, maximum: int) -> _Step:
    return (_K_CSTRING, name, maximum)


def _ints(*names: str) -> _Step:
    return (_K_INTS, names, Struct(">" + "B" * len(names)))


_SM: _Step = (_K_SM, "short_message", None)
_TON_NPI = ("source_addr_ton", "source_addr_npi")
_DEST_TON_NPI = ("dest_addr_ton", "dest_addr_npi")

_BIND = (  # §4.1.1, §4.1.3, §4.1.5
    _c("system_id", 16),
    _c("password", 9),
    _c("system_type", 13),
    _ints("interface_version", "addr_ton", "addr_npi"),
    _c("address_range", 41),
)
_BIND_RESP = (_c("system_id", 16),)  # §4.1.2, §4.1.4, §4.1.6
_MESSAGE_ID = (_c("message_id", 65),)
_SHORT_MESSAGE = (  # §4.4.1 submit_sm, §4.6.1 deliver_sm
    _c("service_type", 6),
    _ints(*_TON_NPI),
    _c("source_addr", 21),
    _ints(*_DEST_TON_NPI),
    _c("destination_addr", 21),
    _ints("esm_class", "protocol_id", "priority_flag"),
    _c("schedule_delivery_time", 17),
    _c("validity_period", 17),
    _ints("registered_delivery", "replace_if_present_flag", "data_coding", "sm_default_msg_id"),
    _SM,
)

_LAYOUTS: dict[int, tuple[_Step, ...]] = {
    CommandId.BIND_TRANSMITTER: _BIND,
    CommandId.BIND_RECEIVER: _BIND,
    CommandId.BIND_TRANSCEIVER: _BIND,
    CommandId.BIND_TRANSMITTER_RESP: _BIND_RESP,
    CommandId.BIND_RECEIVER_RESP: _BIND_RESP,
    CommandId.BIND_TRANSCEIVER_RESP: _BIND_RESP,
    CommandId.OUTBIND: (_c("system_id", 16), _c("password", 9)),  # §4.1.7
    CommandId.UNBIND: (),
    CommandId.UNBIND_RESP: (),
    CommandId.GENERIC_NACK: (),
    CommandId.ENQUIRE_LINK: (),
    CommandId.ENQUIRE_LINK_RESP: (),
    CommandId.SUBMIT_SM: _SHORT_MESSAGE,
    CommandId.SUBMIT_SM_RESP: _MESSAGE_ID,
    CommandId.DELIVER_SM: _SHORT_MESSAGE,
    CommandId.DELIVER_SM_RESP: _MESSAGE_ID,
    CommandId.SUBMIT_MULTI: (  # §4.5.1
        _c("service_type", 6),
        _ints(*_TON_NPI),
        _c("source_addr", 21),
        (_K_DESTS, "dest_addresses", None),
        _ints("esm_class", "protocol_id", "priority_flag"),
        _c("schedule_delivery_time", 17),
        _c("validity_period", 17),
        _ints("registered_delivery", "replace_if_present_flag", "data_coding", "sm_default_msg_id"),
        _SM,
    ),
    CommandId.SUBMIT_MULTI_RESP: (  # §4.5.2
        _c("message_id", 65),
        (_K_UNSUCCESS, "unsuccess_smes", None),
    ),
    CommandId.DATA_SM: (  # §4.7.1: addresses up to 65 here
        _c("service_type", 6),
        _ints(*_TON_NPI),
        _c("source_addr", 65),
        _ints(*_DEST_TON_NPI),
        _c("destination_addr", 65),
        _ints("esm_class", "registered_delivery", "data_coding"),
    ),
    CommandId.DATA_SM_RESP: _MESSAGE_ID,
    CommandId.QUERY_SM: (_c("message_id", 65), _ints(*_TON_NPI), _c("source_addr", 21)),
    CommandId.QUERY_SM_RESP: (  # §4.8.2
        _c("message_id", 65),
        _c("final_date", 17),
        _ints("message_state", "error_code"),
    ),
    CommandId.CANCEL_SM: (  # §4.9.1
        _c("service_type", 6),
        _c("message_id", 65),
        _ints(*_TON_NPI),
        _c("source_addr", 21),
        _ints(*_DEST_TON_NPI),
        _c("destination_addr", 21),
    ),
    CommandId.CANCEL_SM_RESP: (),
    CommandId.REPLACE_SM: (  # §4.10.1
        _c("message_id", 65),
        _ints(*_TON_NPI),
        _c("source_addr", 21),
        _c("schedule_delivery_time", 17),
        _c("validity_period", 17),
        _ints("registered_delivery", "sm_default_msg_id"),
        _SM,
    ),
    CommandId.REPLACE_SM_RESP: (),
    CommandId.ALERT_NOTIFICATION: (  # §4.12.1
        _ints(*_TON_NPI),
        _c("source_addr", 65),
        _ints("esme_addr_ton", "esme_addr_npi"),
        _c("esme_addr", 65),
    ),
}


def _field_names(layout: Sequence[_Step]) -> tuple[str, ...]:
    names: list[str] = []
    for kind, name, _ in layout:
        names.extend(name if kind is _K_INTS else (name,))
    return tuple(names)


# Field defaults per class, to omit the body of an error response (§4.4.2 and the other *_resp).
_DEFAULTS: dict[int, tuple[tuple[str, ...], tuple[Any, ...]]] = {}
for _cid, _layout in _LAYOUTS.items():
    _names = _field_names(_layout)
    _fields = PDU_CLASSES[_cid].__dataclass_fields__
    _DEFAULTS[_cid] = (_names, tuple(_fields[n].default for n in _names))


# Decoding builds each PDU from the list of its values (pdu.from_values): no keyword dict, no
# __init__. A layout lists a command's body fields in its class's field order (checked below).
_Builder = Callable[[Sequence[Any]], Pdu]


def _fast_steps(layout: Sequence[_Step]) -> tuple[tuple[int, Any], ...] | None:
    """The layout as (kind, maximum or struct) steps, or None when it holds a list kind (the
    submit_multi ones, rare enough to take the general path)."""
    if any(kind in (_K_DESTS, _K_UNSUCCESS) for kind, _, _ in layout):
        return None
    return tuple((kind, arg) for kind, _, arg in layout)


_FAST: dict[int, tuple[tuple[tuple[int, Any], ...], _Builder]] = {}
for _cid, _layout in _LAYOUTS.items():
    _steps = _fast_steps(_layout)
    if _steps is not None:
        _cls = PDU_CLASSES[_cid]
        if _field_names(_layout) != tuple(f.name for f in dataclasses.fields(_cls))[3:]:
            raise AssertionError(f"{_cls.__name__}: the layout is not in field order")
        _FAST[_cid] = (_steps, from_values(_cls))


# --- Encoding ------------------------------------------------------------------------------------


def _cstring(value: str, maximum: int, name: str) -> bytes:
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise SmppEncodeError(f"{name}: {value!r} is not Latin-1/ASCII") from exc
    if len(raw) >= maximum or 0 in raw:
        raise SmppEncodeError(f"{name}: {value!r} does not fit a C-Octet String of {maximum}")
    return raw + b"\0"


def _short_message(value: bytes) -> bytes:
    if len(value) > MAX_SHORT_MESSAGE:
        raise SmppEncodeError(
            f"short_message of {len(value)} octets; over 254 use message_payload (§5.2.21)"
        )
    return _U8.pack(len(value)) + value


def _dest_addresses(value: Sequence[DestAddress]) -> bytes:
    parts = [_U8.pack(len(value))]  # number_of_dests
    for dest in value:
        if isinstance(dest, SmeAddress):
            parts.append(_DEST_SME.pack(DestFlag.SME_ADDRESS, dest.ton, dest.npi))
            parts.append(_cstring(dest.address, _ADDRESS_MAX, "destination_addr"))
        else:
            parts.append(_U8.pack(DestFlag.DISTRIBUTION_LIST))
            parts.append(_cstring(dest.name, _ADDRESS_MAX, "dl_name"))
    return b"".join(parts)


def _unsuccess_smes(value: Sequence[UnsuccessSme]) -> bytes:
    parts = [_U8.pack(len(value))]  # no_unsuccess
    for sme in value:
        parts.append(_U8.pack(sme.ton) + _U8.pack(sme.npi))
        parts.append(_cstring(sme.address, _ADDRESS_MAX, "destination_addr"))
        parts.append(_UNSUCCESS_TAIL.pack(sme.error_status_code))
    return b"".join(parts)


def _omit_body(pdu: Pdu) -> bool:
    """An error response whose fields are all defaults is sent header-only (§4.4.2)."""
    if not pdu.command_status or not pdu.is_response or pdu.tlvs:
        return False
    names, defaults = _DEFAULTS[pdu.command_id]
    return all(getattr(pdu, n) == d for n, d in zip(names, defaults, strict=True))


def encode(pdu: Pdu) -> bytes:
    """The wire form of ``pdu`` (§3.2): header, mandatory body, TLVs in order.

    Raises :class:`SmppEncodeError` for a field that does not fit (a C-Octet String over its
    maximum, an integer out of range, a short_message over 254 octets, more than 255 entries)."""
    try:
        parts: list[bytes] = [b""]
        if not pdu.command_status or not _omit_body(pdu):
            values, steps = _ENCODE[pdu.command_id]
            fields = values(pdu)
            i = 0
            for kind, name, arg in steps:
                if kind is _K_CSTRING:
                    parts.append(_cstring(fields[i], arg, name))
                    i += 1
                elif kind is _K_INTS:
                    count = len(name)
                    parts.append(arg.pack(*fields[i : i + count]))
                    i += count
                elif kind is _K_SM:
                    parts.append(_short_message(fields[i]))
                    i += 1
                elif kind is _K_DESTS:
                    parts.append(_dest_addresses(fields[i]))
                    i += 1
                else:
                    parts.append(_unsuccess_smes(fields[i]))
                    i += 1
        for tlv in pdu.tlvs:
            parts.append(_TLV_HEADER.pack(tlv.tag, len(tlv.value)))
            parts.append(tlv.value)
        body_length = sum(map(len, parts))
        parts[0] = _HEADER.pack(
            HEADER_SIZE + body_length, pdu.command_id, pdu.command_status, pdu.sequence_number
        )
    except StructError as exc:
        raise SmppEncodeError(f"{type(pdu).__name__}: {exc}") from exc
    return b"".join(parts)


def _field_values(names: tuple[str, ...]) -> Any:
    """One C call that reads a PDU's mandatory fields, in layout order, as a tuple."""
    if not names:
        return lambda _pdu: ()
    if len(names) == 1:
        (name,) = names
        return lambda pdu: (getattr(pdu, name),)
    return attrgetter(*names)


# command_id -> (its fields' getter, its layout)
_ENCODE: dict[int, tuple[Any, tuple[_Step, ...]]] = {
    cid: (_field_values(_field_names(layout)), layout) for cid, layout in _LAYOUTS.items()
}


# --- Decoding ------------------------------------------------------------------------------------


def _pull_dest_addresses(buf: Buffer, command_id: int, sequence_number: int) -> tuple[Any, ...]:
    count = buf.pull_uint8()
    dests: list[DestAddress] = []
    for _ in range(count):
        flag = buf.pull_uint8()
        if flag == DestFlag.SME_ADDRESS:
            ton, npi = buf.pull_struct(_TON_NPI_STRUCT)
            dests.append(SmeAddress(buf.pull_cstring(_ADDRESS_MAX), ton, npi))
        elif flag == DestFlag.DISTRIBUTION_LIST:
            dests.append(DistributionList(buf.pull_cstring(_ADDRESS_MAX)))
        else:
            raise InvalidDestFlagError(
                f"dest_flag {flag}", command_id=command_id, sequence_number=sequence_number
            )
    return tuple(dests)


_TON_NPI_STRUCT = Struct(">BB")


def _pull_unsuccess_smes(buf: Buffer) -> tuple[UnsuccessSme, ...]:
    count = buf.pull_uint8()
    smes: list[UnsuccessSme] = []
    for _ in range(count):
        ton, npi = buf.pull_struct(_TON_NPI_STRUCT)
        address = buf.pull_cstring(_ADDRESS_MAX)
        (status,) = buf.pull_struct(_UNSUCCESS_TAIL)
        smes.append(UnsuccessSme(address, ton, npi, status))
    return tuple(smes)


def _pull_tlvs(
    data: bytes | bytearray, pos: int, end: int, command_id: int, sequence_number: int
) -> tuple[Tlv, ...]:
    """TLVs up to ``end`` (§3.2.4); any header or value past the end is ESME_RINVOPTPARSTREAM."""
    tlvs: list[Tlv] = []
    unpack = _TLV_HEADER.unpack_from
    while pos < end:
        if end - pos < 4:
            raise InvalidTlvStreamError(
                f"{end - pos} octets left for a TLV header",
                command_id=command_id,
                sequence_number=sequence_number,
            )
        tag, length = unpack(data, pos)
        pos += 4
        if pos + length > end:
            raise InvalidTlvStreamError(
                f"TLV 0x{tag:04x} length {length} runs past the PDU",
                command_id=command_id,
                sequence_number=sequence_number,
            )
        tlvs.append(Tlv(tag, bytes(data[pos : pos + length])))
        pos += length
    return tuple(tlvs)


def _decode_pdu(
    data: bytes | bytearray, pos: int, end: int, command_id: int, status: int, seq: int
) -> Pdu:
    """Decode one framed PDU at ``data[pos:end]`` whose header was already read.

    The usual PDU takes the straight path below; anything it does not expect (a field past
    the end, a C-Octet String without its NUL, an unknown or list-bearing command, a body-less
    error response) is decoded again by :func:`_decode_checked`, which says exactly what is
    wrong."""
    fast = _FAST.get(command_id)
    start = pos + HEADER_SIZE
    if fast is None or start == end:
        return _decode_checked(data, pos, end, command_id, status, seq)
    steps, build = fast
    values: list[Any] = [seq, status, ()]
    append = values.append
    find = data.find
    at = start
    for kind, arg in steps:
        if kind is _K_CSTRING:
            limit = at + arg
            nul = find(0, at, limit if limit < end else end)
            if nul < 0:
                return _decode_checked(data, pos, end, command_id, status, seq)
            append(data[at:nul].decode("latin-1"))
            at = nul + 1
        elif kind is _K_INTS:
            following = at + arg.size
            if following > end:
                return _decode_checked(data, pos, end, command_id, status, seq)
            values.extend(arg.unpack_from(data, at))
            at = following
        else:  # _K_SM
            if at >= end or data[at] > MAX_SHORT_MESSAGE or at + 1 + data[at] > end:
                return _decode_checked(data, pos, end, command_id, status, seq)
            following = at + 1 + data[at]
            append(bytes(data[at + 1 : following]))
            at = following
    if at < end:
        values[2] = _pull_tlvs(data, at, end, command_id, seq)
    pdu: Pdu = build(values)
    return pdu


def _decode_checked(
    data: bytes | bytearray, pos: int, end: int, command_id: int, status: int, seq: int
) -> Pdu:
    """Decode one framed PDU field by field through a :class:`Buffer`, whose errors say which
    field is wrong and where."""
    cls = PDU_CLASSES.get(command_id)
    if cls is None:
        raise UnknownCommandIdError(
            f"command_id 0x{command_id:08x}", command_id=command_id, sequence_number=seq
        )
    start = pos + HEADER_SIZE
    if start == end and status and command_id & 0x80000000:
        return cls(sequence_number=seq, command_status=status)  # error resp without body
    kwargs: dict[str, Any] = {"sequence_number": seq, "command_status": status}
    buf = Buffer(data, start, end)
    try:
        for kind, name, arg in _LAYOUTS[command_id]:
            if kind is _K_CSTRING:
                kwargs[name] = buf.pull_cstring(arg)
            elif kind is _K_INTS:
                kwargs.update(zip(name, buf.pull_struct(arg), strict=True))
            elif kind is _K_SM:
                length = buf.pull_uint8()
                if length > MAX_SHORT_MESSAGE:
                    raise TruncatedBodyError(
                        f"sm_length {length} over 254 (§5.2.21)",
                        command_id=command_id,
                        sequence_number=seq,
                    )
                kwargs[name] = buf.pull_bytes(length)
            elif kind is _K_DESTS:
                kwargs[name] = _pull_dest_addresses(buf, command_id, seq)
            else:
                kwargs[name] = _pull_unsuccess_smes(buf)
    except BufferTruncatedError as exc:
        raise TruncatedBodyError(
            f"{cls.__name__}: {exc}", command_id=command_id, sequence_number=seq
        ) from None
    except FieldTooLongError as exc:
        raise InvalidParameterLengthError(
            f"{cls.__name__}: {exc}", command_id=command_id, sequence_number=seq
        ) from None
    if buf.pos < end:
        kwargs["tlvs"] = _pull_tlvs(data, buf.pos, end, command_id, seq)
    return cls(**kwargs)


def decode(data: bytes) -> Pdu:
    """Decode exactly one whole PDU (header included); see :class:`PduReader` for streams."""
    if len(data) < HEADER_SIZE:
        raise InvalidCommandLengthError(f"{len(data)} octets is shorter than a PDU header")
    length, command_id, status, seq = _HEADER.unpack_from(data)
    if length != len(data):
        raise InvalidCommandLengthError(
            f"command_length {length} for {len(data)} octets",
            command_id=command_id,
            sequence_number=seq,
        )
    return _decode_pdu(data, 0, length, command_id, status, seq)


def error_response(error: SmppDecodeError) -> Pdu:
    """The PDU answering a decode error: the request's ``*_resp`` or generic_nack, with the
    error's command_status and the sequence number echoed (§4.3, §5.1.3)."""
    cls = PDU_CLASSES[error.response_command_id]
    return cls(sequence_number=error.sequence_number, command_status=error.command_status)


# --- Stream reader -------------------------------------------------------------------------------


class PduReader:
    """Cuts a byte stream into PDUs (§3.2: command_length frames each PDU).

    ``feed`` bytes as they arrive, then call :meth:`next_pdu` until it returns
    :data:`NEED_DATA` (or iterate). A PDU whose body is malformed raises its
    :class:`SmppDecodeError` once and is skipped: the next call goes on with the next PDU.
    A command_length under 16 or over ``max_pdu_size`` loses the framing:
    :class:`InvalidCommandLengthError` (``close_connection`` set) is raised again on every
    later call.
    """

    __slots__ = ("_buf", "_error", "_pos", "max_pdu_size")

    def __init__(self, max_pdu_size: int = 64 * 1024) -> None:
        if max_pdu_size < HEADER_SIZE:
            raise ValueError("max_pdu_size must be at least 16")
        self.max_pdu_size = max_pdu_size
        self._buf = bytearray()
        self._pos = 0
        self._error: InvalidCommandLengthError | None = None

    @property
    def buffered(self) -> int:
        """Octets received but not yet returned as PDUs."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_pdu(self) -> Pdu | NeedData:
        """The next whole PDU, or :data:`NEED_DATA`; raises only :class:`SmppDecodeError`."""
        if self._error is not None:
            raise self._error
        buf, pos = self._buf, self._pos
        available = len(buf) - pos
        if available < 4:
            return NEED_DATA
        (length,) = _U32.unpack_from(buf, pos)
        if length < HEADER_SIZE or length > self.max_pdu_size:
            command_id: int | None = None
            seq = 0
            if length >= HEADER_SIZE and available >= HEADER_SIZE:
                _, command_id, _, seq = _HEADER.unpack_from(buf, pos)
            self._error = InvalidCommandLengthError(
                f"command_length {length} outside 16..{self.max_pdu_size}",
                command_id=command_id,
                sequence_number=seq,
            )
            raise self._error
        if available < length:
            return NEED_DATA
        _, command_id, status, seq = _HEADER.unpack_from(buf, pos)
        self._pos = pos + length
        return _decode_pdu(buf, pos, pos + length, command_id, status, seq)

    def __iter__(self) -> Iterator[Pdu]:
        """Every whole PDU buffered; stops at :data:`NEED_DATA`."""
        while True:
            pdu = self.next_pdu()
            if pdu is NEED_DATA:
                return
            yield pdu
