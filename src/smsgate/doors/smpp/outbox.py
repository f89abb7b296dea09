"""SMPP receipts on their way to receiver binds: at least once, in order of arrival, to the bind
that asked for them.

The store is the truth: a receipt an SMPP client asked for is queued there in the transaction that
makes its message final, and leaves only when a bind of the same account answers the deliver_sm
with ESME_ROK. This outbox only decides what to send to which bind, so a crash, an unbind or a
client that never answers costs a resend, never a receipt.

Which bind: a message remembers the bind that submitted it (``Message.bind_id``, unique per bind
and process) and that bind's ``system_id``. Its receipt goes to

1. that bind, while it is bound and can take receipts (a transceiver);
2. otherwise a receiver or transceiver bind of the same system_id: the receiver half of a client
   that binds a transmitter and a receiver (Kannel, Jasmin), or the same client bound again,
   after a reconnect or a restart of smsgate;
3. only then any receiver bind of the account;

and waits in the store while the account has none. So two clients sharing an account each get
their own receipts. A receipt waits for its bind even when that bind's window is full: another
bind has no claim on it while the one that asked is bound.

Two paths feed a bind. The hot one: receipts just applied (the :class:`ReceiptProcessor` listener)
go straight to a bound receiver, with no store read. The backlog one: when a receiver binds, loses
receipts it did not answer, or the hot path overflows, the account's owed receipts are read back
from the store a page at a time, whenever its queues run low. A message id is in ``known`` from
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
    @property
    def system_id(self) -> str: ...
    @property
    def bind_id(self) -> int:
        """Unique among the binds of this process: what :attr:`Message.bind_id` names."""
        ...

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
    # Receipts ready to send, each in the queue of the binds it may go to (see the module's
    # docstring): one per bound link for what it submitted, one per system_id with a bound link,
    # one for any link. ``queued`` counts them all.
    own: dict[int, deque[Message]] = field(default_factory=dict)  # by bind_id
    same_system: dict[str, deque[Message]] = field(default_factory=dict)
    anyone: deque[Message] = field(default_factory=deque)
    queued: int = 0
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
        account.own[link.bind_id] = deque()
        if link.system_id not in account.same_system:
            account.same_system[link.system_id] = deque()
            # Receipts of this system_id that were waiting for any bind now have a better one.
            self._reroute(account, account.anyone)
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
            # What waited for this bind goes to the next best one.
            self._reroute(account, account.own.pop(link.bind_id))
            if all(other.system_id != link.system_id for other in account.links):
                self._reroute(account, account.same_system.pop(link.system_id))
            self._mark_backlog(account)
            self.pump(link.account_id)
            return
        # Nobody left to send to: forget what was queued (the store still owes it), keep only
        # what is being acknowledged.
        account.own.clear()
        account.same_system.clear()
        account.anyone.clear()
        account.queued = 0
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
            if account.queued >= self._max_ready:
                self._mark_backlog(account)
                continue
            self._enqueue(account, message)
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
        self._enqueue(account, message, first=True)
        self.pump(account_id)

    # --- sending --------------------------------------------------------------------------------

    def pump(self, account_id: str) -> None:
        """Send queued receipts while their binds have room, taking the binds in turn; read the
        backlog when less than a page is queued."""
        account = self._accounts.get(account_id)
        if account is None:
            return
        links = account.links
        if account.queued and links:
            turn, idle = account.turn, 0
            while account.queued and idle < len(links):  # until a whole round sends nothing
                turn = (turn + 1) % len(links)
                link = links[turn]
                message = self._next_for(account, link) if link.can_send_receipt() else None
                if message is None:
                    idle += 1
                else:
                    link.send_receipt(message)
                    idle = 0
            account.turn = turn
        if account.backlog and links and not account.scanning and account.queued < self._page:
            account.scanning = True
            self._tasks.spawn(self._scan(account_id, account))

    # --- routing --------------------------------------------------------------------------------

    def _enqueue(self, account: _Account, message: Message, *, first: bool = False) -> None:
        """Queue a receipt for the best bind it may go to now (see the module's docstring)."""
        queue = None
        if message.bind_id is not None:
            queue = account.own.get(message.bind_id)
        if queue is None and message.system_id is not None:
            queue = account.same_system.get(message.system_id)
        if queue is None:
            queue = account.anyone
        if first:
            queue.appendleft(message)
        else:
            queue.append(message)
        account.queued += 1

    def _reroute(self, account: _Account, queue: deque[Message]) -> None:
        """Queue again, in order, what ``queue`` held: binds came or went."""
        waiting = list(queue)
        queue.clear()
        account.queued -= len(waiting)
        for message in waiting:
            self._enqueue(account, message)

    @staticmethod
    def _next_for(account: _Account, link: ReceiverLink) -> Message | None:
        """The next receipt ``link`` may take: its own first, then its system_id's, then any."""
        for queue in (account.own[link.bind_id], account.same_system[link.system_id]):
            if queue:
                account.queued -= 1
                return queue.popleft()
        if account.anyone:
            account.queued -= 1
            return account.anyone.popleft()
        return None

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
                self._enqueue(account, message)
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
