"""MO messages end to end, from the SMSC's deliver_sm to the customer's SmsUp endpoint: the
UpstreamSink over the SQLite store, the SmsUp pusher, and a small aiohttp receiver in this
process that answers as Alibaba's customers do (``{"code": 0}``), or refuses.

The pusher is driven by ``push_due()`` with a fixed clock (retries by moving the clock), except
in the last test, where its own loop is woken by the sink's listener as the app wires it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from smsgate.adapters.notify.sms_up import SmsUpPusher, sms_up_refusal
from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.sqlite import SqliteStore
from smsgate.config import CallbackConfig
from smsgate.smpp.constants import CommandStatus
from tests.unit.upstream_rig import ACCOUNT, T0, Rig, mo_pdus

WAIT_S = 5.0  # a safety net only, for the test that runs the pusher's own loop
CONFIG = CallbackConfig(max_attempts=3, backoff_initial_s=1.0, timeout_s=5.0, batch_size=100)
OWNED = "6591230000"
LONG = "您好，我们已收到您的回复，谢谢！" * 6  # two UCS-2 parts


@dataclass
class Receiver:
    """A customer's SmsUp endpoint: answers the next ``answers`` in turn, then ``{"code": 0}``."""

    answers: list[tuple[int, Any]] = field(default_factory=list)
    bodies: list[list[dict[str, Any]]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    got: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(json.loads(await request.read()))
        self.content_types.append(request.headers.get("Content-Type", ""))
        self.got.set()
        status, answer = self.answers.pop(0) if self.answers else (200, {"code": 0, "msg": "成功"})
        return web.json_response(answer, status=status)


@dataclass
class Setup:
    rig: Rig
    receiver: Receiver
    pusher: SmsUpPusher


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/sms-up", receiver.handle)
    store = SqliteStore(tmp_path / "smsgate.db", SecretBox(bytes(32)))
    async with TestServer(app) as server, Rig(store) as rig:
        await rig.store.set_callback_url(ACCOUNT, str(server.make_url("/sms-up")))
        await rig.document("inbound", {"659123": ACCOUNT})
        pusher = SmsUpPusher(rig.store, rig.clock, CONFIG, coalesce_s=0)
        try:
            yield Setup(rig, receiver, pusher)
        finally:
            await pusher.close()


async def test_mo_messages_are_pushed_as_alibabas_sms_up_array(setup: Setup) -> None:
    rig, receiver, pusher = setup.rig, setup.receiver, setup.pusher
    first, second = mo_pdus(LONG, OWNED + "88", method="udh16")
    assert await rig.deliver(second) == CommandStatus.ESME_ROK
    assert await rig.deliver(first) == CommandStatus.ESME_ROK
    assert await rig.deliver(mo_pdus("STOP", OWNED)[0]) == CommandStatus.ESME_ROK

    assert await pusher.push_due() == 2

    assert receiver.content_types == ["application/json; charset=utf-8"]
    assert receiver.bodies == [
        [
            {
                "phone_number": "6598765432",
                "send_time": "2026-11-18 19:06:40",  # T0 in UTC+8, as Alibaba writes it
                "content": LONG,
                "sign_name": "",
                "dest_code": "000088",
                "sequence_id": 1,
            },
            {
                "phone_number": "6598765432",
                "send_time": "2026-11-18 19:06:40",
                "content": "STOP",
                "sign_name": "",
                "dest_code": "0000",
                "sequence_id": 2,
            },
        ]
    ]
    assert await pusher.push_due() == 0  # acknowledged: never pushed again
    assert await rig.store.next_inbound_push_due() is None


@pytest.mark.parametrize(
    "refusal",
    [(200, {"code": 1, "msg": "busy"}), (500, {"code": 0}), (503, "down")],
    ids=["code-1", "http-500", "http-503"],
)
async def test_a_refused_push_is_retried_until_acknowledged(
    setup: Setup, refusal: tuple[int, Any]
) -> None:
    rig, receiver, pusher = setup.rig, setup.receiver, setup.pusher
    receiver.answers = [refusal]
    await rig.deliver(mo_pdus("YES", OWNED)[0])

    assert await pusher.push_due() == 1
    assert await pusher.push_due() == 0  # not due again yet
    due = await rig.store.next_inbound_push_due()
    assert due is not None
    assert T0 + 0.9 <= due <= T0 + 1.1  # the first back-off, with its jitter
    rig.clock.t = due

    assert await pusher.push_due() == 1

    assert [[m["content"] for m in body] for body in receiver.bodies] == [["YES"], ["YES"]]
    assert await rig.store.next_inbound_push_due() is None


async def test_a_push_never_acknowledged_is_given_up_after_max_attempts(setup: Setup) -> None:
    rig, receiver, pusher = setup.rig, setup.receiver, setup.pusher
    receiver.answers = [(200, {"code": 7})] * CONFIG.max_attempts
    await rig.deliver(mo_pdus("YES", OWNED)[0])

    for _ in range(CONFIG.max_attempts):
        assert await pusher.push_due() == 1
        rig.clock.t += 10_000

    assert await pusher.push_due() == 0
    assert await rig.store.next_inbound_push_due() is None  # kept as dead, not retried
    assert len(receiver.bodies) == CONFIG.max_attempts


async def test_the_pusher_is_woken_by_the_sink_as_the_app_wires_it(setup: Setup) -> None:
    rig, receiver, pusher = setup.rig, setup.receiver, setup.pusher
    rig.service.inbound.add_listener(lambda _stored: pusher.wake())
    task = asyncio.create_task(pusher.run())
    try:
        await asyncio.sleep(0)  # the loop asks the store, finds nothing and waits
        await rig.deliver(mo_pdus("ping", OWNED)[0])
        async with asyncio.timeout(WAIT_S):
            await receiver.got.wait()
        assert [m["content"] for m in receiver.bodies[0]] == ["ping"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(
    ("answer", "refused"),
    [
        (b'{"code": 0, "msg": "ok"}', None),
        (b'{"code": "0"}', None),
        (b"OK", None),  # not JSON: a 2xx counts, as for receipts
        (b"[]", None),
        (b'{"msg": "no code"}', None),
        (b'{"code": 15, "msg": "no"}', "answered code 15"),
        (b'{"code": "busy"}', "answered code busy"),
    ],
)
def test_an_answer_refuses_only_with_a_code_other_than_zero(
    answer: bytes, refused: str | None
) -> None:
    assert sms_up_refusal(answer) == refused
