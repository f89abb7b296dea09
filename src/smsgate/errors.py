"""The one error catalog of smsgate.

Every row of the seed table (``docs/seed-error-codes.txt``, Alibaba Cloud International SMS) is one
:class:`ResultCode` here, carrying its API code, its SMPP ``command_status`` and its message exactly
as the seed writes them. The core raises :class:`SmsError` with one of these rows; each door renders
it in its own wire form (``ResponseCode``/``ResponseDescription`` over HTTP, ``command_status`` over
SMPP). No door invents its own error strings.

The seed repeats ``isp.SYSTEM_ERROR`` (SMPP 21, "on the access layer", and SMPP 46) and gives
SMPP 25 to two codes (``isv.FORBIDDEN_ACTION`` and ``isv.SENDERID_ERROR``). Both rows of each pair
are kept as separate objects with their own Python names, so every raise-site picks the right one:

- :data:`SYSTEM_ERROR_ACCESS_LAYER` (21) is raised when a door fails while taking a request apart
  (an unexpected fault before the core was reached);
- :data:`SYSTEM_ERROR` (46) is raised when the core or its store fails.

Gateway errors (authentication, signatures, missing parameters, unknown actions) are not business
results: Alibaba's gateway answers them with an HTTP 4xx/5xx status and the body
``{RequestId, HostId, Code, Message, Recommend}``. They are :class:`GatewayCode` rows raised as
:class:`GatewayError`.

The platform's own states, which no seed row names but every door must answer, are
:class:`PlatformCode` entries carrying each door's rendering: :data:`OVERLOADED` (no room for the
work now) is HTTP ``Throttling`` 429 and SMPP ``ESME_RMSGQFUL``, raised as :class:`OverloadedError`.

Exception tree::

    Exception
     +-- SmsError        a business result other than OK (seed table row)
     +-- GatewayError    rejected at the gateway, before any business rule ran
     +-- OverloadedError no room for the work now: the client must slow down (OVERLOADED)

Receipt codes (the second table of the seed) are :class:`ReceiptCode` rows: what a carrier's failure
maps to in a delivery receipt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = [
    "GATEWAY_CODES",
    "MISSING_COMMON_PARAMETER",
    "OVERLOADED",
    "PLATFORM_CODES",
    "RECEIPT_CODES",
    "SEED_ROWS",
    "SMPP34_STATUS",
    "SMPP_STATUS_PROFILES",
    "GatewayCode",
    "GatewayError",
    "OverloadedError",
    "PlatformCode",
    "ReceiptCode",
    "ResultCode",
    "SmppStatusProfile",
    "SmsError",
    "missing_parameter",
    "receipt_code",
]


@dataclass(frozen=True, slots=True)
class ResultCode:
    """One row of the seed's API error table: API code, SMPP status, message."""

    code: str
    smpp_status: int
    message: str

    @property
    def ok(self) -> bool:
        return self.code == "OK"


@dataclass(frozen=True, slots=True)
class ReceiptCode:
    """One row of the seed's receipt error table: what a delivery failure is reported as."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class GatewayCode:
    """An error of Alibaba's API gateway, answered with an HTTP error status."""

    code: str
    http_status: int
    message: str


@dataclass(frozen=True, slots=True)
class PlatformCode:
    """A state of the platform itself (not a business rule, not a malformed request) that every
    door answers. No seed row names it, so the entry gives each door's rendering: ``gateway``
    over HTTP (Alibaba's gateway error form) and ``smpp_status`` over SMPP, the name of an SMPP
    3.4 ``command_status`` for each status profile."""

    code: str
    gateway: GatewayCode
    smpp_status: Mapping[SmppStatusProfile, str] = field(hash=False)


class SmsError(Exception):
    """A business rule refused the request; ``result`` is the seed row to answer with."""

    def __init__(self, result: ResultCode, detail: str | None = None) -> None:
        super().__init__(detail or result.message)
        self.result = result
        self.detail = detail


