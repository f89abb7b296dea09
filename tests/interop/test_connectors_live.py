"""Connectors and routes against a running server, changed live with the CLI: the server picks
the documents up without a restart, ``connectors list`` shows its live state, a message no route
takes is refused with isv.NOT_SUPPORTED_COUNTRY (26) through the official SDK, and a connector
that is down is failed over to the next route. The upstream SMSC here is a port nobody listens
on, so the connector never comes up (whatever the server's SMPP connector does about it)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from alibabacloud_dysmsapi20180501 import models

from smsgate import errors
from tests.interop.conftest import (
    Account,
    ServerProcess,
    free_port,
    instant_server,
    v3_client,
)

pytestmark = pytest.mark.slow

SG = "6591234567"
ID = "6281234567890"
PASSWORD = "pw4smsc"
DEADLINE_S = 20.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = instant_server(tmp_path_factory, "routing")
    yield proc
    proc.stop()


def send(server: ServerProcess, account: Account, to: str) -> models.SendMessageToGlobeResponseBody:
    request = models.SendMessageToGlobeRequest(to=to, message="hello")
    return v3_client(server, account).send_message_to_globe(request).body


def live_of(server: ServerProcess, name: str) -> dict[str, object]:
    """The server's live state of connector ``name``, once its manager has seen it."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        listed = server.cli("connectors", "list", "--endpoint", server.endpoint)
        assert isinstance(listed, list)
        [view] = [v for v in listed if v["name"] == name]
        if isinstance(view["live"], dict):
            return view["live"]
        time.sleep(0.1)  # another process: nothing to await but its answer
    pytest.fail(f"the server never reported connector {name}")


def final_status(server: ServerProcess, account: Account, message_id: str) -> object:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        listed = server.cli("messages", "list", account.account_id)
        assert isinstance(listed, list)
        [message] = [m for m in listed if m["message_id"] == message_id]
        if message["status"] not in ("accepted", "submitted"):
            return message["status"]
        time.sleep(0.1)
    pytest.fail(f"message {message_id} never reached a final status")


def test_routes_and_connectors_change_live(server: ServerProcess) -> None:
    account = server.create_account()
    port = str(free_port())  # nobody listens: the connector stays down

    added = server.cli(
        *("connectors", "add", "uplink", "--host", "127.0.0.1", "--port", port),
        *("--system-id", "acme", "--password", PASSWORD),
    )
    uplink = live_of(server, "uplink")
    simulator = live_of(server, "simulator")

    assert isinstance(added, dict)
    assert added["address"] == f"smpp://127.0.0.1:{port}"
    assert uplink["state"] in ("down", "failed")
    assert simulator["state"] == "up"

    # Routes exist, none takes Singapore: refused at submission, through the official SDK.
    server.cli("routes", "add", "--connector", "simulator", "--country", "ID")
    refused = send(server, account, SG)
    assert (refused.response_code, refused.response_description) == (
        errors.NOT_SUPPORTED_COUNTRY.code,
        errors.NOT_SUPPORTED_COUNTRY.message,
    )

    # The uplink first, the simulator as failover: the uplink is down, the simulator delivers.
    server.cli("routes", "add", "--connector", "uplink", "--priority", "10")
    failed_over = send(server, account, ID)
    assert failed_over.response_code == "OK"
    assert final_status(server, account, str(failed_over.message_id)) == "delivered"

    # Routes first, then the connector; with no routes the simulator takes everything again.
    for route_id in ("r1", "r2"):
        server.cli("routes", "remove", route_id)
    server.cli("connectors", "remove", "uplink")
    listed = server.cli("connectors", "list")
    assert isinstance(listed, list)
    assert [v["name"] for v in listed] == ["simulator"]
    anywhere = send(server, account, SG)
    assert anywhere.response_code == "OK"
    assert final_status(server, account, str(anywhere.message_id)) == "delivered"
    assert PASSWORD not in server.log_path.read_text()
