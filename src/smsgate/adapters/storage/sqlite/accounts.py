"""Accounts, their access keys (secrets sealed with the master key) and their balances."""

# ruff: noqa: S608 -- SQL text is built only from this module's constants (column lists); every
# value goes through a ? parameter.

from __future__ import annotations

import json
import sqlite3
from typing import Final, cast

from cryptography.exceptions import InvalidTag

from smsgate.adapters.storage.common import balance_refusal
from smsgate.adapters.storage.sqlite.base import StoreBase
from smsgate.adapters.storage.sqlite.sql import Row, execute_one, fetch_all, fetch_one
from smsgate.domain.models import AccessKey, Account, AccountState
from smsgate.domain.pricing import MAX_AMOUNT_MICROS
from smsgate.ports.store import StoreError

__all__ = ["AccountsMixin"]

_ACCOUNT_COLUMNS: Final = "id, name, state, balance_micros, callback_url, created_at"
_A_COLUMNS: Final = ", ".join("a." + c.strip() for c in _ACCOUNT_COLUMNS.split(","))
_KEY_COLUMNS: Final = "id, account_id, secret_sealed, enabled, allowed_actions, created_at"
_K_COLUMNS: Final = ", ".join("k." + c.strip() for c in _KEY_COLUMNS.split(","))


class AccountsMixin(StoreBase):
    """The AccountStore port: accounts, their access keys and balances."""

    async def create_account(self, account: Account, key: AccessKey) -> None:
        if key.account_id != account.id:
            raise ValueError("the key belongs to another account")
        if account.balance_micros < 0:
            raise ValueError("insufficient balance")
        await self._write(_create_account, (_account_row(account), self._key_row(key)))

    async def get_account(self, account_id: str) -> Account | None:
        row = await self._read(
            fetch_one, f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (account_id,)
        )
        return None if row is None else _account_from_row(row)

    async def list_accounts(self) -> list[Account]:
        rows = await self._read(
            fetch_all, f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY id", ()
        )
        return [_account_from_row(row) for row in rows]

    async def set_account_state(self, account_id: str, state: AccountState) -> bool:
        return await self._write(
            execute_one, ("UPDATE accounts SET state = ? WHERE id = ?", (state.value, account_id))
        )

    async def add_balance(self, account_id: str, delta_micros: int) -> int | None:
        return await self._write(_add_balance, (account_id, delta_micros))

    async def set_callback_url(self, account_id: str, url: str | None) -> bool:
        return await self._write(
            execute_one, ("UPDATE accounts SET callback_url = ? WHERE id = ?", (url, account_id))
        )

    async def add_key(self, key: AccessKey) -> None:
        await self._write(_insert_key, self._key_row(key))

    async def list_keys(self, account_id: str) -> list[AccessKey]:
        rows = await self._read(
            fetch_all,
            f"SELECT {_KEY_COLUMNS} FROM access_keys WHERE account_id = ? ORDER BY id",
            (account_id,),
        )
        return [self._key_from_row(row) for row in rows]

    async def set_key_enabled(self, key_id: str, enabled: bool) -> bool:
        return await self._write(
            execute_one, ("UPDATE access_keys SET enabled = ? WHERE id = ?", (enabled, key_id))
        )

    async def set_key_actions(self, key_id: str, actions: frozenset[str] | None) -> bool:
        sql = "UPDATE access_keys SET allowed_actions = ? WHERE id = ?"
        return await self._write(execute_one, (sql, (_actions_json(actions), key_id)))

    async def delete_key(self, key_id: str) -> bool:
        return await self._write(execute_one, ("DELETE FROM access_keys WHERE id = ?", (key_id,)))

    async def find_key(self, key_id: str) -> tuple[AccessKey, Account] | None:
        row = await self._read(
            fetch_one,
            f"SELECT {_K_COLUMNS}, {_A_COLUMNS} FROM access_keys k "
            "JOIN accounts a ON a.id = k.account_id WHERE k.id = ?",
            (key_id,),
        )
        if row is None:
            return None
        return self._key_from_row(row[:6]), _account_from_row(row[6:])

    async def list_all_keys(self, limit: int) -> list[tuple[AccessKey, Account]]:
        if limit <= 0:
            return []
        rows = await self._read(
            fetch_all,
            f"SELECT {_K_COLUMNS}, {_A_COLUMNS} FROM access_keys k "
            "JOIN accounts a ON a.id = k.account_id ORDER BY k.id LIMIT ?",
            (limit,),
        )
        return [(self._key_from_row(row[:6]), _account_from_row(row[6:])) for row in rows]

    def _key_row(self, key: AccessKey) -> Row:
        """Secrets are sealed here, on the loop thread, so the cipher is never shared."""
        return (
            key.id,
            key.account_id,
            self._box.seal(key.secret),
            key.enabled,
            _actions_json(key.allowed_actions),
            key.created_at,
        )

    def _key_from_row(self, row: Row) -> AccessKey:
        try:
            secret = self._box.open(row[2])
        except (ValueError, InvalidTag) as exc:
            raise StoreError(
                f"cannot open the secret of key {row[0]!r}: the master key (master.key) is not "
                "the one this database was made with; restore that one from your backup"
            ) from exc
        return AccessKey(
            id=row[0],
            account_id=row[1],
            secret=secret,
            enabled=bool(row[3]),
            allowed_actions=None if row[4] is None else frozenset(json.loads(row[4])),
            created_at=row[5],
        )


# -- write operations (writer thread, inside the batch's transaction) -------------------------


def _create_account(conn: sqlite3.Connection, arg: tuple[Row, Row]) -> None:
    account_row, key_row = arg
    conn.execute(
        f"INSERT INTO accounts ({_ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", account_row
    )
    _insert_key(conn, key_row)


def _insert_key(conn: sqlite3.Connection, key_row: Row) -> None:
    conn.execute(f"INSERT INTO access_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", key_row)


def _add_balance(conn: sqlite3.Connection, arg: tuple[str, int]) -> int | None:
    """One guarded UPDATE: the balance cannot go below zero whatever runs beside it."""
    account_id, delta = arg
    rows = conn.execute(
        "UPDATE accounts SET balance_micros = balance_micros + ?1 "
        "WHERE id = ?2 AND balance_micros + ?1 BETWEEN 0 AND ?3 RETURNING balance_micros",
        (delta, account_id, MAX_AMOUNT_MICROS),
    ).fetchall()
    if rows:
        return cast(int, rows[0][0])
    if conn.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchall():
        raise ValueError(balance_refusal(delta))
    return None


# -- rows <-> records -------------------------------------------------------------------------


def _account_row(account: Account) -> Row:
    return (
        account.id,
        account.name,
        account.state.value,
        account.balance_micros,
        account.callback_url,
        account.created_at,
    )


def _account_from_row(row: Row) -> Account:
    return Account(
        id=row[0],
        name=row[1],
        state=AccountState(row[2]),
        balance_micros=row[3],
        callback_url=row[4],
        created_at=row[5],
    )


def _actions_json(actions: frozenset[str] | None) -> str | None:
    return None if actions is None else json.dumps(sorted(actions))
