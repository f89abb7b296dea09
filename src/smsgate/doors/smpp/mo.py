"""MO messages as the SMPP door carries them to an account's binds: deliver_sm with esm_class 0.

Pure functions from a stored :class:`~smsgate.domain.inbound.InboundMessage` to the wire:

- ``source_addr``: the handset's number, TON 1 / NPI 1 (international, ISDN: §5.2.5-6), or
  5 / 0 (alphanumeric) for the rare sender that is a name; ``destination_addr``: the number it
  wrote to, as the ``inbound`` document holds numbers (E.164 digits), TON 1 / NPI 1.
- ``esm_class`` 0 (default message type: not a receipt, §5.2.12); ``registered_delivery`` 0.
- The text in GSM-7 unpacked (``data_coding`` 0) when every character is in the GSM alphabet,
  else UCS-2 (8), as handsets' messages reach an ESME.
- A text longer than one message goes as concatenated parts, one deliver_sm each, as an SMSC
  delivers what a handset sent: a user data header ``05 00 03 ref count number`` (TS 23.040
  §9.2.3.24.1) and esm_class UDHI (0x40), 153 septets or 67 UCS-2 units a part. The 8-bit
  reference is the message's ``sequence_id`` modulo 256, so a message sent again has the
  reference it had. This is what ESMEs already take from carriers (Kannel joins such parts;
  Jasmin and smpplib hand them over as they come), where ``message_payload`` in a deliver_sm
  is not read by all of them.
- The rare text of more than 255 parts (a concatenation header counts to 255) goes whole in one
  deliver_sm's ``message_payload`` TLV (§5.3.2.32), cut at the TLV's 65,535 octets.

Parts are built when they are sent, with their sequence number (:func:`deliver_sm_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from smsgate.domain import text as sms_text
from smsgate.domain.inbound import InboundMessage
from smsgate.smpp.constants import TlvTag
from smsgate.smpp.pdu import DeliverSm, Tlv, make_tlv

__all__ = ["ESM_CLASS_MO", "MoPart", "deliver_sm_of", "mo_parts"]

#: esm_class 0: default message mode and type (§5.2.12), what an MO message is.
ESM_CLASS_MO: Final = 0
_UDHI: Final = 0x40  # esm_class: the short_message starts with a user data header
_NUMBER: Final = (1, 1)  # TON international, NPI ISDN (E.164)
_NAME: Final = (5, 0)  # TON alphanumeric, NPI unknown
_REFERENCES: Final = 256  # an 8-bit concatenation reference
_MAX_PAYLOAD: Final = 0xFFFF  # message_payload's length is two octets


@dataclass(frozen=True, slots=True)
class MoPart:
    """One deliver_sm's own fields: the user data and how to read it."""

    short_message: bytes
    data_coding: int
    esm_class: int = ESM_CLASS_MO
    tlvs: tuple[Tlv, ...] = ()


def mo_parts(message: InboundMessage) -> list[MoPart]:
    """The deliver_sm parts of ``message``, in order (see the module)."""
    text = message.text
    coding = sms_text.data_coding_for(text)
    try:
        bodies = sms_text.encode_parts(text, message.sequence_id % _REFERENCES)
    except UnicodeEncodeError:
        # Not from the inbound desk (which decodes with replacement): a lone surrogate.
        return [_payload(text.encode("utf-16-be", "replace"), sms_text.DATA_CODING_UCS2)]
    except ValueError:  # more than 255 parts
        if coding == sms_text.DATA_CODING_GSM7:
            return [_payload(sms_text.encode_gsm7_unpacked(text), coding)]
        return [_payload(sms_text.encode_ucs2(text), coding)]
    if len(bodies) == 1:
        return [MoPart(bodies[0], coding)]
    return [MoPart(body, coding, _UDHI) for body in bodies]


def _payload(data: bytes, coding: int) -> MoPart:
    """The whole text in message_payload, cut at the TLV's limit (UCS-2 on a unit boundary)."""
    limit = _MAX_PAYLOAD - _MAX_PAYLOAD % 2 if coding == sms_text.DATA_CODING_UCS2 else _MAX_PAYLOAD
    return MoPart(b"", coding, tlvs=(make_tlv(TlvTag.MESSAGE_PAYLOAD, data[:limit]),))


def deliver_sm_of(message: InboundMessage, part: MoPart, sequence_number: int = 0) -> DeliverSm:
    """The deliver_sm of one part of ``message``, numbered ``sequence_number``."""
    source_ton, source_npi = _NUMBER if message.source.isdigit() else _NAME
    dest_ton, dest_npi = _NUMBER if message.destination.isdigit() else _NAME
    return DeliverSm(
        sequence_number=sequence_number,
        source_addr_ton=source_ton,
        source_addr_npi=source_npi,
        source_addr=message.source,
        dest_addr_ton=dest_ton,
        dest_addr_npi=dest_npi,
        destination_addr=message.destination,
        esm_class=part.esm_class,
        data_coding=part.data_coding,
        short_message=part.short_message,
        tlvs=part.tlvs,
    )
