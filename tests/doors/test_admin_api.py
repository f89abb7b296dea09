"""The operator admin API in-process: an aiohttp Application with the API registered (next to a
stand-in for the Alibaba door's "/"), over the memory store and a fixed clock."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from smsgate.adapters.storage.memory import MemoryStore
from smsgate.config import AdminConfig, ConfigError, load_config
from smsgate.domain.models import Account, Message, MessageStatus
from smsgate.doors.admin import AdminApi
from smsgate.service.accounts import AccountService
from smsgate.service.admin import AdminService
from smsgate.service.health import Readiness
from tests.doors.conftest import T0, FixedClock

TOKEN = "operator-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Admin:
    client: TestClient[web.Request, web.Application]
    store: MemoryStore
    readiness: Readiness

    async def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """The JSON answer of an authorized request, checking its status."""
        expect = kwargs.pop("expect", 200)
        response = await self.request(method, path, body, **kwargs)
        data = await response.json()
        assert response.status == expect, data
        assert response.content_type == "application/json"
        return data

    async def request(
        self, method: str, path: str, body: Any = None, *, headers: Any = None, **kwargs: Any
    ) -> ClientResponse:
        if body is not None:
            kwargs["json"] = body
        return await self.client.request(
            method, path, headers=AUTH if headers is None else headers, **kwargs
        )

    async def new_account(self, **fields: Any) -> dict[str, Any]:
        created: dict[str, Any] = await self.call(
            "POST", "/admin/accounts", {"name": "acme", **fields}, expect=201
        )
        return created


async def _root(_request: web.Request) -> web.Response:
    return web.json_response({"door": "aliyun"})


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    async with open_admin(MemoryStore()) as opened:
        yield opened


@contextlib.asynccontextmanager
async def open_admin(store: MemoryStore) -> AsyncIterator[Admin]:
    """The admin API over ``store`` (started here), beside a stand-in for the Alibaba door."""
    await store.start()
    clock = FixedClock()
    app = web.Application()
    app.router.add_route("*", "/", _root)  # the Alibaba door's endpoint shares the application
    readiness = Readiness(clock)
    AdminApi(
        store, AccountService(store, clock), AdminService(store, clock), TOKEN, readiness=readiness
    ).register(app)
    try:
        async with TestClient(TestServer(app)) as client:
            yield Admin(client, store, readiness)
    finally:
        await store.close()


# -- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
    ],
)
async def test_refuses_requests_without_the_token_and_changes_nothing(
    admin: Admin, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for method, path, body in [
        ("POST", "/admin/accounts", {"name": "mallory"}),
        ("GET", "/admin/accounts", None),
        ("PUT", "/admin/policy/platform", {"review": {"templates": "auto"}}),
        ("GET", "/admin/no-such-route", None),  # no route map for strangers
    ]:
        response = await admin.request(method, path, body, headers=headers)
        assert response.status == 401
        data = await response.json()
        assert data["Code"] == "Unauthorized"
        assert TOKEN not in data["Message"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert await admin.store.list_accounts() == []
    assert await admin.store.get_document("platform") is None
    assert TOKEN not in caplog.text


async def test_the_scheme_is_case_insensitive(admin: Admin) -> None:
    response = await admin.request(
        "GET", "/admin/accounts", headers={"Authorization": f"bearer  {TOKEN}"}
    )
    assert response.status == 200
    assert await response.json() == []


async def test_leaves_the_rest_of_the_application_alone(admin: Admin) -> None:
    response = await admin.client.get("/")
    assert response.status == 200
    assert await response.json() == {"door": "aliyun"}


async def test_an_empty_token_is_refused() -> None:
    store = MemoryStore()
    clock = FixedClock()
    with pytest.raises(ValueError, match="token"):
        AdminApi(store, AccountService(store, clock), AdminService(store, clock), "")


# -- health -------------------------------------------------------------------------------------


async def test_health_says_what_stops_the_server(admin: Admin) -> None:
    assert await admin.call("GET", "/admin/health") == {"status": "ok"}
    admin.readiness.failing("store", "disk_full", "SQLITE_FULL: database or disk is full", "free")

    assert await admin.call("GET", "/admin/health") == {
        "status": "not ready",
        "problems": [
            {
                "component": "store",
                "problem": "disk_full",
                "detail": "SQLITE_FULL: database or disk is full",
                "advice": "free",
                "since": "2026-11-24T22:55:27Z",
            }
        ],
    }
    admin.readiness.recovered("store")
    assert await admin.call("GET", "/admin/health") == {"status": "ok"}
    response = await admin.request("GET", "/admin/health", headers={})
    assert response.status == 401  # behind the token like the rest


# -- accounts and keys --------------------------------------------------------------------------


async def test_creates_an_account_with_its_first_key(admin: Admin) -> None:
    created = await admin.new_account(
        balance="12.50", callback_url="https://example.com/receipts", actions=["SendMessageToGlobe"]
    )
    assert created["name"] == "acme"
    assert created["state"] == "normal"
    assert created["balance"] == "12.5"
    assert created["callback_url"] == "https://example.com/receipts"
    assert created["access_key_id"].startswith("LTAI")
    assert len(created["access_key_secret"]) == 30
    assert created["actions"] == ["SendMessageToGlobe"]

    account_id = created["account_id"]
    shown = await admin.call("GET", f"/admin/accounts/{account_id}")
    assert shown["balance"] == "12.5"
    assert shown["keys"] == [
        {
            "access_key_id": created["access_key_id"],
            "account_id": account_id,
            "enabled": True,
            "actions": ["SendMessageToGlobe"],
        }
    ]
    listed = await admin.call("GET", "/admin/accounts")
    assert [a["account_id"] for a in listed] == [account_id]
    stored = await admin.store.find_key(created["access_key_id"])
    assert stored is not None
    assert stored[0].secret == created["access_key_secret"]


async def test_a_new_account_defaults_to_no_balance_and_every_action(admin: Admin) -> None:
    created = await admin.new_account()
    assert created["balance"] == "0"
    assert created["callback_url"] is None
    assert created["actions"] == "all"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 7}, "name"),
        ({"name": "acme", "balance": "-1"}, "balance"),
        ({"name": "acme", "balance": "ten"}, "balance"),
        ({"name": "acme", "balance": True}, "balance"),
        ({"name": "acme", "callback_url": "ftp://x"}, "callback_url"),
        ({"name": "acme", "actions": "SendMessageToGlobe"}, "actions"),
        ({"name": "acme", "actions": []}, "actions"),
        ({"name": "acme", "actions": [1]}, "actions"),
        ({"name": "acme", "colour": "red"}, "colour"),
        (["acme"], "object"),
    ],
)
async def test_refuses_bad_account_fields(admin: Admin, body: Any, message: str) -> None:
    data = await admin.call("POST", "/admin/accounts", body, expect=400)
    assert data["Code"] == "InvalidParameter"
    assert message in data["Message"]
    assert await admin.store.list_accounts() == []


@pytest.mark.parametrize("raw", [b"", b"{name: acme}", b"\xff\xfe", b'{"name": "acme"'])
async def test_refuses_a_body_that_is_not_json(admin: Admin, raw: bytes) -> None:
    response = await admin.request("POST", "/admin/accounts", data=raw)
    assert response.status == 400
    assert (await response.json())["Code"] == "InvalidParameter"
    assert await admin.store.list_accounts() == []


async def test_changes_an_accounts_state_callback_and_balance(admin: Admin) -> None:
    account_id = (await admin.new_account(balance="1"))["account_id"]
    path = f"/admin/accounts/{account_id}"
    changed = await admin.call(
        "PATCH",
        path,
        {"state": "suspended", "callback_url": "http://cb.example/x", "top_up": "2.25"},
    )
    assert changed["state"] == "suspended"
    assert changed["callback_url"] == "http://cb.example/x"
    assert changed["balance"] == "3.25"
    cleared = await admin.call("PATCH", path, {"callback_url": None, "state": "normal"})
    assert cleared["callback_url"] is None
    assert cleared["state"] == "normal"
    assert cleared["balance"] == "3.25"


@pytest.mark.parametrize(
    "body",
    [
        {"state": "gone", "top_up": "5"},
        {"state": ["normal"], "top_up": "5"},
        {"top_up": "-5"},
        {"top_up": "5", "callback_url": "mailto:x"},
        {"top_up": "5", "name": "renamed"},
    ],
)
async def test_an_account_change_with_a_bad_field_changes_nothing(admin: Admin, body: Any) -> None:
    account_id = (await admin.new_account(balance="1"))["account_id"]
    data = await admin.call("PATCH", f"/admin/accounts/{account_id}", body, expect=400)
    assert data["Code"] == "InvalidParameter"
    account = await admin.store.get_account(account_id)
    assert account is not None
    assert account.balance_micros == 1_000_000
    assert account.state == "normal"
    assert account.callback_url is None


async def test_manages_keys(admin: Admin) -> None:
    account_id = (await admin.new_account())["account_id"]
    key = await admin.call(
        "POST", f"/admin/accounts/{account_id}/keys", {"actions": ["QueryMessage"]}, expect=201
    )
    assert key["account_id"] == account_id
    assert key["actions"] == ["QueryMessage"]
    assert len(key["access_key_secret"]) == 30
    key_path = f"/admin/keys/{key['access_key_id']}"

    disabled = await admin.call("PATCH", key_path, {"enabled": False, "actions": "all"})
    assert disabled == {
        "access_key_id": key["access_key_id"],
        "account_id": account_id,
        "enabled": False,
        "actions": "all",
    }
    narrowed = await admin.call("PATCH", key_path, {"actions": ["SendMessageToGlobe"]})
    assert narrowed["actions"] == ["SendMessageToGlobe"]
    assert narrowed["enabled"] is False
    assert "access_key_secret" not in narrowed

    await admin.call("PATCH", key_path, {"enabled": "no"}, expect=400)
    deleted = await admin.call("DELETE", key_path)
    assert deleted["deleted"] is True
    assert await admin.store.find_key(key["access_key_id"]) is None
    await admin.call("DELETE", key_path, expect=404)
    await admin.call("PATCH", key_path, {"enabled": True}, expect=404)


async def test_a_key_with_no_body_may_call_every_action(admin: Admin) -> None:
    account_id = (await admin.new_account())["account_id"]
    response = await admin.request("POST", f"/admin/accounts/{account_id}/keys")
    assert response.status == 201
    assert (await response.json())["actions"] == "all"


# -- templates and sign names -------------------------------------------------------------------


async def test_a_template_waits_for_review(admin: Admin) -> None:
    account_id = (await admin.new_account())["account_id"]
    base = f"/admin/accounts/{account_id}/templates"
    added = await admin.call(
        "PUT", f"{base}/SMS_100", {"content": "Your code is ${code}", "type": "verification"}
    )
    assert added == {
        "account_id": account_id,
        "code": "SMS_100",
        "type": "verification",
        "status": "pending",
        "content": "Your code is ${code}",
    }
    stored = await admin.store.get_template(account_id, "SMS_100")
    assert stored is not None
    assert stored.status == "pending"

    approved = await admin.call("POST", f"{base}/SMS_100/approve")
    assert approved["status"] == "approved"
    assert (await admin.call("GET", f"{base}/SMS_100"))["status"] == "approved"
    assert [t["status"] for t in await admin.call("GET", base)] == ["approved"]
    assert (await admin.call("POST", f"{base}/SMS_100/reject"))["status"] == "rejected"
    assert (await admin.call("POST", f"{base}/SMS_100/block"))["status"] == "blocked"
    stored = await admin.store.get_template(account_id, "SMS_100")
    assert stored is not None
    assert stored.status == "blocked"


async def test_a_template_is_approved_at_once_when_review_is_automatic(admin: Admin) -> None:
    account_id = (await admin.new_account())["account_id"]
    await admin.call("PUT", "/admin/policy/platform", {"review": {"templates": "auto"}})
    added = await admin.call(
        "PUT", f"/admin/accounts/{account_id}/templates/SMS_1", {"content": "Hello ${name}"}
    )
    assert added["status"] == "approved"
    assert added["type"] == "notification"
    # Sign names keep their own (manual) review.
    sign = await admin.call("PUT", f"/admin/accounts/{account_id}/sign-names/Acme")
    assert sign["status"] == "pending"


@pytest.mark.parametrize(
    ("code", "body"),
    [
        ("SMS_1", {"content": "", "type": "notification"}),
        ("SMS_1", {"content": "hi", "type": "spam"}),
        ("SMS_1", {"content": 5}),
        ("SMS_1", {"type": "notification"}),
        ("SMS_1", {"content": "hi", "status": "approved"}),
        ("SMS-1", {"content": "hi"}),
    ],
)
async def test_refuses_bad_templates(admin: Admin, code: str, body: Any) -> None:
    account_id = (await admin.new_account())["account_id"]
    path = f"/admin/accounts/{account_id}/templates/{code}"
    data = await admin.call("PUT", path, body, expect=400)
    assert data["Code"] == "InvalidParameter"
    assert await admin.store.list_templates(account_id) == []


async def test_a_sign_name_waits_for_review(admin: Admin) -> None:
    account_id = (await admin.new_account())["account_id"]
    name = "阿里云短信"
    base = f"/admin/accounts/{account_id}/sign-names"
    path = f"{base}/{quote(name)}"
    added = await admin.call("PUT", path)
    assert added == {"account_id": account_id, "name": name, "status": "pending"}
    assert (await admin.call("POST", f"{path}/approve"))["status"] == "approved"
    stored = await admin.store.get_sign_name(account_id, name)
    assert stored is not None
    assert stored.status == "approved"
    assert await admin.call("GET", base) == [
        {"account_id": account_id, "name": name, "status": "approved"}
    ]
    assert (await admin.call("POST", f"{path}/reject"))["status"] == "rejected"
    assert (await admin.call("POST", f"{path}/block"))["status"] == "blocked"
    assert (await admin.call("GET", path))["status"] == "blocked"
    assert (await admin.call("DELETE", path))["deleted"] is True
    assert await admin.store.get_sign_name(account_id, name) is None
    await admin.call("GET", path, expect=404)


async def test_a_sign_name_is_approved_at_once_when_review_is_automatic(admin: Admin) -> None:
    account_id = (await admin.new_account())["account_id"]
    await admin.call("PUT", "/admin/policy/platform", {"review": {"sign_names": "auto"}})
    sign = await admin.call("PUT", f"/admin/accounts/{account_id}/sign-names/Acme")
    assert sign["status"] == "approved"


async def test_refuses_a_sign_name_that_is_too_long(admin: Admin) -> None:
    account_id = (await admin.new_account())["account_id"]
    path = f"/admin/accounts/{account_id}/sign-names/{'x' * 34}"
    await admin.call("PUT", path, expect=400)
    await admin.call("PUT", f"/admin/accounts/{account_id}/sign-names/Acme", {"x": 1}, expect=400)
    assert await admin.store.list_sign_names(account_id) == []


async def test_deletes_a_template(admin: Admin) -> None:
    account_id = (await admin.new_account())["account_id"]
    path = f"/admin/accounts/{account_id}/templates/SMS_9"
    await admin.call("PUT", path, {"content": "hi"})
    assert (await admin.call("DELETE", path))["code"] == "SMS_9"
    assert await admin.store.get_template(account_id, "SMS_9") is None
    await admin.call("DELETE", path, expect=404)


# -- policy documents, settings, faults ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "document"),
    [
        ("prices", {"default": "-0.05"}),
        ("prices", {"countries": {"SG": {"price": "-1"}}}),
        ("prices", {"default": "0.05", "currency": "SGD"}),
        ("faults", [{"account": "*", "action": "*", "code": "isp.UNKNOWN"}]),
        ("faults", {"account": "*"}),
        ("platform", {"review": {"templates": "sometimes"}}),
        ("keywords", ["ok", 3]),
        ("countries", "everywhere"),
    ],
)
async def test_an_invalid_policy_document_is_refused_and_not_stored(
    admin: Admin, name: str, document: Any
) -> None:
    data = await admin.call("PUT", f"/admin/policy/{name}", document, expect=400)
    assert data["Code"] == "InvalidParameter"
    assert data["Message"]
    assert await admin.store.get_document(name) is None
    assert await admin.call("GET", f"/admin/policy/{name}") == {"name": name, "document": None}


async def test_a_valid_policy_document_is_stored_and_read_back(admin: Admin) -> None:
    prices = {"default": "0.05", "countries": {"SG": {"price": "0.04"}}}
    first = await admin.call("PUT", "/admin/policy/prices", prices)
    assert first["name"] == "prices"
    assert first["document"] == prices
    assert await admin.call("GET", "/admin/policy/prices") == {"name": "prices", "document": prices}

    prices["default"] = "0.06"
    second = await admin.call("PUT", "/admin/policy/prices", prices)
    assert second["version"] > first["version"]
    assert (await admin.call("GET", "/admin/policy/prices"))["document"]["default"] == "0.06"

    faults = [{"account": "*", "action": "*", "code": "isp.UNKNOWN", "share": 0.5}]
    await admin.call("PUT", "/admin/policy/faults", faults)
    assert (await admin.call("GET", "/admin/policy/faults"))["document"] == faults


async def test_policy_documents_of_accounts_and_keys(admin: Admin) -> None:
    created = await admin.new_account()
    account_doc = f"/admin/policy/account:{created['account_id']}"
    await admin.call("PUT", account_doc, {"billing": "overdue"})
    assert (await admin.call("GET", account_doc))["document"] == {"billing": "overdue"}
    await admin.call("PUT", account_doc, {"billing": "late"}, expect=400)

    key_doc = f"/admin/policy/key:{created['access_key_id']}"
    ram = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    await admin.call("PUT", key_doc, ram)
    assert (await admin.call("GET", key_doc))["document"] == ram


@pytest.mark.parametrize(
    "name", ["nonsense", "account:", "account:9999999999999999", "key:LTAInone", "platform:x"]
)
async def test_an_unknown_policy_document_is_not_found(admin: Admin, name: str) -> None:
    for method, body in (("GET", None), ("PUT", {})):
        data = await admin.call(method, f"/admin/policy/{name}", body, expect=404)
        assert data["Code"] == "NotFound"
    assert await admin.store.document_versions() == {}


async def test_a_policy_body_must_be_json(admin: Admin) -> None:
    response = await admin.request("PUT", "/admin/policy/keywords", data=b"[oops")
    assert response.status == 400
    assert await admin.store.get_document("keywords") is None


async def test_account_settings_are_merged(admin: Admin) -> None:
    account_id = (await admin.new_account())["account_id"]
    path = f"/admin/accounts/{account_id}/settings"

    async def settings(method: str, body: Any = None, expect: int = 200) -> Any:
        data = await admin.call(method, path, body, expect=expect)
        if expect != 200:
            return data
        assert data["account_id"] == account_id
        return data["settings"]

    assert await settings("GET") == {}
    assert await settings("PATCH", {"barred_actions": ["BatchSendMessageToGlobe"]}) == {
        "barred_actions": ["BatchSendMessageToGlobe"]
    }
    assert await settings("PATCH", {"billing": "overdue", "max_param_length": 20}) == {
        "barred_actions": ["BatchSendMessageToGlobe"],
        "billing": "overdue",
        "max_param_length": 20,
    }
    # null removes a setting; a bad value changes nothing.
    assert await settings("PATCH", {"billing": None}) == {
        "barred_actions": ["BatchSendMessageToGlobe"],
        "max_param_length": 20,
    }
    data = await settings("PATCH", {"billing": "never", "max_param_length": 5}, expect=400)
    assert data["Code"] == "InvalidParameter"
    assert "billing" in data["Message"]
    assert await settings("GET") == {
        "barred_actions": ["BatchSendMessageToGlobe"],
        "max_param_length": 20,
    }
    assert (await admin.call("GET", f"/admin/policy/account:{account_id}"))["document"] == {
        "barred_actions": ["BatchSendMessageToGlobe"],
        "max_param_length": 20,
    }
    await settings("PATCH", {"colour": "red"}, expect=400)
    await settings("PATCH", ["billing"], expect=400)
    await admin.call("PATCH", "/admin/accounts/9999999999999999/settings", {}, expect=404)


async def test_adds_and_clears_faults(admin: Admin) -> None:
    a = {"account": "1111111111111111", "action": "*", "code": "isp.GATEWAY_ERROR", "count": 3}
    b: dict[str, Any] = {"account": "2222222222222222", "action": "SendMessageToGlobe"}
    b.update(code="isp.UNKNOWN", share=0.25)
    assert await admin.call("GET", "/admin/faults") == []
    assert await admin.call("POST", "/admin/faults", a, expect=201) == [a]
    assert await admin.call("POST", "/admin/faults", b, expect=201) == [a, b]
    assert await admin.call("GET", "/admin/faults") == [a, b]

    data = await admin.call("POST", "/admin/faults", {"account": "*", "action": "*"}, expect=400)
    assert data["Code"] == "InvalidParameter"
    await admin.call(
        "POST", "/admin/faults", {**a, "code": "isv.NOT_A_CODE", "count": 1}, expect=400
    )
    assert await admin.call("GET", "/admin/faults") == [a, b]

    await admin.call("DELETE", "/admin/faults?account=", expect=400)
    assert await admin.call("GET", "/admin/faults") == [a, b]
    assert await admin.call("DELETE", "/admin/faults?account=1111111111111111") == [b]
    assert await admin.call("GET", "/admin/policy/faults") == {"name": "faults", "document": [b]}
    assert await admin.call("POST", "/admin/faults", a, expect=201) == [b, a]
    assert await admin.call("DELETE", "/admin/faults") == []
    assert await admin.call("GET", "/admin/faults") == []


# -- messages, not found, wrong methods ---------------------------------------------------------


def _message(number: int, account_id: str) -> Message:
    return Message(
        id=str(1_000_000 + number),
        account_id=account_id,
        to="6591234567",
        sender="Acme",
        body=f"hello {number}",
        encoding="GSM7",
        segments=1,
        country="Singapore",
        region_code="SG",
        region="Singapore",
        network="SingTel",
        msg_type="NOTIFY",
        created_at=T0 + number,
        status=MessageStatus.DELIVERED,
        error_code="success",
    )


async def test_lists_an_accounts_latest_messages(admin: Admin) -> None:
    account_id = (await admin.new_account())["account_id"]
    await admin.store.insert_messages([_message(n, account_id) for n in (1, 2, 3)])
    path = f"/admin/accounts/{account_id}/messages"
    latest = await admin.call("GET", f"{path}?limit=2")
    assert [m["message"] for m in latest] == ["hello 3", "hello 2"]
    assert latest[0] == {
        "message_id": "1000003",
        "to": "6591234567",
        "from": "Acme",
        "status": "delivered",
        "error_code": "success",
        "connector": None,
        "carrier_status": None,
        "segments": 1,
        "price": "0",
        "message": "hello 3",
        "created_at": T0 + 3,
    }
    assert len(await admin.call("GET", path)) == 3
    raw = "stat:UNDELIV err:999"
    failed = replace(
        _message(4, account_id), error_code="UNKNOWN_ERR", connector="uplink", carrier_status=raw
    )
    await admin.store.insert_messages([failed])
    [shown] = await admin.call("GET", f"{path}?limit=1")
    assert (shown["error_code"], shown["connector"], shown["carrier_status"]) == (
        "UNKNOWN_ERR",
        "uplink",
        raw,
    )
    for limit in ("0", "-1", "x", "1001", "%C2%B2"):
        await admin.call("GET", f"{path}?limit={limit}", expect=400)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/admin/accounts/9999999999999999", None),
        ("PATCH", "/admin/accounts/9999999999999999", {"state": "normal"}),
        ("POST", "/admin/accounts/9999999999999999/keys", {}),
        ("GET", "/admin/accounts/9999999999999999/templates", None),
        ("PUT", "/admin/accounts/9999999999999999/templates/SMS_1", {"content": "hi"}),
        ("POST", "/admin/accounts/9999999999999999/templates/SMS_1/approve", None),
        ("GET", "/admin/accounts/9999999999999999/sign-names", None),
        ("PUT", "/admin/accounts/9999999999999999/sign-names/Acme", None),
        ("POST", "/admin/accounts/9999999999999999/sign-names/Acme/approve", None),
        ("GET", "/admin/accounts/9999999999999999/messages", None),
        ("GET", "/admin/accounts/9999999999999999/settings", None),
        ("PATCH", "/admin/keys/LTAInone", {"enabled": False}),
        ("DELETE", "/admin/keys/LTAInone", None),
        ("GET", "/admin/nothing-here", None),
        ("GET", "/admin", None),
    ],
)
async def test_missing_records_are_not_found(
    admin: Admin, method: str, path: str, body: Any
) -> None:
    data = await admin.call(method, path, body, expect=404)
    assert data["Code"] == "NotFound"
    assert data["Message"]
    assert await admin.store.list_accounts() == []


async def test_missing_templates_and_review_verbs_are_not_found(admin: Admin) -> None:
    account_id = (await admin.new_account())["account_id"]
    base = f"/admin/accounts/{account_id}/templates"
    await admin.call("POST", f"{base}/SMS_404/approve", expect=404)
    await admin.call("GET", f"{base}/SMS_404", expect=404)
    await admin.call("PUT", f"{base}/SMS_1", {"content": "hi"})
    data = await admin.call("POST", f"{base}/SMS_1/publish", expect=404)
    assert "approve" in data["Message"]
    await admin.call("POST", f"/admin/accounts/{account_id}/sign-names/Nope/approve", expect=404)
    stored = await admin.store.get_template(account_id, "SMS_1")
    assert stored is not None
    assert stored.status == "pending"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/admin/accounts", "GET, POST"),
        ("POST", "/admin/policy/prices", "GET, PUT"),
        ("GET", "/admin/keys/LTAI1", "DELETE, PATCH"),
    ],
)
async def test_wrong_methods_are_refused(
    admin: Admin, method: str, path: str, allowed: str
) -> None:
    response = await admin.request(method, path)
    assert response.status == 405
    assert (await response.json())["Code"] == "MethodNotAllowed"
    assert response.headers["Allow"] == allowed


def test_the_admin_section_of_the_configuration(tmp_path: Path) -> None:
    assert load_config().admin == AdminConfig(token="")
    path = tmp_path / "smsgate.toml"
    path.write_text('[admin]\ntoken = "a-long-enough-operator-token"\n')
    config = load_config(path)
    assert config.admin.token == "a-long-enough-operator-token"
    assert "a-long-enough-operator-token" not in repr(config)
    assert config.admin_token_path == config.server.data_dir / "admin.token"
    for bad in ('token = "short"', "token = 5", 'tokens = "a-long-enough-operator-token"'):
        path.write_text(f"[admin]\n{bad}\n")
        with pytest.raises(ConfigError, match=r"\[admin\]"):
            load_config(path)


# -- hostile input --------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["1e30", "1000000000001", 1e30])
async def test_huge_top_up_is_refused_as_bad_input(admin: Admin, amount: Any) -> None:
    created = await admin.new_account(balance="1")

    answer = await admin.call(
        "PATCH", f"/admin/accounts/{created['account_id']}", {"top_up": amount}, expect=400
    )

    assert answer["Code"] == "InvalidParameter"
    assert "is more than 1000000000000" in answer["Message"]


async def test_top_ups_cannot_overflow_the_balance(admin: Admin) -> None:
    created = await admin.new_account(balance="1000000000000")
    path = f"/admin/accounts/{created['account_id']}"

    answer = await admin.call("PATCH", path, {"top_up": "1"}, expect=400)

    assert answer["Message"] == "the balance would exceed 1000000000000"
    assert (await admin.call("GET", path))["balance"] == "1000000000000"


@pytest.mark.parametrize("path", ["/admin/accounts", "/admin/policy/prices"])
async def test_deeply_nested_json_is_refused_as_bad_input(admin: Admin, path: str) -> None:
    method = "POST" if path.endswith("accounts") else "PUT"
    nested = "[" * 100_000 + "]" * 100_000

    response = await admin.request(
        method, path, data=nested, headers={**AUTH, "Content-Type": "application/json"}
    )

    assert response.status == 400
    answer = await response.json()
    assert answer == {"Code": "InvalidParameter", "Message": answer["Message"]}
    assert "nested too deeply" in answer["Message"]


# -- bad input versus bugs ----------------------------------------------------------------------


class _MisreadRows(MemoryStore):
    """A store with a bug: listing accounts fails with the ValueError that mapping a row with an
    unknown state raises."""

    async def list_accounts(self) -> list[Account]:
        raise ValueError("'frozen' is not a valid AccountState")


async def test_a_value_error_from_a_bug_is_a_server_error_with_its_traceback_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with open_admin(_MisreadRows()) as admin:
        with caplog.at_level(logging.ERROR, logger="smsgate.doors.admin"):
            answer = await admin.call("GET", "/admin/accounts", expect=500)

    assert answer == {"Code": "InternalError", "Message": "the request failed; see the server log"}
    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)
    assert "GET /admin/accounts" in record.getMessage()


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("POST", "/admin/accounts", {"name": 7}, "name must be"),
        ("POST", "/admin/accounts", {"name": "a", "balance": "ten"}, "is not an amount"),
        ("PUT", "/admin/accounts/{id}/templates/SMS-1", {"content": "hi"}, "template code"),
        ("PUT", "/admin/policy/prices", {"default": "-0.05"}, "not a positive amount"),
        ("PATCH", "/admin/accounts/{id}", {"top_up": "1000000000000"}, "would exceed"),
    ],
    ids=["the door's parsing", "an amount", "a use-case", "a policy document", "the store's range"],
)
async def test_bad_input_refused_by_any_layer_is_invalid_parameter(
    admin: Admin, method: str, path: str, body: Any, message: str
) -> None:
    account_id = (await admin.new_account(balance="1"))["account_id"]

    answer = await admin.call(method, path.format(id=account_id), body, expect=400)

    assert answer["Code"] == "InvalidParameter"
    assert message in answer["Message"]
