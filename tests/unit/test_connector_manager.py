"""The connector manager keeps running connectors in line with the ``connectors`` document: an
added connector is built and started, a removed one drains (nothing new routed to it, what it
holds answered, then closed), a changed one is replaced. A factory of scripted connectors stands
for the SMPP connector; passwords are sealed with a test master key."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from smsgate.adapters.storage.memory import MemoryStore
from smsgate.domain.connectors import ConnectorSpec
from smsgate.domain.models import Accepted, Retry
from smsgate.service.connector_manager import ConnectorManager
from smsgate.service.connectors import ConnectorSet
from smsgate.service.policy import PolicyCache
from smsgate.service.routing import Router
from tests.builders import ignore_receipts
from tests.unit.connector_kit import (
    BOX,
    WAIT_S,
    FixedClock,
    ScriptedConnector,
    connector_settings,
    sg_message,
    wait_for,
    write_connectors,
    write_routes,
)

PASSWORD = "s3cret"


@dataclass
class Factory:
    """Builds scripted connectors, remembering what it was given; fails on request."""

    built: list[tuple[ConnectorSpec, str, ScriptedConnector]] = field(default_factory=list)
    fail_with: Exception | None = None
    fail_start: bool = False

    def __call__(self, spec: ConnectorSpec, password: str) -> ScriptedConnector:
        if self.fail_with is not None:
            raise self.fail_with
        connector = ScriptedConnector(spec.name)
        if self.fail_start:

            async def refuse(_sink: object) -> None:
                raise ConnectionRefusedError(f"{spec.address} refused")

            connector.start = refuse  # type: ignore[method-assign,assignment]
        self.built.append((spec, password, connector))
        return connector

    def latest(self, name: str) -> ScriptedConnector:
        return [c for spec, _pw, c in self.built if spec.name == name][-1]


@dataclass
class Rig:
    store: MemoryStore
    carriers: ConnectorSet
    factory: Factory
    manager: ConnectorManager

    async def configure(self, **connectors: dict[str, object]) -> None:
        await write_connectors(self.store, connectors)
        await self.manager.reconcile()


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    store = MemoryStore()
    await store.start()
    clock = FixedClock()
    policy = PolicyCache(store, clock, ttl_s=0)
    simulator = ScriptedConnector("simulator", records_submission=False)
    carriers = ConnectorSet(Router(policy, random.Random(3).random), simulator, clock)
    await carriers.start(ignore_receipts)
    factory = Factory()
    manager = ConnectorManager(policy, carriers, factory, BOX.open, drain_s=WAIT_S)
    yield Rig(store, carriers, factory, manager)
    await manager.stop()
    await carriers.close()
    await store.close()


async def test_an_added_connector_is_built_with_its_password_started_and_routed_to(
    rig: Rig,
) -> None:
    await write_routes(rig.store, {"id": "r1", "connector": "uplink"})

    await rig.configure(uplink=connector_settings(binds=2))

    [(spec, password, uplink)] = rig.factory.built
    assert (spec.name, spec.binds, password) == ("uplink", 2, PASSWORD)
    assert uplink.started
    assert rig.carriers.names() == ["simulator", "uplink"]
    [outcome] = await rig.carriers.submit([sg_message("1")])
    assert isinstance(outcome, Accepted)
    assert outcome.connector == "uplink"


async def test_nothing_changes_when_the_document_does_not(rig: Rig) -> None:
    await rig.configure(uplink=connector_settings())

    await rig.manager.reconcile()
    await rig.manager.reconcile()

    assert len(rig.factory.built) == 1


async def test_a_removed_connector_drains_then_closes(rig: Rig) -> None:
    await write_routes(
        rig.store,
        {"id": "r1", "connector": "old", "priority": 1},
        {"id": "r2", "connector": "simulator"},
    )
    await rig.configure(old=connector_settings())
    old = rig.factory.latest("old")
    old.hold = asyncio.Event()
    in_flight = asyncio.create_task(rig.carriers.submit([sg_message("1")]))
    await wait_for(old.entered)

    await rig.configure()  # removed from the document
    [outcome] = await rig.carriers.submit([sg_message("2")])

    assert isinstance(outcome, Accepted)
    assert outcome.connector == "simulator"
    assert rig.carriers.status()["old"]["state"] == "draining"
    assert not old.closed  # a submit is still in its hands
    old.hold.set()
    async with asyncio.timeout(WAIT_S):
        [answered] = await in_flight
    await wait_for(old.closing)  # the drain task closes it once the submit is answered
    assert isinstance(answered, Accepted)
    assert answered.connector == "old"
    assert "old" not in rig.carriers.status()
    assert old.seen == ["1"]


async def test_a_changed_connector_is_replaced_and_the_old_one_drains(rig: Rig) -> None:
    await write_routes(rig.store, {"id": "r1", "connector": "uplink"})
    await rig.configure(uplink=connector_settings(window=10))
    first = rig.factory.latest("uplink")

    await rig.configure(uplink=connector_settings(window=50))
    [outcome] = await rig.carriers.submit([sg_message("1")])

    second = rig.factory.latest("uplink")
    assert second is not first
    assert second.started
    assert rig.factory.built[-1][0].window == 50
    assert isinstance(outcome, Accepted)
    assert second.seen == ["1"]
    await wait_for(first.closing)
    assert first.seen == []


async def test_a_connector_that_cannot_be_built_is_reported_without_its_password(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig.factory.fail_with = ValueError(f"the SMSC refused password {PASSWORD}")
    await write_routes(rig.store, {"id": "r1", "connector": "uplink"})

    await rig.configure(uplink=connector_settings())
    await rig.manager.reconcile()  # not tried again while its settings stay the same

    status = rig.manager.status()["uplink"]
    assert status["state"] == "failed"
    assert status["error"] == "cannot be built: ValueError: the SMSC refused password ***"
    assert all(PASSWORD not in record.getMessage() for record in caplog.records)
    assert all(PASSWORD not in str(vars(record)) for record in caplog.records)
    # Its messages wait: the connector is configured, but down.
    assert await rig.carriers.submit([sg_message("1")]) == [Retry("1", 1.0)]

    rig.factory.fail_with = None
    await rig.configure(uplink=connector_settings(window=20))  # a change: tried again
    assert rig.manager.status()["uplink"]["state"] == "up"


async def test_a_password_that_does_not_unseal_is_a_failure_to_build(rig: Rig) -> None:
    await rig.configure(uplink=connector_settings(password_sealed="v1:00"))

    assert rig.manager.status()["uplink"]["state"] == "failed"
    assert rig.factory.built == []


async def test_a_connector_that_cannot_start_is_closed_and_reported(rig: Rig) -> None:
    rig.factory.fail_start = True

    await rig.configure(uplink=connector_settings())

    [(_spec, _pw, uplink)] = rig.factory.built
    assert uplink.closed
    assert rig.manager.status()["uplink"] == {
        "state": "failed",
        "error": "cannot start: ConnectionRefusedError: smpp://smsc.example.net:2775 refused",
    }
    assert rig.carriers.names() == ["simulator"]


async def test_a_bad_change_leaves_the_working_settings_in_service(rig: Rig) -> None:
    original = connector_settings()
    await rig.configure(uplink=original)
    working = rig.factory.latest("uplink")
    rig.factory.fail_with = RuntimeError("no such host")

    await rig.configure(uplink=connector_settings(host="typo.example.net"))

    status = rig.manager.status()["uplink"]
    assert status["state"] == "up"
    assert status["error"] == "cannot be built: RuntimeError: no such host"
    assert not working.closed
    assert rig.carriers.names() == ["simulator", "uplink"]

    await rig.configure(uplink=original)  # changed back: the error is gone
    assert "error" not in rig.manager.status()["uplink"]


async def test_a_drain_that_takes_too_long_ends_in_a_close(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await write_routes(rig.store, {"id": "r1", "connector": "stuck"})
    manager = ConnectorManager(
        PolicyCache(rig.store, FixedClock(), ttl_s=0),
        rig.carriers,
        rig.factory,
        BOX.open,
        drain_s=0.01,
    )
    await write_connectors(rig.store, {"stuck": connector_settings()})
    await manager.reconcile()
    stuck = rig.factory.latest("stuck")
    stuck.hold = asyncio.Event()
    in_flight = asyncio.create_task(rig.carriers.submit([sg_message("1")]))
    await wait_for(stuck.entered)

    await write_connectors(rig.store, {})
    await manager.reconcile()
    await wait_for(stuck.closing)  # closed with the submit still in its hands
    stuck.hold.set()
    async with asyncio.timeout(WAIT_S):
        await in_flight
    await manager.stop()

    assert any(r.getMessage() == "connector.drain_timeout" for r in caplog.records)


async def test_run_reconciles_until_cancelled_and_survives_a_failure(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    manager = ConnectorManager(
        PolicyCache(rig.store, FixedClock(), ttl_s=0),
        rig.carriers,
        rig.factory,
        BOX.open,
        interval_s=0.001,
    )
    calls: list[int] = []
    third = asyncio.Event()

    async def reconcile() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("the store is away")
        if len(calls) == 3:
            third.set()

    manager.reconcile = reconcile  # type: ignore[method-assign]
    running = asyncio.create_task(manager.run())
    await wait_for(third)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    assert any("brought in line" in r.getMessage() for r in caplog.records)
