"""One ESME connection to the standalone SMSC: its bind, its requests, the deliver_sm it takes.

A :class:`SmscConnection` is the :class:`~smsgate.drivers.smpp.SessionHandler` of one
:class:`~smsgate.drivers.smpp.SmppDriver` in the SMSC role (the driver does the session, timers,
windows and backpressure; the session answers enquire_link, unbind and undecodable PDUs with
generic_nack). Binds are answered at once, from the credentials the SMSC was started with.
Requests go to :data:`COMMANDS` by command_id: submit_sm, data_sm and submit_multi are judged
by :class:`~.core.SmscCore`; query_sm, cancel_sm and replace_sm are refused, as this SMSC keeps
no message store. A bind that can receive is a :class:`~.outbox.DeliveryLink` of its system_id.

Every bind, refused bind and closed connection is one log line (``simulator.bind``,
``simulator.bind_refused``, ``simulator.close``) with the system_id, the bind type and the peer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from smsgate.drivers.smpp import SessionHandler, SmppDriver
from smsgate.logs import log_event
from smsgate.smpp.constants import CommandId, CommandStatus, TlvTag
from smsgate.smpp.errors import response_command_id
from smsgate.smpp.events import BindRequested, Request, RequestTimedOut, ResponseReceived, Unbound
from smsgate.smpp.pdu import (
    PDU_CLASSES,
    DataSm,
    DataSmResp,
    DistributionList,
    Pdu,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    UnsuccessSme,
)
from smsgate.smpp.session import SessionState, SmppSession

from .core import Destination, SmscCore
from .deliveries import Delivery

__all__ = ["COMMANDS", "SmscConnection"]

log = logging.getLogger("smsgate.simulator")

_RECEIVES: Final = frozenset({SessionState.BOUND_RX, SessionState.BOUND_TRX})
_BIND_TYPES: Final = {
    CommandId.BIND_TRANSMITTER: "transmitter",
    CommandId.BIND_RECEIVER: "receiver",
    CommandId.BIND_TRANSCEIVER: "transceiver",
}


def _peer_of(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer or "")


class SmscConnection(SessionHandler):
    """The SMSC's side of one connection, and a delivery link once bound to receive."""

    def __init__(self, core: SmscCore, lost: Callable[[SmppDriver], None]) -> None:
        self.core = core
        self._lost = lost
        # Set by connection_made, which the driver calls before anything else.
        self.driver: SmppDriver
        self.session: SmppSession
        self._system_id = ""
        self._bind_type: str | None = None
        self._peer = ""
        self._receiver = False
        self._in_flight: dict[int, Delivery] = {}  # deliver_sm sequence number -> what it is
        self._answered = False  # deliver_sm answered in this read: pump the outbox

    @property
    def system_id(self) -> str:
        return self._system_id

    # --- SessionHandler -----------------------------------------------------------------------

    def connection_made(self, driver: SmppDriver) -> None:
        self.driver = driver
        self.session = driver.session
        self._peer = _peer_of(driver.peername)

    def bind_requested(self, event: BindRequested) -> None:
        pdu = event.pdu
        self._bind_type = _BIND_TYPES.get(pdu.command_id, "?")
        status = self.core.check_bind(pdu.system_id, pdu.password)
        fields = {"system_id": pdu.system_id, "bind": self._bind_type, "peer": self._peer}
        if status:
            self.session.reject_bind(pdu, status)
            log_event(log, logging.INFO, "simulator.bind_refused", **fields, status=_name(status))
            return
        self.session.accept_bind(pdu, self.core.settings.system_id)
        self._system_id = pdu.system_id
        log_event(log, logging.INFO, "simulator.bind", **fields)
        if self.session.state in _RECEIVES:
            self._receiver = True
            self.core.outbox.attach(self)

    def request_received(self, event: Request) -> None:
        pdu = event.pdu
        COMMANDS.get(pdu.command_id, _refuse_unserved)(self, pdu)

    def response_received(self, event: ResponseReceived) -> None:
        self._on_answer(event.request.sequence_number, event.pdu.command_status)

    def request_timed_out(self, event: RequestTimedOut) -> None:
        self._on_answer(event.pdu.sequence_number, None)

    def unbound(self, event: Unbound) -> None:  # noqa: ARG002 - the hook's signature
        self._release()

    def events_handled(self) -> None:
        if self._answered:
            self._answered = False
            self.core.outbox.pump(self._system_id)

    def writing_resumed(self) -> None:
        if self._receiver:
            self.core.outbox.pump(self._system_id)

    def finished(self, reason: str) -> None:
        self._release()
        log_event(
            log,
            logging.INFO if self._bind_type is not None else logging.DEBUG,
            "simulator.close",
            system_id=self._system_id or None,
            bind=self._bind_type,
            peer=self._peer,
            reason=reason,
        )

    def connection_lost(self) -> None:
        self._lost(self.driver)

    def _release(self) -> None:
        """Stop taking deliver_sm; what this bind did not answer goes to the next one."""
        if self._receiver:
            self._receiver = False
            unanswered = list(self._in_flight.values())
            self._in_flight.clear()
            self.core.outbox.detach(self, unanswered)

    # --- outbox.DeliveryLink ------------------------------------------------------------------

    def can_send(self) -> bool:
        return self._receiver and self.driver.can_send()

    def send(self, delivery: Delivery) -> None:
        # Built with the number it is sent under, so the session need not copy it to number it.
        pdu = delivery.pdu(self.session.next_sequence_number)
        self._in_flight[self.driver.send_request(pdu)] = delivery

    def _on_answer(self, seq: int, status: int | None) -> None:
        delivery = self._in_flight.pop(seq, None)
        if delivery is None:
            return
        if status == CommandStatus.ESME_ROK:
            self.core.outbox.acknowledged(self._system_id)
        else:
            self.core.outbox.refused(self._system_id, delivery)
        self._answered = True

    # --- answers ------------------------------------------------------------------------------

    def answer(self, request: Pdu, status: int) -> None:
        """The request's own ``*_resp`` with ``status`` and nothing else."""
        cls = PDU_CLASSES[response_command_id(request.command_id)]
        self.session.respond(cls(sequence_number=request.sequence_number, command_status=status))


