"""Destination number parsing, checked against libphonenumber's own example numbers."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from smsgate import errors
from smsgate.domain import numbers
from smsgate.domain.numbers import NumberInfo, is_mainland_china, parse_destination
from smsgate.errors import SmsError

SMS_REGIONS = ("ID", "HK", "SG", "GB", "US", "DE", "BR", "IN", "CN")


def example(region: str, kind: int) -> str:
    """libphonenumber's example number of ``kind`` in ``region``, as Alibaba takes it (no '+')."""
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None, f"no example {kind} number for {region}"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def refusal(raw: str) -> SmsError:
    with pytest.raises(SmsError) as caught:
        parse_destination(raw)
    return caught.value


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    numbers._lookup.cache_clear()


@pytest.mark.parametrize("region", SMS_REGIONS)
def test_example_mobile_numbers_are_accepted(region: str) -> None:
    digits = example(region, PhoneNumberType.MOBILE)
    info = parse_destination(digits)
    assert info.e164 == digits
    assert info.region_code == region
    assert info.number_type in {"mobile", "fixed_line_or_mobile"}
    assert info.country
    assert info.region


@pytest.mark.parametrize(
    ("region", "country"),
    [
        ("ID", "Indonesia"),
        ("HK", "Hong Kong"),
        ("SG", "Singapore"),
        ("GB", "United Kingdom"),
        ("US", "United States"),
        ("DE", "Germany"),
        ("BR", "Brazil"),
        ("IN", "India"),
        ("CN", "China"),
    ],
)
def test_country_is_the_english_name(region: str, country: str) -> None:
    assert parse_destination(example(region, PhoneNumberType.MOBILE)).country == country


def test_indonesian_mobile_in_full() -> None:
    digits = example("ID", PhoneNumberType.MOBILE)
    assert parse_destination(digits) == NumberInfo(
        e164=digits,
        country="Indonesia",
        region_code="ID",
        region="Indonesia",
        network="Telkomsel",
        number_type="mobile",
    )


def test_network_is_filled_for_a_mobile_range() -> None:
    info = parse_destination(example("HK", PhoneNumberType.MOBILE))
    assert info.network == "China Mobile"


def test_geocoded_region_for_a_chinese_mobile() -> None:
    info = parse_destination(example("CN", PhoneNumberType.MOBILE))
    assert info.country == "China"
    assert info.region == "Yulin, Guangxi"
    assert info.network == "China Unicom"


def test_us_numbers_are_fixed_line_or_mobile_and_accepted() -> None:
    info = parse_destination(example("US", PhoneNumberType.MOBILE))
    assert info.number_type == "fixed_line_or_mobile"
    assert info.region == "New Jersey"
    assert info.network == ""


def test_shared_country_code_gets_the_right_region() -> None:
    # +1 is shared by the NANP countries; the number's own region must come out.
    canada = example("CA", PhoneNumberType.MOBILE)
    info = parse_destination(canada)
    assert (info.region_code, info.country) == ("CA", "Canada")


@pytest.mark.parametrize(
    "spelling",
    [
        "{d}",
        "+{d}",
        "00{d}",
        "+{cc} {rest}",
        "{cc}-{rest}",
        " {cc} {rest} ",
    ],
)
def test_accepted_spellings_normalise_to_the_same_digits(spelling: str) -> None:
    digits = example("SG", PhoneNumberType.MOBILE)
    raw = spelling.format(d=digits, cc=digits[:2], rest=digits[2:])
    assert parse_destination(raw).e164 == digits


def test_trunk_prefix_after_country_code_is_dropped() -> None:
    digits = example("ID", PhoneNumberType.MOBILE)  # 62 812...
    assert parse_destination("620" + digits[2:]).e164 == digits


@pytest.mark.parametrize(
    ("region", "kind"),
    [
        ("GB", PhoneNumberType.FIXED_LINE),
        ("DE", PhoneNumberType.FIXED_LINE),
        ("CN", PhoneNumberType.FIXED_LINE),
        ("ID", PhoneNumberType.TOLL_FREE),
        ("DE", PhoneNumberType.TOLL_FREE),
        ("HK", PhoneNumberType.PREMIUM_RATE),
        ("GB", PhoneNumberType.VOIP),
        ("GB", PhoneNumberType.PAGER),
        ("DE", PhoneNumberType.PAGER),
        ("GB", PhoneNumberType.PERSONAL_NUMBER),
        ("HK", PhoneNumberType.UAN),
    ],
)
def test_numbers_that_cannot_receive_sms_are_refused(region: str, kind: int) -> None:
    error = refusal(example(region, kind))
    assert error.result is errors.MOBILE_NUMBER_ILLEGAL
    assert "cannot get SMS" in str(error)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("+", "empty"),
        ("6281234567a", "other than digits"),
        ("(65) 81234567", "other than digits"),
        ("65.8123.4567", "other than digits"),
        ("+65+81234567", "other than digits"),
        ("٦٥٨١٢٣٤٥٦٧", "other than digits"),  # Arabic-Indic digits are not ASCII digits
        ("6581234567\n", "other than digits"),
        ("081234567890", "no country code"),
        ("+081234567890", "no country code"),
        ("65812", "has 5 digits"),
        ("6" * 18, "has 18 digits"),
        ("999123456789", "not a phone number"),  # +999 is not an assigned country code
        ("6512345678", "not a valid number"),  # right length for SG, unassigned range
        ("62812", "has 5 digits"),
        ("6281234567890123", "not a valid number"),  # too long for Indonesia
    ],
)
def test_malformed_numbers_are_refused(raw: str, why: str) -> None:
    error = refusal(raw)
    assert error.result is errors.MOBILE_NUMBER_ILLEGAL
    assert why in str(error)


