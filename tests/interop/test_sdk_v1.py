"""Every international action through the legacy SDK's CommonRequest (V1), GET and POST."""

from __future__ import annotations

import json
import time

import pytest

from smsgate import errors

from .conftest import Account, CallbackReceiver, ServerProcess, v1_call

SG = "6591234567"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_send_and_query(
    server: ServerProcess, pushed_account: Account, receiver: CallbackReceiver, method: str
) -> None:
    sent = v1_call(
        server,
        pushed_account,
        "SendMessageToGlobe",
        {"To": SG, "Message": "hello * ~ + & = 你好 😀", "From": "Acme", "Type": "OTP"},
        method,
    )
    assert sent["ResponseCode"] == "OK"
    assert sent["Segments"] == "1"
    message_id = str(sent["MessageId"])
    receiver.wait_for([message_id])
    query = v1_call(server, pushed_account, "QueryMessage", {"MessageId": message_id}, method)
    assert query["Status"] == "1"
    assert query["Message"] == "hello * ~ + & = 你好 😀"
    assert query["NumberDetail"] == {
        "Country": "Singapore",
        "Region": "Singapore",
        "Carrier": "SingTel",
    }


def test_batch_send(server: ServerProcess, account: Account) -> None:
    body = v1_call(
        server,
        account,
        "BatchSendMessageToGlobe",
        {"To": json.dumps([SG, "6598765432"]), "Message": json.dumps(["one", "two"])},
    )
    assert body["ResponseCode"] == "OK"
    assert body["SuccessCount"] == "2"
    assert body["FailedList"] == ""
    assert len(str(body["MessageIdList"]).split(",")) == 2


def test_template_send(server: ServerProcess, account: Account) -> None:
    server.cli(
        "templates",
        "add",
        account.account_id,
        "--code",
        "SMS_200",
        "--content",
        "Hi ${name}",
        "--status",
        "approved",
    )
    server.cli("signs", "add", account.account_id, "Acme", "--status", "approved")
    body = v1_call(
        server,
        account,
        "SendMessageWithTemplate",
        {
            "To": SG,
            "From": "Acme",
            "TemplateCode": "SMS_200",
            "TemplateParam": '{"name": "Ana"}',
        },
    )
    assert body["ResponseCode"] == "OK"
    query = v1_call(server, account, "QueryMessage", {"MessageId": str(body["MessageId"])})
    assert query["Message"] == "Hi Ana"


def test_conversions(server: ServerProcess, account: Account) -> None:
    sent = v1_call(server, account, "SendMessageToGlobe", {"To": SG, "Message": "otp"})
    now_ms = str(int(time.time() * 1000))
    conversion = v1_call(
        server,
        account,
        "SmsConversion",
        {"MessageId": str(sent["MessageId"]), "Delivered": "true", "ConversionTime": now_ms},
    )
    assert conversion["ResponseCode"] == "OK"
    bad = v1_call(
        server,
        account,
        "SmsConversion",
        {"MessageId": str(sent["MessageId"]), "Delivered": "maybe"},
    )
    assert bad["ResponseCode"] == errors.INVALID_PARAMETERS.code
    data = v1_call(server, account, "ConversionData", {"ConversionRate": "0.5"})
    assert data["ResponseCode"] == "OK"
    nan = v1_call(server, account, "ConversionData", {"ConversionRate": "NaN"})
    assert nan["ResponseCode"] == errors.INVALID_PARAMETERS.code


def test_malformed_validity_period(server: ServerProcess, account: Account) -> None:
    body = v1_call(
        server,
        account,
        "SendMessageToGlobe",
        {"To": SG, "Message": "x", "ValidityPeriod": "soon"},
    )
    assert body["ResponseCode"] == errors.INVALID_PARAMETERS.code
