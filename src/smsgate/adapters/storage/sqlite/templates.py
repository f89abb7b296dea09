"""Message templates, per account and code."""

# ruff: noqa: S608 -- SQL text is built only from this module's constants (column lists); every
# value goes through a ? parameter.

from __future__ import annotations

import sqlite3
from typing import Final

from smsgate.adapters.storage.sqlite.base import StoreBase
from smsgate.adapters.storage.sqlite.sql import Row, execute_one, fetch_all, fetch_one
from smsgate.domain.models import Template, TemplateStatus

__all__ = ["TemplatesMixin"]

_TEMPLATE_COLUMNS: Final = "account_id, code, content, template_type, status, created_at"


class TemplatesMixin(StoreBase):
    """The TemplateStore port: message templates."""

    async def put_template(self, template: Template) -> None:
        await self._write(_put_template, _template_row(template))

    async def get_template(self, account_id: str, code: str) -> Template | None:
        row = await self._read(
            fetch_one,
            f"SELECT {_TEMPLATE_COLUMNS} FROM templates WHERE account_id = ? AND code = ?",
            (account_id, code),
        )
        return None if row is None else _template_from_row(row)

    async def list_templates(self, account_id: str) -> list[Template]:
        rows = await self._read(
            fetch_all,
            f"SELECT {_TEMPLATE_COLUMNS} FROM templates WHERE account_id = ? ORDER BY code",
            (account_id,),
        )
        return [_template_from_row(row) for row in rows]

    async def delete_template(self, account_id: str, code: str) -> bool:
        sql = "DELETE FROM templates WHERE account_id = ? AND code = ?"
        return await self._write(execute_one, (sql, (account_id, code)))


def _put_template(conn: sqlite3.Connection, row: Row) -> None:
    conn.execute(
        f"INSERT OR REPLACE INTO templates ({_TEMPLATE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", row
    )


def _template_row(template: Template) -> Row:
    return (
        template.account_id,
        template.code,
        template.content,
        template.template_type,
        template.status.value,
        template.created_at,
    )


def _template_from_row(row: Row) -> Template:
    return Template(
        account_id=row[0],
        code=row[1],
        content=row[2],
        template_type=row[3],
        status=TemplateStatus(row[4]),
        created_at=row[5],
    )
