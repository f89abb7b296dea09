"""One bind of a connector: a TCP (or TLS) connection to the upstream SMSC, bound as an ESME,
kept up for as long as the connector runs.

A :class:`Link` is the :class:`~smsgate.drivers.smpp.SessionHandler` of one
:class:`~smsgate.drivers.smpp.SmppDriver` at a time (a new one per connection), around which
:meth:`Link.run` loops: connect, bind, serve until the connection ends, wait, again. The wait
is the :class:`~.backoff.Backoff` after any fault: a refused connection or bind, a dropped
connection, an enquire_link unanswered (the session closes the connection; it sends
enquire_link after ``enquire_link_s`` without a byte from the SMSC), an SMSC that stops reading.
An accepted bind resets it. An unbind from the SMSC is not a fault, but the link binds again
after the first wait all the same: the connector's binds are meant to be up.

Submits: the owner (the connector) asks :meth:`Link.can_submit`, builds the PDU with
:attr:`Link.next_sequence_number` and :meth:`Link.send` s it with a tag of its own; the tag comes
back with the answer (:meth:`LinkOwner.answered`), with a timeout
(:meth:`LinkOwner.unanswered`), or in the list of what was in flight when the connection ended
(:meth:`LinkOwner.link_down`). The window is the session's (``spec.window``), so the link never
has more in flight. :meth:`Link.throttle` pauses the link's submits after ESME_RTHROTTLED or
ESME_RMSGQFUL, for a wait that grows while the SMSC keeps saying so and resets at the next
submit it accepts.

deliver_sm and data_sm from the SMSC (receipts, MO) go to the owner's
:class:`~smsgate.ports.carrier.UpstreamSink`, one task each; the answer carries the status the
sink returned and is sent only once it returned (ESME_RSYSERR if it raised). While
``DELIVER_WINDOW`` of them are with the sink, the driver reads no more (TCP pushes back on the
SMSC).

Log lines (``smsgate.connectors``): ``connector.bind``, ``connector.bind_refused``,
``connector.unbind``, ``connector.fault``, ``connector.timeout``, each with the connector, the
bind (``name#index``) and its mode; never the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl as ssl_module
from collections.abc import Callable
from functools import partial
from typing import Final, Generic, Protocol, TypeVar

from smsgate.domain.connectors import ConnectorSpec
from smsgate.drivers.smpp import SessionHandler, SmppDriver
from smsgate.logs import log_event
from smsgate.ports.carrier import UpstreamSink
from smsgate.smpp.constants import CommandStatus
from smsgate.smpp.errors import SmppEncodeError
from smsgate.smpp.events import (
    BindAccepted,
    BindRejected,
    Request,
    RequestTimedOut,
    ResponseReceived,
    Unbound,
)
from smsgate.smpp.pdu import DataSm, DataSmResp, DeliverSm, DeliverSmResp, Pdu
from smsgate.smpp.session import BindKind, Role, SessionState, SmppSession

from .backoff import Backoff
from .meter import RateMeter
from .statuses import status_name

__all__ = ["DELIVER_WINDOW", "Link", "LinkOwner", "LinkState"]

log = logging.getLogger("smsgate.connectors")

T = TypeVar("T")
_BOUND: Final = frozenset({SessionState.BOUND_TX, SessionState.BOUND_RX, SessionState.BOUND_TRX})

#: deliver_sm / data_sm with the sink at once, per bind, before the link stops reading.
DELIVER_WINDOW: Final = 256
#: First pause of a bind after ESME_RTHROTTLED / ESME_RMSGQFUL, and the longest.
THROTTLE_INITIAL_S: Final = 0.5
THROTTLE_MAX_S: Final = 8.0


class LinkState:
    """What :meth:`Link.state_name` reports (``connectors list``)."""

    CONNECTING: Final = "connecting"
    BINDING: Final = "binding"
    BOUND: Final = "bound"
    THROTTLED: Final = "throttled"
    BACKING_OFF: Final = "backing off"
    UNBINDING: Final = "unbinding"
    CLOSED: Final = "closed"


class LinkOwner(Protocol[T]):
    """What a link tells its connector. Every call is made on the event loop, synchronously."""

    @property
    def name(self) -> str: ...

    @property
    def sink(self) -> UpstreamSink | None: ...

    def link_up(self, link: Link[T]) -> None:
        """The link is bound and may take submits."""

    def link_ready(self, link: Link[T]) -> None:
        """After the events of one read, a pause's end, or writes resuming: room may have
        opened (the owner sends what waits)."""

    def link_down(self, link: Link[T], lost: list[T]) -> None:
        """The connection ended; ``lost`` were in flight, unanswered (the SMSC may or may not
        have them)."""

    def answered(self, link: Link[T], tag: T, response: Pdu) -> None:
        """The SMSC answered the submit sent with ``tag`` (a submit_sm_resp or generic_nack)."""

    def unanswered(self, link: Link[T], tag: T) -> None:
        """No answer within ``response_timeout_s`` (a late one is dropped)."""


class Link(SessionHandler, Generic[T]):
    """One bind (``kind``) of ``spec``'s connector, number ``index`` from 1."""

    def __init__(
        self,
        owner: LinkOwner[T],
        spec: ConnectorSpec,
        password: str,
        *,
        index: int,
        kind: BindKind,
        ssl: ssl_module.SSLContext | None,
        clock: Callable[[], float],
        random: Callable[[], float],
        throttle_initial_s: float = THROTTLE_INITIAL_S,
        throttle_max_s: float = THROTTLE_MAX_S,
    ) -> None:
        self._owner = owner
        self._spec = spec
        self._password = password
        self.index = index
        self.kind = kind
        self.name = f"{spec.name}#{index}"
        self._ssl = ssl
        self._clock = clock
        self._backoff = Backoff(spec.reconnect_initial_s, spec.reconnect_max_s, random)
        self._throttle = Backoff(throttle_initial_s, throttle_max_s, random)
        self.meter = RateMeter()
        self.last_error: str | None = None
        self.retry_at: float | None = None  # when a backing-off link tries again
        self._state = LinkState.CONNECTING
        self._driver: SmppDriver | None = None
        self._sends = kind is not BindKind.RECEIVER
        self._bound = False  # bound and able to submit
        self._throttled: asyncio.TimerHandle | None = None
        self._tags: dict[int, T] = {}  # sequence number -> owner's tag, in flight
        self._timeouts = 0  # in this read, for one log line
        # What the SMSC delivered in this read, handed to the sink together at its end.
        self._arrived: list[DeliverSm | DataSm] = []
        self._deliveries: set[asyncio.Future[list[int]]] = set()
        self._closing = False
        self._unbinding = False
        self._ended: asyncio.Future[None] | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    # --- what the connector uses --------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._tags)

    @property
    def delivering(self) -> int:
        """Batches of deliver_sm / data_sm with the sink (or read), not yet answered."""
        return len(self._deliveries) + bool(self._arrived)

    @property
    def up(self) -> bool:
        """Bound, in a mode that submits (a receiver never is)."""
        return self._bound

    def can_submit(self) -> bool:
        """Room for one more submit now: bound, not paused, window not full."""
        driver = self._driver
        return self._bound and self._throttled is None and driver is not None and driver.can_send()

    @property
    def next_sequence_number(self) -> int:
        assert self._driver is not None
        return self._driver.session.next_sequence_number

    def send(self, pdu: Pdu, tag: T) -> None:
        """Send ``pdu`` (numbered :attr:`next_sequence_number`; check :meth:`can_submit`) in
        this loop iteration's write. Raises SmppEncodeError for a field that does not fit,
        sending nothing."""
        assert self._driver is not None
        seq = self._driver.send_request(pdu)
        self._tags[seq] = tag
        self.meter.add(self._clock())

    def throttle(self) -> float:
        """The SMSC said ESME_RTHROTTLED or ESME_RMSGQFUL: pause this bind's submits; the
        pause in seconds (a message refused so may be tried again after it).

        A paused bind sends nothing, so the refusals that arrive while it is paused answer
        submits sent before the pause began: the same push-back, which must not grow the
        pause again (a full window refused at once would otherwise double it once per
        submit, to ``throttle_max_s``, and hold every message that long)."""
        loop = asyncio.get_running_loop()
        if self._throttled is not None:
            return max(0.0, self._throttled.when() - loop.time())
        delay = self._throttle.next_delay()
        self._throttled = loop.call_later(delay, self._throttle_over)
        return delay

    @property
    def closing(self) -> bool:
        return self._closing

    def state_name(self) -> str:
        if self._state == LinkState.BOUND and self._throttled is not None:
            return LinkState.THROTTLED
        return self._state

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name=self.name)

    async def close(self, timeout_s: float) -> None:
        """Stop reconnecting; unbind (waiting up to ``timeout_s`` for the unbind_resp), then
        close. What is still in flight is reported lost (:meth:`LinkOwner.link_down`)."""
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        driver, ended = self._driver, self._ended
        if driver is not None and ended is not None and driver.session.state in _BOUND:
            self._unbinding = True
            self._state = LinkState.UNBINDING
            driver.unbind("unbound by smsgate")
            try:
                async with asyncio.timeout(timeout_s):
                    await asyncio.shield(ended)
            except TimeoutError:
                driver.close("no unbind_resp; closed by smsgate")
        elif driver is not None:
            driver.close("closed by smsgate")
        task = self._task
        if task is not None and not task.done():
            task.cancel()  # connecting, or waiting for the closed transport to go
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._driver is not None:  # connected while being cancelled
            self._driver.close("closed by smsgate")
        for delivery in list(self._deliveries):
            delivery.cancel()
        self._state = LinkState.CLOSED

    # --- the connection loop ------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, bind, serve, back off; until :meth:`close`."""
        loop = asyncio.get_running_loop()
        spec = self._spec
        while not self._closing:
            self._state = LinkState.CONNECTING
            self.retry_at = None
            self._ended = loop.create_future()
            try:
                async with asyncio.timeout(spec.response_timeout_s):
                    await loop.create_connection(
                        self._new_driver,
                        spec.host,
                        spec.port,
                        ssl=self._ssl,
                        server_hostname=spec.host if self._ssl is not None else None,
                    )
            except (OSError, TimeoutError) as exc:
                self._fault(f"connect: {type(exc).__name__}: {exc}".rstrip(": "))
                self._ended = None
            else:
                await self._ended
            if self.closing:  # (a property: mypy would take the loop test's word for it)
                break
            delay = self._backoff.next_delay()
            self.retry_at = self._clock() + delay
            self._state = LinkState.BACKING_OFF
            await self._sleep(delay)

    async def _sleep(self, delay: float) -> None:
        self._wake = asyncio.Event()
        try:
            async with asyncio.timeout(delay):
                await self._wake.wait()
        except TimeoutError:
            pass
        finally:
            self._wake = None

    def _new_driver(self) -> SmppDriver:
        spec = self._spec
        session = SmppSession(
            Role.ESME,
            enquire_link_interval=spec.enquire_link_s,
            # The enquire_link's own timeout closes a silent link first; this only backs it up.
            inactivity_timeout=spec.enquire_link_s + 2 * spec.response_timeout_s,
            response_timeout=spec.response_timeout_s,
            session_init_timeout=2 * spec.response_timeout_s,
            window=spec.window,
            now=self._clock(),
        )
        return SmppDriver(
            session,
            self,
            clock=self._clock,
            request_window=DELIVER_WINDOW,
            write_stall_s=spec.response_timeout_s,
            peer="SMSC",
        )

    def _fault(self, reason: str, **fields: object) -> None:
        self.last_error = reason
        log_event(
            log, logging.WARNING, "connector.fault", **self._fields(), reason=reason, **fields
        )

    def _fields(self) -> dict[str, object]:
        return {
            "connector": self._spec.name,
            "bind": self.name,
            "mode": self.kind.value,
            "peer": self._spec.address,
        }

    def _throttle_over(self) -> None:
        self._throttled = None
        self._owner.link_ready(self)

    # --- SessionHandler -----------------------------------------------------------------------

    def connection_made(self, driver: SmppDriver) -> None:
        self._driver = driver
        self._state = LinkState.BINDING
        spec = self._spec
        try:
            driver.session.send_bind(
                self.kind, spec.system_id, self._password, spec.system_type, now=driver.now()
            )
        except SmppEncodeError as exc:  # a password over 8 characters, say
            driver.close(f"bind not sent: {exc}")
            return
        driver.flush_soon()

    def bind_accepted(self, event: BindAccepted) -> None:  # noqa: ARG002 - the hook's signature
        self._state = LinkState.BOUND
        self._backoff.reset()  # last_error stays: the last fault, for connectors list
        log_event(log, logging.INFO, "connector.bind", **self._fields(),
                  system_id=self._spec.system_id)  # fmt: skip
        if self._closing:
            return
        if self._sends:
            self._bound = True
            self._owner.link_up(self)

    def bind_rejected(self, event: BindRejected) -> None:
        status = status_name(event.status)
        self.last_error = f"bind refused: {status}"
        log_event(log, logging.WARNING, "connector.bind_refused", **self._fields(),
                  system_id=self._spec.system_id, status=status)  # fmt: skip
        assert self._driver is not None
        self._driver.close(self.last_error)

    def response_received(self, event: ResponseReceived) -> None:
        tag = self._tags.pop(event.request.sequence_number, None)
        if tag is None:
            return
        if event.pdu.command_status == CommandStatus.ESME_ROK:
            self._throttle.reset()
        self._owner.answered(self, tag, event.pdu)

    def request_timed_out(self, event: RequestTimedOut) -> None:
        tag = self._tags.pop(event.pdu.sequence_number, None)
        if tag is None:
            return
        self._timeouts += 1
        self._owner.unanswered(self, tag)

    def request_received(self, event: Request) -> None:
        pdu = event.pdu
        if isinstance(pdu, DeliverSm | DataSm):  # the session lets no other request in
            self._arrived.append(pdu)  # handed to the sink at the end of this read

    def _deliver_arrived(self) -> None:
        """Hand the sink what this read brought, in one call: a burst of receipts is applied in
        one store write, and answered when that is durable."""
        pdus, self._arrived = self._arrived, []
        sink, driver = self._owner.sink, self._driver
        if driver is None:
            return  # the connection went: the SMSC delivers these again
        if sink is None:
            for pdu in pdus:
                driver.session.respond(_answer(pdu, CommandStatus.ESME_RX_T_APPN))
            return
        delivery = asyncio.ensure_future(sink.deliver_all(self._owner.name, pdus))
        self._deliveries.add(delivery)
        delivery.add_done_callback(partial(self._delivered, driver, pdus))

    def _delivered(
        self, driver: SmppDriver, pdus: list[DeliverSm | DataSm], done: asyncio.Future[list[int]]
    ) -> None:
        self._deliveries.discard(done)
        statuses: list[int]
        if done.cancelled():
            statuses = [CommandStatus.ESME_RX_T_APPN] * len(pdus)
        elif (error := done.exception()) is not None:
            log.error("the upstream sink failed on %d PDUs from %s", len(pdus), self.name,
                      exc_info=error)  # fmt: skip
            statuses = [CommandStatus.ESME_RSYSERR] * len(pdus)
        else:
            statuses = done.result()
        for pdu, status in zip(pdus, statuses, strict=True):
            driver.session.respond(_answer(pdu, status))
        driver.flush_soon()
        if not self._deliveries:
            self._owner.link_ready(self)

    def unbound(self, event: Unbound) -> None:  # noqa: ARG002 - the hook's signature
        self._bound = False
        by = "smsgate" if self._unbinding else "SMSC"
        log_event(log, logging.INFO, "connector.unbind", **self._fields(), by=by)

    def events_handled(self) -> None:
        if self._arrived:
            self._deliver_arrived()
        if self._timeouts:
            log_event(log, logging.WARNING, "connector.timeout", **self._fields(),
                      submits=self._timeouts, after_s=self._spec.response_timeout_s)  # fmt: skip
            self.last_error = f"{self._timeouts} submit_sm unanswered"
            self._timeouts = 0
        self._owner.link_ready(self)

    def writing_resumed(self) -> None:
        self._owner.link_ready(self)

    def finished(self, reason: str) -> None:
        self._bound = False
        self._arrived.clear()  # unanswered: the SMSC delivers them again, on another session
        self._state = LinkState.CLOSED if self._closing else LinkState.BACKING_OFF
        if self._throttled is not None:
            self._throttled.cancel()
            self._throttled = None
        lost = list(self._tags.values())
        self._tags.clear()
        if not self._closing and not reason.startswith("bind refused"):
            self._fault(reason, in_flight=len(lost))
        self._owner.link_down(self, lost)

    def connection_lost(self) -> None:
        self._driver = None
        ended = self._ended
        if ended is not None and not ended.done():
            ended.set_result(None)


def _answer(pdu: DeliverSm | DataSm, status: int) -> DeliverSmResp | DataSmResp:
    if isinstance(pdu, DeliverSm):
        return DeliverSmResp(sequence_number=pdu.sequence_number, command_status=status)
    return DataSmResp(sequence_number=pdu.sequence_number, command_status=status)