class GatewayError(Exception):
    """The gateway refused the request before the core saw it.

    The wire message is the row's sentence, as Alibaba words it, or ``message`` where Alibaba's
    sentence names something (``MissingParameter`` names the parameter). ``detail`` says what
    exactly was wrong (which header, which value); it follows the sentence after a space and goes
    to the request log. It never holds a secret, a signature or a message text.
    """

    def __init__(
        self, gateway_code: GatewayCode, detail: str | None = None, *, message: str | None = None
    ) -> None:
        sentence = message or gateway_code.message
        full = sentence if detail is None else f"{sentence} {detail}"
        super().__init__(full)
        self.gateway_code = gateway_code
        self.detail = detail
        self.message = full


class OverloadedError(Exception):
    """No room for the work now (the bounded delivery queue is full); nothing was stored or
    charged. Doors answer with :data:`OVERLOADED`'s rendering, their own "slow down" signal."""

    @property
    def platform_code(self) -> PlatformCode:
        return OVERLOADED


# --- The seed table, in the seed's order ------------------------------------------------------

OK = ResultCode("OK", 20, "The call is successful.")
SYSTEM_ERROR_ACCESS_LAYER = ResultCode(
    "isp.SYSTEM_ERROR", 21, "A system error has occurred on the access layer."
)
UNKNOWN = ResultCode("isp.UNKNOWN", 22, "An unknown error has occurred.")
NOT_SUPPORTED_COUNTRY = ResultCode(
    "isv.NOT_SUPPORTED_COUNTRY", 26, "SMS does not support the specified destination country."
)
OUT_OF_SERVICE = ResultCode("isv.OUT_OF_SERVICE", 27, "The service is not available.")
ACCOUNT_NOT_EXISTS = ResultCode(
    "isv.ACCOUNT_NOT_EXISTS", 29, "The specified account does not exist."
)
ACCOUNT_ABNORMAL = ResultCode("isv.ACCOUNT_ABNORMAL", 30, "The specified account is invalid.")
SMS_CONTENT_CODE_ILLEGAL = ResultCode(
    "isv.SMS_CONTENT_CODE_ILLEGAL", 31, "The specified template does not exist or is blocked."
)
SMS_SIGN_NAME_ILLEGAL = ResultCode(
    "isv.SMS_SIGN_NAME_ILLEGAL", 32, "The specified signature does not exist or is blocked."
)
MOBILE_NUMBER_ILLEGAL = ResultCode(
    "isv.MOBILE_NUMBER_ILLEGAL", 33, "The format of the specified mobile number is invalid."
)
MOBILE_COUNT_OVER_LIMIT = ResultCode(
    "isv.MOBILE_COUNT_OVER_LIMIT", 34, "The number of mobile numbers exceeds 1,000."
)
CONTENT_MISSING_PARAMETERS = ResultCode(
    "isv.CONTENT_MISSING_PARAMETERS", 35, "The specified template variable is left empty."
)
INVALID_PARAMETERS = ResultCode("isv.INVALID_PARAMETERS", 36, "The specified parameter is invalid.")
INVALID_JSON_PARAM = ResultCode(
    "isv.INVALID_JSON_PARAM", 42, "The specified JSON parameter is invalid."
)
BLACK_KEY_CONTROL_LIMIT = ResultCode(
    "isv.BLACK_KEY_CONTROL_LIMIT",
    43,
    "The specified template variable includes the keyword that is blocked.",
)
PARAM_LENGTH_LIMIT = ResultCode(
    "isv.PARAM_LENGTH_LIMIT", 44, "The length of the specified variable exceeds the limit."
)
AMOUNT_NOT_ENOUGH = ResultCode("isv.AMOUNT_NOT_ENOUGH", 45, "The account balance is insufficient.")
DATA_NOT_EXIST = ResultCode("isv.DATA_NOT_EXIST", 46, "The specified SMS record does not exist.")
BILLING_DEDUCTION_ERROR = ResultCode(
    "isv.BILLING_DEDUCTION_ERROR", 47, "The specified account has overdue payments."
)
RAM_PERMISSION_DENY = ResultCode(
    "isp.RAM_PERMISSION_DENY", 55, "The specified account is not authorized to access SMS."
)
PRODUCT_UN_SUBSCRIPT = ResultCode(
    "isv.PRODUCT_UN_SUBSCRIPT", 57, "The specified Alibaba Cloud user has not activated SMS."
)
GATEWAY_ERROR = ResultCode(
    "isp.GATEWAY_ERROR", 24, "The specified background program has failed to be called."
)
FORBIDDEN_ACTION = ResultCode("isv.FORBIDDEN_ACTION", 25, "The specified operation is forbidden.")
SENDERID_ERROR = ResultCode(
    "isv.SENDERID_ERROR", 25, "The SenderId parameter is blocked by the destination country."
)
BUSINESS_LIMIT_CONTROL_MINUTE = ResultCode(
    "BUSINESS_LIMIT_CONTROL_MINUTE", 38, "The minute-level business throttling is triggered."
)
BUSINESS_LIMIT_HOUR = ResultCode(
    "isv.BUSINESS_LIMIT_HOUR", 39, "The hour-level business throttling is triggered."
)
BUSINESS_LIMIT_DAY = ResultCode(
    "isv.BUSINESS_LIMIT_DAY", 40, "The day-level business throttling is triggered."
)
BUSINESS_LIMIT_CONTROL_PHONE = ResultCode(
    "BUSINESS_LIMIT_CONTROL_PHONE",
    41,
    "The day-level business throttling is triggered for the specified mobile number.",
)
SYSTEM_ERROR = ResultCode("isp.SYSTEM_ERROR", 46, "A system error has occurred.")
COUNTRY_RESTRICTED = ResultCode(
    "isv.COUNTRY_RESTRICTED",
    90,
    "The specified API operation does not support the destination country.",
)
QUERY_DATE_ILLEGAL = ResultCode("isv.QUERY_DATE_ILLEGAL", 52, "The query time is invalid.")
RAM_CHECK_FAILED = ResultCode(
    "isv.RAM_CHECK_FAILED", 54, "The RAM permission has failed to be verified."
)
RES_OWNER_ID_UNKNOWN = ResultCode(
    "isp.RES_OWNER_ID_UNKNOWN",
    56,
    "The ID of the Alibaba Cloud account to which the resource belongs cannot be found.",
)
SYSTEM_LIMIT_CONTROL = ResultCode(
    "isv.SYSTEM_LIMIT_CONTROL",
    81,
    "The daily quota of messages that SMS can send has been reached.",
)
DAY_LIMIT_CONTROL = ResultCode(
    "isv.DAY_LIMIT_CONTROL",
    84,
    "The daily quota of messages that the user can send has been reached.",
)
MONTH_LIMIT_CONTROL = ResultCode(
    "isv.MONTH_LIMIT_CONTROL",
    85,
    "The monthly quota of messages that the user can send has been reached.",
)

