"""An :class:`SmppConnector` as the routing carrier sees every carrier.

The connector speaks to its SMSC and hands what the SMSC delivers to an ``UpstreamSink``; the
routing carrier (``service.connectors.ConnectorSet``) starts carriers with a ``ReceiptSink``
and asks the optional ``ConnectorHealth`` and ``BindReport`` questions. This adapter joins the
two without the connector knowing about routing: receipts reach the ReceiptProcessor through
the upstream sink (which matches them by carrier id first), so the receipt sink is not used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict

from smsgate.domain.models import Message, SubmitOutcome
from smsgate.ports.carrier import ReceiptSink, UpstreamSink

from .connector import SmppConnector

__all__ = ["SmppCarrier"]


class SmppCarrier:
    """``connector`` behind the Carrier port, ConnectorHealth and BindReport."""

    resubmit_on_recovery = SmppConnector.resubmit_on_recovery
    records_submission = SmppConnector.records_submission

    def __init__(self, connector: SmppConnector, upstream: UpstreamSink) -> None:
        self.connector = connector
        self._upstream = upstream

    async def start(self, sink: ReceiptSink) -> None:  # noqa: ARG002 - see the module docstring
        await self.connector.start(self._upstream)

    async def submit(self, messages: Sequence[Message]) -> list[SubmitOutcome]:
        return await self.connector.submit(messages)

    async def cancel(self, message_id: str) -> bool:
        return await self.connector.cancel(message_id)

    async def close(self) -> None:
        await self.connector.close()

    def is_up(self) -> bool:
        return self.connector.is_up

    def bind_states(self) -> Sequence[Mapping[str, object]]:
        state = self.connector.state()
        return [{**asdict(bind), "waiting": state.waiting} for bind in state.binds]
