"""What upstream SMSCs deliver: the :class:`~smsgate.ports.carrier.UpstreamSink` of every
connector.

A connector hands each deliver_sm or data_sm its SMSC sends to :meth:`UpstreamService.deliver`
and answers it with the status returned, only once it returns: ESME_ROK means what the PDU
carried is durably taken. The PDU's message type (esm_class bits 2-5, SMPP 3.4 §5.2.12) says
what it is:

- an SMSC delivery receipt (0x04) or an SME delivery acknowledgement (0x08): a receipt for one
  of our messages, matched by the carrier's id (:mod:`smsgate.service.upstream_receipts`);
- an intermediate delivery notification (0x20), or another acknowledgement: not final, taken
  and ignored;
- a plain message (0): an MO message for the account that owns its destination number
  (:mod:`smsgate.service.inbound`).

A store failure answers ESME_RX_T_APPN (temporary: the SMSC delivers again later), logged once
per run of failures; so does an unexpected fault (logged with its traceback), so that nothing
the SMSC sent is lost to a bug. Messages that never get a receipt are expired by
``service.expiry``.
"""

from __future__ import annotations

import logging
from typing import Final

from smsgate.ports.clock import Clock
from smsgate.ports.store import InboundStore, MessageStore, StoreError
from smsgate.service.inbound import InboundDesk
from smsgate.service.policy import PolicyCache
from smsgate.service.receipts import ReceiptProcessor
from smsgate.service.store_faults import StoreFaults
from smsgate.service.upstream_receipts import UpstreamReceipts
from smsgate.smpp.constants import CommandStatus
from smsgate.smpp.pdu import DataSm, DeliverSm

__all__ = ["INTERMEDIATE", "MESSAGE_TYPE", "RECEIPT_TYPES", "UpstreamService"]

log = logging.getLogger(__name__)

#: esm_class bits 2-5: the message type of a deliver_sm or data_sm from an SMSC.
MESSAGE_TYPE: Final = 0x3C
#: SMSC delivery receipt, SME delivery acknowledgement.
RECEIPT_TYPES: Final = frozenset({0x04, 0x08})
#: Intermediate delivery notification: the message is still on its way.
INTERMEDIATE: Final = 0x20


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

    async def deliver(self, connector: str, pdu: DeliverSm | DataSm) -> int:
        """Take ``pdu`` from ``connector``; the command_status to answer it with."""
        kind = pdu.esm_class & MESSAGE_TYPE
        operation = "take a receipt" if kind else "take an MO message"
        try:
            if kind in RECEIPT_TYPES:
                await self.receipts.take(connector, pdu)
                status: int = CommandStatus.ESME_ROK
            elif kind:
                status = CommandStatus.ESME_ROK  # intermediate, or an acknowledgement by a user
            else:
                status = await self.inbound.take(connector, pdu)
        except StoreError as exc:
            self._faults.failure(operation, exc)
            return CommandStatus.ESME_RX_T_APPN
        except Exception:
            # A fault of ours: the SMSC keeps the PDU and sends it again, rather than have it
            # lost; the traceback says what to fix.
            log.exception("could not %s from %s", operation, connector)
            return CommandStatus.ESME_RX_T_APPN
        self._faults.success(operation)
        return status

    async def close(self) -> None:
        """Stop the look-ups in flight (their deliver_sm go unanswered: the SMSC sends again)."""
        await self.receipts.close()