SEED_ROWS: tuple[ResultCode, ...] = (
    OK,
    SYSTEM_ERROR_ACCESS_LAYER,
    UNKNOWN,
    NOT_SUPPORTED_COUNTRY,
    OUT_OF_SERVICE,
    ACCOUNT_NOT_EXISTS,
    ACCOUNT_ABNORMAL,
    SMS_CONTENT_CODE_ILLEGAL,
    SMS_SIGN_NAME_ILLEGAL,
    MOBILE_NUMBER_ILLEGAL,
    MOBILE_COUNT_OVER_LIMIT,
    CONTENT_MISSING_PARAMETERS,
    INVALID_PARAMETERS,
    INVALID_JSON_PARAM,
    BLACK_KEY_CONTROL_LIMIT,
    PARAM_LENGTH_LIMIT,
    AMOUNT_NOT_ENOUGH,
    DATA_NOT_EXIST,
    BILLING_DEDUCTION_ERROR,
    RAM_PERMISSION_DENY,
    PRODUCT_UN_SUBSCRIPT,
    GATEWAY_ERROR,
    FORBIDDEN_ACTION,
    SENDERID_ERROR,
    BUSINESS_LIMIT_CONTROL_MINUTE,
    BUSINESS_LIMIT_HOUR,
    BUSINESS_LIMIT_DAY,
    BUSINESS_LIMIT_CONTROL_PHONE,
    SYSTEM_ERROR,
    COUNTRY_RESTRICTED,
    QUERY_DATE_ILLEGAL,
    RAM_CHECK_FAILED,
    RES_OWNER_ID_UNKNOWN,
    SYSTEM_LIMIT_CONTROL,
    DAY_LIMIT_CONTROL,
    MONTH_LIMIT_CONTROL,
)

