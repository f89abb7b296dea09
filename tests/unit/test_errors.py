"""The catalog holds every row of the seed table exactly as the seed writes it."""

from __future__ import annotations

import re
from pathlib import Path

from smsgate import errors

SEED = Path(__file__).resolve().parents[2] / "docs" / "seed-error-codes.txt"


def _seed_sections() -> tuple[list[str], list[str]]:
    text = SEED.read_text()
    api_part, receipt_part = text.split("Receipt-related error codes")
    api_rows = [
        line
        for line in api_part.splitlines()
        if re.match(r"^(OK|isp\.|isv\.|BUSINESS_)\S* \d+ ", line)
    ]
    receipt_rows = [line for line in receipt_part.splitlines() if re.match(r"^[A-Z_]+ \S", line)]
    return api_rows, receipt_rows


def test_every_seed_api_row_is_in_the_catalog_in_order() -> None:
    api_rows, _ = _seed_sections()
    parsed = []
    for line in api_rows:
        code, smpp, message = line.split(" ", 2)
        parsed.append((code, int(smpp), message.strip()))
    catalog = [(r.code, r.smpp_status, r.message) for r in errors.SEED_ROWS]
    assert catalog == parsed
    assert len(catalog) == 36


def test_every_seed_receipt_row_is_in_the_catalog() -> None:
    _, receipt_rows = _seed_sections()
    parsed = [tuple(line.split(" ", 1)) for line in receipt_rows]
    catalog = [(r.code, r.message) for r in errors.RECEIPT_CODES]
    assert catalog == [(c, m.strip()) for c, m in parsed]
    assert len(catalog) == 9


def test_duplicate_seed_codes_are_distinct_rows() -> None:
    assert errors.SYSTEM_ERROR_ACCESS_LAYER.code == errors.SYSTEM_ERROR.code == "isp.SYSTEM_ERROR"
    assert (errors.SYSTEM_ERROR_ACCESS_LAYER.smpp_status, errors.SYSTEM_ERROR.smpp_status) == (
        21,
        46,
    )
    assert errors.FORBIDDEN_ACTION.smpp_status == errors.SENDERID_ERROR.smpp_status == 25
    assert errors.FORBIDDEN_ACTION != errors.SENDERID_ERROR


def test_gateway_codes_are_http_errors() -> None:
    names = {c.code for c in errors.GATEWAY_CODES}
    for required in (
        "MissingParameter",
        "InvalidAccessKeyId.NotFound",
        "SignatureDoesNotMatch",
        "SignatureNonceUsed",
        "InvalidTimeStamp.Expired",
        "InvalidAction.NotFound",
        "InvalidVersion",
    ):
        assert required in names
    assert all(400 <= c.http_status < 600 for c in errors.GATEWAY_CODES)


def test_receipt_lookup() -> None:
    assert errors.receipt_code("INVALID_NUM") is errors.INVALID_NUM
    assert errors.receipt_code("success") is errors.DELIVERED


def test_overload_is_one_catalog_entry_with_each_doors_rendering() -> None:
    overloaded = errors.OVERLOADED
    assert errors.PLATFORM_CODES == (errors.OVERLOADED,)
    assert overloaded.gateway is errors.THROTTLING
    assert (overloaded.gateway.code, overloaded.gateway.http_status) == ("Throttling", 429)
    assert set(overloaded.smpp_status) == set(errors.SMPP_STATUS_PROFILES)
    assert set(overloaded.smpp_status.values()) == {"ESME_RMSGQFUL"}
    assert errors.OverloadedError("the queue is full").platform_code is overloaded