def _name(status: int) -> str:
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08x}"


# --- requests -------------------------------------------------------------------------------------


def submit_sm(conn: SmscConnection, pdu: SubmitSm) -> None:
    body = pdu.short_message or pdu.tlv_bytes(TlvTag.MESSAGE_PAYLOAD) or b""
    destination = (pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr)
    status, message_id = conn.core.take(conn.system_id, pdu, destination, body)
    conn.session.respond(
        SubmitSmResp(
            sequence_number=pdu.sequence_number, command_status=status, message_id=message_id
        )
    )


def data_sm(conn: SmscConnection, pdu: DataSm) -> None:
    body = pdu.tlv_bytes(TlvTag.MESSAGE_PAYLOAD) or b""
    destination = (pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr)
    status, message_id = conn.core.take(conn.system_id, pdu, destination, body)
    conn.session.respond(
        DataSmResp(
            sequence_number=pdu.sequence_number, command_status=status, message_id=message_id
        )
    )


def submit_multi(conn: SmscConnection, pdu: SubmitMulti) -> None:
    """One message id for every destination taken; distribution lists are not kept here
    (ESME_RINVDLNAME), and when every destination is refused the first refusal is the
    command's status."""
    unsuccess: list[UnsuccessSme] = []
    destinations: list[Destination] = []
    for dest in pdu.dest_addresses:
        if isinstance(dest, DistributionList):
            unsuccess.append(UnsuccessSme(dest.name, error_status_code=_NO_LISTS))
        else:
            destinations.append((dest.ton, dest.npi, dest.address))
    if not pdu.dest_addresses:
        conn.answer(pdu, CommandStatus.ESME_RINVNUMDESTS)
        return
    message_id, refused = conn.core.take_multi(conn.system_id, pdu, destinations)
    unsuccess += [UnsuccessSme(a, ton, npi, status) for (ton, npi, a), status in refused]
    status = CommandStatus.ESME_ROK if message_id else unsuccess[0].error_status_code
    conn.session.respond(
        SubmitMultiResp(
            sequence_number=pdu.sequence_number,
            command_status=status,
            message_id=message_id,
            unsuccess_smes=tuple(unsuccess) if message_id else (),
        )
    )


_NO_LISTS: Final = CommandStatus.ESME_RINVDLNAME
#: This SMSC keeps no record of messages: what would need one is refused with its own status.
_UNSERVED: Final = {
    CommandId.QUERY_SM: CommandStatus.ESME_RQUERYFAIL,
    CommandId.CANCEL_SM: CommandStatus.ESME_RCANCELFAIL,
    CommandId.REPLACE_SM: CommandStatus.ESME_RREPLACEFAIL,
}


def _refuse_unserved(conn: SmscConnection, pdu: Pdu) -> None:
    conn.answer(pdu, _UNSERVED.get(pdu.command_id, CommandStatus.ESME_RINVCMDID))


#: A request's handler: it answers through ``conn.session``.
Command = Callable[[SmscConnection, Any], None]

#: command_id -> handler of a request from a bound ESME (the others are refused).
COMMANDS: Final[Mapping[int, Command]] = {
    CommandId.SUBMIT_SM: submit_sm,
    CommandId.DATA_SM: data_sm,
    CommandId.SUBMIT_MULTI: submit_multi,
}
