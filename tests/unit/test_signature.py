"""Signature verification against requests signed by the official Alibaba SDKs' own code.

Golden requests come from ``aliyunsdkcore``'s ``get_signed_url`` (V1) and
``alibabacloud_tea_openapi``'s ``Utils.get_authorization`` (V3), put on the wire the way those SDKs
do (``urlencode``) and decoded the way aiohttp does (``yarl``), so a change in either side's
encoding shows up here rather than in production.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from unittest import mock
from urllib.parse import parse_qsl, quote, urlencode

import pytest
from alibabacloud_tea_openapi.utils import Utils as TeaUtils
from aliyunsdkcore.auth.composer import rpc_signature_composer
from aliyunsdkcore.utils import parameter_helper
from darabonba.core import DaraCore
from darabonba.request import DaraRequest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from smsgate.doors.aliyun.signature import (
    SignedRequest,
    _decode_form,
    _pct,
    _pct_canonical,
    _v1_string_to_sign,
    check_timestamp,
    parse_signed_request,
    verify_signature,
)
from smsgate.errors import (
    INCOMPLETE_SIGNATURE,
    INVALID_PARAMETER,
    INVALID_TIMESTAMP_EXPIRED,
    INVALID_TIMESTAMP_FORMAT,
    MISSING_COMMON_PARAMETER,
    MISSING_PARAMETER,
    SIGNATURE_DOES_NOT_MATCH,
    UNSUPPORTED_SIGNATURE_METHOD,
    GatewayCode,
    GatewayError,
)

AK = "LTAI5tTestAccessKey01"
SECRET = "t0p+Secret/Value=="
HOST = "127.0.0.1:8080"
T0 = datetime(2026, 11, 24, 22, 55, 27, tzinfo=UTC)
ISO = "%Y-%m-%dT%H:%M:%SZ"

#: Values that stress every encoding rule: RFC 3986 specials, form delimiters, percent signs,
#: CJK, emoji (4-byte UTF-8), control characters and leading/trailing blanks.
SPECIAL_VALUES = [
    "hello world",
    "a*b~c+d&e=f%20g",
    "验证码 123456，请勿泄露",  # a full-width comma
    "emoji 🙂👍🏽 done",
    "  spaced  ",
    "slash/question?hash#semi;colon:at@",
    "line\nbreak\ttab",
    "%7E%2A%25",
    "",
]

# --- Building golden requests with the SDKs' own code --------------------------------------------


@dataclass(frozen=True)
class Wire:
    """A request as the door hands it over: decoded query pairs, CI headers, raw body."""

    method: str
    raw_path: str
    query: list[tuple[str, str]]
    headers: CIMultiDictProxy[str]
    body: bytes

    def parse(self) -> SignedRequest:
        return parse_signed_request(self.method, self.raw_path, self.query, self.headers, self.body)

    def with_query(self, **changes: str) -> Wire:
        query = [(k, changes.pop(k)) if k in changes else (k, v) for k, v in self.query]
        query.extend(changes.items())
        return replace(self, query=query)

    def with_headers(self, **changes: str | None) -> Wire:
        headers = CIMultiDict(self.headers)
        for field_name, value in changes.items():
            name = field_name.replace("_", "-")
            headers.popall(name, None)
            if value is not None:
                headers[name] = value
        return replace(self, headers=CIMultiDictProxy(headers))


def on_the_wire(method: str, url: str, headers: Mapping[str, str], body: bytes) -> Wire:
    """Decode ``url`` as aiohttp does (yarl: ``+`` and ``%20`` are spaces)."""
    parsed = URL(url)
    raw_headers = CIMultiDict(headers)
    raw_headers["Content-Length"] = str(len(body))
    return Wire(
        method=method,
        raw_path=parsed.raw_path_qs,
        query=list(parsed.query.items()),
        headers=CIMultiDictProxy(raw_headers),
        body=body,
    )


def sdk_v1(
    *,
    method: str = "GET",
    query: Mapping[str, str] | None = None,
    body: Mapping[str, str] | None = None,
    secret: str = SECRET,
    when: datetime = T0,
    nonce: str | None = None,
) -> tuple[Wire, str]:
    """A V1 request signed by ``aliyunsdkcore``; also returns the SDK's string to sign."""
    params = {
        "Action": "SendMessageToGlobe",
        "Version": "2018-05-01",
        "RegionId": "ap-southeast-1",
        **(query or {}),
    }
    with (
        mock.patch.object(parameter_helper, "get_iso_8061_date", return_value=when.strftime(ISO)),
        mock.patch.object(parameter_helper, "get_uuid", return_value=nonce or uuid.uuid4().hex),
    ):
        url, string_to_sign = rpc_signature_composer.get_signed_url(
            params, AK, secret, "JSON", method, dict(body or {})
        )
    headers = {"Host": HOST, "User-Agent": "AlibabaCloud Python/3.11 Core/2.16.1", "Accept": "*/*"}
    raw_body = b""
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        raw_body = urlencode(body).encode()  # what aliyunsdkcore's client sends
    return on_the_wire(method, url, headers, raw_body), string_to_sign


