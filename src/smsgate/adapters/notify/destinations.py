"""aiohttp's resolver for receipt pushes, keeping only addresses the destination policy allows.

The check is made on the *resolved* address at connection time (a name can resolve anywhere, and
change); literal addresses are checked before connecting, and redirects are not followed (see
:mod:`smsgate.adapters.notify.http_callbacks`). The rules are :mod:`smsgate.domain.destinations`.
"""

from __future__ import annotations

import logging
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from smsgate.domain.destinations import BlockedDestinationError, DestinationPolicy
from smsgate.logs import log_event

__all__ = ["GuardedResolver"]

log = logging.getLogger(__name__)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, keeping only the addresses the policy allows."""

    def __init__(self, policy: DestinationPolicy) -> None:
        self._policy = policy
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if self._policy.allows_address(r["host"])]
        if not allowed:
            # aiohttp reports this as a DNS failure; the log says what really happened.
            log_event(log, logging.WARNING, "callback.blocked_destination", host=host)
            raise BlockedDestinationError(
                f"callback host {host} resolves only to blocked addresses"
            )
        return allowed

    async def close(self) -> None:
        await self._inner.close()
