"""Policy: the versioned policy documents every server polls, and sign names under review.

Sign names are here, not beside templates, because the port puts them in ``PolicyStore``.
"""

# ruff: noqa: S608 -- SQL text is built only from this module's constants (column lists); every
# value goes through a ? parameter.

from __future__ import annotations

from typing import Final

from smsgate.adapters.storage.common import check_json
from smsgate.adapters.storage.sqlite.base import StoreBase
from smsgate.adapters.storage.sqlite.sql import Row, execute_one, fetch_all, fetch_one, fetch_value
from smsgate.domain.models import ReviewStatus, SignName

__all__ = ["PolicyMixin"]

_PUT_DOCUMENT: Final = (
    "INSERT INTO documents (name, version, updated_at, body) "
    "VALUES (?1, 1, (julianday('now') - 2440587.5) * 86400.0, ?2) "
    "ON CONFLICT (name) DO UPDATE SET version = version + 1, "
    "updated_at = excluded.updated_at, body = excluded.body "
    "RETURNING version"
)
_SIGN_COLUMNS: Final = "account_id, name, status, created_at"


class PolicyMixin(StoreBase):
    """The PolicyStore port: policy documents and sign names."""

    async def get_document(self, name: str) -> tuple[int, str] | None:
        row = await self._read(
            fetch_one, "SELECT version, body FROM documents WHERE name = ?", (name,)
        )
        return None if row is None else (row[0], row[1])

    async def put_document(self, name: str, body: str) -> int:
        check_json(name, body)
        return await self._write(fetch_value, (_PUT_DOCUMENT, (name, body)))

    async def document_versions(self) -> dict[str, int]:
        rows = await self._read(fetch_all, "SELECT name, version FROM documents", ())
        return dict(rows)

    async def put_sign_name(self, sign: SignName) -> None:
        row = (sign.account_id, sign.name, sign.status.value, sign.created_at)
        sql = f"INSERT OR REPLACE INTO sign_names ({_SIGN_COLUMNS}) VALUES (?, ?, ?, ?)"
        await self._write(execute_one, (sql, row))

    async def get_sign_name(self, account_id: str, name: str) -> SignName | None:
        row = await self._read(
            fetch_one,
            f"SELECT {_SIGN_COLUMNS} FROM sign_names WHERE account_id = ? AND name = ?",
            (account_id, name),
        )
        return None if row is None else _sign_from_row(row)

    async def list_sign_names(self, account_id: str) -> list[SignName]:
        rows = await self._read(
            fetch_all,
            f"SELECT {_SIGN_COLUMNS} FROM sign_names WHERE account_id = ? ORDER BY name",
            (account_id,),
        )
        return [_sign_from_row(row) for row in rows]

    async def delete_sign_name(self, account_id: str, name: str) -> bool:
        sql = "DELETE FROM sign_names WHERE account_id = ? AND name = ?"
        return await self._write(execute_one, (sql, (account_id, name)))


def _sign_from_row(row: Row) -> SignName:
    return SignName(account_id=row[0], name=row[1], status=ReviewStatus(row[2]), created_at=row[3])
