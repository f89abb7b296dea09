"""The SMPP door through a second, independent client library: aiosmpplib (asyncio, MIT).

smpplib covers the basics in test_smpp_submit.py; aiosmpplib is written from the spec by other
people, with its own codec, bind handling, segmentation and receipt parsing. It runs as its users
run it: ``ESME.start()`` in a task, messages through its broker, PDUs seen through its hook.

What aiosmpplib 0.7.4 cannot do by itself, and how these tests get there anyway:

- 16-bit UDH references: it only numbers its own UDH parts 0-255 (8-bit); the parts here come
  from its public ``split_sms_udh`` with a reference over 255 and go out pre-encoded;
- SAR parts: its own SAR splitting fails (``_dequeue_messages`` reads an unassigned ``encoding``
  when ``auto_message_payload`` is off and UDHI is not set), so the SAR TLVs are set by hand.
"""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count
from typing import TypeVar

import pytest
from aiosmpplib import (
    ESME,
    NPI,
    TON,
    AbstractHook,
    AbstractRetryTimer,
    BindMode,
    DeliverSm,
    OptionalParam,
    PhoneNumber,
    SmppMessage,
    SubmitSm,
)
from aiosmpplib.broker import SimpleBroker
from aiosmpplib.utils import split_sms_udh
from alibabacloud_dysmsapi20170525 import models as domestic_models
from alibabacloud_dysmsapi20170525.client import Client as DomesticClient
from alibabacloud_dysmsapi20180501 import models
from alibabacloud_tea_openapi import models as openapi_models

from .conftest import Account, ServerProcess, instant_server, v3_client

PASSWORD = "s3cret"
WAIT_S = 15.0  # for any one event: a bind, an answer, a receipt
SENDER = PhoneNumber("Acme", TON.ALPHANUMERIC, NPI.UNKNOWN)

SUBMIT_SM_RESP, GENERIC_NACK = 0x80000004, 0x80000000
ESME_ROK, ESME_RINVPASWD = 0x00, 0x0E
SAR_MSG_REF_NUM, SAR_TOTAL_SEGMENTS, SAR_SEGMENT_SEQNUM = 0x020C, 0x020E, 0x020F
RECEIPTED_MESSAGE_ID, MESSAGE_STATE = 0x001E, 0x0427
MESSAGE_STATE_DELIVERED, MESSAGE_STATE_UNDELIVERABLE = 2, 5

T = TypeVar("T")
_numbers = count(1)


def new_number(suffix: str = "") -> str:
    """A Singapore mobile number of its own, so record queries see only this test's message;
    ``suffix`` picks the simulator's outcome (9902: INVALID_NUM)."""
    base = f"659{next(_numbers):07d}"
    return base[: len(base) - len(suffix)] + suffix


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Its own server, re-reading policy on every use: credentials added by a test work at once."""
    proc = instant_server(tmp_path_factory, "aiosmpp")
    yield proc
    proc.stop()


_ids = count(1)


def smpp_account(server: ServerProcess) -> tuple[Account, str]:
    """A new account with SMPP credentials; returns it and its system_id."""
    system_id = f"aio{next(_ids)}"
    account = server.create_account(system_id)
    server.cli("smpp", "add", account.account_id, "--system-id", system_id, "--password", PASSWORD)
    return account, system_id


# --- the client ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A submit_sm_resp or generic_nack, read from the raw PDU the hook saw (aiosmpplib hands
    intermediate segment answers to the hook as None, so its parsed object is not enough)."""

    command_id: int
    status: int
    seq: int
    message_id: str


class Recorder(AbstractHook):
    """Queues what aiosmpplib sends and receives, for tests to await."""

    def __init__(self) -> None:
        self.binds: asyncio.Queue[tuple[int, int]] = asyncio.Queue()  # (command_id, status)
        self.answers: asyncio.Queue[Answer] = asyncio.Queue()
        self.receipts: asyncio.Queue[DeliverSm] = asyncio.Queue()
        self.submitted: list[bytes] = []  # every submit_sm PDU as sent
        self.errors: list[Exception] = []

    async def sending(self, smpp_message: SmppMessage, pdu: bytes, client_id: str) -> None:
        if struct.unpack_from(">I", pdu, 4)[0] == 0x04:
            self.submitted.append(pdu)

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes, client_id: str) -> None:
        _, command_id, status, seq = struct.unpack_from(">IIII", pdu)
        if command_id in (0x80000001, 0x80000002, 0x80000009):
            await self.binds.put((command_id, status))
        elif command_id in (SUBMIT_SM_RESP, GENERIC_NACK):
            message_id = pdu[16:].split(b"\0", 1)[0].decode("ascii")
            await self.answers.put(Answer(command_id, status, seq, message_id))
        elif isinstance(smpp_message, DeliverSm):
            await self.receipts.put(smpp_message)

    async def send_error(self, smpp_message: SmppMessage, error: Exception, client_id: str) -> None:
        self.errors.append(error)


