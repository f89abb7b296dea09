"""Accounts, their AccessKeys and their balances (``AccountStore``) in PostgreSQL.

- **Secrets sealed.** A key's secret is sealed with the :class:`SecretBox` before it is queued
  and opened after it is read, on the event loop: the database (its tables, its WAL, its backups
  and whoever reads them) only ever holds the sealed text, exactly as in the SQLite store.
- **One balance row per account**, in ``balances``, BIGINT micros with ``CHECK (>= 0)``. Every
  change is one guarded UPDATE, so no interleaving of processes can take it below zero; the hot
  path's charges (``messages.py``) lock the same rows ``FOR UPDATE``.
"""

# ruff: noqa: S608 -- SQL text is built only from the rows module's constants.

from __future__ import annotations

from typing import Any, Final, cast

from cryptography.exceptions import InvalidTag

from smsgate.adapters.storage.common import balance_refusal
from smsgate.adapters.storage.postgres.base import PgParts, changed_op
from smsgate.adapters.storage.postgres.rows import (
    A_COLUMNS,
    ACCOUNT_COLUMNS,
    Row,
    account_from_row,
    account_row,
    actions_from_row,
)
from smsgate.domain.models import AccessKey, Account, AccountState
from smsgate.domain.pricing import MAX_AMOUNT_MICROS
from smsgate.ports.store import StoreError

__all__ = ["Accounts"]

_KEY_COLUMNS: Final = (
    "k.id, k.account_id, k.secret_sealed, k.enabled, k.allowed_actions, k.created_at"
)
_FROM_ACCOUNTS: Final = "FROM accounts a JOIN balances b ON b.account_id = a.id"
_INSERT_KEY: Final = (
    "INSERT INTO access_keys (id, account_id, secret_sealed, enabled, allowed_actions, "
    "created_at) VALUES ($1, $2, $3, $4, $5, $6)"
)