# --- Receipt codes (second table of the seed) ---------------------------------------------------

IN_SMS_CONTENT = ReceiptCode(
    "IN_SMS_CONTENT", "Inappropriate SMS content or Invalid Message Length"
)
INVALID_NUM = ReceiptCode("INVALID_NUM", "Invalid destination. Receiver is not a valid number")
OPERATOR_NOT_SUPPORT = ReceiptCode("OPERATOR_NOT_SUPPORT", "Local Operator doesn't support")
PHONE_NOT_AVAILABLE = ReceiptCode(
    "PHONE_NOT_AVAILABLE",
    "Phone number or handset is not available, or handset memory capacity exceeded.",
)
PORTED_NUM = ReceiptCode("PORTED_NUM", "Ported number")
RECEIVER_BLACKLIST = ReceiptCode(
    "RECEIVER_BLACKLIST", "Receiver is black-listed, blocked by Carrier"
)
SYSTEM_ERR = ReceiptCode(
    "SYSTEM_ERR",
    "System error, caused by network operator, need to submit ticket to check the specific failed "
    "reason",
)
UNKNOWN_ERR = ReceiptCode(
    "UNKNOWN_ERR",
    "Failed message delivery,need to submit ticket to check the specific failed reason",
)
URL_FAILURE = ReceiptCode("URL_FAILURE", "URL blacklisted")

RECEIPT_CODES: tuple[ReceiptCode, ...] = (
    IN_SMS_CONTENT,
    INVALID_NUM,
    OPERATOR_NOT_SUPPORT,
    PHONE_NOT_AVAILABLE,
    PORTED_NUM,
    RECEIVER_BLACKLIST,
    SYSTEM_ERR,
    UNKNOWN_ERR,
    URL_FAILURE,
)

#: Not a seed row: what a delivered message reports as its error code (Alibaba's receipts say
#: ``success`` for a delivered message).
DELIVERED = ReceiptCode("success", "The message has been delivered.")
#: Not a seed row: a message whose validity period ran out before delivery.
EXPIRED = ReceiptCode("EXPIRED", "The message expired before it could be delivered.")

_RECEIPTS_BY_CODE = {r.code: r for r in (*RECEIPT_CODES, DELIVERED, EXPIRED)}


def receipt_code(code: str) -> ReceiptCode:
    """Look a receipt code up by name; ``KeyError`` for a code the catalog does not know."""
    return _RECEIPTS_BY_CODE[code]


