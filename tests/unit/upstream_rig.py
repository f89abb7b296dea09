"""What the upstream tests share: PDUs an SMSC would deliver, built with smsgate's own codec
(encoded and decoded again, as a connector hands them over), and the service wired as the app
wires it over the memory store, with the receipt processor driven by its own task.

The connector's tests use the foreign SMSC (tests/peers); these test the sink alone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import replace
from types import TracebackType
from typing import Literal, Self

from smsgate.adapters.storage.memory import MemoryStore
from smsgate.domain.inbound import InboundMessage
from smsgate.domain.models import Accepted, AccessKey, Account, AccountState, Message
from smsgate.domain.text import (
    data_coding_for,
    encode_gsm7_unpacked,
    encode_parts,
    encode_ucs2,
    split_parts,
)
from smsgate.ports.store import Store
from smsgate.service.policy import PolicyCache
from smsgate.service.receipts import ReceiptProcessor
from smsgate.service.smpp_accounts import hash_password
from smsgate.service.upstream import UpstreamService
from smsgate.smpp import codec
from smsgate.smpp.constants import TlvTag
from smsgate.smpp.pdu import DataSm, DeliverSm, Pdu
from tests import builders
from tests.unit.test_delivery_and_receipts import FixedClock

__all__ = [
    "ACCOUNT",
    "CALLBACK_URL",
    "CONNECTOR",
    "T0",
    "FixedClock",
    "Rig",
    "mo_pdus",
    "receipt_pdu",
    "wire",
]

T0 = 1_795_000_000.0
ACCOUNT = "acc-1"
CONNECTOR = "up"
CALLBACK_URL = "https://acme.example/sms"
HANDSET = "6598765432"
RECEIPT_ESM = 0x04
UDHI = 0x40

Method = Literal["udh", "udh16", "sar", "payload", "data_sm"]


def wire(pdu: Pdu) -> DeliverSm | DataSm:
    """``pdu`` as it comes off the wire: encoded and decoded by smsgate's codec."""
    decoded = codec.decode(codec.encode(pdu))
    assert isinstance(decoded, DeliverSm | DataSm)
    return decoded


def receipt_pdu(
    carrier_id: str | None,
    stat: str | None = "DELIVRD",
    err: str = "000",
    *,
    receipted_id: str | None = None,
    esm_class: int = RECEIPT_ESM,
    message_state: int | None = None,
    network_error: bytes | None = None,
    data_sm: bool = False,
) -> DeliverSm | DataSm:
    """A receipt as Appendix B writes it, with the TLVs asked for."""
    fields = [] if carrier_id is None else [f"id:{carrier_id}"]
    fields += ["sub:001", "dlvrd:001", "submit date:2612031200", "done date:2612031201"]
    if stat is not None:
        fields.append(f"stat:{stat}")
    fields += [f"err:{err}", "text:Your code is 1234"]
    text = " ".join(fields).encode("ascii")
    pdu: DeliverSm | DataSm
    if data_sm:
        pdu = DataSm(sequence_number=9, source_addr=HANDSET, esm_class=esm_class)
        pdu = pdu.with_tlv(TlvTag.MESSAGE_PAYLOAD, text)
    else:
        pdu = DeliverSm(
            sequence_number=9, source_addr=HANDSET, esm_class=esm_class, short_message=text
        )
    if receipted_id is not None:
        pdu = pdu.with_tlv(TlvTag.RECEIPTED_MESSAGE_ID, receipted_id)
    if message_state is not None:
        pdu = pdu.with_tlv(TlvTag.MESSAGE_STATE, message_state)
    if network_error is not None:
        pdu = pdu.with_tlv(TlvTag.NETWORK_ERROR_CODE, network_error)
    return wire(pdu)


