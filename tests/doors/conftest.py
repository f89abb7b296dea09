"""The Alibaba door in-process: its aiohttp application behind a TestServer, built by
``smsgate.bootstrap`` as the server is, over the memory store, a fixed clock, and a delivery queue
with no worker draining it (so its capacity decides when the door must say "Throttling").

Requests are signed by the legacy Alibaba SDK's own V1 signer, with its clock pinned to ours.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from aliyunsdkcore.auth.composer import rpc_signature_composer
from aliyunsdkcore.utils import parameter_helper

from smsgate.adapters.queue.memory import MemoryDeliveryQueue
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.bootstrap import bootstrap
from smsgate.config import HttpConfig
from smsgate.domain.models import AccessKey, Account, AccountState
from smsgate.doors import health
from smsgate.service.health import Readiness
from tests import builders

NOW = datetime(2026, 11, 24, 22, 55, 27, tzinfo=UTC)
T0 = NOW.timestamp()
ACCOUNT_ID = "1000000000000001"
AK = "LTAI5tDoorTestKey0000001"
SECRET = "DoorTestSecret0123456789abcdef"
SKEW = timedelta(minutes=15)


class FixedClock:
    def __init__(self, now: float = T0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


def signed_url(
    params: Mapping[str, str],
    *,
    fmt: str = "JSON",
    method: str = "GET",
    body: Mapping[str, str] | None = None,
    key_id: str = AK,
    secret: str = SECRET,
) -> str:
    """``/?query`` signed by ``aliyunsdkcore`` (Timestamp pinned to the fixed clock)."""
    full = {"Version": "2018-05-01", "RegionId": "ap-southeast-1", **params}
    with mock.patch.object(
        parameter_helper, "get_iso_8061_date", return_value=NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    ):
        url, _ = rpc_signature_composer.get_signed_url(
            full, key_id, secret, fmt, method, dict(body or {})
        )
    assert isinstance(url, str)
    return url


@dataclass
class Door:
    client: TestClient[web.Request, web.Application]
    store: MemoryStore
    queue: MemoryDeliveryQueue
    clock: FixedClock
    account: Account
    readiness: Readiness

    @property
    def host(self) -> str:
        return f"{self.client.host}:{self.client.port}"

    async def get(
        self,
        params: Mapping[str, str],
        *,
        fmt: str = "JSON",
        key_id: str = AK,
        secret: str = SECRET,
    ) -> ClientResponse:
        return await self.client.get(signed_url(params, fmt=fmt, key_id=key_id, secret=secret))

    async def post_form(self, params: Mapping[str, str], form: Mapping[str, str]) -> ClientResponse:
        """As the V1 SDK posts: signing parameters in the query, business ones in a form body."""
        return await self.client.post(
            signed_url(params, method="POST", body=form),
            data=dict(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )


@contextlib.asynccontextmanager
async def open_door(
    store: MemoryStore | None = None,
    *,
    capacity: int = 1,
    actions: frozenset[str] | None = None,
    state: AccountState = AccountState.NORMAL,
    limits: HttpConfig | None = None,
) -> AsyncIterator[Door]:
    """The door over ``store`` (a fresh MemoryStore by default) and a queue of ``capacity``
    that nothing drains; one account whose key may call ``actions`` (None: everything)."""
    store = MemoryStore() if store is None else store
    await store.start()
    account = Account(ACCOUNT_ID, "acme", state, 1_000_000_000, None, T0 - 86_400)
    await store.create_account(
        account, AccessKey(AK, ACCOUNT_ID, SECRET, True, actions, T0 - 86_400)
    )
    clock = FixedClock()
    queue = MemoryDeliveryQueue(capacity)
    gateway = bootstrap(
        builders.config(http=limits or HttpConfig()),
        store=store,
        clock=clock,
        queue=queue,
        chance=lambda: 0.5,
    )
    await gateway.open()
    app = gateway.door.application()
    health.register(app, gateway.readiness)
    try:
        async with TestClient(TestServer(app)) as client:
            yield Door(client, store, queue, clock, account, gateway.readiness)
    finally:
        await gateway.stop()


@pytest.fixture
async def door() -> AsyncIterator[Door]:
    """The door over a one-message queue that nothing drains."""
    async with open_door() as opened:
        yield opened