# --- Gateway errors (Alibaba's API gateway, before any business rule) ---------------------------
#
# Code, HTTP status and message as Alibaba's gateway answers them, checked against Alibaba's own
# answers quoted in public SDK tests, documentation and issue threads (December 2026):
#
# - MissingParameter 400, ``The input parameter "ResourceType" that is mandatory for processing
#   this request is not supplied.``: aliyun/alibaba-cloud-sdk-go integration/core_test.go
#   (Test_AddTagsWithCommonRequestWithError, against ecs.aliyuncs.com).
# - Missing{Name} 400, ``{Name} is mandatory for this action.``: the common error table of
#   https://www.alibabacloud.com/help/en/imm/developer-reference/error-handling-1 ; seen on the
#   wire as MissingSignature "Signature is mandatory for this action." (alidns body quoted in
#   starsunyzl/ddns-scripts-alibabacloud#3), MissingTimestamp "Timestamp is mandatory for this
#   action." (dns.aliyuncs.com, rfancn/aliyun-ddns-client#13), MissingAccessKeyId (Recommend URL
#   in aliyun/alibabacloud-csharp-sdk#40; "AccessKeyId is mandatory for this action." asserted by
#   aliyun/openapi-sdk-php's feature tests), MissingSecurityToken (denverdino/aliyungo#204, 400).
#   SignatureNonce, SignatureMethod and SignatureVersion follow the same documented pattern.
# - InvalidAccessKeyId.NotFound 404 "Specified access key is not found." and
#   InvalidAccessKeyId.Inactive 400 "Specified access key is disabled.": the error table of
#   Alibaba's faascmd FAQ (a public mirror of Alibaba's documentation); 404 on the wire in
#   honwen/aliyun-ddns-cli#24 and aliyun/ack-set-context#2.
# - SignatureDoesNotMatch 400 "Specified signature is not matched with our calculation. server
#   string to sign is:...": dysmsapi.aliyuncs.com bodies in dromara/SMS4J#34 and
#   louislam/uptime-kuma#5086; aliyunsdkcore's client.py reads the string after the colon.
# - IncompleteSignature 400 "The request signature does not conform to Aliyun standards.":
#   aliyun/aliyun-openapi-net-sdk aliyun-net-sdk-core.Tests/Units/DefaultAcsClient.cs
#   (TestIncompleteSignature); fog/fog-aliyun#32 (ecs.aliyuncs.com body).
# - SignatureNonceUsed 400 "Specified signature nonce was used already.", InvalidVersion 400
#   "Specified parameter Version is not valid." (dysmsapi body with HostId dysmsapi.aliyuncs.com),
#   InvalidTimeStamp.Expired 400 "Specified time stamp or date value is expired." (alidns body
#   with status 400 in jeessy2/ddns-go#1291): Alibaba's SMS error-code page as copied by SMS
#   clients, and the bodies cited.
# - InvalidAction.NotFound 404 "Specified api is not found, please check your url and method.":
#   public tests that replay Alibaba's answer (a Swift SDK test that also checks the Recommend
#   URL api.aliyun.com/troubleshoot?q=InvalidAction.NotFound, a Go tool's test with HTTP 404).
# - Throttling "Request was denied due to flow control.": Alibaba's STS FAQ and CDN limits pages
#   (error code and message). The HTTP status is not stated there; smsgate answers 429.
# - Not found in Alibaba's public material, so smsgate's own wording and status:
#   InvalidSignatureMethod (400), InvalidTimeStamp.Format (400), InvalidParameter (400),
#   UnsupportedHTTPMethod (405), RequestEntityTooLarge (413).
#
# The wire message is the row's sentence; a detail (which header, which value) may follow it after
# a space, as Alibaba appends the string it signed to SignatureDoesNotMatch.

