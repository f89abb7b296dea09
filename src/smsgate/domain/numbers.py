"""Destination numbers: parse, validate and describe them the way Alibaba's international API does.

Alibaba's international actions (2018-05-01) take ``To`` as the full international number with the
country dialling code and no ``+`` (``6281234567890``, ``85212345678``) and answer with
``NumberDetail {Country, Region, Carrier}``. Everything here is derived from Google's
libphonenumber metadata (the ``phonenumbers`` package), never from hand-written patterns, so that
number plans stay correct by upgrading one dependency.

Accepted input: the digits of an E.164 number (ITU-T E.164 §6: country code + national
significant number, at most 15 digits), optionally preceded by ``+`` or the international call
prefix ``00``; ASCII spaces and dashes are removed, nothing else is tolerated.

Decisions worth knowing:

- **Number types that can receive SMS**: only ``MOBILE`` and ``FIXED_LINE_OR_MOBILE`` are accepted.
  The latter is what libphonenumber reports where mobile and fixed ranges share a numbering plan
  (NANP: US/CA; parts of IN, CN...), so refusing it would refuse every US number. ``PAGER`` is
  refused: paging networks are not reached through an SMSC. ``VOIP``, ``PERSONAL_NUMBER`` (follow-me
  numbers), ``UAN``, ``VOICEMAIL``, ``FIXED_LINE``, ``TOLL_FREE``, ``PREMIUM_RATE`` and
  ``SHARED_COST`` are refused: A2P traffic to them is dropped or billed abnormally by carriers.
- **Canonical form**: :attr:`NumberInfo.e164` is libphonenumber's E.164 rendering, which drops a
  trunk prefix typed after the country code (``62 0812...`` becomes ``62812...``). Throttling per
  number and de-duplication therefore key on one spelling of each number.
- **Non-geographic numbers** (``+800``, ``+882``... region ``001``) have no destination country to
  price or route by, and are refused with ``isv.NOT_SUPPORTED_COUNTRY``.
- **Network** is the mobile operator the range was allocated to (what Alibaba calls
  ``Carrier``); it can be stale for ported numbers. In smsgate a *carrier* is where a message
  leaves (the simulator, an upstream connector), never a mobile operator.

Parsing sits on the submit hot path, so results (accepted and refused) are kept in a bounded LRU
cache keyed by the normalised digits; and since most traffic goes to numbers never seen before,
the digits are split into country code and national number without ``phonenumbers.parse``'s
general machinery (for free text, extensions, vanity letters) whenever the result is plainly
the same: see :func:`_split`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

import phonenumbers
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberType,
    carrier,
    geocoder,
    region_code_for_country_code,
)

from smsgate import errors
from smsgate.errors import ResultCode, SmsError

__all__ = [
    "CACHE_SIZE",
    "SMS_CAPABLE_TYPES",
    "NumberInfo",
    "is_mainland_china",
    "parse_destination",
]

#: Upper bound of cached parse results: ~65k distinct numbers is a day's traffic of a busy
#: account, and one entry costs a few hundred bytes.
CACHE_SIZE: Final = 65_536

#: Number types that can receive SMS (see the module docstring for the reasoning).
SMS_CAPABLE_TYPES: Final = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})

# E.164 allows 15 digits; libphonenumber still normalises a stray trunk prefix after the country
# code, so the cheap pre-check leaves room for it (17 is libphonenumber's own national maximum).
_MIN_DIGITS: Final = 6
_MAX_DIGITS: Final = 17
_NON_GEOGRAPHIC_REGION: Final = "001"
_LANG: Final = "en"

_TYPE_NAMES: Final[dict[int, str]] = {
    getattr(PhoneNumberType, name): name.lower()
    for name in dir(PhoneNumberType)
    if name.isupper() and isinstance(getattr(PhoneNumberType, name), int)
}


@dataclass(frozen=True, slots=True)
class NumberInfo:
    """A destination that passed validation, with what Alibaba's ``NumberDetail`` shows."""

    e164: str
    """Digits only, no ``+`` (what Alibaba echoes in ``To``), e.g. ``6281234567890``."""
    country: str
    """English country name, as ``NumberDetail.Country`` shows, e.g. ``Indonesia``."""
    region_code: str
    """ISO 3166-1 alpha-2 code, e.g. ``ID``."""
    region: str
    """Geographic area of the number where libphonenumber knows one, else the country name."""
    network: str
    """Name of the mobile operator the range belongs to (English), ``""`` if unknown."""
    number_type: str
    """libphonenumber's type in lower case: ``mobile`` or ``fixed_line_or_mobile``."""


@dataclass(frozen=True, slots=True)
class _Refusal:
    """A cached refusal; a fresh :class:`SmsError` is raised from it on every call, because
    re-raising one exception instance would keep growing its traceback."""

    result: ResultCode
    detail: str


