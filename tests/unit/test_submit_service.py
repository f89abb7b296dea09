"""SubmitService and the access rules: validation, store-then-enqueue, backpressure, templates.

The store, queue and limiter are the in-memory fakes; the clock is fixed, so message ids and
timestamps are deterministic. Nothing here opens a socket or waits on a timer. The policy is the
defaults (no documents stored): every segment costs 0.05, so the account starts with a balance.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

import pytest

from smsgate import errors
from smsgate.adapters.queue.memory import MemoryDeliveryQueue
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.domain.ids import parse_message_id
from smsgate.domain.models import (
    AccessKey,
    Account,
    AccountState,
    Message,
    MessageStatus,
    ReviewStatus,
    SignName,
    Template,
    TemplateStatus,
)
from smsgate.errors import OverloadedError, ResultCode, SmsError
from smsgate.ports.store import StoreError
from smsgate.service.access import check_account_usable, check_may_call
from smsgate.service.policy import Policy
from smsgate.service.submit import MAX_NUMBERS_PER_CALL, Submission, SubmitService
from tests import builders

T0 = 1_795_000_000.0  # 2026-11-18, after the message id epoch
SG = "6591234567"  # Singapore mobile (SingTel)
ID = "6281234567890"  # Indonesia mobile (Telkomsel)
CN = "8613800138000"  # mainland China mobile: refused by the international API
MAX_SEGMENTS = 3
BALANCE = 1_000_000_000  # 1,000.00: 20,000 one-segment messages at the default 0.05
#: The policy with no document stored, as PolicyCache reads an empty store.
DEFAULTS = Policy()


class FixedClock:
    def __init__(self, now: float = T0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


class FailingInsertStore(MemoryStore):
    """A store whose disk is gone: every accept fails as the SQLite adapter's would."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = True
        self.insert_calls = 0

    async def accept_messages(self, messages: Sequence[Message], charge_micros: int) -> bool:
        self.insert_calls += 1
        if self.fail:
            raise StoreError("disk I/O error")
        return await super().accept_messages(messages, charge_micros)


def make_account(account_id: str = "1000000000000001", **changes: object) -> Account:
    account = Account(
        id=account_id,
        name="acme",
        state=AccountState.NORMAL,
        balance_micros=BALANCE,
        callback_url=None,
        created_at=T0 - 86_400,
    )
    return replace(account, **changes)  # type: ignore[arg-type]


def make_key(account: Account, actions: frozenset[str] | None = None) -> AccessKey:
    return AccessKey(
        id="LTAI" + "k" * 20,
        account_id=account.id,
        secret="s" * 30,
        enabled=True,
        allowed_actions=actions,
        created_at=T0 - 86_400,
    )


def make_template(
    account: Account,
    code: str = "SMS_100001",
    *,
    status: TemplateStatus = TemplateStatus.APPROVED,
    template_type: str = "verification",
    content: str = "Your code is ${code}",
) -> Template:
    return Template(account.id, code, content, template_type, status, T0 - 3600)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def account() -> Account:
    return make_account()


@pytest.fixture
async def store(account: Account) -> AsyncIterator[MemoryStore]:
    store = MemoryStore()
    await store.start()
    await store.create_account(account, make_key(account))
    # SendMessageWithTemplate needs an approved sign name in From (require_sign_name default).
    await store.put_sign_name(SignName(account.id, "Acme", ReviewStatus.APPROVED, T0 - 3600))
    yield store
    await store.close()


@pytest.fixture
def queue() -> MemoryDeliveryQueue:
    return MemoryDeliveryQueue(10)


async def make_service(
    store: MemoryStore, queue: MemoryDeliveryQueue, clock: FixedClock
) -> SubmitService:
    return (
        await builders.open_core(store, clock, queue=queue, max_segments=MAX_SEGMENTS, node_id=7)
    ).submit


@pytest.fixture
async def service(
    store: MemoryStore, queue: MemoryDeliveryQueue, clock: FixedClock
) -> SubmitService:
    return await make_service(store, queue, clock)


async def stored(store: MemoryStore, account: Account) -> list[Message]:
    return await store.list_messages(account.id, 10_000)


async def drain(queue: MemoryDeliveryQueue) -> list[Message]:
    """Everything queued, without waiting (the caller knows the queue is not empty)."""
    assert len(queue) > 0
    return await queue.get_batch(10_000)


