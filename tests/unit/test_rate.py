"""TokenBucket: bursts of up to ``rate``, refill at ``rate`` per second, on the caller's clock."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.rate import TokenBucket

#: Times are sums of powers of two, so the refill arithmetic is exact in binary floating point.
T0 = 1024.0


def _burst(bucket: TokenBucket, now: float, limit: int = 10_000) -> int:
    """How many events the bucket allows at one instant."""
    allowed = 0
    while allowed < limit and bucket.allow(now):
        allowed += 1
    return allowed


@pytest.mark.parametrize("rate", [1, 2, 5, 100, 2.5])
def test_a_new_bucket_allows_a_burst_of_rate(rate: float) -> None:
    bucket = TokenBucket(rate, T0)
    assert _burst(bucket, T0) == math.floor(rate)
    assert not bucket.allow(T0)


def test_tokens_come_back_at_rate_per_second() -> None:
    bucket = TokenBucket(8, T0)
    assert _burst(bucket, T0) == 8
    assert not bucket.allow(T0 + 1 / 16)  # half a token
    assert bucket.allow(T0 + 1 / 8)  # 0.5 + 0.5: one token
    assert not bucket.allow(T0 + 1 / 8)
    assert _burst(bucket, T0 + 1 / 2) == 3
    assert _burst(bucket, T0 + 5 / 8) == 1


def test_a_long_pause_refills_only_up_to_rate() -> None:
    bucket = TokenBucket(5, T0)
    assert _burst(bucket, T0) == 5
    assert _burst(bucket, T0 + 3600) == 5


def test_an_idle_full_bucket_does_not_grow() -> None:
    bucket = TokenBucket(3, T0)
    assert _burst(bucket, T0 + 10_000) == 3


def test_the_clock_going_backwards_mints_no_tokens() -> None:
    bucket = TokenBucket(4, T0)
    assert _burst(bucket, T0) == 4
    assert not bucket.allow(T0 - 100)
    assert not bucket.allow(T0 - 1000)
    assert not bucket.allow(T0 - 2000)


def test_the_clock_going_back_and_forth_mints_no_tokens() -> None:
    bucket = TokenBucket(4, T0)
    assert _burst(bucket, T0) == 4  # the bucket is empty at T0
    assert not bucket.allow(T0 - 100)
    # Still 50 s before the burst that emptied it: no time has passed since, so no token.
    assert not bucket.allow(T0 - 50)
    assert _burst(bucket, T0 + 1 / 4) == 1  # a quarter second after the burst: one token


def test_a_steady_stream_at_rate_is_always_allowed() -> None:
    bucket = TokenBucket(16, T0)
    assert _burst(bucket, T0) == 16
    for i in range(1, 201):
        assert bucket.allow(T0 + i / 16), i
        assert not bucket.allow(T0 + i / 16), i


@pytest.mark.parametrize("rate", [0, -1, -0.5, 0.0])
def test_a_rate_not_above_zero_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(rate, T0)


@given(
    rate=st.integers(min_value=1, max_value=50),
    steps=st.lists(
        st.tuples(st.floats(min_value=-5, max_value=5, allow_nan=False), st.integers(0, 60)),
        max_size=40,
    ),
)
def test_never_more_than_rate_plus_elapsed_time(rate: int, steps: list[tuple[float, int]]) -> None:
    """Over any run, events allowed ≤ rate (the burst) + rate × the forward time that passed,
    and at no instant more than ``rate`` at once."""
    bucket = TokenBucket(rate, T0)
    now, forward, allowed = T0, 0.0, 0
    for delta, tries in steps:
        if delta > 0:
            forward += delta
        now += delta
        at_once = sum(bucket.allow(now) for _ in range(tries))
        assert at_once <= rate
        allowed += at_once
        assert allowed <= rate + rate * forward + 1e-9


def test_a_burst_below_rate_spreads_the_events() -> None:
    bucket = TokenBucket(100, T0, burst=4)
    assert _burst(bucket, T0) == 4
    assert _burst(bucket, T0 + 1) == 4  # a second idle refills only up to the burst
    assert bucket.wait_s(T0 + 1) == pytest.approx(1 / 100)


def test_a_rate_below_one_per_second_still_allows_with_a_burst_of_one() -> None:
    bucket = TokenBucket(0.5, T0, burst=1)
    assert bucket.allow(T0)
    assert not bucket.allow(T0 + 1)
    assert bucket.wait_s(T0 + 1) == pytest.approx(1)
    assert bucket.allow(T0 + 2)


def test_wait_s_is_zero_while_a_token_is_there() -> None:
    bucket = TokenBucket(8, T0)
    assert bucket.wait_s(T0) == 0
    assert _burst(bucket, T0) == 8
    assert bucket.wait_s(T0) == pytest.approx(1 / 8)
    assert bucket.wait_s(T0 + 1 / 16) == pytest.approx(1 / 16)


def test_a_burst_under_one_is_refused() -> None:
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(10, T0, burst=0.5)
