"""Submits: fields as the foreign SMSC reads them, outcomes per status, the window, the TPS."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from smsgate.domain.carrier_receipts import carrier_key
from smsgate.domain.models import Accepted, Rejected, Retry
from tests.builders import message
from tests.peers.smsc import (
    ESME_RINVDSTADR,
    ESME_RMSGQFUL,
    ESME_ROK,
    ESME_RTHROTTLED,
    Behaviour,
    ForeignSmsc,
)

from .conftest import NAME, Connect

NUMBERS = [f"65910000{n:02d}" for n in range(100)]


async def test_a_message_is_accepted_with_the_smsc_s_id(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    connector = await connect()
    before = time.time()
    [outcome] = await connector.submit([message(7, to="6591234567", sender="Acme")])
    [submit] = smsc.submits
    assert outcome == Accepted("7", NAME, (carrier_key(submit.message_id),), outcome.submitted_at)
    assert outcome.submitted_at >= before
    assert (submit.source_addr, submit.source_addr_ton, submit.source_addr_npi) == ("Acme", 5, 0)
    assert (submit.destination_addr, submit.dest_addr_ton, submit.dest_addr_npi) == (
        "6591234567",
        1,
        1,
    )
    assert (submit.registered_delivery, submit.data_coding, submit.esm_class) == (1, 0, 0)
    assert submit.text == "Your code is 123456"


async def test_validity_and_a_numeric_sender(smsc: ForeignSmsc, connect: Connect) -> None:
    connector = await connect()
    msg = message(1, sender="+6598765432", created_at=time.time(), validity_period=7200)
    await connector.submit([msg])
    [submit] = smsc.submits
    assert (submit.source_addr, submit.source_addr_ton, submit.source_addr_npi) == (
        "6598765432",
        1,
        1,
    )
    assert submit.validity_period.endswith("R")
    assert submit.validity_period[:8] == "00000001"  # 1 h 59 min 5x s left


async def test_ucs2_text_is_sent_as_ucs2(smsc: ForeignSmsc, connect: Connect) -> None:
    connector = await connect()
    await connector.submit([message(1, body="验证码 123456", encoding="UCS2")])
    [submit] = smsc.submits
    assert (submit.data_coding, submit.text) == (8, "验证码 123456")


async def test_hex_ids_are_kept_as_their_key(connect: Connect) -> None:
    async with ForeignSmsc({"acme": "s3cret"}, id_format="hex") as hex_smsc:
        connector = await connect(port=hex_smsc.port)
        [outcome] = await connector.submit([message(1)])
        [submit] = hex_smsc.submits
    assert isinstance(outcome, Accepted)
    assert submit.message_id == "c0ffee00"
    assert outcome.carrier_ids == ("c0ffee00",)


async def test_each_message_gets_its_own_outcome(smsc: ForeignSmsc, connect: Connect) -> None:
    smsc.by_destination[NUMBERS[1]] = Behaviour(status=ESME_RINVDSTADR)
    smsc.by_destination[NUMBERS[2]] = Behaviour(status=ESME_RTHROTTLED)
    smsc.by_destination[NUMBERS[3]] = Behaviour(status=0x401)  # a vendor's own code
    connector = await connect()
    outcomes = await connector.submit([message(n, to=NUMBERS[n]) for n in range(5)])
    by_id = {o.message_id: o for o in outcomes}
    assert len(outcomes) == 5
    assert isinstance(by_id["0"], Accepted)
    assert isinstance(by_id["4"], Accepted)
    assert isinstance(by_id["1"], Rejected)
    assert (by_id["1"].connector, by_id["1"].receipt_code) == (NAME, "INVALID_NUM")
    assert isinstance(by_id["2"], Retry)
    assert isinstance(by_id["3"], Rejected)
    assert by_id["3"].receipt_code == "UNKNOWN_ERR"


@pytest.mark.parametrize("status", [ESME_RTHROTTLED, ESME_RMSGQFUL])
async def test_throttling_gives_retry_and_pauses_the_bind(
    smsc: ForeignSmsc, connect: Connect, status: int
) -> None:
    connector = await connect(options={"throttle_initial_s": 0.4, "random": lambda: 0.999})
    smsc.by_destination[NUMBERS[0]] = Behaviour(status=status)
    [outcome] = await connector.submit([message(1, to=NUMBERS[0])])
    assert isinstance(outcome, Retry)
    assert outcome.after_s == pytest.approx(0.4, abs=0.01)
    assert connector.state().binds[0].state == "throttled"
    assert connector.is_up  # paused, not down: what comes now waits for the pause to end

    [later] = await connector.submit([message(2, to=NUMBERS[1])])
    assert isinstance(later, Accepted)
    throttled, sent = smsc.submits
    assert (sent.received_at - throttled.received_at).total_seconds() >= 0.35
    assert connector.state().binds[0].state == "bound"


async def test_the_throttle_pause_grows_while_the_smsc_keeps_throttling(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    connector = await connect(options={"throttle_initial_s": 0.05, "random": lambda: 0.999})
    smsc.behaviour = Behaviour(status=ESME_RTHROTTLED)
    pauses = []
    for n in range(3):
        [outcome] = await connector.submit([message(n)])
        assert isinstance(outcome, Retry)
        pauses.append(round(outcome.after_s, 2))
    assert pauses == [0.05, 0.1, 0.2]
    smsc.behaviour = Behaviour()
    [accepted] = await connector.submit([message(9)])
    assert isinstance(accepted, Accepted)
    smsc.behaviour = Behaviour(status=ESME_RTHROTTLED)
    [again] = await connector.submit([message(10)])
    assert isinstance(again, Retry)
    assert round(again.after_s, 2) == 0.05  # an accepted submit reset it


async def test_a_window_throttled_at_once_pauses_the_bind_once(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    """The refusals of one window answer submits sent before the first of them paused the bind:
    one push-back, one pause of the initial length, not one doubling per submit."""
    connector = await connect(
        window=8, options={"throttle_initial_s": 0.05, "random": lambda: 0.999}
    )
    smsc.behaviour = Behaviour(status=ESME_RTHROTTLED)
    outcomes = await connector.submit([message(n, to=NUMBERS[n]) for n in range(8)])
    assert len(smsc.submits) == 8  # all sent before the first refusal came back
    assert all(isinstance(o, Retry) for o in outcomes)
    assert max(o.after_s for o in outcomes if isinstance(o, Retry)) <= 0.05
    smsc.behaviour = Behaviour()
    [accepted] = await connector.submit([message(9)])
    assert isinstance(accepted, Accepted)


@pytest.mark.parametrize("binds", [1, 2])
async def test_never_more_than_the_window_in_flight_per_bind(
    smsc: ForeignSmsc, connect: Connect, binds: int
) -> None:
    smsc.max_window = 4
    smsc.behaviour = Behaviour(hold=True)
    connector = await connect(window=4, binds=binds)
    submitting = asyncio.create_task(connector.submit([message(n) for n in range(30)]))
    answered = 0
    while answered < 30:
        await smsc.wait_held(min(4 * binds, 30 - answered))
        await asyncio.sleep(0.01)  # every chance to send more than it may (a negative check)
        assert smsc.held <= 4 * binds
        assert sum(b.in_flight for b in connector.state().binds) == smsc.held
        answered += smsc.release(3)
    outcomes = await submitting
    assert smsc.overflows == []
    assert len(smsc.submits) == 30
    assert all(isinstance(o, Accepted) for o in outcomes)
    assert len({o.carrier_ids for o in outcomes if isinstance(o, Accepted)}) == 30


async def test_the_tps_limit_spreads_submits_over_all_binds(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    tps, count = 50, 40
    connector = await connect(tps=tps, binds=2)
    start = datetime.now(UTC)
    outcomes = await connector.submit([message(n) for n in range(count)])
    assert all(isinstance(o, Accepted) for o in outcomes)
    last = max(s.received_at for s in smsc.submits)
    # The bucket lets 2.5 go at once, then one every 1/tps s: the last cannot have been sent
    # (so received) earlier than this, however the machine is loaded.
    assert (last - start).total_seconds() >= (count - 3) / tps
    assert {s.connection for s in smsc.submits} == {1, 2}


async def test_submitted_per_second_is_reported_per_bind(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    connector = await connect()
    await connector.submit([message(n) for n in range(20)])
    [bind] = connector.state().binds
    assert bind.in_flight == 0
    assert bind.submitted_per_s >= 0
    assert len(smsc.answered) == 20
    assert all(s.status == ESME_ROK for s in smsc.answered)


async def test_concurrent_calls_each_get_their_own_outcomes(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    smsc.by_destination[NUMBERS[7]] = Behaviour(status=ESME_RINVDSTADR)
    connector = await connect(window=3, binds=2)
    calls = [
        connector.submit([message(f"{c}-{n}", to=NUMBERS[n]) for n in range(10)]) for c in range(4)
    ]
    results = await asyncio.gather(*calls)
    for c, outcomes in enumerate(results):
        assert sorted(o.message_id for o in outcomes) == sorted(f"{c}-{n}" for n in range(10))
        assert [o.message_id for o in outcomes if isinstance(o, Rejected)] == [f"{c}-7"]
    assert len(smsc.submits) == 40


async def test_a_cancelled_call_withdraws_what_it_had_not_sent(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    smsc.behaviour = Behaviour(hold=True)
    connector = await connect(window=3)
    submitting = asyncio.create_task(connector.submit([message(n) for n in range(10)]))
    await smsc.wait_held(3)
    submitting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await submitting
    assert connector.state().waiting == 0
    smsc.behaviour = Behaviour()
    smsc.release()
    await smsc.wait_answered(3)
    [outcome] = await connector.submit([message(99)])
    assert isinstance(outcome, Accepted)
    assert len(smsc.submits) == 4


async def test_cancel_is_not_offered(connect: Connect) -> None:
    connector = await connect()
    assert await connector.cancel("1") is False
