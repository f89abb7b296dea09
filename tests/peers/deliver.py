"""The deliver_sm PDUs the foreign SMSC writes, as smpplib fields: receipts and MO messages.

Pure: the server numbers these and writes them (``smsc.py``); building them needs no socket.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from . import wire
from .receipts import RECEIPT_ESM_CLASS, Receipt, receipt_text
from .records import Submit

__all__ = ["Fields", "mo_fields", "receipt_fields"]

Fields = dict[str, Any]
"""Keyword arguments for ``smpplib.smpp.make_pdu("deliver_sm", ...)``."""

# Octets in a whole message and in each part: GSM 03.38 unpacked, else (Latin-1, UCS-2) 140/134.
_SINGLE_AND_PART = {wire.GSM: (160, 153)}
_OTHER_SINGLE_AND_PART = (140, 134)


def receipt_fields(submit: Submit, receipt: Receipt, receipt_id: str, done: datetime) -> Fields:
    """A receipt for ``submit``: from its destination back to its source, esm_class 0x04."""
    text = receipt_text(receipt_id, receipt, submit.received_at, done, submit.text)
    fields: Fields = {
        "source_addr_ton": submit.dest_addr_ton,
        "source_addr_npi": submit.dest_addr_npi,
        "source_addr": submit.destination_addr,
        "dest_addr_ton": submit.source_addr_ton,
        "dest_addr_npi": submit.source_addr_npi,
        "destination_addr": submit.source_addr,
        "esm_class": RECEIPT_ESM_CLASS,
        "data_coding": wire.GSM,
        "short_message": text.encode("ascii", "replace"),
    }
    if receipt.tlvs:
        fields["receipted_message_id"] = receipt_id
        fields["message_state"] = receipt.message_state
        if receipt.network_error_code is not None:
            fields["network_error_code"] = receipt.network_error_code
    return fields


def mo_fields(
    source: str,
    destination: str,
    text: str,
    *,
    reference: int,
    data_coding: int | None = None,
    long: Literal["udh", "sar"] = "udh",
) -> list[Fields]:
    """A mobile-originated message (esm_class 0), one deliver_sm per part.

    ``data_coding`` defaults to GSM 03.38 (0, unpacked) when the text allows, else UCS-2 (8).
    Beyond 160 GSM or 140 other octets the text goes in parts of 153 or 134 octets, with a
    concatenation UDH (IEI 0, 8-bit ``reference``, esm_class 0x40) or with SAR TLVs.
    """
    if data_coding is None:
        data_coding = wire.GSM if wire.gsm_encodable(text) else wire.UCS2
    single, part = _SINGLE_AND_PART.get(data_coding, _OTHER_SINGLE_AND_PART)
    pieces = wire.split_text(wire.encode_text(text, data_coding), data_coding, single, part)
    parts = []
    for index, piece in enumerate(pieces, start=1):
        fields: Fields = {
            **_address("source", source),
            **_address("dest", destination),
            "esm_class": 0,
            "data_coding": data_coding,
            "short_message": piece,
        }
        if len(pieces) > 1 and long == "udh":
            fields["esm_class"] = wire.UDHI
            fields["short_message"] = bytes((5, 0, 3, reference, len(pieces), index)) + piece
        elif len(pieces) > 1:
            fields["sar_msg_ref_num"] = reference
            fields["sar_total_segments"] = len(pieces)
            fields["sar_segment_seqnum"] = index
        parts.append(fields)
    return parts


def _address(prefix: str, address: str) -> Fields:
    """An address with the TON/NPI a carrier would give it: international E.164 digits,
    else alphanumeric (SMPP 3.4 §5.2.5, §5.2.6)."""
    ton, npi = (1, 1) if address.isdigit() else (5, 0)
    name = "source_addr" if prefix == "source" else "destination_addr"
    return {f"{prefix}_addr_ton": ton, f"{prefix}_addr_npi": npi, name: address}
