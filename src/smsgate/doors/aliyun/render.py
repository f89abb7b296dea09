"""Alibaba wire forms: response bodies (JSON or XML), dates, statuses and receipt pushes.

Only this module knows how an Alibaba client expects a result to look; the core hands it catalog
rows and message records.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
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
    "draw_request_ids",
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


#: The RFC 4122 variant puts 10 in the top bits of the 17th hex digit: 8, 9, A or B.
_VARIANT = {f"{n:X}": "89AB"[n & 3] for n in range(16)}
#: Request ids drawn from the system's random source at a time.
_REQUEST_IDS_PER_DRAW = 256
#: Drawn ids not handed out yet; a forked child starts without them, so that it never repeats
#: one of its parent's.
_request_ids: list[str] = []
os.register_at_fork(after_in_child=_request_ids.clear)


def new_request_id() -> str:
    """A random (version 4) UUID in upper case, as Alibaba's ``RequestId`` is
    (``F655A8D5-B967-440B-8683-DAD6FF8DE990``).

    A counter behind a fixed prefix would say how many requests the server answered and that all
    of them came from one process. The random bytes are read for 256 ids at a time: one
    ``os.urandom`` call per request cost a system call, during which the event loop let go of
    the GIL and the store's writer thread took it, about 2 µs of a request's CPU all told.
    """
    ids = _request_ids
    if not ids:
        ids.extend(draw_request_ids(_REQUEST_IDS_PER_DRAW))
    return ids.pop()


def draw_request_ids(count: int, urandom: Callable[[int], bytes] = os.urandom) -> list[str]:
    """``count`` fresh request ids (see :func:`new_request_id`)."""
    h = urandom(16 * count).hex().upper()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-"
        f"{_VARIANT[h[i + 16]]}{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]


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
    return {"Country": message.country, "Region": message.region, "Carrier": message.network}


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
    """The body as JSON (default) or XML (``Format=XML``), with its content type.

    A field whose value is None is left out, in both forms, as Alibaba leaves out a field it has
    no value for (``From`` of a send without one, ``ErrorCode`` of a message still being sent):
    clients read a missing field as unset, but a JSON ``null`` can break a client that expects a
    string when the field is there.
    """
    if fmt == "XML":
        xml = f"<?xml version='1.0' encoding='UTF-8'?><{root}>{_xml_fields(body)}</{root}>"
        return xml.encode(), "text/xml;charset=utf-8"
    return _json(_present(body)), "application/json;charset=utf-8"


#: What ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` builds on every call.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _json(value: Any) -> bytes:
    return _JSON.encode(value).encode()


def _present(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` without its None fields, at any depth (about 1 µs for a send's answer)."""
    return {
        key: _present_value(value) if type(value) in (dict, list) else value
        for key, value in body.items()
        if value is not None
    }


def _present_value(value: Any) -> Any:
    if type(value) is dict:
        return _present(value)
    if type(value) is list:
        return [_present_value(item) for item in value]
    return value


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
    """The international receipt webhook: a JSON array, one element per message.

    Fields without a value (``TaskId`` of a message sent without one) are left out, as in the
    answers.
    """
    items = [
        _present(
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
        )
        for m in messages
    ]
    return _json(items)
