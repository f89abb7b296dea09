"""Shared limiter: the throttling and quota counts of every smsgate process, in Redis.

The rules are in :mod:`smsgate.domain.limits`; this keeps the counts they are checked against
where every process of a scale-out installation sees them. The decision is
:func:`~smsgate.domain.limits.refusal`'s, made here in Python exactly as the limiter contract
suite (``tests/unit/test_limits.py``) asks of every limiter: Redis only counts.

Count first, decide, give back
------------------------------
:meth:`RedisLimiter.acquire` is one Lua script call (EVALSHA) for the whole batch. The script,
atomically, for each item in turn: reads every window the item's limits look at, then counts
the item in each of them; it answers what each item saw *before* its own count. Python then
decides item by item with :func:`refusal`, and the items it refuses are given back by a second
script call, made only when something was refused. Why this shape:

- The decision stays one pure function, shared with the memory limiter, so the two cannot
  drift; a Lua copy of the precedence would be a second place to keep in step.
- One round trip when everything is accepted (the common case); two when something is refused.
  Reading in one call and counting in a second would cost two always, and two processes could
  both read "one left" and both count.
- Within a batch the script has counted earlier items that Python then refused; Python takes
  their counts out of what later items saw (a per-window tally of the batch's refusals), so a
  batch gets exactly the memory limiter's answers: an item refused counts nowhere.

Why it never refuses too little: each script runs atomically, so an item sees every count made
by a script before it, and the only counts ever taken away are those of items refused (by the
give-back, which removes exactly what that item's script added: its own sorted-set member, its
own increments). What an item sees is therefore at least what was accepted before it, and a
limit only refuses more when it sees more (every check is ``counted >= limit``). So a limit is
never exceeded, whatever the interleaving of processes. For the same reason a sorted set is
trimmed only of stamps out of its type's longest window, never to "the n newest" as the memory
limiter keeps them: a racing stamp that is about to be given back could be among the n newest
and push out one that still counts.

Why it may refuse too much, and only for a moment: between a script that counted an item which
Python then refuses and the give-back of that item, other processes see its count too, and may
be refused because of it. That lasts one round trip (the give-back follows the decision at
once). If the process dies between the two calls, the counts of its refused items stay until
their window ends, as the counts of any message a dying process accepted but did not store;
likewise if redis-py retries a script whose answer was lost with its connection (the script
ran, so the batch is counted twice). Both err towards refusing.

Key layout
----------
Every key is under ``prefix`` (``smsgate:`` by default), so tests and installations can share a
server. ``{day}`` is the UTC day number (POSIX seconds // 86,400), ``{month}`` is ``YYYYMM``.

- ``{prefix}lim:pd:{day}``, string: the platform's count of the day.
- ``{prefix}lim:ad:{day}:{account}``, string: an account's count of the day.
- ``{prefix}lim:am:{month}:{account}``, string: an account's count of the month.
- ``{prefix}lim:nd:{day}:{number}:{account}``, hash: a number's counts of the day, one field
  per message type (``OTP``, ``NOTIFY``, ``MKT``); the number's cap across types is checked
  against the sum of the fields.
- ``{prefix}lim:w:{type}:{number}:{account}``, sorted set: a number's sliding-window stamps of
  one type, scored by acceptance time; each member is a unique id (a random token of the
  limiter and a counter), since two stamps may share a time and a give-back removes its own.

The account id comes last, so that an id containing ``:`` cannot make two keys alike (numbers
are E.164, without ``:``). A day hash exists only for types whose policy needs day counts (a
type day limit, or the number's cap), a sorted set only for types with a minute or hour limit,
as in the memory limiter: a policy without per-number limits keeps nothing per number, and a
message refused by a quota leaves nothing behind once given back (emptied fields are deleted).

Time: logical for decisions, relative for expiry
-------------------------------------------------
Decisions use only the ``now`` passed in, never Redis's clock. The day and month are in the key
names, so a new day reads a new key; a timestamp counts in a window by its score alone (a
``ZCOUNT`` from the window's first instant, computed in Python so that ``now - t < 60`` is
decided exactly as the memory limiter decides it, to the last bit of a double). Expiry decides
nothing: it only reclaims memory. That is why expiry times are *durations from the call*,
computed from the logical ``now``: the day's keys ``PEXPIRE`` by the time left in the day, the
month's by the time left in the month, a sorted set by its longest window (3,600 s, or 60 s when
the type has no hour limit) after its newest stamp, each plus :data:`GRACE_MS` for clocks
that differ a little between processes. With a real clock that is the same instant as a
``PEXPIREAT`` at the window's end; with a test's logical clock (2024 while Redis lives in
2026) an absolute time would be in the past and delete the key at once, whereas a duration
keeps it alive at least as long as it matters. A key that outlives its window (a test's
clock running ahead of Redis's) is harmless: its day is never read again, and its stamps are
out of every window by score, and trimmed (``ZREMRANGEBYSCORE``) on the next count.

Memory is therefore flat: a number's keys live for its longest live window, so a million
distinct numbers cost what their live windows hold. Every per-number day hash of a day expires
at that day's end together; Redis's active expiry reclaims them over the following seconds.

Cost
----
Measured with ``bench/redis_limiter.py`` on a 2-vCPU VM shared with other work, Redis 7.0
on the same machine, the default policy and prefix:

- Memory (Redis ``used_memory``): 387 bytes per number holding a verification code (a day
  hash and a sorted set, two keys: 369 MiB for a million numbers), 194 bytes per number
  holding a notification (the day hash alone). A key costs about 190 bytes, most of it Redis's
  own (dict and expiry entries, object headers, the key string); merging a number's two keys
  into one hash would save about 190 bytes per verification-code number.
- Redis time (``INFO commandstats``): 30 us per single-message acquire, 10 us per message in
  batches of 100; a refusal costs a second, shorter call (23 us on average for the two).
- One smsgate process makes 2,800 to 3,500 single-message acquires a second with 1 caller,
  3,500 to 6,400 with 8, 2,900 to 4,800 with 64 (its own CPU is the bound: redis-py and the
  event loop, on a machine with every core busy), 22,000 to 30,000 messages a second in
  batches of 100. Redis itself has room for several such processes.

Differences from the memory limiter
-----------------------------------
- ``seed_usage`` raises a counter to the seeded value and never lowers it: with several
  processes, one that starts seeds while others count, and the store lags Redis by the
  messages in flight. A Redis that lost its data (it may run without persistence) is restored.
- A ``release`` with the ``now`` of a day that has ended decrements that day's keys, if they
  still exist; nothing reads them again, so, as in the memory limiter, the new day is untouched.
- When ``now`` goes backwards (a clock stepped back), the old day's keys are read again if
  they still exist; the memory limiter keeps counting into the latest day instead. Both are
  only as exact as the clock.
- Several processes' clocks differ by their NTP error; a sliding window is exact to that.
- All keys of a call are in one script, so a Redis Cluster would need them in one slot; the
  platform counter is shared by every account, so this is for one Redis (with replicas).
"""

