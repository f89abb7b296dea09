"""What every connection of the standalone SMSC shares: binds checked, messages taken and
numbered, receipts scheduled, MO messages injected.

A submitted message is judged by :class:`~.verdicts.SubmitDesk` (the number rules, the
throughput cap) and, when taken, numbered: ids grow by one from ``first_id`` and are written in
decimal or hex. When its ``registered_delivery`` asks for a receipt (1: any outcome, 2: failures
only; §5.2.17), the receipt is promised to the :class:`~.outbox.Outbox` of the system_id at once
(so ``max_pending`` bounds it from the start) and put there after the rule's delay. Receipts
taken in one loop iteration share one timer per delay, as the embedded simulator's do.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Final

from smsgate import errors
from smsgate.ports.clock import Clock
from smsgate.smpp.constants import CommandStatus
from smsgate.smpp.pdu import DataSm, SubmitMulti, SubmitSm

from ..simulator_rules import Fate, NumberRules
from .deliveries import Delivery, DueReceipt, Prepared, Taken, mo_parts
from .outbox import Outbox
from .settings import IdFormat, SmscSettings
from .verdicts import SubmitDesk

__all__ = ["Destination", "SmscCore"]

_OK: Final = CommandStatus.ESME_ROK
_QUEUE_FULL: Final = CommandStatus.ESME_RMSGQFUL
_RECEIPT_ALWAYS, _RECEIPT_ON_FAILURE = 1, 2  # registered_delivery bits 0-1 (§5.2.17)
_DELIVERED: Final = errors.DELIVERED.code

#: (dest_addr_ton, dest_addr_npi, destination_addr) of one destination.
Destination = tuple[int, int, str]


def _format(number: int, ids: IdFormat) -> str:
    return format(number, "x") if ids == "hex" else str(number)


class SmscCore:
    """The SMSC's shared state; runs on one event loop."""

    def __init__(
        self,
        settings: SmscSettings,
        *,
        clock: Clock,
        monotonic: Callable[[], float],
        first_id: int,
    ) -> None:
        self.settings = settings
        self.outbox = Outbox(max_pending=settings.max_pending, retry_s=settings.receipt_retry_s)
        self._desk = SubmitDesk(NumberRules(settings.rules), max_tps=settings.max_tps)
        self._clock = clock
        self._monotonic = monotonic
        self._next_id = first_id
        self._ids = settings.ids
        self._receipt_ids = settings.reported_ids
        self._references = itertools.count()
        self._due: dict[int, list[Taken]] = {}  # delay_ms -> taken in this loop iteration
        self._timers: set[asyncio.TimerHandle] = set()
        #: Answers given to submitted messages by command_status, and deliver_sm sent.
        self.answers: Counter[int] = Counter()
        self.receipts_due = 0
        self.mo_sent = 0

    # --- binds --------------------------------------------------------------------------------

    def check_bind(self, system_id: str, password: str) -> int:
        """ESME_ROK, ESME_RINVSYSID or ESME_RINVPASWD; anything binds without credentials."""
        credentials = self.settings.credentials
        if not credentials:
            return _OK
        expected = credentials.get(system_id)
        if expected is None:
            return CommandStatus.ESME_RINVSYSID
        if not hmac.compare_digest(expected.encode(), password.encode()):
            return CommandStatus.ESME_RINVPASWD
        return _OK

    # --- submits ------------------------------------------------------------------------------

    def take(
        self, system_id: str, pdu: SubmitSm | DataSm, destination: Destination, body: bytes
    ) -> tuple[int, str]:
        """(command_status, message_id) for a submit_sm or data_sm carrying ``body``."""
        status, fate = self._judge(system_id, pdu, destination, body)
        self.answers[status] += 1
        if status:
            return status, ""
        number = self._next_id
        self._next_id = number + 1
        if fate is not None:
            self._later(fate, self._taken(system_id, pdu, destination, body, fate, number))
        return _OK, _format(number, self._ids)

    def take_multi(
        self, system_id: str, pdu: SubmitMulti, destinations: Sequence[Destination]
    ) -> tuple[str, list[tuple[Destination, int]]]:
        """The message_id of a submit_multi ("" when every destination is refused) and its
        refused destinations with their status. One message id for all its destinations
        (§4.5.2), so that each destination's receipt names it."""
        number = self._next_id
        body = pdu.short_message
        refused: list[tuple[Destination, int]] = []
        for destination in destinations:
            status, fate = self._judge(system_id, pdu, destination, body)
            self.answers[status] += 1
            if status:
                refused.append((destination, status))
            elif fate is not None:
                self._later(fate, self._taken(system_id, pdu, destination, body, fate, number))
        if len(refused) == len(destinations):
            return "", refused
        self._next_id = number + 1
        return _format(number, self._ids), refused

    def _judge(
        self,
        system_id: str,
        pdu: SubmitSm | DataSm | SubmitMulti,
        destination: Destination,
        body: bytes,
    ) -> tuple[int, Fate | None]:
        """The status for one destination and, when a receipt is owed (and now counted
        against the system_id's bound), the message's fate."""
        number = destination[2]
        status, fate = self._desk.judge(
            system_id, (pdu.source_addr, number, body), number, self._monotonic()
        )
        if status:
            return status, None
        asked = pdu.registered_delivery & 0x03
        if asked != _RECEIPT_ALWAYS and not (
            asked == _RECEIPT_ON_FAILURE and fate.receipt != _DELIVERED
        ):
            return _OK, None
        if not self.outbox.has_room(system_id):
            return _QUEUE_FULL, None
        self.outbox.reserve(system_id)
        return _OK, fate

    def _taken(
        self,
        system_id: str,
        pdu: SubmitSm | DataSm | SubmitMulti,
        destination: Destination,
        body: bytes,
        fate: Fate,
        number: int,
    ) -> Taken:
        ton, npi, address = destination
        return Taken(
            system_id,
            _format(number, self._receipt_ids),
            fate.receipt,
            self._clock.now(),
            pdu.source_addr_ton,
            pdu.source_addr_npi,
            pdu.source_addr,
            ton,
            npi,
            address,
            pdu.esm_class,
            pdu.data_coding,
            body,
        )

    # --- receipts -----------------------------------------------------------------------------

    def _later(self, fate: Fate, taken: Taken) -> None:
        delay_ms = fate.delay_ms
        due = self._due
        batch = due.get(delay_ms)
        if batch is None:
            if not due:
                asyncio.get_running_loop().call_soon(self._arm)
            batch = due[delay_ms] = []
        batch.append(taken)

    def _arm(self) -> None:
        """One timer per delay for what this loop iteration took."""
        loop = asyncio.get_running_loop()
        due, self._due = self._due, {}
        for delay_ms, batch in due.items():
            holder: list[asyncio.TimerHandle] = []
            holder.append(loop.call_later(delay_ms / 1000, self._fire, batch, holder))
            self._timers.add(holder[0])

    def _fire(self, batch: list[Taken], holder: list[asyncio.TimerHandle]) -> None:
        self._timers.discard(holder[0])
        done_at = self._clock.now()
        by_system: defaultdict[str, list[Delivery]] = defaultdict(list)
        for taken in batch:
            by_system[taken.system_id].append(DueReceipt(taken, done_at))
        self.receipts_due += len(batch)
        outbox = self.outbox
        for system_id, pdus in by_system.items():
            outbox.put(system_id, pdus)
            outbox.pump(system_id)

    # --- MO messages --------------------------------------------------------------------------

    def send_mo(
        self, source: str, destination: str, text: str, *, system_id: str | None = None
    ) -> str:
        """A mobile-originated message from ``source`` to ``destination``, as deliver_sm
        (esm_class 0; in concatenated parts when long) to ``system_id``'s receiver binds, or
        kept for them until one binds. Without ``system_id``: the first system_id with a
        receiver bound (LookupError when none is). Returns the system_id. ValueError for a text
        that cannot be sent, OverflowError when the system_id is owed ``max_pending`` already."""
        if system_id is None:
            bound = self.outbox.receivers()
            if not bound:
                raise LookupError("no receiver or transceiver is bound")
            system_id = bound[0]
        parts = mo_parts(source, destination, text, next(self._references) % 256)
        outbox = self.outbox
        if not outbox.has_room(system_id, len(parts)):
            raise OverflowError(f"{system_id} is owed {outbox.pending(system_id)} deliver_sm")
        outbox.put(system_id, [Prepared(part) for part in parts], reserved=False)
        outbox.pump(system_id)
        self.mo_sent += 1
        return system_id

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._due.clear()
        self.outbox.close()
