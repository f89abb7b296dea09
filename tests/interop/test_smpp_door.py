"""The SMPP door end to end with smpplib (an independent client) against real server processes:
receipts (format, durability across a restart, retries, isolation), long messages in every
concatenation style, query_sm, fault injection, per-bind TPS, the bind limit and TLS.

smpplib has no submit_multi or cancel_sm; those are sent as PDUs packed by hand with ``struct``
here (not with smsgate's codec), so the test stays independent of the code under test.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import ssl
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
from alibabacloud_dysmsapi20180501 import models
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from smsgate import errors

from .conftest import SIMULATOR_CONFIG, Account, ServerProcess, v3_client

SG = "6591234567"  # a Singapore mobile: delivered by the simulator
SG_INVALID_NUM = "6591239902"  # suffix 9902: the simulator answers INVALID_NUM (the 2nd code)
SG_SLOW = "6591237777"  # the strict server's simulator holds these for a minute
PASSWORD = "s3cret"
RECEIPT_RE = re.compile(
    r"id:(?P<id>\d+) sub:001 dlvrd:(?P<dlvrd>\d{3}) submit date:(?P<submit>\d{10}) "
    r"done date:(?P<done>\d{10}) stat:(?P<stat>[A-Z]{7}) err:(?P<err>\d{3}) text:(?P<text>.*)"
)


# --- servers and clients ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    config = SIMULATOR_CONFIG + "\n[server]\nrefresh_s = 0\n[smpp]\nreceipt_retry_s = 0.2\n"
    proc = ServerProcess(tmp_path_factory.mktemp("smppdoor") / "data", config)
    proc.start()
    yield proc
    proc.stop()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with a TPS limit, a bind limit, TLS, and a slow simulated carrier."""
    directory = tmp_path_factory.mktemp("smppstrict")
    cert, key = _self_signed(directory)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        tls_port = probe.getsockname()[1]
    config = f"""
[server]
refresh_s = 0
[simulator]
delay_ms = 20
[[simulator.rules]]
match = "suffix"
value = "7777"
receipt = "success"
delay_ms = 60000
[smpp]
tps_per_bind = 5
max_binds = 2
tls_port = {tls_port}
tls_cert = "{cert}"
tls_key = "{key}"
"""
    proc = ServerProcess(directory / "data", config)
    proc.tls_port = tls_port  # type: ignore[attr-defined]
    proc.tls_cert = cert  # type: ignore[attr-defined]
    proc.start()
    yield proc
    proc.stop()


def new_account(server: ServerProcess, system_id: str, balance: str = "1000") -> Account:
    account = server.create_account(system_id, balance=balance)
    server.cli("smpp", "add", account.account_id, "--system-id", system_id, "--password", PASSWORD)
    return account


def connect(
    server: ServerProcess, port: int | None = None, context: ssl.SSLContext | None = None
) -> smpplib.client.Client:
    client = smpplib.client.Client(
        "127.0.0.1",
        port or server.smpp_port,
        timeout=10,
        allow_unknown_opt_params=True,
        ssl_context=context,
    )
    client.connect()
    return client


@pytest.fixture
def clients() -> Iterator[list[smpplib.client.Client]]:
    opened: list[smpplib.client.Client] = []
    yield opened
    for client in opened:
        client.disconnect()


def bind(
    server: ServerProcess,
    clients: list[smpplib.client.Client],
    system_id: str,
    mode: str = "transceiver",
) -> smpplib.client.Client:
    client = connect(server)
    clients.append(client)
    getattr(client, f"bind_{mode}")(system_id=system_id, password=PASSWORD)
    return client


