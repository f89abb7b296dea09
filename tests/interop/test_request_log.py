"""The request log of a real server started with ``--log-format json``: one JSON line per API
call, with the call's fields and nothing secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alibabacloud_dysmsapi20180501 import models
from Tea.exceptions import TeaException

from .conftest import SIMULATOR_CONFIG, Account, ServerProcess, v3_client

SG = "6591234567"
TEXT = "Your code is 271828"


@pytest.fixture(scope="module")
def json_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("jsonlog") / "data",
        SIMULATOR_CONFIG,
        extra_args=("--log-format", "json"),
    )
    proc.start()
    yield proc
    proc.stop()


def api_lines(log_path: Path) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "api.request"]


def test_json_lines_carry_the_calls_fields_and_no_secret(json_server: ServerProcess) -> None:
    account: Account = json_server.create_account()
    sent = (
        v3_client(json_server, account)
        .send_message_to_globe(models.SendMessageToGlobeRequest(to=SG, message=TEXT))
        .body
    )
    with pytest.raises(TeaException) as refused:
        v3_client(json_server, account, secret="wrong" * 6).send_message_to_globe(
            models.SendMessageToGlobeRequest(to=SG, message=TEXT)
        )

    # Each line is written before its answer is sent: no waiting.
    lines = {line["request_id"]: line for line in api_lines(json_server.log_path)}
    ok = lines[sent.request_id]
    assert ok["level"] == "info"
    assert ok["logger"] == "smsgate.http"
    assert {k: ok[k] for k in ("action", "version", "account", "access_key_id", "code")} == {
        "action": "SendMessageToGlobe",
        "version": "2018-05-01",
        "account": account.account_id,
        "access_key_id": account.key_id,
        "code": "OK",
    }
    assert (ok["status"], ok["peer"]) == (200, "127.0.0.1")
    assert isinstance(ok["latency_ms"], float)
    bad = lines[refused.value.data["RequestId"]]
    assert (bad["code"], bad["status"], bad["access_key_id"]) == (
        "SignatureDoesNotMatch",
        400,
        account.key_id,
    )
    log = json_server.log_path.read_text()
    assert account.secret not in log
    assert TEXT not in log
    assert "Signature=" not in log
