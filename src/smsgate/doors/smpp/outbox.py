"""deliver_sm owed to the receiver binds of an account, at least once, in order of arrival: SMPP
receipts (:class:`ReceiptOutbox`) and MO messages (:class:`MoOutbox`), one mechanism for both.

The store is the truth: a receipt an SMPP client asked for is queued there in the transaction that
makes its message final, an MO message in the transaction that stores it (when its account has
SMPP credentials), and each leaves only when a bind of the same account answers its deliver_sm
with ESME_ROK. An outbox only decides what to send to which bind, so a crash, an unbind or a
client that never answers costs a resend, never a receipt or a message.

Which bind: a message remembers the bind that submitted it (``Message.bind_id``, unique per bind
and process) and that bind's ``system_id``. Its receipt goes to

1. that bind, while it is bound and can take receipts (a transceiver);
2. otherwise a receiver or transceiver bind of the same system_id: the receiver half of a client
   that binds a transmitter and a receiver (Kannel, Jasmin), or the same client bound again,
   after a reconnect or a restart of smsgate;
3. only then any receiver bind of the account;

and waits in the store while the account has none. So two clients sharing an account each get
their own receipts. A receipt waits for its bind even when that bind's window is full: another
bind has no claim on it while the one that asked is bound. An MO message was submitted by nobody:
it goes to any receiver bind of the account that owns its number, the binds taken in turn.

Two paths feed a bind. The hot one: receipts just applied (the :class:`ReceiptProcessor` listener)
and MO messages just stored (the :class:`InboundDesk` listener) go straight to a bound receiver,
with no store read. The backlog one: when a receiver binds, loses deliveries it did not answer,
or the hot path overflows, what the account is owed is read back from the store a page at a
time, whenever its queues run low. A key (message id, MO sequence id) is in ``known`` from the
moment it is queued until its acknowledgement is stored, so the two paths never send one
delivery twice at once.

Receipts and MO messages share each bind's window but not their queues: each outbox pumps its
own, and the bind (``connection.Connection``) asks them in turn, so neither kind starves the
other.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from smsgate.domain.inbound import InboundMessage
from smsgate.domain.models import Message
from smsgate.ports.store import InboundStore, MessageStore, StoreError
from smsgate.tasks import BackgroundTasks

__all__ = ["Bind", "InboundLink", "MoOutbox", "Outbox", "ReceiptOutbox", "ReceiverLink"]

log = logging.getLogger(__name__)


class Bind(Protocol):
    """A bind able to take deliver_sm (bound as receiver or transceiver)."""

    @property
    def account_id(self) -> str: ...
    @property
    def system_id(self) -> str: ...
    @property
    def bind_id(self) -> int:
        """Unique among the binds of this process: what :attr:`Message.bind_id` names."""
        ...


class ReceiverLink(Bind, Protocol):
    """A bind as the :class:`ReceiptOutbox` sees it."""

    def can_send_receipt(self) -> bool:
        """Room in the bind's window for one more deliver_sm."""
        ...

    def send_receipt(self, message: Message) -> None:
        """Send the receipt; the answer comes back as :meth:`ReceiptOutbox.acknowledged` or
        :meth:`ReceiptOutbox.refused`, or the message is in ``unacknowledged`` on detach."""
        ...


class InboundLink(Bind, Protocol):
    """A bind as the :class:`MoOutbox` sees it."""

    def can_send_inbound(self) -> bool:
        """Room in the bind's window to start one more MO message."""
        ...

    def send_inbound(self, message: InboundMessage) -> None:
        """Send the MO message (one deliver_sm per part); the answer comes back as
        :meth:`MoOutbox.acknowledged` once every part is taken, or :meth:`MoOutbox.refused`,
        or the message is in ``unacknowledged`` on detach."""
        ...


class _Owed(Protocol):
    """What an outbox carries: something owed to an account."""

    @property
    def account_id(self) -> str: ...


K = TypeVar("K", str, int)  # how the store names what is owed: message id, MO sequence id
T = TypeVar("T", bound=_Owed)
L = TypeVar("L", bound=Bind)


