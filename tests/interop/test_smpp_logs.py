"""The SMPP door's log lines, read from a real server started with ``--log-format json``: one line
per bind, refused bind, unbind and closed connection, with the account's own bind count and never
the password.

A bind's line is written before its answer goes out, so it is in the log once the client has
the answer; a closed connection's line comes after the client is gone, so the test waits for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions

from .conftest import SIMULATOR_CONFIG, ServerProcess
from .test_smpp_door import PASSWORD, connect, new_account

WRONG_PASSWORD = "Wr0ngPw"


class JsonLogServer(ServerProcess):
    """``smsgate serve --log-format json``; its standard error is :attr:`log_path`."""

    def __init__(self, data_dir: Path, config_text: str = "") -> None:
        super().__init__(data_dir, config_text, extra_args=("--log-format", "json"))

    def events(self, name: str) -> list[dict[str, Any]]:
        text = self.log_path.read_text()
        # Only whole lines: the server may be writing the last one as it is read.
        lines = text[: text.rfind("\n") + 1].splitlines()
        return [entry for entry in map(_json_line, lines) if entry["event"] == name]

    def wait_for(self, name: str, count: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """The first ``count`` lines of event ``name``, once the server has written them."""
        deadline = time.monotonic() + timeout_s
        while len(found := self.events(name)) < count:
            assert time.monotonic() < deadline, f"no {count} {name} lines: {found}"
            time.sleep(0.02)
        return found[:count]


def _json_line(line: str) -> dict[str, Any]:
    try:
        entry: dict[str, Any] = json.loads(line)
    except json.JSONDecodeError:
        raise AssertionError(f"a log line that is not JSON: {line!r}") from None
    return entry


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JsonLogServer]:
    config = SIMULATOR_CONFIG + "\n[server]\nrefresh_s = 0\n[smpp]\nmax_binds = 2\n"
    proc = JsonLogServer(tmp_path_factory.mktemp("smpplogs") / "data", config)
    proc.start()
    yield proc
    proc.stop()


def _peer(client: smpplib.client.Client) -> str:
    host, port = client._socket.getsockname()[:2]
    return f"{host}:{port}"


def _fields(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in ("time", "logger")}


def test_binds_refusals_unbinds_and_closes_are_one_line_each(server: JsonLogServer) -> None:
    a = new_account(server, "log-a").account_id
    b = new_account(server, "log-b").account_id
    c = new_account(server, "log-c").account_id
    d = new_account(server, "log-d").account_id
    server.cli("accounts", "disable", d)
    opened: list[smpplib.client.Client] = []

    def client() -> smpplib.client.Client:
        made = connect(server)
        opened.append(made)
        return made

    try:
        client().bind_transceiver(system_id="log-b", password=PASSWORD)
        closing = client()
        closing.bind_transmitter(system_id="log-c", password=PASSWORD)
        first, second, third = client(), client(), client()
        first.bind_transceiver(system_id="log-a", password=PASSWORD)
        second.bind_receiver(system_id="log-a", password=PASSWORD)
        with pytest.raises(smpplib.exceptions.PDUError):
            third.bind_transmitter(system_id="log-a", password=PASSWORD)  # over max_binds
        wrong, unknown = client(), client()
        with pytest.raises(smpplib.exceptions.PDUError):
            wrong.bind_transceiver(system_id="log-b", password=WRONG_PASSWORD)
        with pytest.raises(smpplib.exceptions.PDUError):
            unknown.bind_transceiver(system_id="nobody", password=PASSWORD)
        suspended = client()
        with pytest.raises(smpplib.exceptions.PDUError):
            suspended.bind_receiver(system_id="log-d", password=PASSWORD)

        binds = [_fields(e) for e in server.events("smpp.bind")]
        assert binds[2:] == [
            {
                "level": "info", "event": "smpp.bind", "system_id": "log-a", "account": a,
                "bind": "transceiver", "peer": _peer(first), "status": "ESME_ROK",
                "binds": 1,
            },
            {
                "level": "info", "event": "smpp.bind", "system_id": "log-a", "account": a,
                "bind": "receiver", "peer": _peer(second), "status": "ESME_ROK",
                "binds": 2,
            },
        ]  # fmt: skip
        assert [(e["system_id"], e["account"], e["binds"]) for e in binds[:2]] == [
            ("log-b", b, 1),
            ("log-c", c, 1),
        ]
        refused = [_fields(e) for e in server.events("smpp.bind_refused")]
        assert refused == [
            {
                "level": "info", "event": "smpp.bind_refused", "system_id": "log-a",
                "account": a, "bind": "transmitter", "peer": _peer(third),
                "status": "ESME_RBINDFAIL", "reason": "the account has max_binds (2) binds",
                "binds": 2,  # this account's binds, not the 3 accounts bound
            },
            {
                "level": "info", "event": "smpp.bind_refused", "system_id": "log-b",
                "account": b, "bind": "transceiver", "peer": _peer(wrong),
                "status": "ESME_RINVPASWD", "reason": "wrong password", "binds": 1,
            },
            {
                "level": "info", "event": "smpp.bind_refused", "system_id": "nobody",
                "account": None, "bind": "transceiver", "peer": _peer(unknown),
                "status": "ESME_RINVSYSID", "reason": "unknown system_id", "binds": None,
            },
            {
                "level": "info", "event": "smpp.bind_refused", "system_id": "log-d",
                "account": d, "bind": "receiver", "peer": _peer(suspended),
                "status": "ESME_RBINDFAIL",
                "reason": "the account is suspended (isv.OUT_OF_SERVICE)", "binds": 0,
            },
        ]  # fmt: skip

        second.unbind()
        (unbind,) = server.events("smpp.unbind")
        assert _fields(unbind) == {
            "level": "info", "event": "smpp.unbind", "system_id": "log-a", "account": a,
            "bind": "receiver", "peer": _peer(second), "binds": 1,
        }  # fmt: skip
        closing_peer = _peer(closing)
        closing._socket.close()  # gone without an unbind
        closing._socket = None
        closes = {e["peer"]: _fields(e) for e in server.wait_for("smpp.close", 2)}
        assert closes[_peer(second)]["reason"] == "unbound by the ESME"
        assert closes[closing_peer] == {
            "level": "info", "event": "smpp.close", "system_id": "log-c", "account": c,
            "bind": "transmitter", "peer": closing_peer, "reason": "closed by the client",
            "binds": 0,
        }  # fmt: skip
    finally:
        for made in opened:
            made.disconnect()

    text = server.log_path.read_text()
    assert PASSWORD not in text
    assert WRONG_PASSWORD not in text
