"""What the outbox tests share: timers fired by hand, and loop passes instead of sleeps.

The memory store never suspends, so a backlog read is one task step: the tests let the loop run
a bounded number of passes (:func:`until`) instead of sleeping. Retry timers are fired by hand
(:class:`ManualTimers`, the ``timers`` fixture of this folder's conftest).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["ManualTimers", "spin", "until"]


class ManualTimers:
    """Catches the loop's call_later so that retry timers fire only when the test says."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._real = loop.call_later
        self.pending: list[tuple[float, asyncio.TimerHandle, Callable[..., Any], tuple[Any, ...]]]
        self.pending = []

    def call_later(
        self, delay: float, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> asyncio.TimerHandle:
        handle = self._real(3600, lambda: None)  # a real handle the outbox can cancel
        self.pending.append((delay, handle, callback, args))
        return handle

    def fire(self) -> int:
        due, self.pending = self.pending, []
        fired = 0
        for _, handle, callback, args in due:
            if not handle.cancelled():
                handle.cancel()
                callback(*args)
                fired += 1
        return fired


async def until(condition: Callable[[], bool], passes: int = 200) -> None:
    """Let the loop run until ``condition`` holds; fail after ``passes`` loop passes."""
    for _ in range(passes):
        if condition():
            return
        await asyncio.sleep(0)
    assert condition()


async def spin(passes: int = 20) -> None:
    for _ in range(passes):
        await asyncio.sleep(0)
