"""Where the tests find PostgreSQL and Redis, and what they do when they cannot.

The scale-out adapters are tested against real servers (this machine and CI run both). On a
machine without them those tests skip with a message naming the address they tried and the
variable that points them elsewhere; ``SMSGATE_REQUIRE_SERVICES=1`` turns the skip into a
failure, so that CI cannot pass by skipping the scale-out leg.

    SMSGATE_TEST_POSTGRES   default postgresql://postgres@127.0.0.1:5432/postgres
    SMSGATE_TEST_REDIS      default redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import os
import socket
from functools import cache
from urllib.parse import urlsplit

import pytest

__all__ = ["postgres_url", "redis_url"]

_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
_REDIS = "redis://127.0.0.1:6379/0"


def postgres_url() -> str:
    """The PostgreSQL server's URL (an administrative database: tests create their own)."""
    return _reachable_or_skip("SMSGATE_TEST_POSTGRES", _POSTGRES, 5432, "PostgreSQL")


def redis_url() -> str:
    """The Redis server's URL (tests keep their keys under a prefix of their own)."""
    return _reachable_or_skip("SMSGATE_TEST_REDIS", _REDIS, 6379, "Redis")


def _reachable_or_skip(variable: str, default: str, default_port: int, name: str) -> str:
    url = os.environ.get(variable, default)
    problem = _unreachable(url, default_port)
    if problem is None:
        return url
    message = f"{name} is not reachable at {url} ({problem}); set {variable} to point elsewhere"
    if os.environ.get("SMSGATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (SMSGATE_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


@cache
def _unreachable(url: str, default_port: int) -> str | None:
    """Why a TCP connection to the URL's host cannot be made, or None when it can."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return None
    except OSError as error:
        return error.strerror or type(error).__name__
