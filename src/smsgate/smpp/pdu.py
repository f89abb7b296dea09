"""SMPP 3.4 PDUs as frozen dataclasses (chapter 4), one class per command.

Every PDU carries the header's ``sequence_number`` and ``command_status`` (§3.2) and its
optional parameters as ``tlvs``: a tuple of :class:`Tlv` in wire order. TLVs are kept verbatim,
known or not (§3.2.4.2: an unknown optional parameter must be ignored, not refused), so relaying a
PDU never drops one. :meth:`Pdu.tlv_int`, :meth:`Pdu.tlv_str`, :meth:`Pdu.tlv_bytes` read them as
typed values and :meth:`Pdu.with_tlv` / :meth:`Pdu.without_tlv` return changed copies.

Mandatory fields follow the spec's order. C-Octet Strings are ``str`` (decoded as Latin-1, so any
octet string round-trips; the spec asks for ASCII and the session validates content), and
``short_message`` is ``bytes``: its ``sm_length`` is derived, never stored. A response whose
``command_status`` is not ESME_ROK may come without a body (§4.4.2 and the other ``*_resp``
sections); it decodes to the field defaults.

Nothing here does I/O; :mod:`smsgate.smpp.codec` turns these into bytes and back.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from smsgate.smpp.constants import (
    RESPONSE_BIT,
    TLV_CSTRING_MAX,
    TLV_INT_SIZES,
    CommandId,
)
from smsgate.smpp.errors import InvalidTlvValueError, SmppEncodeError

__all__ = [
    "PDU_CLASSES",
    "AlertNotification",
    "BindReceiver",
    "BindReceiverResp",
    "BindTransceiver",
    "BindTransceiverResp",
    "BindTransmitter",
    "BindTransmitterResp",
    "CancelSm",
    "CancelSmResp",
    "DataSm",
    "DataSmResp",
    "DeliverSm",
    "DeliverSmResp",
    "DestAddress",
    "DistributionList",
    "EnquireLink",
    "EnquireLinkResp",
    "GenericNack",
    "Outbind",
    "Pdu",
    "QuerySm",
    "QuerySmResp",
    "ReplaceSm",
    "ReplaceSmResp",
    "SmeAddress",
    "SubmitMulti",
    "SubmitMultiResp",
    "SubmitSm",
    "SubmitSmResp",
    "Tlv",
    "Unbind",
    "UnbindResp",
    "UnsuccessSme",
    "from_values",
    "make_tlv",
]

_INT_FORMATS = {1: ">B", 2: ">H", 4: ">I"}


@dataclass(frozen=True, slots=True)
class Tlv:
    """One optional parameter (§3.2.4.1): a 16-bit tag and its raw value octets."""

    tag: int
    value: bytes


def make_tlv(tag: int, value: int | str | bytes) -> Tlv:
    """Build a TLV, encoding ``value`` by the tag's §5.3.2 type: an int for Integer tags
    (sized per :data:`TLV_INT_SIZES`), a str for C-Octet String tags (NUL added), bytes as is."""
    if isinstance(value, bytes):
        return Tlv(tag, value)
    if isinstance(value, int):
        size = TLV_INT_SIZES.get(tag)
        if size is None:
            raise SmppEncodeError(f"TLV 0x{tag:04x} is not an Integer parameter")
        try:
            return Tlv(tag, struct.pack(_INT_FORMATS[size], value))
        except struct.error as exc:
            raise SmppEncodeError(f"TLV 0x{tag:04x}: {value} does not fit {size} octets") from exc
    maximum = TLV_CSTRING_MAX.get(tag)
    if maximum is None:
        raise SmppEncodeError(f"TLV 0x{tag:04x} is not a C-Octet String parameter")
    raw = value.encode("latin-1") + b"\0"
    if len(raw) > maximum or b"\0" in raw[:-1]:
        raise SmppEncodeError(f"TLV 0x{tag:04x}: {value!r} is not a C-Octet String of {maximum}")
    return Tlv(tag, raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pdu:
    """Fields common to every PDU: the header (§3.2) less command_length, and the TLVs."""

    command_id: ClassVar[CommandId]

    sequence_number: int
    command_status: int = 0
    tlvs: tuple[Tlv, ...] = ()

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    def get_tlv(self, tag: int) -> Tlv | None:
        """The first TLV with ``tag``, or None."""
        for tlv in self.tlvs:
            if tlv.tag == tag:
                return tlv
        return None

    def tlv_bytes(self, tag: int) -> bytes | None:
        """The raw value of the first TLV with ``tag``."""
        tlv = self.get_tlv(tag)
        return None if tlv is None else tlv.value

    def tlv_int(self, tag: int) -> int | None:
        """An Integer TLV (§5.3.2) as an int; InvalidTlvValueError if its size is wrong."""
        tlv = self.get_tlv(tag)
        if tlv is None:
            return None
        size = TLV_INT_SIZES.get(tag, len(tlv.value))
        if len(tlv.value) != size or size not in _INT_FORMATS:
            raise self._bad_tlv(tag, f"length {len(tlv.value)}")
        return int.from_bytes(tlv.value, "big")

    def tlv_str(self, tag: int) -> str | None:
        """A C-Octet String TLV without its NUL; InvalidTlvValueError if malformed."""
        tlv = self.get_tlv(tag)
        if tlv is None:
            return None
        value = tlv.value
        maximum = TLV_CSTRING_MAX.get(tag, len(value))
        if not value or value.find(b"\0") != len(value) - 1 or len(value) > maximum:
            raise self._bad_tlv(tag, "not a NUL-terminated C-Octet String")
        return value[:-1].decode("latin-1")

    def with_tlv(self, tag: int, value: int | str | bytes) -> Self:
        """A copy with the first TLV of ``tag`` replaced in place, or appended if absent."""
        new = make_tlv(tag, value)
        tlvs = list(self.tlvs)
        for i, tlv in enumerate(tlvs):
            if tlv.tag == tag:
                tlvs[i] = new
                break
        else:
            tlvs.append(new)
        return dataclasses.replace(self, tlvs=tuple(tlvs))

    def without_tlv(self, tag: int) -> Self:
        """A copy without any TLV of ``tag``."""
        return dataclasses.replace(self, tlvs=tuple(t for t in self.tlvs if t.tag != tag))

    def _bad_tlv(self, tag: int, why: str) -> InvalidTlvValueError:
        return InvalidTlvValueError(
            f"TLV 0x{tag:04x}: {why}",
            command_id=self.command_id,
            sequence_number=self.sequence_number,
        )


# --- Session management (§4.1, §4.2, §4.3, §4.11) ------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Bind(Pdu):
    """bind_transmitter / bind_receiver / bind_transceiver body (§4.1.1, §4.1.3, §4.1.5)."""

    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class _BindResp(Pdu):
    """bind_*_resp body (§4.1.2, §4.1.4, §4.1.6); sc_interface_version goes in a TLV."""

    system_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransmitter(_Bind):
    """bind_transmitter (§4.1.1)."""

    command_id = CommandId.BIND_TRANSMITTER


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransmitterResp(_BindResp):
    """bind_transmitter_resp (§4.1.2)."""

    command_id = CommandId.BIND_TRANSMITTER_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class BindReceiver(_Bind):
    """bind_receiver (§4.1.3)."""

    command_id = CommandId.BIND_RECEIVER


@dataclass(frozen=True, slots=True, kw_only=True)
class BindReceiverResp(_BindResp):
    """bind_receiver_resp (§4.1.4)."""

    command_id = CommandId.BIND_RECEIVER_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransceiver(_Bind):
    """bind_transceiver (§4.1.5)."""

    command_id = CommandId.BIND_TRANSCEIVER


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransceiverResp(_BindResp):
    """bind_transceiver_resp (§4.1.6)."""

    command_id = CommandId.BIND_TRANSCEIVER_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class Outbind(Pdu):
    """outbind (§4.1.7): the SMSC asks an ESME to bind_receiver."""

    command_id = CommandId.OUTBIND

    system_id: str = ""
    password: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Unbind(Pdu):
    """unbind (§4.2.1); header only."""

    command_id = CommandId.UNBIND


@dataclass(frozen=True, slots=True, kw_only=True)
class UnbindResp(Pdu):
    """unbind_resp (§4.2.2); header only."""

    command_id = CommandId.UNBIND_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericNack(Pdu):
    """generic_nack (§4.3); header only, command_status says why."""

    command_id = CommandId.GENERIC_NACK


@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLink(Pdu):
    """enquire_link (§4.11.1); header only."""

    command_id = CommandId.ENQUIRE_LINK


@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLinkResp(Pdu):
    """enquire_link_resp (§4.11.2); header only."""

    command_id = CommandId.ENQUIRE_LINK_RESP


# --- Messages (§4.4, §4.5, §4.6, §4.7) ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _ShortMessage(Pdu):
    """submit_sm / deliver_sm body (§4.4.1, §4.6.1): identical layouts."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSm(_ShortMessage):
    """submit_sm (§4.4.1)."""

    command_id = CommandId.SUBMIT_SM


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSmResp(Pdu):
    """submit_sm_resp (§4.4.2)."""

    command_id = CommandId.SUBMIT_SM_RESP

    message_id: str = ""


