"""Small secret files in the data directory (``master.key``, ``admin.token``): made once, durably.

Losing ``master.key`` loses every stored AccessKey secret, so it must survive a power cut from the
moment the server has used it. A plain ``open``/``write`` leaves the data in the page cache for up
to half a minute: a power cut then leaves a 0-byte file (measured: both files were empty after a
cut within ~30 s of the first start). So a secret file is written to a temporary file in the same
directory (mode 0600 from its creation, whatever the umask), synced, then linked to its name and
the directory synced. ``link`` (unlike ``rename``) refuses to replace a file that exists, so a key
is never overwritten, and two processes starting together agree on the first one written.

A file that is there but unusable (empty, cut short, not what it should be) is never replaced: it
stops the start with :class:`SecretFileError`, a message naming the file and how to restore it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

__all__ = [
    "SecretFileError",
    "create_once",
    "create_private_file",
    "fsync_directory",
    "load_or_create_token",
    "make_private_directory",
    "restrict_to_owner",
]

#: Owner read and write only.
PRIVATE = 0o600


class SecretFileError(OSError):
    """A secret file in the data directory is missing, empty or damaged; the message says which
    and what to do. An ``OSError``, so that ``smsgate serve`` reports it as a start-up failure."""


def make_private_directory(path: Path) -> None:
    """Create ``path`` (and parents) if needed; a directory it creates is the owner's only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def create_once(path: Path, content: bytes) -> bool:
    """Write ``path`` with ``content`` durably and atomically, unless it exists; True if written.

    Never replaces an existing file, even one created by another process meanwhile.
    """
    if path.exists():
        return False  # the common case; a race with another writer is settled by link below
    directory = path.parent
    make_private_directory(directory)
    temporary = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE)
    try:
        _write_synced(fd, content)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            return _create_in_place(path, content)  # a file system without hard links
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    fsync_directory(directory)
    return True


def _create_in_place(path: Path, content: bytes) -> bool:
    """Where hard links are refused: O_EXCL on the name itself (still never an overwrite)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE)
    except FileExistsError:
        return False
    _write_synced(fd, content)
    fsync_directory(path.parent)
    return True


def _write_synced(fd: int, content: bytes) -> None:
    """Write all of ``content`` to a new file, mode exactly 0600, synced; closes ``fd``."""
    try:
        os.fchmod(fd, PRIVATE)  # the umask may have taken bits off; set exactly these
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist (before SQLite opens it, so
    that a database holding message texts is never readable by others, whatever the umask)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, PRIVATE)
    finally:
        os.close(fd)


def restrict_to_owner(path: Path) -> None:
    """Set mode 0600 on ``path`` if it exists and is ours (files made before this rule, and
    SQLite's ``-wal`` and ``-shm`` files); files of another owner are left as they are."""
    try:
        status = os.stat(path)
        if status.st_uid == os.geteuid() and status.st_mode & 0o777 != PRIVATE:
            os.chmod(path, PRIVATE)
    except FileNotFoundError:
        pass


def fsync_directory(directory: Path) -> None:
    """Make the directory's entries (a new or renamed file) survive a power cut."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_or_create_token(config_token: str, path: Path) -> str:
    """The operator token: the configured one, else the one kept in ``path``, else a new one.

    A new token (32 random bytes, URL-safe) is written to ``path`` readable by its owner only,
    durably, and never over an existing file: two processes starting together agree on one.
    """
    if config_token:
        return config_token
    create_once(path, (secrets.token_urlsafe(32) + "\n").encode("ascii"))
    raw = path.read_bytes()
    token = raw.decode("ascii", "replace").strip()
    problem = "empty" if not token else None
    if token and not (token.isascii() and token.isprintable() and " " not in token):
        problem = "damaged (not a token of printable characters)"
    if problem:
        raise SecretFileError(
            f"{path.name} in {path.parent} is {problem}: restore it from your backup, or delete "
            "it to have a new token made (admin API clients then need the new one)"
        )
    return token
