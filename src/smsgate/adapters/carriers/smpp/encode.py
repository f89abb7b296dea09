"""A message as the submit_sm PDUs its upstream SMSC wants (SMPP 3.4 §4.4.1): pure.

What each field gets, per :class:`~smsgate.domain.connectors.ConnectorSpec`:

- ``source_addr``: the message's sender (``+`` dropped from a number); its TON/NPI are the
  connector's ``source_ton``/``source_npi`` when set, else 5/0 (alphanumeric, §5.2.5) for a
  name, 1/1 (international, ISDN) for a number, 0/0 when there is no sender.
- ``destination_addr``: the E.164 number, TON/NPI 1/1.
- ``registered_delivery`` 1: a receipt for every final outcome (§5.2.17), which is how smsgate
  learns the fate of every message.
- ``validity_period``: the time the message has left (its expiry less ``now``) as a relative
  time (§7.1.2, ``YYMMDDhhmmss000R``), empty (the SMSC's default) for a message without one.
- ``data_coding`` and the body: a GSM-7 text in the connector's ``text_coding`` (0: GSM-7
  unpacked, one septet a byte; 1: IA5/ASCII; 3: Latin-1), a text the chosen coding cannot carry
  (``Δ`` in Latin-1) and any UCS-2 text in UCS-2 (8); binary data (the SMPP door's data_coding
  2/4, kept as hex on the message) as 8-bit binary (4).
- A long message, by ``long_method``: ``udh``, one submit_sm per part with a concatenation
  header (``05 00 03 ref count number``, TS 23.040 §9.2.3.24.1) and esm_class UDHI (0x40);
  ``sar``, one per part with the sar_msg_ref_num / sar_total_segments / sar_segment_seqnum
  TLVs (§5.3.2.22-24); ``payload``, one submit_sm with the whole body in message_payload
  (§5.3.2.32) for the SMSC to split. Parts are cut as :func:`smsgate.domain.text.split_parts`
  cuts texts (153 septets, 67 UCS-2 units) and binary data in 134 octets.

PDUs are built when they are sent (:meth:`Outbound.pdu`), with their sequence number: a frozen
PDU copied to change its number costs as much as building it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from smsgate.domain import text as sms_text
from smsgate.domain.connectors import ConnectorSpec
from smsgate.domain.models import Message
from smsgate.smpp.constants import TlvTag
from smsgate.smpp.pdu import SubmitSm, Tlv, make_tlv

__all__ = [
    "BINARY_CODING",
    "UCS2_CODING",
    "UDHI",
    "Outbound",
    "Part",
    "encode_message",
    "relative_validity",
]

#: esm_class bit 6: the short_message starts with a user data header (§5.2.12).
UDHI: Final = 0x40
#: data_coding 8: UCS2 (ISO/IEC-10646), §5.2.19.
UCS2_CODING: Final = 8
#: data_coding 4: 8-bit binary, §5.2.19.
BINARY_CODING: Final = 4
#: TON/NPI (§5.2.5, §5.2.6): international/ISDN for numbers, alphanumeric/unknown for names.
_NUMBER: Final = (1, 1)
_NAME: Final = (5, 0)
_NO_SENDER: Final = (0, 0)
_DESTINATION_TON, _DESTINATION_NPI = _NUMBER
_RECEIPT_ALWAYS: Final = 1
#: Octets of binary data in one message, and in each part under an 8-bit concatenation header.
_BINARY_SINGLE, _BINARY_PART = sms_text.BINARY_SINGLE_PART, sms_text.BINARY_MULTI_PART
_TEXT_CODECS: Final = {1: "ascii", 3: "latin-1"}


@dataclass(frozen=True, slots=True)
class Part:
    """One submit_sm's own fields: the user data and what says where it belongs."""

    short_message: bytes
    esm_class: int = 0
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message ready to send: the fields its parts share, and its parts in order."""

    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    validity_period: str
    data_coding: int
    parts: tuple[Part, ...]

    def pdu(self, index: int, sequence_number: int) -> SubmitSm:
        """The submit_sm of part ``index`` (from 0), numbered ``sequence_number``."""
        part = self.parts[index]
        return SubmitSm(
            sequence_number=sequence_number,
            source_addr_ton=self.source_addr_ton,
            source_addr_npi=self.source_addr_npi,
            source_addr=self.source_addr,
            dest_addr_ton=_DESTINATION_TON,
            dest_addr_npi=_DESTINATION_NPI,
            destination_addr=self.destination_addr,
            esm_class=part.esm_class,
            validity_period=self.validity_period,
            registered_delivery=_RECEIPT_ALWAYS,
            data_coding=self.data_coding,
            short_message=part.short_message,
            tlvs=part.tlvs,
        )

    def pdus(self) -> list[SubmitSm]:
        """Every part's submit_sm, numbered 0 (for looking at, not for sending)."""
        return [self.pdu(index, 0) for index in range(len(self.parts))]


