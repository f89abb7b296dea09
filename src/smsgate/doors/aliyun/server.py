"""The Alibaba Cloud compatible HTTP door (aiohttp).

One endpoint, ``/``, for GET and POST, as Alibaba's RPC gateway has. A request goes: parse the
signed request -> find the (version, action) handler -> authenticate -> check the account may call
the action -> run the handler -> render. Gateway errors are HTTP 4xx/5xx with
``{RequestId, HostId, Code, Message, Recommend}``; business results are HTTP 200 with
``ResponseCode``/``ResponseDescription``. Nothing here decides a business rule.

Every request ends in one ``api.request`` log line (logger ``smsgate.http``), built from what the
call learnt on its way (a :class:`_Call`): one logging call, no second look at the request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from smsgate import errors
from smsgate.config import HttpConfig
from smsgate.doors.aliyun import render
from smsgate.doors.aliyun.actions import ACTIONS, DOMESTIC, INTERNATIONAL, Context
from smsgate.doors.aliyun.auth import ApiAuthenticator
from smsgate.doors.aliyun.signature import SignedRequest, parse_signed_request
from smsgate.errors import GatewayCode, GatewayError, OverloadedError, SmsError
from smsgate.logs import log_event
from smsgate.ports.clock import Clock
from smsgate.ports.store import MessageStore
from smsgate.service.access import AccessGuard
from smsgate.service.records import MessageRecords
from smsgate.service.submit import SubmitService

__all__ = ["KNOWN_VERSIONS", "AliyunDoor", "access_log"]

log = logging.getLogger(__name__)
#: One line per API request (``api.request``), for operators and log shippers.
access_log = logging.getLogger("smsgate.http")

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
        limits: HttpConfig = HttpConfig(),  # noqa: B008 - frozen, shared on purpose
    ) -> None:
        self._auth = authenticator
        self._guard = guard
        self._submit = submit
        self._records = MessageRecords(messages)
        self._clock = clock
        self._max_body_bytes = max_body_bytes
        self._limits = limits
        self._in_progress = 0

    def application(self) -> web.Application:
        # The SDKs put every parameter in the query string, so a 1,000-number batch makes a URL far
        # longer than aiohttp's default 8 KiB request line.
        app = web.Application(
            client_max_size=self._max_body_bytes,
            # A request line or header over its limit is refused by the parser as it arrives,
            # before anything of it is decoded.
            handler_args={
                "max_line_size": self._max_body_bytes,
                "max_field_size": self._limits.max_header_bytes,
                "keepalive_timeout": self._limits.keepalive_timeout_s,
                # After an early answer (a body too slow or too large), what is still coming is
                # read and dropped this long before the close, not aiohttp's default 10 s.
                "lingering_time": 2.0,
            },
        )
        app.router.add_route("*", "/", self.handle)
        app.on_response_prepare.append(_without_server_header)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        call = _Call(render.new_request_id())
        if self._in_progress >= self._limits.max_in_progress:
            response = self._shed(request, call)
        else:
            self._in_progress += 1
            try:
                response = await self._answer(request, call)
            finally:
                self._in_progress -= 1
        if access_log.isEnabledFor(logging.INFO):
            _log_call(request, call, response.status, started)
        return response

    def _shed(self, request: web.Request, call: _Call) -> web.Response:
        """The catalog's overload answer (``Throttling``) before any parsing or signature check:
        a refusal costs a few microseconds, so the work in progress, and the latency of what is
        accepted, stay bounded however many clients pile up."""
        exc = GatewayError(errors.OVERLOADED.gateway, "Too many requests in progress; retry later.")
        return self._refuse_early(request, call, exc)

    def _refuse_early(self, request: web.Request, call: _Call, exc: GatewayError) -> web.Response:
        """A refusal made before the query is decoded (its ``Format`` is not known yet)."""
        call.code, call.detail = exc.gateway_code.code, exc.detail
        fmt = _format_of({}, request.headers)
        return self._gateway_error(
            call.request_id, request.host, exc.gateway_code, exc.message, fmt
        )

    async def _answer(self, request: web.Request, call: _Call) -> web.Response:
        request_id = call.request_id
        if request.raw_path.count("&") >= self._limits.max_parameters:
            # Checked before anything decodes the query: 400,000 tiny pairs cost about 0.4 s of
            # CPU to decode, and sending them needs no secret.
            return self._refuse_early(request, call, self._too_many_parameters())
        fmt = _format_of(request.query, request.headers)
        host = request.host
        domestic, root = False, "Response"
        try:
            if request.method not in ("GET", "POST"):
                raise GatewayError(errors.UNSUPPORTED_HTTP_METHOD)
            body = await self._read_body(request)
            signed = parse_signed_request(
                request.method, request.raw_path, list(request.query.items()), request.headers, body
            )
            call.signed = signed
            fmt = _format_of(signed.params, request.headers)
            action = _action_of(signed)
            domestic, root = signed.version == DOMESTIC, f"{action}Response"
            handler = ACTIONS[(signed.version or "", action)]
            key, account, remembered = await self._auth.authenticate(signed)
            call.account_id = account.id
            try:
                await self._guard.check(account, key, action, signed.params)
                ctx = Context(account, self._submit, self._records, self._clock)
                fields = await handler(ctx, signed.params)
            finally:
                await remembered  # the nonce is durable before any answer (see auth.py)
            result = render.result_body(request_id, errors.OK, domestic)
            result.update(fields)
            return _respond(200, result, fmt, root)
        except GatewayError as exc:
            call.code, call.detail = exc.gateway_code.code, exc.detail
            response = self._gateway_error(request_id, host, exc.gateway_code, exc.message, fmt)
            if exc.gateway_code is errors.REQUEST_TIMEOUT:
                response.force_close()  # the rest of the body may still come
            return response
        except SmsError as exc:
            # The seed's description goes to the client; what exactly was wrong (which parameter,
            # or which store call failed: the core logged why) goes to the request log.
            call.code, call.detail = exc.result.code, exc.detail
            body_ = render.result_body(request_id, exc.result, domestic)
            return _respond(200, body_, fmt, root)
        except OverloadedError as exc:
            # The catalog's "slow down" answer; what was full goes to the request log.
            gateway_code = exc.platform_code.gateway
            call.code, call.detail = gateway_code.code, str(exc) or None
            return self._gateway_error(request_id, host, gateway_code, None, fmt)
        except Exception:
            # Never a stack trace to the client; the log has it, without request secrets.
            log.exception("request %s failed", request_id)
            call.code = errors.SYSTEM_ERROR_ACCESS_LAYER.code
            body_ = render.result_body(request_id, errors.SYSTEM_ERROR_ACCESS_LAYER, domestic)
            return _respond(200, body_, fmt, root)

    async def _read_body(self, request: web.Request) -> bytes:
        try:
            if request.content.is_eof():
                # All of the body came with the headers (as a small request's does): reading it
                # cannot wait, so no timer is armed and cancelled (about 3 µs a request).
                body = await request.read()
            else:
                async with asyncio.timeout(self._limits.body_timeout_s):
                    body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise GatewayError(errors.REQUEST_TOO_LARGE) from None
        except TimeoutError:
            raise GatewayError(errors.REQUEST_TIMEOUT) from None
        if body.count(b"&") >= self._limits.max_parameters and _is_form_body(request):
            raise self._too_many_parameters()
        return body

    def _too_many_parameters(self) -> GatewayError:
        return GatewayError(
            errors.INVALID_PARAMETER,
            f"A request carries at most {self._limits.max_parameters} parameters.",
        )

    def _gateway_error(
        self, request_id: str, host: str, code: GatewayCode, message: str | None, fmt: str
    ) -> web.Response:
        body = render.error_body(request_id, host, code, message or code.message)
        return _respond(code.http_status, body, fmt, "Error")


async def _without_server_header(_request: web.Request, response: web.StreamResponse) -> None:
    """aiohttp names itself and Python in a ``Server`` header; the platform is nobody's business.

    Runs for every answer of this application and of applications mounted in it (the admin API).
    Only errors aiohttp answers before routing (an unparsable request line) keep the header.
    """
    response.headers.popall("Server", None)


@dataclass(slots=True)
class _Call:
    """What the request log line tells about one call, filled in as the call goes."""

    request_id: str
    signed: SignedRequest | None = None
    account_id: str | None = None
    code: str = "OK"
    detail: str | None = None


def _log_call(request: web.Request, call: _Call, status: int, started: float) -> None:
    """One ``api.request`` line: who called what, and the answer's code, status and latency.

    Ids, codes and numbers only: never the secret, the signature or a parameter's value (the
    message text), whatever the level. ``detail`` says which parameter or header was wrong.
    """
    fields: dict[str, object] = {}
    signed = call.signed
    if signed is not None:
        fields["action"] = signed.action
        fields["version"] = signed.version
        fields["access_key_id"] = signed.access_key_id
    else:  # refused before the signature could be read: what the request claims, cut short
        claimed = request.query.get("Action") or request.headers.get("x-acs-action")
        if claimed:
            fields["action"] = claimed[:64]
    if call.account_id is not None:
        fields["account"] = call.account_id
    fields["code"] = call.code
    fields["status"] = status
    fields["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    fields["request_id"] = call.request_id
    fields["peer"] = request.remote
    if call.detail is not None:
        fields["detail"] = call.detail
    log_event(access_log, logging.INFO, "api.request", **fields)


def _action_of(signed: SignedRequest) -> str:
    # Alibaba's sentences name neither the version nor the action; the request log line does.
    if not signed.action:
        raise errors.missing_parameter("Action")
    if signed.version not in KNOWN_VERSIONS:
        raise GatewayError(errors.INVALID_VERSION)
    if (signed.version, signed.action) not in ACTIONS:
        raise GatewayError(errors.INVALID_ACTION_NOT_FOUND)
    return signed.action


def _is_form_body(request: web.Request) -> bool:
    return request.content_type == "application/x-www-form-urlencoded"


def _format_of(params: Mapping[str, str], headers: Mapping[str, str]) -> str:
    fmt = params.get("Format")
    if fmt:
        return "XML" if fmt.upper() == "XML" else "JSON"
    accept = headers.get("accept", "")
    return "XML" if "xml" in accept and "json" not in accept else "JSON"


def _respond(status: int, body: render.Body, fmt: str, root: str) -> web.Response:
    payload, content_type = render.serialize(body, fmt, root)
    return web.Response(status=status, body=payload, headers={"Content-Type": content_type})
