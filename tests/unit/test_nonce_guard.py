"""The replay guards: replays refused, memory released once replays are impossible.

The behaviour tests and the model test run over :data:`GUARDS`, the in-memory guard and the
Redis one (skipped, with the address tried, when Redis is not reachable; see
``tests/services.py``), through the port's coroutine. Tests of the memory guard's buckets and
of the Redis guard's keys name their guard."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
import tracemalloc
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from smsgate.adapters.replay.memory import MemoryNonceGuard
from smsgate.adapters.replay.redis import GRACE_MS, RedisNonceGuard
from smsgate.ports.replay import NonceGuard
from tests.services import delete_redis_keys, redis_url

T0 = datetime(2026, 11, 24, 22, 55, 27, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
BUCKET = timedelta(minutes=1)
AK = "LTAI5tKeyOne"

T = TypeVar("T")
_LOOP = asyncio.new_event_loop()


@pytest.fixture(scope="module", autouse=True)
def _loop_closed_after_the_module() -> Iterator[None]:
    yield
    _LOOP.close()


def run(work: Coroutine[Any, Any, T]) -> T:
    """Await a guard from these synchronous tests (Hypothesis drives some), on one loop."""
    return _LOOP.run_until_complete(work)


#: Every NonceGuard, by name: each is held to the behaviour tests and the model.
GUARDS = ("memory", "redis")
#: Makes a fresh guard, empty, of the kind under test (window WINDOW; buckets of BUCKET).
NewGuard: TypeAlias = Callable[[], NonceGuard]


@pytest.fixture(scope="module")
def redis_client() -> Iterator[Redis]:
    client = Redis.from_url(redis_url())
    yield client
    run(client.aclose())


@pytest.fixture
def redis_prefix(redis_client: Redis) -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted after the test."""
    prefix = f"smsgate-test:{secrets.token_hex(8)}:"
    yield prefix
    run(delete_redis_keys(redis_client, prefix))


@pytest.fixture(params=GUARDS)
def new_guard(request: pytest.FixtureRequest) -> NewGuard:
    """Makes empty guards of one kind; each Redis guard gets a prefix of its own under the
    test's, so that every Hypothesis example starts empty."""
    if request.param == "memory":
        return lambda: MemoryNonceGuard(WINDOW, bucket=BUCKET)
    client: Redis = request.getfixturevalue("redis_client")
    prefix: str = request.getfixturevalue("redis_prefix")
    serial = itertools.count()
    return lambda: RedisNonceGuard(client, WINDOW, prefix=f"{prefix}{next(serial)}:")


def check(
    guard: NonceGuard, access_key_id: str, nonce: str, timestamp: datetime, now: datetime
) -> bool:
    return run(guard.check_and_remember(access_key_id, nonce, timestamp, now))


def test_a_replay_is_refused(new_guard: NewGuard) -> None:
    guard = new_guard()
    assert check(guard, AK, "n1", T0, T0)
    assert not check(guard, AK, "n1", T0, T0)
    assert not check(guard, AK, "n1", T0, T0 + timedelta(minutes=14))


def test_the_same_nonce_under_another_key_is_accepted(new_guard: NewGuard) -> None:
    guard = new_guard()
    assert check(guard, AK, "n1", T0, T0)
    assert check(guard, "LTAI5tKeyTwo", "n1", T0, T0)
    assert not check(guard, "LTAI5tKeyTwo", "n1", T0, T0)


def test_another_nonce_under_the_same_key_is_accepted(new_guard: NewGuard) -> None:
    guard = new_guard()
    assert check(guard, AK, "n1", T0, T0)
    assert check(guard, AK, "n2", T0, T0)


def test_key_and_nonce_boundaries_do_not_blur(new_guard: NewGuard) -> None:
    guard = new_guard()
    assert check(guard, "ab", "c", T0, T0)
    assert check(guard, "a", "bc", T0, T0)


def test_a_reused_nonce_is_refused_even_with_another_timestamp(new_guard: NewGuard) -> None:
    guard = new_guard()
    assert check(guard, AK, "n1", T0, T0)
    assert not check(guard, AK, "n1", T0 + timedelta(minutes=3), T0)


