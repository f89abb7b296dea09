"""A real server on PostgreSQL (``--store`` / ``SMSGATE_STORE_URL``), driven by the official SDK:
the CLI creates an account in the database, the server accepts, charges, delivers and pushes
receipts from it, and a SIGKILL mid-batch loses nothing acknowledged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alibabacloud_dysmsapi20180501 import models
from Tea.exceptions import TeaException

from smsgate.config import ENV_STORE_URL
from tests.services import fresh_postgres_database

from .conftest import SIMULATOR_CONFIG, CallbackReceiver, ServerProcess, v3_client

SLOW_CARRIER = SIMULATOR_CONFIG.replace("delay_ms = 20", "delay_ms = 400")


@pytest.fixture
def store_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database, named to every smsgate process the test starts (server and CLI)."""
    with fresh_postgres_database() as url:
        monkeypatch.setenv(ENV_STORE_URL, url)
        yield url


def test_the_sdk_sends_and_queries_through_a_server_on_postgresql(
    tmp_path: Path, store_url: str, receiver: CallbackReceiver
) -> None:
    server = ServerProcess(tmp_path / "data", SIMULATOR_CONFIG)
    server.start()
    try:
        account = server.create_account("pg", callback_url=receiver.url, balance="1")
        client = v3_client(server, account)
        body = client.send_message_to_globe(
            models.SendMessageToGlobeRequest(to="6591234567", message="hello from postgres")
        ).body
        assert body.response_code == "OK"

        (push,) = receiver.wait_for([body.message_id])
        assert push["Status"] == 1
        queried = client.query_message(models.QueryMessageRequest(message_id=body.message_id)).body
        assert (queried.status, queried.message) == ("1", "hello from postgres")
        (listed,) = [
            a for a in server.cli("accounts", "list") if a["account_id"] == account.account_id
        ]  # type: ignore[index]
        assert listed["balance"] == "0.95"  # 1.00 less one segment at 0.05
    finally:
        server.stop()


def test_sigkill_mid_batch_loses_nothing_on_postgresql(
    tmp_path: Path, store_url: str, receiver: CallbackReceiver
) -> None:
    server = ServerProcess(tmp_path / "data", SLOW_CARRIER)
    server.start()
    try:
        account = server.create_account("crash", callback_url=receiver.url)
        client = v3_client(server, account)

        def send_batch(i: int) -> list[str]:
            numbers = [f"659123{(i * 100 + j) % 9000:04d}" for j in range(100)]
            try:
                body = client.batch_send_message_to_globe(
                    models.BatchSendMessageToGlobeRequest(
                        to=json.dumps(numbers),
                        message=json.dumps([f"m{i}-{j}" for j in range(100)]),
                    )
                ).body
            except TeaException:
                return []  # the server died while this call was in flight: not accepted
            assert body.response_code == "OK"
            return str(body.message_id_list).split(",")

        accepted: list[str] = []
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(send_batch, i) for i in range(20)]
            accepted.extend(futures[0].result())
            accepted.extend(futures[1].result())
            server.kill()
            for future in futures[2:]:
                accepted.extend(future.result())
        assert len(accepted) >= 200

        server.start()
        pushes = receiver.wait_for(accepted, timeout_s=60)
        assert all(p["Status"] in (1, 2, 6) for p in pushes)
    finally:
        server.stop()
