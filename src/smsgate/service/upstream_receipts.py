"""Receipts from upstream SMSCs: a deliver_sm (or data_sm) to the message it reports on.

A carrier names only its own id for a part (the ``receipted_message_id`` TLV, else the text's
``id:``), perhaps in another base than its submit_sm_resp gave it: each key it may have been
stored under (:func:`~smsgate.domain.carrier_receipts.id_candidates`, per the connector's
``receipt_ids``) is looked up: first among the recent hand-overs kept in memory
(:mod:`smsgate.service.hand_overs`), else in one store read for all the receipts of a loop
pass. Its
``stat:``/``err:``/``network_error_code`` become a receipt code by the connector's table
(``receipt_codes`` over the defaults), the raw values go on the message as ``carrier_status``.

- Found: the receipt goes to the :class:`ReceiptProcessor` like any other (callbacks, SMPP
  receipts, refunds), and :meth:`UpstreamReceipts.take_all` returns once the receipts it was
  given are durable, so that the SMSC is answered ESME_ROK only then. It names its part: a long
  message is delivered once every part is, and fails with its first failed part (the store
  keeps each part's state).
- Not found: the submit_sm_resp has not been recorded yet (fast carriers send the receipt
  first). The receipt is kept in the store under each candidate key, with its refund decided
  now, and ``mark_submitted`` applies it when the id is recorded. Kept ones are dropped by the
  expiry sweep after a day (``service.expiry``).
- Not final (ENROUTE, ACCEPTD, an intermediate notification) or naming no id: taken and ignored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Final

from smsgate.domain.carrier_receipts import (
    DEFAULT_RECEIPT_MAP,
    CarrierReceipt,
    IdFormat,
    ReceiptMap,
    id_candidates,
    parse_receipt_text,
)
from smsgate.domain.connectors import ConnectorSpec
from smsgate.domain.models import Message, Receipt
from smsgate.logs import log_event
from smsgate.ports.clock import Clock
from smsgate.ports.store import MessageStore, PendingReceipt
from smsgate.service.hand_overs import RecentHandOvers
from smsgate.service.policy import PolicyCache
from smsgate.service.receipts import ReceiptProcessor, refunds
from smsgate.smpp.constants import MessageState, TlvTag
from smsgate.smpp.errors import InvalidTlvValueError
from smsgate.smpp.pdu import DataSm, DeliverSm
from smsgate.tasks import BackgroundTasks

__all__ = [
    "CONNECTORS",
    "UpstreamReceipts",
    "read_receipts",
    "receipt_fields",
    "receipt_map_for",
]

log = logging.getLogger(__name__)

#: The policy document of connector settings (domain.connectors).
CONNECTORS: Final = "connectors"
_UCS2: Final = 8
#: A receipt text without ``stat:`` may carry the state in the message_state TLV (§5.3.2.35).
_STATE_STATS: Final = {
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
}


def receipt_fields(pdu: DeliverSm | DataSm) -> tuple[dict[str, str], bytes | None]:
    """Appendix B's fields of a receipt PDU (keys in lower case) and its network_error_code.

    The ``receipted_message_id`` TLV names the message before the text's ``id:`` does (it is
    the carrier's id as its submit_sm_resp gave it, where some carriers cut the text's), and
    ``message_state`` stands in for a missing ``stat:``. A malformed TLV is read as absent.
    """
    fields = parse_receipt_text(_text(pdu))
    receipted = _tlv_text(pdu, TlvTag.RECEIPTED_MESSAGE_ID)
    if receipted:
        fields["id"] = receipted
    if "stat" not in fields:
        try:
            state = pdu.tlv_int(TlvTag.MESSAGE_STATE)
        except InvalidTlvValueError:
            state = None
        if state in _STATE_STATS:
            fields["stat"] = _STATE_STATS[MessageState(state)]
    return fields, pdu.tlv_bytes(TlvTag.NETWORK_ERROR_CODE)


def _text(pdu: DeliverSm | DataSm) -> str:
    """The receipt's text: ASCII by Appendix B, UCS-2 from carriers that code it so."""
    raw = pdu.tlv_bytes(TlvTag.MESSAGE_PAYLOAD)
    if raw is None and isinstance(pdu, DeliverSm):
        raw = pdu.short_message
    if not raw:
        return ""
    if pdu.data_coding == _UCS2:
        return raw.decode("utf-16-be", errors="replace")
    return raw.decode("latin-1")


