"""SMPP fields into core values: short_message text by data_coding, validity_period seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.text import GSM7_CHARACTERS, encode_gsm7_unpacked
from smsgate.doors.smpp.fields import Refused
from smsgate.doors.smpp.translate import decode_short_message, validity_seconds
from smsgate.service.submit import MAX_VALIDITY_PERIOD_S as MAX_VALIDITY_S
from smsgate.smpp.constants import CommandStatus

ESME_RINVDCS = 0x104
ESME_RINVEXPIRY = 0x62
NOW = datetime(2025, 6, 15, 12, 0, 0, tzinfo=UTC).timestamp()
DAY = 86_400


def _smpp_time(moment: datetime, quarters: int = 0, sign: str = "+", tenths: int = 0) -> str:
    """``moment`` (UTC) as an absolute SMPP time in a zone ``quarters`` quarter hours off UTC."""
    offset = timedelta(minutes=15 * quarters) * (1 if sign == "+" else -1)
    local = moment + offset
    return local.strftime("%y%m%d%H%M%S") + f"{tenths}{quarters:02d}{sign}"


def _refused(status: int, call: object) -> None:
    assert callable(call)
    with pytest.raises(Refused) as caught:
        call()
    assert caught.value.status == status


# -- decode_short_message ----------------------------------------------------------------------


def test_data_coding_0_is_unpacked_gsm7() -> None:
    assert decode_short_message(b"Hello 123", 0) == "Hello 123"
    assert decode_short_message(b"\x00\x02\x11", 0) == "@$_"
    assert decode_short_message(b"\x1be5", 0) == "€5"
    assert decode_short_message(b"", 0) == ""


@given(st.text(alphabet=sorted(GSM7_CHARACTERS), max_size=40))
def test_gsm7_round_trips(text: str) -> None:
    assert decode_short_message(encode_gsm7_unpacked(text), 0) == text


def test_gsm7_octets_above_0x7f_are_refused() -> None:
    _refused(ESME_RINVDCS, lambda: decode_short_message(b"caf\xe9", 0))


def test_data_coding_3_is_latin1() -> None:
    assert decode_short_message("café ÿ".encode("latin-1"), 3) == "café ÿ"
    assert decode_short_message(bytes(range(256)), 3) == bytes(range(256)).decode("latin-1")


def test_data_coding_8_is_ucs2() -> None:
    assert decode_short_message("你好 €".encode("utf-16-be"), 8) == "你好 €"
    assert decode_short_message("😀".encode("utf-16-be"), 8) == "😀"  # a surrogate pair


@pytest.mark.parametrize(
    "data",
    [b"\x00A\x00", b"\x4f", b"\xd8\x3d"],  # odd lengths; a lone high surrogate
    ids=["odd", "one-octet", "lone-surrogate"],
)
def test_undecodable_ucs2_is_refused(data: bytes) -> None:
    _refused(ESME_RINVDCS, lambda: decode_short_message(data, 8))


@pytest.mark.parametrize("data_coding", [1, 2, 4, 5, 6, 7, 9, 0x10, 0xF0, 0xF4, 255])
def test_other_data_codings_are_refused(data_coding: int) -> None:
    _refused(ESME_RINVDCS, lambda: decode_short_message(b"hello", data_coding))


def test_refused_carries_its_status_and_a_message() -> None:
    refused = Refused(0x62)
    assert refused.status == 0x62
    assert "0x00000062" in str(refused)
    assert str(Refused(0x104, "detail")) == "detail"


# -- validity_seconds --------------------------------------------------------------------------


def test_an_empty_validity_period_is_the_default() -> None:
    assert validity_seconds("", NOW) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("000001000000000R", DAY),
        ("000000010000000R", 3600),
        ("000000000100000R", 60),
        ("000000000001000R", 1),
        ("000000013015000R", 3600 + 30 * 60 + 15),
        ("000002120000000R", 2 * DAY + 12 * 3600),
        ("000007000000000R", 7 * DAY),
        ("000000000001900R", 1),  # tenths and the nn digits do not count
    ],
)
def test_relative_times(value: str, seconds: int) -> None:
    assert validity_seconds(value, NOW) == seconds


@pytest.mark.parametrize(
    "value",
    ["000008000000000R", "000100000000000R", "010000000000000R", "999999999999999R"],
)
def test_a_validity_longer_than_seven_days_is_capped(value: str) -> None:
    assert validity_seconds(value, NOW) == MAX_VALIDITY_S == 7 * DAY


def test_a_zero_relative_time_is_refused() -> None:
    _refused(ESME_RINVEXPIRY, lambda: validity_seconds("000000000000000R", NOW))


def test_absolute_time_in_utc() -> None:
    moment = datetime(2025, 6, 15, 13, 0, 0, tzinfo=UTC)
    assert validity_seconds("250615130000000+", NOW) == 3600
    assert validity_seconds(_smpp_time(moment), NOW) == 3600
    assert validity_seconds("250615130000000-", NOW) == 3600  # "-00" is UTC too


def test_absolute_time_with_positive_and_negative_quarter_hour_offsets() -> None:
    # 13:00 UTC written in UTC+1 (04+) is 14:00 local; in UTC-1 (04-) it is 12:00 local.
    assert validity_seconds("250615140000004+", NOW) == 3600
    assert validity_seconds("250615120000004-", NOW) == 3600
    # 12:45 local at UTC+05:45 (23 quarters) is 07:00 UTC: five hours ago.
    _refused(ESME_RINVEXPIRY, lambda: validity_seconds("250615124500023+", NOW))
    # 17:45 local at UTC+05:45 is 12:00 UTC: now, which is not ahead.
    _refused(ESME_RINVEXPIRY, lambda: validity_seconds("250615174500023+", NOW))
    # 18:00 local at UTC+05:45 is 12:15 UTC.
    assert validity_seconds("250615180000023+", NOW) == 15 * 60
    # 08:45 local at UTC-03:30 (14 quarters) is 12:15 UTC.
    assert validity_seconds("250615084500014-", NOW) == 15 * 60


def test_an_offset_crossing_midnight() -> None:
    # 00:30 on the 16th at UTC+12 (48 quarters) is 12:30 UTC on the 15th.
    assert validity_seconds("250616003000048+", NOW) == 30 * 60
    # 23:30 on the 14th at UTC-13 (52 quarters) is 12:30 UTC on the 15th.
    assert validity_seconds("250614233000052-", NOW) == 30 * 60


@given(
    ahead=st.integers(min_value=1, max_value=30 * DAY),
    quarters=st.integers(min_value=0, max_value=56),
    sign=st.sampled_from("+-"),
    tenths=st.integers(min_value=0, max_value=9),
)
def test_absolute_times_in_any_zone(ahead: int, quarters: int, sign: str, tenths: int) -> None:
    moment = datetime.fromtimestamp(NOW + ahead, UTC)
    value = _smpp_time(moment, quarters, sign, tenths)
    assert validity_seconds(value, NOW) == min(ahead, MAX_VALIDITY_S)


@given(
    behind=st.integers(min_value=0, max_value=365 * DAY),
    quarters=st.integers(min_value=0, max_value=48),
    sign=st.sampled_from("+-"),
)
def test_past_absolute_times_are_refused(behind: int, quarters: int, sign: str) -> None:
    moment = datetime.fromtimestamp(NOW - behind, UTC)
    value = _smpp_time(moment, quarters, sign)
    _refused(ESME_RINVEXPIRY, lambda: validity_seconds(value, NOW))


def test_far_absolute_times_are_capped() -> None:
    assert validity_seconds("260101000000000+", NOW) == MAX_VALIDITY_S
    assert validity_seconds("990101000000000+", NOW) == MAX_VALIDITY_S


def test_a_fractional_now_counts_whole_seconds() -> None:
    assert validity_seconds("250615130000000+", NOW + 0.5) == 3599


@pytest.mark.parametrize(
    "value",
    [
        "251315120000000+",  # month 13
        "250015120000000+",  # month 0
        "250632120000000+",  # day 32
        "250231120000000+",  # 31 February
        "250615250000000+",  # hour 25
        "250615126000000+",  # minute 60
        "250615120060000+",  # second 60
    ],
)
def test_absolute_values_that_are_not_dates_are_refused(value: str) -> None:
    _refused(ESME_RINVEXPIRY, lambda: validity_seconds(value, NOW))


@pytest.mark.parametrize(
    "value",
    [
        "R",
        "000001000000000",  # no p
        "000001000000000X",
        "00000100000000R",  # 15 characters
        "0000010000000000R",  # 17 characters
        "00000100000000aR",
        " 000001000000000R",
        "000001000000000R ",
        "000001000000000r",
        "000001000000000R\n",
    ],
)
def test_malformed_values_are_refused(value: str) -> None:
    _refused(ESME_RINVEXPIRY, lambda: validity_seconds(value, NOW))


@given(st.text(max_size=20))
def test_any_text_gives_seconds_none_or_refusal(value: str) -> None:
    status: int | None = None
    seconds: int | None = None
    try:
        seconds = validity_seconds(value, NOW)
    except Refused as refused:
        status = refused.status
    assert status in (None, CommandStatus.ESME_RINVEXPIRY)
    assert seconds is None or 0 < seconds <= MAX_VALIDITY_S
