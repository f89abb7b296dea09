"""Receipt pushes never reach cloud metadata or other blocked addresses, whatever the callback URL
says: literal addresses, names resolving there, and redirects."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from smsgate.adapters.notify.http_callbacks import CallbackPusher
from smsgate.config import ConfigError, load_config
from smsgate.domain.destinations import DestinationPolicy, parse_networks
from smsgate.domain.models import AccessKey, Account, AccountState
from smsgate.doors.aliyun import render
from tests.unit.test_callback_pusher import (
    CONFIG,
    T0,
    FixedClock,
    Hook,
    RecordingStore,
    finish,
    make_message,
)

ACCOUNT = "1000000000000001"
DEFAULT = DestinationPolicy(parse_networks(load_config().callbacks.blocked_networks))


@pytest.mark.parametrize(
    "address",
    ["169.254.169.254", "100.100.100.200", "fe80::1", "fe80::1%eth0", "::ffff:169.254.169.254"],
)
def test_metadata_and_link_local_addresses_are_blocked_by_default(address: str) -> None:
    assert not DEFAULT.allows_address(address)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.1.2.3", "192.168.1.10", "8.8.8.8"])
def test_loopback_private_and_public_addresses_are_allowed_by_default(address: str) -> None:
    assert DEFAULT.allows_address(address)


def test_none_blocks_nothing_and_a_bad_network_is_a_config_error(tmp_path: Path) -> None:
    assert DestinationPolicy(parse_networks("none")).allows_address("169.254.169.254")
    config = tmp_path / "c.toml"
    config.write_text('[callbacks]\nblocked_networks = "169.254.0.0/16,not-a-net"\n')
    with pytest.raises(ConfigError, match="blocked_networks: 'not-a-net' is not a network"):
        load_config(config)


async def _store_with_callback(url: str) -> RecordingStore:
    store = RecordingStore()
    await store.start()
    account = Account(ACCOUNT, "acme", AccountState.NORMAL, 0, url, T0 - 86_400)
    await store.create_account(account, AccessKey("LTAIx", ACCOUNT, "s" * 30, True, None, T0))
    await finish(store, [make_message(ACCOUNT)])
    return store


async def _push_once(url: str, blocked: str | None = None) -> RecordingStore:
    config = CONFIG if blocked is None else dataclasses.replace(CONFIG, blocked_networks=blocked)
    store = await _store_with_callback(url)
    pusher = CallbackPusher(store, render.receipt_push_body, FixedClock(), config, coalesce_s=0)
    try:
        assert await pusher.push_due() == 1
    finally:
        await pusher.close()
        await store.close()
    return store


async def test_a_literal_metadata_address_is_never_contacted() -> None:
    store = await _push_once("http://169.254.169.254/latest/meta-data/")

    assert store.finished == []
    assert [r.last_error for r in store.retries] == [
        "BlockedDestinationError: callback address 169.254.169.254 is blocked"
    ]


@pytest.fixture
async def hook() -> AsyncIterator[tuple[Hook, Hook, int]]:
    target, redirector = Hook(), Hook()

    async def redirect(request: web.Request) -> web.Response:
        await redirector.handle(request)
        raise web.HTTPFound("/target")

    app = web.Application()
    app.router.add_post("/target", target.handle)
    app.router.add_post("/redirect", redirect)
    async with TestServer(app, host="127.0.0.1") as server:
        assert server.port is not None
        yield target, redirector, server.port


async def test_a_name_resolving_to_a_blocked_address_is_never_contacted(
    hook: tuple[Hook, Hook, int], caplog: pytest.LogCaptureFixture
) -> None:
    target, _, port = hook

    store = await _push_once(f"http://localhost:{port}/target", blocked="127.0.0.0/8,::1/128")

    assert target.bodies == []
    assert store.finished == []
    assert store.retries[0].last_error.startswith("ClientConnectorDNSError")
    blocked = [r for r in caplog.records if r.getMessage() == "callback.blocked_destination"]
    assert [r.smsgate_fields for r in blocked] == [{"host": "localhost"}]


async def test_redirects_are_not_followed(hook: tuple[Hook, Hook, int]) -> None:
    target, redirector, port = hook

    store = await _push_once(f"http://127.0.0.1:{port}/redirect")

    assert len(redirector.bodies) == 1
    assert target.bodies == []
    assert [r.last_error for r in store.retries] == ["HTTP 302"]