def parse_destination(raw: str) -> NumberInfo:
    """Validate an international destination number and describe it.

    Raises ``SmsError(isv.MOBILE_NUMBER_ILLEGAL)`` for anything that is not a valid, SMS-capable
    number, and ``SmsError(isv.NOT_SUPPORTED_COUNTRY)`` for non-geographic numbers.
    """
    outcome = _lookup(_normalise(raw))
    if isinstance(outcome, _Refusal):
        raise SmsError(outcome.result, outcome.detail)
    return outcome


def is_mainland_china(info: NumberInfo) -> bool:
    """True for mainland China (+86), which Alibaba serves through its domestic API and rules;
    Hong Kong, Macao and Taiwan have their own region codes and are international."""
    return info.region_code == "CN"


def _normalise(raw: str) -> str:
    """Strip separators and the international prefix; cheap checks that need no metadata."""
    digits = raw.replace(" ", "").replace("-", "")
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    if not digits:
        raise SmsError(errors.MOBILE_NUMBER_ILLEGAL, "the number is empty")
    if not (digits.isascii() and digits.isdigit()):
        raise SmsError(
            errors.MOBILE_NUMBER_ILLEGAL, f"{_show(raw)} contains characters other than digits"
        )
    if digits[0] == "0":
        raise SmsError(
            errors.MOBILE_NUMBER_ILLEGAL,
            f"{_show(raw)} has no country code (give the international number, e.g. 6281234567890)",
        )
    if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS:
        raise SmsError(errors.MOBILE_NUMBER_ILLEGAL, f"{_show(raw)} has {len(digits)} digits")
    return digits


def _show(raw: str) -> str:
    """Quote input for an error detail without echoing an arbitrarily long string back."""
    return repr(raw if len(raw) <= 24 else raw[:24] + "...")


@functools.lru_cache(maxsize=CACHE_SIZE)
def _lookup(digits: str) -> NumberInfo | _Refusal:
    """Parse, validate and describe ``digits`` (country code first); the costly, cached part."""
    try:
        number = _split(digits) or phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return _Refusal(errors.MOBILE_NUMBER_ILLEGAL, f"{digits} is not a phone number")
    # number_type() is UNKNOWN exactly when is_valid_number() is False (both match the national
    # number against the region's metadata); asking once saves a second pass over the patterns.
    region_code = phonenumbers.region_code_for_number(number)
    national = phonenumbers.national_significant_number(number)
    number_type = _number_type(number.country_code, region_code, national)
    if number_type == PhoneNumberType.UNKNOWN:
        return _Refusal(errors.MOBILE_NUMBER_ILLEGAL, f"{digits} is not a valid number")
    if region_code is None or region_code == _NON_GEOGRAPHIC_REGION:
        return _Refusal(errors.NOT_SUPPORTED_COUNTRY, f"{digits} belongs to no country")
    type_name = _TYPE_NAMES.get(number_type, "unknown")
    if number_type not in SMS_CAPABLE_TYPES:
        return _Refusal(
            errors.MOBILE_NUMBER_ILLEGAL, f"{digits} is a {type_name} number, which cannot get SMS"
        )
    return _describe(number, national, region_code, number_type, type_name)


def _split(digits: str) -> PhoneNumber | None:
    """What ``phonenumbers.parse("+" + digits)`` gives, in a seventh of its time, when that
    is plain: the country code is the first of ``digits``' 1-3 digit prefixes that libphonenumber
    knows, and the rest is kept as the national number unless parsing would change it (a
    leading zero, or a national prefix its region strips, such as Argentina's ``15``). Those,
    and anything parse would refuse, give None: the caller asks parse itself. A test holds the
    two equal over every country code."""
    for length in (1, 2, 3):
        code = int(digits[:length])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[length:]
    if len(national) < _MIN_NATIONAL_DIGITS or national[0] == "0":
        return None
    prefix = _national_prefix(code)
    if prefix is None:
        return None
    if prefix is not _NO_PREFIX:
        match = prefix.match(national)
        if match is not None and (match.end() or any(g is not None for g in match.groups())):
            return None
    return PhoneNumber(country_code=code, national_number=int(national))


#: libphonenumber's shortest national significant number.
_MIN_NATIONAL_DIGITS: Final = 2
#: A country whose numbers carry no national prefix to strip.
_NO_PREFIX: Final = re.compile("(?!)")


