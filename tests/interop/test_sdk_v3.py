"""Every international action through the current official SDK (V3 ACS3-HMAC-SHA256 signatures)."""

from __future__ import annotations

import json
import time

import pytest
from alibabacloud_dysmsapi20180501 import models
from Tea.exceptions import TeaException

from smsgate import errors

from .conftest import Account, CallbackReceiver, ServerProcess, v3_client

SG = "6591234567"  # a valid Singapore mobile number (SingTel)
ID = "6281234567890"  # a valid Indonesian mobile number (Telkomsel)


def test_send_message_to_globe_answers_alibaba_fields(
    server: ServerProcess, pushed_account: Account, receiver: CallbackReceiver
) -> None:
    client = v3_client(server, pushed_account)
    response = client.send_message_to_globe(
        models.SendMessageToGlobeRequest(to=SG, from_="Acme", message="Your code is 1234")
    )
    body = response.body
    assert response.status_code == 200
    assert body.response_code == "OK"
    assert body.segments == "1"
    assert body.to == SG
    assert body.from_ == "Acme"
    assert body.message_id
    assert body.message_id.isdigit()
    assert len(body.request_id) == 36
    assert body.number_detail.country == "Singapore"
    assert body.number_detail.carrier == "SingTel"

    [push] = receiver.wait_for([body.message_id])
    assert push["Status"] == 1
    assert push["ErrorCode"] == "success"
    query = client.query_message(models.QueryMessageRequest(message_id=body.message_id)).body
    assert query.response_code == "OK"
    assert query.status == "1"
    assert query.to == SG
    assert query.message == "Your code is 1234"
    assert query.error_code == "success"
    assert query.send_date
    assert query.receive_date
    assert query.number_detail.country == "Singapore"


def test_long_unicode_message_counts_segments(server: ServerProcess, account: Account) -> None:
    client = v3_client(server, account)
    text = "验证码" * 30  # 90 UCS-2 characters: two segments of 67
    body = client.send_message_to_globe(models.SendMessageToGlobeRequest(to=ID, message=text)).body
    assert body.response_code == "OK"
    assert body.segments == "2"
    assert body.number_detail.country == "Indonesia"


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("12345", errors.MOBILE_NUMBER_ILLEGAL),
        ("abcdefghijk", errors.MOBILE_NUMBER_ILLEGAL),
        ("8613800138000", errors.COUNTRY_RESTRICTED),
    ],
)
def test_bad_destinations_get_seed_codes(
    server: ServerProcess, account: Account, to: str, expected: errors.ResultCode
) -> None:
    body = (
        v3_client(server, account)
        .send_message_to_globe(models.SendMessageToGlobeRequest(to=to, message="hello"))
        .body
    )
    assert (body.response_code, body.response_description) == (expected.code, expected.message)
    assert body.message_id is None


def test_invalid_type_is_invalid_parameters(server: ServerProcess, account: Account) -> None:
    body = (
        v3_client(server, account)
        .send_message_to_globe(
            models.SendMessageToGlobeRequest(to=SG, message="hello", type="SPAM")
        )
        .body
    )
    assert body.response_code == errors.INVALID_PARAMETERS.code


def test_missing_message_is_a_gateway_error(server: ServerProcess, account: Account) -> None:
    with pytest.raises(TeaException) as caught:
        v3_client(server, account).send_message_to_globe(models.SendMessageToGlobeRequest(to=SG))
    assert caught.value.code == "MissingParameter"
    assert caught.value.data["HostId"]
    assert "Message" in caught.value.message


def test_batch_send_lists_failures(
    server: ServerProcess, pushed_account: Account, receiver: CallbackReceiver
) -> None:
    client = v3_client(server, pushed_account)
    numbers = [SG, "123", ID, "8613800138000"]
    body = client.batch_send_message_to_globe(
        models.BatchSendMessageToGlobeRequest(
            to=json.dumps(numbers),
            message=json.dumps(["a", "b", "c", "d"]),
            from_="Acme",
            task_id="campaign-7",
        )
    ).body
    assert body.response_code == "OK"
    assert body.success_count == "2"
    assert body.failed_list.split(",") == ["123", "8613800138000"]
    ids = body.message_id_list.split(",")
    assert len(ids) == 2
    pushes = receiver.wait_for(ids)
    assert {p["TaskId"] for p in pushes} == {"campaign-7"}
    first = client.query_message(models.QueryMessageRequest(message_id=ids[0])).body
    assert (first.to, first.message) == (SG, "a")


def test_batch_send_rejects_mismatched_and_malformed_arrays(
    server: ServerProcess, account: Account
) -> None:
    client = v3_client(server, account)
    mismatched = client.batch_send_message_to_globe(
        models.BatchSendMessageToGlobeRequest(to=json.dumps([SG, ID]), message=json.dumps(["a"]))
    ).body
    assert mismatched.response_code == errors.INVALID_PARAMETERS.code
    malformed = client.batch_send_message_to_globe(
        models.BatchSendMessageToGlobeRequest(to="not json", message=json.dumps(["a"]))
    ).body
    assert malformed.response_code == errors.INVALID_JSON_PARAM.code


def test_batch_over_1000_numbers(server: ServerProcess, account: Account) -> None:
    numbers = [f"659123{i:04d}" for i in range(1001)]
    body = (
        v3_client(server, account)
        .batch_send_message_to_globe(
            models.BatchSendMessageToGlobeRequest(
                to=json.dumps(numbers), message=json.dumps(["x"] * 1001)
            )
        )
        .body
    )
    assert body.response_code == errors.MOBILE_COUNT_OVER_LIMIT.code


