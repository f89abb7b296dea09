"""Alibaba wire forms: response bodies (JSON or XML), dates, statuses and receipt pushes.

Only this module knows how an Alibaba client expects a result to look; the core hands it catalog
rows and message records.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from smsgate import errors
from smsgate.domain.models import Message, MessageStatus
from smsgate.errors import GatewayCode, ResultCode

__all__ = [
    "README_URL",
    "Body",
    "error_body",
    "format_date",
    "new_request_id",
    "number_detail",
    "query_status",
    "readme_anchor",
    "receipt_push_body",
    "result_body",
    "serialize",
]

Body = dict[str, Any]

#: The project's home page, which shows the README. Alibaba's ``Recommend`` links to a
#: troubleshooting page for the code; smsgate's links to the code's row of the README's gateway
#: error table.
README_URL = "https://github.com/smsgate/smsgate"


def readme_anchor(code: GatewayCode) -> str:
    """The id of ``code``'s row in the README (``InvalidTimeStamp.Expired`` ->
    ``error-invalidtimestamp-expired``)."""
    return "error-" + code.code.lower().replace(".", "-")


_RECOMMEND = {c.code: f"{README_URL}#{readme_anchor(c)}" for c in errors.GATEWAY_CODES}


_REQUEST_ID_PREFIX = uuid.uuid4().hex[:20].upper()
_request_counter = itertools.count(1)


def new_request_id() -> str:
    """A request id shaped like Alibaba's (upper-case UUID), unique in this process and across
    processes (random prefix), without a random-number syscall per request."""
    p = _REQUEST_ID_PREFIX
    return f"{p[:8]}-{p[8:12]}-{p[12:16]}-{p[16:20]}-{next(_request_counter):012X}"


def format_date(ts: float | None) -> str | None:
    """RFC 1123 style, as Alibaba's receipts and QueryMessage show.

    For example ``Thu, 25 Nov 2021 10:27:33 +0000``.
    """
    if ts is None:
        return None
    return format_datetime(datetime.fromtimestamp(ts, UTC).replace(microsecond=0))


def query_status(status: MessageStatus) -> str:
    """QueryMessage ``Status`` as the SDK documents it: 1 sent (delivered), 2 failed, 3 sending."""
    if status is MessageStatus.DELIVERED:
        return "1"
    if status in (MessageStatus.FAILED, MessageStatus.EXPIRED, MessageStatus.CANCELLED):
        return "2"
    return "3"


def push_status(status: MessageStatus) -> int:
    """Receipt push ``Status``: 1 sent (delivered), 2 failed, 6 expired."""
    if status is MessageStatus.DELIVERED:
        return 1
    if status is MessageStatus.EXPIRED:
        return 6
    return 2


def number_detail(message: Message) -> dict[str, str]:
    return {"Country": message.country, "Region": message.region, "Carrier": message.carrier}


def result_body(request_id: str, result: ResultCode, domestic: bool = False) -> Body:
    """The head of every SMS action's answer: request id, code and description.

    The international API (2018-05-01) names them ``ResponseCode``/``ResponseDescription``; the
    domestic one (2017-05-25) ``Code``/``Message``.
    """
    if domestic:
        return {"RequestId": request_id, "Code": result.code, "Message": result.message}
    return {
        "RequestId": request_id,
        "ResponseCode": result.code,
        "ResponseDescription": result.message,
    }


def error_body(request_id: str, host: str, code: GatewayCode, message: str) -> Body:
    return {
        "RequestId": request_id,
        "HostId": host,
        "Code": code.code,
        "Message": message,
        "Recommend": _RECOMMEND[code.code],
    }


def serialize(body: Body, fmt: str, root: str) -> tuple[bytes, str]:
    """The body as JSON (default) or XML (``Format=XML``), with its content type."""
    if fmt == "XML":
        xml = f"<?xml version='1.0' encoding='UTF-8'?><{root}>{_xml_fields(body)}</{root}>"
        return xml.encode(), "text/xml;charset=utf-8"
    return (
        json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        "application/json;charset=utf-8",
    )


def _xml_fields(body: Mapping[str, Any]) -> str:
    parts = []
    for key, value in body.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            parts.append(f"<{key}>{_xml_fields(value)}</{key}>")
        elif isinstance(value, list | tuple):
            parts.extend(f"<{key}>{_xml_value(item)}</{key}>" for item in value)
        else:
            parts.append(f"<{key}>{_xml_value(value)}</{key}>")
    return "".join(parts)


def _xml_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return _xml_fields(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def receipt_code_description(code: str | None) -> str | None:
    if code is None:
        return None
    try:
        return errors.receipt_code(code).message
    except KeyError:
        return code


def receipt_push_body(messages: Sequence[Message]) -> bytes:
    """The international receipt webhook: a JSON array, one element per message."""
    items = [
        {
            "To": m.to,
            "Status": push_status(m.status),
            "MessageId": m.id,
            "SmsSize": m.segments,
            "TaskId": m.task_id,
            "SendDate": format_date(m.send_date or m.created_at),
            "ReceiveDate": format_date(m.receive_date),
            "ErrorCode": m.error_code,
            "ErrorDescription": receipt_code_description(m.error_code),
            "NumberDetail": number_detail(m),
        }
        for m in messages
    ]
    return json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode()
