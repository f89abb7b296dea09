"""Authentication and gateway errors: Alibaba's code and HTTP status each, nothing stored."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from alibabacloud_dysmsapi20180501 import models
from alibabacloud_tea_openapi.utils import Utils as TeaUtils
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.composer import rpc_signature_composer
from aliyunsdkcore.utils import parameter_helper
from Tea.exceptions import TeaException

from smsgate import errors
from smsgate.doors.aliyun.render import README_URL

from .conftest import Account, ServerProcess, v1_client, v1_request, v3_client

SG = "6591234567"


def messages_of(server: ServerProcess, account: Account) -> list[dict[str, object]]:
    listed = server.cli("messages", "list", account.account_id)
    assert isinstance(listed, list)
    return listed


def raw_get(server: ServerProcess, query: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://{server.endpoint}/?{query}", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def signed_query(account: Account, params: dict[str, str], secret: str | None = None) -> str:
    """A V1 query string signed by the legacy SDK's own signer."""
    base = {
        "Action": "SendMessageToGlobe",
        "Version": "2018-05-01",
        "RegionId": "ap-southeast-1",
        **params,
    }
    url, _ = rpc_signature_composer.get_signed_url(
        base, account.key_id, secret or account.secret, "JSON", "GET", {}
    )
    return url.removeprefix("/?")


def expect_v1_error(
    server: ServerProcess, account: Account, params: dict[str, str], secret: str | None = None
) -> ServerException:
    client = v1_client(account, secret)
    with pytest.raises(ServerException) as caught:
        client.do_action_with_exception(v1_request(server, "SendMessageToGlobe", params))
    return caught.value


def test_wrong_secret_v1(server: ServerProcess, account: Account) -> None:
    exc = expect_v1_error(server, account, {"To": SG, "Message": "x"}, secret="wrong" * 6)
    assert (exc.http_status, exc.error_code) == (400, "SignatureDoesNotMatch")
    # As Alibaba does, the message carries the server's string to sign, which the SDK compares
    # with its own to tell a wrong secret from a signing mismatch.
    assert "server string to sign is:POST&%2F&AccessKeyId%3D" in exc.message
    assert messages_of(server, account) == []


def test_wrong_secret_v3(server: ServerProcess, account: Account) -> None:
    with pytest.raises(TeaException) as caught:
        v3_client(server, account, secret="wrong" * 6).send_message_to_globe(
            models.SendMessageToGlobeRequest(to=SG, message="x")
        )
    assert caught.value.code == "SignatureDoesNotMatch"
    assert caught.value.data["statusCode"] == 400
    assert messages_of(server, account) == []


def test_unknown_access_key(server: ServerProcess, account: Account) -> None:
    stranger = Account(account.account_id, "LTAI" + "x" * 20, account.secret)
    exc = expect_v1_error(server, stranger, {"To": SG, "Message": "x"})
    assert (exc.http_status, exc.error_code) == (404, "InvalidAccessKeyId.NotFound")


def test_disabled_access_key(server: ServerProcess, account: Account) -> None:
    server.cli("keys", "disable", account.key_id)
    exc = expect_v1_error(server, account, {"To": SG, "Message": "x"})
    assert exc.error_code == "InvalidAccessKeyId.Inactive"
    assert messages_of(server, account) == []


def test_tampered_parameter(server: ServerProcess, account: Account) -> None:
    query = signed_query(account, {"To": SG, "Message": "pay 10"})
    status, body = raw_get(server, query.replace("pay%2010", "pay%2099"))
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    assert "server string to sign is:GET&%2F&" in str(body["Message"])
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert messages_of(server, account) == []


def test_tampered_v3_header(server: ServerProcess, account: Account) -> None:
    client = v3_client(server, account)
    original = TeaUtils.get_authorization

    def tampered(request, sign_type, payload, ak, secret):  # type: ignore[no-untyped-def]
        auth = original(request, sign_type, payload, ak, secret)
        request.headers["x-acs-action"] = "QueryMessage"  # changed after signing
        return auth

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TeaUtils, "get_authorization", staticmethod(tampered))
        with pytest.raises(TeaException) as caught:
            client.send_message_to_globe(models.SendMessageToGlobeRequest(to=SG, message="x"))
    assert caught.value.code in ("SignatureDoesNotMatch", "MissingParameter")
    assert messages_of(server, account) == []


