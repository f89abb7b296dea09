"""Time, passed in so that rules and tests never depend on the wall clock."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float:
        """POSIX seconds, UTC."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()