@dataclass
class FakeTeaRequest:
    """The four attributes ``Utils.get_authorization`` reads."""

    method: str
    pathname: str
    query: dict[str, str]
    headers: dict[str, str]


def sdk_v3(
    *,
    method: str = "POST",
    query: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    secret: str = SECRET,
    when: datetime = T0,
    nonce: str | None = None,
    action: str = "SendMessageToGlobe",
) -> Wire:
    """A V3 request built as ``alibabacloud_tea_openapi`` ``do_request`` builds it."""
    query = dict(query if query is not None else {"To": "6281234567890", "Message": "hi"})
    headers = {
        "host": HOST,
        "x-acs-version": "2018-05-01",
        "x-acs-action": action,
        "user-agent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
        "x-acs-date": when.strftime(ISO),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "accept": "application/json",
    }
    body = b""
    if form is not None:
        body = TeaUtils.to_form(dict(form)).encode()
        headers["content-type"] = "application/x-www-form-urlencoded"
    payload_hash = hashlib.sha256(body).hexdigest()
    headers["x-acs-content-sha256"] = payload_hash
    headers["x-acs-credentials-provider"] = "static_ak"
    headers["Authorization"] = TeaUtils.get_authorization(
        FakeTeaRequest(method, "/", query, headers), "ACS3-HMAC-SHA256", payload_hash, AK, secret
    )
    dara = DaraRequest()
    dara.method, dara.pathname, dara.query, dara.headers = method, "/", query, headers
    return on_the_wire(method, DaraCore.compose_url(dara), headers, body)


def gateway_error(wire: Wire, secret: str = SECRET) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        verify_signature(wire.parse(), secret)
    return info.value


def assert_code(error: GatewayError, code: GatewayCode, mentions: str | None = None) -> None:
    assert error.gateway_code is code, (error.gateway_code.code, error.message)
    if mentions is not None:
        assert mentions in error.message
    assert SECRET not in error.message


# --- V1 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("value", SPECIAL_VALUES)
def test_v1_accepts_sdk_signed_query(method: str, value: str) -> None:
    wire, _ = sdk_v1(method=method, query={"To": "6281234567890", "Message": value})
    req = wire.parse()
    verify_signature(req, SECRET)
    assert req.params["Message"] == value


@pytest.mark.parametrize("value", SPECIAL_VALUES)
def test_v1_accepts_sdk_signed_form_body(value: str) -> None:
    wire, _ = sdk_v1(
        method="POST", query={"To": "6281234567890"}, body={"Message": value, "From": "Ac me"}
    )
    req = wire.parse()
    verify_signature(req, SECRET)
    assert req.params["Message"] == value
    assert req.params["From"] == "Ac me"
    assert req.params["To"] == "6281234567890"


def test_v1_fields_and_params() -> None:
    wire, _ = sdk_v1(query={"To": "6281234567890"}, nonce="nonce-1")
    req = wire.parse()
    assert req.style == "v1"
    assert req.access_key_id == AK
    assert req.nonce == "nonce-1"
    assert req.timestamp == T0
    assert req.timestamp.tzinfo is not None
    assert (req.action, req.version) == ("SendMessageToGlobe", "2018-05-01")
    assert req.params == {
        "Action": "SendMessageToGlobe",
        "Version": "2018-05-01",
        "RegionId": "ap-southeast-1",
        "Format": "JSON",
        "To": "6281234567890",
    }


