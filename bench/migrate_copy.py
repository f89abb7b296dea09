"""Messages per second moved by ``smsgate migrate --from``: a generated SQLite installation into
a fresh PostgreSQL database, verified.

    python bench/migrate_copy.py [--messages 200000] [--accounts 20] [--page-rows 5000]
                                 [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Accounts, keys and policy go through ``SqliteStore`` (secrets sealed, as a server writes them);
messages are inserted with the SQLite store's own row mapping (``sqlite.rows.message_row``), a
mix of delivered messages with carrier ids, failed ones, some converted, and unfinished ones
with their carrier ids and owed callbacks. PostgreSQL runs on a database made for the run and
dropped after (``SMSGATE_BENCH_POSTGRES``). Prints the copy's and the whole move's rates.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.sqlite import SqliteStore
from smsgate.adapters.storage.sqlite.rows import MESSAGE_COLUMNS, message_row
from smsgate.adapters.storage.sqlite.schema import close_writer, connect_writer
from smsgate.adapters.storage.transfer import SqliteSource, move
from smsgate.domain.models import AccessKey, Account, AccountState, Message, MessageStatus

_ADMIN = os.environ.get("SMSGATE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
_STATUSES = (MessageStatus.DELIVERED,) * 7 + (
    MessageStatus.FAILED,
    MessageStatus.SUBMITTED,
    MessageStatus.ACCEPTED,
)


async def _accounts(path: Path, count: int) -> list[str]:
    box = SecretBox.from_key_file(path.parent / "master.key")
    store = SqliteStore(path, box)
    await store.start()
    ids = []
    for i in range(count):
        account_id = f"{1_000_000_000_000_000 + i}"
        await store.create_account(
            Account(account_id, f"bench{i}", AccountState.NORMAL, 10**12, None, time.time()),
            AccessKey(f"LTAI{i:020d}", account_id, secrets.token_hex(15), True, None, time.time()),
        )
        ids.append(account_id)
    await store.put_document("prices", '{"default": {"OTP": "0.05"}}')
    await store.close()
    return ids


def _messages(path: Path, accounts: list[str], count: int) -> None:
    conn = connect_writer(path, "off")
    base = Message(
        id="0",
        account_id="",
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
        created_at=time.time() - 3600,
        template_code="SMS_123456789",
        price_micros=50_000,
    )
    insert = f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ({', '.join('?' * 33)})"
    start_id = 10**17
    conn.execute("BEGIN")
    rows, carrier_rows, callback_rows = [], [], []
    for n in range(count):
        mid = start_id + n
        status = _STATUSES[n % len(_STATUSES)]
        done = status in (MessageStatus.DELIVERED, MessageStatus.FAILED)
        handed = status != MessageStatus.ACCEPTED
        m = replace(
            base,
            id=str(mid),
            account_id=accounts[n % len(accounts)],
            to=f"86138{n % 100_000_000:08d}",
            status=status,
            send_date=base.created_at + 1 if handed else None,
            receive_date=base.created_at + 5 if done else None,
            connector="carrier-a" if handed else None,
            carrier_ids=(f"{mid:x}",) if handed else (),
            error_code="DELIVERED" if status == MessageStatus.DELIVERED else None,
            converted=True if n % 50 == 0 else None,
        )
        rows.append(message_row(m))
        if handed:
            carrier_rows.append(("carrier-a", f"{mid:x}", mid))
        if done and n % 10 == 0:
            callback_rows.append((m.account_id, "http://127.0.0.1:9/r", mid, 1, time.time()))
        if len(rows) == 10_000:
            conn.executemany(insert, rows)
            rows.clear()
    conn.executemany(insert, rows)
    conn.executemany(
        "INSERT INTO message_carrier_ids (connector, carrier_id, message_id) VALUES (?, ?, ?)",
        carrier_rows,
    )
    conn.executemany(
        "INSERT INTO callbacks (account_id, url, message_id, attempts, next_attempt_at, state) "
        "VALUES (?, ?, ?, ?, ?, 'pending')",
        callback_rows,
    )
    conn.execute("COMMIT")
    close_writer(conn)


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(_ADMIN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "smsgate.db"
        made = time.perf_counter()
        accounts = await _accounts(path, args.accounts)
        _messages(path, accounts, args.messages)
        size_mb = path.stat().st_size / 1e6
        print(
            f"generated {args.messages:,} messages for {args.accounts} accounts "
            f"({size_mb:.0f} MB) in {time.perf_counter() - made:.1f} s"
        )
        name = f"smsgate_bench_{secrets.token_hex(4)}"
        await _admin(f'CREATE DATABASE "{name}"')
        try:
            url = urlunsplit(urlsplit(_ADMIN)._replace(path=f"/{name}"))
            with SqliteSource(path) as source:
                result = await move(source, url, page_rows=args.page_rows)
        finally:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    rows = sum(result.copied.values())
    messages = result.copied["messages"]
    print(
        f"copied {rows:,} rows ({messages:,} messages) in {result.copy_s:.2f} s: "
        f"{messages / result.copy_s:,.0f} messages/s, {rows / result.copy_s:,.0f} rows/s"
    )
    print(
        f"whole move (migrations, copy, identities, verification, commit) "
        f"{result.total_s:.2f} s: {messages / result.total_s:,.0f} messages/s; "
        f"verified: {result.verification.ok}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--page-rows", type=int, default=5_000)
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
