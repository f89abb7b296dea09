"""``PostgresStore``: the store port on PostgreSQL, for several processes sharing one database.

A drop-in for :class:`~smsgate.adapters.storage.sqlite.SqliteStore` (same methods, same
``set_disk_listener``, ``stats``, ``remember_nonce`` that queues rather than awaits), composed
of one class per protocol (``accounts``, ``templates``, ``messages``, ``receipts``,
``callbacks``, ``inbound``, ``policy``, ``nonces``) over the shared plumbing in ``base`` and
the group-commit ``writer``.

**Migrations on start.** ``start()`` applies pending migrations (``schema.py``: one
transaction under an advisory lock, so processes starting together apply them once), as the
SQLite store does: a single-server installation keeps working after an upgrade without an
extra step. An operator who wants schema changes to be a deliberate step (several servers, a
DBA) passes ``migrate=False``: ``start()`` then refuses a database with pending migrations,
naming them, and ``smsgate migrate`` (``postgres.migrate(url)``) applies them.

**What lives where.** Nothing that decides correctness is kept only in one process's memory:
balances, carrier ids, kept receipts, owed SMPP receipts, callbacks and their due times and
claims are rows. What a process keeps is its writer's queue (durable once awaited) and its
claims' identity (``claimant``): a store instance that closes gives its claims back; one that
dies leaves them to the others once ``claim_s`` has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Callable
from typing import Any, Final, Literal

import asyncpg

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.disk import DiskProblem
from smsgate.adapters.storage.postgres.accounts import Accounts
from smsgate.adapters.storage.postgres.callbacks import CALLBACKS, MO_PUSHES, Callbacks
from smsgate.adapters.storage.postgres.inbound import Inbound
from smsgate.adapters.storage.postgres.messages import GROUPED, Messages
from smsgate.adapters.storage.postgres.nonces import Nonces
from smsgate.adapters.storage.postgres.policy import Policy
from smsgate.adapters.storage.postgres.receipts import Receipts
from smsgate.adapters.storage.postgres.schema import apply_migrations, pending
from smsgate.adapters.storage.postgres.templates import Templates
from smsgate.adapters.storage.postgres.work import Work
from smsgate.adapters.storage.postgres.writer import Writer, WriterStats
from smsgate.ports.store import StoreError

__all__ = ["Durability", "PostgresStore"]

Durability = Literal["full", "normal"]

_CONNECT_TIMEOUT_S: Final = 10.0
_RELEASE_CLAIMS: Final = (
    CALLBACKS.release,
    MO_PUSHES.release,
    "UPDATE smpp_receipts SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = $1",
    "UPDATE smpp_mo SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = $1",
)


class PostgresStore(
    Accounts, Templates, Messages, Receipts, Callbacks, Inbound, Policy, Nonces, Work
):
    """The :class:`smsgate.ports.store.Store` port on PostgreSQL (see the module docstring).

    ``durability="full"`` commits with ``synchronous_commit = on``: an accepted message
    survives a crash of the database server. ``"normal"`` turns it off for the writer's
    connection: a crash of smsgate loses nothing, one of the server may lose the last fraction
    of a second of commits (never corrupts), for fewer waits on the WAL flush.

    ``pool_size`` connections serve reads (and claims); one more is the writer's. Must be
    started, used and closed on one event loop. A write whose caller is cancelled may still be
    committed (it was already queued).
    """

    def __init__(
        self,
        url: str,
        box: SecretBox,
        *,
        durability: Durability = "full",
        max_batch: int = 512,
        commit_linger_s: float = 0.0,
        pool_size: int = 4,
        claim_s: float = 60.0,
        migrate: bool = True,
        command_timeout_s: float = 30.0,
        claimant: str | None = None,
    ) -> None:
        if durability not in ("full", "normal"):
            raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        if claim_s <= 0:
            raise ValueError("claim_s must be positive")
        self._url = url
        self._box = box
        self._synchronous = "on" if durability == "full" else "off"
        self._pool_size = pool_size
        self._claim_s = claim_s
        self._migrate = migrate
        self._command_timeout = command_timeout_s
        # Who this instance is in claims. A server passes its node id, unique among the live
        # processes of an installation and the same after a restart: a restarted process then
        # takes back its own claims at once instead of waiting for their leases to run out.
        self._claimant = claimant or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._pool: Any = None
        self._started = False
        self._writer = Writer(
            self._connect_writer, grouped=GROUPED, max_batch=max_batch, linger_s=commit_linger_s
        )
        self._writer.before_queue = self._queue_nonces

    @property
    def stats(self) -> WriterStats:
        return self._writer.stats

    @property
    def claimant(self) -> str:
        """Who this instance is in the claims it takes (host:pid:random)."""
        return self._claimant

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, migrate (or check the schema), start the writer and the read pool."""
        if self._started:
            raise RuntimeError("the store was already started")
        self._started = True
        try:
            conn = await self._connect("smsgate-migrate")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {type(exc).__name__}: {exc}") from exc
        try:
            if self._migrate:
                await apply_migrations(conn)
            else:
                missing = await pending(conn)
                if missing:
                    raise StoreError(
                        f"the database lacks schema migrations {', '.join(missing)}; run "
                        "`smsgate migrate` (or start with migrations enabled)"
                    )
        except asyncpg.PostgresError as exc:
            raise StoreError(f"migration failed: {type(exc).__name__}: {exc}") from exc
        finally:
            await conn.close()
        try:
            self._pool = await asyncpg.create_pool(
                self._url,
                min_size=1,
                max_size=self._pool_size,
                command_timeout=self._command_timeout,
                timeout=_CONNECT_TIMEOUT_S,
                server_settings={"application_name": "smsgate-read"},
            )
            await self._writer.start()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            await self._close_pool()
            raise StoreError(f"cannot connect to PostgreSQL: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        """Finish every queued write, give back this instance's claims, close connections."""
        if self._pool is None:
            return
        self._queue_nonces()
        await self._writer.close()
        with contextlib.suppress(Exception):  # best effort: claims also run out by themselves
            async with self._pool.acquire() as conn:
                for sql in _RELEASE_CLAIMS:
                    await conn.execute(sql, self._claimant)
        await self._close_pool()

    async def _close_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), _CONNECT_TIMEOUT_S)
            except TimeoutError:
                pool.terminate()

    def set_disk_listener(self, listener: Callable[[DiskProblem | None], None]) -> None:
        """Call ``listener`` when commits start failing on the server's storage (full, I/O
        error, read-only) and with None when they succeed again: once per change. A server
        that cannot be reached at all is not a disk problem: those writes fail with a
        StoreError each."""
        self._writer.set_disk_listener(listener)

    # -- connections --------------------------------------------------------------------------

    async def _connect(self, name: str, **settings: str) -> Any:
        return await asyncpg.connect(
            self._url,
            timeout=_CONNECT_TIMEOUT_S,
            command_timeout=self._command_timeout,
            server_settings={"application_name": name, **settings},
        )

    async def _connect_writer(self) -> Any:
        """The writer's connection: its own, so a batch never waits for a pool slot."""
        return await self._connect("smsgate-writer", synchronous_commit=self._synchronous)
