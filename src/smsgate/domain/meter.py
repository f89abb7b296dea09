"""How many events a second, over the last few seconds: a connector's throughput as shown by
``connectors list``.

Counts go into one bucket per whole second, so recording costs an addition (a batch of messages
is one call) and memory stays at ``window_s`` buckets however busy the connector is.

Pure: the caller passes ``now`` (seconds).
"""

from __future__ import annotations

from collections import deque

__all__ = ["RateMeter"]


class RateMeter:
    __slots__ = ("_buckets", "window_s")

    def __init__(self, window_s: int = 10) -> None:
        if window_s < 1:
            raise ValueError("the window is at least one second")
        self.window_s = window_s
        self._buckets: deque[list[int]] = deque()  # [second, count], oldest first

    def record(self, count: int, now: float) -> None:
        second = int(now)
        if self._buckets and self._buckets[-1][0] >= second:
            self._buckets[-1][1] += count  # this second (or a clock that went back)
        else:
            self._buckets.append([second, count])
        self._forget(second)

    def per_second(self, now: float) -> float:
        """Events a second over the last ``window_s`` whole seconds, this one included."""
        self._forget(int(now))
        return sum(count for _second, count in self._buckets) / self.window_s

    def _forget(self, second: int) -> None:
        while self._buckets and self._buckets[0][0] <= second - self.window_s:
            self._buckets.popleft()
