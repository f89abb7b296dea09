"""Routing on the delivery path: the connectors each message may leave by, in the order to try.

The routes (``domain.routing``) and the connectors (``domain.connectors``) are policy documents
that :class:`~smsgate.service.policy.PolicyCache` keeps parsed and current, so routing a batch
costs one cache check and, per message, a walk of the routes in memory: no store round trip.

A plan names only connectors that exist: the simulator, or one of the ``connectors`` document. A
route to a connector that is no longer configured (the document was edited by hand) is skipped as
if it were not there; one whose connector is configured but not running (yet, or any more) stays
in the plan, and the carrier passes it over as down.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Mapping, Sequence

from smsgate.domain import connectors
from smsgate.domain.connectors import ConnectorSpec
from smsgate.domain.models import Message
from smsgate.domain.routing import SIMULATOR, RouteFacts
from smsgate.service.policy import PolicyCache

__all__ = ["Router", "facts_of"]

_NO_CONNECTORS: Mapping[str, ConnectorSpec] = {}


def facts_of(message: Message) -> RouteFacts:
    """What routing looks at in a message."""
    return RouteFacts(
        to=message.to,
        region_code=message.region_code,
        network=message.network,
        account_id=message.account_id,
        sender=message.sender,
    )


class Router:
    """Plans for messages from the current route table (see the module docstring).

    ``random`` draws the order of routes that share traffic by weight (tests pass a seeded one).
    """

    def __init__(self, policy: PolicyCache, random: Callable[[], float] = _random.random) -> None:
        self._policy = policy
        self._random = random

    async def plans(self, messages: Sequence[Message]) -> list[list[str]]:
        """One plan per message, in order: connector names, first choice first; ``[]`` when no
        route takes the message now (the routes changed after it was accepted)."""
        table = (await self._policy.current()).routes
        if not table.routes:
            return [[SIMULATOR] for _ in messages]
        configured = await self._policy.document(connectors.DOCUMENT, _NO_CONNECTORS)
        draw = self._random
        return [
            [c for c in table.plan(facts_of(m), draw) if c == SIMULATOR or c in configured]
            for m in messages
        ]
