"""Health: which failures are the disk's, and the not-ready/ready transitions, logged once each.

The errors are real ones: ``OSError(ENOSPC)`` as the OS raises it, and the
``sqlite3.OperationalError`` ("database or disk is full") that SQLite raises when a database
cannot grow, produced here by a real SQLite database capped with ``PRAGMA max_page_count``.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from smsgate.adapters.storage.disk import DiskProblem, disk_problem
from smsgate.ports.store import StoreError
from smsgate.service.health import Readiness

T0 = 1_795_000_000.0


class FixedClock:
    def __init__(self, now: float = T0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


def full_database_error(path: Path) -> sqlite3.OperationalError:
    """What SQLite raises when a write needs a page it may not have."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("CREATE TABLE t (x TEXT)")
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
        with pytest.raises(sqlite3.OperationalError) as raised:
            conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 100)
    return raised.value


# -- what is a disk problem -------------------------------------------------------------------


def test_a_full_database_is_a_full_disk(tmp_path: Path) -> None:
    error = full_database_error(tmp_path / "t.db")
    assert str(error) == "database or disk is full"
    assert disk_problem(error) == DiskProblem("disk_full", "SQLITE_FULL: database or disk is full")
    # As the store raises it to its callers: a StoreError caused by it.
    wrapped = StoreError(f"OperationalError: {error}")
    wrapped.__cause__ = error
    assert disk_problem(wrapped) == disk_problem(error)


@pytest.mark.parametrize(
    ("number", "code"),
    [(errno.ENOSPC, "disk_full"), (errno.EIO, "disk_io_error"), (errno.EROFS, "read_only")],
)
def test_os_errors_of_the_disk(number: int, code: str) -> None:
    problem = disk_problem(OSError(number, os.strerror(number)))
    assert problem is not None
    assert problem.code == code
    assert os.strerror(number) in problem.detail


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.IntegrityError("UNIQUE constraint failed: messages.id"),
        sqlite3.OperationalError("database is locked"),
        ValueError("insufficient balance"),
        OSError(errno.ECONNRESET, "Connection reset by peer"),
        None,
    ],
)
def test_other_failures_are_not_the_disk(error: BaseException | None) -> None:
    assert disk_problem(error) is None


# -- transitions ------------------------------------------------------------------------------


def test_not_ready_and_ready_again_are_logged_once_each(caplog: pytest.LogCaptureFixture) -> None:
    clock = FixedClock()
    readiness = Readiness(clock)
    assert readiness.ready
    assert readiness.view() == {"status": "ok"}

    with caplog.at_level(logging.INFO, logger="smsgate.service.health"):
        for _ in range(100):  # every failing write reports it; one line says it
            readiness.failing("store", "disk_full", "SQLITE_FULL: database or disk is full", "a")
        clock.t = T0 + 12.5
        readiness.recovered("store")
        readiness.recovered("store")  # recovered again: nothing to say

    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, "health.not_ready"),
        (logging.WARNING, "health.ready"),
    ]
    assert caplog.records[0].smsgate_fields == {  # type: ignore[attr-defined]
        "component": "store",
        "problem": "disk_full",
        "detail": "SQLITE_FULL: database or disk is full",
        "advice": "a",
    }
    assert caplog.records[1].smsgate_fields == {  # type: ignore[attr-defined]
        "component": "store",
        "problem": "disk_full",
        "lasted_s": 12.5,
    }
    assert readiness.ready


def test_another_problem_is_news_but_keeps_its_start(caplog: pytest.LogCaptureFixture) -> None:
    clock = FixedClock()
    readiness = Readiness(clock)
    readiness.failing("store", "disk_full", "full")
    clock.t = T0 + 5
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="smsgate.service.health"):
        readiness.failing("store", "read_only", "read-only file system")

    assert len(caplog.records) == 1
    (problem,) = readiness.problems
    assert (problem.code, problem.since) == ("read_only", T0)
    assert readiness.view() == {
        "status": "not ready",
        "problems": [
            {
                "component": "store",
                "problem": "read_only",
                "detail": "read-only file system",
                "advice": "",
                "since": "2026-11-18T11:06:40Z",
            }
        ],
    }
