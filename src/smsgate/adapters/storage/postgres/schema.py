"""The PostgreSQL schema: versioned SQL files, applied in order, once, whoever starts first.

Why it is shaped this way:

- **Files, not strings.** Each migration is ``migrations/NNNN_name.sql`` (shipped as package
  data), named by its version ``NNNN_name``. A DBA can read and apply them by hand; append new
  files, never edit one that was released.
- **One transaction, one lock.** Several processes of a scale-out installation may start at the
  same moment. :func:`apply_migrations` takes a transaction-scoped advisory lock first, so the
  others wait, then see the versions the first one recorded in ``schema_migrations`` and apply
  nothing. PostgreSQL's DDL is transactional: a migration that fails leaves no half-built
  schema behind, and the versions before it are not recorded either (they are retried whole).
- **Refuse the future.** A database that records a version this code does not know was
  migrated by a newer smsgate: starting against it could corrupt what the newer one relies on.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import asyncpg

from smsgate.ports.store import StoreError

__all__ = ["LOCK_KEY", "MIGRATIONS", "Migration", "apply_migrations", "migrate", "pending"]

#: The advisory lock that serialises migrations (any bigint; "smsgate" in ASCII).
LOCK_KEY: Final = 0x736D7367617465


@dataclass(frozen=True, slots=True)
class Migration:
    version: str  # the file name without .sql, e.g. "0001_initial"
    sql: str


def _load() -> tuple[Migration, ...]:
    folder = resources.files(__package__).joinpath("migrations")
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return tuple(Migration(f.name.removesuffix(".sql"), f.read_text("utf-8")) for f in files)


#: Every migration this code knows, in the order they apply.
MIGRATIONS: Final = _load()

_CREATE_VERSIONS: Final = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
)


async def pending(conn: Any) -> list[str]:
    """The versions not yet applied to the connection's database (without changing it).

    StoreError if the database records a version this code does not know."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    applied: set[str] = set()
    if exists:
        applied = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
    _refuse_unknown(applied)
    return [m.version for m in MIGRATIONS if m.version not in applied]


async def apply_migrations(conn: Any) -> list[str]:
    """Apply the pending migrations in one transaction under the advisory lock; the versions
    applied (none when another process got there first)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
        await conn.execute(_CREATE_VERSIONS)
        applied = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        _refuse_unknown(applied)
        done: list[str] = []
        for migration in MIGRATIONS:
            if migration.version in applied:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)", migration.version
            )
            done.append(migration.version)
    return done


async def migrate(url: str) -> list[str]:
    """Bring the database at ``url`` up to date; the versions applied (for ``smsgate migrate``).

    Safe to run while servers are up and while other processes migrate too."""
    try:
        conn = await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise StoreError(f"cannot connect to PostgreSQL: {type(exc).__name__}: {exc}") from exc
    try:
        return await apply_migrations(conn)
    except asyncpg.PostgresError as exc:
        raise StoreError(f"migration failed: {type(exc).__name__}: {exc}") from exc
    finally:
        await conn.close()


def _refuse_unknown(applied: set[str]) -> None:
    unknown = sorted(applied - {m.version for m in MIGRATIONS})
    if unknown:
        raise StoreError(
            f"the database has schema versions this smsgate does not know ({', '.join(unknown)}):"
            " it was migrated by a newer smsgate; run that one"
        )
