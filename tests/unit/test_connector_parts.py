"""The connector's pure helpers: the submit status table, reconnect back-off, the rate meter."""

from __future__ import annotations

import pytest

from smsgate import errors
from smsgate.adapters.carriers.smpp.backoff import Backoff
from smsgate.adapters.carriers.smpp.meter import RateMeter
from smsgate.adapters.carriers.smpp.statuses import (
    DEFAULT_STATUSES,
    Verdict,
    status_name,
)
from smsgate.smpp.constants import CommandStatus as S


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (S.ESME_ROK, Verdict.ACCEPTED),
        (S.ESME_RTHROTTLED, Verdict.THROTTLED),
        (S.ESME_RMSGQFUL, Verdict.THROTTLED),
        (S.ESME_RSYSERR, Verdict.TEMPORARY),
        (S.ESME_RX_T_APPN, Verdict.TEMPORARY),
        (S.ESME_RINVBNDSTS, Verdict.TEMPORARY),
        (S.ESME_RINVDSTADR, Verdict.PERMANENT),
        (0x400, Verdict.PERMANENT),
    ],
)
def test_verdicts(status: int, verdict: Verdict) -> None:
    assert DEFAULT_STATUSES.verdict(status) is verdict


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (S.ESME_RINVDSTADR, errors.INVALID_NUM),
        (S.ESME_RINVDSTTON, errors.INVALID_NUM),
        (S.ESME_RINVMSGLEN, errors.IN_SMS_CONTENT),
        (S.ESME_RINVSRCADR, errors.SYSTEM_ERR),
        (S.ESME_RINVSERTYP, errors.SYSTEM_ERR),
        (S.ESME_RX_R_APPN, errors.RECEIVER_BLACKLIST),
        (S.ESME_RSUBMITFAIL, errors.UNKNOWN_ERR),
        (0x4FF, errors.UNKNOWN_ERR),
    ],
)
def test_permanent_statuses_have_receipt_codes(status: int, code: errors.ReceiptCode) -> None:
    assert DEFAULT_STATUSES.receipt_code(status) == code.code


def test_an_operator_can_map_a_vendor_status() -> None:
    table = DEFAULT_STATUSES.with_codes({0x401: errors.PORTED_NUM.code})
    assert table.receipt_code(0x401) == "PORTED_NUM"
    assert table.receipt_code(S.ESME_RINVDSTADR) == "INVALID_NUM"
    with pytest.raises(ValueError, match="receipt code"):
        DEFAULT_STATUSES.with_codes({0x401: "NOPE"})


def test_status_names() -> None:
    assert status_name(S.ESME_RINVPASWD) == "ESME_RINVPASWD"
    assert status_name(0x104) == "ESME_RINVDCS"
    assert status_name(0x401) == "0x00000401"


def test_backoff_doubles_up_to_its_maximum_with_jitter_between_half_and_whole() -> None:
    lowest = Backoff(1, 10, random=lambda: 0.0)
    assert [lowest.next_delay() for _ in range(6)] == [0.5, 1, 2, 4, 5, 5]
    highest = Backoff(1, 10, random=lambda: 0.999_999)
    assert [round(highest.next_delay(), 3) for _ in range(5)] == [1, 2, 4, 8, 10]


def test_backoff_resets_after_a_success() -> None:
    backoff = Backoff(2, 60, random=lambda: 0.0)
    backoff.next_delay()
    backoff.next_delay()
    assert backoff.faults == 2
    backoff.reset()
    assert backoff.next_delay() == 1


def test_backoff_survives_a_long_run_of_faults() -> None:
    backoff = Backoff(1, 30, random=lambda: 0.0)
    for _ in range(200):
        assert backoff.next_delay() <= 30


def test_the_meter_averages_the_whole_seconds_before_now() -> None:
    meter = RateMeter(span_s=2)
    meter.add(100.1, 10)
    meter.add(101.5, 30)
    meter.add(102.2, 1000)  # the current second does not count yet
    assert meter.rate(102.9) == 20
    assert meter.rate(104.0) == 500  # 101 fell out of the window, 102 came in
    assert meter.rate(200.0) == 0
