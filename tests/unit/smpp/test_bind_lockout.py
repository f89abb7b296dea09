"""Failed SMPP binds lock a system_id or a host for a while, and never an owner's own host."""

from __future__ import annotations

import pytest

from smsgate.doors.smpp.lockout import BindLockout, Lock

WINDOW = 60.0
LOCK = 30.0


def lockout(**overrides: float) -> BindLockout:
    settings: dict[str, float] = {"max_failures": 5, "window_s": WINDOW, "lock_s": LOCK}
    settings.update(overrides)
    return BindLockout(
        max_failures=int(settings["max_failures"]),
        window_s=settings["window_s"],
        lock_s=settings["lock_s"],
        max_keys=int(settings.get("max_keys", 100_000)),
    )


def fail(book: BindLockout, times: int, system_id: str, host: str, now: float = 0.0) -> list[Lock]:
    started = []
    for _ in range(times):
        started += book.failed(system_id, host, now)
    return started


def test_the_fifth_failure_locks_the_system_id_and_the_host() -> None:
    book = lockout()
    assert fail(book, 4, "acme", "10.0.0.1") == []
    assert book.lock_of("acme", "10.0.0.1", 1.0) is None

    started = book.failed("acme", "10.0.0.1", 1.0)

    assert started == [Lock("system_id acme", 1.0 + LOCK), Lock("host 10.0.0.1", 1.0 + LOCK)]
    assert book.lock_of("acme", "10.0.0.1", 2.0) is not None


def test_many_hosts_guessing_one_system_id_lock_it_for_every_new_host() -> None:
    book = lockout()
    for n in range(5):
        book.failed("acme", f"10.0.0.{n}", 0.0)

    lock = book.lock_of("acme", "192.0.2.7", 1.0)

    assert lock == Lock("system_id acme", LOCK)
    assert book.lock_of("other", "192.0.2.7", 1.0) is None


def test_one_host_spraying_system_ids_locks_the_host_for_every_system_id() -> None:
    book = lockout()
    for n in range(5):
        book.failed(f"guess{n}", "10.0.0.9", 0.0)

    assert book.lock_of("anything", "10.0.0.9", 1.0) == Lock("host 10.0.0.9", LOCK)
    assert book.lock_of("anything", "10.0.0.10", 1.0) is None


def test_a_lock_ends_after_lock_s() -> None:
    book = lockout()
    fail(book, 5, "acme", "10.0.0.1")

    assert book.lock_of("acme", "10.0.0.1", LOCK - 0.001) is not None
    assert book.lock_of("acme", "10.0.0.1", LOCK) is None


def test_failures_older_than_the_window_no_longer_count() -> None:
    book = lockout()
    fail(book, 4, "acme", "10.0.0.1", now=0.0)

    assert book.failed("acme", "10.0.0.1", WINDOW) == []  # the first four have expired
    assert book.lock_of("acme", "10.0.0.1", WINDOW) is None


def test_a_successful_bind_clears_the_count() -> None:
    book = lockout()
    fail(book, 4, "acme", "10.0.0.1")
    book.succeeded("acme", "10.0.0.1")

    assert fail(book, 4, "acme", "10.0.0.1", now=1.0) == []
    assert book.lock_of("acme", "10.0.0.1", 1.0) is None


def test_a_stranger_cannot_lock_an_owner_out_of_its_own_system_id() -> None:
    book = lockout()
    book.succeeded("acme", "10.0.0.1")  # the owner's usual host

    fail(book, 5, "acme", "203.0.113.5", now=1.0)  # someone else guesses its password

    assert book.lock_of("acme", "10.0.0.1", 2.0) is None
    assert book.lock_of("acme", "198.51.100.1", 2.0) == Lock("system_id acme", 1.0 + LOCK)


def test_a_host_that_guesses_is_locked_even_for_a_system_id_it_bound_as() -> None:
    book = lockout()
    book.succeeded("acme", "10.0.0.1")

    fail(book, 5, "acme", "10.0.0.1", now=1.0)

    assert book.lock_of("acme", "10.0.0.1", 2.0) == Lock("host 10.0.0.1", 1.0 + LOCK)


def test_memory_stays_bounded_under_a_flood_of_made_up_system_ids() -> None:
    book = lockout(max_keys=1_000)
    for n in range(50_000):
        book.failed(f"made-up-{n}", f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 0.0)
        book.succeeded(f"owner-{n}", "10.0.0.1")

    assert book.tracked <= 3 * 1_000


def test_max_failures_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_failures"):
        lockout(max_failures=0)
