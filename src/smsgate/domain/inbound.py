"""Inbound (MO) messages: which account owns the number a handset wrote to, and how the message
reads when it is pushed to that account.

The operator assigns numbers, or prefixes of numbers, to accounts in the policy document
``inbound`` (``{"6591230000": "<account id>", "659124": "<account id>"}``). A message to a
number goes to the account with the longest matching entry; the digits after that entry are the
message's ``dest_code`` (Alibaba's "extension code" of an MO message: a customer that owns
``659124`` and gave a campaign the extension ``77`` gets replies to ``65912477`` with
``dest_code`` ``77``).

An account receives its MO messages as Alibaba's ``SmsUp`` push (an HTTP POST of a JSON array
of ``{phone_number, send_time, content, sign_name, dest_code, sequence_id}``, answered
``{"code": 0}``) and as deliver_sm to its SMPP binds.

Pure: lookup, decoding and rendering, no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from smsgate.domain.text import decode_gsm7_unpacked

__all__ = [
    "DOCUMENT",
    "InboundMessage",
    "InboundNumbers",
    "decode_mo_text",
    "parse_inbound_document",
]

DOCUMENT: Final = "inbound"
_MAX_DIGITS: Final = 15  # E.164
#: SMPP data_coding (§5.2.19) of MO text: the SMSC default alphabet (GSM-7, one septet per
#: octet), IA5 (ASCII), Latin-1, UCS-2; 2 and 4 are octets, not text.
#: Every other coding (1, 3 and the rest) is read as Latin-1, of which ASCII is a part.
_GSM7: Final = 0
_UCS2: Final = 8
_BINARY_CODING: Final = 4
_BINARY: Final = frozenset({2, _BINARY_CODING})
#: GSM 03.38 coding group 1111 (data_coding 0xF0-0xFF): bit 2 says 8-bit data, else GSM-7.
_GROUP_F: Final = 0xF0
_GROUP_F_8BIT: Final = 0x04


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message from a handset, as a carrier delivered it."""

    sequence_id: int  # unique per message (Alibaba's sequence_id), also the SMPP message id
    account_id: str
    source: str  # the handset's number, E.164 digits
    destination: str  # the number it wrote to
    dest_code: str  # the digits of destination after the account's number or prefix
    text: str
    received_at: float  # epoch seconds
    connector: str  # which upstream it came from

    def sms_up(self) -> dict[str, Any]:
        """One element of Alibaba's SmsUp push (times as Alibaba writes them: local time of
        its region, UTC+8)."""
        return {
            "phone_number": self.source,
            "send_time": time.strftime(
                "%Y-%m-%d %H:%M:%S", time.gmtime(self.received_at + 8 * 3600)
            ),
            "content": self.text,
            "sign_name": "",
            "dest_code": self.dest_code,
            "sequence_id": self.sequence_id,
        }


def decode_mo_text(data: bytes, data_coding: int) -> str:
    """The text of an MO message's user data, as the SMPP door reads submitted text: GSM-7
    unpacked (0, or GSM 03.38's 0xF0 group), IA5/ASCII (1), Latin-1 (3), UCS-2 (8).

    Nothing is refused: an SMSC told "no" delivers the same message again, for ever. Octets
    that do not decode in their coding are read as Latin-1 (a UCS-2 text cut mid-character gets
    replacement characters), and binary user data (2, 4, 8-bit 0xF4...) becomes hexadecimal."""
    if data_coding & _GROUP_F == _GROUP_F:
        data_coding = _BINARY_CODING if data_coding & _GROUP_F_8BIT else _GSM7
    if data_coding in _BINARY:
        return data.hex().upper()
    if data_coding == _UCS2:
        return data.decode("utf-16-be", errors="replace")
    if data_coding == _GSM7:
        try:
            return decode_gsm7_unpacked(data)
        except UnicodeDecodeError:
            pass  # Latin-1 sent as the "default alphabet", as some SMSCs do
    return data.decode("latin-1")


class InboundNumbers:
    """Numbers and prefixes → account, matched longest first."""

    def __init__(self, owners: Mapping[str, str]) -> None:
        self.owners = dict(owners)
        self._lengths = sorted({len(number) for number in self.owners}, reverse=True)

    def owner(self, destination: str) -> tuple[str, str] | None:
        """``(account id, dest_code)`` of a message to ``destination``, or None if no account
        owns it (the message is logged and dropped: there is nobody to give it to)."""
        digits = destination.lstrip("+")
        for length in self._lengths:
            account = self.owners.get(digits[:length])
            if account is not None and len(digits) >= length:
                return account, digits[length:]
        return None


def parse_inbound_document(doc: Any) -> InboundNumbers:
    """The ``inbound`` document; ValueError saying which entry is wrong."""
    if not isinstance(doc, dict):
        raise ValueError("inbound must be a JSON object of number or prefix -> account id")
    for number, account in doc.items():
        if not (number.isascii() and number.isdigit() and 1 <= len(number) <= _MAX_DIGITS):
            raise ValueError(f"inbound number {number!r} must be 1-15 digits, without '+'")
        if not isinstance(account, str) or not account:
            raise ValueError(f"inbound number {number}: the account id must be text")
    return InboundNumbers(doc)
