"""Delivery receipts on the SMPP wire: stat/err per receipt code, the Appendix B text, the
deliver_sm that carries it (esm_class 0x04, swapped addresses, TLVs), and final_date."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate import errors
from smsgate.domain.carrier_receipts import DEFAULT_RECEIPT_MAP
from smsgate.domain.models import Message, MessageStatus
from smsgate.doors.smpp.receipts import (
    ESM_CLASS_RECEIPT,
    NETWORK_TYPE_GSM,
    REPORTS,
    ReceiptReport,
    deliver_sm_for,
    final_date,
    receipt_text,
    report_for,
)
from smsgate.doors.smpp.translate import validity_seconds
from smsgate.smpp.codec import NEED_DATA, PduReader, encode
from smsgate.smpp.constants import MessageState, TlvTag
from smsgate.smpp.pdu import DeliverSm
from tests import builders

#: The seven ``stat:`` values of SMPP 3.4 Appendix B, with the message_state each stands for.
APPENDIX_B_STATES = {
    "DELIVRD": MessageState.DELIVERED,
    "EXPIRED": MessageState.EXPIRED,
    "DELETED": MessageState.DELETED,
    "UNDELIV": MessageState.UNDELIVERABLE,
    "ACCEPTD": MessageState.ACCEPTED,
    "UNKNOWN": MessageState.UNKNOWN,
    "REJECTD": MessageState.REJECTED,
}
SUBMITTED_AT = datetime(2024, 3, 5, 7, 9, 30, tzinfo=UTC).timestamp()
DONE_AT = datetime(2024, 3, 5, 23, 58, 59, 900_000, tzinfo=UTC).timestamp()
SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;!?'\"()+-/*%&=<>#")
TEXT_RE = re.compile(
    r"id:(?P<id>\d+) sub:001 dlvrd:(?P<dlvrd>00[01]) submit date:(?P<submit>\d{10}) "
    r"done date:(?P<done>\d{10}) stat:(?P<stat>[A-Z]{7}) err:(?P<err>\d{3}) text:(?P<text>.*)",
    re.DOTALL,
)


@pytest.fixture(autouse=True)
def _far_from_utc() -> Iterator[None]:
    """Run in a zone far from UTC (and not a whole hour off), so a local-time date shows."""
    if not hasattr(time, "tzset"):
        yield
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TZ", "Asia/Kathmandu")  # UTC+05:45
        time.tzset()
        yield
    time.tzset()


def _message(message_id: int | str = 1234567890123, **changes: Any) -> Message:
    smpp = {"created_at": SUBMITTED_AT, "door": "smpp", "registered_delivery": 1}
    return builders.message(message_id, **{**smpp, **changes})


def _final(code: str, **changes: Any) -> Message:
    if code == errors.DELIVERED.code:
        status = MessageStatus.DELIVERED
    elif code == errors.EXPIRED.code:
        status = MessageStatus.EXPIRED
    else:
        status = MessageStatus.FAILED
    return _message(status=status, error_code=code, receive_date=DONE_AT, **changes)


ALL_CODES = [errors.DELIVERED.code, *(r.code for r in errors.RECEIPT_CODES), errors.EXPIRED.code]


# -- the table -------------------------------------------------------------------------------


def test_reports_cover_exactly_every_receipt_code() -> None:
    assert set(REPORTS) == set(ALL_CODES)
    assert len(ALL_CODES) == len(set(ALL_CODES))


def test_err_is_the_position_in_the_seed_table() -> None:
    assert REPORTS[errors.DELIVERED.code].err == 0
    for position, code in enumerate(errors.RECEIPT_CODES, start=1):
        assert REPORTS[code.code].err == position, code.code
    assert [REPORTS[c.code].err for c in errors.RECEIPT_CODES] == list(range(1, 10))
    assert REPORTS[errors.EXPIRED.code].err == 10
    errs = [REPORTS[code].err for code in ALL_CODES]
    assert len(set(errs)) == len(errs)


@pytest.mark.parametrize("code", ALL_CODES)
def test_stat_is_an_appendix_b_value_matching_its_message_state(code: str) -> None:
    report = REPORTS[code]
    assert report.stat in APPENDIX_B_STATES
    assert len(report.stat) == 7
    assert report.state is APPENDIX_B_STATES[report.stat]


@pytest.mark.parametrize(
    ("code", "stat"),
    [
        (errors.DELIVERED.code, "DELIVRD"),
        (errors.EXPIRED.code, "EXPIRED"),
        (errors.IN_SMS_CONTENT.code, "REJECTD"),
        (errors.RECEIVER_BLACKLIST.code, "REJECTD"),
        (errors.URL_FAILURE.code, "REJECTD"),
        (errors.UNKNOWN_ERR.code, "UNKNOWN"),
        (errors.INVALID_NUM.code, "UNDELIV"),
        (errors.OPERATOR_NOT_SUPPORT.code, "UNDELIV"),
        (errors.PHONE_NOT_AVAILABLE.code, "UNDELIV"),
        (errors.PORTED_NUM.code, "UNDELIV"),
        (errors.SYSTEM_ERR.code, "UNDELIV"),
    ],
)
def test_stat_of_each_code(code: str, stat: str) -> None:
    assert REPORTS[code].stat == stat


# -- report_for ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ALL_CODES)
def test_report_for_a_final_message_is_its_codes_report(code: str) -> None:
    assert report_for(_final(code)) == REPORTS[code]


def test_an_expired_message_reports_expired_whatever_its_error_code() -> None:
    message = _message(status=MessageStatus.EXPIRED, error_code=None, receive_date=DONE_AT)
    assert report_for(message) == REPORTS[errors.EXPIRED.code]


@pytest.mark.parametrize("error_code", [None, "", "NOT_A_CODE"])
def test_a_failure_with_an_unknown_code_reports_unknown(error_code: str | None) -> None:
    message = _message(status=MessageStatus.FAILED, error_code=error_code, receive_date=DONE_AT)
    assert report_for(message) == REPORTS[errors.UNKNOWN_ERR.code]
    assert report_for(message).stat == "UNKNOWN"


def test_a_cancelled_message_reports_deleted() -> None:
    message = _message(status=MessageStatus.CANCELLED, receive_date=DONE_AT)
    assert report_for(message) == ReceiptReport("DELETED", 0, MessageState.DELETED)


@pytest.mark.parametrize("status", [MessageStatus.ACCEPTED, MessageStatus.SUBMITTED])
def test_a_message_not_final_reports_enroute(status: MessageStatus) -> None:
    assert report_for(_message(status=status)) == ReceiptReport("ENROUTE", 0, MessageState.ENROUTE)


# -- receipt_text ----------------------------------------------------------------------------


def test_receipt_text_of_a_delivered_message_exactly() -> None:
    message = _final(errors.DELIVERED.code)
    assert receipt_text(message, report_for(message)) == (
        "id:1234567890123 sub:001 dlvrd:001 submit date:2403050709 done date:2403052358 "
        "stat:DELIVRD err:000 text:Your code is 123456"
    )


def test_receipt_text_of_a_failed_message_exactly() -> None:
    message = _final(errors.SYSTEM_ERR.code, id="42")
    assert receipt_text(message, report_for(message)) == (
        "id:42 sub:001 dlvrd:000 submit date:2403050709 done date:2403052358 "
        "stat:UNDELIV err:007 text:Your code is 123456"
    )


def test_receipt_text_of_an_expired_message_has_err_010() -> None:
    message = _final(errors.EXPIRED.code)
    text = receipt_text(message, report_for(message))
    assert " dlvrd:000 " in text
    assert " stat:EXPIRED err:010 text:" in text


def test_receipt_dates_are_utc_across_midnight() -> None:
    # 23:58 UTC is the next day in Kathmandu: the receipt must still say the 5th.
    message = _final(errors.DELIVERED.code)
    match = TEXT_RE.fullmatch(receipt_text(message, report_for(message)))
    assert match is not None
    assert (match["submit"], match["done"]) == ("2403050709", "2403052358")


def test_the_text_is_the_first_20_characters_with_unsafe_ones_replaced() -> None:
    message = _final(errors.DELIVERED.code, body="Héllo_wörld €5 [ok] {and more after}")
    text = receipt_text(message, report_for(message))
    assert text.endswith(" stat:DELIVRD err:000 text:H?llo?w?rld ?5 ?ok? ")


def test_a_short_body_is_kept_whole_and_an_empty_one_is_empty() -> None:
    short = _final(errors.DELIVERED.code, body="Hi!")
    assert receipt_text(short, report_for(short)).endswith(" text:Hi!")
    empty = _final(errors.DELIVERED.code, body="")
    assert receipt_text(empty, report_for(empty)).endswith(" text:")


def test_newlines_and_emoji_do_not_reach_the_receipt() -> None:
    message = _final(errors.DELIVERED.code, body="a\nb\r\tc😀d@e_f$")
    text = receipt_text(message, report_for(message))
    assert text.endswith(" text:a?b??c?d?e?f?")
    assert "\n" not in text


@given(
    body=st.text(max_size=60),
    code=st.sampled_from(ALL_CODES),
    message_id=st.integers(min_value=1, max_value=2**63 - 1),
)
def test_receipt_text_always_parses(body: str, code: str, message_id: int) -> None:
    message = _final(code, id=str(message_id), body=body)
    report = report_for(message)
    text = receipt_text(message, report)
    assert text.isascii()
    match = TEXT_RE.fullmatch(text)
    assert match is not None
    assert match["id"] == str(message_id)
    assert match["dlvrd"] == ("001" if code == errors.DELIVERED.code else "000")
    assert (match["stat"], int(match["err"])) == (report.stat, report.err)
    assert len(match["text"]) == min(20, len(body))
    assert set(match["text"]) <= SAFE
    for original, shown in zip(body, match["text"], strict=False):
        assert shown == (original if original in SAFE else "?")


# -- deliver_sm_for ----------------------------------------------------------------------------


def test_deliver_sm_carries_the_receipt_back_to_the_sender() -> None:
    message = _final(errors.DELIVERED.code, sender="12345")
    pdu = deliver_sm_for(message)
    assert isinstance(pdu, DeliverSm)
    assert pdu.esm_class == ESM_CLASS_RECEIPT == 0x04
    assert (pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr) == (1, 1, message.to)
    assert (pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr) == (1, 1, "12345")
    assert pdu.data_coding == 0
    assert pdu.short_message == receipt_text(message, report_for(message)).encode("ascii")
    assert pdu.tlv_str(TlvTag.RECEIPTED_MESSAGE_ID) == message.id
    assert pdu.tlv_bytes(TlvTag.RECEIPTED_MESSAGE_ID) == message.id.encode() + b"\0"
    assert pdu.tlv_int(TlvTag.MESSAGE_STATE) == MessageState.DELIVERED
    assert pdu.tlv_bytes(TlvTag.MESSAGE_STATE) == b"\x02"
    assert pdu.tlv_bytes(TlvTag.NETWORK_ERROR_CODE) is None  # delivered: no network error


@pytest.mark.parametrize(
    ("sender", "ton", "npi"),
    [
        ("12345", 1, 1),
        ("+8613800138000", 1, 1),
        ("8613800138000", 1, 1),
        ("smsgate", 5, 0),
        ("ACME 2", 5, 0),
        ("123abc", 5, 0),
    ],
)
def test_the_sender_address_type_follows_the_sender(sender: str, ton: int, npi: int) -> None:
    pdu = deliver_sm_for(_final(errors.DELIVERED.code, sender=sender))
    assert (pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr) == (ton, npi, sender)


def test_no_sender_gives_an_empty_destination() -> None:
    pdu = deliver_sm_for(_final(errors.DELIVERED.code, sender=None))
    assert pdu.destination_addr == ""


#: The GSM causes (3GPP TS 29.002) that say what these receipt codes say; the others have none.
GSM_CAUSES = {
    errors.INVALID_NUM.code: 1,  # unknown subscriber
    errors.RECEIVER_BLACKLIST.code: 13,  # call barred
    errors.OPERATOR_NOT_SUPPORT.code: 21,  # facility not supported
    errors.PHONE_NOT_AVAILABLE.code: 27,  # absent subscriber
    errors.SYSTEM_ERR.code: 34,  # system failure
}


@pytest.mark.parametrize("code", ALL_CODES)
def test_network_error_code_is_a_true_gsm_cause_or_absent(code: str) -> None:
    """``err:`` is smsgate's own number (the code's row in the seed table); network_error_code
    says GSM, so it carries a GSM cause, and only where one means the same as the code."""
    report = REPORTS[code]
    pdu = deliver_sm_for(_final(code))
    value = pdu.tlv_bytes(TlvTag.NETWORK_ERROR_CODE)
    if code in GSM_CAUSES:
        assert value == bytes([NETWORK_TYPE_GSM]) + GSM_CAUSES[code].to_bytes(2, "big")
    else:
        assert value is None
    assert pdu.tlv_int(TlvTag.MESSAGE_STATE) == report.state
    assert f" stat:{report.stat} err:{report.err:03d} ".encode() in pdu.short_message


@pytest.mark.parametrize("code", sorted(GSM_CAUSES))
def test_a_connector_reads_the_gsm_cause_back_as_its_code(code: str) -> None:
    """A carrier's receipt with only the stat and smsgate's network_error_code (no err it
    knows) maps to the same code by the connectors' default table."""
    pdu = deliver_sm_for(_final(code))
    network_error = pdu.tlv_bytes(TlvTag.NETWORK_ERROR_CODE)
    read = DEFAULT_RECEIPT_MAP.read(
        {"id": "1", "stat": REPORTS[code].stat, "err": "XYZ"}, network_error
    )
    assert read is not None
    assert read.error_code == code


