"""``smsgate migrate``: PostgreSQL's migrations, and moving an embedded installation there.

The commands run in process through ``smsgate.cli.main`` against real SQLite data directories
and real PostgreSQL databases (``tests.services``: skipped without PostgreSQL). The installation
moved is written through ``SqliteStore`` itself, every table holding rows, and read back after
the move through ``PostgresStore`` with the same master key: what a server reads is the same
record by record. A server-level test with the SDKs is ``tests/interop/test_migrate.py``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.postgres import PostgresStore
from smsgate.adapters.storage.postgres.schema import MIGRATIONS, apply_migrations
from smsgate.adapters.storage.sqlite import SqliteStore
from smsgate.adapters.storage.sqlite.schema import close_writer, connect_writer
from smsgate.adapters.storage.transfer import (
    SKIPPED,
    TABLES,
    SqliteSource,
    source_summary,
    verify,
)
from smsgate.cli import main
from smsgate.cli.migrate import shown_url
from smsgate.config import ENV_CONFIG, ENV_DATA_DIR, ENV_REDIS_URL, ENV_STORE_URL
from smsgate.domain.ids import parse_message_id
from smsgate.domain.inbound import InboundMessage
from smsgate.domain.models import (
    Accepted,
    AccessKey,
    Account,
    AccountState,
    MessageStatus,
    Receipt,
    ReviewStatus,
    SignName,
    Template,
    TemplateStatus,
)
from smsgate.ports.store import InboundPart, PendingReceipt, Store
from tests import builders
from tests.services import fresh_postgres_database

NOW = time.time()
ACME, BETA = "1000000000000001", "1000000000000002"
NOWHERE = "postgresql://nobody@127.0.0.1:1/none"  # never reached: the command stops before
VERSIONS = [m.version for m in MIGRATIONS]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (ENV_DATA_DIR, ENV_CONFIG, ENV_STORE_URL, ENV_REDIS_URL):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def moved(capsys: pytest.CaptureFixture[str], data_dir: Path, url: str) -> dict[str, Any]:
    status, out, err = run(capsys, "migrate", "--from", str(data_dir), "--to", url, "--json")
    assert status == 0, err
    report: dict[str, Any] = json.loads(out)
    return report


# -- an installation with a row in every table ----------------------------------------------------


def installation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """``smsgate init``, then records of every kind written through the SQLite store."""
    data_dir = tmp_path / "data"
    assert main(["init", "--data-dir", str(data_dir)]) == 0
    capsys.readouterr()
    asyncio.run(_fill(data_dir))
    return data_dir


def _store(data_dir: Path) -> SqliteStore:
    return SqliteStore(data_dir / "smsgate.db", SecretBox.from_key_file(data_dir / "master.key"))


async def _fill(data_dir: Path) -> None:
    store = _store(data_dir)
    await store.start()
    try:
        await _fill_store(store)
    finally:
        await store.close()


async def _fill_store(store: SqliteStore) -> None:
    def account(account_id: str, **changes: Any) -> Account:
        values: dict[str, Any] = {
            "name": f"account {account_id}",
            "state": AccountState.NORMAL,
            "balance_micros": 10_000_000,
            "callback_url": None,
            "created_at": NOW - 86_400.25,
        }
        return Account(id=account_id, **{**values, **changes})

    def key(key_id: str, account_id: str, **changes: Any) -> AccessKey:
        values: dict[str, Any] = {"enabled": True, "allowed_actions": None, "created_at": NOW}
        return AccessKey(key_id, account_id, f"secret-{key_id}", **{**values, **changes})

    await store.create_account(account(ACME), key("LTAIacme0000001", ACME))
    await store.create_account(
        account(BETA, state=AccountState.SUSPENDED, callback_url="http://127.0.0.1:9/r"),
        key("LTAIbeta0000001", BETA, allowed_actions=frozenset({"SendSms", "QuerySendDetails"})),
    )
    await store.add_key(key("LTAIacme0000002", ACME, enabled=False))
    await store.put_template(
        Template(ACME, "SMS_1001", "Code ${code}", "verification", TemplateStatus.APPROVED, NOW)
    )
    await store.put_sign_name(SignName(ACME, "Acme", ReviewStatus.APPROVED, NOW))
    await store.put_document("prices", '{"default": {"OTP": "0.05"}}')
    await store.put_document("prices", '{"default": {"OTP": "0.04"}}')  # version 2

    price = 40_000
    acme = [
        builders.message(
            2_000_000 + i,
            ACME,
            created_at=NOW - 600 + i,
            price_micros=price,
            sender=None if i % 3 else "Acme",
            validity_period=3_600 if i % 4 == 0 else None,
            extra={"OutId": f"out-{i}"} if i % 5 == 0 else {},
        )
        for i in range(24)
    ]
    beta = [
        builders.message(
            3_000_000 + i,
            BETA,
            created_at=NOW - 300 + i,
            price_micros=price,
            registered_delivery=1,
            system_id="beta_smpp",
            bind_id=7,
        )
        for i in range(6)
    ]
    assert await store.accept_messages(acme, price * len(acme))
    assert await store.accept_messages(beta, price * len(beta))
    # Handed over (two parts each, with carrier ids) but no receipt yet: SUBMITTED.
    handed = [*acme[:16], *beta]
    await store.mark_submitted(
        [Accepted(m.id, "carrier-a", (f"{m.id}A", f"{m.id}b"), NOW - 100) for m in handed]
    )
    receipts = [Receipt(m.id, MessageStatus.DELIVERED, "DELIVERED", NOW - 50) for m in acme[:8]]
    receipts += [
        Receipt(m.id, MessageStatus.FAILED, "MOBILE_NOT_ON", NOW - 40, refund=True)
        for m in acme[8:12]
    ]
    receipts += [Receipt(m.id, MessageStatus.DELIVERED, "DELIVERED", NOW - 30) for m in beta[:4]]
    await store.apply_receipts(receipts)  # BETA's owe callbacks and SMPP receipts
    await store.record_conversion(ACME, acme[0].id, True, NOW - 20)
    await store.add_conversion_data(ACME, 0.75, NOW - 10)
    # The last callback finished: SQLite's AUTOINCREMENT counter is now past the highest id.
    (last, *_) = sorted(await store.due_callbacks(NOW + 1, 100), key=lambda j: -j.id)
    await store.finish_callbacks([last.id])

    await store.keep_pending_receipts(
        [
            PendingReceipt(
                "carrier-a",
                ("ffee01", "FFEE01"),
                "FFEE01",
                MessageStatus.FAILED,
                "MOBILE_NOT_ON",
                "UNDELIV",
                NOW - 5,
                True,
                NOW - 4,
            )
        ]
    )
    await store.remember_nonce("LTAIacme0000001", "live-nonce", NOW + 900)
    await store.remember_nonce("LTAIacme0000001", "expired-nonce", NOW - 900)
    await store.add_inbound_part(
        InboundPart("carrier-a", "6591230000", "6588880000", 42, 2, 1, 0, b"first \x00half", NOW)
    )
    for i in range(3):
        await store.store_inbound(
            InboundMessage(0, BETA, f"659123000{i}", "6588880000", "", f"mo {i}", NOW, "carrier-a"),
            smpp=True,
        )


# -- what the move is given -----------------------------------------------------------------------


def test_migrate_without_a_postgresql_url_says_what_to_give(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(capsys, "migrate")
    assert (status, out) == (2, "")
    assert err.count("\n") == 1
    assert "--store postgresql://" in err
    assert "SMSGATE_STORE_URL" in err
    assert "--from DATA_DIR --to postgresql://" in err


def test_a_url_that_is_not_postgresql_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "migrate", "--from", str(tmp_path), "--to", "mysql://db/x")
    assert status == 2
    assert "--to must be a URL starting with postgresql://" in err


def test_a_move_needs_a_data_directory_with_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "migrate", "--from", str(tmp_path / "none"), "--to", NOWHERE)
    assert status == 2
    assert "no smsgate database in" in err
    status, _, err = run(capsys, "migrate", "--from", str(tmp_path))
    assert status == 2
    assert "--to postgresql://" in err


def test_a_database_in_use_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A server keeps its connections open: so does this one, and the move will not start."""
    assert main(["init", "--data-dir", str(tmp_path / "data")]) == 0
    capsys.readouterr()
    server = connect_writer(tmp_path / "data" / "smsgate.db", "normal")
    try:
        server.execute("SELECT count(*) FROM accounts").fetchall()
        started = time.monotonic()
        status, _, err = run(capsys, "migrate", "--from", str(tmp_path / "data"), "--to", NOWHERE)
        assert status == 2
        assert "is in use by another process (a server running on it?): stop it first" in err
        assert time.monotonic() - started < 10
    finally:
        close_writer(server)


