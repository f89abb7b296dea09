"""The SMSC side of an SMPP 3.4 session, sans-IO (DESIGN.md "Protocol code is sans-IO").

Like aioquic's ``QuicConnection``, :class:`SmscSession` never reads a clock or touches a socket:

- bytes in: :meth:`~SmscSession.receive_data` ``(data, now)``;
- events out: :meth:`~SmscSession.next_event` until it returns None (see :mod:`.events`);
- bytes out: :meth:`~SmscSession.data_to_send`, everything queued since the last call, so a
  driver writes once per read (DESIGN.md "Answer SMPP in batches");
- time: :meth:`~SmscSession.get_timer` says when to call :meth:`~SmscSession.handle_timer`.

PDUs are decoded lazily by ``next_event``, in arrival order. While a bind waits for
``accept_bind`` / ``reject_bind``, the PDUs behind it stay buffered, so a bind and a submit_sm
sent in one segment give BindRequested, then (once bound) Request.

The session answers by itself: enquire_link, unbind, decode errors (the codec's
:func:`~smsgate.smpp.codec.error_response`, closing when ``close_connection`` is set) and commands
not allowed in the current state (§2.3, :data:`REQUEST_STATES`). Methods raise only
:class:`SessionError` subclasses, ``ValueError`` and :class:`~smsgate.smpp.errors.SmppEncodeError`
for driver mistakes; no byte from the peer makes any method raise.

``now`` is any monotonic clock in seconds and must not go backwards.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import deque
from dataclasses import dataclass
from typing import Final

from smsgate.smpp.codec import NEED_DATA, PduReader, encode, error_response
from smsgate.smpp.constants import RESPONSE_BIT, CommandId, CommandStatus, TlvTag
from smsgate.smpp.errors import SmppDecodeError, response_command_id
from smsgate.smpp.events import (
    BindPdu,
    BindRequested,
    ConnectionShouldClose,
    Event,
    Request,
    RequestTimedOut,
    ResponseReceived,
    Unbound,
)
from smsgate.smpp.pdu import (
    PDU_CLASSES,
    BindReceiverResp,
    BindTransceiverResp,
    BindTransmitterResp,
    EnquireLink,
    EnquireLinkResp,
    Pdu,
    Tlv,
    Unbind,
    UnbindResp,
    make_tlv,
)

__all__ = [
    "MAX_SEQUENCE",
    "REQUEST_STATES",
    "RESPONSE_STATES",
    "SEND_STATES",
    "InvalidStateError",
    "SessionError",
    "SessionState",
    "SmscSession",
    "WindowFullError",
]

#: §5.1.4 (sequence_number): 0x00000001 to 0x7FFFFFFF, then wraps to 1.
MAX_SEQUENCE: Final = 0x7FFFFFFF

#: The interface version this SMSC speaks, sent as sc_interface_version (§5.3.2.25).
_INTERFACE_VERSION: Final = 0x34


class SessionState(enum.Enum):
    """Session states of §2.3."""

    OPEN = "open"  # connected, not bound
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBOUND = "unbound"  # our unbind sent, waiting for unbind_resp
    CLOSED = "closed"


class SessionError(Exception):
    """A driver called the session in a way it cannot honour (never caused by peer bytes)."""


class InvalidStateError(SessionError):
    """The call is not allowed in the current state, or names a PDU the session does not
    expect (a response to no pending request, a bind that is not the pending one)."""


class WindowFullError(SessionError):
    """``send_request`` with ``window`` requests already unanswered; check ``can_send()``."""


_S = SessionState
_OPEN = frozenset({_S.OPEN})
_BOUND = frozenset({_S.BOUND_TX, _S.BOUND_RX, _S.BOUND_TRX})
_TX = frozenset({_S.BOUND_TX, _S.BOUND_TRX})
_RX = frozenset({_S.BOUND_RX, _S.BOUND_TRX})
_LIVE = frozenset(_S) - {_S.CLOSED}

#: Requests an ESME may send to an SMSC and the states allowing them (§2.3, §2.4). Outside them
#: the answer is ESME_RALYBND for a bind while bound, ESME_RINVBNDSTS otherwise; a command not
#: listed (deliver_sm, outbind, alert_notification go SMSC -> ESME) is answered ESME_RINVCMDID.
REQUEST_STATES: Final[dict[int, frozenset[SessionState]]] = {
    CommandId.BIND_TRANSMITTER: _OPEN,
    CommandId.BIND_RECEIVER: _OPEN,
    CommandId.BIND_TRANSCEIVER: _OPEN,
    CommandId.SUBMIT_SM: _TX,
    CommandId.SUBMIT_MULTI: _TX,
    CommandId.DATA_SM: _TX,
    CommandId.QUERY_SM: _TX,
    CommandId.CANCEL_SM: _TX,
    CommandId.REPLACE_SM: _TX,
    CommandId.ENQUIRE_LINK: _OPEN | _BOUND,
    CommandId.UNBIND: _BOUND | {_S.UNBOUND},  # both sides unbinding at once
}

#: Responses an SMSC may receive and the states allowing them; outside them a generic_nack
#: ESME_RINVBNDSTS, and ESME_RINVCMDID for a response to nothing an SMSC sends (§4.3).
#: UNBOUND still takes answers to requests sent before our unbind.
RESPONSE_STATES: Final[dict[int, frozenset[SessionState]]] = {
    CommandId.DELIVER_SM_RESP: _RX | {_S.UNBOUND},
    CommandId.DATA_SM_RESP: _RX | {_S.UNBOUND},
    CommandId.ENQUIRE_LINK_RESP: _LIVE,
    CommandId.UNBIND_RESP: frozenset({_S.UNBOUND}),
    CommandId.GENERIC_NACK: _LIVE,  # never answered, so two sessions cannot nack each other
}

#: Requests the driver may send with ``send_request`` and the states allowing them (§2.3).
SEND_STATES: Final[dict[int, frozenset[SessionState]]] = {
    CommandId.DELIVER_SM: _RX,
    CommandId.DATA_SM: _RX,
    CommandId.ALERT_NOTIFICATION: _RX,  # no response (§4.12)
}

_BindResp = BindTransmitterResp | BindReceiverResp | BindTransceiverResp

_BINDS: Final[dict[int, tuple[type[_BindResp], SessionState]]] = {
    CommandId.BIND_TRANSMITTER: (BindTransmitterResp, _S.BOUND_TX),
    CommandId.BIND_RECEIVER: (BindReceiverResp, _S.BOUND_RX),
    CommandId.BIND_TRANSCEIVER: (BindTransceiverResp, _S.BOUND_TRX),
}


@dataclass(slots=True)
class _Outstanding:
    pdu: Pdu
    deadline: float


class SmscSession:
    """One ESME connection seen from the SMSC. See the module docstring for the contract."""

    def __init__(
        self,
        *,
        enquire_link_interval: float = 30,
        inactivity_timeout: float = 300,
        response_timeout: float = 30,
        session_init_timeout: float = 30,
        window: int = 64,
        max_pdu_size: int = 65536,
        now: float,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.enquire_link_interval = enquire_link_interval
        self.inactivity_timeout = inactivity_timeout
        self.response_timeout = response_timeout
        self.session_init_timeout = session_init_timeout
        self.window = window
        #: The accepted bind PDU (system_id, password, address_range...), once bound.
        self.bind: BindPdu | None = None
        self._reader = PduReader(max_pdu_size)
        self._state = _S.OPEN
        self._events: deque[Event] = deque()
        self._out: list[bytes] = []
        self._opened_at = now
        self._last_rx = now
        self._next_seq = 1
        self._outstanding: dict[int, _Outstanding] = {}  # send order = deadline order
        self._inbound: dict[int, int] = {}  # sequence_number -> command_id, unanswered
        self._pending_bind: BindPdu | None = None
        self._enquire_seq: int | None = None
        self._enquire_deadline = 0.0
        self._unbind_seq: int | None = None
        self._unbind_deadline = 0.0

    # --- State ------------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def outstanding(self) -> tuple[Pdu, ...]:
        """Requests sent and not yet answered nor timed out, oldest first (to requeue on close)."""
        return tuple(o.pdu for o in self._outstanding.values())

    @property
    def unanswered(self) -> int:
        """Requests from the ESME handed out as :class:`Request` and not yet responded to."""
        return len(self._inbound)

    @property
    def next_sequence_number(self) -> int:
        """The number ``send_request`` will give the next request: a PDU built with it is sent
        as is (saving a copy of a frozen PDU on a hot path)."""
        return self._peek_sequence()

    def can_send(self) -> bool:
        """True when ``send_request`` of a deliver_sm or data_sm would be accepted now."""
        return self._state in _RX and len(self._outstanding) < self.window

    # --- Input ------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the ESME; any arrival counts as activity. Ignored once CLOSED."""
        if self._state is _S.CLOSED or not data:
            return
        self._last_rx = now
        self._reader.feed(data)

    def next_event(self) -> Event | None:
        """The next event, or None when the input buffered so far is used up (or a bind is
        waiting for ``accept_bind`` / ``reject_bind``). Automatic answers are queued on the way."""
        while not self._events:
            if self._state is _S.CLOSED or self._pending_bind is not None:
                return None
            try:
                pdu = self._reader.next_pdu()
            except SmppDecodeError as exc:
                self._send(error_response(exc))
                if exc.close_connection:
                    self._close(f"{type(exc).__name__}: {exc}")
                continue
            if pdu is NEED_DATA:
                return None
            if pdu.is_response:
                self._on_response(pdu)
            else:
                self._on_request(pdu)
        return self._events.popleft()

    def _on_request(self, pdu: Pdu) -> None:
        cid, seq = pdu.command_id, pdu.sequence_number
        allowed = REQUEST_STATES.get(cid)
        if allowed is None:
            self._answer_error(pdu, CommandStatus.ESME_RINVCMDID)
        elif self._state not in allowed:
            already = cid in _BINDS and self._state in _BOUND
            self._answer_error(
                pdu, CommandStatus.ESME_RALYBND if already else CommandStatus.ESME_RINVBNDSTS
            )
        elif cid == CommandId.ENQUIRE_LINK:
            self._send(EnquireLinkResp(sequence_number=seq))
        elif cid == CommandId.UNBIND:
            self._send(UnbindResp(sequence_number=seq))
            self._events.append(Unbound())
            self._close("unbound by the ESME")
        elif cid in _BINDS:
            assert isinstance(pdu, BindPdu)
            self._pending_bind = pdu
            self._events.append(BindRequested(pdu))
        elif seq in self._inbound:
            # §2.6: the sequence number identifies the request; the spec has no code for reuse.
            self._answer_error(pdu, CommandStatus.ESME_RSYSERR)
        else:
            self._inbound[seq] = cid
            self._events.append(Request(pdu))

    def _on_response(self, pdu: Pdu) -> None:
        cid, seq = pdu.command_id, pdu.sequence_number
        allowed = RESPONSE_STATES.get(cid)
        if allowed is None:
            self._answer_error(pdu, CommandStatus.ESME_RINVCMDID)
            return
        if self._state not in allowed:
            self._answer_error(pdu, CommandStatus.ESME_RINVBNDSTS)
            return
        nack = cid == CommandId.GENERIC_NACK
        if seq == self._enquire_seq and (nack or cid == CommandId.ENQUIRE_LINK_RESP):
            self._enquire_seq = None  # even a nack shows the link is alive
            return
        if seq == self._unbind_seq and (nack or cid == CommandId.UNBIND_RESP):
            self._unbind_seq = None
            self._events.append(Unbound())
            self._close("unbound by the SMSC")
            return
        entry = self._outstanding.get(seq)
        if entry is None or not (nack or entry.pdu.command_id | RESPONSE_BIT == cid):
            return  # late (already timed out) or unsolicited: nothing waits for it
        del self._outstanding[seq]
        self._events.append(ResponseReceived(pdu, entry.pdu))

    # --- Answers from the driver ------------------------------------------------------------

    def accept_bind(self, pdu: BindPdu, system_id: str) -> None:
        """Answer the pending bind with ESME_ROK and the SMSC's ``system_id`` (§4.1.2), adding
        sc_interface_version when the ESME speaks 3.4 (§5.3.2.25); the session is then bound.
        A no-op once CLOSED (the session timed out while the credentials were checked)."""
        if self._state is _S.CLOSED:
            return
        self._check_pending_bind(pdu)
        resp_cls, state = _BINDS[pdu.command_id]
        tlvs: tuple[Tlv, ...] = ()
        if pdu.interface_version >= _INTERFACE_VERSION:
            tlvs = (make_tlv(TlvTag.SC_INTERFACE_VERSION, _INTERFACE_VERSION),)
        data = encode(resp_cls(sequence_number=pdu.sequence_number, system_id=system_id, tlvs=tlvs))
        self._out.append(data)
        self._pending_bind = None
        self.bind = pdu
        self._state = state

    def reject_bind(self, pdu: BindPdu, status: int) -> None:
        """Answer the pending bind with the error ``status`` (ESME_RBINDFAIL, ESME_RINVPASWD...);
        the session stays OPEN and the session init timer keeps running. No-op once CLOSED."""
        if status == CommandStatus.ESME_ROK:
            raise ValueError("reject_bind needs an error status; use accept_bind")
        if self._state is _S.CLOSED:
            return
        self._check_pending_bind(pdu)
        resp_cls, _ = _BINDS[pdu.command_id]
        self._send(resp_cls(sequence_number=pdu.sequence_number, command_status=status))
        self._pending_bind = None

    def _check_pending_bind(self, pdu: BindPdu) -> None:
        if self._pending_bind is None or pdu != self._pending_bind:
            raise InvalidStateError("no such bind is waiting for an answer")

    def respond(self, pdu: Pdu) -> None:
        """Queue the answer to a :class:`Request`: its ``*_resp`` or a generic_nack with the same
        sequence number, in any order. A no-op once CLOSED (nobody is left to read it). Raises
        InvalidStateError for a response to no pending request, SmppEncodeError for a field that
        does not fit (the request then stays pending)."""
        if self._state is _S.CLOSED:
            return
        seq = pdu.sequence_number
        request_cid = self._inbound.get(seq)
        if (
            request_cid is None
            or not pdu.is_response
            or pdu.command_id not in (request_cid | RESPONSE_BIT, CommandId.GENERIC_NACK)
        ):
            raise InvalidStateError(
                f"{type(pdu).__name__} #{seq} answers no pending request from the ESME"
            )
        self._out.append(encode(pdu))
        del self._inbound[seq]

    # --- Requests to the ESME ---------------------------------------------------------------

    def send_request(self, pdu: Pdu, *, now: float) -> int:
        """Queue ``pdu`` (deliver_sm, data_sm, alert_notification) with the next sequence number
        and return it; its ``sequence_number`` field is ignored. The answer comes back as
        ResponseReceived, or RequestTimedOut after ``response_timeout``.

        Raises ValueError for a PDU an SMSC does not send, InvalidStateError outside
        BOUND_RX/BOUND_TRX, WindowFullError with ``window`` requests unanswered, SmppEncodeError
        for a field that does not fit; nothing changes when it raises."""
        cid = pdu.command_id
        allowed = SEND_STATES.get(cid)
        if allowed is None:
            raise ValueError(f"an SMSC does not send {type(pdu).__name__} with send_request")
        if self._state not in allowed:
            raise InvalidStateError(f"cannot send {type(pdu).__name__} in {self._state.name}")
        needs_response = cid != CommandId.ALERT_NOTIFICATION
        if needs_response and len(self._outstanding) >= self.window:
            raise WindowFullError(f"{self.window} requests already wait for a response")
        seq = self._peek_sequence()
        if pdu.sequence_number != seq:  # built with next_sequence_number, it needs no copy
            pdu = dataclasses.replace(pdu, sequence_number=seq)
        self._out.append(encode(pdu))
        self._commit_sequence(pdu.sequence_number)
        if needs_response:
            self._outstanding[pdu.sequence_number] = _Outstanding(pdu, now + self.response_timeout)
        return pdu.sequence_number

    def unbind(self, *, now: float) -> None:
        """Start an SMSC-side unbind (§4.2), e.g. on shutdown: UNBOUND until the unbind_resp
        (then Unbound and ConnectionShouldClose) or ``response_timeout``."""
        if self._state not in _BOUND:
            raise InvalidStateError(f"cannot unbind in {self._state.name}")
        seq = self._peek_sequence()
        self._send(Unbind(sequence_number=seq))
        self._commit_sequence(seq)
        self._unbind_seq = seq
        self._unbind_deadline = now + self.response_timeout
        self._state = _S.UNBOUND

    def _peek_sequence(self) -> int:
        seq = self._next_seq
        while seq in self._outstanding or seq in (self._enquire_seq, self._unbind_seq):
            seq = seq % MAX_SEQUENCE + 1
        return seq

    def _commit_sequence(self, seq: int) -> None:
        self._next_seq = seq % MAX_SEQUENCE + 1

    # --- Output -----------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Everything queued since the last call, as one write."""
        data = b"".join(self._out)
        self._out.clear()
        return data

    def _send(self, pdu: Pdu) -> None:
        self._out.append(encode(pdu))

    def _answer_error(self, pdu: Pdu, status: int) -> None:
        """The request's own ``*_resp``, or generic_nack for a response or a command without
        one (§4.3), with ``status`` and the sequence number echoed."""
        cls = PDU_CLASSES[response_command_id(pdu.command_id)]
        self._send(cls(sequence_number=pdu.sequence_number, command_status=status))

    def _close(self, reason: str) -> None:
        if self._state is _S.CLOSED:
            return
        self._state = _S.CLOSED
        self._pending_bind = None
        self._events.append(ConnectionShouldClose(reason))

    # --- Timers (§7.2) ----------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When ``handle_timer`` should next be called, or None once CLOSED."""
        if self._state is _S.CLOSED:
            return None
        deadlines = [self._last_rx + self.inactivity_timeout]
        if self._state is _S.OPEN:
            deadlines.append(self._opened_at + self.session_init_timeout)
        if self._enquire_seq is not None:
            deadlines.append(self._enquire_deadline)
        elif self._state in _BOUND:
            deadlines.append(self._last_rx + self.enquire_link_interval)
        if self._unbind_seq is not None:
            deadlines.append(self._unbind_deadline)
        if self._outstanding:
            deadlines.append(next(iter(self._outstanding.values())).deadline)
        return min(deadlines)

    def handle_timer(self, now: float) -> None:
        """Fire what is due at ``now``: RequestTimedOut for unanswered requests, then closing on
        a missing enquire_link_resp or unbind_resp, no bind within ``session_init_timeout`` or
        ``inactivity_timeout`` of silence, else an enquire_link after ``enquire_link_interval``
        of silence."""
        if self._state is _S.CLOSED:
            return
        while self._outstanding:
            seq, entry = next(iter(self._outstanding.items()))
            if entry.deadline > now:
                break
            del self._outstanding[seq]
            self._events.append(RequestTimedOut(entry.pdu))
        if self._enquire_seq is not None and now >= self._enquire_deadline:
            self._close("no enquire_link_resp within response_timeout")
        elif self._unbind_seq is not None and now >= self._unbind_deadline:
            self._close("no unbind_resp within response_timeout")
        elif self._state is _S.OPEN and now >= self._opened_at + self.session_init_timeout:
            self._close("no bind within session_init_timeout")
        elif now >= self._last_rx + self.inactivity_timeout:
            self._close("inactivity_timeout")
        elif (
            self._state in _BOUND
            and self._enquire_seq is None
            and now >= self._last_rx + self.enquire_link_interval
        ):
            seq = self._peek_sequence()
            self._send(EnquireLink(sequence_number=seq))
            self._commit_sequence(seq)
            self._enquire_seq = seq
            self._enquire_deadline = now + self.response_timeout
