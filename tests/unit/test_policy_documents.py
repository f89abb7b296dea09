"""The operator's policy documents: what parses, what is refused (ValueError naming the problem),
what survives a round trip, and how PolicyCache falls back to defaults on a stored document that
no longer parses.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate import errors
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.domain.countries import CountryRules, SenderRules
from smsgate.domain.faults import FaultRule, parse_faults, result_code_named
from smsgate.domain.keywords import KeywordMatcher
from smsgate.domain.limits import LimitPolicy, WindowLimits
from smsgate.domain.models import AccessKey, Account, AccountState
from smsgate.domain.pricing import PriceTable, format_micros, parse_amount
from smsgate.domain.settings import AccountSettings, PlatformSettings
from smsgate.errors import SmsError
from smsgate.service.policy import DEFAULT_PRICES, Policy, PolicyCache, parse_document
from smsgate.service.submit import Submission
from tests import builders

T0 = 1_795_000_000.0
ACCOUNT_ID = "1000000000000001"
ALL_REFUNDABLE = frozenset(c.code for c in errors.RECEIPT_CODES) | {"EXPIRED"}
BAD_LIMITS = {"OTP": {"per_minute": 0}}


class FixedClock:
    def __init__(self, now: float = T0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


# -- amounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "micros"),
    [("0.05", 50_000), (0.05, 50_000), (5, 5_000_000), ("5", 5_000_000), ("0", 0), (0, 0)],
)
def test_amounts_are_decimal_strings_or_numbers(value: object, micros: int) -> None:
    assert parse_amount(value) == micros


@pytest.mark.parametrize(
    "value", ["abc", "", "-0.01", -1, "0.0000001", "NaN", "Infinity", True, None, [1], {"a": 1}]
)
def test_bad_amounts_are_refused_naming_where(value: object) -> None:
    with pytest.raises(ValueError, match=r"countries\.SG\.price"):
        parse_amount(value, "countries.SG.price")


@pytest.mark.parametrize(
    ("micros", "text"),
    [(50_000, "0.05"), (0, "0"), (1, "0.000001"), (100_000_000, "100"), (1_234_500_000, "1234.5")],
)
def test_amounts_are_shown_in_plain_digits(micros: int, text: str) -> None:
    assert format_micros(micros) == text


@given(st.integers(0, 10**15))
def test_shown_amounts_parse_back(micros: int) -> None:
    assert parse_amount(format_micros(micros)) == micros


# -- prices ----------------------------------------------------------------------------------

PRICES = {
    "default": "0.05",
    "countries": {
        "SG": {"price": "0.04", "carriers": {"SingTel": "0.035"}},
        "ID": {"price": "0.06"},
        "HK": {"carriers": {"3": "0.07"}},
    },
}


def test_a_price_table_prices_network_then_country_then_default() -> None:
    table = PriceTable.from_dict(PRICES)
    assert table.segment_price("SG", "SingTel") == 35_000
    assert table.segment_price("SG", "M1") == 40_000
    assert table.segment_price("ID", "Telkomsel") == 60_000
    assert table.segment_price("HK", "3") == 70_000
    assert table.segment_price("HK", "SmarTone") == 50_000  # no HK price: the default
    assert table.segment_price("MY", "Maxis") == 50_000


def test_without_a_default_an_unlisted_country_has_no_price() -> None:
    table = PriceTable.from_dict({"countries": {"SG": {"price": "0.04"}}})
    assert table.segment_price("SG", "M1") == 40_000
    assert table.segment_price("ID", "Telkomsel") is None
    assert PriceTable.from_dict({}).segment_price("SG", "M1") is None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "JSON object"),
        ({"currency": "USD"}, "currency"),
        ({"countries": []}, "object keyed"),
        ({"countries": {"sg": {"price": "1"}}}, "'sg'"),
        ({"countries": {"SGP": {"price": "1"}}}, "'SGP'"),
        ({"countries": {"S1": {"price": "1"}}}, "'S1'"),
        ({"countries": {"SG": "0.04"}}, "countries.SG"),
        ({"countries": {"SG": {"cost": "0.04"}}}, "countries.SG"),
        ({"countries": {"SG": {"price": "-1"}}}, "countries.SG.price"),
        ({"countries": {"SG": {"carriers": []}}}, "countries.SG.carriers"),
        ({"countries": {"SG": {"carriers": {"M1": "x"}}}}, "countries.SG.carriers.M1"),
        ({"default": "abc"}, "default"),
        ({"default": "0.0000001"}, "6 decimal places"),
    ],
)
def test_a_bad_price_table_is_refused_naming_the_problem(doc: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        PriceTable.from_dict(doc)


def test_a_price_table_round_trips_through_json() -> None:
    table = PriceTable.from_dict(PRICES)
    doc = json.loads(json.dumps(table.to_dict()))
    assert doc == PRICES
    assert PriceTable.from_dict(doc) == table


_codes = st.sampled_from(["SG", "ID", "HK", "MY", "TH"])
_prices = st.integers(0, 10**10)


@given(
    default=st.none() | _prices,
    countries=st.dictionaries(_codes, _prices),
    networks=st.dictionaries(st.tuples(_codes, st.text(min_size=1, max_size=8)), _prices),
)
def test_any_price_table_round_trips(
    default: int | None, countries: dict[str, int], networks: dict[tuple[str, str], int]
) -> None:
    table = PriceTable(default, countries, networks)
    assert PriceTable.from_dict(json.loads(json.dumps(table.to_dict()))) == table


# -- countries -------------------------------------------------------------------------------

COUNTRIES = {
    "allowed": ["SG", "ID", "HK"],
    "senders": {
        "ID": {"alphanumeric": False},
        "SG": {"blocked": ["BANK", "GOV"]},
        "HK": {"allowed": ["Acme", "85291234567"]},
    },
}


def sender_verdict(rules: CountryRules, sender: str | None, region: str) -> object:
    try:
        rules.check_sender(sender, region)
    except SmsError as exc:
        return exc.result
    return None


def test_country_rules_parse_as_documented() -> None:
    rules = CountryRules.from_dict(COUNTRIES)
    assert rules.allowed == frozenset({"SG", "ID", "HK"})
    assert rules.senders["SG"] == SenderRules(blocked=frozenset({"bank", "gov"}))
    assert rules.senders["ID"] == SenderRules(alphanumeric=False)
    assert rules.senders["HK"].allowed == frozenset({"acme", "85291234567"})

    rules.check_destination("SG", "Singapore")
    with pytest.raises(SmsError) as caught:
        rules.check_destination("MY", "Malaysia")
    assert caught.value.result is errors.NOT_SUPPORTED_COUNTRY
    assert [
        sender_verdict(rules, "Gov", "SG"),
        sender_verdict(rules, "Acme", "ID"),
        sender_verdict(rules, "62811", "ID"),
        sender_verdict(rules, "Other", "HK"),
        sender_verdict(rules, None, "HK"),
        sender_verdict(rules, "Anything", "MY"),
    ] == [errors.SENDERID_ERROR, errors.SENDERID_ERROR, None, errors.SENDERID_ERROR, None, None]


def test_empty_country_rules_allow_everything() -> None:
    rules = CountryRules.from_dict({})
    assert rules == CountryRules()
    rules.check_destination("ZW", "Zimbabwe")
    rules.check_sender("ANY1", "ZW")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "countries document"),
        ({"blocked": ["SG"]}, "countries document"),
        ({"allowed": "SG"}, "allowed must be a list"),
        ({"allowed": ["sg"]}, "'sg'"),
        ({"allowed": ["SGP"]}, "'SGP'"),
        ({"allowed": [65]}, "65"),
        ({"senders": []}, "senders must be an object"),
        ({"senders": {"Singapore": {}}}, "'Singapore'"),
        ({"senders": {"SG": []}}, "senders.SG takes only"),
        ({"senders": {"SG": {"block": ["X"]}}}, "senders.SG takes only"),
        ({"senders": {"SG": {"alphanumeric": "no"}}}, "senders.SG.alphanumeric"),
        ({"senders": {"SG": {"numeric": 0}}}, "senders.SG.numeric"),
        ({"senders": {"SG": {"blocked": "BANK"}}}, "senders.SG.blocked"),
        ({"senders": {"SG": {"blocked": [""]}}}, "senders.SG.blocked"),
        ({"senders": {"SG": {"allowed": [1]}}}, "senders.SG.allowed"),
    ],
)
def test_bad_country_rules_are_refused_naming_the_problem(doc: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        CountryRules.from_dict(doc)


def test_country_rules_round_trip_through_json() -> None:
    rules = CountryRules.from_dict(COUNTRIES)
    doc = json.loads(json.dumps(rules.to_dict()))
    assert CountryRules.from_dict(doc) == rules
    assert doc["senders"]["SG"] == {
        "alphanumeric": True,
        "numeric": True,
        "blocked": ["bank", "gov"],
    }
    assert CountryRules().to_dict() == {}


# -- platform settings -----------------------------------------------------------------------


def test_platform_defaults() -> None:
    assert PlatformSettings.from_dict({}) == PlatformSettings()
    assert PlatformSettings() == PlatformSettings(
        limits={},
        system_per_day=None,
        refund_on=frozenset(),
        review_templates="manual",
        review_sign_names="manual",
        max_param_length=35,
        require_sign_name=True,
    )


def test_platform_settings_parse_as_documented() -> None:
    settings = PlatformSettings.from_dict(
        {
            "limits": {"OTP": {"per_day": 20}},
            "system_per_day": 1_000_000,
            "refund_on": ["INVALID_NUM", "EXPIRED"],
            "review": {"templates": "auto", "sign_names": "manual"},
            "max_param_length": 20,
            "require_sign_name": False,
        }
    )
    assert settings == PlatformSettings(
        limits={"OTP": {"per_day": 20}},
        system_per_day=1_000_000,
        refund_on=frozenset({"INVALID_NUM", "EXPIRED"}),
        review_templates="auto",
        review_sign_names="manual",
        max_param_length=20,
        require_sign_name=False,
    )


def test_refund_on_all_is_every_failure_code() -> None:
    refund_on = PlatformSettings.from_dict({"refund_on": "all"}).refund_on
    assert refund_on == ALL_REFUNDABLE
    assert errors.DELIVERED.code not in refund_on


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "JSON object"),
        ({"refunds": []}, "refunds"),
        ({"review": "auto"}, "JSON object"),
        ({"review": {"templates": "yes"}}, "review.templates"),
        ({"review": {"sign_names": None}}, "review.sign_names"),
        ({"review": {"senders": "auto"}}, "senders"),
        ({"refund_on": ["NOPE"]}, "refund_on"),
        ({"refund_on": ["success"]}, "refund_on"),  # a delivery is never refunded
        ({"refund_on": "INVALID_NUM"}, "refund_on"),
        ({"refund_on": "ALL"}, "refund_on"),
        ({"require_sign_name": "true"}, "require_sign_name"),
        ({"max_param_length": 0}, "max_param_length"),
        ({"max_param_length": True}, "max_param_length"),
        ({"max_param_length": 3.5}, "max_param_length"),
        ({"system_per_day": 0}, "system_per_day"),
        ({"system_per_day": "1000"}, "system_per_day"),
        ({"limits": []}, "platform.limits"),
    ],
)
def test_bad_platform_settings_are_refused_naming_the_problem(doc: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        PlatformSettings.from_dict(doc)


@pytest.mark.parametrize("item", [["INVALID_NUM"], {"code": "INVALID_NUM"}])
def test_refund_on_with_a_non_text_item_is_a_value_error(item: object) -> None:
    with pytest.raises(ValueError, match="refund_on"):
        PlatformSettings.from_dict({"refund_on": [item]})


def test_platform_limits_are_validated_when_parsed() -> None:
    with pytest.raises(ValueError, match=r"OTP\.per_minute"):
        parse_document("platform", json.dumps({"limits": BAD_LIMITS}))


# -- account settings ------------------------------------------------------------------------

ACCOUNT_DOC = {
    "limits": {"account_per_day": 100},
    "barred_actions": ["BatchSendMessageToGlobe", "SendMessageToGlobe"],
    "billing": "overdue",
    "max_param_length": 20,
}


def test_account_settings_parse_as_documented() -> None:
    settings = AccountSettings.from_dict(ACCOUNT_DOC)
    assert settings == AccountSettings(
        limits={"account_per_day": 100},
        barred_actions=frozenset({"BatchSendMessageToGlobe", "SendMessageToGlobe"}),
        overdue=True,
        max_param_length=20,
    )
    assert not AccountSettings.from_dict({"billing": "normal"}).overdue


def test_account_settings_round_trip() -> None:
    assert AccountSettings.from_dict(ACCOUNT_DOC).to_dict() == ACCOUNT_DOC
    assert AccountSettings.from_dict({}) == AccountSettings()
    assert AccountSettings().to_dict() == {}
    # "normal" is the default, so it is left out.
    assert AccountSettings.from_dict({"billing": "normal"}).to_dict() == {}


@given(
    barred=st.frozensets(st.sampled_from(["SendMessageToGlobe", "QueryMessage", "X"])),
    overdue=st.booleans(),
    max_length=st.none() | st.integers(1, 1000),
    per_day=st.none() | st.integers(1, 10**6),
)
def test_any_account_settings_round_trip(
    barred: frozenset[str], overdue: bool, max_length: int | None, per_day: int | None
) -> None:
    limits = {} if per_day is None else {"account_per_day": per_day}
    settings = AccountSettings(limits, barred, overdue, max_length)
    assert AccountSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "JSON object"),
        ({"billing_state": "overdue"}, "billing_state"),
        ({"billing": "late"}, "billing"),
        ({"billing": None}, "billing"),
        ({"barred_actions": "SendMessageToGlobe"}, "barred_actions"),
        ({"barred_actions": [1]}, "barred_actions"),
        ({"max_param_length": 0}, "max_param_length"),
        ({"max_param_length": "20"}, "max_param_length"),
        ({"limits": 5}, "account.limits"),
    ],
)
def test_bad_account_settings_are_refused_naming_the_problem(doc: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        AccountSettings.from_dict(doc)


def test_account_limits_are_validated_when_parsed() -> None:
    with pytest.raises(ValueError, match=r"OTP\.per_minute"):
        parse_document(f"account:{ACCOUNT_ID}", json.dumps({"limits": BAD_LIMITS}))


# -- faults ----------------------------------------------------------------------------------

FAULTS = [
    {
        "account": ACCOUNT_ID,
        "action": "SendMessageToGlobe",
        "code": "isp.GATEWAY_ERROR",
        "count": 3,
    },
    {"account": "*", "action": "*", "code": "isp.UNKNOWN", "share": 0.01},
    {"account": "*", "action": "QueryMessage", "code": "isp.SYSTEM_ERROR/21", "share": 1},
]


def test_faults_parse_as_documented() -> None:
    assert parse_faults(FAULTS) == (
        FaultRule(ACCOUNT_ID, "SendMessageToGlobe", errors.GATEWAY_ERROR, count=3),
        FaultRule("*", "*", errors.UNKNOWN, share=0.01),
        FaultRule("*", "QueryMessage", errors.SYSTEM_ERROR_ACCESS_LAYER, share=1.0),
    )
    assert parse_faults([]) == ()


def test_faults_round_trip_through_json() -> None:
    rules = parse_faults(FAULTS)
    docs = json.loads(json.dumps([r.to_dict() for r in rules]))
    assert docs[0] == {**FAULTS[0], "code": "isp.GATEWAY_ERROR/24"}
    assert parse_faults(docs) == rules


def test_a_fault_rule_applies_to_its_account_and_action() -> None:
    rule = FaultRule(ACCOUNT_ID, "SendMessageToGlobe", errors.UNKNOWN, count=1)
    anywhere = FaultRule("*", "*", errors.UNKNOWN, count=1)
    assert rule.applies_to(ACCOUNT_ID, "SendMessageToGlobe")
    assert not rule.applies_to("1000000000000002", "SendMessageToGlobe")
    assert not rule.applies_to(ACCOUNT_ID, "QueryMessage")
    assert anywhere.applies_to("1000000000000002", "QueryMessage")


def _fault(**changes: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"account": "*", "action": "*", "code": "isp.UNKNOWN", "count": 1}
    rule.update(changes)
    return {k: v for k, v in rule.items() if v is not None}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "JSON list"),
        ("isp.UNKNOWN", "JSON list"),
        ([1], "fault #1 takes only"),
        ([_fault(), _fault(when="now")], "fault #2 takes only"),
        ([_fault(account=None)], "fault #1: account is required"),
        ([_fault(action="")], "fault #1: action is required"),
        ([_fault(code=5)], "fault #1: code is required"),
        ([_fault(count=None)], "either count"),
        ([_fault(share=0.5)], "either count"),
        ([_fault(count=0)], "count must be"),
        ([_fault(count=True)], "count must be"),
        ([_fault(count=1.5)], "count must be"),
        ([_fault(count=None, share=0)], "share must be"),
        ([_fault(count=None, share=1.5)], "share must be"),
        ([_fault(count=None, share=True)], "share must be"),
        ([_fault(count=None, share="0.5")], "share must be"),
        ([_fault(code="isv.NOPE")], "not one seed code"),
        ([_fault(code="OK")], "not one seed code"),
        ([_fault(code="isp.SYSTEM_ERROR")], "say which"),
    ],
)
def test_bad_faults_are_refused_naming_the_problem(doc: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_faults(doc)


def test_result_code_named_finds_one_seed_row() -> None:
    assert result_code_named("isp.GATEWAY_ERROR") is errors.GATEWAY_ERROR
    assert result_code_named("isv.SENDERID_ERROR") is errors.SENDERID_ERROR  # SMPP 25, shared
    assert result_code_named("isv.FORBIDDEN_ACTION") is errors.FORBIDDEN_ACTION
    assert result_code_named("isp.SYSTEM_ERROR/21") is errors.SYSTEM_ERROR_ACCESS_LAYER
    assert result_code_named("isp.SYSTEM_ERROR/46") is errors.SYSTEM_ERROR


def test_every_failure_row_can_be_named_with_its_smpp_status() -> None:
    for row in errors.SEED_ROWS:
        if not row.ok:
            assert result_code_named(f"{row.code}/{row.smpp_status}") is row


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("isp.SYSTEM_ERROR", "say which: isp.SYSTEM_ERROR/21, isp.SYSTEM_ERROR/46"),
        ("OK", "not one seed code$"),
        ("isv.NOPE", "not one seed code$"),
        ("isv.SENDERID_ERROR/26", "not one seed code$"),
        ("", "not one seed code$"),
    ],
)
def test_result_code_named_refuses_what_is_not_one_row(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        result_code_named(name)


# -- parse_document --------------------------------------------------------------------------


def test_parse_document_picks_the_parser_by_name() -> None:
    assert parse_document("prices", json.dumps(PRICES)) == PriceTable.from_dict(PRICES)
    assert parse_document("countries", "{}") == CountryRules()
    assert parse_document("platform", "{}") == PlatformSettings()
    assert parse_document("faults", json.dumps(FAULTS)) == parse_faults(FAULTS)
    assert parse_document(f"account:{ACCOUNT_ID}", '{"billing": "overdue"}') == AccountSettings(
        overdue=True
    )
    keywords = parse_document("keywords", '["free", "casino"]')
    assert isinstance(keywords, KeywordMatcher)
    assert keywords.find("FREE stuff") == "free"
    # A key policy stays JSON text, evaluated per call.
    assert json.loads(parse_document("key:LTAI1", '{"Statement": "anything"}')) == {
        "Statement": "anything"
    }


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("pricing", "{}", "unknown policy document 'pricing'"),
        ("prices:2", "{}", "unknown policy document 'prices:2'"),
        ("prices", "{not json", "prices is not valid JSON"),
        ("keywords", '{"free": true}', "keywords must be a JSON list of strings"),
        ("keywords", '["free", 1]', "keywords must be a JSON list of strings"),
        ("keywords", '["free", "  "]', "empty or only white space"),
    ],
)
def test_parse_document_refuses_with_a_value_error(name: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_document(name, text)


@pytest.mark.parametrize("name", ["account", "key"])
def test_a_prefix_without_its_id_is_not_a_document(name: str) -> None:
    with pytest.raises(ValueError, match="unknown policy document"):
        parse_document(name, "{}")


# -- PolicyCache -----------------------------------------------------------------------------


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    opened = MemoryStore()
    await opened.start()
    yield opened
    await opened.close()


async def put(store: MemoryStore, name: str, doc: object) -> None:
    await store.put_document(name, json.dumps(doc))


async def test_an_empty_store_means_every_default(store: MemoryStore) -> None:
    cache = PolicyCache(store, FixedClock(), ttl_s=0)
    policy = await cache.current()
    assert policy == Policy()
    assert policy.prices is DEFAULT_PRICES
    assert policy.prices.segment_price("SG", "SingTel") == 50_000
    assert (policy.keywords, policy.faults, policy.faults_version) == (None, (), 0)
    assert policy.limits == LimitPolicy()
    assert await cache.account(ACCOUNT_ID) == AccountSettings()
    assert await cache.account_limits(ACCOUNT_ID) == LimitPolicy()
    assert await cache.key_policy("LTAI1") is None


async def test_documents_are_parsed_into_the_policy(store: MemoryStore) -> None:
    await put(store, "prices", PRICES)
    await put(store, "countries", COUNTRIES)
    await put(store, "keywords", ["free"])
    await put(store, "faults", FAULTS)
    await put(store, "faults", FAULTS)
    await put(store, "platform", {"limits": {"OTP": {"per_day": 20}}, "system_per_day": 9})
    await put(store, f"account:{ACCOUNT_ID}", {"limits": {"OTP": {"per_minute": None}}})
    await put(store, "key:LTAI1", {"Statement": []})
    cache = PolicyCache(store, FixedClock(), ttl_s=0)

    policy = await cache.current()

    assert policy.prices == PriceTable.from_dict(PRICES)
    assert policy.countries == CountryRules.from_dict(COUNTRIES)
    assert policy.keywords is not None
    assert policy.keywords.find("free") == "free"
    assert (policy.faults, policy.faults_version) == (parse_faults(FAULTS), 2)
    assert policy.platform.system_per_day == 9
    assert policy.limits.otp == WindowLimits(per_minute=1, per_hour=5, per_day=20)
    assert (await cache.account_limits(ACCOUNT_ID)).otp == WindowLimits(
        per_minute=None, per_hour=5, per_day=20
    )
    assert await cache.account_limits("1000000000000002") == policy.limits
    assert json.loads(await cache.key_policy("LTAI1") or "null") == {"Statement": []}


@pytest.mark.parametrize(
    ("name", "doc"),
    [
        ("prices", {"default": "cheap"}),
        ("countries", {"allowed": "SG"}),
        ("keywords", {"free": True}),
        ("faults", [{"account": "*", "action": "*", "code": "isp.NOPE", "count": 1}]),
        ("platform", {"max_param_length": 0}),
        ("platform", {"refund_on": [["INVALID_NUM"]]}),  # TypeError: caught here as well
        (f"account:{ACCOUNT_ID}", {"billing": "late"}),
    ],
)
async def test_an_invalid_stored_document_is_logged_and_its_defaults_used(
    store: MemoryStore, caplog: pytest.LogCaptureFixture, name: str, doc: object
) -> None:
    await put(store, name, doc)  # the memory store checks only that it is JSON
    cache = PolicyCache(store, FixedClock(), ttl_s=0)

    with caplog.at_level(logging.ERROR, logger="smsgate.service.policy"):
        policy = await cache.current()

    assert policy == Policy(faults_version=policy.faults_version)
    assert await cache.account(ACCOUNT_ID) == AccountSettings()
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert f"policy document {name} v1 is invalid, using defaults" in record.getMessage()


async def test_a_document_gone_bad_is_not_kept_at_its_last_good_version(
    store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    cache = PolicyCache(store, FixedClock(), ttl_s=0)
    await put(store, "prices", {"default": "0.01"})
    assert (await cache.current()).prices.segment_price("SG", "M1") == 10_000

    with caplog.at_level(logging.ERROR, logger="smsgate.service.policy"):
        await put(store, "prices", {"default": "cheap"})
        assert (await cache.current()).prices is DEFAULT_PRICES
        assert "prices v2 is invalid" in caplog.text

        await put(store, "prices", {"default": "0.02"})
        assert (await cache.current()).prices.segment_price("SG", "M1") == 20_000
    assert len(caplog.records) == 1  # logged once, not on every read


async def test_invalid_platform_limits_written_by_hand_fall_back_to_defaults(
    store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Limits are validated with the platform document, so a hand-written bad one makes the
    whole document invalid: logged, and every platform default used."""
    await put(store, "platform", {"limits": BAD_LIMITS, "system_per_day": 7})
    cache = PolicyCache(store, FixedClock(), ttl_s=0)

    with caplog.at_level(logging.ERROR, logger="smsgate.service.policy"):
        policy = await cache.current()

    assert policy.limits == LimitPolicy()
    assert policy.platform.system_per_day is None
    assert "policy document platform v1 is invalid, using defaults" in caplog.text


