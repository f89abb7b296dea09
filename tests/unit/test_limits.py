"""Throttling and quotas: the policy document, every refusal code, the windows, and a model test
of every limiter against a slow reference that keeps every message it accepted.

The behaviour tests and the model tests run over :data:`LIMITERS`: the in-memory limiter and
the Redis one (skipped, with the address tried, when Redis is not reachable; see
``tests/services.py``). Tests of one limiter's own layout (memory sizes, Redis keys and TTLs)
name it."""

from __future__ import annotations

import asyncio
import calendar
import itertools
import json
import secrets
import time
import tracemalloc
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from smsgate import errors
from smsgate.adapters.limits.memory import MemoryLimiter
from smsgate.adapters.limits.redis import GRACE_MS, RedisLimiter
from smsgate.domain.limits import (
    MESSAGE_TYPES,
    LimitPolicy,
    Usage,
    WindowLimits,
    refusal,
    utc_day_bounds,
    utc_month_bounds,
)
from smsgate.errors import ResultCode
from smsgate.ports.limits import Limiter
from tests.services import delete_redis_keys, redis_url

T = TypeVar("T")

A = "1000000000000001"
B = "1000000000000002"
N1 = "+447700900001"
N2 = "+447700900002"
DEFAULT = LimitPolicy()


_LOOP = asyncio.new_event_loop()


@pytest.fixture(scope="module", autouse=True)
def _loop_closed_after_the_module() -> Iterator[None]:
    yield
    _LOOP.close()


def run(work: Coroutine[Any, Any, T]) -> T:
    """Await a limiter call from these synchronous tests (Hypothesis drives them), on one loop:
    a shared limiter's calls suspend, the memory limiter's do not."""
    return _LOOP.run_until_complete(work)


#: Every Limiter, by name: each is held to the same tests, and to the reference message by message.
LIMITERS = ("memory", "redis")
#: Makes a fresh limiter, empty, of the kind under test.
NewLimiter: TypeAlias = Callable[[], Limiter]


@pytest.fixture(scope="module")
def redis_client() -> Iterator[Redis]:
    """One client for the module's Redis tests, on the module's loop."""
    client = Redis.from_url(redis_url())
    yield client
    run(client.aclose())


@pytest.fixture
def redis_prefix(redis_client: Redis) -> Iterator[str]:
    """A key prefix of this test's own, so that tests (and installations) can share a server;
    every key under it is deleted after the test."""
    prefix = f"smsgate-test:{secrets.token_hex(8)}:"
    yield prefix
    run(delete_redis_keys(redis_client, prefix))


@pytest.fixture(params=LIMITERS)
def new_limiter(request: pytest.FixtureRequest) -> NewLimiter:
    """Makes empty limiters of one kind. Each Redis limiter gets a prefix of its own under the
    test's, so that every Hypothesis example starts empty, as a new memory limiter does."""
    if request.param == "memory":
        return MemoryLimiter
    client: Redis = request.getfixturevalue("redis_client")
    prefix: str = request.getfixturevalue("redis_prefix")
    serial = itertools.count()

    def make() -> Limiter:
        return RedisLimiter(client, prefix=f"{prefix}{next(serial)}:")

    return make


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: float = 0.0) -> float:
    """POSIX seconds of a UTC date and time."""
    return calendar.timegm((y, mo, d, h, mi, 0, 0, 0, 0)) + s


T0 = at(2026, 3, 10, 9, 0)  # a Tuesday morning, mid-month, on the hour


def one(
    lim: Limiter,
    now: float,
    number: str = N1,
    msg_type: str = "OTP",
    *,
    account: str = A,
    policy: LimitPolicy = DEFAULT,
    platform: int | None = None,
) -> ResultCode | None:
    [verdict] = run(lim.acquire(account, [(number, msg_type)], policy, platform, now))
    return verdict


def policy(**overrides: object) -> LimitPolicy:
    return DEFAULT.merged(overrides)


# --- the policy document ------------------------------------------------------------------------


def test_defaults_are_alibabas_for_verification_codes_and_documented_for_the_rest() -> None:
    assert DEFAULT.otp == WindowLimits(per_minute=1, per_hour=5, per_day=10)
    assert DEFAULT.notify == WindowLimits(per_minute=None, per_hour=None, per_day=50)
    assert DEFAULT.mkt == WindowLimits(per_minute=None, per_hour=None, per_day=50)
    assert DEFAULT.per_number_per_day == 50
    assert DEFAULT.account_per_day is None
    assert DEFAULT.account_per_month is None
    assert {t: DEFAULT.window(t) for t in MESSAGE_TYPES} == {
        "OTP": DEFAULT.otp,
        "NOTIFY": DEFAULT.notify,
        "MKT": DEFAULT.mkt,
    }


def test_a_policy_survives_json() -> None:
    p = policy(OTP={"per_minute": 2}, MKT={"per_day": None}, account_per_month=100_000)
    assert LimitPolicy.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert LimitPolicy.from_dict(DEFAULT.to_dict()) == DEFAULT


def test_from_dict_takes_the_defaults_for_what_it_leaves_out() -> None:
    assert LimitPolicy.from_dict({}) == DEFAULT
    p = LimitPolicy.from_dict({"account_per_day": 500})
    assert p.account_per_day == 500
    assert p.otp == DEFAULT.otp


