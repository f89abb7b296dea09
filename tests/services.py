"""Where the tests find PostgreSQL and Redis, and what they do when they cannot.

The scale-out adapters are tested against real servers (this machine and CI run both). On a
machine without them those tests skip with a message naming the address they tried and the
variable that points them elsewhere; ``SMSGATE_REQUIRE_SERVICES=1`` turns the skip into a
failure, so that CI cannot pass by skipping the scale-out leg.

    SMSGATE_TEST_POSTGRES   default postgresql://postgres@127.0.0.1:5432/postgres
    SMSGATE_TEST_REDIS      default redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Iterator
from functools import cache
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from redis.asyncio import Redis

__all__ = [
    "admin_statements",
    "database_url",
    "delete_redis_keys",
    "fresh_postgres_database",
    "postgres_url",
    "redis_url",
]

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


def database_url(url: str, database: str) -> str:
    """``url`` naming another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


async def admin_statements(url: str, *statements: str) -> None:
    """Run statements that cannot run in a transaction (CREATE/DROP DATABASE), in order."""
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """The URL of a new, empty database (smsgate migrates it), dropped afterwards: for tests
    whose servers run in other processes."""
    admin = postgres_url()
    name = f"smsgate_t_{secrets.token_hex(6)}"
    asyncio.run(admin_statements(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield database_url(admin, name)
    finally:
        asyncio.run(admin_statements(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def delete_redis_keys(client: Redis, prefix: str) -> None:
    """Delete every key under a test's prefix (a test shares the server with others)."""
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
    for start in range(0, len(keys), 1000):
        await client.unlink(*keys[start : start + 1000])