def test_detail_does_not_echo_huge_input() -> None:
    error = refusal("x" * 10_000)
    assert len(str(error)) < 100


def test_non_geographic_numbers_are_not_a_supported_country() -> None:
    # +882 34 is a global mobile range: valid, but no country to route or price by.
    number = phonenumbers.example_number_for_non_geo_entity(882)
    assert number is not None
    digits = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    assert phonenumbers.is_valid_number(number)
    assert refusal(digits).result is errors.NOT_SUPPORTED_COUNTRY


def test_results_are_cached_both_ways() -> None:
    digits = example("DE", PhoneNumberType.MOBILE)
    first = parse_destination(digits)
    assert parse_destination("+" + digits) is first
    refusal("6512345678")
    again = refusal("6512345678")
    assert again.result is errors.MOBILE_NUMBER_ILLEGAL
    info = numbers._lookup.cache_info()
    assert (info.hits, info.misses) == (2, 2)


def test_cached_refusals_raise_fresh_exceptions() -> None:
    first = refusal("6512345678")
    second = refusal("6512345678")
    assert first is not second


def test_cache_is_bounded() -> None:
    assert numbers._lookup.cache_parameters()["maxsize"] == numbers.CACHE_SIZE


@pytest.mark.parametrize(
    ("region", "mainland"),
    [("CN", True), ("HK", False), ("ID", False), ("US", False)],
)
def test_is_mainland_china(region: str, mainland: bool) -> None:
    info = parse_destination(example(region, PhoneNumberType.MOBILE))
    assert is_mainland_china(info) is mainland


def test_macao_and_taiwan_are_not_mainland() -> None:
    for region in ("MO", "TW"):
        info = parse_destination(example(region, PhoneNumberType.MOBILE))
        assert info.region_code == region
        assert not is_mainland_china(info)


# --- The quick split agrees with phonenumbers.parse -------------------------------------------

_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _parsed(digits: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None


@settings(max_examples=3000, deadline=None)
@given(
    code=st.sampled_from(_CODES),
    national=st.text("0123456789", min_size=1, max_size=14),
)
def test_the_quick_split_is_what_parse_gives(code: int, national: str) -> None:
    digits = f"{code}{national}"
    split = numbers._split(digits)
    if split is not None:  # None: the caller asks parse itself
        assert split == _parsed(digits)


@pytest.mark.parametrize("region", sorted(phonenumbers.SUPPORTED_REGIONS))
def test_the_quick_split_of_every_example_number(region: str) -> None:
    """Every region's example numbers, as given and with its national prefix typed after the
    country code (the trunk prefix parse strips): split as parse splits them, or left to it."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    assert metadata is not None
    prefixes = {"", metadata.national_prefix or ""}
    for kind in _TYPE_NAMES_ALL:
        number = phonenumbers.example_number_for_type(region, kind)
        if number is None:
            continue
        national = str(number.national_number)
        for prefix in prefixes:
            digits = f"{number.country_code}{prefix}{national}"
            split = numbers._split(digits)
            assert split is None or split == _parsed(digits), digits


_TYPE_NAMES_ALL = [
    getattr(PhoneNumberType, name)
    for name in dir(PhoneNumberType)
    if name.isupper() and isinstance(getattr(PhoneNumberType, name), int)
]


def test_argentinian_mobiles_dialled_with_15_are_left_to_parse() -> None:
    # 54 11 15 xxxx xxxx: parse rewrites it to the international mobile form 54 9 11 ...
    assert numbers._split("54111512345678") is None
    assert parse_destination("54111512345678").e164 == "5491112345678"


# --- The quick number type agrees with phonenumbers.number_type ---------------------------------


def _quick_type(number: phonenumbers.PhoneNumber) -> int:
    return numbers._number_type(
        number.country_code,
        phonenumbers.region_code_for_number(number),
        phonenumbers.national_significant_number(number),
    )


def _examples(region: str) -> list[phonenumbers.PhoneNumber]:
    """``region``'s example numbers of every type (001: of every non-geographic code)."""
    if region == "001":
        found = [
            phonenumbers.example_number_for_non_geo_entity(code)
            for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
        ]
    else:
        found = [phonenumbers.example_number_for_type(region, kind) for kind in _TYPE_NAMES_ALL]
    return [number for number in found if number is not None]


@pytest.mark.parametrize("region", [*sorted(phonenumbers.SUPPORTED_REGIONS), "001"])
def test_the_quick_number_type_of_every_example_number(region: str) -> None:
    """Every example number, and its neighbours a digit shorter, longer or changed (which fall
    outside the lengths or patterns of some types)."""
    for number in _examples(region):
        national = str(number.national_number)
        for variant in (national, national[:-1], national + "5", "9" + national[1:]):
            if variant:
                candidate = phonenumbers.PhoneNumber(
                    country_code=number.country_code, national_number=int(variant)
                )
                assert _quick_type(candidate) == phonenumbers.number_type(candidate), candidate


@settings(max_examples=3000, deadline=None)
@given(
    code=st.sampled_from(_CODES),
    national=st.text("0123456789", min_size=2, max_size=14),
)
def test_the_quick_number_type_of_any_digits(code: int, national: str) -> None:
    number = _parsed(f"{code}{national}")
    if number is not None:
        assert _quick_type(number) == phonenumbers.number_type(number)
