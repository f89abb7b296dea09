"""Routing and failover over several carriers: the Router's plans and the ConnectorSet that acts
on them, with scripted connectors (one down, one retrying, one rejecting, one raising...).

The routes and connectors documents live in a memory store read through a PolicyCache that
re-reads on every use, so a change written between two batches applies to the second.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from smsgate import errors
from smsgate.adapters.queue.memory import MemoryDeliveryQueue
from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.adapters.storage.sqlite import SqliteStore
from smsgate.domain.models import (
    Accepted,
    AccessKey,
    Account,
    AccountState,
    MessageStatus,
    Receipt,
    Rejected,
    Retry,
    SubmitOutcome,
)
from smsgate.logs import FIELDS_ATTR
from smsgate.ports.store import Store
from smsgate.service.cancel import CancelDesk
from smsgate.service.connectors import NO_ROUTE, ConnectorSet
from smsgate.service.delivery import DeliveryWorker
from smsgate.service.policy import PolicyCache
from smsgate.service.receipts import ReceiptProcessor
from smsgate.service.routing import Router, facts_of
from tests.builders import collect_receipts, ignore_receipts
from tests.unit.connector_kit import (
    ACCOUNT_ID,
    T0,
    WAIT_S,
    FixedClock,
    ScriptedConnector,
    connector_settings,
    id_message,
    sg_message,
    wait_for,
    write_connectors,
    write_routes,
)


@dataclass
class Rig:
    store: MemoryStore
    clock: FixedClock
    policy: PolicyCache
    simulator: ScriptedConnector
    carriers: ConnectorSet
    fed: list[object]

    async def connectors(self, *connectors: ScriptedConnector) -> None:
        """Configure and run these connectors (the manager's job, done by hand here)."""
        await write_connectors(self.store, {c.name: connector_settings() for c in connectors})
        for connector in connectors:
            await self.carriers.put(connector.name, connector)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    store = MemoryStore()
    await store.start()
    clock = FixedClock()
    policy = PolicyCache(store, clock, ttl_s=0)
    simulator = ScriptedConnector("simulator", records_submission=False, resubmit_on_recovery=True)
    carriers = ConnectorSet(Router(policy, random.Random(5).random), simulator, clock)
    fed: list[object] = []
    await carriers.start(collect_receipts(fed))
    yield Rig(store, clock, policy, simulator, carriers, fed)
    await carriers.close()
    await store.close()


async def with_account(store: Store) -> None:
    """The account the messages of sg_message belong to, with money to send them."""
    await store.create_account(
        Account(ACCOUNT_ID, "acme", AccountState.NORMAL, 10**9, None, T0),
        AccessKey("LTAI5tRoutingTestKey001", ACCOUNT_ID, "secret", True, None, T0),
    )


def by_id(outcomes: list[SubmitOutcome]) -> dict[str, SubmitOutcome]:
    found = {o.message_id: o for o in outcomes}
    assert len(found) == len(outcomes), "one outcome per message"
    return found


# -- the router ---------------------------------------------------------------------------------


async def test_without_routes_everything_goes_to_the_simulator(rig: Rig) -> None:
    messages = [sg_message("1"), id_message("2")]

    outcomes = by_id(await rig.carriers.submit(messages))

    assert rig.simulator.seen == ["1", "2"]
    assert {o.connector for o in outcomes.values() if isinstance(o, Accepted)} == {"simulator"}


async def test_the_router_reads_the_message_and_keeps_only_configured_connectors(rig: Rig) -> None:
    await write_connectors(rig.store, {"sg-up": connector_settings()})
    await write_routes(
        rig.store,
        {"id": "r1", "connector": "gone", "country": "SG", "priority": 9},  # hand-edited
        {"id": "r2", "connector": "sg-up", "country": "SG"},
        {"id": "r3", "connector": "simulator"},
    )
    router = Router(rig.policy, lambda: 0.0)

    plans = await router.plans([sg_message("1"), id_message("2")])

    assert plans == [["sg-up", "simulator"], ["simulator"]]
    assert facts_of(id_message("2")).network == "Telkomsel"


# -- failover -----------------------------------------------------------------------------------


async def test_the_first_connector_up_takes_the_message(rig: Rig) -> None:
    first, second = ScriptedConnector("first"), ScriptedConnector("second")
    await rig.connectors(first, second)
    await write_routes(
        rig.store,
        {"id": "r1", "connector": "first", "priority": 1},
        {"id": "r2", "connector": "second"},
    )

    outcomes = by_id(await rig.carriers.submit([sg_message("1")]))

    assert outcomes["1"] == Accepted("1", "first", ("first-1",), T0)
    assert (first.seen, second.seen) == (["1"], [])


async def test_a_connector_that_is_down_is_passed_over_without_being_asked(rig: Rig) -> None:
    down, backup = ScriptedConnector("down", up=False), ScriptedConnector("backup")
    await rig.connectors(down, backup)
    await write_routes(
        rig.store,
        {"id": "r1", "connector": "down", "priority": 1},
        {"id": "r2", "connector": "backup"},
    )

    outcomes = by_id(await rig.carriers.submit([sg_message("1"), sg_message("2")]))

    assert {o.connector for o in outcomes.values() if isinstance(o, Accepted)} == {"backup"}
    assert down.batches == []
    assert backup.batches == [["1", "2"]]


async def test_a_retry_fails_over_to_the_next_connector_in_the_same_call(rig: Rig) -> None:
    busy, backup = ScriptedConnector("busy", mode="retry"), ScriptedConnector("backup")
    await rig.connectors(busy, backup)
    await write_routes(
        rig.store,
        {"id": "r1", "connector": "busy", "priority": 1},
        {"id": "r2", "connector": "backup"},
    )

    outcomes = by_id(await rig.carriers.submit([sg_message("1")]))

    assert outcomes["1"] == Accepted("1", "backup", ("backup-1",), T0)
    assert busy.seen == ["1"]
    assert backup.seen == ["1"]


async def test_retry_comes_back_only_when_no_connector_of_the_plan_can_take_it(rig: Rig) -> None:
    slow = ScriptedConnector("slow", mode="retry", retry_after_s=5.0)
    quick = ScriptedConnector("quick", mode="retry", retry_after_s=0.5)
    down = ScriptedConnector("down", up=False)
    await rig.connectors(slow, quick, down)
    await write_routes(
        rig.store,
        {"id": "r1", "connector": "slow", "priority": 2},
        {"id": "r2", "connector": "down", "priority": 1},
        {"id": "r3", "connector": "quick"},
    )

    outcomes = await rig.carriers.submit([sg_message("1")])

    assert outcomes == [Retry("1", 0.5)]  # the soonest any of them asked for
    assert slow.seen == quick.seen == ["1"]


async def test_a_plan_of_connectors_all_down_waits_the_down_delay(rig: Rig) -> None:
    await write_connectors(rig.store, {"not-built-yet": connector_settings()})
    await write_routes(rig.store, {"id": "r1", "connector": "not-built-yet"})

    outcomes = await rig.carriers.submit([sg_message("1")])

    assert outcomes == [Retry("1", 1.0)]


async def test_a_rejection_is_final_and_never_failed_over(rig: Rig) -> None:
    refusing, backup = ScriptedConnector("refusing", mode="reject"), ScriptedConnector("backup")
    await rig.connectors(refusing, backup)
    await write_routes(
        rig.store,
        {"id": "r1", "connector": "refusing", "priority": 1},
        {"id": "r2", "connector": "backup"},
    )

    outcomes = await rig.carriers.submit([sg_message("1")])

    assert outcomes == [Rejected("1", "refusing", errors.INVALID_NUM.code, T0)]
    assert backup.batches == []


async def test_a_connector_that_raises_or_says_nothing_fails_over_and_is_logged_once(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    broken, silent = (
        ScriptedConnector("broken", mode="raise"),
        ScriptedConnector("silent", "silent"),
    )
    backup = ScriptedConnector("backup")
    await rig.connectors(broken, silent, backup)
    await write_routes(
        rig.store,
        {"id": "r1", "connector": "broken", "priority": 2},
        {"id": "r2", "connector": "silent", "priority": 1},
        {"id": "r3", "connector": "backup"},
    )

    first = by_id(await rig.carriers.submit([sg_message("1")]))
    second = by_id(await rig.carriers.submit([sg_message("2")]))

    assert first["1"] == Accepted("1", "backup", ("backup-1",), T0)
    assert second["2"] == Accepted("2", "backup", ("backup-2",), T0)
    failures = [r for r in caplog.records if "connector broken failed a submit" in r.getMessage()]
    assert len(failures) == 1  # once per run of failures
    assert any("connector silent said nothing" in r.getMessage() for r in caplog.records)


async def test_messages_no_route_takes_any_more_are_rejected_and_logged(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    await write_routes(rig.store, {"id": "r1", "connector": "simulator", "country": "ID"})

    outcomes = by_id(await rig.carriers.submit([sg_message("1"), id_message("2")]))

    assert outcomes["1"] == Rejected("1", "", NO_ROUTE, T0)
    assert isinstance(outcomes["2"], Accepted)
    assert errors.OPERATOR_NOT_SUPPORT.code == NO_ROUTE
    [line] = [r for r in caplog.records if r.getMessage() == "routing.no_route"]
    assert line.smsgate_fields == {  # type: ignore[attr-defined]
        "messages": 1,
        "message_ids": "1",
        "receipt": NO_ROUTE,
    }


async def test_a_route_to_a_connector_no_longer_configured_is_no_way_out(rig: Rig) -> None:
    await write_routes(rig.store, {"id": "r1", "connector": "removed-by-hand"})

    outcomes = await rig.carriers.submit([sg_message("1")])

    assert outcomes == [Rejected("1", "", NO_ROUTE, T0)]


async def test_one_batch_is_split_by_route_and_the_groups_go_out_together(rig: Rig) -> None:
    sg, idn = ScriptedConnector("sg"), ScriptedConnector("idn")
    sg.hold, idn.hold = asyncio.Event(), asyncio.Event()
    await rig.connectors(sg, idn)
    await write_routes(
        rig.store,
        {"id": "r1", "connector": "sg", "country": "SG"},
        {"id": "r2", "connector": "idn", "country": "ID"},
    )

    submitting = asyncio.create_task(
        rig.carriers.submit([sg_message("1"), id_message("2"), sg_message("3")])
    )
    await wait_for(sg.entered)
    await wait_for(idn.entered)  # both in flight at once, neither answered yet
    status = rig.carriers.status()
    assert (status["sg"]["in_flight"], status["idn"]["in_flight"]) == (2, 1)
    sg.hold.set()
    idn.hold.set()
    async with asyncio.timeout(WAIT_S):
        outcomes = by_id(await submitting)

    assert (sg.batches, idn.batches) == ([["1", "3"]], [["2"]])
    assert {mid: o.connector for mid, o in outcomes.items() if isinstance(o, Accepted)} == {
        "1": "sg",
        "2": "idn",
        "3": "sg",
    }


async def test_equal_routes_share_traffic_by_weight(rig: Rig) -> None:
    heavy, light = ScriptedConnector("heavy"), ScriptedConnector("light")
    await rig.connectors(heavy, light)
    await write_routes(
        rig.store,
        {"id": "r1", "connector": "heavy", "weight": 3},
        {"id": "r2", "connector": "light", "weight": 1},
    )

    await rig.carriers.submit([sg_message(str(i)) for i in range(4000)])

    shares = Counter({"heavy": len(heavy.seen), "light": len(light.seen)})
    assert shares.total() == 4000
    assert 0.71 < shares["heavy"] / 4000 < 0.79


async def test_a_route_change_applies_to_the_next_batch(rig: Rig) -> None:
    old, new = ScriptedConnector("old"), ScriptedConnector("new")
    await rig.connectors(old, new)
    await write_routes(rig.store, {"id": "r1", "connector": "old"})
    await rig.carriers.submit([sg_message("1")])

    await write_routes(rig.store, {"id": "r2", "connector": "new"})
    await rig.carriers.submit([sg_message("2")])

    assert (old.seen, new.seen) == (["1"], ["2"])


# -- the rest of the port -----------------------------------------------------------------------


async def test_cancel_asks_each_connector_until_one_withdraws_the_message(rig: Rig) -> None:
    other = ScriptedConnector("other")
    await rig.connectors(other)

    assert await rig.carriers.cancel("7-cancellable")
    assert not await rig.carriers.cancel("8")
    assert rig.simulator.cancelled == ["7-cancellable", "8"]
    assert other.cancelled == ["8"]  # the simulator withdrew the first: nobody else asked


async def test_hand_overs_are_recorded_once_a_connector_that_needs_it_runs(rig: Rig) -> None:
    assert (rig.carriers.records_submission, rig.carriers.resubmit_on_recovery) == (False, True)

    await rig.connectors(ScriptedConnector("upstream"))
    assert (rig.carriers.records_submission, rig.carriers.resubmit_on_recovery) == (True, False)

    retired = rig.carriers.retire("upstream")
    assert retired is not None
    await rig.carriers.drain(retired, WAIT_S)
    assert (rig.carriers.records_submission, rig.carriers.resubmit_on_recovery) == (False, True)


async def test_status_shows_state_in_flight_throughput_and_binds(rig: Rig) -> None:
    up, down = ScriptedConnector("up"), ScriptedConnector("down", up=False)
    await rig.connectors(up, down)
    await write_routes(rig.store, {"id": "r1", "connector": "up"})
    await rig.carriers.submit([sg_message(str(i)) for i in range(20)])

    status = rig.carriers.status()

    assert status["up"] == {
        "state": "up",
        "in_flight": 0,
        "throughput_per_s": 2.0,  # 20 in the last 10 s
        "accepted": 20,
        "rejected": 0,
        "retried": 0,
        "binds": [{"bind": 1, "mode": "transceiver", "state": "bound", "in_flight": 0}],
    }
    assert status["down"]["state"] == "down"
    assert status["simulator"]["state"] == "up"
    rig.clock.t += 11
    assert rig.carriers.status()["up"]["throughput_per_s"] == 0.0


async def test_the_simulator_is_built_in(rig: Rig) -> None:
    with pytest.raises(ValueError, match="built in"):
        rig.carriers.retire("simulator")
    with pytest.raises(ValueError, match="built in"):
        await rig.carriers.put("simulator", ScriptedConnector("simulator"))


# -- through the delivery worker ----------------------------------------------------------------


async def test_one_connector_killed_mid_load_every_message_leaves_by_the_other(rig: Rig) -> None:
    """The issue's failover check, with scripted connectors: ``main`` goes down half-way (its
    submits then raise, then it says it is down); every message ends with ``backup`` or was
    taken by ``main`` before, none is lost, none is taken twice."""
    await with_account(rig.store)
    main, backup = ScriptedConnector("main"), ScriptedConnector("backup")
    await rig.connectors(main, backup)
    await write_routes(
        rig.store,
        {"id": "r1", "connector": "main", "priority": 1},
        {"id": "r2", "connector": "backup"},
    )
    queue = MemoryDeliveryQueue(1000)
    receipts = ReceiptProcessor(rig.store, rig.policy)
    worker = DeliveryWorker(queue, rig.carriers, rig.store, receipts, rig.clock, 50, CancelDesk())
    messages = [sg_message(str(1000 + i)) for i in range(200)]
    await rig.store.insert_messages(messages)
    await queue.put_when_room(messages)

    handled = 0
    while handled < len(messages):
        if handled == 100:
            main.mode = "raise"  # killed mid-load: the link drops under a batch
        if handled == 150:
            main.up = False  # and it knows it is down
        async with asyncio.timeout(WAIT_S):
            handled += await worker.run_once()

    stored = [await rig.store.get_message(ACCOUNT_ID, m.id) for m in messages]
    assert all(m is not None and m.status is MessageStatus.SUBMITTED for m in stored)
    by_connector = Counter(m.connector for m in stored if m is not None)
    assert by_connector == {"main": 100, "backup": 100}
    assert set(main.seen[:100]).isdisjoint(backup.seen)
    assert len(queue) == 0


async def test_a_message_without_a_route_fails_with_its_receipt(rig: Rig) -> None:
    await with_account(rig.store)
    await write_routes(rig.store, {"id": "r1", "connector": "simulator", "country": "ID"})
    queue = MemoryDeliveryQueue(10)
    receipts = ReceiptProcessor(rig.store, rig.policy)
    worker = DeliveryWorker(queue, rig.carriers, rig.store, receipts, rig.clock, 50, CancelDesk())
    message = sg_message("42")
    await rig.store.insert_messages([message])
    await queue.put_when_room([message])

    async with asyncio.timeout(WAIT_S):
        await worker.run_once()
        while await receipts.run_once():
            pass

    stored = await rig.store.get_message(ACCOUNT_ID, "42")
    assert stored is not None
    assert (stored.status, stored.error_code, stored.connector) == (
        MessageStatus.FAILED,
        errors.OPERATOR_NOT_SUPPORT.code,
        None,
    )


# -- draining: the receipts owed --------------------------------------------------------------


@pytest.fixture
async def owing() -> AsyncIterator[Rig]:
    """A connector set that asks its store what a drained connector still owes."""
    store = MemoryStore()
    await store.start()
    clock = FixedClock()
    policy = PolicyCache(store, clock, ttl_s=0)
    simulator = ScriptedConnector("simulator", records_submission=False, resubmit_on_recovery=True)
    router = Router(policy, random.Random(5).random)
    carriers = ConnectorSet(router, simulator, clock, messages=store, poll_s=0.01)
    fed: list[object] = []
    await carriers.start(collect_receipts(fed))
    yield Rig(store, clock, policy, simulator, carriers, fed)
    await carriers.close()
    await store.close()


def events(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, object]]:
    """The fields of each ``event`` logged."""
    return [getattr(r, FIELDS_ATTR) for r in caplog.records if r.getMessage() == event]


async def handed_over(rig: Rig, connector: str, *message_ids: str, at: float = T0) -> None:
    """Messages stored and recorded as handed over through ``connector`` (as the worker does)."""
    await rig.store.insert_messages([sg_message(mid) for mid in message_ids])
    handed = [Accepted(mid, connector, (f"c{mid}",), at) for mid in message_ids]
    await rig.store.mark_submitted(handed)


async def test_a_drain_stays_bound_until_the_receipts_owed_have_come(
    owing: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    old = ScriptedConnector("upstream")
    await owing.connectors(old)
    await handed_over(owing, "upstream", "1", "2")
    await handed_over(owing, "other", "3")  # another connector's: not waited for
    retired = owing.carriers.retire("upstream")
    assert retired is not None
    owing.clock.t = T0 + 10

    await owing.store.apply_receipts([Receipt("1", MessageStatus.DELIVERED, "success", T0 + 11)])
    drain = asyncio.create_task(owing.carriers.drain(retired, WAIT_S, 60.0))
    await handed_over(owing, "upstream", "4", at=T0 + 20)  # a successor's, handed over later
    async with asyncio.timeout(WAIT_S):
        while not events(caplog, "connector.drain_receipts"):
            await asyncio.sleep(0.01)
    # "1" was delivered before the first count; "3" and "4" are not upstream's to wait for.
    assert events(caplog, "connector.drain_receipts") == [{"connector": "upstream", "owed": 1}]
    assert not old.closed
    assert owing.carriers.status()["upstream"]["state"] == "draining"

    await owing.store.apply_receipts([Receipt("2", MessageStatus.DELIVERED, "success", T0 + 12)])
    async with asyncio.timeout(WAIT_S):
        await drain
    assert old.closed
    assert events(caplog, "connector.drain_timeout") == []


async def test_a_drain_closes_at_its_bound_with_receipts_still_owed(
    owing: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    old = ScriptedConnector("upstream")
    await owing.connectors(old)
    await handed_over(owing, "upstream", "1")
    retired = owing.carriers.retire("upstream")
    assert retired is not None

    async with asyncio.timeout(WAIT_S):
        await owing.carriers.drain(retired, WAIT_S, 0.2)

    assert old.closed
    assert events(caplog, "connector.drain_receipts") == [{"connector": "upstream", "owed": 1}]
    assert events(caplog, "connector.drain_timeout") == [{"connector": "upstream", "owed": 1}]
    message = await owing.store.get_message(ACCOUNT_ID, "1")
    assert message is not None
    assert message.status is MessageStatus.SUBMITTED


async def test_a_drain_with_no_receipts_owed_closes_after_one_poll(owing: Rig) -> None:
    old = ScriptedConnector("upstream")
    await owing.connectors(old)
    await handed_over(owing, "upstream", "1")
    await owing.store.apply_receipts([Receipt("1", MessageStatus.DELIVERED, "success", T0 + 1)])
    retired = owing.carriers.retire("upstream")
    assert retired is not None

    async with asyncio.timeout(WAIT_S):
        await owing.carriers.drain(retired, WAIT_S, 60.0)
    assert old.closed


async def test_a_drain_counts_the_hand_overs_still_being_recorded(tmp_path: Path) -> None:
    """The connector's last submits are answered while the drain waits; the worker is still
    recording those hand-overs (SQLite's writer thread) when the drain counts, at once (no
    poll interval to hide behind): they are counted, and the drain waits for their receipts."""
    store = SqliteStore(tmp_path / "smsgate.db", SecretBox(b"k" * 32))
    await store.start()
    await with_account(store)
    clock = FixedClock()
    policy = PolicyCache(store, clock, ttl_s=0)
    simulator = ScriptedConnector("simulator", records_submission=False, resubmit_on_recovery=True)
    carriers = ConnectorSet(Router(policy), simulator, clock, messages=store, poll_s=0.0)
    upstream = ScriptedConnector("upstream", hold=asyncio.Event())
    await write_connectors(store, {"upstream": connector_settings()})
    await write_routes(store, {"id": "r1", "connector": "upstream"})
    await carriers.start(ignore_receipts)
    await carriers.put("upstream", upstream)
    queue = MemoryDeliveryQueue(100)
    worker = DeliveryWorker(queue, carriers, store, ReceiptProcessor(store, policy), clock, 50)
    messages = [sg_message(str(100 + i)) for i in range(40)]
    await store.insert_messages(messages)
    await queue.put_when_room(messages)
    try:
        delivering = asyncio.create_task(worker.run_once())
        async with asyncio.timeout(WAIT_S):
            await upstream.entered.wait()
        retired = carriers.retire("upstream")
        assert retired is not None
        counted: list[int] = []
        count = store.count_awaiting_receipt

        async def counting(connector: str, sent_until: float) -> int:
            counted.append(await count(connector, sent_until))
            return counted[-1]

        store.count_awaiting_receipt = counting  # type: ignore[method-assign]
        drain = asyncio.create_task(carriers.drain(retired, WAIT_S, 60.0))

        assert upstream.hold is not None
        upstream.hold.set()
        async with asyncio.timeout(WAIT_S):
            await delivering
            while not counted:
                await asyncio.sleep(0.01)
        assert counted[0] == 40
        assert not upstream.closed

        done = [Receipt(m.id, MessageStatus.DELIVERED, "success", T0 + 1) for m in messages]
        await store.apply_receipts(done)
        async with asyncio.timeout(WAIT_S):
            await drain
        assert upstream.closed
    finally:
        await carriers.close()
        await store.close()


async def test_hand_overs_through_a_draining_connector_are_still_recorded(rig: Rig) -> None:
    """Its last submits are answered while it drains: the worker must record them (else their
    receipts find no message), until it is closed."""
    upstream = ScriptedConnector("upstream")
    await rig.connectors(upstream)
    assert rig.carriers.records_submission

    retired = rig.carriers.retire("upstream")
    assert retired is not None
    assert rig.carriers.records_submission  # only the simulator is live, but upstream drains

    async with asyncio.timeout(WAIT_S):
        await rig.carriers.drain(retired, WAIT_S)
    assert upstream.closed
    assert not rig.carriers.records_submission