def refusal(service: SubmitService, account: Account, sub: Submission) -> SmsError:
    with pytest.raises(SmsError) as caught:
        service.prepare(account, sub, DEFAULTS)
    return caught.value


# -- prepare: validation ---------------------------------------------------------------------


def test_prepare_builds_the_message_from_the_number_and_text(
    service: SubmitService, account: Account
) -> None:
    message = service.prepare(
        account,
        Submission(
            to="+65 9123-4567",
            body="hello",
            sender="Acme",
            msg_type="OTP",
            task_id="t-1",
            channel_id="c-1",
            validity_period=300,
        ),
        DEFAULTS,
    )

    assert message.to == SG  # canonical E.164 digits, no '+', no separators
    assert (message.country, message.region_code, message.network) == (
        "Singapore",
        "SG",
        "SingTel",
    )
    assert (message.body, message.encoding, message.segments) == ("hello", "GSM7", 1)
    assert (message.sender, message.msg_type, message.task_id, message.channel_id) == (
        "Acme",
        "OTP",
        "t-1",
        "c-1",
    )
    assert message.account_id == account.id
    assert message.status is MessageStatus.ACCEPTED
    assert message.created_at == T0
    assert message.expires_at == T0 + 300
    parts = parse_message_id(message.id)
    assert (parts.unix_ms, parts.node_id) == (int(T0 * 1000), 7)


def test_prepare_counts_unicode_segments(service: SubmitService, account: Account) -> None:
    message = service.prepare(account, Submission(to=SG, body="你" * 71), DEFAULTS)
    assert (message.encoding, message.segments) == ("UCS2", 2)


@pytest.mark.parametrize("number", ["12345", "abc", "091234567", "85212345678", ""])
def test_prepare_refuses_an_illegal_number(
    service: SubmitService, account: Account, number: str
) -> None:
    assert refusal(service, account, Submission(to=number, body="hi")).result is (
        errors.MOBILE_NUMBER_ILLEGAL
    )


def test_prepare_refuses_the_chinese_mainland(service: SubmitService, account: Account) -> None:
    assert refusal(service, account, Submission(to=CN, body="hi")).result is (
        errors.COUNTRY_RESTRICTED
    )
    # ... but only for the international API.
    sub = Submission(to=CN, body="hi")
    assert service.prepare(account, sub, DEFAULTS, international=False).to == CN


@pytest.mark.parametrize(
    "changes",
    [
        {"msg_type": "PROMO"},
        {"msg_type": "notify"},
        {"validity_period": 0},
        {"validity_period": -5},
        {"validity_period": 7 * 24 * 3600 + 1},
        {"task_id": ""},
        {"task_id": "x" * 256},
        {"sender": "TwelveChars1"},  # letters: at most 11
        {"sender": "1234567890123456"},  # digits: at most 15
        {"sender": "ac_me"},
        {"sender": ""},
        {"body": ""},
    ],
    ids=lambda c: "-".join(f"{k}={v!r}"[:30] for k, v in c.items()),
)
def test_prepare_refuses_invalid_fields(
    service: SubmitService, account: Account, changes: dict[str, object]
) -> None:
    sub = replace(Submission(to=SG, body="hi"), **changes)  # type: ignore[arg-type]
    assert refusal(service, account, sub).result is errors.INVALID_PARAMETERS


@pytest.mark.parametrize(
    "changes",
    [
        {"msg_type": "MKT"},
        {"validity_period": 1},
        {"validity_period": 7 * 24 * 3600},
        {"task_id": "x" * 255},
        {"sender": "Acme Bank 1"},  # 11 letters, digits and spaces
        {"sender": "+123456789012345"},  # 15 digits
    ],
    ids=lambda c: "-".join(f"{k}={v!r}"[:30] for k, v in c.items()),
)
def test_prepare_accepts_fields_at_their_limits(
    service: SubmitService, account: Account, changes: dict[str, object]
) -> None:
    sub = replace(Submission(to=SG, body="hi"), **changes)  # type: ignore[arg-type]
    assert service.prepare(account, sub, DEFAULTS).to == SG


def test_prepare_checks_fields_before_the_number(service: SubmitService, account: Account) -> None:
    sub = Submission(to="nonsense", body="hi", msg_type="PROMO")
    assert refusal(service, account, sub).result is errors.INVALID_PARAMETERS


