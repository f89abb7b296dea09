"""The asyncio SMPP driver in both roles, over loopback sockets.

An ESME session and an SMSC session, each in its own :class:`SmppDriver` with a small handler
written here: the door is not involved, so what is tested is the driver alone (one write per
read, timers, the request window, a peer that does not read, a polite unbind), and that a client
can drive the ESME role with it.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from smsgate.drivers.smpp import SessionHandler, SmppDriver
from smsgate.smpp.codec import encode
from smsgate.smpp.events import (
    BindAccepted,
    BindRequested,
    Request,
    ResponseReceived,
    Unbound,
)
from smsgate.smpp.pdu import EnquireLink, SubmitSm, SubmitSmResp
from smsgate.smpp.session import BindKind, Role, SmppSession

WINDOW = 4


class Smsc(SessionHandler):
    """Accepts any bind; answers submit_sm at once, or holds them while ``holding``."""

    def __init__(self) -> None:
        self.driver: SmppDriver | None = None
        self.holding = False
        self.held: list[SubmitSm] = []
        self.requests = 0
        self.unbinds = 0
        self.reason: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, driver: SmppDriver) -> None:
        self.driver = driver

    def bind_requested(self, event: BindRequested) -> None:
        assert self.driver is not None
        self.driver.session.accept_bind(event.pdu, "test-smsc")
        self.driver.drain()

    def request_received(self, event: Request) -> None:
        assert isinstance(event.pdu, SubmitSm)
        self.requests += 1
        if self.holding:
            self.held.append(event.pdu)
        else:
            self._answer(event.pdu)

    def release(self) -> None:
        assert self.driver is not None
        self.holding = False
        for pdu in self.held:
            self._answer(pdu)
        self.held.clear()
        self.driver.flush_soon()

    def _answer(self, pdu: SubmitSm) -> None:
        assert self.driver is not None
        resp = SubmitSmResp(
            sequence_number=pdu.sequence_number, message_id=f"m{pdu.sequence_number}"
        )
        self.driver.session.respond(resp)

    def unbound(self, event: Unbound) -> None:
        self.unbinds += 1

    def finished(self, reason: str) -> None:
        self.reason.set_result(reason)

    def connection_lost(self) -> None:
        self.lost.set_result(None)


@dataclass
class Esme(SessionHandler):
    """Binds as a transceiver on connect; collects the answers to what it sends."""

    driver: SmppDriver | None = None
    bound: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    answers: list[SubmitSmResp] = field(default_factory=list)
    unbinds: int = 0
    reason: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    lost: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def connection_made(self, driver: SmppDriver) -> None:
        self.driver = driver
        driver.session.send_bind(BindKind.TRANSCEIVER, "esme", "secret", now=driver.now())
        driver.flush_soon()

    def bind_accepted(self, event: BindAccepted) -> None:
        self.bound.set_result(None)

    def response_received(self, event: ResponseReceived) -> None:
        assert isinstance(event.pdu, SubmitSmResp)
        self.answers.append(event.pdu)

    def unbound(self, event: Unbound) -> None:
        self.unbinds += 1

    def finished(self, reason: str) -> None:
        self.reason.set_result(reason)

    def connection_lost(self) -> None:
        self.lost.set_result(None)

    def submit(self, count: int) -> None:
        assert self.driver is not None
        for n in range(count):
            pdu = SubmitSm(sequence_number=0, destination_addr=f"6591{n:06d}", short_message=b"hi")
            self.driver.send_request(pdu)


def _driver(role: Role, handler: SessionHandler) -> SmppDriver:
    session = SmppSession(role, now=time.monotonic(), window=256)
    return SmppDriver(
        session, handler, clock=time.monotonic, request_window=WINDOW, write_stall_s=30
    )


@dataclass
class Link:
    smsc: Smsc
    esme: Esme
    smsc_driver: Callable[[], SmppDriver]


@pytest.fixture
async def link() -> AsyncIterator[Link]:
    """An ESME driver bound to an SMSC driver over loopback."""
    loop = asyncio.get_running_loop()
    smsc = Smsc()
    server = await loop.create_server(lambda: _driver(Role.SMSC, smsc), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    esme = Esme()
    transport, _ = await loop.create_connection(lambda: _driver(Role.ESME, esme), "127.0.0.1", port)
    await asyncio.wait_for(esme.bound, 5)

    def smsc_driver() -> SmppDriver:
        assert smsc.driver is not None
        return smsc.driver

    try:
        yield Link(smsc, esme, smsc_driver)
    finally:
        transport.close()
        server.close()
        await asyncio.wait_for(asyncio.gather(smsc.lost, esme.lost), 5)
        await server.wait_closed()


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0)


async def test_an_esme_binds_and_submits_through_the_same_driver_as_the_door(link: Link) -> None:
    link.esme.submit(3)
    await _until(lambda: len(link.esme.answers) == 3)
    assert [a.message_id for a in link.esme.answers] == ["m2", "m3", "m4"]


async def test_at_request_window_unanswered_the_driver_reads_no_more(link: Link) -> None:
    link.smsc.holding = True
    link.esme.submit(3 * WINDOW)
    await _until(lambda: link.smsc.requests >= WINDOW)
    for _ in range(100):  # every chance to take more than it should
        await asyncio.sleep(0)
    assert link.smsc.requests == WINDOW

    link.smsc.release()  # answering them lets the next window in, and so on
    await _until(lambda: len(link.esme.answers) == 3 * WINDOW)
    assert link.smsc.requests == 3 * WINDOW


async def test_unbind_waits_for_the_unbind_resp_then_closes(link: Link) -> None:
    driver = link.smsc_driver()
    driver.hold_requests()
    driver.unbind("unbound by the test")
    assert await asyncio.wait_for(link.smsc.reason, 5) == "unbound by the test"
    assert await asyncio.wait_for(link.esme.reason, 5) == "unbound by the SMSC"
    assert (link.smsc.unbinds, link.esme.unbinds) == (1, 1)


class SmallBuffers(SmppDriver):
    """Small buffers fill with a few thousand answers instead of megabytes of them."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        assert isinstance(transport, asyncio.WriteTransport)
        transport.set_write_buffer_limits(high=1024)
        super().connection_made(transport)


async def test_a_peer_that_reads_nothing_is_aborted_after_write_stall_s() -> None:
    loop = asyncio.get_running_loop()
    smsc = Smsc()

    server = await loop.create_server(
        lambda: SmallBuffers(
            SmppSession(Role.SMSC, now=time.monotonic()),
            smsc,
            clock=time.monotonic,
            request_window=WINDOW,
            write_stall_s=0.2,
        ),
        "127.0.0.1",
        0,
    )
    port = server.sockets[0].getsockname()[1]
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.setblocking(False)
    await loop.sock_connect(client, ("127.0.0.1", port))
    try:
        # enquire_link is answered by the session itself, bound or not; the answers are never
        # read, so they pile up in the socket buffers and then in the transport's.
        data = b"".join(encode(EnquireLink(sequence_number=n)) for n in range(1, 20_001))
        sending = loop.create_task(loop.sock_sendall(client, data))
        reason = await asyncio.wait_for(smsc.reason, 10)
        assert reason == "the peer read none of its answers for 0.2 s"
        await asyncio.wait_for(smsc.lost, 5)  # aborted: no wait for a buffer nobody reads
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
    finally:
        client.close()
        server.close()
        await server.wait_closed()
