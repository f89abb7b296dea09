"""Templates and sign names (``TemplateStore`` and the sign-name half of ``PolicyStore``).

Both are small per-account catalogues the admin edits and the submit path reads through caches;
an UPSERT replaces a row whole, as SQLite's INSERT OR REPLACE does, and the foreign key refuses
a row for an account that does not exist (StoreError).
"""

# ruff: noqa: S608 -- SQL text is built only from the rows module's constants.

from __future__ import annotations

from typing import Final

from smsgate.adapters.storage.postgres.base import PgParts, changed_op, execute_op
from smsgate.adapters.storage.postgres.rows import (
    SIGN_COLUMNS,
    TEMPLATE_COLUMNS,
    sign_from_row,
    template_from_row,
    template_row,
)
from smsgate.domain.models import SignName, Template

__all__ = ["Templates"]

_PUT_TEMPLATE: Final = (
    f"INSERT INTO templates ({TEMPLATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (account_id, code) DO UPDATE SET content = excluded.content, "
    "template_type = excluded.template_type, status = excluded.status, "
    "created_at = excluded.created_at"
)
_PUT_SIGN: Final = (
    f"INSERT INTO sign_names ({SIGN_COLUMNS}) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (account_id, name) DO UPDATE SET status = excluded.status, "
    "created_at = excluded.created_at"
)


class Templates(PgParts):
    async def put_template(self, template: Template) -> None:
        await self._write(execute_op, (_PUT_TEMPLATE, template_row(template)))

    async def get_template(self, account_id: str, code: str) -> Template | None:
        row = await self._fetchrow(
            f"SELECT {TEMPLATE_COLUMNS} FROM templates WHERE account_id = $1 AND code = $2",
            account_id,
            code,
        )
        return None if row is None else template_from_row(row)

    async def list_templates(self, account_id: str) -> list[Template]:
        rows = await self._fetch(
            f"SELECT {TEMPLATE_COLUMNS} FROM templates WHERE account_id = $1 ORDER BY code",
            account_id,
        )
        return [template_from_row(row) for row in rows]

    async def delete_template(self, account_id: str, code: str) -> bool:
        sql = "DELETE FROM templates WHERE account_id = $1 AND code = $2"
        return await self._write(changed_op, (sql, (account_id, code)))

    async def put_sign_name(self, sign: SignName) -> None:
        row = (sign.account_id, sign.name, sign.status.value, sign.created_at)
        await self._write(execute_op, (_PUT_SIGN, row))

    async def get_sign_name(self, account_id: str, name: str) -> SignName | None:
        row = await self._fetchrow(
            f"SELECT {SIGN_COLUMNS} FROM sign_names WHERE account_id = $1 AND name = $2",
            account_id,
            name,
        )
        return None if row is None else sign_from_row(row)

    async def list_sign_names(self, account_id: str) -> list[SignName]:
        rows = await self._fetch(
            f"SELECT {SIGN_COLUMNS} FROM sign_names WHERE account_id = $1 ORDER BY name",
            account_id,
        )
        return [sign_from_row(row) for row in rows]

    async def delete_sign_name(self, account_id: str, name: str) -> bool:
        sql = "DELETE FROM sign_names WHERE account_id = $1 AND name = $2"
        return await self._write(changed_op, (sql, (account_id, name)))
