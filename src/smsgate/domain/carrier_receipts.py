"""Receipts from upstream carriers: what their ``stat:``/``err:`` text means in the seed's codes.

A carrier's SMSC reports a message's fate in a deliver_sm whose text follows SMPP 3.4 Appendix B
(``id:... sub:... dlvrd:... submit date:... done date:... stat:... err:... text:...``), often
with the ``receipted_message_id``, ``message_state`` and ``network_error_code`` TLVs. Carriers
differ in all of it: which ``err:`` values they use, whether the id is the one their
submit_sm_resp gave or the same number in another base. So each connector has a
:class:`ReceiptMap` (sensible defaults, overridable per connector) and an id format.

Resolution of a final receipt's code, first match wins:

1. ``STAT:ERR`` in the connector's table (``"UNDELIV:001"``);
2. the GSM ``network_error_code`` (MAP and SMS relay errors carriers pass through, e.g. 1
   unknown subscriber → ``INVALID_NUM``, 27 absent subscriber → ``PHONE_NOT_AVAILABLE``);
3. ``STAT`` alone in the table (``"REJECTD"``);
4. ``UNKNOWN_ERR``, with the raw values kept on the message for the operator to map later.

The defaults include smsgate's own ``err:`` numbering (the seed table's positions, 001-009), so a
connector to another smsgate or to ``smsgate simulator`` maps every receipt code back exactly.

Pure: parsing and lookups, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from smsgate import errors
from smsgate.domain.models import MessageStatus

__all__ = [
    "DEFAULT_RECEIPT_MAP",
    "GSM_CAUSES",
    "CarrierReceipt",
    "IdFormat",
    "ReceiptMap",
    "carrier_key",
    "id_candidates",
    "parse_receipt_text",
]

#: How a carrier writes the id in its receipts, against the id its submit_sm_resp gave (see
#: :func:`id_candidates`).
IdFormat = Literal["auto", "same", "dec", "hex"]
ID_FORMATS: Final = ("auto", "same", "dec", "hex")

#: Appendix B's fields; "submit date" and "done date" hold a space, so they are matched whole.
#: Appendix B's field names, each followed by ":"; "text" is always the last field.
_KEYS: Final = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err")

_FINAL_STATS: Final[dict[str, MessageStatus]] = {
    "DELIVRD": MessageStatus.DELIVERED,
    "EXPIRED": MessageStatus.EXPIRED,
    "DELETED": MessageStatus.FAILED,
    "UNDELIV": MessageStatus.FAILED,
    "UNKNOWN": MessageStatus.FAILED,
    "REJECTD": MessageStatus.FAILED,
}
#: GSM MAP / SMS relay causes (3GPP TS 29.002, 24.011) carriers pass in network_error_code.
_GSM_ERRORS: Final[dict[int, str]] = {
    1: errors.INVALID_NUM.code,  # unknown subscriber
    5: errors.INVALID_NUM.code,  # unidentified subscriber
    6: errors.PHONE_NOT_AVAILABLE.code,  # absent subscriber (SM)
    9: errors.INVALID_NUM.code,  # illegal subscriber
    11: errors.OPERATOR_NOT_SUPPORT.code,  # teleservice not provisioned
    12: errors.INVALID_NUM.code,  # illegal equipment
    13: errors.RECEIVER_BLACKLIST.code,  # call barred
    21: errors.OPERATOR_NOT_SUPPORT.code,  # facility not supported
    27: errors.PHONE_NOT_AVAILABLE.code,  # absent subscriber
    31: errors.PHONE_NOT_AVAILABLE.code,  # subscriber busy for MT-SMS
    32: errors.PHONE_NOT_AVAILABLE.code,  # SM delivery failure (memory full and the like)
    34: errors.SYSTEM_ERR.code,  # system failure
    36: errors.SYSTEM_ERR.code,  # unexpected data value
}
_NETWORK_TYPE_GSM: Final = 3

#: The GSM cause smsgate's own receipts give in network_error_code for a receipt code, where one
#: says the same thing (read back by the table above as that code); the other codes (content,
#: URL, ported, unknown) have no network cause, and their receipts carry no network_error_code.
GSM_CAUSES: Final[dict[str, int]] = {
    errors.INVALID_NUM.code: 1,  # unknown subscriber
    errors.RECEIVER_BLACKLIST.code: 13,  # call barred
    errors.OPERATOR_NOT_SUPPORT.code: 21,  # facility not supported
    errors.PHONE_NOT_AVAILABLE.code: 27,  # absent subscriber
    errors.SYSTEM_ERR.code: 34,  # system failure
}


def _smsgate_table() -> dict[str, str]:
    """smsgate's own receipts: each seed receipt code has err = its position in the table."""
    table = {"DELIVRD": errors.DELIVERED.code, "EXPIRED": errors.EXPIRED.code}
    for position, code in enumerate(errors.RECEIPT_CODES, start=1):
        for stat in ("UNDELIV", "REJECTD", "UNKNOWN"):
            table[f"{stat}:{position:03d}"] = code.code
    table["DELETED"] = errors.UNKNOWN_ERR.code
    return table


@dataclass(frozen=True, slots=True)
class CarrierReceipt:
    """A final receipt read from a carrier: which message (by the carrier's id) and its fate."""

    carrier_id: str
    status: MessageStatus
    error_code: str  # a receipt code of the catalog, or "success"
    raw: str  # stat, err and network error as the carrier sent them, for the operator


