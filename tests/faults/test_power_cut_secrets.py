"""After a power cut that emptied a key file, ``smsgate serve`` refuses to start and says how to
recover, instead of making a new key (which would orphan every stored AccessKey secret) or
failing later with a stack trace.

The power cut is simulated by truncating the file, which is what it left behind before the fix:
both ``master.key`` and ``admin.token`` were 0 bytes after a cut within ~30 s of the first start.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.conftest import run_cli

pytestmark = pytest.mark.slow


def serve(data_dir: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "smsgate.cli", "serve", "--data-dir", str(data_dir)]
    return subprocess.run(
        [*command, "--http-port", "0", "--smpp-port", "0"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory with an account: a master key, a database holding a sealed secret."""
    data = tmp_path / "data"
    run_cli(data, "init")
    run_cli(data, "accounts", "create", "--name", "acme", "--balance", "1")
    return data


def test_an_empty_master_key_stops_serve_with_how_to_restore_it(data_dir: Path) -> None:
    (data_dir / "master.key").write_bytes(b"")

    finished = serve(data_dir)

    assert finished.returncode == 1
    assert finished.stderr == (
        f"smsgate: cannot start: master.key in {data_dir} is 0 bytes, not 32: restore it from "
        "your backup; without it the stored AccessKey secrets cannot be decrypted\n"
    )
    assert (data_dir / "master.key").read_bytes() == b""  # never replaced by a new key


def test_a_lost_master_key_is_not_replaced_by_a_new_one(data_dir: Path) -> None:
    (data_dir / "master.key").unlink()

    finished = serve(data_dir)

    assert finished.returncode == 1
    assert "master.key is missing in" in finished.stderr
    assert "restore it from your backup" in finished.stderr
    assert not (data_dir / "master.key").exists()


def test_a_different_master_key_stops_serve_before_it_serves(data_dir: Path) -> None:
    (data_dir / "master.key").write_bytes(b"\1" * 32)

    finished = serve(data_dir)

    assert finished.returncode == 1
    assert "the master key (master.key) is not the one this database was made with" in (
        finished.stderr
    )
    assert "Traceback" not in finished.stderr


def test_an_empty_admin_token_stops_serve_with_what_to_do(data_dir: Path) -> None:
    (data_dir / "admin.token").write_bytes(b"")

    finished = serve(data_dir)

    assert finished.returncode == 1
    assert finished.stderr == (
        f"smsgate: cannot start: admin.token in {data_dir} is empty: restore it from your "
        "backup, or delete it to have a new token made (admin API clients then need the new "
        "one)\n"
    )
