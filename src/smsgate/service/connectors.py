"""The carrier the delivery worker sees: the simulator and every upstream connector, with failover.

:class:`ConnectorSet` implements the :class:`~smsgate.ports.carrier.Carrier` port over named
carriers. For a batch it asks the :class:`~smsgate.service.routing.Router` for each message's plan,
groups the messages by the first connector of their plan that is up, hands each group to its
connector (all groups at once) and acts on what each connector says of each message:

- ``Accepted`` and ``Rejected`` are final. A permanent refusal is not failed over: the next
  carrier would be handed a message that one carrier refused for what it is (its number, its
  text), and an operator's refusal must not become a delivery by a back door.
- ``Retry``, a connector that raises, or one that says nothing of a message: the message moves
  on to the next connector of its plan, in the same call.
- A connector that is down is passed over without being asked: not running (configured but not
  built yet, or failed to build), draining, or saying so (``ConnectorHealth.is_up``).

A message that has been past every connector of its plan comes back ``Retry`` after the shortest
delay any of them asked for (``down_retry_s`` for those that were down); the worker puts it back
on the queue, and it is routed afresh then. A message whose plan is empty (the routes changed
after it was accepted, and none takes it now) is ``Rejected`` with ``OPERATOR_NOT_SUPPORT``, and
logged: it cannot leave, and waiting would only hold it on the queue until it expires.

Connectors come and go while messages flow (:class:`~smsgate.service.connector_manager.
ConnectorManager`): :meth:`ConnectorSet.put` starts one and routes to it at once (replacing one
of the same name), :meth:`ConnectorSet.drain` closes a retired one once every submit it was
handed has been answered and the receipts its SMSC owes have come. Each submit in flight counts
against its connector until it returns, counted before the first await, so a connector retired
meanwhile is never closed under it. The receipts owed are the messages handed over through it
still SUBMITTED in the store, asked every ``poll_s``: closing it before they come would leave
them SUBMITTED until their validity runs out, to be shown EXPIRED although delivered. While it
drains it stays bound, its receiver side taking them. The first count waits for the
:meth:`ConnectorSet.submit` calls in progress: the delivery worker queues the recording of a
call's hand-overs as the call returns, before it awaits anything, and the store counts in the
order of its writes, so the last hand-overs are counted however long their write takes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from smsgate import errors
from smsgate.domain.meter import RateMeter
from smsgate.domain.models import Accepted, Message, Rejected, Retry, SubmitOutcome
from smsgate.domain.routing import SIMULATOR
from smsgate.logs import log_event
from smsgate.ports.carrier import BindReport, Carrier, ConnectorHealth, ReceiptSink
from smsgate.ports.clock import Clock
from smsgate.ports.store import MessageStore
from smsgate.service.routing import Router

__all__ = ["NO_ROUTE", "ConnectorSet", "RunningConnector"]

log = logging.getLogger(__name__)

#: The receipt code of a message no route takes any more: no carrier (operator) serves it.
NO_ROUTE = errors.OPERATOR_NOT_SUPPORT.code
#: How many message ids a ``routing.no_route`` log line names, at most.
_IDS_LOGGED = 5


@dataclass(eq=False)
class RunningConnector:
    """One named carrier in the set, with what ``connectors list`` shows of it. Compared (and
    hashed) by identity: a replaced connector and its successor share a name."""

    name: str
    carrier: Carrier
    in_flight: int = 0  # messages in submit calls not yet returned
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    draining: bool = False
    closed: bool = False
    failing: bool = False  # its last submit raised (logged once per run of failures)
    accepted: int = 0
    rejected: int = 0
    retried: int = 0
    meter: RateMeter = field(default_factory=RateMeter)
    #: The carrier, if it can tell whether it is up (looked at once: a runtime protocol check
    #: costs microseconds, and this is asked for every message).
    health: ConnectorHealth | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.idle.set()
        if isinstance(self.carrier, ConnectorHealth):
            self.health = self.carrier

    def is_up(self) -> bool:
        return self.health is None or self.health.is_up()

    def enter(self, count: int) -> None:
        self.in_flight += count
        self.idle.clear()

    def leave(self, count: int) -> None:
        self.in_flight -= count
        if self.in_flight == 0:
            self.idle.set()

    def status(self, now: float) -> dict[str, object]:
        state = "draining" if self.draining else ("up" if self.is_up() else "down")
        shown: dict[str, object] = {
            "state": state,
            "in_flight": self.in_flight,
            "throughput_per_s": round(self.meter.per_second(now), 1),
            "accepted": self.accepted,
            "rejected": self.rejected,
            "retried": self.retried,
        }
        if isinstance(self.carrier, BindReport):
            shown["binds"] = [dict(bind) for bind in self.carrier.bind_states()]
        return shown


@dataclass(eq=False, slots=True)
class _Routing:
    """A message on its way through its plan."""

    message: Message
    plan: list[str]
    index: int = 0
    wait_s: float | None = None  # the shortest delay asked for so far

    def passed(self, delay_s: float) -> None:
        """This connector could not take it; on to the next, remembering the delay."""
        self.index += 1
        self.wait_s = delay_s if self.wait_s is None else min(self.wait_s, delay_s)


class ConnectorSet:
    """A :class:`Carrier` over the simulator and the upstream connectors (module docstring)."""

    resubmit_on_recovery: bool
    records_submission: bool

    def __init__(
        self,
        router: Router,
        simulator: Carrier,
        clock: Clock,
        *,
        down_retry_s: float = 1.0,
        messages: MessageStore | None = None,
        poll_s: float = 0.5,
    ) -> None:
        """``messages``, when given, is asked what a drained connector still owes (receipts);
        without it a drain closes once the submits are answered."""
        self._router = router
        self._clock = clock
        self._down_retry_s = down_retry_s
        self._messages = messages
        self._poll_s = poll_s
        self._sink: ReceiptSink | None = None
        self._live: dict[str, RunningConnector] = {
            SIMULATOR: RunningConnector(SIMULATOR, simulator)
        }
        self._draining: set[RunningConnector] = set()
        self._calls: set[asyncio.Future[None]] = set()  # submit() calls in progress
        self._settle_flags()

    def _settle_flags(self) -> None:
        """The port's two flags for what is running now, draining connectors included (the
        answers of their last submits come while they drain): any connector that needs the
        hand-over recorded has it recorded (recording the simulator's too is harmless: a
        final message is left alone); a message is handed over again after a crash only when
        every connector says that is harmless."""
        members = [*self._live.values(), *(m for m in self._draining if not m.closed)]
        carriers = [member.carrier for member in members]
        self.records_submission = any(c.records_submission for c in carriers)
        self.resubmit_on_recovery = all(c.resubmit_on_recovery for c in carriers)

    # -- the Carrier port ----------------------------------------------------------------------

    async def start(self, sink: ReceiptSink) -> None:
        self._sink = sink
        await self._live[SIMULATOR].carrier.start(sink)

    async def submit(self, messages: Sequence[Message]) -> list[SubmitOutcome]:
        call: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._calls.add(call)  # a drain waits for it: see the module docstring
        try:
            return await self._submit(messages)
        finally:
            self._calls.discard(call)
            call.set_result(None)

    async def _submit(self, messages: Sequence[Message]) -> list[SubmitOutcome]:
        plans = await self._router.plans(messages)
        outcomes: list[SubmitOutcome] = []
        todo: list[_Routing] = []
        unroutable: list[str] = []
        for message, plan in zip(messages, plans, strict=True):
            if plan:
                todo.append(_Routing(message, plan))
            else:
                unroutable.append(message.id)
        if unroutable:
            now = self._clock.now()
            outcomes.extend(Rejected(mid, "", NO_ROUTE, now) for mid in unroutable)
            log_event(
                log,
                logging.WARNING,
                "routing.no_route",
                messages=len(unroutable),
                message_ids=",".join(unroutable[:_IDS_LOGGED]),
                receipt=NO_ROUTE,
            )
        while todo:
            groups = self._group(todo, outcomes)
            if not groups:
                break
            for member, routed in groups.items():
                member.enter(len(routed))  # before any await: see the module docstring
            if len(groups) == 1:
                [(member, routed)] = groups.items()
                todo = await self._hand(member, routed, outcomes)
            else:
                handed = [self._hand(m, routed, outcomes) for m, routed in groups.items()]
                todo = [r for again in await asyncio.gather(*handed) for r in again]
        return outcomes

    async def cancel(self, message_id: str) -> bool:
        """Whichever connector holds the message withdraws it, if it can."""
        for member in [*self._live.values(), *self._draining]:
            if not member.closed and await member.carrier.cancel(message_id):
                return True
        return False

    async def close(self) -> None:
        """Close every connector, draining or not (the server is stopping)."""
        members = [*self._live.values(), *self._draining]
        await asyncio.gather(*(self._close(m) for m in members))

    # -- routing a batch -----------------------------------------------------------------------

    def _group(
        self, todo: list[_Routing], outcomes: list[SubmitOutcome]
    ) -> dict[RunningConnector, list[_Routing]]:
        """Each message to the next connector of its plan that is up; those past the end of
        their plan are answered Retry."""
        groups: dict[RunningConnector, list[_Routing]] = {}
        for routing in todo:
            member = self._next_up(routing)
            if member is None:
                wait_s = self._down_retry_s if routing.wait_s is None else routing.wait_s
                outcomes.append(Retry(routing.message.id, wait_s))
            else:
                groups.setdefault(member, []).append(routing)
        return groups

    def _next_up(self, routing: _Routing) -> RunningConnector | None:
        plan = routing.plan
        while routing.index < len(plan):
            member = self._live.get(plan[routing.index])
            if member is not None and member.is_up():
                return member
            routing.passed(self._down_retry_s)
        return None

    async def _hand(
        self, member: RunningConnector, routed: list[_Routing], outcomes: list[SubmitOutcome]
    ) -> list[_Routing]:
        """Give ``routed`` to ``member`` (already counted in flight); the final outcomes go to
        ``outcomes``, and what must go on to the next connector is returned."""
        try:
            answers = await member.carrier.submit([r.message for r in routed])
        except Exception:
            if not member.failing:
                log.exception("connector %s failed a submit; its messages fail over", member.name)
                member.failing = True
            member.retried += len(routed)
            for routing in routed:
                routing.passed(self._down_retry_s)
            return routed
        finally:
            member.leave(len(routed))
        member.failing = False
        pending = {r.message.id: r for r in routed}
        again: list[_Routing] = []
        accepted = 0
        for answer in answers:
            answered = pending.pop(answer.message_id, None)
            if answered is None:
                continue  # not in this group, or told twice: the first word counts
            if isinstance(answer, Retry):
                answered.passed(answer.after_s)
                again.append(answered)
                member.retried += 1
                continue
            outcomes.append(answer)
            if isinstance(answer, Accepted):
                accepted += 1
            else:
                member.rejected += 1
        if pending:
            log.error(
                "connector %s said nothing of %d messages; they fail over",
                member.name,
                len(pending),
            )
            for routing in pending.values():
                routing.passed(0.0)
                again.append(routing)
        if accepted:
            member.accepted += accepted
            member.meter.record(accepted, self._clock.now())
        return again

    # -- connectors coming and going -----------------------------------------------------------

    def names(self) -> list[str]:
        """The connectors messages are routed to now (the simulator first)."""
        return list(self._live)

    async def put(self, name: str, carrier: Carrier) -> RunningConnector | None:
        """Start ``carrier`` and route ``name``'s messages to it from now on. Returns the
        connector it replaces, if any, for :meth:`drain`. Raises what ``carrier.start`` raises
        (nothing is replaced then)."""
        if name == SIMULATOR:
            raise ValueError("the simulator is built in")
        if self._sink is None:
            raise RuntimeError("start the connector set before adding connectors")
        await carrier.start(self._sink)
        old = self._live.get(name)
        self._live[name] = RunningConnector(name, carrier)
        if old is not None:
            old.draining = True
            self._draining.add(old)
        self._settle_flags()
        return old

    def retire(self, name: str) -> RunningConnector | None:
        """Route nothing more to ``name``; the connector to :meth:`drain`, if it ran."""
        if name == SIMULATOR:
            raise ValueError("the simulator is built in")
        member = self._live.pop(name, None)
        if member is None:
            return None
        member.draining = True
        self._draining.add(member)
        self._settle_flags()
        return member

    async def drain(
        self, retired: RunningConnector, timeout_s: float, receipts_s: float = 0.0
    ) -> None:
        """Close a connector returned by :meth:`put` or :meth:`retire` once every submit it was
        handed has been answered, or after ``timeout_s`` (its close answers what is left); then,
        for up to ``receipts_s`` more, once no message handed over through it awaits its
        receipt (module docstring)."""
        try:
            try:
                async with asyncio.timeout(timeout_s):
                    await retired.idle.wait()
            except TimeoutError:
                log_event(
                    log,
                    logging.WARNING,
                    "connector.drain_timeout",
                    connector=retired.name,
                    in_flight=retired.in_flight,
                )
                return
            if self._messages is not None and receipts_s > 0:
                await self._await_receipts(retired, self._messages, receipts_s)
        finally:
            await self._close(retired)

    async def _await_receipts(
        self, retired: RunningConnector, messages: MessageStore, bound_s: float
    ) -> None:
        """Poll the store until no message handed over through ``retired`` is SUBMITTED, or
        ``bound_s`` has passed (the first count as the module docstring says). Messages handed
        over later through a successor of the same name are left out by their send date: all
        of ``retired``'s were answered by now."""
        sent_until = self._clock.now()
        owed = 0
        try:
            async with asyncio.timeout(bound_s):
                if self._calls:  # their hand-overs are queued for the store when they end
                    await asyncio.wait(set(self._calls))
                owed = await messages.count_awaiting_receipt(retired.name, sent_until)
                if owed:
                    log_event(
                        log,
                        logging.INFO,
                        "connector.drain_receipts",
                        connector=retired.name,
                        owed=owed,
                    )
                while owed:
                    await asyncio.sleep(self._poll_s)
                    owed = await messages.count_awaiting_receipt(retired.name, sent_until)
        except TimeoutError:
            log_event(
                log,
                logging.WARNING,
                "connector.drain_timeout",
                connector=retired.name,
                owed=owed,
            )
        except Exception:
            log.exception("connector %s: the receipts it owes cannot be counted", retired.name)

    async def _close(self, member: RunningConnector) -> None:
        if member.closed:
            return
        member.closed = True
        self._draining.discard(member)
        self._settle_flags()
        try:
            await member.carrier.close()
        except Exception:
            log.exception("connector %s failed to close", member.name)

    def status(self) -> Mapping[str, dict[str, object]]:
        """Live state by connector name: running ones, and retired ones still draining."""
        now = self._clock.now()
        shown = {m.name: m.status(now) for m in self._draining if not m.closed}
        shown.update((name, m.status(now)) for name, m in self._live.items())
        return shown
