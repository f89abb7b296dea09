"""A token bucket: at most ``rate`` events per second, with bursts of up to ``rate``.

Pure: the caller passes ``now`` (a monotonic clock in seconds).
"""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    __slots__ = ("_last", "_tokens", "rate")

    def __init__(self, rate: float, now: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._tokens = rate
        self._last = now

    def allow(self, now: float) -> bool:
        """Take one token if there is one."""
        elapsed = max(0.0, now - self._last)
        self._last = max(self._last, now)  # a clock going back must not count time twice
        self._tokens = min(self.rate, self._tokens + elapsed * self.rate)
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