from __future__ import annotations

import itertools
import math
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from redis.asyncio import Redis

from smsgate import errors
from smsgate.domain.limits import (
    HOUR_S,
    MINUTE_S,
    LimitPolicy,
    Usage,
    WindowLimits,
    refusal,
    utc_day_bounds,
    utc_month_bounds,
)
from smsgate.errors import ResultCode

__all__ = ["DEFAULT_PREFIX", "GRACE_MS", "RedisLimiter"]

DEFAULT_PREFIX = "smsgate:"
#: How much longer than its window a key lives: room for processes whose clocks differ.
GRACE_MS = 2_000

#: KEYS: the platform's day, the account's day and month counters, then for each item its day
#: hash (when its field is not empty) and its sorted set (when its member is not empty).
#: ARGV: now (the score), the TTLs of the day and the month, the hour and minute windows' first
#: instants and the sorted sets' TTLs for each, then three per item: the day hash field (the
#: type, or empty), the sorted-set member (or empty), and ``h`` or ``m``, its longest window.
#: Answers the three quota counts before the batch, then four per item: its number's day count
#: (all types), its type's day count, its hour and minute counts, each before its own count.
_ACQUIRE = """
local now = ARGV[1]
local day_ttl, month_ttl = ARGV[2], ARGV[3]
local hour_lo, minute_lo = ARGV[4], ARGV[5]
local hour_ttl, minute_ttl = ARGV[6], ARGV[7]
local out = {
  tonumber(redis.call('get', KEYS[1]) or '0'),
  tonumber(redis.call('get', KEYS[2]) or '0'),
  tonumber(redis.call('get', KEYS[3]) or '0'),
}
local k, n = 4, 0
for a = 8, #ARGV, 3 do
  local field, member = ARGV[a], ARGV[a + 1]
  local number_day, type_day, hour, minute = 0, 0, 0, 0
  n = n + 1
  if field ~= '' then
    local key = KEYS[k]
    k = k + 1
    local all = redis.call('hgetall', key)
    for i = 2, #all, 2 do
      local v = tonumber(all[i])
      number_day = number_day + v
      if all[i - 1] == field then type_day = v end
    end
    redis.call('hincrby', key, field, 1)
    redis.call('pexpire', key, day_ttl)
  end
  if member ~= '' then
    local key = KEYS[k]
    k = k + 1
    local lo, ttl = hour_lo, hour_ttl
    if ARGV[a + 2] == 'm' then lo, ttl = minute_lo, minute_ttl end
    redis.call('zremrangebyscore', key, '-inf', '(' .. lo)
    hour = redis.call('zcount', key, hour_lo, '+inf')
    minute = redis.call('zcount', key, minute_lo, '+inf')
    redis.call('zadd', key, now, member)
    redis.call('pexpire', key, ttl)
  end
  out[#out + 1] = number_day
  out[#out + 1] = type_day
  out[#out + 1] = hour
  out[#out + 1] = minute
end
if n > 0 then
  for i = 1, 2 do
    redis.call('incrby', KEYS[i], n)
    redis.call('pexpire', KEYS[i], day_ttl)
  end
  redis.call('incrby', KEYS[3], n)
  redis.call('pexpire', KEYS[3], month_ttl)
end
return out
"""

