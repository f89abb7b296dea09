"""MO messages from upstream SMSCs, to the accounts that own the numbers they were sent to.

A deliver_sm (or data_sm) that is not a receipt is a message from a handset:

1. Its destination finds its owner in the ``inbound`` policy document (numbers and prefixes ->
   account, longest first; the digits after the entry are its ``dest_code``). Nobody owns it:
   logged and answered ESME_ROK all the same, since refusing would make the SMSC deliver it
   again for ever and nobody would ever take it.
2. A part of a long message (UDH with an 8- or 16-bit reference, or the SAR TLVs, read by
   :mod:`smsgate.smpp.reassembly`) is stored before it is answered; the part that makes its
   message whole gets the parts back, joined in order before decoding.
3. The text is decoded as the SMPP door decodes submitted text
   (:func:`~smsgate.domain.inbound.decode_mo_text`) and the message stored with its deliveries
   in one transaction: an SmsUp push to the account's callback URL (if it has one) and
   deliver_sm to its SMPP binds (if it has SMPP credentials). Only then is the PDU answered.
4. Listeners (:meth:`InboundDesk.add_listener`) hear of each message once it is durable: the
   SmsUp pusher is woken, and the SMPP door sends it to a bound receiver right away.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from smsgate.domain.inbound import DOCUMENT, InboundMessage, InboundNumbers, decode_mo_text
from smsgate.logs import log_event
from smsgate.ports.clock import Clock
from smsgate.ports.store import InboundPart, InboundStore
from smsgate.service.policy import PolicyCache
from smsgate.service.smpp_accounts import DOCUMENT as SMPP_DOCUMENT
from smsgate.service.smpp_accounts import SmppCredential
from smsgate.smpp.constants import CommandStatus, TlvTag
from smsgate.smpp.errors import InvalidTlvValueError
from smsgate.smpp.pdu import DataSm, DeliverSm
from smsgate.smpp.reassembly import ConcatError, Part, part_of

__all__ = ["InboundDesk", "InboundListener", "user_data"]

log = logging.getLogger(__name__)

InboundListener = Callable[[Sequence[InboundMessage]], None]

_NOBODY: Final = InboundNumbers({})


def user_data(pdu: DeliverSm | DataSm) -> bytes | Part:
    """The body of a whole message, or the :class:`Part` of a long one, that ``pdu`` carries:
    ``message_payload`` if present, else ``short_message``, numbered by its UDH (esm_class
    0x40) or its SAR TLVs. ConcatError (with the status to answer) for malformed numbering."""
    body = pdu.tlv_bytes(TlvTag.MESSAGE_PAYLOAD)
    if body is None:
        body = pdu.short_message if isinstance(pdu, DeliverSm) else b""
    try:
        reference = pdu.tlv_int(TlvTag.SAR_MSG_REF_NUM)
        total = pdu.tlv_int(TlvTag.SAR_TOTAL_SEGMENTS)
        number = pdu.tlv_int(TlvTag.SAR_SEGMENT_SEQNUM)
    except InvalidTlvValueError as exc:
        raise ConcatError(str(exc), CommandStatus.ESME_RINVOPTPARAMVAL) from None
    return part_of(
        pdu.esm_class,
        body,
        sar_msg_ref_num=reference,
        sar_total_segments=total,
        sar_segment_seqnum=number,
    )


def _number(address: str) -> str:
    return address.strip().lstrip("+")


class InboundDesk:
    """Takes MO messages from every connector (see the module)."""

    def __init__(self, store: InboundStore, policy: PolicyCache, clock: Clock) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._listeners: list[InboundListener] = []

    def add_listener(self, listener: InboundListener) -> None:
        """``listener`` is called with MO messages once they are stored (with their
        ``sequence_id``), whether or not their account has a callback URL or SMPP binds."""
        self._listeners.append(listener)

    async def take(self, connector: str, pdu: DeliverSm | DataSm) -> int:
        """Store the MO message (or part) ``pdu`` carries; the command_status to answer it
        with. Raises StoreError when it could not be stored (the SMSC must send it again)."""
        destination = _number(pdu.destination_addr)
        numbers: InboundNumbers = await self._policy.document(DOCUMENT, _NOBODY)
        owner = numbers.owner(destination)
        if owner is None:
            log_event(
                log, logging.WARNING, "mo.no_owner", connector=connector, destination=destination
            )
            return CommandStatus.ESME_ROK
        try:
            piece = user_data(pdu)
        except ConcatError as exc:
            log_event(
                log, logging.WARNING, "mo.refused", connector=connector, status=f"0x{exc.status:x}"
            )
            return exc.status
        now = self._clock.now()
        source = _number(pdu.source_addr)
        completes: InboundPart | None = None
        if isinstance(piece, Part):
            completes = InboundPart(
                connector,
                source,
                destination,
                piece.reference,
                piece.total,
                piece.number,
                pdu.data_coding,
                piece.body,
                now,
            )
            parts = await self._store.add_inbound_part(completes)
            if parts is None:
                return CommandStatus.ESME_ROK  # kept: the message waits for its other parts
            text = decode_mo_text(b"".join(p.body for p in parts), parts[0].data_coding)
        else:
            text = decode_mo_text(piece, pdu.data_coding)
        account_id, dest_code = owner
        message = InboundMessage(
            0, account_id, source, destination, dest_code, text, now, connector
        )
        smpp = await self._has_smpp(account_id)
        stored = await self._store.store_inbound(message, completes=completes, smpp=smpp)
        if stored is not None:  # None: a repeated last part, whose message is stored already
            log_event(
                log,
                logging.INFO,
                "mo.received",
                connector=connector,
                account=account_id,
                sequence_id=stored.sequence_id,
            )
            for listener in self._listeners:
                listener([stored])
        return CommandStatus.ESME_ROK

    async def _has_smpp(self, account_id: str) -> bool:
        """Whether the account has SMPP credentials: only then is a deliver_sm owed to it."""
        credentials: Mapping[str, SmppCredential] = await self._policy.document(SMPP_DOCUMENT, {})
        return any(c.account_id == account_id for c in credentials.values())
