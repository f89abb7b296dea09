"""An SMPP 3.4 session for either end of the link, sans-IO (DESIGN.md "Protocol code is sans-IO").

Like h11's ``Connection(our_role)``, one :class:`SmppSession` plays the SMSC (the SMPP door, the
simulator) or the ESME (a connector to a carrier): ``SmppSession(Role.ESME, now=...)``. What each
role may send and receive in each state is a table in :mod:`.states`; sequence numbers, the
window and the timers are shared. :class:`SmscSession` is the SMSC role under its old name.

Like aioquic's ``QuicConnection``, a session never reads a clock or touches a socket:

- bytes in: :meth:`~SmppSession.receive_data` ``(data, now)``;
- events out: :meth:`~SmppSession.next_event` until it returns None (see :mod:`.events`);
- bytes out: :meth:`~SmppSession.data_to_send`, everything queued since the last call, so a
  driver writes once per read (DESIGN.md "Answer SMPP in batches");
- time: :meth:`~SmppSession.get_timer` says when to call :meth:`~SmppSession.handle_timer`.

PDUs are decoded lazily by ``next_event``, in arrival order. At an SMSC, while a bind waits for
``accept_bind`` / ``reject_bind``, the PDUs behind it stay buffered, so a bind and a submit_sm
sent in one segment give BindRequested, then (once bound) Request. An ESME binds with
``send_bind`` and learns the answer as BindAccepted or BindRejected; the session handles the
bind_resp itself, so nothing waits behind it.

Both roles send their requests with ``send_request`` (deliver_sm, data_sm, alert_notification from
an SMSC; submit_sm, submit_multi, data_sm, query_sm, cancel_sm, replace_sm from an ESME) within
``window`` unanswered requests, and get ResponseReceived or, after ``response_timeout``,
RequestTimedOut. A full window is refused with :class:`WindowFullError`, not queued: the driver
already holds the messages waiting (and must requeue the ``outstanding`` ones if the link drops),
so a second queue in here would only hide the back-pressure. ``can_send()`` says whether there
is room.

The session answers by itself: enquire_link, unbind, decode errors (the codec's
:func:`~smsgate.smpp.codec.error_response`, closing when ``close_connection`` is set) and commands
not allowed for its role in the current state (§2.3, :mod:`.states`). It sends enquire_link after
``enquire_link_interval`` of silence, in either role. Methods raise only :class:`SessionError`
subclasses, ``ValueError`` and :class:`~smsgate.smpp.errors.SmppEncodeError` for driver mistakes;
no byte from the peer makes any method raise.

``now`` is any monotonic clock in seconds and must not go backwards.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import Final

from smsgate.smpp.codec import NEED_DATA, PduReader, encode, error_response
from smsgate.smpp.constants import RESPONSE_BIT, CommandId, CommandStatus, TlvTag
from smsgate.smpp.errors import SmppDecodeError, response_command_id
from smsgate.smpp.events import (
    AlertReceived,
    BindAccepted,
    BindPdu,
    BindRejected,
    BindRequested,
    ConnectionShouldClose,
    Event,
    OutbindReceived,
    Request,
    RequestTimedOut,
    ResponseReceived,
    Unbound,
)
from smsgate.smpp.pdu import (
    PDU_CLASSES,
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    Tlv,
    Unbind,
    UnbindResp,
    make_tlv,
)
from smsgate.smpp.states import (
    BOUND_STATE,
    REQUEST_STATES,
    RESPONSE_STATES,
    SEND_STATES,
    BindKind,
    Role,
    SessionState,
)

__all__ = [
    "MAX_SEQUENCE",
    "REQUEST_STATES",
    "RESPONSE_STATES",
    "SEND_STATES",
    "BindKind",
    "InvalidStateError",
    "Role",
    "SessionError",
    "SessionState",
    "SmppSession",
    "SmscSession",
    "WindowFullError",
]

#: §5.1.4 (sequence_number): 0x00000001 to 0x7FFFFFFF, then wraps to 1.
MAX_SEQUENCE: Final = 0x7FFFFFFF

#: The interface version both roles speak: sent as sc_interface_version by an SMSC (§5.3.2.25),
#: as interface_version in an ESME's bind (§5.2.4).
_INTERFACE_VERSION: Final = 0x34


class SessionError(Exception):
    """A driver called the session in a way it cannot honour (never caused by peer bytes)."""


class InvalidStateError(SessionError):
    """The call is not allowed in the current state, or names a PDU the session does not
    expect (a response to no pending request, a bind that is not the pending one)."""


class WindowFullError(SessionError):
    """``send_request`` with ``window`` requests already unanswered; check ``can_send()``."""


_S = SessionState
_BOUND = frozenset({_S.BOUND_TX, _S.BOUND_RX, _S.BOUND_TRX})
_NOT_BOUND_YET = frozenset({_S.OPEN, _S.BINDING})  # the session init timer runs
#: Requests that take no response (§4.1.7, §4.12): an event, never an entry in ``unanswered``.
_NO_RESPONSE = frozenset({CommandId.OUTBIND, CommandId.ALERT_NOTIFICATION})

_BindResp = BindTransmitterResp | BindReceiverResp | BindTransceiverResp

_BIND_RESPONSES: Final[dict[int, type[_BindResp]]] = {
    CommandId.BIND_TRANSMITTER: BindTransmitterResp,
    CommandId.BIND_RECEIVER: BindReceiverResp,
    CommandId.BIND_TRANSCEIVER: BindTransceiverResp,
}

_BIND_REQUESTS: Final[dict[BindKind, type[BindPdu]]] = {
    BindKind.TRANSMITTER: BindTransmitter,
    BindKind.RECEIVER: BindReceiver,
    BindKind.TRANSCEIVER: BindTransceiver,
}


@dataclass(slots=True)
class _Outstanding:
    pdu: Pdu
    deadline: float


class SmppSession:
    """One SMPP connection seen from ``role``. See the module docstring for the contract."""

    def __init__(
        self,
        role: Role,
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
        #: The bind PDU that bound the session (system_id, password, address_range...): the one
        #: an SMSC accepted, or the one an ESME sent and had accepted.
        self.bind: BindPdu | None = None
        self._role = role
        self._requests = REQUEST_STATES[role]
        self._responses = RESPONSE_STATES[role]
        self._sends = SEND_STATES[role]
        self._send_ready = frozenset[SessionState]().union(*self._sends.values())
        self._reader = PduReader(max_pdu_size)
        self._state = _S.OPEN
        self._events: deque[Event] = deque()
        self._out: list[bytes] = []
        self._opened_at = now
        self._last_rx = now
        self._next_seq = 1
        self._outstanding: dict[int, _Outstanding] = {}  # send order = deadline order
        self._inbound: dict[int, int] = {}  # sequence_number -> command_id, unanswered
        self._pending_bind: BindPdu | None = None  # SMSC: received, waiting for the driver
        self._bind_request: BindPdu | None = None  # ESME: sent, waiting for the bind_resp
        self._bind_deadline = 0.0
        self._enquire_seq: int | None = None
        self._enquire_deadline = 0.0
        self._unbind_seq: int | None = None
        self._unbind_deadline = 0.0

    # --- State ------------------------------------------------------------------------------

    @property
    def role(self) -> Role:
        return self._role

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def outstanding(self) -> tuple[Pdu, ...]:
        """Requests sent and not yet answered nor timed out, oldest first (to requeue on close)."""
        return tuple(o.pdu for o in self._outstanding.values())

    @property
    def unanswered(self) -> int:
        """Requests from the peer handed out as :class:`Request` and not yet responded to."""
        return len(self._inbound)

    @property
    def next_sequence_number(self) -> int:
        """The number ``send_request`` will give the next request: a PDU built with it is sent
        as is (saving a copy of a frozen PDU on a hot path)."""
        return self._peek_sequence()

    def can_send(self) -> bool:
        """True when ``send_request`` of a message (deliver_sm or data_sm from an SMSC,
        submit_sm and the like from an ESME) would be accepted now."""
        return self._state in self._send_ready and len(self._outstanding) < self.window

    # --- Input ------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the peer; any arrival counts as activity. Ignored once CLOSED."""
        if self._state is _S.CLOSED or not data:
            return
        self._last_rx = now
        self._reader.feed(data)

    def next_event(self) -> Event | None:
        """The next event, or None when the input buffered so far is used up (or, at an SMSC, a
        bind is waiting for ``accept_bind`` / ``reject_bind``). Automatic answers are queued on
        the way."""
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
        allowed = self._requests.get(cid)
        if allowed is None:
            self._answer_error(pdu, CommandStatus.ESME_RINVCMDID)
        elif self._state not in allowed:
            already = cid in BOUND_STATE and self._state in _BOUND
            self._answer_error(
                pdu, CommandStatus.ESME_RALYBND if already else CommandStatus.ESME_RINVBNDSTS
            )
        elif cid == CommandId.ENQUIRE_LINK:
            self._send(EnquireLinkResp(sequence_number=seq))
        elif cid == CommandId.UNBIND:
            self._send(UnbindResp(sequence_number=seq))
            self._events.append(Unbound())
            self._close(f"unbound by the {self._role.peer.value}")
        elif cid in BOUND_STATE:
            assert isinstance(pdu, BindPdu)
            self._pending_bind = pdu
            self._events.append(BindRequested(pdu))
        elif cid in _NO_RESPONSE:
            if isinstance(pdu, Outbind):
                self._events.append(OutbindReceived(pdu))
            elif isinstance(pdu, AlertNotification):
                self._events.append(AlertReceived(pdu))
        elif seq in self._inbound:
            # §2.6: the sequence number identifies the request; the spec has no code for reuse.
            self._answer_error(pdu, CommandStatus.ESME_RSYSERR)
        else:
            self._inbound[seq] = cid
            self._events.append(Request(pdu))

    def _on_response(self, pdu: Pdu) -> None:
        cid, seq = pdu.command_id, pdu.sequence_number
        allowed = self._responses.get(cid)
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
            self._close(f"unbound by the {self._role.value}")
            return
        bind = self._bind_request
        if bind is not None and seq == bind.sequence_number:
            if nack or cid == bind.command_id | RESPONSE_BIT:
                assert isinstance(pdu, _BindResp | GenericNack)
                self._on_bind_response(pdu, bind)
            return
        entry = self._outstanding.get(seq)
        if entry is None or not (nack or entry.pdu.command_id | RESPONSE_BIT == cid):
            return  # late (already timed out) or unsolicited: nothing waits for it
        del self._outstanding[seq]
        self._events.append(ResponseReceived(pdu, entry.pdu))

    def _on_bind_response(self, pdu: _BindResp | GenericNack, bind: BindPdu) -> None:
        self._bind_request = None
        if isinstance(pdu, GenericNack) or pdu.command_status != CommandStatus.ESME_ROK:
            self._state = _S.OPEN  # §4.1: the ESME may try again (session_init_timeout runs)
            self._events.append(BindRejected(pdu, bind))
            return
        self._state = BOUND_STATE[bind.command_id]
        self.bind = bind
        self._events.append(BindAccepted(pdu, bind))

    # --- SMSC: answering binds --------------------------------------------------------------

    def accept_bind(self, pdu: BindPdu, system_id: str) -> None:
        """SMSC: answer the pending bind with ESME_ROK and the SMSC's ``system_id`` (§4.1.2),
        adding sc_interface_version when the ESME speaks 3.4 (§5.3.2.25); the session is then
        bound. A no-op once CLOSED (the session timed out while the credentials were checked)."""
        if self._state is _S.CLOSED:
            return
        self._check_pending_bind(pdu)
        resp_cls = _BIND_RESPONSES[pdu.command_id]
        tlvs: tuple[Tlv, ...] = ()
        if pdu.interface_version >= _INTERFACE_VERSION:
            tlvs = (make_tlv(TlvTag.SC_INTERFACE_VERSION, _INTERFACE_VERSION),)
        data = encode(resp_cls(sequence_number=pdu.sequence_number, system_id=system_id, tlvs=tlvs))
        self._out.append(data)
        self._pending_bind = None
        self.bind = pdu
        self._state = BOUND_STATE[pdu.command_id]

    def reject_bind(self, pdu: BindPdu, status: int) -> None:
        """SMSC: answer the pending bind with the error ``status`` (ESME_RBINDFAIL,
        ESME_RINVPASWD...); the session stays OPEN and the session init timer keeps running.
        No-op once CLOSED."""
        if status == CommandStatus.ESME_ROK:
            raise ValueError("reject_bind needs an error status; use accept_bind")
        if self._state is _S.CLOSED:
            return
        self._check_pending_bind(pdu)
        resp_cls = _BIND_RESPONSES[pdu.command_id]
        self._send(resp_cls(sequence_number=pdu.sequence_number, command_status=status))
        self._pending_bind = None

    def _check_pending_bind(self, pdu: BindPdu) -> None:
        if self._pending_bind is None or pdu != self._pending_bind:
            raise InvalidStateError("no such bind is waiting for an answer")

    def send_outbind(self, system_id: str, password: str = "") -> int:
        """SMSC: ask the ESME at the other end to bind (§4.1.7, §2.2.1) and return the outbind's
        sequence number. Outbind takes no response: the ESME's bind_receiver comes as
        BindRequested. Raises ValueError for an ESME, InvalidStateError outside OPEN or while a
        bind waits for an answer, SmppEncodeError for a field too long."""
        if self._role is not Role.SMSC:
            raise ValueError("an ESME does not send outbind")
        if self._state is not _S.OPEN or self._pending_bind is not None:
            raise InvalidStateError(f"cannot send outbind in {self._state.name}")
        seq = self._peek_sequence()
        self._send(Outbind(sequence_number=seq, system_id=system_id, password=password))
        self._commit_sequence(seq)
        return seq

    # --- ESME: binding ----------------------------------------------------------------------

    def send_bind(
        self,
        kind: BindKind,
        system_id: str,
        password: str,
        system_type: str = "",
        *,
        now: float,
        interface_version: int = _INTERFACE_VERSION,
        addr_ton: int = 0,
        addr_npi: int = 0,
        address_range: str = "",
    ) -> BindPdu:
        """ESME: bind as ``kind`` (§4.1.1, §4.1.3, §4.1.5) and return the PDU sent. The session
        is BINDING until the bind_resp: then BindAccepted (bound) or BindRejected (OPEN again,
        the driver may bind again), or closing if none comes within ``response_timeout``.

        Raises ValueError for an SMSC, InvalidStateError outside OPEN, SmppEncodeError for a
        field too long (system_id over 15 characters, password over 8...); nothing changes
        when it raises."""
        if self._role is not Role.ESME:
            raise ValueError("an SMSC does not send binds")
        if self._state is not _S.OPEN:
            raise InvalidStateError(f"cannot bind in {self._state.name}")
        seq = self._peek_sequence()
        pdu = _BIND_REQUESTS[kind](
            sequence_number=seq,
            system_id=system_id,
            password=password,
            system_type=system_type,
            interface_version=interface_version,
            addr_ton=addr_ton,
            addr_npi=addr_npi,
            address_range=address_range,
        )
        self._send(pdu)
        self._commit_sequence(seq)
        self._bind_request = pdu
        self._bind_deadline = now + self.response_timeout
        self._state = _S.BINDING
        return pdu

    # --- Answers to the peer's requests -----------------------------------------------------

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
                f"{type(pdu).__name__} #{seq} answers no pending request from the "
                f"{self._role.peer.value}"
            )
        self._out.append(encode(pdu))
        del self._inbound[seq]

    # --- Requests to the peer ---------------------------------------------------------------

    def send_request(self, pdu: Pdu, *, now: float) -> int:
        """Queue ``pdu`` with the next sequence number and return it; its ``sequence_number``
        field is ignored. An SMSC sends deliver_sm, data_sm and alert_notification; an ESME
        submit_sm, submit_multi, data_sm, query_sm, cancel_sm and replace_sm (:mod:`.states`).
        The answer comes back as ResponseReceived, or RequestTimedOut after
        ``response_timeout``.

        Raises ValueError for a PDU this role does not send, InvalidStateError in a state that
        does not allow it (an SMSC outside BOUND_RX/BOUND_TRX, an ESME outside
        BOUND_TX/BOUND_TRX), WindowFullError with ``window`` requests unanswered,
        SmppEncodeError for a field that does not fit; nothing changes when it raises."""
        cid = pdu.command_id
        allowed = self._sends.get(cid)
        if allowed is None:
            raise ValueError(
                f"an {self._role.value} does not send {type(pdu).__name__} with send_request"
            )
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
        """Start an unbind (§4.2), from either role, e.g. on shutdown: UNBOUND until the
        unbind_resp (then Unbound and ConnectionShouldClose) or ``response_timeout``. Requests
        already sent may still be answered meanwhile; the peer's new requests are refused."""
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
        self._bind_request = None
        self._events.append(ConnectionShouldClose(reason))

    # --- Timers (§7.2) ----------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When ``handle_timer`` should next be called, or None once CLOSED."""
        if self._state is _S.CLOSED:
            return None
        deadlines = [self._last_rx + self.inactivity_timeout]
        if self._state in _NOT_BOUND_YET:
            deadlines.append(self._opened_at + self.session_init_timeout)
        if self._bind_request is not None:
            deadlines.append(self._bind_deadline)
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
        a missing bind_resp, enquire_link_resp or unbind_resp, no bind within
        ``session_init_timeout`` or ``inactivity_timeout`` of silence, else an enquire_link after
        ``enquire_link_interval`` of silence."""
        if self._state is _S.CLOSED:
            return
        while self._outstanding:
            seq, entry = next(iter(self._outstanding.items()))
            if entry.deadline > now:
                break
            del self._outstanding[seq]
            self._events.append(RequestTimedOut(entry.pdu))
        if self._bind_request is not None and now >= self._bind_deadline:
            self._close("no bind_resp within response_timeout")
        elif self._enquire_seq is not None and now >= self._enquire_deadline:
            self._close("no enquire_link_resp within response_timeout")
        elif self._unbind_seq is not None and now >= self._unbind_deadline:
            self._close("no unbind_resp within response_timeout")
        elif self._state in _NOT_BOUND_YET and now >= self._opened_at + self.session_init_timeout:
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


class SmscSession(SmppSession):
    """``SmppSession(Role.SMSC, ...)`` under the name the SMPP door has always used."""

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
        super().__init__(
            Role.SMSC,
            enquire_link_interval=enquire_link_interval,
            inactivity_timeout=inactivity_timeout,
            response_timeout=response_timeout,
            session_init_timeout=session_init_timeout,
            window=window,
            max_pdu_size=max_pdu_size,
            now=now,
        )
