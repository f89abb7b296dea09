"""Password guessing over SMPP: failed binds counted per system_id and per peer host.

Every wrong password costs the server a scrypt hash (~30 ms of a core), so an attacker who may
guess freely takes the machine. After ``max_failures`` failed binds within ``window_s`` for one
key (a system_id, or the host a connection comes from), that key is locked for ``lock_s``:
its binds are refused with ESME_RBINDFAIL before any hash is computed, whatever the password.

Both keys count, because each alone is easy to get around: a botnet guessing one system_id from
many hosts trips the system_id's count; one host spraying many system_ids trips the host's. A
successful bind clears its system_id's and host's counts, so a client that mistyped its password
a few times is not locked later for the rest of the window.

A lock on a system_id must not become a way to lock its owner out: anyone who knows a system_id
could otherwise keep it locked with a few wrong passwords a minute. So a host that has bound as a
system_id before (since the process started) is not held by that system_id's lock, only by a
lock on the host itself.

Memory is bounded: expired counts are dropped as they are met, and no more than ``max_keys``
keys are tracked (the oldest are forgotten first), so a flood of made-up system_ids cannot grow
the table without end. Pure bookkeeping on a caller's clock: no I/O, no timers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

__all__ = ["BindLockout", "Lock"]

#: Keys (system_ids and hosts) followed at once; past this the oldest are forgotten.
MAX_KEYS: Final = 100_000


@dataclass(frozen=True, slots=True)
class Lock:
    """Why binds are refused: ``key`` ("system_id x" or "host h") is locked ``until``."""

    key: str
    until: float


class BindLockout:
    def __init__(
        self, *, max_failures: int, window_s: float, lock_s: float, max_keys: int = MAX_KEYS
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        self.max_failures = max_failures
        self.window_s = window_s
        self.lock_s = lock_s
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}  # insertion order = first failure order
        self._locks: dict[str, float] = {}  # key -> until
        self._known: dict[tuple[str, str], None] = {}  # (system_id, host) that bound; ordered

    def lock_of(self, system_id: str, host: str, now: float) -> Lock | None:
        """The lock that refuses a bind of ``system_id`` from ``host`` now, if any."""
        keys = [_host(host)]
        if (system_id, host) not in self._known:
            keys.append(_system(system_id))
        for key in keys:
            until = self._locks.get(key)
            if until is None:
                continue
            if now < until:
                return Lock(key, until)
            del self._locks[key]
        return None

    def failed(self, system_id: str, host: str, now: float) -> list[Lock]:
        """Count a failed bind; the locks it starts (none, or the keys that reached the limit)."""
        started = []
        for key in (_system(system_id), _host(host)):
            times = self._failures.get(key)
            if times is None:
                self._forget_oldest()
                times = self._failures[key] = deque()
            while times and times[0] <= now - self.window_s:
                times.popleft()
            times.append(now)
            if len(times) >= self.max_failures:
                del self._failures[key]
                until = now + self.lock_s
                self._locks[key] = until
                started.append(Lock(key, until))
        return started

    def succeeded(self, system_id: str, host: str) -> None:
        """A bind got through: its system_id and host start from a clean slate."""
        self._failures.pop(_system(system_id), None)
        self._failures.pop(_host(host), None)
        pair = (system_id, host)
        if pair not in self._known:
            while len(self._known) >= self._max_keys:
                del self._known[next(iter(self._known))]
            self._known[pair] = None

    @property
    def tracked(self) -> int:
        """Keys with failures, locks and known binds held (for tests of the memory bound)."""
        return len(self._failures) + len(self._locks) + len(self._known)

    def _forget_oldest(self) -> None:
        while len(self._failures) >= self._max_keys:
            del self._failures[next(iter(self._failures))]
        while len(self._locks) >= self._max_keys:
            del self._locks[next(iter(self._locks))]


def _system(system_id: str) -> str:
    return f"system_id {system_id}"


def _host(host: str) -> str:
    return f"host {host}"
