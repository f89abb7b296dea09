"""A message that no route can take is refused at submission with isv.NOT_SUPPORTED_COUNTRY
(26), through the HTTP door: nothing stored, nothing charged, nothing queued. With no routes at
all the simulator takes everything."""

from __future__ import annotations

import json

from aiohttp import ClientResponse

from smsgate import errors

from .conftest import ACCOUNT_ID, Door, open_door

SG = "6591234567"
ID = "6281234567890"
SEND = {"Action": "SendMessageToGlobe"}


async def code_of(response: ClientResponse) -> str:
    assert response.status == 200
    body = await response.json()
    code: str = body["ResponseCode"]
    return code


async def routes(door: Door, *routes: dict[str, object]) -> None:
    await door.store.put_document("routes", json.dumps(list(routes)))


async def test_no_matching_route_is_not_supported_country_and_nothing_is_kept() -> None:
    async with open_door(capacity=10) as door:
        await routes(door, {"id": "r1", "connector": "simulator", "country": "ID"})
        balance = door.account.balance_micros

        refused = await door.get({**SEND, "To": SG, "Message": "hi"})
        accepted = await door.get({**SEND, "To": ID, "Message": "hi"})

        assert await code_of(refused) == errors.NOT_SUPPORTED_COUNTRY.code
        assert await code_of(accepted) == "OK"
        stored = await door.store.list_messages(ACCOUNT_ID, 10)
        assert [m.to for m in stored] == [ID]
        assert door.queue.used == 1
        account = await door.store.get_account(ACCOUNT_ID)
        assert account is not None
        assert account.balance_micros == balance - stored[0].price_micros


async def test_without_routes_every_destination_is_taken() -> None:
    async with open_door(capacity=10) as door:
        assert await code_of(await door.get({**SEND, "To": SG, "Message": "hi"})) == "OK"
        assert await code_of(await door.get({**SEND, "To": ID, "Message": "hi"})) == "OK"


async def test_routes_by_prefix_sender_and_account_decide_too() -> None:
    async with open_door(capacity=10) as door:
        await routes(
            door,
            {"id": "r1", "connector": "simulator", "prefix": "6591"},
            {"id": "r2", "connector": "simulator", "sender": "Acme"},
            {"id": "r3", "connector": "simulator", "account": "someone-else"},
        )

        by_prefix = await door.get({**SEND, "To": SG, "Message": "hi"})
        other_number = await door.get({**SEND, "To": "6581234567", "Message": "hi"})
        by_sender = await door.get({**SEND, "To": "6581234567", "Message": "hi", "From": "Acme"})

        assert await code_of(by_prefix) == "OK"
        assert await code_of(other_number) == errors.NOT_SUPPORTED_COUNTRY.code
        assert await code_of(by_sender) == "OK"


async def test_a_batch_refuses_only_the_numbers_no_route_takes() -> None:
    async with open_door(capacity=10) as door:
        await routes(door, {"id": "r1", "connector": "simulator", "country": "SG"})

        response = await door.get(
            {
                "Action": "BatchSendMessageToGlobe",
                "To": json.dumps([SG, ID]),
                "Message": json.dumps(["a", "b"]),
            }
        )

        body = await response.json()
        assert body["ResponseCode"] == "OK"
        assert (body["SuccessCount"], body["FailedList"]) == ("1", ID)
