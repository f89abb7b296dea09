"""One client connection as the SMPP door sees it: its bind, its requests, its receipts, its logs.

A :class:`Connection` is the :class:`~smsgate.drivers.smpp.SessionHandler` of one
:class:`~smsgate.drivers.smpp.SmppDriver` (which does the session, the timers and the
backpressure). It checks credentials on bind (:mod:`.binds`), hands each request to its handler
in :data:`~.commands.COMMANDS` as the commands' :class:`~.commands.Context`, passes the submits of
each read to the :class:`~.submitter.SmppSubmitter` as one batch, answers with the bind's status
profile, and carries deliver_sm to a receiver: receipts for the :class:`~.outbox.ReceiptOutbox`
and MO messages for the :class:`~.outbox.MoOutbox`, asking the two in turn for what fills its
window. The parts of a long MO message go one after the other on this bind, as its window
allows, before anything else; the message is acknowledged once every part is, and refused (sent
again later, whole) as soon as one part is.

Every bind, refused bind, unbind and closed connection is one log line (``smpp.bind``,
``smpp.bind_refused``, ``smpp.unbind``, ``smpp.close``) with the system_id, the account, the bind
type, the peer, the status and the number of binds the account has after it; never the password.
A connection that never tried to bind (a port probe) closes at debug level.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, Final

from smsgate.domain.inbound import InboundMessage
from smsgate.domain.models import Message
from smsgate.domain.rate import TokenBucket
from smsgate.drivers.smpp import SessionHandler, SmppDriver
from smsgate.errors import SmppStatusProfile
from smsgate.logs import log_event
from smsgate.smpp.constants import CommandStatus
from smsgate.smpp.errors import response_command_id
from smsgate.smpp.events import (
    BindPdu,
    BindRequested,
    Request,
    RequestTimedOut,
    ResponseReceived,
    Unbound,
)
from smsgate.smpp.pdu import PDU_CLASSES, DataSm, Pdu, SubmitSm
from smsgate.smpp.session import SessionState, SmppSession
from smsgate.tasks import BackgroundTasks

from .binds import BindChecker, BindVerdict, bind_type, status_name
from .commands import COMMANDS, Services
from .mo import MoPart, deliver_sm_of, mo_parts
from .outbox import MoOutbox, ReceiptOutbox
from .receipts import deliver_sm_for
from .statuses import PROFILES, SEED, StatusProfile, log_unexpected, status_of
from .submitter import SmppSubmitter

__all__ = ["SYSTEM_ID", "Connection", "Shared"]

# The name the SMPP door's log lines have always carried (operators filter on it).
log = logging.getLogger("smsgate.doors.smpp.server")

#: Our system_id in bind responses.
SYSTEM_ID: Final = "smsgate"
_RECEIVER_STATES: Final = frozenset({SessionState.BOUND_RX, SessionState.BOUND_TRX})


@dataclass(frozen=True, slots=True)
class Shared:
    """What every connection of the door shares, built once by the server."""

    services: Services
    submitter: SmppSubmitter
    outbox: ReceiptOutbox
    mo_outbox: MoOutbox
    bind_checker: BindChecker
    binds: Counter[str]  # bound sessions per account
    bind_ids: Iterator[int]  # names each bind in the messages it submits
    tasks: BackgroundTasks  # commands in flight (the server waits for them on stop)
    monotonic: Callable[[], float]
    status_codes: SmppStatusProfile  # for a credential that did not choose
    tps_per_bind: int
    opened: Callable[[SmppDriver], None]  # the server counts its connections
    lost: Callable[[SmppDriver], None]


def _peer_of(peer: object) -> tuple[str, str]:
    """host:port of the client, for the log lines, and its host, for the bind lockout."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}", str(peer[0])
    return str(peer or ""), str(peer or "")


@dataclass(slots=True)
class _MoInFlight:
    """An MO message on its way to this bind, part by part."""

    message: InboundMessage
    unanswered: int  # parts not yet answered ESME_ROK
    settled: bool = False  # acknowledged or refused: answers of its other parts change nothing


