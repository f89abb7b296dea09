"""The store's share of billing: charging on accept, refunding on receipts, for every adapter.

Examples first (parametrised over every adapter like ``test_store.py``), then
properties: random balances and random concurrent accepts must end exactly as the same accepts
run one by one in their order would, and refunds must be paid once however often a receipt comes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.adapters.storage.sqlite import SqliteStore
from smsgate.domain.models import AccessKey, Account, AccountState, Message, MessageStatus, Receipt
from smsgate.ports.store import Store, StoreError

MakeMessage = Callable[..., Message]
OpenAccount = Callable[..., Awaitable[None]]

T0 = 1_700_000_000.0


async def _balance(store: Store, account_id: str = "acc-1") -> int:
    account = await store.get_account(account_id)
    assert account is not None
    return account.balance_micros


def _failed(message_id: str, *, refund: bool = True) -> Receipt:
    return Receipt(message_id, MessageStatus.FAILED, "MOBILE_NUMBER_ILLEGAL", T0 + 5, refund=refund)


# -- accept_messages ---------------------------------------------------------------------------


async def test_accept_charges_the_account_and_stores_the_messages(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, balance_micros=100)
    first = make_message(1, price_micros=30)
    pair = [make_message(2, price_micros=35), make_message(3, price_micros=35)]

    assert await store.accept_messages([first], 30)
    assert await store.accept_messages(pair, 70)

    assert await _balance(store) == 0
    assert await store.get_message("acc-1", "1") == first
    assert [await store.get_message("acc-1", m.id) for m in pair] == pair


async def test_accept_refuses_what_the_balance_cannot_cover(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, balance_micros=50)

    assert not await store.accept_messages([make_message(1), make_message(2)], 51)

    assert await _balance(store) == 50
    assert await store.get_message("acc-1", "1") is None
    assert await store.get_message("acc-1", "2") is None
    assert await store.accept_messages([make_message(1)], 50)  # the ids were not used up
    assert await _balance(store) == 0


async def test_a_free_accept_needs_only_an_existing_account(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, balance_micros=0)

    assert await store.accept_messages([make_message(1)], 0)
    assert not await store.accept_messages([make_message(2, "nobody")], 0)
    assert not await store.accept_messages([make_message(3, "nobody")], 10)

    assert await _balance(store) == 0
    assert await store.get_message("acc-1", "1") is not None
    assert await store.get_message("nobody", "2") is None
    assert await store.list_messages("nobody", 10) == []


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("negative", "cannot be negative"),
        ("empty", "at least one message"),
        ("mixed", "one account"),
        ("bad id", "canonical decimal"),
    ],
)
async def test_accept_checks_its_arguments_before_charging(
    store: Store, make_message: MakeMessage, open_account: OpenAccount, case: str, match: str
) -> None:
    await open_account(store, balance_micros=100)
    await open_account(store, "acc-2")
    messages, charge = {
        "negative": ([make_message(1)], -5),
        "empty": ([], 5),
        "mixed": ([make_message(1), make_message(2, "acc-2")], 5),
        "bad id": ([make_message(1), make_message("02")], 5),
    }[case]

    with pytest.raises(ValueError, match=match):
        await store.accept_messages(messages, charge)

    assert await _balance(store) == 100
    assert await store.get_message("acc-1", "1") is None


async def test_an_accept_with_a_taken_id_charges_nothing(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, balance_micros=100)
    await store.insert_messages([make_message(1)])

    with pytest.raises(StoreError):
        await store.accept_messages([make_message(2), make_message(1)], 40)
    with pytest.raises(StoreError):
        await store.accept_messages([make_message(3), make_message(3)], 40)
    # Refused for its balance before its ids are even looked at, as an insert would be.
    assert not await store.accept_messages([make_message(1)], 101)

    assert await _balance(store) == 100
    assert await store.get_message("acc-1", "2") is None
    assert await store.get_message("acc-1", "3") is None


async def test_accepts_are_decided_in_the_order_they_come(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, balance_micros=100)
    await open_account(store, "acc-2", balance_micros=10)

    results = await asyncio.gather(
        store.accept_messages([make_message(1)], 60),
        store.accept_messages([make_message(2)], 60),  # 40 left
        store.accept_messages([make_message(3, "acc-2")], 10),
        store.insert_messages([make_message(4)]),
        store.add_balance("acc-1", 50),  # 90
        store.accept_messages([make_message(5)], 60),  # 30 left
        store.accept_messages([make_message(6, "acc-2")], 1),  # acc-2 has nothing left
        store.accept_messages([make_message(7)], 30),
        store.accept_messages([make_message(8)], 1),
        store.accept_messages([make_message(9)], 0),
    )

    assert results == [True, False, True, None, 90, True, False, True, False, True]
    assert (await _balance(store), await _balance(store, "acc-2")) == (0, 0)
    stored = {m.id for m in await store.list_messages("acc-1", 100)}
    assert stored == {"1", "4", "5", "7", "9"}


# -- refunds -----------------------------------------------------------------------------------


async def test_a_refund_receipt_gives_the_price_back_once(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, balance_micros=100)
    await store.accept_messages([make_message(1, price_micros=30)], 30)
    await store.accept_messages([make_message(2, price_micros=20)], 20)
    await store.accept_messages([make_message(3, price_micros=10)], 10)  # 40 left

    changed = await store.apply_receipts(
        [
            _failed("1"),
            _failed("1"),  # a repeat in the same call
            _failed("2", refund=False),  # a failure that is not refunded
            Receipt("3", MessageStatus.DELIVERED, "success", T0 + 5),
            _failed("404"),
        ]
    )

    assert [m.id for m in changed] == ["1", "2", "3"]
    assert changed[0].price_micros == 30
    assert await _balance(store) == 70
    assert await store.apply_receipts([_failed("1"), _failed("2"), _failed("3")]) == []
    assert await _balance(store) == 70


async def test_refunds_go_to_each_messages_own_account(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, "acc-1", balance_micros=100)
    await open_account(store, "acc-2", balance_micros=100)
    await store.accept_messages([make_message(i, "acc-1", price_micros=10) for i in (1, 2)], 20)
    await store.accept_messages([make_message(3, "acc-2", price_micros=7)], 7)
    await store.insert_messages([make_message(4, "acc-2"), make_message(5, "gone", price_micros=9)])

    await store.apply_receipts([_failed(str(i)) for i in (3, 1, 4, 5, 2)])

    assert await _balance(store, "acc-1") == 100
    assert await _balance(store, "acc-2") == 100
    assert await store.get_account("gone") is None


async def test_concurrent_repeats_of_a_receipt_refund_once(
    store: Store, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    await open_account(store, balance_micros=100)
    await store.accept_messages([make_message(i, price_micros=5) for i in range(1, 11)], 50)
    receipts = [_failed(str(i)) for i in range(1, 11)]

    results = await asyncio.gather(*(store.apply_receipts(receipts) for _ in range(5)))

    assert sorted(m.id for changed in results for m in changed) == sorted(
        str(i) for i in range(1, 11)
    )
    assert await _balance(store) == 100


# -- SQLite only: accepts within one group commit ------------------------------------------


async def _in_one_batch(db_path: Path, calls: list[Awaitable[object]]) -> list[object]:
    """Hold the write lock from outside until every call has queued its op, so that the writer
    takes them together (as in ``test_sqlite_isolates_a_failing_op_within_its_batch``)."""
    with closing(sqlite3.connect(db_path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        tasks = [asyncio.ensure_future(call) for call in calls]
        asyncio.get_running_loop().call_soon(holder.rollback)
        return await asyncio.gather(*tasks, return_exceptions=True)


async def test_sqlite_refused_accepts_leave_their_batch_alone(
    sqlite_store: SqliteStore, db_path: Path, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    """An account that cannot pay is an answer, not an error: the batch is neither rolled back
    nor re-run op by op."""
    store = sqlite_store
    await open_account(store, balance_micros=25)
    await open_account(store, "acc-2", balance_micros=5)
    before = store.stats.isolated_batches

    results = await _in_one_batch(
        db_path,
        [
            *(store.accept_messages([make_message(i)], 10) for i in range(1, 4)),
            store.accept_messages([make_message(4, "acc-2")], 5),
            store.insert_messages([make_message(5)]),
            store.accept_messages([make_message(6, "nobody")], 0),
            store.accept_messages([make_message(7)], 5),
            store.accept_messages([make_message(8)], 0),
        ],
    )

    assert results == [True, True, False, True, None, False, True, True]
    assert store.stats.isolated_batches == before
    assert (await _balance(store), await _balance(store, "acc-2")) == (0, 0)
    assert [m.id for m in await store.unfinished_messages(None, 100)] == [
        "1",
        "2",
        "4",
        "5",
        "7",
        "8",
    ]


async def test_sqlite_a_failing_accept_gives_its_charge_back_within_its_batch(
    sqlite_store: SqliteStore, db_path: Path, make_message: MakeMessage, open_account: OpenAccount
) -> None:
    store = sqlite_store
    await open_account(store, balance_micros=100)
    await store.insert_messages([make_message(1)])
    before = store.stats.isolated_batches

    results = await _in_one_batch(
        db_path,
        [
            store.accept_messages([make_message(10)], 30),
            store.accept_messages([make_message(11), make_message(1)], 30),  # taken id
            store.accept_messages([make_message(12)], 40),
            store.accept_messages([make_message(13)], 40),  # refused: 30 left
        ],
    )

    assert results[0] is True
    assert isinstance(results[1], StoreError)
    assert results[2:] == [True, False]
    assert store.stats.isolated_batches > before
    assert await _balance(store) == 30
    assert [m.id for m in await store.unfinished_messages(None, 100)] == ["1", "10", "12"]


# -- properties --------------------------------------------------------------------------------

_ACCOUNTS = ("acc-1", "acc-2")


@dataclass(frozen=True)
class _Op:
    account_id: str  # one of _ACCOUNTS, or "nobody"
    size: int  # messages in the accept
    charge: int
    reuse: int | None  # take the first id of an earlier op (a taken id if that one was accepted)
    refund: bool  # its receipts fail with a refund


_ops = st.lists(
    st.builds(
        _Op,
        account_id=st.sampled_from([*_ACCOUNTS, "nobody"]),
        size=st.integers(1, 3),
        charge=st.integers(0, 400),
        reuse=st.none() | st.integers(0, 30),
        refund=st.booleans(),
    ),
    min_size=1,
    max_size=30,
)
_balances = st.tuples(st.integers(0, 1000), st.integers(0, 1000))


def _messages_of(ops: list[_Op]) -> list[list[Message]]:
    """Each op's messages, with the charge split into their prices (so they add up to it)."""
    batches: list[list[Message]] = []
    next_id = 1
    for index, op in enumerate(ops):
        batch: list[Message] = []
        for i in range(op.size):
            price = op.charge // op.size + (1 if i < op.charge % op.size else 0)
            batch.append(_bare_message(next_id, op.account_id, price))
            next_id += 1
        if op.reuse is not None and index:
            batch[0] = _bare_message(int(batches[op.reuse % index][0].id), op.account_id, 0)
        batches.append(batch)
    return batches


