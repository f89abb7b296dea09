"""The standalone SMSC: a listening socket and one driven SMSC session per connection.

Each connection is an :class:`~smsgate.drivers.smpp.SmppDriver` over an SMSC-role
:class:`~smsgate.smpp.session.SmppSession`, with a :class:`~.connection.SmscConnection` deciding;
they share one :class:`~.core.SmscCore`. :meth:`SimulatorSmsc.stop` stops as a polite SMSC does
(§4.2): no new connections, an unbind to every bind, then the rest closed after ``shutdown_s``.

Tests and users make it send mobile-originated messages with :meth:`SimulatorSmsc.send_mo`, or
every few seconds with :meth:`SimulatorSmsc.send_mo_every`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from smsgate.drivers.smpp import SmppDriver
from smsgate.ports.clock import Clock, SystemClock
from smsgate.smpp.session import SessionState, SmppSession
from smsgate.smpp.states import Role

from .connection import SmscConnection
from .core import SmscCore
from .settings import SmscSettings

__all__ = ["SimulatorSmsc"]

_BOUND = frozenset({SessionState.BOUND_TX, SessionState.BOUND_RX, SessionState.BOUND_TRX})


class SimulatorSmsc:
    """The carrier simulator as an SMPP 3.4 SMSC (``smsgate simulator``).

    ``clock`` is the wall clock of receipt dates; ``monotonic`` the clock of every deadline and
    of the throughput cap. Message ids count up from ``first_id`` (by default the wall clock in
    microseconds, so that a restarted simulator does not give an id again).
    """

    def __init__(
        self,
        settings: SmscSettings | None = None,
        *,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        first_id: int | None = None,
    ) -> None:
        self.settings = settings or SmscSettings()
        wall = clock or SystemClock()
        self.core = SmscCore(
            self.settings,
            clock=wall,
            monotonic=monotonic,
            first_id=int(wall.now() * 1_000_000) if first_id is None else first_id,
        )
        self._monotonic = monotonic
        self.connections: set[SmppDriver] = set()
        self._server: asyncio.Server | None = None
        self._all_closed: asyncio.Event | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self.port = 0

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host``:``port`` (0: a free port); the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._connection, host, port)
        sockets = self._server.sockets
        self.port = int(sockets[0].getsockname()[1]) if sockets else port
        return self.port

    def _connection(self) -> SmppDriver:
        settings = self.settings
        session = SmppSession(
            Role.SMSC,
            now=self._monotonic(),
            window=settings.window,
            enquire_link_interval=settings.enquire_link_s,
            inactivity_timeout=settings.inactivity_s,
            response_timeout=settings.response_timeout_s,
        )
        driver = SmppDriver(
            session,
            SmscConnection(self.core, self._forget),
            clock=self._monotonic,
            request_window=settings.request_window,
            write_stall_s=settings.write_stall_s,
            peer="client",
        )
        self.connections.add(driver)
        return driver

    def _forget(self, driver: SmppDriver) -> None:
        self.connections.discard(driver)
        if not self.connections and self._all_closed is not None:
            self._all_closed.set()

    async def stop(self) -> None:
        """Stop listening, unbind every bind and wait for the unbind_resp until
        ``shutdown_s``, then close what is left. Receipts not yet sent are dropped with the
        process, as a simulator's may be."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            if conn.session.state in _BOUND:
                conn.unbind("unbound by the simulator (stopping)")
            else:
                conn.close("the simulator is stopping")
        if self.connections:
            self._all_closed = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_closed.wait(), self.settings.shutdown_s)
        for conn in list(self.connections):
            conn.close("the simulator is stopping")
        self.core.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # --- MO messages --------------------------------------------------------------------------

    def send_mo(
        self, source: str, destination: str, text: str, *, system_id: str | None = None
    ) -> str:
        """A mobile-originated message (see :meth:`SmscCore.send_mo`); the system_id it goes
        to. Call on the simulator's event loop."""
        return self.core.send_mo(source, destination, text, system_id=system_id)

    def send_mo_every(self, seconds: float, source: str, destination: str, text: str) -> None:
        """Every ``seconds``, one MO message to each system_id with a receiver bound (none
        while none is); ``{n}`` in ``text`` becomes the message's number, from 1."""
        if seconds <= 0:
            raise ValueError("seconds must be greater than zero")
        loop = asyncio.get_running_loop()
        count = 0

        def tick() -> None:
            nonlocal count
            self._ticker = loop.call_later(seconds, tick)
            for system_id in self.core.outbox.receivers():
                count += 1
                try:
                    self.core.send_mo(
                        source, destination, text.replace("{n}", str(count)), system_id=system_id
                    )
                except OverflowError:
                    count -= 1  # owed too much already: skipped until it catches up

        self._ticker = loop.call_later(seconds, tick)

    # --- for tests and reports ----------------------------------------------------------------

    def waiting(self, system_id: str) -> int:
        """deliver_sm due to ``system_id`` and not sent (no receiver bound, or windows full)."""
        return self.core.outbox.waiting(system_id)

    async def until_waiting(self, system_id: str, count: int) -> None:
        """Until at least ``count`` deliver_sm wait for ``system_id``."""
        await self.core.outbox.until_waiting(system_id, count)