def test_v1_body_value_wins_over_query_like_the_sdk() -> None:
    wire, _ = sdk_v1(method="POST", query={"To": "111"}, body={"To": "222"})
    req = wire.parse()
    verify_signature(req, SECRET)
    assert req.params["To"] == "222"


@settings(max_examples=150, deadline=None)
@given(
    params=st.dictionaries(
        st.text(min_size=1, max_size=12).filter(
            lambda k: (
                k
                not in {
                    "Signature",
                    "SignatureMethod",
                    "SignatureVersion",
                    "SignatureNonce",
                    "SignatureType",
                    "AccessKeyId",
                    "Timestamp",
                    "Format",
                }
            )
        ),
        st.text(max_size=30),
        max_size=6,
    ),
    method=st.sampled_from(["GET", "POST"]),
)
def test_v1_string_to_sign_is_the_sdks(params: dict[str, str], method: str) -> None:
    """Any keys and values (surrogates aside): same canonical string as the SDK, and it verifies."""
    wire, sdk_string_to_sign = sdk_v1(method=method, query=params)
    req = wire.parse()
    assert req._string_to_sign == sdk_string_to_sign
    verify_signature(req, SECRET)


@settings(max_examples=100, deadline=None)
@given(
    query=st.dictionaries(
        st.from_regex(r"[A-Z][A-Za-z]{0,8}", fullmatch=True), st.text(max_size=30), max_size=4
    ),
    body=st.dictionaries(
        st.from_regex(r"[a-z][A-Za-z]{0,8}", fullmatch=True), st.text(max_size=30), max_size=4
    ),
)
def test_v1_form_bodies_verify(query: dict[str, str], body: dict[str, str]) -> None:
    wire, _ = sdk_v1(method="POST", query=query, body=body)
    verify_signature(wire.parse(), SECRET)


def test_v1_rejects_a_tampered_query_value() -> None:
    wire, _ = sdk_v1(query={"To": "6281234567890", "Message": "hi"})
    assert_code(gateway_error(wire.with_query(To="6289999999999")), SIGNATURE_DOES_NOT_MATCH)


def test_v1_rejects_a_tampered_body_value() -> None:
    wire, _ = sdk_v1(method="POST", body={"Message": "hi"})
    tampered = replace(wire, body=b"Message=bye")
    assert_code(gateway_error(tampered), SIGNATURE_DOES_NOT_MATCH)


def test_v1_rejects_an_added_parameter() -> None:
    wire, _ = sdk_v1(query={"To": "6281234567890"})
    assert_code(gateway_error(wire.with_query(ValidityPeriod="60")), SIGNATURE_DOES_NOT_MATCH)


def test_v1_rejects_a_changed_method() -> None:
    wire, _ = sdk_v1(method="GET", query={"To": "6281234567890"})
    assert_code(gateway_error(replace(wire, method="POST")), SIGNATURE_DOES_NOT_MATCH)


def test_v1_rejects_a_wrong_secret() -> None:
    wire, _ = sdk_v1(query={"To": "6281234567890"})
    error = gateway_error(wire, secret="not-the-secret")
    assert_code(error, SIGNATURE_DOES_NOT_MATCH)
    signature = dict(wire.query)["Signature"]
    assert signature not in error.message
    assert signature not in repr(wire.parse())


def test_v1_a_non_ascii_forged_signature_is_a_mismatch_not_a_crash() -> None:
    wire, _ = sdk_v1(query={"To": "6281234567890"})
    assert_code(gateway_error(wire.with_query(Signature="签名🙂")), SIGNATURE_DOES_NOT_MATCH)


