"""Delivery receipts as the foreign SMSC writes them: the de-facto text plus SMPP 3.4 TLVs.

The text is the format of SMPP 3.4 Appendix B, which the spec calls an example and every
SMSC treats as the format::

    id:IIIIIIIIII sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD
    err:000 text:first 20 characters

carried in a deliver_sm with esm_class 0x04 (SMSC delivery receipt, §5.2.12), and, unless a
test turns them off, the receipted_message_id, message_state and network_error_code TLVs
(§5.3.2.12, §5.3.2.35, §5.3.2.31).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import smpplib.consts  # type: ignore[import-untyped]

__all__ = ["DELIVERED", "MESSAGE_STATES", "RECEIPT_ESM_CLASS", "Receipt", "receipt_text"]

RECEIPT_ESM_CLASS = 0x04

MESSAGE_STATES: Mapping[str, int] = {
    "ENROUTE": smpplib.consts.SMPP_MESSAGE_STATE_ENROUTE,
    "DELIVRD": smpplib.consts.SMPP_MESSAGE_STATE_DELIVERED,
    "EXPIRED": smpplib.consts.SMPP_MESSAGE_STATE_EXPIRED,
    "DELETED": smpplib.consts.SMPP_MESSAGE_STATE_DELETED,
    "UNDELIV": smpplib.consts.SMPP_MESSAGE_STATE_UNDELIVERABLE,
    "ACCEPTD": smpplib.consts.SMPP_MESSAGE_STATE_ACCEPTED,
    "UNKNOWN": smpplib.consts.SMPP_MESSAGE_STATE_UNKNOWN,
    "REJECTD": smpplib.consts.SMPP_MESSAGE_STATE_REJECTED,
}
"""``stat:`` word → message_state TLV value (§5.2.28); any other word sends UNKNOWN (7)."""


@dataclass(frozen=True)
class Receipt:
    """How the peer reports a message's fate.

    ``err`` is the text's three characters, as carriers vary (decimal, hex, vendor codes).
    ``network_error_code`` is the TLV's three octets: network type (1 ANSI-136, 2 IS-95,
    3 GSM, ...) then the error code, big-endian. ``tlvs=False`` leaves the text alone to
    carry the receipt, as older SMSCs do. ``before_response`` sends the receipt before the
    submit_sm_resp, a race real links show when the SMSC's two paths run apart.
    """

    stat: str = "DELIVRD"
    err: str = "000"
    network_error_code: bytes | None = None
    tlvs: bool = True
    before_response: bool = False

    @property
    def message_state(self) -> int:
        return MESSAGE_STATES.get(self.stat, smpplib.consts.SMPP_MESSAGE_STATE_UNKNOWN)

    def wanted(self, registered_delivery: int) -> bool:
        """Whether ``registered_delivery`` asks for this receipt (§5.2.17, bits 1-0).

        1 asks for every outcome, 2 for failures only; 0 and the reserved 3 ask for none.
        """
        asked = registered_delivery & smpplib.consts.SMPP_SMSC_DELIVERY_RECEIPT_BITMASK
        if asked == smpplib.consts.SMPP_SMSC_DELIVERY_RECEIPT_BOTH:
            return True
        return asked == smpplib.consts.SMPP_SMSC_DELIVERY_RECEIPT_FAILURE and (
            self.stat != "DELIVRD"
        )


DELIVERED = Receipt()


def receipt_text(
    receipt_id: str, receipt: Receipt, submitted: datetime, done: datetime, text: str
) -> str:
    """The receipt's short_message (Appendix B), ``text`` cut to its first 20 characters."""
    delivered = "001" if receipt.stat == "DELIVRD" else "000"
    return (
        f"id:{receipt_id} sub:001 dlvrd:{delivered} submit date:{submitted:%y%m%d%H%M}"
        f" done date:{done:%y%m%d%H%M} stat:{receipt.stat} err:{receipt.err} text:{text[:20]}"
    )
