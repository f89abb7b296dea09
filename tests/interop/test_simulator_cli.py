"""``smsgate simulator`` as a user runs it: a child process, a rules file, smpplib binding to it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import smpplib.client
import smpplib.consts

from .smsc_harness import TIMEOUT_S, deliver, receipt_fields, submit, text_of

pytestmark = pytest.mark.slow

RULES = """
[simulator]
delay_ms = 10

[[simulator.rules]]
match = "suffix"
value = "9902"
receipt = "INVALID_NUM"

[[simulator.rules]]
match = "suffix"
value = "9911"
receipt = "INVALID_NUM"
reject = true
"""


def _simulator(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "smsgate.cli", "simulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    proc = _simulator(
        "--smpp-port", "0", "--rules", str(rules), "--system-id", "acme", "--password", "s3cret",
        "--ids", "hex",
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if "listening on" not in first:
        proc.kill()
        pytest.fail(f"the simulator did not start: {first}{proc.communicate()[1]}")
    yield proc, int(first.rsplit(":", 1)[1])
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def test_the_command_listens_binds_and_sends_receipts_by_its_rules_file(
    simulator: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = simulator
    client = smpplib.client.Client(
        "127.0.0.1", port, timeout=TIMEOUT_S, allow_unknown_opt_params=True
    )
    client.connect()
    try:
        client.bind_transceiver(system_id="acme", password="s3cret")

        message_id = text_of(submit(client, "6591239902").message_id)
        receipt = receipt_fields(deliver(client))
        refused = submit(client, "6591239911").status
        client.unbind()
    finally:
        client.disconnect()

    int(message_id, 16)  # --ids hex
    assert (receipt["id"], receipt["stat"], receipt["err"]) == (message_id, "UNDELIV", "002")
    assert refused == smpplib.consts.SMPP_ESME_RINVDSTADR
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 0, err
    assert "stopping" in out
    assert (  # what it answered and owed, to check a client against
        "answered 2 submitted messages (ESME_ROK 1, ESME_RINVDSTADR 1); 1 receipts due, "
        "0 MO messages sent, 0 deliver_sm never acknowledged"
    ) in out
    assert "simulator.bind system_id=acme bind=transceiver" in err  # one log line per bind


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--rules", "/nonexistent/rules.toml"], "cannot read rules file"),
        (["--system-id", "acme"], "give each --system-id its --password"),
        (["--max-tps", "-1"], "--max-tps"),
    ],
)
def test_a_mistake_is_one_line_and_status_2(args: list[str], complaint: str) -> None:
    proc = _simulator("--smpp-port", "0", *args)
    _out, err = proc.communicate(timeout=TIMEOUT_S * 2)

    assert proc.returncode == 2
    assert complaint in err
