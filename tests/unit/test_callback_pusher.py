"""Receipt pushes to customers' callback URLs, against a real aiohttp server in this process.

The pusher is driven through ``push_due()`` with a fixed clock, so retries and back-off are
checked by moving the clock, never by waiting. The store is the memory fake; the rows it keeps
for callbacks are read back through the public ``CallbackStore`` methods and the ``CallbackRetry``
records the pusher hands it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st

from smsgate.adapters.notify.http_callbacks import CallbackPusher, backoff_delay
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.config import CallbackConfig
from smsgate.domain.ids import MessageIdGenerator
from smsgate.domain.models import (
    AccessKey,
    Account,
    AccountState,
    Message,
    MessageStatus,
    Receipt,
)
from smsgate.doors.aliyun import render
from smsgate.ports.store import CallbackRetry

T0 = 1_795_000_000.0
JITTER = (0.9, 1.1)  # the pusher spreads retries by +-10 %
WAIT_S = 5.0  # safety net for the one test that runs the pusher's own loop
SINGTEL = {"Country": "Singapore", "Region": "Singapore", "Carrier": "SingTel"}


class FixedClock:
    def __init__(self, now: float = T0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


class RecordingStore(MemoryStore):
    """The memory store, keeping every CallbackRetry and finished id the pusher reports."""

    def __init__(self) -> None:
        super().__init__()
        self.retries: list[CallbackRetry] = []
        self.finished: list[int] = []

    async def retry_callbacks(self, retries: Sequence[CallbackRetry]) -> None:
        self.retries.extend(retries)
        await super().retry_callbacks(retries)

    async def finish_callbacks(self, ids: Sequence[int]) -> None:
        self.finished.extend(ids)
        await super().finish_callbacks(ids)


@dataclass
class Hook:
    """A customer's receipt endpoint: answers ``status`` and keeps what it was sent."""

    status: int = 200
    bodies: list[bytes] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    got: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        self.content_types.append(request.headers.get("Content-Type", ""))
        self.got.set()
        return web.Response(status=self.status, text="ok" if self.status < 300 else "boom")

    def pushed(self) -> list[list[dict[str, object]]]:
        return [json.loads(body) for body in self.bodies]


@dataclass
class Hooks:
    a: Hook
    b: Hook
    url_a: str
    url_b: str


@pytest.fixture
async def hooks() -> AsyncIterator[Hooks]:
    a, b = Hook(), Hook()
    app = web.Application()
    app.router.add_post("/a", a.handle)
    app.router.add_post("/b", b.handle)
    async with TestServer(app) as server:
        yield Hooks(a, b, str(server.make_url("/a")), str(server.make_url("/b")))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
async def store(hooks: Hooks) -> AsyncIterator[RecordingStore]:
    store = RecordingStore()
    await store.start()
    for account_id, url in (("1000000000000001", hooks.url_a), ("1000000000000002", hooks.url_b)):
        account = Account(account_id, "acme", AccountState.NORMAL, 0, url, T0 - 86_400)
        key = AccessKey(f"LTAI{account_id}", account_id, "s" * 30, True, None, T0 - 86_400)
        await store.create_account(account, key)
    yield store
    await store.close()


CONFIG = CallbackConfig(
    max_attempts=3, backoff_initial_s=1.0, backoff_max_s=900.0, timeout_s=5.0, batch_size=100
)


@pytest.fixture
async def pusher(store: RecordingStore, clock: FixedClock) -> AsyncIterator[CallbackPusher]:
    built = CallbackPusher(store, render.receipt_push_body, clock, CONFIG, coalesce_s=0)
    yield built
    await built.close()


IDS = MessageIdGenerator(5)


def make_message(account_id: str = "1000000000000001", task_id: str | None = "t-1") -> Message:
    return Message(
        id=IDS.next_id(int(T0 * 1000)),
        account_id=account_id,
        to="6591234567",
        sender="Acme",
        body="hi",
        encoding="GSM7",
        segments=1,
        country="Singapore",
        region_code="SG",
        region="Singapore",
        network="SingTel",
        msg_type="NOTIFY",
        created_at=T0 - 10,
        task_id=task_id,
    )


async def finish(
    store: MemoryStore, messages: Sequence[Message], code: str = "success"
) -> list[Message]:
    """Store messages and make them final, which queues their callbacks (due at T0)."""
    await store.insert_messages(messages)
    status = MessageStatus.DELIVERED if code == "success" else MessageStatus.FAILED
    return await store.apply_receipts(
        [Receipt(m.id, status, code, T0, send_date=T0 - 5) for m in messages]
    )


# -- success ---------------------------------------------------------------------------------


