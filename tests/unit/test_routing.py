"""Route precedence, weights, failover order and the two defaults (no routes, no match)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from smsgate.domain.routing import (
    SIMULATOR,
    Route,
    RouteFacts,
    RouteTable,
    next_route_id,
    parse_routes_document,
)

SG = RouteFacts(to="6591234567", region_code="SG", network="SingTel", account_id="a1", sender=None)
ID = RouteFacts(
    to="6281234567890", region_code="ID", network="Telkomsel", account_id="a1", sender="Acme"
)


def first(table: RouteTable, facts: RouteFacts) -> str:
    return table.plan(facts, lambda: 0.0)[0]


def test_no_routes_at_all_send_everything_to_the_simulator() -> None:
    assert RouteTable([]).plan(SG, random.random) == [SIMULATOR]


def test_routes_of_which_none_matches_leave_no_way_out() -> None:
    table = RouteTable([Route("r1", "idn", country="ID")])

    assert table.plan(SG, random.random) == []


def test_criteria_left_out_match_anything() -> None:
    table = RouteTable([Route("r1", "any")])

    assert table.plan(SG, random.random) == ["any"]
    assert table.plan(ID, random.random) == ["any"]


@pytest.mark.parametrize(
    ("route", "matches"),
    [
        (Route("r", "c", country="sg"), True),
        (Route("r", "c", country="ID"), False),
        (Route("r", "c", prefix="6591"), True),
        (Route("r", "c", prefix="6598"), False),
        (Route("r", "c", network="singtel"), True),
        (Route("r", "c", network="StarHub"), False),
        (Route("r", "c", account="a1"), True),
        (Route("r", "c", account="a2"), False),
        (Route("r", "c", sender="Acme"), False),
        (Route("r", "c", country="SG", prefix="65", account="a1"), True),
        (Route("r", "c", country="SG", prefix="65", account="a2"), False),
    ],
)
def test_every_criterion_set_must_match(route: Route, matches: bool) -> None:
    assert route.matches(SG) is matches


def test_higher_priority_wins_over_specificity() -> None:
    table = RouteTable(
        [Route("r1", "specific", prefix="6591"), Route("r2", "preferred", priority=10)]
    )

    assert table.plan(SG, random.random) == ["preferred", "specific"]


def test_at_equal_priority_the_longer_prefix_then_more_criteria_come_first() -> None:
    table = RouteTable(
        [
            Route("r1", "catch-all"),
            Route("r2", "country", country="SG"),
            Route("r3", "short", prefix="65"),
            Route("r4", "long", prefix="6591"),
            Route("r5", "country-and-account", country="SG", account="a1"),
        ]
    )

    assert table.plan(SG, random.random) == [
        "long",
        "short",
        "country-and-account",
        "country",
        "catch-all",
    ]


def test_equal_routes_share_traffic_by_weight() -> None:
    table = RouteTable([Route("r1", "heavy", weight=3), Route("r2", "light", weight=1)])
    draw = random.Random(7).random

    firsts = Counter(table.plan(SG, draw)[0] for _ in range(8_000))

    assert firsts["heavy"] + firsts["light"] == 8_000
    assert 0.72 < firsts["heavy"] / 8_000 < 0.78  # 3 in 4
    # Whichever comes first, the other is the failover.
    assert sorted(table.plan(SG, draw)) == ["heavy", "light"]


def test_a_connector_appears_once_at_its_first_place() -> None:
    table = RouteTable(
        [
            Route("r1", "a", prefix="6591", priority=1),
            Route("r2", "b", country="SG"),
            Route("r3", "a", country="SG"),
        ]
    )

    assert table.plan(SG, lambda: 0.99) == ["a", "b"]


def test_routes_by_sender_and_account() -> None:
    table = RouteTable(
        [
            Route("r1", "branded", sender="Acme"),
            Route("r2", "vip", account="a1", priority=5),
            Route("r3", "bulk"),
        ]
    )

    assert table.plan(ID, lambda: 0.0) == ["vip", "branded", "bulk"]
    other = RouteFacts(to=ID.to, region_code="ID", network="", account_id="a9", sender="X")
    assert table.plan(other, lambda: 0.0) == ["bulk"]


def test_a_bad_route_is_refused() -> None:
    with pytest.raises(ValueError, match="weight"):
        Route("r", "c", weight=0)
    with pytest.raises(ValueError, match="prefix"):
        Route("r", "c", prefix="+65")


def test_uses_tells_whether_a_connector_is_routed_to() -> None:
    table = RouteTable([Route("r1", "a"), Route("r2", "b")])

    assert table.uses("a")
    assert not table.uses("c")


def test_the_routes_document_round_trips() -> None:
    routes = [
        Route("r1", "idn", country="ID", priority=5),
        Route("r2", "sg-fast", prefix="6591", weight=3),
        Route("r3", "bulk", account="a1", sender="Acme", network="SingTel"),
    ]

    table = parse_routes_document([route.to_document() for route in routes])

    assert table.routes == tuple(routes)
    assert routes[0].to_document() == {
        "id": "r1", "connector": "idn", "country": "ID", "priority": 5, "weight": 1
    }  # fmt: skip


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"id": "r1"}, "a JSON list"),
        ([["r1"]], "route 1 must be a JSON object"),
        ([{"id": "r1"}], "route r1: connector is required"),
        ([{"id": "r1", "connector": "c", "colour": "red"}], "unknown fields colour"),
        ([{"id": "r1", "connector": "c", "prefix": 65}], "prefix must be text"),
        ([{"id": "r1", "connector": "c", "weight": "3"}], "weight must be a whole number"),
        ([{"id": "r1", "connector": "c", "priority": True}], "priority must be a whole number"),
        ([{"id": "r1", "connector": "c", "weight": 0}], "route r1: a route's weight"),
        ([{"id": "r1", "connector": "c", "country": "Singapore"}], "alpha-2"),
        ([{"id": "r1", "connector": "c"}, {"id": "r1", "connector": "d"}], "unique"),
    ],
)
def test_a_bad_routes_document_says_what_is_wrong(doc: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_routes_document(doc)


def test_takes_says_whether_any_route_matches_without_drawing() -> None:
    table = RouteTable([Route("r1", "idn", country="ID"), Route("r2", "sg", prefix="6591")])

    assert table.takes(SG)
    assert table.takes(ID)
    assert not table.takes(RouteFacts("6581234567", "SG", "StarHub", "a1", None))
    assert RouteTable([]).takes(SG)  # the simulator


def test_using_names_the_routes_to_a_connector() -> None:
    table = RouteTable([Route("r1", "a"), Route("r2", "b"), Route("r3", "a", country="SG")])

    assert table.using("a") == ["r1", "r3"]
    assert table.using("c") == []


def test_tables_are_equal_by_their_routes() -> None:
    assert RouteTable([Route("r1", "a")]) == RouteTable((Route("r1", "a"),))
    assert RouteTable([Route("r1", "a")]) != RouteTable([Route("r1", "b")])
    assert RouteTable([]) != []


@pytest.mark.parametrize(
    ("ids", "made"),
    [([], "r1"), (["r1", "r2"], "r3"), (["r7", "r2"], "r8"), (["eu-main", "r3", "rX"], "r4")],
)
def test_new_route_ids_follow_the_highest(ids: list[str], made: str) -> None:
    assert next_route_id(Route(i, "c") for i in ids) == made
