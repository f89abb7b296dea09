"""The Alibaba door over HTTP, in-process: answers, gateway errors, backpressure and formats.

Every request is signed by ``aliyunsdkcore``'s own V1 signer. The queue holds one message and no
worker drains it, so the second accepted send is the one that meets a full pipeline.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientResponse

from smsgate import errors
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.domain.models import AccountState, Message, MessageStatus
from smsgate.logs import JsonFormatter, TextFormatter
from smsgate.ports.store import StoreError

from .conftest import ACCOUNT_ID, AK, SECRET, Door, open_door, signed_url

SG = "6591234567"
CN = "8613800138000"
SEND = {"Action": "SendMessageToGlobe"}
GATEWAY_ERROR_KEYS = {"RequestId", "HostId", "Code", "Message", "Recommend"}
RESULT_KEYS = {"RequestId", "ResponseCode", "ResponseDescription"}
REQUEST_ID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")


async def json_of(response: ClientResponse) -> dict[str, Any]:
    assert response.content_type == "application/json"
    body = await response.json()
    assert isinstance(body, dict)
    return body


async def xml_of(response: ClientResponse) -> ET.Element:
    assert response.content_type == "text/xml"
    return ET.fromstring(await response.read())


async def stored(door: Door) -> list[Message]:
    return await door.store.list_messages(ACCOUNT_ID, 100)


class ExplodingStore(MemoryStore):
    """get_message fails with something no layer expects."""

    async def get_message(self, account_id: str, message_id: str) -> Message | None:
        raise RuntimeError("boom: /var/lib/smsgate/smsgate.db is corrupt")


class BrokenReadStore(MemoryStore):
    """get_message fails the way a store adapter reports a database failure."""

    async def get_message(self, account_id: str, message_id: str) -> Message | None:
        raise StoreError("disk I/O error")


# -- accepted --------------------------------------------------------------------------------


async def test_send_answers_ok_with_alibabas_fields(door: Door) -> None:
    response = await door.get({**SEND, "To": SG, "Message": "hello", "From": "Acme"})

    assert response.status == 200
    body = await json_of(response)
    assert set(body) == RESULT_KEYS | {"Segments", "To", "From", "MessageId", "NumberDetail"}
    assert body["ResponseCode"] == "OK"
    assert body["ResponseDescription"] == "The call is successful."
    assert (body["Segments"], body["To"], body["From"]) == ("1", SG, "Acme")
    assert body["NumberDetail"] == {
        "Country": "Singapore",
        "Region": "Singapore",
        "Carrier": "SingTel",
    }
    assert REQUEST_ID.fullmatch(body["RequestId"])

    # OK means stored and queued.
    message = await door.store.get_message(ACCOUNT_ID, body["MessageId"])
    assert message is not None
    assert (message.to, message.body, message.sender, message.status) == (
        SG,
        "hello",
        "Acme",
        MessageStatus.ACCEPTED,
    )
    assert message.created_at == door.clock.now()
    assert len(door.queue) == 1


async def test_parameter_values_survive_signing_and_the_wire(door: Door) -> None:
    text = "Pay 10+5 * 2 ~ 100% & more = ok? 你好 👋"
    response = await door.get({**SEND, "To": "+" + SG, "Message": text})

    body = await json_of(response)
    assert body["ResponseCode"] == "OK"
    message = await door.store.get_message(ACCOUNT_ID, body["MessageId"])
    assert message is not None
    assert (message.to, message.body, message.encoding) == (SG, text, "UCS2")


async def test_a_form_post_is_accepted(door: Door) -> None:
    response = await door.post_form(SEND, {"To": SG, "Message": "by post"})

    body = await json_of(response)
    assert (response.status, body["ResponseCode"]) == (200, "OK")
    assert [m.body for m in await stored(door)] == ["by post"]


async def test_query_message_finds_a_sent_message(door: Door) -> None:
    sent = await json_of(await door.get({**SEND, "To": SG, "Message": "hello"}))

    response = await door.get({"Action": "QueryMessage", "MessageId": sent["MessageId"]})

    body = await json_of(response)
    assert body["ResponseCode"] == "OK"
    assert (body["MessageId"], body["To"], body["Message"]) == (sent["MessageId"], SG, "hello")
    assert body["Status"] == "3"  # still sending: no worker drains the queue here
    # Nothing to say yet: the fields are left out, as Alibaba leaves them out, not null.
    assert {"ErrorCode", "ErrorDescription", "ReceiveDate"}.isdisjoint(body)


# -- backpressure ----------------------------------------------------------------------------


async def test_a_full_queue_answers_throttling(door: Door) -> None:
    first = await door.get({**SEND, "To": SG, "Message": "one"})
    assert (await json_of(first))["ResponseCode"] == "OK"

    response = await door.get({**SEND, "To": SG, "Message": "two"})

    assert response.status == 429
    body = await json_of(response)
    assert set(body) == GATEWAY_ERROR_KEYS
    assert body["Code"] == "Throttling"
    assert body["Message"] == errors.THROTTLING.message
    assert body["HostId"] == door.host
    assert body["Recommend"] == "https://github.com/smsgate/smsgate#error-throttling"
    assert REQUEST_ID.fullmatch(body["RequestId"])
    assert [m.body for m in await stored(door)] == ["one"]  # nothing stored for the refusal
    assert len(door.queue) == 1


async def test_a_batch_that_does_not_fit_answers_throttling_and_stores_nothing() -> None:
    async with open_door(capacity=2) as door:
        response = await door.get(
            {
                "Action": "BatchSendMessageToGlobe",
                "To": f'["{SG}", "6281234567890", "6591239902"]',
                "Message": '["a", "b", "c"]',
            }
        )
        assert response.status == 429
        assert (await json_of(response))["Code"] == "Throttling"
        assert await stored(door) == []
        assert door.queue.used == 0


# -- business results and gateway errors -----------------------------------------------------


async def test_a_business_refusal_is_http_200_with_its_seed_code(door: Door) -> None:
    response = await door.get({**SEND, "To": CN, "Message": "hi"})

    assert response.status == 200
    body = await json_of(response)
    assert body == {
        "RequestId": body["RequestId"],
        "ResponseCode": "isv.COUNTRY_RESTRICTED",
        "ResponseDescription": errors.COUNTRY_RESTRICTED.message,
    }
    assert await stored(door) == []
    assert door.queue.used == 0


async def test_batch_send_reports_good_and_bad_numbers() -> None:
    async with open_door(capacity=10) as door:
        response = await door.get(
            {
                "Action": "BatchSendMessageToGlobe",
                "To": f'["{SG}", "12345", "{CN}"]',
                "Message": '["a", "b", "c"]',
            }
        )
        body = await json_of(response)
        assert body["ResponseCode"] == "OK"
        assert (body["SuccessCount"], body["FailedList"]) == ("1", f"12345,{CN}")
        assert body["MessageIdList"] == (await stored(door))[0].id


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (AccountState.SUSPENDED, "isv.OUT_OF_SERVICE"),
        (AccountState.CLOSED, "isv.ACCOUNT_NOT_EXISTS"),
        (AccountState.ABNORMAL, "isv.ACCOUNT_ABNORMAL"),
        (AccountState.UNSUBSCRIBED, "isv.PRODUCT_UN_SUBSCRIPT"),
    ],
)
async def test_an_unusable_account_gets_its_state_code(state: AccountState, code: str) -> None:
    async with open_door(state=state) as door:
        response = await door.get({**SEND, "To": SG, "Message": "hi"})
        assert response.status == 200
        assert (await json_of(response))["ResponseCode"] == code
        assert await stored(door) == []


async def test_a_key_without_the_action_is_ram_permission_deny() -> None:
    async with open_door(actions=frozenset({"QueryMessage"})) as door:
        response = await door.get({**SEND, "To": SG, "Message": "hi"})
        body = await json_of(response)
        assert (response.status, body["ResponseCode"]) == (200, "isp.RAM_PERMISSION_DENY")
        assert body["ResponseDescription"] == errors.RAM_PERMISSION_DENY.message
        assert await stored(door) == []


@pytest.mark.parametrize(
    ("params", "signing", "status", "code"),
    [
        ({**SEND, "To": SG, "Message": "x"}, {"secret": "wrong" * 6}, 400, "SignatureDoesNotMatch"),
        ({**SEND, "To": SG, "Message": "x"}, {"key_id": "LTAI" + "x" * 20}, 404, None),
        ({**SEND, "To": SG}, {}, 400, "MissingParameter"),
        ({"Action": "SendSms", "To": SG}, {}, 404, "InvalidAction.NotFound"),
    ],
    ids=["wrong-secret", "unknown-key", "missing-message", "unknown-action"],
)
async def test_gateway_errors_have_their_http_status_and_body(
    door: Door, params: dict[str, str], signing: dict[str, str], status: int, code: str | None
) -> None:
    response = await door.get(params, **signing)

    assert response.status == status
    body = await json_of(response)
    assert set(body) == GATEWAY_ERROR_KEYS
    assert body["Code"] == (code or "InvalidAccessKeyId.NotFound")
    assert body["HostId"] == door.host
    assert await stored(door) == []


async def test_a_replayed_request_is_refused(door: Door) -> None:
    url = signed_url({"Action": "QueryMessage", "MessageId": "1"})
    first = await door.client.get(url)
    assert (await json_of(first))["ResponseCode"] == "isv.DATA_NOT_EXIST"

    again = await door.client.get(url)

    assert again.status == 400
    assert (await json_of(again))["Code"] == "SignatureNonceUsed"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({**SEND, "To": SG, "Message": "hello"}, "OK"),
        ({**SEND, "To": "123", "Message": "hello"}, "isv.MOBILE_NUMBER_ILLEGAL"),
        ({"Action": "QueryMessage", "MessageId": "1"}, "isv.DATA_NOT_EXIST"),
    ],
)
async def test_a_nonce_is_kept_in_the_store_before_the_answer(
    door: Door, params: dict[str, str], code: str
) -> None:
    """Whatever the answer, so that a replay after a restart is refused as well."""
    url = signed_url(params)
    nonce = re.search(r"SignatureNonce=([^&]+)", url)
    assert nonce is not None

    response = await door.client.get(url)

    assert (await json_of(response))["ResponseCode"] == code
    kept = await door.store.live_nonces(door.clock.t, None, 10)
    assert [(n.access_key_id, n.nonce) for n in kept] == [(AK, nonce.group(1))]
    assert kept[0].expires_at == door.clock.t + 900  # the timestamp window after it


async def test_an_unsupported_http_method_is_405(door: Door) -> None:
    response = await door.client.put(
        signed_url({**SEND, "To": SG, "Message": "x"}, method="PUT"), data=b"x"
    )

    assert response.status == 405
    body = await json_of(response)
    assert set(body) == GATEWAY_ERROR_KEYS
    assert body["Code"] == "UnsupportedHTTPMethod"
    assert body["Message"] == errors.UNSUPPORTED_HTTP_METHOD.message
    assert await stored(door) == []


# -- unexpected failures ---------------------------------------------------------------------


async def test_an_unexpected_exception_is_the_access_layer_system_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with open_door(ExplodingStore()) as door:
        with caplog.at_level(logging.ERROR, logger="smsgate.doors.aliyun.server"):
            response = await door.get({"Action": "QueryMessage", "MessageId": "1"})
        text = await response.text()

    assert response.status == 200
    body = await json_of(response)
    assert set(body) == RESULT_KEYS
    assert body["ResponseCode"] == "isp.SYSTEM_ERROR"
    assert body["ResponseDescription"] == "A system error has occurred on the access layer."
    for leak in ("Traceback", "RuntimeError", "boom", "/var/lib", "File "):
        assert leak not in text
    # The operator's log has the traceback, tagged with the client's RequestId.
    (record,) = [r for r in caplog.records if r.exc_info]
    assert body["RequestId"] in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


async def test_a_store_failure_behind_a_query_is_the_core_system_error() -> None:
    async with open_door(BrokenReadStore()) as door:
        response = await door.get({"Action": "QueryMessage", "MessageId": "1"})
        body = await json_of(response)

    assert (response.status, body["ResponseCode"]) == (200, "isp.SYSTEM_ERROR")
    assert body["ResponseDescription"] == errors.SYSTEM_ERROR.message


# -- XML -------------------------------------------------------------------------------------


def children(element: ET.Element) -> dict[str, str | None]:
    return {child.tag: child.text for child in element}


async def test_xml_ok_answer(door: Door) -> None:
    response = await door.get({**SEND, "To": SG, "Message": "hello & <bye>"}, fmt="XML")

    assert response.status == 200
    root = await xml_of(response)
    assert root.tag == "SendMessageToGlobeResponse"
    fields = children(root)
    assert set(fields) == RESULT_KEYS | {"Segments", "To", "MessageId", "NumberDetail"}  # no From
    assert (fields["ResponseCode"], fields["Segments"], fields["To"]) == ("OK", "1", SG)
    assert fields["ResponseDescription"] == "The call is successful."
    detail = root.find("NumberDetail")
    assert detail is not None
    assert children(detail) == {"Country": "Singapore", "Region": "Singapore", "Carrier": "SingTel"}
    message = await door.store.get_message(ACCOUNT_ID, fields["MessageId"] or "")
    assert message is not None
    assert message.body == "hello & <bye>"


async def test_xml_business_refusal(door: Door) -> None:
    response = await door.get({**SEND, "To": CN, "Message": "hi"}, fmt="XML")

    assert response.status == 200
    root = await xml_of(response)
    assert root.tag == "SendMessageToGlobeResponse"  # named after the action, like an OK
    assert children(root)["ResponseCode"] == "isv.COUNTRY_RESTRICTED"


@pytest.mark.parametrize(
    ("params", "signing", "status", "code"),
    [
        ({**SEND, "To": SG, "Message": "x"}, {"secret": "wrong" * 6}, 400, "SignatureDoesNotMatch"),
        ({"Action": "NoSuchAction"}, {}, 404, "InvalidAction.NotFound"),
    ],
    ids=["wrong-secret", "unknown-action"],
)
async def test_xml_gateway_error(
    door: Door, params: dict[str, str], signing: dict[str, str], status: int, code: str
) -> None:
    response = await door.get(params, fmt="XML", **signing)

    assert response.status == status
    root = await xml_of(response)
    assert root.tag == "Error"
    fields = children(root)
    assert set(fields) == GATEWAY_ERROR_KEYS
    assert fields["Code"] == code
    assert fields["HostId"] == door.host
    assert REQUEST_ID.fullmatch(fields["RequestId"] or "")


async def test_xml_throttling(door: Door) -> None:
    await door.get({**SEND, "To": SG, "Message": "one"})
    response = await door.get({**SEND, "To": SG, "Message": "two"}, fmt="XML")

    assert response.status == 429
    root = await xml_of(response)
    assert (root.tag, children(root)["Code"]) == ("Error", "Throttling")


# -- request ids -----------------------------------------------------------------------------


async def test_request_ids_are_unique_and_uuid_shaped(door: Door) -> None:
    responses: Sequence[ClientResponse] = [
        await door.get({**SEND, "To": SG, "Message": "ok"}),  # OK
        await door.get({**SEND, "To": SG, "Message": "full"}),  # 429
        await door.get({**SEND, "To": CN, "Message": "cn"}),  # business refusal
        await door.get({**SEND, "To": SG}),  # 400 gateway error
        await door.client.put("/"),  # 405
        *[await door.get({"Action": "QueryMessage", "MessageId": str(i)}) for i in range(20)],
    ]
    ids = [(await json_of(r))["RequestId"] for r in responses]

    assert len(set(ids)) == len(ids)
    for request_id in ids:
        assert REQUEST_ID.fullmatch(request_id), request_id
        assert str(uuid.UUID(request_id)).upper() == request_id


async def test_request_ids_are_random_uuids_like_alibabas(door: Door) -> None:
    """Alibaba's RequestId is a random UUID in upper case; a counter behind a fixed prefix would
    tell how many requests the server answered, and that one process answered them."""
    ids = [
        (await json_of(await door.get({"Action": "QueryMessage", "MessageId": str(i)})))[
            "RequestId"
        ]
        for i in range(20)
    ]

    for request_id in ids:
        parsed = uuid.UUID(request_id)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed).upper() == request_id
    assert len({request_id[:8] for request_id in ids}) == len(ids)  # no shared prefix
    assert len({request_id[-12:] for request_id in ids}) == len(ids)


async def test_no_answer_names_the_http_library(door: Door) -> None:
    responses = [
        await door.get({**SEND, "To": SG, "Message": "ok"}),  # OK
        await door.get({**SEND, "To": SG}),  # 400 gateway error
        await door.get({**SEND, "To": SG, "Message": "ok"}, fmt="XML"),  # 429, XML
        await door.client.put("/"),  # 405
        await door.client.get("/health"),
        await door.client.get("/no/such/path"),  # aiohttp's own 404
    ]

    for response in responses:
        assert "Server" not in response.headers, (response.status, response.headers["Server"])
        await response.read()
    assert [r.status for r in responses] == [200, 400, 429, 405, 200, 404]


def nulls_in(value: Any, path: str = "") -> list[str]:
    """Where ``value`` holds a JSON null, as ``a.b[0].c`` paths."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nulls_in(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in nulls_in(v, f"{path}[{i}]")]
    return [path] if value is None else []


