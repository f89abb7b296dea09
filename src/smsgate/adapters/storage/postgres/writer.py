"""The PostgreSQL store's group-commit writer: every write of a process, a batch at a time.

Why it is shaped this way:

- **Group commit, as SQLite's writer does it.** A message is accepted only once it is durable,
  and a durable commit costs a WAL flush on the server. Callers queue an operation and await a
  future; one task owns one dedicated connection and runs everything waiting (up to
  ``max_batch``) in ONE transaction, so one flush covers a whole batch of callers. Operations
  queued while a batch runs wait for the next one: under load batches grow by themselves.
  Unlike SQLite's writer this is a task on the event loop, not a thread: asyncpg's I/O does not
  hold the loop while the server works.
- **Set-wise work.** Adjacent operations that a *group runner* knows (inserts, accepts and
  nonces, see ``messages.py``) are handed to it together, so a run of accepts costs a few
  statements, not a few per message.
- **Failure isolation.** One bad operation (a duplicate id) must not fail the others: the batch
  is rolled back and run again with a SAVEPOINT per operation, so only the failing caller sees
  its error and the rest still commit together.
- **Transient failures are retried whole.** A deadlock or serialization failure (several
  processes lock the same rows) and a connection lost before COMMIT leave nothing committed:
  the batch is run again on a fresh connection, up to ``_ATTEMPTS`` times.
- **A COMMIT whose answer is lost.** If the connection drops (or times out) after COMMIT was
  sent, the batch may or may not have committed. The writer asked for the transaction's id
  (``pg_current_xact_id()``) when it began; it reconnects and asks ``pg_xact_status``. If the
  old backend is still "in progress" (the server has not noticed the drop yet), it is
  terminated with ``pg_terminate_backend(pid, timeout)``, which waits for it to end, and asked
  again. Committed: the callers get the results computed in that transaction. Aborted: the
  batch runs again, exactly as if it had never been sent. Still unknown (the status is gone,
  or the server cannot be reached): every caller gets a StoreError saying the outcome is
  unknown, and nothing is retried blindly. A retry can never charge twice anyway: message ids
  are primary keys, so accepting a message that did commit fails on its id and its savepoint
  takes its charge back.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast

import asyncpg

from smsgate.adapters.storage.disk import DiskProblem
from smsgate.ports.store import StoreError

__all__ = [
    "Connect",
    "GroupFn",
    "WriteFn",
    "Writer",
    "WriterStats",
    "as_store_error",
    "disk_problem",
]

log = logging.getLogger(__name__)

_R = TypeVar("_R")

#: An operation: runs inside the batch's transaction on the writer's connection.
WriteFn = Callable[[Any, Any], Awaitable[Any]]
#: A group runner: a run of adjacent operations it knows, (fn, arg) each; one value each.
GroupFn = Callable[[Any, list[tuple[WriteFn, Any]]], Awaitable[list[object]]]
Connect = Callable[[], Awaitable[Any]]

_ATTEMPTS: Final = 3  # tries of one batch over transient failures
_PROBE_INTERVAL_S: Final = 1.0  # while commits fail on the server's disk and none are waiting
_TERMINATE_WAIT_MS: Final = 5000  # how long pg_terminate_backend waits for the old backend
#: SQLSTATEs after which the whole batch may simply run again (nothing was committed).
_TRANSIENT: Final = frozenset({"40001", "40P01"})  # and a lost connection (_is_connection_lost)
#: SQLSTATEs that are the server's storage, as the SQLite writer reports its disk.
_DISK: Final = {
    "53100": "disk_full",
    "58030": "disk_io_error",
    "25006": "read_only",  # read_only_sql_transaction: e.g. the URL now names a standby
}


@dataclass(slots=True)
class WriterStats:
    """Counters kept by the writer, for benchmarks and tests (batch size = ops/batches)."""

    batches: int = 0
    ops: int = 0
    isolated_batches: int = 0  # batches re-run one savepoint per op because one op failed
    retried_batches: int = 0  # batches run again after a transient failure
    unknown_commits: int = 0  # COMMITs whose answer was lost (see the module docstring)


class _Op:
    __slots__ = ("arg", "fn", "future")

    def __init__(self, fn: WriteFn, arg: Any, future: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.arg = arg
        self.future = future


class _RetryError(Exception):
    """Nothing of the batch was committed and running it again may succeed."""


class _CommitUnknownError(Exception):
    """COMMIT was sent and its answer lost."""

    def __init__(self, xid: int, pid: int, values: list[object], errors: list[Any] | None):
        super().__init__(f"the answer to COMMIT of transaction {xid} was lost")
        self.xid = xid
        self.pid = pid
        self.values = values
        self.errors = errors


_STOP: Final = object()


class Writer:
    """One connection, one task, every write of the store (see the module docstring)."""

    def __init__(
        self,
        connect: Connect,
        *,
        grouped: Mapping[WriteFn, GroupFn],
        max_batch: int = 512,
        linger_s: float = 0.0,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._connect = connect
        self._grouped = grouped
        self._max_batch = max_batch
        self._linger = linger_s
        self._queue: collections.deque[_Op | object] = collections.deque()
        self._wakeup = asyncio.Event()
        self._full = asyncio.Event()  # set when a batch's worth is waiting (ends a linger)
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._open = False
        self._disk: DiskProblem | None = None
        self._listener: Callable[[DiskProblem | None], None] | None = None
        #: Called right before an op is queued (the store queues its pending nonces there).
        self.before_queue: Callable[[], None] | None = None
        self.stats = WriterStats()

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._conn = await self._connect()
        self._open = True
        self._task = asyncio.get_running_loop().create_task(self._serve(), name="smsgate-pg-writer")

    async def close(self) -> None:
        """Finish every queued write, then close the connection."""
        if not self._open:
            return
        self._open = False
        self._queue.append(_STOP)
        self._wakeup.set()
        if self._task is not None:
            await self._task
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)

    @property
    def is_open(self) -> bool:
        return self._open

    def set_disk_listener(self, listener: Callable[[DiskProblem | None], None]) -> None:
        self._listener = listener

    # -- queueing -----------------------------------------------------------------------------

    def submit(self, fn: WriteFn, arg: Any) -> asyncio.Future[Any]:
        """Queue one operation; its future resolves once its batch is committed."""
        if not self._open:
            raise StoreError("the store is not open")
        if self.before_queue is not None:
            self.before_queue()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.submit_future(fn, arg, future)
        return future

    def submit_future(self, fn: WriteFn, arg: Any, future: asyncio.Future[Any]) -> None:
        """Queue an operation whose future the caller made (shared by several callers)."""
        self._queue.append(_Op(fn, arg, future))
        self._wakeup.set()
        if len(self._queue) >= self._max_batch:
            self._full.set()

    async def write(self, fn: Callable[[Any, Any], Awaitable[_R]], arg: Any) -> _R:
        return cast(_R, await self.submit(fn, arg))

    # -- the task -----------------------------------------------------------------------------

    async def _serve(self) -> None:
        queue, max_batch = self._queue, self._max_batch
        while True:
            if not queue:
                self._wakeup.clear()
                if self._disk is None:
                    await self._wakeup.wait()
                else:
                    # Commits are failing on the server's storage: with nothing to write,
                    # commit an empty transaction now and then, so that health recovers when
                    # the server can write again, traffic or not.
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), _PROBE_INTERVAL_S)
                    except TimeoutError:
                        await self._probe()
                    continue
            if self._linger and len(queue) < max_batch and queue[0] is not _STOP:
                # A trickle: let more writes join this commit, for at most the linger or until
                # a batch's worth is waiting (see SqliteStore._serve for what it buys).
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._linger)
            batch: list[_Op] = []
            stopping = False
            while queue and len(batch) < max_batch:
                item = queue.popleft()
                if item is _STOP:
                    stopping = True
                    break
                batch.append(cast(_Op, item))
            if batch:
                await self._commit(batch)
            if stopping:
                # Whatever was queued after the stop (nothing should be) is refused.
                while queue:
                    item = queue.popleft()
                    if isinstance(item, _Op) and not item.future.done():
                        item.future.set_exception(StoreError("the store is not open"))
                return

    async def _commit(self, batch: list[_Op]) -> None:
        """Run the batch until its outcome is known; resolve every caller's future."""
        self.stats.batches += 1
        self.stats.ops += len(batch)
        error: BaseException = StoreError("the batch failed")
        for attempt in range(_ATTEMPTS):
            if attempt:
                self.stats.retried_batches += 1
            try:
                values, errors = await self._run(batch)
            except _RetryError as retry:
                error = retry.__cause__ or retry
                continue
            except _CommitUnknownError as unknown:
                self.stats.unknown_commits += 1
                status = await self._resolve(unknown)
                if status == "committed":
                    self._observe(_first_problem(unknown.errors))
                    self._deliver(batch, unknown.values, unknown.errors)
                    return
                if status == "aborted":
                    error = unknown
                    continue
                self._fail(
                    batch,
                    StoreError(
                        f"the outcome of a commit is unknown ({unknown}; transaction status: "
                        f"{status or 'unavailable'}); the writes may or may not be stored"
                    ),
                )
                return
            except Exception as exc:  # no connection to be had, or the commit itself failed
                self._observe(disk_problem(exc))
                self._fail(batch, as_store_error(exc))
                return
            self._observe(_first_problem(errors))
            self._deliver(batch, values, errors)
            return
        self._fail(batch, as_store_error(error))

    async def _run(self, batch: list[_Op]) -> tuple[list[object], list[Any] | None]:
        """One attempt: the batch together, or op by op if an op failed."""
        conn = await self._connection()
        try:
            return await self._transaction(conn, lambda c: self._together(c, batch)), None
        except (_RetryError, _CommitUnknownError):
            raise
        except Exception:
            self.stats.isolated_batches += 1
        conn = await self._connection()
        errors: list[Any] = [None] * len(batch)
        values = await self._transaction(conn, lambda c: self._isolated(c, batch, errors), errors)
        return values, errors

    async def _transaction(
        self, conn: Any, body: Callable[[Any], Awaitable[_R]], errors: list[Any] | None = None
    ) -> _R:
        """``body`` in one transaction whose id is known, so that a lost COMMIT answer can be
        resolved; _RetryError when nothing can have been committed and trying again may work, the
        error itself when the body failed (rolled back)."""
        pid = conn.get_server_pid()  # not to be had from a connection that broke
        try:
            await conn.execute("BEGIN")
            xid = await conn.fetchval("SELECT pg_current_xact_id()")
            result = await body(conn)
        except Exception as exc:
            await self._rollback(conn)
            if _is_transient(exc):
                raise _RetryError from exc
            raise
        try:
            await conn.execute("COMMIT")
        except Exception as exc:
            if _is_connection_lost(exc):
                self._drop(conn)
                values = cast(list[object], result)
                raise _CommitUnknownError(int(xid), pid, values, errors) from exc
            # The server answered: it rolled back.
            await self._rollback(conn)
            if _is_transient(exc):
                raise _RetryError from exc
            raise StoreError(f"COMMIT failed: {type(exc).__name__}: {exc}") from exc
        return result

    async def _together(self, conn: Any, batch: list[_Op]) -> list[object]:
        values: list[object] = []
        grouped = self._grouped
        i, n = 0, len(batch)
        while i < n:
            op = batch[i]
            group = grouped.get(op.fn)
            if group is None:
                values.append(await op.fn(conn, op.arg))
                i += 1
                continue
            j = i + 1
            while j < n and grouped.get(batch[j].fn) is group:
                j += 1
            values.extend(await group(conn, [(o.fn, o.arg) for o in batch[i:j]]))
            i = j
        return values

    async def _isolated(self, conn: Any, batch: list[_Op], errors: list[Any]) -> list[object]:
        """The slow path after a failure: one savepoint per op, so only failing ops are undone.
        A transient failure still escapes: the whole batch is then tried again."""
        values: list[object] = [None] * len(batch)
        for i, op in enumerate(batch):
            await conn.execute("SAVEPOINT op")
            try:
                values[i] = await op.fn(conn, op.arg)
            except Exception as exc:
                if _is_transient(exc):
                    raise
                await conn.execute("ROLLBACK TO SAVEPOINT op")
                errors[i] = as_store_error(exc)
            else:
                await conn.execute("RELEASE SAVEPOINT op")
        return values

    async def _resolve(self, unknown: _CommitUnknownError) -> str | None:
        """'committed', 'aborted', or what is left when that cannot be told (see module)."""
        try:
            conn = await self._connection()
            status = await conn.fetchval("SELECT pg_xact_status($1::xid8)", unknown.xid)
            if status == "in progress":
                # The old backend has not noticed the drop: end it and wait until it has.
                await conn.fetchval(
                    "SELECT pg_terminate_backend($1, $2)", unknown.pid, _TERMINATE_WAIT_MS
                )
                status = await conn.fetchval("SELECT pg_xact_status($1::xid8)", unknown.xid)
        except (StoreError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return None
        return cast(str | None, status)

    async def _probe(self) -> None:
        """The smallest real commit: a transaction with an id writes a commit record."""
        try:
            conn = await self._connection()
            await self._transaction(conn, _nothing)
        except Exception as exc:  # reported through _observe; the probe has no caller
            self._observe(disk_problem(exc))
        else:
            self._observe(None)

    # -- the connection -----------------------------------------------------------------------

    async def _connection(self) -> Any:
        conn = self._conn
        if conn is not None and not conn.is_closed():
            return conn
        self._conn = None
        try:
            self._conn = await self._connect()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise StoreError(
                f"cannot reach PostgreSQL for writing: {type(exc).__name__}: {exc}"
            ) from exc
        return self._conn

    async def _rollback(self, conn: Any) -> None:
        if conn.is_closed():
            self._drop(conn)
            return
        try:
            await conn.execute("ROLLBACK")
        except Exception:
            self._drop(conn)

    def _drop(self, conn: Any) -> None:
        """Forget a connection that failed mid-way; the next batch opens a new one."""
        if self._conn is conn:
            self._conn = None
        conn.terminate()

    # -- results ------------------------------------------------------------------------------

    def _deliver(self, batch: list[_Op], values: list[object], errors: list[Any] | None) -> None:
        for i, op in enumerate(batch):
            future = op.future
            if future.done():  # cancelled by its caller
                continue
            error = None if errors is None else errors[i]
            if error is None:
                future.set_result(values[i])
            else:
                future.set_exception(error)

    def _fail(self, batch: list[_Op], error: BaseException) -> None:
        for op in batch:
            if not op.future.done():
                op.future.set_exception(error)

    def _observe(self, problem: DiskProblem | None) -> None:
        """Note the outcome of a commit (or probe); tell the listener of changes."""
        if (problem and problem.code) == (self._disk and self._disk.code):
            return
        self._disk = problem
        if self._listener is not None:
            try:
                self._listener(problem)
            except Exception:  # the writer must go on whatever the listener does
                log.exception("the store's disk listener failed")


async def _nothing(_conn: Any) -> None:
    return None


def _first_problem(errors: list[Any] | None) -> DiskProblem | None:
    return next(filter(None, map(disk_problem, errors or ())), None)


def _is_connection_lost(exc: BaseException) -> bool:
    """The connection broke (or the server ended it): what was sent last may or may not have
    been done."""
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", None) or ""
        return state.startswith(("08", "57P"))
    return isinstance(exc, (OSError, asyncpg.InterfaceError, TimeoutError))


def _is_transient(exc: BaseException) -> bool:
    """Nothing was committed, and the same batch may well succeed on a fresh try."""
    if isinstance(exc, _RetryError) or _is_connection_lost(exc):
        return True
    return getattr(exc, "sqlstate", None) in _TRANSIENT


def disk_problem(error: BaseException | None) -> DiskProblem | None:
    """The storage problem behind ``error`` (or what it was raised from), None if not one."""
    seen = 0
    while error is not None and seen < 5:
        state = getattr(error, "sqlstate", None)
        if isinstance(error, asyncpg.PostgresError) and state in _DISK:
            return DiskProblem(_DISK[state], f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
        seen += 1
    return None


def as_store_error(exc: BaseException) -> BaseException:
    """Database failures become StoreError; domain errors (ValueError...) pass through."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)):
        error = StoreError(f"{type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error
    return exc
