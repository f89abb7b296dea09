"""Memory and throughput of the Redis limiter (``smsgate.adapters.limits.redis.RedisLimiter``).

    python bench/redis_limiter.py [--url redis://127.0.0.1:6379/0] [--numbers 1000000]
                                  [--batch 100] [--calls 20000] [--concurrency 1 8 64]
                                  [--type OTP] [--keep]

Memory: acquires one message for each of ``--numbers`` distinct numbers (batches of
``--batch``, 64 calls in flight) under the default policy and prints Redis's ``used_memory``
before and after, per number. A verification code (``OTP``, the default) keeps a day hash and a
sorted set per number; ``NOTIFY`` keeps the day hash only.

Throughput: ``--calls`` single-message acquires, each for a new number, with 1, 8 and 64
callers at once (each caller awaits its call before making the next), then the same with
every call refused (one number, so each call also gives its count back: two round trips).
Prints acquires/s and latency percentiles.

Keys go under a prefix of their own and are deleted at the end (``--keep`` leaves them, to look
at their TTLs). ``used_memory`` is the whole server's: run it on a server nobody else is
writing to, or read the figures as an upper bound.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable

try:
    import uvloop
except ImportError:  # uvloop is optional (no Windows build): fall back to asyncio's loop
    uvloop = None  # type: ignore[assignment]

from redis.asyncio import Redis

from smsgate.adapters.limits.redis import RedisLimiter
from smsgate.domain.limits import LimitPolicy

ACCOUNT = "1000000000000001"
POLICY = LimitPolicy()
FILL_IN_FLIGHT = 64


async def used_memory(client: Redis) -> int:
    info = await client.info("memory")
    return int(info["used_memory"])


async def fill(limiter: RedisLimiter, numbers: int, batch: int, msg_type: str) -> float:
    """One acquire for each of ``numbers`` distinct numbers; returns the seconds it took."""
    now = time.time()
    starts = iter(range(0, numbers, batch))

    async def worker() -> None:
        for start in starts:
            items = [
                (f"+86138{i:08d}", msg_type) for i in range(start, min(start + batch, numbers))
            ]
            verdicts = await limiter.acquire(ACCOUNT, items, POLICY, None, now)
            if any(v is not None for v in verdicts):
                raise RuntimeError(f"a fresh number was refused: {verdicts}")

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(FILL_IN_FLIGHT)))
    return time.perf_counter() - began


async def rate(call: Callable[[int], Awaitable[object]], calls: int, callers: int) -> str:
    """``calls`` calls made by ``callers`` coroutines, each awaiting its call before the next."""
    serial = itertools.count()
    latencies: list[float] = []

    async def caller() -> None:
        while (n := next(serial)) < calls:
            began = time.perf_counter()
            await call(n)
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    elapsed = time.perf_counter() - began
    q = statistics.quantiles(latencies, n=100)
    return (
        f"{calls / elapsed:9,.0f} acquires/s   p50 {q[49] * 1e3:6.2f} ms"
        f"   p99 {q[98] * 1e3:6.2f} ms   ({callers} callers)"
    )


async def delete_prefix(client: Redis, prefix: str) -> int:
    deleted = 0
    batch: list[bytes] = []
    async for key in client.scan_iter(match=f"{prefix}*", count=10_000):
        batch.append(key)
        if len(batch) == 10_000:
            deleted += await client.unlink(*batch)
            batch = []
    if batch:
        deleted += await client.unlink(*batch)
    return deleted


async def main(args: argparse.Namespace) -> None:
    client = Redis.from_url(args.url, max_connections=max(*args.concurrency, FILL_IN_FLIGHT))
    # As long as the default prefix ("smsgate:"), so that the figures are those of keys in use.
    prefix = f"sgb{secrets.token_hex(2)}:"
    limiter = RedisLimiter(client, prefix=prefix)
    try:
        info = await client.info("server")
        print(f"Redis {info['redis_version']} at {args.url}, prefix {prefix}")

        keys_before, memory_before = await client.dbsize(), await used_memory(client)
        seconds = await fill(limiter, args.numbers, args.batch, args.type)
        keys_after, memory_after = await client.dbsize(), await used_memory(client)
        grown = memory_after - memory_before
        print(
            f"memory: {args.numbers:,} numbers ({args.type}, batches of {args.batch}) in "
            f"{seconds:.1f} s ({args.numbers / seconds:,.0f} numbers/s); used_memory "
            f"{memory_before / 2**20:,.1f} -> {memory_after / 2**20:,.1f} MiB: "
            f"+{grown / 2**20:,.1f} MiB, {grown / args.numbers:.0f} bytes and "
            f"{(keys_after - keys_before) / args.numbers:.2f} keys per number"
        )

        fresh = itertools.count(args.numbers)
        now = time.time()

        async def accepted(_: int) -> None:
            [verdict] = await limiter.acquire(
                ACCOUNT, [(f"+86139{next(fresh):08d}", "OTP")], POLICY, None, now
            )
            assert verdict is None

        async def refused(_: int) -> None:
            [verdict] = await limiter.acquire(
                ACCOUNT, [("+8613900000000", "OTP")], POLICY, None, now
            )
            assert verdict is not None

        await limiter.acquire(ACCOUNT, [("+8613900000000", "OTP")], POLICY, None, now)
        for callers in args.concurrency:
            print("accepted:", await rate(accepted, args.calls, callers))
        for callers in args.concurrency:
            print("refused: ", await rate(refused, args.calls, callers))
    finally:
        if not args.keep:
            deleted = await delete_prefix(client, prefix)
            memory = await used_memory(client)
            print(f"deleted {deleted:,} keys; used_memory {memory / 2**20:,.1f} MiB")
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--numbers", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--type", default="OTP", choices=["OTP", "NOTIFY"])
    parser.add_argument("--keep", action="store_true")
    arguments = parser.parse_args()
    if uvloop is not None:
        uvloop.install()
    asyncio.run(main(arguments))