def test_a_cancelled_message_is_reported_deleted_on_the_wire() -> None:
    pdu = deliver_sm_for(_message(status=MessageStatus.CANCELLED, receive_date=DONE_AT))
    assert pdu.tlv_int(TlvTag.MESSAGE_STATE) == MessageState.DELETED
    assert b" stat:DELETED err:000 " in pdu.short_message
    assert pdu.tlv_bytes(TlvTag.NETWORK_ERROR_CODE) is None


@pytest.mark.parametrize("code", ALL_CODES)
def test_the_deliver_sm_is_a_valid_pdu(code: str) -> None:
    message = _final(code, id=str(2**63 - 1), body="é" * 200)  # the longest id, a long body
    pdu = dataclasses.replace(deliver_sm_for(message), sequence_number=7)
    wire = encode(pdu)
    reader = PduReader()
    reader.feed(wire[:10])
    assert reader.next_pdu() is NEED_DATA
    reader.feed(wire[10:])
    decoded = reader.next_pdu()
    assert decoded == pdu
    assert reader.next_pdu() is NEED_DATA
    assert isinstance(decoded, DeliverSm)
    assert decoded.esm_class == 0x04
    assert decoded.tlv_str(TlvTag.RECEIPTED_MESSAGE_ID) == message.id


# -- final_date --------------------------------------------------------------------------------


def test_final_date_is_an_smpp_absolute_time_in_utc_with_tenths() -> None:
    assert final_date(DONE_AT) == "240305235859900+"
    assert final_date(datetime(2031, 12, 31, 0, 0, 1, 50_000, tzinfo=UTC).timestamp()) == (
        "311231000001000+"
    )
    assert final_date(datetime(2024, 1, 2, 3, 4, 5, 456_789, tzinfo=UTC).timestamp()) == (
        "240102030405400+"
    )


def test_final_date_is_empty_when_not_final() -> None:
    assert final_date(None) == ""


@given(st.floats(min_value=946_684_800, max_value=4_102_444_799, allow_nan=False))
def test_final_date_format_and_meaning(ts: float) -> None:
    value = final_date(ts)
    assert re.fullmatch(r"\d{12}\d00\+", value)
    moment = datetime.fromtimestamp(ts, UTC)
    assert value[:12] == moment.strftime("%y%m%d%H%M%S")
    assert value[12] == str(moment.microsecond // 100_000)


def test_final_date_reads_back_as_an_smpp_time() -> None:
    now = datetime(2024, 3, 5, 12, 0, 0, tzinfo=UTC).timestamp()
    assert validity_seconds(final_date(now + 3600), now) == 3600
