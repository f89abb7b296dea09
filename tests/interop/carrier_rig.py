"""The carrier path as a user builds it: ``smsgate simulator`` processes as upstream SMSCs, and
``smsgate serve`` pointed at them with ``connectors add`` / ``routes add`` and nothing else.

- :class:`SimulatorProcess`: one ``smsgate simulator`` child; :meth:`~SimulatorProcess.stop`
  returns what it answered (submits by status, receipts), from the line it prints on stopping,
  so that a test counts what reached the SMSC without reaching into it.
- :func:`carrier_server`: a data directory made with ``init``, for the test to set up with the
  CLI before it starts ``serve`` (as the README's "Connectors and routes" does).
- :class:`SmppLoad`: an smpplib transceiver that submits with a window and takes the receipts
  that come back, answering each.
- Polls of another process's state (``messages list``, ``connectors list``) with a deadline:
  there is nothing to await across a process boundary but its answer.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import smpplib.client
import smpplib.command
import smpplib.consts
import smpplib.smpp

from .conftest import ServerProcess
from .smsc_harness import RECEIPT_RE, text_of

T = TypeVar("T")

DEADLINE_S = 20.0
POLL_S = 0.1
_SUMMARY = re.compile(
    r"answered (\d+) submitted messages \(([^)]*)\); (\d+) receipts due, \d+ MO messages sent, "
    r"(\d+) deliver_sm never acknowledged"
)


@dataclass
class SmscCounts:
    """What a stopped simulator answered: submitted messages by status name; receipts that
    came due; receipts and MO messages it owed and no client ever acknowledged."""

    answers: dict[str, int]
    receipts_due: int
    owed: int

    @property
    def taken(self) -> int:
        return self.answers.get("ESME_ROK", 0)


class SimulatorProcess:
    """``smsgate simulator --smpp-port 0`` with ``args``, its rules from ``rules`` (TOML)."""

    def __init__(self, folder: Path, rules: str, *args: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.rules_path = folder / "rules.toml"
        self.rules_path.write_text(rules)
        self.log_path = folder / "simulator.log"
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> SimulatorProcess:
        with self.log_path.open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "smsgate.cli", "simulator", "--smpp-port", "0",
                 "--rules", str(self.rules_path), *self.args],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if "listening on" not in first:
            self.proc.kill()
            self.proc.wait(10)
            pytest.fail(f"the simulator did not start: {first}{self.log_path.read_text()}")
        self.port = int(first.rsplit(":", 1)[1])
        return self

    def stop(self) -> SmscCounts:
        """SIGTERM; what it answered over its whole run."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=15)
        self.proc = None
        match = _SUMMARY.search(out)
        assert match is not None, f"no summary from the simulator:\n{out}"
        answers = {}
        for item in filter(None, match.group(2).split(", ")):
            name, count = item.rsplit(" ", 1)
            answers[name] = int(count)
        assert sum(answers.values()) == int(match.group(1))
        return SmscCounts(answers, int(match.group(3)), int(match.group(4)))

    def kill(self) -> None:
        """SIGKILL: the SMSC vanishes with what it held."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=10)
        self.proc = None

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.communicate(timeout=10)
            self.proc = None


def carrier_server(folder: Path, config: str = "", refresh_s: float = 0.0) -> ServerProcess:
    """A server whose data directory ``init`` made, not started: the test sets it up with the
    CLI (connectors, routes, accounts), then starts it. It re-reads policy every ``refresh_s``
    (0: at once, so that CLI changes made while it runs apply to the next message)."""
    server = ServerProcess(folder / "data", f"{config}\n[server]\nrefresh_s = {refresh_s}\n")
    server.init()
    return server


def connector_add(name: str, smsc: SimulatorProcess, *options: str) -> tuple[str, ...]:
    """``connectors add NAME`` to ``smsc`` (which takes any system_id and password)."""
    return (
        "connectors", "add", name, "--host", "127.0.0.1", "--port", str(smsc.port),
        "--system-id", name, "--password", "pw", "--reconnect-initial-s", "0.2",
        "--reconnect-max-s", "1", *options,
    )  # fmt: skip


def until(what: str, probe: Callable[[], T | None], deadline_s: float = DEADLINE_S) -> T:
    """``probe()`` until it gives something other than None, or fail after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {deadline_s} s")
        time.sleep(POLL_S)  # another process: nothing to await but its answer


def messages_of(
    server: ServerProcess, account_id: str, limit: int = 100
) -> dict[str, dict[str, Any]]:
    """``messages list`` of an account, by message id."""
    listed = server.cli("messages", "list", account_id, "--limit", str(limit))
    assert isinstance(listed, list)
    return {str(m["message_id"]): m for m in listed}


def message_in(server: ServerProcess, account_id: str, message_id: str, status: str) -> None:
    """Until ``messages list`` shows the message in ``status``."""

    def probe() -> bool | None:
        return messages_of(server, account_id).get(message_id, {}).get("status") == status or None

    until(f"message {message_id} {status}", probe)


