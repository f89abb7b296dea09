"""Every code of the seed table, produced on purpose through the official SDKs.

Each test sets up what a user would (with the CLI, as an operator), then makes the call that
Alibaba would refuse, and checks the ``ResponseCode`` and ``ResponseDescription`` that come back.
The server runs with ``refresh_s = 0`` so policy changes are seen by the very next request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alibabacloud_dysmsapi20180501 import models

from smsgate import errors
from smsgate.errors import ResultCode

from .conftest import Account, ServerProcess, v1_call, v3_client

SG = "6591234567"
SG2 = "6591234568"
ID = "6281234567890"

RULES_CONFIG = """
[server]
refresh_s = 0

[simulator]
delay_ms = 20
"""


DEFAULTS = {
    "countries": "{}",
    "keywords": "[]",
    "prices": '{"default": "0.05"}',
    "platform": "{}",
    "faults": "[]",
}


@pytest.fixture(scope="module")
def rules_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("rules") / "data", RULES_CONFIG)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def acct(rules_server: ServerProcess) -> Account:
    return rules_server.create_account("rules", balance="1000")


@pytest.fixture
def policy(rules_server: ServerProcess) -> Iterator[ServerProcess]:
    """Platform-wide documents set by a test are reset afterwards."""
    yield rules_server
    for name, default in DEFAULTS.items():
        rules_server.cli("policy", "set", name, default)


def send(
    server: ServerProcess, account: Account, to: str = SG, text: str = "hello", **fields: str
) -> models.SendMessageToGlobeResponseBody:
    request = models.SendMessageToGlobeRequest(to=to, message=text, **fields)
    return v3_client(server, account).send_message_to_globe(request).body


def send_template(
    server: ServerProcess,
    account: Account,
    code: str,
    params: str | None,
    sign: str = "Acme",
) -> models.SendMessageWithTemplateResponseBody:
    request = models.SendMessageWithTemplateRequest(
        to=SG, from_=sign, template_code=code, template_param=params
    )
    return v3_client(server, account).send_message_with_template(request).body


def assert_code(body: object, expected: ResultCode) -> None:
    assert (body.response_code, body.response_description) == (  # type: ignore[attr-defined]
        expected.code,
        expected.message,
    )


def approved_template(server: ServerProcess, account: Account, content: str, kind: str) -> str:
    code = "SMS_" + str(abs(hash((account.account_id, content))) % 10**9)
    server.cli(
        "templates",
        "add",
        account.account_id,
        "--code",
        code,
        "--content",
        content,
        "--type",
        kind,
        "--status",
        "approved",
    )
    server.cli("signs", "add", account.account_id, "Acme", "--status", "approved")
    return code


# -- accepted --------------------------------------------------------------------------------


def test_ok(rules_server: ServerProcess, acct: Account) -> None:
    assert_code(send(rules_server, acct), errors.OK)


# -- account and permissions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("suspended", errors.OUT_OF_SERVICE),
        ("closed", errors.ACCOUNT_NOT_EXISTS),
        ("abnormal", errors.ACCOUNT_ABNORMAL),
        ("unsubscribed", errors.PRODUCT_UN_SUBSCRIPT),
    ],
)
def test_account_states(
    rules_server: ServerProcess, acct: Account, state: str, expected: ResultCode
) -> None:
    rules_server.cli("accounts", "set-state", acct.account_id, state)
    assert_code(send(rules_server, acct), expected)


def test_ram_permission_deny(rules_server: ServerProcess, acct: Account) -> None:
    rules_server.cli("keys", "set-actions", acct.key_id, "QueryMessage")
    assert_code(send(rules_server, acct), errors.RAM_PERMISSION_DENY)


def test_ram_policy_deny_and_allow(rules_server: ServerProcess, acct: Account) -> None:
    deny = {"Statement": [{"Effect": "Deny", "Action": "dysms:SendMessage*"}]}
    rules_server.cli("policy", "set", f"key:{acct.key_id}", json.dumps(deny))
    assert_code(send(rules_server, acct), errors.RAM_PERMISSION_DENY)
    allow = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "dysms:*"}]}
    rules_server.cli("policy", "set", f"key:{acct.key_id}", json.dumps(allow))
    assert_code(send(rules_server, acct), errors.OK)


def test_ram_check_failed(rules_server: ServerProcess, acct: Account) -> None:
    broken = {"Statement": [{"Effect": "Maybe", "Action": "dysms:*"}]}
    rules_server.cli("policy", "set", f"key:{acct.key_id}", json.dumps(broken))
    assert_code(send(rules_server, acct), errors.RAM_CHECK_FAILED)


def test_forbidden_action(rules_server: ServerProcess, acct: Account) -> None:
    rules_server.cli(
        "settings", acct.account_id, "--barred-actions", "SendMessageToGlobe,QueryMessage"
    )
    assert_code(send(rules_server, acct), errors.FORBIDDEN_ACTION)


def test_res_owner_id_unknown(rules_server: ServerProcess, acct: Account) -> None:
    body = v1_call(
        rules_server,
        acct,
        "SendMessageToGlobe",
        {"To": SG, "Message": "x", "ResourceOwnerId": "1234567890123456"},
    )
    assert body["ResponseCode"] == errors.RES_OWNER_ID_UNKNOWN.code
    own = v1_call(
        rules_server,
        acct,
        "SendMessageToGlobe",
        {"To": SG, "Message": "x", "ResourceOwnerId": acct.account_id},
    )
    assert own["ResponseCode"] == "OK"


# -- numbers and countries -------------------------------------------------------------------


def test_mobile_number_illegal(rules_server: ServerProcess, acct: Account) -> None:
    assert_code(send(rules_server, acct, to="659"), errors.MOBILE_NUMBER_ILLEGAL)


def test_mobile_count_over_limit(rules_server: ServerProcess, acct: Account) -> None:
    request = models.BatchSendMessageToGlobeRequest(
        to=json.dumps([SG] * 1001), message=json.dumps(["x"] * 1001)
    )
    body = v3_client(rules_server, acct).batch_send_message_to_globe(request).body
    assert_code(body, errors.MOBILE_COUNT_OVER_LIMIT)


def test_country_restricted(rules_server: ServerProcess, acct: Account) -> None:
    assert_code(send(rules_server, acct, to="8613800138000"), errors.COUNTRY_RESTRICTED)


def test_not_supported_country(policy: ServerProcess, acct: Account) -> None:
    policy.cli("policy", "set", "countries", '{"allowed": ["SG"]}')
    assert_code(send(policy, acct, to=ID), errors.NOT_SUPPORTED_COUNTRY)
    assert_code(send(policy, acct, to=SG), errors.OK)


def test_senderid_error(policy: ServerProcess, acct: Account) -> None:
    policy.cli("policy", "set", "countries", '{"senders": {"SG": {"blocked": ["BANK"]}}}')
    assert_code(send(policy, acct, from_="bank"), errors.SENDERID_ERROR)
    assert_code(send(policy, acct, from_="Acme"), errors.OK)


# -- content ---------------------------------------------------------------------------------


def test_invalid_parameters(rules_server: ServerProcess, acct: Account) -> None:
    assert_code(send(rules_server, acct, type="SPAM"), errors.INVALID_PARAMETERS)


def test_black_key_control_limit(policy: ServerProcess, acct: Account) -> None:
    policy.cli("keywords", "add", "casino")
    # Full-width letters are the same keyword once normalised.
    assert_code(
        send(policy, acct, text="Win big at our ＣＡＳＩＮＯ"), errors.BLACK_KEY_CONTROL_LIMIT
    )


def test_template_codes(rules_server: ServerProcess, acct: Account) -> None:
    code = approved_template(rules_server, acct, "Your code is ${code}", "verification")
    assert_code(send_template(rules_server, acct, "SMS_404", "{}"), errors.SMS_CONTENT_CODE_ILLEGAL)
    assert_code(send_template(rules_server, acct, code, "not json"), errors.INVALID_JSON_PARAM)
    assert_code(send_template(rules_server, acct, code, "{}"), errors.CONTENT_MISSING_PARAMETERS)
    assert_code(
        send_template(rules_server, acct, code, '{"code": "1"}', sign="Nobody"),
        errors.SMS_SIGN_NAME_ILLEGAL,
    )
    assert_code(send_template(rules_server, acct, code, '{"code": "1234"}'), errors.OK)


def test_pending_and_blocked_templates(rules_server: ServerProcess, acct: Account) -> None:
    rules_server.cli(
        "templates", "add", acct.account_id, "--code", "SMS_77", "--content", "Hi ${n}"
    )
    assert_code(
        send_template(rules_server, acct, "SMS_77", '{"n": "a"}'), errors.SMS_CONTENT_CODE_ILLEGAL
    )
    rules_server.cli("templates", "approve", acct.account_id, "SMS_77")
    rules_server.cli("signs", "add", acct.account_id, "Acme")
    assert_code(
        send_template(rules_server, acct, "SMS_77", '{"n": "a"}'), errors.SMS_SIGN_NAME_ILLEGAL
    )
    rules_server.cli("signs", "approve", acct.account_id, "Acme")
    assert_code(send_template(rules_server, acct, "SMS_77", '{"n": "a"}'), errors.OK)
    rules_server.cli("templates", "block", acct.account_id, "SMS_77")
    assert_code(
        send_template(rules_server, acct, "SMS_77", '{"n": "a"}'), errors.SMS_CONTENT_CODE_ILLEGAL
    )


def test_param_length_limit(rules_server: ServerProcess, acct: Account) -> None:
    code = approved_template(rules_server, acct, "Code ${code}", "verification")
    rules_server.cli("settings", acct.account_id, "--max-param-length", "4")
    assert_code(
        send_template(rules_server, acct, code, '{"code": "12345"}'), errors.PARAM_LENGTH_LIMIT
    )
    assert_code(send_template(rules_server, acct, code, '{"code": "1234"}'), errors.OK)


# -- money -----------------------------------------------------------------------------------


def test_amount_not_enough(rules_server: ServerProcess) -> None:
    poor = rules_server.create_account("poor", balance="0.04")
    assert_code(send(rules_server, poor), errors.AMOUNT_NOT_ENOUGH)
    rules_server.cli("accounts", "top-up", poor.account_id, "0.01")
    assert_code(send(rules_server, poor), errors.OK)  # 0.05 a segment by default
    shown = rules_server.cli("accounts", "show", poor.account_id)
    assert isinstance(shown, dict)
    assert shown["balance"] == "0"
    assert_code(send(rules_server, poor), errors.AMOUNT_NOT_ENOUGH)


def test_billing_deduction_error(rules_server: ServerProcess, acct: Account) -> None:
    rules_server.cli("settings", acct.account_id, "--billing", "overdue")
    assert_code(send(rules_server, acct), errors.BILLING_DEDUCTION_ERROR)


# -- throttling and quotas -------------------------------------------------------------------


def test_minute_limit_for_verification_codes(rules_server: ServerProcess, acct: Account) -> None:
    assert_code(send(rules_server, acct, type="OTP"), errors.OK)
    assert_code(send(rules_server, acct, type="OTP"), errors.BUSINESS_LIMIT_CONTROL_MINUTE)
    assert_code(send(rules_server, acct, to=SG2, type="OTP"), errors.OK)  # another number


@pytest.mark.parametrize(
    ("limits", "types", "expected"),
    [
        ({"OTP": {"per_minute": None, "per_hour": 2}}, "OTP OTP", errors.BUSINESS_LIMIT_HOUR),
        (
            {"OTP": {"per_minute": None, "per_hour": None, "per_day": 2}},
            "OTP OTP",
            errors.BUSINESS_LIMIT_DAY,
        ),
        (
            {"OTP": {"per_minute": None}, "per_number_per_day": 2},
            "OTP NOTIFY",
            errors.BUSINESS_LIMIT_CONTROL_PHONE,
        ),
        ({"account_per_day": 2}, "OTP NOTIFY", errors.DAY_LIMIT_CONTROL),
        ({"account_per_month": 2}, "OTP NOTIFY", errors.MONTH_LIMIT_CONTROL),
    ],
)
def test_configured_limits(
    rules_server: ServerProcess,
    acct: Account,
    limits: dict[str, object],
    types: str,
    expected: ResultCode,
) -> None:
    """Two messages pass the configured limit of two; the third (an OTP) is refused."""
    rules_server.cli("settings", acct.account_id, "--limits", json.dumps(limits))
    for msg_type in types.split():
        assert_code(send(rules_server, acct, type=msg_type), errors.OK)
    assert_code(send(rules_server, acct, type="OTP"), expected)


def test_system_limit_control(policy: ServerProcess, acct: Account) -> None:
    used = len(policy.cli("messages", "list", acct.account_id))  # type: ignore[arg-type]
    assert used == 0
    policy.cli("policy", "set", "platform", '{"system_per_day": 1}')
    assert_code(send(policy, acct), errors.SYSTEM_LIMIT_CONTROL)


# -- records ---------------------------------------------------------------------------------


def test_data_not_exist(rules_server: ServerProcess, acct: Account) -> None:
    body = (
        v3_client(rules_server, acct)
        .query_message(models.QueryMessageRequest(message_id="42"))
        .body
    )
    assert_code(body, errors.DATA_NOT_EXIST)


# -- faults on demand ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("isp.SYSTEM_ERROR/21", errors.SYSTEM_ERROR_ACCESS_LAYER),
        ("isp.SYSTEM_ERROR/46", errors.SYSTEM_ERROR),
        ("isp.UNKNOWN", errors.UNKNOWN),
        ("isp.GATEWAY_ERROR", errors.GATEWAY_ERROR),
        ("isv.QUERY_DATE_ILLEGAL", errors.QUERY_DATE_ILLEGAL),
    ],
)
def test_injected_faults(
    policy: ServerProcess, acct: Account, code: str, expected: ResultCode
) -> None:
    policy.cli(
        "faults",
        "add",
        "--account",
        acct.account_id,
        "--action",
        "SendMessageToGlobe",
        "--code",
        code,
        "--count",
        "2",
    )
    assert_code(send(policy, acct), expected)
    assert_code(send(policy, acct), expected)
    assert_code(send(policy, acct), errors.OK)  # the next N calls only
    messages = policy.cli("messages", "list", acct.account_id)
    assert isinstance(messages, list)
    assert len(messages) == 1  # nothing stored, nothing charged for the faulted calls
    shown = policy.cli("accounts", "show", acct.account_id)
    assert isinstance(shown, dict)
    assert shown["balance"] == "999.95"


def test_every_seed_code_has_a_test() -> None:
    """This module names every seed row (the test above each proves it through the SDK)."""
    source = Path(__file__).read_text()
    for row in errors.SEED_ROWS:
        name = next(n for n, v in vars(errors).items() if v is row)
        assert f"errors.{name}" in source, name
