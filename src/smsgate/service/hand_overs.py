"""The carrier ids of recent hand-overs, kept in memory so that receipts need no store read.

An upstream SMSC reports on a message by the id its submit_sm_resp gave, usually within seconds.
Looking each receipt up in the store cost a read, a whole message row and a hop to the reader
thread: about a tenth of the server's time per message end to end. The delivery worker tells
this memory what it recorded (once ``mark_submitted`` is durable, so that everything remembered
is in the store too); a receipt takes its entry from here, and only receipts for hand-overs
older than the memory holds, or from before a restart, are looked up in the store.

Bounded: past ``size`` ids the oldest are forgotten first (their receipts are found in the
store, as before). An entry is taken by the receipt that names it, so a receipt sent again finds
the store, which knows the message is final and ignores it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

from smsgate.domain.carrier_receipts import carrier_key
from smsgate.domain.models import Accepted
from smsgate.domain.routing import SIMULATOR

__all__ = ["DEFAULT_SIZE", "RecentHandOvers"]

#: About thirteen seconds of traffic at 5,000 messages a second; an entry costs ~200 bytes.
DEFAULT_SIZE: Final = 65_536


class RecentHandOvers:
    """(connector, carrier key) -> message id of the newest hand-overs."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._size = size
        # OrderedDict: O(1) removal of the oldest however many were taken from the middle.
        self._ids: OrderedDict[tuple[str, str], str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def remember(self, handed_over: Sequence[Accepted]) -> None:
        """Record the carrier ids of recorded hand-overs (a reused id now names the newer
        message, as in the store). The built-in simulator's are left out: it reports its
        receipts itself, never by carrier id, and they would only push out useful entries."""
        ids = self._ids
        for accepted in handed_over:
            if accepted.connector == SIMULATOR:
                continue
            for carrier_id in accepted.carrier_ids:
                key = (accepted.connector, carrier_key(carrier_id))
                ids[key] = accepted.message_id
                ids.move_to_end(key)
        while len(ids) > self._size:
            ids.popitem(last=False)

    def take(self, connector: str, keys: Sequence[str]) -> tuple[str, str] | None:
        """The message recorded under the first of ``keys`` (carrier keys) known here, with
        that key; forgotten here once taken."""
        ids = self._ids
        for key in keys:
            message_id = ids.pop((connector, key), None)
            if message_id is not None:
                return message_id, key
        return None