async def test_answers_leave_out_fields_without_a_value_instead_of_null() -> None:
    async with open_door(capacity=10) as door:
        sent = await json_of(await door.get({**SEND, "To": SG, "Message": "no sender"}))
        batch = await json_of(
            await door.get(
                {"Action": "BatchSendMessageToGlobe", "To": f'["{SG}"]', "Message": '["a"]'}
            )
        )
        query = await json_of(
            await door.get({"Action": "QueryMessage", "MessageId": sent["MessageId"]})
        )
        details = await json_of(
            await door.get(
                {
                    "Action": "QuerySendDetails",
                    "Version": "2017-05-25",
                    "PhoneNumber": SG,
                    "SendDate": door_day(door),
                    "PageSize": "10",
                    "CurrentPage": "1",
                }
            )
        )

    assert "From" not in sent
    assert "From" not in batch
    assert {"ErrorCode", "ErrorDescription", "ReceiveDate"}.isdisjoint(query)
    rows = details["SmsSendDetailDTOs"]["SmsSendDetailDTO"]
    assert len(rows) == 2
    assert {"OutId", "ReceiveDate", "ErrCode", "TemplateCode"}.isdisjoint(rows[0])
    for body in (sent, batch, query, details):
        assert body.get("ResponseCode", body.get("Code")) == "OK", body
        assert nulls_in(body) == []


