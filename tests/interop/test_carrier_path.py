"""The carrier path on real processes, set up only as the README tells a user to: ``smsgate
simulator`` as the upstream SMSC, ``smsgate serve`` with ``connectors add`` and ``routes add``,
messages in through the official Alibaba SDK, receipts back from the SMSC, read with
QueryMessage, the receipt push and ``messages list``. Each test counts, from the simulator's own
summary, what reached the SMSC."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alibabacloud_dysmsapi20180501 import models

from smsgate import errors

from .carrier_rig import (
    SimulatorProcess,
    carrier_server,
    connector_add,
    connector_in,
    connector_state,
    final_messages,
    message_in,
    until,
)
from .conftest import Account, CallbackReceiver, ServerProcess, v3_client

pytestmark = pytest.mark.slow

SG = "6591234567"
#: Receipts after 10 ms; the default number rules (endings 9901-9910) stay.
QUICK = "[simulator]\ndelay_ms = 10\n"
#: The default rules as smsgate's README lists them, and the receipt smsgate's SMPP receipts
#: (hence the standalone SMSC) write for each: stat, err.
SEED_RECEIPTS = {
    "9901": ("IN_SMS_CONTENT", "REJECTD", 1),
    "9902": ("INVALID_NUM", "UNDELIV", 2),
    "9903": ("OPERATOR_NOT_SUPPORT", "UNDELIV", 3),
    "9904": ("PHONE_NOT_AVAILABLE", "UNDELIV", 4),
    "9905": ("PORTED_NUM", "UNDELIV", 5),
    "9906": ("RECEIVER_BLACKLIST", "REJECTD", 6),
    "9907": ("SYSTEM_ERR", "UNDELIV", 7),
    "9908": ("UNKNOWN_ERR", "UNKNOWN", 8),
    "9909": ("URL_FAILURE", "REJECTD", 9),
    "9910": ("EXPIRED", "EXPIRED", 10),
}


def send(server: ServerProcess, account: Account, to: str, text: str = "Your code is 1234") -> str:
    """SendMessageToGlobe through the official SDK; the MessageId of the accepted message."""
    request = models.SendMessageToGlobeRequest(to=to, from_="Acme", message=text)
    body = v3_client(server, account).send_message_to_globe(request).body
    assert body.response_code == "OK", body
    return str(body.message_id)


def query(
    server: ServerProcess, account: Account, message_id: str
) -> models.QueryMessageResponseBody:
    request = models.QueryMessageRequest(message_id=message_id)
    return v3_client(server, account).query_message(request).body


#: network_error_code (GSM) the standalone SMSC adds for the failures that have a GSM cause.
GSM_CAUSES = {2: 1, 3: 21, 4: 27, 6: 13, 7: 34}  # err -> cause


def raw_status(stat: str, err: int) -> str:
    """``carrier_status`` of a receipt from the standalone SMSC."""
    raw = f"stat:{stat} err:{err:03d}"
    cause = GSM_CAUSES.get(err)
    return raw if cause is None else f"{raw} network_error_code:03{cause:04x}"


def test_every_receipt_code_comes_back_through_a_connector_exactly(
    tmp_path: Path,
    receiver: CallbackReceiver,
    cleanups: list[Callable[[], object]],
) -> None:
    smsc = SimulatorProcess(tmp_path / "smsc", QUICK).start()
    cleanups.append(smsc.close)
    server = carrier_server(tmp_path)
    server.cli(*connector_add("uplink", smsc))
    server.cli("routes", "add", "--connector", "uplink")
    account = server.create_account(callback_url=receiver.url)
    server.start()
    cleanups.append(server.stop)

    delivered = send(server, account, SG)
    failed = {ending: send(server, account, f"659123{ending}") for ending in SEED_RECEIPTS}
    pushes = receiver.wait_for([delivered, *failed.values()])
    listed = final_messages(server, account.account_id, [delivered, *failed.values()])
    answered = smsc.stop()

    assert (pushes[0]["Status"], pushes[0]["ErrorCode"]) == (1, "success")
    ok = query(server, account, delivered)
    assert (ok.status, ok.error_code) == ("1", "success")
    assert listed[delivered]["carrier_status"] == raw_status("DELIVRD", 0)
    for (ending, (code, stat, err)), push in zip(SEED_RECEIPTS.items(), pushes[1:], strict=True):
        message_id = failed[ending]
        seen = query(server, account, message_id)
        assert (seen.status, seen.error_code) == ("2", code), ending
        assert (push["Status"], push["ErrorCode"]) == (6 if code == "EXPIRED" else 2, code)
        assert listed[message_id]["error_code"] == code
        assert listed[message_id]["carrier_status"] == raw_status(stat, err)
    # Every message went through the SMSC once, each with its receipt.
    assert answered.answers == {"ESME_ROK": 1 + len(SEED_RECEIPTS)}
    assert answered.receipts_due == 1 + len(SEED_RECEIPTS)


LONG_TEXT = "".join(f"Line {i:03d} of a long message. " for i in range(15))  # 435 characters
#: Each connector long_method, and the submits a 3-part message takes by it.
LONG_METHODS = {"udh": 3, "sar": 3, "payload": 1}


def test_long_messages_by_each_method_are_final_once_every_part_has_its_receipt(
    tmp_path: Path,
    receiver: CallbackReceiver,
    cleanups: list[Callable[[], object]],
) -> None:
    """One SMSC and one connector per long_method; each account routed to its own."""
    server = carrier_server(tmp_path)
    smscs: dict[str, SimulatorProcess] = {}
    accounts: dict[str, Account] = {}
    for method in LONG_METHODS:
        smscs[method] = smsc = SimulatorProcess(tmp_path / method, QUICK).start()
        cleanups.append(smsc.close)
        accounts[method] = account = server.create_account(method, callback_url=receiver.url)
        server.cli(*connector_add(method, smsc, "--long-method", method))
        server.cli("routes", "add", "--connector", method, "--account", account.account_id)
    server.start()
    cleanups.append(server.stop)

    sent = {
        method: (
            send(server, account, SG, LONG_TEXT),
            send(server, account, "6591239902", LONG_TEXT),
        )
        for method, account in accounts.items()
    }
    for method, (delivered, failed) in sent.items():
        pushes = receiver.wait_for([delivered, failed])
        listed = final_messages(server, accounts[method].account_id, [delivered, failed])
        answered = smscs[method].stop()

        assert [(p["Status"], p["ErrorCode"], p["SmsSize"]) for p in pushes] == [
            (1, "success", 3),
            (2, "INVALID_NUM", 3),
        ], method
        assert listed[delivered]["status"] == "delivered"
        assert listed[failed]["carrier_status"] == raw_status("UNDELIV", 2)
        # Each part its own submit and its own receipt (one for a message_payload).
        submits = LONG_METHODS[method]
        assert answered.answers == {"ESME_ROK": 2 * submits}, method
        assert answered.receipts_due == 2 * submits, method


#: connector name -> (the SMSC's id options, the connector's --receipt-ids).
ID_CASES = {
    "hexdec-auto": (("--ids", "hex", "--receipt-ids", "dec"), "auto"),
    "hexdec-dec": (("--ids", "hex", "--receipt-ids", "dec"), "dec"),
    "hex-auto": (("--ids", "hex"), "auto"),
}


def test_receipts_are_matched_whatever_base_the_smsc_writes_ids_in(
    tmp_path: Path,
    receiver: CallbackReceiver,
    cleanups: list[Callable[[], object]],
) -> None:
    """An SMSC answering submits with hex ids, and writing them in decimal in its receipts
    (or in hex, as given); connectors that guess (auto) or are told (dec)."""
    server = carrier_server(tmp_path)
    accounts: dict[str, Account] = {}
    smscs: dict[str, SimulatorProcess] = {}
    for name, (smsc_ids, receipt_ids) in ID_CASES.items():
        smscs[name] = smsc = SimulatorProcess(tmp_path / name, QUICK, *smsc_ids).start()
        cleanups.append(smsc.close)
        accounts[name] = account = server.create_account(name, callback_url=receiver.url)
        server.cli(*connector_add(name, smsc, "--receipt-ids", receipt_ids))
        server.cli("routes", "add", "--connector", name, "--account", account.account_id)
    server.start()
    cleanups.append(server.stop)

    sent = {
        name: (send(server, account, SG), send(server, account, "6591239905"))
        for name, account in accounts.items()
    }
    for name, (delivered, failed) in sent.items():
        pushes = receiver.wait_for([delivered, failed])
        answered = smscs[name].stop()

        assert [(p["Status"], p["ErrorCode"]) for p in pushes] == [
            (1, "success"),
            (2, "PORTED_NUM"),
        ], name
        assert answered.answers == {"ESME_ROK": 2}, name


#: Receipts after 10 ms, but a number ending 5555 has its receipt 2 s after its submit.
SLOW_RECEIPT = QUICK + (
    '[[simulator.rules]]\nmatch = "suffix"\nvalue = "5555"\nreceipt = "success"\ndelay_ms = 2000\n'
)
ID = "6281234567890"  # Indonesia


def test_connectors_and_routes_change_on_a_running_server(
    tmp_path: Path,
    receiver: CallbackReceiver,
    cleanups: list[Callable[[], object]],
) -> None:
    server = carrier_server(tmp_path)
    account = server.create_account(callback_url=receiver.url)
    server.start()
    cleanups.append(server.stop)
    smsc = SimulatorProcess(tmp_path / "smsc", SLOW_RECEIPT).start()
    cleanups.append(smsc.close)

    # No routes: the built-in simulator takes everything.
    builtin = send(server, account, SG)
    receiver.wait_for([builtin])

    # A connector added live binds; a route to it takes the next message.
    server.cli(*connector_add("uplink", smsc))
    connector_in(server, "uplink", "up")
    server.cli("routes", "add", "--connector", "uplink")
    upstream = send(server, account, SG)
    slow = send(server, account, "6591235555")  # its receipt comes after the connector is removed
    message_in(server, account.account_id, slow, "submitted")  # the SMSC took it

    # Routes exist but none takes Singapore: refused with 26, never accepted.
    server.cli("routes", "add", "--connector", "simulator", "--country", "ID")
    server.cli("routes", "remove", "r1")
    refused = (
        v3_client(server, account)
        .send_message_to_globe(models.SendMessageToGlobeRequest(to=SG, message="hello"))
        .body
    )
    indonesia = send(server, account, ID)

    # The connector removed drains: it stays bound until the receipt the SMSC owes for the slow
    # message has come, then unbinds. With no routes the simulator takes all again.
    server.cli("connectors", "remove", "uplink")
    until("uplink gone", lambda: None if connector_state(server, "uplink") else True)
    message_in(server, account.account_id, slow, "delivered")  # before it unbound
    server.cli("routes", "remove", "r2")
    again = send(server, account, SG)

    receiver.wait_for([upstream, slow, indonesia, again])
    listed = final_messages(server, account.account_id, [builtin, upstream, slow, indonesia, again])
    assert (refused.response_code, refused.response_description) == (
        errors.NOT_SUPPORTED_COUNTRY.code,
        errors.NOT_SUPPORTED_COUNTRY.message,
    )
    assert {m: listed[m]["status"] for m in listed} == dict.fromkeys(listed, "delivered")
    assert listed[upstream]["carrier_status"] == raw_status("DELIVRD", 0)
    assert listed[slow]["carrier_status"] == raw_status("DELIVRD", 0)
    assert {m: listed[m]["connector"] for m in listed} == {
        builtin: "simulator",
        upstream: "uplink",
        slow: "uplink",
        indonesia: "simulator",
        again: "simulator",
    }
    # The drain waited for the receipt the SMSC owed: nothing is left owed.
    answered = smsc.stop()
    assert answered.answers == {"ESME_ROK": 2}
    assert answered.owed == 0
