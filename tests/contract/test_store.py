"""The store contract: every adapter of ``smsgate.ports.store.Store`` must pass this suite.

The ``store`` fixture is parametrised over the memory fake, SQLite and PostgreSQL, so the core's
unit tests (which use the fake) mean the same thing in production. SQLite-only properties
(encryption at rest, durability across reopening, group-commit failure isolation) are at the
bottom; PostgreSQL's own are in ``test_store_postgres.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage import sqlite as sqlite_module
from smsgate.adapters.storage.sqlite import MIGRATIONS, SqliteStore
from smsgate.domain.ids import MessageIdGenerator
from smsgate.domain.models import (
    Accepted,
    AccessKey,
    Account,
    AccountState,
    Message,
    MessageStatus,
    Receipt,
    ReviewStatus,
    SignName,
    Template,
    TemplateStatus,
)
from smsgate.domain.pricing import MAX_AMOUNT_MICROS
from smsgate.ports.replay import StoredNonce
from smsgate.ports.store import CallbackRetry, Store, StoreError

MakeAccount = Callable[..., Account]
MakeKey = Callable[..., AccessKey]
MakeMessage = Callable[..., Message]
MakeTemplate = Callable[..., Template]
OpenAccount = Callable[..., Awaitable[None]]
StoreFactory = Callable[[], Store]


T0 = 1_700_000_000.0


def _delivered(message_id: str, done_at: float = T0 + 10) -> Receipt:
    return Receipt(message_id, MessageStatus.DELIVERED, "success", done_at)


# -- accounts and keys -------------------------------------------------------------------------


async def test_create_get_and_list_accounts(
    store: Store, make_account: MakeAccount, make_key: MakeKey
) -> None:
    await store.create_account(make_account("acc-2"), make_key("key-2", "acc-2"))
    await store.create_account(make_account("acc-1", balance_micros=5), make_key("key-1"))

    assert await store.get_account("acc-1") == make_account("acc-1", balance_micros=5)
    assert await store.get_account("nobody") is None
    assert [a.id for a in await store.list_accounts()] == ["acc-1", "acc-2"]


async def test_create_account_refuses_duplicates_and_foreign_keys(
    store: Store, make_account: MakeAccount, make_key: MakeKey, open_account: OpenAccount
) -> None:
    await open_account(store)
    with pytest.raises(StoreError):
        await store.create_account(make_account("acc-1"), make_key("other-key"))
    with pytest.raises(StoreError):  # the key id is taken: the account is not created either
        await store.create_account(make_account("acc-2"), make_key("key-acc-1", "acc-2"))
    assert await store.get_account("acc-2") is None
    with pytest.raises(ValueError, match="another account"):
        await store.create_account(make_account("acc-3"), make_key("key-3", "acc-1"))


async def test_account_state_and_callback_url(store: Store, open_account: OpenAccount) -> None:
    await open_account(store)

    assert await store.set_account_state("acc-1", AccountState.SUSPENDED)
    assert await store.set_callback_url("acc-1", "https://example.com/receipts")
    account = await store.get_account("acc-1")
    assert account is not None
    assert account.state is AccountState.SUSPENDED
    assert account.callback_url == "https://example.com/receipts"

    assert await store.set_callback_url("acc-1", None)
    account = await store.get_account("acc-1")
    assert account is not None
    assert account.callback_url is None
    assert not await store.set_account_state("nobody", AccountState.NORMAL)
    assert not await store.set_callback_url("nobody", None)


async def test_keys_crud_and_find_key(
    store: Store, make_key: MakeKey, open_account: OpenAccount
) -> None:
    await open_account(store)
    extra = make_key("key-b", allowed_actions=frozenset({"SendSms"}), secret="s3cr3t")
    await store.add_key(extra)

    assert [k.id for k in await store.list_keys("acc-1")] == ["key-acc-1", "key-b"]
    assert await store.list_keys("nobody") == []
    found = await store.find_key("key-b")
    assert found is not None
    key, account = found
    assert key == extra
    assert key.allows("SendSms")
    assert not key.allows("QuerySendDetails")
    assert account.id == "acc-1"

    assert await store.set_key_enabled("key-b", False)
    assert await store.set_key_actions("key-b", None)
    found = await store.find_key("key-b")
    assert found is not None
    assert not found[0].enabled
    assert found[0].allowed_actions is None
    assert await store.set_key_actions("key-b", frozenset({"SendSms", "QuerySendDetails"}))
    found = await store.find_key("key-b")
    assert found is not None
    assert found[0].allowed_actions == frozenset({"SendSms", "QuerySendDetails"})

    assert await store.delete_key("key-b")
    assert not await store.delete_key("key-b")
    assert await store.find_key("key-b") is None
    assert not await store.set_key_enabled("key-b", True)
    assert not await store.set_key_actions("key-b", None)


async def test_find_key_reports_states_as_they_are(store: Store, open_account: OpenAccount) -> None:
    await open_account(store)
    await store.set_key_enabled("key-acc-1", False)
    await store.set_account_state("acc-1", AccountState.CLOSED)

    found = await store.find_key("key-acc-1")

    assert found is not None
    assert not found[0].enabled
    assert found[1].state is AccountState.CLOSED


async def test_list_all_keys_gives_keys_with_their_accounts_in_id_order(
    store: Store, make_key: MakeKey, open_account: OpenAccount
) -> None:
    await open_account(store, "acc-1")
    await open_account(store, "acc-2", balance_micros=7)
    await store.add_key(make_key("key-0", "acc-2"))

    everything = await store.list_all_keys(10)

    assert [(key.id, account.id) for key, account in everything] == [
        ("key-0", "acc-2"),
        ("key-acc-1", "acc-1"),
        ("key-acc-2", "acc-2"),
    ]
    assert everything[0][0] == make_key("key-0", "acc-2")  # the secret is opened
    assert everything[0][1].balance_micros == 7
    assert [key.id for key, _ in await store.list_all_keys(2)] == ["key-0", "key-acc-1"]
    assert await store.list_all_keys(0) == []


async def test_add_key_needs_an_account_and_a_fresh_id(
    store: Store, make_key: MakeKey, open_account: OpenAccount
) -> None:
    await open_account(store)
    with pytest.raises(StoreError):
        await store.add_key(make_key("orphan", "nobody"))
    with pytest.raises(StoreError):
        await store.add_key(make_key("key-acc-1"))


# -- balance -----------------------------------------------------------------------------------


async def test_add_balance(store: Store, open_account: OpenAccount) -> None:
    await open_account(store, balance_micros=100)

    assert await store.add_balance("acc-1", 50) == 150
    assert await store.add_balance("acc-1", -150) == 0
    with pytest.raises(ValueError, match="insufficient balance"):
        await store.add_balance("acc-1", -1)
    assert await store.add_balance("nobody", 10) is None
    account = await store.get_account("acc-1")
    assert account is not None
    assert account.balance_micros == 0


async def test_balance_is_capped_far_below_the_integer_limit(
    store: Store, open_account: OpenAccount
) -> None:
    await open_account(store, balance_micros=MAX_AMOUNT_MICROS - 10)

    assert await store.add_balance("acc-1", 10) == MAX_AMOUNT_MICROS
    with pytest.raises(ValueError, match="the balance would exceed"):
        await store.add_balance("acc-1", MAX_AMOUNT_MICROS)  # no 64-bit overflow, a refusal
    account = await store.get_account("acc-1")
    assert account is not None
    assert account.balance_micros == MAX_AMOUNT_MICROS


async def test_balance_never_goes_below_zero_under_concurrent_debits(
    store: Store, open_account: OpenAccount
) -> None:
    await open_account(store, balance_micros=1000)

    results = await asyncio.gather(
        *(store.add_balance("acc-1", -7) for _ in range(200)), return_exceptions=True
    )

    balances = [r for r in results if isinstance(r, int)]
    refusals = [r for r in results if isinstance(r, ValueError)]
    assert len(balances) == 1000 // 7
    assert len(refusals) == 200 - 1000 // 7
    assert sorted(balances, reverse=True) == [1000 - 7 * n for n in range(1, 1000 // 7 + 1)]
    account = await store.get_account("acc-1")
    assert account is not None
    assert account.balance_micros == 1000 % 7


# -- messages ----------------------------------------------------------------------------------


async def test_insert_and_get_round_trips_every_field(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    message = make_message(
        9_223_372_036_854_775_807,  # the largest id: 2**63 - 1
        sender=None,
        body="Ünïcödé 验证码 🙂",
        encoding="UCS2",
        segments=2,
        status=MessageStatus.SUBMITTED,
        task_id="out-1",
        channel_id="ch-1",
        template_code=None,
        sms_up_extend_code="12",
        validity_period=300,
        door="smpp",
        error_code="success",
        send_date=T0 + 1.5,
        receive_date=T0 + 2.25,
        connector="upstream-1",
        carrier_ids=("c-77", "c-78"),  # one per part
        converted=False,
        conversion_time=T0 + 3.0,
        extra={"k": "v", "ü": "é"},
        registered_delivery=1,
        system_id="kannel-1",
        bind_id=2**62 + 7,
    )
    plain = make_message(1)
    await store.insert_messages([message, plain])

    assert await store.get_message("acc-1", message.id) == message
    assert await store.get_message("acc-1", "1") == plain


async def test_messages_are_isolated_between_accounts(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, "acc-1")
    await open_account(store, "acc-2")
    await store.insert_messages([make_message(1, "acc-1"), make_message(2, "acc-2")])

    assert await store.get_message("acc-2", "1") is None
    assert await store.get_message("acc-1", "2") is None
    assert not await store.record_conversion("acc-2", "1", True, T0)


@pytest.mark.parametrize("bad_id", ["", "abc", "-1", "1.5", " 1", "01", "٣", str(2**63), "9" * 40])
async def test_get_message_tolerates_any_id(
    store: Store, bad_id: str, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(1)])

    assert await store.get_message("acc-1", bad_id) is None


async def test_insert_refuses_ids_that_are_not_canonical_decimals(
    store: Store, make_message: MakeMessage
) -> None:
    with pytest.raises(ValueError, match="not a canonical decimal"):
        await store.insert_messages([make_message("007")])


async def test_insert_is_all_or_nothing_and_refuses_duplicates(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(1)])

    with pytest.raises(StoreError):
        await store.insert_messages([make_message(2), make_message(1)])
    with pytest.raises(StoreError):
        await store.insert_messages([make_message(3), make_message(3)])

    assert await store.get_message("acc-1", "2") is None
    assert await store.get_message("acc-1", "3") is None


async def test_a_failing_insert_does_not_fail_concurrent_ones(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(1)])

    results = await asyncio.gather(
        *(store.insert_messages([make_message(i)]) for i in range(10, 20)),
        store.insert_messages([make_message(1)]),
        *(store.insert_messages([make_message(i)]) for i in range(20, 30)),
        return_exceptions=True,
    )

    assert isinstance(results[10], StoreError)
    assert results[:10] + results[11:] == [None] * 20
    for i in range(10, 30):
        assert await store.get_message("acc-1", str(i)) is not None


async def test_returned_messages_are_copies(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(1)])

    got = await store.get_message("acc-1", "1")
    assert got is not None
    got.status = MessageStatus.FAILED
    got.extra["x"] = "y"

    assert await store.get_message("acc-1", "1") == make_message(1)


async def test_mark_submitted(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(1), make_message(2)])
    await store.apply_receipts([_delivered("2")])

    await store.mark_submitted(
        [
            Accepted("1", "up", ("carrier-1a", "carrier-1b"), T0 + 1),
            Accepted("2", "up", ("carrier-2",), T0 + 1),  # already final: left alone
            Accepted("404", "up", ("carrier-x",), T0 + 1),
            Accepted("not-an-id", "up", ("carrier-y",), T0 + 1),
        ]
    )
    await store.mark_submitted([Accepted("1", "up", (), T0 + 2)])  # resubmitted, no carrier id

    first = await store.get_message("acc-1", "1")
    assert first is not None
    assert (first.status, first.send_date, first.connector, first.carrier_ids) == (
        MessageStatus.SUBMITTED,
        T0 + 2,
        "up",
        ("carrier-1a", "carrier-1b"),
    )
    second = await store.get_message("acc-1", "2")
    assert second is not None
    assert (second.status, second.connector, second.carrier_ids) == (
        MessageStatus.DELIVERED,
        None,
        (),
    )


async def test_apply_receipts_is_idempotent(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(1), make_message(2), make_message(3)])
    await store.mark_submitted([Accepted("1", "up", ("c-1",), T0 + 1)])
    receipts = [
        _delivered("1", T0 + 10),
        Receipt("2", MessageStatus.FAILED, "INVALID_NUM", T0 + 11, send_date=T0 + 5),
        Receipt("2", MessageStatus.DELIVERED, "success", T0 + 12),  # the first one wins
        _delivered("404"),
        _delivered("junk"),
    ]

    changed = await store.apply_receipts(receipts)

    assert [(m.id, m.status, m.error_code) for m in changed] == [
        ("1", MessageStatus.DELIVERED, "success"),
        ("2", MessageStatus.FAILED, "INVALID_NUM"),
    ]
    assert changed[0].send_date == T0 + 1  # kept from mark_submitted
    assert changed[0].receive_date == T0 + 10
    assert changed[1].send_date == T0 + 5
    assert changed == [await store.get_message("acc-1", "1"), await store.get_message("acc-1", "2")]
    assert await store.apply_receipts(receipts) == []
    assert await store.apply_receipts([]) == []
    third = await store.get_message("acc-1", "3")
    assert third is not None
    assert third.status is MessageStatus.ACCEPTED


async def test_a_receipt_records_who_took_the_message_if_it_says(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    """A carrier that does not record the hand-over (the simulator) reports it in the receipt."""
    await open_account(store)
    await store.insert_messages([make_message(1), make_message(2)])
    await store.mark_submitted([Accepted("2", "up", ("c-2",), T0 + 1)])

    changed = await store.apply_receipts(
        [
            Receipt(
                "1",
                MessageStatus.DELIVERED,
                "success",
                T0 + 5,
                send_date=T0 + 1,
                connector="simulator",
                carrier_ids=("sim-1-1", "sim-1-2"),
            ),
            _delivered("2"),  # says nothing of its carrier: what mark_submitted recorded stays
        ]
    )

    assert [(m.id, m.connector, m.carrier_ids) for m in changed] == [
        ("1", "simulator", ("sim-1-1", "sim-1-2")),
        ("2", "up", ("c-2",)),
    ]
    assert changed == [await store.get_message("acc-1", "1"), await store.get_message("acc-1", "2")]


async def test_find_by_carrier_id_finds_a_message_by_any_part(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(1), make_message(2)])
    await store.mark_submitted(
        [
            Accepted("1", "up", ("u-1a", "u-1b", "u-1c"), T0 + 1),
            Accepted("2", "up", ("u-2",), T0 + 1),
        ]
    )

    for part in ("u-1a", "u-1b", "u-1c"):
        assert await store.find_by_carrier_id("up", part) == await store.get_message("acc-1", "1")
    found = await store.find_by_carrier_id("up", "u-2")
    assert found is not None
    assert (found.id, found.status, found.carrier_ids) == ("2", MessageStatus.SUBMITTED, ("u-2",))
    assert await store.find_by_carrier_id("up", "u-3") is None
    assert await store.find_by_carrier_id("other", "u-2") is None  # ids are per connector
    assert await store.find_by_carrier_id("up", "") is None


async def test_find_by_carrier_id_follows_a_receipt_and_stays_once_final(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    """A carrier that does not record hand-overs reports its ids in the receipt; a message once
    final is still found (a late receipt, a query), and a later hand-over leaves it alone."""
    await open_account(store)
    await store.insert_messages([make_message(1), make_message(2)])
    receipt = Receipt(
        "1", MessageStatus.DELIVERED, "success", T0 + 5, connector="sim", carrier_ids=("s-1",)
    )
    await store.apply_receipts([receipt, _delivered("2")])
    await store.mark_submitted([Accepted("2", "sim", ("s-2",), T0 + 6)])  # already final

    found = await store.find_by_carrier_id("sim", "s-1")
    assert found is not None
    assert (found.id, found.status, found.connector) == ("1", MessageStatus.DELIVERED, "sim")
    assert await store.find_by_carrier_id("sim", "s-2") is None


async def test_carrier_ids_of_any_text_are_kept_and_found(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(1)])
    odd = ('say "hi"', "back\\slash", "new\nline", "ünï 验证", "", "a,b", '","')
    await store.mark_submitted([Accepted("1", "up", odd, T0 + 1)])

    message = await store.get_message("acc-1", "1")
    assert message is not None
    assert message.carrier_ids == odd
    for carrier_id in odd:
        assert await store.find_by_carrier_id("up", carrier_id) == message


async def test_a_carrier_id_used_again_finds_the_newer_message(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(1), make_message(2)])
    await store.mark_submitted([Accepted("1", "up", ("42",), T0 + 1)])
    await store.mark_submitted([Accepted("2", "up", ("42",), T0 + 2)])  # the carrier wrapped

    found = await store.find_by_carrier_id("up", "42")
    assert found is not None
    assert found.id == "2"
    found.body = "changed"  # a copy: the store's record is not touched
    assert await store.find_by_carrier_id("up", "42") == await store.get_message("acc-1", "2")


async def test_apply_receipts_refuses_a_status_that_is_not_final(store: Store) -> None:
    with pytest.raises(ValueError, match="final status"):
        await store.apply_receipts([Receipt("1", MessageStatus.SUBMITTED, "success", T0)])


async def test_unfinished_messages_pages_in_numeric_id_order(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    ids = [1, 2, 9, 10, 11, 99, 100, 1000, 2**62, 2**63 - 1]
    await store.insert_messages([make_message(i) for i in reversed(ids)])
    await store.mark_submitted([Accepted("10", "up", ("c",), T0)])
    await store.apply_receipts([_delivered("9"), _delivered("100")])
    expected = [str(i) for i in ids if i not in (9, 100)]

    seen: list[str] = []
    after: str | None = None
    while page := await store.unfinished_messages(after, 3):
        assert len(page) <= 3
        assert all(not m.is_final for m in page)
        seen.extend(m.id for m in page)
        after = page[-1].id

    assert seen == expected
    assert await store.unfinished_messages(None, 0) == []
    with pytest.raises(ValueError, match="not a message id"):
        await store.unfinished_messages("abc", 3)


async def test_record_conversion(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(1)])

    assert await store.record_conversion("acc-1", "1", True, T0 + 60)
    assert not await store.record_conversion("acc-1", "2", True, T0)
    assert not await store.record_conversion("acc-1", "x", True, T0)
    message = await store.get_message("acc-1", "1")
    assert message is not None
    assert (message.converted, message.conversion_time) == (True, T0 + 60)
    await store.add_conversion_data("acc-1", 0.25, T0)


# -- SMPP receipts and cancel_sm ------------------------------------------------------------


async def test_receipts_queue_smpp_receipts_as_registered_delivery_asks(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, "acc-1")
    await open_account(store, "acc-2")
    await store.insert_messages(
        [
            make_message(1, registered_delivery=1),
            make_message(2, registered_delivery=0),
            make_message(3, registered_delivery=2),  # failures only: it is delivered
            make_message(4, registered_delivery=2),  # failures only: it fails
            make_message(5, "acc-2", registered_delivery=1),
            make_message(6, registered_delivery=0x11),  # other bits do not matter
        ]
    )
    failed = Receipt("4", MessageStatus.FAILED, "INVALID_NUM", T0 + 11)
    await store.apply_receipts([_delivered(str(i)) for i in (1, 2, 3, 5, 6)] + [failed])
    await store.apply_receipts([_delivered("1")])  # a repeat queues nothing more

    owed = await store.pending_smpp_receipts("acc-1", None, 10)
    assert [(m.id, m.status, m.registered_delivery) for m in owed] == [
        ("1", MessageStatus.DELIVERED, 1),
        ("4", MessageStatus.FAILED, 2),
        ("6", MessageStatus.DELIVERED, 0x11),
    ]
    assert [m.id for m in await store.pending_smpp_receipts("acc-2", None, 10)] == ["5"]
    assert [m.id for m in await store.pending_smpp_receipts("acc-1", "1", 1)] == ["4"]
    assert await store.pending_smpp_receipts("acc-1", None, 0) == []

    await store.finish_smpp_receipts("acc-2", ["1"])  # another account's: nothing happens
    await store.finish_smpp_receipts("acc-1", ["1", "6", "junk"])
    assert [m.id for m in await store.pending_smpp_receipts("acc-1", None, 10)] == ["4"]
    with pytest.raises(ValueError, match="not a message id"):
        await store.pending_smpp_receipts("acc-1", "x", 3)


async def test_cancel_message_only_while_accepted_and_refunds_once(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, "acc-1", balance_micros=1000)
    await open_account(store, "acc-2")
    await store.accept_messages(
        [make_message(1, price_micros=300), make_message(2, price_micros=300)], 600
    )
    await store.mark_submitted([Accepted("2", "up", ("c-2",), T0 + 1)])

    assert await store.cancel_message("acc-2", "1", T0 + 5) is None  # not its message
    cancelled = await store.cancel_message("acc-1", "1", T0 + 5)
    assert cancelled is not None
    assert (cancelled.status, cancelled.receive_date) == (MessageStatus.CANCELLED, T0 + 5)
    assert await store.get_message("acc-1", "1") == cancelled
    assert await store.cancel_message("acc-1", "1", T0 + 6) is None  # already cancelled
    assert await store.cancel_message("acc-1", "2", T0 + 6) is None  # with the carrier
    assert await store.cancel_message("acc-1", "404", T0 + 6) is None
    assert await store.cancel_message("acc-1", "junk", T0 + 6) is None
    account = await store.get_account("acc-1")
    assert account is not None
    assert account.balance_micros == 700  # 1000 - 600 + 300 back for the cancelled one
    assert await store.apply_receipts([_delivered("1")]) == []  # final: a late receipt is ignored
    assert [m.id for m in await store.unfinished_messages(None, 10)] == ["2"]


# -- callbacks ---------------------------------------------------------------------------------


async def test_receipts_queue_callbacks_only_for_accounts_with_a_url(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, "with-url", callback_url="https://a.example/receipts")
    await open_account(store, "no-url")
    await store.insert_messages(
        [make_message(1, "with-url"), make_message(2, "no-url"), make_message(3, "with-url")]
    )
    assert await store.next_callback_due() is None

    await store.apply_receipts([_delivered("1", T0 + 10), _delivered("2"), _delivered("3", T0 + 9)])
    await store.apply_receipts([_delivered("1", T0 + 10)])  # a repeat queues nothing
    await store.set_callback_url("with-url", "https://changed.example")  # URL was snapshotted

    jobs = await store.due_callbacks(T0 + 100, 10)
    assert [(j.message.id, j.account_id, j.url, j.attempts) for j in jobs] == [
        ("3", "with-url", "https://a.example/receipts", 0),
        ("1", "with-url", "https://a.example/receipts", 0),
    ]
    assert jobs[0].message.status is MessageStatus.DELIVERED
    assert jobs[0].message.receive_date == T0 + 9
    assert await store.next_callback_due() == T0 + 9
    assert await store.due_callbacks(T0 + 9.5, 10) == jobs[:1]
    assert await store.due_callbacks(T0 + 100, 1) == jobs[:1]
    assert await store.due_callbacks(T0 + 100, 0) == []


async def test_retry_finish_and_dead_callbacks(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, callback_url="https://a.example/receipts")
    await store.insert_messages([make_message(i) for i in (1, 2, 3)])
    await store.apply_receipts([_delivered(str(i), T0 + i) for i in (1, 2, 3)])
    first, second, third = await store.due_callbacks(T0 + 10, 10)

    await store.retry_callbacks(
        [
            CallbackRetry(first.id, 1, T0 + 100, "HTTP 500", dead=False),
            CallbackRetry(second.id, 5, T0 + 50, "gave up: timeout", dead=True),
        ]
    )

    assert await store.due_callbacks(T0 + 10, 10) == [third]
    assert await store.next_callback_due() == T0 + 3
    await store.finish_callbacks([third.id])
    assert await store.next_callback_due() == T0 + 100  # the dead one is never due
    retried = await store.due_callbacks(T0 + 100, 10)
    assert [(j.id, j.attempts) for j in retried] == [(first.id, 1)]
    await store.finish_callbacks([first.id, 12345])
    assert await store.due_callbacks(T0 + 1_000_000, 10) == []
    assert await store.next_callback_due() is None


# -- templates ---------------------------------------------------------------------------------


async def test_templates_crud(
    store: Store, make_template: MakeTemplate, open_account: OpenAccount
) -> None:
    await open_account(store, "acc-1")
    await open_account(store, "acc-2")
    await store.put_template(make_template("SMS_2"))
    await store.put_template(make_template("SMS_1"))
    await store.put_template(make_template("SMS_1", "acc-2"))
    replaced = make_template("SMS_2", content="Changed ${code}", status=TemplateStatus.REJECTED)
    await store.put_template(replaced)

    assert await store.get_template("acc-1", "SMS_2") == replaced
    assert await store.get_template("acc-1", "SMS_404") is None
    assert [t.code for t in await store.list_templates("acc-1")] == ["SMS_1", "SMS_2"]
    assert [t.account_id for t in await store.list_templates("acc-2")] == ["acc-2"]
    assert await store.delete_template("acc-1", "SMS_1")
    assert not await store.delete_template("acc-1", "SMS_1")
    assert await store.get_template("acc-2", "SMS_1") is not None
    with pytest.raises(StoreError):
        await store.put_template(make_template("SMS_9", "nobody"))


# -- record queries and quota counts -----------------------------------------------------------


def _made_at(
    make_message: MakeMessage,
    ids: MessageIdGenerator,
    at: float,
    account_id: str = "acc-1",
    **changes: object,
) -> Message:
    """A message as the submit service makes it: its id counted at its creation millisecond."""
    return make_message(ids.next_id(int(at * 1000)), account_id, created_at=at, **changes)


async def test_query_messages_pages_an_accounts_window_newest_first(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, "acc-1")
    await open_account(store, "acc-2")
    ids = MessageIdGenerator(3)
    at = [T0 - 0.001, T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4.5, T0 + 10]
    mine = [_made_at(make_message, ids, t) for t in at]
    mine[4] = replace(mine[4], to="8613911112222")
    theirs = _made_at(make_message, MessageIdGenerator(4), T0 + 5, "acc-2")
    await store.insert_messages([*mine, theirs])
    inside = mine[5:0:-1]  # [T0, T0 + 10), newest first

    async def query(**kwargs: Any) -> tuple[int, list[str]]:
        total, page = await store.query_messages("acc-1", since=T0, until=T0 + 10, **kwargs)
        return total, [m.id for m in page]

    assert await store.query_messages("acc-1", since=T0, until=T0 + 10) == (5, inside)
    assert await query(limit=2) == (5, [m.id for m in inside[:2]])
    assert await query(limit=2, offset=2) == (5, [m.id for m in inside[2:4]])
    assert await query(limit=2, offset=4) == (5, [inside[4].id])
    assert await query(offset=5) == (5, [])
    assert await query(limit=0) == (5, [])
    assert await query(to="8613911112222") == (1, [mine[4].id])
    assert await query(to="8613900000000") == (0, [])
    assert await store.query_messages("acc-2", since=T0, until=T0 + 10) == (1, [theirs])
    assert await store.query_messages("nobody", since=T0, until=T0 + 10) == (0, [])
    assert await store.query_messages("acc-1", since=T0 + 10, until=T0) == (0, [])
    last = await store.query_messages("acc-1", since=T0 + 10, until=T0 + 10.001)
    assert last == (1, [mine[6]])
    with pytest.raises(ValueError, match="offset"):
        await store.query_messages("acc-1", since=T0, until=T0 + 10, offset=-1)


async def test_query_messages_places_a_message_at_its_ids_millisecond(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    """When the id generator ran ahead of the clock (a burst, a clock stepped back), the id's
    time counts: the message is in exactly one of two adjacent windows, as quotas count it."""
    await open_account(store)
    ahead = make_message(
        MessageIdGenerator(1).next_id(int((T0 + 10.002) * 1000)), created_at=T0 + 9.9995
    )
    await store.insert_messages([ahead])

    assert await store.query_messages("acc-1", since=T0, until=T0 + 10) == (0, [])
    assert await store.query_messages("acc-1", since=T0 + 10, until=T0 + 20) == (1, [ahead])


async def test_query_messages_takes_windows_of_any_size(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    await store.insert_messages([make_message(2**63 - 1), make_message(1)])

    total, page = await store.query_messages("acc-1", since=0.0, until=1e12, limit=1)

    assert (total, [m.id for m in page]) == (2, [str(2**63 - 1)])
    assert await store.query_messages("acc-1", since=-1e9, until=0.0) == (0, [])
    assert await store.query_messages("acc-1", since=1e12, until=2e12) == (0, [])


async def test_count_messages_since_counts_per_account_from_an_id_on(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    for account_id in ("acc-1", "acc-2", "acc-3", "idle"):
        await open_account(store, account_id)
    owners = {1: "acc-1", 2: "acc-1", 3: "acc-2", 4: "acc-1", 5: "acc-2", 6: "acc-1", 7: "acc-3"}
    await store.insert_messages([make_message(i, a) for i, a in owners.items()])

    assert await store.count_messages_since("4") == {"acc-1": 2, "acc-2": 1, "acc-3": 1}
    assert await store.count_messages_since("1") == {"acc-1": 4, "acc-2": 2, "acc-3": 1}
    assert await store.count_messages_since("7") == {"acc-3": 1}
    assert await store.count_messages_since("8") == {}
    with pytest.raises(ValueError, match="not a message id"):
        await store.count_messages_since("tomorrow")


# -- policy: documents and sign names ----------------------------------------------------------


async def test_documents_are_versioned_on_every_write(store: Store) -> None:
    assert await store.get_document("prices") is None
    assert await store.document_versions() == {}

    assert await store.put_document("prices", '{"CN": 0.05}') == 1
    assert await store.put_document("prices", '{"CN": 0.06}') == 2
    assert await store.put_document("limits", "{}") == 1
    assert await store.put_document("limits", "{}") == 2  # an unchanged body is a write too

    assert await store.get_document("prices") == (2, '{"CN": 0.06}')
    assert await store.document_versions() == {"prices": 2, "limits": 2}
    with pytest.raises(ValueError, match="not JSON"):
        await store.put_document("prices", "{not json")
    assert await store.get_document("prices") == (2, '{"CN": 0.06}')


async def test_concurrent_document_writes_each_get_their_own_version(store: Store) -> None:
    versions = await asyncio.gather(
        *(store.put_document("keywords", f'{{"n": {i}}}') for i in range(20))
    )

    assert sorted(versions) == list(range(1, 21))
    document = await store.get_document("keywords")
    assert document is not None
    assert document[0] == 20
    assert document[1] == f'{{"n": {versions.index(20)}}}'


async def test_sign_names_crud(store: Store, open_account: OpenAccount) -> None:
    await open_account(store, "acc-1")
    await open_account(store, "acc-2")
    pending = SignName("acc-1", "Acme", ReviewStatus.PENDING, T0)
    await store.put_sign_name(pending)
    await store.put_sign_name(SignName("acc-1", "Acme Pay", ReviewStatus.APPROVED, T0 + 1))
    await store.put_sign_name(SignName("acc-2", "Acme", ReviewStatus.REJECTED, T0 + 2))
    approved = replace(pending, status=ReviewStatus.APPROVED)
    await store.put_sign_name(approved)

    assert await store.get_sign_name("acc-1", "Acme") == approved
    assert await store.get_sign_name("acc-1", "Nobody") is None
    assert [s.name for s in await store.list_sign_names("acc-1")] == ["Acme", "Acme Pay"]
    assert await store.list_sign_names("nobody") == []
    assert await store.delete_sign_name("acc-1", "Acme")
    assert not await store.delete_sign_name("acc-1", "Acme")
    assert await store.get_sign_name("acc-1", "Acme") is None
    other = await store.get_sign_name("acc-2", "Acme")
    assert other is not None
    assert other.status is ReviewStatus.REJECTED
    with pytest.raises(StoreError):
        await store.put_sign_name(SignName("nobody", "Acme", ReviewStatus.PENDING, T0))


# -- replay nonces -----------------------------------------------------------------------------


async def test_nonces_are_kept_until_they_expire(store: Store) -> None:
    kept = [
        StoredNonce("key-b", "n3", T0 + 30),
        StoredNonce("key-a", "n2", T0 + 20),
        StoredNonce("key-b", "n1", T0 + 20),
        StoredNonce("key-a", "n1", T0 + 10),
    ]
    for nonce in kept:
        await store.remember_nonce(nonce.access_key_id, nonce.nonce, nonce.expires_at)
    await store.remember_nonce("key-a", "n1", T0 + 10)  # the same pair again: kept once

    in_order = sorted(kept, key=lambda n: (n.expires_at, n.access_key_id, n.nonce))
    assert await store.live_nonces(T0, None, 10) == in_order
    assert await store.live_nonces(T0 + 10, None, 10) == in_order[1:]  # expired at T0 + 10
    first = await store.live_nonces(T0, None, 2)
    assert first == in_order[:2]
    assert await store.live_nonces(T0, first[-1], 2) == in_order[2:]
    assert await store.live_nonces(T0, in_order[-1], 2) == []
    assert await store.live_nonces(T0, None, 0) == []

    assert await store.prune_nonces(T0 + 20) == 3
    assert await store.prune_nonces(T0 + 20) == 0
    assert await store.live_nonces(0.0, None, 10) == [StoredNonce("key-b", "n3", T0 + 30)]


# -- life cycle --------------------------------------------------------------------------------


async def test_a_closed_store_refuses_work(
    store_factory: StoreFactory, make_message: MakeMessage
) -> None:
    store = store_factory()
    with pytest.raises(StoreError):
        await store.insert_messages([make_message(1)])
    await store.start()
    await store.close()
    await store.close()  # closing twice is harmless
    with pytest.raises(StoreError):
        await store.add_balance("acc-1", 1)
    with pytest.raises(StoreError):
        await store.get_account("acc-1")


# -- SQLite only -------------------------------------------------------------------------------


async def test_sqlite_keeps_secrets_encrypted(
    db_path: Path, secret_box: SecretBox, make_account: MakeAccount, make_key: MakeKey
) -> None:
    secret = "Plain-Secret-7f3a9c"
    store = SqliteStore(db_path, secret_box)
    await store.start()
    await store.create_account(make_account(), make_key("key-1", secret=secret))
    await store.add_key(make_key("key-2", secret=secret + "-2"))
    assert _files_contain(db_path, b"key-1")  # the check can see what is stored
    assert not _files_contain(db_path, secret.encode())
    await store.close()

    assert not _files_contain(db_path, secret.encode())
    reopened = SqliteStore(db_path, secret_box)
    await reopened.start()
    found = await reopened.find_key("key-1")
    await reopened.close()
    assert found is not None
    assert found[0].secret == secret


def _files_contain(db_path: Path, needle: bytes) -> bool:
    """Look through the database and its WAL (committed data may not be checkpointed yet)."""
    files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
    return any(needle in p.read_bytes() for p in files)


async def test_sqlite_data_survives_reopening(
    db_path: Path,
    secret_box: SecretBox,
    make_message: MakeMessage,
    make_template: MakeTemplate,
    open_account: OpenAccount,
) -> None:
    store = SqliteStore(db_path, secret_box, durability="normal")
    await store.start()
    await open_account(store, callback_url="https://a.example/cb", balance_micros=10)
    await store.put_template(make_template())
    await store.insert_messages([make_message(1), make_message(2, price_micros=7)])
    await store.apply_receipts([replace(_delivered("1"), connector="sim", carrier_ids=("s-1",))])
    await store.put_document("prices", "[]")
    await store.put_sign_name(SignName("acc-1", "Acme", ReviewStatus.APPROVED, T0))
    await store.close()

    reopened = SqliteStore(db_path, secret_box)
    await reopened.start()
    try:
        account = await reopened.get_account("acc-1")
        assert account is not None
        assert account.balance_micros == 10
        assert await reopened.get_template("acc-1", "SMS_100001") == make_template()
        assert await reopened.get_message("acc-1", "2") == make_message(2, price_micros=7)
        assert [m.id for m in await reopened.unfinished_messages(None, 10)] == ["2"]
        assert [j.message.id for j in await reopened.due_callbacks(T0 + 100, 10)] == ["1"]
        found = await reopened.find_by_carrier_id("sim", "s-1")
        assert found is not None
        assert found.id == "1"
        assert await reopened.put_document("prices", "[1]") == 2
        assert [s.name for s in await reopened.list_sign_names("acc-1")] == ["Acme"]
    finally:
        await reopened.close()
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


async def test_sqlite_migrates_a_database_of_schema_2(
    db_path: Path, secret_box: SecretBox, make_message: MakeMessage
) -> None:
    with closing(sqlite3.connect(db_path)) as conn:
        for statements in MIGRATIONS[:2]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 2")
        columns = (  # the messages table of schema 2, whatever later migrations renamed
            "id, account_id, to_number, sender, body, encoding, segments, country, region_code, "
            "region, carrier, msg_type, created_at, status, task_id, channel_id, template_code, "
            "sms_up_extend_code, validity_period, door, error_code, send_date, receive_date, "
            "carrier_message_id, converted, conversion_time, extra"
        )
        row = sqlite_module._message_row(make_message(1))[:27]
        conn.execute(f"INSERT INTO messages ({columns}) VALUES ({', '.join('?' * 27)})", row)
        conn.commit()

    store = SqliteStore(db_path, secret_box)
    await store.start()
    try:
        # Its mobile operator, stored as carrier, reads back as the message's network.
        assert await store.get_message("acc-1", "1") == make_message(1, price_micros=0)
        assert await store.put_document("prices", "{}") == 1
        assert await store.document_versions() == {"prices": 1}
    finally:
        await store.close()
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 12


async def test_sqlite_migrates_a_carrier_message_id_to_the_carrier_ids_of_the_simulator(
    db_path: Path, secret_box: SecretBox, make_message: MakeMessage
) -> None:
    """Before migration 8 a message had one carrier id, and the simulator was the only carrier."""
    with closing(sqlite3.connect(db_path)) as conn:
        for statements in MIGRATIONS[:7]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 7")
        columns = sqlite_module._MESSAGE_COLUMNS.replace("carrier_ids", "carrier_message_id")
        columns = columns.removesuffix(", connector, carrier_status")
        for message_id, carrier_id in ((1, "sim-1"), (2, None)):
            row = list(sqlite_module._message_row(make_message(message_id))[:-2])
            row[23] = carrier_id
            conn.execute(f"INSERT INTO messages ({columns}) VALUES ({', '.join('?' * 31)})", row)
        conn.commit()

    store = SqliteStore(db_path, secret_box)
    await store.start()
    try:
        assert await store.get_message("acc-1", "1") == make_message(
            1, connector="simulator", carrier_ids=("sim-1",)
        )
        assert await store.get_message("acc-1", "2") == make_message(2)
        found = await store.find_by_carrier_id("simulator", "sim-1")
        assert found is not None
        assert found.id == "1"
    finally:
        await store.close()


async def test_sqlite_a_nonce_is_durable_once_a_write_queued_after_it_is(
    db_path: Path, secret_box: SecretBox, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    """The door queues a request's nonce before the message it sends and awaits only the
    message's write: the nonce must be committed with it (one batch) or before it."""
    store = SqliteStore(db_path, secret_box, commit_linger_s=0.5)
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
    reopened = SqliteStore(db_path, secret_box)
    await reopened.start()
    try:
        assert await reopened.live_nonces(T0, None, 10) == [
            StoredNonce("key-acc-1", "nonce-1", T0 + 900)
        ]
    finally:
        await reopened.close()


