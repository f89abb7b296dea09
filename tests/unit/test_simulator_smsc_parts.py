"""The standalone SMSC's pure parts: verdicts (rules and cap as SMPP statuses), the receipts and
MO messages it writes, and the outbox that takes them to receiver binds."""

from __future__ import annotations

import asyncio

import pytest

from smsgate import errors
from smsgate.adapters.carriers.simulator_rules import NumberRules
from smsgate.adapters.carriers.simulator_smsc.deliveries import (
    Delivery,
    DueReceipt,
    Prepared,
    Taken,
    mo_parts,
    receipt_for,
)
from smsgate.adapters.carriers.simulator_smsc.outbox import Outbox
from smsgate.adapters.carriers.simulator_smsc.settings import SmscSettings
from smsgate.adapters.carriers.simulator_smsc.verdicts import REJECT_STATUS, SubmitDesk
from smsgate.config import SimulatorConfig, SimulatorRule
from smsgate.smpp.codec import decode, encode
from smsgate.smpp.constants import CommandStatus, TlvTag
from smsgate.smpp.pdu import DeliverSm

S = CommandStatus
T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC

# --- verdicts -------------------------------------------------------------------------------------


def desk(*rules: SimulatorRule, max_tps: float = 0) -> SubmitDesk:
    return SubmitDesk(NumberRules(SimulatorConfig(delay_ms=9, rules=rules)), max_tps=max_tps)


def test_a_message_no_rule_refuses_is_taken_with_its_fate() -> None:
    status, fate = desk().judge("acme", "m", "6591234567", 0.0)

    assert (status, fate.receipt, fate.delay_ms) == (S.ESME_ROK, "success", 9)


def test_every_receipt_code_has_a_status_to_be_refused_with() -> None:
    assert set(REJECT_STATUS) == {code.code for code in errors.RECEIPT_CODES}
    assert REJECT_STATUS["INVALID_NUM"] is S.ESME_RINVDSTADR
    for code in REJECT_STATUS:
        status, _ = desk(SimulatorRule("prefix", "65", code, reject=True)).judge(
            "acme", "m", "6591234567", 0.0
        )
        assert status == REJECT_STATUS[code]


def test_a_rule_s_status_replaces_the_default() -> None:
    rules = (
        SimulatorRule("suffix", "1", "INVALID_NUM", reject=True, status="ESME_RX_P_APPN"),
        SimulatorRule("suffix", "2", "success", retries=1, status="ESME_RMSGQFUL"),
        SimulatorRule("suffix", "3", "success", retries=1),
    )
    judged = desk(*rules)

    assert [judged.judge("acme", to, to, 0.0)[0] for to in ("61", "62", "63")] == [
        S.ESME_RX_P_APPN,
        S.ESME_RMSGQFUL,
        S.ESME_RTHROTTLED,
    ]


def test_retries_count_per_system_id_and_message() -> None:
    judged = desk(SimulatorRule("suffix", "3", "success", retries=1))

    assert judged.judge("acme", "m", "63", 0.0)[0] == S.ESME_RTHROTTLED
    assert judged.judge("other", "m", "63", 0.0)[0] == S.ESME_RTHROTTLED
    assert judged.judge("acme", "m", "63", 0.0)[0] == S.ESME_ROK


def test_the_throughput_cap_is_per_system_id_and_refills_with_time() -> None:
    judged = desk(max_tps=2)

    burst = [judged.judge("acme", "m", "65", 10.0)[0] for _ in range(3)]
    elsewhere = judged.judge("other", "m", "65", 10.0)[0]
    later = judged.judge("acme", "m", "65", 10.5)[0]

    assert burst == [S.ESME_ROK, S.ESME_ROK, S.ESME_RTHROTTLED]
    assert (elsewhere, later) == (S.ESME_ROK, S.ESME_ROK)


