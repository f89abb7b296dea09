"""SIGKILL the server in the middle of a batch: every accepted message still ends final."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alibabacloud_dysmsapi20180501 import models
from Tea.exceptions import TeaException

from .conftest import CallbackReceiver, ServerProcess, v3_client

SLOW_CARRIER = """
[simulator]
delay_ms = 400
"""


def test_sigkill_mid_batch_loses_nothing(tmp_path: Path, receiver: CallbackReceiver) -> None:
    server = ServerProcess(tmp_path / "data", SLOW_CARRIER)
    server.start()
    try:
        account = server.create_account("crash", callback_url=receiver.url)
        client = v3_client(server, account)
        accepted: list[str] = []

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

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(send_batch, i) for i in range(20)]
            # Kill once some batches are accepted but (400 ms carrier delay) not yet delivered.
            accepted.extend(futures[0].result())
            accepted.extend(futures[1].result())
            server.kill()
            for f in futures[2:]:
                accepted.extend(f.result())
        assert len(accepted) >= 200

        server.start()
        pushes = receiver.wait_for(accepted, timeout_s=60)
        assert all(p["Status"] in (1, 2, 6) for p in pushes)
        sample = accepted[:: max(1, len(accepted) // 20)]
        client = v3_client(server, account)
        for message_id in sample:
            body = client.query_message(models.QueryMessageRequest(message_id=message_id)).body
            assert body.status in ("1", "2"), (message_id, body.status)
    finally:
        server.stop()
