"""Which addresses receipt pushes may reach: pure rules, applied by the HTTP callback adapter.

A callback URL is chosen by a customer, and the server POSTs to it: left unchecked that is a
server-side request forgery, and the classic target is the cloud metadata service
(169.254.169.254 at most clouds, 100.100.100.200 at Alibaba Cloud), which hands out the
machine's credentials. Loopback and private networks stay allowed by default: developers push
receipts to a listener on their own machine, and operators to their own networks; an operator
who does not want that adds those networks to ``[callbacks] blocked_networks``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_BLOCKED_NETWORKS",
    "BlockedDestinationError",
    "DestinationPolicy",
    "parse_networks",
]

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Link-local (where the metadata services live), and Alibaba Cloud's metadata address.
DEFAULT_BLOCKED_NETWORKS = "169.254.0.0/16,fe80::/10,100.100.100.200/32,fd00:ec2::254/128"


class BlockedDestinationError(OSError):
    """The callback's host is, or resolves only to, a blocked address."""


def parse_networks(text: str) -> tuple[IpNetwork, ...]:
    """``"169.254.0.0/16,fe80::/10"`` as networks; ``"none"`` or blank for none; ValueError."""
    if text.strip().lower() in ("", "none"):
        return ()
    networks = []
    for part in text.split(","):
        try:
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{part.strip()!r} is not a network such as 169.254.0.0/16") from None
    return tuple(networks)


class DestinationPolicy:
    def __init__(self, blocked: Iterable[IpNetwork]) -> None:
        self._blocked = tuple(blocked)

    def allows_address(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return not any(ip in network for network in self._blocked)

    def check_url(self, url: str) -> None:
        """Refuse a URL whose host is a literal blocked address (names are checked when
        resolved, see :class:`GuardedResolver`)."""
        host = urlsplit(url).hostname or ""
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return  # a name
        if not self.allows_address(host):
            raise BlockedDestinationError(f"callback address {host} is blocked")
