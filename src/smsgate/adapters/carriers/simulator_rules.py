"""The carrier simulator's number rules: what becomes of a message to a given number.

One engine for both simulators: the embedded carrier (:mod:`.simulator`) and the standalone SMSC
(``smsgate simulator``, :mod:`.simulator_smsc`), so that a number fails, expires, waits or is
refused the same way whichever of them takes it. The first rule whose pattern matches the
destination decides; a number no rule matches is delivered after the configuration's
``delay_ms``.

Pure: no clock, no I/O. :class:`RetryCounter` keeps the only state (how many "try again"
answers each message has had), bounded so that a client resubmitting endless distinct messages
cannot grow it without limit.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Final

from smsgate import errors
from smsgate.config import SimulatorConfig, SimulatorRule
from smsgate.domain.models import MessageStatus

__all__ = ["Fate", "NumberRules", "RetryCounter", "status_for"]


@dataclass(frozen=True, slots=True)
class Fate:
    """What the simulator does with a message to one number.

    ``receipt`` is the receipt code it ends with (``success``, ``EXPIRED`` or a failure code),
    reported ``delay_ms`` after the message is taken. ``reject``: the submit itself is refused
    with ``receipt``. ``retries``: the first ``retries`` submits of each message are answered
    "try again after ``delay_ms``". ``status`` names the SMPP command_status the standalone SMSC
    answers those with ("": its default for the rule).
    """

    receipt: str
    delay_ms: int
    reject: bool = False
    retries: int = 0
    status: str = ""


class NumberRules:
    """The rules of a :class:`SimulatorConfig`, first match wins. Each rule's :class:`Fate` is
    built once: deciding is a loop over patterns and no allocation."""

    __slots__ = ("_default", "_rules")

    def __init__(self, config: SimulatorConfig) -> None:
        self._default = Fate(errors.DELIVERED.code, config.delay_ms)
        self._rules: tuple[tuple[SimulatorRule, Fate], ...] = tuple(
            (rule, _fate_of(rule, config.delay_ms)) for rule in config.rules
        )

    def fate(self, number: str) -> Fate:
        """The fate of a message to ``number``."""
        for rule, fate in self._rules:
            if rule.matches(number):
                return fate
        return self._default


def _fate_of(rule: SimulatorRule, default_delay_ms: int) -> Fate:
    delay = default_delay_ms if rule.delay_ms is None else rule.delay_ms
    return Fate(rule.receipt, delay, rule.reject, rule.retries, rule.status)


#: Messages whose "try again" answers are counted at once; the oldest is forgotten beyond it
#: (it then gets its retries again, which only delays it further).
DEFAULT_MAX_COUNTED: Final = 100_000


class RetryCounter:
    """Which submits of a message are answered "try again": the first ``retries`` of each.

    A message is whatever key its simulator recognises it by again when it comes back: the
    embedded carrier's message id, the standalone SMSC's sender, destination and text.
    """

    __slots__ = ("_given", "_max_counted")

    def __init__(self, max_counted: int = DEFAULT_MAX_COUNTED) -> None:
        if max_counted < 1:
            raise ValueError("max_counted must be at least 1")
        self._given: dict[Hashable, int] = {}
        self._max_counted = max_counted

    def __len__(self) -> int:
        return len(self._given)

    def again(self, key: Hashable, retries: int) -> bool:
        """Whether this submit of ``key`` is answered "try again" (and counted as such); the
        submit after the last one goes through and the message is forgotten."""
        given = self._given.get(key, 0)
        if given < retries:
            if not given and len(self._given) >= self._max_counted:
                del self._given[next(iter(self._given))]
            self._given[key] = given + 1
            return True
        self._given.pop(key, None)
        return False


def status_for(code: str) -> MessageStatus:
    """The final status a receipt code gives a message."""
    if code == errors.DELIVERED.code:
        return MessageStatus.DELIVERED
    if code == errors.EXPIRED.code:
        return MessageStatus.EXPIRED
    return MessageStatus.FAILED
