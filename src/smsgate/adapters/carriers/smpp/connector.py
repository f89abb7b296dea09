"""An upstream SMSC as a carrier: :class:`SmppConnector`, one per :class:`ConnectorSpec`.

It holds ``spec.binds`` binds (:class:`~.link.Link`): transceivers, or with ``tx+rx`` a
transmitter and a receiver each. :meth:`SmppConnector.submit` encodes each message
(:mod:`.encode`), queues its parts and sends them on whichever bind has room, within each
bind's window and the connector's TPS (a token bucket over all binds, with bursts of a
twentieth of a second's worth, at least one), all that fits in one loop iteration in one write
per bind. It returns when every message of the call has its outcome:

- **Accepted** when the SMSC answered ESME_ROK for every part, with the message_id of each part
  (keyed with :func:`~smsgate.domain.carrier_receipts.carrier_key`, as receipts look them up);
- **Rejected** with a receipt code when it refused a part for good (:mod:`.statuses`);
- **Retry** when it could not take it now: ESME_RTHROTTLED / ESME_RMSGQFUL (the bind pauses,
  and ``after_s`` is the pause), a temporary status, no answer within ``response_timeout_s``,
  or the connection dropped with the submit in flight. In the last two cases **the SMSC may or
  may not have the message**: it is retried, so it may reach the handset twice, but it is never
  lost. While no bind is up, every message is answered Retry at once (``after_s``: until the
  next bind attempt), so that a router fails over.

The parts of a long message go one after the other (part n+1 once part n was accepted), so
that what the SMSC accepted is always a prefix: **a part the SMSC accepted with a clean
submit_sm_resp is never sent again.** From its first accepted part a message is *committed*
to this connector: a later part that gets a Retry-like answer is sent again by the connector
itself (up to ``MAX_PART_TRIES`` times, on any bind), not the whole message. If it cannot be
finished (the tries run out, every bind stays down for ``response_timeout_s``, the connector
closes), the message is answered Retry and its progress is kept (the reference and the ids of
the accepted parts, for up to ``MAX_RESUMES`` messages): submitted here again, it resumes at the
first part not accepted, with the same reference, so the handset joins the parts. Sent through
another connector, or after a restart, it goes whole: the parts accepted here then arrive
twice (only then). A part refused for good fails the whole message.

deliver_sm / data_sm from the SMSC go to the :class:`~smsgate.ports.carrier.UpstreamSink` given
to :meth:`SmppConnector.start`, and are answered with its status once it returned.

It is a :class:`~smsgate.ports.carrier.Carrier` except for :meth:`SmppConnector.start`, which
takes the UpstreamSink (receipts are matched there by carrier id, not reported as
:class:`~smsgate.domain.models.Receipt` s). ``records_submission`` is True (receipts name only
the carrier's ids) and ``resubmit_on_recovery`` False (a message handed over before a crash
is not sent again; its receipt is awaited until it expires).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random as random_module
import ssl as ssl_module
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from smsgate import errors
from smsgate.domain.carrier_receipts import carrier_key
from smsgate.domain.connectors import ConnectorSpec
from smsgate.domain.models import Accepted, Message, Rejected, Retry, SubmitOutcome
from smsgate.domain.rate import TokenBucket
from smsgate.ports.carrier import UpstreamSink
from smsgate.ports.clock import Clock, SystemClock
from smsgate.smpp.constants import CommandStatus
from smsgate.smpp.errors import SmppEncodeError
from smsgate.smpp.pdu import Pdu, SubmitSmResp
from smsgate.smpp.session import BindKind

from .encode import Outbound, encode_message
from .link import THROTTLE_INITIAL_S, THROTTLE_MAX_S, Link
from .statuses import DEFAULT_STATUSES, StatusTable, Verdict

__all__ = ["MAX_PART_TRIES", "MAX_RESUMES", "BindState", "ConnectorState", "SmppConnector"]

#: Times a committed message's part is sent again after a Retry-like answer before the message
#: is answered Retry (and resumed when it comes back).
MAX_PART_TRIES: Final = 3
#: Committed messages whose progress is remembered; the oldest are forgotten first.
MAX_RESUMES: Final = 10_000
#: A TPS limit lets a twentieth of a second's submits go at once (at least one).
_BURST_S: Final = 0.05
#: Out of tokens, the connector waits at least this long: at high rates a wake-up per token
#: would cost more CPU than the sending (a tenth of a millisecond apart at 10,000/s).
_TOKEN_WAIT_S: Final = 0.01

_BINDS: Final = {
    "transceiver": (BindKind.TRANSCEIVER,),
    "tx+rx": (BindKind.TRANSMITTER, BindKind.RECEIVER),
}


@dataclass(frozen=True, slots=True)
class BindState:
    """One bind, for ``connectors list``."""

    bind: str  # name#index
    mode: str  # transceiver | transmitter | receiver
    state: str  # see link.LinkState
    in_flight: int
    submitted_per_s: float  # over the last few seconds
    last_error: str | None  # the last fault (kept after the bind came back)


@dataclass(frozen=True, slots=True)
class ConnectorState:
    name: str
    address: str
    up: bool  # some bind can submit
    waiting: int  # messages waiting for a window or the TPS to send their next part
    binds: tuple[BindState, ...]


class _Batch:
    """The messages of one :meth:`SmppConnector.submit` call: one future for all of them."""

    __slots__ = ("done", "left", "outcomes")

    def __init__(self, size: int, done: asyncio.Future[None]) -> None:
        self.outcomes: list[SubmitOutcome] = []
        self.left = size
        self.done = done


class _Job:
    """One message on its way: its parts, how many the SMSC accepted, their ids."""

    __slots__ = ("batch", "ids", "message_id", "next", "outbound", "reference", "tries")

    def __init__(self, message_id: str, outbound: Outbound, reference: int, batch: _Batch) -> None:
        self.message_id = message_id
        self.outbound = outbound
        self.reference = reference
        self.batch = batch
        self.next = 0  # parts accepted so far; the index of the part to send
        self.ids: list[str] = []
        self.tries = 0  # Retry-like answers to the current part, once committed


@dataclass(frozen=True, slots=True)
class _Resume:
    reference: int
    accepted: int
    ids: tuple[str, ...]


class SmppConnector:
    """The outbound SMPP client of one upstream SMSC; see the module docstring."""

    resubmit_on_recovery = False
    records_submission = True

    def __init__(
        self,
        spec: ConnectorSpec,
        password: str,
        *,
        ssl: ssl_module.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Clock | None = None,
        random: Callable[[], float] = random_module.random,
        statuses: StatusTable = DEFAULT_STATUSES,
        throttle_initial_s: float = THROTTLE_INITIAL_S,
        throttle_max_s: float = THROTTLE_MAX_S,
    ) -> None:
        """``password`` in clear (unsealing is the caller's business; it is never logged).
        ``ssl`` is the context for ``spec.tls`` (default: the system's trust store, checking
        ``spec.host``). ``clock`` is monotonic (sessions, TPS, back-off), ``wall`` the POSIX
        clock of outcomes and validity periods."""
        self.spec = spec
        self.name = spec.name
        self._clock = clock
        self._wall = wall or SystemClock()
        self._statuses = statuses
        context = (ssl or ssl_module.create_default_context()) if spec.tls else None
        kinds = [kind for _ in range(spec.binds) for kind in _BINDS[spec.bind_mode]]
        self._links: list[Link[_Job]] = [
            Link(
                self,
                spec,
                password,
                index=index,
                kind=kind,
                ssl=context,
                clock=clock,
                random=random,
                throttle_initial_s=throttle_initial_s,
                throttle_max_s=throttle_max_s,
            )
            for index, kind in enumerate(kinds, 1)
        ]
        self._senders = [link for link in self._links if link.kind is not BindKind.RECEIVER]
        self._turn = 0
        self._pending: deque[_Job] = deque()
        self._bucket = (
            TokenBucket(spec.tps, clock(), burst=max(1.0, spec.tps * _BURST_S))
            if spec.tps > 0
            else None
        )
        self._tps_timer: asyncio.TimerHandle | None = None
        self._strand_timer: asyncio.TimerHandle | None = None
        self._references = itertools.count(int(random() * 0x10000))
        self._resumes: OrderedDict[str, _Resume] = OrderedDict()
        self._sink: UpstreamSink | None = None
        self._started = False
        self._closing = False
        self._idle: asyncio.Future[None] | None = None
        self._changed = asyncio.Event()

    # --- lifetime -----------------------------------------------------------------------------

    @property
    def sink(self) -> UpstreamSink | None:
        return self._sink

    async def start(self, sink: UpstreamSink) -> None:
        """Start binding (in the background: :attr:`is_up` says when submits can go)."""
        if self._started:
            return
        self._started = True
        self._sink = sink
        for link in self._links:
            link.start()

    @property
    def is_up(self) -> bool:
        """Some bind can take submits now (else :meth:`submit` answers Retry at once)."""
        return not self._closing and any(link.up for link in self._senders)

    async def wait_up(self, binds: int | None = None, timeout: float = 10.0) -> None:
        """Until ``binds`` submitting binds (all by default) are bound; TimeoutError after
        ``timeout`` seconds."""
        wanted = len(self._senders) if binds is None else binds
        async with asyncio.timeout(timeout):
            while sum(link.up for link in self._senders) < wanted:
                await self._changed.wait()

    async def close(self, drain_s: float | None = None) -> None:
        """Take no more submits; answer what waits for a window Retry; wait up to ``drain_s``
        (``response_timeout_s`` by default) for the answers to what is in flight and for the
        sink to take what the SMSC delivered; then unbind every bind and close. What is still
        unanswered then is answered Retry."""
        if self._closing:
            return
        self._closing = True
        for timer in (self._tps_timer, self._strand_timer):
            if timer is not None:
                timer.cancel()
        pending, self._pending = self._pending, deque()
        for job in pending:
            self._give_up(job, self.spec.reconnect_initial_s)
        if not self._idle_now():
            self._idle = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_s or self.spec.response_timeout_s):
                    await self._idle
        await asyncio.gather(*(link.close(self.spec.response_timeout_s) for link in self._links))
        self._notify()

    # --- Carrier ------------------------------------------------------------------------------

    async def submit(self, messages: Sequence[Message]) -> list[SubmitOutcome]:
        """One outcome per message (see the module docstring). Cancelling the call withdraws
        the messages not yet sent; those in flight may still reach the SMSC."""
        if not messages:
            return []
        if not self.is_up:
            after = self._retry_after()
            return [Retry(message.id, after) for message in messages]
        batch = _Batch(len(messages), asyncio.get_running_loop().create_future())
        now = self._wall.now()
        for message in messages:
            job = self._job(message, batch, now)
            if job is not None:
                self._pending.append(job)
        self._pump()
        if batch.left:
            try:
                await batch.done
            except asyncio.CancelledError:
                self._pending = deque(job for job in self._pending if job.batch is not batch)
                raise
        return batch.outcomes

    async def cancel(self, message_id: str) -> bool:  # noqa: ARG002 - the port's signature
        """Always False: once handed to the SMSC a message would need a cancel_sm with its
        carrier id, which carriers seldom honour; the connector does not send one, and a
        message waiting here for a window is the DeliveryWorker's to withdraw, not ours."""
        return False

    def state(self) -> ConnectorState:
        now = self._clock()
        return ConnectorState(
            name=self.name,
            address=self.spec.address,
            up=self.is_up,
            waiting=len(self._pending),
            binds=tuple(
                BindState(
                    bind=link.name,
                    mode=link.kind.value,
                    state=link.state_name(),
                    in_flight=link.in_flight,
                    submitted_per_s=link.meter.rate(now),
                    last_error=link.last_error,
                )
                for link in self._links
            ),
        )

    # --- sending ------------------------------------------------------------------------------

    def _job(self, message: Message, batch: _Batch, now: float) -> _Job | None:
        resume = self._resumes.pop(message.id, None)
        reference = resume.reference if resume else next(self._references) & 0xFFFF
        try:
            outbound = encode_message(message, self.spec, reference=reference, now=now)
        except ValueError:
            self._settle_batch(batch, Rejected(message.id, self.name,
                                               errors.IN_SMS_CONTENT.code, now))  # fmt: skip
            return None
        job = _Job(message.id, outbound, reference, batch)
        if resume is not None and resume.accepted < len(outbound.parts):
            job.next, job.ids = resume.accepted, list(resume.ids)
        return job

    def _pump(self) -> None:
        """Send what waits while a bind has room and the TPS allows."""
        pending = self._pending
        if not pending or self._closing:
            return
        senders = self._senders
        count = len(senders)
        start = self._turn
        self._turn = (start + 1) % count
        bucket = self._bucket
        for offset in range(count):
            link = senders[(start + offset) % count]
            while pending and link.can_submit():
                if bucket is not None and not bucket.allow(self._clock()):
                    self._wait_for_token(bucket)
                    return
                job = pending.popleft()
                try:
                    link.send(job.outbound.pdu(job.next, link.next_sequence_number), job)
                except SmppEncodeError:  # a field the SMSC's PDU cannot hold
                    code = errors.SYSTEM_ERR.code
                    self._settle(job, Rejected(job.message_id, self.name, code, self._wall.now()))
            if not pending:
                return

    def _wait_for_token(self, bucket: TokenBucket) -> None:
        if self._tps_timer is None:
            delay = max(_TOKEN_WAIT_S, bucket.wait_s(self._clock()))
            self._tps_timer = asyncio.get_running_loop().call_later(delay, self._token_ready)

    def _token_ready(self) -> None:
        self._tps_timer = None
        self._pump()

    # --- outcomes -----------------------------------------------------------------------------

    def _settle(self, job: _Job, outcome: SubmitOutcome) -> None:
        self._settle_batch(job.batch, outcome)

    @staticmethod
    def _settle_batch(batch: _Batch, outcome: SubmitOutcome) -> None:
        batch.outcomes.append(outcome)
        batch.left -= 1
        if not batch.left and not batch.done.done():
            batch.done.set_result(None)

    def _again(self, job: _Job, after_s: float) -> None:
        """The current part got no clean answer: Retry, unless the message is committed."""
        if not job.next:
            self._settle(job, Retry(job.message_id, after_s))
            return
        job.tries += 1
        if job.tries > MAX_PART_TRIES or self._closing:
            self._give_up(job, after_s)
        else:
            self._pending.appendleft(job)

    def _give_up(self, job: _Job, after_s: float) -> None:
        """Retry, remembering a committed message's progress for when it comes back."""
        if job.next:
            self._resumes[job.message_id] = _Resume(job.reference, job.next, tuple(job.ids))
            if len(self._resumes) > MAX_RESUMES:
                self._resumes.popitem(last=False)
        self._settle(job, Retry(job.message_id, after_s))

    def _retry_after(self) -> float:
        """When a bind may be up again: the soonest reconnect, at least reconnect_initial_s."""
        now = self._clock()
        waits = [link.retry_at - now for link in self._senders if link.retry_at is not None]
        return max(self.spec.reconnect_initial_s, min(waits, default=0.0))

    # --- LinkOwner ----------------------------------------------------------------------------

    def answered(self, link: Link[_Job], tag: _Job, response: Pdu) -> None:
        job = tag
        status = response.command_status
        if not isinstance(response, SubmitSmResp):  # a generic_nack
            status = status or CommandStatus.ESME_RSYSERR
        verdict = self._statuses.verdict(status)
        if verdict is Verdict.ACCEPTED:
            assert isinstance(response, SubmitSmResp)
            carrier_id = response.message_id
            job.ids.append(carrier_key(carrier_id) if carrier_id else "")
            job.next += 1
            job.tries = 0
            if job.next == len(job.outbound.parts):
                accepted = Accepted(job.message_id, self.name, tuple(job.ids), self._wall.now())
                self._settle(job, accepted)
            elif self._closing:
                self._give_up(job, self.spec.reconnect_initial_s)
            else:
                self._pending.appendleft(job)  # its next part goes first
        elif verdict is Verdict.THROTTLED:
            self._again(job, link.throttle())
        elif verdict is Verdict.TEMPORARY:
            self._again(job, self.spec.reconnect_initial_s)
        else:
            code = self._statuses.receipt_code(status)
            self._settle(job, Rejected(job.message_id, self.name, code, self._wall.now()))

    def unanswered(self, link: Link[_Job], tag: _Job) -> None:  # noqa: ARG002
        self._again(tag, self.spec.reconnect_initial_s)

    def link_up(self, link: Link[_Job]) -> None:  # noqa: ARG002
        if self._strand_timer is not None:
            self._strand_timer.cancel()
            self._strand_timer = None
        self._notify()
        self._pump()

    def link_ready(self, link: Link[_Job]) -> None:  # noqa: ARG002
        self._pump()
        if self._idle is not None:
            self._check_idle()

    def link_down(self, link: Link[_Job], lost: list[_Job]) -> None:  # noqa: ARG002
        for job in lost:
            self._again(job, self.spec.reconnect_initial_s)
        if not self.is_up:
            self._went_down()
        self._notify()
        if self._idle is not None:
            self._check_idle()

    def _went_down(self) -> None:
        """No bind can submit: what waits is answered Retry, except committed messages, which
        wait up to response_timeout_s for a bind to finish them."""
        after = self._retry_after()
        committed: deque[_Job] = deque()
        for job in self._pending:
            if job.next and not self._closing:
                committed.append(job)
            else:
                self._give_up(job, after)
        self._pending = committed
        if committed and self._strand_timer is None:
            loop = asyncio.get_running_loop()
            self._strand_timer = loop.call_later(self.spec.response_timeout_s, self._stranded)

    def _stranded(self) -> None:
        self._strand_timer = None
        if self.is_up:
            return
        pending, self._pending = self._pending, deque()
        after = self._retry_after()
        for job in pending:
            self._give_up(job, after)

    def _idle_now(self) -> bool:
        return all(not link.in_flight and not link.delivering for link in self._links)

    def _check_idle(self) -> None:
        idle = self._idle
        if idle is not None and not idle.done() and self._idle_now():
            idle.set_result(None)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
