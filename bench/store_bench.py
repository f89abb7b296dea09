"""Insert throughput of the SQLite store under many concurrent single-message callers.

This is the shape of the hot path: every door coroutine awaits ``insert_messages([one])`` (or,
charging the account, ``accept_messages([one], price)``) before it answers, so throughput comes
only from the writer grouping concurrent callers into one commit.

    python bench/store_bench.py [--seconds 3] [--concurrency 64] [--durability full normal]
                                [--mode insert accept] [--accounts 1] [--processes 1]

Prints messages/s, the average batch size and per-call latency percentiles for each durability
and mode. ``accept`` charges each message to one of ``--accounts`` funded accounts.
``--processes N`` runs N processes, each with its own store on the one database file and
``--concurrency`` callers, as ``serve --workers N`` would on SQLite: the total is what SQLite's
one writer at a time allows several processes.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

try:
    import uvloop
except ImportError:  # uvloop is optional (no Windows build): fall back to asyncio's loop
    uvloop = None  # type: ignore[assignment]

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.sqlite import Durability, SqliteStore
from smsgate.domain.models import AccessKey, Account, AccountState, Message

Mode = Literal["insert", "accept"]
PRICE_MICROS = 50_000


def bench_message(message_id: int, account_id: str = "bench") -> Message:
    return Message(
        id=str(message_id),
        account_id=account_id,
        to="8613800138000",
        sender="smsgate",
        body="Your verification code is 123456. It expires in 5 minutes.",
        encoding="GSM7",
        segments=1,
        country="CN",
        region_code="86",
        region="China",
        network="CMCC",
        msg_type="OTP",
        created_at=time.time(),
        template_code="SMS_123456789",
        price_micros=PRICE_MICROS,
    )


async def _caller(
    store: SqliteStore,
    mode: Mode,
    account_id: str,
    ids: Iterator[int],
    deadline: float,
    latencies: list[float],
) -> int:
    done = 0
    clock = time.perf_counter
    while (start := clock()) < deadline:
        message = bench_message(next(ids), account_id)
        if mode == "insert":
            await store.insert_messages([message])
        elif not await store.accept_messages([message], PRICE_MICROS):
            raise RuntimeError("the bench account ran out of money")
        latencies.append(clock() - start)
        done += 1
    return done


async def _open_accounts(store: SqliteStore, count: int) -> list[str]:
    ids = [f"bench-{i}" for i in range(count)]
    for account_id in ids:
        await store.create_account(
            Account(account_id, account_id, AccountState.NORMAL, 10**18, None, time.time()),
            AccessKey(f"key-{account_id}", account_id, "secret", True, None, time.time()),
        )
    return ids


async def run(
    durability: Durability, mode: Mode, seconds: float, concurrency: int, accounts: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(
            Path(tmp) / "bench.db", SecretBox(secrets.token_bytes(32)), durability=durability
        )
        await store.start()
        account_ids = await _open_accounts(store, accounts)
        store.stats.batches = store.stats.ops = 0
        ids = itertools.count(1)
        latencies: list[float] = []
        started = time.perf_counter()
        counts = await asyncio.gather(
            *(
                _caller(
                    store,
                    mode,
                    account_ids[i % accounts],
                    ids,
                    started + seconds,
                    latencies,
                )
                for i in range(concurrency)
            )
        )
        elapsed = time.perf_counter() - started
        await store.close()
    total = sum(counts)
    stats = store.stats
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"durability={durability:<6} mode={mode:<6} concurrency={concurrency} "
        f"messages/s={total / elapsed:,.0f} (n={total:,}) "
        f"batch avg={stats.ops / max(stats.batches, 1):.1f} "
        f"latency ms p50={cuts[49] * 1e3:.2f} p99={cuts[98] * 1e3:.2f}"
    )


def _process(
    path: str,
    key: bytes,
    durability: Durability,
    mode: Mode,
    seconds: float,
    concurrency: int,
    account_id: str,
    first_id: int,
    results: multiprocessing.Queue[int],
) -> None:
    """One of ``--processes``: its own store on the shared file, its own callers."""

    async def go() -> int:
        store = SqliteStore(Path(path), SecretBox(key), durability=durability)
        await store.start()
        ids = itertools.count(first_id)
        deadline = time.perf_counter() + seconds
        latencies: list[float] = []
        try:
            counts = await asyncio.gather(
                *(
                    _caller(store, mode, account_id, ids, deadline, latencies)
                    for _ in range(concurrency)
                )
            )
        finally:
            await store.close()
        return sum(counts)

    runner = asyncio.run if uvloop is None else uvloop.run
    results.put(runner(go()))


def run_processes(
    durability: Durability, mode: Mode, seconds: float, concurrency: int, processes: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path, key = str(Path(tmp) / "bench.db"), secrets.token_bytes(32)

        async def prepare() -> list[str]:
            store = SqliteStore(Path(path), SecretBox(key), durability=durability)
            await store.start()
            try:
                return await _open_accounts(store, processes)
            finally:
                await store.close()

        account_ids = asyncio.run(prepare())
        results: multiprocessing.Queue[int] = multiprocessing.Queue()
        workers = [
            multiprocessing.Process(
                target=_process,
                args=(
                    path,
                    key,
                    durability,
                    mode,
                    seconds,
                    concurrency,
                    account_ids[i],
                    1 + i * 10**12,
                    results,
                ),
            )
            for i in range(processes)
        ]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        total = sum(results.get() for _ in workers)
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
    print(
        f"durability={durability:<6} mode={mode:<6} processes={processes} "
        f"concurrency={concurrency} each  messages/s={total / elapsed:,.0f} (n={total:,}; "
        f"includes each process's start)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--durability", nargs="+", default=["full", "normal"])
    parser.add_argument(
        "--mode", nargs="+", choices=["insert", "accept"], default=["insert", "accept"]
    )
    parser.add_argument("--accounts", type=int, default=1, help="accounts charged by accept")
    parser.add_argument("--no-uvloop", action="store_true", help="use the stock asyncio loop")
    parser.add_argument("--processes", type=int, default=1, help="processes on one database")
    args = parser.parse_args()
    if args.processes > 1:
        for durability in args.durability:
            for mode in args.mode:
                run_processes(durability, mode, args.seconds, args.concurrency, args.processes)
        return
    runner = asyncio.run if args.no_uvloop or uvloop is None else uvloop.run
    for durability in args.durability:
        for mode in args.mode:
            runner(run(durability, mode, args.seconds, args.concurrency, args.accounts))


if __name__ == "__main__":
    main()
