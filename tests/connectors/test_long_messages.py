"""Long messages by each method, as the foreign SMSC records them; parts accepted are never sent
again, whether the rest is throttled, the link drops, or the message comes back later."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from smsgate import errors
from smsgate.adapters.carriers.smpp import SmppConnector
from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.sqlite import SqliteStore
from smsgate.domain.carrier_receipts import carrier_key
from smsgate.domain.models import Accepted, Message, MessageStatus, Retry, SubmitOutcome
from tests.builders import message
from tests.peers.receipts import Receipt
from tests.peers.smsc import ESME_RINVPASWD, ESME_RTHROTTLED, Behaviour, ForeignSmsc, Submit
from tests.unit.upstream_rig import Rig

from .conftest import PASSWORD, Connect, make_spec

FAILED = MessageStatus.FAILED

TEXT = "".join(f"part-text {n:03d}. " for n in range(30))  # 450 GSM characters: 3 parts
TO = "6593000001"


def long_message(message_id: int = 1) -> Message:
    return message(message_id, to=TO, body=TEXT, segments=3)


def udh_numbers(submits: list[Submit]) -> list[int]:
    return [s.udh[5] for s in submits]


async def test_udh_parts_reach_the_smsc_in_order(smsc: ForeignSmsc, connect: Connect) -> None:
    connector = await connect(long_method="udh")
    [outcome] = await connector.submit([long_message(1)])
    assert [(s.esm_class, s.udh[:5]) for s in smsc.submits] == [
        (0x40, bytes((5, 0, 3, smsc.submits[0].udh[3], 3)))
    ] * 3
    assert udh_numbers(smsc.submits) == [1, 2, 3]
    assert "".join(s.text for s in smsc.submits) == TEXT
    assert isinstance(outcome, Accepted)
    assert outcome.carrier_ids == tuple(carrier_key(s.message_id) for s in smsc.submits)


async def test_sar_parts_reach_the_smsc_with_their_tlvs(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    connector = await connect(long_method="sar")
    [outcome] = await connector.submit([long_message(1)])
    refs = {s.sar_msg_ref_num for s in smsc.submits}
    assert len(refs) == 1
    assert [(s.sar_total_segments, s.sar_segment_seqnum) for s in smsc.submits] == [
        (3, 1),
        (3, 2),
        (3, 3),
    ]
    assert [s.esm_class for s in smsc.submits] == [0, 0, 0]
    assert "".join(s.text for s in smsc.submits) == TEXT
    assert isinstance(outcome, Accepted)
    assert len(outcome.carrier_ids) == 3


async def test_payload_sends_one_submit_with_the_whole_text(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    connector = await connect(long_method="payload")
    [outcome] = await connector.submit([long_message(1)])
    [submit] = smsc.submits
    assert submit.short_message == b""
    assert submit.message_payload is not None
    assert submit.text == TEXT
    assert isinstance(outcome, Accepted)
    assert outcome.carrier_ids == (carrier_key(submit.message_id),)


async def test_a_throttled_later_part_is_sent_again_alone(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    connector = await connect(options={"throttle_initial_s": 0.3, "random": lambda: 0.999})
    smsc.behaviour = Behaviour(hold=True)
    submitting = asyncio.create_task(connector.submit([long_message(1)]))
    await smsc.wait_held(1)
    smsc.behaviour = Behaviour(status=ESME_RTHROTTLED)
    smsc.release()
    await smsc.wait_submits(2)
    smsc.behaviour = Behaviour()
    [outcome] = await submitting
    assert isinstance(outcome, Accepted)
    assert udh_numbers(smsc.submits) == [1, 2, 2, 3]
    accepted = [s for s in smsc.submits if s.message_id]
    assert udh_numbers(accepted) == [1, 2, 3]
    assert outcome.carrier_ids == tuple(carrier_key(s.message_id) for s in accepted)


async def test_a_drop_after_the_first_part_finishes_the_message_on_the_next_bind(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    connector = await connect()
    smsc.behaviour = Behaviour(hold=True)
    submitting = asyncio.create_task(connector.submit([long_message(1)]))
    await smsc.wait_held(1)
    smsc.release()  # part 1 accepted
    await smsc.wait_held(1)  # part 2 waits for its answer
    smsc.behaviour = Behaviour()
    smsc.disconnect()
    [outcome] = await submitting
    assert isinstance(outcome, Accepted)
    assert udh_numbers(smsc.submits) == [1, 2, 2, 3]  # part 2's fate was unknown: sent again
    assert [s.connection for s in smsc.submits] == [1, 1, 2, 2]
    assert len(outcome.carrier_ids) == 3


async def test_a_message_that_cannot_be_finished_resumes_where_it_stopped(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    connector = await connect(response_timeout_s=0.3)
    smsc.behaviour = Behaviour(hold=True)
    submitting = asyncio.create_task(connector.submit([long_message(1)]))
    await smsc.wait_held(1)
    smsc.release()  # part 1 accepted
    await smsc.wait_held(1)
    smsc.bind_status = ESME_RINVPASWD  # the link will not come back for a while
    smsc.disconnect()
    [outcome] = await submitting  # after response_timeout_s with no bind
    assert isinstance(outcome, Retry)

    smsc.behaviour = Behaviour()
    smsc.bind_status = None
    await connector.wait_up()
    [done] = await connector.submit([long_message(1)])
    assert isinstance(done, Accepted)
    assert udh_numbers(smsc.submits) == [1, 2, 2, 3]
    assert len({s.udh[3] for s in smsc.submits}) == 1  # one reference: the handset joins them
    first = smsc.submits[0]
    assert done.carrier_ids[0] == carrier_key(first.message_id)


async def test_another_message_is_not_taken_for_a_resumed_one(
    smsc: ForeignSmsc, connect: Connect
) -> None:
    connector = await connect()
    outcomes = await connector.submit([long_message(1), long_message(2)])
    assert all(isinstance(o, Accepted) for o in outcomes)
    assert len(smsc.submits) == 6
    assert len({s.udh[3] for s in smsc.submits}) == 2


async def send_with_middle_part_failed(
    smsc: ForeignSmsc, rig: Rig, submit: Callable[[list[Message]], Awaitable[list[SubmitOutcome]]]
) -> Message:
    """A three-part message through ``submit``, its hand-over recorded as the delivery worker
    records it; then the SMSC's receipts for its parts, last first, the middle one
    undeliverable, each answered by the time this returns. The message as stored then."""
    sent = long_message(1)
    await rig.store.insert_messages([sent])
    [outcome] = await submit([sent])
    assert isinstance(outcome, Accepted)
    assert len(outcome.carrier_ids) == 3
    await rig.store.mark_submitted([outcome])
    rig.service.receipts.recent.remember([outcome])
    first, middle, last = smsc.submits

    smsc.send_receipt(last)
    smsc.send_receipt(middle, Receipt(stat="UNDELIV", err="002"))
    smsc.send_receipt(first)
    await smsc.wait_acks(3)
    return await rig.message(1)


async def test_one_failing_part_fails_the_message_the_others_delivered(
    smsc: ForeignSmsc, tmp_path: Path
) -> None:
    """The receipts of a three-part message come back from the foreign SMSC into the real
    upstream service and store: two parts delivered, the middle one undeliverable. The
    message fails with that part's code, once, whatever the order of the parts' receipts."""
    smsc.behaviour = Behaviour(receipt=None)  # receipts are sent by hand below
    async with Rig(SqliteStore(tmp_path / "smsgate.db", SecretBox(b"k" * 32))) as rig:
        connector = SmppConnector(make_spec(smsc.port, long_method="udh"), PASSWORD)
        await connector.start(rig.service)
        try:
            await connector.wait_up(timeout=5)
            stored = await send_with_middle_part_failed(smsc, rig, connector.submit)
            assert (stored.status, stored.error_code) == (FAILED, errors.INVALID_NUM.code)
            assert stored.carrier_status == "stat:UNDELIV err:002"
            assert [m.id for m in rig.heard] == ["1"]
        finally:
            await connector.close(drain_s=0.5)
