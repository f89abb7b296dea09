"""Carrier receipts read into the seed's codes: text fields, the connector's table, GSM causes,
ids in either base."""

from __future__ import annotations

import pytest

from smsgate import errors
from smsgate.domain.carrier_receipts import (
    DEFAULT_RECEIPT_MAP,
    CarrierReceipt,
    ReceiptMap,
    carrier_key,
    id_candidates,
    parse_receipt_text,
)
from smsgate.domain.models import MessageStatus
from smsgate.doors.smpp.receipts import REPORTS

TEXT = (
    "id:1A2B3C sub:001 dlvrd:000 submit date:2612071200 done date:2612071201 "
    "stat:UNDELIV err:001 text:Your code is 1234"
)


def test_appendix_b_fields_are_read_with_their_spaces_and_any_case() -> None:
    assert parse_receipt_text(TEXT) == {
        "id": "1A2B3C",
        "sub": "001",
        "dlvrd": "000",
        "submit date": "2612071200",
        "done date": "2612071201",
        "stat": "UNDELIV",
        "err": "001",
        "text": "Your code is 1234",
    }
    assert parse_receipt_text("ID:9 Stat:DELIVRD")["stat"] == "DELIVRD"


def test_fields_a_carrier_leaves_out_or_reorders_are_tolerated() -> None:
    fields = parse_receipt_text("stat:DELIVRD id:77 err:0")

    assert (fields["id"], fields["stat"], fields["err"]) == ("77", "DELIVRD", "0")
    assert "text" not in fields


def read(
    text: str, network_error: bytes | None = None, table: ReceiptMap = DEFAULT_RECEIPT_MAP
) -> CarrierReceipt | None:
    return table.read(parse_receipt_text(text), network_error)


def test_delivered_and_expired() -> None:
    delivered = read("id:1 stat:DELIVRD err:000")
    expired = read("id:1 stat:EXPIRED err:010")

    assert delivered is not None
    assert (delivered.status, delivered.error_code) == (MessageStatus.DELIVERED, "success")
    assert expired is not None
    assert (expired.status, expired.error_code) == (MessageStatus.EXPIRED, "EXPIRED")


@pytest.mark.parametrize("stat", ["ENROUTE", "ACCEPTD", ""])
def test_receipts_that_are_not_final_are_not_read(stat: str) -> None:
    assert read(f"id:1 stat:{stat} err:000") is None


def test_a_receipt_without_an_id_is_not_read() -> None:
    assert read("stat:DELIVRD err:000") is None


def test_smsgates_own_receipts_map_back_to_every_code_exactly() -> None:
    # What smsgate (or `smsgate simulator`) sends for each code is read back as that code.
    for code, report in REPORTS.items():
        receipt = read(f"id:5 stat:{report.stat} err:{report.err:03d}")
        assert receipt is not None
        assert receipt.error_code == code, (code, report)


@pytest.mark.parametrize(
    ("cause", "code"),
    [
        (1, errors.INVALID_NUM.code),
        (27, errors.PHONE_NOT_AVAILABLE.code),
        (13, errors.RECEIVER_BLACKLIST.code),
        (11, errors.OPERATOR_NOT_SUPPORT.code),
        (34, errors.SYSTEM_ERR.code),
    ],
)
def test_gsm_network_error_codes_name_the_cause(cause: int, code: str) -> None:
    receipt = read("id:1 stat:UNDELIV err:999", bytes([3]) + cause.to_bytes(2, "big"))

    assert receipt is not None
    assert receipt.error_code == code
    assert receipt.raw == f"stat:UNDELIV err:999 network_error_code:03{cause:04x}"


def test_an_unmapped_failure_is_unknown_err_with_the_raw_values_kept() -> None:
    receipt = read("id:1 stat:UNDELIV err:777", b"\x01\x00\x99")  # ANSI-136, not GSM

    assert receipt is not None
    assert (receipt.status, receipt.error_code) == (MessageStatus.FAILED, "UNKNOWN_ERR")
    assert receipt.raw == "stat:UNDELIV err:777 network_error_code:010099"


def test_a_connectors_table_comes_first_and_may_map_a_stat_alone() -> None:
    table = DEFAULT_RECEIPT_MAP.with_overrides(
        {"undeliv:777": "PORTED_NUM", "REJECTD": "RECEIVER_BLACKLIST"}
    )

    ported = read("id:1 stat:UNDELIV err:777", table=table)
    rejected = read("id:1 stat:REJECTD err:555", table=table)

    assert ported is not None
    assert ported.error_code == "PORTED_NUM"
    assert rejected is not None
    assert rejected.error_code == "RECEIVER_BLACKLIST"


def test_an_override_must_name_a_receipt_code() -> None:
    with pytest.raises(ValueError, match="not a receipt code"):
        DEFAULT_RECEIPT_MAP.with_overrides({"UNDELIV": "NO_SUCH_CODE"})


def test_ids_meet_whatever_the_case_and_leading_zeros() -> None:
    assert carrier_key(" 00001A2B ") == carrier_key("1a2b") == "1a2b"
    assert carrier_key("000") == "0"


def test_ids_in_either_base() -> None:
    # The response said hex 1a2b (6699); the receipt says 6699.
    assert carrier_key("1A2B") in id_candidates("6699", "auto")
    assert id_candidates("6699", "dec") == ["1a2b"]
    # The response said decimal 6699; the receipt says 1A2B.
    assert id_candidates("1A2B", "hex") == ["6699"]
    assert id_candidates("1A2B", "auto") == ["1a2b", "6699"]
    # As given comes first, and "same" converts nothing.
    assert id_candidates("6699", "auto")[0] == "6699"
    assert id_candidates("6699", "same") == ["6699"]
    # An id that is no number in the base named is still looked up as given.
    assert id_candidates("msg-42", "dec") == ["msg-42"]


def test_the_text_field_is_the_rest_whatever_it_says() -> None:
    fields = parse_receipt_text("id:1 stat:DELIVRD err:000 text:reply stat:STOP id:2")

    assert fields == {"id": "1", "stat": "DELIVRD", "err": "000", "text": "reply stat:STOP id:2"}


def test_a_key_inside_another_word_is_not_a_field() -> None:
    assert parse_receipt_text("xid:5 id:6 stat:UNDELIV")["id"] == "6"
