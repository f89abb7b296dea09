"""Receipts from upstream SMSCs through the UpstreamSink: matched by the carrier's id in either
base, part by part, before or after the submit's response is recorded, mapped by the connector's
table with the raw values kept, and answered only once durable.

The service runs over the memory store with the receipt processor driven by its own task (the
rig); PDUs are built with smsgate's codec. Nothing waits on a clock: each delivery is awaited.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

import pytest

from smsgate import errors
from smsgate.adapters.queue.memory import MemoryDeliveryQueue
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.domain.models import Accepted, Message, MessageStatus, Receipt, SubmitOutcome
from smsgate.ports.carrier import ReceiptSink
from smsgate.ports.store import StoreError
from smsgate.service.delivery import DeliveryWorker
from smsgate.service.expiry import ExpirySweeper
from smsgate.smpp.constants import CommandStatus, MessageState
from tests import builders
from tests.unit.upstream_rig import CONNECTOR, T0, Rig, mo_pdus, receipt_pdu

OK = CommandStatus.ESME_ROK
WAIT_S = 5.0  # a safety net only: a step that never comes fails the test instead of hanging
DELIVERED, FAILED, SUBMITTED = (
    MessageStatus.DELIVERED,
    MessageStatus.FAILED,
    MessageStatus.SUBMITTED,
)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with Rig() as started:
        yield started


# -- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answered", "reported"),
    [
        ("1A2B", "6699"),  # the response in hex, the receipt in decimal
        ("6699", "1a2b"),  # and the other way round
        ("00001A2B", "1a2b"),  # leading zeros and case
        ("msg-42", "MSG-42"),  # not a number in either base
    ],
)
async def test_a_receipt_finds_its_message_whatever_the_base_of_its_id(
    rig: Rig, answered: str, reported: str
) -> None:
    await rig.submitted(1, answered)

    assert await rig.deliver(receipt_pdu(reported)) == OK

    message = await rig.message(1)
    assert (message.status, message.error_code, message.carrier_status) == (
        DELIVERED,
        "success",
        "stat:DELIVRD err:000",
    )
    assert [m.id for m in rig.heard] == ["1"]  # callbacks and SMPP receipts follow


async def test_the_receipted_message_id_tlv_names_the_message_before_the_text(rig: Rig) -> None:
    await rig.submitted(1, "777")
    await rig.submitted(2, "888")

    await rig.deliver(receipt_pdu("888", receipted_id="777"))

    assert (await rig.message(1)).status is DELIVERED
    assert (await rig.message(2)).status is SUBMITTED


async def test_a_connector_that_reports_ids_as_given_is_not_read_in_another_base(
    rig: Rig,
) -> None:
    await rig.connector(receipt_ids="same")
    await rig.submitted(1, "1A2B")

    assert await rig.deliver(receipt_pdu("6699")) == OK

    assert (await rig.message(1)).status is SUBMITTED  # kept for an id 6699 instead


async def test_a_data_sm_receipt_is_a_receipt(rig: Rig) -> None:
    await rig.submitted(1, "5")

    assert await rig.deliver(receipt_pdu("5", data_sm=True)) == OK

    assert (await rig.message(1)).status is DELIVERED


async def test_the_message_state_tlv_stands_in_for_a_missing_stat(rig: Rig) -> None:
    await rig.submitted(1, "5")

    await rig.deliver(
        receipt_pdu(None, None, receipted_id="5", message_state=MessageState.UNDELIVERABLE)
    )

    message = await rig.message(1)
    assert (message.status, message.error_code) == (FAILED, errors.UNKNOWN_ERR.code)


# -- codes --------------------------------------------------------------------------------------


async def test_smsgates_own_err_numbers_map_to_their_receipt_codes(rig: Rig) -> None:
    for mid, code in enumerate(errors.RECEIPT_CODES, start=1):
        await rig.submitted(mid, f"c{mid}")
        await rig.deliver(receipt_pdu(f"c{mid}", "UNDELIV", f"{mid:03d}"))
        assert (await rig.message(mid)).error_code == code.code


async def test_an_unmapped_failure_is_unknown_err_with_the_raw_values_kept(rig: Rig) -> None:
    await rig.submitted(1, "5")

    await rig.deliver(receipt_pdu("5", "UNDELIV", "999"))

    message = await rig.message(1)
    assert (message.status, message.error_code, message.carrier_status) == (
        FAILED,
        errors.UNKNOWN_ERR.code,
        "stat:UNDELIV err:999",
    )


async def test_a_connectors_table_maps_its_carriers_values(rig: Rig) -> None:
    await rig.connector(receipt_codes={"UNDELIV:999": "RECEIVER_BLACKLIST"})
    await rig.submitted(1, "5")
    await rig.submitted(2, "6")

    await rig.deliver(receipt_pdu("5", "UNDELIV", "999"))
    await rig.connector(receipt_codes={"UNDELIV:999": "PORTED_NUM"})  # changed while running
    await rig.deliver(receipt_pdu("6", "UNDELIV", "999"))

    assert (await rig.message(1)).error_code == errors.RECEIVER_BLACKLIST.code
    assert (await rig.message(2)).error_code == errors.PORTED_NUM.code


async def test_the_gsm_network_error_code_maps_when_err_does_not(rig: Rig) -> None:
    await rig.submitted(1, "5")

    await rig.deliver(receipt_pdu("5", "UNDELIV", "999", network_error=bytes((3, 0, 27))))

    message = await rig.message(1)
    assert message.error_code == errors.PHONE_NOT_AVAILABLE.code
    assert message.carrier_status == "stat:UNDELIV err:999 network_error_code:03001b"


async def test_a_failure_refunds_as_the_platform_says(rig: Rig) -> None:
    await rig.document("platform", {"refund_on": ["INVALID_NUM"]})
    await rig.submitted(1, "5", price_micros=50_000)
    before = await rig.store.get_account("acc-1")

    await rig.deliver(receipt_pdu("5", "UNDELIV", "002"))

    after = await rig.store.get_account("acc-1")
    assert before is not None
    assert after is not None
    assert after.balance_micros == before.balance_micros + 50_000


# -- what is not a final receipt ----------------------------------------------------------------


@pytest.mark.parametrize(
    "pdu",
    [
        receipt_pdu("5", "ENROUTE"),
        receipt_pdu("5", "ACCEPTD"),
        receipt_pdu("5", "UNDELIV", esm_class=0x20),  # an intermediate notification
        receipt_pdu(None, "DELIVRD"),  # names no message
    ],
    ids=["enroute", "acceptd", "intermediate", "no-id"],
)
async def test_receipts_that_are_not_final_are_taken_and_ignored(rig: Rig, pdu: object) -> None:
    await rig.submitted(1, "5")

    assert await rig.deliver(pdu) == OK  # type: ignore[arg-type]

    assert (await rig.message(1)).status is SUBMITTED
    assert await rig.store.prune_pending_receipts(T0 + 10**9) == 0  # nor kept for later
    assert rig.heard == []


async def test_a_receipt_for_a_final_message_changes_nothing(rig: Rig) -> None:
    await rig.submitted(1, "5")
    await rig.deliver(receipt_pdu("5"))

    assert await rig.deliver(receipt_pdu("5", "UNDELIV", "002")) == OK

    assert (await rig.message(1)).status is DELIVERED
    assert [m.id for m in rig.heard] == ["1"]


# -- long messages ------------------------------------------------------------------------------


async def test_a_long_message_is_delivered_when_all_its_parts_are(rig: Rig) -> None:
    await rig.submitted(1, "p1", "p2", "p3")

    await rig.deliver(receipt_pdu("p3"))
    await rig.deliver(receipt_pdu("p1"))
    assert (await rig.message(1)).status is SUBMITTED
    assert rig.heard == []

    await rig.deliver(receipt_pdu("p2"))

    assert (await rig.message(1)).status is DELIVERED
    assert [m.id for m in rig.heard] == ["1"]


async def test_a_long_message_fails_with_the_first_failure(rig: Rig) -> None:
    await rig.submitted(1, "p1", "p2", "p3")

    await rig.deliver(receipt_pdu("p1"))
    await rig.deliver(receipt_pdu("p2", "UNDELIV", "002"))
    await rig.deliver(receipt_pdu("p3", "UNDELIV", "004"))

    message = await rig.message(1)
    assert (message.status, message.error_code, message.carrier_status) == (
        FAILED,
        errors.INVALID_NUM.code,
        "stat:UNDELIV err:002",
    )


async def test_receipts_of_every_part_at_once_deliver_the_message_once(rig: Rig) -> None:
    await rig.submitted(1, *(f"p{k}" for k in range(1, 6)))

    answers = await rig.deliver_all([receipt_pdu(f"p{k}") for k in range(1, 6)])

    assert answers == [OK] * 5
    assert (await rig.message(1)).status is DELIVERED
    assert [m.id for m in rig.heard] == ["1"]


# -- before the submit's response ---------------------------------------------------------------


class _Carrier:
    """Takes every message, with the carrier ids a test gives it."""

    records_submission = True
    resubmit_on_recovery = False

    def __init__(self, ids: dict[str, tuple[str, ...]]) -> None:
        self.ids = ids

    async def start(self, sink: ReceiptSink) -> None:
        pass

    async def submit(self, messages: Sequence[Message]) -> list[SubmitOutcome]:
        return [Accepted(m.id, CONNECTOR, self.ids[m.id], T0 + 1) for m in messages]

    async def cancel(self, message_id: str) -> bool:
        return False

    async def close(self) -> None:
        pass


async def test_a_receipt_before_the_submits_response_is_kept_then_applied(rig: Rig) -> None:
    """The SMSC sends the receipt before its submit_sm_resp: answered ESME_ROK once kept, and
    applied when the delivery worker records the hand-over, with the listeners told then."""
    queue = MemoryDeliveryQueue(10)
    carrier = _Carrier({"1": ("1A2B", "1A2C")})
    worker = DeliveryWorker(queue, carrier, rig.store, rig.processor, rig.clock)
    message = builders.message(1, segments=2)
    await rig.store.insert_messages([message])

    assert await rig.deliver(receipt_pdu("6699")) == OK  # part 1, in decimal
    assert await rig.deliver(receipt_pdu("1a2c")) == OK  # part 2, in hex
    assert (await rig.message(1)).status is MessageStatus.ACCEPTED
    assert rig.heard == []

    await queue.put_when_room([message])
    await worker.run_once()

    done = await rig.message(1)
    assert (done.status, done.carrier_ids) == (DELIVERED, ("1A2B", "1A2C"))
    assert [m.id for m in rig.heard] == ["1"]


async def test_a_kept_receipt_of_a_part_waits_for_the_others(rig: Rig) -> None:
    await rig.store.insert_messages([builders.message(1, segments=2)])
    await rig.deliver(receipt_pdu("p2"))

    await rig.store.mark_submitted([Accepted("1", CONNECTOR, ("p1", "p2"), T0 + 1)])
    assert (await rig.message(1)).status is SUBMITTED
    await rig.deliver(receipt_pdu("p1"))

    assert (await rig.message(1)).status is DELIVERED


async def test_a_kept_failure_refunds_as_the_platform_says(rig: Rig) -> None:
    await rig.document("platform", {"refund_on": "all"})
    await rig.store.insert_messages([builders.message(1, price_micros=70)])
    await rig.deliver(receipt_pdu("9", "UNDELIV", "002"))
    before = await rig.store.get_account("acc-1")

    await rig.store.mark_submitted([Accepted("1", CONNECTOR, ("9",), T0 + 1)])

    after = await rig.store.get_account("acc-1")
    assert before is not None
    assert after is not None
    assert after.balance_micros == before.balance_micros + 70


# -- batching and failures ----------------------------------------------------------------------


class _CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.lookups: list[int] = []
        self.down = False

    async def find_by_carrier_ids(
        self, connector: str, carrier_message_ids: Sequence[str]
    ) -> dict[str, Message]:
        if self.down:
            raise StoreError("disk on fire")
        self.lookups.append(len(carrier_message_ids))
        return await super().find_by_carrier_ids(connector, carrier_message_ids)


async def test_receipts_arriving_together_share_one_look_up() -> None:
    store = _CountingStore()
    async with Rig(store) as rig:
        for mid in range(1, 21):
            await rig.submitted(mid, f"c{mid}")

        await rig.deliver_all([receipt_pdu(f"c{mid}") for mid in range(1, 21)])

        assert len(store.lookups) == 1
        assert all(m.status is DELIVERED for m in await rig.store.list_messages("acc-1", 50))


async def test_a_store_failure_is_answered_so_that_the_smsc_delivers_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = _CountingStore()
    async with Rig(store) as rig:
        await rig.submitted(1, "5")
        store.down = True
        with caplog.at_level(logging.ERROR):
            assert await rig.deliver(receipt_pdu("5")) == CommandStatus.ESME_RX_T_APPN
            assert await rig.deliver(receipt_pdu("5")) == CommandStatus.ESME_RX_T_APPN
        assert [r.getMessage() for r in caplog.records].count("store.failed") == 1  # once a run

        store.down = False
        assert await rig.deliver(receipt_pdu("5")) == OK
        assert (await rig.message(1)).status is DELIVERED


async def test_the_receipt_is_durable_before_it_is_answered() -> None:
    """While the processor has not applied it, the delivery is not answered."""
    async with Rig() as rig:
        await rig.submitted(1, "5")
        rig.processor.set_wakeup(lambda: None)  # nobody drives the processor now
        answer = asyncio.create_task(rig.deliver(receipt_pdu("5")))
        async with asyncio.timeout(WAIT_S):
            while not rig.processor.pending:  # loop passes until the receipt is handed over
                await asyncio.sleep(0)
        assert not answer.done()

        await rig.processor.run_once()

        assert await answer == OK
        assert (await rig.message(1)).status is DELIVERED


# -- recent hand-overs ---------------------------------------------------------------------------


class _WritingStore(_CountingStore):
    """Counts receipt writes too."""

    def __init__(self) -> None:
        super().__init__()
        self.receipt_writes: list[int] = []

    async def apply_receipts(self, receipts: Sequence[Receipt]) -> list[Message]:
        if self.down:
            raise StoreError("disk on fire")
        self.receipt_writes.append(len(receipts))
        return await super().apply_receipts(receipts)


async def _hand_over(rig: Rig, ids: dict[str, tuple[str, ...]]) -> None:
    """What the app does: the delivery worker hands messages to a carrier and, once the
    hand-overs are recorded, tells the receipts' memory."""
    queue = MemoryDeliveryQueue(len(ids))
    worker = DeliveryWorker(
        queue,
        _Carrier(ids),
        rig.store,
        rig.processor,
        rig.clock,
        on_recorded=rig.service.receipts.recent.remember,
    )
    messages = [builders.message(int(mid), segments=len(cids)) for mid, cids in ids.items()]
    await rig.store.insert_messages(messages)
    await queue.put_when_room(messages)
    await worker.run_once()