def door_day(door: Door) -> str:
    return datetime.fromtimestamp(door.clock.now(), UTC).strftime("%Y%m%d")


# -- the request log ---------------------------------------------------------------------------


def api_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The ``api.request`` records, each as the JSON object ``--log-format json`` writes, after
    checking that neither format shows a secret, a signature or a message text."""
    lines = []
    for record in caplog.records:
        if record.name != "smsgate.http" or record.getMessage() != "api.request":
            continue
        text, line = TextFormatter().format(record), JsonFormatter().format(record)
        for forbidden in (SECRET, "Signature=", "hello there", "server string to sign"):
            assert forbidden not in text
            assert forbidden not in line
        assert record.levelno == logging.INFO
        lines.append(json.loads(line))
    return lines


async def test_each_request_is_one_log_line(door: Door, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="smsgate.http")
    url = signed_url({**SEND, "To": SG, "Message": "hello there"})

    body = await json_of(await door.client.get(url))

    [line] = api_lines(caplog)
    assert line["event"] == "api.request"
    assert {k: line[k] for k in ("action", "version", "account", "access_key_id")} == {
        "action": "SendMessageToGlobe",
        "version": "2018-05-01",
        "account": ACCOUNT_ID,
        "access_key_id": AK,
    }
    assert (line["code"], line["status"], line["request_id"]) == ("OK", 200, body["RequestId"])
    assert line["peer"] == "127.0.0.1"
    assert isinstance(line["latency_ms"], float)
    assert 0 <= line["latency_ms"] < 10_000
    assert "detail" not in line


async def test_a_refused_request_logs_its_code_and_what_was_wrong(
    door: Door, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="smsgate.http")

    wrong = await door.get({**SEND, "To": SG, "Message": "hello there"}, secret="wrong" * 6)
    stranger = await door.get({**SEND, "To": SG, "Message": "x"}, key_id="LTAI" + "z" * 20)
    unsigned = await door.client.get("/?Action=SendMessageToGlobe&To=6591234567&Message=x")
    invalid = await door.get({**SEND, "To": SG, "Message": "x", "ValidityPeriod": "soon"})

    statuses = [r.status for r in (wrong, stranger, unsigned, invalid)]
    assert statuses == [400, 404, 400, 200]
    lines = api_lines(caplog)
    assert [(line["code"], line["status"]) for line in lines] == [
        ("SignatureDoesNotMatch", 400),
        ("InvalidAccessKeyId.NotFound", 404),
        ("MissingSignature", 400),
        ("isv.INVALID_PARAMETERS", 200),
    ]
    assert "account" not in lines[0]  # refused before the key's account was known
    assert lines[1]["access_key_id"] == "LTAI" + "z" * 20
    assert lines[2]["action"] == "SendMessageToGlobe"  # claimed, unsigned
    assert "access_key_id" not in lines[2]
    # isv.INVALID_PARAMETERS keeps the seed's description on the wire; the log names the
    # parameter.
    assert (await json_of(invalid))["ResponseDescription"] == errors.INVALID_PARAMETERS.message
    assert lines[3]["account"] == ACCOUNT_ID
    assert "ValidityPeriod" in lines[3]["detail"]


async def test_no_request_line_below_info(door: Door, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="smsgate.http")
    response = await door.get({**SEND, "To": SG, "Message": "x"})
    assert response.status == 200
    assert api_lines(caplog) == []


async def test_health(door: Door) -> None:
    response = await door.client.get("/health")
    assert (response.status, await response.json()) == (200, {"status": "ok"})

    door.readiness.failing("store", "disk_full", "SQLITE_FULL: database or disk is full", "free")
    response = await door.client.get("/health")
    assert response.status == 503
    body = await response.json()
    assert body["status"] == "not ready"
    assert [(p["component"], p["problem"]) for p in body["problems"]] == [("store", "disk_full")]

    door.readiness.recovered("store")
    response = await door.client.get("/health")
    assert (response.status, await response.json()) == (200, {"status": "ok"})


def test_the_signer_puts_the_key_in_the_query() -> None:
    # A guard on the harness itself: requests really are signed by the SDK with our key.
    url = signed_url({**SEND, "To": SG, "Message": "x"})
    assert url.startswith("/?")
    assert f"AccessKeyId={AK}" in url
    assert "Signature=" in url
    assert "SignatureNonce=" in url
