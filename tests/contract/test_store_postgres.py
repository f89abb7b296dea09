"""What only the PostgreSQL store promises: several processes on one database.

The contract suite runs against PostgreSQL too (conftest's ``store_factory``); these tests add
what the SQLite store never had to: two store instances (two processes, as far as the database
can tell: each has its own connections and its own claimant) charging one balance, claiming
the same due work, applying the same receipts and migrating one database at once; secrets
sealed in the raw column; a writer whose connection dies or whose COMMIT answer is lost.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.postgres import MIGRATIONS, PostgresStore, migrate
from smsgate.domain.inbound import InboundMessage
from smsgate.domain.models import Accepted, Message, MessageStatus, Receipt
from smsgate.ports.store import PendingReceipt, StoreError
from tests.contract.test_billing import _balances, _check_billing, _ops
from tests.services import database_url

MakeMessage = Callable[..., Message]
OpenAccount = Callable[..., Awaitable[None]]

T0 = 1_700_000_000.0
URL = "https://a.example/receipts"


@pytest.fixture
async def pair(pg_url: str, secret_box: SecretBox) -> AsyncIterator[list[PostgresStore]]:
    """Two started stores on one database: two processes, as far as the database can tell."""
    stores = [PostgresStore(pg_url, secret_box, pool_size=2) for _ in range(2)]
    for store in stores:
        await store.start()
    yield stores
    for store in stores:
        await store.close()


async def _balance(store: PostgresStore, account_id: str = "acc-1") -> int:
    account = await store.get_account(account_id)
    assert account is not None
    return account.balance_micros


async def _raw(url: str, sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def _delivered(message_id: str, done_at: float = T0 + 10) -> Receipt:
    return Receipt(message_id, MessageStatus.DELIVERED, "success", done_at)


def _mo(at: float = T0) -> InboundMessage:
    return InboundMessage(0, "acc-1", "6598765432", "6591230077", "77", "hi", at, "up")


# -- money across processes --------------------------------------------------------------------


async def test_concurrent_charges_from_two_processes_never_overdraw_and_add_up(
    pair: list[PostgresStore], make_message: MakeMessage, open_account: OpenAccount
) -> None:
    """Both writers charge one balance in batches of their own, at once: every accept is
    decided against the balance the other left, so exactly balance // price are accepted."""
    first, second = pair
    await open_account(first, balance_micros=10_000)
    await open_account(first, "acc-2", balance_micros=5_000)

    def accept(store: PostgresStore, mid: int, account_id: str, price: int) -> Awaitable[bool]:
        message = make_message(mid, account_id, price_micros=price)
        return store.accept_messages([message], price)

    # The debits come first in each writer's batch, while there is money for them.
    calls = [first.add_balance("acc-1", -100), second.add_balance("acc-2", -100)]
    calls += [
        accept(pair[i % 2], i, "acc-1" if i % 3 else "acc-2", 37 if i % 3 else 41)
        for i in range(1, 601)
    ]
    results = await asyncio.gather(*calls)

    accepted = [i for i, ok in enumerate(results[2:], start=1) if ok]
    spent = {"acc-1": 0, "acc-2": 0}
    for i in accepted:
        spent["acc-1" if i % 3 else "acc-2"] += 37 if i % 3 else 41
    balances = (await _balance(first), await _balance(second, "acc-2"))
    assert balances == (10_000 - 100 - spent["acc-1"], 5_000 - 100 - spent["acc-2"])
    assert balances == ((10_000 - 100) % 37, (5_000 - 100) % 41)  # nothing left unspent
    counts = await first.count_messages_since("1")
    assert counts == {"acc-1": (10_000 - 100) // 37, "acc-2": (5_000 - 100) // 41}
    for i in accepted[:20]:
        assert await second.get_message("acc-1" if i % 3 else "acc-2", str(i)) is not None


async def test_two_processes_apply_the_same_receipts_once(
    pair: list[PostgresStore], make_message: MakeMessage, open_account: OpenAccount
) -> None:
    """A message is made final, refunded and announced once, whichever process gets there
    first (the other waits on the message's row lock and finds it final)."""
    first, second = pair
    await open_account(first, balance_micros=1000, callback_url=URL)
    await first.accept_messages([make_message(i, price_micros=10) for i in range(1, 51)], 500)
    failed = [
        Receipt(str(i), MessageStatus.FAILED, "INVALID_NUM", T0 + 5, refund=True)
        for i in range(1, 51)
    ]

    one, other = await asyncio.gather(first.apply_receipts(failed), second.apply_receipts(failed))

    assert sorted(int(m.id) for m in one + other) == list(range(1, 51))
    assert await _balance(second) == 1000
    jobs = await first.due_callbacks(T0 + 100, 1000)
    assert sorted(int(j.message.id) for j in jobs) == list(range(1, 51))


# -- claims ------------------------------------------------------------------------------------


async def _callbacks(store: PostgresStore, make_message: MakeMessage, count: int) -> None:
    await store.insert_messages([make_message(i) for i in range(1, count + 1)])
    await store.apply_receipts([_delivered(str(i), T0 + i) for i in range(1, count + 1)])


async def test_two_processes_claiming_due_callbacks_never_get_the_same_one(
    pg_url: str, secret_box: SecretBox, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    first, second, third = (PostgresStore(pg_url, secret_box, pool_size=1) for _ in range(3))
    for store in (first, second, third):
        await store.start()
    try:
        await open_account(first, callback_url=URL)
        await _callbacks(first, make_message, 60)

        taken = await asyncio.gather(
            first.due_callbacks(T0 + 1000, 40), second.due_callbacks(T0 + 1000, 40)
        )

        mine, theirs = ({job.id for job in jobs} for jobs in taken)
        # How the 60 split depends on the race (40/20 one after the other, 30/30 side by side,
        # each skipping the rows the other is claiming); neither takes more than it asked for.
        assert len(mine) <= 40
        assert len(theirs) <= 40
        assert not mine & theirs
        assert len(mine | theirs) == 60
        # Each gets its own claims again (its pusher decides what is in flight), not the other's.
        assert {job.id for job in await first.due_callbacks(T0 + 1000, 100)} == mine
        assert await second.due_callbacks(T0 + 1000, 100) == taken[1]
        # For a third, nothing is due until the claims run out (on the database's clock).
        assert await third.due_callbacks(T0 + 1000, 100) == []
        assert (await third.next_callback_due() or 0) > T0 + 60

        await second.close()  # gives its claims back
        assert {job.id for job in await third.due_callbacks(T0 + 1000, 100)} == theirs
    finally:
        for store in (first, second, third):
            await store.close()


async def test_a_claim_that_runs_out_is_taken_over(
    pg_url: str, secret_box: SecretBox, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    """A process that dies holding claims leaves them to the others once they run out."""
    brief = PostgresStore(pg_url, secret_box, pool_size=1, claim_s=1e-6)  # runs out at once
    other = PostgresStore(pg_url, secret_box, pool_size=1)
    await brief.start()
    await other.start()
    try:
        await open_account(brief, callback_url=URL)
        await _callbacks(brief, make_message, 3)
        await brief.store_inbound(_mo())
        taken = await brief.due_callbacks(T0 + 100, 10)
        [push] = await brief.due_inbound_pushes(T0 + 100, 10)

        assert await other.due_callbacks(T0 + 100, 10) == taken
        assert [p.id for p in await other.due_inbound_pushes(T0 + 100, 10)] == [push.id]
        assert await brief.due_callbacks(T0 + 100, 10) == []  # now the other's
    finally:
        await brief.close()
        await other.close()


async def test_owed_smpp_receipts_are_claimed_by_one_process(
    pair: list[PostgresStore], make_message: MakeMessage, open_account: OpenAccount
) -> None:
    first, second = pair
    await open_account(first)
    await first.insert_messages([make_message(i, registered_delivery=1) for i in range(1, 11)])
    await first.apply_receipts([_delivered(str(i)) for i in range(1, 11)])
    await first.store_inbound(_mo(), smpp=True)

    owed = await first.pending_smpp_receipts("acc-1", None, 4)
    rest = await second.pending_smpp_receipts("acc-1", None, 100)

    assert [m.id for m in owed] == ["1", "2", "3", "4"]
    assert [m.id for m in rest] == [str(i) for i in range(5, 11)]
    assert await first.pending_smpp_receipts("acc-1", None, 100) == owed  # its own again
    [mo] = await second.pending_smpp_inbound("acc-1", None, 10)
    assert await first.pending_smpp_inbound("acc-1", None, 10) == []
    await second.finish_smpp_inbound("acc-1", [mo.sequence_id])
    await first.finish_smpp_receipts("acc-1", ["1", "2"])
    await first.close()  # gives 3 and 4 back
    assert [m.id for m in await second.pending_smpp_receipts("acc-1", None, 100)] == [
        str(i) for i in range(3, 11)
    ]


# -- early receipts against their hand-over, in two processes ----------------------------------


async def _wait_for_lock(url: str, application: str) -> None:
    """Until a backend of ``application`` waits on a lock (the database has no event to await
    for that: its activity view is polled)."""
    for _ in range(500):
        rows = await _raw(
            url,
            "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 "
            "AND wait_event_type = 'Lock' AND datname = current_database()",
            application,
        )
        if rows:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{application} never waited on a lock")


def _pending(key: str) -> PendingReceipt:
    return PendingReceipt(
        "up", (key,), key, MessageStatus.DELIVERED, "success", "stat:DELIVRD", T0 + 5, False, T0
    )


async def test_a_receipt_kept_while_another_process_records_its_id_is_applied(
    pg_url: str,
    secret_box: SecretBox,
    make_message: MakeMessage,
    open_account: OpenAccount,
) -> None:
    """Another process records the id (uncommitted) while this one keeps a receipt for it:
    keeping waits for that commit and then applies the receipt instead of keeping it."""
    store = PostgresStore(pg_url, secret_box, pool_size=1)
    await store.start()
    try:
        await open_account(store)
        await store.insert_messages([make_message(1)])
        other = await asyncpg.connect(pg_url)
        try:
            async with other.transaction():
                await other.execute(
                    "UPDATE messages SET status = 'submitted', connector = 'up' WHERE id = 1"
                )
                await other.execute(
                    "INSERT INTO message_carrier_ids (connector, carrier_id, message_id) "
                    "VALUES ('up', 'c1', 1)"
                )
                keeping = asyncio.ensure_future(store.keep_pending_receipts([_pending("c1")]))
                await _wait_for_lock(pg_url, "smsgate-writer")
                # The other process finds no kept receipt to apply: this one has not kept it.
                assert not await other.fetchval("SELECT EXISTS (SELECT 1 FROM pending_receipts)")
            [applied] = await keeping
        finally:
            await other.close()
        assert (applied.id, applied.status) == ("1", MessageStatus.DELIVERED)
        assert await _raw(pg_url, "SELECT * FROM pending_receipts") == []
    finally:
        await store.close()


async def test_an_id_recorded_while_another_process_keeps_its_receipt_finds_it(
    pg_url: str,
    secret_box: SecretBox,
    make_message: MakeMessage,
    open_account: OpenAccount,
) -> None:
    """The other order: another process keeps a receipt (its probe of the key uncommitted)
    while this one records the id: recording waits for that commit and then applies it."""
    store = PostgresStore(pg_url, secret_box, pool_size=1)
    await store.start()
    try:
        await open_account(store)
        await store.insert_messages([make_message(1)])
        other = await asyncpg.connect(pg_url)
        try:
            async with other.transaction():  # what keep_pending_receipts does
                await other.execute(
                    "INSERT INTO message_carrier_ids (connector, carrier_id, message_id) "
                    "VALUES ('up', 'c1', 0)"
                )
                await other.execute(
                    "DELETE FROM message_carrier_ids WHERE connector = 'up' AND message_id = 0"
                )
                recording = asyncio.ensure_future(
                    store.mark_submitted([Accepted("1", "up", ("c1",), T0 + 1)])
                )
                await _wait_for_lock(pg_url, "smsgate-writer")
                await other.execute(
                    "INSERT INTO pending_receipts VALUES "
                    "('up', 'c1', 'c1', 'delivered', 'success', NULL, $1, false, $2)",
                    T0 + 5,
                    T0,
                )
            [applied] = await recording
        finally:
            await other.close()
        assert (applied.id, applied.status, applied.send_date) == (
            "1",
            MessageStatus.DELIVERED,
            T0 + 1,
        )
        assert await _raw(pg_url, "SELECT * FROM pending_receipts") == []
    finally:
        await store.close()


# -- migrations ----------------------------------------------------------------------------------


async def test_migrations_are_applied_once_when_two_processes_start_at_once(
    pg_empty_url: str, secret_box: SecretBox, open_account: OpenAccount
) -> None:
    stores = [PostgresStore(pg_empty_url, secret_box, pool_size=1) for _ in range(3)]
    await asyncio.gather(*(store.start() for store in stores))
    try:
        rows = await _raw(pg_empty_url, "SELECT version FROM schema_migrations ORDER BY version")
        assert [row[0] for row in rows] == [m.version for m in MIGRATIONS]
        await open_account(stores[0])
        assert [a.id for a in await stores[2].list_accounts()] == ["acc-1"]
        assert await migrate(pg_empty_url) == []  # nothing left to apply
    finally:
        for store in stores:
            await store.close()


async def test_a_store_told_not_to_migrate_refuses_a_database_behind(
    pg_empty_url: str, secret_box: SecretBox
) -> None:
    with pytest.raises(StoreError, match=r"0001_initial.*smsgate migrate"):
        await PostgresStore(pg_empty_url, secret_box, migrate=False).start()
    assert await migrate(pg_empty_url) == [m.version for m in MIGRATIONS]
    store = PostgresStore(pg_empty_url, secret_box, migrate=False)
    await store.start()
    await store.close()


async def test_a_database_migrated_by_a_newer_smsgate_is_refused(
    pg_url: str, secret_box: SecretBox
) -> None:
    await _raw(pg_url, "INSERT INTO schema_migrations (version) VALUES ('9999_future')")
    with pytest.raises(StoreError, match="newer"):
        await PostgresStore(pg_url, secret_box).start()


# -- secrets -----------------------------------------------------------------------------------


async def test_secrets_are_sealed_in_the_database(
    pg_url: str, secret_box: SecretBox, make_account: Any, make_key: Any
) -> None:
    secret = "Plain-Secret-7f3a9c"
    store = PostgresStore(pg_url, secret_box, pool_size=1)
    await store.start()
    try:
        await store.create_account(make_account(), make_key("key-1", secret=secret))
        await store.add_key(make_key("key-2", secret=secret + "-2"))
        rows = await _raw(pg_url, "SELECT id, secret_sealed, k::text FROM access_keys k")
        assert sorted(row[0] for row in rows) == ["key-1", "key-2"]
        for _, sealed, whole_row in rows:
            assert secret not in sealed
            assert secret not in whole_row
            assert secret_box.open(sealed).startswith(secret)
        found = await store.find_key("key-1")
        assert found is not None
        assert found[0].secret == secret
    finally:
        await store.close()

    other = PostgresStore(pg_url, SecretBox(bytes(32)), pool_size=1)
    await other.start()
    try:
        with pytest.raises(StoreError, match="master key"):
            await other.find_key("key-1")
    finally:
        await other.close()


# -- the writer --------------------------------------------------------------------------------


async def test_data_survives_reopening(
    pg_url: str,
    secret_box: SecretBox,
    make_message: MakeMessage,
    open_account: OpenAccount,
) -> None:
    store = PostgresStore(pg_url, secret_box, durability="normal", pool_size=1)
    await store.start()
    await open_account(store, callback_url=URL, balance_micros=10)
    await store.insert_messages([make_message(1), make_message(2, price_micros=7)])
    await store.apply_receipts([replace(_delivered("1"), connector="sim", carrier_ids=("s-1",))])
    await store.put_document("prices", "[]")
    store.remember_nonce("key-acc-1", "n-1", T0 + 900)
    await store.close()

    reopened = PostgresStore(pg_url, secret_box, pool_size=1)
    await reopened.start()
    try:
        assert await _balance(reopened) == 10
        assert await reopened.get_message("acc-1", "2") == make_message(2, price_micros=7)
        assert [m.id for m in await reopened.unfinished_messages(None, 10)] == ["2"]
        assert [j.message.id for j in await reopened.due_callbacks(T0 + 100, 10)] == ["1"]
        found = await reopened.find_by_carrier_id("sim", "s-1")
        assert found is not None
        assert await reopened.put_document("prices", "[1]") == 2
        assert [n.nonce for n in await reopened.live_nonces(T0, None, 10)] == ["n-1"]
    finally:
        await reopened.close()


async def test_a_nonce_is_durable_once_a_write_queued_after_it_is(
    pg_url: str, secret_box: SecretBox, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    store = PostgresStore(pg_url, secret_box, pool_size=1, commit_linger_s=0.05)
    await store.start()
    try:
        await open_account(store, balance_micros=100)
        before = store.stats.batches
        remembered = store.remember_nonce("key-acc-1", "nonce-1", T0 + 900)
        assert await store.accept_messages([make_message(1)], 100)
        assert remembered.done()
        assert store.stats.batches == before + 1  # one commit for both
    finally:
        await store.close()
    assert len(await _raw(pg_url, "SELECT * FROM nonces")) == 1


async def test_a_failing_op_is_isolated_within_its_batch(
    pair: list[PostgresStore], make_message: MakeMessage, open_account: OpenAccount
) -> None:
    store = pair[0]
    await open_account(store, balance_micros=100)
    await store.insert_messages([make_message(1)])
    before = store.stats.isolated_batches

    results = await asyncio.gather(
        *(store.accept_messages([make_message(i)], 10) for i in range(10, 15)),
        store.accept_messages([make_message(20), make_message(1)], 10),  # a taken id
        *(store.insert_messages([make_message(i)]) for i in range(30, 35)),
        store.add_balance("acc-1", -1000),  # a domain error
        return_exceptions=True,
    )

    assert results[:5] == [True] * 5
    assert isinstance(results[5], StoreError)
    assert isinstance(results[5].__cause__, asyncpg.UniqueViolationError)
    assert results[6:11] == [None] * 5
    assert isinstance(results[11], ValueError)
    assert store.stats.isolated_batches == before + 1
    assert await _balance(store) == 50  # the failed accept's charge was taken back
    assert await store.get_message("acc-1", "20") is None


async def _writer_pid(url: str) -> int:
    [row] = await _raw(
        url,
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'smsgate-writer' "
        "AND datname = current_database()",
    )
    return int(row[0])


async def test_a_writer_whose_connection_died_reconnects_and_runs_the_batch_again(
    pg_url: str, secret_box: SecretBox, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    store = PostgresStore(pg_url, secret_box, pool_size=1)
    await store.start()
    try:
        await open_account(store, balance_micros=100)
        await _raw(pg_url, "SELECT pg_terminate_backend($1, 5000)", await _writer_pid(pg_url))

        assert await store.accept_messages([make_message(1)], 30)

        assert store.stats.retried_batches <= 1  # asyncpg may have seen the end already
        assert await _balance(store) == 70
    finally:
        await store.close()


class _LostCommitAnswer:
    """A real connection whose next COMMIT is sent (or not) and whose answer is then lost, as
    when the network drops at that moment. Not a fake of PostgreSQL: the server commits (or,
    never told to, rolls back when it sees the connection gone)."""

    def __init__(self, conn: Any, send: bool) -> None:
        self._conn = conn
        self._send = send
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and self.armed:
            self.armed = False
            if self._send:
                await self._conn.execute("COMMIT")
            self._conn.terminate()
            raise asyncpg.ConnectionDoesNotExistError("the connection was lost (test)")
        return await self._conn.execute(sql, *args)


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "never-sent"])
async def test_a_commit_whose_answer_is_lost_is_resolved_exactly(
    committed: bool,
    pg_url: str,
    secret_box: SecretBox,
    make_message: MakeMessage,
    open_account: OpenAccount,
) -> None:
    """The writer asks the server what became of the transaction: committed, the callers get
    their results; rolled back, the batch runs again. Either way the charge is taken once."""
    store = PostgresStore(pg_url, secret_box, pool_size=1)
    connections: list[_LostCommitAnswer] = []
    connect = store._writer._connect

    async def connect_lossy() -> _LostCommitAnswer:
        connections.append(_LostCommitAnswer(await connect(), send=committed))
        return connections[-1]

    store._writer._connect = connect_lossy
    await store.start()
    try:
        await open_account(store, balance_micros=100)
        connections[-1].armed = True

        results = await asyncio.gather(
            store.accept_messages([make_message(1)], 30),
            store.accept_messages([make_message(2)], 30),
        )

        assert results == [True, True]
        assert store.stats.unknown_commits == 1
        assert store.stats.retried_batches == (0 if committed else 1)
        assert await _balance(store) == 40
        assert [m.id for m in await store.unfinished_messages(None, 10)] == ["1", "2"]
        assert await store.accept_messages([make_message(3)], 30)  # the writer goes on
    finally:
        await store.close()


async def test_a_read_only_database_is_reported_once_and_its_end(
    pg_url: str, pg_admin_url: str, secret_box: SecretBox, open_account: OpenAccount
) -> None:
    """A database that refuses writes (here: read-only by default, as a standby would be) is
    reported to the disk listener once, and its end once, when a write succeeds again."""
    store = PostgresStore(pg_url, secret_box, pool_size=1)
    heard: list[str | None] = []
    store.set_disk_listener(lambda problem: heard.append(problem.code if problem else None))
    await store.start()
    database = pg_url.rsplit("/", 1)[1]
    try:
        await open_account(store)
        await _raw(
            pg_admin_url, f'ALTER DATABASE "{database}" SET default_transaction_read_only = on'
        )
        await _raw(pg_url, "SELECT pg_terminate_backend($1, 5000)", await _writer_pid(pg_url))
        for _ in range(2):
            with pytest.raises(StoreError, match="read-only"):
                await store.add_balance("acc-1", 5)
        assert heard == ["read_only"]

        await _raw(pg_admin_url, f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
        await _raw(pg_url, "SELECT pg_terminate_backend($1, 5000)", await _writer_pid(pg_url))
        assert await store.add_balance("acc-1", 5) == 5
        assert heard == ["read_only", None]
    finally:
        await store.close()


# -- billing, as a property --------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(balances=_balances, ops=_ops)
def test_postgresql_billing_matches_accepts_one_by_one(
    pg_admin_url: str, pg_template: str, balances: tuple[int, int], ops: list[Any]
) -> None:
    """The same property as SQLite's (test_billing): random accepts, all queued together (one
    batch: set-wise, or op by op when an id is taken), end as the same accepts one by one."""

    async def check() -> None:
        name = f"smsgate_t_{secrets.token_hex(6)}"
        admin = await asyncpg.connect(pg_admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
            store = PostgresStore(
                database_url(pg_admin_url, name), SecretBox(bytes(32)), pool_size=1
            )
            await store.start()
            try:
                await _check_billing(store, balances, ops)
            finally:
                await store.close()
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()

    asyncio.run(check())