async def test_receipts_for_recorded_hand_overs_need_no_look_up_and_one_write() -> None:
    store = _WritingStore()
    async with Rig(store) as rig:
        await _hand_over(rig, {str(mid): (f"{mid:X}",) for mid in range(1, 31)})

        statuses = await rig.deliver_all([receipt_pdu(f"{mid:x}") for mid in range(1, 31)])

        assert statuses == [OK] * 30
        assert (store.lookups, store.receipt_writes) == ([], [30])
        assert {m.status for m in await rig.store.list_messages("acc-1", 50)} == {DELIVERED}
        assert len(rig.heard) == 30


async def test_a_remembered_long_message_waits_for_all_its_parts() -> None:
    async with Rig(_WritingStore()) as rig:
        await _hand_over(rig, {"1": ("p1", "p2", "p3")})

        await rig.deliver_all([receipt_pdu("p1"), receipt_pdu("p3")])
        assert (await rig.message(1)).status is SUBMITTED
        await rig.deliver(receipt_pdu("p2", "UNDELIV", "002"))

        failed = await rig.message(1)
        assert (failed.status, failed.error_code) == (FAILED, errors.INVALID_NUM.code)


async def test_a_receipt_sent_again_is_ignored_by_the_store() -> None:
    store = _WritingStore()
    async with Rig(store) as rig:
        await _hand_over(rig, {"1": ("77",)})
        assert await rig.deliver(receipt_pdu("77")) == OK

        assert await rig.deliver(receipt_pdu("77", "UNDELIV", "002")) == OK

        assert len(store.lookups) == 1  # the memory gave the first; the store knew the second
        assert (await rig.message(1)).status is DELIVERED
        assert [m.id for m in rig.heard] == ["1"]


