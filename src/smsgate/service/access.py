"""Who may call what: account states and per-key action permissions.

Shared by every door, so an SMPP bind and an HTTP call of the same account get the same answer.
"""

from __future__ import annotations

from smsgate import errors
from smsgate.domain.models import AccessKey, Account, AccountState
from smsgate.errors import SmsError

__all__ = ["check_account_usable", "check_may_call"]

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
