"""The deliver_sm PDUs the standalone SMSC sends: receipts and mobile-originated messages.

A receipt (esm_class 0x04, SMPP 3.4 §5.2.12) goes from the handset (the submit's destination)
back to the submit's sender, with the text of Appendix B and the TLVs ``receipted_message_id``,
``message_state`` and, for outcomes that have a GSM cause, ``network_error_code``. Its
``stat:``/``err:`` and message_state are smsgate's own numbering, the one the SMPP door writes
(:data:`~smsgate.doors.smpp.receipts.REPORTS`: ``err:`` is the receipt code's position in the
seed table), so a connector reads every receipt code back exactly with the default receipt map.

A mobile-originated message (esm_class 0) comes as one deliver_sm per part: GSM-7 unpacked
(data_coding 0) when the text allows, else UCS-2 (8), and beyond one part with a concatenation
user data header (esm_class 0x40), as handsets' messages reach an ESME.

What waits in the outbox is a :class:`Delivery`: a PDU but for its sequence number, which the
session gives when it is sent (and again when it is sent again), so that no PDU is copied to
number it.

Pure: dates are passed in, as POSIX seconds (UTC).
"""

from __future__ import annotations

import dataclasses
import functools
import string
import time
from dataclasses import dataclass
from typing import Final, Protocol

from smsgate.domain.text import data_coding_for, encode_parts, split_udh
from smsgate.doors.smpp.receipts import ESM_CLASS_RECEIPT, REPORTS, state_tlvs
from smsgate.smpp.constants import TlvTag
from smsgate.smpp.pdu import DeliverSm, Tlv

__all__ = ["Delivery", "DueReceipt", "Prepared", "Taken", "mo_parts", "receipt_for"]

_UDHI: Final = 0x40  # esm_class: the short_message starts with a user data header (§5.2.12)
_UCS2: Final = 8
_TEXT_CHARS: Final = 20  # Appendix B: the first 20 characters of the message
#: Characters that read the same in ASCII and unpacked GSM-7; the others are shown as "?".
_SAFE: Final = frozenset(string.ascii_letters + string.digits + " .,:;!?'\"()+-/*%&=<>#")


class _Unsafe(dict[int, str]):
    """A ``str.translate`` table: safe characters stay, any other becomes "?"."""

    def __missing__(self, key: int) -> str:
        return "?"


_SHOWN: Final = _Unsafe({ord(c): c for c in _SAFE})
_RECEIPTED_ID: Final = TlvTag.RECEIPTED_MESSAGE_ID


class Delivery(Protocol):
    """A deliver_sm waiting to be sent: its PDU once the session gives it a number."""

    def pdu(self, sequence_number: int) -> DeliverSm: ...


@dataclass(frozen=True, slots=True)
class Taken:
    """A message the SMSC took, waiting for its receipt: what the receipt will say."""

    system_id: str
    receipt_id: str  # the message id as receipts write it
    code: str  # the receipt code it ends with
    submitted_at: float
    source_ton: int
    source_npi: int
    source: str
    dest_ton: int
    dest_npi: int
    destination: str
    esm_class: int
    data_coding: int
    body: bytes  # the short_message (or message_payload) as submitted


#: Receipt code -> (stat, err, message_state and network_error_code TLVs), built once.
_REPORTS: Final = {
    code: (report.stat, report.err, state_tlvs(report)) for code, report in REPORTS.items()
}


def receipt_for(taken: Taken, done_at: float, sequence_number: int = 0) -> DeliverSm:
    """The receipt of ``taken``, reported at ``done_at``."""
    stat, err, tlvs = _REPORTS[taken.code]
    delivered = 1 if stat == "DELIVRD" else 0
    text = (
        f"id:{taken.receipt_id} sub:001 dlvrd:{delivered:03d} "
        f"submit date:{_date(taken.submitted_at)} done date:{_date(done_at)} "
        f"stat:{stat} err:{err:03d} text:{_first_chars(taken)}"
    )
    return DeliverSm(
        sequence_number=sequence_number,
        source_addr_ton=taken.dest_ton,
        source_addr_npi=taken.dest_npi,
        source_addr=taken.destination,
        dest_addr_ton=taken.source_ton,
        dest_addr_npi=taken.source_npi,
        destination_addr=taken.source,
        esm_class=ESM_CLASS_RECEIPT,
        short_message=text.encode("ascii"),
        # The id is digits or hex, under the TLV's 65 octets: no check needed (make_tlv's).
        tlvs=(Tlv(_RECEIPTED_ID, taken.receipt_id.encode() + b"\0"), *tlvs),
    )


@dataclass(frozen=True, slots=True)
class DueReceipt:
    """The receipt of a message, due since ``done_at``."""

    taken: Taken
    done_at: float

    def pdu(self, sequence_number: int) -> DeliverSm:
        return receipt_for(self.taken, self.done_at, sequence_number)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A deliver_sm built already (an MO message's part), numbered when sent."""

    template: DeliverSm

    def pdu(self, sequence_number: int) -> DeliverSm:
        return dataclasses.replace(self.template, sequence_number=sequence_number)


@functools.lru_cache(maxsize=64)
def _minute(minute: int) -> str:
    return time.strftime("%y%m%d%H%M", time.gmtime(minute * 60))


def _date(ts: float) -> str:
    """Appendix B's YYMMDDhhmm in UTC; receipts come in bursts of one minute, hence the cache."""
    return _minute(int(ts // 60))


def _first_chars(taken: Taken) -> str:
    body = taken.body
    if taken.esm_class & _UDHI:
        try:
            _, body = split_udh(body)
        except ValueError:
            body = b""
    head = body[: _TEXT_CHARS * 2]
    if taken.data_coding == _UCS2:
        text = head.decode("utf-16-be", "replace")
    else:
        text = head.decode("latin-1")
    return text[:_TEXT_CHARS].translate(_SHOWN)


def mo_parts(source: str, destination: str, text: str, reference: int) -> list[DeliverSm]:
    """A mobile-originated ``text`` from ``source`` to ``destination``: one deliver_sm per part,
    concatenated with the 8-bit ``reference`` (0-255) when it takes more than one.
    ``ValueError`` for a text beyond 255 parts or with a lone surrogate."""
    try:
        payloads = encode_parts(text, reference)
    except UnicodeEncodeError as exc:
        raise ValueError(f"the text cannot be encoded: {exc}") from None
    data_coding = data_coding_for(text)
    esm_class = _UDHI if len(payloads) > 1 else 0
    source_ton, source_npi = _ton_npi(source)
    dest_ton, dest_npi = _ton_npi(destination)
    return [
        DeliverSm(
            sequence_number=0,
            source_addr_ton=source_ton,
            source_addr_npi=source_npi,
            source_addr=source,
            dest_addr_ton=dest_ton,
            dest_addr_npi=dest_npi,
            destination_addr=destination,
            esm_class=esm_class,
            data_coding=data_coding,
            short_message=payload,
        )
        for payload in payloads
    ]


def _ton_npi(address: str) -> tuple[int, int]:
    """International E.164 (1, 1) for digits, alphanumeric (5, 0) otherwise (§5.2.5, §5.2.6)."""
    return (1, 1) if address.lstrip("+").isdigit() else (5, 0)