@dataclass(frozen=True, slots=True)
class SmeAddress:
    """A submit_multi destination with dest_flag 1 (§5.2.25)."""

    address: str
    ton: int = 0
    npi: int = 0


@dataclass(frozen=True, slots=True)
class DistributionList:
    """A submit_multi destination with dest_flag 2: a distribution list name (§5.2.25)."""

    name: str


#: A submit_multi destination: dest_flag 1 (:class:`SmeAddress`) or 2 (:class:`DistributionList`).
DestAddress = SmeAddress | DistributionList


@dataclass(frozen=True, slots=True)
class UnsuccessSme:
    """One entry of submit_multi_resp's unsuccess_sme list (§4.5.2)."""

    address: str
    ton: int = 0
    npi: int = 0
    error_status_code: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitMulti(Pdu):
    """submit_multi (§4.5.1); number_of_dests is derived from ``dest_addresses``."""

    command_id = CommandId.SUBMIT_MULTI

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addresses: tuple[DestAddress, ...] = ()
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitMultiResp(Pdu):
    """submit_multi_resp (§4.5.2); no_unsuccess is derived from ``unsuccess_smes``."""

    command_id = CommandId.SUBMIT_MULTI_RESP

    message_id: str = ""
    unsuccess_smes: tuple[UnsuccessSme, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSm(_ShortMessage):
    """deliver_sm (§4.6.1); also carries delivery receipts (esm_class bit 2)."""

    command_id = CommandId.DELIVER_SM


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSmResp(Pdu):
    """deliver_sm_resp (§4.6.2); message_id is unused and NUL."""

    command_id = CommandId.DELIVER_SM_RESP

    message_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSm(Pdu):
    """data_sm (§4.7.1); the text travels in the message_payload TLV."""

    command_id = CommandId.DATA_SM

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSmResp(Pdu):
    """data_sm_resp (§4.7.2)."""

    command_id = CommandId.DATA_SM_RESP

    message_id: str = ""


# --- Ancillary operations (§4.8, §4.9, §4.10, §4.12) ----------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class QuerySm(Pdu):
    """query_sm (§4.8.1)."""

    command_id = CommandId.QUERY_SM

    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class QuerySmResp(Pdu):
    """query_sm_resp (§4.8.2); message_state per §5.2.28."""

    command_id = CommandId.QUERY_SM_RESP

    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelSm(Pdu):
    """cancel_sm (§4.9.1)."""

    command_id = CommandId.CANCEL_SM

    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelSmResp(Pdu):
    """cancel_sm_resp (§4.9.2); header only."""

    command_id = CommandId.CANCEL_SM_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceSm(Pdu):
    """replace_sm (§4.10.1)."""

    command_id = CommandId.REPLACE_SM

    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceSmResp(Pdu):
    """replace_sm_resp (§4.10.2); header only."""

    command_id = CommandId.REPLACE_SM_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertNotification(Pdu):
    """alert_notification (§4.12.1); no response is defined."""

    command_id = CommandId.ALERT_NOTIFICATION

    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""


#: command_id -> PDU class, for every command of §5.1.2.1.
PDU_CLASSES: dict[int, type[Pdu]] = {
    cls.command_id: cls
    for cls in (
        BindTransmitter,
        BindTransmitterResp,
        BindReceiver,
        BindReceiverResp,
        BindTransceiver,
        BindTransceiverResp,
        Outbind,
        Unbind,
        UnbindResp,
        GenericNack,
        SubmitSm,
        SubmitSmResp,
        SubmitMulti,
        SubmitMultiResp,
        DeliverSm,
        DeliverSmResp,
        DataSm,
        DataSmResp,
        QuerySm,
        QuerySmResp,
        CancelSm,
        CancelSmResp,
        ReplaceSm,
        ReplaceSmResp,
        EnquireLink,
        EnquireLinkResp,
        AlertNotification,
    )
}


def _slot_setters(cls: type[Pdu]) -> list[tuple[dataclasses.Field[Any], Callable[..., None]]]:
    """Each field of ``cls``, in field order, with its slot's member descriptor's setter:
    it writes the slot directly, past the frozen class's guard."""
    return [(field, getattr(cls, field.name).__set__) for field in dataclasses.fields(cls)]


def from_values(cls: type[Pdu]) -> Callable[[Sequence[Any]], Pdu]:
    """A builder of ``cls`` from the values of all its fields in field order (the codec's
    decoder: no keyword dict, no ``__init__``)."""
    setters = tuple(setter for _, setter in _slot_setters(cls))
    new = object.__new__

    def build(values: Sequence[Any]) -> Pdu:
        pdu: Pdu = new(cls)
        for setter, value in zip(setters, values, strict=True):
            setter(pdu, value)
        return pdu

    return build


def _quick_init(cls: type[Pdu]) -> None:
    """Give a PDU class an ``__init__`` with dataclasses' signature that sets each field
    through its slot's descriptor. Dataclasses' own goes through ``object.__setattr__`` (the
    way round a frozen class's guard), about twice as slow, and a PDU is built for every
    message several times over (its answer, the submit to a carrier, the receipt). The class
    stays frozen: only ``__init__`` writes its slots."""
    env: dict[str, object] = {}
    params: list[str] = []
    body: list[str] = []
    for field, setter in _slot_setters(cls):
        name = field.name
        env[f"_set_{name}"] = setter
        if field.default is not dataclasses.MISSING:
            env[f"_default_{name}"] = field.default
            params.append(f"{name}=_default_{name}")
        elif field.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{name}: a default factory is not supported")
        else:
            params.append(name)
        body.append(f"    _set_{name}(self, {name})")
    source = f"def __init__(self, *, {', '.join(params)}):\n" + "\n".join(body) + "\n"
    exec(source, env)  # noqa: S102 - generated from the class's own fields, as dataclasses does
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    setattr(cls, "__init__", init)  # noqa: B010 - mypy keeps the dataclass signature


for _cls in PDU_CLASSES.values():
    _quick_init(_cls)