async def test_sqlite_reports_a_full_disk_once_and_its_end(
    db_path: Path, secret_box: SecretBox
) -> None:
    """A database that cannot grow (PRAGMA max_page_count: SQLite's own "database or disk is
    full", as on a full disk) fails every write that needs a page; the listener hears of it
    once, and of the end once, when a write succeeds again."""
    store = SqliteStore(db_path, secret_box)
    await store.start()
    await store.close()
    with closing(sqlite3.connect(db_path)) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    store = SqliteStore(db_path, secret_box, max_pages=pages + 4)
    heard: list[str | None] = []
    store.set_disk_listener(lambda problem: heard.append(problem and problem.code))
    await store.start()
    try:
        failures: list[StoreError] = []
        for i in range(1000):
            try:
                await store.remember_nonce("key-1", f"{i:04d}" + "n" * 500, T0 + 900)
            except StoreError as exc:
                failures.append(exc)
                if len(failures) == 5:
                    break
        assert len(failures) == 5, "the database never filled up"
        assert "database or disk is full" in str(failures[0])
        # The writer schedules its report before it hands back the batch's results.
        assert heard == ["disk_full"]

        assert await store.prune_nonces(T0 + 900) > 0  # frees pages: writes fit again
        await store.remember_nonce("key-1", "after", T0 + 1000)
        assert heard == ["disk_full", None]
    finally:
        await store.close()