def final_messages(
    server: ServerProcess, account_id: str, ids: Iterable[str], deadline_s: float = DEADLINE_S
) -> dict[str, dict[str, Any]]:
    """The messages ``ids`` once every one is final (delivered, failed, expired)."""
    wanted = set(ids)

    def probe() -> dict[str, dict[str, Any]] | None:
        listed = messages_of(server, account_id, max(100, 2 * len(wanted)))
        found = {m: listed[m] for m in wanted if m in listed}
        unfinished = [m for m in found.values() if m["status"] in ("accepted", "submitted")]
        return found if len(found) == len(wanted) and not unfinished else None

    return until(f"{len(wanted)} messages final", probe, deadline_s)


def connector_state(server: ServerProcess, name: str) -> dict[str, object] | None:
    """The running server's live view of connector ``name`` (None while it has none)."""
    listed = server.cli("connectors", "list", "--endpoint", server.endpoint)
    assert isinstance(listed, list)
    for view in listed:
        if view["name"] == name and isinstance(view["live"], dict):
            return view["live"]
    return None


def connector_in(server: ServerProcess, name: str, state: str) -> dict[str, object]:
    """The live view of connector ``name`` once it is in ``state``."""

    def probe() -> dict[str, object] | None:
        live = connector_state(server, name)
        return live if live is not None and live["state"] == state else None

    return until(f"connector {name} {state}", probe)


# -- SMPP in ----------------------------------------------------------------------------------


@dataclass
class SmppLoad:
    """A transceiver bound to smsgate that submits with up to ``window`` unanswered and keeps
    every receipt that comes back (each answered ESME_ROK)."""

    client: smpplib.client.Client
    window: int = 100
    accepted: list[str] = field(default_factory=list)
    refused: dict[int, int] = field(default_factory=dict)  # command_status -> count
    receipts: dict[str, list[str]] = field(default_factory=dict)  # message id -> stats seen
    _unanswered: int = 0

    @classmethod
    def bind(cls, port: int, system_id: str, password: str, window: int = 100) -> SmppLoad:
        client = smpplib.client.Client(
            "127.0.0.1", port, timeout=DEADLINE_S, allow_unknown_opt_params=True
        )
        client.connect()
        client.bind_transceiver(system_id=system_id, password=password)
        return cls(client, window)

    def submit(
        self,
        numbers: Iterable[str],
        text: bytes = b"Your code is 1234",
        midway: tuple[int, Callable[[], None]] | None = None,
    ) -> None:
        """One submit_sm per number, asking for a receipt; returns once each is answered.
        ``midway`` (n, action): ``action()`` once n submits were sent, the window full."""
        for sent, to in enumerate(numbers):
            if midway is not None and sent == midway[0]:
                midway[1]()
            while self._unanswered >= self.window:
                self._read_one()
            self.client.send_pdu(
                smpplib.smpp.make_pdu(
                    "submit_sm",
                    client=self.client,
                    source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                    source_addr="Acme",
                    dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                    dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                    destination_addr=to,
                    short_message=text,
                    registered_delivery=1,
                )
            )
            self._unanswered += 1
        while self._unanswered:
            self._read_one()

    def wait_receipts(self, count: Callable[[], int], deadline_s: float = DEADLINE_S) -> None:
        """Read receipts until ``count()`` reaches the number accepted, or fail."""
        deadline = time.monotonic() + deadline_s
        while count() < len(self.accepted):
            if time.monotonic() > deadline:
                pytest.fail(f"receipts for {count()} of {len(self.accepted)} messages")
            self._read_one()

    def _read_one(self) -> None:
        pdu = self.client.read_pdu()
        if pdu.command == "submit_sm_resp":
            self._unanswered -= 1
            if pdu.status == smpplib.consts.SMPP_ESME_ROK:
                self.accepted.append(text_of(pdu.message_id))
            else:
                self.refused[pdu.status] = self.refused.get(pdu.status, 0) + 1
        elif pdu.command == "deliver_sm":
            match = RECEIPT_RE.fullmatch(text_of(pdu.short_message))
            assert match is not None, pdu.short_message
            self.receipts.setdefault(match["id"], []).append(match["stat"])
            self._answer(pdu, "deliver_sm_resp")
        elif pdu.command == "enquire_link":
            self._answer(pdu, "enquire_link_resp")
        else:
            pytest.fail(f"unexpected {pdu.command} from smsgate")

    def _answer(self, pdu: smpplib.command.Command, command: str) -> None:
        resp = smpplib.smpp.make_pdu(command, client=self.client)
        resp.sequence = pdu.sequence
        self.client.send_pdu(resp)

    def close(self) -> None:
        """Unbind if smsgate answers in order, and disconnect in any case."""
        with contextlib.suppress(Exception):  # a receipt may come before the unbind_resp
            self.client.unbind()
        with contextlib.suppress(Exception):
            self.client.disconnect()