class Accounts(PgParts):
    async def create_account(self, account: Account, key: AccessKey) -> None:
        if key.account_id != account.id:
            raise ValueError("the key belongs to another account")
        if account.balance_micros < 0:
            raise ValueError("insufficient balance")
        await self._write(
            _create_account, (account_row(account), account.balance_micros, self._key_row(key))
        )

    async def get_account(self, account_id: str) -> Account | None:
        row = await self._fetchrow(
            f"SELECT {ACCOUNT_COLUMNS} {_FROM_ACCOUNTS} WHERE a.id = $1", account_id
        )
        return None if row is None else account_from_row(row)

    async def list_accounts(self) -> list[Account]:
        rows = await self._fetch(f"SELECT {ACCOUNT_COLUMNS} {_FROM_ACCOUNTS} ORDER BY a.id")
        return [account_from_row(row) for row in rows]

    async def set_account_state(self, account_id: str, state: AccountState) -> bool:
        sql = "UPDATE accounts SET state = $1 WHERE id = $2"
        return await self._write(changed_op, (sql, (state.value, account_id)))

    async def add_balance(self, account_id: str, delta_micros: int) -> int | None:
        return await self._write(_add_balance, (account_id, delta_micros))

    async def set_callback_url(self, account_id: str, url: str | None) -> bool:
        sql = "UPDATE accounts SET callback_url = $1 WHERE id = $2"
        return await self._write(changed_op, (sql, (url, account_id)))

    async def add_key(self, key: AccessKey) -> None:
        await self._write(_insert_key, self._key_row(key))

    async def list_keys(self, account_id: str) -> list[AccessKey]:
        rows = await self._fetch(
            f"SELECT {_KEY_COLUMNS} FROM access_keys k WHERE k.account_id = $1 ORDER BY k.id",
            account_id,
        )
        return [self._key_from_row(row) for row in rows]

    async def set_key_enabled(self, key_id: str, enabled: bool) -> bool:
        sql = "UPDATE access_keys SET enabled = $1 WHERE id = $2"
        return await self._write(changed_op, (sql, (enabled, key_id)))

    async def set_key_actions(self, key_id: str, actions: frozenset[str] | None) -> bool:
        sql = "UPDATE access_keys SET allowed_actions = $1 WHERE id = $2"
        value = None if actions is None else sorted(actions)
        return await self._write(changed_op, (sql, (value, key_id)))

    async def delete_key(self, key_id: str) -> bool:
        sql = "DELETE FROM access_keys WHERE id = $1"
        return await self._write(changed_op, (sql, (key_id,)))

    async def find_key(self, key_id: str) -> tuple[AccessKey, Account] | None:
        row = await self._fetchrow(
            f"SELECT {_KEY_COLUMNS}, {A_COLUMNS} FROM access_keys k "
            "JOIN accounts a ON a.id = k.account_id JOIN balances b ON b.account_id = a.id "
            "WHERE k.id = $1",
            key_id,
        )
        if row is None:
            return None
        return self._key_from_row(row[:6]), account_from_row(row[6:])

    async def list_all_keys(self, limit: int) -> list[tuple[AccessKey, Account]]:
        if limit <= 0:
            return []
        rows = await self._fetch(
            f"SELECT {_KEY_COLUMNS}, {A_COLUMNS} FROM access_keys k "
            "JOIN accounts a ON a.id = k.account_id JOIN balances b ON b.account_id = a.id "
            "ORDER BY k.id LIMIT $1",
            limit,
        )
        return [(self._key_from_row(row[:6]), account_from_row(row[6:])) for row in rows]

    def _key_row(self, key: AccessKey) -> Row:
        """Secrets are sealed here, on the loop, before anything leaves the process."""
        return (
            key.id,
            key.account_id,
            self._box.seal(key.secret),
            key.enabled,
            None if key.allowed_actions is None else sorted(key.allowed_actions),
            key.created_at,
        )

    def _key_from_row(self, row: Row) -> AccessKey:
        try:
            secret = self._box.open(row[2])
        except (ValueError, InvalidTag) as exc:
            raise StoreError(
                f"cannot open the secret of key {row[0]!r}: the master key is not the one this "
                "database was made with; restore that one from your backup"
            ) from exc
        return AccessKey(
            id=row[0],
            account_id=row[1],
            secret=secret,
            enabled=row[3],
            allowed_actions=actions_from_row(row[4]),
            created_at=row[5],
        )


# -- the writer's operations (inside the batch's transaction) ----------------------------------


async def _create_account(conn: Any, arg: tuple[Row, int, Row]) -> None:
    account, balance, key = arg
    await conn.execute(
        "INSERT INTO accounts (id, name, state, callback_url, created_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        *account,
    )
    await conn.execute(
        "INSERT INTO balances (account_id, balance_micros) VALUES ($1, $2)", account[0], balance
    )
    await conn.execute(_INSERT_KEY, *key)


async def _insert_key(conn: Any, key: Row) -> None:
    await conn.execute(_INSERT_KEY, *key)


async def _add_balance(conn: Any, arg: tuple[str, int]) -> int | None:
    """One guarded UPDATE: the balance cannot go below zero (nor above the maximum) whatever
    runs beside it, in this process or another. A delta no balance could take is refused
    without reaching BIGINT arithmetic."""
    account_id, delta = arg
    if -MAX_AMOUNT_MICROS <= delta <= MAX_AMOUNT_MICROS:
        balance = await conn.fetchval(
            "UPDATE balances SET balance_micros = balance_micros + $1 "
            "WHERE account_id = $2 AND balance_micros + $1 BETWEEN 0 AND $3 "
            "RETURNING balance_micros",
            delta,
            account_id,
            MAX_AMOUNT_MICROS,
        )
        if balance is not None:
            return cast(int, balance)
    if await conn.fetchval("SELECT 1 FROM balances WHERE account_id = $1", account_id):
        raise ValueError(balance_refusal(delta))
    return None