#: Gives counts back. KEYS: the three quota counters, then per item its day hash and its sorted
#: set, each present when its ARGV entry is not empty. ARGV: how many to take off the quotas,
#: the score of the stamps to remove (the acquire's ``now``), then two per item: the day hash
#: field (or empty) and the sorted-set member: an exact member, ``*`` and a limiter's token for
#: one stamp with that score (this limiter's if it has one there: another process's stamp of
#: the same instant may be one it is about to give back itself), or empty. Nothing goes below
#: zero and no key is created: a key that expired (its window ended) has nothing to give back.
_RELEASE = """
local n, score = tonumber(ARGV[1]), ARGV[2]
for i = 1, 3 do
  local v = tonumber(redis.call('get', KEYS[i]) or '0')
  if v > 0 then
    if v > n then redis.call('decrby', KEYS[i], n) else redis.call('del', KEYS[i]) end
  end
end
local k = 4
for a = 3, #ARGV, 2 do
  local field, member = ARGV[a], ARGV[a + 1]
  if field ~= '' then
    local key = KEYS[k]
    k = k + 1
    if tonumber(redis.call('hget', key, field) or '0') > 1 then
      redis.call('hincrby', key, field, -1)
    else
      redis.call('hdel', key, field)
    end
  end
  if member ~= '' then
    local key = KEYS[k]
    k = k + 1
    if string.sub(member, 1, 1) == '*' then
      local token = string.sub(member, 2)
      local found = redis.call('zrangebyscore', key, score, score)
      local chosen = found[1]
      for _, m in ipairs(found) do
        if string.sub(m, 1, #token) == token then
          chosen = m
          break
        end
      end
      if chosen then redis.call('zrem', key, chosen) end
    else
      redis.call('zrem', key, member)
    end
  end
end
return 0
"""

#: Raises counters to at least the seeded value. KEYS: counters; ARGV: a value and a TTL in
#: milliseconds for each.
_SEED = """
for i = 1, #KEYS do
  local want = tonumber(ARGV[2 * i - 1])
  if want > tonumber(redis.call('get', KEYS[i]) or '0') then
    redis.call('set', KEYS[i], want, 'px', ARGV[2 * i])
  end
end
return 0
"""

#: Counters seeded per script call: bounded so that a large installation's start does not
#: block Redis for long in one script.
_SEED_CHUNK = 500