@dataclass
class Client:
    """An aiosmpplib ESME running in a task (``ESME.start()``), its hook and its broker."""

    esme: ClosingESME
    hook: Recorder
    broker: SimpleBroker
    task: asyncio.Task[None]
    bind_status: int | None = None

    async def submit(self, message: SubmitSm, parts: int = 1) -> list[Answer]:
        """Hand ``message`` to aiosmpplib and wait for the answers to the ``parts`` submit_sm
        it sends for it."""
        await self.broker.enqueue(message)
        answers = [await next_of(self.hook.answers, "submit_sm_resp") for _ in range(parts)]
        assert not self.hook.errors, self.hook.errors
        return answers

    async def submit_ok(self, message: SubmitSm, parts: int = 1) -> str:
        """The message id of an accepted message (all its parts ESME_ROK)."""
        answers = await self.submit(message, parts)
        assert [(a.command_id, a.status) for a in answers] == [(SUBMIT_SM_RESP, ESME_ROK)] * parts
        return answers[-1].message_id

    async def start(self, mode: BindMode) -> None:
        command_id, status = await next_of(self.hook.binds, "bind response")
        self.bind_status = status
        assert command_id == mode.smpp_command | 0x80000000

    async def stop(self) -> None:
        if self.bind_status == ESME_ROK and not self.task.done():
            await asyncio.wait_for(self.esme.stop(), WAIT_S)  # unbind, then the task ends
        self.task.cancel()  # a refused bind retries forever
        await asyncio.gather(self.task, return_exceptions=True)
        for writer in self.esme.writers:
            writer.close()
            await writer.wait_closed()


async def next_of(queue: asyncio.Queue[T], what: str) -> T:
    try:
        return await asyncio.wait_for(queue.get(), WAIT_S)
    except TimeoutError:
        pytest.fail(f"no {what} within {WAIT_S}s")


class NoRetry(AbstractRetryTimer):
    """Park instead of reconnecting: aiosmpplib's default timer retries a refused bind at once,
    and a cancel that lands in that retry's ``wait_for`` can be swallowed (Python 3.11), which
    leaves ``start()`` retrying forever. Parked here, the cancel in ``Client.stop`` lands."""

    async def wait(self) -> None:
        await asyncio.Event().wait()

    def reset(self) -> None:
        pass

    def next_delay(self) -> float:
        return 0.0