async def test_a_successful_push_finishes_the_callback_rows(
    pusher: CallbackPusher, store: RecordingStore, hooks: Hooks
) -> None:
    changed = await finish(store, [make_message()])
    assert await store.next_callback_due() == T0

    assert await pusher.push_due() == 1

    assert hooks.a.bodies == [render.receipt_push_body(changed)]
    assert hooks.a.content_types == ["application/json; charset=utf-8"]
    assert hooks.b.bodies == []
    assert len(store.finished) == 1
    assert store.retries == []
    assert await store.due_callbacks(T0 + 10**6, 100) == []
    assert await store.next_callback_due() is None
    assert await pusher.push_due() == 0  # nothing left: no second POST
    assert len(hooks.a.bodies) == 1


async def test_the_body_is_alibabas_receipt_array(
    pusher: CallbackPusher, store: RecordingStore, hooks: Hooks
) -> None:
    delivered, failed = make_message(), make_message(task_id=None)
    await finish(store, [delivered])
    await finish(store, [failed], code="INVALID_NUM")

    await pusher.push_due()

    assert hooks.a.pushed() == [
        [
            {
                "To": "6591234567",
                "Status": 1,
                "MessageId": delivered.id,
                "SmsSize": 1,
                "TaskId": "t-1",
                "SendDate": render.format_date(T0 - 5),
                "ReceiveDate": render.format_date(T0),
                "ErrorCode": "success",
                "ErrorDescription": "The message has been delivered.",
                "NumberDetail": SINGTEL,
            },
            {
                "To": "6591234567",
                "Status": 2,
                "MessageId": failed.id,
                "SmsSize": 1,
                # no TaskId: left out, as Alibaba leaves out a field it has no value for
                "SendDate": render.format_date(T0 - 5),
                "ReceiveDate": render.format_date(T0),
                "ErrorCode": "INVALID_NUM",
                "ErrorDescription": "Invalid destination. Receiver is not a valid number",
                "NumberDetail": SINGTEL,
            },
        ]
    ]


async def test_receipts_are_grouped_per_url(
    pusher: CallbackPusher, store: RecordingStore, hooks: Hooks
) -> None:
    mine = [make_message(), make_message()]
    theirs = [make_message("1000000000000002")]
    await finish(store, [*mine, *theirs])

    assert await pusher.push_due() == 3

    assert [[item["MessageId"] for item in body] for body in hooks.a.pushed()] == [
        [m.id for m in mine]
    ]
    assert [[item["MessageId"] for item in body] for body in hooks.b.pushed()] == [[theirs[0].id]]
    assert len(store.finished) == 3


async def test_a_url_gets_several_requests_of_at_most_batch_size(
    store: RecordingStore, clock: FixedClock, hooks: Hooks
) -> None:
    pusher = CallbackPusher(
        store,
        render.receipt_push_body,
        clock,
        CallbackConfig(max_attempts=3, batch_size=2),
        coalesce_s=0,
    )
    messages = [make_message() for _ in range(5)]
    await finish(store, messages)
    try:
        assert await pusher.push_due() == 5
    finally:
        await pusher.close()

    assert sorted(len(body) for body in hooks.a.pushed()) == [1, 2, 2]
    assert sorted(str(item["MessageId"]) for body in hooks.a.pushed() for item in body) == sorted(
        m.id for m in messages
    )


async def test_callbacks_wait_until_they_are_due(
    pusher: CallbackPusher, store: RecordingStore, clock: FixedClock, hooks: Hooks
) -> None:
    await finish(store, [make_message()])
    clock.t = T0 - 0.001
    assert await pusher.push_due() == 0
    assert hooks.a.bodies == []
    clock.t = T0
    assert await pusher.push_due() == 1


# -- failure, back-off and giving up ---------------------------------------------------------


async def test_http_500_reschedules_with_backoff_then_gives_up(
    pusher: CallbackPusher, store: RecordingStore, clock: FixedClock, hooks: Hooks
) -> None:
    hooks.a.status = 500
    (message,) = await finish(store, [make_message()])
    (job,) = await store.due_callbacks(T0, 10)

    # Attempt 1 fails: retry after about backoff_initial_s.
    assert await pusher.push_due() == 1
    (first,) = store.retries
    assert first == CallbackRetry(job.id, 1, first.next_attempt_at, "HTTP 500", dead=False)
    assert T0 + 1.0 * JITTER[0] <= first.next_attempt_at <= T0 + 1.0 * JITTER[1]
    assert await store.next_callback_due() == first.next_attempt_at
    assert await store.due_callbacks(T0, 10) == []  # not again before its time
    assert await pusher.push_due() == 0
    assert len(hooks.a.bodies) == 1

    # Attempt 2 fails: the delay doubles.
    clock.t = first.next_attempt_at
    (due,) = await store.due_callbacks(clock.t, 10)
    assert (due.id, due.attempts, due.message.id) == (job.id, 1, message.id)
    assert await pusher.push_due() == 1
    second = store.retries[-1]
    assert (second.attempts, second.dead) == (2, False)
    assert clock.t + 2.0 * JITTER[0] <= second.next_attempt_at <= clock.t + 2.0 * JITTER[1]

    # Attempt 3 of max_attempts=3 fails: the row is kept, dead, never tried again.
    clock.t = second.next_attempt_at
    assert await pusher.push_due() == 1
    third = store.retries[-1]
    assert (third.attempts, third.last_error, third.dead) == (3, "HTTP 500", True)
    assert len(hooks.a.bodies) == 3
    assert await store.next_callback_due() is None
    clock.t += 10**6
    assert await store.due_callbacks(clock.t, 10) == []
    assert await pusher.push_due() == 0
    assert len(hooks.a.bodies) == 3
    assert store.finished == []
    # Every attempt sent the same receipt.
    assert len({bytes(body) for body in hooks.a.bodies}) == 1


