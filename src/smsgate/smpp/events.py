"""What :meth:`~smsgate.smpp.session.SmppSession.next_event` hands the driver.

Frozen dataclasses, as h11's events: the session has already answered everything it can answer
by itself (enquire_link, unbind, decode errors, state violations); these are what is left for the
driver to decide or to know. Which ones a session gives depends on its role:

- both: :class:`Request`, :class:`ResponseReceived`, :class:`RequestTimedOut`, :class:`Unbound`,
  :class:`ConnectionShouldClose`;
- SMSC only: :class:`BindRequested`;
- ESME only: :class:`BindAccepted`, :class:`BindRejected`, :class:`OutbindReceived`,
  :class:`AlertReceived`.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.smpp.constants import CommandStatus
from smsgate.smpp.pdu import (
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    GenericNack,
    Outbind,
    Pdu,
)

__all__ = [
    "AlertReceived",
    "BindAccepted",
    "BindPdu",
    "BindRejected",
    "BindRequested",
    "BindRespPdu",
    "ConnectionShouldClose",
    "Event",
    "OutbindReceived",
    "Request",
    "RequestTimedOut",
    "ResponseReceived",
    "Unbound",
]

BindPdu = BindTransmitter | BindReceiver | BindTransceiver
BindRespPdu = BindTransmitterResp | BindReceiverResp | BindTransceiverResp


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of the session's events."""


@dataclass(frozen=True, slots=True)
class BindRequested(Event):
    """SMSC: a bind_* in the OPEN state (§4.1). Check the credentials, then call
    ``accept_bind(pdu, system_id)`` or ``reject_bind(pdu, status)``; PDUs that arrived behind it
    wait until then."""

    pdu: BindPdu


@dataclass(frozen=True, slots=True)
class BindAccepted(Event):
    """ESME: the SMSC answered our ``send_bind`` with ESME_ROK; the session is bound.
    ``pdu.system_id`` names the SMSC, its sc_interface_version TLV the version it speaks."""

    pdu: BindRespPdu
    request: BindPdu


@dataclass(frozen=True, slots=True)
class BindRejected(Event):
    """ESME: the SMSC refused our ``send_bind`` (its bind_resp with an error, or a generic_nack);
    the session is OPEN again and may bind again."""

    pdu: BindRespPdu | GenericNack
    request: BindPdu

    @property
    def status(self) -> int:
        """Why: the SMSC's command_status (ESME_RINVPASWD, ESME_RBINDFAIL...); ESME_RBINDFAIL
        for a generic_nack that says ESME_ROK, so a rejection never reads as success."""
        return self.pdu.command_status or CommandStatus.ESME_RBINDFAIL


@dataclass(frozen=True, slots=True)
class OutbindReceived(Event):
    """ESME: the SMSC asks us to bind (§4.1.7, §2.2.1); outbind takes no response. Check its
    ``system_id``/``password``, then ``send_bind(BindKind.RECEIVER, ...)`` or close."""

    pdu: Outbind


@dataclass(frozen=True, slots=True)
class Request(Event):
    """A request from the peer allowed in the current state: submit_sm, submit_multi, data_sm,
    query_sm, cancel_sm or replace_sm at an SMSC; deliver_sm or data_sm at an ESME. Answer it
    with ``respond(resp)``, in any order (§2.6: windowing)."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class AlertReceived(Event):
    """ESME: an alert_notification (§4.12), which takes no response: nothing to answer."""

    pdu: AlertNotification


@dataclass(frozen=True, slots=True)
class ResponseReceived(Event):
    """The peer answered a request sent with ``send_request``: its ``*_resp`` or a
    generic_nack with the same sequence number."""

    pdu: Pdu
    request: Pdu


@dataclass(frozen=True, slots=True)
class RequestTimedOut(Event):
    """No response to ``pdu`` within ``response_timeout``; a late answer is dropped."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class Unbound(Event):
    """The session was unbound (§4.2): by the peer's unbind, or by its unbind_resp to ours."""


@dataclass(frozen=True, slots=True)
class ConnectionShouldClose(Event):
    """The session is CLOSED: write ``data_to_send()`` one last time, then close the transport."""

    reason: str