def test_another_master_key_where_the_servers_will_look_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("data", "elsewhere"):
        assert main(["init", "--data-dir", str(tmp_path / name)]) == 0
    capsys.readouterr()
    status, _, err = run(
        capsys,
        *("migrate", "--from", str(tmp_path / "data"), "--to", NOWHERE),
        *("--data-dir", str(tmp_path / "elsewhere")),
    )
    assert status == 2
    assert "is another master key than the source's" in err


def test_a_master_key_that_does_not_open_the_secrets_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = installation(tmp_path, capsys)
    (data_dir / "master.key").unlink()
    (data_dir / "master.key").write_bytes(b"k" * 32)
    status, _, err = run(capsys, "migrate", "--from", str(data_dir), "--to", NOWHERE)
    assert status == 2
    assert "does not open the secret of key LTAIacme0000001" in err


def test_passwords_are_not_shown() -> None:
    assert shown_url("postgresql://app:s3cret@db:5432/sms") == "postgresql://app:***@db:5432/sms"
    assert shown_url("postgresql://db/sms?password=x&sslmode=require") == (
        "postgresql://db/sms?password=***&sslmode=require"
    )
    assert shown_url("postgresql://app@db/sms") == "postgresql://app@db/sms"


# -- smsgate migrate ------------------------------------------------------------------------------


