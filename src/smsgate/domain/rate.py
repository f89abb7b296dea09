"""A token bucket: at most ``rate`` events per second, with bursts of up to ``burst`` (``rate``
by default).

Pure: the caller passes ``now`` (a monotonic clock in seconds).
"""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, now: float, *, burst: float | None = None) -> None:
        """``burst`` caps the tokens kept (and so the events allowed at one instant): an
        upstream SMSC counting submits per second wants them spread, not ``rate`` at once.
        It must be at least 1, or no event would ever be allowed."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self.burst = rate if burst is None else burst
        self._tokens = self.burst
        self._last = now

    def allow(self, now: float) -> bool:
        """Take one token if there is one."""
        self._refill(now)
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def wait_s(self, now: float) -> float:
        """Seconds from ``now`` until :meth:`allow` would take a token (0 when it would now)."""
        self._refill(now)
        return max(0.0, (1 - self._tokens) / self.rate)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._last)
        self._last = max(self._last, now)  # a clock going back must not count time twice
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