@dataclass(frozen=True, slots=True)
class ReceiptMap:
    """One connector's reading of receipts: ``STAT:ERR`` or ``STAT`` → receipt code."""

    table: Mapping[str, str] = field(default_factory=_smsgate_table)

    def with_overrides(self, overrides: Mapping[str, str]) -> ReceiptMap:
        """This map with an operator's entries on top (keys upper-cased, codes checked)."""
        known = {r.code for r in (*errors.RECEIPT_CODES, errors.DELIVERED, errors.EXPIRED)}
        merged = dict(self.table)
        for key, code in overrides.items():
            if code not in known:
                raise ValueError(
                    f"{code!r} is not a receipt code (one of {', '.join(sorted(known))})"
                )
            merged[key.strip().upper()] = code
        return ReceiptMap(merged)

    def read(
        self, fields: Mapping[str, str], network_error: bytes | None = None
    ) -> CarrierReceipt | None:
        """The receipt these fields report, or None when it is not final (ENROUTE, ACCEPTD) or
        names no message."""
        carrier_id = fields.get("id", "").strip()
        stat = fields.get("stat", "").strip().upper()
        status = _FINAL_STATS.get(stat)
        if not carrier_id or status is None:
            return None
        err = fields.get("err", "").strip().upper()
        raw = f"stat:{stat} err:{err}"
        gsm = _gsm_cause(network_error)
        if network_error is not None:
            raw += f" network_error_code:{network_error.hex()}"
        if status is MessageStatus.DELIVERED:
            return CarrierReceipt(carrier_id, status, errors.DELIVERED.code, raw)
        code = (
            self.table.get(f"{stat}:{err}")
            or (_GSM_ERRORS.get(gsm) if gsm is not None else None)
            or self.table.get(stat)
        )
        if status is MessageStatus.EXPIRED:
            return CarrierReceipt(carrier_id, status, errors.EXPIRED.code, raw)
        return CarrierReceipt(carrier_id, status, code or errors.UNKNOWN_ERR.code, raw)


DEFAULT_RECEIPT_MAP: Final = ReceiptMap()


def _gsm_cause(network_error: bytes | None) -> int | None:
    """The GSM cause of a network_error_code TLV (§5.3.2.31: type octet, then 2-octet code)."""
    if network_error is None or len(network_error) != 3 or network_error[0] != _NETWORK_TYPE_GSM:
        return None
    return int.from_bytes(network_error[1:3], "big")


def parse_receipt_text(text: str) -> dict[str, str]:
    """Appendix B's ``key:value`` fields of a receipt's text, keys in lower case; what is not
    there is left out (carriers omit and reorder fields)."""
    # str.find over a lower-case copy rather than a regex: this runs once per receipt, and
    # carriers send thousands a second.
    low = text.lower()
    end = _find_key(low, "text:", len(low))
    found = [(end, "text")] if end < len(low) else []
    for name, needle in _NEEDLES:
        at = _find_key(low, needle, end)
        if at < end:
            found.append((at, name))
    found.sort()
    fields: dict[str, str] = {}
    for index, (at, name) in enumerate(found):
        stop = found[index + 1][0] if index + 1 < len(found) else len(text)
        fields[name] = text[at + len(name) + 1 : stop].strip()
    return fields


#: Each key with the colon that ends it, built once.
_NEEDLES: Final = tuple((name, name + ":") for name in _KEYS)


def _find_key(low: str, needle: str, before: int) -> int:
    """Where ``needle`` (a key and its colon) starts, at the start or after white space, or
    ``before``."""
    at = low.find(needle, 0, before)
    while at > 0 and not low[at - 1].isspace():
        at = low.find(needle, at + 1, before)
    return before if at < 0 else at


def carrier_key(carrier_id: str) -> str:
    """The form a carrier's message id is stored and looked up in: trimmed, lower case, without
    leading zeros, so that ``00001A2B`` from a response and ``1a2b`` from a receipt meet."""
    return carrier_id.strip().lower().lstrip("0") or "0"


def id_candidates(reported: str, id_format: IdFormat) -> list[str]:
    """The keys (:func:`carrier_key`) a receipt's id may have been stored under, most likely
    first.

    The id stored is the one the carrier's submit_sm_resp gave. Carriers that answer in hex
    and report in decimal (or the reverse) are common: "dec" says receipts carry the response's
    hex id in decimal, "hex" the response's decimal id in hex, "same" no conversion, and "auto"
    tries the id as given, then in the other base (a rare collision between the two readings
    is the price; set the connector's format when its carrier is known)."""
    given = reported.strip()
    candidates: list[str] = []
    if id_format in ("auto", "same"):
        candidates.append(carrier_key(given))
    if id_format in ("auto", "dec") and given.isdigit():
        candidates.append(carrier_key(format(int(given), "x")))
    if id_format in ("auto", "hex") and _is_hex(given):
        candidates.append(carrier_key(str(int(given, 16))))
    if not candidates:  # "dec" or "hex" given an id that is not a number in that base
        candidates.append(carrier_key(given))
    return list(dict.fromkeys(candidates))


_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


def _is_hex(text: str) -> bool:
    return bool(text) and _HEX_DIGITS.issuperset(text)