class RedisLimiter:
    """Implements :class:`smsgate.ports.limits.Limiter` on Redis, shared by every process that
    uses the same server and ``prefix``.

    The client is the caller's (the composition root opens and closes it); the scripts are
    registered on it once, here, and run by EVALSHA (loaded again by redis-py if the server
    forgot them).
    """

    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = f"{prefix}lim:"
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._seed = client.register_script(_SEED)
        # Sorted-set members: unique per stamp across processes (a random token per limiter,
        # then a counter), and short, since every live stamp keeps one.
        self._token = secrets.token_hex(4)
        self._serial = itertools.count()

    # --- the port ------------------------------------------------------------------------------

    async def acquire(
        self,
        account_id: str,
        items: Sequence[tuple[str, str]],
        policy: LimitPolicy,
        platform_per_day: int | None,
        now: float,
    ) -> list[ResultCode | None]:
        now = float(now)
        windows = [policy.by_type.get(msg_type) for _, msg_type in items]
        if all(window is None for window in windows):
            return [errors.INVALID_PARAMETERS] * len(items)
        quota_keys = self._quota_keys(account_id, now)
        day_ttl, month_ttl = _calendar_ttls(now)
        keys = list(quota_keys)
        args: list[str | int] = [
            repr(now),
            day_ttl,
            month_ttl,
            repr(_window_start(now, HOUR_S)),
            repr(_window_start(now, MINUTE_S)),
            _ttl_ms(HOUR_S),
            _ttl_ms(MINUTE_S),
        ]
        counted: list[_Counted] = []
        cap, day, p = policy.per_number_per_day, _day(now), self._prefix
        for (number, msg_type), window in zip(items, windows, strict=True):
            if window is None:
                continue
            item = _Counted(
                f"{p}nd:{day}:{number}:{account_id}"
                if cap is not None or window.per_day is not None
                else None,
                f"{p}w:{msg_type}:{number}:{account_id}" if window.sliding_cap else None,
                f"{self._token}{next(self._serial):x}",
            )
            counted.append(item)
            keys += item.redis_keys()
            args += (
                msg_type if item.day_key else "",
                item.member if item.window_key else "",
                "m" if window.per_hour is None else "h",
            )
        seen = [int(v) for v in await self._acquire(keys=keys, args=args)]
        out, give_back = _decide(items, windows, policy, platform_per_day, seen, counted)
        if give_back:
            await self._release(
                keys=[*quota_keys, *(key for _, item in give_back for key in item.redis_keys())],
                args=[
                    len(give_back),
                    repr(now),
                    *(
                        arg
                        for msg_type, item in give_back
                        for arg in (
                            msg_type if item.day_key else "",
                            item.member if item.window_key else "",
                        )
                    ),
                ],
            )
        return out

    async def release(self, account_id: str, items: Sequence[tuple[str, str]], now: float) -> None:
        if not items:
            return
        now = float(now)
        day, p = _day(now), self._prefix
        keys = list(self._quota_keys(account_id, now))
        args: list[str | int] = [len(items), repr(now)]
        for number, msg_type in items:
            keys += (f"{p}nd:{day}:{number}:{account_id}", f"{p}w:{msg_type}:{number}:{account_id}")
            args += (msg_type, f"*{self._token}")
        await self._release(keys=keys, args=args)

    #: The counts live in Redis: a restart of smsgate forgets nothing.
    keeps_counts_across_restarts = True

    async def seed_numbers(
        self,
        account_id: str,
        records: Sequence[tuple[str, str, float]],
        policy: LimitPolicy,
        now: float,
    ) -> None:
        """Nothing to do: every process counted in Redis as it accepted (see the port)."""

    async def seed_usage(
        self,
        account_day: dict[str, int],
        account_month: dict[str, int],
        platform_day: int,
        now: float,
    ) -> None:
        """Raise the quota counters to the store's counts; never lower them (see the module
        docstring: other processes may be counting messages the store does not hold yet)."""
        now = float(now)
        for name, counts in (("account_day", account_day), ("account_month", account_month)):
            for account_id, n in counts.items():
                if n < 0:
                    raise ValueError(f"{name}[{account_id!r}] must not be negative; got {n}")
        if platform_day < 0:
            raise ValueError(f"platform_day must not be negative; got {platform_day}")
        day, month = _day(now), _month(now)
        day_ttl, month_ttl = _calendar_ttls(now)
        p = self._prefix
        seeds: list[tuple[str, int, int]] = [(f"{p}pd:{day}", platform_day, day_ttl)]
        seeds += ((f"{p}ad:{day}:{a}", n, day_ttl) for a, n in account_day.items())
        seeds += ((f"{p}am:{month}:{a}", n, month_ttl) for a, n in account_month.items())
        for start in range(0, len(seeds), _SEED_CHUNK):
            chunk = seeds[start : start + _SEED_CHUNK]
            await self._seed(
                keys=[key for key, _, _ in chunk],
                args=[v for _, n, ttl in chunk for v in (n, ttl)],
            )

    def _quota_keys(self, account_id: str, now: float) -> tuple[str, str, str]:
        """The platform's day, the account's day and the account's month counters."""
        p, day = self._prefix, _day(now)
        return f"{p}pd:{day}", f"{p}ad:{day}:{account_id}", f"{p}am:{_month(now)}:{account_id}"


