"""The Alibaba SMS actions: request parameters in, response fields out.

Each handler takes the caller's account and the request's parameters (already authenticated),
calls the core, and returns the action's fields with Alibaba's names. The table at the bottom maps
(version, action) to its handler; the server looks actions up there and nowhere else.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smsgate import errors
from smsgate.domain.models import Account, MessageStatus
from smsgate.doors.aliyun import render
from smsgate.errors import SmsError
from smsgate.ports.clock import Clock
from smsgate.service.records import MessageRecords
from smsgate.service.submit import Submission, SubmitService

__all__ = ["ACTIONS", "DOMESTIC", "INTERNATIONAL", "Context", "Handler"]

INTERNATIONAL = "2018-05-01"
DOMESTIC = "2017-05-25"
#: Record queries reach back this many days, today (UTC) included, as Alibaba's do.
QUERY_WINDOW_DAYS = 30


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler may use: the caller's account and the services of the core."""

    account: Account
    submit: SubmitService
    records: MessageRecords
    clock: Clock


Handler = Callable[[Context, Mapping[str, str]], Awaitable[dict[str, Any]]]


def required(params: Mapping[str, str], name: str) -> str:
    """A mandatory parameter; missing or empty is Alibaba's gateway error ``MissingParameter``."""
    value = params.get(name)
    if value is None or value == "":
        raise errors.missing_parameter(name)
    return value


