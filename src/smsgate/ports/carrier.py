"""Carriers: where accepted messages leave smsgate.

A carrier takes a batch of messages and says what happened to each one (:data:`SubmitOutcome`):
:class:`Accepted` with its own id for every part, :class:`Rejected` for good with a receipt code,
or :class:`Retry` later. It reports final receipts through the :data:`ReceiptSink` it was started
with. The built-in simulator and (later) upstream SMPP connectors implement this port; each names
itself in its outcomes (``connector``), so that receipts arriving with the carrier's ids can be
matched by (connector, carrier id).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from smsgate.domain.models import Message, Receipt, SubmitOutcome
from smsgate.smpp.pdu import DataSm, DeliverSm

__all__ = ["BindReport", "Carrier", "ConnectorHealth", "ReceiptSink", "UpstreamSink"]

#: Where a carrier reports final receipts. Awaited: a sink may be a round trip away (a store,
#: another process); the carrier goes on with its other work meanwhile.
ReceiptSink = Callable[[Sequence[Receipt]], Awaitable[None]]


class Carrier(Protocol):
    #: True when handing a message over again after a crash is harmless (the simulator); a real
    #: carrier instead waits for receipts of SUBMITTED messages until they expire.
    resubmit_on_recovery: bool
    #: True when the hand-over must be recorded (status SUBMITTED, connector, carrier ids) before
    #: the receipt can be matched. The simulator reports them in its receipts instead, which saves
    #: a store write per message.
    records_submission: bool

    async def start(self, sink: ReceiptSink) -> None: ...
    async def submit(self, messages: Sequence[Message]) -> list[SubmitOutcome]:
        """One outcome per message, in any order. Raising means the carrier took none of them
        (or cannot tell): the whole batch goes back on the queue."""
        ...

    async def cancel(self, message_id: str) -> bool:
        """Withdraw a message handed over and not yet delivered, when the carrier can (SMPP
        cancel_sm); False when it cannot or the message is no longer pending there."""
        ...

    async def close(self) -> None: ...


class UpstreamSink(Protocol):
    """Where an upstream SMPP connector hands what its SMSC delivers: receipts and MO messages.

    The connector hands over what one read brought, together (a burst of receipts is then one
    store write), and answers each deliver_sm (or data_sm) with its status in the list this
    returns, only after it returns, so that what the SMSC is told was taken (ESME_ROK) is
    durably taken: a receipt applied or kept until its message's id is known, an MO message
    stored. A temporary failure (the store is down) returns ESME_RX_T_APPNACK and the SMSC
    delivers it again later.
    """

    async def deliver_all(self, connector: str, pdus: Sequence[DeliverSm | DataSm]) -> list[int]:
        """Take ``pdus`` from ``connector``; the command_status to answer each with."""
        ...


@runtime_checkable
class ConnectorHealth(Protocol):
    """Optional, beside :class:`Carrier`: whether a connector can take submits now.

    The routing carrier (``service.connectors.ConnectorSet``) sends a message past a connector
    that is not up to the next one of its route plan, without asking it first. A carrier
    without this method is taken as up, and says it is not by answering ``Retry``."""

    def is_up(self) -> bool:
        """True while at least one bind can take a submit_sm."""
        ...


@runtime_checkable
class BindReport(Protocol):
    """Optional, beside :class:`Carrier`: each bind's live state, for ``connectors list`` and
    ``GET /admin/connectors``."""

    def bind_states(self) -> Sequence[Mapping[str, object]]:
        """One JSON-ready object per bind, e.g. ``{"bind": 1, "mode": "transceiver", "state":
        "bound", "in_flight": 3}``; never a password."""
        ...
