"""Which connectors a message may leave by, in the order to try them.

A route names a connector and what a message must match to take it: destination country (ISO
3166 alpha-2), number prefix (E.164 digits), mobile network (from number data), account, sender
ID. Criteria left out match anything. Of the routes that match, the order of trial is:

1. higher ``priority`` first (an operator's explicit word wins);
2. then the more specific route first: a longer prefix, then more criteria set (a route for
   ``6591`` is tried before one for all of ``SG``, which is tried before a catch-all);
3. routes equal in both share traffic by ``weight``: each message draws their order at random,
   a route with weight 3 coming first three times as often as one with weight 1.

Later routes are the failover: a message goes to the next connector when one is down or answers
with a temporary refusal. A connector appears once in a plan, at its first place.

No routes at all means the built-in simulator takes everything (a platform that has configured
no carrier is a development platform). Routes that exist but of which none matches mean the
message cannot leave: it is refused at submission (``isv.NOT_SUPPORTED_COUNTRY``), never
accepted and then lost.

Pure: no I/O; randomness comes from the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import groupby
from typing import Any, Final

__all__ = [
    "DOCUMENT",
    "SIMULATOR",
    "Route",
    "RouteFacts",
    "RouteTable",
    "next_route_id",
    "parse_routes_document",
]

#: The policy document holding the routes: a JSON list of route objects.
DOCUMENT: Final = "routes"

#: The built-in carrier simulator's connector name: the default route while none is configured.
SIMULATOR: Final = "simulator"


@dataclass(frozen=True, slots=True)
class RouteFacts:
    """What routing looks at in a message."""

    to: str  # E.164 digits without '+'
    region_code: str  # ISO 3166-1 alpha-2
    network: str  # the mobile network of the number, "" if unknown
    account_id: str
    sender: str | None


@dataclass(frozen=True, slots=True)
class Route:
    id: str
    connector: str
    country: str | None = None
    prefix: str | None = None
    network: str | None = None
    account: str | None = None
    sender: str | None = None
    priority: int = 0
    weight: int = 1

    def __post_init__(self) -> None:
        if self.weight < 1:
            raise ValueError("a route's weight is at least 1")
        if self.prefix is not None and not (self.prefix.isdigit() and self.prefix.isascii()):
            raise ValueError("a route's prefix is digits of an E.164 number, without '+'")
        if self.country is not None and not (len(self.country) == 2 and self.country.isalpha()):
            raise ValueError("a route's country is an ISO 3166 alpha-2 code, e.g. SG")

    def to_document(self) -> dict[str, Any]:
        """The JSON object stored for it, without the criteria left out."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def matches(self, facts: RouteFacts) -> bool:
        return (
            (self.country is None or self.country.upper() == facts.region_code.upper())
            and (self.prefix is None or facts.to.startswith(self.prefix))
            and (self.network is None or self.network.casefold() == facts.network.casefold())
            and (self.account is None or self.account == facts.account_id)
            and (self.sender is None or self.sender == facts.sender)
        )

    @property
    def rank(self) -> tuple[int, int, int]:
        """Sort key, highest first: priority, prefix length, criteria set."""
        criteria = (self.country, self.prefix, self.network, self.account, self.sender)
        return (self.priority, len(self.prefix or ""), sum(c is not None for c in criteria))


class RouteTable:
    """The routes in force: :meth:`plan` orders the connectors for one message."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes: tuple[Route, ...] = tuple(routes)
        self._ranked = sorted(self.routes, key=lambda r: r.rank, reverse=True)

    def plan(self, facts: RouteFacts, random: Callable[[], float]) -> list[str]:
        """The connectors to try, first choice first; ``[]`` when no route matches.

        ``random`` returns floats in [0, 1), drawn only when routes of equal rank share
        traffic."""
        if not self.routes:
            return [SIMULATOR]
        plan: list[str] = []
        matching = [route for route in self._ranked if route.matches(facts)]
        for _rank, group in groupby(matching, key=lambda r: r.rank):
            for route in _weighted_order(list(group), random):
                if route.connector not in plan:
                    plan.append(route.connector)
        return plan

    def takes(self, facts: RouteFacts) -> bool:
        """Whether some connector may take the message: with no routes, the simulator does;
        otherwise a route must match. (No random draw: the order does not matter here.)"""
        return not self.routes or any(route.matches(facts) for route in self.routes)

    def uses(self, connector: str) -> bool:
        return any(route.connector == connector for route in self.routes)

    def using(self, connector: str) -> list[str]:
        """The ids of the routes to ``connector``."""
        return [route.id for route in self.routes if route.connector == connector]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RouteTable) and other.routes == self.routes

    __hash__ = None  # type: ignore[assignment]  # equal by value, and not a key

    def __repr__(self) -> str:
        return f"RouteTable({list(self.routes)!r})"


_TEXT_FIELDS: Final = ("id", "connector", "country", "prefix", "network", "account", "sender")
_WHOLE_FIELDS: Final = ("priority", "weight")


def parse_routes_document(doc: Any) -> RouteTable:
    """The ``routes`` document as a table; ValueError saying which route is wrong and why."""
    if not isinstance(doc, list):
        raise ValueError("routes must be a JSON list of route objects")
    routes = []
    for position, item in enumerate(doc, start=1):
        where = f"route {item.get('id', position) if isinstance(item, dict) else position}"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be a JSON object")
        unknown = set(item) - {*_TEXT_FIELDS, *_WHOLE_FIELDS}
        if unknown:
            raise ValueError(f"{where}: unknown fields {', '.join(sorted(unknown))}")
        for name in ("id", "connector"):
            if not isinstance(item.get(name), str) or not item[name]:
                raise ValueError(f"{where}: {name} is required text")
        for name in _TEXT_FIELDS:
            if item.get(name) is not None and not isinstance(item[name], str):
                raise ValueError(f"{where}: {name} must be text")
        for name in _WHOLE_FIELDS:
            value = item.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{where}: {name} must be a whole number")
        try:
            routes.append(Route(**item))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    ids = [route.id for route in routes]
    if len(set(ids)) != len(ids):
        raise ValueError("route ids must be unique")
    return RouteTable(routes)


def next_route_id(routes: Iterable[Route]) -> str:
    """A new route's id: ``r<N>``, one more than the highest ``r<N>`` in use (``r1`` first)."""
    numbers = [int(r.id[1:]) for r in routes if r.id[:1] == "r" and r.id[1:].isdigit()]
    return f"r{max(numbers, default=0) + 1}"


def _weighted_order(routes: Sequence[Route], random: Callable[[], float]) -> list[Route]:
    """``routes`` in a random order where each comes next with a chance proportional to its
    weight (sampling without replacement)."""
    if len(routes) == 1:
        return list(routes)
    left = list(routes)
    ordered = []
    while left:
        total = sum(route.weight for route in left)
        point = random() * total
        for index, route in enumerate(left):
            point -= route.weight
            if point < 0 or index == len(left) - 1:
                ordered.append(left.pop(index))
                break
    return ordered