def optional_int(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise SmsError(errors.INVALID_PARAMETERS, f"{name} must be an integer") from None


def optional(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    return value if value else None


def _submission(params: Mapping[str, str], to: str, body: str) -> Submission:
    return Submission(
        to=to,
        body=body,
        sender=optional(params, "From"),
        msg_type=(optional(params, "Type") or "NOTIFY").upper(),
        task_id=optional(params, "TaskId"),
        channel_id=optional(params, "ChannelId"),
        validity_period=optional_int(params, "ValidityPeriod"),
    )


async def send_message_to_globe(ctx: Context, params: Mapping[str, str]) -> dict[str, Any]:
    to = required(params, "To")
    body = required(params, "Message")
    message = await ctx.submit.send(ctx.account, _submission(params, to, body))
    return {
        "Segments": str(message.segments),
        "To": message.to,
        "From": message.sender,
        "MessageId": message.id,
        "NumberDetail": render.number_detail(message),
    }


async def send_message_with_template(ctx: Context, params: Mapping[str, str]) -> dict[str, Any]:
    to = required(params, "To")
    sender = required(params, "From")
    code = required(params, "TemplateCode")
    sub = Submission(
        to=to,
        body="",
        sender=sender,
        channel_id=optional(params, "ChannelId"),
        validity_period=optional_int(params, "ValidityPeriod"),
        template_code=code,
        sms_up_extend_code=optional(params, "SmsUpExtendCode"),
    )
    message = await ctx.submit.send_with_template(
        ctx.account, sub, optional(params, "TemplateParam")
    )
    return {
        "Segments": str(message.segments),
        "To": message.to,
        "MessageId": message.id,
        "NumberDetail": render.number_detail(message),
    }


def _json_string_list(raw: str, name: str) -> list[str]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested beyond the parser's depth
        raise SmsError(errors.INVALID_JSON_PARAM, f"{name} must be a JSON array") from None
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise SmsError(errors.INVALID_JSON_PARAM, f"{name} must be a JSON array of strings")
    return [str(v) for v in value]


async def batch_send_message_to_globe(ctx: Context, params: Mapping[str, str]) -> dict[str, Any]:
    numbers = _json_string_list(required(params, "To"), "To")
    texts = _json_string_list(required(params, "Message"), "Message")
    if len(texts) != len(numbers):
        raise SmsError(
            errors.INVALID_PARAMETERS,
            f"Message has {len(texts)} items but To has {len(numbers)}; they must match",
        )
    subs = [_submission(params, to, body) for to, body in zip(numbers, texts, strict=True)]
    accepted, failed = await ctx.submit.send_batch(ctx.account, subs)
    return {
        "From": optional(params, "From"),
        "SuccessCount": str(len(accepted)),
        "FailedList": ",".join(to for to, _ in failed),
        "MessageIdList": ",".join(m.id for m in accepted),
    }


async def query_message(ctx: Context, params: Mapping[str, str]) -> dict[str, Any]:
    message_id = required(params, "MessageId")
    message = await ctx.records.message(ctx.account.id, message_id)
    if message is None:
        raise SmsError(errors.DATA_NOT_EXIST, f"no message {message_id!r} in this account")
    pending = message.status in (MessageStatus.ACCEPTED, MessageStatus.SUBMITTED)
    return {
        "MessageId": message.id,
        "To": message.to,
        "Message": message.body,
        "Status": render.query_status(message.status),
        "ErrorCode": None if pending else message.error_code,
        "ErrorDescription": None
        if pending
        else render.receipt_code_description(message.error_code),
        "SendDate": render.format_date(message.send_date or message.created_at),
        "ReceiveDate": render.format_date(message.receive_date),
        "NumberDetail": render.number_detail(message),
    }


def _bool_param(params: Mapping[str, str], name: str) -> bool:
    value = required(params, name).strip().lower()
    if value not in ("true", "false"):
        raise SmsError(errors.INVALID_PARAMETERS, f"{name} must be true or false")
    return value == "true"


async def sms_conversion(ctx: Context, params: Mapping[str, str]) -> dict[str, Any]:
    message_id = required(params, "MessageId")
    delivered = _bool_param(params, "Delivered")
    now = ctx.clock.now()
    at_ms = optional_int(params, "ConversionTime")
    at = now if at_ms is None else at_ms / 1000
    message = await ctx.records.message(ctx.account.id, message_id)
    if message is None:
        raise SmsError(errors.DATA_NOT_EXIST, f"no message {message_id!r} in this account")
    to = optional(params, "To")
    if to is not None and to.lstrip("+") != message.to:
        raise SmsError(errors.INVALID_PARAMETERS, "To is not the number the message was sent to")
    if not message.created_at <= at <= now:
        raise SmsError(
            errors.INVALID_PARAMETERS,
            "ConversionTime must be after the message was sent and not in the future",
        )
    await ctx.records.record_conversion(ctx.account.id, message_id, delivered, at)
    return {}


async def conversion_data(ctx: Context, params: Mapping[str, str]) -> dict[str, Any]:
    raw_rate = required(params, "ConversionRate")
    try:
        rate = float(raw_rate)
    except ValueError:
        raise SmsError(errors.INVALID_PARAMETERS, "ConversionRate must be a number") from None
    if not math.isfinite(rate) or not 0.0 <= rate <= 1.0:
        raise SmsError(errors.INVALID_PARAMETERS, "ConversionRate must be between 0 and 1")
    now = ctx.clock.now()
    report_ms = optional_int(params, "ReportTime")
    report_time = now if report_ms is None else report_ms / 1000
    if report_time > now + 60:
        raise SmsError(errors.INVALID_PARAMETERS, "ReportTime must not be in the future")
    await ctx.records.add_conversion_data(ctx.account.id, rate, report_time)
    return {}


def _send_status(status: MessageStatus) -> int:
    """QuerySendDetails ``SendStatus``: 1 waiting for a receipt, 2 failed, 3 delivered."""
    if status is MessageStatus.DELIVERED:
        return 3
    if status in (MessageStatus.FAILED, MessageStatus.EXPIRED, MessageStatus.CANCELLED):
        return 2
    return 1


def _query_day(raw: str, now: float) -> float:
    """Start of the UTC day ``raw`` (yyyyMMdd) names; isv.QUERY_DATE_ILLEGAL outside the window."""
    try:
        day = datetime.strptime(raw, "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        raise SmsError(errors.INVALID_PARAMETERS, "SendDate must be yyyyMMdd") from None
    start = day.timestamp()
    today = now - now % 86_400
    if not today - (QUERY_WINDOW_DAYS - 1) * 86_400 <= start <= today:
        raise SmsError(
            errors.QUERY_DATE_ILLEGAL,
            f"SendDate must be within the last {QUERY_WINDOW_DAYS} days and not in the future",
        )
    return start


def _bounded_int(params: Mapping[str, str], name: str, low: int, high: int) -> int:
    value = optional_int(params, name)
    if value is None:
        required(params, name)
    if value is None or not low <= value <= high:
        raise SmsError(errors.INVALID_PARAMETERS, f"{name} must be {low} to {high}")
    return value


async def query_send_details(ctx: Context, params: Mapping[str, str]) -> dict[str, Any]:
    """Domestic record query (2017-05-25): one number's messages on one day, paged."""
    phone = required(params, "PhoneNumber").lstrip("+")
    since = _query_day(required(params, "SendDate"), ctx.clock.now())
    page_size = _bounded_int(params, "PageSize", 1, 50)
    page = _bounded_int(params, "CurrentPage", 1, 1_000_000)
    total, messages = await ctx.records.query(
        ctx.account.id,
        since=since,
        until=since + 86_400,
        to=phone,
        limit=page_size,
        offset=(page - 1) * page_size,
    )
    biz_id = optional(params, "BizId")
    if biz_id is not None:
        messages = [m for m in messages if m.id == biz_id]
        total = len(messages)
    return {
        "TotalCount": total,
        "SmsSendDetailDTOs": {
            "SmsSendDetailDTO": [
                {
                    "PhoneNum": m.to,
                    "SendStatus": _send_status(m.status),
                    "ErrCode": "DELIVERED" if m.status is MessageStatus.DELIVERED else m.error_code,
                    "TemplateCode": m.template_code,
                    "Content": m.body,
                    "SendDate": _plain_date(m.send_date or m.created_at),
                    "ReceiveDate": _plain_date(m.receive_date),
                    "OutId": None,
                }
                for m in messages
            ]
        },
    }


def _plain_date(ts: float | None) -> str | None:
    """``2019-01-08 16:44:10`` (UTC), as the domestic API shows dates."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


#: (API version, action) -> handler. The one place that says what smsgate answers.
ACTIONS: dict[tuple[str, str], Handler] = {
    (INTERNATIONAL, "SendMessageToGlobe"): send_message_to_globe,
    (INTERNATIONAL, "SendMessageWithTemplate"): send_message_with_template,
    (INTERNATIONAL, "BatchSendMessageToGlobe"): batch_send_message_to_globe,
    (INTERNATIONAL, "QueryMessage"): query_message,
    (INTERNATIONAL, "SmsConversion"): sms_conversion,
    (INTERNATIONAL, "ConversionData"): conversion_data,
    (DOMESTIC, "QuerySendDetails"): query_send_details,
}
