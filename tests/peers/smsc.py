"""ForeignSmsc: an SMSC that smsgate did not write, for testing smsgate's outbound connectors.

What it is for. A connector (smsgate as an ESME, binding to a carrier) must be shown working
against an SMSC whose bytes come from someone else's reading of SMPP 3.4, and shown surviving
what carriers do: refuse binds, throttle, refuse numbers, sit on responses, drop the link
mid-window, answer slowly, send a receipt before the submit_sm_resp it refers to, write message
ids in hex in one place and decimal in another, send long MO messages in parts. This peer is an
asyncio TCP server whose every PDU is encoded and decoded by smpplib (``wire.py``); it imports
nothing from smsgate. A test starts it, points a connector at its port, sets behaviours at any
moment, and awaits what it saw (``submits``, ``binds``, ``acks``, ...) with ``wait_*``: no sleeps.

    async with ForeignSmsc({"acme": "secret"}, id_format="hex") as smsc:
        smsc.by_destination["6591000002"] = Behaviour(status=ESME_RINVDSTADR)
        ...  # the connector binds to 127.0.0.1:smsc.port and sends
        [first, second] = await smsc.wait_submits(2)

Choices a test relies on:

- Behaviours (:class:`Behaviour`: status, hold, delay, receipt) apply per destination number
  (``by_destination``) or else globally (``behaviour``). A submit's answer is decided when it
  arrives.
- ``max_window``: a submit_sm arriving while that many responses of its connection are still
  held or delayed is answered ESME_RTHROTTLED at once, as carriers do, and also recorded in
  ``overflows``, so a test can assert that a connector kept to its window (``overflows == []``).
- ``drop_after(n)``: the n-th submit_sm from then on closes its connection, unanswered (a
  mid-window drop: held responses on it are lost too) or just after its response. Nothing more
  is read from that connection.
- Receipts go to the submitting connection if it can receive, else to any receiver or
  transceiver bound with the same system_id; with none bound they wait, in order, for the next
  such bind (a carrier stores them). MO messages need a receiver bound: ``send_mo`` raises
  ``LookupError`` without one.
- Garbage gets a generic_nack: ESME_RINVCMDLEN for an impossible command_length (and the
  connection closes, as the next PDU cannot be found), ESME_RINVCMDID for a command smpplib
  cannot decode or this peer does not serve (query_sm, data_sm, cancel_sm, ...).
- A failed bind leaves the connection open for another try.

What it deliberately is not: a full SMSC. It stores and forwards nothing (a "submitted"
message only produces its receipt), keeps no message state for query_sm/cancel_sm/replace_sm,
enforces no throughput limit of its own, sends enquire_link only when asked, does not retry a
deliver_sm the client does not acknowledge, and checks only what a test needs checked. It
serves tests on loopback and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal, Self

from . import wire
from .deliver import Fields, mo_fields, receipt_fields
from .link import Link
from .receipts import DELIVERED, Receipt
from .records import Ack, Behaviour, Bind, BindMode, Delivery, Submit, submit_of
from .wire import (
    ESME_RALYBND,
    ESME_RINVBNDSTS,
    ESME_RINVCMDID,
    ESME_RINVCMDLEN,
    ESME_RINVDSTADR,
    ESME_RINVPASWD,
    ESME_RINVSYSID,
    ESME_RMSGQFUL,
    ESME_ROK,
    ESME_RTHROTTLED,
)

__all__ = [
    "ESME_RALYBND",
    "ESME_RINVBNDSTS",
    "ESME_RINVCMDID",
    "ESME_RINVCMDLEN",
    "ESME_RINVDSTADR",
    "ESME_RINVPASWD",
    "ESME_RINVSYSID",
    "ESME_RMSGQFUL",
    "ESME_ROK",
    "ESME_RTHROTTLED",
    "Ack",
    "Behaviour",
    "Bind",
    "BindMode",
    "Delivery",
    "ForeignSmsc",
    "IdFormat",
    "Receipt",
    "Submit",
]


IdFormat = Literal["dec", "hex"]
Drop = Literal["answered", "unanswered"]

_MODES: Mapping[str, BindMode] = {
    "bind_transmitter": "transmitter",
    "bind_receiver": "receiver",
    "bind_transceiver": "transceiver",
}
_TIMEOUT_S = 5.0


class ForeignSmsc:
    """An SMPP 3.4 SMSC over smpplib's PDUs, scripted by the test that runs it."""

    def __init__(
        self,
        credentials: Mapping[str, str] | None = None,
        *,
        id_format: IdFormat = "dec",
        receipt_id: Callable[[int], str] | None = None,
        first_id: int = 0xC0FFEE00,
        max_window: int | None = None,
        name: str = "FOREIGN",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``credentials`` maps system_id → password (default ``{"smsgate": "secret"}``).

        Message ids count up from ``first_id`` and are answered in ``id_format``; receipts
        carry ``receipt_id(number)`` when given (e.g. decimal where responses are hex, or
        zero-padded), else the id as answered. ``name`` is the system_id of bind responses.
        """
        self.credentials = dict(credentials or {"smsgate": "secret"})
        self.id_format: IdFormat = id_format
        self.receipt_id = receipt_id
        self.max_window = max_window
        self.name = name
        self.clock = clock or (lambda: datetime.now(UTC))
        self.behaviour = Behaviour()
        self.by_destination: dict[str, Behaviour] = {}
        self.bind_status: int | None = None
        """When set, every bind is refused with this status (a carrier turning binds away)."""
        self.answer_enquire_link = True
        """When False, enquire_link is read (and counted) but never answered: a dead link."""
        self.port = 0

        self.connections = 0
        self.closed = 0
        self.binds: list[Bind] = []
        self.submits: list[Submit] = []
        self.answered: list[Submit] = []
        self.overflows: list[Submit] = []
        self.deliveries: list[Delivery] = []
        self.acks: list[Ack] = []
        self.enquire_links: list[int] = []
        """The connection of each enquire_link the client sent."""
        self.unexpected: list[tuple[str, int]] = []
        """Responses (command, sequence) that answer nothing the peer asked."""
        self.errors: list[Exception] = []
        """The peer's own failures; :meth:`stop` raises the first, so none goes unseen."""

        self._ids = itertools.count(first_id)
        self._references = itertools.count(1)
        self._drop: tuple[int, Drop] | None = None
        self._held: deque[tuple[Link, Submit, Receipt | None]] = deque()
        self._pending: defaultdict[str, deque[tuple[Fields, Submit, str]]] = defaultdict(deque)
        self._links: dict[int, Link] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._server: asyncio.Server | None = None
        self._stopping = False
        self._changed = asyncio.Event()
        self._handlers: Mapping[str, Callable[[Link, wire.Pdu], None]] = {
            "bind_transmitter": self._on_bind,
            "bind_receiver": self._on_bind,
            "bind_transceiver": self._on_bind,
            "submit_sm": self._on_submit,
            "enquire_link": self._on_enquire_link,
            "unbind": self._on_unbind,
        }

    # -- lifetime -------------------------------------------------------------------------

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None
    ) -> int:
        """Listen (over TLS with ``tls``); returns the port (an ephemeral one by default)."""
        self._server = await asyncio.start_server(self._serve, host, port, ssl=tls)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening, close every connection, cancel delayed answers."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for link in list(self._links.values()):
            link.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self.errors:
            raise RuntimeError("the foreign SMSC failed; see its errors") from self.errors[0]

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- what a test does -----------------------------------------------------------------

    @property
    def held(self) -> int:
        """Responses held (by a ``hold`` behaviour) on open connections."""
        return len(self._held)

    @property
    def bound(self) -> int:
        """Connections bound right now."""
        return sum(1 for link in self._links.values() if link.bound)

    @property
    def acked(self) -> list[Delivery]:
        """Deliveries the client acknowledged with ESME_ROK."""
        return [ack.delivery for ack in self.acks if ack.status == ESME_ROK]

    def drop_after(self, count: int, *, answered: bool = False) -> None:
        """Close the connection of the ``count``-th submit_sm from now, unanswered or just
        after its response."""
        self._drop = (count, "answered" if answered else "unanswered")

    def release(self, count: int | None = None) -> int:
        """Answer the oldest ``count`` held responses (all by default); returns how many."""
        released = 0
        while self._held and (count is None or released < count):
            link, submit, receipt = self._held.popleft()
            self._answer(link, submit, receipt, counted=True)
            released += 1
        return released

    def disconnect(self, system_id: str | None = None, *, connection: int | None = None) -> int:
        """Close the connections (of ``system_id``, or the one numbered ``connection``)
        without an unbind; returns how many."""
        links = [
            link
            for link in self._links.values()
            if link.is_of(system_id) and connection in (None, link.number)
        ]
        for link in links:
            link.close()
        return len(links)

    def send_receipt(self, submit: Submit, receipt: Receipt = DELIVERED) -> Delivery | None:
        """Send a receipt for ``submit`` now, whatever its registered_delivery asked.

        Returns the deliver_sm written, or None when no receiver is bound (it waits for one).
        """
        return self._send_receipt(submit, receipt, None)

    def send_mo(
        self,
        source: str,
        destination: str,
        text: str,
        *,
        system_id: str | None = None,
        data_coding: int | None = None,
        long: Literal["udh", "sar"] = "udh",
    ) -> list[Delivery]:
        """Send a mobile-originated message to a receiver (of ``system_id``), in parts when
        long: see :func:`deliver.mo_fields`. Raises LookupError when none is bound."""
        link = self._receiver(system_id, None)
        if link is None:
            raise LookupError(f"no receiver or transceiver bound for {system_id or 'any'}")
        reference = next(self._references) % 256
        parts = mo_fields(
            source, destination, text, reference=reference, data_coding=data_coding, long=long
        )
        return [self._deliver(link, "mo", fields, None, None) for fields in parts]

    async def enquire_link(
        self, system_id: str | None = None, *, timeout: float = _TIMEOUT_S
    ) -> list[int | None]:
        """Send enquire_link on every bound connection (of ``system_id``); returns the status
        of each answer, None where the connection closed first."""
        return await self._ask("enquire_link", self._bound_links(system_id), timeout)

    async def unbind(
        self, system_id: str | None = None, *, timeout: float = _TIMEOUT_S
    ) -> list[int | None]:
        """Send unbind on every bound connection (of ``system_id``), wait for the
        unbind_resp, then close; returns each answer's status (None: closed unanswered)."""
        links = self._bound_links(system_id)
        try:
            return await self._ask("unbind", links, timeout)
        finally:
            for link in links:
                link.close()

    # -- waiting --------------------------------------------------------------------------

    async def wait_for(
        self, condition: Callable[[], bool], what: str, timeout: float = _TIMEOUT_S
    ) -> None:
        """Return once ``condition()`` holds, re-checked after every change the peer sees."""
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"waited {timeout} s for {what}; {self._summary()}") from None

    async def wait_submits(self, count: int, timeout: float = _TIMEOUT_S) -> list[Submit]:
        await self.wait_for(lambda: len(self.submits) >= count, f"{count} submit_sm", timeout)
        return self.submits[:count]

    async def wait_answered(self, count: int, timeout: float = _TIMEOUT_S) -> list[Submit]:
        await self.wait_for(lambda: len(self.answered) >= count, f"{count} answered", timeout)
        return self.answered[:count]

    async def wait_held(self, count: int, timeout: float = _TIMEOUT_S) -> None:
        await self.wait_for(lambda: self.held >= count, f"{count} held", timeout)

    async def wait_binds(self, count: int, timeout: float = _TIMEOUT_S) -> list[Bind]:
        """Wait for ``count`` successful binds since the start; returns them."""

        def accepted() -> list[Bind]:
            return [bind for bind in self.binds if bind.status == ESME_ROK]

        await self.wait_for(lambda: len(accepted()) >= count, f"{count} binds", timeout)
        return accepted()[:count]

    async def wait_acks(self, count: int, timeout: float = _TIMEOUT_S) -> list[Ack]:
        await self.wait_for(lambda: len(self.acks) >= count, f"{count} deliver_sm_resp", timeout)
        return self.acks[:count]

    async def wait_closed(self, count: int, timeout: float = _TIMEOUT_S) -> None:
        await self.wait_for(lambda: self.closed >= count, f"{count} closed", timeout)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _summary(self) -> str:
        return (
            f"connections={self.connections} closed={self.closed} binds={len(self.binds)}"
            f" submits={len(self.submits)} answered={len(self.answered)} held={self.held}"
            f" deliveries={len(self.deliveries)} acks={len(self.acks)}"
        )

    # -- reading --------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if self._stopping or task is None:
            writer.close()
            return
        self._tasks.add(task)
        self.connections += 1
        link = Link(self.connections, writer)
        self._links[link.number] = link
        self._notify()
        try:
            await self._read(link, reader)
        except Exception as error:  # a bug of the peer: kept for stop() to raise
            self.errors.append(error)
        finally:
            link.close()
            self._forget(link)
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self._tasks.discard(task)

    async def _read(self, link: Link, reader: asyncio.StreamReader) -> None:
        while not link.closing:
            try:
                frame = await wire.read_frame(reader)
            except wire.FrameError as error:
                link.send(wire.encode("generic_nack", error.sequence, error.status))
                return
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            if frame is None:
                return
            self._on_frame(link, frame)

    def _on_frame(self, link: Link, frame: bytes) -> None:
        try:
            pdu = wire.decode(frame)
        except wire.FrameError as error:
            link.send(wire.encode("generic_nack", error.sequence, error.status))
            return
        handler = self._handlers.get(pdu.command)
        if handler is not None:
            handler(link, pdu)
        elif pdu.is_response():
            self._on_response(link, pdu)
        else:
            link.send(wire.encode("generic_nack", pdu.sequence, ESME_RINVCMDID))

    def _forget(self, link: Link) -> None:
        del self._links[link.number]
        self._held = deque(held for held in self._held if held[0] is not link)
        for waiter in link.waiting.values():
            if isinstance(waiter, asyncio.Future) and not waiter.done():
                waiter.set_result(None)
        link.waiting.clear()
        self.closed += 1
        self._notify()

    # -- requests from the client ---------------------------------------------------------

    def _on_bind(self, link: Link, pdu: wire.Pdu) -> None:
        mode = _MODES[pdu.command]
        system_id = wire.text_of(pdu.system_id)
        status = self._bind_status(link, system_id, wire.text_of(pdu.password))
        self.binds.append(Bind(link.number, system_id, mode, status))
        resp = wire.encode_response(
            f"{pdu.command}_resp", pdu.sequence, status, system_id=self.name
        )
        link.send(resp)
        if status == ESME_ROK:
            link.system_id, link.mode = system_id, mode
            self._flush_pending(system_id)
        self._notify()

    def _bind_status(self, link: Link, system_id: str, password: str) -> int:
        if link.mode is not None:
            return ESME_RALYBND
        if self.bind_status is not None:
            return self.bind_status
        if system_id not in self.credentials:
            return ESME_RINVSYSID
        if self.credentials[system_id] != password:
            return ESME_RINVPASWD
        return ESME_ROK

    def _on_enquire_link(self, link: Link, pdu: wire.Pdu) -> None:
        self.enquire_links.append(link.number)
        if self.answer_enquire_link:
            link.send(wire.encode("enquire_link_resp", pdu.sequence))
        self._notify()

    def _on_unbind(self, link: Link, pdu: wire.Pdu) -> None:
        link.send(wire.encode("unbind_resp", pdu.sequence))
        link.close()

    def _on_submit(self, link: Link, pdu: wire.Pdu) -> None:
        if not link.can_submit:
            link.send(wire.encode_response("submit_sm_resp", pdu.sequence, ESME_RINVBNDSTS))
            return
        behaviour = self.by_destination.get(wire.text_of(pdu.destination_addr), self.behaviour)
        overflow = self.max_window is not None and link.outstanding >= self.max_window
        submit = self._record(link, pdu, ESME_RTHROTTLED if overflow else behaviour.status)
        if overflow:
            self.overflows.append(submit)
        drop = self._count_drop()
        if drop == "unanswered":
            link.close()
            self._notify()
            return
        receipt = _receipt_for(submit, behaviour)
        if receipt is not None and receipt.before_response:
            self._send_receipt(submit, receipt, link)
            receipt = None
        if overflow or drop or not (behaviour.hold or behaviour.delay_s > 0):
            self._answer(link, submit, receipt, counted=False, then_close=drop is not None)
            return
        link.outstanding += 1
        if behaviour.hold:
            self._held.append((link, submit, receipt))
        else:
            self._later(
                behaviour.delay_s, lambda: self._answer(link, submit, receipt, counted=True)
            )
        self._notify()

    def _record(self, link: Link, pdu: wire.Pdu, status: int) -> Submit:
        number = next(self._ids)
        message_id = "" if status != ESME_ROK else self._format_id(number)
        submit = submit_of(
            pdu, link.system_id, link.number, number, message_id, status, self.clock()
        )
        self.submits.append(submit)
        return submit

    def _format_id(self, number: int) -> str:
        return f"{number:x}" if self.id_format == "hex" else str(number)

    def _count_drop(self) -> Drop | None:
        if self._drop is None:
            return None
        remaining, how = self._drop
        if remaining > 1:
            self._drop = (remaining - 1, how)
            return None
        self._drop = None
        return how

    def _answer(
        self,
        link: Link,
        submit: Submit,
        receipt: Receipt | None,
        *,
        counted: bool,
        then_close: bool = False,
    ) -> None:
        if counted:
            link.outstanding -= 1
        if not link.closing:  # else lost with its connection, as on a real link
            resp = wire.encode_response(
                "submit_sm_resp", submit.sequence, submit.status, message_id=submit.message_id
            )
            link.send(resp)
            self.answered.append(submit)
            if then_close:
                link.close()
            if receipt is not None:
                self._send_receipt(submit, receipt, link)
        self._notify()

    def _later(self, delay_s: float, callback: Callable[[], None]) -> None:
        def run() -> None:
            self._timers.discard(handle)
            callback()

        handle = asyncio.get_running_loop().call_later(delay_s, run)
        self._timers.add(handle)

    # -- deliver_sm to the client ---------------------------------------------------------

    def _send_receipt(
        self, submit: Submit, receipt: Receipt, prefer: Link | None
    ) -> Delivery | None:
        receipt_id = self.receipt_id(submit.number) if self.receipt_id else submit.message_id
        fields = receipt_fields(submit, receipt, receipt_id, self.clock())
        link = self._receiver(submit.system_id, prefer)
        if link is None:
            self._pending[submit.system_id].append((fields, submit, receipt_id))
            return None
        return self._deliver(link, "receipt", fields, submit, receipt_id)

    def _flush_pending(self, system_id: str) -> None:
        pending = self._pending[system_id]
        link = self._receiver(system_id, None)
        while pending and link is not None:
            fields, submit, receipt_id = pending.popleft()
            self._deliver(link, "receipt", fields, submit, receipt_id)

    def _receiver(self, system_id: str | None, prefer: Link | None) -> Link | None:
        if prefer is not None and prefer.can_receive and prefer.is_of(system_id):
            return prefer
        receivers = (link for link in self._links.values() if link.can_receive)
        return next((link for link in receivers if link.is_of(system_id)), None)

    def _deliver(
        self,
        link: Link,
        kind: Literal["receipt", "mo"],
        fields: Fields,
        submit: Submit | None,
        receipt_id: str | None,
    ) -> Delivery:
        sequence = link.next_sequence()
        delivery = Delivery(
            kind=kind,
            system_id=link.system_id,
            connection=link.number,
            sequence=sequence,
            source_addr=fields["source_addr"],
            destination_addr=fields["destination_addr"],
            esm_class=fields["esm_class"],
            data_coding=fields["data_coding"],
            short_message=fields["short_message"],
            submit=submit,
            receipt_id=receipt_id,
        )
        link.waiting[sequence] = delivery
        link.send(wire.encode("deliver_sm", sequence, **fields))
        self.deliveries.append(delivery)
        self._notify()
        return delivery

    # -- the peer's own requests ----------------------------------------------------------

    def _bound_links(self, system_id: str | None) -> list[Link]:
        return [link for link in self._links.values() if link.bound and link.is_of(system_id)]

    async def _ask(self, command: str, links: list[Link], timeout: float) -> list[int | None]:
        loop = asyncio.get_running_loop()
        answers: list[asyncio.Future[int | None]] = []
        for link in links:
            sequence = link.next_sequence()
            answer: asyncio.Future[int | None] = loop.create_future()
            link.waiting[sequence] = answer
            link.send(wire.encode(command, sequence))
            answers.append(answer)
        async with asyncio.timeout(timeout):
            return list(await asyncio.gather(*answers))

    def _on_response(self, link: Link, pdu: wire.Pdu) -> None:
        waiter = link.waiting.pop(pdu.sequence, None)
        if isinstance(waiter, Delivery):
            self.acks.append(Ack(waiter, pdu.command, pdu.status))
        elif waiter is not None and not waiter.done():
            waiter.set_result(pdu.status)
        else:
            self.unexpected.append((pdu.command, pdu.sequence))
        self._notify()


def _receipt_for(submit: Submit, behaviour: Behaviour) -> Receipt | None:
    """The receipt a submit gets by itself: only an accepted one, only when asked for."""
    receipt = behaviour.receipt
    if receipt is None or submit.status != ESME_ROK:
        return None
    return receipt if receipt.wanted(submit.registered_delivery) else None
