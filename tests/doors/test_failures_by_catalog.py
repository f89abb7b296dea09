"""The same failure gets the same answer at both doors, each in its wire form, from the catalog.

An overload (no room in the delivery queue, or too many HTTP requests in progress) is
:data:`errors.OVERLOADED`: HTTP ``Throttling`` 429, SMPP ``ESME_RMSGQFUL`` in both status
profiles. Requests are real: signed HTTP requests to the in-process Alibaba door, and PDUs that
smpplib encodes to the in-process SMPP door.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import smpplib.consts
from aiohttp import ClientResponse

from smsgate import errors
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.config import HttpConfig
from smsgate.domain.models import Message
from smsgate.doors.smpp.statuses import PROFILES
from smsgate.errors import SmppStatusProfile
from smsgate.smpp.constants import CommandStatus

from .conftest import Door, open_door
from .smpp_wire import bound, open_smpp_door, pdu, read_pdu

SG = "6591234567"
SEND = {"Action": "SendMessageToGlobe", "To": SG, "Message": "hello"}


async def _json(response: ClientResponse) -> dict[str, Any]:
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    return body


def _overload_status(profile: SmppStatusProfile) -> int:
    """What the catalog says a full queue is over SMPP in ``profile``."""
    return int(CommandStatus[errors.OVERLOADED.smpp_status[profile]])


# -- overload over HTTP ---------------------------------------------------------------------------


async def test_a_full_queue_is_the_catalogs_overload_answer_over_http(door: Door) -> None:
    assert (await _json(await door.get(SEND)))["ResponseCode"] == "OK"  # fills the queue

    response = await door.get(SEND)

    body = await _json(response)
    gateway = errors.OVERLOADED.gateway
    assert (response.status, body["Code"], body["Message"]) == (
        gateway.http_status,
        gateway.code,
        gateway.message,
    )
    assert (response.status, body["Code"]) == (429, "Throttling")


class _HeldLookups(MemoryStore):
    """Message lookups wait until the test lets them go."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def get_message(self, account_id: str, message_id: str) -> Message | None:
        self.entered.set()
        await self.release.wait()
        return await super().get_message(account_id, message_id)


async def test_too_many_requests_in_progress_is_the_catalogs_overload_answer() -> None:
    store = _HeldLookups()
    async with open_door(store, limits=HttpConfig(max_in_progress=1)) as door:
        first = asyncio.ensure_future(door.get({"Action": "QueryMessage", "MessageId": "1"}))
        await store.entered.wait()

        shed = await door.get(SEND)

        body = await _json(shed)
        gateway = errors.OVERLOADED.gateway
        assert (shed.status, body["Code"]) == (gateway.http_status, gateway.code)
        assert body["Message"] == f"{gateway.message} Too many requests in progress; retry later."
        store.release.set()
        await first


# -- overload over SMPP ---------------------------------------------------------------------------


def _submit(sequence: int) -> bytes:
    return pdu(
        "submit_sm",
        sequence,
        source_addr="Acme",
        destination_addr=SG,
        short_message=b"hello",
    )


@pytest.mark.parametrize("profile", errors.SMPP_STATUS_PROFILES)
async def test_a_full_queue_is_the_catalogs_overload_answer_over_smpp(
    profile: SmppStatusProfile,
) -> None:
    async with open_smpp_door(MemoryStore(), queue_size=1, status_codes=profile) as door:
        reader, writer = await bound(door.port)
        writer.write(_submit(2))
        assert (await read_pdu(reader)).status == smpplib.consts.SMPP_ESME_ROK  # fills the queue

        writer.write(_submit(3))
        answer = await read_pdu(reader)

        assert (answer.command, answer.sequence) == ("submit_sm_resp", 3)
        assert answer.status == _overload_status(profile) == PROFILES[profile][errors.OVERLOADED]
        assert answer.status == smpplib.consts.SMPP_ESME_RMSGQFUL
        assert len(door.queue) == 1  # nothing more was taken
        writer.close()