def test_migrate_applies_the_migrations_then_says_the_database_is_current(
    capsys: pytest.CaptureFixture[str], database: str
) -> None:
    status, out, _ = run(capsys, "migrate", "--store", database, "--json")
    assert status == 0
    assert json.loads(out)["applied"] == VERSIONS
    status, out, _ = run(capsys, "migrate", "--store", database)
    assert status == 0
    assert out.endswith(f"is current (schema {VERSIONS[-1]}): nothing to apply\n")
    status, out, _ = run(capsys, "migrate", "--store", database, "--json")
    assert json.loads(out)["applied"] == []


# -- smsgate migrate --from -----------------------------------------------------------------------


def test_the_plan_covers_both_schemas_column_by_column(tmp_path: Path, database: str) -> None:
    """Every SQLite column is read by the plan, every PostgreSQL column written or named as
    left to its default, and no table of either schema is left undecided."""
    sqlite = connect_writer(tmp_path / "smsgate.db", "normal")
    try:
        sqlite_tables = {
            name: {row[1] for row in sqlite.execute(f"PRAGMA table_info({name})")}
            for (name,) in sqlite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    finally:
        close_writer(sqlite)
    pg_tables = asyncio.run(_postgres_columns(database))

    read: dict[str, set[str]] = {}
    for table in TABLES:
        names = {e for e in table.expressions or table.columns if e.isidentifier()}
        assert names <= sqlite_tables[table.source], table.table
        read.setdefault(table.source, set()).update(names)
        assert pg_tables[table.table] == {*table.columns, *table.defaults}, table.table
        assert not set(table.columns) & set(table.defaults), table.table
    for name, columns in sqlite_tables.items():
        assert name in SKIPPED or read[name] == columns, name
    assert set(pg_tables) == {t.table for t in TABLES} | {"schema_migrations"}


async def _postgres_columns(url: str) -> dict[str, set[str]]:
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn)
        rows = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        tables.setdefault(table, set()).add(column)
    return tables


def test_a_move_copies_every_record_as_the_postgresql_store_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database: str
) -> None:
    data_dir = installation(tmp_path, capsys)
    report = moved(capsys, data_dir, database)

    assert (report["verified"], report["committed"]) == (True, True)
    assert report["migrations_applied"] == VERSIONS
    assert report["master_key"] == str((data_dir / "master.key").resolve())
    assert report["master_key_copied"] is False  # the servers use the source directory's
    rows = {t["table"]: (t["sqlite"], t["postgresql"]) for t in report["tables"]}
    assert all(sqlite == postgresql for sqlite, postgresql in rows.values())
    assert all(sqlite > 0 for sqlite, _ in rows.values()), rows  # every table had rows
    assert rows["nonces"] == (1, 1)  # the expired one stays behind
    assert rows["messages"] == (30, 30)
    accounts = {a["account_id"]: a for a in report["accounts"]}
    assert accounts[ACME]["balance"] == "9.2"  # 10 less 24 x 0.04, four failures refunded
    assert accounts[ACME]["messages"] == {
        "accepted": 8,
        "delivered": 8,
        "failed": 4,
        "submitted": 4,
    }

    asyncio.run(_same_records(data_dir, database))
    # The shared work queue's columns: nothing claimed, queued messages due at once, and each
    # message with the node its id names (the embedded server made and handed over them all).
    work = asyncio.run(_fetch(database, "SELECT id, work_due_at, work_claimed_until, work_node"))
    assert len(work) == 30
    assert {(due, claimed) for _, due, claimed, _ in work} == {(0, None)}
    assert all(node == parse_message_id(str(mid)).node_id for mid, _, _, node in work)
    assert {node for *_, node in work} == {488, 732}  # ids 2,000,000+ and 3,000,000+