@pytest.fixture
def fixed_nonce() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parameter_helper, "get_uuid", lambda: "a-fixed-nonce-for-replay")
        mp.setattr(TeaUtils, "get_nonce", staticmethod(lambda: "another-fixed-nonce"))
        yield


@pytest.mark.usefixtures("fixed_nonce")
def test_replayed_nonce_v1(server: ServerProcess, account: Account) -> None:
    client = v1_client(account)
    first = client.do_action_with_exception(
        v1_request(server, "SendMessageToGlobe", {"To": SG, "Message": "once"})
    )
    assert json.loads(first)["ResponseCode"] == "OK"
    with pytest.raises(ServerException) as caught:
        client.do_action_with_exception(
            v1_request(server, "SendMessageToGlobe", {"To": SG, "Message": "twice"})
        )
    assert caught.value.error_code == "SignatureNonceUsed"
    assert [m["message"] for m in messages_of(server, account)] == ["once"]


@pytest.mark.usefixtures("fixed_nonce")
def test_replayed_nonce_v3(server: ServerProcess, account: Account) -> None:
    client = v3_client(server, account)
    request = models.SendMessageToGlobeRequest(to=SG, message="once")
    assert client.send_message_to_globe(request).body.response_code == "OK"
    with pytest.raises(TeaException) as caught:
        client.send_message_to_globe(request)
    assert caught.value.code == "SignatureNonceUsed"
    assert len(messages_of(server, account)) == 1


def test_replayed_request_bytes(server: ServerProcess, account: Account) -> None:
    query = signed_query(account, {"To": SG, "Message": "x"})
    assert raw_get(server, query)[1]["ResponseCode"] == "OK"
    status, body = raw_get(server, query)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")


@pytest.mark.parametrize("minutes", [-16, 16])
def test_stale_timestamps(server: ServerProcess, account: Account, minutes: int) -> None:
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parameter_helper, "get_iso_8061_date", lambda: when)
        exc = expect_v1_error(server, account, {"To": SG, "Message": "x"})
    assert exc.error_code == "InvalidTimeStamp.Expired"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TeaUtils, "get_timestamp", staticmethod(lambda: when))
        with pytest.raises(TeaException) as caught:
            v3_client(server, account).send_message_to_globe(
                models.SendMessageToGlobeRequest(to=SG, message="x")
            )
    assert caught.value.code == "InvalidTimeStamp.Expired"
    assert messages_of(server, account) == []


def test_unknown_action_and_version(server: ServerProcess, account: Account) -> None:
    client = v1_client(account)
    request = v1_request(server, "SendRocket", {"To": SG})
    with pytest.raises(ServerException) as caught:
        client.do_action_with_exception(request)
    assert (caught.value.http_status, caught.value.error_code) == (404, "InvalidAction.NotFound")
    request = v1_request(server, "SendMessageToGlobe", {"To": SG, "Message": "x"})
    request.set_version("2099-01-01")
    with pytest.raises(ServerException) as caught:
        client.do_action_with_exception(request)
    assert caught.value.error_code == "InvalidVersion"
    assert messages_of(server, account) == []


@pytest.mark.parametrize(
    "drop",
    [
        "AccessKeyId",
        "Signature",
        "SignatureNonce",
        "Timestamp",
        "SignatureMethod",
        "SignatureVersion",
    ],
)
def test_missing_signing_parameters(server: ServerProcess, account: Account, drop: str) -> None:
    """Alibaba's gateway: ``Missing{Name}`` and "{Name} is mandatory for this action." (a missing
    Signature is ``MissingSignature`` "Signature is mandatory for this action.")."""
    query = signed_query(account, {"To": SG, "Message": "x"})
    pairs = [p for p in urllib.parse.parse_qsl(query) if p[0] != drop]
    status, body = raw_get(server, urllib.parse.urlencode(pairs))
    assert status == 400
    assert (body["Code"], body["Message"]) == (
        f"Missing{drop}",
        f"{drop} is mandatory for this action.",
    )
    assert body["Recommend"] == f"{README_URL}#error-missing{drop.lower()}"
    assert messages_of(server, account) == []


