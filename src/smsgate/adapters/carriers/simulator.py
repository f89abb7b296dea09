"""The built-in carrier simulator: the embedded default carrier.

It accepts every message and, after a configurable delay, reports a receipt: delivered by default,
or the receipt code of the first rule whose number pattern matches the destination. With the
default rules, numbers ending in 9901..9909 fail with each seed receipt code and 9910 expires, so
users can produce every receipt on purpose. A rule can also make the simulator answer the submit
itself as a real SMSC may: refuse the message for good with its receipt code (``reject``), or ask
for it again later (``retries`` times, each after the rule's delay) before going on. Outcomes are
deterministic, so handing a message over again after a crash gives the same receipt. The rules
are :mod:`.simulator_rules`, shared with the standalone SMSC (``smsgate simulator``).

It is one carrier connection, named :data:`CONNECTOR`, and gives each part of a message its own
id (``sim-<message id>``, or ``sim-<message id>-<part>`` for a long message), as an SMSC answers
each part's submit_sm with its own message_id.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Final

from smsgate.config import SimulatorConfig
from smsgate.domain.models import (
    Accepted,
    Message,
    Receipt,
    Rejected,
    Retry,
    SubmitOutcome,
)
from smsgate.ports.carrier import ReceiptSink
from smsgate.ports.clock import Clock
from smsgate.tasks import BackgroundTasks

from .simulator_rules import NumberRules, RetryCounter, status_for

__all__ = ["CONNECTOR", "CarrierSimulator"]

log = logging.getLogger(__name__)

#: The simulator's name as a carrier connection, recorded on the messages it takes.
CONNECTOR: Final = "simulator"

# A message taken and waiting for its receipt: id, receipt code, send date, carrier ids.
_Held = tuple[str, str, float, tuple[str, ...]]


class CarrierSimulator:
    resubmit_on_recovery = True
    records_submission = False  # receipts carry the send date, the connector and the carrier ids

    def __init__(self, config: SimulatorConfig, clock: Clock) -> None:
        self._rules = NumberRules(config)
        self._clock = clock
        self._sink: ReceiptSink | None = None
        self._reports = BackgroundTasks()  # receipts on their way to the sink
        self._timers: set[asyncio.TimerHandle] = set()
        self._holding: set[str] = set()  # handed over, receipt not yet reported
        self._retried = RetryCounter()  # by message id

    async def start(self, sink: ReceiptSink) -> None:
        self._sink = sink

    async def close(self) -> None:
        """Pending receipts are dropped (never reported); those reported reach the sink."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        await self._reports.wait()

    def outcome_for(self, number: str) -> tuple[str, int]:
        """The receipt code and delay (ms) the simulator gives a destination."""
        fate = self._rules.fate(number)
        return fate.receipt, fate.delay_ms

    async def submit(self, messages: Sequence[Message]) -> list[SubmitOutcome]:
        now = self._clock.now()
        by_delay: dict[int, list[_Held]] = defaultdict(list)
        outcomes: list[SubmitOutcome] = []
        for message in messages:
            fate = self._rules.fate(message.to)
            code, delay = fate.receipt, fate.delay_ms
            if fate.retries and self._retried.again(message.id, fate.retries):
                outcomes.append(Retry(message.id, delay / 1000))
                continue
            if fate.reject:
                outcomes.append(Rejected(message.id, CONNECTOR, code, now))
                continue
            ids = _part_ids(message)
            by_delay[delay].append((message.id, code, now, ids))
            self._holding.add(message.id)
            outcomes.append(Accepted(message.id, CONNECTOR, ids, now))
        loop = asyncio.get_running_loop()
        for delay, items in by_delay.items():
            holder: list[asyncio.TimerHandle] = []
            holder.append(loop.call_later(delay / 1000, self._fire, items, holder))
            self._timers.add(holder[0])
        return outcomes

    def _fire(self, items: list[_Held], holder: list[asyncio.TimerHandle]) -> None:
        self._timers.discard(holder[0])
        self._report(items)

    async def cancel(self, message_id: str) -> bool:
        """A message still waiting for its simulated delivery is withdrawn: no receipt comes."""
        if message_id not in self._holding:
            return False
        self._holding.discard(message_id)
        return True

    def _report(self, items: list[_Held]) -> None:
        holding = self._holding
        live = [item for item in items if item[0] in holding]
        holding.difference_update(item[0] for item in live)
        if self._sink is None or not live:
            return
        done = self._clock.now()
        receipts = [
            Receipt(mid, status_for(code), code, done, sent, connector=CONNECTOR, carrier_ids=ids)
            for mid, code, sent, ids in live
        ]
        self._reports.spawn(self._tell(self._sink, receipts))

    @staticmethod
    async def _tell(sink: ReceiptSink, receipts: list[Receipt]) -> None:
        try:
            await sink(receipts)
        except Exception:
            log.exception("the receipt sink failed on %d receipts", len(receipts))


def _part_ids(message: Message) -> tuple[str, ...]:
    if message.segments <= 1:
        return (f"sim-{message.id}",)
    return tuple(f"sim-{message.id}-{part}" for part in range(1, message.segments + 1))
