"""The SMPP 3.4 door: listening sockets, and one driven session per connection.

Each connection is an :class:`~smsgate.drivers.smpp.SmppDriver` (the session over its transport,
the timers, the backpressure) with a :class:`~.connection.Connection` as its handler (binds,
receipts, log lines), which hands each request to :data:`~.commands.COMMANDS` (submit_sm,
data_sm, submit_multi, query_sm, cancel_sm, replace_sm). Commands run through the same core as the
HTTP door (:class:`SubmitService`, :class:`AccessGuard`, the store) and are answered with the
bind's status profile; receipts go back as deliver_sm through the :class:`ReceiptOutbox`, and
MO messages from upstream SMSCs reach the receiver binds of their account through the
:class:`MoOutbox` (:meth:`SmppServer.on_inbound` is the inbound desk's listener).

A long message in UDH or SAR parts is put together first (:class:`SmppSubmitter`). Every part is
answered when it arrives: the earlier ones with ESME_ROK and the id the whole message will have,
the last one with the outcome of submitting the whole message (so a rule's code comes on the last
part). A message whose parts do not all arrive within ``concat_timeout_s`` is dropped, never
charged.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import ssl
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from smsgate.config import SmppConfig
from smsgate.domain.inbound import InboundMessage
from smsgate.drivers.smpp import SmppDriver
from smsgate.ports.clock import Clock
from smsgate.ports.store import AccountStore, InboundStore, MessageStore
from smsgate.service.access import AccessGuard
from smsgate.service.cancel import CancelService
from smsgate.service.keyring import KeyRing
from smsgate.service.policy import PolicyCache
from smsgate.service.records import MessageRecords
from smsgate.service.smpp_accounts import SmppCredentials
from smsgate.service.submit import SubmitService
from smsgate.smpp.session import SessionState, SmscSession
from smsgate.tasks import BackgroundTasks

from .binds import BindChecker
from .commands import Services
from .connection import SYSTEM_ID, Connection, Shared
from .lockout import BindLockout
from .outbox import MoOutbox, ReceiptOutbox
from .submitter import SmppSubmitter
from .translate import Translator

__all__ = ["SYSTEM_ID", "SmppServer"]

_BOUND_STATES = frozenset({SessionState.BOUND_TX, SessionState.BOUND_RX, SessionState.BOUND_TRX})


class SmppServer:
    """Owns the listening sockets, the connections, the outboxes and the submitter;
    ``stop`` closes connections and waits for commands in flight (they
    run to completion, as the HTTP door's do)."""

    def __init__(
        self,
        *,
        submit: SubmitService,
        accounts: AccountStore,
        messages: MessageStore,
        inbound: InboundStore,
        policy: PolicyCache,
        guard: AccessGuard,
        keyring: KeyRing,
        cancels: CancelService,
        clock: Clock,
        config: SmppConfig,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` is the wall clock (validity periods); ``monotonic`` the one clock of every
        deadline: session timers, throttles, bind locks, long messages' parts."""
        self.config = config
        self.monotonic = monotonic
        self.outbox = ReceiptOutbox(messages, retry_s=config.receipt_retry_s)
        self.mo_outbox = MoOutbox(inbound, retry_s=config.receipt_retry_s)
        translator = Translator(
            clock=clock,
            monotonic=monotonic,
            new_message_id=submit.new_message_id,
            concat_timeout_s=config.concat_timeout_s,
        )
        self.submitter = SmppSubmitter(submit, guard, keyring, translator)
        binds: Counter[str] = Counter()  # bound sessions per account
        self.bind_checker = BindChecker(
            SmppCredentials(policy),
            accounts,
            binds,
            max_binds=config.max_binds,
            lockout=BindLockout(
                max_failures=config.max_failed_binds,
                window_s=config.failed_binds_window_s,
                lock_s=config.bind_lock_s,
            ),
            password_checks=config.password_checks,
            max_waiting=config.max_waiting_binds,
            monotonic=monotonic,
        )
        self.connections: set[SmppDriver] = set()
        self.tasks = BackgroundTasks()
        self._shared = Shared(
            services=Services(
                submit=submit,
                records=MessageRecords(messages),
                keyring=keyring,
                guard=guard,
                cancels=cancels,
                translator=translator,
            ),
            submitter=self.submitter,
            outbox=self.outbox,
            mo_outbox=self.mo_outbox,
            bind_checker=self.bind_checker,
            binds=binds,
            # Bind ids name the submitting bind in stored messages. They start at a random point
            # per process, so that after a restart no new bind takes an old one's receipts.
            bind_ids=itertools.count((secrets.randbits(30) + 1) << 32),
            tasks=self.tasks,
            monotonic=monotonic,
            status_codes=config.status_codes,
            tps_per_bind=config.tps_per_bind,
            opened=self.connections.add,
            lost=self.forget,
        )
        self._servers: list[asyncio.Server] = []
        self._all_closed: asyncio.Event | None = None  # set once stop() has no connection left
        self.tls_port: int | None = None

    def _connection(self) -> SmppDriver:
        """A new connection's driver, its SMSC session and the door's handler."""
        config = self.config
        session = SmscSession(
            now=self.monotonic(),
            window=config.window,
            enquire_link_interval=config.enquire_link_s,
            inactivity_timeout=config.inactivity_s,
            response_timeout=config.response_timeout_s,
        )
        return SmppDriver(
            session,
            Connection(self._shared),
            clock=self.monotonic,
            request_window=config.request_window,
            write_stall_s=config.write_stall_s,
            peer="client",
        )

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        """Listen on ``port`` (and on the TLS port when configured); returns the plain port.

        ``reuse_port``: other processes listen on the same ports (``serve --workers``)."""
        loop = asyncio.get_running_loop()
        share = reuse_port or None
        plain = await loop.create_server(self._connection, host, port, reuse_port=share)
        self._servers.append(plain)
        if self.config.tls_cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
            secure = await loop.create_server(
                self._connection, host, self.config.tls_port, ssl=context, reuse_port=share
            )
            self._servers.append(secure)
            self.tls_port = _bound_port(secure, self.config.tls_port)
        return _bound_port(plain, port)

    def reread_owed(self) -> None:
        """Have both outboxes read what bound accounts are owed (see ``Outbox.reread``)."""
        self.outbox.reread()
        self.mo_outbox.reread()

    async def stop(self) -> None:
        """Stop as a polite SMSC does (§4.2), within ``shutdown_s``: stop listening and reading
        new requests, let the requests in flight be answered, send every bind an unbind and
        wait for the unbind_resp, then close whatever is left. Requests a client sends after
        the unbind are refused by the session (ESME_RINVBNDSTS), never accepted and dropped."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.shutdown_s
        for server in self._servers:
            server.close()
        for conn in list(self.connections):
            conn.hold_requests()
        await _within(deadline, self._in_flight())
        for conn in list(self.connections):
            if conn.session.state in _BOUND_STATES:
                conn.unbind("unbound by smsgate (stopping)")
            else:
                conn.close("smsgate is stopping")
        if self.connections:
            self._all_closed = asyncio.Event()
            await _within(deadline, self._all_closed.wait())
        for conn in list(self.connections):
            conn.close("smsgate is stopping")
        await self._in_flight()
        await self.outbox.close()
        await self.mo_outbox.close()
        await asyncio.to_thread(self.bind_checker.close)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def _in_flight(self) -> None:
        """Until the commands and submit batches already taken have run (shielded: giving up
        the wait never cancels them)."""
        await asyncio.shield(asyncio.gather(self.tasks.wait(), self.submitter.close()))

    def on_inbound(self, messages: Sequence[InboundMessage]) -> None:
        """MO messages just stored (the inbound desk's listener): to a bound receiver of their
        account at once, else from the store when one binds."""
        self.mo_outbox.on_inbound(messages)

    def forget(self, conn: SmppDriver) -> None:
        """``conn`` is gone."""
        self.connections.discard(conn)
        if not self.connections and self._all_closed is not None:
            self._all_closed.set()


async def _within(deadline: float, awaitable: Coroutine[Any, Any, Any]) -> None:
    """Await ``awaitable`` until ``deadline`` (loop time) at the latest, then cancel it."""
    task = asyncio.ensure_future(awaitable)
    timeout = max(0.0, deadline - asyncio.get_running_loop().time())
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _bound_port(server: asyncio.Server, asked: int) -> int:
    sockets = server.sockets
    return int(sockets[0].getsockname()[1]) if sockets else asked
