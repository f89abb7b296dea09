"""MO messages end to end on real processes: an upstream SMSC (the standalone simulator) delivers
a message from a handset to a connector of ``smsgate serve``; the account that owns the number
gets it as Alibaba's SmsUp push (a small aiohttp receiver here) and as deliver_sm (esm_class 0)
on its smpplib receiver bind, which also gets what arrived while it was not bound, across a
restart of the server too.

The SMSC runs on a loop of this process's (``smsc_harness``) so that the test says when a
handset writes; the last test runs ``smsgate simulator --mo-every`` as its own process instead,
as the README shows it. smpplib decodes every PDU the client side sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import smpplib.client
import smpplib.command
from aiohttp import web

from smsgate.adapters.carriers.simulator_smsc import SimulatorSmsc, SmscSettings

from .conftest import SIMULATOR_CONFIG, PushReceiver, ServerProcess
from .smsc_harness import TIMEOUT_S, Harness, answer, expect, text_of

pytestmark = pytest.mark.slow

HANDSET = "6598765432"
NUMBER = "6591230000"  # the account's number
UPSTREAM_ID, UPSTREAM_PASSWORD = "sgw", "up4mo"  # how smsgate binds to the SMSC
SYSTEM_ID, PASSWORD = "mo-client", "s3cret"  # how the account's client binds to smsgate
LONG_UCS2 = "明天早上九点在会议室见，请带上合同和发票。" * 4  # 84 characters: 2 UCS-2 parts
UDHI = 0x40


class SmsUpReceiver(PushReceiver):
    """Takes SmsUp pushes (a JSON array of MO messages) and answers ``{"code": 0}``; the test
    waits on it for the messages it expects."""

    path = "/mo"

    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[int, dict[str, object]] = {}

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._cond:
            for item in body:
                self.messages[int(item["sequence_id"])] = item
            self._cond.notify_all()
        return web.json_response({"code": 0, "msg": "ok"})

    def wait_for(self, content: str, timeout_s: float = 20.0) -> dict[str, object]:
        """The push of the MO message with this text."""

        def found() -> dict[str, object] | None:
            return next((m for m in self.messages.values() if m["content"] == content), None)

        with self._cond:
            assert self._cond.wait_for(lambda: found() is not None, timeout_s), content
            pushed = found()
            assert pushed is not None
            return pushed


@pytest.fixture
def sms_up() -> Iterator[SmsUpReceiver]:
    receiver = SmsUpReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def harness() -> Iterator[Harness]:
    running = Harness()
    yield running
    running.close()


def _server(directory: Path, smsc_port: int, push_url: str) -> ServerProcess:
    """A server (not started) whose account owns NUMBER, pushes MO messages to ``push_url``,
    binds as SYSTEM_ID, and with a connector to the SMSC on ``smsc_port``."""
    proc = ServerProcess(directory / "data", SIMULATOR_CONFIG + "\n[server]\nrefresh_s = 0\n")
    proc.init()
    account = proc.create_account("mo", callback_url=push_url)
    proc.cli("smpp", "add", account.account_id, "--system-id", SYSTEM_ID, "--password", PASSWORD)
    proc.cli("inbound", "add", NUMBER, "--account", account.account_id)
    proc.cli(
        *("connectors", "add", "upstream", "--host", "127.0.0.1", "--port", str(smsc_port)),
        *("--system-id", UPSTREAM_ID, "--password", UPSTREAM_PASSWORD),
    )
    return proc


def _receiver(proc: ServerProcess, clients: list[smpplib.client.Client]) -> smpplib.client.Client:
    client = smpplib.client.Client(
        "127.0.0.1", proc.smpp_port, timeout=TIMEOUT_S * 2, allow_unknown_opt_params=True
    )
    client.connect()
    clients.append(client)
    client.bind_receiver(system_id=SYSTEM_ID, password=PASSWORD)
    return client


def _take(client: smpplib.client.Client, count: int = 1) -> list[smpplib.command.Command]:
    """The next ``count`` deliver_sm, each answered ESME_ROK."""
    taken = []
    for _ in range(count):
        pdu = expect(client, "deliver_sm")
        answer(client, pdu, "deliver_sm_resp")
        taken.append(pdu)
    return taken


def _gone(client: smpplib.client.Client, clients: list[smpplib.client.Client]) -> None:
    client.unbind()
    client.disconnect()
    clients.remove(client)


@pytest.fixture
def clients() -> Iterator[list[smpplib.client.Client]]:
    opened: list[smpplib.client.Client] = []
    yield opened
    for client in opened:
        client.disconnect()


def test_an_mo_message_reaches_the_owner_by_push_and_smpp_and_waits_for_a_bind(
    tmp_path: Path,
    harness: Harness,
    sms_up: SmsUpReceiver,
    clients: list[smpplib.client.Client],
) -> None:
    smsc = harness.start(SmscSettings(credentials={UPSTREAM_ID: UPSTREAM_PASSWORD}))
    proc = _server(tmp_path, smsc.port, sms_up.url)
    proc.start()

    def handset_writes(text: str) -> None:
        harness.call(smsc.send_mo, HANDSET, NUMBER, text, system_id=UPSTREAM_ID)

    try:
        # A receiver is bound: the message comes as deliver_sm, and as a push.
        receiver = _receiver(proc, clients)
        handset_writes("Yes, confirm")
        [first] = _take(receiver)
        pushed = sms_up.wait_for("Yes, confirm")

        assert (first.esm_class, first.data_coding) == (0, 0)
        assert (text_of(first.source_addr), first.source_addr_ton, first.source_addr_npi) == (
            HANDSET,
            1,
            1,
        )
        assert text_of(first.destination_addr) == NUMBER
        assert text_of(first.short_message) == "Yes, confirm"
        assert (pushed["phone_number"], pushed["dest_code"]) == (HANDSET, "")

        # Nobody bound: stored (the push says so), then sent to the receiver that binds.
        _gone(receiver, clients)
        handset_writes(LONG_UCS2)
        sms_up.wait_for(LONG_UCS2)
        receiver = _receiver(proc, clients)
        parts = _take(receiver, 2)

        assert [(p.esm_class, p.data_coding) for p in parts] == [(UDHI, 8), (UDHI, 8)]
        headers = [p.short_message[:6] for p in parts]
        assert [h[:3] for h in headers] == [b"\x05\x00\x03"] * 2
        assert headers[0][3] == headers[1][3]  # one reference
        assert [h[4:] for h in headers] == [b"\x02\x01", b"\x02\x02"]
        assert b"".join(p.short_message[6:] for p in parts).decode("utf-16-be") == LONG_UCS2

        # Nobody bound, and the server restarts: the store still owes it, and only it.
        _gone(receiver, clients)
        handset_writes("Still there?")
        sms_up.wait_for("Still there?")
        proc.stop()
        proc.start()
        receiver = _receiver(proc, clients)
        [after_restart] = _take(receiver)

        assert text_of(after_restart.short_message) == "Still there?"
        assert _owed_upstream(harness, smsc) == 0  # smsgate answered every part it took
    finally:
        proc.stop()


def _owed_upstream(harness: Harness, smsc: SimulatorSmsc) -> int:
    """deliver_sm the SMSC sent to smsgate and has no ESME_ROK for."""
    return int(harness.call(smsc.core.outbox.pending, UPSTREAM_ID))


def test_the_simulator_command_sends_mo_messages_through_smsgate_to_a_receiver(
    tmp_path: Path, sms_up: SmsUpReceiver, clients: list[smpplib.client.Client]
) -> None:
    """As the README runs it: ``smsgate simulator --mo-every`` beside ``smsgate serve``."""
    simulator = subprocess.Popen(
        [
            *(sys.executable, "-m", "smsgate.cli", "simulator", "--smpp-port", "0"),
            *("--system-id", UPSTREAM_ID, "--password", UPSTREAM_PASSWORD),
            *("--mo-every", "0.2", "--mo-from", HANDSET, "--mo-to", NUMBER),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert simulator.stdout is not None
    first_line = simulator.stdout.readline()
    assert "listening on" in first_line, first_line
    proc = _server(tmp_path, int(first_line.rsplit(":", 1)[1]), sms_up.url)
    proc.start()
    try:
        receiver = _receiver(proc, clients)
        got = [text_of(p.short_message) for p in _take(receiver, 2)]

        assert got == ["MO message 1", "MO message 2"]
        sms_up.wait_for("MO message 2")
    finally:
        proc.stop()
        simulator.kill()
        simulator.communicate()