def _bare_message(message_id: int, account_id: str, price: int) -> Message:
    return Message(
        id=str(message_id),
        account_id=account_id,
        to="8613800138000",
        sender=None,
        body="code 1",
        encoding="GSM7",
        segments=1,
        country="CN",
        region_code="86",
        region="China",
        network="CMCC",
        msg_type="OTP",
        created_at=T0,
        price_micros=price,
    )


Gather = Callable[[list[Awaitable[object]]], Awaitable[list[object]]]


async def _gather(calls: list[Awaitable[object]]) -> list[object]:
    return await asyncio.gather(*calls, return_exceptions=True)


async def _check_billing(
    store: Store, balances: tuple[int, int], ops: list[_Op], gather: Gather = _gather
) -> list[object]:
    """Run the scenario and check it against the model; returns the expected results."""
    for account_id, balance in zip(_ACCOUNTS, balances, strict=True):
        await store.create_account(
            Account(account_id, account_id, AccountState.NORMAL, balance, None, T0),
            AccessKey(f"key-{account_id}", account_id, "secret", True, None, T0),
        )
    batches = _messages_of(ops)

    results = await gather(
        [store.accept_messages(b, op.charge) for op, b in zip(ops, batches, strict=True)]
    )

    # The model: the same accepts one by one, in the order they were made.
    model = dict(zip(_ACCOUNTS, balances, strict=True))
    taken: set[str] = set()
    expected: list[object] = []
    for op, batch in zip(ops, batches, strict=True):
        ids = [m.id for m in batch]
        if model.get(op.account_id, -1) < op.charge:
            expected.append(False)
        elif taken.intersection(ids) or len(set(ids)) < len(ids):
            expected.append(StoreError)
        else:
            expected.append(True)
            model[op.account_id] -= op.charge
            taken.update(ids)
    assert [type(r) if isinstance(r, Exception) else r for r in results] == expected
    accepted = [(op, b) for op, b, r in zip(ops, batches, results, strict=True) if r is True]
    spent = sum(op.charge for op, _ in accepted)
    assert sum(model.values()) == sum(balances) - spent
    for account_id in _ACCOUNTS:
        assert await _balance(store, account_id) == model[account_id] >= 0
    for message in (m for _, b in accepted for m in b):
        assert await store.get_message(message.account_id, message.id) == message
    for message in (m for b in batches for m in b if m.id not in taken):
        assert await store.get_message(message.account_id, message.id) is None
    counts = {a: sum(len(b) for op, b in accepted if op.account_id == a) for a in _ACCOUNTS}
    assert await store.count_messages_since("1") == {a: n for a, n in counts.items() if n}

    # Refunds: the receipts (some repeated within the call, and receipts for messages that were
    # never stored) applied twice at once, then once more, pay each refunded price back once.
    receipts = [_failed(m.id, refund=op.refund) for op, b in accepted for m in b]
    receipts += [_failed(m.id) for b in batches for m in b if m.id not in taken]
    receipts += receipts[::2]
    first, second = await asyncio.gather(
        store.apply_receipts(receipts), store.apply_receipts(receipts)
    )
    assert await store.apply_receipts(receipts) == []
    assert sorted(int(m.id) for m in first + second) == sorted(int(i) for i in taken)
    for account_id in _ACCOUNTS:
        refunds = sum(
            m.price_micros
            for op, b in accepted
            if op.refund
            for m in b
            if m.account_id == account_id
        )
        assert await _balance(store, account_id) == model[account_id] + refunds
    return expected