MISSING_PARAMETER = GatewayCode(
    "MissingParameter",
    400,
    "The input parameter that is mandatory for processing this request is not supplied.",
)
MISSING_SIGNATURE = GatewayCode("MissingSignature", 400, "Signature is mandatory for this action.")
MISSING_ACCESS_KEY_ID = GatewayCode(
    "MissingAccessKeyId", 400, "AccessKeyId is mandatory for this action."
)
MISSING_SIGNATURE_NONCE = GatewayCode(
    "MissingSignatureNonce", 400, "SignatureNonce is mandatory for this action."
)
MISSING_TIMESTAMP = GatewayCode("MissingTimestamp", 400, "Timestamp is mandatory for this action.")
MISSING_SIGNATURE_METHOD = GatewayCode(
    "MissingSignatureMethod", 400, "SignatureMethod is mandatory for this action."
)
MISSING_SIGNATURE_VERSION = GatewayCode(
    "MissingSignatureVersion", 400, "SignatureVersion is mandatory for this action."
)
INVALID_PARAMETER = GatewayCode("InvalidParameter", 400, "The specified parameter is not valid.")
INVALID_ACCESS_KEY_ID_NOT_FOUND = GatewayCode(
    "InvalidAccessKeyId.NotFound", 404, "Specified access key is not found."
)
INVALID_ACCESS_KEY_ID_INACTIVE = GatewayCode(
    "InvalidAccessKeyId.Inactive", 400, "Specified access key is disabled."
)
SIGNATURE_DOES_NOT_MATCH = GatewayCode(
    "SignatureDoesNotMatch", 400, "Specified signature is not matched with our calculation."
)
INCOMPLETE_SIGNATURE = GatewayCode(
    "IncompleteSignature", 400, "The request signature does not conform to Aliyun standards."
)
UNSUPPORTED_SIGNATURE_METHOD = GatewayCode(
    "InvalidSignatureMethod", 400, "Specified signature method is not supported."
)
SIGNATURE_NONCE_USED = GatewayCode(
    "SignatureNonceUsed", 400, "Specified signature nonce was used already."
)
INVALID_TIMESTAMP_EXPIRED = GatewayCode(
    "InvalidTimeStamp.Expired", 400, "Specified time stamp or date value is expired."
)
INVALID_TIMESTAMP_FORMAT = GatewayCode(
    "InvalidTimeStamp.Format", 400, "Specified time stamp or date value is not well formatted."
)
INVALID_ACTION_NOT_FOUND = GatewayCode(
    "InvalidAction.NotFound", 404, "Specified api is not found, please check your url and method."
)
INVALID_VERSION = GatewayCode("InvalidVersion", 400, "Specified parameter Version is not valid.")
UNSUPPORTED_HTTP_METHOD = GatewayCode(
    "UnsupportedHTTPMethod", 405, "The HTTP method of the request is not supported."
)
THROTTLING = GatewayCode("Throttling", 429, "Request was denied due to flow control.")
REQUEST_TOO_LARGE = GatewayCode(
    "RequestEntityTooLarge", 413, "The request body is larger than the server accepts."
)
# smsgate's own: Alibaba's gateway documents no code for these connection-level refusals.
REQUEST_TIMEOUT = GatewayCode(
    "RequestTimeout", 408, "The request was not received in full in time; send it again."
)
SERVICE_UNAVAILABLE = GatewayCode(
    "ServiceUnavailable", 503, "The request has failed due to a temporary failure of the server."
)

#: V1 common parameters that Alibaba reports missing under their own ``Missing{Name}`` code.
MISSING_COMMON_PARAMETER: dict[str, GatewayCode] = {
    "Signature": MISSING_SIGNATURE,
    "AccessKeyId": MISSING_ACCESS_KEY_ID,
    "SignatureNonce": MISSING_SIGNATURE_NONCE,
    "Timestamp": MISSING_TIMESTAMP,
    "SignatureMethod": MISSING_SIGNATURE_METHOD,
    "SignatureVersion": MISSING_SIGNATURE_VERSION,
}

