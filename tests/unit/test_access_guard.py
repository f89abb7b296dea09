"""AccessGuard: who may call what, check by check and in order.

The order is the guard's contract: account state, the key's permission (its RAM policy, else its
action list), barred actions, the resource owner, and fault injection last. Each check is tested
alone, then next to the one after it, so that a refusal is shown to come from the earlier check.
Policy documents are written to a memory store and read through a PolicyCache that re-reads on
every call; the fault injector's chance function is injected, so shares are deterministic.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, replace

import pytest

from smsgate import errors
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.domain.faults import FaultInjector
from smsgate.domain.models import AccessKey, Account, AccountState
from smsgate.domain.ram import check_policy
from smsgate.errors import ResultCode, SmsError
from smsgate.service.access import AccessGuard
from smsgate.service.policy import PolicyCache

T0 = 1_795_000_000.0
ACCOUNT_ID = "1000000000000001"
OTHER_ID = "1000000000000002"
UNKNOWN_ID = "1999999999999999"
SEND = "SendMessageToGlobe"
BATCH = "BatchSendMessageToGlobe"
QUERY = "QueryMessage"


class FixedClock:
    def __init__(self, now: float = T0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


class Chances:
    """A chance function that answers the given values in turn, and counts its calls."""

    def __init__(self, values: list[float]) -> None:
        self._values: Iterator[float] = iter(values)
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return next(self._values)


def make_account(account_id: str, name: str, state: AccountState = AccountState.NORMAL) -> Account:
    return Account(account_id, name, state, 0, None, T0 - 86_400)


def make_key(
    account: Account, actions: frozenset[str] | None = None, key_id: str | None = None
) -> AccessKey:
    key_id = key_id or "LTAI" + account.id
    return AccessKey(key_id, account.id, "s" * 30, True, actions, T0 - 86_400)


@dataclass
class Rig:
    store: MemoryStore
    chances: Chances
    guard: AccessGuard
    account: Account
    key: AccessKey

    async def put(self, name: str, doc: object) -> int:
        return await self.store.put_document(name, json.dumps(doc))

    async def verdict(
        self,
        action: str = SEND,
        params: Mapping[str, str] | None = None,
        *,
        account: Account | None = None,
        key: AccessKey | None = None,
    ) -> ResultCode | None:
        """None when the call may go ahead, else the seed row it is refused with."""
        try:
            await self.guard.check(account or self.account, key or self.key, action, params or {})
        except SmsError as exc:
            return exc.result
        return None

    async def verdicts(self, count: int, action: str = SEND) -> list[ResultCode | None]:
        return [await self.verdict(action) for _ in range(count)]


def open_rig(chances: list[float] | None = None) -> Rig:
    store = MemoryStore()
    clock = FixedClock()
    chance = Chances(chances or [])
    guard = AccessGuard(PolicyCache(store, clock, ttl_s=0), store, FaultInjector(chance))
    account = make_account(ACCOUNT_ID, "acme")
    return Rig(store, chance, guard, account, make_key(account))


async def start(rig: Rig) -> Rig:
    await rig.store.start()
    await rig.store.create_account(rig.account, rig.key)
    other = make_account(OTHER_ID, "other")
    await rig.store.create_account(other, make_key(other))
    return rig


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    opened = await start(open_rig())
    yield opened
    await opened.store.close()


def allow(*actions: str) -> dict[str, object]:
    return {"Version": "1", "Statement": [{"Effect": "Allow", "Action": list(actions)}]}


# -- 1. the account's state ------------------------------------------------------------------


async def test_a_normal_account_with_an_unrestricted_key_may_call_anything(rig: Rig) -> None:
    assert [await rig.verdict(action) for action in (SEND, BATCH, QUERY)] == [None] * 3


@pytest.mark.parametrize(
    ("state", "result"),
    [
        (AccountState.CLOSED, errors.ACCOUNT_NOT_EXISTS),
        (AccountState.ABNORMAL, errors.ACCOUNT_ABNORMAL),
        (AccountState.SUSPENDED, errors.OUT_OF_SERVICE),
        (AccountState.UNSUBSCRIBED, errors.PRODUCT_UN_SUBSCRIPT),
    ],
)
async def test_each_account_state_has_its_code_before_any_other_check(
    rig: Rig, state: AccountState, result: ResultCode
) -> None:
    # Every later check would refuse too: a policy allowing nothing, a barred action, an owner
    # that does not exist, and a fault.
    await rig.put(f"key:{rig.key.id}", allow(QUERY))
    await rig.put(f"account:{ACCOUNT_ID}", {"barred_actions": [SEND]})
    await rig.put("faults", [{"account": "*", "action": "*", "code": "isp.UNKNOWN", "count": 5}])
    account = replace(rig.account, state=state)

    assert await rig.verdict(SEND, {"ResourceOwnerId": UNKNOWN_ID}, account=account) is result


# -- 2. the key's permission -----------------------------------------------------------------


async def test_without_a_policy_the_key_action_list_decides(rig: Rig) -> None:
    key = make_key(rig.account, frozenset({QUERY}))
    assert await rig.verdict(QUERY, key=key) is None
    assert await rig.verdict(SEND, key=key) is errors.RAM_PERMISSION_DENY
    assert await rig.verdict(QUERY, key=make_key(rig.account, frozenset())) is (
        errors.RAM_PERMISSION_DENY
    )


@pytest.mark.parametrize(
    ("actions", "allowed"),
    [
        (["dysms:SendMessageToGlobe"], {SEND}),
        (["dysms:sendmessagetoglobe"], {SEND}),  # actions compare case-insensitively
        (["dysms:*SendMessageToGlobe"], {SEND, BATCH}),
        (["dysms:Query*"], {QUERY}),
        (["dysms:*"], {SEND, BATCH, QUERY}),
        (["*"], {SEND, BATCH, QUERY}),
        (["ecs:*", "dysms:QueryMessage"], {QUERY}),
        ([], set()),
        (["SendMessageToGlobe"], set()),  # without the product it names nothing of ours
    ],
)
async def test_a_policy_allows_the_actions_its_statements_name(
    rig: Rig, actions: list[str], allowed: set[str]
) -> None:
    await rig.put(f"key:{rig.key.id}", allow(*actions))
    verdicts = {action: await rig.verdict(action) for action in (SEND, BATCH, QUERY)}
    assert verdicts == {
        action: None if action in allowed else errors.RAM_PERMISSION_DENY for action in verdicts
    }


async def test_a_policy_replaces_the_action_list(rig: Rig) -> None:
    narrow = make_key(rig.account, frozenset({QUERY}), key_id="LTAInarrowkey000000001")
    await rig.store.add_key(narrow)
    await rig.put(f"key:{narrow.id}", allow("dysms:SendMessageToGlobe"))

    assert await rig.verdict(SEND, key=narrow) is None
    assert await rig.verdict(QUERY, key=narrow) is errors.RAM_PERMISSION_DENY
    assert await rig.verdict(QUERY) is None  # the account's other key has no policy


@pytest.mark.parametrize("deny_first", [False, True])
async def test_an_explicit_deny_wins_over_any_allow(rig: Rig, deny_first: bool) -> None:
    statements = [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "dysms:BatchSendMessageToGlobe", "Resource": "*"},
    ]
    if deny_first:
        statements.reverse()
    await rig.put(f"key:{rig.key.id}", {"Version": "1", "Statement": statements})

    assert await rig.verdict(BATCH) is errors.RAM_PERMISSION_DENY
    assert await rig.verdict(SEND) is None


@pytest.mark.parametrize(
    "policy",
    [
        {"Version": "1"},
        [],
        "Allow",
        {"Statement": {"Effect": "Allow", "Action": "*"}},
        {"Statement": ["dysms:*"]},
        {"Statement": [{"Effect": "allow", "Action": "*"}]},
        {"Statement": [{"Effect": "Permit", "Action": "*"}]},
        {"Statement": [{"Action": "*"}]},
        {"Statement": [{"Effect": "Allow"}]},
        {"Statement": [{"Effect": "Allow", "Action": 5}]},
        {"Statement": [{"Effect": "Allow", "Action": ["dysms:*", None]}]},
        # One usable Allow does not save a policy with a broken statement after it.
        {"Statement": [{"Effect": "Allow", "Action": "*"}, {"Effect": "Deny"}]},
    ],
    ids=lambda p: json.dumps(p)[:40],
)
async def test_a_policy_that_cannot_be_evaluated_fails_closed(rig: Rig, policy: object) -> None:
    await rig.put(f"key:{rig.key.id}", policy)
    # The key's own action list (None: everything) would allow the call.
    assert rig.key.allowed_actions is None
    assert await rig.verdict(SEND) is errors.RAM_CHECK_FAILED
    assert await rig.verdict(QUERY) is errors.RAM_CHECK_FAILED


def test_a_policy_that_is_not_json_fails_closed() -> None:
    with pytest.raises(SmsError) as caught:
        check_policy('{"Statement": [', SEND)
    assert caught.value.result is errors.RAM_CHECK_FAILED


async def test_the_key_is_checked_before_barred_actions(rig: Rig) -> None:
    await rig.put(f"account:{ACCOUNT_ID}", {"barred_actions": [SEND]})
    key = make_key(rig.account, frozenset({QUERY}))
    assert await rig.verdict(SEND, key=key) is errors.RAM_PERMISSION_DENY
    await rig.put(f"key:{rig.key.id}", {"Statement": "broken"})
    assert await rig.verdict(SEND) is errors.RAM_CHECK_FAILED


# -- 3. barred actions -----------------------------------------------------------------------


async def test_a_barred_action_is_forbidden_for_that_account_only(rig: Rig) -> None:
    await rig.put(f"account:{ACCOUNT_ID}", {"barred_actions": [BATCH]})
    other = make_account(OTHER_ID, "other")

    assert await rig.verdict(BATCH) is errors.FORBIDDEN_ACTION
    assert await rig.verdict(SEND) is None
    assert await rig.verdict(BATCH, account=other, key=make_key(other)) is None

    await rig.put(f"account:{ACCOUNT_ID}", {"barred_actions": []})
    assert await rig.verdict(BATCH) is None


async def test_barred_actions_come_before_the_resource_owner(rig: Rig) -> None:
    await rig.put(f"account:{ACCOUNT_ID}", {"barred_actions": [SEND]})
    assert await rig.verdict(SEND, {"ResourceOwnerId": UNKNOWN_ID}) is errors.FORBIDDEN_ACTION


# -- 4. the resource owner -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "result"),
    [
        ({}, None),
        ({"ResourceOwnerId": ACCOUNT_ID}, None),
        ({"ResourceOwnerAccount": "acme"}, None),
        ({"ResourceOwnerId": ACCOUNT_ID, "ResourceOwnerAccount": "acme"}, None),
        ({"ResourceOwnerId": ""}, None),  # empty: not given
        ({"ResourceOwnerId": UNKNOWN_ID}, errors.RES_OWNER_ID_UNKNOWN),
        ({"ResourceOwnerAccount": "nobody"}, errors.RES_OWNER_ID_UNKNOWN),
        ({"ResourceOwnerId": OTHER_ID}, errors.RAM_PERMISSION_DENY),
        ({"ResourceOwnerAccount": "other"}, errors.RAM_PERMISSION_DENY),
        (
            {"ResourceOwnerId": ACCOUNT_ID, "ResourceOwnerAccount": "other"},
            errors.RAM_PERMISSION_DENY,
        ),
        ({"ResourceOwnerId": OTHER_ID, "ResourceOwnerAccount": "acme"}, errors.RAM_PERMISSION_DENY),
        (
            {"ResourceOwnerId": UNKNOWN_ID, "ResourceOwnerAccount": "other"},
            errors.RES_OWNER_ID_UNKNOWN,
        ),
    ],
)
async def test_the_resource_owner_must_be_the_callers_account(
    rig: Rig, params: dict[str, str], result: ResultCode | None
) -> None:
    assert await rig.verdict(SEND, params) is result


async def test_the_resource_owner_comes_before_faults_and_uses_none(rig: Rig) -> None:
    await rig.put("faults", [{"account": "*", "action": "*", "code": "isp.UNKNOWN", "count": 1}])

    assert await rig.verdict(SEND, {"ResourceOwnerId": OTHER_ID}) is errors.RAM_PERMISSION_DENY
    # The refused call did not use the one injected fault: the next call still gets it.
    assert await rig.verdicts(2) == [errors.UNKNOWN, None]


# -- 5. faults -------------------------------------------------------------------------------


async def test_a_counted_fault_answers_n_calls_then_stops(rig: Rig) -> None:
    await rig.put(
        "faults",
        [{"account": ACCOUNT_ID, "action": SEND, "code": "isp.GATEWAY_ERROR", "count": 3}],
    )
    other = make_account(OTHER_ID, "other")

    assert await rig.verdict(QUERY) is None  # another action
    assert await rig.verdict(SEND, account=other, key=make_key(other)) is None  # another account
    assert await rig.verdicts(5) == [errors.GATEWAY_ERROR] * 3 + [None, None]


async def test_a_fault_can_name_either_system_error_row(rig: Rig) -> None:
    await rig.put(
        "faults",
        [
            {"account": "*", "action": SEND, "code": "isp.SYSTEM_ERROR/21", "count": 1},
            {"account": "*", "action": SEND, "code": "isp.SYSTEM_ERROR/46", "count": 1},
        ],
    )
    assert await rig.verdicts(3) == [errors.SYSTEM_ERROR_ACCESS_LAYER, errors.SYSTEM_ERROR, None]


async def test_wildcard_faults_apply_to_every_account_and_action(rig: Rig) -> None:
    await rig.put("faults", [{"account": "*", "action": "*", "code": "isp.UNKNOWN", "count": 3}])
    other = make_account(OTHER_ID, "other")
    assert [
        await rig.verdict(SEND),
        await rig.verdict(QUERY),
        await rig.verdict(BATCH, account=other, key=make_key(other)),
        await rig.verdict(SEND),
    ] == [errors.UNKNOWN, errors.UNKNOWN, errors.UNKNOWN, None]


async def test_a_shared_fault_fires_when_the_chance_is_below_the_share() -> None:
    rig = await start(open_rig([0.05, 0.5, 0.2499, 0.25, 0.99]))
    await rig.put(
        "faults", [{"account": ACCOUNT_ID, "action": SEND, "code": "isp.UNKNOWN", "share": 0.25}]
    )

    assert await rig.verdict(QUERY) is None  # not drawn for: the rule does not apply
    assert rig.chances.calls == 0
    assert await rig.verdicts(5) == [errors.UNKNOWN, None, errors.UNKNOWN, None, None]
    assert rig.chances.calls == 5


async def test_a_share_of_one_fires_every_time() -> None:
    rig = await start(open_rig([0.0, 0.5, 0.999999]))
    await rig.put("faults", [{"account": "*", "action": "*", "code": "isp.UNKNOWN", "share": 1}])
    assert await rig.verdicts(3) == [errors.UNKNOWN] * 3


async def test_rules_apply_in_order_as_each_count_runs_out(rig: Rig) -> None:
    await rig.put(
        "faults",
        [
            {"account": ACCOUNT_ID, "action": SEND, "code": "isp.GATEWAY_ERROR", "count": 1},
            {"account": "*", "action": "*", "code": "isp.UNKNOWN", "count": 2},
        ],
    )
    assert await rig.verdicts(4) == [errors.GATEWAY_ERROR, errors.UNKNOWN, errors.UNKNOWN, None]


async def test_rewriting_the_faults_document_starts_the_counts_afresh(rig: Rig) -> None:
    rule = [{"account": "*", "action": SEND, "code": "isp.GATEWAY_ERROR", "count": 2}]
    assert await rig.put("faults", rule) == 1
    assert await rig.verdicts(3) == [errors.GATEWAY_ERROR, errors.GATEWAY_ERROR, None]

    # Another document changing does not reset the count...
    await rig.put("prices", {"default": "0.01"})
    await rig.put(f"account:{ACCOUNT_ID}", {"billing": "normal"})
    assert await rig.verdict(SEND) is None

    # ...writing the faults again (even unchanged) does.
    assert await rig.put("faults", rule) == 2
    assert await rig.verdicts(3) == [errors.GATEWAY_ERROR, errors.GATEWAY_ERROR, None]


async def test_clearing_the_faults_stops_them(rig: Rig) -> None:
    await rig.put("faults", [{"account": "*", "action": "*", "code": "isp.UNKNOWN", "count": 9}])
    assert await rig.verdict(SEND) is errors.UNKNOWN
    await rig.put("faults", [])
    assert await rig.verdicts(2) == [None, None]


async def test_an_invalid_faults_document_injects_nothing(rig: Rig) -> None:
    await rig.put("faults", [{"account": "*", "action": "*", "code": "isp.NOPE", "count": 1}])
    assert await rig.verdict(SEND) is None
