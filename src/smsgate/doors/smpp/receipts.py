"""Delivery receipts as SMPP carries them: deliver_sm with esm_class 0x04 (SMPP 3.4 Appendix B).

Pure functions from a final :class:`Message` to the wire: the ``stat:``/``err:`` of the receipt
text, the ``message_state`` TLV, the ``network_error_code`` TLV, and query_sm's answer. Every
receipt code of the seed table has its own ``err:`` (its position in the table, so 001-009), and
a ``stat:`` of the seven Appendix B defines; the README lists the mapping.

Dates are UTC, as every date smsgate reports.
"""

from __future__ import annotations

import functools
import string
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from smsgate import errors
from smsgate.domain.carrier_receipts import GSM_CAUSES
from smsgate.domain.models import Message, MessageStatus
from smsgate.smpp.constants import MessageState, TlvTag
from smsgate.smpp.pdu import DeliverSm, Tlv, make_tlv

__all__ = [
    "ESM_CLASS_RECEIPT",
    "NETWORK_TYPE_GSM",
    "ReceiptReport",
    "deliver_sm_for",
    "final_date",
    "receipt_text",
    "report_for",
    "state_tlvs",
]

#: esm_class bits 2-5 = 0001: "SMSC Delivery Receipt" (§5.2.12).
ESM_CLASS_RECEIPT: Final = 0x04
#: network_error_code's first octet (§5.3.2.31): 3 is GSM; the next two carry our ``err:``.
NETWORK_TYPE_GSM: Final = 3
_TON_INTERNATIONAL, _TON_ALPHANUMERIC = 1, 5
_NPI_ISDN, _NPI_UNKNOWN = 1, 0
#: Appendix B: the text field holds the first 20 characters of the message.
_TEXT_CHARS: Final = 20
#: Characters that are the same octet in ASCII and unpacked GSM-7 (data_coding 0), so that a
#: client decoding the receipt either way reads the same text; the others become "?".
_SAFE_CHARS: Final = frozenset(string.ascii_letters + string.digits + " .,:;!?'\"()+-/*%&=<>#")


@dataclass(frozen=True, slots=True)
class ReceiptReport:
    """How one outcome reads in SMPP: the receipt's ``stat:`` and ``err:``, and message_state."""

    stat: str
    err: int
    state: MessageState
    #: The GSM cause in network_error_code, where the outcome has one (carrier_receipts).
    gsm_cause: int | None = None


_DELIVERED: Final = ReceiptReport("DELIVRD", 0, MessageState.DELIVERED)
_ENROUTE: Final = ReceiptReport("ENROUTE", 0, MessageState.ENROUTE)
_CANCELLED: Final = ReceiptReport("DELETED", 0, MessageState.DELETED)
_REJECTED_CODES: Final = frozenset(
    {errors.IN_SMS_CONTENT.code, errors.RECEIVER_BLACKLIST.code, errors.URL_FAILURE.code}
)


def _failure_report(code: str, err: int) -> ReceiptReport:
    cause = GSM_CAUSES.get(code)
    if code in _REJECTED_CODES:
        return ReceiptReport("REJECTD", err, MessageState.REJECTED, cause)
    if code == errors.UNKNOWN_ERR.code:
        return ReceiptReport("UNKNOWN", err, MessageState.UNKNOWN, cause)
    return ReceiptReport("UNDELIV", err, MessageState.UNDELIVERABLE, cause)


#: Receipt code -> report; err is the code's position in the seed's receipt table (1-9), and 10
#: for an expired message.
REPORTS: Final[dict[str, ReceiptReport]] = {
    errors.DELIVERED.code: _DELIVERED,
    **{r.code: _failure_report(r.code, i) for i, r in enumerate(errors.RECEIPT_CODES, start=1)},
    errors.EXPIRED.code: ReceiptReport(
        "EXPIRED", len(errors.RECEIPT_CODES) + 1, MessageState.EXPIRED
    ),
}
_UNKNOWN: Final = REPORTS[errors.UNKNOWN_ERR.code]


