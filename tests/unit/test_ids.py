"""Message ids: unique, increasing, within 63 bits, and decodable."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.ids import (
    EPOCH_MS,
    MAX_NODE_ID,
    MAX_SEQUENCE,
    MessageIdGenerator,
    MessageIdParts,
    parse_message_id,
)

NOW_MS = 1_780_000_000_000  # 2026-05-28T20:26:40Z
YEAR_2084_MS = EPOCH_MS + (1 << 41) - 1


def test_ids_are_decimal_strings_of_19_digits() -> None:
    message_id = MessageIdGenerator(7).next_id(NOW_MS)
    assert message_id.isdigit()
    assert len(message_id) == 19
    assert int(message_id) < 2**63


def test_ids_stay_19_digits_until_the_clock_runs_out() -> None:
    nineteen_digits_from = 1_658_488_979_102  # 2022-07-22: (ms - epoch) << 22 reaches 10**18
    assert len(MessageIdGenerator(0).next_id(nineteen_digits_from - 1)) == 18
    assert len(MessageIdGenerator(0).next_id(nineteen_digits_from)) == 19
    last = MessageIdGenerator(MAX_NODE_ID, last_issued=None).next_int(YEAR_2084_MS)
    assert last < 2**63
    assert len(str(last)) == 19


def test_fields_round_trip() -> None:
    message_id = MessageIdGenerator(513).next_id(NOW_MS)
    assert parse_message_id(message_id) == MessageIdParts(unix_ms=NOW_MS, node_id=513, sequence=0)


def test_sequence_counts_within_a_millisecond_and_restarts_on_the_next() -> None:
    generator = MessageIdGenerator(1)
    first, second = generator.next_id(NOW_MS), generator.next_id(NOW_MS)
    third = generator.next_id(NOW_MS + 1)
    assert [parse_message_id(i).sequence for i in (first, second, third)] == [0, 1, 0]
    assert parse_message_id(third).unix_ms == NOW_MS + 1


def test_burst_of_100k_ids_in_one_millisecond() -> None:
    generator = MessageIdGenerator(42)
    ids = [generator.next_int(NOW_MS) for _ in range(100_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(b > a for a, b in itertools.pairwise(ids))
    # 4,096 per millisecond: the burst borrows the next 24 milliseconds.
    last = parse_message_id(str(ids[-1]))
    assert last.unix_ms == NOW_MS + 100_000 // (MAX_SEQUENCE + 1)
    assert last.node_id == 42


def test_borrowed_milliseconds_are_not_reused_when_the_clock_catches_up() -> None:
    generator = MessageIdGenerator(3)
    burst = [generator.next_int(NOW_MS) for _ in range(10_000)]  # borrows up to NOW_MS + 2
    after = generator.next_int(NOW_MS + 1)
    assert after > burst[-1]
    assert parse_message_id(str(after)).unix_ms == NOW_MS + 2


def test_clock_going_backwards_keeps_ids_increasing() -> None:
    generator = MessageIdGenerator(3)
    before = generator.next_int(NOW_MS)
    after = generator.next_int(NOW_MS - 60_000)
    assert after > before
    assert parse_message_id(str(after)).unix_ms == NOW_MS


@given(st.lists(st.integers(min_value=-5, max_value=5), min_size=1, max_size=300))
def test_ids_strictly_increase_whatever_the_clock_does(steps: list[int]) -> None:
    generator = MessageIdGenerator(9)
    now, previous = NOW_MS, -1
    for step in steps:
        now += step
        current = generator.next_int(now)
        assert current > previous
        previous = current


def test_nodes_never_collide_in_the_same_millisecond() -> None:
    first_ids = {MessageIdGenerator(node).next_int(NOW_MS) for node in range(MAX_NODE_ID + 1)}
    assert len(first_ids) == MAX_NODE_ID + 1
    bursts = [MessageIdGenerator(node) for node in (0, 1, MAX_NODE_ID)]
    ids = {generator.next_int(NOW_MS) for generator in bursts for _ in range(5000)}
    assert len(ids) == 3 * 5000


def test_a_restart_continues_after_the_last_issued_id() -> None:
    before_restart = MessageIdGenerator(5)
    ids = [before_restart.next_id(NOW_MS) for _ in range(20_000)]  # borrowed ~4 ms ahead
    after_restart = MessageIdGenerator(5, last_issued=ids[-1])
    assert int(after_restart.next_id(NOW_MS + 1)) > int(ids[-1])


def test_a_restart_later_in_time_needs_no_last_id() -> None:
    first_run = MessageIdGenerator(5).next_int(NOW_MS)
    second_run = MessageIdGenerator(5).next_int(NOW_MS + 1)
    assert second_run > first_run


def test_last_issued_accepts_the_integer_form() -> None:
    last = MessageIdGenerator(5).next_int(NOW_MS)
    assert MessageIdGenerator(5, last_issued=last).next_int(NOW_MS) == last + 1


@pytest.mark.parametrize("node_id", [-1, MAX_NODE_ID + 1])
def test_node_id_must_fit_10_bits(node_id: int) -> None:
    with pytest.raises(ValueError, match="node id"):
        MessageIdGenerator(node_id)


def test_node_id_is_exposed() -> None:
    assert MessageIdGenerator(77).node_id == 77


def test_time_before_the_epoch_is_refused() -> None:
    with pytest.raises(ValueError, match="before the id epoch"):
        MessageIdGenerator(0).next_id(EPOCH_MS - 1)


def test_the_clock_running_out_is_an_error() -> None:
    generator = MessageIdGenerator(0)
    generator.next_int(YEAR_2084_MS)
    with pytest.raises(OverflowError):
        generator.next_int(YEAR_2084_MS + 1)


@pytest.mark.parametrize("text", ["", "abc", "12a", "-1", "１２３", "1" * 20, str(2**63), " 123"])
def test_parse_refuses_what_is_not_an_id(text: str) -> None:
    with pytest.raises(ValueError, match="id"):
        parse_message_id(text)