def _tlv_text(pdu: DeliverSm | DataSm, tag: int) -> str | None:
    raw = pdu.tlv_bytes(tag)
    if raw is None:
        return None
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


def read_receipts(
    connector: str,
    pdus: Sequence[DeliverSm | DataSm],
    receipt_map: ReceiptMap,
    id_format: IdFormat,
) -> list[tuple[CarrierReceipt, list[str]]]:
    """The final receipts ``pdus`` carry, read by ``connector``'s table, each with the keys its
    message may be stored under; the others (not final, no id) are logged and left out. Needs
    no store: a connector process reads its receipts itself and sends the server only this."""
    reads: list[tuple[CarrierReceipt, list[str]]] = []
    for pdu in pdus:
        fields, network_error = receipt_fields(pdu)
        read = receipt_map.read(fields, network_error)
        if read is None:
            stat = fields.get("stat", "")
            log_event(
                log, logging.DEBUG, "upstream.receipt_ignored", connector=connector, stat=stat
            )
            continue
        reads.append((read, id_candidates(read.carrier_id, id_format)))
    return reads


class UpstreamReceipts:
    """Receipts of every connector, matched to messages and handed on (see the module)."""

    def __init__(
        self,
        store: MessageStore,
        processor: ReceiptProcessor,
        policy: PolicyCache,
        clock: Clock,
        recent: RecentHandOvers | None = None,
    ) -> None:
        self._store = store
        self._processor = processor
        self._policy = policy
        self._clock = clock
        self.recent = RecentHandOvers() if recent is None else recent
        self._lookups = _Lookups(store)
        # connector -> (the spec it was built from, its table): rebuilt when the spec changes.
        self._maps: dict[str, tuple[ConnectorSpec | None, ReceiptMap]] = {}

    async def take_all(self, connector: str, pdus: Sequence[DeliverSm | DataSm]) -> None:
        """Apply or keep the receipts ``pdus`` carry; returns once that is durable. Raises
        StoreError when it could not be made so (the SMSC must send them again)."""
        spec = await self._spec(connector)
        id_format: IdFormat = "auto" if spec is None else spec.receipt_ids
        reads = read_receipts(connector, pdus, self._receipt_map(connector, spec), id_format)
        await self.take_read(connector, reads)

    async def take_read(
        self, connector: str, reads: Sequence[tuple[CarrierReceipt, list[str]]]
    ) -> None:
        """Apply or keep receipts already read (:func:`read_receipts`), as :meth:`take_all`.

        Receipts for recent hand-overs (:class:`~smsgate.service.hand_overs.RecentHandOvers`)
        go to the processor together, in one store write; the others are looked up in the
        store, and kept there when their message's id is not recorded yet."""
        now = self._clock.now()
        known: list[Receipt] = []
        unknown: list[tuple[CarrierReceipt, list[str]]] = []
        take_recent = self.recent.take
        for read, keys in reads:
            recent = take_recent(connector, keys)
            if recent is None:
                unknown.append((read, keys))
                continue
            # The store ignores it if the message became final meanwhile (it expired).
            message_id, key = recent
            known.append(_receipt(message_id, read, key, now))
        if not unknown:  # the usual case, awaited directly (a gather costs loop passes)
            await self._processor.take(known)
            return
        work = [self._look_up(connector, read, keys, now) for read, keys in unknown]
        if known:
            work.append(self._processor.take(known))
        await asyncio.gather(*work)

    async def _look_up(
        self, connector: str, read: CarrierReceipt, keys: list[str], now: float
    ) -> None:
        """Apply a receipt whose message the store knows; keep it when it does not yet."""
        found = await self._lookups.find(connector, keys)
        if found is not None:
            message, key = found
            if message.is_final:
                return  # a receipt sent again, or one for a message that expired meanwhile
            await self._processor.take([_receipt(message.id, read, key, now)])
            return
        refund_on = (await self._policy.current()).platform.refund_on
        pending = PendingReceipt(
            connector=connector,
            keys=tuple(keys),
            reported_id=read.carrier_id,
            status=read.status,
            error_code=read.error_code,
            carrier_status=read.raw,
            done_at=now,
            refund=refunds(read.status, read.error_code, refund_on),
            received_at=now,
        )
        # The store applies it at once if the id was recorded since the look-up.
        self._processor.announce(await self._store.keep_pending_receipts([pending]))
        log_event(log, logging.DEBUG, "upstream.receipt_kept", connector=connector)

    async def close(self) -> None:
        await self._lookups.close()

    async def _spec(self, connector: str) -> ConnectorSpec | None:
        specs: Mapping[str, ConnectorSpec] = await self._policy.document(CONNECTORS, {})
        return specs.get(connector)

    def _receipt_map(self, connector: str, spec: ConnectorSpec | None) -> ReceiptMap:
        cached = self._maps.get(connector)
        if cached is not None and cached[0] is spec:
            return cached[1]
        receipt_map = receipt_map_for(connector, spec)
        self._maps[connector] = (spec, receipt_map)
        return receipt_map


