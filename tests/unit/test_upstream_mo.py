"""MO messages through the UpstreamSink: the owner found by the inbound document, long
messages put together from UDH (8- and 16-bit) or SAR parts, text decoded as the SMPP door
decodes it, and the message stored with its deliveries before the SMSC is answered.

Over the memory store (the rig); PDUs are built with smsgate's codec.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence

import pytest

from smsgate.adapters.storage.memory import MemoryStore
from smsgate.domain.inbound import InboundMessage, decode_mo_text
from smsgate.ports.store import InboundPart, StoreError
from smsgate.smpp.constants import CommandStatus
from smsgate.smpp.pdu import DeliverSm
from tests.unit.upstream_rig import ACCOUNT, CONNECTOR, T0, Rig, mo_pdus, wire

OK = CommandStatus.ESME_ROK
OWNED = "6591230000"
LONG = "Reply STOP to opt out of these alerts. " * 6  # 234 characters: two GSM-7 parts
LONG_UCS2 = "回复退订以停止接收这些提醒。" * 6  # 84 characters: two UCS-2 parts


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with Rig() as started:
        await started.document("inbound", {"659123": ACCOUNT})
        yield started


async def test_an_mo_message_reaches_the_account_that_owns_the_number(rig: Rig) -> None:
    [pdu] = mo_pdus("Yes, confirm", OWNED + "77")

    assert await rig.deliver(pdu) == OK

    expected = InboundMessage(
        1, ACCOUNT, "6598765432", OWNED + "77", "000077", "Yes, confirm", T0, CONNECTOR
    )
    assert rig.inbound == [expected]
    assert await rig.store.list_inbound(ACCOUNT, 10) == [expected]
    [push] = await rig.store.due_inbound_pushes(T0, 10)  # the account has a callback URL
    assert push.message == expected
    assert await rig.store.pending_smpp_inbound(ACCOUNT, None, 10) == []  # and no SMPP binds


async def test_an_account_with_smpp_credentials_is_owed_a_deliver_sm(rig: Rig) -> None:
    await rig.smpp_credentials()
    [pdu] = mo_pdus("hi", "+" + OWNED)

    await rig.deliver(pdu)

    assert [m.text for m in await rig.store.pending_smpp_inbound(ACCOUNT, None, 10)] == ["hi"]
    assert rig.inbound[0].destination == OWNED  # the + is not part of the number


async def test_the_longest_entry_owns_the_number(rig: Rig) -> None:
    await rig.document("inbound", {"659123": "wide", "6591230000": ACCOUNT})

    await rig.deliver(mo_pdus("a", "6591230000")[0])
    await rig.deliver(mo_pdus("b", "6591231111")[0])

    assert [(m.account_id, m.dest_code, m.text) for m in rig.inbound] == [
        (ACCOUNT, "", "a"),
        ("wide", "1111", "b"),
    ]


async def test_a_message_nobody_owns_is_taken_and_dropped(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert await rig.deliver(mo_pdus("who is this", "4420000000")[0]) == OK

    assert rig.inbound == []
    assert await rig.store.list_inbound(ACCOUNT, 10) == []
    [record] = [r for r in caplog.records if r.getMessage() == "mo.no_owner"]
    assert record.smsgate_fields == {"connector": CONNECTOR, "destination": "4420000000"}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "method"),
    [
        (LONG, "udh"),
        (LONG, "udh16"),
        (LONG, "sar"),
        (LONG_UCS2, "udh"),
        (LONG_UCS2, "udh16"),
        (LONG_UCS2, "sar"),
    ],
)
async def test_a_long_message_is_put_together_from_its_parts(
    rig: Rig, text: str, method: str
) -> None:
    first, second = mo_pdus(text, OWNED, method=method)  # type: ignore[arg-type]

    assert await rig.deliver(second) == OK  # parts come in any order
    assert rig.inbound == []
    assert await rig.deliver(first) == OK

    assert [m.text for m in rig.inbound] == [text]


async def test_parts_of_concurrent_messages_do_not_mix(rig: Rig) -> None:
    one = mo_pdus(LONG, OWNED, reference=1)
    two = mo_pdus(LONG.upper(), OWNED, reference=2)
    other_sender = mo_pdus(LONG.lower(), OWNED, reference=1, source="6590000000")

    answers = await rig.deliver_all([one[0], two[0], other_sender[0], two[1], other_sender[1]])
    answers += await rig.deliver_all([one[1]])

    assert answers == [OK] * 6
    assert sorted(m.text for m in rig.inbound) == sorted([LONG, LONG.upper(), LONG.lower()])


async def test_a_last_part_delivered_twice_stores_the_message_once(rig: Rig) -> None:
    first, second = mo_pdus(LONG, OWNED)
    await rig.deliver(first)

    assert await rig.deliver_all([second, second]) == [OK, OK]

    assert [m.text for m in await rig.store.list_inbound(ACCOUNT, 10)] == [LONG]


@pytest.mark.parametrize(
    ("method", "data_coding", "text"),
    [
        ("udh", None, "Ça coûte 5€ ? {oui}"),  # GSM-7 with escapes
        ("udh", 3, "Grüße aus Köln"),  # Latin-1
        ("udh", 1, "plain ASCII"),  # IA5
        ("udh", None, "你好，收到了 😀"),  # UCS-2 with a surrogate pair
        ("payload", None, "whole in message_payload"),
        ("data_sm", None, "whole in a data_sm"),
        ("data_sm", None, LONG),  # a long text in one message_payload
    ],
)
async def test_text_is_decoded_as_the_smpp_door_decodes_it(
    rig: Rig, method: str, data_coding: int | None, text: str
) -> None:
    [pdu] = mo_pdus(text, OWNED, method=method, data_coding=data_coding)  # type: ignore[arg-type]

    assert await rig.deliver(pdu) == OK

    assert [m.text for m in rig.inbound] == [text]


def test_what_does_not_decode_is_still_read() -> None:
    assert decode_mo_text("café".encode("latin-1"), 0) == "café"  # Latin-1 sent as GSM
    assert decode_mo_text(b"\x00\x41\xd8", 8) == "A\ufffd"  # UCS-2 cut mid-character
    assert decode_mo_text(b"\x01\xff", 4) == "01FF"  # binary
    assert decode_mo_text(b"hi", 0xF1) == "hi"  # GSM 03.38 class 1, default alphabet
    assert decode_mo_text(b"\x01", 0xF5) == "01"  # class 1, 8-bit data


async def test_malformed_numbering_is_refused_with_its_status(rig: Rig) -> None:
    udh_count_zero = bytes((5, 0, 3, 7, 0, 1)) + b"x"
    pdu = wire(
        DeliverSm(
            sequence_number=1, destination_addr=OWNED, esm_class=0x40, short_message=udh_count_zero
        )
    )

    assert await rig.deliver(pdu) == CommandStatus.ESME_RINVESMCLASS
    assert rig.inbound == []


class _DownStore(MemoryStore):
    down = False

    async def add_inbound_part(self, part: InboundPart) -> list[InboundPart] | None:
        if self.down:
            raise StoreError("disk on fire")
        return await super().add_inbound_part(part)

    async def store_inbound(
        self, message: InboundMessage, *, completes: InboundPart | None = None, smpp: bool = False
    ) -> InboundMessage | None:
        if self.down:
            raise StoreError("disk on fire")
        return await super().store_inbound(message, completes=completes, smpp=smpp)


async def test_a_store_failure_is_answered_so_that_the_smsc_delivers_again() -> None:
    store = _DownStore()
    async with Rig(store) as rig:
        await rig.document("inbound", {"659123": ACCOUNT})
        first, second = mo_pdus(LONG, OWNED)
        store.down = True
        answers: Sequence[int] = [
            await rig.deliver(first),
            await rig.deliver(mo_pdus("x", OWNED)[0]),
        ]
        assert answers == [CommandStatus.ESME_RX_T_APPN] * 2

        store.down = False
        assert await rig.deliver_all([first, second]) == [OK, OK]
        assert [m.text for m in rig.inbound] == [LONG]
