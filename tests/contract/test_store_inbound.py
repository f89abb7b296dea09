"""The store contract for MO (inbound) messages: parts kept until their message is whole,
messages numbered once, and their deliveries (HTTP pushes, SMPP deliver_sm) queued with them.
Runs over every adapter (conftest)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.sqlite import SqliteStore
from smsgate.domain.inbound import InboundMessage
from smsgate.ports.store import CallbackRetry, InboundPart, Store

OpenAccount = Callable[..., Awaitable[None]]

T0 = 1_700_000_000.0
URL = "https://a.example/sms-up"


def _mo(account_id: str = "acc-1", text: str = "hello", at: float = T0) -> InboundMessage:
    return InboundMessage(0, account_id, "6598765432", "6591230077", "77", text, at, "up")


def _part(number: int, total: int = 3, reference: int = 0x1234, **changes: Any) -> InboundPart:
    part = InboundPart(
        connector="up",
        source="6598765432",
        destination="6591230077",
        reference=reference,
        total=total,
        number=number,
        data_coding=0,
        body=f"<{number}>".encode(),
        received_at=T0 + number,
    )
    return replace(part, **changes)


async def _stored(store: Store, message: InboundMessage, smpp: bool = False) -> InboundMessage:
    stored = await store.store_inbound(message, smpp=smpp)
    assert stored is not None
    return stored


async def test_parts_are_kept_until_their_group_is_whole(store: Store) -> None:
    assert await store.add_inbound_part(_part(3)) is None
    assert await store.add_inbound_part(_part(1)) is None
    assert await store.add_inbound_part(_part(1, body=b"again")) is None  # the first one counts

    whole = await store.add_inbound_part(_part(2))

    assert whole == [_part(1), _part(2), _part(3)]
    # Still kept until the message is stored: the same last part finds the group whole again.
    assert await store.add_inbound_part(_part(2)) == whole


async def test_groups_are_told_apart_by_link_sender_number_reference_and_count(
    store: Store,
) -> None:
    await store.add_inbound_part(_part(1, total=2))
    for other in (
        _part(2, total=2, connector="up2"),
        _part(2, total=2, source="6500000000"),
        _part(2, total=2, destination="6591230078"),
        _part(2, total=2, reference=7),
        _part(2, total=3),
    ):
        assert await store.add_inbound_part(other) is None
    assert await store.add_inbound_part(_part(2, total=2)) == [_part(1, total=2), _part(2, total=2)]


async def test_storing_the_message_takes_its_parts_once(
    store: Store, open_account: OpenAccount
) -> None:
    """A last part delivered twice (its answer was lost) finds its group gone the second time."""
    await open_account(store)
    for number in (1, 2):
        await store.add_inbound_part(_part(number, total=2))

    stored = await store.store_inbound(_mo(), completes=_part(2, total=2))

    assert stored is not None
    assert stored.sequence_id > 0
    assert stored == replace(_mo(), sequence_id=stored.sequence_id)
    assert await store.store_inbound(_mo(), completes=_part(2, total=2)) is None
    assert await store.list_inbound("acc-1", 10) == [stored]
    assert await store.add_inbound_part(_part(1, total=2)) is None  # a new group from scratch


async def test_messages_are_numbered_in_order_and_listed_newest_first(
    store: Store, open_account: OpenAccount
) -> None:
    await open_account(store)
    await open_account(store, "acc-2")
    first = await _stored(store, _mo(text="one"))
    other = await _stored(store, _mo("acc-2", text="two"))
    last = await _stored(store, _mo(text="three"))

    assert first.sequence_id < other.sequence_id < last.sequence_id
    assert await store.list_inbound("acc-1", 10) == [last, first]
    assert await store.list_inbound("acc-1", 1) == [last]
    assert await store.list_inbound("acc-1", 0) == []
    assert await store.list_inbound("nobody", 10) == []


async def test_a_push_is_queued_for_an_account_with_a_callback_url(
    store: Store, open_account: OpenAccount
) -> None:
    await open_account(store, callback_url=URL)
    await open_account(store, "quiet")
    pushed = await store.store_inbound(_mo(at=T0 + 5))
    await store.store_inbound(_mo("quiet"))
    await store.set_callback_url("acc-1", "https://changed.example")  # the URL was snapshotted

    [job] = await store.due_inbound_pushes(T0 + 5, 10)

    assert (job.account_id, job.url, job.message, job.attempts) == ("acc-1", URL, pushed, 0)
    assert await store.due_inbound_pushes(T0 + 4.9, 10) == []
    assert await store.next_inbound_push_due() == T0 + 5


async def test_pushes_are_retried_given_up_and_finished(
    store: Store, open_account: OpenAccount
) -> None:
    await open_account(store, callback_url=URL)
    for at in (T0, T0 + 1, T0 + 2):
        await store.store_inbound(_mo(at=at))
    first, second, third = await store.due_inbound_pushes(T0 + 10, 10)

    await store.retry_inbound_pushes(
        [
            CallbackRetry(first.id, 1, T0 + 60, "HTTP 500", dead=False),
            CallbackRetry(second.id, 12, T0 + 60, "HTTP 500", dead=True),
        ]
    )
    await store.finish_inbound_pushes([third.id])

    assert await store.due_inbound_pushes(T0 + 10, 10) == []
    [again] = await store.due_inbound_pushes(T0 + 60, 10)
    assert (again.id, again.attempts) == (first.id, 1)
    assert await store.next_inbound_push_due() == T0 + 60
    await store.finish_inbound_pushes([first.id])
    assert await store.next_inbound_push_due() is None  # the dead one is only kept


async def test_smpp_deliveries_are_owed_until_acknowledged(
    store: Store, open_account: OpenAccount
) -> None:
    await open_account(store)
    await open_account(store, "acc-2")
    one = await _stored(store, _mo(), smpp=True)
    await _stored(store, _mo(), smpp=False)  # an account without SMPP binds
    two = await _stored(store, _mo(), smpp=True)
    elsewhere = await _stored(store, _mo("acc-2"), smpp=True)

    assert await store.pending_smpp_inbound("acc-1", None, 10) == [one, two]
    assert await store.pending_smpp_inbound("acc-1", one.sequence_id, 10) == [two]
    assert await store.pending_smpp_inbound("acc-1", None, 1) == [one]
    assert await store.pending_smpp_inbound("acc-1", None, 0) == []
    await store.finish_smpp_inbound("acc-1", [one.sequence_id, elsewhere.sequence_id])
    assert await store.pending_smpp_inbound("acc-1", None, 10) == [two]
    assert await store.pending_smpp_inbound("acc-2", None, 10) == [elsewhere]


async def test_old_parts_are_pruned(store: Store) -> None:
    await store.add_inbound_part(_part(1))
    await store.add_inbound_part(_part(2))
    await store.add_inbound_part(_part(1, reference=9))

    assert await store.prune_inbound_parts(T0 + 2) == 2  # the two parts number 1
    assert await store.prune_inbound_parts(T0 + 2) == 0
    assert await store.add_inbound_part(_part(3)) is None  # part 1 is gone
    assert await store.add_inbound_part(_part(1)) == [_part(1), _part(2), _part(3)]


async def test_sqlite_parts_and_owed_deliveries_survive_a_restart(
    db_path: Path, secret_box: SecretBox, open_account: OpenAccount
) -> None:
    store = SqliteStore(db_path, secret_box)
    await store.start()
    try:
        await open_account(store, callback_url=URL)
        await store.add_inbound_part(_part(1, total=2))
        first = await _stored(store, _mo(), smpp=True)
    finally:
        await store.close()

    reopened = SqliteStore(db_path, secret_box)
    await reopened.start()
    try:
        assert await reopened.add_inbound_part(_part(2, total=2)) == [
            _part(1, total=2),
            _part(2, total=2),
        ]
        assert await reopened.pending_smpp_inbound("acc-1", None, 10) == [first]
        assert [j.message for j in await reopened.due_inbound_pushes(T0 + 1, 10)] == [first]
        second = await _stored(reopened, _mo())
        assert second.sequence_id > first.sequence_id
    finally:
        await reopened.close()