def text_of(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def expect(client: smpplib.client.Client, command: str) -> smpplib.command.Command:
    """The next PDU, which must be ``command`` (enquire_links are answered on the way)."""
    while True:
        pdu = client.read_pdu()
        if pdu.command == "enquire_link":
            resp = smpplib.smpp.make_pdu("enquire_link_resp", client=client)
            resp.sequence = pdu.sequence
            client.send_pdu(resp)
            continue
        assert pdu.command == command, f"expected {command}, got {pdu.command}"
        return pdu


def submit(
    client: smpplib.client.Client, to: str, text: bytes = b"Your code is 1234", **fields: object
) -> smpplib.command.Command:
    sent = client.send_message(
        source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
        source_addr="Acme",
        dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
        destination_addr=to,
        short_message=text,
        **fields,
    )
    resp = expect(client, "submit_sm_resp")
    assert resp.sequence == sent.sequence
    return resp


def receipt(client: smpplib.client.Client, status: int = 0) -> smpplib.command.Command:
    """The next deliver_sm, answered with ``status``."""
    pdu = expect(client, "deliver_sm")
    resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=client, status=status)
    resp.sequence = pdu.sequence
    client.send_pdu(resp)
    return pdu


def query(
    server: ServerProcess, account: Account, message_id: str
) -> models.QueryMessageResponseBody:
    return (
        v3_client(server, account)
        .query_message(models.QueryMessageRequest(message_id=message_id))
        .body
    )


