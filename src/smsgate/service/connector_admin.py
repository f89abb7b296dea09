"""Operator use-cases for connectors and routes, shared by the CLI and the admin API.

Both are policy documents (``connectors``, ``routes``), written through
:class:`~smsgate.service.admin.AdminService` so that they are validated before they are stored;
a running server applies them within ``refresh_s`` (``service.connector_manager``, the router).

What this adds to a plain document write:

- a connector's password is checked in clear, then sealed with the master key (``seal``), and
  never shown again: views of a connector carry its settings without it;
- a connector cannot be removed while routes send to it (they would lose their way out), and a
  route cannot name a connector that does not exist (other than the built-in simulator), nor an
  account that does not exist;
- route ids are made here: ``r1``, ``r2``...

Every refusal is a ValueError saying what to do (the CLI prints it, the API answers 400), and
one for a connector or route that does not exist is :class:`~smsgate.service.admin.NotFoundError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, fields
from typing import Any, Final

from smsgate.domain import connectors, routing
from smsgate.domain.carrier_receipts import DEFAULT_RECEIPT_MAP
from smsgate.domain.connectors import ConnectorSpec, check_password, parse_connectors_document
from smsgate.domain.routing import SIMULATOR, Route, next_route_id, parse_routes_document
from smsgate.ports.store import AccountStore
from smsgate.service.admin import AdminService, NotFoundError

__all__ = ["CONNECTOR_SETTINGS", "ROUTE_CRITERIA", "ConnectorAdmin", "Live"]

#: What an operator may set on a connector, besides its name and password.
CONNECTOR_SETTINGS: Final = frozenset(f.name for f in fields(ConnectorSpec)) - {
    "name",
    "password_sealed",
}
#: What an operator may set on a route (its id is made, its connector is required).
ROUTE_CRITERIA: Final = frozenset(f.name for f in fields(Route)) - {"id"}
#: Live state by connector name, as a running server reports it.
Live = Mapping[str, Mapping[str, object]]


class ConnectorAdmin:
    def __init__(
        self, accounts: AccountStore, admin: AdminService, seal: Callable[[str], str]
    ) -> None:
        self._accounts = accounts
        self._admin = admin
        self._seal = seal

    # -- connectors ---------------------------------------------------------------------------

    async def add_connector(
        self, name: str, settings: Mapping[str, Any], password: str, *, replace: bool = False
    ) -> dict[str, Any]:
        """Add connector ``name`` (or, with ``replace``, change it); its view."""
        unknown = set(settings) - CONNECTOR_SETTINGS
        if unknown:
            raise ValueError(
                f"unknown connector settings {', '.join(sorted(unknown))}; the settings are "
                + ", ".join(sorted(CONNECTOR_SETTINGS))
            )
        check_password(password)
        codes = settings.get("receipt_codes")
        if isinstance(codes, Mapping) and all(isinstance(v, str) for v in codes.values()):
            DEFAULT_RECEIPT_MAP.with_overrides(codes)  # a code that is no receipt code: refused
        doc = dict(await self._connectors_document())
        if name in doc and not replace:
            raise ValueError(f"connector {name} already exists; replace it to change it")
        entry = {**settings, "password_sealed": self._seal(password)}
        spec = parse_connectors_document({name: entry})[name]  # checked before it is stored
        doc[name] = spec.to_document()
        await self._admin.put_policy(connectors.DOCUMENT, doc)
        return connector_view(spec)

    async def list_connectors(self, live: Live | None = None) -> list[dict[str, Any]]:
        """The simulator, then each configured connector by name, without passwords; with
        ``live`` (from a running server), each one's live state (None: not running)."""
        specs = parse_connectors_document(await self._connectors_document())
        shown: list[dict[str, Any]] = [{"name": SIMULATOR, "address": "built-in"}]
        shown += [connector_view(specs[name]) for name in sorted(specs)]
        if live is not None:
            for view in shown:
                state = live.get(view["name"])
                view["live"] = None if state is None else dict(state)
        return shown

    async def remove_connector(self, name: str) -> dict[str, Any]:
        doc = dict(await self._connectors_document())
        if name not in doc:
            if name == SIMULATOR:
                raise ValueError("the simulator is built in; it cannot be removed")
            raise NotFoundError(f"no connector {name}")
        using = (await self._routes()).using(name)
        if using:
            raise ValueError(
                f"connector {name} is used by routes {', '.join(using)}: remove them first"
            )
        spec = parse_connectors_document({name: doc.pop(name)})[name]
        await self._admin.put_policy(connectors.DOCUMENT, doc)
        return {**connector_view(spec), "removed": True}

    # -- routes -------------------------------------------------------------------------------

    async def add_route(self, criteria: Mapping[str, Any]) -> dict[str, Any]:
        """Add a route (its id made here); its view."""
        unknown = set(criteria) - ROUTE_CRITERIA
        if unknown:
            raise ValueError(
                f"unknown route fields {', '.join(sorted(unknown))}; the fields are "
                + ", ".join(sorted(ROUTE_CRITERIA))
            )
        given = {k: v for k, v in criteria.items() if v is not None}
        connector = given.get("connector")
        if not isinstance(connector, str) or not connector:
            raise ValueError("a route needs a connector")
        known = await self._connectors_document()
        if connector != SIMULATOR and connector not in known:
            names = ", ".join([SIMULATOR, *sorted(known)])
            raise ValueError(f"no connector {connector}; the connectors are {names}")
        account = given.get("account")
        if isinstance(account, str) and await self._accounts.get_account(account) is None:
            raise ValueError(f"no account {account}")
        if isinstance(given.get("country"), str):
            given["country"] = given["country"].upper()
        if isinstance(given.get("prefix"), str):
            given["prefix"] = given["prefix"].removeprefix("+")
        table = await self._routes()
        document = [r.to_document() for r in table.routes]
        document.append({"id": next_route_id(table.routes), **given})
        added = parse_routes_document(document).routes[-1]  # says which field is wrong
        await self._admin.put_policy(routing.DOCUMENT, document)
        return route_view(added)

    async def list_routes(self) -> list[dict[str, Any]]:
        """The routes in the order they are tried (those of equal rank share by weight)."""
        routes = sorted((await self._routes()).routes, key=lambda r: r.rank, reverse=True)
        return [route_view(route) for route in routes]

    async def remove_route(self, route_id: str) -> dict[str, Any]:
        table = await self._routes()
        kept = [route for route in table.routes if route.id != route_id]
        if len(kept) == len(table.routes):
            raise NotFoundError(f"no route {route_id}")
        await self._admin.put_policy(routing.DOCUMENT, [r.to_document() for r in kept])
        [removed] = [route for route in table.routes if route.id == route_id]
        return {**route_view(removed), "removed": True}

    # -- documents ----------------------------------------------------------------------------

    async def _connectors_document(self) -> Mapping[str, Any]:
        doc = await self._admin.get_policy(connectors.DOCUMENT)
        return doc if isinstance(doc, dict) else {}

    async def _routes(self) -> routing.RouteTable:
        doc = await self._admin.get_policy(routing.DOCUMENT)
        return parse_routes_document(doc if doc is not None else [])


def connector_view(spec: ConnectorSpec) -> dict[str, Any]:
    """A connector as operators see it: its name, address and settings, never its password."""
    settings = spec.to_document()
    del settings["password_sealed"]
    return {"name": spec.name, "address": spec.address, **settings}


def route_view(route: Route) -> dict[str, Any]:
    """A route with every field, those left out as null (they match anything)."""
    return asdict(route)
