"""Counting messages against the throttling and quota rules of :mod:`smsgate.domain.limits`.

The rules (windows, precedence, defaults) are documented there; a :class:`Limiter` only keeps
the counts. The embedded implementation keeps them in process memory
(:class:`smsgate.adapters.limits.memory.MemoryLimiter`); a scale-out one keeps them in Redis so
that several processes share them.

Its methods are coroutines: a limiter shared by several processes counts where its counts are
(a round trip to Redis), and one in memory answers without suspending. Each call is one atomic
step: concurrent calls see each other's counts exactly.

How the core uses it: after a message has passed every other check and before it is stored,
``acquire`` counts it (or says which limit refuses it); if it is then not accepted after all
(the store failed, the balance was short, the queue was full), ``release`` gives its count back,
so that a message the client was told was refused never uses up a quota.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from smsgate.domain.limits import LimitPolicy
from smsgate.errors import ResultCode

__all__ = ["Limiter"]


class Limiter(Protocol):
    async def acquire(
        self,
        account_id: str,
        items: Sequence[tuple[str, str]],
        policy: LimitPolicy,
        platform_per_day: int | None,
        now: float,
    ) -> list[ResultCode | None]:
        """Count messages about to be accepted, or say which limit refuses each.

        ``items`` are ``(destination number, message type)``, one per message, the number in
        one canonical form (E.164) so that spellings of one number share a count. Returns one
        entry per item, in order: ``None`` when the message was counted, else the seed code of
        the first limit that refuses it (precedence in :mod:`smsgate.domain.limits`); a refused
        item counts nowhere. Items counted earlier in the call count against later ones, so a
        batch naming one number twice gets the second refused where the limits say so.
        ``platform_per_day`` is the platform-wide daily quota (``None``: unlimited).

        A message type outside :data:`smsgate.domain.limits.MESSAGE_TYPES` is refused with
        ``isv.INVALID_PARAMETERS`` (the core checks types before, so this is a safety net).
        """
        ...

    async def release(self, account_id: str, items: Sequence[tuple[str, str]], now: float) -> None:
        """Give back the counts of items ``acquire`` counted but that were not accepted after all.

        Pass exactly the items ``acquire`` answered ``None`` for that were then not accepted,
        and the same ``now`` that was given to that ``acquire``: ``now`` says which day, month
        and sliding-window timestamp the counts belong to. Counts of a day or month that has
        ended since are not given back (that window is over, nothing is counted in it any more).
        """
        ...

    #: Whether the counts outlive this process (a shared limiter's do): when they do not, a
    #: starting server seeds per-number counts from the store (``seed_numbers``).
    keeps_counts_across_restarts: bool

    async def seed_numbers(
        self,
        account_id: str,
        records: Sequence[tuple[str, str, float]],
        policy: LimitPolicy,
        now: float,
    ) -> None:
        """Count messages accepted before this process started against their numbers' day
        counts and sliding windows: ``(number, message type, accepted at)``, oldest first, of
        one account, from the current UTC day and the last hour. Nothing is decided. A limiter
        whose counts outlive the process ignores this (it counted them when they came)."""
        ...

    async def seed_usage(
        self,
        account_day: dict[str, int],
        account_month: dict[str, int],
        platform_day: int,
        now: float,
    ) -> None:
        """Set the quota counters on start from the store: messages accepted so far in the UTC
        day (per account and for the platform) and in the UTC month (per account) of ``now``.

        Per-number counters are not seeded and start empty: after a restart a number may get up
        to one more day's (hour's, minute's) worth of messages than its limits allow. Rebuilding
        them would mean reading every message of the day at start; the quotas, which protect
        money and the platform, are exact across restarts.
        """
        ...