GATEWAY_CODES: tuple[GatewayCode, ...] = (
    MISSING_PARAMETER,
    MISSING_SIGNATURE,
    MISSING_ACCESS_KEY_ID,
    MISSING_SIGNATURE_NONCE,
    MISSING_TIMESTAMP,
    MISSING_SIGNATURE_METHOD,
    MISSING_SIGNATURE_VERSION,
    INVALID_PARAMETER,
    INVALID_ACCESS_KEY_ID_NOT_FOUND,
    INVALID_ACCESS_KEY_ID_INACTIVE,
    SIGNATURE_DOES_NOT_MATCH,
    INCOMPLETE_SIGNATURE,
    UNSUPPORTED_SIGNATURE_METHOD,
    SIGNATURE_NONCE_USED,
    INVALID_TIMESTAMP_EXPIRED,
    INVALID_TIMESTAMP_FORMAT,
    INVALID_ACTION_NOT_FOUND,
    INVALID_VERSION,
    UNSUPPORTED_HTTP_METHOD,
    THROTTLING,
    REQUEST_TOO_LARGE,
    REQUEST_TIMEOUT,
    SERVICE_UNAVAILABLE,
)


def missing_parameter(name: str) -> GatewayError:
    """``MissingParameter`` naming ``name``, in the sentence Alibaba uses for it."""
    return GatewayError(
        MISSING_PARAMETER,
        message=f'The input parameter "{name}" that is mandatory for processing this request is '
        "not supplied.",
    )


# --- SMPP status profiles ------------------------------------------------------------------------
#
# The seed's SMPP codes are the contract of this product and the default, but they collide with
# SMPP 3.4 §5.1.3: most (22-47, 54-57, 90) are reserved there, and the others name unrelated
# faults (21 ESME_RINVSERTYP, 52 ESME_RINVDLNAME, 81 ESME_RINVDSTNPI, 84 ESME_RINVREPFLAG, 85
# ESME_RINVNUMMSGS). Generic clients misread them: smpplib logs "Unknown status", aiosmpplib
# cannot parse a reserved status at all (it drops the connection), Jasmin fails on it, Kannel reads
# 84 as a permanent failure and never retries a quota refusal. An SMPP credential may therefore
# choose the ``smpp34`` profile: every seed row answered with the standard status whose handling
# by such clients matches the row.
#
# What clients do with a status decides the choice. The ones they retry later are ESME_RTHROTTLED
# and ESME_RMSGQFUL (aiosmpplib's throttle handler, Kannel, Jasmin's submit_error_retrial) and
# ESME_RSYSERR (Kannel, Jasmin); every other status fails the message for good. So:
#
# - throttles and quotas (minute, hour, day, per number, the account's daily and monthly quota,
#   the platform's daily quota) are ESME_RTHROTTLED: the same message passes later;
# - faults on our side (a system or gateway error) are ESME_RSYSERR: retrying is right, and
#   nothing was stored or charged;
# - everything the client cannot fix by waiting is permanent, with the most specific status:
#   the destination (ESME_RINVDSTADR), the sender (ESME_RINVSRCADR), the template (SMPP's
#   predefined message, ESME_RINVDFTMSGID), the number of destinations (ESME_RINVNUMDESTS),
#   an unknown message id (ESME_RINVMSGID), a record query (ESME_RQUERYFAIL);
# - an account that does not exist or is invalid is ESME_RINVSYSID: the system_id no longer
#   designates a usable account, as a bind with an unknown system_id is told;
# - an account that exists but may not send now (suspended, SMS not activated, overdue, balance
#   too low) and refusals of permission or content are ESME_RSUBMITFAIL, the generic permanent
#   refusal: only an operator (a top-up, a payment, a policy change) makes the message pass, so
#   a client must not retry it on its own. SMPP 3.4 has no status for money or permissions;
# - isp.UNKNOWN is ESME_RUNKNOWNERR, its namesake (smsgate raises it only when injected).
#
# The ``smpp34`` table names the statuses (``smsgate.smpp.constants.CommandStatus`` members, so
# that a unit test can check each is defined by SMPP 3.4 and not reserved) and the SMPP door turns
# them into numbers once. The platform's own states (PLATFORM_CODES) name theirs per profile.

SmppStatusProfile = Literal["seed", "smpp34"]
SMPP_STATUS_PROFILES: Final[tuple[SmppStatusProfile, ...]] = ("seed", "smpp34")