async def _fetch(url: str, select: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await conn.fetch(f"{select} FROM messages ORDER BY id")]
    finally:
        await conn.close()


async def _same_records(data_dir: Path, url: str) -> None:
    box = SecretBox.from_key_file(data_dir / "master.key", create=False)
    sqlite, postgres = _store(data_dir), PostgresStore(url, box)
    await sqlite.start()
    await postgres.start()
    try:
        assert await _records(postgres) == await _records(sqlite)
        await _ids_go_on_past_the_copied_ones(postgres, sqlite)
    finally:
        await postgres.close()
        await sqlite.close()


async def _records(store: Store) -> dict[str, Any]:
    """Everything the store port reads, in one comparable value."""
    records: dict[str, Any] = {
        "accounts": await store.list_accounts(),
        "documents": {n: await store.get_document(n) for n in await store.document_versions()},
        "callbacks": await store.due_callbacks(NOW + 86_400, 1_000),
        "nonces": await store.live_nonces(NOW, None, 100),
        "pushes": await store.due_inbound_pushes(NOW + 86_400, 100),
        "carrier": await store.find_by_carrier_ids("carrier-a", ["2000012a", "3000000b"]),
    }
    for account_id in (ACME, BETA):
        records[account_id] = {
            "keys": await store.list_keys(account_id),
            "templates": await store.list_templates(account_id),
            "signs": await store.list_sign_names(account_id),
            "messages": await store.list_messages(account_id, 1_000),
            "smpp_receipts": await store.pending_smpp_receipts(account_id, None, 100),
            "smpp_mo": await store.pending_smpp_inbound(account_id, None, 100),
            "inbound": await store.list_inbound(account_id, 100),
        }
    records["unfinished"] = await store.unfinished_messages(None, 1_000)
    return records


async def _ids_go_on_past_the_copied_ones(postgres: PostgresStore, sqlite: SqliteStore) -> None:
    """New callbacks, MO messages and pushes get ids past any SQLite ever gave; the waiting
    part of a long MO message is completed by its second part."""
    before = {j.id for j in await sqlite.due_callbacks(NOW + 86_400, 1_000)}
    await postgres.apply_receipts([Receipt("3000005", MessageStatus.DELIVERED, "DELIVERED", NOW)])
    after = {j.id for j in await postgres.due_callbacks(NOW + 86_400, 1_000)}
    (new,) = after - before
    assert new == max(before) + 2  # the finished callback's id is not given again

    stored = await postgres.store_inbound(
        InboundMessage(0, BETA, "6591239999", "6588880000", "", "after", NOW, "carrier-a")
    )
    assert stored is not None
    assert stored.sequence_id == 4
    pushes = await postgres.due_inbound_pushes(NOW + 86_400, 100)
    assert sorted(p.id for p in pushes) == [1, 2, 3, 4]

    parts = await postgres.add_inbound_part(
        InboundPart("carrier-a", "6591230000", "6588880000", 42, 2, 2, 0, b"second", NOW)
    )
    assert parts is not None
    assert [p.body for p in parts] == [b"first \x00half", b"second"]


def test_a_target_that_is_not_empty_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database: str
) -> None:
    data_dir = installation(tmp_path, capsys)
    moved(capsys, data_dir, database)
    status, out, err = run(capsys, "migrate", "--from", str(data_dir), "--to", database)
    assert (status, out) == (2, "")
    assert "already holds records (accounts, balances, access_keys, templates" in err
    assert "into an empty database only" in err