@pytest.mark.parametrize(
    "name",
    [
        "AccessKeyId",
        "Signature",
        "SignatureNonce",
        "Timestamp",
        "SignatureMethod",
        "SignatureVersion",
    ],
)
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_v1_missing_signing_parameter(name: str, how: str) -> None:
    wire, _ = sdk_v1(query={"To": "6281234567890"})
    if how == "absent":
        wire = replace(wire, query=[(k, v) for k, v in wire.query if k != name])
    else:
        wire = wire.with_query(**{name: ""})
    with pytest.raises(GatewayError) as info:
        wire.parse()
    # Alibaba's own code for each: MissingSignature "Signature is mandatory for this action."...
    assert_code(info.value, MISSING_COMMON_PARAMETER[name], mentions=name)
    assert info.value.message == f"{name} is mandatory for this action."


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SignatureMethod", "HMAC-SHA256"),
        ("SignatureMethod", "hmac-sha1"),
        ("SignatureVersion", "2.0"),
    ],
)
def test_v1_unsupported_signature_method(name: str, value: str) -> None:
    wire, _ = sdk_v1(query={"To": "6281234567890"})
    with pytest.raises(GatewayError) as info:
        wire.with_query(**{name: value}).parse()
    assert_code(info.value, UNSUPPORTED_SIGNATURE_METHOD, mentions=name)


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-11-24 22:55:27",
        "2026-11-24T22:55:27",
        "2026-11-24T22:55:27+08:00",
        "2026-11-24T22:55:27.123Z",
        "2026-13-24T22:55:27Z",
        "2026-02-30T22:55:27Z",
        "2026-11-24T24:00:00Z",
        "2026-11-24T22:60:27Z",
        "2026-11-24T22:55:60Z",
        "0000-11-24T22:55:27Z",
        "２０２６-11-24T22:55:27Z",  # full-width digits
        "1764024927",
        "not a date",
    ],
)
def test_v1_badly_formatted_timestamp(timestamp: str) -> None:
    wire, _ = sdk_v1(query={"To": "6281234567890"})
    with pytest.raises(GatewayError) as info:
        wire.with_query(Timestamp=timestamp).parse()
    assert_code(info.value, INVALID_TIMESTAMP_FORMAT, mentions="Timestamp")


def test_v1_form_body_that_is_not_utf8() -> None:
    wire, _ = sdk_v1(method="POST", body={"Message": "hi"})
    with pytest.raises(GatewayError) as info:
        replace(wire, body=b"Message=%FF%FE").parse()
    assert_code(info.value, INVALID_PARAMETER)


def test_an_unknown_authorization_scheme_is_unsupported() -> None:
    wire, _ = sdk_v1(query={"To": "6281234567890"})
    wire = replace(wire, query=[(k, v) for k, v in wire.query if k != "Signature"])
    with pytest.raises(GatewayError) as info:
        wire.with_headers(Authorization="acs LTAI:abc").parse()
    assert_code(info.value, UNSUPPORTED_SIGNATURE_METHOD)


def test_the_legacy_sdks_unsigned_x_acs_action_header_does_not_override_the_signed_action() -> None:
    """aliyunsdkcore also sends x-acs-action; in V1 only the Action parameter is signed."""
    wire, _ = sdk_v1(query={"To": "6281234567890"})
    req = wire.with_headers(x_acs_action="DeleteEverything").parse()
    verify_signature(req, SECRET)
    assert req.action == "SendMessageToGlobe"


# --- V3 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("value", SPECIAL_VALUES)
def test_v3_accepts_sdk_signed_query(method: str, value: str) -> None:
    wire = sdk_v3(method=method, query={"To": "6281234567890", "Message": value, "From": "Acme"})
    req = wire.parse()
    verify_signature(req, SECRET)
    assert req.params == {"To": "6281234567890", "Message": value, "From": "Acme"}


@pytest.mark.parametrize("value", SPECIAL_VALUES)
def test_v3_accepts_sdk_signed_form_body(value: str) -> None:
    wire = sdk_v3(query={"To": "6281234567890"}, form={"Message": value, "Type": "OTP"})
    req = wire.parse()
    verify_signature(req, SECRET)
    assert req.params == {"To": "6281234567890", "Message": value, "Type": "OTP"}


def test_v3_fields() -> None:
    wire = sdk_v3(nonce="3f2a")
    req = wire.parse()
    assert req.style == "v3"
    assert req.access_key_id == AK
    assert req.nonce == "3f2a"
    assert req.timestamp == T0
    assert (req.action, req.version) == ("SendMessageToGlobe", "2018-05-01")
    assert wire.raw_path.startswith("/?")  # the path part alone is the canonical URI


