"""Nothing on the wire shows the platform smsgate runs on, and fields without a value are left out.

Against a real server: every answer (API, admin API, health) comes without aiohttp's ``Server``
header; a send without ``From`` and its receipt push without ``TaskId`` leave those fields out,
and both official SDKs still read the answers.
"""

from __future__ import annotations

import json
import urllib.request
import uuid

from alibabacloud_dysmsapi20180501 import models

from .conftest import (
    Account,
    CallbackReceiver,
    ServerProcess,
    v1_call,
    v3_client,
)

SG = "6591234567"


def headers_and_body(url: str, headers: dict[str, str] | None = None) -> tuple[dict[str, str], str]:
    with urllib.request.urlopen(
        urllib.request.Request(url, headers=headers or {}), timeout=10
    ) as r:
        return dict(r.headers), r.read().decode()


def test_no_answer_carries_a_server_header(server: ServerProcess, account: Account) -> None:
    token = (server.data_dir / "admin.token").read_text().strip()
    admin_headers, admin_body = headers_and_body(
        f"http://{server.endpoint}/admin/accounts/{account.account_id}",
        {"Authorization": f"Bearer {token}"},
    )
    health_headers, _ = headers_and_body(f"http://{server.endpoint}/health")

    assert json.loads(admin_body)["account_id"] == account.account_id
    assert "Server" not in admin_headers
    assert "Server" not in health_headers


def test_sdks_read_answers_that_leave_out_from(server: ServerProcess, account: Account) -> None:
    v3 = v3_client(server, account).send_message_to_globe(
        models.SendMessageToGlobeRequest(to=SG, message="no sender")
    )
    assert "Server" not in v3.headers
    assert v3.body.response_code == "OK"
    assert v3.body.from_ is None  # left out on the wire, unset in the SDK's model
    assert uuid.UUID(v3.body.request_id).version == 4

    v1 = v1_call(server, account, "SendMessageToGlobe", {"To": SG, "Message": "no sender"})
    assert v1["ResponseCode"] == "OK"
    assert "From" not in v1

    query = v3_client(server, account).query_message(
        models.QueryMessageRequest(message_id=v3.body.message_id)
    )
    assert query.body.response_code == "OK"
    assert query.body.message_id == v3.body.message_id


def test_a_push_leaves_out_a_task_id_the_send_did_not_give(
    server: ServerProcess, receiver: CallbackReceiver
) -> None:
    account = server.create_account("no-task", callback_url=receiver.url)
    sent = (
        v3_client(server, account)
        .send_message_to_globe(models.SendMessageToGlobeRequest(to=SG, message="no task"))
        .body
    )

    [push] = receiver.wait_for([sent.message_id])

    assert "TaskId" not in push
    assert None not in push.values()
    assert (push["MessageId"], push["Status"], push["ErrorCode"]) == (sent.message_id, 1, "success")