def test_a_copy_that_differs_is_reported_and_nothing_is_committed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database: str
) -> None:
    """Triggers on the target change rows on their way in (COPY fires them): the verification
    inside the move's transaction sees it, and the transaction rolls back."""
    data_dir = installation(tmp_path, capsys)
    assert run(capsys, "migrate", "--store", database)[0] == 0
    asyncio.run(_add_triggers(database))

    status, out, err = run(capsys, "migrate", "--from", str(data_dir), "--to", database, "--json")

    assert status == 1
    assert "nothing was committed" in err
    report = json.loads(out)
    assert (report["verified"], report["committed"]) == (False, False)
    assert report["mismatches"] == [
        "messages: rows: 30 in SQLite, 18 in PostgreSQL",
        f"account {ACME}: balance in micros: 9200000 in SQLite, 9200001 in PostgreSQL",
        f"account {BETA}: balance in micros: 9760000 in SQLite, 9760001 in PostgreSQL",
        f"account {ACME}: delivered messages: 8 in SQLite, 0 in PostgreSQL",
        f"account {BETA}: delivered messages: 4 in SQLite, 0 in PostgreSQL",
    ]
    assert asyncio.run(_count(database, "accounts")) == 0


async def _add_triggers(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE FUNCTION skim() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN NEW.balance_micros := NEW.balance_micros + 1; RETURN NEW; END $$; "
            "CREATE TRIGGER skim BEFORE INSERT ON balances "
            "FOR EACH ROW EXECUTE FUNCTION skim(); "
            "CREATE FUNCTION lose() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN IF NEW.status = 'delivered' THEN RETURN NULL; END IF; RETURN NEW; END $$; "
            "CREATE TRIGGER lose BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION lose()"
        )
    finally:
        await conn.close()


async def _count(url: str, table: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


def test_a_value_the_postgresql_column_does_not_take_fails_the_move_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database: str
) -> None:
    """SQLite keeps text in an INTEGER column if told to; PostgreSQL will not: the move stops
    naming the table, and even the migrations it applied are rolled back."""
    data_dir = installation(tmp_path, capsys)
    sqlite = sqlite3.connect(data_dir / "smsgate.db")
    with sqlite:
        sqlite.execute("UPDATE messages SET segments = 'many' WHERE id = 2000003")
    sqlite.close()

    status, out, err = run(capsys, "migrate", "--from", str(data_dir), "--to", database)

    assert (status, out) == (1, "")
    assert err.startswith("smsgate: copying messages: TypeError: ")
    assert err.endswith("; nothing was committed\n")
    status, out, _ = run(capsys, "migrate", "--store", database, "--json")
    assert (status, json.loads(out)["applied"]) == (0, VERSIONS)  # none was left applied


def test_verify_names_each_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database: str
) -> None:
    data_dir = installation(tmp_path, capsys)
    moved(capsys, data_dir, database)
    with SqliteSource(data_dir / "smsgate.db") as source:
        expected = source_summary(source, time.time())
    assert asyncio.run(_verify_corrupted(database, expected)) == [
        "messages: rows: 30 in SQLite, 29 in PostgreSQL",
        f"account {ACME}: balance in micros: 9200000 in SQLite, 9200005 in PostgreSQL",
        f"account {ACME}: delivered messages: 8 in SQLite, 7 in PostgreSQL",
        "policy document prices: version: 2 in SQLite, 7 in PostgreSQL",
    ]


async def _verify_corrupted(url: str, expected: Any) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        assert (await verify(conn, expected)).ok
        await conn.execute(
            f"UPDATE balances SET balance_micros = balance_micros + 5 WHERE account_id = '{ACME}'; "
            "DELETE FROM messages WHERE id = 2000000; "
            "UPDATE documents SET version = 7 WHERE name = 'prices'"
        )
        return list((await verify(conn, expected)).mismatches)
    finally:
        await conn.close()


def test_the_master_key_is_copied_to_the_data_directory_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database: str
) -> None:
    data_dir = installation(tmp_path, capsys)
    new_dir = tmp_path / "pg-data"
    status, out, err = run(
        capsys,
        *("migrate", "--from", str(data_dir), "--to", database, "--data-dir", str(new_dir)),
    )
    assert status == 0, err
    assert "master_key_copied   true" in out
    assert (new_dir / "master.key").read_bytes() == (data_dir / "master.key").read_bytes()
    assert (new_dir / "master.key").stat().st_mode & 0o777 == 0o600


def test_the_source_is_left_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database: str
) -> None:
    """Read only: a move that was refused or failed leaves an installation that starts again."""
    data_dir = installation(tmp_path, capsys)
    before = _dump(data_dir / "smsgate.db")
    moved(capsys, data_dir, database)
    assert _dump(data_dir / "smsgate.db") == before


def _dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()