def test_forgotten_once_the_window_has_passed(new_guard: NewGuard) -> None:
    guard = new_guard()
    assert check(guard, AK, "n1", T0, T0)
    assert not check(guard, AK, "n1", T0, T0 + WINDOW - timedelta(seconds=1))
    assert check(guard, AK, "n1", T0, T0 + WINDOW + BUCKET)
    if isinstance(guard, MemoryNonceGuard):
        assert len(guard) == 1  # the new sighting only; the old bucket is gone


def test_a_client_clock_ahead_is_remembered_until_its_own_timestamp_plus_the_window(
    new_guard: NewGuard,
) -> None:
    guard = new_guard()
    ahead = T0 + timedelta(minutes=10)
    assert check(guard, AK, "n1", ahead, T0)
    # T0 + 20 min is past T0 + window but the request is acceptable until ahead + window.
    assert not check(guard, AK, "n1", ahead, T0 + timedelta(minutes=20))
    assert not check(guard, AK, "n1", ahead, ahead + WINDOW - timedelta(seconds=1))
    assert check(guard, AK, "n1", ahead, ahead + WINDOW + BUCKET)


def test_a_client_clock_behind_is_remembered_until_we_saw_it_plus_the_window(
    new_guard: NewGuard,
) -> None:
    guard = new_guard()
    behind = T0 - timedelta(minutes=10)
    assert check(guard, AK, "n1", behind, T0)
    assert not check(guard, AK, "n1", behind, T0 + WINDOW - timedelta(seconds=1))
    assert check(guard, AK, "n1", behind, T0 + WINDOW + BUCKET)