def encode_message(
    message: Message, spec: ConnectorSpec, *, reference: int, now: float
) -> Outbound:
    """``message`` as ``spec``'s SMSC wants it; ``reference`` (0-65535) tells its parts apart
    from other long messages to the same number (its low 8 bits in a UDH, all 16 in SAR).
    ``now`` is the wall clock (POSIX seconds), for the validity left.

    ``ValueError`` for a message that cannot be sent: more than 255 parts, a text that does
    not encode (a lone surrogate), binary data that is not hex."""
    coding, chunks = _user_data(message, spec.text_coding)
    if len(chunks) > sms_text.MAX_PARTS:
        raise ValueError(f"{len(chunks)} parts; at most {sms_text.MAX_PARTS} can be concatenated")
    ton, npi, source = _source(message.sender, spec)
    return Outbound(
        source_addr=source,
        source_addr_ton=ton,
        source_addr_npi=npi,
        destination_addr=message.to,
        validity_period=_validity(message, now),
        data_coding=coding,
        parts=_parts(chunks, spec.long_method, reference),
    )


def _user_data(message: Message, text_coding: int) -> tuple[int, list[bytes]]:
    """(data_coding, the user data of each part, without headers)."""
    if message.encoding == "BINARY":
        data = bytes.fromhex(message.body)
        if len(data) <= _BINARY_SINGLE:
            return BINARY_CODING, [data]
        return BINARY_CODING, [
            data[at : at + _BINARY_PART] for at in range(0, len(data), _BINARY_PART)
        ]
    body = message.body
    if sms_text.encoding_for(body) == "GSM7":
        codec = _TEXT_CODECS.get(text_coding)
        pieces = sms_text.split_parts(body)
        if codec is None:
            return text_coding, [sms_text.encode_gsm7_unpacked(piece) for piece in pieces]
        try:
            return text_coding, [piece.encode(codec) for piece in pieces]
        except UnicodeEncodeError:
            # A GSM character the carrier's charset lacks: UCS-2 carries it. Every GSM
            # character is in the BMP, so the text is cut by characters.
            single, multi = sms_text.UCS2_SINGLE_PART, sms_text.UCS2_MULTI_PART
            cuts = [body] if len(body) <= single else _cut(body, multi)
            return UCS2_CODING, [sms_text.encode_ucs2(piece) for piece in cuts]
    return UCS2_CODING, [sms_text.encode_ucs2(piece) for piece in sms_text.split_parts(body)]


def _cut(text: str, size: int) -> list[str]:
    return [text[at : at + size] for at in range(0, len(text), size)]


def _parts(chunks: list[bytes], method: str, reference: int) -> tuple[Part, ...]:
    count = len(chunks)
    if count == 1:
        return (Part(chunks[0]),)
    if method == "payload":
        return (Part(b"", tlvs=(Tlv(TlvTag.MESSAGE_PAYLOAD, b"".join(chunks)),)),)
    if method == "sar":
        ref = make_tlv(TlvTag.SAR_MSG_REF_NUM, reference & 0xFFFF)
        total = make_tlv(TlvTag.SAR_TOTAL_SEGMENTS, count)
        return tuple(
            Part(chunk, tlvs=(ref, total, make_tlv(TlvTag.SAR_SEGMENT_SEQNUM, number)))
            for number, chunk in enumerate(chunks, 1)
        )
    header = bytes((5, 0x00, 3, reference & 0xFF, count))
    return tuple(
        Part(header + bytes((number,)) + chunk, esm_class=UDHI)
        for number, chunk in enumerate(chunks, 1)
    )


def _source(sender: str | None, spec: ConnectorSpec) -> tuple[int, int, str]:
    """(TON, NPI, source_addr) of the sender."""
    if not sender:
        ton, npi, source = *_NO_SENDER, ""
    elif sender.removeprefix("+").isdigit():
        ton, npi, source = *_NUMBER, sender.removeprefix("+")
    else:
        ton, npi, source = *_NAME, sender
    return (
        ton if spec.source_ton is None else spec.source_ton,
        npi if spec.source_npi is None else spec.source_npi,
        source,
    )


def _validity(message: Message, now: float) -> str:
    expires_at = message.expires_at
    if expires_at is None:
        return ""
    return relative_validity(expires_at - now)


def relative_validity(seconds: float) -> str:
    """``seconds`` from now as an SMPP relative time (§7.1.2): ``YYMMDDhhmmss000R``, counting
    365-day years and 30-day months as SMSCs (and smsgate's door) read them; at least 1 s,
    as an SMSC refuses a validity already over."""
    left = max(1, int(seconds))
    days, left = divmod(left, 86_400)
    hours, left = divmod(left, 3600)
    minutes, secs = divmod(left, 60)
    years, days = divmod(days, 365)
    months, days = divmod(days, 30)
    if years > 99:
        years, months, days, hours, minutes, secs = 99, 11, 29, 23, 59, 59
    return f"{years:02d}{months:02d}{days:02d}{hours:02d}{minutes:02d}{secs:02d}000R"
