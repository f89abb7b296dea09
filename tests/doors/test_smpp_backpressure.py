"""The SMPP door holds a bounded amount of work per bind, however fast a client sends.

The door runs in-process over a memory store whose commits wait on a gate the test opens, so
"the server is busy" is a state the test holds rather than a race it hopes to win. The client is
a raw socket speaking PDUs that smpplib encodes and decodes, so nothing of smsgate's codec is on
the client's side.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace

import pytest
import smpplib.consts
import smpplib.smpp

from smsgate.adapters.carriers.simulator import CarrierSimulator
from smsgate.adapters.limits.memory import MemoryLimiter
from smsgate.adapters.queue.memory import MemoryDeliveryQueue
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.config import SimulatorConfig, SmppConfig
from smsgate.domain.faults import FaultInjector
from smsgate.domain.ids import MessageIdGenerator
from smsgate.domain.models import AccessKey, Account, AccountState, Message
from smsgate.doors.smpp.server import SmppServer
from smsgate.service.access import AccessGuard
from smsgate.service.cancel import CancelDesk, CancelService
from smsgate.service.keyring import KeyRing
from smsgate.service.policy import PolicyCache
from smsgate.service.smpp_accounts import hash_password
from smsgate.service.submit import SubmitService

from .conftest import ACCOUNT_ID, AK, SECRET, T0, FixedClock

SYSTEM_ID = "gated"
PASSWORD = "s3cret"
WINDOW = 8


class GatedStore(MemoryStore):
    """Accepting messages waits for :attr:`gate`; :attr:`waiting` counts what waits."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = 0
        self.most_waiting = 0

    async def accept_messages(self, messages: Sequence[Message], charge_micros: int) -> bool:
        self.waiting += len(messages)
        self.most_waiting = max(self.most_waiting, self.waiting)
        try:
            await self.gate.wait()
        finally:
            self.waiting -= len(messages)
        return await super().accept_messages(messages, charge_micros)


@pytest.fixture
async def gated() -> AsyncIterator[tuple[GatedStore, int]]:
    """A gated store and the port of an SMPP door over it with ``request_window`` WINDOW."""
    store = GatedStore()
    await store.start()
    account = Account(ACCOUNT_ID, "acme", AccountState.NORMAL, 10**12, None, T0 - 86_400)
    await store.create_account(account, AccessKey(AK, ACCOUNT_ID, SECRET, True, None, T0))
    credential = {"account_id": ACCOUNT_ID, "password_hash": hash_password(PASSWORD)}
    await store.put_document("smpp", json.dumps({SYSTEM_ID: credential}))
    clock = FixedClock()
    queue = MemoryDeliveryQueue(10_000)
    policy = PolicyCache(store, clock, ttl_s=0)
    await policy.load()
    submit = SubmitService(
        store,
        store,
        store,
        queue,
        MessageIdGenerator(0),
        clock,
        policy,
        MemoryLimiter(),
        max_segments=15,
    )
    server = SmppServer(
        submit=submit,
        accounts=store,
        messages=store,
        policy=policy,
        guard=AccessGuard(policy, store, FaultInjector(lambda: 0.5)),
        keyring=KeyRing(store, clock),
        cancels=CancelService(
            CancelDesk(), store, queue, CarrierSimulator(SimulatorConfig(), clock), clock
        ),
        clock=clock,
        config=replace(SmppConfig(), request_window=WINDOW, shutdown_s=0.5),
    )
    port = await server.start("127.0.0.1", 0)
    try:
        yield store, port
    finally:
        store.gate.set()
        await server.stop()
        await store.close()


def _pdu(command: str, sequence: int, **fields: object) -> bytes:
    # Without a client to number it, make_pdu needs the sequence passed (or it asks the
    # client for one) and then set (it does not keep what it was passed).
    pdu = smpplib.smpp.make_pdu(command, sequence=sequence, **fields)
    pdu.sequence = sequence
    data: bytes = pdu.generate()
    return data


async def _read_pdu(reader: asyncio.StreamReader) -> smpplib.command.Command:
    header = await reader.readexactly(4)
    (length,) = struct.unpack(">L", header)
    return smpplib.smpp.parse_pdu(header + await reader.readexactly(length - 4))


def _submit(sequence: int) -> bytes:
    return _pdu(
        "submit_sm",
        sequence,
        source_addr="Acme",
        destination_addr=f"6591{sequence:06d}",
        short_message=b"backpressure",
    )


async def _bound(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_pdu("bind_transceiver", 1, system_id=SYSTEM_ID, password=PASSWORD))
    resp = await _read_pdu(reader)
    assert (resp.command, resp.status) == ("bind_transceiver_resp", smpplib.consts.SMPP_ESME_ROK)
    return reader, writer


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the loop run until ``condition`` holds (the door's work is all on this loop)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0)


async def test_a_busy_server_takes_no_more_than_the_window_from_one_bind(
    gated: tuple[GatedStore, int],
) -> None:
    store, port = gated
    reader, writer = await _bound(port)
    sent = 10 * WINDOW
    writer.write(b"".join(_submit(seq) for seq in range(2, 2 + sent)))
    await writer.drain()
    await _until(lambda: store.waiting >= WINDOW)  # a window's worth reaches the store
    for _ in range(100):  # give the door every chance to take more than it should
        await asyncio.sleep(0)
    assert store.waiting == WINDOW

    store.gate.set()
    answers = [await _read_pdu(reader) for _ in range(sent)]
    assert sorted(a.sequence for a in answers) == list(range(2, 2 + sent))
    assert {(a.command, a.status) for a in answers} == {
        ("submit_sm_resp", smpplib.consts.SMPP_ESME_ROK)
    }
    assert store.most_waiting == WINDOW
    writer.close()


async def test_a_bind_stuck_at_its_window_does_not_hold_up_another_bind(
    gated: tuple[GatedStore, int],
) -> None:
    store, port = gated
    _, greedy = await _bound(port)
    greedy.write(b"".join(_submit(seq) for seq in range(2, 2 + 10 * WINDOW)))
    await _until(lambda: store.waiting >= WINDOW)

    reader, writer = await _bound(port)
    writer.write(_pdu("enquire_link", 7))
    answer = await asyncio.wait_for(_read_pdu(reader), timeout=5)
    assert (answer.command, answer.sequence) == ("enquire_link_resp", 7)
    greedy.close()
    writer.close()
