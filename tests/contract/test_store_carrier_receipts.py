"""The store contract for upstream carriers' receipts: ids found by their carrier key, long
messages delivered part by part, receipts kept until their submit is recorded, and SUBMITTED
messages found once their validity runs out. Runs over every adapter (conftest)."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage import sqlite as sqlite_module
from smsgate.adapters.storage.sqlite import MIGRATIONS, SqliteStore
from smsgate.domain.ids import first_id_at
from smsgate.domain.models import Accepted, Message, MessageStatus, Receipt
from smsgate.ports.store import PendingReceipt, Store

MakeMessage = Callable[..., Message]
OpenAccount = Callable[..., Awaitable[None]]

T0 = 1_700_000_000.0
DAY = 86_400.0


def _part(
    message_id: str,
    part: str,
    status: MessageStatus = MessageStatus.DELIVERED,
    code: str = "success",
    raw: str = "stat:DELIVRD err:000",
) -> Receipt:
    return Receipt(message_id, status, code, T0 + 20, carrier_status=raw, part=part)


def _pending(
    *keys: str,
    reported: str | None = None,
    status: MessageStatus = MessageStatus.DELIVERED,
    code: str = "success",
    refund: bool = False,
    received_at: float = T0 + 5,
) -> PendingReceipt:
    return PendingReceipt(
        connector="up",
        keys=keys,
        reported_id=reported or keys[0],
        status=status,
        error_code=code,
        carrier_status=f"stat:{'DELIVRD' if status is MessageStatus.DELIVERED else 'UNDELIV'}",
        done_at=received_at,
        refund=refund,
        received_at=received_at,
    )


async def _submitted(store: Store, make_message: MakeMessage, mid: int, *ids: str) -> None:
    await store.insert_messages([make_message(mid, segments=len(ids))])
    assert await store.mark_submitted([Accepted(str(mid), "up", ids, T0 + 1)]) == []


# -- finding messages by carrier ids ----------------------------------------------------------


async def test_carrier_ids_are_found_by_their_carrier_key(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    """A carrier that answers 00A1B2 may report a1b2: ids meet case- and zero-insensitively,
    while the message keeps them as the carrier gave them."""
    await open_account(store)
    await _submitted(store, make_message, 1, "00A1B2", "C3")

    message = await store.get_message("acc-1", "1")
    assert message is not None
    assert message.carrier_ids == ("00A1B2", "C3")
    assert await store.find_by_carrier_id("up", "a1b2") == message
    assert await store.find_by_carrier_id("up", " 0a1b2 ") == message
    found = await store.find_by_carrier_ids("up", ["a1b2", "c3", "C3", "d4"])
    assert found == {"a1b2": message, "c3": message, "C3": message}
    assert await store.find_by_carrier_ids("other", ["a1b2"]) == {}
    assert await store.find_by_carrier_ids("up", []) == {}


async def test_find_by_carrier_ids_finds_each_message_in_one_call(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await _submitted(store, make_message, 1, "11")
    await _submitted(store, make_message, 2, "22", "23")

    found = await store.find_by_carrier_ids("up", ["11", "23", "33"])
    assert {cid: m.id for cid, m in found.items()} == {"11": "1", "23": "2"}


# -- parts ------------------------------------------------------------------------------------


async def test_a_long_message_is_delivered_when_every_part_is(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, callback_url="https://a.example/cb")
    await _submitted(store, make_message, 1, "p1", "p2", "P3")

    assert await store.apply_receipts([_part("1", "p2"), _part("1", "p1")]) == []
    assert await store.apply_receipts([_part("1", "p2")]) == []  # a repeated part: no change
    waiting = await store.get_message("acc-1", "1")
    assert waiting is not None
    assert waiting.status is MessageStatus.SUBMITTED
    assert await store.due_callbacks(T0 + 100, 10) == []

    [done] = await store.apply_receipts([_part("1", "p3")])
    assert (done.status, done.error_code, done.carrier_status) == (
        MessageStatus.DELIVERED,
        "success",
        "stat:DELIVRD err:000",
    )
    assert done == await store.get_message("acc-1", "1")
    assert [j.message.id for j in await store.due_callbacks(T0 + 100, 10)] == ["1"]


async def test_a_long_message_fails_with_its_first_failed_part(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await _submitted(store, make_message, 1, "p1", "p2", "p3")
    failed = MessageStatus.FAILED

    changed = await store.apply_receipts(
        [
            _part("1", "p1"),
            _part("1", "p2", failed, "INVALID_NUM", "stat:UNDELIV err:002"),
            _part("1", "p3", failed, "SYSTEM_ERR", "stat:UNDELIV err:007"),
        ]
    )

    assert [(m.status, m.error_code, m.carrier_status) for m in changed] == [
        (failed, "INVALID_NUM", "stat:UNDELIV err:002")
    ]
    assert await store.apply_receipts([_part("1", "p3")]) == []  # final: later parts change nothing


async def test_a_part_receipt_for_a_message_in_one_part_is_its_receipt(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await _submitted(store, make_message, 1, "only")
    await _submitted(store, make_message, 2, "same", "SAME")  # one key twice: one part

    changed = await store.apply_receipts([_part("1", "only"), _part("2", "same")])

    assert [(m.id, m.status) for m in changed] == [
        ("1", MessageStatus.DELIVERED),
        ("2", MessageStatus.DELIVERED),
    ]


async def test_a_carrier_id_used_again_starts_without_receipts(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    """A carrier that wraps its ids gives one to a newer message: the part receipt the older
    one had does not count for the newer."""
    await open_account(store)
    await _submitted(store, make_message, 1, "a", "b")
    assert await store.apply_receipts([_part("1", "a")]) == []
    await _submitted(store, make_message, 2, "a", "c")

    assert await store.apply_receipts([_part("2", "c")]) == []
    [done] = await store.apply_receipts([_part("2", "a")])
    assert done.id == "2"
    # The older message no longer owns "a": its receipt for "b" cannot wait for it.
    [older] = await store.apply_receipts([_part("1", "b")])
    assert older.status is MessageStatus.DELIVERED


async def test_carrier_status_is_kept_on_the_message(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(1), make_message(2, carrier_status="stat:X")])
    raw = "stat:UNDELIV err:0x99 network_error_code:030099"
    receipt = Receipt("1", MessageStatus.FAILED, "UNKNOWN_ERR", T0 + 9, carrier_status=raw)

    [changed] = await store.apply_receipts([receipt])

    assert changed.carrier_status == raw
    assert changed == await store.get_message("acc-1", "1")
    message = await store.get_message("acc-1", "2")
    assert message is not None
    assert message.carrier_status == "stat:X"


# -- receipts before their submit is recorded -------------------------------------------------


async def test_a_kept_receipt_is_applied_when_its_id_is_recorded(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    """The receipt reports 6699 (decimal) for a submit answered 1A2B (hex): kept under both
    readings, it is applied by the mark_submitted that records either, and then forgotten."""
    await open_account(store, callback_url="https://a.example/cb")
    await store.insert_messages([make_message(1), make_message(2)])
    assert await store.keep_pending_receipts([_pending("6699", "1a2b", reported="6699")]) == []

    assert await store.mark_submitted([Accepted("2", "up", ("77",), T0 + 6)]) == []
    [changed] = await store.mark_submitted([Accepted("1", "up", ("1A2B",), T0 + 6)])

    assert (changed.id, changed.status, changed.carrier_status) == (
        "1",
        MessageStatus.DELIVERED,
        "stat:DELIVRD",
    )
    assert (changed.send_date, changed.receive_date) == (T0 + 6, T0 + 5)
    assert changed == await store.get_message("acc-1", "1")
    assert [j.message.id for j in await store.due_callbacks(T0 + 100, 10)] == ["1"]
    assert await store.prune_pending_receipts(T0 + DAY) == 0  # both keys were forgotten


async def test_kept_receipts_of_each_part_make_the_message_final_together(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(1, segments=2), make_message(2, segments=2)])
    failed = MessageStatus.FAILED
    await store.keep_pending_receipts(
        [
            _pending("1p1"),
            _pending("1p2"),
            _pending("2p1"),
            _pending("2p2", status=failed, code="PHONE_NOT_AVAILABLE"),
        ]
    )

    changed = await store.mark_submitted(
        [Accepted("1", "up", ("1p1", "1p2"), T0 + 6), Accepted("2", "up", ("2p1", "2p2"), T0 + 6)]
    )

    assert sorted((m.id, m.status, m.error_code) for m in changed) == [
        ("1", MessageStatus.DELIVERED, "success"),
        ("2", failed, "PHONE_NOT_AVAILABLE"),
    ]


async def test_kept_receipts_of_some_parts_wait_for_the_others(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(1, segments=2)])
    await store.keep_pending_receipts([_pending("p1")])

    assert await store.mark_submitted([Accepted("1", "up", ("p1", "p2"), T0 + 6)]) == []
    [done] = await store.apply_receipts([_part("1", "p2")])
    assert done.status is MessageStatus.DELIVERED


async def test_a_receipt_kept_after_its_id_was_recorded_is_applied_at_once(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    """Its look-up found nothing, then the submit was recorded, then it is kept: the keeping
    write sees the id and applies it rather than waiting for a record that has already come."""
    await open_account(store, balance_micros=0)
    await store.insert_messages([make_message(1, price_micros=40)])
    await store.mark_submitted([Accepted("1", "up", ("99",), T0 + 1)])
    failed = MessageStatus.FAILED

    [changed] = await store.keep_pending_receipts(
        [_pending("0x99", "99", status=failed, code="INVALID_NUM", refund=True)]
    )

    assert (changed.id, changed.status, changed.error_code) == ("1", failed, "INVALID_NUM")
    account = await store.get_account("acc-1")
    assert account is not None
    assert account.balance_micros == 40  # the refund the receipt carried
    assert await store.prune_pending_receipts(T0 + DAY) == 0


async def test_a_kept_receipt_refunds_when_it_says_so(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, balance_micros=0)
    await store.insert_messages([make_message(1, price_micros=25)])
    failed = MessageStatus.FAILED
    await store.keep_pending_receipts([_pending("5", status=failed, code="X", refund=True)])

    [changed] = await store.mark_submitted([Accepted("1", "up", ("5",), T0 + 6)])

    assert changed.status is failed
    account = await store.get_account("acc-1")
    assert account is not None
    assert account.balance_micros == 25


async def test_old_kept_receipts_are_pruned(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(1), make_message(2)])
    await store.keep_pending_receipts(
        [
            _pending("10", "a", "16", received_at=T0),
            _pending("20", received_at=T0 + 1),
            _pending("30", received_at=T0 + 2),
        ]
    )

    assert await store.prune_pending_receipts(T0 + 2) == 2
    assert await store.prune_pending_receipts(T0 + 2) == 0
    assert await store.mark_submitted([Accepted("1", "up", ("a",), T0 + 6)]) == []
    [kept] = await store.mark_submitted([Accepted("2", "up", ("30",), T0 + 6)])
    assert kept.id == "2"


async def test_a_newer_receipt_for_the_same_key_replaces_the_older(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(1)])
    failed = MessageStatus.FAILED
    await store.keep_pending_receipts([_pending("7", status=failed, code="SYSTEM_ERR")])
    await store.keep_pending_receipts([_pending("7", received_at=T0 + 8)])

    [changed] = await store.mark_submitted([Accepted("1", "up", ("7",), T0 + 9)])

    assert changed.status is MessageStatus.DELIVERED


async def test_keep_pending_receipts_refuses_a_receipt_without_keys(store: Store) -> None:
    with pytest.raises(ValueError, match="key"):
        await store.keep_pending_receipts([replace(_pending("1"), keys=())])


# -- expiry -----------------------------------------------------------------------------------


async def test_submitted_messages_past_their_validity_are_found_oldest_first(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    created = T0
    await store.insert_messages(
        [
            make_message(1, created_at=created, validity_period=3600),  # expires T0 + 1 h
            make_message(2, created_at=created, validity_period=600),  # T0 + 10 min
            make_message(3, created_at=created),  # T0 + the default (2 h here)
            make_message(4, created_at=created + 60),  # T0 + 2 h + 1 min
            make_message(5, created_at=created, validity_period=60),  # never submitted
            make_message(6, created_at=created, validity_period=60),  # delivered
        ]
    )
    await store.mark_submitted([Accepted(str(i), "up", (f"c{i}",), T0) for i in (1, 2, 3, 4, 6)])
    await store.apply_receipts([Receipt("6", MessageStatus.DELIVERED, "success", T0 + 30)])
    two_hours = 7200.0

    assert await store.submitted_past_expiry(T0 + 599, two_hours, 10) == []
    assert await store.submitted_past_expiry(T0 + 600, two_hours, 10) == ["2"]
    assert await store.submitted_past_expiry(T0 + 3 * 3600, two_hours, 10) == ["2", "1", "3", "4"]
    assert await store.submitted_past_expiry(T0 + 3 * 3600, two_hours, 3) == ["2", "1", "3"]
    assert await store.submitted_past_expiry(T0 + 3 * 3600, two_hours, 0) == []
    assert await store.submitted_past_expiry(T0 + 7200, two_hours, 10) == ["2", "1", "3"]


async def test_a_message_whose_id_ran_ahead_of_its_time_still_expires(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    """A generator that ran ahead gives a message an id later than its created_at: the sweep
    still finds it by created_at."""
    await open_account(store)
    ahead = int(first_id_at(int((T0 + 600) * 1000)))
    await store.insert_messages([make_message(ahead, created_at=T0)])
    await store.mark_submitted([Accepted(str(ahead), "up", ("x",), T0)])

    assert await store.submitted_past_expiry(T0 + 3600, 3600, 10) == [str(ahead)]


# -- receipts a drained connector still owes --------------------------------------------------


async def test_messages_awaiting_their_receipt_are_counted_by_connector_and_send_date(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    """Only SUBMITTED messages handed over through that connector by then: not those of
    another connector, not those handed over later (a successor sharing the name), not
    those not yet handed over, not final ones."""
    await open_account(store)
    await store.insert_messages([make_message(i) for i in range(1, 7)])
    await store.mark_submitted(
        [
            Accepted("1", "up", ("c1",), T0),
            Accepted("2", "up", ("c2",), T0 + 10),
            Accepted("3", "up", ("c3",), T0 + 20),  # after the bound asked below
            Accepted("4", "other", ("c4",), T0),
            Accepted("5", "up", ("c5",), T0),  # delivered
        ]
    )  # 6: never handed over
    await store.apply_receipts([Receipt("5", MessageStatus.DELIVERED, "success", T0 + 5)])

    assert await store.count_awaiting_receipt("up", T0 + 10) == 2
    assert await store.count_awaiting_receipt("up", T0 + 20) == 3
    assert await store.count_awaiting_receipt("up", T0 - 1) == 0
    assert await store.count_awaiting_receipt("other", T0 + 20) == 1
    assert await store.count_awaiting_receipt("gone", T0 + 20) == 0

    await store.apply_receipts([Receipt("1", MessageStatus.FAILED, "x", T0 + 30)])
    assert await store.count_awaiting_receipt("up", T0 + 10) == 1


# -- SQLite only ------------------------------------------------------------------------------


async def test_sqlite_parts_received_survive_a_restart(
    db_path: Path, secret_box: SecretBox, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    store = SqliteStore(db_path, secret_box)
    await store.start()
    try:
        await open_account(store)
        await _submitted(store, make_message, 1, "p1", "p2")
        await store.apply_receipts([_part("1", "p1")])
        await store.keep_pending_receipts([_pending("q1")])
    finally:
        await store.close()

    reopened = SqliteStore(db_path, secret_box)
    await reopened.start()
    try:
        [done] = await reopened.apply_receipts([_part("1", "p2")])
        assert done.status is MessageStatus.DELIVERED
        await reopened.insert_messages([make_message(2)])
        [kept] = await reopened.mark_submitted([Accepted("2", "up", ("q1",), T0 + 6)])
        assert kept.id == "2"
    finally:
        await reopened.close()


async def test_sqlite_migration_10_keys_recorded_ids_by_their_carrier_key(
    db_path: Path, secret_box: SecretBox, make_message: MakeMessage
) -> None:
    with closing(sqlite3.connect(db_path)) as conn:
        for statements in MIGRATIONS[:9]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 9")
        columns = sqlite_module._MESSAGE_COLUMNS.removesuffix(", carrier_status")
        row = sqlite_module._message_row(
            make_message(1, connector="up", carrier_ids=("00AB", "Cd"))
        )[:-1]
        conn.execute(f"INSERT INTO messages ({columns}) VALUES ({', '.join('?' * 32)})", row)
        conn.executemany(
            "INSERT INTO message_carrier_ids VALUES ('up', ?, 1)", [("00AB",), ("Cd",)]
        )
        conn.commit()

    store = SqliteStore(db_path, secret_box)
    await store.start()
    try:
        for carrier_id in ("ab", "00AB", "cd"):
            found = await store.find_by_carrier_id("up", carrier_id)
            assert found is not None
            assert (found.id, found.carrier_ids) == ("1", ("00AB", "Cd"))
    finally:
        await store.close()


async def test_sqlite_the_expiry_sweep_reads_only_due_messages(
    sqlite_store: SqliteStore,
) -> None:
    """Both queries walk a partial index in the order they read: SUBMITTED messages with a
    validity of their own in expiry order, unfinished ones in id order up to a bound."""
    with closing(sqlite3.connect(sqlite_store._path)) as conn:
        for sql, params, index in (
            (sqlite_module._SELECT_EXPIRED_OWN, (T0, 10), "messages_expiry_own"),
            (sqlite_module._SELECT_EXPIRED_DEFAULT, (99, T0, 10), "messages_unfinished"),
        ):
            plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, plan
            assert "TEMP B-TREE" not in plan, plan


async def test_sqlite_the_count_of_receipts_owed_reads_only_that_connectors_entries(
    sqlite_store: SqliteStore,
) -> None:
    """A range of the partial index of SUBMITTED messages, not a walk of the backlog."""
    with closing(sqlite3.connect(sqlite_store._path)) as conn:
        sql = f"EXPLAIN QUERY PLAN {sqlite_module._COUNT_AWAITING_RECEIPT}"
        plan = " ".join(row[-1] for row in conn.execute(sql, ("up", T0)))
    assert "INDEX messages_awaiting_receipt (connector=? AND send_date<?)" in plan, plan