def mo_pdus(
    text: str,
    destination: str,
    *,
    method: Method = "udh",
    reference: int = 0x42,
    data_coding: int | None = None,
    source: str = HANDSET,
) -> list[DeliverSm | DataSm]:
    """An MO message as an SMSC delivers it: one PDU, or one per part of a long text (UDH with
    an 8- or 16-bit reference, or SAR TLVs); ``payload`` and ``data_sm`` carry it whole in
    ``message_payload``. ``data_coding`` other than the text's own (0 or 8) means Latin-1."""
    coding = data_coding_for(text) if data_coding is None else data_coding
    if method in ("payload", "data_sm"):
        body = _encoded(text) if data_coding is None else text.encode("latin-1")
        if method == "data_sm":
            whole: DeliverSm | DataSm = DataSm(
                sequence_number=1, source_addr=source, destination_addr=destination
            )
        else:
            whole = DeliverSm(sequence_number=1, source_addr=source, destination_addr=destination)
        whole = whole.with_tlv(TlvTag.MESSAGE_PAYLOAD, body)
        return [wire(_coded(whole, coding))]
    if data_coding is not None:
        bodies = [text.encode("latin-1")]
    elif method == "sar":
        bodies = [_encoded(piece) for piece in split_parts(text)]
    else:
        bodies = encode_parts(text, reference, sixteen_bit=method == "udh16")
    pdus: list[DeliverSm | DataSm] = []
    for number, body in enumerate(bodies, start=1):
        pdu = DeliverSm(
            sequence_number=number,
            source_addr=source,
            destination_addr=destination,
            data_coding=coding,
            esm_class=UDHI if len(bodies) > 1 and method != "sar" else 0,
            short_message=body,
        )
        if len(bodies) > 1 and method == "sar":
            pdu = pdu.with_tlv(TlvTag.SAR_MSG_REF_NUM, reference)
            pdu = pdu.with_tlv(TlvTag.SAR_TOTAL_SEGMENTS, len(bodies))
            pdu = pdu.with_tlv(TlvTag.SAR_SEGMENT_SEQNUM, number)
        pdus.append(wire(pdu))
    return pdus


def _encoded(text: str) -> bytes:
    """The whole text in its own coding, without any header."""
    return encode_gsm7_unpacked(text) if data_coding_for(text) == 0 else encode_ucs2(text)


def _coded(pdu: DeliverSm | DataSm, data_coding: int) -> DeliverSm | DataSm:
    return replace(pdu, data_coding=data_coding)


class Rig:
    """The upstream service over a store, with the receipt processor driven as the app drives
    it; every message made final is recorded in ``heard``, every MO message in ``inbound``."""

    def __init__(self, store: Store | None = None, clock: FixedClock | None = None) -> None:
        self.store: Store = store or MemoryStore()
        self.clock = clock or FixedClock(T0)
        self.policy = PolicyCache(self.store, self.clock, ttl_s=0)
        self.processor = ReceiptProcessor(self.store, self.policy)
        self.service = UpstreamService(
            self.store, self.store, self.processor, self.policy, self.clock
        )
        self.heard: list[Message] = []
        self.processor.add_listener(self.heard.extend)
        self.inbound: list[InboundMessage] = []
        self.service.inbound.add_listener(self.inbound.extend)
        self._ready = asyncio.Event()
        self.processor.set_wakeup(self._ready.set)
        self._driver: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        await self.store.start()
        await self.store.create_account(*_account(ACCOUNT, CALLBACK_URL))
        self._driver = asyncio.create_task(self._drive())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._driver is not None:
            self._driver.cancel()
            await asyncio.gather(self._driver, return_exceptions=True)
        await self.service.close()
        await self.store.close()

    async def _drive(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            try:
                while await self.processor.run_once():
                    pass
            except Exception:
                pass

    async def submitted(self, mid: int, *carrier_ids: str, **changes: object) -> None:
        """A message the connector ``up`` took, with one carrier id per part."""
        message = builders.message(mid, segments=len(carrier_ids), **changes)
        await self.store.insert_messages([message])
        await self.store.mark_submitted([Accepted(str(mid), CONNECTOR, carrier_ids, T0 + 1)])

    async def message(self, mid: int) -> Message:
        found = await self.store.get_message(ACCOUNT, str(mid))
        assert found is not None
        return found

    async def deliver(self, pdu: DeliverSm | DataSm, connector: str = CONNECTOR) -> int:
        [status] = await self.service.deliver_all(connector, [pdu])
        return status

    async def deliver_all(self, pdus: Sequence[DeliverSm | DataSm]) -> list[int]:
        """As a connector does: the PDUs of one read handed over together."""
        return await self.service.deliver_all(CONNECTOR, pdus)

    async def document(self, name: str, doc: object) -> None:
        await self.store.put_document(name, json.dumps(doc))

    async def connector(self, **settings: object) -> None:
        """The connector ``up`` in the connectors document, with these settings."""
        base = {"host": "smsc.example", "port": 2775, "system_id": "acme", "password_sealed": "x"}
        await self.document("connectors", {CONNECTOR: {**base, **settings}})

    async def smpp_credentials(self, account_id: str = ACCOUNT) -> None:
        entry = {"account_id": account_id, "password_hash": hash_password("secret")}
        await self.document("smpp", {"acme": entry})


def _account(account_id: str, callback_url: str | None) -> tuple[Account, AccessKey]:
    account = Account(account_id, "Acme", AccountState.NORMAL, 10_000_000, callback_url, T0)
    key = AccessKey(f"key-{account_id}", account_id, "secret", True, None, T0)
    return account, key