def test_v3_with_no_query_at_all() -> None:
    verify_signature(sdk_v3(query={}).parse(), SECRET)


@settings(max_examples=150, deadline=None)
@given(
    query=st.dictionaries(
        st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,10}", fullmatch=True),
        st.text(max_size=30),
        max_size=6,
    ),
    form=st.none()
    | st.dictionaries(
        st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,10}", fullmatch=True),
        st.text(max_size=30),
        max_size=4,
    ),
    method=st.sampled_from(["GET", "POST"]),
)
def test_v3_any_values_verify(
    query: dict[str, str], form: dict[str, str] | None, method: str
) -> None:
    """Alibaba parameter names (``Tag.1.Key``...) with arbitrary values, in query and body."""
    verify_signature(sdk_v3(method=method, query=query, form=form).parse(), SECRET)


def test_v3_unicode_query_keys_are_signed_raw_like_the_sdk() -> None:
    verify_signature(sdk_v3(query={"名字 a*b": "值"}).parse(), SECRET)


def test_v3_rejects_a_tampered_query_value() -> None:
    wire = sdk_v3(query={"To": "6281234567890", "Message": "hi"})
    assert_code(gateway_error(wire.with_query(Message="bye")), SIGNATURE_DOES_NOT_MATCH)


def test_v3_rejects_an_added_query_parameter() -> None:
    wire = sdk_v3()
    assert_code(gateway_error(wire.with_query(ValidityPeriod="60")), SIGNATURE_DOES_NOT_MATCH)


def test_v3_rejects_a_wrong_secret() -> None:
    wire = sdk_v3()
    error = gateway_error(wire, secret=SECRET + "x")
    assert_code(error, SIGNATURE_DOES_NOT_MATCH)
    signature = wire.headers["Authorization"].rpartition("Signature=")[2]
    assert signature not in error.message
    assert signature not in repr(wire.parse())


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-acs-action", "BatchSendMessageToGlobe"),
        ("x-acs-version", "2017-05-25"),
        ("host", "evil.example:8080"),
        ("user-agent", "curl/8"),
        ("accept", "application/xml"),
        ("x-acs-signature-nonce", "another-nonce"),
        ("x-acs-date", "2026-11-24T22:55:28Z"),
    ],
)
def test_v3_rejects_a_tampered_signed_header(header: str, value: str) -> None:
    wire = sdk_v3().with_headers(**{header.replace("-", "_"): value})
    assert_code(gateway_error(wire), SIGNATURE_DOES_NOT_MATCH)


def test_v3_rejects_a_repeated_signed_header() -> None:
    wire = sdk_v3()
    headers = CIMultiDict(wire.headers)
    headers.add("x-acs-action", "BatchSendMessageToGlobe")
    assert_code(
        gateway_error(replace(wire, headers=CIMultiDictProxy(headers))), SIGNATURE_DOES_NOT_MATCH
    )


def test_v3_rejects_a_body_that_does_not_match_its_hash() -> None:
    wire = sdk_v3(form={"Message": "hi"})
    with pytest.raises(GatewayError) as info:
        replace(wire, body=b"Message=bye").parse()
    assert_code(info.value, SIGNATURE_DOES_NOT_MATCH, mentions="x-acs-content-sha256")


def test_v3_rejects_a_new_body_with_a_recomputed_hash() -> None:
    wire = sdk_v3(form={"Message": "hi"})
    body = b"Message=bye"
    forged = replace(wire, body=body).with_headers(
        x_acs_content_sha256=hashlib.sha256(body).hexdigest()
    )
    assert_code(gateway_error(forged), SIGNATURE_DOES_NOT_MATCH)


def test_v3_rejects_a_body_added_to_a_request_signed_without_one() -> None:
    wire = sdk_v3().with_headers(content_type="application/x-www-form-urlencoded")
    with pytest.raises(GatewayError) as info:
        replace(wire, body=b"To=6289999999999").parse()
    assert_code(info.value, SIGNATURE_DOES_NOT_MATCH)