@settings(max_examples=300, deadline=None)
@given(balances=_balances, ops=_ops)
def test_memory_billing_matches_accepts_one_by_one(
    balances: tuple[int, int], ops: list[_Op]
) -> None:
    async def check() -> None:
        store = MemoryStore()
        await store.start()
        await _check_billing(store, balances, ops)

    asyncio.run(check())


@settings(max_examples=40, deadline=None)
@given(balances=_balances, ops=_ops, together=st.booleans())
def test_sqlite_billing_matches_accepts_one_by_one(
    balances: tuple[int, int], ops: list[_Op], together: bool
) -> None:
    """``together``: every accept in one group commit (set-wise, or re-run op by op when an id
    is taken); otherwise as the writer happens to take them."""

    async def check(db_path: Path) -> None:
        store = SqliteStore(db_path, SecretBox(bytes(32)), durability="normal")
        await store.start()
        try:
            if together:
                expected = await _check_billing(
                    store, balances, ops, lambda calls: _in_one_batch(db_path, calls)
                )
            else:
                expected = await _check_billing(store, balances, ops)
        finally:
            await store.close()
        if StoreError not in expected:  # refusals are answers: no batch was re-run op by op
            assert store.stats.isolated_batches == 0

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(check(Path(tmp) / "billing.db"))
