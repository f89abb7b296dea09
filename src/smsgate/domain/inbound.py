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

Pure: lookup and rendering, no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["DOCUMENT", "InboundMessage", "InboundNumbers", "parse_inbound_document"]

DOCUMENT: Final = "inbound"
_MAX_DIGITS: Final = 15  # E.164


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
