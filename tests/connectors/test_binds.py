"""Binds: each mode, refused binds backed off and retried, keep-alive, reconnects, unbind."""

from __future__ import annotations

import logging

import pytest

from smsgate.domain.models import Retry
from smsgate.logs import FIELDS_ATTR
from tests.builders import message
from tests.peers.smsc import ESME_RINVPASWD, ESME_ROK, ForeignSmsc

from .conftest import NAME, PASSWORD, SYSTEM_ID, Connect


async def test_transceiver_binds_as_many_as_configured(smsc: ForeignSmsc, connect: Connect) -> None:
    connector = await connect(binds=3)
    binds = await smsc.wait_binds(3)
    assert [(b.system_id, b.mode) for b in binds] == [(SYSTEM_ID, "transceiver")] * 3
    state = connector.state()
    assert state.up
    assert [(b.bind, b.mode, b.state) for b in state.binds] == [
        (f"{NAME}#{n}", "transceiver", "bound") for n in (1, 2, 3)
    ]


async def test_tx_rx_binds_a_transmitter_and_a_receiver_per_bind(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    connector = await connect(bind_mode="tx+rx", binds=2)
    binds = await smsc.wait_binds(4)
    assert sorted(b.mode for b in binds) == ["receiver", "receiver", "transmitter", "transmitter"]
    assert [b.mode for b in connector.state().binds] == [
        "transmitter",
        "receiver",
        "transmitter",
        "receiver",
    ]


async def test_a_refused_bind_is_retried_after_a_back_off_until_it_is_accepted(
    smsc: ForeignSmsc, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "smsgate.connectors")
    smsc.credentials[SYSTEM_ID] = "other"
    connector = await connect(password=PASSWORD, wait=False)
    await smsc.wait_for(lambda: len(smsc.binds) >= 3, "three refused binds")
    assert {b.status for b in smsc.binds} == {ESME_RINVPASWD}
    assert not connector.is_up
    [bind] = connector.state().binds
    assert bind.last_error == "bind refused: ESME_RINVPASWD"
    outcomes = await connector.submit([message(1), message(2)])
    assert all(isinstance(o, Retry) and o.after_s > 0 for o in outcomes)
    assert not smsc.submits

    smsc.credentials[SYSTEM_ID] = PASSWORD
    await connector.wait_up()
    assert smsc.binds[-1].status == ESME_ROK
    refused = [r for r in caplog.records if r.getMessage() == "connector.bind_refused"]
    assert len(refused) >= 3
    assert getattr(refused[0], FIELDS_ATTR)["status"] == "ESME_RINVPASWD"
    assert getattr(refused[0], FIELDS_ATTR)["bind"] == f"{NAME}#1"
    for record in caplog.records:
        assert PASSWORD not in record.getMessage() + str(getattr(record, FIELDS_ATTR, ""))


async def test_the_back_off_grows_between_refused_binds(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    smsc.bind_status = ESME_RINVPASWD
    await connect(wait=False, reconnect_initial_s=0.05, reconnect_max_s=0.4)
    await smsc.wait_for(lambda: len(smsc.binds) >= 4, "four refused binds")
    # Waits of 0.75 x 0.05, 0.1, 0.2 (the jitter is fixed at 0.75): each bind on a new connection.
    assert [b.connection for b in smsc.binds[:4]] == [1, 2, 3, 4]


async def test_enquire_link_goes_after_enquire_link_s_of_silence(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    await connect(enquire_link_s=0.1)
    await smsc.wait_for(lambda: len(smsc.enquire_links) >= 2, "two enquire_link")
    assert smsc.closed == 0


async def test_an_unanswered_enquire_link_drops_the_link_and_it_binds_again(
    smsc: ForeignSmsc, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "smsgate.connectors")
    smsc.answer_enquire_link = False
    await connect(enquire_link_s=0.1, response_timeout_s=0.2)
    await smsc.wait_closed(1)
    smsc.answer_enquire_link = True
    await smsc.wait_binds(2)
    [fault, *_] = [r for r in caplog.records if r.getMessage() == "connector.fault"]
    assert getattr(fault, FIELDS_ATTR)["reason"] == "no enquire_link_resp within response_timeout"


async def test_a_dropped_connection_is_reconnected(smsc: ForeignSmsc, connect: Connect) -> None:
    connector = await connect(binds=2)
    await smsc.wait_binds(2)
    assert smsc.disconnect() == 2
    await smsc.wait_binds(4)
    await connector.wait_up()
    assert [b.last_error for b in connector.state().binds] == ["closed by the SMSC"] * 2


async def test_an_unbind_from_the_smsc_is_answered_and_the_link_binds_again(
    smsc: ForeignSmsc, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "smsgate.connectors")
    await connect()
    assert await smsc.unbind() == [ESME_ROK]
    await smsc.wait_binds(2)
    unbinds = [r for r in caplog.records if r.getMessage() == "connector.unbind"]
    assert [getattr(r, FIELDS_ATTR)["by"] for r in unbinds] == ["SMSC"]


async def test_close_unbinds_every_bind(
    smsc: ForeignSmsc, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "smsgate.connectors")
    connector = await connect(bind_mode="tx+rx")
    await connector.close()
    await smsc.wait_closed(2)
    unbinds = [r for r in caplog.records if r.getMessage() == "connector.unbind"]
    assert sorted(getattr(r, FIELDS_ATTR)["mode"] for r in unbinds) == ["receiver", "transmitter"]
    assert not connector.is_up
    assert {b.state for b in connector.state().binds} == {"closed"}
    assert not [r for r in caplog.records if r.getMessage() == "connector.fault"]
    outcomes = await connector.submit([message(1)])
    assert isinstance(outcomes[0], Retry)


async def test_a_connector_to_a_closed_port_keeps_trying(connect: Connect) -> None:
    connector = await connect(wait=False, port=1)
    with pytest.raises(TimeoutError):
        await connector.wait_up(timeout=0.3)
    [bind] = connector.state().binds
    assert bind.last_error is not None
    assert bind.last_error.startswith("connect: ConnectionRefusedError")
