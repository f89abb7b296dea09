"""The operator's HTTP admin API: JSON over HTTP under ``/admin``, behind an operator token.

A thin door: every use-case lives in :mod:`smsgate.service.admin` (review, policy documents,
account settings, faults), :mod:`smsgate.service.accounts` (accounts and keys) or the store port;
this module only parses JSON, checks types and renders records with :mod:`smsgate.doors.views`,
the shapes the CLI prints with ``--json``.

It is mounted as a sub-application at ``/admin`` of the Alibaba door's application, so it shares
that port, and its middleware (token check, JSON errors) sees only ``/admin`` requests. Every answer
is JSON; every error is ``{"Code", "Message"}`` with a fitting HTTP status::

    401 Unauthorized      no ``Authorization: Bearer <token>`` or the wrong token
    400 InvalidParameter  a body that is not JSON, a field of the wrong type, a refused value
    404 NotFound          no such account, key, template, sign name or route
    405 MethodNotAllowed  a known route with the wrong method (``Allow`` says which are right)
    500 StoreError        the store failed (the server log says why)
    500 InternalError     a fault of smsgate's (the server log has the traceback)

Bad input is :class:`InvalidInput`, raised by this module's parsing, or turned from the
``ValueError`` of a call whose contract is to refuse input that way (the domain's parsers, the
operator use-cases, a balance out of range): never any ``ValueError``, so that a bug is a 500 in
the log with its traceback, not a 400 that blames the operator's input.

Routes::

    GET    /admin/accounts                              list accounts
    POST   /admin/accounts                              {name, balance?, callback_url?, actions?}
    GET    /admin/accounts/{id}                         account with its keys (no secrets)
    PATCH  /admin/accounts/{id}                         {state?, callback_url?, top_up?}
    POST   /admin/accounts/{id}/keys                    {actions?} -> key with its secret
    PATCH  /admin/keys/{key_id}                         {enabled?, actions?}
    DELETE /admin/keys/{key_id}
    GET    /admin/accounts/{id}/templates
    GET    /admin/accounts/{id}/templates/{code}
    PUT    /admin/accounts/{id}/templates/{code}        {content, type?} -> submitted for review
    DELETE /admin/accounts/{id}/templates/{code}
    POST   /admin/accounts/{id}/templates/{code}/{approve|reject|block}
    (the same five for /admin/accounts/{id}/sign-names[/{name}], PUT with an empty body)
    GET    /admin/accounts/{id}/settings                {"account_id", "settings"}
    PATCH  /admin/accounts/{id}/settings                merged; null removes a setting
    GET    /admin/accounts/{id}/messages?limit=N        newest first (default 50, at most 1000)
    GET    /admin/policy/{name}                         {"name", "document"} (null: never written)
    PUT    /admin/policy/{name}                         the document itself as the body
    GET    /admin/faults
    POST   /admin/faults                                one rule
    DELETE /admin/faults[?account=ID]
    GET    /admin/health                                {"status": "ok"} or {"status": "not ready",
                                                        "problems": [...]} (as /health, HTTP 200)
    GET    /admin/connectors                            the simulator and each connector's settings
                                                        (never its password) with its "live" state
    POST   /admin/connectors                            {name, host, port, system_id, password,
                                                        replace?, any other setting} -> 201
    DELETE /admin/connectors/{name}                     refused while routes use it
    GET    /admin/routes                                in the order they are tried
    POST   /admin/routes                                {connector, country?, prefix?,
                                                        network?, account?, sender?, priority?,
                                                        weight?} -> 201
    DELETE /admin/routes/{id}

The token is never logged, and never compared in a way whose timing depends on how much of it
was right.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web

from smsgate.domain.models import AccessKey, Account, AccountState, ReviewStatus, SignName, Template
from smsgate.domain.pricing import parse_amount
from smsgate.doors.views import (
    account_view,
    key_view,
    message_view,
    sign_name_view,
    template_view,
)
from smsgate.logs import log_event
from smsgate.ports.store import Store, StoreError
from smsgate.service.accounts import AccountService
from smsgate.service.admin import AdminService, NotFoundError
from smsgate.service.connector_admin import ConnectorAdmin, Live
from smsgate.service.health import Readiness
from smsgate.service.policy import DOCUMENT_PARSERS

__all__ = ["PREFIX", "AdminApi", "InvalidInput"]

log = logging.getLogger(__name__)

PREFIX = "/admin"
MAX_MESSAGES = 1000
MAX_ACCOUNT_NAME = 100

#: The review verbs of ``POST .../{approve|reject|block}``.
_REVIEWS = {
    "approve": ReviewStatus.APPROVED,
    "reject": ReviewStatus.REJECTED,
    "block": ReviewStatus.BLOCKED,
}

#: ``Code`` for HTTP errors aiohttp raises itself (no route, wrong method, body too large...).
_HTTP_CODES = {
    400: "InvalidParameter",
    401: "Unauthorized",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "RequestTooLarge",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class InvalidInput(Exception):  # noqa: N818 - the client's mistake, not a fault of ours
    """The request's input is refused: 400 InvalidParameter, with this message."""