async def test_sqlite_refuses_a_newer_schema(db_path: Path, secret_box: SecretBox) -> None:
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")

    with pytest.raises(StoreError, match="newer"):
        await SqliteStore(db_path, secret_box).start()


async def test_sqlite_queries_use_their_indexes(sqlite_store: SqliteStore, db_path: Path) -> None:
    with closing(sqlite3.connect(db_path)) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        plans = {
            name: str(conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall())
            for name, sql, params in [
                ("unfinished", sqlite_module._SELECT_UNFINISHED, (0, 10)),
                ("due", sqlite_module._SELECT_DUE_CALLBACKS, (0.0, 10)),
                ("next", sqlite_module._SELECT_NEXT_CALLBACK, ()),
                ("count window", sqlite_module._COUNT_WINDOW, ("a", 0, 9)),
                ("count window to", sqlite_module._COUNT_WINDOW_TO, ("a", 0, 9, "86")),
                ("page window", sqlite_module._PAGE_WINDOW, ("a", 0, 9, 10, 0)),
                ("page window to", sqlite_module._PAGE_WINDOW_TO, ("a", 0, 9, "86", 10, 0)),
                ("count since", sqlite_module._COUNT_SINCE, (0,)),
                ("nonces", sqlite_module._SELECT_NONCES, (0.0, 10)),
                ("nonces after", sqlite_module._SELECT_NONCES_AFTER, (0.0, 0.0, "a", "b", 10)),
                ("by carrier id", sqlite_module._SELECT_BY_CARRIER_ID, ("up", "c-1")),
            ]
        }
    assert mode == "wal"
    assert "USING INDEX messages_unfinished" in plans["unfinished"]
    assert "USING INDEX callbacks_due" in plans["due"]
    assert "USING INDEX callbacks_due" in plans["next"]
    # Record queries and quota counts walk an account's id range on messages_account, reading
    # only the index when no other column is needed.
    window = "messages_account (account_id=? AND id>? AND id<?)"
    assert f"USING COVERING INDEX {window}" in plans["count window"]
    for name in ("count window to", "page window", "page window to"):
        assert f"USING INDEX {window}" in plans[name]
    assert "USING COVERING INDEX messages_account (account_id=? AND id>?)" in plans["count since"]
    assert "USING PRIMARY KEY (expires_at>?)" in plans["nonces"]
    assert "USING PRIMARY KEY (expires_at>?)" in plans["nonces after"]
    assert "USING PRIMARY KEY (connector=? AND carrier_id=?)" in plans["by carrier id"]
    assert "USING INTEGER PRIMARY KEY (rowid=?)" in plans["by carrier id"]
    assert "TEMP B-TREE" not in "".join(plans.values())  # no sorting: pages stay cheap