def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll what only HTTP can tell (a message's status), with a deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# --- receipts --------------------------------------------------------------------------------


def test_a_delivered_message_comes_back_as_a_standard_receipt(
    server: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    new_account(server, "rcpt-ok")
    client = bind(server, clients, "rcpt-ok")
    resp = submit(client, SG, registered_delivery=1)
    assert resp.status == smpplib.consts.SMPP_ESME_ROK
    message_id = text_of(resp.message_id)

    pdu = receipt(client)

    assert pdu.esm_class & 0x04
    assert text_of(pdu.receipted_message_id) == message_id
    assert pdu.message_state == 2  # DELIVERED
    assert text_of(pdu.source_addr) == SG
    assert text_of(pdu.destination_addr) == "Acme"
    fields = RECEIPT_RE.fullmatch(text_of(pdu.short_message))
    assert fields is not None
    assert fields["id"] == message_id
    assert (fields["stat"], fields["err"], fields["dlvrd"]) == ("DELIVRD", "000", "001")
    assert fields["text"] == "Your code is 1234"
    assert fields["submit"] <= fields["done"]


def test_a_failed_message_reports_its_receipt_code(
    server: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    account = new_account(server, "rcpt-fail")
    client = bind(server, clients, "rcpt-fail")
    message_id = text_of(submit(client, SG_INVALID_NUM, registered_delivery=1).message_id)

    pdu = receipt(client)

    fields = RECEIPT_RE.fullmatch(text_of(pdu.short_message))
    assert fields is not None
    assert (fields["id"], fields["stat"], fields["err"]) == (message_id, "UNDELIV", "002")
    assert pdu.message_state == 5  # UNDELIVERABLE
    assert query(server, account, message_id).error_code == errors.INVALID_NUM.code


def test_registered_delivery_2_reports_failures_only(
    server: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    new_account(server, "rcpt-fonly")
    client = bind(server, clients, "rcpt-fonly")
    submit(client, SG, registered_delivery=2)  # delivered: no receipt
    failed = text_of(submit(client, SG_INVALID_NUM, registered_delivery=2).message_id)
    assert text_of(receipt(client).receipted_message_id) == failed


def test_receipts_wait_for_a_receiver_even_across_a_restart(
    tmp_path: Path, clients: list[smpplib.client.Client]
) -> None:
    proc = ServerProcess(tmp_path / "data", SIMULATOR_CONFIG + "\n[server]\nrefresh_s = 0\n")
    proc.start()
    try:
        account = new_account(proc, "durable")
        sender = bind(proc, clients, "durable", "transmitter")
        ids = [text_of(submit(sender, SG, registered_delivery=1).message_id) for _ in range(3)]
        # The receipts are owed once the messages are final; wait for that over HTTP.
        for message_id in ids:
            wait_until(lambda m=message_id: query(proc, account, m).status == "1")
        sender.disconnect()
        clients.remove(sender)
        proc.stop()
        proc.start()
        receiver = bind(proc, clients, "durable", "receiver")
        got = [text_of(receipt(receiver).receipted_message_id) for _ in ids]
        assert sorted(got) == sorted(ids)
    finally:
        proc.stop()


def test_an_unacknowledged_receipt_is_sent_again(
    server: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    new_account(server, "rcpt-retry")
    client = bind(server, clients, "rcpt-retry")
    message_id = text_of(submit(client, SG, registered_delivery=1).message_id)

    first = receipt(client, status=0x64)  # ESME_RX_T_APPNACK: try again later
    again = receipt(client)  # resent after receipt_retry_s

    assert text_of(first.receipted_message_id) == text_of(again.receipted_message_id) == message_id


def test_receipts_not_answered_before_an_unbind_go_to_the_next_bind(
    server: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    new_account(server, "rcpt-rebind")
    client = bind(server, clients, "rcpt-rebind")
    message_id = text_of(submit(client, SG, registered_delivery=1).message_id)
    expect(client, "deliver_sm")  # read, never answered
    client.disconnect()
    clients.remove(client)

    again = bind(server, clients, "rcpt-rebind", "receiver")
    assert text_of(receipt(again).receipted_message_id) == message_id


def test_an_account_never_receives_another_accounts_receipts(
    server: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    new_account(server, "iso-a")
    new_account(server, "iso-b")
    a = bind(server, clients, "iso-a")
    b = bind(server, clients, "iso-b", "receiver")
    message_id = text_of(submit(a, SG, registered_delivery=1).message_id)
    assert text_of(receipt(a).receipted_message_id) == message_id

    b.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=b))
    expect(b, "enquire_link_resp")  # nothing was queued for b before it


# --- receipts go back to the bind that asked -----------------------------------------------------


def add_system_id(server: ServerProcess, account: Account, system_id: str) -> None:
    """Another SMPP credential for the same account."""
    server.cli("smpp", "add", account.account_id, "--system-id", system_id, "--password", PASSWORD)


class Traffic:
    """One client's submits and receipts, read in whatever order they come: on a transceiver
    the receipts of the first messages arrive among the answers to the later ones."""

    def __init__(self, client: smpplib.client.Client) -> None:
        self.client = client
        self.receipts: list[str] = []

    def submit(self, count: int, to: str = SG) -> set[str]:
        """Send ``count`` messages asking for receipts; their ids."""
        for _ in range(count):
            self.client.send_message(
                source_addr_ton=5, source_addr="Acme", dest_addr_ton=1, destination_addr=to,
                short_message=b"whose receipt?", registered_delivery=1,
            )  # fmt: skip
        ids: set[str] = set()
        while len(ids) < count:
            pdu = self._next()
            if pdu is not None:
                assert pdu.status == smpplib.consts.SMPP_ESME_ROK
                ids.add(text_of(pdu.message_id))
        return ids

    def received(self, count: int) -> set[str]:
        """The ids of the first ``count`` receipts (acknowledged), however many came already."""
        while len(self.receipts) < count:
            assert self._next() is None, "a submit_sm_resp nobody waited for"
        return set(self.receipts[:count])

    def _next(self) -> smpplib.command.Command | None:
        """A submit_sm_resp, or None for a receipt (recorded and acknowledged)."""
        pdu = self.client.read_pdu()
        if pdu.command == "enquire_link":
            resp = smpplib.smpp.make_pdu("enquire_link_resp", client=self.client)
            resp.sequence = pdu.sequence
            self.client.send_pdu(resp)
            return self._next()
        if pdu.command == "deliver_sm":
            resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=self.client)
            resp.sequence = pdu.sequence
            self.client.send_pdu(resp)
            self.receipts.append(text_of(pdu.receipted_message_id))
            return None
        assert pdu.command == "submit_sm_resp", pdu.command
        return pdu


def assert_no_more_receipts(*clients: smpplib.client.Client) -> None:
    """Every receipt owed was acknowledged: what a client reads next is its own enquire_link's
    answer, not a deliver_sm (a receipt sent to the wrong bind would be queued before it)."""
    for client in clients:
        client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=client))
        expect(client, "enquire_link_resp")


@pytest.mark.parametrize("same_system_id", [False, True], ids=["two-system-ids", "one-system-id"])
def test_two_clients_on_one_account_each_get_their_own_receipts(
    server: ServerProcess, clients: list[smpplib.client.Client], same_system_id: bool
) -> None:
    """Kannel and a second client bound on one account: before, receipts went round robin and
    Kannel got 10 of its 20."""
    name = "own-same" if same_system_id else "own-a"
    account = new_account(server, name)
    other_name = name if same_system_id else "own-b"
    if not same_system_id:
        add_system_id(server, account, other_name)
    first = Traffic(bind(server, clients, name))
    second = Traffic(bind(server, clients, other_name))

    first_ids = first.submit(10)
    second_ids = second.submit(10)

    assert first.received(10) == first_ids
    assert second.received(10) == second_ids
    assert_no_more_receipts(first.client, second.client)


def test_a_transmitters_receipts_go_to_the_receiver_of_its_system_id(
    server: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    """Two Kannel-like clients, each a transmitter and a receiver of its own system_id, on one
    account."""
    account = new_account(server, "pair-a")
    add_system_id(server, account, "pair-b")
    receivers = [Traffic(bind(server, clients, s, "receiver")) for s in ("pair-a", "pair-b")]
    senders = [Traffic(bind(server, clients, s, "transmitter")) for s in ("pair-a", "pair-b")]

    sent = [sender.submit(5) for sender in senders]

    assert [receiver.received(5) for receiver in receivers] == sent
    assert_no_more_receipts(*(receiver.client for receiver in receivers))


def test_after_a_restart_receipts_go_to_the_binds_of_their_system_id(
    tmp_path: Path, clients: list[smpplib.client.Client]
) -> None:
    """The binds that submitted are gone with the process; the receipts, made after the
    restart (the simulator holds these numbers for 2 s), go to their system_id's new binds."""
    config = (
        SIMULATOR_CONFIG
        + """
[server]
refresh_s = 0
[[simulator.rules]]
match = "suffix"
value = "5555"
receipt = "success"
delay_ms = 2000
"""
    )
    proc = ServerProcess(tmp_path / "data", config)
    proc.start()
    try:
        account = new_account(proc, "restart-a")
        add_system_id(proc, account, "restart-b")
        senders = [Traffic(bind(proc, clients, s)) for s in ("restart-a", "restart-b")]
        sent = [sender.submit(3, to="6591235555") for sender in senders]
        proc.kill()  # before any receipt: they come from the recovered messages
        proc.start()
        receivers = [
            Traffic(bind(proc, clients, s, "receiver")) for s in ("restart-a", "restart-b")
        ]

        assert [receiver.received(3) for receiver in receivers] == sent
        assert_no_more_receipts(*(receiver.client for receiver in receivers))
    finally:
        proc.stop()


# --- long messages ---------------------------------------------------------------------------

LONG = "Your parcel 123 is waiting at the depot on Main Street. " * 4  # 224 GSM-7 characters


def _send_parts(
    client: smpplib.client.Client, parts: list[tuple[bytes, dict[str, object]]]
) -> list[str]:
    ids = []
    for short_message, fields in parts:
        resp = submit(client, SG, short_message, **fields)
        assert resp.status == smpplib.consts.SMPP_ESME_ROK
        ids.append(text_of(resp.message_id))
    return ids


def _udh_parts(text: bytes, size: int, sixteen_bit: bool) -> list[tuple[bytes, dict[str, object]]]:
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    parts = []
    for number, chunk in enumerate(chunks, start=1):
        if sixteen_bit:
            udh = bytes([6, 0x08, 4, 0x12, 0x34, len(chunks), number])
        else:
            udh = bytes([5, 0x00, 3, 0x42, len(chunks), number])
        parts.append((udh + chunk, {"esm_class": 0x40}))
    return parts


def _sar_parts(text: bytes, size: int) -> list[tuple[bytes, dict[str, object]]]:
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    return [
        (
            chunk,
            {
                "sar_msg_ref_num": 77,
                "sar_total_segments": len(chunks),
                "sar_segment_seqnum": number,
            },
        )
        for number, chunk in enumerate(chunks, start=1)
    ]


@pytest.mark.parametrize("style", ["smpplib-udh8", "udh16", "sar", "reversed-udh8"])
def test_long_messages_are_put_together_before_the_rules(
    server: ServerProcess, clients: list[smpplib.client.Client], style: str
) -> None:
    system_id = f"long-{style}"[:15]
    account = new_account(server, system_id)
    client = bind(server, clients, system_id)
    encoded = LONG.encode("ascii")  # the same octets in unpacked GSM-7 for this text
    if style == "smpplib-udh8":
        made, _encoding, esm_class = smpplib.gsm.make_parts(LONG)
        parts = [(part, {"esm_class": esm_class}) for part in made]
    elif style == "udh16":
        parts = _udh_parts(encoded, 153, sixteen_bit=True)
    elif style == "sar":
        parts = _sar_parts(encoded, 153)
    else:
        parts = list(reversed(_udh_parts(encoded, 153, sixteen_bit=False)))

    ids = _send_parts(client, parts)

    assert len(ids) == 2
    assert len(set(ids)) == 1  # every part is answered with the id of the whole message
    assert query(server, account, ids[0]).message == LONG
    listed = server.cli("messages", "list", account.account_id)
    assert isinstance(listed, list)
    assert [(m["message_id"], m["segments"]) for m in listed] == [(ids[0], 2)]  # billed as 2


#: registered_delivery of each part of a two-part message, as real clients set it.
RECEIPT_PATTERNS = {
    "kannel-first-part-only": (1, 0),
    "jasmin-smpplib-every-part": (1, 1),
    "last-part-only": (0, 1),
    "failures-then-all": (2, 1),
}


@pytest.mark.parametrize("pattern", list(RECEIPT_PATTERNS))
def test_a_long_message_gets_its_receipt_when_any_part_asks(
    server: ServerProcess, clients: list[smpplib.client.Client], pattern: str
) -> None:
    """Kannel sets registered_delivery on the first part only, Jasmin and smpplib on every part:
    the receipt is the whole message's, asked for by the strongest request of its parts."""
    system_id = f"dlr-{pattern}"[:15]
    new_account(server, system_id)
    client = bind(server, clients, system_id)
    parts = _udh_parts(LONG.encode("ascii"), 153, sixteen_bit=False)
    for (_, fields), asked in zip(parts, RECEIPT_PATTERNS[pattern], strict=True):
        fields["registered_delivery"] = asked

    ids = _send_parts(client, parts)

    assert len(set(ids)) == 1
    pdu = receipt(client)
    assert text_of(pdu.receipted_message_id) == ids[0]
    fields = RECEIPT_RE.fullmatch(text_of(pdu.short_message))
    assert fields is not None
    assert (fields["id"], fields["stat"]) == (ids[0], "DELIVRD")


def test_a_unicode_long_message_in_message_payload(
    server: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    account = new_account(server, "long-payload")
    client = bind(server, clients, "long-payload")
    text = "您的验证码是 1234，五分钟内有效。" * 6
    resp = submit(client, SG, b"", data_coding=8, message_payload=text.encode("utf-16-be"))
    assert resp.status == smpplib.consts.SMPP_ESME_ROK
    result = query(server, account, text_of(resp.message_id))
    assert result.message == text


def test_a_rule_refusing_a_long_message_answers_on_its_last_part(
    server: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    new_account(server, "long-poor", balance="0")
    client = bind(server, clients, "long-poor")
    first, last = _udh_parts(LONG.encode("ascii"), 153, sixteen_bit=False)
    assert submit(client, SG, first[0], **first[1]).status == smpplib.consts.SMPP_ESME_ROK
    resp = submit(client, SG, last[0], **last[1])
    assert resp.status == errors.AMOUNT_NOT_ENOUGH.smpp_status == 45


def test_binary_messages_are_kept_as_octets_and_billed_by_140(
    server: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    account = new_account(server, "binary")
    client = bind(server, clients, "binary")
    data = bytes(range(256)) + bytes(range(44))  # 300 octets: three parts of 134, 134, 32
    udh = [bytes([5, 0, 3, 9, 3, n]) for n in (1, 2, 3)]
    chunks = [data[0:134], data[134:268], data[268:]]
    ids = {
        text_of(submit(client, SG, h + c, data_coding=4, esm_class=0x40).message_id)
        for h, c in zip(udh, chunks, strict=True)
    }
    single = text_of(submit(client, SG, b"\x00\xff\x10", data_coding=4).message_id)

    assert len(ids) == 1
    (long_id,) = ids
    assert query(server, account, long_id).message == data.hex()
    assert query(server, account, single).message == "00ff10"
    listed = server.cli("messages", "list", account.account_id)
    assert isinstance(listed, list)
    assert sorted((m["message_id"], m["segments"]) for m in listed) == sorted(
        [(long_id, 3), (single, 1)]
    )


# --- query_sm, faults --------------------------------------------------------------------------


def test_query_sm_answers_for_the_callers_own_messages_only(
    server: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    new_account(server, "query-a")
    new_account(server, "query-b")
    a = bind(server, clients, "query-a")
    b = bind(server, clients, "query-b")
    message_id = text_of(submit(a, SG, registered_delivery=1).message_id)
    receipt(a)  # now final

    a.query_message(message_id=message_id, source_addr_ton=5, source_addr_npi=0, source_addr="Acme")
    own = expect(a, "query_sm_resp")
    b.query_message(message_id=message_id, source_addr_ton=5, source_addr_npi=0, source_addr="Acme")
    other = expect(b, "query_sm_resp")

    assert own.status == smpplib.consts.SMPP_ESME_ROK
    assert (text_of(own.message_id), own.message_state) == (message_id, 2)
    assert re.fullmatch(r"\d{12}\d00\+", text_of(own.final_date))
    assert other.status == smpplib.consts.SMPP_ESME_RINVMSGID


def test_injected_faults_apply_to_smpp_submits(
    server: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    account = new_account(server, "faulty")
    client = bind(server, clients, "faulty")
    server.cli(
        "faults", "add", "--account", account.account_id, "--action", "SubmitSm",
        "--code", "isp.GATEWAY_ERROR", "--count", "1",
    )  # fmt: skip
    assert submit(client, SG).status == errors.GATEWAY_ERROR.smpp_status
    assert submit(client, SG).status == smpplib.consts.SMPP_ESME_ROK


# --- submit_multi and cancel_sm, packed by hand -------------------------------------------------


def _cstr(value: str) -> bytes:
    return value.encode() + b"\0"


class RawSmpp:
    """Just enough SMPP to send submit_multi and cancel_sm, over a plain socket."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def call(self, command_id: int, body: bytes) -> tuple[int, bytes]:
        """Send one request; (command_status, body) of its response."""
        self.seq += 1
        self.sock.sendall(struct.pack(">IIII", 16 + len(body), command_id, 0, self.seq) + body)
        while True:
            header = self._read(16)
            length, cid, status, seq = struct.unpack(">IIII", header)
            body = self._read(length - 16)
            if cid == command_id | 0x80000000 and seq == self.seq:
                return status, body

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            assert chunk, "the server closed the connection"
            data += chunk
        return data

    def bind(self, system_id: str) -> None:
        body = _cstr(system_id) + _cstr(PASSWORD) + _cstr("") + bytes([0x34, 0, 0]) + _cstr("")
        status, _ = self.call(0x00000009, body)
        assert status == 0

    def submit_multi(self, numbers: list[str], lists: list[str], text: bytes) -> tuple[int, bytes]:
        dests = b"".join(bytes([1, 1, 1]) + _cstr(n) for n in numbers)
        dests += b"".join(bytes([2]) + _cstr(name) for name in lists)
        body = (
            _cstr("") + bytes([5, 0]) + _cstr("Acme") + bytes([len(numbers) + len(lists)]) + dests
        )
        body += bytes([0, 0, 0]) + _cstr("") + _cstr("") + bytes([1, 0, 0, 0, len(text)]) + text
        return self.call(0x00000021, body)

    def cancel(self, message_id: str) -> int:
        body = _cstr("") + _cstr(message_id) + bytes([5, 0]) + _cstr("Acme")
        body += bytes([1, 1]) + _cstr(SG_SLOW)
        return self.call(0x00000008, body)[0]


def _unsuccess(body: bytes) -> tuple[str, list[tuple[str, int]]]:
    end = body.index(b"\0")
    message_id, count, rest = body[:end].decode(), body[end + 1], body[end + 2 :]
    entries = []
    for _ in range(count):
        end = rest.index(b"\0", 2)
        address = rest[2:end].decode()
        (code,) = struct.unpack(">I", rest[end + 1 : end + 5])
        entries.append((address, code))
        rest = rest[end + 5 :]
    return message_id, entries


@pytest.fixture
def raw(server: ServerProcess) -> Iterator[RawSmpp]:
    link = RawSmpp(server.smpp_port)
    yield link
    link.close()


def test_submit_multi_sends_to_every_good_number_and_lists_the_bad_ones(
    server: ServerProcess, raw: RawSmpp
) -> None:
    account = new_account(server, "multi")
    raw.bind("multi")
    good = ["6591234567", "6591234568"]
    status, body = raw.submit_multi([*good, "12"], ["friends"], b"Meeting at 10")
    assert status == 0
    message_id, unsuccess = _unsuccess(body)
    assert sorted(unsuccess) == [
        ("12", errors.MOBILE_NUMBER_ILLEGAL.smpp_status),
        ("friends", 0x34),  # ESME_RINVDLNAME: no distribution lists
    ]
    assert query(server, account, message_id).to in good
    listed = server.cli("messages", "list", account.account_id)
    assert isinstance(listed, list)
    assert sorted(str(m["to"]) for m in listed) == good


def test_cancel_sm_cancels_a_message_the_carrier_does_not_have_yet(
    strict: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    account = new_account(strict, "cancel", balance="10")
    client = bind(strict, clients, "cancel")
    slow = text_of(submit(client, SG_SLOW).message_id)
    charged = strict.cli("accounts", "show", account.account_id)
    link = RawSmpp(strict.smpp_port)
    try:
        link.bind("cancel")
        assert link.cancel(slow) == 0
        assert link.cancel(slow) == smpplib.consts.SMPP_ESME_RCANCELFAIL  # already cancelled
        assert link.cancel("123") == smpplib.consts.SMPP_ESME_RINVMSGID
    finally:
        link.close()
    assert query(strict, account, slow).status == "2"  # failed: it will never be sent
    refunded = strict.cli("accounts", "show", account.account_id)
    assert isinstance(charged, dict)
    assert isinstance(refunded, dict)
    assert charged["balance"] != "10"
    assert refunded["balance"] == "10"


# --- per-bind TPS, the bind limit, TLS -----------------------------------------------------------


def test_a_bind_sending_faster_than_its_tps_is_throttled(
    strict: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    new_account(strict, "tps")
    client = bind(strict, clients, "tps")
    sent = [
        client.send_message(
            source_addr_ton=5, source_addr="Acme", dest_addr_ton=1,
            destination_addr=SG, short_message=b"burst",
        )
        for _ in range(15)
    ]  # fmt: skip
    statuses = [expect(client, "submit_sm_resp").status for _ in sent]
    assert statuses.count(smpplib.consts.SMPP_ESME_RTHROTTLED) >= 5
    assert 1 <= statuses.count(smpplib.consts.SMPP_ESME_ROK) <= 10


def test_binds_beyond_the_accounts_limit_are_refused(
    strict: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    new_account(strict, "binds")
    bind(strict, clients, "binds")
    bind(strict, clients, "binds", "receiver")
    third = connect(strict)
    clients.append(third)
    with pytest.raises(smpplib.exceptions.PDUError) as info:
        third.bind_transmitter(system_id="binds", password=PASSWORD)
    assert info.value.args[1] == smpplib.consts.SMPP_ESME_RBINDFAIL


def test_smpp_over_tls(strict: ServerProcess, clients: list[smpplib.client.Client]) -> None:
    account = new_account(strict, "tls")
    context = ssl.create_default_context(cafile=str(strict.tls_cert))  # type: ignore[attr-defined]
    context.check_hostname = False  # smpplib wraps without a server name; the CA is checked
    client = connect(strict, strict.tls_port, context)  # type: ignore[attr-defined]
    clients.append(client)
    client.bind_transceiver(system_id="tls", password=PASSWORD)
    resp = submit(client, SG, b"over TLS")
    assert resp.status == smpplib.consts.SMPP_ESME_ROK
    assert query(strict, account, text_of(resp.message_id)).message == "over TLS"
