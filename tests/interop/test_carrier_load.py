"""The carrier path under load, on real processes: SMPP in (smpplib) -> ``smsgate serve`` ->
connectors -> ``smsgate simulator`` SMSCs -> receipts back as deliver_sm. Every message is
counted at both ends: what the client had accepted, and what each SMSC says it took."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from .carrier_rig import (
    SimulatorProcess,
    SmppLoad,
    carrier_server,
    connector_add,
    connector_in,
    messages_of,
)
from .conftest import Account, ServerProcess

pytestmark = pytest.mark.slow

SYSTEM_ID, PASSWORD = "loader", "pw4load"
TOTAL = 3000
#: Every message delivered, its receipt at once.
DELIVER_ALL = "[simulator]\ndelay_ms = 0\nrules = []\n"


def numbers(count: int, start: int = 0) -> list[str]:
    """Distinct Singapore mobile numbers (per-number daily limits stay far away)."""
    return [f"659{n:07d}" for n in range(start, start + count)]


def smpp_account(server: ServerProcess) -> Account:
    account = server.create_account("load", balance="100000")
    server.cli("smpp", "add", account.account_id, "--system-id", SYSTEM_ID, "--password", PASSWORD)
    return account


def test_a_throttling_smsc_gets_every_message_once(
    tmp_path: Path, cleanups: list[Callable[[], object]]
) -> None:
    """The SMSC takes 50 messages a second and answers ESME_RTHROTTLED beyond: the connector
    backs off and tries again until every message is taken, once."""
    smsc = SimulatorProcess(tmp_path / "smsc", DELIVER_ALL, "--max-tps", "50").start()
    cleanups.append(smsc.close)
    server = carrier_server(tmp_path)
    server.cli(*connector_add("uplink", smsc, "--window", "20"))
    server.cli("routes", "add", "--connector", "uplink")
    smpp_account(server)
    server.start()
    cleanups.append(server.stop)
    client = SmppLoad.bind(server.smpp_port, SYSTEM_ID, PASSWORD)
    cleanups.append(client.close)

    began = time.monotonic()
    client.submit(numbers(150))
    client.wait_receipts(lambda: len(client.receipts))
    took_s = time.monotonic() - began
    server.stop()  # a graceful stop answers every deliver_sm it took before it unbinds
    answered = smsc.stop()

    assert len(client.accepted) == 150
    assert client.receipts == {m: ["DELIVRD"] for m in client.accepted}
    assert answered.taken == 150  # none lost, none twice
    assert answered.answers.get("ESME_RTHROTTLED", 0) > 0  # it did push back
    assert answered.owed == 0
    print(f"150 messages through a 50/s SMSC in {took_s:.1f} s; answers {answered.answers}")


#: Messages a handed-over message waits for its receipt before it expires; the expiry sweep.
QUICK_EXPIRY = "[upstream]\ndefault_validity_s = 4\nexpiry_sweep_s = 0.2\n"


def test_a_killed_smsc_is_failed_over_and_no_message_is_lost(
    tmp_path: Path, cleanups: list[Callable[[], object]]
) -> None:
    """Two SMSCs share the traffic by weight; one is SIGKILLed with its window full. Every
    accepted message gets a receipt: delivered by either SMSC, or, for the few the dead one had
    taken and not yet reported on, expired once their validity ran out (the dead SMSC had
    them: sending them again would send them twice)."""
    # The first reports 200 ms after it takes a message: it dies owing some receipts.
    first = SimulatorProcess(tmp_path / "first", DELIVER_ALL.replace("= 0", "= 200")).start()
    second = SimulatorProcess(tmp_path / "second", DELIVER_ALL).start()
    cleanups += [first.close, second.close]
    server = carrier_server(tmp_path, QUICK_EXPIRY)
    for name, smsc in (("first", first), ("second", second)):
        server.cli(*connector_add(name, smsc, "--window", "20"))
        server.cli("routes", "add", "--connector", name, "--weight", "1")
    account = smpp_account(server)
    server.start()
    cleanups.append(server.stop)
    for name in ("first", "second"):
        connector_in(server, name, "up")
    client = SmppLoad.bind(server.smpp_port, SYSTEM_ID, PASSWORD)
    cleanups.append(client.close)

    began = time.monotonic()
    client.submit(numbers(TOTAL), midway=(TOTAL // 3, first.kill))
    sent_s = time.monotonic() - began
    client.wait_receipts(lambda: len(client.receipts), deadline_s=30)
    receipts_s = time.monotonic() - began
    dead = connector_in(server, "first", "down")
    listed = messages_of(server, account.account_id, limit=2 * TOTAL)
    server.stop()  # a graceful stop answers every deliver_sm it took before it unbinds
    answered = second.stop()

    assert (len(client.accepted), client.refused) == (TOTAL, {})
    assert set(client.receipts) == set(client.accepted)
    by_fate = Counter((listed[m]["connector"], listed[m]["status"]) for m in client.accepted)
    stranded = by_fate[("first", "expired")]
    assert by_fate == Counter(  # nothing else: nothing lost, nothing failed
        {
            ("first", "delivered"): by_fate[("first", "delivered")],
            ("first", "expired"): stranded,
            ("second", "delivered"): answered.taken,  # each message once, none twice
        }
    )
    assert by_fate[("first", "delivered")] > 0  # the first carried its share until it died
    assert answered.taken > 2 * TOTAL // 3  # the rest all went to the second
    # One receipt each, saying what became of it.
    stats = Counter(stat for seen in client.receipts.values() for stat in seen)
    assert stats == Counter({"DELIVRD": TOTAL - stranded, "EXPIRED": stranded})
    assert answered.owed == 0
    # connectors list: down, reconnecting, and it counts what it took before it died.
    assert dead["accepted"] == by_fate[("first", "delivered")] + stranded
    assert [bind["state"] for bind in dead["binds"]] in (["backing off"], ["connecting"])
    print(
        f"{TOTAL} messages: accepted in {sent_s:.1f} s, every receipt after {receipts_s:.1f} s; "
        f"{dict(by_fate)}; {dead['retried']} failed over from the first"
    )
