"""The seed table's business rules, through the service layer.

Each rule is switched on the way an operator does it, by writing its policy document to the store,
and exercised through :class:`SubmitService` (and :class:`ReceiptProcessor` for refunds) over the
memory store, queue and limiter, with a fixed clock. The policy cache re-reads the documents on
every call (``ttl_s=0``), so a document written in a test applies to the next call.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest

from smsgate import errors
from smsgate.adapters.queue.memory import MemoryDeliveryQueue
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.domain.ids import MessageIdGenerator
from smsgate.domain.models import (
    AccessKey,
    Account,
    AccountState,
    Message,
    MessageStatus,
    Receipt,
    ReviewStatus,
    SignName,
    Template,
    TemplateStatus,
)
from smsgate.errors import OverloadedError, ResultCode, SmsError
from smsgate.ports.store import StoreError
from smsgate.service.policy import PolicyCache
from smsgate.service.receipts import ReceiptProcessor
from smsgate.service.submit import Submission, SubmitService
from tests import builders

T0 = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC
NEXT_DAY = 1_795_046_400.0  # 2026-11-19 00:00:00 UTC
ACCOUNT_ID = "1000000000000001"
OTHER_ID = "1000000000000002"
SG = "6591234567"  # Singapore, SingTel
SG_M1 = "6598765432"  # Singapore, M1
SG_2 = "6581234567"  # Singapore, SingTel
ID = "6281234567890"  # Indonesia, Telkomsel
HK = "85291234567"  # Hong Kong
CN = "8613800138000"  # mainland China
PRICE = 50_000  # the default price of a segment: 0.05
CENT = 10_000
BALANCE = 1_000_000_000


class FixedClock:
    def __init__(self, now: float = T0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


def make_account(account_id: str = ACCOUNT_ID, balance: int = BALANCE) -> Account:
    name = "acme" if account_id == ACCOUNT_ID else f"acct-{account_id[-4:]}"
    return Account(account_id, name, AccountState.NORMAL, balance, None, T0 - 86_400)


def make_key(account: Account) -> AccessKey:
    return AccessKey("LTAI" + account.id, account.id, "s" * 30, True, None, T0 - 86_400)


@dataclass
class Rig:
    store: MemoryStore
    clock: FixedClock
    queue: MemoryDeliveryQueue
    policy: PolicyCache
    service: SubmitService
    account: Account

    async def put(self, name: str, doc: object) -> None:
        await self.store.put_document(name, json.dumps(doc))

    async def balance(self, account_id: str = ACCOUNT_ID) -> int:
        account = await self.store.get_account(account_id)
        assert account is not None
        return account.balance_micros

    async def set_balance(self, micros: int, account_id: str = ACCOUNT_ID) -> None:
        await self.store.add_balance(account_id, micros - await self.balance(account_id))

    async def stored(self, account_id: str = ACCOUNT_ID) -> list[Message]:
        return await self.store.list_messages(account_id, 10_000)

    async def add_account(self, account_id: str = OTHER_ID) -> Account:
        account = make_account(account_id)
        await self.store.create_account(account, make_key(account))
        return account

    async def send(self, to: str, body: str = "hi", **fields: object) -> Message:
        return await self.service.send(
            self.account,
            Submission(to=to, body=body, **fields),  # type: ignore[arg-type]
        )

    async def refusal(
        self, to: str, body: str = "hi", account: Account | None = None, **fields: object
    ) -> ResultCode:
        sub = Submission(to=to, body=body, **fields)  # type: ignore[arg-type]
        with pytest.raises(SmsError) as caught:
            await self.service.send(account or self.account, sub)
        return caught.value.result


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    store = MemoryStore()
    await store.start()
    account = make_account()
    await store.create_account(account, make_key(account))
    clock = FixedClock()
    queue = MemoryDeliveryQueue(10_000)
    core = await builders.open_core(store, clock, queue=queue, node_id=3)
    yield Rig(store, clock, queue, core.policy, core.submit, account)
    await store.close()


async def assert_nothing_taken(rig: Rig, balance: int = BALANCE) -> None:
    """A refused call stores, charges and queues nothing."""
    assert await rig.stored() == []
    assert await rig.balance() == balance
    assert rig.queue.used == 0


# -- prices and the balance ------------------------------------------------------------------


async def test_the_default_price_charges_five_cents_a_segment(rig: Rig) -> None:
    one = await rig.send(SG, "a" * 160)
    two = await rig.send(SG, "a" * 161)  # 2 segments of 153

    assert (one.segments, one.price_micros) == (1, PRICE)
    assert (two.segments, two.price_micros) == (2, 2 * PRICE)
    assert await rig.balance() == BALANCE - 3 * PRICE
    assert {m.id: m.price_micros for m in await rig.stored()} == {
        one.id: PRICE,
        two.id: 2 * PRICE,
    }


async def test_a_price_table_prices_by_country_then_network(rig: Rig) -> None:
    await rig.put(
        "prices",
        {
            "default": "0.05",
            "countries": {
                "SG": {"price": "0.04", "carriers": {"M1": "0.035"}},
                "ID": {"price": "0.06"},
            },
        },
    )

    prices = {to: (await rig.send(to)).price_micros for to in (SG, SG_M1, ID, HK)}

    assert prices == {SG: 40_000, SG_M1: 35_000, ID: 60_000, HK: 50_000}
    assert await rig.balance() == BALANCE - sum(prices.values())


async def test_a_network_price_applies_to_every_segment(rig: Rig) -> None:
    await rig.put("prices", {"countries": {"SG": {"carriers": {"M1": "0.035"}}}})
    message = await rig.send(SG_M1, "a" * 307)  # 3 segments
    assert (message.segments, message.price_micros) == (3, 105_000)


async def test_a_destination_without_a_price_is_not_supported(rig: Rig) -> None:
    await rig.put("prices", {"countries": {"SG": {"price": "0.04"}}})  # no default

    assert await rig.refusal(ID) is errors.NOT_SUPPORTED_COUNTRY
    await assert_nothing_taken(rig)

    accepted, failed = await rig.service.send_batch(
        rig.account, [Submission(to=ID, body="a"), Submission(to=SG, body="b")]
    )
    assert [m.to for m in accepted] == [SG]
    assert [(to, exc.result) for to, exc in failed] == [(ID, errors.NOT_SUPPORTED_COUNTRY)]
    assert await rig.balance() == BALANCE - 40_000


async def test_a_free_destination_needs_no_balance(rig: Rig) -> None:
    await rig.put("prices", {"default": "0"})
    await rig.set_balance(0)
    message = await rig.send(SG)
    assert message.price_micros == 0
    assert [m.id for m in await rig.stored()] == [message.id]
    assert await rig.balance() == 0


async def test_a_balance_of_exactly_the_charge_is_enough(rig: Rig) -> None:
    await rig.set_balance(PRICE)
    await rig.send(SG)
    assert await rig.balance() == 0

    await rig.set_balance(2 * PRICE)
    accepted, failed = await rig.service.send_batch(
        rig.account, [Submission(to=SG, body="a"), Submission(to=ID, body="b")]
    )
    assert (len(accepted), failed) == (2, [])
    assert await rig.balance() == 0


async def test_a_cent_short_is_amount_not_enough_and_takes_nothing(rig: Rig) -> None:
    await rig.set_balance(PRICE - CENT)

    assert await rig.refusal(SG, msg_type="OTP") is errors.AMOUNT_NOT_ENOUGH
    await assert_nothing_taken(rig, PRICE - CENT)

    # The refused code did not use the number's one OTP a minute: topped up, the very same
    # message goes at the very same moment.
    await rig.store.add_balance(ACCOUNT_ID, CENT)
    message = await rig.send(SG, msg_type="OTP")
    assert [m.id for m in await rig.stored()] == [message.id]
    assert await rig.balance() == 0


async def test_a_batch_the_balance_cannot_pay_is_refused_whole(rig: Rig) -> None:
    await rig.set_balance(2 * PRICE - CENT)
    subs = [Submission(to=SG, body="a", msg_type="OTP"), Submission(to=ID, body="b")]

    with pytest.raises(SmsError) as caught:
        await rig.service.send_batch(rig.account, subs)

    assert caught.value.result is errors.AMOUNT_NOT_ENOUGH
    await assert_nothing_taken(rig, 2 * PRICE - CENT)
    await rig.store.add_balance(ACCOUNT_ID, CENT)
    accepted, failed = await rig.service.send_batch(rig.account, subs)
    assert ([m.to for m in accepted], failed) == ([SG, ID], [])


# -- countries and sender IDs ----------------------------------------------------------------


async def test_only_allowed_countries_can_be_sent_to(rig: Rig) -> None:
    await rig.put("countries", {"allowed": ["SG", "HK"]})

    assert await rig.refusal(ID) is errors.NOT_SUPPORTED_COUNTRY
    # Mainland China stays the international API's own refusal, whatever the list says.
    assert await rig.refusal(CN) is errors.COUNTRY_RESTRICTED
    await assert_nothing_taken(rig)
    assert (await rig.send(SG)).region_code == "SG"
    assert (await rig.send(HK)).region_code == "HK"


async def test_no_countries_document_allows_every_priced_country(rig: Rig) -> None:
    assert {(await rig.send(to)).region_code for to in (SG, ID, HK)} == {"SG", "ID", "HK"}


SENDER_RULES = {
    "SG": {"blocked": ["BANK", "GOV"]},
    "HK": {"allowed": ["Acme", "85291234567"]},
    "ID": {"alphanumeric": False},
    "MY": {"numeric": False},
}


@pytest.mark.parametrize(
    ("to", "sender", "allowed"),
    [
        (SG, "BANK", False),
        (SG, "bank", False),  # sender IDs compare case-insensitively
        (SG, "Bank", False),
        (SG, "Acme", True),
        (SG, "BANKS", True),  # whole IDs, not prefixes
        (HK, "Acme", True),
        (HK, "ACME", True),
        (HK, "85291234567", True),
        (HK, "Other", False),
        (HK, "85291234568", False),
        (ID, "Acme", False),
        (ID, "628111", True),
        (ID, "+628111", True),
        ("60123456789", "60123456789", False),  # Malaysia: alphanumeric only
        ("60123456789", "Acme", True),
        (ID, "BANK", False),  # Indonesia refuses letters, not because SG blocks BANK
        (HK, None, True),  # no From: nothing to check against the allow-list
    ],
)
async def test_sender_rules_of_the_destination_country(
    rig: Rig, to: str, sender: str | None, allowed: bool
) -> None:
    await rig.put("countries", {"senders": SENDER_RULES})
    if allowed:
        assert (await rig.send(to, sender=sender)).sender == sender
    else:
        assert await rig.refusal(to, sender=sender) is errors.SENDERID_ERROR
        await assert_nothing_taken(rig)


async def test_sender_rules_of_one_country_do_not_apply_to_another(rig: Rig) -> None:
    await rig.put("countries", {"senders": {"SG": {"blocked": ["BANK"]}}})
    assert (await rig.send(HK, sender="BANK")).sender == "BANK"
    assert await rig.refusal(SG, sender="BANK") is errors.SENDERID_ERROR


async def test_a_malformed_sender_is_an_invalid_parameter_before_country_rules(rig: Rig) -> None:
    await rig.put("countries", {"senders": {"SG": {"blocked": ["ac_me"]}}})
    assert await rig.refusal(SG, sender="ac_me") is errors.INVALID_PARAMETERS


# -- keywords --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "Get FREE money",
        "get free money",
        "Get ＦＲＥＥ money",  # full-width
        "get ｆｒｅｅ money",
        "Get fr\u200bee money",  # a zero-width space does not hide it
        "freebies",  # a substring, no word boundaries
    ],
)
async def test_a_blocked_keyword_is_black_key_control_limit(rig: Rig, body: str) -> None:
    await rig.put("keywords", ["free", "casino"])
    assert await rig.refusal(SG, body=body) is errors.BLACK_KEY_CONTROL_LIMIT
    await assert_nothing_taken(rig)


async def test_a_full_width_keyword_matches_plain_text(rig: Rig) -> None:
    await rig.put("keywords", ["ＣＡＳＩＮＯ"])
    assert await rig.refusal(SG, body="best casino in town") is errors.BLACK_KEY_CONTROL_LIMIT


async def test_text_without_keywords_is_sent(rig: Rig) -> None:
    await rig.put("keywords", ["free", "casino"])
    assert (await rig.send(SG, body="Your code is 1234")).body == "Your code is 1234"


async def test_a_keyword_in_a_template_value_is_refused(rig: Rig) -> None:
    await rig.put("keywords", ["free"])
    await rig.store.put_sign_name(SignName(ACCOUNT_ID, "Acme", ReviewStatus.APPROVED, T0))
    await rig.store.put_template(
        Template(ACCOUNT_ID, "SMS_1", "Hello ${name}", "notification", TemplateStatus.APPROVED, T0)
    )
    sub = Submission(to=SG, body="", sender="Acme", template_code="SMS_1")

    with pytest.raises(SmsError) as caught:
        await rig.service.send_with_template(rig.account, sub, '{"name": "ＦＲＥＥ"}')

    assert caught.value.result is errors.BLACK_KEY_CONTROL_LIMIT
    await assert_nothing_taken(rig)


# -- templates and sign names ----------------------------------------------------------------


async def template_refusal(
    rig: Rig, sender: str | None = "Acme", params: str = '{"code": "1234"}'
) -> ResultCode:
    sub = Submission(to=SG, body="", sender=sender, template_code="SMS_1")
    with pytest.raises(SmsError) as caught:
        await rig.service.send_with_template(rig.account, sub, params)
    return caught.value.result


async def put_template(
    rig: Rig,
    status: TemplateStatus = TemplateStatus.APPROVED,
    content: str = "Your code is ${code}",
    account_id: str = ACCOUNT_ID,
) -> None:
    await rig.store.put_template(
        Template(account_id, "SMS_1", content, "verification", status, T0 - 60)
    )


async def put_sign(
    rig: Rig,
    status: ReviewStatus = ReviewStatus.APPROVED,
    name: str = "Acme",
    account_id: str = ACCOUNT_ID,
) -> None:
    await rig.store.put_sign_name(SignName(account_id, name, status, T0 - 60))


@pytest.mark.parametrize(
    "status", [None, TemplateStatus.PENDING, TemplateStatus.REJECTED, TemplateStatus.BLOCKED]
)
async def test_only_an_approved_template_is_sent(rig: Rig, status: TemplateStatus | None) -> None:
    await put_sign(rig)
    if status is not None:
        await put_template(rig, status)
    assert await template_refusal(rig) is errors.SMS_CONTENT_CODE_ILLEGAL
    await assert_nothing_taken(rig)


@pytest.mark.parametrize(
    "status", [None, ReviewStatus.PENDING, ReviewStatus.REJECTED, ReviewStatus.BLOCKED]
)
async def test_only_an_approved_sign_name_is_sent(rig: Rig, status: ReviewStatus | None) -> None:
    await put_template(rig)
    if status is not None:
        await put_sign(rig, status)
    assert await template_refusal(rig) is errors.SMS_SIGN_NAME_ILLEGAL
    await assert_nothing_taken(rig)


async def test_a_template_needs_a_sign_name_in_from(rig: Rig) -> None:
    await put_template(rig)
    await put_sign(rig)
    assert await template_refusal(rig, sender=None) is errors.SMS_SIGN_NAME_ILLEGAL
    assert await template_refusal(rig, sender="Other") is errors.SMS_SIGN_NAME_ILLEGAL


async def test_another_accounts_sign_name_is_not_ours(rig: Rig) -> None:
    await rig.add_account()
    await put_template(rig)
    await put_sign(rig, account_id=OTHER_ID)
    assert await template_refusal(rig) is errors.SMS_SIGN_NAME_ILLEGAL


async def test_the_template_is_checked_before_the_sign_name(rig: Rig) -> None:
    await put_template(rig, TemplateStatus.PENDING)  # and no sign name at all
    assert await template_refusal(rig) is errors.SMS_CONTENT_CODE_ILLEGAL


async def test_an_approved_template_and_sign_name_send_and_charge(rig: Rig) -> None:
    await put_template(rig)
    await put_sign(rig)
    sub = Submission(to=SG, body="", sender="Acme", template_code="SMS_1")

    message = await rig.service.send_with_template(rig.account, sub, '{"code": "1234"}')

    assert (message.body, message.sender, message.price_micros) == (
        "Your code is 1234",
        "Acme",
        PRICE,
    )
    assert await rig.balance() == BALANCE - PRICE


async def test_without_require_sign_name_any_from_is_sent(rig: Rig) -> None:
    await rig.put("platform", {"require_sign_name": False})
    await put_template(rig)
    sub = Submission(to=SG, body="", sender="Unreviewed", template_code="SMS_1")
    message = await rig.service.send_with_template(rig.account, sub, '{"code": "1"}')
    assert message.sender == "Unreviewed"


# -- template variable length ----------------------------------------------------------------

TOO_LONG = errors.PARAM_LENGTH_LIMIT


async def value_length_verdicts(rig: Rig, lengths: Sequence[int]) -> dict[int, ResultCode | None]:
    """Per value length: None if a template value that long is sent, else the refusal."""
    await put_template(rig)
    await put_sign(rig)
    verdicts: dict[int, ResultCode | None] = {}
    for length in lengths:
        sub = Submission(to=SG, body="", sender="Acme", template_code="SMS_1")
        param = json.dumps({"code": "7" * length})
        try:
            await rig.service.send_with_template(rig.account, sub, param)
            verdicts[length] = None
        except SmsError as exc:
            verdicts[length] = exc.result
        rig.clock.t += 60  # past the OTP minute limit of the one number used
    return verdicts


async def test_values_are_35_characters_at_most_by_default(rig: Rig) -> None:
    assert await value_length_verdicts(rig, [35, 36]) == {35: None, 36: TOO_LONG}


async def test_the_platform_sets_the_value_length(rig: Rig) -> None:
    await rig.put("platform", {"max_param_length": 5})
    assert await value_length_verdicts(rig, [5, 6]) == {5: None, 6: TOO_LONG}


@pytest.mark.parametrize(("account_limit", "platform_limit"), [(8, 5), (3, 35)])
async def test_the_account_value_length_overrides_the_platforms(
    rig: Rig, account_limit: int, platform_limit: int
) -> None:
    await rig.put("platform", {"max_param_length": platform_limit})
    await rig.put(f"account:{ACCOUNT_ID}", {"max_param_length": account_limit})
    verdicts = await value_length_verdicts(rig, [account_limit, account_limit + 1])
    assert verdicts == {account_limit: None, account_limit + 1: TOO_LONG}


async def test_a_refused_value_length_takes_nothing(rig: Rig) -> None:
    await rig.put("platform", {"max_param_length": 5})
    await put_template(rig)
    await put_sign(rig)
    assert await template_refusal(rig, params='{"code": "123456"}') is errors.PARAM_LENGTH_LIMIT
    await assert_nothing_taken(rig)


# -- billing state ---------------------------------------------------------------------------


async def test_an_overdue_account_is_billing_deduction_error(rig: Rig) -> None:
    other = await rig.add_account()
    await rig.put(f"account:{ACCOUNT_ID}", {"billing": "overdue"})

    assert await rig.refusal(SG) is errors.BILLING_DEDUCTION_ERROR
    with pytest.raises(SmsError) as caught:
        await rig.service.send_batch(rig.account, [Submission(to=SG, body="a")])
    assert caught.value.result is errors.BILLING_DEDUCTION_ERROR
    await assert_nothing_taken(rig)

    # Only that account; and back to normal, it sends again.
    await rig.service.send(other, Submission(to=SG, body="hi"))
    await rig.put(f"account:{ACCOUNT_ID}", {"billing": "normal"})
    assert (await rig.send(SG)).price_micros == PRICE


async def test_the_message_rules_come_before_the_billing_state(rig: Rig) -> None:
    await rig.put(f"account:{ACCOUNT_ID}", {"billing": "overdue"})
    assert await rig.refusal("12345") is errors.MOBILE_NUMBER_ILLEGAL


# -- throttles and quotas --------------------------------------------------------------------


async def test_one_verification_code_a_minute_per_number(rig: Rig) -> None:
    await rig.send(SG, msg_type="OTP")

    rig.clock.t = T0 + 59.5
    assert await rig.refusal(SG, msg_type="OTP") is errors.BUSINESS_LIMIT_CONTROL_MINUTE
    assert await rig.balance() == BALANCE - PRICE  # the refused one is not charged
    await rig.send(SG_2, msg_type="OTP")  # another number
    await rig.send(SG, msg_type="NOTIFY")  # another type

    rig.clock.t = T0 + 60
    await rig.send(SG, msg_type="OTP")
    assert len(await rig.stored()) == 4


async def test_throttled_numbers_of_a_batch_come_back_as_failed(rig: Rig) -> None:
    subs = [Submission(to=to, body="c", msg_type="OTP") for to in (SG, SG_2, SG)]

    accepted, failed = await rig.service.send_batch(rig.account, subs)

    assert [m.to for m in accepted] == [SG, SG_2]
    assert [(to, exc.result) for to, exc in failed] == [(SG, errors.BUSINESS_LIMIT_CONTROL_MINUTE)]
    assert await rig.balance() == BALANCE - 2 * PRICE


async def test_the_account_daily_quota(rig: Rig) -> None:
    other = await rig.add_account()
    await rig.put(f"account:{ACCOUNT_ID}", {"limits": {"account_per_day": 2}})
    await rig.send(SG)
    accepted, failed = await rig.service.send_batch(
        rig.account, [Submission(to=ID, body="a"), Submission(to=HK, body="b")]
    )

    assert [m.to for m in accepted] == [ID]
    assert [(to, exc.result) for to, exc in failed] == [(HK, errors.DAY_LIMIT_CONTROL)]
    assert await rig.refusal(SG_M1) is errors.DAY_LIMIT_CONTROL
    assert await rig.balance() == BALANCE - 2 * PRICE
    await rig.service.send(other, Submission(to=SG, body="hi"))  # another account's quota

    rig.clock.t = NEXT_DAY
    await rig.send(SG_M1)
    assert len(await rig.stored()) == 3


async def test_the_platform_daily_quota_counts_every_account(rig: Rig) -> None:
    other = await rig.add_account()
    await rig.put("platform", {"system_per_day": 2})
    await rig.send(SG)
    await rig.service.send(other, Submission(to=SG, body="hi"))

    assert await rig.refusal(ID) is errors.SYSTEM_LIMIT_CONTROL
    assert await rig.refusal(ID, account=other) is errors.SYSTEM_LIMIT_CONTROL

    rig.clock.t = NEXT_DAY
    await rig.send(ID)


async def test_platform_limits_and_account_overrides(rig: Rig) -> None:
    other = await rig.add_account()
    await rig.put("platform", {"limits": {"NOTIFY": {"per_day": 1}}})
    await rig.put(f"account:{OTHER_ID}", {"limits": {"NOTIFY": {"per_day": 2}}})

    await rig.send(SG)
    assert await rig.refusal(SG) is errors.BUSINESS_LIMIT_DAY
    for _ in range(2):
        await rig.service.send(other, Submission(to=SG, body="hi"))
    assert await rig.refusal(SG, account=other) is errors.BUSINESS_LIMIT_DAY


async def test_a_full_queue_gives_the_counts_back(rig: Rig) -> None:
    rig.queue = MemoryDeliveryQueue(1)
    rig.service = (
        await builders.open_core(rig.store, rig.clock, queue=rig.queue, node_id=4)
    ).submit
    await rig.send(SG_2)
    with pytest.raises(OverloadedError):
        await rig.send(SG, msg_type="OTP")

    await rig.queue.get_batch(10)
    assert (await rig.send(SG, msg_type="OTP")).to == SG  # the same moment: not throttled


async def test_invalid_account_limits_fall_back_to_the_platform_limits(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await rig.put(f"account:{ACCOUNT_ID}", {"limits": {"OTP": {"per_minute": 0}}})
    message = await rig.send(SG, msg_type="OTP")
    assert message.to == SG
    assert "invalid" in caplog.text


# -- refunds ---------------------------------------------------------------------------------


async def receipt_refunds(rig: Rig, *receipts: tuple[MessageStatus, str]) -> list[int]:
    """Send one message, apply ``receipts`` for it one run each: the balance after each run,
    relative to the balance before the message was sent."""
    message = await rig.send(SG)
    processor = ReceiptProcessor(rig.store, rig.policy)
    balances = []
    for status, code in receipts:
        processor.feed([Receipt(message.id, status, code, rig.clock.now() + 2)])
        assert await processor.run_once() == 1
        balances.append(await rig.balance() - BALANCE)
    return balances


async def test_a_listed_failure_is_refunded_once(rig: Rig) -> None:
    await rig.put("platform", {"refund_on": ["INVALID_NUM"]})
    failed = (MessageStatus.FAILED, "INVALID_NUM")
    assert await receipt_refunds(rig, failed, failed) == [0, 0]
    (message,) = await rig.stored()
    assert (message.status, message.error_code) == (MessageStatus.FAILED, "INVALID_NUM")


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (MessageStatus.DELIVERED, "success"),
        (MessageStatus.FAILED, "PORTED_NUM"),
        (MessageStatus.EXPIRED, "EXPIRED"),
    ],
)
async def test_other_outcomes_keep_the_charge(rig: Rig, status: MessageStatus, code: str) -> None:
    await rig.put("platform", {"refund_on": ["INVALID_NUM"]})
    # A later INVALID_NUM receipt for the same message changes nothing: it is final already.
    later = (MessageStatus.FAILED, "INVALID_NUM")
    assert await receipt_refunds(rig, (status, code), later) == [-PRICE, -PRICE]


async def test_without_refund_on_nothing_is_refunded(rig: Rig) -> None:
    assert await receipt_refunds(rig, (MessageStatus.FAILED, "INVALID_NUM")) == [-PRICE]


async def test_refund_on_all_refunds_every_failure_but_not_a_delivery(rig: Rig) -> None:
    await rig.put("platform", {"refund_on": "all"})
    assert await receipt_refunds(rig, (MessageStatus.EXPIRED, "EXPIRED")) == [0]
    assert await receipt_refunds(rig, (MessageStatus.DELIVERED, "success")) == [-PRICE]


async def test_a_refund_gives_back_the_price_charged_not_todays_price(rig: Rig) -> None:
    await rig.put("platform", {"refund_on": ["INVALID_NUM"]})
    message = await rig.send(SG, "a" * 161)  # 2 segments at 0.05
    await rig.put("prices", {"default": "0.01"})
    processor = ReceiptProcessor(rig.store, rig.policy)
    processor.feed([Receipt(message.id, MessageStatus.FAILED, "INVALID_NUM", T0 + 1)])
    await processor.run_once()
    assert await rig.balance() == BALANCE


class FlakyPolicyStore(MemoryStore):
    """The store fails while ``fail`` is set, starting with the policy documents' versions."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    async def document_versions(self) -> dict[str, int]:
        if self.fail:
            raise StoreError("database is locked")
        return await super().document_versions()


async def test_receipts_are_kept_when_the_policy_cannot_be_read() -> None:
    store = FlakyPolicyStore()
    await store.start()
    account = make_account()
    await store.create_account(account, make_key(account))
    clock = FixedClock()
    message = Message(
        id=MessageIdGenerator(0).next_id(int(T0 * 1000)),
        account_id=ACCOUNT_ID,
        to=SG,
        sender=None,
        body="hi",
        encoding="GSM7",
        segments=1,
        country="Singapore",
        region_code="SG",
        region="Singapore",
        network="SingTel",
        msg_type="NOTIFY",
        created_at=T0,
    )
    await store.insert_messages([message])
    processor = ReceiptProcessor(store, PolicyCache(store, clock, ttl_s=0))
    processor.feed([Receipt(message.id, MessageStatus.DELIVERED, "success", T0 + 1)])

    store.fail = True
    with pytest.raises(StoreError):
        await processor.run_once()
    assert processor.pending == 1

    store.fail = False
    assert await processor.run_once() == 1
    final = await store.get_message(ACCOUNT_ID, message.id)
    assert final is not None
    assert final.status is MessageStatus.DELIVERED