async def test_sqlite_reports_a_wrong_master_key(
    db_path: Path, secret_box: SecretBox, open_account: OpenAccount
) -> None:
    store = SqliteStore(db_path, secret_box)
    await store.start()
    await open_account(store)
    await store.close()

    other = SqliteStore(db_path, SecretBox(bytes(32)))
    await other.start()
    try:
        with pytest.raises(StoreError, match="master key"):
            await other.find_key("key-acc-1")
    finally:
        await other.close()


async def test_sqlite_isolates_a_failing_op_within_its_batch(
    sqlite_store: SqliteStore, db_path: Path, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    """Hold the write lock from outside so that every op below is queued before the writer can
    commit: the duplicate then shares a batch with good ops, which must all still commit."""
    store = sqlite_store
    await open_account(store)
    await store.insert_messages([make_message(1)])
    before = store.stats.isolated_batches
    with closing(sqlite3.connect(db_path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        tasks: list[asyncio.Task[object]] = [
            asyncio.create_task(store.insert_messages([make_message(i)])) for i in range(10, 20)
        ]
        tasks.append(asyncio.create_task(store.insert_messages([make_message(1)])))
        tasks += [
            asyncio.create_task(store.insert_messages([make_message(i)])) for i in range(20, 30)
        ]
        tasks.append(asyncio.create_task(store.add_balance("acc-1", -1)))  # a domain error
        # Runs after every task above has queued its op (the loop runs callbacks in order).
        asyncio.get_running_loop().call_soon(holder.rollback)
        results = await asyncio.gather(*tasks, return_exceptions=True)

    assert isinstance(results[10], StoreError)
    assert isinstance(results[10].__cause__, sqlite3.IntegrityError)
    assert isinstance(results[21], ValueError)
    assert results[:10] + results[11:21] == [None] * 20
    assert store.stats.isolated_batches > before
    assert [m.id for m in await store.unfinished_messages(None, 100)] == [
        "1",
        *(str(i) for i in range(10, 30)),
    ]


async def test_list_messages_newest_first_and_per_account(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store)
    assert await store.last_message_id() is None
    await store.insert_messages([make_message(i) for i in (5, 7, 6)])
    await store.insert_messages([make_message(8, account_id="acc-2")])
    listed = await store.list_messages("acc-1", 2)
    assert [m.id for m in listed] == ["7", "6"]
    assert [m.id for m in await store.list_messages("acc-2", 10)] == ["8"]
    assert await store.list_messages("acc-1", 0) == []
    assert await store.last_message_id() == "8"


async def test_sqlite_commit_linger_lets_a_trickle_share_one_commit(
    db_path: Path, secret_box: SecretBox, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    store = SqliteStore(db_path, secret_box, commit_linger_s=0.5)
    await store.start()
    try:
        await open_account(store)
        before = store.stats.batches
        first = asyncio.ensure_future(store.insert_messages([make_message(1)]))
        await asyncio.sleep(0.01)  # the first write is waiting in the writer: a trickle
        await store.insert_messages([make_message(2)])
        await first
        assert store.stats.batches == before + 1  # one commit for both
        assert [m.id for m in await store.unfinished_messages(None, 10)] == ["1", "2"]
    finally:
        await store.close()


async def test_numbers_since_pages_what_per_number_limits_count(
    store: Store, open_account: OpenAccount, make_message: MakeMessage
) -> None:
    await open_account(store)
    gen = MessageIdGenerator(1)
    ids = [gen.next_id(int(T0 * 1000) + i) for i in range(5)]
    await store.insert_messages(
        [make_message(i, to=f"+659123456{n}", msg_type="OTP") for n, i in enumerate(ids)]
    )

    first = await store.numbers_since(ids[1], None, 2)
    rest = await store.numbers_since(ids[1], first[-1].message_id, 10)

    assert [u.message_id for u in first + rest] == ids[1:]
    assert [u.to for u in first] == ["+6591234561", "+6591234562"]
    assert {(u.account_id, u.msg_type) for u in first + rest} == {("acc-1", "OTP")}
    assert await store.numbers_since(ids[1], ids[-1], 10) == []