def test_prepare_refuses_a_text_over_the_segment_limit(
    service: SubmitService, account: Account
) -> None:
    at_limit = "a" * (153 * MAX_SEGMENTS)
    message = service.prepare(account, Submission(to=SG, body=at_limit), DEFAULTS)
    assert message.segments == MAX_SEGMENTS

    error = refusal(service, account, Submission(to=SG, body=at_limit + "a"))
    assert error.result is errors.INVALID_PARAMETERS
    assert f"{MAX_SEGMENTS + 1} segments" in str(error)


def test_prepare_never_touches_the_queue(
    service: SubmitService, account: Account, queue: MemoryDeliveryQueue
) -> None:
    service.prepare(account, Submission(to=SG, body="hi"), DEFAULTS)
    assert queue.used == 0


# -- accept / send ---------------------------------------------------------------------------


async def test_send_stores_then_enqueues(
    service: SubmitService, account: Account, store: MemoryStore, queue: MemoryDeliveryQueue
) -> None:
    message = await service.send(account, Submission(to=SG, body="hello"))

    assert [m.id for m in await stored(store, account)] == [message.id]
    assert (await stored(store, account))[0] == message
    assert [m.id for m in await drain(queue)] == [message.id]
    assert queue.used == 0


async def test_accept_of_nothing_does_nothing(
    service: SubmitService, queue: MemoryDeliveryQueue
) -> None:
    await service.accept([])
    assert queue.used == 0


async def test_a_full_queue_refuses_and_stores_nothing(
    store: MemoryStore, account: Account, clock: FixedClock
) -> None:
    queue = MemoryDeliveryQueue(1)
    service = await make_service(store, queue, clock)
    first = await service.send(account, Submission(to=SG, body="one"))

    with pytest.raises(OverloadedError):
        await service.send(account, Submission(to=ID, body="two"))

    assert [m.id for m in await stored(store, account)] == [first.id]
    assert len(queue) == 1


async def test_a_batch_that_does_not_fit_is_refused_whole(
    store: MemoryStore, account: Account, clock: FixedClock
) -> None:
    queue = MemoryDeliveryQueue(2)
    service = await make_service(store, queue, clock)
    messages = [
        service.prepare(account, Submission(to=SG, body=str(i)), DEFAULTS) for i in range(3)
    ]

    with pytest.raises(OverloadedError):
        await service.accept(messages)

    assert await stored(store, account) == []
    assert queue.used == 0
    await service.accept(messages[:2])  # what fits is accepted
    assert len(await stored(store, account)) == 2


async def test_a_store_failure_is_the_core_system_error_and_frees_the_room(
    account: Account, clock: FixedClock
) -> None:
    store = FailingInsertStore()
    await store.start()
    await store.create_account(account, make_key(account))
    queue = MemoryDeliveryQueue(1)
    service = await make_service(store, queue, clock)

    with pytest.raises(SmsError) as caught:
        await service.send(account, Submission(to=SG, body="hi"))

    assert caught.value.result is errors.SYSTEM_ERROR
    assert caught.value.result is not errors.SYSTEM_ERROR_ACCESS_LAYER
    assert (caught.value.result.code, caught.value.result.smpp_status) == ("isp.SYSTEM_ERROR", 46)
    assert isinstance(caught.value.__cause__, StoreError)
    assert await stored(store, account) == []
    assert (queue.used, len(queue)) == (0, 0)

    # The room came back: once the store recovers, the one-slot queue takes a message again.
    store.fail = False
    message = await service.send(account, Submission(to=SG, body="hi"))
    assert [m.id for m in await stored(store, account)] == [message.id]
    assert [m.id for m in await drain(queue)] == [message.id]


async def test_a_refused_submission_reaches_neither_store_nor_queue(
    account: Account, clock: FixedClock, queue: MemoryDeliveryQueue
) -> None:
    store = FailingInsertStore()
    await store.start()
    service = await make_service(store, queue, clock)

    with pytest.raises(SmsError):
        await service.send(account, Submission(to=CN, body="hi"))

    assert store.insert_calls == 0
    assert queue.used == 0


# -- send_batch ------------------------------------------------------------------------------