@pytest.mark.parametrize("header", ["x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"])
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_v3_missing_header(header: str, how: str) -> None:
    wire = sdk_v3().with_headers(**{header.replace("-", "_"): None if how == "absent" else ""})
    with pytest.raises(GatewayError) as info:
        wire.parse()
    assert_code(info.value, MISSING_PARAMETER, mentions=header)


@pytest.mark.parametrize("part", ["Credential", "SignedHeaders", "Signature"])
def test_v3_authorization_without_a_part(part: str) -> None:
    wire = sdk_v3()
    authorization = re.sub(rf"{part}=[^,]*,?", "", wire.headers["Authorization"]).rstrip(",")
    with pytest.raises(GatewayError) as info:
        wire.with_headers(Authorization=authorization).parse()
    assert_code(info.value, INCOMPLETE_SIGNATURE, mentions=part)


@pytest.mark.parametrize("algorithm", ["ACS3-HMAC-SM3", "ACS3-RSA-SHA256", "ACS3-HMAC-SHA1"])
def test_v3_unsupported_algorithm(algorithm: str) -> None:
    wire = sdk_v3()
    authorization = wire.headers["Authorization"].replace("ACS3-HMAC-SHA256", algorithm)
    with pytest.raises(GatewayError) as info:
        wire.with_headers(Authorization=authorization).parse()
    assert_code(info.value, UNSUPPORTED_SIGNATURE_METHOD, mentions=algorithm)


def _signed_headers_without(wire: Wire, name: str) -> Wire:
    authorization = wire.headers["Authorization"]
    names = re.search(r"SignedHeaders=([^,]*)", authorization)
    assert names is not None
    kept = ";".join(n for n in names.group(1).split(";") if n != name)
    return wire.with_headers(Authorization=authorization.replace(names.group(1), kept))


@pytest.mark.parametrize("name", ["host", "x-acs-action", "x-acs-credentials-provider"])
def test_v3_signed_headers_must_cover_host_and_every_x_acs_header(name: str) -> None:
    with pytest.raises(GatewayError) as info:
        _signed_headers_without(sdk_v3(), name).parse()
    assert_code(info.value, INCOMPLETE_SIGNATURE, mentions=name)


def test_v3_an_unsigned_x_acs_header_added_in_transit_is_refused() -> None:
    with pytest.raises(GatewayError) as info:
        sdk_v3().with_headers(x_acs_security_token="injected").parse()
    assert_code(info.value, INCOMPLETE_SIGNATURE, mentions="x-acs-security-token")


def test_v3_a_signed_header_missing_from_the_request() -> None:
    with pytest.raises(GatewayError) as info:
        sdk_v3().with_headers(user_agent=None).parse()
    assert_code(info.value, INCOMPLETE_SIGNATURE, mentions="user-agent")


def test_v3_a_form_body_needs_a_signed_content_type() -> None:
    with pytest.raises(GatewayError) as info:
        _signed_headers_without(sdk_v3(form={"Message": "hi"}), "content-type").parse()
    assert_code(info.value, INCOMPLETE_SIGNATURE, mentions="content-type")


def test_v3_query_keys_cannot_be_folded_into_one_raw_key() -> None:
    """Raw keys: ``A=1&B=2`` and the single key ``A=1&B`` with value 2 canonicalise alike."""
    wire = sdk_v3(query={"From": "Acme", "Message": "hi", "To": "6281234567890"})
    folded = replace(wire, query=[("From=Acme&Message", "hi"), ("To", "6281234567890")])
    with pytest.raises(GatewayError) as info:
        folded.parse()
    assert_code(info.value, INCOMPLETE_SIGNATURE)


@pytest.mark.parametrize("date", ["2026-11-24T22:55:27", "Tue, 24 Nov 2026 22:55:27 GMT", "x"])
def test_v3_badly_formatted_date(date: str) -> None:
    with pytest.raises(GatewayError) as info:
        sdk_v3().with_headers(x_acs_date=date).parse()
    assert_code(info.value, INVALID_TIMESTAMP_FORMAT, mentions="x-acs-date")


