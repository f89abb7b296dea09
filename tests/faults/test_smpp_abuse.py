"""The SMPP door against clients that read nothing, guess passwords, or are bound at shutdown.

Each test runs a real server process and talks to it over TCP with PDUs that smpplib encodes, so
what is measured (the server's memory in /proc, its log lines, when it exits) is the product's
own behaviour, not a fake's.

Before the fixes: a bound client that submitted and never read made the server grow from 320 MB
to 1.27 GB in 20 s and stalled other binds; every wrong password cost a ~30 ms hash, with no
limit; SIGTERM closed bound sessions without an unbind.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import smpplib.client
import smpplib.command
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from tests.doors.smpp_wire import pdu
from tests.interop.conftest import SIMULATOR_CONFIG
from tests.interop.test_smpp_door import PASSWORD, SG, connect, new_account
from tests.interop.test_smpp_logs import WRONG_PASSWORD, JsonLogServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="reads the server's memory from /proc"),
]

WRITE_STALL_S = 2.0
MB = 1 << 20


def _server(tmp_path: Path, smpp: str) -> Iterator[JsonLogServer]:
    config = SIMULATOR_CONFIG + "\n[server]\nrefresh_s = 0\n[smpp]\n" + smpp
    server = JsonLogServer(tmp_path / "data", config)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stall_server(tmp_path: Path) -> Iterator[JsonLogServer]:
    yield from _server(tmp_path, f"write_stall_s = {WRITE_STALL_S}\n")


@pytest.fixture
def lockout_server(tmp_path: Path) -> Iterator[JsonLogServer]:
    yield from _server(tmp_path, "max_failed_binds = 3\nbind_lock_s = 60\n")


@pytest.fixture
def stop_server(tmp_path: Path) -> Iterator[JsonLogServer]:
    yield from _server(tmp_path, "shutdown_s = 1.0\n")


def _renumbered(data: bytes, sequence: int) -> bytes:
    return data[:12] + struct.pack(">L", sequence) + data[16:]


def _read_pdu(sock: socket.socket) -> smpplib.command.Command:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    header = exactly(4)
    (length,) = struct.unpack(">L", header)
    return smpplib.smpp.parse_pdu(header + exactly(length - 4))


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _non_reader(server: JsonLogServer, system_id: str) -> socket.socket:
    """A bound transceiver whose receive buffer is tiny and that will never read again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.smpp_port))
    sock.sendall(pdu("bind_transceiver", 1, system_id=system_id, password=PASSWORD))
    resp = _read_pdu(sock)
    assert (resp.command, resp.status) == ("bind_transceiver_resp", smpplib.consts.SMPP_ESME_ROK)
    return sock


def test_a_client_that_reads_nothing_is_cut_off_and_memory_stays_flat(
    stall_server: JsonLogServer,
) -> None:
    server = stall_server
    new_account(server, "greedy")
    new_account(server, "patient")
    assert server.proc is not None
    pid = server.proc.pid
    sock = _non_reader(server, "greedy")
    before = _rss(pid)

    ended: list[BaseException] = []
    sent = [0]

    def blast() -> None:
        # As fast as the socket takes them, submits (one in 20, accepted and delivered) and
        # enquire_links (cheap to answer, so the answers pile up quickly); no answer is read.
        submit = pdu(
            "submit_sm", 1, source_addr="Acme", destination_addr=SG, short_message=b"never read"
        )
        enquire = pdu("enquire_link", 1)
        sequence = 2
        try:
            while True:
                sock.sendall(
                    b"".join(
                        _renumbered(submit if seq % 20 == 0 else enquire, seq)
                        for seq in range(sequence, sequence + 1000)
                    )
                )
                sequence += 1000
                sent[0] += 1000
        except OSError as exc:
            ended.append(exc)

    blaster = threading.Thread(target=blast, daemon=True)
    started = time.monotonic()
    blaster.start()

    # While the greedy client is stuck, another bind is answered promptly.
    patient = connect(server)
    patient.bind_transceiver(system_id="patient", password=PASSWORD)
    answered = time.monotonic()
    patient.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=patient))
    assert patient.read_pdu().command == "enquire_link_resp"
    assert time.monotonic() - answered < 1.0

    peak = before
    while blaster.is_alive() and time.monotonic() - started < 30:
        peak = max(peak, _rss(pid))
        blaster.join(0.05)
    assert not blaster.is_alive(), (
        f"never cut off: {sent[0]} sent, RSS +{(peak - before) / MB:.0f} MB"
    )
    cut_after = time.monotonic() - started
    sock.close()

    assert isinstance(ended[0], ConnectionError)
    assert sent[0] >= 1000  # the server did take work before it pushed back
    assert peak - before < 50 * MB, f"RSS grew by {(peak - before) / MB:.0f} MB"
    assert WRITE_STALL_S <= cut_after < WRITE_STALL_S + 10
    closes = [e for e in server.wait_for("smpp.close", 1) if e["system_id"] == "greedy"]
    assert closes[0]["reason"] == f"the client read none of its answers for {WRITE_STALL_S:g} s"
    # The patient client is still served after the greedy one is gone.
    patient.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=patient))
    assert patient.read_pdu().command == "enquire_link_resp"
    patient.unbind()
    patient.disconnect()