def test_a_throttled_submit_does_not_use_up_a_retry() -> None:
    judged = desk(SimulatorRule("suffix", "3", "success", retries=1), max_tps=1)
    judged.judge("acme", "x", "65", 0.0)  # the one token

    assert judged.judge("acme", "m", "63", 0.0)[0] == S.ESME_RTHROTTLED  # the cap
    assert judged.judge("acme", "m", "63", 1.0)[0] == S.ESME_RTHROTTLED  # the rule's retry
    assert judged.judge("acme", "m", "63", 2.0)[0] == S.ESME_ROK


# --- deliveries -----------------------------------------------------------------------------------


def taken(
    code: str = "INVALID_NUM", body: bytes = b"Your code is 1234", **changes: object
) -> Taken:
    fields: dict[str, object] = {
        "system_id": "acme",
        "receipt_id": "1a2b",
        "code": code,
        "submitted_at": T0,
        "source_ton": 5,
        "source_npi": 0,
        "source": "Acme",
        "dest_ton": 1,
        "dest_npi": 1,
        "destination": "6591239902",
        "esm_class": 0,
        "data_coding": 0,
        "body": body,
    }
    return Taken(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_receipt_is_appendix_b_text_and_tlvs_from_the_handset_to_the_sender() -> None:
    pdu = receipt_for(taken(), T0 + 90)

    assert pdu.short_message == (
        b"id:1a2b sub:001 dlvrd:000 submit date:2701150800 done date:2701150801 "
        b"stat:UNDELIV err:002 text:Your code is 1234"
    )
    assert (pdu.esm_class, pdu.source_addr, pdu.source_addr_ton) == (4, "6591239902", 1)
    assert (pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi) == ("Acme", 5, 0)
    assert pdu.tlv_str(TlvTag.RECEIPTED_MESSAGE_ID) == "1a2b"
    assert pdu.tlv_int(TlvTag.MESSAGE_STATE) == 5
    assert pdu.tlv_bytes(TlvTag.NETWORK_ERROR_CODE) == b"\x03\x00\x01"  # GSM: unknown subscriber
    assert decode(encode(pdu)) == pdu


def test_a_delivery_is_numbered_when_it_is_sent() -> None:
    receipt = DueReceipt(taken(), T0)
    part = Prepared(DeliverSm(sequence_number=0, short_message=b"hi"))

    assert receipt.pdu(41) == receipt_for(taken(), T0, 41)
    assert (receipt.pdu(41).sequence_number, part.pdu(42).sequence_number) == (41, 42)
    assert part.pdu(42).short_message == b"hi"


def test_a_delivered_receipt_counts_one_delivered() -> None:
    text = receipt_for(taken("success"), T0).short_message

    assert b"dlvrd:001" in text
    assert b"stat:DELIVRD err:000" in text


@pytest.mark.parametrize(
    ("body", "esm_class", "data_coding", "shown"),
    [
        (b"\x05\x00\x03\x01\x02\x01Part one of two, more", 0x40, 0, "Part one of two, mor"),
        ("Grüße aus Zürich".encode("utf-16-be"), 0, 8, "Gr??e aus Z?rich"),
        (b"under_score \x00", 0, 0, "under?score ?"),
        (b"\x09bad udh", 0x40, 0, ""),  # a header longer than the body: no text
    ],
)
def test_the_receipt_shows_the_first_20_characters_safely(
    body: bytes, esm_class: int, data_coding: int, shown: str
) -> None:
    pdu = receipt_for(taken(body=body, esm_class=esm_class, data_coding=data_coding), T0)

    assert pdu.short_message.decode().split("text:", 1)[1] == shown


def test_a_short_mo_message_is_one_deliver_sm_in_gsm7() -> None:
    [pdu] = mo_parts("6591230001", "ACME", "Hello", 7)

    assert (pdu.esm_class, pdu.data_coding, pdu.short_message) == (0, 0, b"Hello")
    assert (pdu.source_addr_ton, pdu.source_addr_npi) == (1, 1)
    assert (pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi) == ("ACME", 5, 0)


def test_a_long_mo_message_is_concatenated_parts() -> None:
    parts = mo_parts("6591230001", "12345", "x" * 200, 7)

    assert [p.esm_class for p in parts] == [0x40, 0x40]
    assert [p.short_message[:6] for p in parts] == [bytes([5, 0, 3, 7, 2, n]) for n in (1, 2)]


def test_an_mo_text_that_cannot_be_encoded_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be encoded"):
        mo_parts("1", "2", "\ud83d", 0)


# --- outbox ---------------------------------------------------------------------------------------


class Link:
    """A receiver bind with a window, recording what it was sent."""

    def __init__(self, system_id: str = "acme", window: int = 10) -> None:
        self.system_id = system_id
        self.window = window
        self.sent: list[Delivery] = []

    def can_send(self) -> bool:
        return len(self.sent) < self.window

    def send(self, delivery: Delivery) -> None:
        self.sent.append(delivery)


def pdus(count: int) -> list[Delivery]:
    return [Prepared(DeliverSm(sequence_number=0, short_message=bytes([i]))) for i in range(count)]


def test_what_is_owed_waits_for_a_bind_and_counts_against_the_bound() -> None:
    outbox = Outbox(max_pending=3, retry_s=1)
    outbox.reserve("acme", 2)
    outbox.put("acme", pdus(2))

    assert (outbox.waiting("acme"), outbox.pending("acme")) == (2, 2)
    assert outbox.has_room("acme")
    assert not outbox.has_room("acme", 2)
    link = Link()
    outbox.attach(link)
    assert len(link.sent) == 2
    assert outbox.waiting("acme") == 0
    assert outbox.receivers() == ["acme"]


def test_acknowledged_deliveries_free_the_bound_and_an_idle_system_id_is_forgotten() -> None:
    outbox = Outbox(max_pending=1, retry_s=1)
    outbox.put("acme", pdus(1), reserved=False)
    assert not outbox.has_room("acme")

    outbox.acknowledged("acme")

    assert outbox.pending("acme") == 0
    assert outbox._boxes == {}


def test_binds_take_turns_within_their_windows() -> None:
    outbox = Outbox(max_pending=100, retry_s=1)
    first, second = Link(window=2), Link(window=2)
    outbox.attach(first)
    outbox.attach(second)

    outbox.put("acme", pdus(5), reserved=False)
    outbox.pump("acme")

    assert (len(first.sent), len(second.sent), outbox.waiting("acme")) == (2, 2, 1)


def test_a_bind_that_goes_away_hands_back_what_it_did_not_answer_first() -> None:
    outbox = Outbox(max_pending=100, retry_s=1)
    gone = Link(window=2)
    outbox.attach(gone)
    sent = pdus(3)
    outbox.put("acme", sent, reserved=False)
    outbox.pump("acme")

    outbox.detach(gone, gone.sent)
    next_bind = Link()
    outbox.attach(next_bind)

    assert next_bind.sent == sent  # in their order, the unanswered first
    assert outbox.pending("acme") == 3


def test_another_system_id_s_bind_gets_nothing() -> None:
    outbox = Outbox(max_pending=100, retry_s=1)
    other = Link("other")
    outbox.attach(other)

    outbox.put("acme", pdus(1), reserved=False)
    outbox.pump("acme")

    assert other.sent == []


async def test_a_refused_delivery_comes_back_after_retry_s() -> None:
    outbox = Outbox(max_pending=100, retry_s=0.01)
    [pdu] = pdus(1)
    outbox.reserve("acme")

    outbox.refused("acme", pdu)
    assert outbox.waiting("acme") == 0
    await asyncio.wait_for(outbox.until_waiting("acme", 1), 1)

    link = Link()
    outbox.attach(link)
    assert link.sent == [pdu]
    assert outbox.pending("acme") == 1  # still owed until acknowledged
    outbox.close()


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="window"):
        SmscSettings(window=0)
    with pytest.raises(ValueError, match="max_tps"):
        SmscSettings(max_tps=-1)
    with pytest.raises(ValueError, match="system_id"):
        SmscSettings(credentials={"a" * 16: "pw"})
    assert SmscSettings(ids="hex").reported_ids == "hex"
    assert SmscSettings(ids="hex", receipt_ids="dec").reported_ids == "dec"
