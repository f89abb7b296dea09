"""SMPP receipts on their way to receiver binds: at least once, in order of arrival, per account.

The store is the truth: a receipt an SMPP client asked for is queued there in the transaction that
makes its message final, and leaves only when a bind of the same account answers the deliver_sm
with ESME_ROK. This outbox only decides what to send to which bind, so a crash, an unbind or a
client that never answers costs a resend, never a receipt.

Two paths feed a bind. The hot one: receipts just applied (the :class:`ReceiptProcessor` listener)
go straight to a bound receiver, with no store read. The backlog one: when a receiver binds, loses
receipts it did not answer, or the hot path overflows, the account's owed receipts are read back
from the store a page at a time, whenever its queue runs dry. A message id is in ``known`` from
the moment it is queued until its acknowledgement is stored, so the two paths never send one
receipt twice at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from smsgate.domain.models import Message
from smsgate.ports.store import MessageStore, StoreError
from smsgate.tasks import BackgroundTasks

__all__ = ["ReceiptOutbox", "ReceiverLink"]

log = logging.getLogger(__name__)


class ReceiverLink(Protocol):
    """A bind able to take receipts (bound as receiver or transceiver)."""

    @property
    def account_id(self) -> str: ...
    def can_send_receipt(self) -> bool:
        """Room in the bind's window for one more deliver_sm."""
        ...

    def send_receipt(self, message: Message) -> None:
        """Send the receipt; the answer comes back as :meth:`ReceiptOutbox.acknowledged` or
        :meth:`ReceiptOutbox.refused`, or the message is in ``unacknowledged`` on detach."""
        ...


@dataclass(slots=True)
class _Account:
    links: list[ReceiverLink] = field(default_factory=list)
    ready: deque[Message] = field(default_factory=deque)
    known: set[str] = field(default_factory=set)
    retrying: set[str] = field(default_factory=set)  # refused, waiting for retry_s
    backlog: bool = False  # the store may owe receipts that are not in ``known``
    scan_after: str | None = None
    scanning: bool = False
    generation: int = 0  # grows when the backlog is marked, so a read in flight starts over
    turn: int = 0  # round robin over links