SMPP34_STATUS: Final[dict[ResultCode, str]] = {
    OK: "ESME_ROK",
    SYSTEM_ERROR_ACCESS_LAYER: "ESME_RSYSERR",
    UNKNOWN: "ESME_RUNKNOWNERR",
    NOT_SUPPORTED_COUNTRY: "ESME_RINVDSTADR",
    OUT_OF_SERVICE: "ESME_RSUBMITFAIL",
    ACCOUNT_NOT_EXISTS: "ESME_RINVSYSID",
    ACCOUNT_ABNORMAL: "ESME_RINVSYSID",
    SMS_CONTENT_CODE_ILLEGAL: "ESME_RINVDFTMSGID",
    SMS_SIGN_NAME_ILLEGAL: "ESME_RINVSRCADR",
    MOBILE_NUMBER_ILLEGAL: "ESME_RINVDSTADR",
    MOBILE_COUNT_OVER_LIMIT: "ESME_RINVNUMDESTS",
    CONTENT_MISSING_PARAMETERS: "ESME_RSUBMITFAIL",
    INVALID_PARAMETERS: "ESME_RSUBMITFAIL",
    INVALID_JSON_PARAM: "ESME_RSUBMITFAIL",
    BLACK_KEY_CONTROL_LIMIT: "ESME_RSUBMITFAIL",
    PARAM_LENGTH_LIMIT: "ESME_RSUBMITFAIL",
    AMOUNT_NOT_ENOUGH: "ESME_RSUBMITFAIL",
    DATA_NOT_EXIST: "ESME_RINVMSGID",
    BILLING_DEDUCTION_ERROR: "ESME_RSUBMITFAIL",
    RAM_PERMISSION_DENY: "ESME_RSUBMITFAIL",
    PRODUCT_UN_SUBSCRIPT: "ESME_RSUBMITFAIL",
    GATEWAY_ERROR: "ESME_RSYSERR",
    FORBIDDEN_ACTION: "ESME_RSUBMITFAIL",
    SENDERID_ERROR: "ESME_RINVSRCADR",
    BUSINESS_LIMIT_CONTROL_MINUTE: "ESME_RTHROTTLED",
    BUSINESS_LIMIT_HOUR: "ESME_RTHROTTLED",
    BUSINESS_LIMIT_DAY: "ESME_RTHROTTLED",
    BUSINESS_LIMIT_CONTROL_PHONE: "ESME_RTHROTTLED",
    SYSTEM_ERROR: "ESME_RSYSERR",
    COUNTRY_RESTRICTED: "ESME_RINVDSTADR",
    QUERY_DATE_ILLEGAL: "ESME_RQUERYFAIL",
    RAM_CHECK_FAILED: "ESME_RSUBMITFAIL",
    RES_OWNER_ID_UNKNOWN: "ESME_RINVSYSID",
    SYSTEM_LIMIT_CONTROL: "ESME_RTHROTTLED",
    DAY_LIMIT_CONTROL: "ESME_RTHROTTLED",
    MONTH_LIMIT_CONTROL: "ESME_RTHROTTLED",
}


# --- The platform's own states, answered by every door ------------------------------------------

#: No room for the work now: the delivery queue is full, or (HTTP) more requests are in progress
#: than ``[http] max_in_progress``. Both doors tell the client to slow down in their own terms:
#: Alibaba's ``Throttling`` (HTTP 429), and ESME_RMSGQFUL in both SMPP profiles, which Kannel,
#: Jasmin and aiosmpplib retry later. Nothing was stored or charged.
OVERLOADED = PlatformCode(
    "Overloaded",
    gateway=THROTTLING,
    smpp_status={"seed": "ESME_RMSGQFUL", "smpp34": "ESME_RMSGQFUL"},
)

PLATFORM_CODES: tuple[PlatformCode, ...] = (OVERLOADED,)
