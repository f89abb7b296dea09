"""Insert throughput of the SQLite store under many concurrent single-message callers.

This is the shape of the hot path: every door coroutine awaits ``insert_messages([one])`` before
it answers, so throughput comes only from the writer grouping concurrent callers into one commit.

    python bench/store_bench.py [--seconds 3] [--concurrency 64] [--durability full normal]

Prints messages/s, the average batch size and per-call latency percentiles for each durability.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import uvloop
except ImportError:  # uvloop is optional (no Windows build): fall back to asyncio's loop
    uvloop = None  # type: ignore[assignment]

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.sqlite import Durability, SqliteStore
from smsgate.domain.models import Message


def _message(message_id: int) -> Message:
    return Message(
        id=str(message_id),
        account_id="bench",
        to="8613800138000",
        sender="smsgate",
        body="Your verification code is 123456. It expires in 5 minutes.",
        encoding="GSM7",
        segments=1,
        country="CN",
        region_code="86",
        region="China",
        carrier="CMCC",
        msg_type="OTP",
        created_at=time.time(),
        template_code="SMS_123456789",
    )


async def _caller(
    store: SqliteStore, ids: Iterator[int], deadline: float, latencies: list[float]
) -> int:
    done = 0
    clock = time.perf_counter
    while (start := clock()) < deadline:
        await store.insert_messages([_message(next(ids))])
        latencies.append(clock() - start)
        done += 1
    return done


async def run(durability: Durability, seconds: float, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(
            Path(tmp) / "bench.db", SecretBox(secrets.token_bytes(32)), durability=durability
        )
        await store.start()
        ids = itertools.count(1)
        latencies: list[float] = []
        started = time.perf_counter()
        counts = await asyncio.gather(
            *(_caller(store, ids, started + seconds, latencies) for _ in range(concurrency))
        )
        elapsed = time.perf_counter() - started
        await store.close()
    total = sum(counts)
    stats = store.stats
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"durability={durability:<6} concurrency={concurrency} "
        f"messages/s={total / elapsed:,.0f} (n={total:,}) "
        f"batch avg={stats.ops / max(stats.batches, 1):.1f} "
        f"latency ms p50={cuts[49] * 1e3:.2f} p99={cuts[98] * 1e3:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--durability", nargs="+", default=["full", "normal"])
    parser.add_argument("--no-uvloop", action="store_true", help="use the stock asyncio loop")
    args = parser.parse_args()
    runner = asyncio.run if args.no_uvloop or uvloop is None else uvloop.run
    for durability in args.durability:
        runner(run(durability, args.seconds, args.concurrency))


if __name__ == "__main__":
    main()