def test_v1_a_lone_surrogate_is_a_client_error_not_a_crash() -> None:
    wire, _ = sdk_v1(query={"Message": "hi"})
    with pytest.raises(GatewayError) as info:
        wire.with_query(Message="\udcff").parse()
    assert_code(info.value, INVALID_PARAMETER)


def test_v3_a_lone_surrogate_is_a_client_error_not_a_crash() -> None:
    wire = sdk_v3(query={"Message": "hi"})
    with pytest.raises(GatewayError) as info:
        wire.with_query(Message="\udcff").parse()
    assert_code(info.value, INVALID_PARAMETER)


# --- Timestamps ----------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["v1", "v3"])
@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (timedelta(0), True),
        (timedelta(minutes=14), True),
        (-timedelta(minutes=14), True),
        (timedelta(minutes=15), True),
        (-timedelta(minutes=15), True),
        (timedelta(minutes=15, seconds=1), False),
        (timedelta(minutes=16), False),
        (-timedelta(minutes=16), False),
        (timedelta(days=365), False),
    ],
)
def test_timestamp_window(style: str, offset: timedelta, ok: bool) -> None:
    """``offset`` is how far the server clock is from the request time, either way."""
    req = (sdk_v3() if style == "v3" else sdk_v1()[0]).parse()
    now = T0 + offset
    if ok:
        check_timestamp(req, now)
    else:
        with pytest.raises(GatewayError) as info:
            check_timestamp(req, now)
        assert_code(info.value, INVALID_TIMESTAMP_EXPIRED)


def test_timestamp_window_is_configurable() -> None:
    req = sdk_v3().parse()
    check_timestamp(req, T0 + timedelta(minutes=4), skew=timedelta(minutes=5))
    with pytest.raises(GatewayError):
        check_timestamp(req, T0 + timedelta(minutes=6), skew=timedelta(minutes=5))


@given(st.text())
def test_the_fast_percent_encoder_is_rfc3986_quote(text: str) -> None:
    try:
        expected = quote(text, safe="~")
    except UnicodeEncodeError:
        return
    assert _pct(text) == expected


#: Pieces of form bodies that stress the decoder: separators, escapes of separators, '+', valid,
#: truncated, lower-case and invalid escapes, and raw non-ASCII text.
_FORM_PIECES = [*"ab=&+% é~", "%26", "%3D", "%3d", "%2B", "%20", "%C3%A9", "%c3%a9", "%E9", "%zz"]


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.lists(st.sampled_from(_FORM_PIECES), max_size=30).map(lambda p: "".join(p).encode()),
        st.binary(max_size=30),
    )
)
def test_the_form_decoder_is_parse_qsl(body: bytes) -> None:
    """The same pairs as ``parse_qsl``, and a client error exactly where it fails to decode."""
    try:
        expected: object = parse_qsl(body.decode(), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        expected = INVALID_PARAMETER
    try:
        decoded: object = _decode_form(body)
    except GatewayError as exc:
        decoded = exc.gateway_code
    assert decoded == expected


_ASCII_PIECES = [*"aZ09-_.~%&=+ :/*!", "%25", "%26", "\x7f", "é"]


@settings(max_examples=500, deadline=None)
@given(
    params=st.dictionaries(
        st.lists(st.sampled_from(_ASCII_PIECES), max_size=6).map("".join),
        st.lists(st.sampled_from(_ASCII_PIECES), max_size=12).map("".join),
        max_size=6,
    ),
)
def test_the_v1_string_to_sign_of_the_whole_query_is_the_one_built_pair_by_pair(
    params: dict[str, str],
) -> None:
    """Mostly ASCII keys and values, which take the one-pass encoding unless one holds & or =."""
    signing = {"AccessKeyId": AK, "SignatureNonce": "n", "Timestamp": "2026-01-01T00:00:00Z"}
    params = {k: v for k, v in params.items() if k not in signing}
    pairs = sorted([*params.items(), *signing.items()])
    canonical = "&".join(f"{_pct(k)}={_pct(v)}" for k, v in pairs)
    assert _v1_string_to_sign("POST", params, signing) == f"POST&%2F&{_pct_canonical(canonical)}"