class Connection(SessionHandler):
    """The door's side of one connection; also the :class:`~.commands.Context` of its
    requests, the :class:`~.submitter.Responder` of its submits and the
    :class:`~.outbox.ReceiverLink` and :class:`~.outbox.InboundLink` of what it is sent."""

    def __init__(self, shared: Shared) -> None:
        self._shared = shared
        self.services = shared.services
        # Set by connection_made, which the driver calls before anything else.
        self._driver: SmppDriver
        self._session: SmppSession
        self._account_id: str | None = None
        self._system_id = ""
        self._bind_id = 0
        # For the log lines: who is at the other end, what it tried to bind as.
        self._peer = ""
        self._host = ""
        self._bind_type: str | None = None  # once a bind was tried
        self._receiver = False
        self._receipts: dict[int, Message] = {}  # deliver_sm sequence number -> its message
        self._mo_sent: dict[int, _MoInFlight] = {}  # deliver_sm sequence number -> its MO
        self._mo_waiting: deque[tuple[_MoInFlight, MoPart]] = deque()  # parts not sent yet
        self._mo_first = False  # which outbox fills the window first, in turn
        self._bucket: TokenBucket | None = None
        self._submits: list[SubmitSm | DataSm] = []  # read in this drain, sent together
        self._statuses: StatusProfile = SEED  # the credential's choice, once bound

    # --- SessionHandler -----------------------------------------------------------------------

    def connection_made(self, driver: SmppDriver) -> None:
        self._driver = driver
        self._session = driver.session
        self._peer, self._host = _peer_of(driver.peername)
        self._shared.opened(driver)

    def request_received(self, event: Request) -> None:
        pdu = event.pdu
        COMMANDS[pdu.command_id](self, pdu)

    def response_received(self, event: ResponseReceived) -> None:
        self._on_answer(event.request.sequence_number, event.pdu.command_status)

    def request_timed_out(self, event: RequestTimedOut) -> None:
        self._on_answer(event.pdu.sequence_number, None)

    def bind_requested(self, event: BindRequested) -> None:
        self._shared.tasks.spawn(self._bind(event.pdu))

    def unbound(self, event: Unbound) -> None:  # noqa: ARG002 - the hook's signature
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
                binds=self._shared.binds[account_id],
            )

    def events_handled(self) -> None:
        if self._submits:
            if self._account_id is None:  # the bind was released while they were read
                for pdu in self._submits:
                    self.answer(pdu, CommandStatus.ESME_RINVBNDSTS)
            else:
                self._shared.submitter.queue(self, self._account_id, self._submits)
            self._submits = []
        if self._receiver and self._account_id is not None:
            self._deliver_more(self._account_id)

    def writing_resumed(self) -> None:
        if self._receiver and self._account_id is not None:
            self._deliver_more(self._account_id)

    def finished(self, reason: str) -> None:
        """Release the bind and log the connection's end."""
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
            binds=None if account_id is None else self._shared.binds[account_id],
        )

    def connection_lost(self) -> None:
        self._shared.lost(self._driver)

    def _release_bind(self) -> str | None:
        """Stop counting this bind and sending it receipts; the account it was bound to."""
        account_id = self._account_id
        if account_id is None:
            return None
        binds = self._shared.binds
        if self._receiver:
            self._receiver = False
            unanswered = list(self._receipts.values())
            self._receipts.clear()
            self._shared.outbox.detach(self, unanswered)
            self._shared.mo_outbox.detach(self, self._mo_unanswered())
        binds[account_id] -= 1
        if binds[account_id] <= 0:
            del binds[account_id]
        self._account_id = None
        return account_id

    # --- bind ---------------------------------------------------------------------------------

    async def _bind(self, pdu: BindPdu) -> None:
        self._bind_type = bind_type(pdu)
        shared = self._shared
        try:
            verdict = await shared.bind_checker.check(pdu, self._host)
        except Exception:
            log.exception("SMPP bind check failed")
            verdict = BindVerdict(CommandStatus.ESME_RBINDFAIL, "the check failed")
        session = self._session
        if session.state is SessionState.CLOSED:
            return  # timed out or went away while the credentials were checked
        credential = verdict.credential
        if verdict.accepted and credential is not None:
            session.accept_bind(pdu, SYSTEM_ID)
            account_id = credential.account_id
            self._account_id = account_id
            self._system_id = credential.system_id
            self._bind_id = next(shared.bind_ids)
            self._statuses = PROFILES[credential.status_codes or shared.status_codes]
            shared.binds[account_id] += 1
            if shared.tps_per_bind:
                self._bucket = TokenBucket(shared.tps_per_bind, shared.monotonic())
            if session.state in _RECEIVER_STATES:
                self._receiver = True
                shared.outbox.attach(self)
                shared.mo_outbox.attach(self)
            self._log_bind("smpp.bind", pdu, verdict)
        else:
            session.reject_bind(pdu, verdict.status)
            self._log_bind("smpp.bind_refused", pdu, verdict, reason=verdict.reason)
        self._driver.drain()  # the log line comes before the client reads the answer

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
            binds=None if account_id is None else self._shared.binds[account_id],
        )

    # --- commands.Context ---------------------------------------------------------------------

    @property
    def account_id(self) -> str:
        return self._account_id or ""

    @property
    def system_id(self) -> str:
        return self._system_id

    @property
    def bind_id(self) -> int:
        return self._bind_id

    @property
    def statuses(self) -> StatusProfile:
        return self._statuses

    def throttled(self) -> bool:
        bucket = self._bucket
        return bucket is not None and not bucket.allow(self._shared.monotonic())

    def answer(self, request: Pdu, status: int) -> None:
        cls = PDU_CLASSES[response_command_id(request.command_id)]
        self._session.respond(cls(sequence_number=request.sequence_number, command_status=status))

    def batch(self, pdu: SubmitSm | DataSm) -> None:
        self._submits.append(pdu)

    def spawn(self, request: Pdu, command: Coroutine[Any, Any, Pdu]) -> None:
        self._shared.tasks.spawn(self._run(request, command))

    async def _run(self, request: Pdu, command: Coroutine[Any, Any, Pdu]) -> None:
        """Run a command to its response; any refusal becomes that command's error status."""
        try:
            resp = await command
        except Exception as exc:
            log_unexpected(exc)
            self.answer(request, status_of(exc, self._statuses))
        else:
            self._session.respond(resp)
        self._driver.flush_soon()

    # --- submitter.Responder (answers to submits) ---------------------------------------------

    def respond(self, resp: Pdu) -> None:
        self._session.respond(resp)
        self._driver.flush_soon()

    def refuse(self, request: Pdu, exc: BaseException) -> None:
        self.answer(request, status_of(exc, self._statuses))
        self._driver.flush_soon()

    # --- outbox.ReceiverLink and outbox.InboundLink (deliver_sm out) ---------------------------

    def can_send_receipt(self) -> bool:
        # The parts of an MO message already started go first.
        return not self._mo_waiting and self._driver.can_send()

    def send_receipt(self, message: Message) -> None:
        pdu = deliver_sm_for(message, self._session.next_sequence_number)
        self._receipts[self._driver.send_request(pdu)] = message

    def can_send_inbound(self) -> bool:
        return not self._mo_waiting and self._driver.can_send()

    def send_inbound(self, message: InboundMessage) -> None:
        parts = mo_parts(message)
        flight = _MoInFlight(message, len(parts))
        self._mo_waiting.extend((flight, part) for part in parts)
        self._send_mo_parts()

    def _send_mo_parts(self) -> None:
        """Send the waiting parts of MO messages while the window has room."""
        waiting, driver = self._mo_waiting, self._driver
        while waiting and driver.can_send():
            flight, part = waiting.popleft()
            pdu = deliver_sm_of(flight.message, part, self._session.next_sequence_number)
            self._mo_sent[driver.send_request(pdu)] = flight

    def _deliver_more(self, account_id: str) -> None:
        """Room may have come: the parts of an MO message started first, then both outboxes,
        each first in turn."""
        if self._mo_waiting:
            self._send_mo_parts()
        shared = self._shared
        self._mo_first = not self._mo_first
        if self._mo_first:
            shared.mo_outbox.pump(account_id)
            shared.outbox.pump(account_id)
        else:
            shared.outbox.pump(account_id)
            shared.mo_outbox.pump(account_id)

    def _on_answer(self, seq: int, status: int | None) -> None:
        message = self._receipts.pop(seq, None)
        if message is None:
            self._on_mo_answer(seq, status)
        elif status == CommandStatus.ESME_ROK:
            self._shared.outbox.acknowledged(self, message)
        else:
            self._shared.outbox.refused(self, message)

    def _on_mo_answer(self, seq: int, status: int | None) -> None:
        flight = self._mo_sent.pop(seq, None)
        if flight is None or flight.settled:
            return
        if status == CommandStatus.ESME_ROK:
            flight.unanswered -= 1
            if flight.unanswered == 0:
                flight.settled = True
                self._shared.mo_outbox.acknowledged(self, flight.message)
            return
        flight.settled = True
        # Its parts not sent yet are dropped: the whole message goes again after retry_s.
        self._mo_waiting = deque(entry for entry in self._mo_waiting if entry[0] is not flight)
        self._shared.mo_outbox.refused(self, flight.message)

    def _mo_unanswered(self) -> list[InboundMessage]:
        """The MO messages this bind took and did not settle (on its way out)."""
        flights = {id(f): f for f in self._mo_sent.values()}
        flights.update((id(f), f) for f, _ in self._mo_waiting)
        self._mo_sent.clear()
        self._mo_waiting.clear()
        return [f.message for f in flights.values() if not f.settled]
