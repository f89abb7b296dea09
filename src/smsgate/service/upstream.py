"""What upstream SMSCs deliver: the :class:`~smsgate.ports.carrier.UpstreamSink` of every
connector.

A connector hands the deliver_sm and data_sm of one read to :meth:`UpstreamService.deliver_all`
and answers each with its status returned, only once it returns: ESME_ROK means what the PDU
carried is durably taken. The PDU's message type (esm_class bits 2-5, SMPP 3.4 §5.2.12) says
what it is:

- an SMSC delivery receipt (0x04) or an SME delivery acknowledgement (0x08): a receipt for one
  of our messages, matched by the carrier's id (:mod:`smsgate.service.upstream_receipts`);
- an intermediate delivery notification (0x20), or another acknowledgement: not final, taken
  and ignored;
- a plain message (0): an MO message for the account that owns its destination number
  (:mod:`smsgate.service.inbound`).

The receipts of one call are applied in one store write, so a store failure answers all of them
ESME_RX_T_APPN (temporary: the SMSC delivers again later), logged once
per run of failures; so does an unexpected fault (logged with its traceback), so that nothing
the SMSC sent is lost to a bug. Messages that never get a receipt are expired by
``service.expiry``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import Final

from smsgate.domain.carrier_receipts import CarrierReceipt
from smsgate.ports.clock import Clock
from smsgate.ports.store import InboundStore, MessageStore, StoreError
from smsgate.service.inbound import InboundDesk
from smsgate.service.policy import PolicyCache
from smsgate.service.receipts import ReceiptProcessor
from smsgate.service.store_faults import StoreFaults
from smsgate.service.upstream_receipts import UpstreamReceipts
from smsgate.smpp.constants import CommandStatus
from smsgate.smpp.pdu import DataSm, DeliverSm

__all__ = [
    "INTERMEDIATE",
    "MESSAGE_TYPE",
    "RECEIPT_TYPES",
    "UpstreamService",
    "answers",
    "sort_delivered",
]

log = logging.getLogger(__name__)

#: esm_class bits 2-5: the message type of a deliver_sm or data_sm from an SMSC.
MESSAGE_TYPE: Final = 0x3C
#: SMSC delivery receipt, SME delivery acknowledgement.
RECEIPT_TYPES: Final = frozenset({0x04, 0x08})
#: Intermediate delivery notification: the message is still on its way.
INTERMEDIATE: Final = 0x20


def sort_delivered(pdus: Sequence[DeliverSm | DataSm]) -> tuple[list[int], list[int]]:
    """The indexes of the receipts among ``pdus`` and of the MO messages, by message type; the
    others (intermediate notifications, acknowledgements by a user) are taken and ignored."""
    receipts: list[int] = []
    inbound: list[int] = []
    for index, pdu in enumerate(pdus):
        kind = pdu.esm_class & MESSAGE_TYPE
        if kind in RECEIPT_TYPES:
            receipts.append(index)
        elif not kind:
            inbound.append(index)
    return receipts, inbound


def answers(
    count: int,
    receipts: Sequence[int],
    receipt_status: int,
    inbound: Sequence[int],
    inbound_statuses: Sequence[int],
) -> list[int]:
    """The command_status of each of ``count`` PDUs sorted by :func:`sort_delivered`: every
    receipt answered ``receipt_status``, each MO message its own, the rest ESME_ROK."""
    statuses = [int(CommandStatus.ESME_ROK)] * count
    for index in receipts:
        statuses[index] = int(receipt_status)
    for index, status in zip(inbound, inbound_statuses, strict=True):
        statuses[index] = int(status)
    return statuses


class UpstreamService:
    """Receipts and MO messages from every connector (see the module)."""

    def __init__(
        self,
        messages: MessageStore,
        inbound: InboundStore,
        receipts: ReceiptProcessor,
        policy: PolicyCache,
        clock: Clock,
    ) -> None:
        self.receipts = UpstreamReceipts(messages, receipts, policy, clock)
        self.inbound = InboundDesk(inbound, policy, clock)
        self._faults = StoreFaults(log)

    async def deliver_all(self, connector: str, pdus: Sequence[DeliverSm | DataSm]) -> list[int]:
        """Take ``pdus`` from ``connector``; the command_status to answer each with."""
        receipts, inbound = sort_delivered(pdus)
        work = [self._take_receipts(connector, [pdus[i] for i in receipts])] if receipts else []
        work.extend(self._take_inbound(connector, pdus[i]) for i in inbound)
        done = await asyncio.gather(*work)
        receipt_status = done[0] if receipts else int(CommandStatus.ESME_ROK)
        inbound_statuses = done[1:] if receipts else done
        return answers(len(pdus), receipts, receipt_status, inbound, inbound_statuses)

    async def deliver_read(
        self,
        connector: str,
        reads: Sequence[tuple[CarrierReceipt, list[str]]],
        inbound: Sequence[DeliverSm | DataSm],
    ) -> tuple[int, list[int]]:
        """What a connector process read from ``connector``: final receipts already read by its
        table (:func:`~smsgate.service.upstream_receipts.read_receipts`) and MO PDUs. The
        status to answer every receipt with, and each MO PDU's."""
        taking = self._guarded(
            "take receipts", connector, self.receipts.take_read(connector, reads)
        )
        if not inbound:  # the usual case, awaited directly (a gather costs loop passes)
            return await taking, []
        done = await asyncio.gather(taking, *(self._take_inbound(connector, p) for p in inbound))
        return done[0], list(done[1:])

    async def _take_receipts(self, connector: str, pdus: list[DeliverSm | DataSm]) -> int:
        return await self._guarded(
            "take receipts", connector, self.receipts.take_all(connector, pdus)
        )

    async def _take_inbound(self, connector: str, pdu: DeliverSm | DataSm) -> int:
        return await self._guarded(
            "take an MO message", connector, self.inbound.take(connector, pdu)
        )

    async def _guarded(self, operation: str, connector: str, work: Awaitable[int | None]) -> int:
        """``work``'s status (ESME_ROK for None); ESME_RX_T_APPN when it failed."""
        try:
            status = await work
        except StoreError as exc:
            self._faults.failure(operation, exc)
            return CommandStatus.ESME_RX_T_APPN
        except Exception:
            # A fault of ours: the SMSC keeps the PDU and sends it again, rather than have it
            # lost; the traceback says what to fix.
            log.exception("could not %s from %s", operation, connector)
            return CommandStatus.ESME_RX_T_APPN
        self._faults.success(operation)
        return CommandStatus.ESME_ROK if status is None else status

    async def close(self) -> None:
        """Stop the look-ups in flight (their deliver_sm go unanswered: the SMSC sends again)."""
        await self.receipts.close()