async def test_a_failed_write_answers_the_whole_read_and_the_resent_receipts_still_apply() -> None:
    store = _WritingStore()
    async with Rig(store) as rig:
        await _hand_over(rig, {"1": ("a1",), "2": ("a2",)})
        store.down = True

        assert (
            await rig.deliver_all([receipt_pdu("a1"), receipt_pdu("a2")])
            == [CommandStatus.ESME_RX_T_APPN] * 2
        )

        store.down = False  # the SMSC delivers them again; the memory gave them up: the store
        assert await rig.deliver_all([receipt_pdu("a1"), receipt_pdu("a2")]) == [OK, OK]
        assert {(await rig.message(m)).status for m in (1, 2)} == {DELIVERED}


async def test_receipts_and_mo_messages_of_one_read_get_their_own_answers(rig: Rig) -> None:
    await rig.document("inbound", {"659123": "acc-1"})
    await _hand_over(rig, {"1": ("r1",)})

    statuses = await rig.deliver_all(
        [receipt_pdu("r1"), *mo_pdus("hi", "6591230077"), receipt_pdu("unknown")]
    )

    assert statuses == [OK, OK, OK]
    assert (await rig.message(1)).status is DELIVERED
    assert [m.text for m in rig.inbound] == ["hi"]


# -- expiry -------------------------------------------------------------------------------------


