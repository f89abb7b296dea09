"""The standalone SMSC (``smsgate simulator``) with smpplib as the client, over real TCP: binds,
message ids, every rule's receipt, latency, the throughput cap, rejections, long messages, MO
messages and receipts kept for a receiver. smpplib encodes and decodes every PDU the client
side sees, so the SMSC is checked against another reading of SMPP 3.4 than its own.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm

from smsgate.adapters.carriers.simulator_smsc import SmscSettings
from smsgate.config import SimulatorConfig, SimulatorRule

from .smsc_harness import (
    Harness,
    deliver,
    expect,
    receipt_fields,
    submit,
    text_of,
)

SG = "6591234567"  # no rule: delivered
CREDENTIALS = {"acme": "s3cret", "other": "pw"}

#: Each default rule's number, receipt, and the receipt as the README's table writes it:
#: stat, err, message_state.
DEFAULT_OUTCOMES = [
    ("6591230000", "success", "DELIVRD", "000", 2),
    ("6591239901", "IN_SMS_CONTENT", "REJECTD", "001", 8),
    ("6591239902", "INVALID_NUM", "UNDELIV", "002", 5),
    ("6591239903", "OPERATOR_NOT_SUPPORT", "UNDELIV", "003", 5),
    ("6591239904", "PHONE_NOT_AVAILABLE", "UNDELIV", "004", 5),
    ("6591239905", "PORTED_NUM", "UNDELIV", "005", 5),
    ("6591239906", "RECEIVER_BLACKLIST", "REJECTD", "006", 8),
    ("6591239907", "SYSTEM_ERR", "UNDELIV", "007", 5),
    ("6591239908", "UNKNOWN_ERR", "UNKNOWN", "008", 7),
    ("6591239909", "URL_FAILURE", "REJECTD", "009", 8),
    ("6591239910", "EXPIRED", "EXPIRED", "010", 3),
]

#: The GSM cause (TS 29.002) a receipt gives in network_error_code, for the codes that have one.
GSM_CAUSES = {
    "INVALID_NUM": 1,  # unknown subscriber
    "RECEIVER_BLACKLIST": 13,  # call barred
    "OPERATOR_NOT_SUPPORT": 21,  # facility not supported
    "PHONE_NOT_AVAILABLE": 27,  # absent subscriber
    "SYSTEM_ERR": 34,  # system failure
}


def _network_error(code: str) -> bytes | None:
    cause = GSM_CAUSES.get(code)
    return None if cause is None else bytes([3, 0, cause])


@pytest.fixture
def harness() -> Iterator[Harness]:
    running = Harness()
    yield running
    running.close()


def settings(**changes: object) -> SmscSettings:
    """Fast receipts (5 ms), the default rules, acme and other as the only system_ids."""
    base: dict[str, object] = {
        "rules": SimulatorConfig(delay_ms=5),
        "credentials": CREDENTIALS,
        "receipt_retry_s": 0.2,
    }
    return SmscSettings(**{**base, **changes})  # type: ignore[arg-type]


# --- binds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["transmitter", "receiver", "transceiver"])
def test_each_bind_type_is_accepted_with_the_smsc_s_system_id(harness: Harness, mode: str) -> None:
    smsc = harness.start(settings())
    client = harness.connect(smsc)

    resp = getattr(client, f"bind_{mode}")(system_id="acme", password="s3cret")

    assert resp.status == 0
    assert text_of(resp.system_id) == "smsgate-sim"


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [
        ("nobody", "s3cret", smpplib.consts.SMPP_ESME_RINVSYSID),
        ("acme", "wrong", smpplib.consts.SMPP_ESME_RINVPASWD),
        ("acme", "pw", smpplib.consts.SMPP_ESME_RINVPASWD),  # other's password
    ],
)
def test_a_bind_with_wrong_credentials_is_refused_and_may_try_again(
    harness: Harness, system_id: str, password: str, status: int
) -> None:
    smsc = harness.start(settings())
    client = harness.connect(smsc)

    with pytest.raises(smpplib.exceptions.PDUError) as info:
        client.bind_transceiver(system_id=system_id, password=password)

    assert info.value.args[1] == status
    assert client.bind_transceiver(system_id="acme", password="s3cret").status == 0


def test_without_credentials_any_system_id_and_password_bind(harness: Harness) -> None:
    smsc = harness.start(settings(credentials={}))

    client = harness.bind(smsc, system_id="whoever", password="anything")

    assert submit(client, SG).status == 0


def test_a_submit_before_binding_is_refused(harness: Harness) -> None:
    smsc = harness.start(settings())
    client = harness.connect(smsc)

    pdu = smpplib.smpp.make_pdu(
        "submit_sm", client=client, destination_addr=SG, short_message=b"hi"
    )
    client._socket.sendall(pdu.generate())  # smpplib itself would not send it unbound

    assert expect(client, "submit_sm_resp").status == smpplib.consts.SMPP_ESME_RINVBNDSTS


def test_enquire_link_and_unbind_are_answered(harness: Harness) -> None:
    smsc = harness.start(settings())
    client = harness.bind(smsc)

    client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=client))
    assert expect(client, "enquire_link_resp").status == 0

    client.unbind()  # smpplib reads the unbind_resp itself
    assert client.state == smpplib.consts.SMPP_CLIENT_STATE_OPEN


def test_an_unknown_command_gets_generic_nack(harness: Harness) -> None:
    smsc = harness.start(settings())
    client = harness.bind(smsc)

    client._socket.sendall(struct.pack(">IIII", 16, 0x000000FF, 0, 77))  # no such command_id

    nack = expect(client, "generic_nack")
    assert (nack.status, nack.sequence) == (smpplib.consts.SMPP_ESME_RINVCMDID, 77)
    assert submit(client, SG).status == 0  # the session goes on


def test_query_cancel_and_replace_are_refused_as_no_messages_are_kept(harness: Harness) -> None:
    smsc = harness.start(settings())
    client = harness.bind(smsc)
    message_id = text_of(submit(client, SG, registered_delivery=0).message_id)

    client.send_pdu(
        smpplib.smpp.make_pdu("query_sm", client=client, message_id=message_id, source_addr="Acme")
    )

    assert expect(client, "query_sm_resp").status == smpplib.consts.SMPP_ESME_RQUERYFAIL


# --- message ids ----------------------------------------------------------------------------------


def test_message_ids_count_up_in_decimal(harness: Harness) -> None:
    smsc = harness.start(settings(), first_id=4095)
    client = harness.bind(smsc)

    ids = [text_of(submit(client, SG, registered_delivery=0).message_id) for _ in range(3)]

    assert ids == ["4095", "4096", "4097"]


def test_message_ids_in_hex_and_receipts_name_them_so(harness: Harness) -> None:
    smsc = harness.start(settings(ids="hex"), first_id=4095)
    client = harness.bind(smsc)

    message_id = text_of(submit(client, SG).message_id)
    receipt = deliver(client)

    assert message_id == "fff"
    assert receipt_fields(receipt)["id"] == "fff"
    assert text_of(receipt.receipted_message_id) == "fff"


def test_receipts_may_write_the_id_in_the_other_base(harness: Harness) -> None:
    smsc = harness.start(settings(ids="hex", receipt_ids="dec"), first_id=4095)
    client = harness.bind(smsc)

    message_id = text_of(submit(client, SG).message_id)
    receipt = deliver(client)

    assert (message_id, receipt_fields(receipt)["id"]) == ("fff", "4095")
    assert text_of(receipt.receipted_message_id) == "4095"


# --- receipts by the number rules -----------------------------------------------------------------


def test_every_default_rule_gives_its_receipt_with_smsgate_s_stat_and_err(
    harness: Harness,
) -> None:
    smsc = harness.start(settings())
    client = harness.bind(smsc)
    sent = {text_of(submit(client, to).message_id): to for to, *_ in DEFAULT_OUTCOMES}

    receipts = [deliver(client) for _ in DEFAULT_OUTCOMES]

    seen = {}
    for pdu in receipts:
        fields = receipt_fields(pdu)
        assert pdu.esm_class == 0x04
        assert text_of(pdu.receipted_message_id) == fields["id"]
        assert text_of(pdu.source_addr) == sent[fields["id"]]  # from the handset
        assert text_of(pdu.destination_addr) == "Acme"  # to the sender
        assert fields["text"] == "Your code is 1234"
        seen[sent[fields["id"]]] = (
            fields["stat"],
            fields["err"],
            pdu.message_state,
            pdu.network_error_code,
        )
    assert seen == {
        to: (stat, err, state, _network_error(code))
        for to, code, stat, err, state in DEFAULT_OUTCOMES
    }


def test_a_rule_s_delay_is_the_time_before_its_receipt(harness: Harness) -> None:
    rules = SimulatorConfig(delay_ms=0, rules=(SimulatorRule("suffix", "7777", "success", 400),))
    smsc = harness.start(settings(rules=rules))
    client = harness.bind(smsc)

    started = time.monotonic()
    slow = text_of(submit(client, "6591237777").message_id)
    fast = text_of(submit(client, SG).message_id)
    first, second = deliver(client), deliver(client)
    elapsed = time.monotonic() - started

    assert [receipt_fields(first)["id"], receipt_fields(second)["id"]] == [fast, slow]
    assert elapsed >= 0.4


def test_registered_delivery_2_asks_for_failures_only(harness: Harness) -> None:
    smsc = harness.start(settings())
    client = harness.bind(smsc)

    submit(client, SG, registered_delivery=2)
    failed = text_of(submit(client, "6591239902", registered_delivery=2).message_id)
    submit(client, SG, registered_delivery=0)
    delivered = text_of(submit(client, SG, registered_delivery=1).message_id)

    ids = [receipt_fields(deliver(client))["id"] for _ in range(2)]
    assert sorted(ids) == sorted([failed, delivered])
    last = text_of(submit(client, SG).message_id)
    assert receipt_fields(deliver(client))["id"] == last  # nothing else was owed


def test_each_part_of_a_long_message_has_its_own_id_and_receipt(harness: Harness) -> None:
    smsc = harness.start(settings())
    client = harness.bind(smsc)
    parts, _encoding, esm_class = smpplib.gsm.make_parts("Part of a long message. " * 12)
    assert len(parts) == 2

    ids = [
        text_of(submit(client, "6591239904", part, esm_class=esm_class).message_id)
        for part in parts
    ]
    receipts = [receipt_fields(deliver(client)) for _ in parts]

    assert len(set(ids)) == 2
    assert sorted(r["id"] for r in receipts) == sorted(ids)
    assert {(r["stat"], r["err"]) for r in receipts} == {("UNDELIV", "004")}
    texts = {r["id"]: r["text"] for r in receipts}
    assert [texts[i] for i in ids] == ["Part of a long messa", " long message. Part "]


def test_data_sm_is_answered_with_an_id_and_a_receipt(harness: Harness) -> None:
    smsc = harness.start(settings())
    client = harness.bind(smsc)

    client.send_pdu(
        smpplib.smpp.make_pdu(
            "data_sm",
            client=client,
            source_addr="Acme",
            dest_addr_ton=1,
            destination_addr="6591239906",
            registered_delivery=1,
            message_payload=b"From data sm",
        )
    )
    resp = expect(client, "data_sm_resp")
    fields = receipt_fields(deliver(client))

    assert resp.status == 0
    assert fields["id"] == text_of(resp.message_id)
    assert (fields["stat"], fields["err"], fields["text"]) == ("REJECTD", "006", "From data sm")


def _submit_multi(client: smpplib.client.Client, destinations: list[str]) -> bytes:
    """A submit_multi packed by hand (smpplib has none), registered_delivery 1."""
    body = b"\x00" + b"\x05\x00Acme\x00" + bytes([len(destinations)])
    for number in destinations:
        body += b"\x01\x01\x01" + number.encode() + b"\x00"
    text = b"To many"
    body += b"\x00\x00\x00\x00\x00\x01\x00\x00\x00" + bytes([len(text)]) + text
    client._socket.sendall(struct.pack(">IIII", 16 + len(body), 0x21, 0, 999) + body)
    return _read_raw(client)


def _read_raw(client: smpplib.client.Client) -> bytes:
    sock: socket.socket = client._socket
    header = _exactly(sock, 16)
    length, command_id, _status, sequence = struct.unpack(">IIII", header)
    assert (command_id, sequence) == (0x80000021, 999)
    return header + _exactly(sock, length - 16)


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "connection closed"
        data += chunk
    return data


def test_submit_multi_has_one_id_and_lists_the_refused_destinations(harness: Harness) -> None:
    rules = SimulatorConfig(
        delay_ms=5, rules=(SimulatorRule("suffix", "9911", "INVALID_NUM", reject=True),)
    )
    smsc = harness.start(settings(rules=rules), first_id=500)
    client = harness.bind(smsc)

    resp = _submit_multi(client, [SG, "6591239911", "6591230000"])
    receipts = [deliver(client) for _ in range(2)]

    status = struct.unpack(">I", resp[8:12])[0]
    message_id, rest = resp[16:].split(b"\x00", 1)
    assert (status, message_id) == (0, b"500")
    assert rest == b"\x01" + b"\x01\x01" + b"6591239911\x00" + struct.pack(">I", 0x0B)
    assert {receipt_fields(r)["id"] for r in receipts} == {"500"}
    assert {text_of(r.source_addr) for r in receipts} == {SG, "6591230000"}


# --- refusals -------------------------------------------------------------------------------------


def test_beyond_max_tps_submits_are_throttled(harness: Harness) -> None:
    smsc = harness.start(settings(max_tps=5))
    client = harness.bind(smsc)
    other = harness.bind(smsc, system_id="other", password="pw")

    for _ in range(12):  # at once, without waiting for the answers
        client.send_message(destination_addr=SG, dest_addr_ton=1, short_message=b"burst")
    statuses = [expect(client, "submit_sm_resp").status for _ in range(12)]
    other_status = submit(other, SG, registered_delivery=0).status

    assert statuses == [0] * 5 + [smpplib.consts.SMPP_ESME_RTHROTTLED] * 7  # a burst of 5
    assert other_status == 0  # the cap is per system_id


def test_rules_refuse_for_good_or_for_now_with_smpp_statuses(harness: Harness) -> None:
    rules = SimulatorConfig(
        delay_ms=5,
        rules=(
            SimulatorRule("suffix", "9911", "INVALID_NUM", reject=True),
            SimulatorRule("suffix", "9912", "PORTED_NUM", reject=True, status="ESME_RSUBMITFAIL"),
            SimulatorRule("suffix", "9913", "success", retries=2),
            SimulatorRule(
                "suffix", "9914", "PHONE_NOT_AVAILABLE", retries=1, status="ESME_RMSGQFUL"
            ),
            SimulatorRule("suffix", "9915", "SYSTEM_ERR", reject=True),
        ),
    )
    smsc = harness.start(settings(rules=rules))
    client = harness.bind(smsc)

    def statuses(to: str, times: int) -> list[int]:
        return [submit(client, to).status for _ in range(times)]

    assert statuses("6591239911", 2) == [smpplib.consts.SMPP_ESME_RINVDSTADR] * 2
    assert statuses("6591239912", 1) == [smpplib.consts.SMPP_ESME_RSUBMITFAIL]
    assert statuses("6591239915", 1) == [smpplib.consts.SMPP_ESME_RSYSERR]
    assert statuses("6591239913", 3) == [smpplib.consts.SMPP_ESME_RTHROTTLED] * 2 + [0]
    assert statuses("6591239914", 2) == [smpplib.consts.SMPP_ESME_RMSGQFUL, 0]
    outcomes = {receipt_fields(deliver(client))["stat"] for _ in range(2)}
    assert outcomes == {"DELIVRD", "UNDELIV"}  # only the two taken in the end have receipts


def test_a_retried_message_is_known_by_its_text_and_sender(harness: Harness) -> None:
    rules = SimulatorConfig(
        delay_ms=5, rules=(SimulatorRule("suffix", "9913", "success", retries=1),)
    )
    smsc = harness.start(settings(rules=rules))
    client = harness.bind(smsc)

    first = [submit(client, "6591239913", b"one", registered_delivery=0).status for _ in range(2)]
    second = submit(client, "6591239913", b"two", registered_delivery=0).status

    assert first == [smpplib.consts.SMPP_ESME_RTHROTTLED, 0]
    assert second == smpplib.consts.SMPP_ESME_RTHROTTLED  # another message: its own retries


def test_receipts_owed_are_bounded_by_max_pending(harness: Harness) -> None:
    smsc = harness.start(settings(max_pending=2))
    client = harness.bind(smsc, "transmitter")

    asking = [submit(client, SG).status for _ in range(3)]
    not_asking = submit(client, SG, registered_delivery=0).status

    assert asking == [0, 0, smpplib.consts.SMPP_ESME_RMSGQFUL]
    assert not_asking == 0


# --- where receipts go ----------------------------------------------------------------------------


def test_receipts_wait_for_a_receiver_of_the_system_id(harness: Harness) -> None:
    smsc = harness.start(settings())
    transmitter = harness.bind(smsc, "transmitter")
    ids = {text_of(submit(transmitter, SG).message_id) for _ in range(3)}
    harness.wait(smsc.until_waiting("acme", 3))  # due, and kept: nobody can take them
    harness.bind(smsc, "receiver", system_id="other", password="pw")  # not theirs

    receiver = harness.bind(smsc, "receiver")

    assert {receipt_fields(deliver(receiver))["id"] for _ in ids} == ids
    assert harness.call(smsc.waiting, "acme") == 0


def test_a_refused_receipt_is_sent_again(harness: Harness) -> None:
    smsc = harness.start(settings())
    client = harness.bind(smsc)
    message_id = text_of(submit(client, SG).message_id)

    first = deliver(client, status=smpplib.consts.SMPP_ESME_RSYSERR)
    again = deliver(client)

    assert receipt_fields(first)["id"] == receipt_fields(again)["id"] == message_id
    last = text_of(submit(client, SG).message_id)
    assert receipt_fields(deliver(client))["id"] == last  # acknowledged: not sent a third time


def test_receipts_a_bind_took_unanswered_go_to_the_next_bind(harness: Harness) -> None:
    smsc = harness.start(settings())
    first = harness.bind(smsc)
    message_id = text_of(submit(first, SG).message_id)
    expect(first, "deliver_sm")  # taken, never answered
    first.disconnect()

    second = harness.bind(smsc, "receiver")

    assert receipt_fields(deliver(second))["id"] == message_id


def test_receipts_are_shared_by_the_receivers_of_a_system_id(harness: Harness) -> None:
    smsc = harness.start(settings(window=1))
    sender = harness.bind(smsc, "transmitter")
    receivers = [harness.bind(smsc, "receiver") for _ in range(2)]
    ids = {text_of(submit(sender, SG).message_id) for _ in range(4)}

    got = []
    for _ in range(2):
        for receiver in receivers:  # a window of 1: each takes the next only once it answered
            got.append(receipt_fields(deliver(receiver))["id"])

    assert set(got) == ids


# --- MO messages ----------------------------------------------------------------------------------


def test_an_injected_mo_message_reaches_a_receiver_as_deliver_sm(harness: Harness) -> None:
    smsc = harness.start(settings())
    client = harness.bind(smsc)

    went_to = harness.call(smsc.send_mo, "6591230001", "12345", "STOP please")
    mo = deliver(client)

    assert went_to == "acme"
    assert (mo.esm_class, mo.data_coding) == (0, 0)
    assert (text_of(mo.source_addr), mo.source_addr_ton) == ("6591230001", 1)
    assert text_of(mo.destination_addr) == "12345"
    assert mo.short_message == b"STOP please"


def test_a_long_mo_message_comes_in_concatenated_parts(harness: Harness) -> None:
    smsc = harness.start(settings())
    client = harness.bind(smsc, "receiver")
    text = "Ünïcode reply " * 10  # UCS-2: 140 characters, three parts of 67

    harness.call(smsc.send_mo, "6591230001", "12345", text, system_id="acme")
    parts = [deliver(client) for _ in range(3)]

    assert {p.esm_class for p in parts} == {0x40}
    assert {p.data_coding for p in parts} == {8}
    headers = [p.short_message[:6] for p in parts]
    assert [h[:3] + h[4:] for h in headers] == [bytes([5, 0, 3, 3, n]) for n in (1, 2, 3)]
    assert len({h[3] for h in headers}) == 1  # one reference
    assert "".join(p.short_message[6:].decode("utf-16-be") for p in parts) == text


def test_an_mo_message_for_a_system_id_waits_until_it_binds(harness: Harness) -> None:
    smsc = harness.start(settings())
    harness.call(smsc.send_mo, "6591230001", "12345", "Hello", system_id="other")

    receiver = harness.bind(smsc, "receiver", system_id="other", password="pw")

    assert deliver(receiver).short_message == b"Hello"


def test_an_mo_message_needs_a_receiver_when_no_system_id_is_named(harness: Harness) -> None:
    smsc = harness.start(settings())
    harness.bind(smsc, "transmitter")

    with pytest.raises(LookupError):
        harness.call(smsc.send_mo, "6591230001", "12345", "Hello")


def test_mo_messages_every_few_seconds_go_to_each_receiving_system_id(harness: Harness) -> None:
    smsc = harness.start(settings())
    acme = harness.bind(smsc)
    other = harness.bind(smsc, "receiver", system_id="other", password="pw")

    harness.call(smsc.send_mo_every, 0.05, "6591230001", "12345", "Tick {n}")

    first, second = deliver(acme), deliver(other)
    assert {first.short_message, second.short_message} == {b"Tick 1", b"Tick 2"}
    assert deliver(acme).short_message in {b"Tick 3", b"Tick 4"}
