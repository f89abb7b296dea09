"""Hostile requests at the Alibaba door: each gets a clear refusal from the catalog, never a 500
or a system error, and never an action on a copy of a parameter that was not the one signed."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

from aiohttp import ClientResponse

from smsgate import errors
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.config import HttpConfig
from smsgate.domain.models import Message

from .conftest import Door, open_door, signed_url

SEND = {"Action": "SendMessageToGlobe"}
SG = "6591234567"


async def _json(response: ClientResponse) -> dict[str, Any]:
    body: dict[str, Any] = await response.json()
    return body


async def test_a_repeated_signature_is_refused(door: Door) -> None:
    url = signed_url({**SEND, "To": SG, "Message": "hi"})

    response = await door.client.get(url + "&Signature=forged")

    assert response.status == 400
    body = await _json(response)
    assert body["Code"] == errors.INVALID_PARAMETER.code
    assert "'Signature' is given more than once" in body["Message"]
    assert len(door.queue) == 0


async def test_a_repeated_business_parameter_is_refused(door: Door) -> None:
    url = signed_url({**SEND, "To": SG, "Message": "hi"})

    response = await door.client.get(url + f"&To={SG[:-1]}0")

    body = await _json(response)
    assert (response.status, body["Code"]) == (400, errors.INVALID_PARAMETER.code)
    assert "'To' is given more than once" in body["Message"]


async def test_a_signature_in_both_query_and_form_is_refused(door: Door) -> None:
    url = signed_url({**SEND, "To": SG, "Message": "hi"}, method="POST")

    response = await door.client.post(
        url,
        data="Signature=forged",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    body = await _json(response)
    assert (response.status, body["Code"]) == (400, errors.INVALID_PARAMETER.code)


async def test_deeply_nested_json_parameters_are_invalid_json(door: Door) -> None:
    nested = "[" * 50_000 + "]" * 50_000

    batch = await door.get(
        {"Action": "BatchSendMessageToGlobe", "To": nested, "Message": json.dumps(["a"])}
    )
    assert (await _json(batch))["ResponseCode"] == errors.INVALID_JSON_PARAM.code


async def test_a_parameter_flood_is_refused_before_it_is_decoded(door: Door) -> None:
    flood = "&".join(f"k{i}={quote('v')}" for i in range(5_000))

    response = await door.client.get("/?" + flood)

    body = await _json(response)
    assert (response.status, body["Code"]) == (400, errors.INVALID_PARAMETER.code)
    assert body["Message"].endswith(" A request carries at most 1000 parameters.")


class _SlowLookups(MemoryStore):
    """A store whose message lookups wait until the test lets them go."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def get_message(self, account_id: str, message_id: str) -> Message | None:
        self.entered.set()
        await self.release.wait()
        return await super().get_message(account_id, message_id)


async def test_requests_beyond_the_in_progress_bound_are_shed_before_parsing() -> None:
    store = _SlowLookups()
    async with open_door(store, limits=HttpConfig(max_in_progress=1)) as door:
        query = {"Action": "QueryMessage", "MessageId": "1"}
        first = asyncio.ensure_future(door.get(query))
        await store.entered.wait()  # the first request is being handled

        shed = await door.client.get("/?Action=QueryMessage")  # not even signed

        body = await _json(shed)
        assert (shed.status, body["Code"]) == (429, errors.THROTTLING.code)
        store.release.set()
        answered = await first
        assert (await _json(answered))["ResponseCode"] == errors.DATA_NOT_EXIST.code
