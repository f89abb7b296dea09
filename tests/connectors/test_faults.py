"""Faults mid-window: nothing lost (every message in flight gets Retry), nothing sent twice after
a clean submit_sm_resp, timeouts, and a polite close."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest

from smsgate.domain.models import Accepted, Retry
from smsgate.logs import FIELDS_ATTR
from tests.builders import message
from tests.peers.smsc import Behaviour, ForeignSmsc

from .conftest import Connect

NUMBERS = [f"65920000{n:02d}" for n in range(100)]


async def test_a_drop_mid_window_retries_every_message_in_flight_and_loses_none(
    smsc: ForeignSmsc, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "smsgate.connectors")
    smsc.behaviour = Behaviour(hold=True)
    connector = await connect(window=5)
    submitting = asyncio.create_task(
        connector.submit([message(n, to=NUMBERS[n]) for n in range(12)])
    )
    await smsc.wait_held(5)
    assert smsc.disconnect() == 1
    outcomes = await submitting
    assert sorted(o.message_id for o in outcomes) == sorted(str(n) for n in range(12))
    assert all(isinstance(o, Retry) for o in outcomes)
    [fault] = [r for r in caplog.records if r.getMessage() == "connector.fault"]
    assert getattr(fault, FIELDS_ATTR)["in_flight"] == 5

    smsc.behaviour = Behaviour()
    await connector.wait_up()
    again = await connector.submit([message(n, to=NUMBERS[n]) for n in range(12)])
    assert all(isinstance(o, Accepted) for o in again)


async def test_with_another_bind_up_the_messages_waiting_go_there(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    smsc.behaviour = Behaviour(hold=True)
    connector = await connect(window=3, binds=2)
    submitting = asyncio.create_task(connector.submit([message(n) for n in range(10)]))
    await smsc.wait_held(6)
    assert smsc.disconnect(connection=smsc.submits[0].connection) == 1
    smsc.behaviour = Behaviour()
    await smsc.wait_for(lambda: smsc.held == 3, "the other bind's three held")
    smsc.release()
    outcomes = await submitting
    retried = [o for o in outcomes if isinstance(o, Retry)]
    assert len(retried) == 3  # the three in flight on the dropped bind
    assert len([o for o in outcomes if isinstance(o, Accepted)]) == 7


async def test_nothing_is_sent_again_after_a_clean_response(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    connector = await connect(window=10)
    smsc.drop_after(3, answered=True)
    outcomes = await connector.submit([message(n, to=NUMBERS[n]) for n in range(8)])
    accepted = {o.message_id for o in outcomes if isinstance(o, Accepted)}
    retried = [o for o in outcomes if isinstance(o, Retry)]
    assert len(accepted) == 3
    assert len(accepted) + len(retried) == 8
    await connector.wait_up()
    again = await connector.submit([message(int(o.message_id), to=NUMBERS[int(o.message_id)])
                                    for o in retried])  # fmt: skip
    assert all(isinstance(o, Accepted) for o in again)
    answered_ok = Counter(s.destination_addr for s in smsc.answered if s.message_id)
    assert set(answered_ok) == {NUMBERS[n] for n in range(8)}
    assert set(answered_ok.values()) == {1}  # each accepted exactly once


async def test_a_submit_unanswered_within_the_response_timeout_is_retried(
    smsc: ForeignSmsc, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "smsgate.connectors")
    smsc.behaviour = Behaviour(hold=True)
    connector = await connect(response_timeout_s=0.2, enquire_link_s=60)
    outcomes = await connector.submit([message(1), message(2)])
    assert [type(o) for o in outcomes] == [Retry, Retry]
    [line] = [r for r in caplog.records if r.getMessage() == "connector.timeout"]
    assert getattr(line, FIELDS_ATTR)["submits"] == 2
    assert connector.is_up  # a slow answer is not a dead link
    smsc.behaviour = Behaviour()
    [late] = await connector.submit([message(3)])
    assert isinstance(late, Accepted)


async def test_close_waits_for_the_answers_in_flight(smsc: ForeignSmsc, connect: Connect) -> None:
    smsc.behaviour = Behaviour(hold=True)
    connector = await connect(window=3)
    submitting = asyncio.create_task(connector.submit([message(n) for n in range(5)]))
    await smsc.wait_held(3)
    closing = asyncio.create_task(connector.close(drain_s=5))
    smsc.release()
    await closing
    outcomes = await submitting
    kinds = Counter(type(o).__name__ for o in outcomes)
    assert kinds == {"Accepted": 3, "Retry": 2}  # the two waiting for the window: not sent
    assert len(smsc.submits) == 3
    await smsc.wait_closed(1)


async def test_close_gives_up_on_answers_after_its_bound(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    smsc.behaviour = Behaviour(hold=True)
    connector = await connect(window=3)
    submitting = asyncio.create_task(connector.submit([message(n) for n in range(3)]))
    await smsc.wait_held(3)
    await connector.close(drain_s=0.1)
    outcomes = await submitting
    assert [type(o) for o in outcomes] == [Retry, Retry, Retry]
