"""The Alibaba Cloud compatible HTTP door (aiohttp).

One endpoint, ``/``, for GET and POST, as Alibaba's RPC gateway has. A request goes: parse the
signed request -> find the (version, action) handler -> authenticate -> check the account may call
the action -> run the handler -> render. Gateway errors are HTTP 4xx/5xx with
``{RequestId, HostId, Code, Message, Recommend}``; business results are HTTP 200 with
``ResponseCode``/``ResponseDescription``. Nothing here decides a business rule.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import web

from smsgate import errors
from smsgate.doors.aliyun import render
from smsgate.doors.aliyun.actions import ACTIONS, DOMESTIC, INTERNATIONAL, Context
from smsgate.doors.aliyun.auth import ApiAuthenticator
from smsgate.doors.aliyun.signature import SignedRequest, parse_signed_request
from smsgate.errors import GatewayCode, GatewayError, OverloadedError, SmsError
from smsgate.ports.clock import Clock
from smsgate.ports.store import MessageStore, StoreError
from smsgate.service.access import AccessGuard
from smsgate.service.submit import SubmitService

__all__ = ["KNOWN_VERSIONS", "AliyunDoor"]

log = logging.getLogger(__name__)

#: Versions smsgate knows. Of the domestic API (2017-05-25) only QuerySendDetails so far.
KNOWN_VERSIONS = frozenset({INTERNATIONAL, DOMESTIC})


class AliyunDoor:
    def __init__(
        self,
        authenticator: ApiAuthenticator,
        guard: AccessGuard,
        submit: SubmitService,
        messages: MessageStore,
        clock: Clock,
        max_body_bytes: int,
    ) -> None:
        self._auth = authenticator
        self._guard = guard
        self._submit = submit
        self._messages = messages
        self._clock = clock
        self._max_body_bytes = max_body_bytes

    def application(self) -> web.Application:
        # The SDKs put every parameter in the query string, so a 1,000-number batch makes a URL far
        # longer than aiohttp's default 8 KiB request line.
        app = web.Application(
            client_max_size=self._max_body_bytes,
            handler_args={"max_line_size": self._max_body_bytes, "max_field_size": 65536},
        )
        app.router.add_route("*", "/", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        request_id = render.new_request_id()
        fmt = _format_of(request.query, request.headers)
        host = request.host
        domestic, root = False, "Response"
        try:
            if request.method not in ("GET", "POST"):
                raise GatewayError(errors.UNSUPPORTED_HTTP_METHOD)
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise GatewayError(errors.REQUEST_TOO_LARGE) from None
            signed = parse_signed_request(
                request.method, request.raw_path, list(request.query.items()), request.headers, body
            )
            fmt = _format_of(signed.params, request.headers)
            action = _action_of(signed)
            domestic, root = signed.version == DOMESTIC, f"{action}Response"
            handler = ACTIONS[(signed.version or "", action)]
            key, account, remembered = await self._auth.authenticate(signed)
            try:
                await self._guard.check(account, key, action, signed.params)
                ctx = Context(account, self._submit, self._messages, self._clock)
                fields = await handler(ctx, signed.params)
            finally:
                await remembered  # the nonce is durable before any answer (see auth.py)
            result = render.result_body(request_id, errors.OK, domestic)
            result.update(fields)
            return _respond(200, result, fmt, root)
        except GatewayError as exc:
            return self._gateway_error(request_id, host, exc.gateway_code, exc.message, fmt)
        except SmsError as exc:
            body_ = render.result_body(request_id, exc.result, domestic)
            return _respond(200, body_, fmt, root)
        except StoreError:
            # A handler's own read or write failed: the core's system error (SMPP 46), not the
            # access layer's. Logged for the operator; the client gets the catalog row only.
            log.exception("request %s: store failure", request_id)
            body_ = render.result_body(request_id, errors.SYSTEM_ERROR, domestic)
            return _respond(200, body_, fmt, root)
        except OverloadedError:
            return self._gateway_error(request_id, host, errors.THROTTLING, None, fmt)
        except Exception:
            # Never a stack trace to the client; the log has it, without request secrets.
            log.exception("request %s failed", request_id)
            body_ = render.result_body(request_id, errors.SYSTEM_ERROR_ACCESS_LAYER, domestic)
            return _respond(200, body_, fmt, root)

    def _gateway_error(
        self, request_id: str, host: str, code: GatewayCode, message: str | None, fmt: str
    ) -> web.Response:
        body = render.error_body(request_id, host, code, message or code.message)
        return _respond(code.http_status, body, fmt, "Error")


def _action_of(signed: SignedRequest) -> str:
    if not signed.action:
        raise GatewayError(
            errors.MISSING_PARAMETER,
            'The input parameter "Action" that is mandatory for processing this request is not '
            "supplied.",
        )
    if signed.version not in KNOWN_VERSIONS:
        raise GatewayError(
            errors.INVALID_VERSION, f"Specified parameter Version {signed.version!r} is not valid."
        )
    if (signed.version, signed.action) not in ACTIONS:
        raise GatewayError(
            errors.INVALID_ACTION_NOT_FOUND,
            f"Specified api {signed.action!r} is not found, please check your url and method.",
        )
    return signed.action


def _format_of(params: Mapping[str, str], headers: Mapping[str, str]) -> str:
    fmt = params.get("Format")
    if fmt:
        return "XML" if fmt.upper() == "XML" else "JSON"
    accept = headers.get("accept", "")
    return "XML" if "xml" in accept and "json" not in accept else "JSON"


def _respond(status: int, body: render.Body, fmt: str, root: str) -> web.Response:
    payload, content_type = render.serialize(body, fmt, root)
    return web.Response(status=status, body=payload, headers={"Content-Type": content_type})
