"""In-process limiter: the throttling and quota counts of one smsgate process, in memory.

The rules are in :mod:`smsgate.domain.limits`; this keeps the counts they are checked against.
It suits the embedded mode (one process); several processes need a shared limiter (Redis).

The decision is :func:`~smsgate.domain.limits.refusal`'s. :meth:`MemoryLimiter.acquire` makes
the same checks inline, in its one loop, reading each count only when the limits before it let
the message through (a message refused by a quota touches no per-number state; a call costs a
few microseconds for every message). The limiter contract suite (``tests/unit/test_limits.py``,
``LIMITERS``) holds it, message by message, to a reference that counts every window and asks
``refusal``; a shared limiter (whose checks run where its counts are, e.g. in Redis) joins it.

Layout
------
- Quotas: one integer for the platform's day, one per account for its day and its month.
- Day counts of a number: ``account -> type -> number -> count``, kept only for the types whose
  policy needs them (a type day limit, or the number's cap across types). Values stay small
  integers, which CPython shares, so an entry costs its dict slot and the number string.
- Sliding windows of a number: ``account -> type -> number -> timestamps``, kept only for types
  with a minute or hour limit, and never more timestamps than the larger of those two limits
  (a limit of n is decided by the n-th newest timestamp alone). A number's timestamps are one
  ``float`` when there is one of them, the common case for verification codes, and an
  ``array('d')`` otherwise: 24 bytes instead of 112 or more.

Expiry without scanning
-----------------------
Day counts live in one dict that is replaced whole when the UTC day changes (the month's
counters likewise when the month does). Timestamps live in two *generations*, one per
clock-aligned hour: a number's timestamps are looked up in the current generation, then in the
previous one, from which they move to the current one. When the hour changes, the previous
generation is dropped whole: its numbers were not touched for all of the hour just ended, so
every timestamp in it is more than 3,600 s old and no longer counts against anything. Nothing
is ever scanned to find what expired, and timestamps still in a live generation are simply
ignored by the checks once they are out of their window.

Dropping is freeing: about 15 ms per million numbers' day counts at midnight UTC and 9 ms per
million numbers' timestamps at the hour, in the first call after it. Freeing entry by entry
over the following calls (``dict.popitem``) was tried and costs 25 times more in total (a hash
probe per entry), so the pause is taken whole; it is a few requests' worth of latency once an
hour. Memory holds the counts of the current UTC day and the timestamps of at most the last two
clock hours.

Cost
----
Measured on a 2-vCPU cloud VM, CPython 3.11, default policy, one message per call:

- ``acquire``: 2.9 us for a verification code to a new number among a million tracked ones
  (cache misses in the large dicts: 1.5 us when the numbers in use are few), 1.5 us for a
  notification (no timestamps kept), 1.0 us when the policy sets no per-number limit (the cost
  of the call and the quotas).
- Memory per tracked number, its string included: 94 bytes for the day count of one type, plus
  55 bytes while it holds one timestamp (its first hour), 160 while it holds three.

``tests/unit/test_limits.py`` keeps the per-number memory from regressing.

Time
----
``now`` is expected not to go backwards by much. When it does (a clock stepped back), day and
month counts go to the current day and month (the latest seen), never back to an earlier one,
and sliding windows judge by the timestamps they hold: nothing fails, the count is only as
exact as the clock.

A policy change applies from the next call. Per-number counts are kept only while a policy
needs them, so a limit switched on during the day starts counting from then; lowering a
minute or hour limit may drop timestamps that raising it again would have wanted.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

from smsgate import errors
from smsgate.domain.limits import (
    HOUR_S,
    MINUTE_S,
    LimitPolicy,
    utc_day_bounds,
    utc_month_bounds,
)
from smsgate.errors import ResultCode

__all__ = ["MemoryLimiter"]

#: One number's sliding-window timestamps: one ``float``, or an ``array('d')`` of two or more,
#: oldest first.
_Stamps: TypeAlias = "float | array[float]"
#: ``account -> message type -> number -> count`` for the current UTC day.
_DayCounts: TypeAlias = "dict[str, dict[str, dict[str, int]]]"
#: ``account -> message type -> number -> timestamps`` of one generation.
_Generation: TypeAlias = "dict[str, dict[str, dict[str, _Stamps]]]"


class MemoryLimiter:
    """Implements :class:`smsgate.ports.limits.Limiter` in process memory.

    Not thread-safe: call it from one thread (the event loop). Each call runs to completion
    without awaiting, so concurrent requests on the loop see each other's counts exactly.
    """

    def __init__(self) -> None:
        # Current UTC day and month (the latest seen); -inf so that the first call sets them.
        self._day_start = -math.inf
        self._day_end = -math.inf
        self._month_start = -math.inf
        self._month_end = -math.inf
        self._platform_day = 0
        self._account_day: dict[str, int] = {}
        self._account_month: dict[str, int] = {}
        self._day_counts: _DayCounts = {}
        # Sliding-window generations: this clock hour's and the previous one's.
        self._hour_end = -math.inf
        self._stamps_new: _Generation = {}
        self._stamps_old: _Generation = {}

    # --- the port ------------------------------------------------------------------------------

    async def acquire(  # noqa: PLR0915 - one loop, inlined: it runs for every message
        self,
        account_id: str,
        items: Sequence[tuple[str, str]],
        policy: LimitPolicy,
        platform_per_day: int | None,
        now: float,
    ) -> list[ResultCode | None]:
        now = float(now)  # a timestamp is told from an array by being a float: never an int
        if now >= self._day_end:
            self._new_day(now)
        if now >= self._hour_end:
            self._new_hour(now)

        by_type = policy.by_type
        cap = policy.per_number_per_day
        month_limit = policy.account_per_month
        day_limit = policy.account_per_day
        platform = self._platform_day
        account_day = self._account_day.get(account_id, 0)
        account_month = self._account_month.get(account_id, 0)
        day_counts = self._day_counts.get(account_id)
        stamps_new = self._stamps_new.get(account_id)
        stamps_old = self._stamps_old.get(account_id)

        out: list[ResultCode | None] = []
        append = out.append
        for number, msg_type in items:
            limits = by_type.get(msg_type)
            if limits is None:
                append(errors.INVALID_PARAMETERS)
                continue
            if platform_per_day is not None and platform >= platform_per_day:
                append(errors.SYSTEM_LIMIT_CONTROL)
                continue
            if month_limit is not None and account_month >= month_limit:
                append(errors.MONTH_LIMIT_CONTROL)
                continue
            if day_limit is not None and account_day >= day_limit:
                append(errors.DAY_LIMIT_CONTROL)
                continue

            type_day_limit = limits.per_day
            counts: dict[str, int] | None = None
            count = 0
            if cap is not None or type_day_limit is not None:
                if day_counts is None:
                    day_counts = self._day_counts[account_id] = {}
                counts = day_counts.get(msg_type)
                if counts is None:
                    counts = day_counts[msg_type] = {}
                count = counts.get(number, 0)
                if cap is not None:
                    total = count
                    if len(day_counts) > 1:
                        total = 0
                        for per_type in day_counts.values():
                            total += per_type.get(number, 0)
                    if total >= cap:
                        append(errors.BUSINESS_LIMIT_CONTROL_PHONE)
                        continue
                if type_day_limit is not None and count >= type_day_limit:
                    append(errors.BUSINESS_LIMIT_DAY)
                    continue

            keep = limits.sliding_cap
            if keep:
                if stamps_new is None:
                    stamps_new = self._stamps_new[account_id] = {}
                numbers = stamps_new.get(msg_type)
                if numbers is None:
                    numbers = stamps_new[msg_type] = {}
                stamps: _Stamps | None = numbers.get(number)
                if stamps is None and stamps_old is not None:
                    old_numbers = stamps_old.get(msg_type)
                    if old_numbers is not None:
                        stamps = old_numbers.pop(number, None)
                        if stamps is not None:
                            numbers[number] = stamps
                hour_limit = limits.per_hour
                if hour_limit is not None and _within(stamps, hour_limit, now, HOUR_S):
                    append(errors.BUSINESS_LIMIT_HOUR)
                    continue
                minute_limit = limits.per_minute
                if minute_limit is not None and _within(stamps, minute_limit, now, MINUTE_S):
                    append(errors.BUSINESS_LIMIT_CONTROL_MINUTE)
                    continue
                numbers[number] = _with_stamp(stamps, now, keep)

            if counts is not None:
                counts[number] = count + 1
            platform += 1
            account_day += 1
            account_month += 1
            append(None)

        self._platform_day = platform
        self._account_day[account_id] = account_day
        self._account_month[account_id] = account_month
        return out

    async def release(self, account_id: str, items: Sequence[tuple[str, str]], now: float) -> None:
        now = float(now)
        if not items:
            return
        in_day = self._day_start <= now < self._day_end
        day_counts = self._day_counts.get(account_id) if in_day else None
        generations = [
            gen
            for gen in (self._stamps_new.get(account_id), self._stamps_old.get(account_id))
            if gen is not None
        ]
        for number, msg_type in items:
            if day_counts is not None:
                counts = day_counts.get(msg_type)
                if counts is not None:
                    count = counts.get(number, 0)
                    if count > 1:
                        counts[number] = count - 1
                    elif count == 1:
                        del counts[number]
            for gen in generations:
                numbers = gen.get(msg_type)
                if numbers is not None and _drop_stamp(numbers, number, now):
                    break
        released = len(items)
        if in_day:
            self._platform_day = max(0, self._platform_day - released)
            if account_id in self._account_day:
                self._account_day[account_id] = max(0, self._account_day[account_id] - released)
        if self._month_start <= now < self._month_end and account_id in self._account_month:
            self._account_month[account_id] = max(0, self._account_month[account_id] - released)

    async def seed_usage(
        self,
        account_day: dict[str, int],
        account_month: dict[str, int],
        platform_day: int,
        now: float,
    ) -> None:
        now = float(now)
        for name, counts in (("account_day", account_day), ("account_month", account_month)):
            for account_id, n in counts.items():
                if n < 0:
                    raise ValueError(f"{name}[{account_id!r}] must not be negative; got {n}")
        if platform_day < 0:
            raise ValueError(f"platform_day must not be negative; got {platform_day}")
        if now >= self._day_end:
            self._new_day(now)
        self._account_day = dict(account_day)
        self._account_month = dict(account_month)
        self._platform_day = platform_day

    #: Counts live in this process: a restart starts from what :meth:`seed_numbers` is given.
    keeps_counts_across_restarts = False

    async def seed_numbers(
        self,
        account_id: str,
        records: Sequence[tuple[str, str, float]],
        policy: LimitPolicy,
        now: float,
    ) -> None:
        """Count messages accepted before this process started against their numbers' day
        counts and sliding windows, as ``acquire`` counted them then.

        ``records`` are ``(number, message type, accepted at)``, oldest first, of one account:
        those of the current UTC day and of the last hour (which may begin the day before).
        Nothing is decided: a message the store holds was accepted. Per-number state is kept
        where ``policy`` (the account's, as it is now) needs it, as ``acquire`` keeps it.
        Quotas are not counted here (``seed_usage`` sets them)."""
        now = float(now)
        if now >= self._day_end:
            self._new_day(now)
        if now >= self._hour_end:
            self._new_hour(now)
        by_type = policy.by_type
        capped = policy.per_number_per_day is not None
        day_start, day_end = self._day_start, self._day_end
        for number, msg_type, accepted_at in records:
            limits = by_type.get(msg_type)
            if limits is None:
                continue
            at = float(accepted_at)  # a float, as _with_stamp tells one stamp from an array
            if (capped or limits.per_day is not None) and day_start <= at < day_end:
                counts = self._day_counts.setdefault(account_id, {}).setdefault(msg_type, {})
                counts[number] = counts.get(number, 0) + 1
            keep = limits.sliding_cap
            if keep and 0 <= now - at < HOUR_S:
                numbers = self._stamps_new.setdefault(account_id, {}).setdefault(msg_type, {})
                numbers[number] = _with_stamp(numbers.get(number), at, keep)

    # --- introspection -------------------------------------------------------------------------

    def sizes(self) -> dict[str, int]:
        """How much is held: numbers with day counts and numbers with timestamps (each counted
        once per account and type). For metrics and tests."""
        return {
            "day_counts": _count(self._day_counts),
            "timestamps": _count(self._stamps_new) + _count(self._stamps_old),
        }

    # --- windows -------------------------------------------------------------------------------

    def _new_day(self, now: float) -> None:
        self._day_start, self._day_end = utc_day_bounds(now)
        self._day_counts = {}
        self._account_day = {}
        self._platform_day = 0
        if now >= self._month_end:
            self._month_start, self._month_end = utc_month_bounds(now)
            self._account_month = {}

    def _new_hour(self, now: float) -> None:
        hour_start = (now // HOUR_S) * HOUR_S
        if hour_start == self._hour_end:  # the next hour: the current generation ages
            self._stamps_old = self._stamps_new
        else:  # an hour or more went by without a call: everything held has expired
            self._stamps_old = {}
        self._stamps_new = {}
        self._hour_end = hour_start + HOUR_S


def _within(stamps: _Stamps | None, limit: int, now: float, span: float) -> bool:
    """Whether ``limit`` messages were already accepted in the ``span`` seconds before ``now``:
    the ``limit``-th newest timestamp is less than ``span`` old. A limit below 1 (never valid,
    see :class:`~smsgate.domain.limits.WindowLimits`) refuses rather than fails."""
    if limit < 1:
        return True
    if stamps is None:
        return False
    if isinstance(stamps, float):
        return limit == 1 and now - stamps < span
    return len(stamps) >= limit and now - stamps[-limit] < span


def _with_stamp(stamps: _Stamps | None, now: float, keep: int) -> _Stamps:
    """``stamps`` with ``now`` added, keeping only the newest ``keep``. When every timestamp held
    is over an hour old, none of them can count again, so ``now`` replaces them all."""
    if stamps is None or keep == 1:
        return now
    if isinstance(stamps, float):
        return now if now - stamps >= HOUR_S else array("d", (stamps, now))
    if now - stamps[-1] >= HOUR_S:
        return now
    stamps.append(now)
    excess = len(stamps) - keep
    if excess > 0:
        del stamps[:excess]
    return stamps


def _drop_stamp(numbers: dict[str, _Stamps], number: str, now: float) -> bool:
    """Remove one timestamp equal to ``now`` from ``number``'s; whether there was one."""
    stamps = numbers.get(number)
    if stamps is None:
        return False
    if isinstance(stamps, float):
        if stamps != now:
            return False
        del numbers[number]
        return True
    for i in range(len(stamps) - 1, -1, -1):
        if stamps[i] == now:
            del stamps[i]
            if len(stamps) == 1:
                numbers[number] = stamps[0]
            elif not stamps:
                del numbers[number]
            return True
    return False


def _count(by_account: _DayCounts | _Generation) -> int:
    return sum(len(numbers) for by_type in by_account.values() for numbers in by_type.values())


if TYPE_CHECKING:  # mypy checks that the class implements the port
    from smsgate.ports.limits import Limiter

    _implements: type[Limiter] = MemoryLimiter