@contextlib.contextmanager
def _refusing() -> Iterator[None]:
    """Around a call that refuses bad input with ValueError by contract: that refusal is the
    client's :class:`InvalidInput`."""
    try:
        yield
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


class AdminApi:
    def __init__(
        self,
        store: Store,
        accounts: AccountService,
        admin: AdminService,
        token: str,
        *,
        readiness: Readiness | None = None,
        connectors: ConnectorAdmin | None = None,
        live: Callable[[], Live] | None = None,
    ) -> None:
        if not token:
            raise ValueError("the admin API needs a non-empty operator token")
        self._store = store
        self._accounts = accounts
        self._admin = admin
        self._token = token.encode()
        self._readiness = readiness
        self._connectors = connectors
        self._live = live

    def register(self, app: web.Application) -> None:
        """Mount the API at ``/admin`` of ``app`` (before ``app`` starts)."""
        api = web.Application(middlewares=[self._middleware])
        account = "/accounts/{account_id}"
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/accounts", self.list_accounts),
            ("POST", "/accounts", self.create_account),
            ("GET", account, self.get_account),
            ("PATCH", account, self.update_account),
            ("POST", f"{account}/keys", self.create_key),
            ("PATCH", "/keys/{key_id}", self.update_key),
            ("DELETE", "/keys/{key_id}", self.delete_key),
            ("GET", f"{account}/templates", self.list_templates),
            ("GET", f"{account}/templates/{{code}}", self.get_template),
            ("PUT", f"{account}/templates/{{code}}", self.put_template),
            ("DELETE", f"{account}/templates/{{code}}", self.delete_template),
            ("POST", f"{account}/templates/{{code}}/{{verb}}", self.review_template),
            ("GET", f"{account}/sign-names", self.list_sign_names),
            ("GET", f"{account}/sign-names/{{name}}", self.get_sign_name),
            ("PUT", f"{account}/sign-names/{{name}}", self.put_sign_name),
            ("DELETE", f"{account}/sign-names/{{name}}", self.delete_sign_name),
            ("POST", f"{account}/sign-names/{{name}}/{{verb}}", self.review_sign_name),
            ("GET", f"{account}/settings", self.get_settings),
            ("PATCH", f"{account}/settings", self.update_settings),
            ("GET", f"{account}/messages", self.list_messages),
            ("GET", "/policy/{name}", self.get_policy),
            ("PUT", "/policy/{name}", self.put_policy),
            ("GET", "/faults", self.list_faults),
            ("POST", "/faults", self.add_fault),
            ("DELETE", "/faults", self.clear_faults),
            ("GET", "/health", self.health),
        ]
        if self._connectors is not None:
            routes += [
                ("GET", "/connectors", self.list_connectors),
                ("POST", "/connectors", self.add_connector),
                ("DELETE", "/connectors/{name}", self.remove_connector),
                ("GET", "/routes", self.list_routes),
                ("POST", "/routes", self.add_route),
                ("DELETE", "/routes/{route_id}", self.remove_route),
            ]
        for method, path, handler in routes:
            api.router.add_route(method, path, handler)
        app.add_subapp(PREFIX, api)

    # -- authentication and errors --------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        response = await self._serve(request, handler)
        # One line per call: method, path (ids only: no token, no body), status, latency.
        log_event(
            log,
            logging.INFO,
            "admin.request",
            method=request.method,
            path=request.path,
            status=response.status,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            peer=request.remote,
        )
        return response

    async def _serve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self._authorized(request.headers.get("Authorization", "")):
            return _error(
                401,
                "Unauthorized",
                "send the operator token as 'Authorization: Bearer <token>'",
                {"WWW-Authenticate": 'Bearer realm="smsgate-admin"'},
            )
        try:
            return await handler(request)
        except web.HTTPException as exc:  # raised by aiohttp: no route, wrong method, too large
            if exc.status < 400:
                raise
            code = _HTTP_CODES.get(exc.status, "InvalidRequest" if exc.status < 500 else "Error")
            message, headers = exc.reason, None
            if isinstance(exc, web.HTTPMethodNotAllowed):
                allow = ", ".join(sorted(exc.allowed_methods))
                message = f"{request.method} is not allowed here; use {allow}"
                headers = {"Allow": allow}
            elif isinstance(exc, web.HTTPNotFound):
                message = f"no admin route {request.method} {request.path}"
            return _error(exc.status, code, message, headers)
        except NotFoundError as exc:
            return _error(404, "NotFound", str(exc))
        except InvalidInput as exc:
            return _error(400, "InvalidParameter", str(exc))
        except StoreError:
            log.exception("admin %s %s: store failure", request.method, request.path)
            return _error(500, "StoreError", "the store failed; see the server log")
        except Exception:
            log.exception("admin %s %s failed", request.method, request.path)
            return _error(500, "InternalError", "the request failed; see the server log")

    def _authorized(self, header: str) -> bool:
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode("utf-8", "replace"), self._token)

    # -- health ---------------------------------------------------------------------------------

    async def health(self, _request: web.Request) -> web.Response:
        """What ``/health`` says, with HTTP 200 (the question was answered)."""
        return _json({"status": "ok"} if self._readiness is None else self._readiness.view())

    # -- accounts and keys ----------------------------------------------------------------------

    async def list_accounts(self, _request: web.Request) -> web.Response:
        return _json([account_view(a) for a in await self._store.list_accounts()])

    async def create_account(self, request: web.Request) -> web.Response:
        body = await _object(request, {"name", "balance", "callback_url", "actions"})
        name = _string(body, "name", required=True)
        if name is None or not name.strip() or len(name) > MAX_ACCOUNT_NAME:
            raise InvalidInput(f"name must be 1 to {MAX_ACCOUNT_NAME} characters")
        with _refusing():
            balance = parse_amount(body.get("balance", 0), "balance")
        callback_url = _callback_url(body.get("callback_url"))
        actions = _actions(body.get("actions"))
        account, key = await self._accounts.create_account(
            name, balance_micros=balance, callback_url=callback_url, actions=actions
        )
        return _json({**account_view(account), **key_view(key, with_secret=True)}, status=201)

    async def get_account(self, request: web.Request) -> web.Response:
        account = await self._account(request)
        keys = await self._store.list_keys(account.id)
        return _json({**account_view(account), "keys": [key_view(k) for k in keys]})

    async def update_account(self, request: web.Request) -> web.Response:
        account = await self._account(request)
        body = await _object(request, {"state", "callback_url", "top_up"})
        # Everything is checked before anything changes.
        state = None
        if "state" in body:
            raw = body["state"]
            if not isinstance(raw, str) or raw not in {s.value for s in AccountState}:
                states = ", ".join(s.value for s in AccountState)
                raise InvalidInput(f"state must be one of {states}")
            state = AccountState(raw)
        callback_url = _callback_url(body.get("callback_url"))
        with _refusing():
            top_up = parse_amount(body["top_up"], "top_up") if "top_up" in body else None
            # The store refuses a balance beyond the maximum with ValueError.
            if top_up is not None and await self._store.add_balance(account.id, top_up) is None:
                raise NotFoundError(f"no account {account.id}")
        if state is not None and not await self._store.set_account_state(account.id, state):
            raise NotFoundError(f"no account {account.id}")
        if "callback_url" in body and not await self._store.set_callback_url(
            account.id, callback_url
        ):
            raise NotFoundError(f"no account {account.id}")
        return _json(account_view(await self._account(request)))

    async def create_key(self, request: web.Request) -> web.Response:
        account_id = request.match_info["account_id"]
        body = await _object(request, {"actions"}, optional=True)
        key = await self._accounts.create_key(account_id, _actions(body.get("actions")))
        if key is None:
            raise NotFoundError(f"no account {account_id}")
        return _json(key_view(key, with_secret=True), status=201)

    async def update_key(self, request: web.Request) -> web.Response:
        key_id = request.match_info["key_id"]
        await self._key(key_id)
        body = await _object(request, {"enabled", "actions"})
        enabled = body.get("enabled")
        if "enabled" in body and not isinstance(enabled, bool):
            raise InvalidInput("enabled must be true or false")
        actions = _actions(body["actions"]) if "actions" in body else None
        if "actions" in body and not await self._store.set_key_actions(key_id, actions):
            raise NotFoundError(f"no access key {key_id}")
        if isinstance(enabled, bool) and not await self._store.set_key_enabled(key_id, enabled):
            raise NotFoundError(f"no access key {key_id}")
        return _json(key_view(await self._key(key_id)))

    async def delete_key(self, request: web.Request) -> web.Response:
        key_id = request.match_info["key_id"]
        key = await self._key(key_id)
        if not await self._store.delete_key(key_id):
            raise NotFoundError(f"no access key {key_id}")
        return _json({**key_view(key), "deleted": True})

    # -- templates ------------------------------------------------------------------------------

    async def list_templates(self, request: web.Request) -> web.Response:
        account = await self._account(request)
        return _json([template_view(t) for t in await self._store.list_templates(account.id)])

    async def get_template(self, request: web.Request) -> web.Response:
        return _json(template_view(await self._template(request)))

    async def put_template(self, request: web.Request) -> web.Response:
        body = await _object(request, {"content", "type"})
        content = _string(body, "content", required=True) or ""
        template_type = _string(body, "type") or "notification"
        with _refusing():
            template = await self._admin.add_template(
                request.match_info["account_id"], request.match_info["code"], content, template_type
            )
        return _json(template_view(template))

    async def delete_template(self, request: web.Request) -> web.Response:
        template = await self._template(request)
        if not await self._store.delete_template(template.account_id, template.code):
            raise NotFoundError(f"account {template.account_id} has no template {template.code}")
        return _json({**template_view(template), "deleted": True})

    async def review_template(self, request: web.Request) -> web.Response:
        status = _review(request)
        template = await self._admin.review_template(
            request.match_info["account_id"], request.match_info["code"], status
        )
        return _json(template_view(template))

    # -- sign names -----------------------------------------------------------------------------

    async def list_sign_names(self, request: web.Request) -> web.Response:
        account = await self._account(request)
        return _json([sign_name_view(s) for s in await self._store.list_sign_names(account.id)])

    async def get_sign_name(self, request: web.Request) -> web.Response:
        return _json(sign_name_view(await self._sign_name(request)))

    async def put_sign_name(self, request: web.Request) -> web.Response:
        await _object(request, set(), optional=True)
        with _refusing():
            sign = await self._admin.add_sign_name(
                request.match_info["account_id"], request.match_info["name"]
            )
        return _json(sign_name_view(sign))

    async def delete_sign_name(self, request: web.Request) -> web.Response:
        sign = await self._sign_name(request)
        if not await self._store.delete_sign_name(sign.account_id, sign.name):
            raise NotFoundError(f"account {sign.account_id} has no sign name {sign.name!r}")
        return _json({**sign_name_view(sign), "deleted": True})

    async def review_sign_name(self, request: web.Request) -> web.Response:
        status = _review(request)
        sign = await self._admin.review_sign_name(
            request.match_info["account_id"], request.match_info["name"], status
        )
        return _json(sign_name_view(sign))

    # -- settings, policy documents, faults -----------------------------------------------------

    async def get_settings(self, request: web.Request) -> web.Response:
        account = await self._account(request)
        settings = await self._admin.get_policy(f"account:{account.id}") or {}
        return _json({"account_id": account.id, "settings": settings})

    async def update_settings(self, request: web.Request) -> web.Response:
        account = await self._account(request)
        changes = await _object(request, None)
        with _refusing():
            settings = await self._admin.update_account_settings(account.id, changes)
        return _json({"account_id": account.id, "settings": settings})

    async def list_messages(self, request: web.Request) -> web.Response:
        account = await self._account(request)
        raw = request.query.get("limit", "50")
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_MESSAGES:
            raise InvalidInput(f"limit must be a whole number from 1 to {MAX_MESSAGES}")
        messages = await self._store.list_messages(account.id, int(raw))
        return _json([message_view(m) for m in messages])

    async def get_policy(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await self._must_name(name)
        return _json({"name": name, "document": await self._admin.get_policy(name)})

    async def put_policy(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await self._must_name(name)
        document = await _json_body(request)
        with _refusing():
            version = await self._admin.put_policy(name, document)
        return _json({"name": name, "version": version, "document": document})

    async def list_faults(self, _request: web.Request) -> web.Response:
        return _json(await self._admin.get_policy("faults") or [])

    async def add_fault(self, request: web.Request) -> web.Response:
        rule = await _object(request, None)
        with _refusing():
            rules = await self._admin.add_fault(rule)
        return _json(rules, status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        account_id = request.query.get("account")
        if account_id == "":  # not "every account": an empty value is a mistake, not a wildcard
            raise InvalidInput("account must be an account id; leave it out to clear every fault")
        return _json(await self._admin.clear_faults(account_id))

    # -- connectors and routes ------------------------------------------------------------------

    async def list_connectors(self, _request: web.Request) -> web.Response:
        live = self._live() if self._live is not None else {}
        return _json(await self._connector_admin().list_connectors(live))

    async def add_connector(self, request: web.Request) -> web.Response:
        body = await _object(request, None)
        settings = dict(body)
        name = _string(settings, "name", required=True) or ""
        password = _string(settings, "password", required=True) or ""
        replace = settings.pop("replace", False)
        if not isinstance(replace, bool):
            raise InvalidInput("replace must be true or false")
        del settings["name"], settings["password"]
        with _refusing():
            added = await self._connector_admin().add_connector(
                name, settings, password, replace=replace
            )
        return _json(added, status=201)

    async def remove_connector(self, request: web.Request) -> web.Response:
        with _refusing():
            removed = await self._connector_admin().remove_connector(request.match_info["name"])
        return _json(removed)

    async def list_routes(self, _request: web.Request) -> web.Response:
        return _json(await self._connector_admin().list_routes())

    async def add_route(self, request: web.Request) -> web.Response:
        body = await _object(request, None)
        with _refusing():
            added = await self._connector_admin().add_route(body)
        return _json(added, status=201)

    async def remove_route(self, request: web.Request) -> web.Response:
        return _json(await self._connector_admin().remove_route(request.match_info["route_id"]))

    def _connector_admin(self) -> ConnectorAdmin:
        assert self._connectors is not None  # the routes exist only with it
        return self._connectors

    # -- lookups --------------------------------------------------------------------------------

    async def _account(self, request: web.Request) -> Account:
        account_id = request.match_info["account_id"]
        account = await self._store.get_account(account_id)
        if account is None:
            raise NotFoundError(f"no account {account_id}")
        return account

    async def _key(self, key_id: str) -> AccessKey:
        found = await self._store.find_key(key_id)
        if found is None:
            raise NotFoundError(f"no access key {key_id}")
        return found[0]

    async def _template(self, request: web.Request) -> Template:
        account_id, code = request.match_info["account_id"], request.match_info["code"]
        template = await self._store.get_template(account_id, code)
        if template is None:
            raise NotFoundError(f"account {account_id} has no template {code}")
        return template

    async def _sign_name(self, request: web.Request) -> SignName:
        account_id, name = request.match_info["account_id"], request.match_info["name"]
        sign = await self._store.get_sign_name(account_id, name)
        if sign is None:
            raise NotFoundError(f"account {account_id} has no sign name {name!r}")
        return sign

    async def _must_name(self, name: str) -> None:
        """404 unless ``name`` is a policy document that can exist."""
        kind, colon, subject = name.partition(":")
        if (kind + colon) not in DOCUMENT_PARSERS or (colon and not subject):
            known = ", ".join(n + ("<id>" if n.endswith(":") else "") for n in DOCUMENT_PARSERS)
            raise NotFoundError(f"no policy document {name!r}; the documents are {known}")
        if kind == "account" and await self._store.get_account(subject) is None:
            raise NotFoundError(f"no account {subject}")
        if kind == "key" and await self._store.find_key(subject) is None:
            raise NotFoundError(f"no access key {subject}")


# -- request parsing --------------------------------------------------------------------------


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        raise InvalidInput("the request body must be JSON")
    try:
        return json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidInput("the request body is JSON nested too deeply") from None


async def _object(
    request: web.Request, keys: set[str] | None, *, optional: bool = False
) -> dict[str, Any]:
    """The body as a JSON object with only ``keys`` (None: any); ``optional``: may be empty."""
    if optional and not (await request.read()).strip():
        return {}
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    if keys is not None:
        unknown = set(body) - keys
        if unknown:
            allowed = ", ".join(sorted(keys)) or "nothing"
            raise InvalidInput(f"unknown fields {', '.join(sorted(unknown))}; allowed: {allowed}")
    return body


def _string(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    return value


def _callback_url(value: Any) -> str | None:
    """None or "" clears; anything else must be an http(s) URL."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise InvalidInput("callback_url must start with http:// or https://, or be null")
    return value


def _actions(value: Any) -> frozenset[str] | None:
    """None or "all": every action; else a non-empty list of action names."""
    if value is None or value == "all":
        return None
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(a, str) and a.strip() for a in value)
    ):
        raise InvalidInput('actions must be "all" or a non-empty list of action names')
    return frozenset(a.strip() for a in value)


def _review(request: web.Request) -> ReviewStatus:
    verb = request.match_info["verb"]
    status = _REVIEWS.get(verb)
    if status is None:
        raise NotFoundError(f"no review action {verb!r}; use approve, reject or block")
    return status


# -- responses --------------------------------------------------------------------------------

_dumps = functools.partial(json.dumps, ensure_ascii=False)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"Code": code, "Message": message}, status=status, headers=headers, dumps=_dumps
    )