async def test_send_batch_over_the_limit_is_refused_whole(
    service: SubmitService, account: Account, store: MemoryStore, queue: MemoryDeliveryQueue
) -> None:
    subs = [Submission(to=SG, body="hi")] * (MAX_NUMBERS_PER_CALL + 1)

    with pytest.raises(SmsError) as caught:
        await service.send_batch(account, subs)

    assert caught.value.result is errors.MOBILE_COUNT_OVER_LIMIT
    assert await stored(store, account) == []
    assert queue.used == 0


async def test_send_batch_of_exactly_the_limit_is_accepted(
    account: Account, store: MemoryStore, clock: FixedClock
) -> None:
    queue = MemoryDeliveryQueue(MAX_NUMBERS_PER_CALL)
    service = await make_service(store, queue, clock)
    # One number a thousand times: lift the per-number limits, which are not under test here.
    await store.put_document(
        f"account:{account.id}",
        '{"limits": {"NOTIFY": {"per_day": null}, "per_number_per_day": null}}',
    )

    accepted, failed = await service.send_batch(
        account, [Submission(to=SG, body="hi")] * MAX_NUMBERS_PER_CALL
    )

    assert (len(accepted), failed) == (MAX_NUMBERS_PER_CALL, [])
    assert len({m.id for m in accepted}) == MAX_NUMBERS_PER_CALL
    assert len(queue) == MAX_NUMBERS_PER_CALL


async def test_send_batch_splits_good_and_bad_numbers(
    service: SubmitService, account: Account, store: MemoryStore, queue: MemoryDeliveryQueue
) -> None:
    subs = [
        Submission(to=SG, body="a"),
        Submission(to="12345", body="b"),
        Submission(to=CN, body="c"),
        Submission(to=ID, body="d"),
    ]

    accepted, failed = await service.send_batch(account, subs)

    assert [(m.to, m.body) for m in accepted] == [(SG, "a"), (ID, "d")]
    assert [(to, exc.result) for to, exc in failed] == [
        ("12345", errors.MOBILE_NUMBER_ILLEGAL),
        (CN, errors.COUNTRY_RESTRICTED),
    ]
    assert sorted(m.id for m in await stored(store, account)) == sorted(m.id for m in accepted)
    assert [m.id for m in await drain(queue)] == [m.id for m in accepted]


async def test_send_batch_with_only_bad_numbers_stores_nothing(
    service: SubmitService, account: Account, store: MemoryStore, queue: MemoryDeliveryQueue
) -> None:
    accepted, failed = await service.send_batch(account, [Submission(to="1", body="x")])
    assert accepted == []
    assert [exc.result for _, exc in failed] == [errors.MOBILE_NUMBER_ILLEGAL]
    assert await stored(store, account) == []
    assert queue.used == 0


# -- send_with_template ----------------------------------------------------------------------


async def test_send_with_an_unknown_template_is_refused(
    service: SubmitService, account: Account, store: MemoryStore, queue: MemoryDeliveryQueue
) -> None:
    sub = Submission(to=SG, body="", sender="Acme", template_code="SMS_404")
    with pytest.raises(SmsError) as caught:
        await service.send_with_template(account, sub, '{"code": "1234"}')
    assert caught.value.result is errors.SMS_CONTENT_CODE_ILLEGAL
    assert "does not exist" in str(caught.value)
    assert await stored(store, account) == []
    assert queue.used == 0


@pytest.mark.parametrize(
    "status", [TemplateStatus.PENDING, TemplateStatus.REJECTED, TemplateStatus.BLOCKED]
)
async def test_send_with_an_unapproved_template_is_refused(
    service: SubmitService,
    account: Account,
    store: MemoryStore,
    queue: MemoryDeliveryQueue,
    status: TemplateStatus,
) -> None:
    await store.put_template(make_template(account, status=status))
    sub = Submission(to=SG, body="", sender="Acme", template_code="SMS_100001")

    with pytest.raises(SmsError) as caught:
        await service.send_with_template(account, sub, '{"code": "1234"}')

    assert caught.value.result is errors.SMS_CONTENT_CODE_ILLEGAL
    assert status.value in str(caught.value)
    assert await stored(store, account) == []
    assert queue.used == 0


