"""A restart does not reset per-number limits: the memory limiter is seeded with what the store
accepted in the windows still open (``MemoryLimiter.seed_numbers``), and then refuses what it
would have refused had the process kept running."""

from __future__ import annotations

import calendar

from smsgate import errors
from smsgate.adapters.limits.memory import MemoryLimiter
from smsgate.domain.limits import LimitPolicy
from smsgate.errors import ResultCode

ACCOUNT = "acc-1"
NUMBER = "+6591234567"
DEFAULT = LimitPolicy()


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: float = 0.0) -> float:
    return calendar.timegm((y, mo, d, h, mi, 0, 0, 0, 0)) + s


T0 = at(2026, 3, 10, 9, 0)


async def send(
    limiter: MemoryLimiter, now: float, msg_type: str = "OTP", number: str = NUMBER
) -> ResultCode | None:
    (verdict,) = await limiter.acquire(ACCOUNT, [(number, msg_type)], DEFAULT, None, now)
    return verdict


async def restarted(records: list[tuple[str, str, float]], now: float) -> MemoryLimiter:
    limiter = MemoryLimiter()
    await limiter.seed_numbers(ACCOUNT, records, DEFAULT, now)
    return limiter


async def test_the_minute_limit_holds_across_a_restart() -> None:
    limiter = await restarted([(NUMBER, "OTP", T0)], T0 + 5)

    assert await send(limiter, T0 + 30) is errors.BUSINESS_LIMIT_CONTROL_MINUTE
    assert await send(limiter, T0 + 60) is None  # the window ends where it would have


async def test_the_hour_limit_counts_what_was_sent_before_midnight() -> None:
    midnight = at(2026, 3, 11)
    sent = [midnight - 1800 + i * 61 for i in range(5)]  # the last half hour of the day before
    limiter = await restarted([(NUMBER, "OTP", t) for t in sent], midnight + 60)

    assert await send(limiter, midnight + 120) is errors.BUSINESS_LIMIT_HOUR
    assert await send(limiter, sent[0] + 3600) is None


async def test_the_day_limit_counts_the_whole_utc_day_and_not_the_day_before() -> None:
    day = at(2026, 3, 10)
    today = [(NUMBER, "OTP", day + i * 3601) for i in range(10)]
    yesterday = [(NUMBER, "OTP", day - 7200 - i * 3601) for i in range(5)]
    limiter = await restarted(yesterday + today, day + 11 * 3601)

    assert await send(limiter, day + 12 * 3601) is errors.BUSINESS_LIMIT_DAY
    assert await send(limiter, at(2026, 3, 11)) is None


async def test_other_numbers_and_other_types_are_not_held_back() -> None:
    limiter = await restarted([(NUMBER, "OTP", T0)], T0 + 5)

    assert await send(limiter, T0 + 6, number="+6598765432") is None
    assert await send(limiter, T0 + 7, msg_type="NOTIFY") is None


async def test_nothing_is_kept_for_what_no_limit_needs() -> None:
    no_number_limits = DEFAULT.merged(
        {
            "per_number_per_day": None,
            "NOTIFY": {"per_minute": None, "per_hour": None, "per_day": None},
        }
    )
    limiter = MemoryLimiter()
    await limiter.seed_numbers(ACCOUNT, [(NUMBER, "NOTIFY", T0)], no_number_limits, T0 + 5)

    assert limiter.sizes() == {"day_counts": 0, "timestamps": 0}


async def test_records_of_an_unknown_type_are_skipped() -> None:
    limiter = await restarted([(NUMBER, "FAX", T0)], T0 + 5)

    assert limiter.sizes() == {"day_counts": 0, "timestamps": 0}
