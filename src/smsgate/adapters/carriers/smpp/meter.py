"""Events per second over the last few seconds, for ``connectors list``. Pure.

Counts go in one-second buckets of a small ring; :meth:`RateMeter.rate` averages the whole
seconds before the current one, so a figure does not jump with the fraction of the current
second that has passed.
"""

from __future__ import annotations

__all__ = ["RateMeter"]


class RateMeter:
    __slots__ = ("_counts", "_seconds", "span_s")

    def __init__(self, span_s: int = 5) -> None:
        if span_s < 1:
            raise ValueError("span_s must be at least 1")
        self.span_s = span_s
        size = span_s + 1
        self._counts = [0] * size
        self._seconds = [-1] * size  # which whole second each bucket counts

    def add(self, now: float, count: int = 1) -> None:
        second = int(now)
        slot = second % len(self._counts)
        if self._seconds[slot] != second:
            self._seconds[slot] = second
            self._counts[slot] = 0
        self._counts[slot] += count

    def rate(self, now: float) -> float:
        """Average events per second over the ``span_s`` whole seconds before ``now``'s."""
        current = int(now)
        first = current - self.span_s
        total = sum(
            count
            for second, count in zip(self._seconds, self._counts, strict=True)
            if first <= second < current
        )
        return total / self.span_s