@dataclass(slots=True)
class _Account(Generic[K, T, L]):
    links: list[L] = field(default_factory=list)
    # Deliveries ready to send, each in the queue of the binds it may go to (see the module's
    # docstring): one per bound link for what it submitted, one per system_id with a bound link,
    # one for any link. ``queued`` counts them all.
    own: dict[int, deque[T]] = field(default_factory=dict)  # by bind_id
    same_system: dict[str, deque[T]] = field(default_factory=dict)
    anyone: deque[T] = field(default_factory=deque)
    queued: int = 0
    known: set[K] = field(default_factory=set)
    retrying: set[K] = field(default_factory=set)  # refused, waiting for retry_s
    backlog: bool = False  # the store may owe deliveries that are not in ``known``
    scan_after: K | None = None
    scanning: bool = False
    generation: int = 0  # grows when the backlog is marked, so a read in flight starts over
    # Acknowledged and forgotten by the store while a read was in flight: that read may have
    # seen them before they were forgotten, and must not send them again.
    finished: set[K] = field(default_factory=set)
    turn: int = 0  # round robin over links


class Outbox(ABC, Generic[K, T, L]):
    """Routes owed deliver_sm to the receiver binds of their account. Runs on one event loop.

    A subclass says what it carries: the key the store knows it by, the bind that asked for it
    (if any), how the store reads and forgets it, and how a bind sends it."""

    #: For log lines: what this outbox carries.
    what = "deliveries"

    def __init__(self, *, retry_s: float, page: int, max_ready: int) -> None:
        self._retry_s = retry_s
        self._page = page
        self._max_ready = max_ready
        self._accounts: dict[str, _Account[K, T, L]] = {}
        self._acked: dict[str, list[K]] = {}
        self._flushing: asyncio.Task[None] | None = None
        self._tasks = BackgroundTasks()
        self._timers: set[asyncio.TimerHandle] = set()

    # --- what a subclass says -------------------------------------------------------------------

    @abstractmethod
    def _key(self, item: T) -> K: ...

    def _origin(self, item: T) -> tuple[int | None, str | None]:  # noqa: ARG002 - a hook
        """The bind_id and system_id that asked for ``item``; (None, None): any bind."""
        return None, None

    @abstractmethod
    async def _read(self, account_id: str, after: K | None, limit: int) -> list[T]:
        """The account's owed items after ``after`` in key order, at most ``limit``."""
        ...

    @abstractmethod
    async def _finish(self, account_id: str, keys: list[K]) -> None:
        """Forget acknowledged items in the store."""
        ...

    @abstractmethod
    def _can_send(self, link: L) -> bool: ...

    @abstractmethod
    def _send(self, link: L, item: T) -> None: ...

    # --- binds --------------------------------------------------------------------------------

    def attach(self, link: L) -> None:
        """A receiver bound: it gets what its account is owed, from the store first."""
        account = self._accounts.setdefault(link.account_id, _Account())
        account.links.append(link)
        account.own[link.bind_id] = deque()
        if link.system_id not in account.same_system:
            account.same_system[link.system_id] = deque()
            # Deliveries of this system_id that were waiting for any bind now have a better one.
            self._reroute(account, account.anyone)
        self._mark_backlog(account)
        self.pump(link.account_id)

    def detach(self, link: L, unacknowledged: Sequence[T]) -> None:
        """A receiver went away; what it did not answer is owed again."""
        account = self._accounts.get(link.account_id)
        if account is None or link not in account.links:
            return
        account.links.remove(link)
        for item in unacknowledged:
            account.known.discard(self._key(item))
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

    # --- deliveries in --------------------------------------------------------------------------

    def _offer(self, items: Sequence[T]) -> None:
        """Items just made durable (the hot path): queued for a bound receiver, if any."""
        key = self._key
        touched: set[str] = set()
        for item in items:
            account = self._accounts.get(item.account_id)
            if account is None or not account.links:
                continue  # owed in the store; a bind will read it back
            item_key = key(item)
            if item_key in account.known:
                continue
            if account.queued >= self._max_ready:
                self._mark_backlog(account)
                continue
            self._enqueue(account, item)
            account.known.add(item_key)
            touched.add(item.account_id)
        for account_id in touched:
            self.pump(account_id)

    # --- answers from binds ---------------------------------------------------------------------

    def acknowledged(self, link: L, item: T) -> None:
        """ESME_ROK for a delivery: forget it in the store (batched), then here."""
        self._acked.setdefault(link.account_id, []).append(self._key(item))
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush_acks())

    def refused(self, link: L, item: T) -> None:
        """An error status or no answer in time: send it again after ``retry_s``."""
        account = self._accounts.get(link.account_id)
        item_key = self._key(item)
        if account is None or item_key not in account.known:
            return
        account.retrying.add(item_key)
        self._later(self._retry_s, lambda: self._requeue(link.account_id, account, item))

    def _requeue(self, account_id: str, account: _Account[K, T, L], item: T) -> None:
        item_key = self._key(item)
        if self._accounts.get(account_id) is not account or item_key not in account.retrying:
            return  # every bind went away meanwhile: the store still owes it
        account.retrying.discard(item_key)
        self._enqueue(account, item, first=True)
        self.pump(account_id)

    # --- sending --------------------------------------------------------------------------------

    def pump(self, account_id: str) -> None:
        """Send queued deliveries while their binds have room, taking the binds in turn; read
        the backlog when less than a page is queued."""
        account = self._accounts.get(account_id)
        if account is None:
            return
        links = account.links
        if account.queued and links:
            turn, idle = account.turn, 0
            can_send, send = self._can_send, self._send
            while account.queued and idle < len(links):  # until a whole round sends nothing
                turn = (turn + 1) % len(links)
                link = links[turn]
                item = self._next_for(account, link) if can_send(link) else None
                if item is None:
                    idle += 1
                else:
                    send(link, item)
                    idle = 0
            account.turn = turn
        if account.backlog and links and not account.scanning and account.queued < self._page:
            account.scanning = True
            self._tasks.spawn(self._scan(account_id, account))

    def reread(self) -> None:
        """Read again what every bound account is owed: with several processes sharing the
        store, another one may have queued deliveries for binds of this one (a receipt applied
        by the worker that delivered the message; an MO message stored where its SMSC is
        bound), and only the store tells."""
        for account_id, account in self._accounts.items():
            if account.links:
                self._mark_backlog(account)
                self.pump(account_id)

    # --- routing --------------------------------------------------------------------------------

    def _enqueue(self, account: _Account[K, T, L], item: T, *, first: bool = False) -> None:
        """Queue a delivery for the best bind it may go to now (see the module's docstring)."""
        bind_id, system_id = self._origin(item)
        queue = None
        if bind_id is not None:
            queue = account.own.get(bind_id)
        if queue is None and system_id is not None:
            queue = account.same_system.get(system_id)
        if queue is None:
            queue = account.anyone
        if first:
            queue.appendleft(item)
        else:
            queue.append(item)
        account.queued += 1

    def _reroute(self, account: _Account[K, T, L], queue: deque[T]) -> None:
        """Queue again, in order, what ``queue`` held: binds came or went."""
        waiting = list(queue)
        queue.clear()
        account.queued -= len(waiting)
        for item in waiting:
            self._enqueue(account, item)

    @staticmethod
    def _next_for(account: _Account[K, T, L], link: L) -> T | None:
        """The next delivery ``link`` may take: its own first, then its system_id's, then any."""
        for queue in (account.own[link.bind_id], account.same_system[link.system_id]):
            if queue:
                account.queued -= 1
                return queue.popleft()
        if account.anyone:
            account.queued -= 1
            return account.anyone.popleft()
        return None

    async def _scan(self, account_id: str, account: _Account[K, T, L]) -> None:
        generation = account.generation
        try:
            page = await self._read(account_id, account.scan_after, self._page)
        except StoreError:
            log.exception("reading owed %s failed; will retry", self.what)
            account.scanning = False
            account.finished.clear()
            self._later(self._retry_s, lambda: self.pump(account_id))
            return
        account.scanning = False
        finished, account.finished = account.finished, set()
        if account.generation != generation:
            pass  # the backlog was marked again meanwhile: the next read starts from the top
        elif len(page) < self._page:
            account.backlog = False
            account.scan_after = None
        else:
            account.scan_after = self._key(page[-1])
        if not account.links:
            return
        for item in page:
            item_key = self._key(item)
            if item_key not in account.known and item_key not in finished:
                self._enqueue(account, item)
                account.known.add(item_key)
        self.pump(account_id)

    def _mark_backlog(self, account: _Account[K, T, L]) -> None:
        account.backlog = True
        account.scan_after = None
        account.generation += 1

    # --- acknowledgements -----------------------------------------------------------------------

    async def _flush_acks(self) -> None:
        """One store write per account for all the acknowledgements of a loop iteration."""
        try:
            while self._acked:
                batches, self._acked = self._acked, {}
                for account_id, keys in batches.items():
                    try:
                        await self._finish(account_id, keys)
                    except StoreError:
                        # Still owed in the store: a later read sends them again (at least once).
                        log.exception(
                            "storing %d acknowledgements of %s failed", len(keys), self.what
                        )
                    account = self._accounts.get(account_id)
                    if account is not None:
                        account.known.difference_update(keys)
                        if account.scanning:  # that read may still return them
                            account.finished.update(keys)
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