def report_for(message: Message) -> ReceiptReport:
    """The SMPP view of a message's state; ENROUTE while it is not final."""
    if message.status is MessageStatus.CANCELLED:
        return _CANCELLED
    if not message.is_final:
        return _ENROUTE
    if message.status is MessageStatus.DELIVERED:
        return _DELIVERED
    if message.status is MessageStatus.EXPIRED:
        return REPORTS[errors.EXPIRED.code]
    return REPORTS.get(message.error_code or "", _UNKNOWN)


@functools.lru_cache(maxsize=64)
def _minute_text(minute: int) -> str:
    return time.strftime("%y%m%d%H%M", time.gmtime(minute * 60))


def _receipt_date(ts: float | None) -> str:
    """Appendix B's YYMMDDhhmm; cached per minute, as receipts come in bursts of one minute."""
    return "" if ts is None else _minute_text(int(ts // 60))


def final_date(ts: float | None) -> str:
    """An SMPP absolute time (§7.1.1), YYMMDDhhmmsstnnp, in UTC ("00+"); "" when not final."""
    if ts is None:
        return ""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%y%m%d%H%M%S") + f"{moment.microsecond // 100_000}00+"


def _safe_text(body: str) -> str:
    head = body[:_TEXT_CHARS]
    if _SAFE_CHARS.issuperset(head):  # the usual case: no character to replace
        return head
    return "".join(c if c in _SAFE_CHARS else "?" for c in head)


def receipt_text(message: Message, report: ReceiptReport) -> str:
    """The receipt's short_message, in Appendix B's format."""
    delivered = 1 if report.state is MessageState.DELIVERED else 0
    return (
        f"id:{message.id} sub:001 dlvrd:{delivered:03d} "
        f"submit date:{_receipt_date(message.created_at)} "
        f"done date:{_receipt_date(message.receive_date)} "
        f"stat:{report.stat} err:{report.err:03d} text:{_safe_text(message.body)}"
    )


def state_tlvs(report: ReceiptReport) -> tuple[Tlv, ...]:
    """message_state, and network_error_code (GSM, then the cause in two octets) when the
    outcome has a GSM cause: smsgate's ``err:`` numbers are not GSM causes, and a client that
    reads the TLV as one must not be told, say, "unknown subscriber" for rejected content."""
    state = make_tlv(TlvTag.MESSAGE_STATE, int(report.state))
    if report.gsm_cause is None:
        return (state,)
    cause = bytes([NETWORK_TYPE_GSM]) + report.gsm_cause.to_bytes(2, "big")
    return (state, make_tlv(TlvTag.NETWORK_ERROR_CODE, cause))


#: The message_state and network_error_code TLVs of each report, built once.
_STATE_TLVS: Final = {
    report: state_tlvs(report) for report in {*REPORTS.values(), _ENROUTE, _CANCELLED}
}


def deliver_sm_for(message: Message, sequence_number: int = 0) -> DeliverSm:
    """The receipt of a final message, from its handset to the address that sent it."""
    report = report_for(message)
    sender = message.sender or ""
    numeric = sender.lstrip("+").isdigit()
    return DeliverSm(
        sequence_number=sequence_number,
        source_addr_ton=_TON_INTERNATIONAL,
        source_addr_npi=_NPI_ISDN,
        source_addr=message.to,
        dest_addr_ton=_TON_INTERNATIONAL if numeric else _TON_ALPHANUMERIC,
        dest_addr_npi=_NPI_ISDN if numeric else _NPI_UNKNOWN,
        destination_addr=sender,
        esm_class=ESM_CLASS_RECEIPT,
        short_message=receipt_text(message, report).encode("ascii"),
        tlvs=(
            make_tlv(TlvTag.RECEIPTED_MESSAGE_ID, message.id),
            *_STATE_TLVS[report],
        ),
    )