def test_send_with_template(
    server: ServerProcess, pushed_account: Account, receiver: CallbackReceiver
) -> None:
    server.cli(
        "templates",
        "add",
        pushed_account.account_id,
        "--code",
        "SMS_100001",
        "--content",
        "Your code is ${code}, valid for ${minutes} minutes",
        "--type",
        "verification",
        "--status",
        "approved",
    )
    server.cli("signs", "add", pushed_account.account_id, "Acme", "--status", "approved")
    client = v3_client(server, pushed_account)
    body = client.send_message_with_template(
        models.SendMessageWithTemplateRequest(
            to=SG,
            from_="Acme",
            template_code="SMS_100001",
            template_param=json.dumps({"code": "4321", "minutes": 5}),
        )
    ).body
    assert body.response_code == "OK"
    assert body.segments == "1"
    receiver.wait_for([body.message_id])
    query = client.query_message(models.QueryMessageRequest(message_id=body.message_id)).body
    assert query.message == "Your code is 4321, valid for 5 minutes"


@pytest.mark.parametrize(
    ("template_code", "param", "expected"),
    [
        ("SMS_404", "{}", errors.SMS_CONTENT_CODE_ILLEGAL),
        ("SMS_100002", "not json", errors.INVALID_JSON_PARAM),
        ("SMS_100002", '{"other": "x"}', errors.CONTENT_MISSING_PARAMETERS),
        ("SMS_100002", '{"code": ""}', errors.CONTENT_MISSING_PARAMETERS),
        ("SMS_PENDING", '{"code": "1"}', errors.SMS_CONTENT_CODE_ILLEGAL),
    ],
)
def test_template_errors(
    server: ServerProcess,
    account: Account,
    template_code: str,
    param: str,
    expected: errors.ResultCode,
) -> None:
    server.cli(
        "templates",
        "add",
        account.account_id,
        "--code",
        "SMS_100002",
        "--content",
        "Code ${code}",
        "--status",
        "approved",
    )
    server.cli("signs", "add", account.account_id, "Acme", "--status", "approved")
    server.cli(
        "templates",
        "add",
        account.account_id,
        "--code",
        "SMS_PENDING",
        "--content",
        "Code ${code}",
        "--status",
        "pending",
    )
    body = (
        v3_client(server, account)
        .send_message_with_template(
            models.SendMessageWithTemplateRequest(
                to=SG, from_="Acme", template_code=template_code, template_param=param
            )
        )
        .body
    )
    assert body.response_code == expected.code


def test_query_unknown_and_foreign_messages(server: ServerProcess, account: Account) -> None:
    other = server.create_account("other")
    client = v3_client(server, account)
    sent = client.send_message_to_globe(models.SendMessageToGlobeRequest(to=SG, message="mine"))
    own_id = sent.body.message_id
    for message_id in ("999", "not-a-number", own_id):
        who = v3_client(server, other) if message_id == own_id else client
        body = who.query_message(models.QueryMessageRequest(message_id=message_id)).body
        assert body.response_code == errors.DATA_NOT_EXIST.code
        assert body.message is None


def test_sms_conversion_and_conversion_data(server: ServerProcess, account: Account) -> None:
    client = v3_client(server, account)
    sent = client.send_message_to_globe(
        models.SendMessageToGlobeRequest(to=SG, message="code 1", type="OTP")
    ).body
    ok = client.sms_conversion(
        models.SmsConversionRequest(
            message_id=sent.message_id, delivered=True, conversion_time=int(time.time() * 1000)
        )
    ).body
    assert ok.response_code == "OK"
    unknown = client.sms_conversion(
        models.SmsConversionRequest(message_id="42", delivered=True)
    ).body
    assert unknown.response_code == errors.DATA_NOT_EXIST.code
    future = client.sms_conversion(
        models.SmsConversionRequest(
            message_id=sent.message_id,
            delivered=False,
            conversion_time=int(time.time() * 1000) + 3_600_000,
        )
    ).body
    assert future.response_code == errors.INVALID_PARAMETERS.code

    rate = client.conversion_data(models.ConversionDataRequest(conversion_rate="0.42")).body
    assert rate.response_code == "OK"
    bad = client.conversion_data(models.ConversionDataRequest(conversion_rate="1.5")).body
    assert bad.response_code == errors.INVALID_PARAMETERS.code


@pytest.mark.parametrize(
    ("suffix", "code"),
    [(f"99{i:02d}", c.code) for i, c in enumerate(errors.RECEIPT_CODES, start=1)],
)
def test_simulator_produces_every_receipt_code(
    server: ServerProcess,
    pushed_account: Account,
    receiver: CallbackReceiver,
    suffix: str,
    code: str,
) -> None:
    client = v3_client(server, pushed_account)
    to = "659123" + suffix
    sent = client.send_message_to_globe(models.SendMessageToGlobeRequest(to=to, message="x")).body
    assert sent.response_code == "OK"
    [push] = receiver.wait_for([sent.message_id])
    assert (push["Status"], push["ErrorCode"]) == (2, code)
    assert push["ErrorDescription"] == errors.receipt_code(code).message
    query = client.query_message(models.QueryMessageRequest(message_id=sent.message_id)).body
    assert (query.status, query.error_code) == ("2", code)


def test_expired_receipt(
    server: ServerProcess, pushed_account: Account, receiver: CallbackReceiver
) -> None:
    client = v3_client(server, pushed_account)
    sent = client.send_message_to_globe(
        models.SendMessageToGlobeRequest(to="6591239910", message="x")
    ).body
    [push] = receiver.wait_for([sent.message_id])
    assert push["Status"] == 6
    query = client.query_message(models.QueryMessageRequest(message_id=sent.message_id)).body
    assert query.status == "2"
