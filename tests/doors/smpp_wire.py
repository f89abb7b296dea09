"""The SMPP door in-process, and a raw client for it: PDUs that smpplib encodes and decodes, over
an asyncio socket, so that nothing of smsgate's codec is on the client's side. smpplib has no
cancel_sm; that one is packed by hand, as SMPP 3.4 §4.9.1 lays it out.

The door is built by ``smsgate.bootstrap`` as the server builds it, over a memory store (or a
subclass of it that fails or waits on demand), a fixed clock and a delivery queue that nothing
drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import smpplib.command
import smpplib.consts
import smpplib.smpp

from smsgate.adapters.queue.memory import MemoryDeliveryQueue
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.bootstrap import bootstrap
from smsgate.config import SmppConfig
from smsgate.domain.models import AccessKey, Account, AccountState
from smsgate.doors.smpp.server import SmppServer
from smsgate.errors import SmppStatusProfile
from smsgate.service.smpp_accounts import hash_password
from tests import builders

from .conftest import ACCOUNT_ID, AK, SECRET, T0, FixedClock

__all__ = [
    "PASSWORD",
    "SYSTEM_ID",
    "SmppDoor",
    "bound",
    "cancel_sm",
    "open_smpp_door",
    "pdu",
    "read_header",
    "read_pdu",
]

SYSTEM_ID = "door"
PASSWORD = "s3cret"


@dataclass
class SmppDoor:
    port: int
    queue: MemoryDeliveryQueue
    server: SmppServer


@contextlib.asynccontextmanager
async def open_smpp_door(
    store: MemoryStore,
    *,
    queue_size: int = 10_000,
    status_codes: SmppStatusProfile | None = None,
    config: SmppConfig | None = None,
) -> AsyncIterator[SmppDoor]:
    """The SMPP door over ``store`` with one account, bound as SYSTEM_ID/PASSWORD in the
    status profile ``status_codes`` (None: the configured default), and a delivery queue of
    ``queue_size`` that nothing drains."""
    await store.start()
    account = Account(ACCOUNT_ID, "acme", AccountState.NORMAL, 10**12, None, T0 - 86_400)
    await store.create_account(account, AccessKey(AK, ACCOUNT_ID, SECRET, True, None, T0))
    credential = {"account_id": ACCOUNT_ID, "password_hash": hash_password(PASSWORD)}
    if status_codes is not None:
        credential["status_codes"] = status_codes
    await store.put_document("smpp", json.dumps({SYSTEM_ID: credential}))
    clock = FixedClock()
    queue = MemoryDeliveryQueue(queue_size)
    gateway = bootstrap(
        builders.config(smpp=config or replace(SmppConfig(), shutdown_s=0.5)),
        store=store,
        clock=clock,
        queue=queue,
        chance=lambda: 0.5,
    )
    await gateway.open()
    server = gateway.smpp_server()
    port = await server.start("127.0.0.1", 0)
    try:
        yield SmppDoor(port, queue, server)
    finally:
        await server.stop()
        await gateway.stop()


def pdu(command: str, sequence: int, **fields: object) -> bytes:
    """``command`` as smpplib encodes it."""
    # Without a client to number it, make_pdu needs the sequence passed (or it asks the
    # client for one) and then set (it does not keep what it was passed).
    made = smpplib.smpp.make_pdu(command, sequence=sequence, **fields)
    made.sequence = sequence
    data: bytes = made.generate()
    return data


def cancel_sm(sequence: int, message_id: str, source_addr: str = "Acme") -> bytes:
    """cancel_sm (§4.9.1) by message id: service_type, message_id, source and destination."""
    body = b"\0" + message_id.encode() + b"\0" + bytes([5, 0]) + source_addr.encode() + b"\0"
    body += bytes([0, 0]) + b"\0"
    return struct.pack(">IIII", 16 + len(body), 0x00000008, 0, sequence) + body


class _Parsing:
    """smpplib asks a client for a sequence number whenever it builds a request, even one it
    parses (a deliver_sm from the door): this one gives 0, and parse sets the real one."""

    sequence = 0

    def next_sequence(self) -> int:
        return 0


async def read_pdu(reader: asyncio.StreamReader) -> smpplib.command.Command:
    """The next PDU, decoded by smpplib."""
    header = await reader.readexactly(4)
    (length,) = struct.unpack(">L", header)
    data = header + await reader.readexactly(length - 4)
    return smpplib.smpp.parse_pdu(data, client=_Parsing())


async def read_header(reader: asyncio.StreamReader) -> tuple[int, int, int]:
    """(command_id, command_status, sequence_number) of the next PDU, its body skipped: for the
    responses smpplib cannot decode (cancel_sm_resp)."""
    length, command_id, status, sequence = struct.unpack(">IIII", await reader.readexactly(16))
    await reader.readexactly(length - 16)
    return command_id, status, sequence


async def bound(
    port: int, mode: str = "transceiver"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection bound as a transceiver (or ``mode``: transmitter, receiver)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(pdu(f"bind_{mode}", 1, system_id=SYSTEM_ID, password=PASSWORD))
    resp = await read_pdu(reader)
    assert (resp.command, resp.status) == (f"bind_{mode}_resp", smpplib.consts.SMPP_ESME_ROK)
    return reader, writer
