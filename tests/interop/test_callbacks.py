"""Receipt pushes: Alibaba's JSON array, retried with back-off when the receiver fails."""

from __future__ import annotations

from alibabacloud_dysmsapi20180501 import models

from .conftest import CallbackReceiver, ServerProcess, v3_client


def test_push_is_retried_until_the_receiver_accepts(
    server: ServerProcess, receiver: CallbackReceiver
) -> None:
    account = server.create_account("retry", callback_url=receiver.url)
    before = len(receiver.requests)
    receiver.fail_next = 3
    sent = (
        v3_client(server, account)
        .send_message_to_globe(
            models.SendMessageToGlobeRequest(to="6591234567", message="retry me", task_id="t-1")
        )
        .body
    )
    [push] = receiver.wait_for([sent.message_id])
    # Three refused POSTs, then the one that got through.
    assert len(receiver.requests) - before >= 4
    assert push["MessageId"] == sent.message_id
    assert push["To"] == "6591234567"
    assert push["Status"] == 1
    assert push["SmsSize"] == 1
    assert push["TaskId"] == "t-1"
    assert push["ErrorCode"] == "success"
    assert str(push["SendDate"]).endswith("+0000")
    assert push["ReceiveDate"]


def test_accounts_without_a_callback_url_get_no_push(
    server: ServerProcess, receiver: CallbackReceiver
) -> None:
    quiet = server.create_account("quiet")
    pushed = server.create_account("pushed", callback_url=receiver.url)
    quiet_id = (
        v3_client(server, quiet)
        .send_message_to_globe(models.SendMessageToGlobeRequest(to="6591234567", message="q"))
        .body.message_id
    )
    loud_id = (
        v3_client(server, pushed)
        .send_message_to_globe(models.SendMessageToGlobeRequest(to="6591234567", message="p"))
        .body.message_id
    )
    receiver.wait_for([loud_id])
    # The quiet message was sent first and shares the carrier's delay: had it been pushed, it
    # would be here by now.
    assert quiet_id not in receiver.receipts
    status = (
        v3_client(server, quiet)
        .query_message(models.QueryMessageRequest(message_id=quiet_id))
        .body.status
    )
    assert status == "1"
