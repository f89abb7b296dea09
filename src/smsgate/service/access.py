"""Who may call what: account states, key permissions, barred actions, resource owners, faults.

Shared by every door, so an SMPP bind and an HTTP call of the same account get the same answer.
The checks run in a fixed order, each with its seed code:

1. the account's state (isv.ACCOUNT_NOT_EXISTS, isv.ACCOUNT_ABNORMAL, isv.OUT_OF_SERVICE,
   isv.PRODUCT_UN_SUBSCRIPT);
2. the key's permission: its RAM-style policy if it has one (isv.RAM_CHECK_FAILED when it cannot
   be evaluated), else its action list (isp.RAM_PERMISSION_DENY);
3. actions the operator barred for the account (isv.FORBIDDEN_ACTION);
4. ``ResourceOwnerId``/``ResourceOwnerAccount``, when given, must name the caller's own account
   (isp.RES_OWNER_ID_UNKNOWN when they name no account, isp.RAM_PERMISSION_DENY when another);
5. fault injection, last, so that an injected fault never hides a real refusal.

An SMPP bind has no AccessKey: :meth:`AccessGuard.check_account_action` runs the account's part
(1, 3 and 5) for its commands, with SMPP action names (``SubmitSm``, ``SubmitMulti``...).

The checks read the policy and, for resource owners, the accounts; a store that fails them
refuses the call with ``isp.SYSTEM_ERROR`` (:class:`~smsgate.service.store_faults.StoreFaults`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from smsgate import errors
from smsgate.domain.faults import FaultInjector
from smsgate.domain.models import AccessKey, Account, AccountState
from smsgate.domain.ram import check_policy
from smsgate.errors import SmsError
from smsgate.ports.store import AccountStore
from smsgate.service.policy import PolicyCache
from smsgate.service.store_faults import StoreFaults

__all__ = ["AccessGuard", "check_account_usable", "check_may_call"]

log = logging.getLogger(__name__)

_STATE_ERRORS = {
    AccountState.CLOSED: errors.ACCOUNT_NOT_EXISTS,
    AccountState.ABNORMAL: errors.ACCOUNT_ABNORMAL,
    AccountState.SUSPENDED: errors.OUT_OF_SERVICE,
    AccountState.UNSUBSCRIBED: errors.PRODUCT_UN_SUBSCRIPT,
}


def check_account_usable(account: Account) -> None:
    """Raise the seed code of the account's state unless it is NORMAL."""
    result = _STATE_ERRORS.get(account.state)
    if result is not None:
        raise SmsError(result, f"account {account.id} is {account.state.value}")


def check_may_call(account: Account, key: AccessKey, action: str) -> None:
    """The account must be usable, and the key allowed ``action`` (else isp.RAM_PERMISSION_DENY)."""
    check_account_usable(account)
    if not key.allows(action):
        raise SmsError(errors.RAM_PERMISSION_DENY, f"this AccessKey may not call {action}")


class AccessGuard:
    def __init__(self, policy: PolicyCache, accounts: AccountStore, faults: FaultInjector) -> None:
        self._policy = policy
        self._accounts = accounts
        self._faults = faults
        self._store_faults = StoreFaults(log)

    async def check(
        self, account: Account, key: AccessKey, action: str, params: Mapping[str, str]
    ) -> None:
        with self._store_faults.translated("read the policy"):
            key_policy = await self._policy.key_policy(key.id)
        if key_policy is None:
            check_may_call(account, key, action)
        else:
            check_account_usable(account)
            check_policy(key_policy, action)
        await self._check_barred(account, action)
        await self._check_resource_owner(account, params)
        await self._check_fault(account, action)

    async def check_account_action(self, account: Account, action: str) -> None:
        """The checks that do not involve a key: state, barred actions, faults."""
        check_account_usable(account)
        await self._check_barred(account, action)
        await self._check_fault(account, action)

    async def _check_barred(self, account: Account, action: str) -> None:
        with self._store_faults.translated("read the policy"):
            settings = await self._policy.account(account.id)
        if action in settings.barred_actions:
            raise SmsError(errors.FORBIDDEN_ACTION, f"{action} is barred for this account")

    async def _check_fault(self, account: Account, action: str) -> None:
        with self._store_faults.translated("read the policy"):
            policy = await self._policy.current()
        fault = self._faults.check(policy.faults, policy.faults_version, account.id, action)
        if fault is not None:
            raise SmsError(fault, f"fault injected by the operator for {action}")

    async def _check_resource_owner(self, account: Account, params: Mapping[str, str]) -> None:
        owner_id = params.get("ResourceOwnerId")
        owner_name = params.get("ResourceOwnerAccount")
        if owner_id and owner_id != account.id:
            with self._store_faults.translated("read an account"):
                found = await self._accounts.get_account(owner_id)
            self._refuse_owner(found is not None, f"ResourceOwnerId {owner_id}")
        if owner_name and owner_name != account.name:
            with self._store_faults.translated("list accounts"):
                names = {a.name for a in await self._accounts.list_accounts()}
            self._refuse_owner(owner_name in names, f"ResourceOwnerAccount {owner_name!r}")

    @staticmethod
    def _refuse_owner(exists: bool, what: str) -> None:
        if exists:
            raise SmsError(errors.RAM_PERMISSION_DENY, f"{what} is not this AccessKey's account")
        raise SmsError(errors.RES_OWNER_ID_UNKNOWN, f"{what} names no account")