class ReceiptOutbox:
    """Routes owed receipts to the receiver binds of their account. Runs on one event loop."""

    def __init__(
        self,
        store: MessageStore,
        *,
        retry_s: float = 10.0,
        page: int = 500,
        max_ready: int = 10_000,
    ) -> None:
        self._store = store
        self._retry_s = retry_s
        self._page = page
        self._max_ready = max_ready
        self._accounts: dict[str, _Account] = {}
        self._acked: dict[str, list[str]] = {}
        self._flushing: asyncio.Task[None] | None = None
        self._tasks = BackgroundTasks()
        self._timers: set[asyncio.TimerHandle] = set()

    # --- binds --------------------------------------------------------------------------------

    def attach(self, link: ReceiverLink) -> None:
        """A receiver bound: it gets what its account is owed, from the store first."""
        account = self._accounts.setdefault(link.account_id, _Account())
        account.links.append(link)
        self._mark_backlog(account)
        self.pump(link.account_id)

    def detach(self, link: ReceiverLink, unacknowledged: Sequence[Message]) -> None:
        """A receiver went away; receipts it did not answer are owed again."""
        account = self._accounts.get(link.account_id)
        if account is None or link not in account.links:
            return
        account.links.remove(link)
        for message in unacknowledged:
            account.known.discard(message.id)
        if account.links:
            self._mark_backlog(account)
            self.pump(link.account_id)
            return
        # Nobody left to send to: forget what was queued (the store still owes it), keep only
        # what is being acknowledged.
        account.ready.clear()
        account.retrying.clear()  # their timers must not requeue into a later bind's state
        account.known = set(self._acked.get(link.account_id, ()))
        account.backlog = True
        if not account.known and not account.scanning:
            del self._accounts[link.account_id]

    # --- receipts in ----------------------------------------------------------------------------

    def on_final(self, messages: Sequence[Message]) -> None:
        """Listener of the receipt processor: messages that just became final (and durable)."""
        touched: set[str] = set()
        for message in messages:
            if not message.wants_smpp_receipt:
                continue
            account = self._accounts.get(message.account_id)
            if account is None or not account.links or message.id in account.known:
                continue  # owed in the store; a bind will read it back
            if len(account.ready) >= self._max_ready:
                self._mark_backlog(account)
                continue
            account.ready.append(message)
            account.known.add(message.id)
            touched.add(message.account_id)
        for account_id in touched:
            self.pump(account_id)

    # --- answers from binds ---------------------------------------------------------------------

    def acknowledged(self, link: ReceiverLink, message: Message) -> None:
        """ESME_ROK for a receipt: forget it in the store (batched), then here."""
        self._acked.setdefault(link.account_id, []).append(message.id)
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush_acks())

    def refused(self, link: ReceiverLink, message: Message) -> None:
        """An error status or no answer in time: send it again after ``retry_s``."""
        account = self._accounts.get(link.account_id)
        if account is None or message.id not in account.known:
            return
        account.retrying.add(message.id)
        self._later(self._retry_s, lambda: self._requeue(link.account_id, account, message))

    def _requeue(self, account_id: str, account: _Account, message: Message) -> None:
        if self._accounts.get(account_id) is not account or message.id not in account.retrying:
            return  # every bind went away meanwhile: the store still owes it
        account.retrying.discard(message.id)
        account.ready.appendleft(message)
        self.pump(account_id)

    # --- sending --------------------------------------------------------------------------------

    def pump(self, account_id: str) -> None:
        """Send queued receipts while a bind has room; read the backlog when the queue is dry."""
        account = self._accounts.get(account_id)
        if account is None:
            return
        links = account.links
        while account.ready and links:
            for _ in range(len(links)):
                account.turn = (account.turn + 1) % len(links)
                link = links[account.turn]
                if link.can_send_receipt():
                    link.send_receipt(account.ready.popleft())
                    break
            else:
                return  # every window is full; a response will pump again
        if account.backlog and links and not account.scanning:
            account.scanning = True
            self._tasks.spawn(self._scan(account_id, account))

    async def _scan(self, account_id: str, account: _Account) -> None:
        generation = account.generation
        try:
            page = await self._store.pending_smpp_receipts(
                account_id, account.scan_after, self._page
            )
        except StoreError:
            log.exception("reading owed SMPP receipts failed; will retry")
            account.scanning = False
            self._later(self._retry_s, lambda: self.pump(account_id))
            return
        account.scanning = False
        if account.generation != generation:
            pass  # the backlog was marked again meanwhile: the next read starts from the top
        elif len(page) < self._page:
            account.backlog = False
            account.scan_after = None
        else:
            account.scan_after = page[-1].id
        if not account.links:
            return
        for message in page:
            if message.id not in account.known:
                account.ready.append(message)
                account.known.add(message.id)
        self.pump(account_id)

    def _mark_backlog(self, account: _Account) -> None:
        account.backlog = True
        account.scan_after = None
        account.generation += 1

    # --- acknowledgements -----------------------------------------------------------------------

    async def _flush_acks(self) -> None:
        """One store write per account for all the acknowledgements of a loop iteration."""
        try:
            while self._acked:
                batches, self._acked = self._acked, {}
                for account_id, ids in batches.items():
                    try:
                        await self._store.finish_smpp_receipts(account_id, ids)
                    except StoreError:
                        # Still owed in the store: a later read sends them again (at least once).
                        log.exception("storing %d SMPP receipt acknowledgements failed", len(ids))
                    account = self._accounts.get(account_id)
                    if account is not None:
                        account.known.difference_update(ids)
                        if not account.links and not account.known:
                            del self._accounts[account_id]
        finally:
            self._flushing = None

    async def close(self) -> None:
        """Store the acknowledgements received so far; stop retry timers and reads."""
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        if self._flushing is not None:
            await self._flushing
        if self._acked:
            await self._flush_acks()
        await self._tasks.cancel()

    # --- plumbing -------------------------------------------------------------------------------

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        handle: asyncio.TimerHandle

        def run() -> None:
            self._timers.discard(handle)
            fn()

        handle = asyncio.get_running_loop().call_later(delay, run)
        self._timers.add(handle)
