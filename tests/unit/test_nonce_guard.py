"""The in-memory replay guard: replays refused, memory released once replays are impossible."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.adapters.replay.memory import MemoryNonceGuard

T0 = datetime(2026, 11, 24, 22, 55, 27, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
BUCKET = timedelta(minutes=1)
AK = "LTAI5tKeyOne"


def test_a_replay_is_refused() -> None:
    guard = MemoryNonceGuard(WINDOW)
    assert guard.check_and_remember(AK, "n1", T0, T0)
    assert not guard.check_and_remember(AK, "n1", T0, T0)
    assert not guard.check_and_remember(AK, "n1", T0, T0 + timedelta(minutes=14))


def test_the_same_nonce_under_another_key_is_accepted() -> None:
    guard = MemoryNonceGuard(WINDOW)
    assert guard.check_and_remember(AK, "n1", T0, T0)
    assert guard.check_and_remember("LTAI5tKeyTwo", "n1", T0, T0)
    assert not guard.check_and_remember("LTAI5tKeyTwo", "n1", T0, T0)


def test_another_nonce_under_the_same_key_is_accepted() -> None:
    guard = MemoryNonceGuard(WINDOW)
    assert guard.check_and_remember(AK, "n1", T0, T0)
    assert guard.check_and_remember(AK, "n2", T0, T0)


def test_key_and_nonce_boundaries_do_not_blur() -> None:
    guard = MemoryNonceGuard(WINDOW)
    assert guard.check_and_remember("ab", "c", T0, T0)
    assert guard.check_and_remember("a", "bc", T0, T0)


def test_a_reused_nonce_is_refused_even_with_another_timestamp() -> None:
    guard = MemoryNonceGuard(WINDOW)
    assert guard.check_and_remember(AK, "n1", T0, T0)
    assert not guard.check_and_remember(AK, "n1", T0 + timedelta(minutes=3), T0)


def test_forgotten_once_the_window_has_passed() -> None:
    guard = MemoryNonceGuard(WINDOW, bucket=BUCKET)
    assert guard.check_and_remember(AK, "n1", T0, T0)
    assert not guard.check_and_remember(AK, "n1", T0, T0 + WINDOW - timedelta(seconds=1))
    assert guard.check_and_remember(AK, "n1", T0, T0 + WINDOW + BUCKET)
    assert len(guard) == 1  # the new sighting only; the old bucket is gone


def test_a_client_clock_ahead_is_remembered_until_its_own_timestamp_plus_the_window() -> None:
    guard = MemoryNonceGuard(WINDOW, bucket=BUCKET)
    ahead = T0 + timedelta(minutes=10)
    assert guard.check_and_remember(AK, "n1", ahead, T0)
    # T0 + 20 min is past T0 + window but the request is acceptable until ahead + window.
    assert not guard.check_and_remember(AK, "n1", ahead, T0 + timedelta(minutes=20))
    assert not guard.check_and_remember(AK, "n1", ahead, ahead + WINDOW - timedelta(seconds=1))
    assert guard.check_and_remember(AK, "n1", ahead, ahead + WINDOW + BUCKET)


def test_a_client_clock_behind_is_remembered_until_we_saw_it_plus_the_window() -> None:
    guard = MemoryNonceGuard(WINDOW, bucket=BUCKET)
    behind = T0 - timedelta(minutes=10)
    assert guard.check_and_remember(AK, "n1", behind, T0)
    assert not guard.check_and_remember(AK, "n1", behind, T0 + WINDOW - timedelta(seconds=1))
    assert guard.check_and_remember(AK, "n1", behind, T0 + WINDOW + BUCKET)


def test_naive_datetimes_are_refused() -> None:
    guard = MemoryNonceGuard(WINDOW)
    naive = datetime(2026, 11, 24, 22, 55, 27)  # naive on purpose
    with pytest.raises(ValueError, match="timezone-aware"):
        guard.check_and_remember(AK, "n1", naive, T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        guard.check_and_remember(AK, "n1", T0, naive)


@pytest.mark.parametrize(
    ("window", "bucket"), [(timedelta(0), BUCKET), (WINDOW, timedelta(0)), (-WINDOW, BUCKET)]
)
def test_window_and_bucket_must_be_positive(window: timedelta, bucket: timedelta) -> None:
    with pytest.raises(ValueError, match="positive"):
        MemoryNonceGuard(window, bucket=bucket)


def test_memory_stays_bounded_under_sustained_traffic() -> None:
    """40 simulated minutes at 20 requests/s: only about window + one bucket is kept."""
    guard = MemoryNonceGuard(WINDOW, bucket=BUCKET)
    rate = 20
    bound = rate * int((WINDOW + BUCKET).total_seconds())
    sizes = []
    for second in range(40 * 60):
        now = T0 + timedelta(seconds=second)
        for i in range(rate):
            assert guard.check_and_remember(AK, f"{second}-{i}", now, now)
        sizes.append(len(guard))
    assert max(sizes) <= bound
    assert sizes[-1] >= rate * int(WINDOW.total_seconds())  # and nothing was forgotten early


def test_memory_per_entry_is_small() -> None:
    """The number quoted in the module docstring (about 90 B) with room for allocator noise."""
    guard = MemoryNonceGuard(WINDOW)
    count = 60_000
    nonces = [f"{i:032x}" for i in range(count)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for nonce in nonces:
            guard.check_and_remember(AK, nonce, T0, T0)
        per_entry = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert len(guard) == count
    assert per_entry < 130, per_entry


# A model of the contract: a pair is remembered until max(timestamp, now) + window, and at most
# one bucket width longer (buckets are dropped whole).

events = st.lists(
    st.tuples(
        st.integers(0, 2),  # key
        st.integers(0, 3),  # nonce
        st.integers(-20 * 60, 20 * 60),  # client clock offset, seconds
        st.integers(0, 10 * 60),  # how far the server clock moves first, seconds
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(events=events)
def test_matches_the_model(events: list[tuple[int, int, int, int]]) -> None:
    guard = MemoryNonceGuard(WINDOW, bucket=BUCKET)
    expiry: dict[tuple[int, int], datetime] = {}
    now = T0
    for key, nonce, offset, advance in events:
        now += timedelta(seconds=advance)
        timestamp = now + timedelta(seconds=offset)
        accepted = guard.check_and_remember(f"key{key}", f"nonce{nonce}", timestamp, now)
        until = expiry.get((key, nonce))
        if until is not None and now < until:
            assert not accepted, "a replay inside the window was accepted"
        elif until is None or now >= until + BUCKET:
            assert accepted, "a fresh or long-expired nonce was refused"
        if accepted:
            expiry[(key, nonce)] = max(timestamp, now) + WINDOW