def test_naive_datetimes_are_refused(new_guard: NewGuard) -> None:
    guard = new_guard()
    naive = datetime(2026, 11, 24, 22, 55, 27)  # naive on purpose
    with pytest.raises(ValueError, match="timezone-aware"):
        check(guard, AK, "n1", naive, T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        check(guard, AK, "n1", T0, naive)


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
            assert guard.remember_if_new(AK, f"{second}-{i}", now, now)
        sizes.append(len(guard))
    assert max(sizes) <= bound
    assert sizes[-1] >= rate * int(WINDOW.total_seconds())  # and nothing was forgotten early


def _fill(guard: MemoryNonceGuard, start: datetime, minutes: int, per_minute: int) -> None:
    """``per_minute`` fresh nonces ``"<minute>-<i>"`` a minute, spread over each minute."""
    for minute in range(minutes):
        for i in range(per_minute):
            now = start + timedelta(minutes=minute, seconds=i * 59 / per_minute)
            assert guard.remember_if_new(AK, f"{minute}-{i}", now, now)


def test_replays_are_caught_in_sealed_and_open_buckets() -> None:
    guard = MemoryNonceGuard(WINDOW, bucket=BUCKET)
    # Minute-aligned, so the first nonce of each minute lands in the previous minute's expiry
    # bucket, which is sealed already: sealing it again merges it.
    start = T0.replace(second=0)
    minutes, per_minute = 6, 2_000
    _fill(guard, start, minutes, per_minute)
    later = start + timedelta(minutes=minutes - 1, seconds=59.5)
    # White box: the first five minutes are sealed, the last one is still open.
    assert len(guard._sealed) >= minutes - 1
    assert sum(len(pending) for pending in guard._open.values()) == per_minute
    for minute in range(minutes):
        for i in range(per_minute):
            assert not guard.remember_if_new(AK, f"{minute}-{i}", later, later), (minute, i)
    # Enough fresh nonces that some pass a bucket's prefilter and are looked up in vain.
    for i in range(20_000):
        assert guard.remember_if_new(AK, f"fresh-{i}", later, later)
    assert len(guard) == minutes * per_minute + 20_000
    for i in range(20_000):
        assert not guard.remember_if_new(AK, f"fresh-{i}", later, later)


def test_a_bucket_sealed_several_times_still_catches_every_replay() -> None:
    """A client clock ahead fills an expiry bucket minutes before in-sync clients do."""
    guard = MemoryNonceGuard(WINDOW, bucket=BUCKET)
    ahead = T0 + timedelta(minutes=5)
    assert guard.remember_if_new(AK, "early-1", ahead, T0)
    # Sealed on entering the next minute; the same bucket gets one more (prefilter kept) ...
    assert guard.remember_if_new(AK, "early-2", ahead, T0 + timedelta(minutes=1))
    assert guard.remember_if_new(AK, "other", T0, T0 + timedelta(minutes=2))
    # ... then, from in-sync clients five minutes on, enough to rebuild the prefilter.
    for i in range(500):
        now = ahead + timedelta(seconds=i * 30 / 500)
        assert guard.remember_if_new(AK, f"n{i}", now, now)
    later = ahead + timedelta(minutes=1, seconds=30)
    for nonce in ["early-1", "early-2", "other", *(f"n{i}" for i in range(500))]:
        assert not guard.remember_if_new(AK, nonce, later, later), nonce
    assert guard.remember_if_new(AK, "n500", later, later)


def test_forgotten_after_a_long_silence() -> None:
    """Buckets still open when the clock jumps past their time are dropped without sealing."""
    guard = MemoryNonceGuard(WINDOW, bucket=BUCKET)
    assert guard.remember_if_new(AK, "n1", T0, T0)
    assert guard.remember_if_new(AK, "n1", T0, T0 + WINDOW + BUCKET)
    assert len(guard) == 1


def test_memory_per_entry_is_small() -> None:
    """The steady state of the default window: 15 sealed buckets and a full open one.

    The module docstring quotes 14 to 21 bytes; 25 leaves room for allocator noise.
    """
    guard = MemoryNonceGuard(WINDOW, bucket=BUCKET)
    minutes = int(WINDOW / BUCKET) + 1
    per_minute = 3_000
    start = T0.replace(second=0, microsecond=500_000)  # the last minute's bucket is still open
    requests = [
        (f"{minute}-{i}", start + timedelta(minutes=minute, seconds=i * 59 / per_minute))
        for minute in range(minutes)
        for i in range(per_minute)
    ]  # made before tracing: tracing makes every allocation slow
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for nonce, now in requests:
            guard.remember_if_new(AK, nonce, now, now)
        per_entry = (tracemalloc.get_traced_memory()[0] - before) / len(guard)
    finally:
        tracemalloc.stop()
    assert len(guard) == minutes * per_minute
    assert per_entry < 25, per_entry


# A model of the contract: a pair is remembered until max(timestamp, now) + window, and at most
# one bucket width longer (the memory guard drops its buckets whole; the Redis guard is exact).

events = st.lists(
    st.tuples(
        st.integers(0, 2),  # key
        st.integers(0, 3),  # nonce
        st.integers(-20 * 60, 20 * 60),  # client clock offset, seconds
        st.integers(0, 10 * 60),  # how far the server clock moves first, seconds
    ),
    max_size=60,
)


# new_guard is a function-scoped fixture, which Hypothesis warns about because it is not made
# again for each example; it is a factory, and each example makes its own empty guard.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=events)
def test_matches_the_model(new_guard: NewGuard, events: list[tuple[int, int, int, int]]) -> None:
    guard = new_guard()
    expiry: dict[tuple[int, int], datetime] = {}
    now = T0
    for key, nonce, offset, advance in events:
        now += timedelta(seconds=advance)
        timestamp = now + timedelta(seconds=offset)
        accepted = check(guard, f"key{key}", f"nonce{nonce}", timestamp, now)
        until = expiry.get((key, nonce))
        if until is not None and now < until:
            assert not accepted, "a replay inside the window was accepted"
        elif until is None or now >= until + BUCKET:
            assert accepted, "a fresh or long-expired nonce was refused"
        if accepted:
            expiry[(key, nonce)] = max(timestamp, now) + WINDOW


async def test_the_ports_coroutine_answers_as_the_guard_does() -> None:
    guard = MemoryNonceGuard(WINDOW)
    assert await guard.check_and_remember(AK, "n1", T0, T0)
    assert not await guard.check_and_remember(AK, "n1", T0, T0)
    assert not guard.remember_if_new(AK, "n1", T0, T0)


# --- the shared guard (Redis) -------------------------------------------------------------------


@pytest.fixture
def second_client() -> Iterator[Redis]:
    """A client with connections of its own: another process, as far as Redis can tell."""
    client = Redis.from_url(redis_url())
    yield client
    run(client.aclose())


def test_a_replay_to_another_process_is_refused(
    redis_client: Redis, second_client: Redis, redis_prefix: str
) -> None:
    first = RedisNonceGuard(redis_client, WINDOW, prefix=redis_prefix)
    second = RedisNonceGuard(second_client, WINDOW, prefix=redis_prefix)
    assert check(first, AK, "n1", T0, T0)
    assert not check(second, AK, "n1", T0, T0 + timedelta(seconds=1))
    assert check(second, AK, "n2", T0, T0)
    assert not check(first, AK, "n2", T0, T0 + timedelta(minutes=14))
    assert check(first, AK, "n2", T0, T0 + WINDOW)  # and forgotten by both at its end


def test_of_a_pair_sent_to_every_process_at_once_exactly_one_is_accepted(
    redis_client: Redis, second_client: Redis, redis_prefix: str
) -> None:
    guards = [
        RedisNonceGuard(c, WINDOW, prefix=redis_prefix) for c in (redis_client, second_client)
    ]

    async def race() -> list[bool]:
        return await asyncio.gather(
            *(guards[i % 2].check_and_remember(AK, "n1", T0, T0) for i in range(40))
        )

    assert sorted(run(race())) == [False] * 39 + [True]


def test_one_key_per_pair_that_expires_with_its_window(
    redis_client: Redis, redis_prefix: str
) -> None:
    """The TTL is a duration from the call: this test's clock is not Redis's, and an absolute
    expiry would be in the past (or years ahead)."""
    guard = RedisNonceGuard(redis_client, WINDOW, prefix=redis_prefix)
    ahead = T0 + timedelta(minutes=10)
    began = time.monotonic()
    assert check(guard, AK, "n1", T0, T0)
    assert check(guard, AK, "n2", ahead, T0)  # a client clock ahead: remembered 10 min longer

    async def ttls() -> list[int]:
        keys = [key async for key in redis_client.scan_iter(match=f"{redis_prefix}*")]
        assert all(key.startswith(f"{redis_prefix}nonce:".encode()) for key in keys)
        return sorted([await redis_client.pttl(key) for key in keys])

    window_ms = int(WINDOW.total_seconds() * 1000)
    in_sync, early = run(ttls())
    # What elapsed since the calls (a busy machine may take seconds) came off the TTLs.
    elapsed_ms = (time.monotonic() - began) * 1000 + 1
    assert window_ms - elapsed_ms < in_sync <= window_ms + GRACE_MS
    assert window_ms + 600_000 - elapsed_ms < early <= window_ms + 600_000 + GRACE_MS


def test_the_redis_window_must_be_positive(redis_client: Redis) -> None:
    for window in (timedelta(0), -WINDOW):
        with pytest.raises(ValueError, match="positive"):
            RedisNonceGuard(redis_client, window)


def test_a_call_retried_after_its_answer_was_lost_is_not_its_own_replay(
    redis_client: Redis, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py sends a call again when its connection is lost before the answer came; the
    first attempt may have stored the pair. The retry carries the same token (one per call),
    which is what this stands for: the same call arriving twice."""
    guard = RedisNonceGuard(redis_client, WINDOW, prefix=redis_prefix)
    monkeypatch.setattr("smsgate.adapters.replay.redis.token_hex", lambda _: "samecall")
    assert check(guard, AK, "n1", T0, T0)
    assert check(guard, AK, "n1", T0, T0)  # the same call again: still new to its sender
    monkeypatch.undo()
    assert not check(guard, AK, "n1", T0, T0)  # another call with that pair: a replay
