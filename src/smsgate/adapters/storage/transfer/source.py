"""The SQLite database being moved, held so that nothing else can write it until the move ends.

A running server keeps its SQLite database open; a copy taken meanwhile would miss whatever it
writes later (messages accepted, balances charged), and those would be lost when servers move
to PostgreSQL. So the source is opened with ``locking_mode = EXCLUSIVE`` and a ``BEGIN
EXCLUSIVE`` transaction:

- **A live server is refused.** In WAL mode every open connection holds a shared lock on the
  database file for as long as it is open, so the exclusive lock cannot be had while a server
  (or any other process) has the file open: :class:`SourceInUseError`, after a short wait that lets
  a one-off administration command finish.
- **Nothing starts on it meanwhile.** The exclusive lock is kept until :meth:`close`: a server
  or an administration command started during the move fails to open the database rather than
  writing what the move would miss.
- **One snapshot.** Every read happens in the one transaction, so the counts the verification
  compares and the rows copied are the same rows. ``query_only`` guards against writes: the
  transaction is rolled back at the end. (Closing the connection checkpoints the WAL into the
  database file, as any last connection does: its content does not change.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from smsgate.adapters.storage.sqlite.schema import MIGRATIONS
from smsgate.adapters.storage.transfer.tables import SKIPPED, SKIPPED_PREFIX, TABLES, Row

__all__ = ["SourceError", "SourceInUseError", "SqliteSource"]

_BUSY_TIMEOUT_S: Final = 2.0


class SourceError(Exception):
    """The SQLite database cannot be moved as it is; the message says why and what to do."""


class SourceInUseError(SourceError):
    """Another process has the database open (a running server, most likely)."""


class SqliteSource:
    """The data directory's SQLite database, locked for the move (see the module docstring).

    Use as a context manager, or :meth:`open` and :meth:`close`."""

    def __init__(self, path: Path, *, busy_timeout_s: float = _BUSY_TIMEOUT_S) -> None:
        self.path = path
        self._busy_timeout_s = busy_timeout_s
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> SqliteSource:
        self.open()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Take the exclusive lock and check the schema; SourceError if it cannot be moved."""
        if not self.path.is_file():  # sqlite3.connect would create an empty one
            raise SourceError(f"no SQLite database {self.path}")
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self._busy_timeout_s)
        try:
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            try:
                conn.execute("BEGIN EXCLUSIVE")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise SourceError(f"cannot open {self.path}: {exc}") from exc
                raise SourceInUseError(
                    f"{self.path} is in use by another process (a server running on it?): stop "
                    "it first; a copy made meanwhile would miss everything it writes afterwards"
                ) from exc
            conn.execute("PRAGMA query_only = ON")
            _check_schema(conn, self.path)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise SourceError(f"cannot read {self.path}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def close(self) -> None:
        """End the read transaction and release the lock."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.execute("ROLLBACK")
            finally:
                conn.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the source is not open")
        return self._conn

    def pages(self, sql: str, params: Mapping[str, Any], size: int) -> Iterator[list[Row]]:
        """The rows of one query, ``size`` at a time, off one cursor."""
        cursor = self._connection().execute(sql, params)
        try:
            while rows := cursor.fetchmany(size):
                yield rows
        finally:
            cursor.close()

    def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return self._connection().execute(sql, params or {}).fetchall()

    def sealed_secret(self) -> tuple[str, str] | None:
        """One AccessKey's id and sealed secret (None: no key), to check a master key on."""
        rows = self.fetch("SELECT id, secret_sealed FROM access_keys ORDER BY id LIMIT 1")
        return (rows[0][0], rows[0][1]) if rows else None

    def sequence(self, table: str) -> int:
        """The highest id SQLite's AUTOINCREMENT ever gave in ``table`` (0: none, or not an
        AUTOINCREMENT table)."""
        rows = self.fetch("SELECT seq FROM sqlite_sequence WHERE name = :name", {"name": table})
        return int(rows[0][0]) if rows else 0


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """The schema this code's plan was made for: the current version, no table undecided."""
    version = conn.execute("PRAGMA user_version").fetchall()[0][0]
    if version != len(MIGRATIONS):
        if version > len(MIGRATIONS):
            raise SourceError(
                f"{path} has schema version {version}, made by a newer smsgate (this one knows "
                f"{len(MIGRATIONS)}): move it with that one"
            )
        raise SourceError(
            f"{path} has schema version {version}, older than this smsgate's ({len(MIGRATIONS)}): "
            f"bring it up to date first with `smsgate init --data-dir {path.parent}` (it "
            "upgrades the database in place), then move it"
        )
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    known = {t.source for t in TABLES} | set(SKIPPED)
    unknown = sorted(n for n in names - known if not n.startswith(SKIPPED_PREFIX))
    if unknown:
        raise SourceError(
            f"{path} has tables this smsgate does not know how to move: {', '.join(unknown)}"
        )
