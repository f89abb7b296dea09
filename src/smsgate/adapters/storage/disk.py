"""Which store failures are the disk's: a full disk, an I/O error, a file system gone read-only.

Those are the operator's to fix (and the server cannot serve until they are), unlike a failure
of one operation (a duplicate id, a busy lock). The writer tells them apart with
:func:`disk_problem` so that it can report the store not ready once, when writes start failing,
and ready again once they succeed, instead of logging every request that fails meanwhile.
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Final

from smsgate.ports.store import StoreProblem

__all__ = ["ADVICE", "DiskProblem", "disk_problem"]

#: SQLite primary result codes (the low byte of an extended code).
_SQLITE_READONLY: Final = 8
_SQLITE_IOERR: Final = 10
_SQLITE_FULL: Final = 13

_BY_SQLITE_CODE: Final = {
    _SQLITE_FULL: "disk_full",
    _SQLITE_IOERR: "disk_io_error",
    _SQLITE_READONLY: "read_only",
}
_BY_ERRNO: Final = {
    errno.ENOSPC: "disk_full",
    errno.EDQUOT: "disk_full",
    errno.EIO: "disk_io_error",
    errno.EROFS: "read_only",
}
#: What each problem asks of the operator.
ADVICE: Final = {
    "disk_full": "free some space; smsgate recovers by itself when writes succeed again",
    "disk_io_error": "check the disk and the system log; smsgate retries by itself",
    "read_only": "make the file system writable again; smsgate retries by itself",
}


#: A disk problem is the store problem of an embedded store (``ports.store.StoreProblem``).
DiskProblem = StoreProblem


def disk_problem(error: BaseException | None) -> DiskProblem | None:
    """The disk problem behind ``error`` (or what it was raised from), None if it is not one."""
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, sqlite3.Error):
            code = getattr(error, "sqlite_errorcode", None)
            if isinstance(code, int) and code & 0xFF in _BY_SQLITE_CODE:
                return DiskProblem(_BY_SQLITE_CODE[code & 0xFF], f"{_name(error)}: {error}")
            if "database or disk is full" in str(error):  # raised without a code
                return DiskProblem("disk_full", f"{_name(error)}: {error}")
        elif isinstance(error, OSError) and error.errno in _BY_ERRNO:
            return DiskProblem(_BY_ERRNO[error.errno], f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
        seen += 1
    return None


def _name(error: sqlite3.Error) -> str:
    name = getattr(error, "sqlite_errorname", None)
    return name if isinstance(name, str) else type(error).__name__