async def test_send_with_another_accounts_template_is_refused(
    service: SubmitService, account: Account, store: MemoryStore
) -> None:
    other = make_account("1000000000000002")
    await store.create_account(other, replace(make_key(other), id="LTAI" + "o" * 20))
    await store.put_template(make_template(other))

    sub = Submission(to=SG, body="", sender="Acme", template_code="SMS_100001")
    with pytest.raises(SmsError) as caught:
        await service.send_with_template(account, sub, '{"code": "1234"}')
    assert caught.value.result is errors.SMS_CONTENT_CODE_ILLEGAL


@pytest.mark.parametrize(
    ("template_type", "msg_type"),
    [("verification", "OTP"), ("promotion", "MKT"), ("notification", "NOTIFY")],
)
async def test_send_with_an_approved_template_renders_and_sends(
    service: SubmitService,
    account: Account,
    store: MemoryStore,
    queue: MemoryDeliveryQueue,
    template_type: str,
    msg_type: str,
) -> None:
    await store.put_template(make_template(account, template_type=template_type))
    sub = Submission(
        to=SG,
        body="",
        sender="Acme",
        template_code="SMS_100001",
        validity_period=600,
        sms_up_extend_code="42",
    )

    message = await service.send_with_template(account, sub, '{"code": 123456}')

    assert message.body == "Your code is 123456"
    assert (message.msg_type, message.template_code) == (msg_type, "SMS_100001")
    assert (message.sender, message.validity_period, message.sms_up_extend_code) == (
        "Acme",
        600,
        "42",
    )
    assert await stored(store, account) == [message]
    assert [m.id for m in await drain(queue)] == [message.id]


@pytest.mark.parametrize(
    ("param", "result"),
    [
        (None, errors.CONTENT_MISSING_PARAMETERS),
        ('{"code": "  "}', errors.CONTENT_MISSING_PARAMETERS),
        ("{not json", errors.INVALID_JSON_PARAM),
        ('["1234"]', errors.INVALID_JSON_PARAM),
    ],
)
async def test_send_with_template_refuses_bad_parameters(
    service: SubmitService,
    account: Account,
    store: MemoryStore,
    queue: MemoryDeliveryQueue,
    param: str | None,
    result: ResultCode,
) -> None:
    await store.put_template(make_template(account))
    sub = Submission(to=SG, body="", sender="Acme", template_code="SMS_100001")

    with pytest.raises(SmsError) as caught:
        await service.send_with_template(account, sub, param)

    assert caught.value.result is result
    assert await stored(store, account) == []
    assert queue.used == 0


async def test_send_with_template_still_validates_the_number(
    service: SubmitService, account: Account, store: MemoryStore
) -> None:
    await store.put_template(make_template(account))
    sub = Submission(to=CN, body="", sender="Acme", template_code="SMS_100001")
    with pytest.raises(SmsError) as caught:
        await service.send_with_template(account, sub, '{"code": "1"}')
    assert caught.value.result is errors.COUNTRY_RESTRICTED


# -- access ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "result"),
    [
        (AccountState.CLOSED, errors.ACCOUNT_NOT_EXISTS),
        (AccountState.ABNORMAL, errors.ACCOUNT_ABNORMAL),
        (AccountState.SUSPENDED, errors.OUT_OF_SERVICE),
        (AccountState.UNSUBSCRIBED, errors.PRODUCT_UN_SUBSCRIPT),
    ],
)
def test_each_account_state_has_its_seed_code(state: AccountState, result: ResultCode) -> None:
    account = make_account(state=state)
    with pytest.raises(SmsError) as caught:
        check_account_usable(account)
    assert caught.value.result is result
    with pytest.raises(SmsError) as caught:
        check_may_call(account, make_key(account), "SendMessageToGlobe")
    assert caught.value.result is result


def test_every_account_state_is_decided() -> None:
    refused = set()
    for state in AccountState:
        try:
            check_account_usable(make_account(state=state))
        except SmsError:
            refused.add(state)
    assert refused == set(AccountState) - {AccountState.NORMAL}


def test_a_normal_account_may_call_what_its_key_allows() -> None:
    account = make_account()
    check_may_call(account, make_key(account), "SendMessageToGlobe")  # None: every action
    check_may_call(account, make_key(account, frozenset({"QueryMessage"})), "QueryMessage")


