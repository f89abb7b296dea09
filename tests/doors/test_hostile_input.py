"""Hostile requests at the Alibaba door: each gets a clear refusal from the catalog, never a 500
or a system error, and never an action on a copy of a parameter that was not the one signed."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aiohttp import ClientResponse

from smsgate import errors

from .conftest import Door, signed_url

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
    assert body["Message"] == "A request carries at most 1000 parameters."
