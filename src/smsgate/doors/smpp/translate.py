"""submit_sm, data_sm and submit_multi as the core's :class:`Submission`: the one translation.

Every field of the PDU that the core takes is read here, and nowhere else in the door:

- ``destination_addr`` (or each SME address of a submit_multi) and ``source_addr`` are passed as
  written, whatever their TON and NPI: the core parses numbers and checks sender IDs the same way
  for both doors (a submit_multi's refused addresses are reported with their own TON and NPI);
- the user data is ``short_message`` or the ``message_payload`` TLV, never both (§5.3.2.32),
  decoded by ``data_coding``: GSM-7 unpacked (0), Latin-1 (3), UCS-2 (8), or octets kept as they
  are (2 and 4, :data:`BINARY_CODINGS`); other codings get ESME_RINVDCS;
- a long message in UDH or SAR parts (:mod:`smsgate.smpp.reassembly`) is put together before
  decoding; each earlier part is answered with the id promised to the whole message
  (:class:`Held`), and the last part makes the :class:`Submission`, with that id and the
  strongest ``registered_delivery`` of its parts;
- ``validity_period``, absolute or relative (§7.1.1), becomes seconds from now, capped at the
  core's :data:`~smsgate.service.submit.MAX_VALIDITY_PERIOD_S`;
- ``schedule_delivery_time`` is refused (ESME_RINVSCHED): scheduled delivery is not offered;
- ``registered_delivery`` is kept for the receipt.

A field the core cannot take raises :class:`~.fields.Refused` or
:class:`~smsgate.smpp.reassembly.ConcatError` with the command_status to answer (§5.1.3).

Two clocks, both injected: the wall clock (:class:`Clock`) only to turn an absolute validity
time into seconds, and a monotonic one for the deadlines of long messages whose parts are late.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from smsgate.domain import numbers
from smsgate.domain.text import decode_gsm7_unpacked, decode_ucs2
from smsgate.ports.clock import Clock
from smsgate.service.submit import MAX_VALIDITY_PERIOD_S, Submission
from smsgate.smpp.constants import ESME_RINVDCS, UDHI, CommandStatus, TlvTag
from smsgate.smpp.pdu import DataSm, DistributionList, Pdu, SubmitMulti, SubmitSm, UnsuccessSme
from smsgate.smpp.reassembly import (
    ConcatError,
    Expired,
    Part,
    Reassembler,
    part_of,
    part_of_pdu,
    strongest_receipt_request,
)

from .fields import Refused

__all__ = [
    "BINARY_CODINGS",
    "Held",
    "Multi",
    "Translator",
    "content",
    "decode_short_message",
    "lone_payload",
    "refuse_scheduled",
    "validity_seconds",
]

log = logging.getLogger(__name__)

#: data_coding values of 8-bit binary user data (§5.2.19): kept as octets, never decoded.
BINARY_CODINGS: Final = frozenset({2, 4})
_TIME: Final = re.compile(r"(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d)(\d{2})([+\-R])")

#: Parts are grouped per account, source and destination (a reference only tells apart one
#: sender's messages to one recipient), and tagged with their registered_delivery.
_Key = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Held:
    """A part of a long message held until the others come: answer it with ``message_id``, the
    id the whole message will have."""

    message_id: str


@dataclass(frozen=True, slots=True)
class Multi:
    """A submit_multi as the core takes it: one submission per SME address."""

    submissions: list[Submission]
    #: Addresses refused before the core: distribution lists, which smsgate does not keep.
    unsuccess: list[UnsuccessSme]
    #: A number as the core may report it (as sent, or without its "+") -> its SME address,
    #: so that a refusal is reported with the TON and NPI the client sent.
    addresses: dict[str, UnsuccessSme]


class Translator:
    """Turns submit PDUs into submissions, holding the parts of long messages meanwhile."""

    def __init__(
        self,
        *,
        clock: Clock,
        monotonic: Callable[[], float],
        new_message_id: Callable[[], str],
        concat_timeout_s: float,
    ) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._new_message_id = new_message_id
        self._reassembler: Reassembler[_Key, int] = Reassembler(timeout_s=concat_timeout_s)
        #: The id promised to the first parts of each long message being put together.
        self._promised: dict[tuple[_Key, int, int], str] = {}

    def submission_of(
        self, pdu: SubmitSm | DataSm, *, account_id: str, system_id: str, bind_id: int
    ) -> Submission | Held:
        """The submission ``pdu`` makes for the bind (``system_id``, ``bind_id``) of
        ``account_id``, or :class:`Held` for a part of a long message still missing others."""
        if isinstance(pdu, SubmitSm):
            refuse_scheduled(pdu.schedule_delivery_time)
            short_message = pdu.short_message
        else:
            short_message = b""  # data_sm has none
        payload = lone_payload(pdu, short_message)
        user_data: bytes | Part
        if payload is not None:
            # A payload with a user data header is read like a short_message with one.
            user_data = part_of(pdu.esm_class, payload) if pdu.esm_class & UDHI else payload
        elif isinstance(pdu, SubmitSm):
            user_data = part_of_pdu(pdu)
        else:
            raise Refused(CommandStatus.ESME_RMISSINGOPTPARAM, "data_sm needs message_payload")
        message_id = None
        registered_delivery = pdu.registered_delivery
        if isinstance(user_data, Part):
            joined = self._add_part(account_id, pdu, user_data)
            if isinstance(joined, Held):
                return joined
            message_id, user_data, registered_delivery = joined
        validity = self._validity(pdu.validity_period) if isinstance(pdu, SubmitSm) else None
        body, data = content(user_data, pdu.data_coding)
        return Submission(
            to=pdu.destination_addr,
            body=body,
            data=data,
            sender=pdu.source_addr or None,
            validity_period=validity,
            door="smpp",
            registered_delivery=registered_delivery,
            system_id=system_id,
            bind_id=bind_id,
            message_id=message_id,
        )

    def submissions_of(self, pdu: SubmitMulti, *, system_id: str, bind_id: int) -> Multi:
        """One submission per SME address of a submit_multi. Long messages come in
        message_payload: parts of one cannot be told apart per destination."""
        if not pdu.dest_addresses:
            raise Refused(CommandStatus.ESME_RINVNUMDESTS, "no destination")
        if pdu.esm_class & UDHI:
            raise Refused(CommandStatus.ESME_RINVESMCLASS, "send long messages in message_payload")
        refuse_scheduled(pdu.schedule_delivery_time)
        payload = lone_payload(pdu, pdu.short_message)
        body, data = content(pdu.short_message if payload is None else payload, pdu.data_coding)
        validity = self._validity(pdu.validity_period)
        multi = Multi([], [], {})
        for dest in pdu.dest_addresses:
            if isinstance(dest, DistributionList):
                multi.unsuccess.append(
                    UnsuccessSme(dest.name, error_status_code=CommandStatus.ESME_RINVDLNAME)
                )
                continue
            entry = UnsuccessSme(dest.address, dest.ton, dest.npi)
            multi.addresses[dest.address] = entry
            multi.addresses.setdefault(dest.address.lstrip("+"), entry)
            multi.submissions.append(
                Submission(
                    to=dest.address,
                    body=body,
                    data=data,
                    sender=pdu.source_addr or None,
                    validity_period=validity,
                    door="smpp",
                    registered_delivery=pdu.registered_delivery,
                    system_id=system_id,
                    bind_id=bind_id,
                )
            )
        return multi

    # --- long messages --------------------------------------------------------------------------

    def expire(self) -> list[Expired[_Key, int]]:
        """Drop the long messages whose parts did not all come within ``concat_timeout_s``
        (their parts were answered; the message is never charged), and log each."""
        return self._expire(self._monotonic())

    def _expire(self, now: float) -> list[Expired[_Key, int]]:
        expired = self._reassembler.expire(now)
        for group in expired:
            self._promised.pop((group.key, group.reference, group.total), None)
            log.warning(
                "dropped a long message of account %s: only parts %s of %d came within %.0f s",
                group.key[0],
                ",".join(map(str, group.numbers)),
                group.total,
                self._reassembler.timeout_s,
            )
        return expired

    def next_expiry_in(self) -> float | None:
        """Seconds until :meth:`expire` next has a message to drop; None while none waits."""
        deadline = self._reassembler.next_deadline()
        return None if deadline is None else deadline - self._monotonic()

    def _add_part(
        self, account_id: str, pdu: SubmitSm | DataSm, part: Part
    ) -> Held | tuple[str, bytes, int]:
        """Hold a part: :class:`Held` while parts are missing, (id, user data,
        registered_delivery) once the message is whole."""
        numbers.parse_destination(pdu.destination_addr)  # a bad number fails on the first part
        now = self._monotonic()
        self._expire(now)  # stale groups out of the bounds first
        key = (account_id, pdu.source_addr, pdu.destination_addr)
        group_id = (key, part.reference, part.total)
        promised = self._promised.get(group_id)
        new_group = promised is None
        if promised is None:
            promised = self._promised[group_id] = self._new_message_id()
        try:
            done = self._reassembler.add(
                key, part, data_coding=pdu.data_coding, now=now, tag=pdu.registered_delivery
            )
        except ConcatError:
            if new_group:  # a refused part leaves no group behind
                del self._promised[group_id]
            raise
        if done is None:
            return Held(promised)
        self._promised.pop(group_id, None)
        return promised, done.body, strongest_receipt_request(done.tags)

    def _validity(self, value: str) -> int | None:
        return validity_seconds(value, self._clock.now()) if value else None


# --- fields ---------------------------------------------------------------------------------------


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
    ESME_RINVEXPIRY. ``now`` is the wall clock (POSIX seconds)."""
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
    return min(seconds, MAX_VALIDITY_PERIOD_S)
