"""What :class:`~smsgate.smpp.session.SmscSession.next_event` hands the driver.

Frozen dataclasses, as h11's events: the session has already answered everything it can answer
by itself (enquire_link, unbind, decode errors, state violations); these are what is left for the
driver to decide or to know.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.smpp.pdu import BindReceiver, BindTransceiver, BindTransmitter, Pdu

__all__ = [
    "BindPdu",
    "BindRequested",
    "ConnectionShouldClose",
    "Event",
    "Request",
    "RequestTimedOut",
    "ResponseReceived",
    "Unbound",
]

BindPdu = BindTransmitter | BindReceiver | BindTransceiver


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of the session's events."""


@dataclass(frozen=True, slots=True)
class BindRequested(Event):
    """A bind_* in the OPEN state (§4.1). Check the credentials, then call ``accept_bind(pdu,
    system_id)`` or ``reject_bind(pdu, status)``; PDUs that arrived behind it wait until then."""

    pdu: BindPdu


@dataclass(frozen=True, slots=True)
class Request(Event):
    """A submit_sm, submit_multi, data_sm, query_sm, cancel_sm or replace_sm allowed in the
    current state. Answer it with ``respond(resp)``, in any order (§2.6: windowing)."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class ResponseReceived(Event):
    """The ESME answered a request sent with ``send_request``: its ``*_resp`` or a
    generic_nack with the same sequence number."""

    pdu: Pdu
    request: Pdu


@dataclass(frozen=True, slots=True)
class RequestTimedOut(Event):
    """No response to ``pdu`` within ``response_timeout``; a late answer is dropped."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class Unbound(Event):
    """The session was unbound (§4.2): by the ESME's unbind, or by its unbind_resp to ours."""


@dataclass(frozen=True, slots=True)
class ConnectionShouldClose(Event):
    """The session is CLOSED: write ``data_to_send()`` one last time, then close the transport."""

    reason: str