def test_a_key_without_the_action_is_ram_permission_deny() -> None:
    account = make_account()
    key = make_key(account, frozenset({"QueryMessage"}))
    with pytest.raises(SmsError) as caught:
        check_may_call(account, key, "SendMessageToGlobe")
    assert caught.value.result is errors.RAM_PERMISSION_DENY

    with pytest.raises(SmsError) as caught:
        check_may_call(account, make_key(account, frozenset()), "QueryMessage")
    assert caught.value.result is errors.RAM_PERMISSION_DENY


def test_the_account_state_is_checked_before_the_key() -> None:
    account = make_account(state=AccountState.SUSPENDED)
    with pytest.raises(SmsError) as caught:
        check_may_call(account, make_key(account, frozenset()), "SendMessageToGlobe")
    assert caught.value.result is errors.OUT_OF_SERVICE


# -- send_each: the SMPP door's submits of one read -----------------------------------------


async def test_send_each_gives_each_submission_its_own_outcome_in_order(
    service: SubmitService, store: MemoryStore, account: Account, queue: MemoryDeliveryQueue
) -> None:
    subs = [Submission(to=SG, body="one"), Submission(to="659", body="bad"), Submission(ID, "two")]

    outcomes = await service.send_each(account, subs)

    assert isinstance(outcomes[0], Message)
    assert isinstance(outcomes[1], SmsError)
    assert outcomes[1].result is errors.MOBILE_NUMBER_ILLEGAL
    assert isinstance(outcomes[2], Message)
    assert [m.body for m in await drain(queue)] == ["one", "two"]
    assert sorted(m.body for m in await stored(store, account)) == ["one", "two"]


async def test_send_each_sends_what_the_balance_covers_when_it_cannot_cover_all(
    store: MemoryStore, queue: MemoryDeliveryQueue, clock: FixedClock
) -> None:
    poor = make_account("1000000000000002", balance_micros=100_000)  # two messages at 0.05
    await store.create_account(poor, replace(make_key(poor), id="LTAI" + "p" * 20))
    service = await make_service(store, queue, clock)
    subs = [Submission(to=SG, body=f"m{i}", msg_type="MKT") for i in range(3)]

    outcomes = await service.send_each(poor, subs)

    assert [isinstance(o, Message) for o in outcomes] == [True, True, False]
    refused = outcomes[2]
    assert isinstance(refused, SmsError)
    assert refused.result is errors.AMOUNT_NOT_ENOUGH
    account = await store.get_account(poor.id)
    assert account is not None
    assert account.balance_micros == 0


async def test_send_each_admits_what_fits_in_the_queue_and_refuses_only_the_rest(
    service: SubmitService, store: MemoryStore, account: Account, queue: MemoryDeliveryQueue
) -> None:
    subs = [Submission(to=SG, body=f"m{i}", msg_type="MKT") for i in range(13)]  # queue holds 10

    outcomes = await service.send_each(account, subs)

    assert [type(o).__name__ for o in outcomes] == ["Message"] * 10 + ["OverloadedError"] * 3
    assert [m.body for m in await drain(queue)] == [f"m{i}" for i in range(10)]
    assert len(await stored(store, account)) == 10
    # The refused ones took no throttle or quota count: sent again, they go.
    again = await service.send_each(account, subs[10:])
    assert all(isinstance(o, Message) for o in again)


async def test_send_each_on_a_full_queue_refuses_every_message(
    service: SubmitService, account: Account, queue: MemoryDeliveryQueue
) -> None:
    assert await queue.try_reserve(10)
    subs = [Submission(to=SG, body=f"m{i}", msg_type="MKT") for i in range(3)]

    outcomes = await service.send_each(account, subs)

    assert all(isinstance(o, OverloadedError) for o in outcomes)


def test_prepare_keeps_binary_data_as_hex_and_counts_octet_segments(
    service: SubmitService, account: Account
) -> None:
    one = service.prepare(account, Submission(to=SG, body="", data=b"\x01" * 140), DEFAULTS)
    three = service.prepare(account, Submission(to=SG, body="", data=b"\x02" * 300), DEFAULTS)

    assert (one.encoding, one.segments, one.body) == ("BINARY", 1, "01" * 140)
    assert (three.segments, three.price_micros) == (3, 3 * one.price_micros)
    with pytest.raises(SmsError) as info:
        service.prepare(account, Submission(to=SG, body="", data=b""), DEFAULTS)
    assert info.value.result is errors.INVALID_PARAMETERS
