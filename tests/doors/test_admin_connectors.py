"""Connectors and routes through the admin API: round trips, the refusals and what they say,
live state in GET /admin/connectors, and a password that is never shown or logged."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from smsgate.adapters.storage.memory import MemoryStore
from smsgate.domain.connectors import parse_connectors_document
from smsgate.doors.admin import AdminApi
from smsgate.service.accounts import AccountService
from smsgate.service.admin import AdminService
from smsgate.service.connector_admin import ConnectorAdmin
from smsgate.service.health import Readiness
from tests.doors.test_admin_api import TOKEN, Admin
from tests.unit.connector_kit import BOX, FixedClock

PASSWORD = "pw4smsc"
UPLINK = {
    "name": "uplink",
    "host": "smsc.example.net",
    "port": 2775,
    "system_id": "acme",
    "password": PASSWORD,
}
LIVE: dict[str, Mapping[str, object]] = {
    "simulator": {"state": "up", "in_flight": 0, "throughput_per_s": 0.0},
    "uplink": {
        "state": "up",
        "in_flight": 3,
        "throughput_per_s": 12.5,
        "binds": [{"bind": 1, "mode": "transceiver", "state": "bound", "in_flight": 3}],
    },
}


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    store = MemoryStore()
    await store.start()
    clock = FixedClock()
    app = web.Application()
    service = AdminService(store, clock)
    AdminApi(
        store,
        AccountService(store, clock),
        service,
        TOKEN,
        readiness=Readiness(clock),
        connectors=ConnectorAdmin(store, service, BOX.seal),
        live=lambda: LIVE,
    ).register(app)
    try:
        async with TestClient(TestServer(app)) as client:
            yield Admin(client, store, Readiness(clock))
    finally:
        await store.close()


async def add_uplink(admin: Admin, **changes: Any) -> dict[str, Any]:
    added: dict[str, Any] = await admin.call(
        "POST", "/admin/connectors", {**UPLINK, **changes}, expect=201
    )
    return added


async def stored_connectors(admin: Admin) -> dict[str, Any]:
    found = await admin.store.get_document("connectors")
    assert found is not None
    doc: dict[str, Any] = json.loads(found[1])
    return doc


# -- connectors ---------------------------------------------------------------------------------


async def test_a_connector_round_trips_without_its_password(
    admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    added = await add_uplink(admin, binds=2, tls=True, receipt_codes={"UNDELIV:005": "PORTED_NUM"})
    listed = await admin.call("GET", "/admin/connectors")

    assert added["name"] == "uplink"
    assert added["address"] == "smpps://smsc.example.net:2775"
    assert (added["binds"], added["window"], added["receipt_codes"]) == (
        2,
        10,
        {"UNDELIV:005": "PORTED_NUM"},
    )
    assert [c["name"] for c in listed] == ["simulator", "uplink"]
    assert listed[1] == {**added, "live": LIVE["uplink"]}
    assert listed[0] == {"name": "simulator", "address": "built-in", "live": LIVE["simulator"]}
    for shown in (added, *listed):
        assert "password" not in str(shown)
        assert "password_sealed" not in shown
    # Stored sealed, and it opens to the password given.
    sealed = (await stored_connectors(admin))["uplink"]["password_sealed"]
    assert PASSWORD not in sealed
    assert BOX.open(sealed) == PASSWORD
    assert all(PASSWORD not in str(vars(record)) for record in caplog.records)


async def test_a_connector_not_running_is_live_null(admin: Admin) -> None:
    await add_uplink(admin, name="other")

    listed = await admin.call("GET", "/admin/connectors")

    assert listed[1]["name"] == "other"
    assert listed[1]["live"] is None


async def test_adding_a_connector_twice_needs_replace(admin: Admin) -> None:
    await add_uplink(admin)

    refused = await admin.call("POST", "/admin/connectors", UPLINK, expect=400)
    replaced = await add_uplink(admin, window=64, replace=True)

    assert refused == {
        "Code": "InvalidParameter",
        "Message": "connector uplink already exists; replace it to change it",
    }
    assert replaced["window"] == 64
    spec = parse_connectors_document(await stored_connectors(admin))["uplink"]
    assert spec.window == 64


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**UPLINK, "port": 70000}, "connector 'uplink': port must be 1-65535"),
        ({**UPLINK, "port": "2775"}, "connector 'uplink': port must be a whole number"),
        ({**UPLINK, "bind_mode": "receiver"}, "bind_mode must be one of transceiver, tx+rx"),
        ({**UPLINK, "password": "longer-than-8"}, "the password must be 1-8 ASCII characters"),
        ({**UPLINK, "password": None}, "password must be a string"),
        ({**UPLINK, "name": "simulator"}, "'simulator' is the built-in simulator's name"),
        ({**UPLINK, "name": "no spaces"}, "name must be 1-32 letters"),
        ({**UPLINK, "colour": "red"}, "unknown connector settings colour"),
        ({**UPLINK, "password_sealed": "v1:x"}, "unknown connector settings password_sealed"),
        ({**UPLINK, "replace": "yes"}, "replace must be true or false"),
        ({**UPLINK, "receipt_codes": {"UNDELIV": "LOST"}}, "'LOST' is not a receipt code"),
        ({k: v for k, v in UPLINK.items() if k != "host"}, "connector 'uplink': missing host"),
    ],
)
async def test_a_bad_connector_is_refused_with_the_reason(
    admin: Admin, body: dict[str, Any], message: str
) -> None:
    refused = await admin.call("POST", "/admin/connectors", body, expect=400)

    assert refused["Code"] == "InvalidParameter"
    assert message in refused["Message"]
    assert PASSWORD not in refused["Message"]
    assert await admin.store.get_document("connectors") is None


async def test_removing_a_connector(admin: Admin) -> None:
    await add_uplink(admin)

    removed = await admin.call("DELETE", "/admin/connectors/uplink")
    again = await admin.call("DELETE", "/admin/connectors/uplink", expect=404)
    simulator = await admin.call("DELETE", "/admin/connectors/simulator", expect=400)

    assert removed["name"] == "uplink"
    assert removed["removed"] is True
    assert "password_sealed" not in removed
    assert again == {"Code": "NotFound", "Message": "no connector uplink"}
    assert simulator["Message"] == "the simulator is built in; it cannot be removed"
    assert await stored_connectors(admin) == {}


async def test_a_connector_with_routes_is_not_removed(admin: Admin) -> None:
    await add_uplink(admin)
    await admin.call("POST", "/admin/routes", {"connector": "uplink", "country": "SG"}, expect=201)
    await admin.call("POST", "/admin/routes", {"connector": "uplink"}, expect=201)

    refused = await admin.call("DELETE", "/admin/connectors/uplink", expect=400)

    assert refused["Message"] == "connector uplink is used by routes r1, r2: remove them first"


# -- routes -------------------------------------------------------------------------------------


async def test_routes_round_trip_with_ids_made_in_order(admin: Admin) -> None:
    await add_uplink(admin)

    first = await admin.call(
        "POST", "/admin/routes", {"connector": "uplink", "country": "sg"}, expect=201
    )
    second = await admin.call(
        "POST",
        "/admin/routes",
        {"connector": "simulator", "prefix": "+6591", "priority": 5, "weight": 2},
        expect=201,
    )
    listed = await admin.call("GET", "/admin/routes")

    assert first == {
        "id": "r1",
        "connector": "uplink",
        "country": "SG",
        "prefix": None,
        "network": None,
        "account": None,
        "sender": None,
        "priority": 0,
        "weight": 1,
    }
    assert (second["id"], second["prefix"], second["priority"]) == ("r2", "6591", 5)
    assert [r["id"] for r in listed] == ["r2", "r1"]  # the order they are tried

    removed = await admin.call("DELETE", "/admin/routes/r2")
    third = await admin.call("POST", "/admin/routes", {"connector": "uplink"}, expect=201)
    assert removed["removed"] is True
    assert third["id"] == "r2"
    assert [r["id"] for r in await admin.call("GET", "/admin/routes")] == ["r1", "r2"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"connector": "nowhere"}, "no connector nowhere; the connectors are simulator, uplink"),
        ({}, "a route needs a connector"),
        ({"connector": "uplink", "country": "Singapore"}, "route r1: a route's country is"),
        ({"connector": "uplink", "prefix": "65-91"}, "route r1: a route's prefix is digits"),
        ({"connector": "uplink", "weight": 0}, "route r1: a route's weight is at least 1"),
        ({"connector": "uplink", "priority": "high"}, "route r1: priority must be a whole"),
        ({"connector": "uplink", "account": "404"}, "no account 404"),
        ({"connector": "uplink", "id": "mine"}, "unknown route fields id"),
    ],
)
async def test_a_bad_route_is_refused_with_the_reason(
    admin: Admin, body: dict[str, Any], message: str
) -> None:
    await add_uplink(admin)

    refused = await admin.call("POST", "/admin/routes", body, expect=400)

    assert refused["Code"] == "InvalidParameter"
    assert message in refused["Message"]
    assert await admin.call("GET", "/admin/routes") == []


async def test_a_route_for_an_account_that_exists(admin: Admin) -> None:
    account = await admin.new_account()

    route = await admin.call(
        "POST",
        "/admin/routes",
        {"connector": "simulator", "account": account["account_id"], "sender": "Acme"},
        expect=201,
    )

    assert (route["account"], route["sender"]) == (account["account_id"], "Acme")


async def test_removing_a_route_that_does_not_exist_is_404(admin: Admin) -> None:
    answer = await admin.call("DELETE", "/admin/routes/r9", expect=404)

    assert answer == {"Code": "NotFound", "Message": "no route r9"}


async def test_connectors_and_routes_need_the_token(admin: Admin) -> None:
    for method, path in [("GET", "/admin/connectors"), ("POST", "/admin/routes")]:
        response = await admin.request(method, path, {}, headers={})
        assert response.status == 401
    assert await admin.store.get_document("routes") is None
