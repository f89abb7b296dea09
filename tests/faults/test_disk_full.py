"""A full disk is reported as such, once, and the server recovers by itself when space returns.

The data directory is a tmpfs of a few MiB, filled up with a file while the server runs. Before
the fix, sends answered ``isp.SYSTEM_ERROR`` (kept: it is the catalog's answer) but ``/health``
said "ok" throughout and nothing told the operator why. Mounting needs root (or CAP_SYS_ADMIN):
where that is refused the test is skipped, saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smsgate import errors
from tests.interop.conftest import Account, ServerProcess

from .signing import get_all, signed_url

pytestmark = pytest.mark.slow

CONFIG = "[simulator]\ndelay_ms = 20\n"
RECOVERY_S = 15.0  # the writer probes the disk every second while it is full


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "data"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(
            "cannot mount a small tmpfs for the disk-full test (needs root or CAP_SYS_ADMIN): "
            + (mounted.stderr.strip() or f"mount exited {mounted.returncode}")
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the file system is full."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        # The loop ends when the disk is full.
        with pytest.raises(OSError, match="No space left on device"):  # noqa: PT012
            while True:
                os.write(fd, b"\0" * 65536)
    finally:
        os.close(fd)
    return filler


def send(server: ServerProcess, account: Account, i: int) -> str:
    url = signed_url(
        "SendMessageToGlobe",
        {"To": f"659123{i:04d}", "Message": f"code {i:06d} " + "x" * 120},
        account.key_id,
        account.secret,
    )
    ((status, body),) = asyncio.run(get_all(server.endpoint, [url]))
    assert status == 200, body
    return str(body["ResponseCode"])


def get(server: ServerProcess, path: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(f"http://{server.endpoint}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with contextlib.closing(exc):
            return exc.code, json.loads(exc.read())


def test_a_full_disk_is_reported_once_and_recovered_from(small_disk: Path) -> None:
    server = ServerProcess(small_disk, CONFIG)
    server.init()
    account = server.create_account("full", balance="100")
    server.start()
    try:
        token = (small_disk / "admin.token").read_text().strip()
        assert send(server, account, 0) == "OK"
        assert get(server, "/health") == (200, {"status": "ok"})

        filler = fill(small_disk)
        codes = [send(server, account, i) for i in range(1, 6)]
        assert codes[-1] == errors.SYSTEM_ERROR.code  # the catalog's answer is kept
        status, body = get(server, "/health")
        assert status == 503
        assert body["status"] == "not ready"
        (problem,) = body["problems"]
        assert (problem["component"], problem["problem"]) == ("store", "disk_full")
        assert "database or disk is full" in problem["detail"]
        assert "free some space" in problem["advice"]
        assert get(server, "/admin/health", token) == (200, body)
        assert [send(server, account, i) for i in range(6, 16)] == [errors.SYSTEM_ERROR.code] * 10

        filler.unlink()  # space returns; no request is needed for the server to notice
        deadline = time.monotonic() + RECOVERY_S
        while get(server, "/health")[0] != 200:
            assert time.monotonic() < deadline, "still not ready after the space returned"
            time.sleep(0.1)
        assert get(server, "/admin/health", token) == (200, {"status": "ok"})
        assert send(server, account, 16) == "OK"
    finally:
        server.stop()

    log = server.log_path.read_text()
    assert log.count("health.not_ready") == 1, log
    assert log.count("health.ready") == 1, log
    assert "component=store problem=disk_full" in log
    assert log.count("store failed while applying") <= 1, log  # not once per retry