async def test_a_retry_that_succeeds_finishes_the_row(
    pusher: CallbackPusher, store: RecordingStore, clock: FixedClock, hooks: Hooks
) -> None:
    hooks.a.status = 503
    await finish(store, [make_message()])
    await pusher.push_due()
    (retry,) = store.retries

    hooks.a.status = 204
    clock.t = retry.next_attempt_at
    assert await pusher.push_due() == 1

    assert store.finished == [retry.id]
    assert await store.next_callback_due() is None


async def test_one_failing_url_does_not_hold_back_another(
    pusher: CallbackPusher, store: RecordingStore, hooks: Hooks
) -> None:
    hooks.b.status = 404
    ok = make_message()
    failing = make_message("1000000000000002")
    await finish(store, [ok, failing])

    assert await pusher.push_due() == 2

    assert len(store.finished) == 1
    assert [(r.attempts, r.last_error) for r in store.retries] == [(1, "HTTP 404")]
    (left,) = await store.due_callbacks(T0 + 10, 10)
    assert left.message.id == failing.id


async def test_an_unreachable_url_is_retried_with_a_short_reason(
    store: RecordingStore, clock: FixedClock
) -> None:
    async with TestServer(web.Application()) as gone:
        url = str(gone.make_url("/hook"))
    await store.set_callback_url("1000000000000001", url)  # nothing listens there any more
    await finish(store, [make_message()])
    pusher = CallbackPusher(store, render.receipt_push_body, clock, CONFIG, coalesce_s=0)
    try:
        assert await pusher.push_due() == 1
    finally:
        await pusher.close()

    (retry,) = store.retries
    assert retry.attempts == 1
    assert not retry.dead
    assert retry.last_error.startswith("Client")  # e.g. ClientConnectorError: ...
    assert len(retry.last_error) <= 200


async def test_run_pushes_when_woken(
    pusher: CallbackPusher, store: RecordingStore, hooks: Hooks
) -> None:
    task = asyncio.create_task(pusher.run())
    try:
        changed = await finish(store, [make_message()])
        pusher.wake()  # what the receipt processor's listener does
        async with asyncio.timeout(WAIT_S):
            await hooks.a.got.wait()
        assert hooks.a.bodies == [render.receipt_push_body(changed)]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- backoff_delay ---------------------------------------------------------------------------


def test_backoff_doubles_from_the_first_delay_and_caps() -> None:
    config = CallbackConfig(backoff_initial_s=1.5, backoff_max_s=20.0)
    assert [backoff_delay(n, config) for n in range(1, 8)] == [1.5, 3, 6, 12, 20, 20, 20]
    assert backoff_delay(0, config) == 1.5
    assert backoff_delay(1000, config) == 20.0


def test_backoff_jitter_scales_the_delay() -> None:
    config = CallbackConfig(backoff_initial_s=1.0, backoff_max_s=900.0)
    assert backoff_delay(3, config, jitter=0.9) == pytest.approx(3.6)
    assert backoff_delay(3, config, jitter=1.1) == pytest.approx(4.4)


def test_the_default_schedule_reaches_the_cap() -> None:
    config = CallbackConfig()
    delays = [backoff_delay(n, config) for n in range(1, config.max_attempts + 1)]
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert delays[-1] == config.backoff_max_s == 900.0


@given(
    initial=st.floats(0.01, 100.0),
    cap=st.floats(0.01, 10_000.0),
    attempts=st.integers(1, 200),
)
def test_backoff_is_monotonic_and_bounded(initial: float, cap: float, attempts: int) -> None:
    config = CallbackConfig(backoff_initial_s=initial, backoff_max_s=cap)
    delay = backoff_delay(attempts, config)
    assert delay <= cap
    assert delay == min(cap, initial * 2 ** (attempts - 1))
    assert backoff_delay(attempts + 1, config) >= delay


def test_backoff_stays_capped_for_any_attempt_count() -> None:
    config = CallbackConfig(max_attempts=5000, backoff_max_s=900.0)
    assert backoff_delay(1026, config) == 900.0
    assert backoff_delay(5000, config) == 900.0
