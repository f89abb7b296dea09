"""submit_sm, data_sm and submit_multi into submissions, field by field, with fake clocks.

The translator reads the wall clock only for absolute validity times and the monotonic clock only
for the deadlines of long messages; the two fake clocks here move apart so that a mix-up shows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from smsgate import errors
from smsgate.doors.smpp.fields import Refused
from smsgate.doors.smpp.translate import Held, Multi, Translator
from smsgate.errors import SmsError
from smsgate.service.submit import MAX_VALIDITY_PERIOD_S, Submission
from smsgate.smpp.constants import ESME_RINVDCS, UDHI, CommandStatus, TlvTag
from smsgate.smpp.pdu import (
    DataSm,
    DistributionList,
    SmeAddress,
    SubmitMulti,
    SubmitSm,
    Tlv,
    UnsuccessSme,
    make_tlv,
)
from smsgate.smpp.reassembly import ConcatError

WALL = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC).timestamp()
ACCOUNT = "1000000000000001"
TO = "6591234567"
TIMEOUT_S = 60.0
DAY = 86_400


class Clocks:
    """A wall clock (POSIX seconds) and a monotonic one that starts elsewhere."""

    def __init__(self) -> None:
        self.wall = WALL
        self.mono = 1_000.0

    def now(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def translator(clocks: Clocks) -> Translator:
    ids = (f"id{n}" for n in itertools.count(1))
    return Translator(
        clock=clocks,
        monotonic=clocks.monotonic,
        new_message_id=lambda: next(ids),
        concat_timeout_s=TIMEOUT_S,
    )


def _submit(**fields: object) -> SubmitSm:
    fields = {"destination_addr": TO, "short_message": b"Hello", **fields}
    return SubmitSm(sequence_number=2, **fields)  # type: ignore[arg-type]


def _of(translator: Translator, pdu: SubmitSm | DataSm, account: str = ACCOUNT) -> Submission:
    sub = translator.submission_of(pdu, account_id=account, system_id="acme", bind_id=7)
    assert isinstance(sub, Submission)
    return sub


def _refused(status: int, call: Callable[[], object]) -> None:
    with pytest.raises((Refused, ConcatError)) as caught:
        call()
    assert isinstance(caught.value, Refused | ConcatError)
    assert caught.value.status == status


def udh8(reference: int, total: int, number: int) -> bytes:
    return bytes((5, 0x00, 3, reference, total, number))


def sar(reference: int, total: int, number: int) -> tuple[Tlv, ...]:
    return (
        make_tlv(TlvTag.SAR_MSG_REF_NUM, reference),
        make_tlv(TlvTag.SAR_TOTAL_SEGMENTS, total),
        make_tlv(TlvTag.SAR_SEGMENT_SEQNUM, number),
    )


# --- a whole message ------------------------------------------------------------------------------


def test_a_submit_sm_becomes_one_smpp_submission(translator: Translator) -> None:
    pdu = _submit(source_addr="Acme", registered_delivery=1)
    assert _of(translator, pdu) == Submission(
        to=TO,
        body="Hello",
        sender="Acme",
        door="smpp",
        registered_delivery=1,
        system_id="acme",
        bind_id=7,
    )


@pytest.mark.parametrize(("ton", "npi"), [(0, 0), (1, 1), (5, 0), (2, 9)])
def test_addresses_are_taken_as_written_whatever_their_ton_and_npi(
    translator: Translator, ton: int, npi: int
) -> None:
    """The core parses numbers and checks sender IDs the same way for both doors."""
    pdu = _submit(
        source_addr="+6590000000",
        source_addr_ton=ton,
        source_addr_npi=npi,
        destination_addr="+6591234567",
        dest_addr_ton=ton,
        dest_addr_npi=npi,
    )
    sub = _of(translator, pdu)
    assert (sub.sender, sub.to) == ("+6590000000", "+6591234567")


def test_an_empty_source_addr_leaves_the_sender_to_the_core(translator: Translator) -> None:
    assert _of(translator, _submit(source_addr="")).sender is None


@pytest.mark.parametrize(
    ("data_coding", "short_message", "body"),
    [
        (0, b"\x00\x02\x11 \x1be5", "@$_ €5"),  # GSM-7 unpacked, with an escape
        (3, b"caf\xe9", "café"),  # Latin-1
        (8, "你好".encode("utf-16-be"), "你好"),  # UCS-2
    ],
)
def test_text_is_decoded_by_data_coding(
    translator: Translator, data_coding: int, short_message: bytes, body: str
) -> None:
    sub = _of(translator, _submit(data_coding=data_coding, short_message=short_message))
    assert (sub.body, sub.data) == (body, None)


@pytest.mark.parametrize("data_coding", [2, 4])
def test_binary_data_codings_keep_the_octets(translator: Translator, data_coding: int) -> None:
    sub = _of(translator, _submit(data_coding=data_coding, short_message=b"\x00\xff\x80"))
    assert (sub.body, sub.data) == ("", b"\x00\xff\x80")


@pytest.mark.parametrize("data_coding", [1, 5, 0xF0])
def test_other_data_codings_are_refused(translator: Translator, data_coding: int) -> None:
    _refused(ESME_RINVDCS, lambda: _of(translator, _submit(data_coding=data_coding)))


def test_message_payload_carries_the_text_instead_of_short_message(
    translator: Translator,
) -> None:
    pdu = _submit(short_message=b"", tlvs=(make_tlv(TlvTag.MESSAGE_PAYLOAD, b"A" * 400),))
    assert _of(translator, pdu).body == "A" * 400


def test_short_message_and_message_payload_together_are_refused(translator: Translator) -> None:
    pdu = _submit(tlvs=(make_tlv(TlvTag.MESSAGE_PAYLOAD, b"more"),))
    _refused(CommandStatus.ESME_RSUBMITFAIL, lambda: _of(translator, pdu))


def test_data_sm_takes_its_text_from_message_payload(translator: Translator) -> None:
    pdu = DataSm(
        sequence_number=2,
        source_addr="Acme",
        destination_addr=TO,
        registered_delivery=1,
        tlvs=(make_tlv(TlvTag.MESSAGE_PAYLOAD, b"Hello"),),
    )
    sub = _of(translator, pdu)
    assert (sub.body, sub.sender, sub.registered_delivery, sub.validity_period) == (
        "Hello",
        "Acme",
        1,
        None,
    )


def test_data_sm_without_message_payload_is_refused(translator: Translator) -> None:
    pdu = DataSm(sequence_number=2, destination_addr=TO)
    _refused(CommandStatus.ESME_RMISSINGOPTPARAM, lambda: _of(translator, pdu))


def test_scheduled_delivery_is_refused(translator: Translator) -> None:
    pdu = _submit(schedule_delivery_time="000001000000000R")
    _refused(CommandStatus.ESME_RINVSCHED, lambda: _of(translator, pdu))


# --- validity_period ------------------------------------------------------------------------------


def test_an_empty_validity_period_is_the_cores_default(translator: Translator) -> None:
    assert _of(translator, _submit()).validity_period is None


def test_a_relative_validity_period_needs_no_clock(translator: Translator, clocks: Clocks) -> None:
    clocks.wall = clocks.mono = float("nan")  # any reading would show
    pdu = _submit(validity_period="000001020304000R")
    assert _of(translator, pdu).validity_period == DAY + 2 * 3600 + 3 * 60 + 4


def test_an_absolute_validity_period_counts_from_the_wall_clock(
    translator: Translator, clocks: Clocks
) -> None:
    pdu = _submit(validity_period="261207130000000+")  # 13:00 UTC, an hour after WALL
    assert _of(translator, pdu).validity_period == 3600
    clocks.wall += 600
    clocks.mono += 10 * DAY  # the monotonic clock has nothing to do with it
    assert _of(translator, pdu).validity_period == 3000


def test_an_absolute_validity_period_in_the_past_is_refused(translator: Translator) -> None:
    pdu = _submit(validity_period="261207110000000+")
    _refused(CommandStatus.ESME_RINVEXPIRY, lambda: _of(translator, pdu))


def test_a_validity_period_beyond_the_cores_limit_is_capped(translator: Translator) -> None:
    for value in ("000030000000000R", "270101000000000+"):
        assert _of(translator, _submit(validity_period=value)).validity_period == (
            MAX_VALIDITY_PERIOD_S
        )


def test_a_bad_validity_period_is_refused_before_undecodable_text(
    translator: Translator,
) -> None:
    pdu = _submit(validity_period="garbage", data_coding=1)
    _refused(CommandStatus.ESME_RINVEXPIRY, lambda: _of(translator, pdu))


# --- long messages --------------------------------------------------------------------------------


def _parts(translator: Translator, pdus: list[SubmitSm]) -> list[Submission | Held]:
    return [
        translator.submission_of(pdu, account_id=ACCOUNT, system_id="acme", bind_id=7)
        for pdu in pdus
    ]


def test_udh_parts_are_held_under_one_id_and_joined_on_the_last(translator: Translator) -> None:
    bodies = [b"Hello, ", b"long ", b"world"]
    pdus = [
        _submit(esm_class=UDHI, short_message=udh8(9, 3, n) + body, registered_delivery=rd)
        for n, (body, rd) in enumerate(zip(bodies, [0, 2, 0], strict=True), start=1)
    ]
    first, second, last = _parts(translator, pdus)
    assert first == second == Held("id1")
    assert last == Submission(
        to=TO,
        body="Hello, long world",
        door="smpp",
        registered_delivery=2,  # the strongest request of any part
        system_id="acme",
        bind_id=7,
        message_id="id1",
    )


def test_sar_parts_in_any_order(translator: Translator) -> None:
    pdus = [
        _submit(short_message=b"world", tlvs=sar(300, 2, 2)),
        _submit(short_message=b"Hello ", tlvs=sar(300, 2, 1), registered_delivery=1),
    ]
    held, last = _parts(translator, pdus)
    assert held == Held("id1")
    assert isinstance(last, Submission)
    assert (last.body, last.message_id, last.registered_delivery) == ("Hello world", "id1", 1)


def test_message_payload_with_a_user_data_header_is_a_part(translator: Translator) -> None:
    payloads = [udh8(4, 2, 1) + b"A" * 200, udh8(4, 2, 2) + b"B"]
    pdus = [
        _submit(short_message=b"", esm_class=UDHI, tlvs=(make_tlv(TlvTag.MESSAGE_PAYLOAD, p),))
        for p in payloads
    ]
    held, last = _parts(translator, pdus)
    assert held == Held("id1")
    assert isinstance(last, Submission)
    assert last.body == "A" * 200 + "B"


def test_parts_of_other_accounts_or_numbers_never_mix(translator: Translator) -> None:
    part1 = _submit(esm_class=UDHI, short_message=udh8(1, 2, 1) + b"a")
    assert translator.submission_of(part1, account_id=ACCOUNT, system_id="acme", bind_id=7) == Held(
        "id1"
    )
    assert translator.submission_of(
        part1, account_id="1000000000000002", system_id="other", bind_id=8
    ) == Held("id2")
    elsewhere = _submit(destination_addr="6598765432", esm_class=UDHI, short_message=udh8(1, 2, 1))
    assert _parts(translator, [elsewhere]) == [Held("id3")]


def test_a_part_in_another_data_coding_is_refused(translator: Translator) -> None:
    _parts(translator, [_submit(esm_class=UDHI, short_message=udh8(1, 2, 1) + b"a")])
    other = _submit(esm_class=UDHI, short_message=udh8(1, 2, 2) + b"\x00b", data_coding=8)
    _refused(ESME_RINVDCS, lambda: _parts(translator, [other]))


def test_a_bad_number_is_refused_on_the_first_part(translator: Translator) -> None:
    pdu = _submit(destination_addr="12", esm_class=UDHI, short_message=udh8(1, 2, 1) + b"a")
    with pytest.raises(SmsError) as caught:
        _parts(translator, [pdu])
    assert caught.value.result == errors.MOBILE_NUMBER_ILLEGAL


def test_late_parts_expire_on_the_monotonic_clock(translator: Translator, clocks: Clocks) -> None:
    part1 = _submit(esm_class=UDHI, short_message=udh8(1, 2, 1) + b"a")
    assert translator.next_expiry_in() is None
    assert _parts(translator, [part1]) == [Held("id1")]
    assert translator.next_expiry_in() == TIMEOUT_S

    clocks.wall += 10 * DAY  # the wall clock has nothing to do with it
    clocks.mono += TIMEOUT_S - 1
    assert translator.next_expiry_in() == 1
    assert translator.expire() == []
    clocks.mono += 1
    [dropped] = translator.expire()
    assert (dropped.key, dropped.numbers, dropped.total) == ((ACCOUNT, "", TO), (1,), 2)
    assert translator.next_expiry_in() is None
    # The message starts over, under a new id.
    assert _parts(translator, [part1]) == [Held("id2")]


# --- submit_multi ---------------------------------------------------------------------------------


def _multi(translator: Translator, **fields: object) -> Multi:
    fields = {
        "dest_addresses": (SmeAddress("+6591234567", 1, 1), SmeAddress("6598765432")),
        "short_message": b"Hi all",
        **fields,
    }
    pdu = SubmitMulti(sequence_number=3, **fields)  # type: ignore[arg-type]
    return translator.submissions_of(pdu, system_id="acme", bind_id=7)


def test_submit_multi_makes_one_submission_per_sme_address(translator: Translator) -> None:
    multi = _multi(
        translator,
        source_addr="Acme",
        registered_delivery=1,
        validity_period="000000010000000R",
        dest_addresses=(
            SmeAddress("+6591234567", 1, 1),
            DistributionList("friends"),
            SmeAddress("6598765432"),
        ),
    )
    common = {
        "body": "Hi all",
        "sender": "Acme",
        "validity_period": 3600,
        "door": "smpp",
        "registered_delivery": 1,
        "system_id": "acme",
        "bind_id": 7,
    }
    assert multi.submissions == [
        Submission(to="+6591234567", **common),  # type: ignore[arg-type]
        Submission(to="6598765432", **common),  # type: ignore[arg-type]
    ]
    assert multi.unsuccess == [
        UnsuccessSme("friends", error_status_code=CommandStatus.ESME_RINVDLNAME)
    ]


def test_submit_multi_remembers_each_numbers_ton_and_npi(translator: Translator) -> None:
    addresses = _multi(translator).addresses
    with_plus = UnsuccessSme("+6591234567", 1, 1)
    assert addresses == {
        "+6591234567": with_plus,
        "6591234567": with_plus,  # as the core may report it
        "6598765432": UnsuccessSme("6598765432"),
    }


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"dest_addresses": ()}, CommandStatus.ESME_RINVNUMDESTS),
        ({"esm_class": UDHI}, CommandStatus.ESME_RINVESMCLASS),
        ({"schedule_delivery_time": "000001000000000R"}, CommandStatus.ESME_RINVSCHED),
        ({"tlvs": (make_tlv(TlvTag.MESSAGE_PAYLOAD, b"x"),)}, CommandStatus.ESME_RSUBMITFAIL),
        ({"data_coding": 1}, ESME_RINVDCS),
        ({"validity_period": "261207110000000+"}, CommandStatus.ESME_RINVEXPIRY),
    ],
)
def test_submit_multi_refusals(
    translator: Translator, fields: dict[str, object], status: int
) -> None:
    _refused(status, lambda: _multi(translator, **fields))
