"""Secret files and the database are the owner's only, written once, and never silently replaced.

``master.key`` and ``admin.token`` are made on first use with mode 0600 whatever the umask, never
overwritten (not even by a second process racing the first), and a damaged one stops the start
with a message naming the file and how to restore it. The SQLite files (``smsgate.db``, ``-wal``,
``-shm``) hold message texts and are 0600 as well.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.secret_files import SecretFileError, create_once, load_or_create_token
from smsgate.adapters.storage.factory import open_store
from smsgate.adapters.storage.sqlite import SqliteStore
from smsgate.config import load_config
from smsgate.domain.models import AccessKey, Account, AccountState

RESTORE = "restore it from your backup; without it the stored AccessKey secrets cannot be decrypted"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Run with umask 0, so that only the code itself can make a file private."""
    old = os.umask(0)
    yield
    os.umask(old)


# -- writing once ------------------------------------------------------------------------------


def test_a_new_file_is_private_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "data" / "master.key"
    assert create_once(path, b"k" * 32)
    assert path.read_bytes() == b"k" * 32
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700  # a data directory it makes is private too
    assert [p.name for p in path.parent.iterdir()] == ["master.key"]  # no temporary left


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(b"first")
    assert not create_once(path, b"second")
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]


def test_racing_creators_agree_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    start = threading.Barrier(8)
    written: list[bytes] = []

    def create(i: int) -> None:
        start.wait()
        if create_once(path, bytes([i]) * 32):
            written.append(bytes([i]) * 32)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(written) == 1
    assert path.read_bytes() == written[0]


# -- master.key --------------------------------------------------------------------------------


def test_the_master_key_is_made_once_and_reused(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "master.key"
    box = SecretBox.from_key_file(path)
    key = path.read_bytes()
    assert len(key) == 32
    assert mode(path) == 0o600
    sealed = box.seal("secret")
    assert SecretBox.from_key_file(path).open(sealed) == "secret"
    assert path.read_bytes() == key


@pytest.mark.parametrize("size", [0, 5, 31, 33])
def test_a_master_key_of_the_wrong_size_stops_the_start(tmp_path: Path, size: int) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(b"\0" * size)
    with pytest.raises(SecretFileError) as raised:
        SecretBox.from_key_file(path)
    assert str(raised.value) == f"master.key in {tmp_path} is {size} bytes, not 32: {RESTORE}"
    assert path.read_bytes() == b"\0" * size  # left as it is for the operator


def test_a_missing_master_key_beside_a_database_is_not_made_anew(tmp_path: Path) -> None:
    config = load_config(data_dir=tmp_path)
    open_store(config)  # a new data directory: the key is made
    config.db_path.write_bytes(b"")  # the database made with it
    config.master_key_path.unlink()  # and the key lost

    with pytest.raises(SecretFileError) as raised:
        open_store(config)
    assert str(raised.value) == (
        f"master.key is missing in {tmp_path}, but the database there was made with one: " + RESTORE
    )
    assert not config.master_key_path.exists()


# -- admin.token -------------------------------------------------------------------------------


def test_a_token_file_is_created_private_and_reused(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "data" / "admin.token"
    token = load_or_create_token("", path)
    assert len(token) >= 43  # 32 bytes, URL-safe base64
    assert path.read_text().strip() == token
    assert mode(path) == 0o600
    assert load_or_create_token("", path) == token
    assert load_or_create_token("configured-token-0123456789", path) == (
        "configured-token-0123456789"
    )
    assert path.read_text().strip() == token


def test_a_configured_token_creates_no_file(tmp_path: Path) -> None:
    path = tmp_path / "admin.token"
    assert load_or_create_token("configured-token-0123456789", path) == (
        "configured-token-0123456789"
    )
    assert not path.exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty"),
        (b"\n", "empty"),
        (b"\0" * 44, "damaged (not a token of printable characters)"),
        (b"abc\xffdef", "damaged (not a token of printable characters)"),
    ],
)
def test_an_empty_or_damaged_token_file_is_refused(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "admin.token"
    path.write_bytes(content)
    with pytest.raises(SecretFileError) as raised:
        load_or_create_token("", path)
    assert str(raised.value) == (
        f"admin.token in {tmp_path} is {problem}: restore it from your backup, or delete it to "
        "have a new token made (admin API clients then need the new one)"
    )
    assert path.read_bytes() == content


# -- the database ------------------------------------------------------------------------------


async def test_the_database_files_are_private_whatever_the_umask(
    tmp_path: Path, open_umask: None
) -> None:
    path = tmp_path / "smsgate.db"
    store = SqliteStore(path, SecretBox(b"k" * 32))
    await store.start()
    try:
        account = Account("acc-1", "acme", AccountState.NORMAL, 0, None, 0.0)
        await store.create_account(account, AccessKey("key-1", "acc-1", "s", True, None, 0.0))
        names = {p.name: mode(p) for p in tmp_path.iterdir()}
    finally:
        await store.close()
    assert names == {"smsgate.db": 0o600, "smsgate.db-wal": 0o600, "smsgate.db-shm": 0o600}


async def test_a_database_made_readable_before_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "smsgate.db"
    store = SqliteStore(path, SecretBox(b"k" * 32))
    await store.start()
    await store.close()
    os.chmod(path, 0o644)  # as versions before this rule left it

    store = SqliteStore(path, SecretBox(b"k" * 32))
    await store.start()
    await store.close()
    assert mode(path) == 0o600
