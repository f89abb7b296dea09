"""Account administration: create accounts and AccessKeys, change states, balances and keys.

Used by the CLI now and the admin API later. AccessKey ids and secrets are shaped like Alibaba's
(``LTAI`` + 20 characters; 30-character secret) so that SDK configuration code and secret scanners
treat them alike.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from smsgate.domain.models import AccessKey, Account, AccountState
from smsgate.domain.pricing import format_micros, parse_amount
from smsgate.ports.clock import Clock
from smsgate.ports.store import AccountStore

__all__ = ["AccountService", "NewKey", "format_money", "parse_money"]

_ALPHABET = string.ascii_letters + string.digits


def parse_money(text: str) -> int:
    """A decimal amount ("12.50") in micro-units; ValueError for anything else."""
    return parse_amount(text, "amount")


def format_money(micros: int) -> str:
    return format_micros(micros)


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass(frozen=True, slots=True)
class NewKey:
    key: AccessKey

    @property
    def id(self) -> str:
        return self.key.id

    @property
    def secret(self) -> str:
        return self.key.secret


class AccountService:
    def __init__(self, store: AccountStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def _new_key(self, account_id: str, actions: frozenset[str] | None) -> AccessKey:
        return AccessKey(
            id="LTAI" + _random(20),
            account_id=account_id,
            secret=_random(30),
            enabled=True,
            allowed_actions=actions,
            created_at=self._clock.now(),
        )

    async def create_account(
        self,
        name: str,
        balance_micros: int = 0,
        callback_url: str | None = None,
        actions: frozenset[str] | None = None,
    ) -> tuple[Account, AccessKey]:
        account = Account(
            id=str(secrets.randbelow(9 * 10**15) + 10**15),  # 16 digits, like an Alibaba UID
            name=name,
            state=AccountState.NORMAL,
            balance_micros=balance_micros,
            callback_url=callback_url,
            created_at=self._clock.now(),
        )
        key = self._new_key(account.id, actions)
        await self._store.create_account(account, key)
        return account, key

    async def create_key(
        self, account_id: str, actions: frozenset[str] | None = None
    ) -> AccessKey | None:
        if await self._store.get_account(account_id) is None:
            return None
        key = self._new_key(account_id, actions)
        await self._store.add_key(key)
        return key
