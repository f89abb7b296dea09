"""A connector's throughput: events a second over the last whole seconds."""

from __future__ import annotations

import pytest

from smsgate.domain.meter import RateMeter


def test_counts_over_the_window_divided_by_its_length() -> None:
    meter = RateMeter(window_s=10)

    meter.record(30, 100.2)
    meter.record(20, 100.9)
    meter.record(50, 105.0)

    assert meter.per_second(105.5) == 10.0
    assert meter.per_second(109.9) == 10.0
    assert meter.per_second(110.0) == 5.0  # the second 100 has just left
    assert meter.per_second(115.0) == 0.0


def test_a_clock_that_goes_back_counts_in_the_latest_second() -> None:
    meter = RateMeter(window_s=2)

    meter.record(1, 50.0)
    meter.record(1, 49.0)

    assert meter.per_second(50.0) == 1.0


def test_the_window_is_at_least_a_second() -> None:
    with pytest.raises(ValueError, match="at least one second"):
        RateMeter(window_s=0)
