"""What the foreign SMSC saw and did, kept as plain records for tests to assert on,
and the behaviours a test gives it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from .receipts import DELIVERED, Receipt
from .wire import ESME_ROK, UDHI, Pdu, decode_text, text_of

__all__ = ["Ack", "Behaviour", "Bind", "BindMode", "Delivery", "Submit", "submit_of"]

BindMode = Literal["transmitter", "receiver", "transceiver"]


@dataclass(frozen=True)
class Behaviour:
    """How the peer answers a submit_sm; set globally or per destination number.

    The answer is decided when the submit_sm arrives: changing a behaviour later does not
    change a held or delayed response. ``hold`` keeps the response until
    :meth:`ForeignSmsc.release`; ``delay_s`` sends it that many seconds later. ``receipt`` is
    sent when the submit's registered_delivery asks for it and ``status`` is ESME_ROK; None
    sends none (a test can still send one with :meth:`ForeignSmsc.send_receipt`).
    """

    status: int = ESME_ROK
    hold: bool = False
    delay_s: float = 0.0
    receipt: Receipt | None = DELIVERED


@dataclass(frozen=True)
class Bind:
    """One bind request and the status it was answered with."""

    connection: int
    system_id: str
    mode: BindMode
    status: int


@dataclass(frozen=True)
class Submit:
    """One submit_sm as smpplib decoded it, and the answer the peer decided for it.

    ``number`` is the peer's numeric message id, ``message_id`` its text in the response
    (empty when ``status`` refuses the message). Absent TLVs are None.
    """

    system_id: str
    connection: int
    sequence: int
    service_type: str
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    esm_class: int
    registered_delivery: int
    data_coding: int
    validity_period: str
    short_message: bytes
    message_payload: bytes | None
    sar_msg_ref_num: int | None
    sar_total_segments: int | None
    sar_segment_seqnum: int | None
    number: int
    message_id: str
    status: int
    received_at: datetime

    @property
    def body(self) -> bytes:
        """The user data: short_message, or message_payload when short_message is empty."""
        return self.short_message or self.message_payload or b""

    @property
    def udh(self) -> bytes:
        """The user data header with its length octet, when esm_class sets UDHI."""
        if not self.esm_class & UDHI or not self.body:
            return b""
        return self.body[: self.body[0] + 1]

    @property
    def text(self) -> str:
        """The body after its UDH, decoded by data_coding (GSM 03.38 unpacked for 0)."""
        return decode_text(self.body[len(self.udh) :], self.data_coding)


def submit_of(
    pdu: Pdu,
    system_id: str,
    connection: int,
    number: int,
    message_id: str,
    status: int,
    received_at: datetime,
) -> Submit:
    """The record of a submit_sm as smpplib parsed it (C-octet strings come as bytes, absent
    TLVs as None), with what the peer decided for it."""
    return Submit(
        system_id=system_id,
        connection=connection,
        sequence=pdu.sequence,
        service_type=text_of(pdu.service_type),
        source_addr=text_of(pdu.source_addr),
        source_addr_ton=pdu.source_addr_ton or 0,
        source_addr_npi=pdu.source_addr_npi or 0,
        destination_addr=text_of(pdu.destination_addr),
        dest_addr_ton=pdu.dest_addr_ton or 0,
        dest_addr_npi=pdu.dest_addr_npi or 0,
        esm_class=pdu.esm_class or 0,
        registered_delivery=pdu.registered_delivery or 0,
        data_coding=pdu.data_coding or 0,
        validity_period=text_of(pdu.validity_period),
        short_message=pdu.short_message or b"",
        message_payload=pdu.message_payload,
        sar_msg_ref_num=pdu.sar_msg_ref_num,
        sar_total_segments=pdu.sar_total_segments,
        sar_segment_seqnum=pdu.sar_segment_seqnum,
        number=number,
        message_id=message_id,
        status=status,
        received_at=received_at,
    )


@dataclass(frozen=True)
class Delivery:
    """One deliver_sm the peer wrote: a receipt (``submit`` set) or an MO message."""

    kind: Literal["receipt", "mo"]
    system_id: str
    connection: int
    sequence: int
    source_addr: str
    destination_addr: str
    esm_class: int
    data_coding: int
    short_message: bytes
    submit: Submit | None = None
    receipt_id: str | None = None


@dataclass(frozen=True)
class Ack:
    """The client's answer (deliver_sm_resp or generic_nack) to a deliver_sm."""

    delivery: Delivery
    command: str
    status: int