async def test_an_invalid_prices_document_still_sends_at_the_default_price(
    store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    account = Account(ACCOUNT_ID, "acme", AccountState.NORMAL, 1_000_000, None, T0)
    await store.create_account(account, AccessKey("LTAI1", ACCOUNT_ID, "s" * 30, True, None, T0))
    await put(store, "prices", {"default": "cheap"})
    service = (await builders.open_core(store, FixedClock())).submit

    with caplog.at_level(logging.ERROR, logger="smsgate.service.policy"):
        message = await service.send(account, Submission(to="6591234567", body="hi"))

    assert message.price_micros == 50_000
    assert "prices v1 is invalid" in caplog.text


async def test_documents_are_read_again_only_after_the_ttl(store: MemoryStore) -> None:
    clock = FixedClock()
    cache = PolicyCache(store, clock, ttl_s=1.0)
    assert (await cache.current()).platform.max_param_length == 35

    await put(store, "platform", {"max_param_length": 10})
    clock.t = T0 + 0.999
    assert (await cache.current()).platform.max_param_length == 35
    clock.t = T0 + 1.0
    assert (await cache.current()).platform.max_param_length == 10


async def test_with_no_ttl_every_call_sees_the_latest_documents(store: MemoryStore) -> None:
    cache = PolicyCache(store, FixedClock(), ttl_s=0)
    for length in (10, 11, 12):
        await put(store, "platform", {"max_param_length": length})
        assert (await cache.current()).platform.max_param_length == length
    await put(store, f"account:{ACCOUNT_ID}", {"limits": {"account_per_day": 5}})
    assert (await cache.account_limits(ACCOUNT_ID)).account_per_day == 5
    await put(store, f"account:{ACCOUNT_ID}", {"limits": {"account_per_day": 6}})
    assert (await cache.account_limits(ACCOUNT_ID)).account_per_day == 6
