"""The receipts' memory of recent hand-overs: what a receipt finds there, and what it does not."""

from __future__ import annotations

import pytest

from smsgate.domain.models import Accepted
from smsgate.service.hand_overs import RecentHandOvers


def _accepted(mid: int, *carrier_ids: str, connector: str = "up") -> Accepted:
    return Accepted(str(mid), connector, carrier_ids, 0.0)


def test_a_receipt_takes_its_part_by_the_first_key_known() -> None:
    recent = RecentHandOvers()
    recent.remember([_accepted(1, "00001A2B", "1A2C")])

    assert recent.take("up", ["6699", "1a2b"]) == ("1", "1a2b")  # stored as carrier keys
    assert recent.take("up", ["1a2b"]) is None  # taken: a repeat goes to the store
    assert recent.take("up", ["1a2c"]) == ("1", "1a2c")
    assert len(recent) == 0


def test_ids_are_per_connector() -> None:
    recent = RecentHandOvers()
    recent.remember([_accepted(1, "9", connector="a"), _accepted(2, "9", connector="b")])

    assert recent.take("b", ["9"]) == ("2", "9")
    assert recent.take("a", ["9"]) == ("1", "9")


def test_a_reused_id_names_the_newer_message_and_stays_young() -> None:
    recent = RecentHandOvers(size=2)
    recent.remember([_accepted(1, "x"), _accepted(2, "y")])
    recent.remember([_accepted(3, "x")])  # the carrier reused "x": now the youngest
    recent.remember([_accepted(4, "z")])  # one too many: the oldest ("y") goes

    assert recent.take("up", ["y"]) is None
    assert recent.take("up", ["x"]) == ("3", "x")
    assert recent.take("up", ["z"]) == ("4", "z")


def test_the_oldest_are_forgotten_past_the_bound() -> None:
    recent = RecentHandOvers(size=100)
    recent.remember([_accepted(mid, f"c{mid}") for mid in range(1, 251)])

    assert len(recent) == 100
    assert recent.take("up", ["c150"]) is None
    assert recent.take("up", ["c151"]) == ("151", "c151")


def test_the_bound_must_hold_something() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RecentHandOvers(size=0)


def test_the_built_in_simulator_s_hand_overs_are_not_kept() -> None:
    # Its receipts come straight from it, never matched by id: they would only take room.
    recent = RecentHandOvers(size=1)
    recent.remember([_accepted(1, "a")])
    recent.remember([_accepted(2, "b", connector="simulator")])

    assert len(recent) == 1
    assert recent.take("up", ["a"]) == ("1", "a")