def test_gateway_errors_are_worded_as_alibaba_words_them(
    server: ServerProcess, account: Account
) -> None:
    """What the legacy SDK reports: Alibaba's code, status and sentence, and a README link."""
    client = v1_client(account)
    cases = [
        ("SendRocket", "2018-05-01", {"To": SG}, errors.INVALID_ACTION_NOT_FOUND),
        ("SendMessageToGlobe", "2099-01-01", {"To": SG, "Message": "x"}, errors.INVALID_VERSION),
    ]
    for action, version, params, code in cases:
        request = v1_request(server, action, params)
        request.set_version(version)
        with pytest.raises(ServerException) as caught:
            client.do_action_with_exception(request)
        exc = caught.value
        assert (exc.http_status, exc.error_code, exc.message) == (
            code.http_status,
            code.code,
            code.message,
        )
    exc = expect_v1_error(server, account, {"Message": "x"})
    assert (
        exc.message == 'The input parameter "To" that is mandatory for processing this '
        "request is not supplied."
    )
    stranger = Account(account.account_id, "LTAI" + "y" * 20, account.secret)
    exc = expect_v1_error(server, stranger, {"To": SG, "Message": "x"})
    assert (exc.http_status, exc.message) == (404, "Specified access key is not found.")
    assert messages_of(server, account) == []


def test_missing_business_parameter_v1(server: ServerProcess, account: Account) -> None:
    exc = expect_v1_error(server, account, {"Message": "x"})
    assert (exc.http_status, exc.error_code) == (400, "MissingParameter")
    assert "To" in exc.message


def test_xml_format(server: ServerProcess, account: Account) -> None:
    """``Format=XML`` (the SDK's ``get_response`` keeps the requested format)."""
    request = v1_request(server, "SendMessageToGlobe", {"To": SG, "Message": "x"})
    request.set_accept_format("XML")
    status, _headers, raw = v1_client(account).get_response(request)
    text = raw.decode()
    assert status == 200
    assert text.startswith("<?xml")
    assert "<ResponseCode>OK</ResponseCode>" in text
    assert "<MessageId>" in text
    request = v1_request(server, "SendMessageToGlobe", {"To": SG})
    request.set_accept_format("XML")
    status, _headers, raw = v1_client(account).get_response(request)
    assert status == 400
    assert "<Error>" in raw.decode()
    assert "<Code>MissingParameter</Code>" in raw.decode()


def test_permission_denied_for_key_without_action(server: ServerProcess, account: Account) -> None:
    key = server.cli("keys", "create", account.account_id, "--actions", "QueryMessage")
    assert isinstance(key, dict)
    limited = Account(account.account_id, str(key["access_key_id"]), str(key["access_key_secret"]))
    body = (
        v3_client(server, limited)
        .send_message_to_globe(models.SendMessageToGlobeRequest(to=SG, message="x"))
        .body
    )
    assert body.response_code == "isp.RAM_PERMISSION_DENY"
    assert messages_of(server, account) == []


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("abnormal", "isv.ACCOUNT_ABNORMAL"),
        ("suspended", "isv.OUT_OF_SERVICE"),
        ("unsubscribed", "isv.PRODUCT_UN_SUBSCRIPT"),
        ("closed", "isv.ACCOUNT_NOT_EXISTS"),
    ],
)
def test_account_states(server: ServerProcess, account: Account, state: str, code: str) -> None:
    server.cli("accounts", "set-state", account.account_id, state)
    body = (
        v3_client(server, account)
        .send_message_to_globe(models.SendMessageToGlobeRequest(to=SG, message="x"))
        .body
    )
    assert body.response_code == code
    assert messages_of(server, account) == []
