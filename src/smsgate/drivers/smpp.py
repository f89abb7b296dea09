"""An asyncio Protocol driving one :class:`~smsgate.smpp.session.SmppSession` over a transport.

The session does the protocol; this driver does the I/O around it, for either role, as aioquic's
``asyncio/protocol.py`` drives a ``QuicConnection``:

- bytes read go to :meth:`~SmppSession.receive_data` with the injected monotonic clock's ``now``;
- the session's events go to a :class:`SessionHandler`, one hook per event type (a table, built
  once per connection), and after them :meth:`SessionHandler.events_handled`;
- what the session has to send goes out in one write per read (DESIGN.md "Answer SMPP in
  batches"); answers finished later in the same loop iteration share one write
  (:meth:`SmppDriver.flush_soon`);
- the session's timer is armed on the loop, and fired with ``now``;
- :class:`~smsgate.smpp.events.ConnectionShouldClose` closes the transport.

Backpressure, so that a peer cannot make us hold more than a bounded amount for it: at
``request_window`` requests read and not yet answered, the driver stops taking events from the
session and stops reading the socket (TCP then pushes back on the peer); when the socket's send
buffer passes its high-water mark (a peer that does not read its answers) it stops reading too,
:meth:`SmppDriver.can_send` says no, and the connection is aborted, buffer and all, after
``write_stall_s`` without the buffer draining.

The handler decides everything else: what a request means, whether a bind is accepted, what to
send. It answers through :attr:`SmppDriver.session` and asks for the write with
:meth:`SmppDriver.flush_soon` when it answers outside a hook.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final, cast

from smsgate.smpp.events import (
    AlertReceived,
    BindAccepted,
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
from smsgate.smpp.pdu import Pdu
from smsgate.smpp.session import SmppSession

__all__ = ["SessionHandler", "SmppDriver"]

# Why reading is paused; reading runs while none is.
_WINDOW: Final = "window"  # request_window requests unanswered
_WRITES: Final = "writes"  # the peer does not read what we send
_HELD: Final = "held"  # hold_requests(): the owner is stopping


class SessionHandler:
    """What a :class:`SmppDriver` tells its owner. Every hook does nothing unless overridden;
    a handler answers every :class:`~smsgate.smpp.events.Request` it is given (the request
    window counts the unanswered ones)."""

    def connection_made(self, driver: SmppDriver) -> None:
        """The transport is up (``driver.peername`` is known); nothing was read yet."""

    def request_received(self, event: Request) -> None:
        """A request to answer with ``driver.session.respond``, now or later."""

    def response_received(self, event: ResponseReceived) -> None:
        """The peer answered a request sent with :meth:`SmppDriver.send_request`."""

    def request_timed_out(self, event: RequestTimedOut) -> None:
        """No answer to a request within the session's ``response_timeout``."""

    def bind_requested(self, event: BindRequested) -> None:
        """SMSC: answer with ``accept_bind`` or ``reject_bind``, then :meth:`SmppDriver.drain`
        (the PDUs read behind the bind wait until then)."""

    def bind_accepted(self, event: BindAccepted) -> None:
        """ESME: our bind was accepted."""

    def bind_rejected(self, event: BindRejected) -> None:
        """ESME: our bind was refused; the session is OPEN again."""

    def outbind_received(self, event: OutbindReceived) -> None:
        """ESME: the SMSC asks us to bind."""

    def alert_received(self, event: AlertReceived) -> None:
        """ESME: an alert_notification, which takes no answer."""

    def unbound(self, event: Unbound) -> None:
        """The session was unbound (the connection closes next)."""

    def events_handled(self) -> None:
        """After the events of one read (or timer, or resumption), before the write: the place
        to pass on what the hooks gathered, so that it goes as one batch."""

    def writing_resumed(self) -> None:
        """The peer reads again: :meth:`SmppDriver.can_send` may say yes again."""

    def finished(self, reason: str) -> None:
        """The connection ends, once, at the first :meth:`SmppDriver.close` or loss of the
        transport: release what it holds. ``reason`` is the session's own reason to close
        (unbind, timeout, bad PDU...) if it had one, else the caller's."""

    def connection_lost(self) -> None:
        """The transport is gone (after :meth:`finished`)."""


