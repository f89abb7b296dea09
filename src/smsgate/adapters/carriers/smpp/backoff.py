"""How long a connector waits before trying again: exponential, capped, jittered. Pure.

After the n-th fault in a row the wait is ``initial * 2**(n-1)``, capped at ``maximum``, times a
factor drawn from [0.5, 1) ("equal jitter"): binds that fell together (the SMSC restarted) do
not all come back in the same instant, and a wait is never under half its nominal length. A
success (a bind accepted, a submit answered) resets the count.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    __slots__ = ("_faults", "_random", "initial", "maximum")

    def __init__(self, initial: float, maximum: float, random: Callable[[], float]) -> None:
        """``random`` returns a float in [0, 1) (``random.random``; a constant in tests)."""
        if not 0 < initial <= maximum:
            raise ValueError("0 < initial <= maximum is required")
        self.initial = initial
        self.maximum = maximum
        self._random = random
        self._faults = 0

    @property
    def faults(self) -> int:
        """Faults in a row since the last success."""
        return self._faults

    def next_delay(self) -> float:
        """Count a fault; the seconds to wait before the next attempt."""
        self._faults += 1
        nominal = min(self.maximum, self.initial * (1 << min(self._faults - 1, 62)))
        return nominal * (0.5 + self._random() / 2)

    def reset(self) -> None:
        self._faults = 0
