"""The SMPP 3.4 door: an asyncio Protocol driving one :class:`SmscSession` per connection.

The session does the protocol (states, enquire_link, unbind, decode errors, windows, timers);
this driver checks credentials on bind, runs each command through the same core as the HTTP
door (:class:`SubmitService`, :class:`AccessGuard`, the store), answers with the seed table's
SMPP status, and carries receipts back as deliver_sm through the :class:`ReceiptOutbox`.

Commands, with the action names that barred-action settings and fault injection use:

- submit_sm and data_sm (``SubmitSm``), batched per account by :class:`SmppSubmitter`: one
  message; a long one in UDH or SAR parts is put together first. Every part is answered when it
  arrives: the earlier ones with ESME_ROK and the id the whole message will have, the last one
  with the outcome of submitting the whole message (so a rule's code comes on the last part). A
  message whose parts do not all arrive within ``concat_timeout_s`` is dropped, never charged.
- submit_multi (``SubmitMulti``): one message per SME address; refused addresses come back in
  unsuccess_sme with their seed code, and message_id is the first accepted message's id.
- query_sm (``QuerySm``) and cancel_sm (``CancelSm``): the caller's own messages only; another
  account's id is answered as an unknown one (ESME_RINVMSGID).
- replace_sm: ESME_RREPLACEFAIL; an accepted message is not rewritten.

Every bind, refused bind, unbind and closed connection is one log line (``smpp.bind``,
``smpp.bind_refused``, ``smpp.unbind``, ``smpp.close``) with the system_id, the account, the bind
type, the peer, the status and the number of binds the account has after it; never the password.
A connection that never tried to bind (a port probe) closes at debug level.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import ssl
import time
from collections import Counter
from collections.abc import Coroutine
from typing import Any, Final, cast

from smsgate.config import SmppConfig
from smsgate.domain.models import Account, Message
from smsgate.domain.rate import TokenBucket
from smsgate.logs import log_event
from smsgate.ports.clock import Clock
from smsgate.ports.store import AccountStore, MessageStore
from smsgate.service.access import AccessGuard
from smsgate.service.cancel import CancelService
from smsgate.service.keyring import KeyRing
from smsgate.service.policy import PolicyCache
from smsgate.service.records import MessageRecords
from smsgate.service.smpp_accounts import SmppCredentials
from smsgate.service.submit import Submission, SubmitService
from smsgate.smpp.constants import CommandStatus
from smsgate.smpp.errors import response_command_id
from smsgate.smpp.events import (
    BindPdu,
    BindRequested,
    ConnectionShouldClose,
    Request,
    RequestTimedOut,
    ResponseReceived,
    Unbound,
)
from smsgate.smpp.pdu import (
    PDU_CLASSES,
    CancelSm,
    CancelSmResp,
    DataSm,
    DistributionList,
    Pdu,
    QuerySm,
    QuerySmResp,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    UnsuccessSme,
)
from smsgate.smpp.reassembly import UDHI
from smsgate.smpp.session import SessionState, SmscSession
from smsgate.tasks import BackgroundTasks

from .binds import BindChecker, BindVerdict, bind_type, status_name
from .fields import (
    Refused,
    content,
    lone_payload,
    refuse_scheduled,
    validity_seconds,
)
from .lockout import BindLockout
from .outbox import ReceiptOutbox
from .receipts import deliver_sm_for, final_date, report_for
from .statuses import PROFILES, SEED, StatusProfile, log_unexpected, status_of
from .submitter import SmppSubmitter

__all__ = ["SYSTEM_ID", "SmppServer"]

log = logging.getLogger(__name__)

#: Our system_id in bind responses.
SYSTEM_ID: Final = "smsgate"
_SUBMIT_COMMANDS = (SubmitSm, DataSm, SubmitMulti)
_RECEIVER_STATES = frozenset({SessionState.BOUND_RX, SessionState.BOUND_TRX})
_BOUND_STATES = _RECEIVER_STATES | {SessionState.BOUND_TX}


class SmppServer:
    """Owns the listening sockets, the connections, the receipt outbox and the submitter;
    ``stop`` closes connections and waits for commands in flight (they
    run to completion, as the HTTP door's do)."""

    def __init__(
        self,
        *,
        submit: SubmitService,
        accounts: AccountStore,
        messages: MessageStore,
        policy: PolicyCache,
        guard: AccessGuard,
        keyring: KeyRing,
        cancels: CancelService,
        clock: Clock,
        config: SmppConfig,
    ) -> None:
        self.submit = submit
        self.accounts = accounts
        self.messages = messages
        self.records = MessageRecords(messages)
        self.guard = guard
        self.keyring = keyring
        self.cancels = cancels
        self.clock = clock
        self.config = config
        self.credentials = SmppCredentials(policy)
        self.outbox = ReceiptOutbox(messages, retry_s=config.receipt_retry_s)
        self.submitter = SmppSubmitter(
            submit, guard, keyring, clock, concat_timeout_s=config.concat_timeout_s
        )
        self.binds: Counter[str] = Counter()  # bound sessions per account
        self.bind_checker = BindChecker(
            self.credentials,
            accounts,
            self.binds,
            max_binds=config.max_binds,
            lockout=BindLockout(
                max_failures=config.max_failed_binds,
                window_s=config.failed_binds_window_s,
                lock_s=config.bind_lock_s,
            ),
            password_checks=config.password_checks,
            max_waiting=config.max_waiting_binds,
            monotonic=time.monotonic,
        )
        # Bind ids name the submitting bind in stored messages. They start at a random point per
        # process, so that after a restart no new bind takes an old one's receipts as its own.
        self.bind_ids = itertools.count((secrets.randbits(30) + 1) << 32)
        self.connections: set[_SmppConnection] = set()
        self.tasks = BackgroundTasks()
        self._servers: list[asyncio.Server] = []
        self._all_closed: asyncio.Event | None = None  # set once stop() has no connection left
        self.tls_port: int | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``port`` (and on the TLS port when configured); returns the plain port."""
        loop = asyncio.get_running_loop()
        plain = await loop.create_server(lambda: _SmppConnection(self), host, port)
        self._servers.append(plain)
        if self.config.tls_cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
            secure = await loop.create_server(
                lambda: _SmppConnection(self), host, self.config.tls_port, ssl=context
            )
            self._servers.append(secure)
            self.tls_port = _bound_port(secure, self.config.tls_port)
        return _bound_port(plain, port)

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
            conn.unbind()
        if self.connections:
            self._all_closed = asyncio.Event()
            await _within(deadline, self._all_closed.wait())
        for conn in list(self.connections):
            conn.close("smsgate is stopping")
        await self._in_flight()
        await self.outbox.close()
        await asyncio.to_thread(self.bind_checker.close)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def _in_flight(self) -> None:
        """Until the commands and submit batches already taken have run (shielded: giving up
        the wait never cancels them)."""
        await asyncio.shield(asyncio.gather(self.tasks.wait(), self.submitter.close()))

    def forget(self, conn: _SmppConnection) -> None:
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


def _peer_of(transport: asyncio.BaseTransport) -> tuple[str, str]:
    """host:port of the client, for the log lines, and its host, for the bind lockout."""
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}", str(peer[0])
    return str(peer or ""), str(peer or "")


def _bound_port(server: asyncio.Server, asked: int) -> int:
    sockets = server.sockets
    return int(sockets[0].getsockname()[1]) if sockets else asked


class _SmppConnection(asyncio.Protocol):
    """One client connection.

    Backpressure, so that a client cannot make the server hold more than a bounded amount for
    it: at ``request_window`` requests read and not yet answered, the connection stops taking
    events from the session and stops reading the socket (TCP then pushes back on the client);
    when the socket's send buffer passes its high-water mark (a client that does not read its
    answers) it stops reading too, sends no receipts, and is aborted, buffer and all, after
    ``write_stall_s`` without the buffer draining.
    """

    def __init__(self, server: SmppServer) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        config = server.config
        self._session = SmscSession(
            now=self._loop.time(),
            window=config.window,
            enquire_link_interval=config.enquire_link_s,
            inactivity_timeout=config.inactivity_s,
            response_timeout=config.response_timeout_s,
        )
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flush_scheduled = False
        self._account_id: str | None = None
        self._system_id = ""
        self._bind_id = 0
        # For the log lines: who is at the other end, what it tried to bind as, why it ends.
        self._peer = ""
        self._host = ""
        self._bind_type: str | None = None  # once a bind was tried
        self._close_reason: str | None = None
        self._finished = False
        self._receiver = False
        self._receipts: dict[int, Message] = {}  # deliver_sm sequence number -> its message
        self._bucket: TokenBucket | None = None
        self._submits: list[SubmitSm | DataSm] = []  # read in this _drain, sent together
        self._statuses: StatusProfile = SEED  # the credential's choice, once bound
        # Why reading is paused: "window" (request_window unanswered), "writes" (the client
        # does not read), "stopping" (the server is stopping). Reading runs when it is empty.
        self._paused: set[str] = set()
        self._reading = True
        self._stall: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they implement it.
        self._transport = cast(asyncio.Transport, transport)
        self._peer, self._host = _peer_of(transport)
        self._server.connections.add(self)
        self._set_timer()

    def data_received(self, data: bytes) -> None:
        self._session.receive_data(data, self._loop.time())
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
            self._finish("closed by the client")
        self._server.forget(self)

    def pause_writing(self) -> None:
        """The send buffer is past its high-water mark: the client is not reading."""
        self._pause_reading("writes")
        self._stall = self._loop.call_later(self._server.config.write_stall_s, self._stalled)

    def resume_writing(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        self._resume_reading("writes")
        if self._receiver and self._account_id is not None:
            self._server.outbox.pump(self._account_id)

    def _stalled(self) -> None:
        self._stall = None
        limit = self._server.config.write_stall_s
        self.close(f"the client read none of its answers for {limit:g} s")

    def _pause_reading(self, reason: str) -> None:
        self._paused.add(reason)
        if self._reading and self._transport is not None and not self._transport.is_closing():
            self._reading = False
            self._transport.pause_reading()

    def _resume_reading(self, reason: str) -> None:
        self._paused.discard(reason)
        if self._paused or self._reading or self._transport is None:
            return
        if not self._transport.is_closing():
            self._reading = True
            self._transport.resume_reading()

    def close(self, reason: str = "closed by smsgate") -> None:
        """Close now. A client that is not reading would keep a graceful close waiting on its
        send buffer for ever, so that buffer is thrown away (the answers in it were for a
        client that did not read them)."""
        transport = self._transport
        if transport is not None:
            if "writes" in self._paused:
                transport.abort()
            else:
                transport.close()
        self._finish(reason)

    # --- stopping (SmppServer.stop) -----------------------------------------------------------

    def hold_requests(self) -> None:
        """Read nothing more (what a client sends now stays unread until :meth:`unbind`)."""
        self._pause_reading("stopping")

    def unbind(self) -> None:
        """Send an unbind and read again: the unbind_resp closes the connection, and requests
        read from now on are refused by the session. A connection never bound just closes."""
        if self._session.state not in _BOUND_STATES:
            self.close("smsgate is stopping")
            return
        self._close_reason = "unbound by smsgate (stopping)"
        self._session.unbind(now=self._loop.time())
        self._resume_reading("stopping")
        self._drain()

    def _finish(self, reason: str) -> None:
        """Release the bind and log the connection's end, once (the first reason wins)."""
        if self._finished:
            return
        self._finished = True
        reason = self._close_reason or reason
        account_id = self._release_bind()
        log_event(
            log,
            logging.INFO if self._bind_type is not None else logging.DEBUG,
            "smpp.close",
            system_id=self._system_id or None,
            account=account_id,
            bind=self._bind_type,
            peer=self._peer,
            reason=reason,
            binds=None if account_id is None else self._server.binds[account_id],
        )

    def _release_bind(self) -> str | None:
        """Stop counting this bind and sending it receipts; the account it was bound to."""
        account_id = self._account_id
        if account_id is None:
            return None
        if self._receiver:
            self._receiver = False
            unanswered = list(self._receipts.values())
            self._receipts.clear()
            self._server.outbox.detach(self, unanswered)
        self._server.binds[account_id] -= 1
        if self._server.binds[account_id] <= 0:
            del self._server.binds[account_id]
        self._account_id = None
        return account_id

    def _unbound(self) -> None:
        account_id = self._release_bind()
        if account_id is not None:
            log_event(
                log,
                logging.INFO,
                "smpp.unbind",
                system_id=self._system_id,
                account=account_id,
                bind=self._bind_type,
                peer=self._peer,
                binds=self._server.binds[account_id],
            )

    # --- session driving ----------------------------------------------------------------------

    def _drain(self) -> None:
        """Handle the events the session has (up to ``request_window`` unanswered requests,
        none while stopping), write once, re-arm the timer."""
        should_close = False
        session = self._session
        window = self._server.config.request_window
        while (
            session.unanswered < window
            and "stopping" not in self._paused
            and (event := session.next_event()) is not None
        ):
            if isinstance(event, Request):
                self._on_request(event.pdu)
            elif isinstance(event, ResponseReceived):
                self._on_receipt_answer(event.request.sequence_number, event.pdu.command_status)
            elif isinstance(event, RequestTimedOut):
                self._on_receipt_answer(event.pdu.sequence_number, None)
            elif isinstance(event, BindRequested):
                self._server.tasks.spawn(self._bind(event.pdu))
            elif isinstance(event, Unbound):
                self._unbound()
            elif isinstance(event, ConnectionShouldClose):
                self._close_reason = self._close_reason or event.reason
                should_close = True
        if self._submits:
            if self._account_id is None:  # the bind was released while they were read
                for pdu in self._submits:
                    self._answer(pdu, CommandStatus.ESME_RINVBNDSTS)
            else:
                self._server.submitter.queue(self, self._account_id, self._submits)
            self._submits = []
        if self._receiver and self._account_id is not None:
            self._server.outbox.pump(self._account_id)
        if session.unanswered >= window:
            self._pause_reading("window")
        self._flush()
        if should_close:
            self.close()

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self._session.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)
        if (
            "window" in self._paused
            and self._session.unanswered < self._server.config.request_window
        ):
            self._resume_reading("window")
            self._drain()  # the requests already read come first; it re-arms the timer
            return
        self._set_timer()

    def _schedule_flush(self) -> None:
        """Answers finished in the same loop iteration go out in one write."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _set_timer(self) -> None:
        when = self._session.get_timer()
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None and self._transport is not None:
            self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._session.handle_timer(self._loop.time())
        self._drain()

    # --- bind ---------------------------------------------------------------------------------

    async def _bind(self, pdu: BindPdu) -> None:
        self._bind_type = bind_type(pdu)
        try:
            verdict = await self._server.bind_checker.check(pdu, self._host)
        except Exception:
            log.exception("SMPP bind check failed")
            verdict = BindVerdict(CommandStatus.ESME_RBINDFAIL, "the check failed")
        if self._session.state is SessionState.CLOSED:
            return  # timed out or went away while the credentials were checked
        credential = verdict.credential
        if verdict.accepted and credential is not None:
            self._session.accept_bind(pdu, SYSTEM_ID)
            account_id = credential.account_id
            self._account_id = account_id
            self._system_id = credential.system_id
            self._bind_id = next(self._server.bind_ids)
            self._statuses = PROFILES[credential.status_codes or self._server.config.status_codes]
            self._server.binds[account_id] += 1
            config = self._server.config
            if config.tps_per_bind:
                self._bucket = TokenBucket(config.tps_per_bind, self._loop.time())
            if self._session.state in _RECEIVER_STATES:
                self._receiver = True
                self._server.outbox.attach(self)
            self._log_bind("smpp.bind", pdu, verdict)
        else:
            self._session.reject_bind(pdu, verdict.status)
            self._log_bind("smpp.bind_refused", pdu, verdict, reason=verdict.reason)
        self._drain()  # the log line comes before the client reads the answer

    def _log_bind(self, event: str, pdu: BindPdu, verdict: BindVerdict, **reason: str) -> None:
        account_id = verdict.account_id
        log_event(
            log,
            logging.DEBUG if verdict.quiet else logging.INFO,
            event,
            system_id=pdu.system_id,
            account=account_id,
            bind=self._bind_type,
            peer=self._peer,
            status=status_name(verdict.status),
            **reason,
            binds=None if account_id is None else self._server.binds[account_id],
        )

    # --- ReceiverLink (receipts out) ----------------------------------------------------------

    @property
    def account_id(self) -> str:
        return self._account_id or ""

    @property
    def system_id(self) -> str:
        return self._system_id

    @property
    def bind_id(self) -> int:
        return self._bind_id

    def can_send_receipt(self) -> bool:
        return (
            self._transport is not None
            and not self._transport.is_closing()
            and not self._paused
            and self._session.can_send()
        )

    def send_receipt(self, message: Message) -> None:
        session = self._session
        pdu = deliver_sm_for(message, session.next_sequence_number)
        seq = session.send_request(pdu, now=self._loop.time())
        self._receipts[seq] = message
        self._schedule_flush()

    def _on_receipt_answer(self, seq: int, status: int | None) -> None:
        message = self._receipts.pop(seq, None)
        if message is None:
            return
        if status == CommandStatus.ESME_ROK:
            self._server.outbox.acknowledged(self, message)
        else:
            self._server.outbox.refused(self, message)

    # --- requests -----------------------------------------------------------------------------

    def _on_request(self, pdu: Pdu) -> None:
        if (
            isinstance(pdu, _SUBMIT_COMMANDS)
            and self._bucket is not None
            and not self._bucket.allow(self._loop.time())
        ):
            self._answer(pdu, CommandStatus.ESME_RTHROTTLED)
        elif isinstance(pdu, SubmitSm | DataSm):
            self._submits.append(pdu)
        elif isinstance(pdu, SubmitMulti):
            self._server.tasks.spawn(self._run(pdu, self._submit_multi(pdu)))
        elif isinstance(pdu, QuerySm):
            self._server.tasks.spawn(self._run(pdu, self._query_sm(pdu)))
        elif isinstance(pdu, CancelSm):
            self._server.tasks.spawn(self._run(pdu, self._cancel_sm(pdu)))
        else:  # replace_sm: an accepted message is not rewritten
            self._answer(pdu, CommandStatus.ESME_RREPLACEFAIL)

    def _answer(self, pdu: Pdu, status: int) -> None:
        cls = PDU_CLASSES[response_command_id(pdu.command_id)]
        self._session.respond(cls(sequence_number=pdu.sequence_number, command_status=status))

    # --- Responder (answers from the submitter) -----------------------------------------------

    def respond(self, resp: Pdu) -> None:
        self._session.respond(resp)
        self._schedule_flush()

    def refuse(self, request: Pdu, exc: BaseException) -> None:
        self._answer(request, status_of(exc, self._statuses))
        self._schedule_flush()

    async def _run(self, pdu: Pdu, command: Coroutine[Any, Any, Pdu]) -> None:
        """Run a command to its response; any refusal becomes that command's error status."""
        try:
            resp = await command
        except Exception as exc:
            log_unexpected(exc)
            self._answer(pdu, status_of(exc, self._statuses))
        else:
            self._session.respond(resp)
        self._schedule_flush()

    async def _account(self, action: str) -> Account:
        """The bind's account (cached for ``refresh_s``), checked for ``action``."""
        account_id = self._account_id
        if account_id is None:
            raise Refused(CommandStatus.ESME_RINVBNDSTS)
        account = await self._server.keyring.account(account_id)
        if account is None:
            raise Refused(CommandStatus.ESME_RSYSERR)
        await self._server.guard.check_account_action(account, action)
        return account

    async def _submit_multi(self, pdu: SubmitMulti) -> Pdu:
        account = await self._account("SubmitMulti")
        if not pdu.dest_addresses:
            raise Refused(CommandStatus.ESME_RINVNUMDESTS, "no destination")
        if pdu.esm_class & UDHI:
            raise Refused(CommandStatus.ESME_RINVESMCLASS, "send long messages in message_payload")
        refuse_scheduled(pdu.schedule_delivery_time)
        payload = lone_payload(pdu, pdu.short_message)
        body, data = content(pdu.short_message if payload is None else payload, pdu.data_coding)
        validity = validity_seconds(pdu.validity_period, self._server.clock.now())
        unsuccess: list[UnsuccessSme] = []
        subs: list[Submission] = []
        by_number: dict[str, UnsuccessSme] = {}
        for dest in pdu.dest_addresses:
            if isinstance(dest, DistributionList):
                unsuccess.append(
                    UnsuccessSme(dest.name, error_status_code=CommandStatus.ESME_RINVDLNAME)
                )
                continue
            entry = UnsuccessSme(dest.address, dest.ton, dest.npi)
            by_number[dest.address] = entry
            by_number.setdefault(dest.address.lstrip("+"), entry)
            subs.append(
                Submission(
                    to=dest.address,
                    body=body,
                    data=data,
                    sender=pdu.source_addr or None,
                    validity_period=validity,
                    door="smpp",
                    registered_delivery=pdu.registered_delivery,
                    system_id=self._system_id,
                    bind_id=self._bind_id,
                )
            )
        accepted, failed = await self._server.submit.send_batch(account, subs)
        for to, error in failed:
            entry = by_number.get(to, UnsuccessSme(to))
            unsuccess.append(
                UnsuccessSme(entry.address, entry.ton, entry.npi, status_of(error, self._statuses))
            )
        return SubmitMultiResp(
            sequence_number=pdu.sequence_number,
            message_id=accepted[0].id if accepted else "",
            unsuccess_smes=tuple(unsuccess),
        )

    async def _own_message(self, account: Account, message_id: str) -> Message:
        message = await self._server.records.message(account.id, message_id)
        if message is None:
            raise Refused(CommandStatus.ESME_RINVMSGID, f"no message {message_id!r}")
        return message

    async def _query_sm(self, pdu: QuerySm) -> Pdu:
        account = await self._account("QuerySm")
        message = await self._own_message(account, pdu.message_id)
        report = report_for(message)
        return QuerySmResp(
            sequence_number=pdu.sequence_number,
            message_id=message.id,
            final_date=final_date(message.receive_date) if message.is_final else "",
            message_state=int(report.state),
            error_code=min(report.err, 255),
        )

    async def _cancel_sm(self, pdu: CancelSm) -> Pdu:
        account = await self._account("CancelSm")
        if not pdu.message_id:
            raise Refused(CommandStatus.ESME_RCANCELFAIL, "cancel by address is not offered")
        message = await self._own_message(account, pdu.message_id)
        if message.is_final or not await self._server.cancels.cancel(account.id, message.id):
            raise Refused(CommandStatus.ESME_RCANCELFAIL, "the message is beyond recall")
        return CancelSmResp(sequence_number=pdu.sequence_number)