class SmppDriver(asyncio.Protocol):
    """One SMPP connection: the transport, ``session`` over it, and ``handler`` deciding.

    ``clock`` is the monotonic clock the session's ``now`` and timers use (``time.monotonic``
    in production); ``peer`` names the other end in close reasons ("client" at the door).
    """

    def __init__(
        self,
        session: SmppSession,
        handler: SessionHandler,
        *,
        clock: Callable[[], float],
        request_window: int,
        write_stall_s: float,
        peer: str = "peer",
    ) -> None:
        self.session = session
        self._handler = handler
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self._request_window = request_window
        self._write_stall_s = write_stall_s
        self._peer = peer
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flush_scheduled = False
        self._close_reason: str | None = None  # the session's, or unbind()'s
        self._should_close = False
        self._finished = False
        self._paused: set[str] = set()
        self._reading = True
        self._stall: asyncio.TimerHandle | None = None
        # Event type -> hook, built once: one dict look-up per event instead of a type chain.
        self._hooks: dict[type[Event], Callable[[Any], None]] = {
            Request: handler.request_received,
            ResponseReceived: handler.response_received,
            RequestTimedOut: handler.request_timed_out,
            BindRequested: handler.bind_requested,
            BindAccepted: handler.bind_accepted,
            BindRejected: handler.bind_rejected,
            OutbindReceived: handler.outbind_received,
            AlertReceived: handler.alert_received,
            Unbound: handler.unbound,
            ConnectionShouldClose: self._session_closed,
        }

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they implement it.
        self._transport = cast(asyncio.Transport, transport)
        self._handler.connection_made(self)
        self._set_timer()

    def data_received(self, data: bytes) -> None:
        self.session.receive_data(data, self._clock())
        self._drain()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        if exc is not None:
            self._finish(f"{type(exc).__name__}: {exc}")
        else:
            self._finish(f"closed by the {self._peer}")
        self._handler.connection_lost()

    def pause_writing(self) -> None:
        """The send buffer is past its high-water mark: the peer is not reading."""
        self._pause_reading(_WRITES)
        self._stall = self._loop.call_later(self._write_stall_s, self._stalled)

    def resume_writing(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        self._resume_reading(_WRITES)
        self._handler.writing_resumed()

    # --- for the handler ----------------------------------------------------------------------

    @property
    def peername(self) -> Any:
        """The transport's ``peername`` (None before :meth:`connection_made`)."""
        return None if self._transport is None else self._transport.get_extra_info("peername")

    def now(self) -> float:
        """The session's clock."""
        return self._clock()

    def can_send(self) -> bool:
        """Room for one more :meth:`send_request`: the session may send (state and window),
        and the connection is open and not paused (a peer that does not read its answers gets
        nothing more)."""
        transport = self._transport
        return (
            transport is not None
            and not transport.is_closing()
            and not self._paused
            and self.session.can_send()
        )

    def send_request(self, pdu: Pdu) -> int:
        """Send ``pdu`` (see :meth:`SmppSession.send_request`) in the next write; its sequence
        number. Check :meth:`can_send` first."""
        seq = self.session.send_request(pdu, now=self._clock())
        self.flush_soon()
        return seq

    def flush_soon(self) -> None:
        """Write what the session has, once this loop iteration's callbacks have run: answers
        finished in the same iteration go out in one write."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def drain(self) -> None:
        """Handle the events the session holds, then write (after a bind was answered)."""
        self._drain()

    def close(self, reason: str = "closed by smsgate") -> None:
        """Close now. A peer that is not reading would keep a graceful close waiting on its
        send buffer for ever, so that buffer is thrown away (the answers in it were for a
        peer that did not read them)."""
        transport = self._transport
        if transport is not None:
            if _WRITES in self._paused:
                transport.abort()
            else:
                transport.close()
        self._finish(reason)

    def hold_requests(self) -> None:
        """Read nothing more (what the peer sends now stays unread until :meth:`unbind`)."""
        self._pause_reading(_HELD)

    def unbind(self, reason: str) -> None:
        """Send an unbind (the session must be bound) and read again: the unbind_resp closes
        the connection for ``reason``, and requests read from now on are refused by the
        session (ESME_RINVBNDSTS), never taken and dropped."""
        self.session.unbind(now=self._clock())
        self._close_reason = reason
        self._resume_reading(_HELD)
        self._drain()

    # --- session driving ----------------------------------------------------------------------

    def _drain(self) -> None:
        """Hand the handler the session's events (up to ``request_window`` unanswered
        requests, none while held), write once, re-arm the timer."""
        session = self.session
        window = self._request_window
        paused = self._paused
        hooks = self._hooks
        while (
            session.unanswered < window
            and _HELD not in paused
            and (event := session.next_event()) is not None
        ):
            hooks[type(event)](event)
        self._handler.events_handled()
        if session.unanswered >= window:
            self._pause_reading(_WINDOW)
        self._flush()
        if self._should_close:
            self._should_close = False
            self.close()

    def _session_closed(self, event: ConnectionShouldClose) -> None:
        self._close_reason = self._close_reason or event.reason
        self._should_close = True  # after this read's write: the session's last words go out

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self.session.data_to_send()
        transport = self._transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)
        if _WINDOW in self._paused and self.session.unanswered < self._request_window:
            self._resume_reading(_WINDOW)
            self._drain()  # the requests already read come first; it re-arms the timer
            return
        self._set_timer()

    def _set_timer(self) -> None:
        when = self.session.get_timer()
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None and self._transport is not None:
            # call_later, not call_at: ``when`` is on our clock, which need not be the loop's.
            self._timer = self._loop.call_later(when - self._clock(), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.session.handle_timer(self._clock())
        self._drain()

    # --- backpressure -------------------------------------------------------------------------

    def _stalled(self) -> None:
        self._stall = None
        self.close(f"the {self._peer} read none of its answers for {self._write_stall_s:g} s")

    def _pause_reading(self, reason: str) -> None:
        self._paused.add(reason)
        transport = self._transport
        if self._reading and transport is not None and not transport.is_closing():
            self._reading = False
            transport.pause_reading()

    def _resume_reading(self, reason: str) -> None:
        self._paused.discard(reason)
        transport = self._transport
        if self._paused or self._reading or transport is None:
            return
        if not transport.is_closing():
            self._reading = True
            transport.resume_reading()

    def _finish(self, reason: str) -> None:
        """Tell the handler the connection ends, once (the session's reason wins)."""
        if self._finished:
            return
        self._finished = True
        self._handler.finished(self._close_reason or reason)
