"""What the protocol modules use of the store: its write queue, its reader and its secret box.

Each protocol module (``accounts``, ``messages``, ...) is a mixin on this base, and the writer
(``writer.py``) implements it; ``SqliteStore`` is all of them over one writer. The mixins call
``self._write`` and ``self._read`` directly: one method call per operation, as before the split.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.sqlite.sql import Row

__all__ = ["StoreBase"]

_A = TypeVar("_A")
_R = TypeVar("_R")


class StoreBase:
    """The store's plumbing as the protocol mixins see it (implemented by ``StoreWriter``)."""

    #: Seals and opens access key secrets (on the loop thread, so the cipher is never shared).
    _box: SecretBox
    #: The loop the store was started on; None while it is not open.
    _loop: asyncio.AbstractEventLoop | None
    #: Nonces remembered during this loop iteration, and the future they share.
    _nonces: tuple[list[Row], asyncio.Future[None]] | None

    async def _write(self, fn: Callable[[sqlite3.Connection, _A], _R], arg: _A) -> _R:
        """Queue one operation for the writer and wait until its batch is committed."""
        raise NotImplementedError

    async def _read(self, fn: Callable[..., _R], *args: Any) -> _R:
        """Run a query on the reader thread, never on the event loop."""
        raise NotImplementedError

    def _queue_nonces(self) -> None:
        """Queue the nonces remembered so far as one write op (see ``remember_nonce``)."""
        raise NotImplementedError
