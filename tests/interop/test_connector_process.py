"""The connector process on real processes: ``smsgate serve`` runs its upstream connectors in a
child (``[upstream] connector_process``, on by default); SMPP in with smpplib, ``smsgate
simulator`` as the SMSC. What a user must be able to count on: a child that dies loses nothing
and comes back by itself, a server that stops (or dies) leaves no child behind, the password is
never on a command line, and the connectors still run in the server's own process when told to."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from smsgate.adapters.carriers.process.child import CHUNK

from .carrier_rig import (
    SimulatorProcess,
    SmppLoad,
    carrier_server,
    connector_add,
    connector_in,
    until,
)
from .conftest import ServerProcess

pytestmark = pytest.mark.slow

SYSTEM_ID, PASSWORD = "loader", "pw4load"
#: Every message delivered, its receipt at once.
DELIVER_ALL = "[simulator]\ndelay_ms = 0\nrules = []\n"
CONNECTOR_PASSWORD = "Up1ink77"  # SMPP passwords are 8 characters at most
WINDOW = 20


def numbers(count: int) -> list[str]:
    """Distinct Singapore mobile numbers."""
    return [f"659{n:07d}" for n in range(count)]


def children_of(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def connector_child(server: ServerProcess) -> int:
    """The pid of the server's connector process, once it runs."""
    assert server.proc is not None
    parent = server.proc.pid
    return until("the connector process", lambda: next(iter(children_of(parent)), None))


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def uplink_server(
    tmp_path: Path,
    cleanups: list[Callable[[], object]],
    config: str = "",
    smsc: tuple[str, ...] = (DELIVER_ALL,),
    connector: tuple[str, ...] = (),
) -> tuple[ServerProcess, SimulatorProcess, SmppLoad]:
    """A server with one connector, ``uplink``, to a simulator SMSC (its rules and options
    ``smsc``), the connector's extra options ``connector``; a client bound to the server."""
    upstream = SimulatorProcess(tmp_path / "smsc", *smsc).start()
    cleanups.append(upstream.close)
    server = carrier_server(tmp_path, config)
    add = connector_add("uplink", upstream, "--window", str(WINDOW), *connector)
    server.cli(*(CONNECTOR_PASSWORD if arg == "pw" else arg for arg in add))
    server.cli("routes", "add", "--connector", "uplink")
    account = server.create_account("load", balance="100000")
    server.cli("smpp", "add", account.account_id, "--system-id", SYSTEM_ID, "--password", PASSWORD)
    server.start()
    cleanups.append(server.stop)
    connector_in(server, "uplink", "up")
    client = SmppLoad.bind(server.smpp_port, SYSTEM_ID, PASSWORD)
    cleanups.append(client.close)
    return server, upstream, client


def test_a_killed_connector_process_loses_nothing_and_comes_back(
    tmp_path: Path, cleanups: list[Callable[[], object]]
) -> None:
    """SIGKILL to the connector process while it holds messages waiting for its TPS limit,
    submits in flight and receipts it took and never answered: the server answers its submits
    Retry, starts a new child, binds again, and every accepted message is delivered with one
    receipt (the SMSC sends the unanswered receipts again). Only what was in flight at the kill
    may reach the SMSC twice."""
    server, smsc, client = uplink_server(
        tmp_path,
        cleanups,
        smsc=(DELIVER_ALL.replace("= 0", "= 300"), "--receipt-retry-s", "0.5"),
        connector=("--tps", "400"),
    )
    first = connector_child(server)

    client.submit(numbers(1500), midway=(500, lambda: os.kill(first, signal.SIGKILL)))
    client.wait_receipts(lambda: len(client.receipts), deadline_s=40)
    second = connector_child(server)
    connector_in(server, "uplink", "up")
    server.stop()
    answered = smsc.stop()

    assert second != first
    assert (len(client.accepted), client.refused) == (1500, {})
    assert client.receipts == {m: ["DELIVRD"] for m in client.accepted}
    # Nothing lost; sent twice at most what the dead child had in flight (its window), and
    # what it had not yet told of the chunk it was sending.
    assert 1500 <= answered.taken <= 1500 + WINDOW + CHUNK
    print(f"the SMSC took {answered.taken} for 1,500 messages; answers {answered.answers}")


def test_the_password_is_never_on_a_command_line(
    tmp_path: Path, cleanups: list[Callable[[], object]]
) -> None:
    server, _smsc, _client = uplink_server(tmp_path, cleanups)
    child = connector_child(server)

    argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")

    assert b"smsgate.adapters.carriers.process.child" in argv
    assert not any(CONNECTOR_PASSWORD.encode() in arg for arg in argv)


def test_a_stopped_server_leaves_no_connector_process(
    tmp_path: Path, cleanups: list[Callable[[], object]]
) -> None:
    server, _smsc, _client = uplink_server(tmp_path, cleanups)
    child = connector_child(server)

    server.stop()

    assert not running(child)


def test_a_killed_server_leaves_no_connector_process(
    tmp_path: Path, cleanups: list[Callable[[], object]]
) -> None:
    """SIGKILL to the server: its child sees the pair close and exits by itself (it holds
    binds to the SMSC that a restarted server will want)."""
    server, _smsc, _client = uplink_server(tmp_path, cleanups)
    child = connector_child(server)
    assert server.proc is not None

    server.proc.kill()
    server.proc.wait(5)

    until("the connector process gone", lambda: True if not running(child) else None)


def test_connectors_run_in_the_server_itself_when_told_to(
    tmp_path: Path, cleanups: list[Callable[[], object]]
) -> None:
    server, smsc, client = uplink_server(
        tmp_path, cleanups, "[upstream]\nconnector_process = false\n"
    )

    client.submit(numbers(200))
    client.wait_receipts(lambda: len(client.receipts))
    assert server.proc is not None
    assert children_of(server.proc.pid) == []
    server.stop()
    answered = smsc.stop()

    assert set(client.receipts) == set(client.accepted)
    assert len(client.accepted) == 200
    assert answered.taken == 200
    assert answered.owed == 0
