"""A connector in the connector process, against the foreign SMSC (smpplib), with the real
upstream service and SQLite store behind it: what the child reads comes to the server as
records and is applied there; a child that cannot start leaves its connectors down and the
server responsive."""

from __future__ import annotations

import sys
from pathlib import Path

from smsgate import errors
from smsgate.adapters.carriers.process import ConnectorProcess, ProcessConnector
from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.sqlite import SqliteStore
from smsgate.domain.models import MessageStatus, Retry
from tests.builders import ignore_receipts, message
from tests.peers.smsc import Behaviour, ForeignSmsc
from tests.unit.upstream_rig import Rig

from .conftest import PASSWORD, make_spec, until
from .test_long_messages import send_with_middle_part_failed


async def test_receipts_read_in_the_child_are_applied_by_the_server(
    smsc: ForeignSmsc, tmp_path: Path
) -> None:
    """A three-part message sent by the child; the SMSC's receipts, one part undeliverable,
    come back through the pair into the store: the message fails with that part's code, and
    the SMSC had each receipt answered."""
    smsc.behaviour = Behaviour(receipt=None)  # receipts are sent by hand below
    async with Rig(SqliteStore(tmp_path / "smsgate.db", SecretBox(b"k" * 32))) as rig:
        process = ConnectorProcess(rig.service)
        connector = ProcessConnector(process, make_spec(smsc.port, long_method="udh"), PASSWORD)
        try:
            await connector.start(ignore_receipts)
            await until(connector.is_up, "the child's connector bound")
            stored = await send_with_middle_part_failed(smsc, rig, connector.submit)
            assert (stored.status, stored.error_code) == (
                MessageStatus.FAILED,
                errors.INVALID_NUM.code,
            )
            assert stored.carrier_status == "stat:UNDELIV err:002"
            assert [bind["state"] for bind in connector.bind_states()] == ["bound"]
        finally:
            await connector.close()
            await process.close()


async def test_a_child_that_cannot_start_leaves_its_connector_down(tmp_path: Path) -> None:
    """The manager is not kept waiting: the connector is kept, down (its messages come back
    Retry, to fail over or wait), and the child is started again and again."""
    async with Rig(SqliteStore(tmp_path / "smsgate.db", SecretBox(b"k" * 32))) as rig:
        process = ConnectorProcess(
            rig.service,
            restart_s=0.01,
            restart_max_s=0.05,
            ready_s=0.2,
            command=[sys.executable, "-c", "raise SystemExit(3)"],
        )
        connector = ProcessConnector(process, make_spec(9), PASSWORD)
        try:
            await connector.start(ignore_receipts)

            assert not connector.is_up()
            [outcome] = await connector.submit([message(1)])
            assert isinstance(outcome, Retry)
            await until(lambda: process.restarts >= 2, "the child started again")
        finally:
            await connector.close()
            await process.close()