class ReceiptOutbox(Outbox[str, Message, ReceiverLink]):
    """SMPP receipts, by message id, to the bind that submitted the message, else its
    system_id's, else any of the account's (see the module's docstring)."""

    what = "SMPP receipts"

    def __init__(
        self,
        store: MessageStore,
        *,
        retry_s: float = 10.0,
        page: int = 500,
        max_ready: int = 10_000,
    ) -> None:
        super().__init__(retry_s=retry_s, page=page, max_ready=max_ready)
        self._store = store

    def on_final(self, messages: Sequence[Message]) -> None:
        """Listener of the receipt processor: messages that just became final (and durable)."""
        self._offer([message for message in messages if message.wants_smpp_receipt])

    def _key(self, item: Message) -> str:
        return item.id

    def _origin(self, item: Message) -> tuple[int | None, str | None]:
        return item.bind_id, item.system_id

    async def _read(self, account_id: str, after: str | None, limit: int) -> list[Message]:
        return await self._store.pending_smpp_receipts(account_id, after, limit)

    async def _finish(self, account_id: str, keys: list[str]) -> None:
        await self._store.finish_smpp_receipts(account_id, keys)

    def _can_send(self, link: ReceiverLink) -> bool:
        return link.can_send_receipt()

    def _send(self, link: ReceiverLink, item: Message) -> None:
        link.send_receipt(item)


class MoOutbox(Outbox[int, InboundMessage, InboundLink]):
    """MO messages, by sequence id, to any receiver bind of the account that owns their
    number."""

    what = "MO messages for SMPP binds"

    def __init__(
        self,
        store: InboundStore,
        *,
        retry_s: float = 10.0,
        page: int = 500,
        max_ready: int = 10_000,
    ) -> None:
        super().__init__(retry_s=retry_s, page=page, max_ready=max_ready)
        self._store = store

    def on_inbound(self, messages: Sequence[InboundMessage]) -> None:
        """Listener of the inbound desk: MO messages just stored. Those of an account without
        SMPP credentials have no bind here, and no row in the store."""
        self._offer(messages)

    def _key(self, item: InboundMessage) -> int:
        return item.sequence_id

    async def _read(self, account_id: str, after: int | None, limit: int) -> list[InboundMessage]:
        return await self._store.pending_smpp_inbound(account_id, after, limit)

    async def _finish(self, account_id: str, keys: list[int]) -> None:
        await self._store.finish_smpp_inbound(account_id, keys)

    def _can_send(self, link: InboundLink) -> bool:
        return link.can_send_inbound()

    def _send(self, link: InboundLink, item: InboundMessage) -> None:
        link.send_inbound(item)
