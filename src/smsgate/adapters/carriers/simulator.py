"""The built-in carrier simulator: the embedded default carrier.

It accepts every message and, after a configurable delay, reports a receipt: delivered by default,
or the receipt code of the first rule whose number pattern matches the destination. With the
default rules, numbers ending in 9901..9909 fail with each seed receipt code and 9910 expires, so
users can produce every receipt on purpose. Outcomes are deterministic, so handing a message over
again after a crash gives the same receipt.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from smsgate import errors
from smsgate.config import SimulatorConfig
from smsgate.domain.models import Message, MessageStatus, Receipt, SubmitOutcome
from smsgate.ports.carrier import ReceiptSink
from smsgate.ports.clock import Clock

__all__ = ["CarrierSimulator"]


class CarrierSimulator:
    resubmit_on_recovery = True
    records_submission = False  # receipts carry the send date

    def __init__(self, config: SimulatorConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._sink: ReceiptSink | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._holding: set[str] = set()  # handed over, receipt not yet reported

    async def start(self, sink: ReceiptSink) -> None:
        self._sink = sink

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def outcome_for(self, number: str) -> tuple[str, int]:
        """The receipt code and delay (ms) the simulator gives a destination."""
        for rule in self._config.rules:
            if rule.matches(number):
                delay = self._config.delay_ms if rule.delay_ms is None else rule.delay_ms
                return rule.receipt, delay
        return errors.DELIVERED.code, self._config.delay_ms

    async def submit(self, messages: Sequence[Message]) -> list[SubmitOutcome]:
        now = self._clock.now()
        by_delay: dict[int, list[tuple[str, str, float]]] = defaultdict(list)
        outcomes = []
        for message in messages:
            code, delay = self.outcome_for(message.to)
            by_delay[delay].append((message.id, code, now))
            self._holding.add(message.id)
            outcomes.append(SubmitOutcome(message.id, f"sim-{message.id}", now))
        loop = asyncio.get_running_loop()
        for delay, items in by_delay.items():
            holder: list[asyncio.TimerHandle] = []
            holder.append(loop.call_later(delay / 1000, self._fire, items, holder))
            self._timers.add(holder[0])
        return outcomes

    def _fire(self, items: list[tuple[str, str, float]], holder: list[asyncio.TimerHandle]) -> None:
        self._timers.discard(holder[0])
        self._report(items)

    def cancel(self, message_id: str) -> bool:
        """A message still waiting for its simulated delivery is withdrawn: no receipt comes."""
        if message_id not in self._holding:
            return False
        self._holding.discard(message_id)
        return True

    def _report(self, items: list[tuple[str, str, float]]) -> None:
        holding = self._holding
        live = [item for item in items if item[0] in holding]
        holding.difference_update(item[0] for item in live)
        if self._sink is None or not live:
            return
        done = self._clock.now()
        receipts = [Receipt(mid, _status_for(code), code, done, sent) for mid, code, sent in live]
        self._sink(receipts)


def _status_for(code: str) -> MessageStatus:
    if code == errors.DELIVERED.code:
        return MessageStatus.DELIVERED
    if code == errors.EXPIRED.code:
        return MessageStatus.EXPIRED
    return MessageStatus.FAILED
