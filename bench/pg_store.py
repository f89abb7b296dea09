"""Accepted messages per second through ``accept_messages``: SQLite against PostgreSQL.

The shape of the hot path: ``--concurrency`` callers (64, like HTTP requests in flight), each
accepting one message per call and awaiting it before the next, all charging funded accounts.
Throughput comes only from the store's writer grouping concurrent callers into one commit.

    python bench/pg_store.py [--seconds 5] [--concurrency 64] [--accounts 1]
                             [--stores sqlite postgresql] [--instances 1]
                             [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

PostgreSQL runs on a database made for the run (dropped after) on the server the URL names
(``SMSGATE_BENCH_POSTGRES``). ``--instances N`` spreads the callers over N PostgresStore
instances in this one process (N writers, N connections: how several processes would share
the balance rows, though here they share one core too). Prints messages/s, the average batch
size and per-call latency percentiles, and the process's CPU time per message.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

try:
    import uvloop
except ImportError:  # uvloop is optional: fall back to asyncio's loop
    uvloop = None  # type: ignore[assignment]

from store_bench import PRICE_MICROS, bench_message

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.postgres import PostgresStore
from smsgate.adapters.storage.sqlite import SqliteStore
from smsgate.domain.models import AccessKey, Account, AccountState
from smsgate.ports.store import Store

_ADMIN = os.environ.get("SMSGATE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _caller(
    store: Store, account_id: str, ids: Iterator[int], deadline: float, latencies: list[float]
) -> int:
    done = 0
    clock = time.perf_counter
    while (start := clock()) < deadline:
        if not await store.accept_messages([bench_message(next(ids), account_id)], PRICE_MICROS):
            raise RuntimeError("the bench account ran out of money")
        latencies.append(clock() - start)
        done += 1
    return done


async def _open_accounts(store: Store, count: int) -> list[str]:
    ids = [f"bench-{i}" for i in range(count)]
    for account_id in ids:
        await store.create_account(
            Account(account_id, account_id, AccountState.NORMAL, 10**15, None, time.time()),
            AccessKey(f"key-{account_id}", account_id, "secret", True, None, time.time()),
        )
    return ids


async def _measure(
    name: str, stores: Sequence[SqliteStore | PostgresStore], args: argparse.Namespace
) -> None:
    for store in stores:
        await store.start()
    try:
        accounts = await _open_accounts(stores[0], args.accounts)
        for store in stores:
            store.stats.batches = store.stats.ops = 0
        ids = itertools.count(1)
        latencies: list[float] = []
        cpu = time.process_time()
        started = time.perf_counter()
        counts = await asyncio.gather(
            *(
                _caller(
                    stores[i % len(stores)],
                    accounts[i % len(accounts)],
                    ids,
                    started + args.seconds,
                    latencies,
                )
                for i in range(args.concurrency)
            )
        )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        spent = sum(
            10**15 - a.balance_micros for a in await stores[0].list_accounts() if a.id in accounts
        )
    finally:
        for store in stores:
            await store.close()
    total = sum(counts)
    assert spent == total * PRICE_MICROS, "the charges do not add up"
    batches = sum(s.stats.batches for s in stores)
    ops = sum(s.stats.ops for s in stores)
    cuts = statistics.quantiles(latencies, n=100)
    label = f"{name} accounts={len(accounts)}"
    print(
        f"{label:<32} concurrency={args.concurrency} messages/s={total / elapsed:,.0f} "
        f"(n={total:,}) batch avg={ops / max(batches, 1):.1f} "
        f"latency ms p50={cuts[49] * 1e3:.2f} p99={cuts[98] * 1e3:.2f} "
        f"cpu us/msg={cpu / max(total, 1) * 1e6:.0f}"
    )


async def _sqlite(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db", SecretBox(secrets.token_bytes(32)))
        await _measure("sqlite durability=full", [store], args)


async def _postgres(args: argparse.Namespace) -> None:
    name = f"smsgate_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(args.postgres)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = urlunsplit(urlsplit(args.postgres)._replace(path="/" + name))
        box = SecretBox(secrets.token_bytes(32))
        stores = [PostgresStore(url, box, pool_size=2) for _ in range(args.instances)]
        label = "postgresql" + (f" x{args.instances}" if args.instances > 1 else "")
        await _measure(label, stores, args)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def run(args: argparse.Namespace) -> None:
    for kind in args.stores:
        await (_sqlite(args) if kind == "sqlite" else _postgres(args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--accounts", type=int, default=1, help="funded accounts charged")
    parser.add_argument(
        "--stores", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument("--instances", type=int, default=1, help="PostgresStore instances")
    parser.add_argument("--postgres", default=_ADMIN, help="an administrative database's URL")
    parser.add_argument("--no-uvloop", action="store_true", help="use the stock asyncio loop")
    args = parser.parse_args()
    runner = asyncio.run if args.no_uvloop or uvloop is None else uvloop.run
    runner(run(args))


if __name__ == "__main__":
    main()