class ClosingESME(ESME):
    """aiosmpplib 0.7.4 half-closes its connection on stop (write_eof) and then drops the
    StreamWriter without closing it, which leaves the socket to the garbage collector
    (ResourceWarning); keep the writers so the test closes them."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.writers: list[asyncio.StreamWriter] = []

    async def connect(self) -> None:
        try:
            await super().connect()
        finally:
            if self._writer is not None:
                self.writers.append(self._writer)


@asynccontextmanager
async def bound_all(
    server: ServerProcess,
    *binds: tuple[str, BindMode],
    password: str = PASSWORD,
    **options: object,
) -> AsyncIterator[list[Client]]:
    """One ESME per (system_id, mode), started and stopped together (stopping one takes
    aiosmpplib about a second), yielded once every bind was answered, OK or not; ``options``
    go to every ESME (a throttle_handler...)."""
    clients = []
    for system_id, mode in binds:
        hook, broker = Recorder(), SimpleBroker()
        esme = ClosingESME(
            smsc_host="127.0.0.1",
            smsc_port=server.smpp_port,
            system_id=system_id,
            password=password,
            bind_mode=mode,
            hook=hook,
            broker=broker,
            socket_timeout=WAIT_S,
            retry_timer=NoRetry(),
            log_level="CRITICAL",
            **options,
        )
        clients.append(Client(esme, hook, broker, asyncio.create_task(esme.start())))
    try:
        await asyncio.gather(*(c.start(mode) for c, (_, mode) in zip(clients, binds, strict=True)))
        yield clients
    finally:
        await asyncio.gather(*(c.stop() for c in clients))


@asynccontextmanager
async def bound(
    server: ServerProcess,
    system_id: str,
    mode: BindMode,
    password: str = PASSWORD,
    **options: object,
) -> AsyncIterator[Client]:
    async with bound_all(server, (system_id, mode), password=password, **options) as (client,):
        yield client


def submit_sm(to: str, **fields: object) -> SubmitSm:
    fields.setdefault("registered_delivery", 0)
    return SubmitSm(source=SENDER, destination=PhoneNumber(to, TON.INTERNATIONAL), **fields)


def sm_fields(submit_pdu: bytes) -> tuple[int, int, bytes]:
    """esm_class, data_coding and short_message of a submit_sm as aiosmpplib sent it, read by
    hand (§4.4.1)."""
    pos = submit_pdu.index(b"\0", 16) + 1 + 2  # service_type, source ton/npi
    pos = submit_pdu.index(b"\0", pos) + 1 + 2  # source_addr, dest ton/npi
    pos = submit_pdu.index(b"\0", pos) + 1  # destination_addr
    esm_class = submit_pdu[pos]
    pos = submit_pdu.index(b"\0", pos + 3) + 1  # schedule_delivery_time
    pos = submit_pdu.index(b"\0", pos) + 1  # validity_period
    data_coding = submit_pdu[pos + 2]
    sm_length = submit_pdu[pos + 4]
    return esm_class, data_coding, submit_pdu[pos + 5 : pos + 5 + sm_length]


# --- the HTTP side ------------------------------------------------------------------------------


async def query_message(
    server: ServerProcess, account: Account, message_id: str
) -> models.QueryMessageResponseBody:
    client = v3_client(server, account)
    request = models.QueryMessageRequest(message_id=message_id)
    return (await asyncio.to_thread(client.query_message, request)).body


async def messages_to(
    server: ServerProcess, account: Account, number: str
) -> list[domestic_models.QuerySendDetailsResponseBodySmsSendDetailDTOsSmsSendDetailDTO]:
    """Every message the account sent to ``number`` today (QuerySendDetails, 2017-05-25)."""
    client = DomesticClient(
        openapi_models.Config(
            access_key_id=account.key_id,
            access_key_secret=account.secret,
            endpoint=server.endpoint,
            protocol="http",
        )
    )
    request = domestic_models.QuerySendDetailsRequest(
        phone_number=number,
        send_date=datetime.now(UTC).strftime("%Y%m%d"),
        page_size=50,
        current_page=1,
    )
    body = (await asyncio.to_thread(client.query_send_details, request)).body
    assert body.code == "OK", body
    return list(body.sms_send_detail_dtos.sms_send_detail_dto or [])


# --- binds --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [BindMode.TRANSMITTER, BindMode.RECEIVER, BindMode.TRANSCEIVER])
async def test_binds_in_every_mode(server: ServerProcess, mode: BindMode) -> None:
    _, system_id = smpp_account(server)
    async with bound(server, system_id, mode) as client:
        assert client.bind_status == ESME_ROK
        assert client.esme.session_state == mode.session_state


async def test_wrong_password_is_esme_rinvpaswd(server: ServerProcess) -> None:
    _, system_id = smpp_account(server)
    async with bound(server, system_id, BindMode.TRANSCEIVER, password="nope") as client:
        assert client.bind_status == ESME_RINVPASWD


# --- single messages ----------------------------------------------------------------------------


async def test_gsm7_message_is_queryable_over_http(server: ServerProcess) -> None:
    account, system_id = smpp_account(server)
    to = new_number()
    async with bound(server, system_id, BindMode.TRANSMITTER) as client:
        message_id = await client.submit_ok(submit_sm(to, short_message="Your code is 1234 @$"))
    assert sm_fields(client.hook.submitted[0])[1:] == (0, b"Your code is 1234 \x00\x02")
    query = await query_message(server, account, message_id)
    assert (query.response_code, query.to, query.message) == ("OK", to, "Your code is 1234 @$")


async def test_ucs2_message_is_queryable_over_http(server: ServerProcess) -> None:
    account, system_id = smpp_account(server)
    text = "验证码 1234 ✓ Ωμέγα"
    async with bound(server, system_id, BindMode.TRANSCEIVER) as client:
        message_id = await client.submit_ok(submit_sm(new_number(), short_message=text))
    assert sm_fields(client.hook.submitted[0])[1:] == (8, text.encode("utf-16-be"))
    query = await query_message(server, account, message_id)
    assert (query.response_code, query.message) == ("OK", text)


# --- long messages ------------------------------------------------------------------------------

LONG_GSM = (
    "Long message through aiosmpplib, part of an interop test of smsgate's SMPP door: "
    "every part must arrive, be put together in order and be stored as one message. "
    "This sentence makes it longer than two parts of 153 septets, @ and $ included."
)
LONG_UCS2 = "验证码与长消息测试：每一部分都必须到达并按顺序组合成一条消息。" * 3


async def assert_one_message(
    server: ServerProcess, account: Account, to: str, text: str, message_id: str
) -> None:
    listed = await messages_to(server, account, to)
    assert [m.content for m in listed] == [text]
    query = await query_message(server, account, message_id)
    assert (query.response_code, query.message) == ("OK", text)


@pytest.mark.parametrize(("text", "parts"), [(LONG_GSM, 2), (LONG_UCS2, 2)], ids=["gsm7", "ucs2"])
async def test_long_message_udh_8bit_reference(
    server: ServerProcess, text: str, parts: int
) -> None:
    """aiosmpplib's own splitting: UDHI set and auto_message_payload off gives UDH parts
    05 00 03 ref total seq."""
    account, system_id = smpp_account(server)
    to = new_number()
    async with bound(server, system_id, BindMode.TRANSMITTER) as client:
        message = submit_sm(to, short_message=text, esm_class=0x40, auto_message_payload=False)
        message_id = await client.submit_ok(message, parts)
    assert len(client.hook.submitted) == parts
    for i, sm in enumerate(client.hook.submitted, start=1):
        esm_class, data_coding, short_message = sm_fields(sm)
        assert esm_class == 0x40
        assert data_coding == (0 if text == LONG_GSM else 8)
        assert short_message[:3] == bytes([5, 0, 3])
        assert short_message[4:6] == bytes([parts, i])
    await assert_one_message(server, account, to, text, message_id)


async def test_long_message_udh_16bit_reference(server: ServerProcess) -> None:
    """Parts from aiosmpplib's split_sms_udh with a reference over 255: 06 08 04 ref ref total
    seq, each sent as one pre-encoded submit_sm."""
    account, system_id = smpp_account(server)
    to = new_number()
    encoded = split_sms_udh(LONG_GSM, "gsm0338", 0x1234)
    assert len(encoded) > 1
    assert encoded[0][:5] == bytes([6, 8, 4, 0x12, 0x34])
    async with bound(server, system_id, BindMode.TRANSCEIVER) as client:
        for part in encoded:
            message = submit_sm(to, short_message="-", esm_class=0x40)
            message.set_encoded_message(part)
            message_id = await client.submit_ok(message)
    await assert_one_message(server, account, to, LONG_GSM, message_id)


async def test_long_message_sar_tlvs(server: ServerProcess) -> None:
    """Plain short_message parts carrying sar_msg_ref_num, sar_total_segments and
    sar_segment_seqnum (SMPP 3.4 §5.3.2.22-24), sent out of order."""
    account, system_id = smpp_account(server)
    to = new_number()
    chunks = [LONG_GSM[i : i + 150] for i in range(0, len(LONG_GSM), 150)]
    assert len(chunks) > 1
    async with bound(server, system_id, BindMode.TRANSMITTER) as client:
        order = [*range(1, len(chunks)), 0]  # the first part last
        for index in order:
            sar = [
                OptionalParam(SAR_MSG_REF_NUM, 0x2A2A),
                OptionalParam(SAR_TOTAL_SEGMENTS, len(chunks)),
                OptionalParam(SAR_SEGMENT_SEQNUM, index + 1),
            ]
            message_id = await client.submit_ok(
                submit_sm(to, short_message=chunks[index], optional_params=sar)
            )
    for sm in client.hook.submitted:
        assert struct.pack(">HHH", SAR_MSG_REF_NUM, 2, 0x2A2A) in sm
    await assert_one_message(server, account, to, LONG_GSM, message_id)


async def test_long_message_in_message_payload(server: ServerProcess) -> None:
    account, system_id = smpp_account(server)
    to = new_number()
    async with bound(server, system_id, BindMode.TRANSCEIVER) as client:
        message_id = await client.submit_ok(submit_sm(to, message_payload=LONG_GSM))
    sm = client.hook.submitted[0]
    assert struct.pack(">HH", 0x0424, len(LONG_GSM)) in sm  # empty short_message, payload TLV
    await assert_one_message(server, account, to, LONG_GSM, message_id)


# --- receipts -----------------------------------------------------------------------------------

RECEIPT_TEXT = re.compile(
    r"id:(?P<id>\S+) sub:(?P<sub>\d{3}) dlvrd:(?P<dlvrd>\d{3}) "
    r"submit date:(?P<submit>\d{10}) done date:(?P<done>\d{10}) "
    r"stat:(?P<stat>[A-Z]{7}) err:(?P<err>\d{3}) text:(?P<text>.*)",
    re.IGNORECASE,
)


def tlv_of(receipt: DeliverSm, tag: int) -> object:
    values = [p.value for p in receipt.optional_params or [] if p.tag == tag]
    assert len(values) == 1, f"TLV 0x{tag:04x} in {receipt.optional_params}"
    return values[0]


def check_receipt(receipt: DeliverSm, message_id: str, stat: str) -> re.Match[str]:
    assert receipt.esm_class == 0x04
    assert receipt.is_receipt()
    match = RECEIPT_TEXT.fullmatch(receipt.short_message)
    assert match, receipt.short_message
    assert (match["id"], match["stat"]) == (message_id, stat)
    for date in (match["submit"], match["done"]):
        datetime.strptime(date, "%y%m%d%H%M")  # a real YYMMDDhhmm
    assert tlv_of(receipt, RECEIPTED_MESSAGE_ID) == message_id
    assert receipt.parse_receipt()["id"] == message_id  # aiosmpplib reads it as a receipt too
    return match


async def test_delivered_receipt_on_transceiver(server: ServerProcess) -> None:
    _, system_id = smpp_account(server)
    async with bound(server, system_id, BindMode.TRANSCEIVER) as client:
        message_id = await client.submit_ok(
            submit_sm(new_number(), short_message="Receipt please", registered_delivery=1)
        )
        receipt = await next_of(client.hook.receipts, "receipt")
    match = check_receipt(receipt, message_id, "DELIVRD")
    assert (match["sub"], match["dlvrd"], match["err"]) == ("001", "001", "000")
    assert match["text"] == "Receipt please"
    assert tlv_of(receipt, MESSAGE_STATE) == MESSAGE_STATE_DELIVERED


async def test_failed_receipt_on_a_separate_receiver(server: ServerProcess) -> None:
    """9902 is the simulator's INVALID_NUM: undeliverable, with a non-zero err."""
    _, system_id = smpp_account(server)
    async with bound_all(
        server, (system_id, BindMode.RECEIVER), (system_id, BindMode.TRANSMITTER)
    ) as (receiver, sender):
        message_id = await sender.submit_ok(
            submit_sm(new_number("9902"), short_message="Will fail", registered_delivery=1)
        )
        receipt = await next_of(receiver.hook.receipts, "receipt")
    match = check_receipt(receipt, message_id, "UNDELIV")
    assert match["dlvrd"] == "000"
    assert int(match["err"]) != 0
    assert tlv_of(receipt, MESSAGE_STATE) == MESSAGE_STATE_UNDELIVERABLE
    assert sender.hook.receipts.empty()  # a transmitter bind never gets deliver_sm


async def test_receipts_reach_only_their_own_account(server: ServerProcess) -> None:
    """A's receipt is delivered (and acknowledged) on A's receiver before B even submits; B's
    receiver then gets B's receipt and nothing else."""
    _, system_a = smpp_account(server)
    _, system_b = smpp_account(server)
    async with bound_all(
        server,
        (system_a, BindMode.RECEIVER),
        (system_b, BindMode.RECEIVER),
        (system_a, BindMode.TRANSMITTER),
        (system_b, BindMode.TRANSMITTER),
    ) as (receiver_a, receiver_b, sender_a, sender_b):
        id_a = await sender_a.submit_ok(
            submit_sm(new_number(), short_message="for A", registered_delivery=1)
        )
        check_receipt(await next_of(receiver_a.hook.receipts, "receipt for A"), id_a, "DELIVRD")
        id_b = await sender_b.submit_ok(
            submit_sm(new_number(), short_message="for B", registered_delivery=1)
        )
        check_receipt(await next_of(receiver_b.hook.receipts, "receipt for B"), id_b, "DELIVRD")
        assert receiver_a.hook.receipts.empty()
        assert receiver_b.hook.receipts.empty()