def test_merged_overrides_a_type_key_by_key_and_null_removes_a_limit() -> None:
    base = policy(account_per_day=10)
    p = base.merged({"OTP": {"per_day": 20, "per_minute": None}, "per_number_per_day": None})
    assert p.otp == WindowLimits(per_minute=None, per_hour=5, per_day=20)
    assert p.notify == base.notify
    assert p.per_number_per_day is None
    assert p.account_per_day == 10  # kept from the base, not reset to the default
    assert base.otp == DEFAULT.otp  # the base is unchanged


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"OTP": {"per_minute": 0}}, "OTP.per_minute"),
        ({"NOTIFY": {"per_hour": -1}}, "NOTIFY.per_hour"),
        ({"MKT": {"per_day": 1.5}}, "MKT.per_day"),
        ({"OTP": {"per_day": "10"}}, "OTP.per_day"),
        ({"OTP": {"per_day": True}}, "OTP.per_day"),
        ({"OTP": {"per_mintue": 1}}, "OTP.per_mintue"),
        ({"OTP": 5}, "OTP"),
        ({"OTP": None}, "OTP"),
        ({"per_number_per_day": 0}, "per_number_per_day"),
        ({"account_per_day": False}, "account_per_day"),
        ({"account_per_month": -5}, "account_per_month"),
        ({"SMS": {"per_day": 1}}, "SMS"),
    ],
)
def test_a_bad_policy_names_its_key(doc: dict[str, object], key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        LimitPolicy.from_dict(doc)


def test_a_policy_document_must_be_an_object() -> None:
    with pytest.raises(ValueError, match="object"):
        LimitPolicy.from_dict([])  # type: ignore[arg-type]


def test_zero_is_refused_when_constructing_directly_too() -> None:
    with pytest.raises(ValueError, match="per_minute"):
        WindowLimits(per_minute=0)
    with pytest.raises(ValueError, match="account_per_day"):
        LimitPolicy(account_per_day=0)


def test_limits_need_not_nest(new_limiter: NewLimiter) -> None:
    # Lowering the day limit alone must not require lowering the hour limit with it.
    p = policy(OTP={"per_day": 3})
    lim = new_limiter()
    verdicts = [one(lim, T0 + i * 61, policy=p) for i in range(4)]
    assert verdicts == [None, None, None, errors.BUSINESS_LIMIT_DAY]


# --- each code, with the defaults ---------------------------------------------------------------


def test_a_second_verification_code_within_a_minute_is_refused(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    assert one(lim, T0) is None
    assert one(lim, T0 + 1) is errors.BUSINESS_LIMIT_CONTROL_MINUTE
    assert one(lim, T0 + 59.999) is errors.BUSINESS_LIMIT_CONTROL_MINUTE


def test_the_minute_window_slides_and_ends_at_exactly_60_seconds(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    start = T0 + 17.25  # not on a minute boundary: the window is not the clock's minute
    assert one(lim, start) is None
    assert one(lim, start + 59.999) is errors.BUSINESS_LIMIT_CONTROL_MINUTE
    assert one(lim, start + 60) is None
    assert one(lim, start + 119.5) is errors.BUSINESS_LIMIT_CONTROL_MINUTE


def test_a_sixth_code_within_an_hour_is_refused_until_exactly_3600_seconds_after_the_first(
    new_limiter: NewLimiter,
) -> None:
    lim = new_limiter()
    start = T0 + 1234.5  # the hour window straddles the clock hour
    sent = [start + i * 61 for i in range(5)]
    assert [one(lim, t) for t in sent] == [None] * 5
    assert one(lim, start + 5 * 61) is errors.BUSINESS_LIMIT_HOUR
    assert one(lim, start + 3599.999) is errors.BUSINESS_LIMIT_HOUR
    assert one(lim, start + 3600) is None  # the first has left the window
    assert one(lim, start + 3600 + 60) is errors.BUSINESS_LIMIT_HOUR  # the second has not


def test_an_eleventh_code_in_a_utc_day_is_refused_until_midnight(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    day = at(2026, 3, 10)
    sent = [day + i * 3601 for i in range(10)]  # one an hour: neither minute nor hour binds
    assert [one(lim, t) for t in sent] == [None] * 10
    assert one(lim, day + 10 * 3601) is errors.BUSINESS_LIMIT_DAY
    assert one(lim, at(2026, 3, 10, 23, 59, 59.999)) is errors.BUSINESS_LIMIT_DAY
    assert one(lim, at(2026, 3, 11)) is None


def test_the_daily_cap_of_a_number_counts_every_type(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    otp_sent = sum(one(lim, T0 + i * 3601, msg_type="OTP") is None for i in range(10))
    assert otp_sent == 10
    later = T0 + 10 * 3601
    for i in range(50 - otp_sent):
        assert one(lim, later + i, msg_type="NOTIFY") is None
    assert one(lim, later + 100, msg_type="MKT") is errors.BUSINESS_LIMIT_CONTROL_PHONE
    assert one(lim, later + 100, msg_type="NOTIFY") is errors.BUSINESS_LIMIT_CONTROL_PHONE
    assert one(lim, later + 100, N2, msg_type="MKT") is None  # another number is not capped


def test_notification_and_promotion_day_limits(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    p = policy(per_number_per_day=None)
    for msg_type in ("NOTIFY", "MKT"):
        assert [one(lim, T0, msg_type=msg_type, policy=p) for _ in range(50)] == [None] * 50
        assert one(lim, T0, msg_type=msg_type, policy=p) is errors.BUSINESS_LIMIT_DAY


def test_the_account_daily_quota(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    p = policy(account_per_day=3)
    numbers = [f"+4477009001{i:02d}" for i in range(5)]
    verdicts = run(lim.acquire(A, [(n, "NOTIFY") for n in numbers], p, None, T0))
    assert verdicts == [None, None, None, errors.DAY_LIMIT_CONTROL, errors.DAY_LIMIT_CONTROL]
    assert one(lim, at(2026, 3, 10, 23, 59, 59.999), N2, "MKT", policy=p) is (
        errors.DAY_LIMIT_CONTROL
    )
    assert one(lim, at(2026, 3, 11), N2, "MKT", policy=p) is None


def test_the_account_monthly_quota_and_the_month_end(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    p = policy(account_per_month=4)
    # Two a day on the last days of January (31 days): the month runs out on the 31st.
    days = [at(2026, 1, 30, 12), at(2026, 1, 31, 12)]
    for d in days:
        assert run(lim.acquire(A, [(N1, "NOTIFY"), (N2, "NOTIFY")], p, None, d)) == [None, None]
    assert one(lim, at(2026, 1, 31, 23, 59, 59.999), msg_type="MKT", policy=p) is (
        errors.MONTH_LIMIT_CONTROL
    )
    assert one(lim, at(2026, 2, 1), msg_type="MKT", policy=p) is None


def test_the_month_ends_on_the_last_day_of_february_in_a_leap_year(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    p = policy(account_per_month=1)
    assert one(lim, at(2024, 2, 29, 23, 59), msg_type="NOTIFY", policy=p) is None
    assert one(lim, at(2024, 2, 29, 23, 59, 59.5), N2, "NOTIFY", policy=p) is (
        errors.MONTH_LIMIT_CONTROL
    )
    assert one(lim, at(2024, 3, 1), N2, "NOTIFY", policy=p) is None
    assert utc_month_bounds(at(2024, 2, 29, 12)) == (at(2024, 2, 1), at(2024, 3, 1))
    assert utc_month_bounds(at(2025, 12, 31, 23, 59, 59.9)) == (at(2025, 12, 1), at(2026, 1, 1))
    assert utc_day_bounds(at(2026, 3, 10, 23, 59, 59.9)) == (at(2026, 3, 10), at(2026, 3, 11))
    assert utc_day_bounds(at(2026, 3, 11)) == (at(2026, 3, 11), at(2026, 3, 12))


def test_the_platform_daily_quota_counts_every_account(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    assert one(lim, T0, N1, "NOTIFY", platform=3) is None
    assert one(lim, T0, N1, "NOTIFY", account=B, platform=3) is None
    assert one(lim, T0, N2, "NOTIFY", account=B, platform=3) is None
    assert one(lim, T0, N2, "NOTIFY", platform=3) is errors.SYSTEM_LIMIT_CONTROL
    assert one(lim, T0, N2, "NOTIFY", platform=None) is None  # unlimited still counts
    assert one(lim, at(2026, 3, 11), N2, "NOTIFY", platform=3) is None


def test_calendar_limits_reset_at_midnight_but_the_minute_window_does_not(
    new_limiter: NewLimiter,
) -> None:
    lim = new_limiter()
    p = policy(OTP={"per_day": 1}, account_per_day=1)
    assert one(lim, at(2026, 3, 10, 23, 59, 30), policy=p) is None
    # The day's limits are gone at midnight; the minute still counts the message at 23:59:30.
    assert one(lim, at(2026, 3, 11, 0, 0, 10), policy=p) is errors.BUSINESS_LIMIT_CONTROL_MINUTE
    assert one(lim, at(2026, 3, 11, 0, 0, 30), policy=p) is None


# --- precedence, batches, release, accounts -----------------------------------------------------

TIGHT = LimitPolicy(
    otp=WindowLimits(1, 1, 1),
    per_number_per_day=1,
    account_per_day=1,
    account_per_month=1,
)


@pytest.mark.parametrize(
    ("relaxed", "expected"),
    [
        ({}, errors.SYSTEM_LIMIT_CONTROL),
        ({"platform": None}, errors.MONTH_LIMIT_CONTROL),
        ({"platform": None, "account_per_month": None}, errors.DAY_LIMIT_CONTROL),
        ({"platform": None, "account_per_month": None, "account_per_day": None}, None),
    ],
)
def test_quotas_come_first_in_precedence(
    relaxed: dict[str, None],
    expected: ResultCode | None,
    new_limiter: NewLimiter,
) -> None:
    relaxed = dict(relaxed)  # a copy: the parameter is shared by every limiter's run
    platform = relaxed.pop("platform", 1)
    p = TIGHT.merged(relaxed)
    lim = new_limiter()
    assert one(lim, T0, policy=p, platform=platform) is None
    verdict = one(lim, T0, policy=p, platform=platform)
    if expected is None:  # then the number's own limits, checked next
        assert verdict is errors.BUSINESS_LIMIT_CONTROL_PHONE
    else:
        assert verdict is expected


@pytest.mark.parametrize(
    ("relaxed", "expected"),
    [
        ({}, errors.BUSINESS_LIMIT_CONTROL_PHONE),
        ({"per_number_per_day": None}, errors.BUSINESS_LIMIT_DAY),
        ({"per_number_per_day": None, "OTP": {"per_day": None}}, errors.BUSINESS_LIMIT_HOUR),
        (
            {"per_number_per_day": None, "OTP": {"per_day": None, "per_hour": None}},
            errors.BUSINESS_LIMIT_CONTROL_MINUTE,
        ),
        (
            {
                "per_number_per_day": None,
                "OTP": {"per_day": None, "per_hour": None, "per_minute": None},
            },
            None,
        ),
    ],
)
def test_number_limits_in_precedence(
    relaxed: dict[str, object],
    expected: ResultCode | None,
    new_limiter: NewLimiter,
) -> None:
    p = TIGHT.merged({"account_per_day": None, "account_per_month": None, **relaxed})
    lim = new_limiter()
    assert one(lim, T0, policy=p) is None
    assert one(lim, T0, policy=p) is expected


#: Usage fields in precedence order, each with the code that its limit answers.
PRECEDENCE = [
    ("platform_day", errors.SYSTEM_LIMIT_CONTROL),
    ("account_month", errors.MONTH_LIMIT_CONTROL),
    ("account_day", errors.DAY_LIMIT_CONTROL),
    ("number_day", errors.BUSINESS_LIMIT_CONTROL_PHONE),
    ("number_type_day", errors.BUSINESS_LIMIT_DAY),
    ("number_type_hour", errors.BUSINESS_LIMIT_HOUR),
    ("number_type_minute", errors.BUSINESS_LIMIT_CONTROL_MINUTE),
]
#: Every limit at 1 (the platform's too): one counted message reaches each.
ONE_EACH = policy(
    OTP={"per_minute": 1, "per_hour": 1, "per_day": 1},
    per_number_per_day=1,
    account_per_day=1,
    account_per_month=1,
)


@pytest.mark.parametrize("first", range(len(PRECEDENCE)), ids=[f for f, _ in PRECEDENCE])
def test_refusal_answers_the_widest_limit_reached(first: int) -> None:
    """Every limit from ``first`` on is reached: the code is ``first``'s, whatever follows."""
    reached = Usage(**{field: 1 for field, _ in PRECEDENCE[first:]})
    assert refusal(ONE_EACH.otp, ONE_EACH, 1, reached) is PRECEDENCE[first][1]


def test_refusal_lets_through_below_every_limit_and_without_limits() -> None:
    assert refusal(ONE_EACH.otp, ONE_EACH, 1, Usage()) is None
    unlimited = Usage(**dict.fromkeys(Usage._fields, 10**9))
    no_limits = LimitPolicy(WindowLimits(), WindowLimits(), WindowLimits(), None, None, None)
    assert refusal(no_limits.otp, no_limits, None, unlimited) is None


def test_refusal_of_a_type_the_policy_does_not_know() -> None:
    assert refusal(DEFAULT.by_type.get("XYZ"), DEFAULT, None, Usage()) is errors.INVALID_PARAMETERS


def test_a_batch_counts_its_own_earlier_messages(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    verdicts = run(
        lim.acquire(A, [(N1, "OTP"), (N2, "OTP"), (N1, "OTP"), (N1, "NOTIFY")], DEFAULT, None, T0)
    )
    assert verdicts == [None, None, errors.BUSINESS_LIMIT_CONTROL_MINUTE, None]


def test_a_refused_message_counts_nowhere(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    p = policy(account_per_day=2)
    assert one(lim, T0, policy=p) is None
    for i in range(5):
        assert one(lim, T0 + i, policy=p) is errors.BUSINESS_LIMIT_CONTROL_MINUTE
    # The five refusals used none of the account's quota.
    assert one(lim, T0 + 1, N2, policy=p) is None


def test_release_gives_the_counts_back(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    p = policy(account_per_day=1, account_per_month=1)
    assert one(lim, T0, policy=p, platform=1) is None
    assert one(lim, T0 + 1, N2, policy=p, platform=1) is errors.SYSTEM_LIMIT_CONTROL
    run(lim.release(A, [(N1, "OTP")], T0))  # say the store failed
    # Quotas, the day count and the minute window are all free again.
    assert one(lim, T0 + 2, policy=p, platform=1) is None
    assert one(lim, T0 + 3, policy=p, platform=1) is errors.SYSTEM_LIMIT_CONTROL


def test_release_gives_a_number_its_day_back(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    p = policy(OTP={"per_day": 1}, NOTIFY={"per_day": 1})
    assert one(lim, T0, policy=p) is None
    assert run(lim.acquire(A, [(N1, "NOTIFY"), (N1, "NOTIFY")], p, None, T0)) == [
        None,
        errors.BUSINESS_LIMIT_DAY,
    ]
    run(lim.release(A, [(N1, "OTP"), (N1, "NOTIFY")], T0))
    assert one(lim, T0 + 60, policy=p) is None
    assert one(lim, T0 + 60, msg_type="NOTIFY", policy=p) is None
    if isinstance(lim, MemoryLimiter):
        assert lim.sizes()["day_counts"] == 2


def test_release_takes_back_only_the_message_it_names(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    p = policy(OTP={"per_minute": 2})
    assert one(lim, T0, policy=p) is None
    assert one(lim, T0 + 10, policy=p) is None
    run(lim.release(A, [(N1, "OTP")], T0 + 10))
    assert one(lim, T0 + 20, policy=p) is None  # room for one again
    assert one(lim, T0 + 30, policy=p) is errors.BUSINESS_LIMIT_CONTROL_MINUTE
    # The one at T0 was never released: it leaves the window at T0 + 60, not before.
    assert one(lim, T0 + 59, policy=p) is errors.BUSINESS_LIMIT_CONTROL_MINUTE
    assert one(lim, T0 + 60, policy=p) is None


def test_release_after_midnight_leaves_the_new_day_alone(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    p = policy(account_per_day=1, NOTIFY={"per_day": 1})
    late = at(2026, 3, 10, 23, 59, 59)
    assert one(lim, late, msg_type="NOTIFY", policy=p) is None
    assert one(lim, at(2026, 3, 11, 0, 0, 1), msg_type="NOTIFY", policy=p) is None
    run(lim.release(A, [(N1, "NOTIFY")], late))  # the old day's message: nothing to give back today
    assert one(lim, at(2026, 3, 11, 0, 0, 2), N2, "NOTIFY", policy=p) is errors.DAY_LIMIT_CONTROL
    p = policy(NOTIFY={"per_day": 1})
    assert one(lim, at(2026, 3, 11, 0, 0, 2), msg_type="NOTIFY", policy=p) is (
        errors.BUSINESS_LIMIT_DAY
    )


def test_release_of_the_same_month_gives_the_month_back(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    p = policy(account_per_month=1)
    assert one(lim, at(2026, 3, 10, 23, 59), msg_type="NOTIFY", policy=p) is None
    assert one(lim, at(2026, 3, 11, 8), msg_type="NOTIFY", policy=p) is errors.MONTH_LIMIT_CONTROL
    run(lim.release(A, [(N1, "NOTIFY")], at(2026, 3, 10, 23, 59)))
    assert one(lim, at(2026, 3, 11, 8), msg_type="NOTIFY", policy=p) is None


def test_accounts_do_not_throttle_each_other(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    p = policy(account_per_day=1)
    assert one(lim, T0, account=A, policy=p) is None
    assert one(lim, T0, account=A, policy=p) is errors.DAY_LIMIT_CONTROL
    # Same number, same second, another account: its own minute, day and quota counts.
    assert one(lim, T0, account=B, policy=p) is None
    run(lim.release(B, [(N1, "OTP")], T0))
    assert one(lim, T0 + 1, N2, account=A, policy=p) is errors.DAY_LIMIT_CONTROL


def test_an_unknown_message_type_is_refused_and_not_counted(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    p = policy(account_per_day=1)
    assert one(lim, T0, msg_type="otp", policy=p) is errors.INVALID_PARAMETERS
    assert one(lim, T0, policy=p) is None


# --- None and 0 ---------------------------------------------------------------------------------

UNLIMITED = LimitPolicy.from_dict(
    {
        **{t: {"per_minute": None, "per_hour": None, "per_day": None} for t in MESSAGE_TYPES},
        "per_number_per_day": None,
    }
)


def test_no_limits_means_no_refusal_and_no_state_per_number() -> None:
    lim = MemoryLimiter()
    items = [(N1, t) for t in MESSAGE_TYPES] * 400
    assert run(lim.acquire(A, items, UNLIMITED, None, T0)) == [None] * 1200
    assert lim.sizes() == {"day_counts": 0, "timestamps": 0}


def test_a_zero_limit_that_slipped_past_validation_refuses_instead_of_failing(
    new_limiter: NewLimiter,
) -> None:
    for name in ("per_minute", "per_hour", "per_day"):
        limits = WindowLimits()
        object.__setattr__(limits, name, 0)
        object.__setattr__(limits, "sliding_cap", 0 if name == "per_day" else 1)
        p = LimitPolicy(otp=limits, per_number_per_day=None)
        lim = new_limiter()
        assert one(lim, T0, policy=p) is not None, name
        assert one(lim, T0 + 7200, policy=p) is not None, name
    for name in ("per_number_per_day", "account_per_day", "account_per_month"):
        p = LimitPolicy()
        object.__setattr__(p, name, 0)
        assert one(new_limiter(), T0, msg_type="NOTIFY", policy=p) is not None, name
    assert one(new_limiter(), T0, platform=0) is errors.SYSTEM_LIMIT_CONTROL


# --- seeding ------------------------------------------------------------------------------------


def test_seeded_quotas_count_and_per_number_counts_start_empty(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    run(lim.seed_usage({A: 2, B: 1}, {A: 9, B: 1}, 3, T0))
    p = policy(account_per_day=3, account_per_month=10)
    assert one(lim, T0, policy=p) is None  # A: 3rd today, 10th this month
    assert one(lim, T0, N2, policy=p) is errors.MONTH_LIMIT_CONTROL
    assert one(lim, T0, account=B, policy=policy(account_per_day=2)) is None
    assert one(lim, T0, N2, account=B, policy=policy(account_per_day=2)) is (
        errors.DAY_LIMIT_CONTROL
    )
    # The platform: 3 seeded, 2 accepted since.
    assert one(lim, T0, N2, "NOTIFY", account="other", platform=6) is None
    assert one(lim, T0, N1, "NOTIFY", account="other", platform=6) is errors.SYSTEM_LIMIT_CONTROL


def test_seeds_belong_to_their_day_and_month(new_limiter: NewLimiter) -> None:
    lim = new_limiter()
    run(lim.seed_usage({A: 5}, {A: 5}, 5, at(2026, 3, 31, 23)))
    p = policy(account_per_day=5, account_per_month=5)
    assert one(lim, at(2026, 4, 1), policy=p, platform=5) is None


def test_negative_seeds_are_refused(new_limiter: NewLimiter) -> None:
    with pytest.raises(ValueError, match="account_day"):
        run(new_limiter().seed_usage({A: -1}, {}, 0, T0))
    with pytest.raises(ValueError, match="platform_day"):
        run(new_limiter().seed_usage({}, {}, -1, T0))


# --- memory -------------------------------------------------------------------------------------


def test_timestamps_survive_the_hour_change_only_while_they_count() -> None:
    lim = MemoryLimiter()
    p = policy(OTP={"per_hour": 2})
    assert one(lim, at(2026, 3, 10, 10, 50), policy=p) is None
    assert one(lim, at(2026, 3, 10, 11, 20), policy=p) is None  # moves to the new generation
    assert one(lim, at(2026, 3, 10, 11, 30), policy=p) is errors.BUSINESS_LIMIT_HOUR
    assert one(lim, at(2026, 3, 10, 12, 10), policy=p) is None  # 10:50 is out, 11:20 is in
    assert one(lim, at(2026, 3, 10, 12, 15), policy=p) is errors.BUSINESS_LIMIT_HOUR
    assert lim.sizes()["timestamps"] == 1
    one(lim, at(2026, 3, 10, 14, 0), N2, "NOTIFY")  # two hours on, nothing left to count
    assert lim.sizes()["timestamps"] == 0


def test_day_counts_are_dropped_at_midnight() -> None:
    lim = MemoryLimiter()
    run(lim.acquire(A, [(f"+44770090{i:04d}", "NOTIFY") for i in range(100)], DEFAULT, None, T0))
    assert lim.sizes()["day_counts"] == 100
    one(lim, at(2026, 3, 11), msg_type="MKT", policy=UNLIMITED)
    assert lim.sizes()["day_counts"] == 0


def test_memory_per_tracked_number_stays_small() -> None:
    # Measured: 94 bytes for a number's day count (its string included) and 55 more while it
    # holds one timestamp. A regression to a deque (760 bytes) or a per-number object shows.
    lim = MemoryLimiter()
    numbers = 20_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(numbers):
            run(lim.acquire(A, [(f"+86138{i:08d}", "OTP")], DEFAULT, None, T0 + i * 0.01))
        per_number = (tracemalloc.get_traced_memory()[0] - before) / numbers
    finally:
        tracemalloc.stop()
    assert lim.sizes() == {"day_counts": numbers, "timestamps": numbers}
    assert per_number < 200, per_number


# --- model test ---------------------------------------------------------------------------------


@dataclass
class Reference:
    """Obviously correct and slow: remembers every message it counted, scans them to count
    each window, and asks the domain's :func:`refusal`: the contract every limiter is held to."""

    sent: list[tuple[str, str, str, float]] = field(default_factory=list)
    seed_at: float | None = None
    seed_day: dict[str, int] = field(default_factory=dict)
    seed_month: dict[str, int] = field(default_factory=dict)
    seed_platform: int = 0

    def acquire(
        self,
        account: str,
        items: Sequence[tuple[str, str]],
        p: LimitPolicy,
        platform: int | None,
        now: float,
    ) -> list[ResultCode | None]:
        out: list[ResultCode | None] = []
        for number, msg_type in items:
            verdict = self._check(account, number, msg_type, p, platform, now)
            if verdict is None:
                self.sent.append((account, number, msg_type, now))
            out.append(verdict)
        return out

    def release(self, account: str, items: Sequence[tuple[str, str]], now: float) -> None:
        for number, msg_type in items:
            self.sent.remove((account, number, msg_type, now))

    def _check(
        self,
        account: str,
        number: str,
        msg_type: str,
        p: LimitPolicy,
        platform: int | None,
        now: float,
    ) -> ResultCode | None:
        day, month = utc_day_bounds(now), utc_month_bounds(now)

        def within(bounds: tuple[float, float], t: float | None) -> bool:
            return t is not None and bounds[0] <= t < bounds[1]

        seeded_day, seeded_month = within(day, self.seed_at), within(month, self.seed_at)
        today = [s for s in self.sent if within(day, s[3])]
        mine_today = [s for s in today if s[0] == account]
        mine_month = [s for s in self.sent if s[0] == account and within(month, s[3])]
        number_today = [s for s in mine_today if s[1] == number]
        type_today = [s for s in number_today if s[2] == msg_type]
        type_all = [s for s in self.sent if s[:3] == (account, number, msg_type)]
        usage = Usage(
            platform_day=len(today) + (self.seed_platform if seeded_day else 0),
            account_month=len(mine_month)
            + (self.seed_month.get(account, 0) if seeded_month else 0),
            account_day=len(mine_today) + (self.seed_day.get(account, 0) if seeded_day else 0),
            number_day=len(number_today),
            number_type_day=len(type_today),
            number_type_hour=sum(now - s[3] < 3600.0 for s in type_all),
            number_type_minute=sum(now - s[3] < 60.0 for s in type_all),
        )
        return refusal(p.by_type.get(msg_type), p, platform, usage)


small_limit = st.sampled_from([None, 1, 2, 3, 5])
window_limits = st.builds(WindowLimits, small_limit, small_limit, small_limit)
policies = st.builds(
    LimitPolicy,
    window_limits,
    window_limits,
    window_limits,
    st.sampled_from([None, 2, 4, 7]),
    st.sampled_from([None, 3, 6, 12]),
    st.sampled_from([None, 5, 10, 25]),
)
# Mostly the window edges, sometimes hours and days, sometimes anything.
steps = st.one_of(
    st.sampled_from(
        [0.0, 0.001, 0.5, 1.0, 30.0, 59.999, 60.0, 61.0, 600.0, 1800.0, 3599.999, 3600.0]
    ),
    st.sampled_from([0.0, 1.0, 59.999, 60.0, 61.0, 3600.0, 3601.0, 7300.0, 43_200.0, 86_400.0]),
    st.floats(0, 5000, allow_nan=False),
)
# Few numbers and mostly verification codes, so that windows fill up.
item = st.tuples(
    st.sampled_from([N1, N1, N2]),
    st.sampled_from(["OTP", "OTP", "OTP", "NOTIFY", "MKT", "XYZ"]),
)
ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("acquire"),
            st.sampled_from([A, B]),
            st.lists(item, min_size=1, max_size=3),
            steps,
        ),
        st.tuples(
            st.just("acquire"),
            st.sampled_from([A, B]),
            st.lists(item, min_size=1, max_size=3),
            steps,
        ),
        st.tuples(st.just("release"), st.integers(0, 10_000), st.integers(0, 7), st.just(0.0)),
    ),
    max_size=80,
)
starts = st.sampled_from(
    [
        T0,
        at(2026, 1, 31, 23, 58, 30),  # day and month end within minutes
        at(2024, 2, 29, 22, 59, 59.5),  # leap day, hour and day ends
        at(2026, 12, 31, 23, 0),  # year end
    ]
)
seeds = st.one_of(
    st.none(),
    st.tuples(st.integers(0, 8), st.integers(0, 8), st.integers(0, 30)),
)


# new_limiter is a function-scoped fixture, which Hypothesis warns about because it is not made
# again for each example; it is a factory, and each example makes its own empty limiter.
@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    policy_a=policies,
    policy_b=policies,
    platform=st.sampled_from([None, 4, 9, 30]),
    start=starts,
    seed=seeds,
    operations=ops,
)
def test_every_limiter_matches_the_reference(
    new_limiter: NewLimiter,
    policy_a: LimitPolicy,
    policy_b: LimitPolicy,
    platform: int | None,
    start: float,
    seed: tuple[int, int, int] | None,
    operations: list[tuple[str, str | int, object, float]],
) -> None:
    lim, ref = new_limiter(), Reference()
    account_policy = {A: policy_a, B: policy_b}
    now = start
    if seed is not None:
        day, month, platform_day = seed
        run(lim.seed_usage({A: day}, {A: day + month}, platform_day, now))
        ref.seed_at, ref.seed_day, ref.seed_month = now, {A: day}, {A: day + month}
        ref.seed_platform = platform_day
    # (account, acquire time, items still counted) of each acquire, for releases to pick from.
    counted: list[tuple[str, float, list[tuple[str, str]]]] = []
    for op, arg, extra, step in operations:
        now += step
        if op == "acquire":
            assert isinstance(arg, str)
            items = extra
            assert isinstance(items, list)
            got = run(lim.acquire(arg, items, account_policy[arg], platform, now))
            want = ref.acquire(arg, items, account_policy[arg], platform, now)
            assert got == want, (arg, items, now - start)
            counted.append((arg, now, [i for i, v in zip(items, got, strict=True) if v is None]))
        elif counted:
            assert isinstance(arg, int)
            assert isinstance(extra, int)
            account, when, still = counted[arg % len(counted)]
            chosen = [i for k, i in enumerate(still) if extra >> k & 1]
            for i in chosen:
                still.remove(i)
            run(lim.release(account, chosen, when))
            ref.release(account, chosen, when)


sliding_only = st.builds(
    LimitPolicy,
    st.builds(WindowLimits, small_limit, small_limit, st.none()),
    per_number_per_day=st.none(),
)
edge_steps = st.sampled_from(
    [0.0, 0.5, 1.0, 59.5, 59.999, 60.0, 60.5, 61.0, 1800.0, 3540.0, 3599.5, 3599.999, 3600.0]
)


@settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    p=sliding_only,
    start=starts,
    operations=st.lists(
        st.tuples(st.booleans(), st.integers(1, 3), st.integers(0, 10_000), edge_steps),
        max_size=60,
    ),
)
def test_sliding_windows_match_the_reference(
    new_limiter: NewLimiter,
    p: LimitPolicy,
    start: float,
    operations: list[tuple[bool, int, int, float]],
) -> None:
    """The windows alone, one number, times on the window edges: where an off-by-one hides."""
    lim, ref = new_limiter(), Reference()
    now = start
    counted: list[tuple[float, list[tuple[str, str]]]] = []
    for is_release, size, pick, step in operations:
        now += step
        if not is_release:
            items = [(N1, "OTP")] * size
            got = run(lim.acquire(A, items, p, None, now))
            assert got == ref.acquire(A, items, p, None, now), now - start
            counted.append((now, [i for i, v in zip(items, got, strict=True) if v is None]))
        elif counted:
            when, still = counted[pick % len(counted)]
            if still:
                still.pop()
                run(lim.release(A, [(N1, "OTP")], when))
                ref.release(A, [(N1, "OTP")], when)


# --- the shared limiter (Redis) -----------------------------------------------------------------


@pytest.fixture
def second_client() -> Iterator[Redis]:
    """A client with connections of its own: another process, as far as Redis can tell."""
    client = Redis.from_url(redis_url())
    yield client
    run(client.aclose())


async def _keys(client: Redis, prefix: str) -> dict[str, int]:
    """Every key under ``prefix`` (named without it), with its time to live in milliseconds."""
    return {
        key.decode()[len(prefix) :]: await client.pttl(key)
        async for key in client.scan_iter(match=f"{prefix}*", count=1000)
    }


def test_two_processes_enforce_one_verification_code_a_minute_together(
    redis_client: Redis, second_client: Redis, redis_prefix: str
) -> None:
    """Two limiters, each with its own connections, acquire for one number at once: exactly one
    is counted, and once the refusals are given back the counts are those of that one."""
    limiters = [RedisLimiter(c, prefix=redis_prefix) for c in (redis_client, second_client)]

    async def race() -> list[list[ResultCode | None]]:
        return await asyncio.gather(
            *(limiters[i % 2].acquire(A, [(N1, "OTP")], DEFAULT, None, T0) for i in range(40))
        )

    verdicts = [verdict for [verdict] in run(race())]
    assert verdicts.count(None) == 1
    # Racing acquires may see each other's counts before they are given back, so a refusal may
    # name a wider limit (the day's 10) than the minute's: over-refusal, for one round trip.
    assert set(verdicts) - {None} <= {
        errors.BUSINESS_LIMIT_CONTROL_MINUTE,
        errors.BUSINESS_LIMIT_HOUR,
        errors.BUSINESS_LIMIT_DAY,
    }
    # Given back: the minute refuses (not the day), and the account has counted one message.
    assert one(limiters[0], T0 + 1) is errors.BUSINESS_LIMIT_CONTROL_MINUTE
    p = policy(account_per_day=3)
    assert one(limiters[1], T0 + 60, policy=p) is None  # the account's second today
    assert one(limiters[0], T0 + 61, N2, "NOTIFY", policy=p) is None  # its third
    assert one(limiters[1], T0 + 62, N2, "MKT", policy=p) is errors.DAY_LIMIT_CONTROL


def test_a_new_limiter_sees_the_counts_and_a_seed_never_lowers_them(
    redis_client: Redis, second_client: Redis, redis_prefix: str
) -> None:
    """A restarted process (a new limiter, new connections) finds the counts where they were:
    per-number limits hold across restarts, and its seed from the store (which lags the
    messages in flight) raises the quotas but never lowers them."""
    p = policy(account_per_day=2)
    assert one(RedisLimiter(redis_client, prefix=redis_prefix), T0, policy=p) is None
    restarted = RedisLimiter(second_client, prefix=redis_prefix)
    run(restarted.seed_usage({A: 0}, {A: 0}, 0, T0))  # the store has not seen it yet
    assert one(restarted, T0 + 1, policy=p) is errors.BUSINESS_LIMIT_CONTROL_MINUTE
    assert one(restarted, T0 + 2, N2, policy=p) is None
    assert one(restarted, T0 + 3, "+447700900003", policy=p) is errors.DAY_LIMIT_CONTROL
    run(restarted.seed_usage({B: 5}, {}, 0, T0))  # a Redis that lost B's count gets it back
    assert one(restarted, T0, account=B, policy=policy(account_per_day=6)) is None
    assert one(restarted, T0, N2, account=B, policy=policy(account_per_day=6)) is (
        errors.DAY_LIMIT_CONTROL
    )


def test_every_key_expires_with_its_window(redis_client: Redis, redis_prefix: str) -> None:
    """TTLs are durations from the call, computed from the logical ``now``: this test's clock
    is in March 2026, and a PEXPIREAT at its day's end would already have deleted the keys."""
    lim = RedisLimiter(redis_client, prefix=redis_prefix)
    now = at(2026, 3, 10, 18)  # six hours before midnight, 21 days and 6 hours before April
    p = policy(MKT={"per_minute": 2}, account_per_month=100)
    items = [(N1, "OTP"), (N2, "NOTIFY"), (N2, "MKT")]
    began = time.monotonic()
    assert run(lim.acquire(A, items, p, None, now)) == [None] * 3
    ttls = run(_keys(redis_client, redis_prefix))
    elapsed_ms = (time.monotonic() - began) * 1000 + 1  # a busy machine may take seconds
    day, hour, minute = 6 * 3_600_000, 3_600_000, 60_000
    month = 21 * 86_400_000 + day
    day_number = int(now // 86_400)
    expected = {
        f"lim:pd:{day_number}": day,
        f"lim:ad:{day_number}:{A}": day,
        f"lim:am:202603:{A}": month,
        f"lim:nd:{day_number}:{N1}:{A}": day,
        f"lim:nd:{day_number}:{N2}:{A}": day,
        f"lim:w:OTP:{N1}:{A}": hour,  # an hour limit: kept for the hour
        f"lim:w:MKT:{N2}:{A}": minute,  # a minute limit only: kept for the minute
    }
    assert set(ttls) == set(expected)
    for key, window in expected.items():
        # Counted down by the time the test took, and at most GRACE_MS past the window's end.
        assert window - elapsed_ms < ttls[key] <= window + GRACE_MS, key


def test_refused_and_unlimited_messages_leave_no_key_per_number(
    redis_client: Redis, redis_prefix: str
) -> None:
    """A flood past a quota is counted, then given back whole: nothing stays per number, as
    in the memory limiter, where a quota refusal never reaches the per-number state."""
    lim = RedisLimiter(redis_client, prefix=redis_prefix)
    numbers = [f"+4477009{i:05d}" for i in range(100)]
    verdicts = run(
        lim.acquire(A, [(n, "OTP") for n in numbers], policy(account_per_day=3), None, T0)
    )
    assert verdicts == [None] * 3 + [errors.DAY_LIMIT_CONTROL] * 97
    assert run(lim.acquire(B, [(n, "NOTIFY") for n in numbers], UNLIMITED, None, T0)) == (
        [None] * 100
    )
    per_number = [key for key in run(_keys(redis_client, redis_prefix)) if ":+" in key]
    assert sorted(per_number) == sorted(
        f"lim:{kind}:{n}:{A}" for n in numbers[:3] for kind in (f"nd:{int(T0 // 86_400)}", "w:OTP")
    )


def test_keys_stay_under_the_prefix(redis_client: Redis, redis_prefix: str) -> None:
    """Two installations (or tests) on one server, by prefix: neither sees the other."""
    ours = RedisLimiter(redis_client, prefix=f"{redis_prefix}one:")
    theirs = RedisLimiter(redis_client, prefix=f"{redis_prefix}two:")
    assert one(ours, T0) is None
    assert one(theirs, T0) is None
    run(ours.release(A, [(N1, "OTP")], T0))
    assert one(theirs, T0 + 1) is errors.BUSINESS_LIMIT_CONTROL_MINUTE


def test_racing_batches_never_exceed_a_limit_and_leave_exact_counts(
    redis_client: Redis, second_client: Redis, redis_prefix: str
) -> None:
    """Two processes send batches at once, mixing numbers and types past an account quota: no
    limit is exceeded (a refusal may be too wide for a moment, never too narrow), and once
    every refusal is given back the shared counts are exactly those of what was accepted."""
    limiters = [RedisLimiter(c, prefix=redis_prefix) for c in (redis_client, second_client)]
    numbers = [f"+4477009000{i:02d}" for i in range(8)]
    p = policy(account_per_day=40, NOTIFY={"per_day": 3}, per_number_per_day=5)
    batches = [
        [(numbers[(b * 3 + i) % 8], ("OTP", "NOTIFY", "NOTIFY")[(b + i) % 3]) for i in range(4)]
        for b in range(30)
    ]

    async def race() -> list[list[ResultCode | None]]:
        return await asyncio.gather(
            *(limiters[b % 2].acquire(A, batch, p, None, T0) for b, batch in enumerate(batches))
        )

    accepted = [
        item
        for batch, verdicts in zip(batches, run(race()), strict=True)
        for item, verdict in zip(batch, verdicts, strict=True)
        if verdict is None
    ]
    # The first script to run saw nothing counted, so its first item is accepted; how many
    # more depends on the interleaving (refusals racing with their give-backs).
    assert 1 <= len(accepted) <= 40
    for number in numbers:
        mine = [t for n, t in accepted if n == number]
        assert mine.count("OTP") <= 1  # one a minute
        assert mine.count("NOTIFY") <= 3
        assert len(mine) <= 5
    # The counts left are exactly the accepted ones: the account has 40 - len(accepted) left.
    fresh = [(f"+4477009001{i:02d}", "MKT") for i in range(41 - len(accepted))]
    verdicts = run(limiters[0].acquire(A, fresh, p, None, T0 + 1))
    assert verdicts == [None] * (40 - len(accepted)) + [errors.DAY_LIMIT_CONTROL]


def test_release_takes_back_its_own_stamp_of_an_instant_two_processes_share(
    redis_client: Redis, second_client: Redis, redis_prefix: str
) -> None:
    """Two processes accept a message to one number at the same instant; one releases its own.
    Its own stamp goes, not the other's, which that process may be about to give back."""
    first, second = (RedisLimiter(c, prefix=redis_prefix) for c in (redis_client, second_client))
    # White box: the first's stamp sorts first among equal scores, so "the first stamp of that
    # instant" would be the wrong one.
    first._token, second._token = "00000000", "ffffffff"
    p = policy(OTP={"per_minute": 3})
    assert one(first, T0, policy=p) is None
    assert one(second, T0, policy=p) is None
    run(second.release(A, [(N1, "OTP")], T0))

    async def members() -> list[bytes]:
        return await redis_client.zrange(f"{redis_prefix}lim:w:OTP:{N1}:{A}", 0, -1)

    [left] = run(members())
    assert left.startswith(b"00000000")
