"""Policy documents (the document half of ``PolicyStore``): named JSON texts with a version.

Every server polls ``document_versions`` to tell cheaply when to reload; the version grows on
every write by one atomic UPSERT, so writers in several processes each get a version of their
own (the row lock orders them) and no reader ever sees two bodies under one version.
"""

from __future__ import annotations

from typing import Final, cast

from smsgate.adapters.storage.common import check_json
from smsgate.adapters.storage.postgres.base import PgParts, value_op

__all__ = ["Policy"]

_PUT_DOCUMENT: Final = (
    "INSERT INTO documents (name, version, updated_at, body) "
    "VALUES ($1, 1, extract(epoch FROM clock_timestamp())::float8, $2) "
    "ON CONFLICT (name) DO UPDATE SET version = documents.version + 1, "
    "updated_at = excluded.updated_at, body = excluded.body "
    "RETURNING version"
)


class Policy(PgParts):
    async def get_document(self, name: str) -> tuple[int, str] | None:
        row = await self._fetchrow("SELECT version, body FROM documents WHERE name = $1", name)
        return None if row is None else (row[0], row[1])

    async def put_document(self, name: str, body: str) -> int:
        check_json(name, body)
        return cast(int, await self._write(value_op, (_PUT_DOCUMENT, (name, body))))

    async def document_versions(self) -> dict[str, int]:
        rows = await self._fetch("SELECT name, version FROM documents")
        return {row[0]: row[1] for row in rows}
