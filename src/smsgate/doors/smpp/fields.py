"""SMPP fields as the core wants them: text from short_message, seconds from validity_period.

Pure functions; a field the core cannot take raises :class:`Refused` with the command_status to
answer (SMPP 3.4 §5.1.3).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

from smsgate.domain.text import decode_gsm7_unpacked, decode_ucs2
from smsgate.smpp.constants import CommandStatus, TlvTag
from smsgate.smpp.pdu import Pdu
from smsgate.smpp.reassembly import ESME_RINVDCS

__all__ = [
    "BINARY_CODINGS",
    "MAX_VALIDITY_S",
    "Refused",
    "content",
    "decode_short_message",
    "lone_payload",
    "refuse_scheduled",
    "validity_seconds",
]

#: The longest validity smsgate keeps a message for (the HTTP API's ValidityPeriod limit); a
#: longer SMPP validity_period is shortened to it, as SMSCs cap theirs.
MAX_VALIDITY_S: Final = 7 * 24 * 3600
#: data_coding values of 8-bit binary user data (§5.2.19): kept as octets, never decoded.
BINARY_CODINGS: Final = frozenset({2, 4})
_TIME: Final = re.compile(r"(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d)(\d{2})([+\-R])")


class Refused(Exception):  # noqa: N818 - a status to answer, not an error
    """The PDU cannot be taken; ``status`` is the command_status to answer it with."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(detail or f"command_status 0x{status:08x}")
        self.status = status


def decode_short_message(data: bytes, data_coding: int) -> str:
    """The text of a message body: GSM-7 unpacked (data_coding 0), Latin-1 (3) or UCS-2 (8).

    Other text codings are refused with ESME_RINVDCS (SMPP 5.0 §4.7.6); binary data
    (:data:`BINARY_CODINGS`) is not text and never comes here.
    """
    try:
        if data_coding == 0:
            return decode_gsm7_unpacked(data)
        if data_coding == 3:
            return data.decode("latin-1")
        if data_coding == 8:
            return decode_ucs2(data)
    except UnicodeDecodeError:
        raise Refused(ESME_RINVDCS, "the text does not decode") from None
    raise Refused(ESME_RINVDCS, f"data_coding {data_coding} is not supported")


def content(raw: bytes, data_coding: int) -> tuple[str, bytes | None]:
    """A message's user data as the core takes it: (text, None), or ("", octets) for binary."""
    if data_coding in BINARY_CODINGS:
        return "", raw
    return decode_short_message(raw, data_coding), None


def lone_payload(pdu: Pdu, short_message: bytes) -> bytes | None:
    """The message_payload TLV, if any; §5.3.2.32 allows it or short_message, not both."""
    payload = pdu.tlv_bytes(TlvTag.MESSAGE_PAYLOAD)
    if payload is not None and short_message:
        raise Refused(CommandStatus.ESME_RSUBMITFAIL, "short_message and message_payload")
    return payload


def refuse_scheduled(schedule_delivery_time: str) -> None:
    if schedule_delivery_time:
        raise Refused(CommandStatus.ESME_RINVSCHED, "scheduled delivery is not offered")


def validity_seconds(value: str, now: float) -> int | None:
    """Seconds a message may wait for delivery, from an SMPP time (§7.1.1), or None for the
    default (an empty field). Absolute times (``p`` "+" or "-", with the offset from UTC in
    quarter hours) and relative ones (``p`` "R": YY years MM months DD days hh:mm:ss, counting
    365-day years and 30-day months) are accepted; past times and malformed values get
    ESME_RINVEXPIRY."""
    if not value:
        return None
    match = _TIME.fullmatch(value)
    if match is None:
        raise Refused(CommandStatus.ESME_RINVEXPIRY, f"validity_period {value!r} is malformed")
    yy, mo, dd, hh, mi, ss, _tenths, nn, p = match.groups()
    if p == "R":
        days = int(yy) * 365 + int(mo) * 30 + int(dd)
        seconds = ((days * 24 + int(hh)) * 60 + int(mi)) * 60 + int(ss)
    else:
        try:
            local = datetime(2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss))
        except ValueError:
            raise Refused(CommandStatus.ESME_RINVEXPIRY, f"{value!r} is not a date") from None
        offset = timedelta(minutes=15 * int(nn)) * (1 if p == "+" else -1)
        moment = (local - offset).replace(tzinfo=UTC)
        seconds = int(moment.timestamp() - now)
    if seconds <= 0:
        raise Refused(CommandStatus.ESME_RINVEXPIRY, f"validity_period {value!r} is not ahead")
    return min(seconds, MAX_VALIDITY_S)
