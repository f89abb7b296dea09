"""Connectors under test against :class:`~tests.peers.smsc.ForeignSmsc`, an SMSC on smpplib.

``connect(**spec_changes)`` starts a :class:`SmppConnector` to the peer with a
:class:`RecordingSink`, waits for its binds, and closes it after the test. Timers are short
(back-off in tens of milliseconds) and jitter is fixed, so that faults heal within the test's
waits; nothing sleeps for a result: tests await the peer's ``wait_*`` or the connector's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest

from smsgate.adapters.carriers.smpp import SmppConnector
from smsgate.domain.connectors import ConnectorSpec
from smsgate.smpp.pdu import DataSm, DeliverSm
from tests.peers.smsc import ForeignSmsc

SYSTEM_ID = "acme"
PASSWORD = "s3cret"
NAME = "upstream-1"


@dataclass
class RecordingSink:
    """An UpstreamSink that keeps what it is given; while ``gate`` is set it waits on it."""

    delivered: list[tuple[str, DeliverSm | DataSm]] = field(default_factory=list)
    status: int = 0
    gate: asyncio.Event | None = None
    error: Exception | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def deliver_all(self, connector: str, pdus: Sequence[DeliverSm | DataSm]) -> list[int]:
        self.delivered.extend((connector, pdu) for pdu in pdus)
        self._arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return [self.status] * len(pdus)

    async def wait(self, count: int, timeout: float = 5.0) -> list[DeliverSm | DataSm]:
        async with asyncio.timeout(timeout):
            while len(self.delivered) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return [pdu for _, pdu in self.delivered[:count]]


def make_spec(port: int, **changes: Any) -> ConnectorSpec:
    fields: dict[str, Any] = {
        "name": NAME,
        "host": "127.0.0.1",
        "port": port,
        "system_id": SYSTEM_ID,
        "password_sealed": "sealed",
        "window": 10,
        "reconnect_initial_s": 0.05,
        "reconnect_max_s": 0.2,
        "response_timeout_s": 5.0,
    }
    return ConnectorSpec(**(fields | changes))


class Connect(Protocol):
    def __call__(
        self,
        *,
        password: str = PASSWORD,
        wait: bool = True,
        options: dict[str, Any] | None = None,
        **changes: Any,
    ) -> Awaitable[SmppConnector]: ...


@pytest.fixture
async def smsc() -> AsyncIterator[ForeignSmsc]:
    async with ForeignSmsc({SYSTEM_ID: PASSWORD}) as peer:
        yield peer


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def connect(smsc: ForeignSmsc, sink: RecordingSink) -> AsyncIterator[Connect]:
    started: list[SmppConnector] = []

    async def start(
        *,
        password: str = PASSWORD,
        wait: bool = True,
        options: dict[str, Any] | None = None,
        **changes: Any,
    ) -> SmppConnector:
        spec = make_spec(changes.pop("port", smsc.port), **changes)
        connector = SmppConnector(spec, password, **({"random": lambda: 0.5} | (options or {})))
        started.append(connector)
        await connector.start(sink)
        if wait:
            await connector.wait_up(timeout=5)
        return connector

    yield start
    for connector in started:
        await connector.close(drain_s=0.5)


async def until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """For state the peer does not see (the connector's own): re-checked every loop turn."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"waited {timeout} s for {what}") from None