async def test_submitted_messages_past_their_validity_expire(rig: Rig) -> None:
    await rig.submitted(1, "a", validity_period=600, created_at=T0)
    await rig.submitted(2, "b", created_at=T0)  # the platform default applies
    await rig.submitted(3, "c", validity_period=600, created_at=T0)
    await rig.deliver(receipt_pdu("c"))
    sweeper = ExpirySweeper(rig.store, rig.processor, rig.clock, default_validity_s=3600)

    rig.clock.t = T0 + 600
    assert await sweeper.run_once() == 1
    rig.clock.t = T0 + 3600
    assert await sweeper.run_once() == 1
    assert await sweeper.run_once() == 0

    for mid in (1, 2):
        message = await rig.message(mid)
        assert (message.status, message.error_code) == (MessageStatus.EXPIRED, "EXPIRED")
    assert (await rig.message(3)).status is DELIVERED
    assert [m.id for m in rig.heard] == ["3", "1", "2"]


async def test_the_sweep_forgets_receipts_no_submit_ever_claimed(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await rig.deliver(receipt_pdu("lost"))
    sweeper = ExpirySweeper(rig.store, rig.processor, rig.clock, keep_s=86_400)
    rig.clock.t = T0 + 86_401

    with caplog.at_level(logging.WARNING):
        await sweeper.run_once()

    assert "upstream.receipts_unmatched" in [r.getMessage() for r in caplog.records]
    await rig.store.insert_messages([builders.message(1)])
    assert await rig.store.mark_submitted([Accepted("1", CONNECTOR, ("lost",), T0)]) == []


async def test_an_unexpected_fault_is_answered_so_that_the_smsc_delivers_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(MemoryStore):
        async def find_by_carrier_ids(
            self, connector: str, carrier_message_ids: Sequence[str]
        ) -> dict[str, Message]:
            raise RuntimeError("a bug")

    async with Rig(Broken()) as rig:
        with caplog.at_level(logging.ERROR):
            assert await rig.deliver(receipt_pdu("5")) == CommandStatus.ESME_RX_T_APPN
        assert any(r.exc_info for r in caplog.records)
