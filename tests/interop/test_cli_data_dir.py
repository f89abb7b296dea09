"""The server and the administration commands agree on the data directory whatever the current
folder: credentials created with ``SMSGATE_DATA_DIR`` from elsewhere work against the running
server at once, and ``serve`` creates a data directory that does not exist yet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.conftest import Account, ServerProcess, v1_call

pytestmark = pytest.mark.slow


def test_credentials_made_from_another_folder_work_on_the_running_server(
    server: ServerProcess, tmp_path: Path
) -> None:
    env = {**os.environ, "SMSGATE_DATA_DIR": str(server.data_dir)}
    env.pop("SMSGATE_CONFIG", None)
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "smsgate.cli",
            "accounts",
            "create",
            "--name",
            "away",
            "--balance",
            "9",
            "--json",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    made = json.loads(created.stdout)
    account = Account(made["account_id"], made["access_key_id"], made["access_key_secret"])

    sent = v1_call(server, account, "SendMessageToGlobe", {"To": "6591234567", "Message": "hi"})

    assert sent["ResponseCode"] == "OK"
    assert list(tmp_path.iterdir()) == []  # no stray ./smsgate-data


def test_serve_creates_a_missing_data_dir(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data")
    assert not proc.data_dir.exists()
    proc.start()
    try:
        made = {p.name for p in proc.data_dir.iterdir()}
        assert {"admin.token", "master.key", "smsgate.db"} <= made
    finally:
        proc.stop()