@functools.cache
def _national_prefix(code: int) -> re.Pattern[str] | None:
    """The national prefix parse strips for country ``code`` (its main region's
    ``national_prefix_for_parsing``), :data:`_NO_PREFIX` if none; None without metadata."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        code, region_code_for_country_code(code)
    )
    if metadata is None:
        return None
    pattern = metadata.national_prefix_for_parsing
    return re.compile(pattern) if pattern else _NO_PREFIX


def _describe(
    number: phonenumbers.PhoneNumber,
    national: str,
    region_code: str,
    number_type: int,
    type_name: str,
) -> NumberInfo:
    country = _country_name(region_code)
    return NumberInfo(
        # format_number's E.164 form, without its "+": the country code and the national
        # significant number, which it computes as national_significant_number does.
        e164=f"{number.country_code}{national}",
        country=country,
        region_code=region_code,
        region=_area(number, number_type, country),
        network=carrier.name_for_valid_number(number, _LANG),
        number_type=type_name,
    )


def _number_type(country_code: int | None, region_code: str | None, national: str) -> int:
    """``phonenumbers.number_type`` of the number with this country code, region (what
    ``region_code_for_number`` gives) and national significant number, in a third of its time.

    number_type tries up to eleven descriptions of the region's numbers in a fixed order, each a
    length check then a pattern looked up by its text in the ``re`` module's cache; here each
    region's descriptions are taken once (:func:`_type_plan`) with their patterns compiled, and
    tried in the same order with the same checks. A test holds the two equal for every region's
    example numbers of every type and for random digits.
    """
    plan = _type_plan(country_code, region_code)
    if plan is None:
        return PhoneNumberType.UNKNOWN
    length = len(national)
    general, special, fixed_line, mobile, same_pattern = plan
    if not _matches(general, national, length):
        return PhoneNumberType.UNKNOWN
    for number_type, desc in special:
        if _matches(desc, national, length):
            return number_type
    if _matches(fixed_line, national, length):
        if same_pattern or _matches(mobile, national, length):
            return PhoneNumberType.FIXED_LINE_OR_MOBILE
        return PhoneNumberType.FIXED_LINE
    if not same_pattern and _matches(mobile, national, length):
        return PhoneNumberType.MOBILE
    return PhoneNumberType.UNKNOWN


#: A number description as :func:`_number_type` checks it: the lengths numbers of it may have
#: (empty: any), and its pattern; None for a description that matches nothing.
_Desc = tuple[frozenset[int], re.Pattern[str]] | None
#: general, the special types in number_type's order, fixed line, mobile, and whether the
#: region's fixed-line and mobile patterns are the same.
_TypePlan = tuple[_Desc, tuple[tuple[int, _Desc], ...], _Desc, _Desc, bool]

#: The types number_type tries after the general description and before fixed line and mobile.
_SPECIAL_TYPES: Final = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)


def _matches(desc: _Desc, national: str, length: int) -> bool:
    """phonenumbers' ``_is_number_matching_desc``: the length, if the description lists any,
    then the whole national number against the pattern."""
    if desc is None:
        return False
    lengths, pattern = desc
    if lengths and length not in lengths:
        return False
    return pattern.fullmatch(national) is not None


@functools.cache
def _type_plan(country_code: int | None, region_code: str | None) -> _TypePlan | None:
    """The descriptions number_type would read for this region's numbers (None: no metadata)."""
    if country_code is None or region_code is None:
        return None  # no region for the country code: number_type finds no metadata either
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region_code)
    if metadata is None:
        return None
    special = tuple(
        (number_type, desc)
        for name, number_type in _SPECIAL_TYPES
        if (desc := _desc(getattr(metadata, name))) is not None
    )
    return (
        _desc(metadata.general_desc),
        special,
        _desc(metadata.fixed_line),
        _desc(metadata.mobile),
        bool(metadata.same_mobile_and_fixed_line_pattern),
    )


def _desc(desc: phonenumbers.PhoneNumberDesc | None) -> _Desc:
    if desc is None or not desc.national_number_pattern:
        return None  # no pattern: phonenumbers' _match_national_number answers False
    return frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern)


def _area(number: phonenumbers.PhoneNumber, number_type: int, country: str) -> str:
    """Where the number is, as precisely as libphonenumber's geocoder knows. Mobile ranges are
    geographic only in a few plans (CN, BR, MX, NANP...); elsewhere the country is the answer, found
    without the geocoder's lookups. The geocoder gives "" for numbers of a shared country code
    (+1, +44, +7...) valid in several regions: the country again."""
    code = number.country_code  # always set by parse(); Optional in the stubs
    if code is None or not phonenumbers.is_number_type_geographical(number_type, code):
        return country
    return geocoder.description_for_valid_number(number, _LANG) or country


@functools.lru_cache(maxsize=512)
def _country_name(region_code: str) -> str:
    """English name of a region. libphonenumber's public ``country_name_for_number`` returns ""
    when a number is valid in several regions sharing a country code, so ask by region code."""
    return geocoder._region_display_name(region_code, _LANG) or region_code