class _Counted(NamedTuple):
    """What the acquire script counts for one item: its day hash (None when its policy needs
    no day count), its sorted set (None without a minute or hour limit) and its member there."""

    day_key: str | None
    window_key: str | None
    member: str

    def redis_keys(self) -> tuple[str, ...]:
        """The item's keys in the scripts' order."""
        return tuple(key for key in (self.day_key, self.window_key) if key is not None)


def _decide(
    items: Sequence[tuple[str, str]],
    windows: Sequence[WindowLimits | None],
    policy: LimitPolicy,
    platform_per_day: int | None,
    seen: Sequence[int],
    counted: Sequence[_Counted],
) -> tuple[list[ResultCode | None], list[tuple[str, _Counted]]]:
    """Each item's verdict by :func:`refusal`, from what the acquire script saw (``seen``), and
    the items to give back (``(type, counted)``).

    The script counted every item, so an item saw the counts of the batch's earlier items even
    where those were refused since; a tally of the refused ones' counts, per window, is taken
    out of what each later item saw. Quotas: every item sent counts in them, so an item saw the
    batch's quota counts plus one per earlier item.
    """
    platform, account_day, account_month = seen[0], seen[1], seen[2]
    # Counts made for items refused since: ("q",) the quotas, ("n", number) a number's day,
    # ("t", number, type) its type's day, ("w", number, type) its sliding windows.
    refused: Counter[tuple[str, ...]] = Counter()
    out: list[ResultCode | None] = []
    give_back: list[tuple[str, _Counted]] = []
    sent = 0
    for (number, msg_type), window in zip(items, windows, strict=True):
        if window is None:
            out.append(errors.INVALID_PARAMETERS)
            continue
        number_day, type_day, hour, minute = seen[3 + 4 * sent : 7 + 4 * sent]
        item = counted[sent]
        quota, slid = sent - refused["q",], refused["w", number, msg_type]
        sent += 1
        usage = Usage(
            platform_day=platform + quota,
            account_month=account_month + quota,
            account_day=account_day + quota,
            number_day=number_day - refused["n", number],
            number_type_day=type_day - refused["t", number, msg_type],
            number_type_hour=hour - slid,
            number_type_minute=minute - slid,
        )
        verdict = refusal(window, policy, platform_per_day, usage)
        out.append(verdict)
        if verdict is None:
            continue
        give_back.append((msg_type, item))
        refused["q",] += 1
        if item.day_key:
            refused["n", number] += 1
            refused["t", number, msg_type] += 1
        if item.window_key:
            refused["w", number, msg_type] += 1
    return out, give_back


def _calendar_ttls(now: float) -> tuple[int, int]:
    """The TTLs of the day's and the month's keys: until the end of ``now``'s UTC day and month
    (see "Time" in the module docstring for why durations, not instants)."""
    return _ttl_ms(utc_day_bounds(now)[1] - now), _ttl_ms(utc_month_bounds(now)[1] - now)


def _day(now: float) -> int:
    """The UTC day number of ``now``: days since the epoch, as the key names carry it."""
    return int(now // 86_400)


def _month(now: float) -> str:
    """The UTC month of ``now`` as ``YYYYMM``."""
    t = time.gmtime(now)
    return f"{t.tm_year:04d}{t.tm_mon:02d}"


def _ttl_ms(seconds: float) -> int:
    """A key's time to live for a window that ends ``seconds`` after the call, in milliseconds:
    rounded up, plus :data:`GRACE_MS`, so never zero (``PEXPIRE 0`` would delete the key)."""
    return math.ceil(seconds * 1000) + GRACE_MS


def _window_start(now: float, span: float) -> float:
    """The earliest time ``t`` with ``now - t < span``, as the memory limiter and the reference
    compare it, in doubles: ``ZCOUNT key t +inf`` then counts exactly the stamps in the window.
    ``now - span`` itself can be off by a rounding step either way."""
    t = now - span
    while now - t >= span:
        t = math.nextafter(t, math.inf)
    while now - (earlier := math.nextafter(t, -math.inf)) < span:
        t = earlier
    return t


if TYPE_CHECKING:  # mypy checks that the class implements the port
    from smsgate.ports.limits import Limiter

    _implements: type[Limiter] = RedisLimiter
