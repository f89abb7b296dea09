"""An account's message records as the doors ask for them: one message, a day of a number's
messages, conversion reports.

Both doors read records here rather than from the store port, so that a store that fails is the
catalog's ``isp.SYSTEM_ERROR`` at both (:class:`~smsgate.service.store_faults.StoreFaults`),
like every other refusal. What a missing record is stays the door's to say: Alibaba's
``isv.DATA_NOT_EXIST``, SMPP's ESME_RINVMSGID.
"""

from __future__ import annotations

import logging

from smsgate.domain.models import Message
from smsgate.ports.store import MessageStore
from smsgate.service.store_faults import StoreFaults

__all__ = ["MessageRecords"]

log = logging.getLogger(__name__)


class MessageRecords:
    def __init__(self, store: MessageStore) -> None:
        self._store = store
        self._faults = StoreFaults(log)

    async def message(self, account_id: str, message_id: str) -> Message | None:
        """A message of this account; None if it does not exist or belongs to another."""
        with self._faults.translated("read a message"):
            return await self._store.get_message(account_id, message_id)

    async def query(
        self,
        account_id: str,
        *,
        since: float,
        until: float,
        to: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[Message]]:
        """The account's messages created in [since, until), optionally to one number, newest
        first: (total count, one page)."""
        with self._faults.translated("query messages"):
            return await self._store.query_messages(
                account_id, since=since, until=until, to=to, limit=limit, offset=offset
            )

    async def record_conversion(
        self, account_id: str, message_id: str, converted: bool, at: float
    ) -> bool:
        """SmsConversion feedback; False if the message is not this account's."""
        with self._faults.translated("record a conversion"):
            return await self._store.record_conversion(account_id, message_id, converted, at)

    async def add_conversion_data(self, account_id: str, rate: float, report_time: float) -> None:
        with self._faults.translated("record conversion data"):
            await self._store.add_conversion_data(account_id, rate, report_time)
