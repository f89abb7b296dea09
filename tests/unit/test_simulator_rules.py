"""The number rules both simulators share: first match wins, delays, reject and retries."""

from __future__ import annotations

import pytest

from smsgate import errors
from smsgate.adapters.carriers.simulator_rules import Fate, NumberRules, RetryCounter, status_for
from smsgate.config import SimulatorConfig, SimulatorRule, default_simulator_rules
from smsgate.domain.models import MessageStatus


def test_a_number_no_rule_matches_is_delivered_after_the_default_delay() -> None:
    rules = NumberRules(SimulatorConfig(delay_ms=250, rules=()))

    assert rules.fate("6591234567") == Fate("success", 250)


def test_the_first_matching_rule_decides_with_its_own_delay_or_the_default() -> None:
    rules = NumberRules(
        SimulatorConfig(
            delay_ms=40,
            rules=(
                SimulatorRule("exact", "6591230000", "RECEIVER_BLACKLIST", 0),
                SimulatorRule("suffix", "0000", "INVALID_NUM"),
                SimulatorRule("prefix", "62", "PORTED_NUM", 5, reject=True),
                SimulatorRule("prefix", "63", "success", 700, retries=3),
                SimulatorRule("prefix", "64", "success", retries=1, status="ESME_RMSGQFUL"),
            ),
        )
    )

    assert rules.fate("6591230000") == Fate("RECEIVER_BLACKLIST", 0)
    assert rules.fate("6591240000") == Fate("INVALID_NUM", 40)
    assert rules.fate("6281234567890") == Fate("PORTED_NUM", 5, reject=True)
    assert rules.fate("639171234567") == Fate("success", 700, retries=3)
    assert rules.fate("6421234567") == Fate("success", 40, retries=1, status="ESME_RMSGQFUL")


def test_the_default_rules_reach_every_receipt_code_by_the_number_s_ending() -> None:
    rules = NumberRules(SimulatorConfig(rules=default_simulator_rules()))

    reached = [rules.fate(f"65912399{i:02d}").receipt for i in range(1, 11)]

    assert reached == [c.code for c in errors.RECEIPT_CODES] + ["EXPIRED"]


def test_the_first_retries_submits_of_a_message_are_answered_try_again() -> None:
    counter = RetryCounter()

    answers = [counter.again("m1", 2) for _ in range(3)]

    assert answers == [True, True, False]
    assert len(counter) == 0  # through, and forgotten: the next submit starts again
    assert counter.again("m1", 2)


def test_messages_are_counted_apart() -> None:
    counter = RetryCounter()

    assert counter.again("a", 1)
    assert counter.again("b", 1)
    assert not counter.again("a", 1)
    assert not counter.again("b", 1)


def test_no_retries_means_through_at_once() -> None:
    assert not RetryCounter().again("a", 0)


def test_the_counter_forgets_the_oldest_message_beyond_its_bound() -> None:
    counter = RetryCounter(max_counted=2)
    for key in ("a", "b", "c"):
        counter.again(key, 2)

    assert len(counter) == 2
    assert counter.again("a", 2)  # forgotten, so counted from the start again
    assert counter.again("c", 2)
    assert not counter.again("c", 2)


def test_a_counter_must_count_something() -> None:
    with pytest.raises(ValueError, match="max_counted"):
        RetryCounter(max_counted=0)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("success", MessageStatus.DELIVERED),
        ("EXPIRED", MessageStatus.EXPIRED),
        ("INVALID_NUM", MessageStatus.FAILED),
        ("UNKNOWN_ERR", MessageStatus.FAILED),
    ],
)
def test_a_receipt_code_gives_its_final_status(code: str, status: MessageStatus) -> None:
    assert status_for(code) is status