def receipt_map_for(connector: str, spec: ConnectorSpec | None) -> ReceiptMap:
    """``connector``'s reading of receipts: its ``receipt_codes`` over the defaults."""
    if spec is None or not spec.receipt_codes:
        return DEFAULT_RECEIPT_MAP
    try:
        return DEFAULT_RECEIPT_MAP.with_overrides(spec.receipt_codes)
    except ValueError as exc:  # validated on write; a hand edit may still slip by
        log.error("receipt_codes of %s are invalid, using defaults: %s", connector, exc)
        return DEFAULT_RECEIPT_MAP


def _receipt(message_id: str, read: CarrierReceipt, part: str, now: float) -> Receipt:
    """The receipt ``read`` makes for the part ``part`` (its carrier key) of a message."""
    return Receipt(
        message_id, read.status, read.error_code, now, carrier_status=read.raw, part=part
    )


class _Lookups:
    """Look-ups asked for in one loop pass share one store read per connector: a burst of
    receipts costs a query per burst, not per receipt."""

    def __init__(self, store: MessageStore) -> None:
        self._store = store
        self._asked: dict[str, list[tuple[list[str], asyncio.Future[tuple[Message, str] | None]]]]
        self._asked = {}
        self._tasks = BackgroundTasks()

    async def find(self, connector: str, keys: list[str]) -> tuple[Message, str] | None:
        """The message recorded under the first of ``keys`` that one is, with that key."""
        loop = asyncio.get_running_loop()
        found: asyncio.Future[tuple[Message, str] | None] = loop.create_future()
        if not self._asked:
            loop.call_soon(self._flush)
        self._asked.setdefault(connector, []).append((keys, found))
        return await found

    def _flush(self) -> None:
        asked, self._asked = self._asked, {}
        for connector, asks in asked.items():
            self._tasks.spawn(self._read(connector, asks))

    async def _read(
        self,
        connector: str,
        asks: list[tuple[list[str], asyncio.Future[tuple[Message, str] | None]]],
    ) -> None:
        try:
            found = await self._store.find_by_carrier_ids(
                connector, list(dict.fromkeys(key for keys, _ in asks for key in keys))
            )
        except asyncio.CancelledError:  # closing: nobody will answer these
            for _, future in asks:
                future.cancel()
            raise
        except Exception as exc:  # StoreError above all: every asker raises it
            for _, future in asks:
                if not future.done():
                    future.set_exception(exc)
            return
        for keys, future in asks:
            if not future.done():
                future.set_result(next(((found[k], k) for k in keys if k in found), None))

    async def close(self) -> None:
        await self._tasks.cancel()