def _bind_status(server: JsonLogServer, system_id: str, password: str) -> int:
    client = connect(server)
    try:
        client.bind_transceiver(system_id=system_id, password=password)
    except smpplib.exceptions.PDUError as refused:
        return int(refused.args[1])
    finally:
        client.disconnect()
    return smpplib.consts.SMPP_ESME_ROK


def test_password_guessing_locks_the_system_id_and_host_out(lockout_server: JsonLogServer) -> None:
    server = lockout_server
    new_account(server, "target")

    guesses = [_bind_status(server, "target", WRONG_PASSWORD) for _ in range(3)]
    assert guesses == [smpplib.consts.SMPP_ESME_RINVPASWD] * 3

    # Locked: refused before any password check, even with the right password...
    assert _bind_status(server, "target", PASSWORD) == smpplib.consts.SMPP_ESME_RBINDFAIL
    # ...and this host may not try other system_ids either.
    assert _bind_status(server, "other", WRONG_PASSWORD) == smpplib.consts.SMPP_ESME_RBINDFAIL
    for _ in range(20):
        assert _bind_status(server, "target", WRONG_PASSWORD) == smpplib.consts.SMPP_ESME_RBINDFAIL

    locks = server.wait_for("smpp.bind_locked", 2)
    assert {e["key"] for e in locks} == {"system_id target", "host 127.0.0.1"}
    assert {(e["failures"], e["lock_s"]) for e in locks} == {(3, 60)}
    assert len(server.events("smpp.bind_locked")) == 2  # a lock is logged once, not per refusal
    assert PASSWORD not in server.log_path.read_text()
    assert WRONG_PASSWORD not in server.log_path.read_text()


def test_sigterm_unbinds_every_bound_client_and_exits_within_its_bound(
    stop_server: JsonLogServer,
) -> None:
    server = stop_server
    new_account(server, "polite")
    new_account(server, "deaf")
    polite = connect(server)
    polite.bind_transceiver(system_id="polite", password=PASSWORD)
    deaf = connect(server)  # gets the unbind and never answers it
    deaf.bind_transceiver(system_id="deaf", password=PASSWORD)
    assert server.proc is not None
    proc = server.proc

    asked = time.monotonic()
    proc.terminate()
    unbind = polite.read_pdu()
    assert unbind.command == "unbind"
    polite.send_pdu(smpplib.smpp.make_pdu("unbind_resp", client=polite, sequence=unbind.sequence))
    assert deaf.read_pdu().command == "unbind"

    proc.wait(15)
    took = time.monotonic() - asked
    assert proc.returncode == 0
    assert took < 1.0 + 3.0, f"took {took:.1f} s to stop"  # shutdown_s, plus start-up slack
    closes = {e["system_id"]: e["reason"] for e in server.events("smpp.close")}
    assert closes["polite"] == "unbound by smsgate (stopping)"
    assert "deaf" in closes
    polite.disconnect()
    deaf.disconnect()
